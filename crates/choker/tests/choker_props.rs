//! Choker invariants under arbitrary sequences of peers coming and going, interest, byte
//! counters, piece counts, clock jumps and mode switches, checked after every step:
//!
//! - never more unchoked than regular slots plus optimistic slots (and each kind within its
//!   own bound);
//! - every unchoked peer is interested in us;
//! - the actions, applied in order, keep a model of who is unchoked equal to the choker's
//!   (no unchoke of an unchoked peer, no choke of a choked one, nothing for unknown peers);
//! - a peer choked by a round (or by shrinking the slots) is not unchoked before the next round;
//! - a second `handle_timeout` at the same instant is a no-op, and the deadline is in the future;
//! - the same seed and operations give the same actions.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use choker::{Action, Choker, Config, PeerKey, SeedMode, Slots, Totals};
use proptest::prelude::*;

#[derive(Debug, Clone)]
enum Op {
    Add(u8),
    Remove(u8),
    /// The peer is (not) interested in us.
    Interested(u8, bool),
    /// We are (not) interested in the peer.
    AmInterested(u8, bool),
    /// Bytes received from and sent to the peer since the last report.
    Transfer(u8, u32, u32),
    Pieces(u8, u16),
    /// The clock moves on by this many milliseconds; the driver calls `handle_timeout`.
    Wait(u32),
    /// The clock jumps to the deadline; the driver calls `handle_timeout`.
    Deadline,
    SeedMode(u8),
    FixedSlots(u8),
    RateBasedSlots(u8),
}

fn op() -> impl Strategy<Value = Op> {
    let key = 0u8..12;
    prop_oneof![
        3 => key.clone().prop_map(Op::Add),
        1 => key.clone().prop_map(Op::Remove),
        4 => (key.clone(), any::<bool>()).prop_map(|(k, b)| Op::Interested(k, b)),
        1 => (key.clone(), any::<bool>()).prop_map(|(k, b)| Op::AmInterested(k, b)),
        4 => (key.clone(), 0u32..2_000_000, 0u32..2_000_000).prop_map(|(k, r, s)| Op::Transfer(k, r, s)),
        1 => (key, 0u16..1200).prop_map(|(k, p)| Op::Pieces(k, p)),
        3 => (0u32..40_000).prop_map(Op::Wait),
        3 => Just(Op::Deadline),
        1 => (0u8..4).prop_map(Op::SeedMode),
        1 => (0u8..7).prop_map(Op::FixedSlots),
        1 => (1u8..10).prop_map(Op::RateBasedSlots),
    ]
}

/// The choker and what the test knows independently of it.
struct Harness {
    choker: Choker,
    now: Instant,
    known: BTreeSet<u8>,
    interested: BTreeSet<u8>,
    totals: BTreeMap<u8, Totals>,
    unchoked: BTreeSet<u8>,
    /// Peers choked by the current round (or a slot shrink): no unchoke until the next round.
    round_choked: BTreeSet<u8>,
    log: Vec<Action>,
}

#[expect(clippy::disallowed_methods, reason = "an origin for a virtual clock")]
fn origin() -> Instant {
    Instant::now()
}

impl Harness {
    fn new(seed: u64, start: Instant) -> Self {
        let config = Config {
            seed,
            ..Config::new(1000, 16 * 1024)
        };
        Self {
            choker: Choker::new(config, start),
            now: start,
            known: BTreeSet::new(),
            interested: BTreeSet::new(),
            totals: BTreeMap::new(),
            unchoked: BTreeSet::new(),
            round_choked: BTreeSet::new(),
            log: Vec::new(),
        }
    }

    fn apply(&mut self, op: &Op) -> Result<(), TestCaseError> {
        let rounds = self.choker.rounds();
        let mut slots_changed = false;
        match *op {
            Op::Add(k) => {
                let added = self.choker.add_peer(self.now, PeerKey(k.into())).is_ok();
                prop_assert_eq!(added, self.known.insert(k));
                if added {
                    self.totals.insert(k, Totals::default());
                }
            }
            Op::Remove(k) => {
                let removed = self.choker.remove_peer(PeerKey(k.into())).is_ok();
                prop_assert_eq!(removed, self.known.remove(&k));
                self.interested.remove(&k);
                self.unchoked.remove(&k);
                self.round_choked.remove(&k);
                self.totals.remove(&k);
            }
            Op::Interested(k, on) => {
                self.choker
                    .handle_interested(self.now, PeerKey(k.into()), on);
                if on && self.known.contains(&k) {
                    self.interested.insert(k);
                } else {
                    self.interested.remove(&k);
                }
            }
            Op::AmInterested(k, on) => {
                let known = self
                    .choker
                    .set_interested(self.now, PeerKey(k.into()), on)
                    .is_ok();
                prop_assert_eq!(known, self.known.contains(&k));
            }
            Op::Transfer(k, received, sent) => {
                if let Some(t) = self.totals.get_mut(&k) {
                    t.received += u64::from(received);
                    t.sent += u64::from(sent);
                }
                let totals = self.totals.get(&k).copied().unwrap_or_default();
                self.choker
                    .handle_transferred(self.now, PeerKey(k.into()), totals);
            }
            Op::Pieces(k, pieces) => self.choker.handle_pieces(PeerKey(k.into()), pieces.into()),
            Op::Wait(ms) => {
                self.now += Duration::from_millis(ms.into());
                self.choker.handle_timeout(self.now);
            }
            Op::Deadline => {
                let deadline = self.choker.poll_timeout().expect("always a next round");
                self.now = self.now.max(deadline);
                self.choker.handle_timeout(self.now);
            }
            Op::SeedMode(m) => self.choker.set_seed_mode(
                [
                    SeedMode::RoundRobin,
                    SeedMode::FastestUpload,
                    SeedMode::AntiLeech,
                    SeedMode::Origin,
                ][usize::from(m)],
            ),
            Op::FixedSlots(n) => {
                self.choker.set_slots(self.now, Slots::Fixed(n.into()));
                slots_changed = true;
            }
            Op::RateBasedSlots(max) => {
                let slots = Slots::RateBased {
                    initial_threshold: 1024,
                    step: 2048,
                    max: max.into(),
                };
                self.choker.set_slots(self.now, slots);
                slots_changed = true;
            }
        }

        let new_round = self.choker.rounds() != rounds;
        if new_round {
            prop_assert_eq!(self.choker.rounds(), rounds + 1);
            self.round_choked.clear();
        }
        let mut this_call = BTreeSet::new();
        while let Some(action) = self.choker.poll_action() {
            self.log.push(action);
            let k = u8::try_from(action.peer().0).expect("keys are u8");
            prop_assert!(self.known.contains(&k), "{:?} for an unknown peer", action);
            prop_assert!(this_call.insert(k), "two actions for {} in one call", k);
            match action {
                Action::Unchoke(_) => {
                    prop_assert!(self.unchoked.insert(k), "unchoke of unchoked {}", k);
                    prop_assert!(
                        !self.round_choked.contains(&k),
                        "{} unchoked in the round that choked it",
                        k
                    );
                }
                Action::Choke(_) => {
                    prop_assert!(self.unchoked.remove(&k), "choke of choked {}", k);
                    if new_round || slots_changed {
                        self.round_choked.insert(k);
                    }
                }
            }
        }

        // The choker's view is the model's.
        let theirs: BTreeSet<u8> = self
            .choker
            .unchoked()
            .map(|k| u8::try_from(k.0).unwrap())
            .collect();
        prop_assert_eq!(&theirs, &self.unchoked);
        prop_assert_eq!(self.choker.num_unchoked(), self.unchoked.len());
        prop_assert_eq!(self.choker.num_peers(), self.known.len());
        // Slots.
        let optimistic = self
            .choker
            .unchoked()
            .filter(|&k| self.choker.is_optimistic(k))
            .count();
        let regular = self.unchoked.len() - optimistic;
        let config = self.choker.config();
        prop_assert!(optimistic <= config.optimistic_slots);
        prop_assert!(
            regular <= self.choker.regular_slots(),
            "{} > {}",
            regular,
            self.choker.regular_slots()
        );
        prop_assert!(self.unchoked.len() <= self.choker.regular_slots() + config.optimistic_slots);
        // Only interested peers are unchoked.
        prop_assert!(
            self.unchoked.is_subset(&self.interested),
            "{:?} {:?}",
            self.unchoked,
            self.interested
        );

        // An extra handle_timeout is a no-op; the deadline is ahead.
        let deadline = self.choker.poll_timeout();
        let rounds = self.choker.rounds();
        self.choker.handle_timeout(self.now);
        prop_assert_eq!(self.choker.poll_action(), None);
        prop_assert_eq!(self.choker.rounds(), rounds);
        prop_assert_eq!(self.choker.poll_timeout(), deadline);
        prop_assert!(deadline.is_some_and(|d| d > self.now));
        Ok(())
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn choker_invariants_hold_after_every_step(
        seed in any::<u64>(),
        ops in proptest::collection::vec(op(), 1..300),
    ) {
        let start = origin();
        let mut h = Harness::new(seed, start);
        for op in &ops {
            h.apply(op)?;
        }
        // Same seed, same operations: same decisions.
        let mut again = Harness::new(seed, start);
        for op in &ops {
            again.apply(op)?;
        }
        prop_assert_eq!(h.log, again.log);
    }
}
