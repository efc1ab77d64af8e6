//! The policy: which interested peers get the regular upload slots, as pure functions over
//! plain data.
//!
//! Nothing here reads a clock, walks an object graph or keeps state: a [`PeerView`] is a copy
//! of what the [`Choker`](crate::Choker) knows about one peer, and `now` is an argument. Testing
//! a 20-peer scenario takes a `Vec` of 20 views.
//!
//! [`compare`] orders two peers, best first, as libtorrent's `unchoke_sort` does
//! (`src/choker.cpp` at v2.0.8):
//!
//! 1. a peer that snubs us (sent nothing for a minute while we were interested) goes after every
//!    peer that does not: it lost its claim to a regular slot (BEP 3's "anti-snubbing"; mainline
//!    BitTorrent unchokes a snubbing peer only optimistically). libtorrent has no such key.
//! 2. the peer that sent us the most in the last round first (`compare_peers`, choker.cpp
//!    l. 58-62): tit-for-tat while we download. When we seed, every peer sent us 0 and the
//!    seed mode decides:
//! 3. [`SeedMode`]: libtorrent's `round_robin` (l. 67-122), `fastest_upload` (l. 125-141),
//!    `anti_leech` (l. 143-190), or our `origin` mode (below);
//! 4. the lower [`PeerKey`], so that the order is total and the same input
//!    always gives the same output.
//!
//! [`slot_count`] is the number of regular slots: fixed, or libtorrent's `rate_based_choker`
//! (choker.cpp l. 222-259). [`rank`] puts the peers that get them first.
//!
//! # Origin mode
//!
//! An origin is the seed the content comes from. Every byte it uploads to a peer that passes it
//! on is multiplied by the swarm; every byte it uploads to a peer that keeps it is spent once.
//! So the origin should (a) give each newcomer something to trade, (b) then give its upload to
//! the peers that pass data on, in proportion to how much they do, and (c) never let one peer
//! sit on a slot, so that pieces spread over many peers instead of piling up at a few.
//!
//! What can an origin see of a peer's re-sharing? It never downloads, so it cannot measure a
//! peer's upload as tit-for-tat does. It sees two counters: the bytes it sent the peer (`S`),
//! and the pieces the peer announces (`have`). A peer that holds more than we sent it got the
//! rest from other peers: `U = pieces × piece_length − S`, the bytes it *traded*. In a swarm
//! where the origin is the only seed, what one peer downloads from others is what others
//! upload, and tit-for-tat pays download with upload: a peer with a large `U` is one the other
//! peers reciprocate with, so it uploads to them. A peer with `U = 0` after a while is a free
//! rider, or has no other connections (behind a NAT, alone): data given to it stays there.
//!
//! The ordering, after the snubbing and download keys (which are equal for a seed):
//!
//! 1. **Turn**: a peer unchoked for less than [`Policy::origin_turn`] that has received less
//!    than [`Policy::origin_turn_pieces`] pieces' worth since keeps its slot. A turn ends on
//!    whichever comes first, so a slow or idle peer cannot hold a slot, and a fast one gets a
//!    few pieces, not the whole torrent, before others get theirs (c).
//! 2. **Weighted fair share**: the lowest `S / (piece_length + U)` first, i.e. the peer that
//!    got the least from the origin relative to what it trades. Sorting by "service received /
//!    weight" is weighted fair queueing: over time each peer receives in proportion to its
//!    weight `piece_length + U`. A newcomer has `S = 0` and comes first (a); once it has one
//!    piece from us it ranks behind every peer that trades more than it received (b); a free
//!    rider's key grows with each turn, so it is served only when no trader is waiting, yet
//!    never starved. The `piece_length` keeps the weight positive and is worth one piece of
//!    credit. The key is compared exactly, by cross-multiplying in 128 bits.
//! 3. our upload rate in the last round, unchoked peers only (a peer that absorbs fast has the
//!    bandwidth to pass it on), then the peer that waited longest since its last unchoke.
//!
//! Not-interested peers (seeds, BEP 21 upload-only peers, peers that have what we have) never
//! get a slot in any mode. Which *pieces* the origin sends is not the choker's business: with
//! [`SuperSeed`](crate::SuperSeed) (BEP 16) each peer is offered one piece nobody has, which
//! pairs well with this mode. The trade estimate can be fooled by a peer that announces pieces
//! it does not have (it then gets less, not more, from anyone who believes it) and is reset by
//! reconnecting under a new key, which buys a newcomer's first turn and nothing more.

use std::cmp::Ordering;
use std::time::{Duration, Instant};

use crate::PeerKey;

/// What the ranking knows of one peer: plain data, copied out of the state machine.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PeerView {
    /// The caller's name for the peer.
    pub key: PeerKey,
    /// The peer is interested in us: only such peers get a slot.
    pub interested: bool,
    /// We are interested in the peer and it sent us nothing for the snubbing timeout.
    pub snubbed: bool,
    /// We unchoke the peer now (regular or optimistic).
    pub unchoked: bool,
    /// Payload bytes per second the peer sent us over the last round.
    pub download_rate: u64,
    /// Payload bytes per second we sent the peer over the last round.
    pub upload_rate: u64,
    /// Payload bytes we sent the peer since it connected.
    pub uploaded: u64,
    /// Payload bytes we sent the peer since we last unchoked it.
    pub uploaded_since_unchoke: u64,
    /// When we last unchoked the peer; when it connected if never.
    pub last_unchoke: Instant,
    /// How many pieces the peer has.
    pub pieces: u32,
}

/// How to share the slots among peers that sent us nothing (when seeding, all of them).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum SeedMode {
    /// libtorrent's default `round_robin`: an unchoked peer keeps its slot until it has received
    /// [`Policy::seeding_piece_quota`] pieces' worth and held it for
    /// [`Policy::round_robin_min_turn`]; then it goes behind the others, and the peer that
    /// waited longest gets the slot.
    #[default]
    RoundRobin,
    /// libtorrent's `fastest_upload`: the peers we upload to fastest keep their slots.
    FastestUpload,
    /// libtorrent's `anti_leech` (after Chow et al., "Improving BitTorrent: A Simple
    /// Approach"): prefer peers that just started and peers about to finish, the middle last.
    AntiLeech,
    /// Our mode for a content origin: spend the upload on peers that pass it on (see the
    /// [module docs](self#origin-mode)).
    Origin,
}

/// How many regular upload slots there are.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Slots {
    /// This many (BEP 3 and mainline BitTorrent: 4).
    Fixed(usize),
    /// libtorrent's `rate_based_choker`: walk the peers from the one we upload to fastest, and
    /// count those whose rate is at least a threshold that starts at `initial_threshold` and
    /// grows by `step` per peer; stop at the first below it. The slots are that count plus
    /// one, at most `max`. Slots grow while each added peer still gets a good rate and shrink
    /// when the uplink is spread too thin.
    RateBased {
        /// Rate the fastest peer must reach, bytes per second (libtorrent:
        /// `rate_choker_initial_threshold`, 1024).
        initial_threshold: u64,
        /// Added to the threshold per counted peer, bytes per second (libtorrent: 2048).
        step: u64,
        /// Upper bound on the slots.
        max: usize,
    },
}

impl Slots {
    /// The rate-based slot count with libtorrent's thresholds and no upper bound.
    pub const fn rate_based() -> Self {
        Self::RateBased {
            initial_threshold: 1024,
            step: 2048,
            max: usize::MAX,
        }
    }
}

impl Default for Slots {
    /// Four regular slots, as BEP 3 and mainline BitTorrent.
    fn default() -> Self {
        Self::Fixed(4)
    }
}

/// Everything the ranking needs besides the peers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Policy {
    /// How many regular slots.
    pub slots: Slots,
    /// How to rank peers that sent us nothing.
    pub seed_mode: SeedMode,
    /// Pieces in the torrent (for anti-leech's progress).
    pub num_pieces: u32,
    /// Bytes per piece (for quotas and progress).
    pub piece_length: u32,
    /// Round robin: pieces' worth a peer receives before yielding its slot (libtorrent's
    /// `seeding_piece_quota`, 20).
    pub seeding_piece_quota: u32,
    /// Round robin: the least time a peer holds its slot before yielding it (libtorrent: one
    /// minute).
    pub round_robin_min_turn: Duration,
    /// Origin: pieces' worth a peer receives in one turn (4).
    pub origin_turn_pieces: u32,
    /// Origin: the longest turn (30 s, three rounds).
    pub origin_turn: Duration,
}

impl Policy {
    /// Defaults for a torrent of `num_pieces` pieces of `piece_length` bytes: four fixed slots,
    /// round robin, libtorrent's quotas.
    pub fn new(num_pieces: u32, piece_length: u32) -> Self {
        Self {
            slots: Slots::default(),
            seed_mode: SeedMode::default(),
            num_pieces,
            piece_length,
            seeding_piece_quota: 20,
            round_robin_min_turn: Duration::from_secs(60),
            origin_turn_pieces: 4,
            origin_turn: Duration::from_secs(30),
        }
    }
}

/// The number of regular slots for these peers.
///
/// For [`Slots::RateBased`] this is libtorrent's loop (choker.cpp l. 237-258) over the
/// interested peers, fastest upload first. libtorrent's `+ 1` slot includes its optimistic
/// unchokes; ours come on top of the regular slots, so with one optimistic slot we unchoke one
/// peer more than libtorrent does.
pub fn slot_count(peers: &[PeerView], slots: Slots) -> usize {
    match slots {
        Slots::Fixed(n) => n,
        Slots::RateBased {
            initial_threshold,
            step,
            max,
        } => {
            // Peers under the first threshold can never count: leave them out of the sort.
            let mut rates: Vec<u64> = peers
                .iter()
                .filter(|p| p.interested && p.upload_rate >= initial_threshold)
                .map(|p| p.upload_rate)
                .collect();
            rates.sort_unstable_by(|a, b| b.cmp(a));
            let mut threshold = initial_threshold;
            let mut count = 0usize;
            for rate in rates {
                if rate < threshold {
                    break;
                }
                count += 1;
                threshold = threshold.saturating_add(step);
            }
            // libtorrent: "always have at least 1 unchoke slot".
            count.saturating_add(1).min(max)
        }
    }
}

/// Puts the peers that get the `slots` regular slots first, best first, and returns how many
/// there are: `min(slots, interested peers)`. The order of the rest is unspecified (but
/// deterministic).
///
/// Linear in the number of peers plus `n log n` for the `n` winners: a selection, not a sort.
pub fn rank(peers: &mut [PeerView], slots: usize, policy: &Policy, now: Instant) -> usize {
    // Only interested peers are candidates (libtorrent builds its list from them).
    let mut interested = 0;
    for i in 0..peers.len() {
        if peers[i].interested {
            peers.swap(i, interested);
            interested += 1;
        }
    }
    let candidates = &mut peers[..interested];
    let n = slots.min(interested);
    let cmp = |a: &PeerView, b: &PeerView| compare(a, b, policy, now);
    if n < candidates.len() {
        // libtorrent uses std::nth_element the same way.
        candidates.select_nth_unstable_by(n, cmp);
    }
    candidates[..n].sort_unstable_by(cmp);
    n
}

/// Which of two peers deserves a regular slot more: `Less` if `a` does. A total order (the
/// keys break every tie). See the [module docs](self) for the keys.
pub fn compare(a: &PeerView, b: &PeerView, policy: &Policy, now: Instant) -> Ordering {
    a.snubbed
        .cmp(&b.snubbed)
        .then(b.download_rate.cmp(&a.download_rate))
        .then_with(|| compare_seed(a, b, policy, now))
        .then(a.key.cmp(&b.key))
}

/// The seed-mode part of [`compare`].
fn compare_seed(a: &PeerView, b: &PeerView, policy: &Policy, now: Instant) -> Ordering {
    // libtorrent, all three modes: "prioritize the one that has waited the longest to be
    // unchoked".
    let waited = || a.last_unchoke.cmp(&b.last_unchoke);
    match policy.seed_mode {
        SeedMode::RoundRobin => {
            let quota = u64::from(policy.piece_length) * u64::from(policy.seeding_piece_quota);
            // choker.cpp l. 93-98: unchoked, more than the quota since, and for over a minute.
            let done = |p: &PeerView| {
                p.unchoked
                    && p.uploaded_since_unchoke > quota
                    && now.saturating_duration_since(p.last_unchoke) > policy.round_robin_min_turn
            };
            done(a)
                .cmp(&done(b))
                // l. 112-115: rate forced to 0 for choked peers, so that bytes still in
                // flight at a choke do not put the peer back on top.
                .then(upload_if_unchoked(b).cmp(&upload_if_unchoked(a)))
                .then_with(waited)
        }
        SeedMode::FastestUpload => b.upload_rate.cmp(&a.upload_rate).then_with(waited),
        SeedMode::AntiLeech => anti_leech_score(b, policy)
            .cmp(&anti_leech_score(a, policy))
            .then_with(waited),
        SeedMode::Origin => {
            let turn_bytes = u64::from(policy.piece_length) * u64::from(policy.origin_turn_pieces);
            let in_turn = |p: &PeerView| {
                p.unchoked
                    && p.uploaded_since_unchoke < turn_bytes
                    && now.saturating_duration_since(p.last_unchoke) < policy.origin_turn
            };
            in_turn(b)
                .cmp(&in_turn(a))
                .then_with(|| compare_share(a, b, policy))
                .then(upload_if_unchoked(b).cmp(&upload_if_unchoked(a)))
                .then_with(waited)
        }
    }
}

fn upload_if_unchoked(p: &PeerView) -> u64 {
    if p.unchoked { p.upload_rate } else { 0 }
}

/// libtorrent's `anti_leech_score` (choker.cpp l. 143-173): 0 at half done, 1000 at nothing and
/// at everything. What the peer has is the larger of its pieces and what we sent it (a peer
/// cannot hide progress by not announcing it).
fn anti_leech_score(p: &PeerView, policy: &Policy) -> u64 {
    let piece_length = u64::from(policy.piece_length);
    let total = u64::from(policy.num_pieces) * piece_length;
    if total == 0 {
        return 0;
    }
    let have = p.uploaded.max(piece_length * u64::from(p.pieces));
    let distance = u128::from(have.abs_diff(total / 2));
    // At most 2000 * (have / total) + 1000: fits unless `uploaded` is absurd, then saturate.
    u64::try_from(distance * 2000 / u128::from(total)).unwrap_or(u64::MAX)
}

/// Origin mode's weighted fair share: `S_a / (L + U_a)` against `S_b / (L + U_b)`, exactly.
fn compare_share(a: &PeerView, b: &PeerView, policy: &Policy) -> Ordering {
    let weight = |p: &PeerView| {
        let piece_length = u64::from(policy.piece_length.max(1));
        let holds = piece_length * u64::from(p.pieces);
        u128::from(piece_length) + u128::from(holds.saturating_sub(p.uploaded))
    };
    (u128::from(a.uploaded) * weight(b)).cmp(&(u128::from(b.uploaded) * weight(a)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[expect(clippy::disallowed_methods, reason = "an origin for a virtual clock")]
    fn origin() -> Instant {
        Instant::now()
    }

    const PIECE: u32 = 256 * 1024;

    fn policy(mode: SeedMode) -> Policy {
        Policy {
            seed_mode: mode,
            ..Policy::new(1000, PIECE)
        }
    }

    fn peer(key: u32, t0: Instant) -> PeerView {
        PeerView {
            key: PeerKey(key),
            interested: true,
            snubbed: false,
            unchoked: false,
            download_rate: 0,
            upload_rate: 0,
            uploaded: 0,
            uploaded_since_unchoke: 0,
            last_unchoke: t0,
            pieces: 0,
        }
    }

    fn winners(peers: &mut [PeerView], slots: usize, policy: &Policy, now: Instant) -> Vec<u32> {
        let n = rank(peers, slots, policy, now);
        peers[..n].iter().map(|p| p.key.0).collect()
    }

    #[test]
    fn rechoke_gives_regular_slots_to_the_four_fastest_interested_uploaders() {
        // 20 peers sending us 1..=20 KiB/s; the fastest two are not interested in us.
        let t0 = origin();
        let mut peers: Vec<PeerView> = (0..20)
            .map(|i| PeerView {
                download_rate: (i + 1) * 1024,
                interested: i < 18,
                ..peer(i as u32, t0)
            })
            .collect();
        let slots = slot_count(&peers, Slots::Fixed(4));
        assert_eq!(
            winners(&mut peers, slots, &policy(SeedMode::RoundRobin), t0),
            [17, 16, 15, 14]
        );
    }

    #[test]
    fn snubbing_peer_ranks_after_every_peer_that_is_not() {
        let t0 = origin();
        let mut peers = vec![
            PeerView {
                download_rate: 90_000,
                snubbed: true,
                ..peer(0, t0)
            },
            PeerView {
                download_rate: 10,
                ..peer(1, t0)
            },
            PeerView {
                download_rate: 0,
                ..peer(2, t0)
            },
        ];
        let p = policy(SeedMode::FastestUpload);
        assert_eq!(winners(&mut peers, 2, &p, t0), [1, 2]);
        // It still gets a slot nobody else wants.
        assert_eq!(winners(&mut peers, 3, &p, t0), [1, 2, 0]);
    }

    #[test]
    fn rank_never_gives_a_slot_to_an_uninterested_peer() {
        let t0 = origin();
        let mut peers: Vec<PeerView> = (0..6)
            .map(|i| PeerView {
                interested: i % 2 == 0,
                download_rate: u64::from(i),
                ..peer(i, t0)
            })
            .collect();
        assert_eq!(
            winners(&mut peers, 10, &policy(SeedMode::RoundRobin), t0),
            [4, 2, 0]
        );
    }

    #[test]
    fn download_rate_comes_before_the_seed_mode() {
        let t0 = origin();
        let mut peers = vec![
            PeerView {
                upload_rate: 1 << 20,
                unchoked: true,
                ..peer(0, t0)
            },
            PeerView {
                download_rate: 1,
                ..peer(1, t0)
            },
        ];
        assert_eq!(
            winners(&mut peers, 1, &policy(SeedMode::FastestUpload), t0),
            [1]
        );
    }

    #[test]
    fn fastest_upload_keeps_the_peers_we_upload_to_fastest() {
        let t0 = origin();
        let mut peers: Vec<PeerView> = (0..8)
            .map(|i| PeerView {
                upload_rate: u64::from(i * 1000),
                unchoked: true,
                ..peer(i, t0)
            })
            .collect();
        assert_eq!(
            winners(&mut peers, 3, &policy(SeedMode::FastestUpload), t0),
            [7, 6, 5]
        );
    }

    #[test]
    fn fastest_upload_breaks_ties_by_longest_wait() {
        let t0 = origin();
        let mut peers: Vec<PeerView> = (0..4)
            .map(|i| PeerView {
                last_unchoke: t0 + Duration::from_secs(u64::from(10 - i)),
                ..peer(i, t0)
            })
            .collect();
        assert_eq!(
            winners(&mut peers, 2, &policy(SeedMode::FastestUpload), t0),
            [3, 2]
        );
    }

    #[test]
    fn round_robin_keeps_an_unchoked_peer_until_its_quota_and_a_minute() {
        let t0 = origin();
        let p = policy(SeedMode::RoundRobin);
        let quota = u64::from(PIECE) * 20;
        let holder = PeerView {
            unchoked: true,
            upload_rate: 50_000,
            uploaded_since_unchoke: quota + 1,
            last_unchoke: t0,
            ..peer(0, t0)
        };
        // A choked peer that has waited since before `holder` was unchoked.
        let waiter = PeerView {
            last_unchoke: t0 - Duration::from_secs(600),
            ..peer(1, t0)
        };
        // After 50 s: over quota but not a minute yet: keeps the slot.
        let now = t0 + Duration::from_secs(50);
        assert_eq!(winners(&mut [holder, waiter], 1, &p, now), [0]);
        // After 61 s: done; the waiter gets it.
        let now = t0 + Duration::from_secs(61);
        assert_eq!(winners(&mut [holder, waiter], 1, &p, now), [1]);
        // A minute but under the quota: keeps it.
        let under = PeerView {
            uploaded_since_unchoke: quota,
            ..holder
        };
        assert_eq!(winners(&mut [under, waiter], 1, &p, now), [0]);
    }

    #[test]
    fn round_robin_ignores_the_upload_rate_of_choked_peers() {
        // Bytes in flight when a peer was choked must not put it on top (choker.cpp l. 107-113).
        let t0 = origin();
        let just_choked = PeerView {
            upload_rate: 90_000,
            last_unchoke: t0,
            ..peer(0, t0)
        };
        let waiting = PeerView {
            last_unchoke: t0 - Duration::from_secs(100),
            ..peer(1, t0)
        };
        let p = policy(SeedMode::RoundRobin);
        assert_eq!(winners(&mut [just_choked, waiting], 1, &p, t0), [1]);
    }

    #[test]
    fn round_robin_rotates_slots_through_every_peer() {
        // A little simulation over the pure function: 6 peers, 2 slots, 60 KiB/s each while
        // unchoked, rounds of 10 s. Every peer gets a turn within a few minutes.
        let t0 = origin();
        let p = Policy {
            piece_length: 16 * 1024,
            ..policy(SeedMode::RoundRobin)
        };
        let mut peers: Vec<PeerView> = (0..6).map(|i| peer(i, t0)).collect();
        let mut turns = [0u32; 6];
        let mut now = t0;
        for _ in 0..60 {
            now += Duration::from_secs(10);
            let mut views = peers.clone();
            let n = rank(&mut views, 2, &p, now);
            let chosen: Vec<PeerKey> = views[..n].iter().map(|v| v.key).collect();
            for peer in &mut peers {
                let unchoke = chosen.contains(&peer.key);
                if unchoke && !peer.unchoked {
                    peer.last_unchoke = now;
                    peer.uploaded_since_unchoke = 0;
                    turns[peer.key.0 as usize] += 1;
                }
                peer.unchoked = unchoke;
                peer.upload_rate = if unchoke { 60 * 1024 } else { 0 };
                if unchoke {
                    peer.uploaded_since_unchoke += 600 * 1024;
                }
            }
        }
        // A turn lasts 70 s (the minute, then the next round); 6 peers share 2 slots.
        assert!(turns.iter().all(|&t| t >= 2), "{turns:?}");
    }

    #[test]
    fn anti_leech_prefers_peers_near_the_start_and_near_the_end() {
        let t0 = origin();
        let p = policy(SeedMode::AntiLeech);
        // Of 1000 pieces: 10, 500, 995 and 300.
        let mut peers = vec![
            PeerView {
                pieces: 10,
                ..peer(0, t0)
            },
            PeerView {
                pieces: 500,
                ..peer(1, t0)
            },
            PeerView {
                pieces: 995,
                ..peer(2, t0)
            },
            PeerView {
                pieces: 300,
                ..peer(3, t0)
            },
        ];
        assert_eq!(anti_leech_score(&peers[0], &p), 1000 - 20);
        assert_eq!(winners(&mut peers, 4, &p, t0), [2, 0, 3, 1]);
    }

    #[test]
    fn anti_leech_counts_what_we_sent_when_a_peer_hides_its_pieces() {
        let t0 = origin();
        let p = policy(SeedMode::AntiLeech);
        // Announces nothing, but we sent it half the torrent: it is in the middle.
        let hider = PeerView {
            uploaded: 500 * u64::from(PIECE),
            ..peer(0, t0)
        };
        let newcomer = PeerView {
            pieces: 100,
            ..peer(1, t0)
        };
        assert_eq!(anti_leech_score(&hider, &p), 0);
        assert_eq!(winners(&mut [hider, newcomer], 1, &p, t0), [1]);
    }

    #[test]
    fn anti_leech_without_a_size_is_a_tie() {
        let t0 = origin();
        let p = Policy {
            num_pieces: 0,
            ..policy(SeedMode::AntiLeech)
        };
        assert_eq!(
            anti_leech_score(
                &PeerView {
                    pieces: 3,
                    ..peer(0, t0)
                },
                &p
            ),
            0
        );
    }

    #[test]
    fn origin_prefers_peers_that_trade_with_the_swarm() {
        let t0 = origin();
        let p = policy(SeedMode::Origin);
        let piece = u64::from(PIECE);
        // Both got 10 pieces from us. The trader holds 40 (30 from others); the free rider 10.
        let trader = PeerView {
            uploaded: 10 * piece,
            pieces: 40,
            ..peer(0, t0)
        };
        let free_rider = PeerView {
            uploaded: 10 * piece,
            pieces: 10,
            ..peer(1, t0)
        };
        assert_eq!(winners(&mut [free_rider, trader], 1, &p, t0), [0]);
        // The trader also wins against a free rider that got less from us, up to its weight:
        // 25 pieces for 31 pieces of weight beats 1 piece for 1.
        let trader = PeerView {
            uploaded: 25 * piece,
            pieces: 55,
            ..peer(0, t0)
        };
        let light_rider = PeerView {
            uploaded: piece,
            pieces: 1,
            ..peer(1, t0)
        };
        assert_eq!(winners(&mut [light_rider, trader], 1, &p, t0), [0]);
        // But not forever: at 40 pieces for 31 of weight the free rider gets its turn.
        let trader = PeerView {
            uploaded: 40 * piece,
            pieces: 70,
            ..peer(0, t0)
        };
        assert_eq!(winners(&mut [light_rider, trader], 1, &p, t0), [1]);
    }

    #[test]
    fn origin_serves_newcomers_first() {
        let t0 = origin();
        let p = policy(SeedMode::Origin);
        let piece = u64::from(PIECE);
        let newcomer = peer(5, t0);
        let trader = PeerView {
            uploaded: piece,
            pieces: 500,
            ..peer(0, t0)
        };
        assert_eq!(winners(&mut [trader, newcomer], 1, &p, t0), [5]);
    }

    #[test]
    fn origin_turn_ends_after_a_few_pieces_or_thirty_seconds() {
        let t0 = origin();
        let p = policy(SeedMode::Origin);
        let piece = u64::from(PIECE);
        // An unchoked peer that already got much more than the waiting one.
        let holder = PeerView {
            unchoked: true,
            uploaded: 100 * piece,
            uploaded_since_unchoke: piece,
            pieces: 100,
            last_unchoke: t0,
            upload_rate: 100_000,
            ..peer(0, t0)
        };
        let waiter = PeerView {
            uploaded: piece,
            pieces: 1,
            ..peer(1, t0)
        };
        let now = t0 + Duration::from_secs(20);
        assert_eq!(winners(&mut [holder, waiter], 1, &p, now), [0]);
        // Four pieces sent: the turn is over.
        let full = PeerView {
            uploaded_since_unchoke: 4 * piece,
            ..holder
        };
        assert_eq!(winners(&mut [full, waiter], 1, &p, now), [1]);
        // Thirty seconds: over too, even if it took little (a slow or idle peer).
        let now = t0 + Duration::from_secs(30);
        assert_eq!(winners(&mut [holder, waiter], 1, &p, now), [1]);
    }

    #[test]
    fn rate_based_slots_grow_with_the_upload_rate() {
        let t0 = origin();
        let slots = Slots::rate_based();
        let with_rates = |rates: &[u64]| -> Vec<PeerView> {
            rates
                .iter()
                .enumerate()
                .map(|(i, &r)| PeerView {
                    upload_rate: r,
                    ..peer(i as u32, t0)
                })
                .collect()
        };
        // Nothing uploaded yet: one slot.
        assert_eq!(slot_count(&with_rates(&[0, 0, 0]), slots), 1);
        // Thresholds 1 KiB/s, 3 KiB/s, 5 KiB/s, 7 KiB/s, ...
        assert_eq!(slot_count(&with_rates(&[1024, 0]), slots), 2);
        assert_eq!(slot_count(&with_rates(&[4000, 3072, 10]), slots), 3);
        assert_eq!(slot_count(&with_rates(&[4000, 3071, 3071]), slots), 2);
        // 20 peers at 50 KiB/s: the threshold passes 50 KiB/s only at the 26th peer, so all
        // 20 count.
        assert_eq!(slot_count(&with_rates(&[50 * 1024; 20]), slots), 21);
        // The same uplink spread over 40 peers (25 KiB/s each): 13 clear thresholds of 1, 3,
        // ..., 25 KiB/s, the 14th would need 27 KiB/s.
        assert_eq!(slot_count(&with_rates(&[25 * 1024; 40]), slots), 14);
        // Uninterested peers do not count; `max` caps.
        let mut peers = with_rates(&[50 * 1024; 20]);
        peers[0].interested = false;
        assert_eq!(slot_count(&peers, slots), 20);
        let capped = Slots::RateBased {
            initial_threshold: 1024,
            step: 2048,
            max: 8,
        };
        assert_eq!(slot_count(&peers, capped), 8);
    }

    #[test]
    fn rank_is_a_total_order_so_equal_peers_fall_back_to_the_key() {
        let t0 = origin();
        let p = policy(SeedMode::RoundRobin);
        let mut peers: Vec<PeerView> = (0..50).rev().map(|i| peer(i, t0)).collect();
        assert_eq!(winners(&mut peers, 3, &p, t0), [0, 1, 2]);
    }

    #[test]
    fn rank_selects_the_same_winners_as_a_full_sort() {
        // The selection must agree with sorting everything by `compare`, for every mode.
        let t0 = origin();
        let mut rng = crate::rng::SplitMix64::new(3);
        for mode in [
            SeedMode::RoundRobin,
            SeedMode::FastestUpload,
            SeedMode::AntiLeech,
            SeedMode::Origin,
        ] {
            let p = policy(mode);
            for slots in [0, 1, 4, 30, 200] {
                let peers: Vec<PeerView> = (0..100)
                    .map(|i| PeerView {
                        interested: rng.below(4) != 0,
                        snubbed: rng.below(8) == 0,
                        unchoked: rng.below(3) == 0,
                        download_rate: rng.below(3) * rng.below(10_000),
                        upload_rate: rng.below(100_000),
                        uploaded: rng.below(1 << 30),
                        uploaded_since_unchoke: rng.below(1 << 24),
                        last_unchoke: t0 + Duration::from_secs(rng.below(100)),
                        pieces: rng.below(1000) as u32,
                        ..peer(i, t0)
                    })
                    .collect();
                let now = t0 + Duration::from_secs(120);
                let mut sorted: Vec<PeerView> =
                    peers.iter().copied().filter(|p| p.interested).collect();
                sorted.sort_by(|a, b| compare(a, b, &p, now));
                sorted.truncate(slots);
                let mut ranked = peers.clone();
                let n = rank(&mut ranked, slots, &p, now);
                assert_eq!(ranked[..n], sorted[..], "{mode:?} {slots}");
            }
        }
    }
}
