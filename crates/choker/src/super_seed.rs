//! Super-seeding (BEP 16): which `have` to send to which peer, when we seed but pretend to
//! have nothing.
//!
//! BEP 16: "When a seeding client enters super-seed mode, it will not act as a standard seed,
//! but masquerades as a normal client with no data. As clients connect, it will then inform
//! them that it received a piece -- a piece that was never sent, or if all pieces were already
//! sent, is very rare. [...] When the client has finished downloading the piece, the seed will
//! not inform it of any other pieces until it has seen the piece it had sent previously present
//! on at least one other client."
//!
//! [`SuperSeed`] keeps, for each peer, its pieces and the pieces offered to it, and for each
//! piece how many peers have it. The caller announces no pieces to the peers (an empty
//! bitfield, or `have none` with the fast extension), sends the `have` messages this component
//! asks for, serves only the requests [`SuperSeed::may_serve`] allows, and reports every peer's
//! bitfield and `have` messages. It performs no I/O, reads no clock and knows nothing of
//! choking: unchoke as usual (the [`Choker`](crate::Choker)'s origin mode fits).
//!
//! The rules:
//! - **Which piece.** Among the pieces the peer lacks and was not offered, the one offered to
//!   no other peer right now, then the fewest connected peers have, ties drawn at random from
//!   the seed (libtorrent's `get_piece_to_super_seed`, torrent.cpp l. 4834-4876 at v2.0.8,
//!   which also pushes pieces being super-seeded to another peer to the back). A piece sent to a peer that
//!   left without passing it on has availability 0 again: it counts as never sent.
//! - **When the next.** An offer is *completed* when the peer announces the piece, and
//!   *spread* when, after the offer, a peer that was not offered the piece announces it (or
//!   connects with it): the piece went from the offeree to someone else (or the swarm has it
//!   anyway). A peer gets a new offer in place of one that is completed and spread. This is
//!   libtorrent's `strict_super_seeding` (peer_connection.cpp l. 2066-2081); its default mode
//!   offers the next piece as soon as the peer completes one (l. 1984-2000), which makes the
//!   origin a plain seed for fast peers. Requests outside the offers are refused, as
//!   libtorrent does (l. 2376).
//! - **Alone.** With a single peer no piece can spread and the transfer would stall (a known
//!   weakness of super-seeding); with [`Config::lone_peer_progress`] a lone peer's completed
//!   offers count as spread, as libtorrent does when `num_peers() == 1`.
//! - **Up to [`Config::offers_per_peer`] at a time**: BEP 16 offers one; libtorrent keeps two.
//!
//! Invariants (checked by the property tests):
//! - every offer names a piece the peer did not have when it was made, and the peer holds at
//!   most [`Config::offers_per_peer`] offers;
//! - `availability(p)` is the number of connected peers that announced `p`;
//! - a peer is offered a new piece only when it has fewer offers than allowed: at first, or
//!   after one of its offers was completed and spread (or it is alone).

use std::collections::{BTreeMap, VecDeque};

use crate::rng::SplitMix64;
use crate::{PeerKey, PieceIndex, UsageError};

/// Settings of a super-seeder.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Config {
    /// Pieces in the torrent.
    pub num_pieces: u32,
    /// Offers a peer may hold at once (BEP 16: 1).
    pub offers_per_peer: usize,
    /// A lone peer gets its next piece when it completes one (else it waits for a second peer).
    pub lone_peer_progress: bool,
    /// Seed of the tie-breaking draws.
    pub seed: u64,
}

impl Config {
    /// BEP 16's one offer per peer, progress when alone, seed 0.
    pub fn new(num_pieces: u32) -> Self {
        Self {
            num_pieces,
            offers_per_peer: 1,
            lone_peer_progress: true,
            seed: 0,
        }
    }
}

/// Send `have(piece)` to `peer`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Offer {
    /// To whom.
    pub peer: PeerKey,
    /// The piece to announce.
    pub piece: PieceIndex,
}

/// The super-seeding state of one torrent.
///
/// Methods: (A) getters taking `&self`; (B) `handle_*` for input from the network;
/// (C) commands from the application; (D) `poll_offer` for output: after any (B) or (C) call,
/// drain it and send each `have`.
#[derive(Clone, Debug)]
pub struct SuperSeed {
    config: Config,
    /// Connected peers that have each piece.
    availability: Vec<u32>,
    /// Pieces no connected peer has.
    unseen: u32,
    /// Peers holding an offer of each piece not yet completed, in the order offered.
    offered_to: BTreeMap<u32, Vec<PeerKey>>,
    peers: BTreeMap<PeerKey, SeedPeer>,
    out: VecDeque<Offer>,
    rng: SplitMix64,
}

impl SuperSeed {
    /// A super-seeder with no peers.
    pub fn new(config: Config) -> Self {
        Self {
            availability: vec![0; config.num_pieces as usize],
            unseen: config.num_pieces,
            offered_to: BTreeMap::new(),
            peers: BTreeMap::new(),
            out: VecDeque::new(),
            rng: SplitMix64::new(config.seed),
            config,
        }
    }

    // (A) Getters.

    /// The settings.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Whether the peer may request blocks of `piece`: it was offered the piece and the offer
    /// stands. Reject (or drop) any other request, or super-seeding is moot.
    pub fn may_serve(&self, peer: PeerKey, piece: PieceIndex) -> bool {
        self.peers
            .get(&peer)
            .is_some_and(|p| p.offers.iter().any(|o| o.piece == piece.0))
    }

    /// The pieces offered to the peer that still stand.
    pub fn offers(&self, peer: PeerKey) -> impl Iterator<Item = PieceIndex> + '_ {
        self.peers
            .get(&peer)
            .into_iter()
            .flat_map(|p| p.offers.iter().map(|o| PieceIndex(o.piece)))
    }

    /// How many connected peers announced the piece.
    pub fn availability(&self, piece: PieceIndex) -> u32 {
        self.availability
            .get(piece.0 as usize)
            .copied()
            .unwrap_or(0)
    }

    /// Whether every piece is at some connected peer: the swarm can finish without us, and the
    /// caller may stop super-seeding (announce everything to every peer).
    pub fn is_distributed(&self) -> bool {
        self.unseen == 0
    }

    /// Whether the peer has the piece (as far as it told us).
    pub fn has(&self, peer: PeerKey, piece: PieceIndex) -> bool {
        self.peers.get(&peer).is_some_and(|p| p.has(piece.0))
    }

    /// Number of peers.
    pub fn num_peers(&self) -> usize {
        self.peers.len()
    }

    // (B) Input from the network.

    /// The peer announced `have(piece)`. Redundant or out-of-range announcements and unknown
    /// peers are ignored.
    pub fn handle_have(&mut self, peer: PeerKey, piece: PieceIndex) {
        let p = piece.0;
        if p >= self.config.num_pieces {
            return;
        }
        let Some(state) = self.peers.get_mut(&peer) else {
            return;
        };
        if !state.insert(p) {
            return;
        }
        let was_offered = state.offers.iter().any(|o| o.piece == p);
        let open = state
            .offers
            .iter_mut()
            .find(|o| o.piece == p && !o.completed);
        let completes = open.map(|offer| offer.completed = true).is_some();
        if completes {
            self.unoffer(p, peer);
        }
        self.gain(p);
        if !was_offered {
            self.mark_spread(p, peer);
        }
        self.advance(peer);
    }

    // (C) Commands.

    /// A peer whose bitfield is `bitfield` (BEP 3 layout: piece 0 is the high bit of the first
    /// byte; shorter is padded with zeros, bits past the last piece are ignored; `have all` is
    /// a full bitfield). Its first offers are queued.
    pub fn add_peer(&mut self, peer: PeerKey, bitfield: &[u8]) -> Result<(), UsageError> {
        if self.peers.contains_key(&peer) {
            return Err(UsageError::DuplicatePeer(peer));
        }
        let mut state = SeedPeer::new(self.config.num_pieces);
        let mut pieces = Vec::new();
        for p in 0..self.config.num_pieces {
            let byte = bitfield.get((p / 8) as usize).copied().unwrap_or(0);
            if byte & (0x80 >> (p % 8)) != 0 {
                state.insert(p);
                pieces.push(p);
            }
        }
        self.peers.insert(peer, state);
        for &p in &pieces {
            self.gain(p);
            self.mark_spread(p, peer);
        }
        self.advance(peer);
        // With a second peer the first is no longer alone, and with one it may now be.
        self.advance_all_if_lone();
        Ok(())
    }

    /// The peer is gone: its pieces no longer count, its offers are void.
    pub fn remove_peer(&mut self, peer: PeerKey) -> Result<(), UsageError> {
        let state = self
            .peers
            .remove(&peer)
            .ok_or(UsageError::UnknownPeer(peer))?;
        for offer in &state.offers {
            if !offer.completed {
                self.unoffer(offer.piece, peer);
            }
        }
        for p in 0..self.config.num_pieces {
            if state.has(p) {
                let a = &mut self.availability[p as usize];
                *a -= 1;
                if *a == 0 {
                    self.unseen += 1;
                }
            }
        }
        self.out.retain(|o| o.peer != peer);
        self.advance_all_if_lone();
        Ok(())
    }

    // (D) Output.

    /// The next `have` to send.
    #[must_use]
    pub fn poll_offer(&mut self) -> Option<Offer> {
        self.out.pop_front()
    }
}

#[derive(Clone, Debug)]
struct SeedPeer {
    /// Its pieces, 64 to a word.
    bits: Vec<u64>,
    offers: Vec<OfferState>,
}

#[derive(Clone, Copy, Debug)]
struct OfferState {
    piece: u32,
    /// The peer announced the piece.
    completed: bool,
    /// A peer that was not offered the piece announced it after the offer.
    spread: bool,
}

impl SeedPeer {
    fn new(num_pieces: u32) -> Self {
        Self {
            bits: vec![0; num_pieces.div_ceil(64) as usize],
            offers: Vec::new(),
        }
    }

    fn has(&self, piece: u32) -> bool {
        self.bits[(piece / 64) as usize] & (1 << (piece % 64)) != 0
    }

    /// Sets the bit; false if it was set.
    fn insert(&mut self, piece: u32) -> bool {
        let word = &mut self.bits[(piece / 64) as usize];
        let bit = 1 << (piece % 64);
        let new = *word & bit == 0;
        *word |= bit;
        new
    }
}

impl SuperSeed {
    /// One more peer has `piece`.
    fn gain(&mut self, piece: u32) {
        let a = &mut self.availability[piece as usize];
        if *a == 0 {
            self.unseen -= 1;
        }
        *a += 1;
    }

    /// Drops `peer` from the holders of an open offer of `piece`.
    fn unoffer(&mut self, piece: u32, peer: PeerKey) {
        if let Some(holders) = self.offered_to.get_mut(&piece) {
            holders.retain(|&k| k != peer);
            if holders.is_empty() {
                self.offered_to.remove(&piece);
            }
        }
    }

    /// `from`, which was not offered `piece`, has it: every open or completed offer of it to
    /// another peer has spread.
    fn mark_spread(&mut self, piece: u32, from: PeerKey) {
        let mut touched = Vec::new();
        for (&key, state) in &mut self.peers {
            if key == from {
                continue;
            }
            for offer in state
                .offers
                .iter_mut()
                .filter(|o| o.piece == piece && !o.spread)
            {
                offer.spread = true;
                touched.push(key);
            }
        }
        for key in touched {
            self.advance(key);
        }
    }

    fn advance_all_if_lone(&mut self) {
        if self.config.lone_peer_progress && self.peers.len() == 1 {
            let keys: Vec<PeerKey> = self.peers.keys().copied().collect();
            for key in keys {
                self.advance(key);
            }
        }
    }

    /// Retires the peer's completed-and-spread offers and tops its offers up.
    fn advance(&mut self, peer: PeerKey) {
        let lone = self.config.lone_peer_progress && self.peers.len() == 1;
        let Some(state) = self.peers.get_mut(&peer) else {
            return;
        };
        state
            .offers
            .retain(|o| !(o.completed && (o.spread || lone)));
        while self.peers[&peer].offers.len() < self.config.offers_per_peer {
            let Some(piece) = self.pick(peer) else { break };
            if let Some(state) = self.peers.get_mut(&peer) {
                state.offers.push(OfferState {
                    piece,
                    completed: false,
                    spread: false,
                });
            }
            self.offered_to.entry(piece).or_default().push(peer);
            self.out.push_back(Offer {
                peer,
                piece: PieceIndex(piece),
            });
        }
    }

    /// The piece to offer the peer next.
    fn pick(&mut self, peer: PeerKey) -> Option<u32> {
        let state = &self.peers[&peer];
        let mut best: Option<(bool, u32, usize)> = None;
        let mut chosen = None;
        let mut ties = 0u64;
        for p in 0..self.config.num_pieces {
            if state.has(p) || state.offers.iter().any(|o| o.piece == p) {
                continue;
            }
            let open = self.offered_to.get(&p).map_or(0, Vec::len);
            let key = (open > 0, self.availability[p as usize], open);
            match best {
                Some(b) if key > b => continue,
                Some(b) if key == b => {
                    // Reservoir sampling: each tied piece is kept with probability 1/ties.
                    ties += 1;
                    if self.rng.below(ties) == 0 {
                        chosen = Some(p);
                    }
                }
                _ => {
                    best = Some(key);
                    chosen = Some(p);
                    ties = 1;
                }
            }
        }
        chosen
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    fn drain(s: &mut SuperSeed) -> Vec<(u32, u32)> {
        std::iter::from_fn(|| s.poll_offer())
            .map(|o| (o.peer.0, o.piece.0))
            .collect()
    }

    fn seeder(num_pieces: u32) -> SuperSeed {
        SuperSeed::new(Config {
            seed: 1,
            ..Config::new(num_pieces)
        })
    }

    #[test]
    fn each_new_peer_is_offered_a_different_piece_nobody_has() {
        let mut s = seeder(8);
        for k in 0..8 {
            s.add_peer(PeerKey(k), &[]).unwrap();
        }
        let offers = drain(&mut s);
        assert_eq!(offers.len(), 8);
        let mut pieces: Vec<u32> = offers.iter().map(|o| o.1).collect();
        pieces.sort_unstable();
        assert_eq!(pieces, (0..8).collect::<Vec<_>>());
    }

    #[test]
    fn next_piece_waits_until_the_offered_one_is_seen_at_another_peer() {
        let mut s = seeder(10);
        s.add_peer(PeerKey(1), &[]).unwrap();
        s.add_peer(PeerKey(2), &[]).unwrap();
        let offers = drain(&mut s);
        let a = offers.iter().find(|o| o.0 == 1).unwrap().1;
        let b = offers.iter().find(|o| o.0 == 2).unwrap().1;
        assert_ne!(a, b);
        // Peer 1 downloads its piece: nothing yet, it could be a leech.
        s.handle_have(PeerKey(1), PieceIndex(a));
        assert_eq!(drain(&mut s), []);
        assert!(s.may_serve(PeerKey(1), PieceIndex(a)));
        // Peer 2 announces peer 1's piece (it got it from peer 1): peer 1 gets its next offer.
        s.handle_have(PeerKey(2), PieceIndex(a));
        let next = drain(&mut s);
        assert_eq!(next.len(), 1);
        assert_eq!(next[0].0, 1);
        assert!(next[0].1 != a && next[0].1 != b, "{next:?}");
        assert!(!s.may_serve(PeerKey(1), PieceIndex(a)));
        // Peer 2 completing its own piece is not a spread of it.
        s.handle_have(PeerKey(2), PieceIndex(b));
        assert_eq!(drain(&mut s), []);
    }

    #[test]
    fn a_have_from_the_offeree_itself_is_not_a_spread() {
        let mut s = seeder(4);
        s.add_peer(PeerKey(1), &[]).unwrap();
        s.add_peer(PeerKey(2), &[]).unwrap();
        let offers = drain(&mut s);
        // Another peer announcing a piece nobody was offered changes nothing.
        let other = (0..4).find(|p| offers.iter().all(|o| o.1 != *p)).unwrap();
        s.handle_have(PeerKey(2), PieceIndex(other));
        assert_eq!(drain(&mut s), []);
    }

    #[test]
    fn spread_before_completion_counts_once_the_peer_completes() {
        let mut s = seeder(4);
        s.add_peer(PeerKey(1), &[]).unwrap();
        s.add_peer(PeerKey(2), &[]).unwrap();
        let a = drain(&mut s).iter().find(|o| o.0 == 1).unwrap().1;
        // Peer 2 got the piece elsewhere first, then peer 1 completes it.
        s.handle_have(PeerKey(2), PieceIndex(a));
        assert!(drain(&mut s).is_empty());
        s.handle_have(PeerKey(1), PieceIndex(a));
        assert_eq!(drain(&mut s).len(), 1);
    }

    #[test]
    fn offers_skip_pieces_the_peer_has_and_prefer_the_rarest() {
        let mut s = seeder(16);
        // Peer 1 has pieces 0..8; peer 2 has 0..4.
        s.add_peer(PeerKey(1), &[0xff, 0x00]).unwrap();
        s.add_peer(PeerKey(2), &[0xf0, 0x00]).unwrap();
        let offers = drain(&mut s);
        assert!(offers.iter().all(|o| o.1 >= 8), "{offers:?}");
        // A newcomer with nothing gets a piece nobody has (8..16), not 0..8.
        s.add_peer(PeerKey(3), &[]).unwrap();
        let third = drain(&mut s);
        assert!(third[0].1 >= 8, "{third:?}");
        assert_eq!(s.availability(PieceIndex(3)), 2);
        assert_eq!(s.availability(PieceIndex(5)), 1);
    }

    #[test]
    fn once_every_piece_is_out_a_piece_not_being_offered_comes_next() {
        let mut s = seeder(2);
        s.add_peer(PeerKey(1), &[]).unwrap();
        s.add_peer(PeerKey(2), &[]).unwrap();
        let offers = drain(&mut s);
        // Both pieces are out; peer 1 completed its own. A third peer gets that one (at one
        // peer, not being sent to anybody) rather than peer 2's, which is still in flight: as
        // libtorrent, which counts a piece being super-seeded as available 999 times.
        s.handle_have(PeerKey(1), PieceIndex(offers[0].1));
        s.add_peer(PeerKey(3), &[]).unwrap();
        assert_eq!(drain(&mut s), [(3, offers[0].1)]);
    }

    #[test]
    fn lone_peer_gets_the_next_piece_when_it_completes_one() {
        let mut s = seeder(3);
        s.add_peer(PeerKey(1), &[]).unwrap();
        let first = drain(&mut s)[0].1;
        s.handle_have(PeerKey(1), PieceIndex(first));
        let second = drain(&mut s);
        assert_eq!(second.len(), 1);
        assert_ne!(second[0].1, first);

        let mut strict = SuperSeed::new(Config {
            lone_peer_progress: false,
            ..Config::new(3)
        });
        strict.add_peer(PeerKey(1), &[]).unwrap();
        let first = drain(&mut strict)[0].1;
        strict.handle_have(PeerKey(1), PieceIndex(first));
        assert_eq!(drain(&mut strict), []);
    }

    #[test]
    fn a_peer_left_alone_resumes() {
        let mut s = seeder(4);
        s.add_peer(PeerKey(1), &[]).unwrap();
        s.add_peer(PeerKey(2), &[]).unwrap();
        let a = drain(&mut s).iter().find(|o| o.0 == 1).unwrap().1;
        s.handle_have(PeerKey(1), PieceIndex(a));
        assert_eq!(drain(&mut s), []);
        s.remove_peer(PeerKey(2)).unwrap();
        assert_eq!(drain(&mut s).len(), 1);
    }

    #[test]
    fn departed_offeree_frees_its_piece() {
        let mut s = seeder(1);
        s.add_peer(PeerKey(1), &[]).unwrap();
        s.add_peer(PeerKey(2), &[]).unwrap();
        // One piece, two peers: both are offered piece 0.
        assert_eq!(drain(&mut s), [(1, 0), (2, 0)]);
        s.handle_have(PeerKey(1), PieceIndex(0));
        assert!(s.is_distributed());
        s.remove_peer(PeerKey(1)).unwrap();
        assert!(!s.is_distributed());
        assert_eq!(s.availability(PieceIndex(0)), 0);
    }

    #[test]
    fn two_offers_per_peer_as_libtorrent() {
        let mut s = SuperSeed::new(Config {
            offers_per_peer: 2,
            ..Config::new(10)
        });
        s.add_peer(PeerKey(1), &[]).unwrap();
        s.add_peer(PeerKey(2), &[]).unwrap();
        let offers = drain(&mut s);
        assert_eq!(offers.len(), 4);
        assert_eq!(s.offers(PeerKey(1)).count(), 2);
    }

    #[test]
    fn nothing_to_offer_a_peer_that_has_everything() {
        let mut s = seeder(10);
        s.add_peer(PeerKey(1), &[0xff, 0xc0]).unwrap();
        assert_eq!(drain(&mut s), []);
        assert!(s.is_distributed());
    }

    #[test]
    fn usage_errors_and_ignored_input() {
        let mut s = seeder(4);
        s.add_peer(PeerKey(1), &[]).unwrap();
        assert_eq!(
            s.add_peer(PeerKey(1), &[]),
            Err(UsageError::DuplicatePeer(PeerKey(1)))
        );
        assert_eq!(
            s.remove_peer(PeerKey(9)),
            Err(UsageError::UnknownPeer(PeerKey(9)))
        );
        s.handle_have(PeerKey(9), PieceIndex(0));
        s.handle_have(PeerKey(1), PieceIndex(99));
        // The redundant `have` changes nothing.
        s.handle_have(PeerKey(1), PieceIndex(0));
        s.handle_have(PeerKey(1), PieceIndex(0));
        assert_eq!(s.availability(PieceIndex(0)), 1);
    }

    #[test]
    fn every_piece_goes_out_once_before_any_goes_out_twice() {
        // A small simulation: 6 peers download each offer at once and pass it to the next
        // peer, which announces it. The origin must hand out all 30 pieces before it offers
        // any piece a second time.
        let n = 6u32;
        let pieces = 30u32;
        let mut s = SuperSeed::new(Config {
            seed: 9,
            ..Config::new(pieces)
        });
        for k in 0..n {
            s.add_peer(PeerKey(k), &[]).unwrap();
        }
        let mut sent = Vec::new();
        while sent.len() < 200 {
            let offers = drain(&mut s);
            if offers.is_empty() {
                break;
            }
            for (peer, piece) in offers {
                sent.push(piece);
                s.handle_have(PeerKey(peer), PieceIndex(piece));
                s.handle_have(PeerKey((peer + 1) % n), PieceIndex(piece));
            }
        }
        let first: BTreeSet<u32> = sent.iter().take(pieces as usize).copied().collect();
        assert_eq!(first.len(), pieces as usize, "{sent:?}");
        assert!(s.is_distributed());
    }
}
