//! The choker's state machine: the rechoke and optimistic-unchoke timers, per-peer counters
//! and rates, and the decisions that come out of them.
//!
//! [`Choker`] performs no I/O and reads no clock. The policy lives in [`crate::rank`]; this
//! module gathers the plain data it needs, calls it once per round, draws the optimistic
//! unchoke and turns the result into [`Action`]s.
//!
//! Methods: (A) getters taking `&self`; (B) `handle_*` for input from the network or clock;
//! (C) commands from the application; (D) `poll_*` for output. After any (B) or (C) call, drain
//! `poll_action`, then read `poll_timeout`. Any call order is valid; an extra `handle_timeout`
//! is a no-op.
//!
//! ```text
//!   every 10 s (handle_timeout)          between rounds
//!  ┌────────────────────────────────┐    ┌──────────────────────────────────────────────┐
//!  │ rates = bytes this round / time │    │ peer not interested   → Choke at once        │
//!  │ slots = fixed or rate-based     │    │ peer interested, a regular slot free, not    │
//!  │ regular = rank(views, slots)    │    │   choked by this round → Unchoke at once     │
//!  │ optimistic: keep, or every 30 s │    │ set_slots shrinks     → Choke the worst      │
//!  │   draw anew (newcomers ×3)      │    └──────────────────────────────────────────────┘
//!  │ diff against now → Choke/Unchoke│
//!  └────────────────────────────────┘
//! ```
//!
//! Invariants (checked by the property tests after every call):
//! - at most [`Choker::regular_slots`] peers hold a regular slot and at most
//!   [`Config::optimistic_slots`] an optimistic one, so never more than their sum are unchoked;
//! - every unchoked peer is interested in us;
//! - a peer choked by a round (or by [`Choker::set_slots`]) is not unchoked again before the
//!   next round;
//! - the actions, applied in order, keep the caller's view equal to ours: `Unchoke` only for a
//!   choked peer, `Choke` only for an unchoked one, nothing for a removed peer;
//! - `handle_timeout` before the deadline of [`Choker::poll_timeout`] changes nothing;
//! - the same configuration (seed included) and the same calls give the same actions.

use std::collections::{BTreeMap, VecDeque};
use std::time::{Duration, Instant};

use crate::rank::{self, PeerView, Policy, SeedMode, Slots};
use crate::rng::{SplitMix64, weighted_index};
use crate::{PeerKey, UsageError};

/// Settings of a choker.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Config {
    /// Slots, seed mode and the torrent's size: what the ranking needs.
    pub policy: Policy,
    /// Time between rounds (BEP 3: "every ten seconds"; libtorrent's `unchoke_interval` is 15).
    pub rechoke_interval: Duration,
    /// The optimistic unchoke rotates at the first round this long after the last rotation
    /// (BEP 3 and libtorrent: 30 s).
    pub optimistic_interval: Duration,
    /// Optimistic slots, on top of the regular ones (BEP 3: one).
    pub optimistic_slots: usize,
    /// A peer connected for less than this that has not been optimistically unchoked yet is a
    /// newcomer (2 minutes: four rotations).
    pub new_peer_window: Duration,
    /// A newcomer's weight in the optimistic draw; other peers weigh 1 (mainline BitTorrent: 3).
    pub new_peer_weight: u32,
    /// A peer we are interested in that sent us nothing for this long snubs us (60 s).
    pub snub_timeout: Duration,
    /// Unchoke a peer at once when it becomes interested and a regular slot is free, instead of
    /// at the next round (libtorrent's preemptive unchoke).
    pub preemptive_unchoke: bool,
    /// Seed of the random draws: the same seed and calls give the same decisions.
    pub seed: u64,
}

impl Config {
    /// Defaults for a torrent of `num_pieces` pieces of `piece_length` bytes: four regular
    /// slots and one optimistic, rounds of 10 s, rotation every 30 s, round-robin seeding.
    pub fn new(num_pieces: u32, piece_length: u32) -> Self {
        Self {
            policy: Policy::new(num_pieces, piece_length),
            rechoke_interval: Duration::from_secs(10),
            optimistic_interval: Duration::from_secs(30),
            optimistic_slots: 1,
            new_peer_window: Duration::from_secs(120),
            new_peer_weight: 3,
            snub_timeout: Duration::from_secs(60),
            preemptive_unchoke: true,
            seed: 0,
        }
    }
}

/// A decision for the caller to carry out (send the message on that peer's connection).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Action {
    /// Send `unchoke`: the peer may request blocks.
    Unchoke(PeerKey),
    /// Send `choke`.
    Choke(PeerKey),
}

impl Action {
    /// The peer the action is for.
    pub fn peer(&self) -> PeerKey {
        match *self {
            Self::Unchoke(key) | Self::Choke(key) => key,
        }
    }
}

/// Payload bytes over a connection so far: what `peer_wire::Session::payload_bytes` returns.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Totals {
    /// Payload bytes the peer sent us.
    pub received: u64,
    /// Payload bytes we sent the peer.
    pub sent: u64,
}

/// Rates over the last round, in payload bytes per second.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Rates {
    /// From the peer to us.
    pub download: u64,
    /// From us to the peer.
    pub upload: u64,
}

/// Upload-slot allocation for one torrent: tit-for-tat, optimistic unchoke, anti-snubbing and
/// the seed modes, driven by the caller's clock.
///
/// Methods: (A) getters taking `&self`; (B) `handle_*` for input from the network or clock;
/// (C) commands from the application; (D) `poll_*` for output. After any (B) or (C) call,
/// drain `poll_action`, then read `poll_timeout`.
///
/// Rates are computed here: the caller reports each peer's byte *totals* (cheap, idempotent,
/// and exactly what a session counts) with [`Choker::handle_transferred`] as often as it likes,
/// at least once per round; a round divides what came in since the previous round by the time
/// since (or since the peer connected).
#[derive(Clone, Debug)]
pub struct Choker {
    config: Config,
    peers: BTreeMap<PeerKey, Peer>,
    rng: SplitMix64,
    /// Rounds run so far.
    round: u64,
    last_round: Instant,
    next_round: Option<Instant>,
    next_rotation: Instant,
    regular_slots: usize,
    regular: usize,
    optimistic: usize,
    actions: VecDeque<Action>,
    /// Reused between rounds.
    views: Vec<PeerView>,
    /// Reused between rounds: optimistic candidates and their weights.
    candidates: Vec<(PeerKey, u64)>,
}

impl Choker {
    /// A choker with no peers; the first round is one interval after `now`.
    pub fn new(config: Config, now: Instant) -> Self {
        let mut config = config;
        // Zero-length intervals would run a round at every call: one millisecond at least.
        config.rechoke_interval = config.rechoke_interval.max(Duration::from_millis(1));
        let regular_slots = rank::slot_count(&[], config.policy.slots);
        Self {
            rng: SplitMix64::new(config.seed),
            peers: BTreeMap::new(),
            round: 0,
            last_round: now,
            next_round: now.checked_add(config.rechoke_interval),
            next_rotation: now,
            regular_slots,
            regular: 0,
            optimistic: 0,
            actions: VecDeque::new(),
            views: Vec::new(),
            candidates: Vec::new(),
            config,
        }
    }

    // (A) Getters.

    /// The settings (with the current slots and seed mode).
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Number of peers.
    pub fn num_peers(&self) -> usize {
        self.peers.len()
    }

    /// Whether the peer is known.
    pub fn contains(&self, key: PeerKey) -> bool {
        self.peers.contains_key(&key)
    }

    /// Regular slots now: fixed, or what the last round computed.
    pub fn regular_slots(&self) -> usize {
        self.regular_slots
    }

    /// Peers we unchoke, regular and optimistic.
    pub fn num_unchoked(&self) -> usize {
        self.regular + self.optimistic
    }

    /// The peers we unchoke, in key order.
    pub fn unchoked(&self) -> impl Iterator<Item = PeerKey> + '_ {
        self.peers
            .iter()
            .filter(|(_, p)| p.slot != Slot::Choked)
            .map(|(&k, _)| k)
    }

    /// Whether we unchoke the peer (as the actions handed out so far say).
    pub fn is_unchoked(&self, key: PeerKey) -> bool {
        self.peers.get(&key).is_some_and(|p| p.slot != Slot::Choked)
    }

    /// Whether the peer holds an optimistic slot.
    pub fn is_optimistic(&self, key: PeerKey) -> bool {
        self.peers
            .get(&key)
            .is_some_and(|p| p.slot == Slot::Optimistic)
    }

    /// Whether the peer snubs us at `now`: we are interested in it and it sent us nothing for
    /// [`Config::snub_timeout`].
    pub fn is_snubbed(&self, key: PeerKey, now: Instant) -> bool {
        self.peers
            .get(&key)
            .is_some_and(|p| p.is_snubbed(now.checked_sub(self.config.snub_timeout)))
    }

    /// The peer's rates over the last round.
    pub fn rates(&self, key: PeerKey) -> Option<Rates> {
        self.peers.get(&key).map(|p| p.rates)
    }

    /// What the ranking would see of the peer at `now`.
    pub fn view(&self, key: PeerKey, now: Instant) -> Option<PeerView> {
        let p = self.peers.get(&key)?;
        Some(p.view(key, now.checked_sub(self.config.snub_timeout)))
    }

    /// Rounds run so far.
    pub fn rounds(&self) -> u64 {
        self.round
    }

    // (B) Input from the network and the clock.

    /// Runs a round if its time has come: rates, slots, ranking, optimistic unchoke, actions.
    /// Before the deadline it does nothing. A late call runs one round, not the missed ones, and
    /// the next is one interval after `now`.
    pub fn handle_timeout(&mut self, now: Instant) {
        match self.next_round {
            Some(deadline) if now >= deadline => {}
            _ => return,
        }
        self.rechoke(now);
        self.next_round = now.checked_add(self.config.rechoke_interval);
    }

    /// The peer says it is interested (`true`) or not interested in us. A peer that loses
    /// interest is choked at once (its slot is free for the next round; libtorrent's
    /// `incoming_not_interested`, peer_connection.cpp l. 1858-1886 at v2.0.8); a peer that
    /// gains it is unchoked at once if a regular slot is free and this round did not choke it
    /// (libtorrent's preemptive unchoke, `maybe_unchoke_this_peer`, l. 1820-1840).
    /// Unknown peers are ignored (a message can race with the disconnect).
    pub fn handle_interested(&mut self, now: Instant, key: PeerKey, interested: bool) {
        let Some(peer) = self.peers.get_mut(&key) else {
            return;
        };
        peer.interested = interested;
        if !interested {
            if peer.slot != Slot::Choked {
                self.choke(key, None);
            }
            return;
        }
        let may_unchoke = self.config.preemptive_unchoke
            && peer.slot == Slot::Choked
            && peer.choked_in_round != Some(self.round)
            && self.regular < self.regular_slots;
        if may_unchoke {
            peer.unchoke(now, Slot::Regular);
            self.regular += 1;
            self.actions.push_back(Action::Unchoke(key));
        }
    }

    /// The peer's payload byte totals on this connection. Call it at least once per round;
    /// more often sharpens the snubbing clock (a peer's last delivery is the last call at which
    /// `received` grew). Totals that go down are taken as a new baseline. Unknown peers are
    /// ignored.
    pub fn handle_transferred(&mut self, now: Instant, key: PeerKey, totals: Totals) {
        let Some(peer) = self.peers.get_mut(&key) else {
            return;
        };
        if totals.received > peer.totals.received {
            peer.last_received_at = now;
        }
        peer.at_round.received = peer.at_round.received.min(totals.received);
        peer.at_round.sent = peer.at_round.sent.min(totals.sent);
        peer.sent_at_unchoke = peer.sent_at_unchoke.min(totals.sent);
        peer.totals = totals;
    }

    /// How many pieces the peer has (its bitfield's count, then one more per `have`). Only the
    /// anti-leech and origin modes use it. Unknown peers are ignored.
    pub fn handle_pieces(&mut self, key: PeerKey, pieces: u32) {
        if let Some(peer) = self.peers.get_mut(&key) {
            peer.pieces = pieces;
        }
    }

    // (C) Commands.

    /// A new connection. It starts choked and not interested (BEP 3).
    pub fn add_peer(&mut self, now: Instant, key: PeerKey) -> Result<(), UsageError> {
        if self.peers.contains_key(&key) {
            return Err(UsageError::DuplicatePeer(key));
        }
        self.peers.insert(key, Peer::new(now));
        Ok(())
    }

    /// The connection is gone. Actions not yet polled for it are dropped; its slot is given out
    /// at the next round.
    pub fn remove_peer(&mut self, key: PeerKey) -> Result<(), UsageError> {
        let peer = self
            .peers
            .remove(&key)
            .ok_or(UsageError::UnknownPeer(key))?;
        match peer.slot {
            Slot::Regular => self.regular -= 1,
            Slot::Optimistic => self.optimistic -= 1,
            Slot::Choked => {}
        }
        self.actions.retain(|a| a.peer() != key);
        Ok(())
    }

    /// We are interested in the peer (it has pieces we want) or not. Only peers we are
    /// interested in can snub us; the snubbing clock starts when interest starts.
    pub fn set_interested(
        &mut self,
        now: Instant,
        key: PeerKey,
        interested: bool,
    ) -> Result<(), UsageError> {
        let peer = self
            .peers
            .get_mut(&key)
            .ok_or(UsageError::UnknownPeer(key))?;
        if interested && !peer.am_interested {
            peer.interested_since = now;
        }
        peer.am_interested = interested;
        Ok(())
    }

    /// Switches the seed mode from the next round on.
    pub fn set_seed_mode(&mut self, mode: SeedMode) {
        self.config.policy.seed_mode = mode;
    }

    /// Switches the slot policy. Fixed slots apply at once; rate-based ones are recomputed from
    /// the last round's rates. If fewer slots remain than peers hold, the worst-ranked are
    /// choked now (and, like peers choked by a round, stay choked until the next round).
    pub fn set_slots(&mut self, now: Instant, slots: Slots) {
        self.config.policy.slots = slots;
        let snub_before = now.checked_sub(self.config.snub_timeout);
        self.regular_slots = match slots {
            Slots::Fixed(n) => n,
            Slots::RateBased { .. } => {
                self.views.clear();
                self.views
                    .extend(self.peers.iter().map(|(&k, p)| p.view(k, snub_before)));
                rank::slot_count(&self.views, slots)
            }
        };
        if self.regular <= self.regular_slots {
            return;
        }
        self.views.clear();
        self.views.extend(
            self.peers
                .iter()
                .filter(|(_, p)| p.slot == Slot::Regular)
                .map(|(&k, p)| p.view(k, snub_before)),
        );
        let keep = rank::rank(
            &mut self.views,
            self.regular_slots,
            &self.config.policy,
            now,
        );
        let mut excess: Vec<PeerKey> = self.views[keep..].iter().map(|v| v.key).collect();
        excess.sort_unstable();
        for key in excess {
            self.choke(key, Some(self.round));
        }
    }

    // (D) Output.

    /// The next decision to carry out, in order.
    #[must_use]
    pub fn poll_action(&mut self) -> Option<Action> {
        self.actions.pop_front()
    }

    /// When to call [`Choker::handle_timeout`] next.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.next_round
    }
}

/// Which slot a peer holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Slot {
    Choked,
    Regular,
    Optimistic,
}

#[derive(Clone, Debug)]
struct Peer {
    connected_at: Instant,
    /// The peer is interested in us.
    interested: bool,
    /// We are interested in the peer.
    am_interested: bool,
    interested_since: Instant,
    last_received_at: Instant,
    totals: Totals,
    /// Totals at the start of the round.
    at_round: Totals,
    rates: Rates,
    pieces: u32,
    slot: Slot,
    last_unchoke: Instant,
    sent_at_unchoke: u64,
    /// The round that last choked the peer.
    choked_in_round: Option<u64>,
    ever_optimistic: bool,
}

impl Peer {
    fn new(now: Instant) -> Self {
        Self {
            connected_at: now,
            interested: false,
            am_interested: false,
            interested_since: now,
            last_received_at: now,
            totals: Totals::default(),
            at_round: Totals::default(),
            rates: Rates::default(),
            pieces: 0,
            slot: Slot::Choked,
            // libtorrent: a peer never unchoked counts from its connection.
            last_unchoke: now,
            sent_at_unchoke: 0,
            choked_in_round: None,
            ever_optimistic: false,
        }
    }

    /// Whether the peer snubs us, `snub_before` being `now - snub_timeout` (instants, not
    /// durations: a round compares 10,000 peers against the same bound).
    fn is_snubbed(&self, snub_before: Option<Instant>) -> bool {
        // Mainline BitTorrent: a peer that sent us nothing for a minute while we were
        // interested is snubbing us ("anti-snubbing").
        let since = self.interested_since.max(self.last_received_at);
        self.am_interested && snub_before.is_some_and(|bound| since <= bound)
    }

    fn view(&self, key: PeerKey, snub_before: Option<Instant>) -> PeerView {
        PeerView {
            key,
            interested: self.interested,
            snubbed: self.is_snubbed(snub_before),
            unchoked: self.slot != Slot::Choked,
            download_rate: self.rates.download,
            upload_rate: self.rates.upload,
            uploaded: self.totals.sent,
            uploaded_since_unchoke: self.totals.sent.saturating_sub(self.sent_at_unchoke),
            last_unchoke: self.last_unchoke,
            pieces: self.pieces,
        }
    }

    fn unchoke(&mut self, now: Instant, slot: Slot) {
        self.slot = slot;
        self.last_unchoke = now;
        self.sent_at_unchoke = self.totals.sent;
    }
}

impl Choker {
    /// Chokes an unchoked peer now; `round` marks a choke that must hold until the next round.
    fn choke(&mut self, key: PeerKey, round: Option<u64>) {
        let Some(peer) = self.peers.get_mut(&key) else {
            return;
        };
        match peer.slot {
            Slot::Regular => self.regular -= 1,
            Slot::Optimistic => self.optimistic -= 1,
            Slot::Choked => return,
        }
        peer.slot = Slot::Choked;
        if round.is_some() {
            peer.choked_in_round = round;
        }
        self.actions.push_back(Action::Choke(key));
    }

    /// One round.
    fn rechoke(&mut self, now: Instant) {
        self.round += 1;
        let round = self.round;
        // Bounds as instants, computed once: a newcomer connected after `young_after`, a
        // snubbing peer last delivered at or before `snub_before`.
        let snub_before = now.checked_sub(self.config.snub_timeout);
        let young_after = now.checked_sub(self.config.new_peer_window);
        let new_weight = u64::from(self.config.new_peer_weight);
        let round_length = now.saturating_duration_since(self.last_round);

        // One pass over the peers: rates over the round, the views, who is unchoked now, and the
        // optimistic candidates (interested peers that were choked or are optimistic; a peer
        // that had a regular slot already had its chance).
        self.views.clear();
        let mut candidates = std::mem::take(&mut self.candidates);
        candidates.clear();
        let mut current = Vec::new();
        let mut before = Vec::with_capacity(self.regular + self.optimistic);
        for (&key, peer) in &mut self.peers {
            let since = if peer.connected_at > self.last_round {
                now.saturating_duration_since(peer.connected_at)
            } else {
                round_length
            };
            peer.rates = Rates {
                download: per_second(
                    peer.totals.received.saturating_sub(peer.at_round.received),
                    since,
                ),
                upload: per_second(peer.totals.sent.saturating_sub(peer.at_round.sent), since),
            };
            peer.at_round = peer.totals;
            self.views.push(peer.view(key, snub_before));
            if peer.slot != Slot::Choked {
                before.push(key);
            }
            if peer.interested {
                match peer.slot {
                    Slot::Choked => {
                        let young = young_after.is_none_or(|bound| peer.connected_at > bound);
                        let weight = if young && !peer.ever_optimistic {
                            new_weight
                        } else {
                            1
                        };
                        candidates.push((key, weight));
                    }
                    Slot::Optimistic => current.push(key),
                    Slot::Regular => {}
                }
            }
        }
        self.last_round = now;

        // Regular slots.
        let policy = self.config.policy;
        self.regular_slots = rank::slot_count(&self.views, policy.slots);
        let n = rank::rank(&mut self.views, self.regular_slots, &policy, now);
        let mut next: Vec<(PeerKey, Slot)> = self.views[..n]
            .iter()
            .map(|v| (v.key, Slot::Regular))
            .collect();
        next.sort_unstable_by_key(|&(k, _)| k);

        // Optimistic slots, among the candidates that did not just win a regular one.
        let won = |key: &PeerKey| next.binary_search_by_key(key, |&(k, _)| k).is_ok();
        candidates.retain(|(key, _)| !won(key));
        current.retain(|key| !won(key));
        let optimistic = self.pick_optimistic(now, &mut candidates, &current);
        self.candidates = candidates;
        next.extend(optimistic.into_iter().map(|key| (key, Slot::Optimistic)));
        next.sort_unstable_by_key(|&(k, _)| k);

        // Carry out the difference: chokes first, so that the caller's uplink frees up before
        // it is handed out again.
        for key in before {
            if next.binary_search_by_key(&key, |&(k, _)| k).is_err() {
                self.choke(key, Some(round));
            }
        }
        for &(key, slot) in &next {
            let Some(peer) = self.peers.get_mut(&key) else {
                continue;
            };
            match peer.slot {
                Slot::Choked => {
                    peer.unchoke(now, slot);
                    self.actions.push_back(Action::Unchoke(key));
                }
                Slot::Regular => self.regular -= 1,
                Slot::Optimistic => self.optimistic -= 1,
            }
            peer.slot = slot;
            match slot {
                Slot::Regular => self.regular += 1,
                Slot::Optimistic => {
                    peer.ever_optimistic = true;
                    self.optimistic += 1;
                }
                Slot::Choked => {}
            }
        }
    }

    /// Draws the optimistic peers for this round among `candidates` (choked, with weights)
    /// and `current` (optimistic now), both without the round's regular winners.
    ///
    /// The current optimistic peers keep their slots until the rotation is due; then new ones
    /// are drawn and the current ones stay only if there is nobody else. When no optimistic
    /// peer is left (it left, lost interest, or the ranking promoted it to a regular slot), a
    /// new one is drawn at once and its 30 s start, as libtorrent forces a new optimistic
    /// unchoke then.
    ///
    /// The draw is random with weights: 1, or [`Config::new_peer_weight`] for a newcomer, as
    /// mainline BitTorrent makes "newly connected peers three times as likely to start as the
    /// current optimistic unchoke" (Cohen, "Incentives Build Robustness in BitTorrent", 2003),
    /// so that they soon get a piece to trade with. A newcomer is a peer connected for less
    /// than [`Config::new_peer_window`] that has not been optimistically unchoked yet: once it
    /// had its turn it weighs like everyone else, the rule by which libtorrent puts peers never
    /// optimistically unchoked at the head of its queue (session_impl.cpp at v2.0.8,
    /// `last_optimistic_unchoke_cmp`, l. 4038-4084; its candidates, l. 4130-4140: interested,
    /// and choked or optimistic already; its forced re-draw after a promotion, l. 4477-4485).
    fn pick_optimistic(
        &mut self,
        now: Instant,
        candidates: &mut Vec<(PeerKey, u64)>,
        current: &[PeerKey],
    ) -> Vec<PeerKey> {
        let want = self.config.optimistic_slots;
        let rotate = now >= self.next_rotation || current.is_empty();
        let mut chosen: Vec<PeerKey> = Vec::with_capacity(want);
        if !rotate {
            chosen.extend(current.iter().take(want));
        }
        while chosen.len() < want {
            let Some(i) = weighted_index(&mut self.rng, candidates.iter().map(|c| c.1)) else {
                break;
            };
            chosen.push(candidates.swap_remove(i).0);
        }
        if rotate {
            let room = want - chosen.len();
            chosen.extend(current.iter().take(room));
            self.next_rotation = now
                .checked_add(self.config.optimistic_interval)
                .unwrap_or(now);
        }
        chosen
    }
}

/// `bytes` over `elapsed`, per second (a zero `elapsed` counts as a millisecond).
fn per_second(bytes: u64, elapsed: Duration) -> u64 {
    if bytes == 0 {
        return 0;
    }
    let millis = elapsed.as_millis().max(1);
    // 64-bit division when it fits (every realistic case: it is 10 times faster than 128-bit).
    match (bytes.checked_mul(1000), u64::try_from(millis)) {
        (Some(scaled), Ok(millis)) => scaled / millis,
        _ => u64::try_from(u128::from(bytes) * 1000 / millis).unwrap_or(u64::MAX),
    }
}

#[cfg(test)]
mod tests;
