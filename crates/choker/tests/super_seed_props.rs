//! Super-seeder invariants under arbitrary sequences of peers (with arbitrary bitfields) coming
//! and going and `have` messages, checked after every step:
//!
//! - every offer is for a connected peer and a piece it did not have when offered;
//! - no peer holds more offers than allowed, and `may_serve` is exactly "was offered";
//! - a peer is offered a new piece only when it holds fewer offers than allowed;
//! - availability is the number of connected peers that have the piece, and the torrent is
//!   "distributed" exactly when every piece has one;
//! - the same seed and operations give the same offers.

use std::collections::{BTreeMap, BTreeSet};

use choker::super_seed::{Config, Offer, SuperSeed};
use choker::{PeerKey, PieceIndex};
use proptest::prelude::*;

const PIECES: u32 = 20;

#[derive(Debug, Clone)]
enum Op {
    Add(u8, Vec<u8>),
    Remove(u8),
    Have(u8, u32),
}

fn op() -> impl Strategy<Value = Op> {
    let key = 0u8..8;
    prop_oneof![
        2 => (key.clone(), prop_oneof![
            Just(Vec::new()),
            proptest::collection::vec(any::<u8>(), 0..4),
            Just(vec![0xff; 3]),
        ]).prop_map(|(k, b)| Op::Add(k, b)),
        1 => key.clone().prop_map(Op::Remove),
        // Mostly pieces offered or held elsewhere would be more realistic; any piece in range
        // (and a few out of it) covers those too.
        6 => (key, 0u32..PIECES + 2).prop_map(|(k, p)| Op::Have(k, p)),
    ]
}

struct Harness {
    seeder: SuperSeed,
    /// Each connected peer's pieces, as the test knows them.
    pieces: BTreeMap<u8, BTreeSet<u32>>,
    log: Vec<Offer>,
}

impl Harness {
    fn new(seed: u64, offers_per_peer: usize, lone_peer_progress: bool) -> Self {
        let config = Config {
            seed,
            offers_per_peer,
            lone_peer_progress,
            ..Config::new(PIECES)
        };
        Self {
            seeder: SuperSeed::new(config),
            pieces: BTreeMap::new(),
            log: Vec::new(),
        }
    }

    fn apply(&mut self, op: &Op) -> Result<(), TestCaseError> {
        let before: BTreeMap<u8, BTreeSet<u32>> = self
            .pieces
            .keys()
            .map(|&k| {
                (
                    k,
                    self.seeder.offers(PeerKey(k.into())).map(|p| p.0).collect(),
                )
            })
            .collect();
        match op {
            Op::Add(k, bits) => {
                let added = self.seeder.add_peer(PeerKey((*k).into()), bits).is_ok();
                prop_assert_eq!(added, !self.pieces.contains_key(k));
                if added {
                    let set = (0..PIECES)
                        .filter(|&p| {
                            bits.get((p / 8) as usize)
                                .is_some_and(|b| b & (0x80 >> (p % 8)) != 0)
                        })
                        .collect();
                    self.pieces.insert(*k, set);
                }
            }
            Op::Remove(k) => {
                let removed = self.seeder.remove_peer(PeerKey((*k).into())).is_ok();
                prop_assert_eq!(removed, self.pieces.remove(k).is_some());
            }
            Op::Have(k, p) => {
                self.seeder
                    .handle_have(PeerKey((*k).into()), PieceIndex(*p));
                if *p < PIECES
                    && let Some(set) = self.pieces.get_mut(k)
                {
                    set.insert(*p);
                }
            }
        }
        let limit = self.seeder.config().offers_per_peer;
        let mut new_offers: BTreeMap<u8, usize> = BTreeMap::new();
        while let Some(offer) = self.seeder.poll_offer() {
            self.log.push(offer);
            let k = u8::try_from(offer.peer.0).expect("keys are u8");
            let Some(set) = self.pieces.get(&k) else {
                return Err(TestCaseError::fail(format!(
                    "{offer:?} for an unknown peer"
                )));
            };
            prop_assert!(offer.piece.0 < PIECES);
            prop_assert!(
                !set.contains(&offer.piece.0),
                "{:?}: the peer has it",
                offer
            );
            *new_offers.entry(k).or_default() += 1;
        }
        for (&k, set) in &self.pieces {
            let key = PeerKey(k.into());
            let offers: Vec<PieceIndex> = self.seeder.offers(key).collect();
            prop_assert!(offers.len() <= limit);
            // Offers distinct.
            let distinct: BTreeSet<u32> = offers.iter().map(|p| p.0).collect();
            prop_assert_eq!(distinct.len(), offers.len());
            for p in 0..PIECES {
                prop_assert_eq!(
                    self.seeder.may_serve(key, PieceIndex(p)),
                    distinct.contains(&p)
                );
                prop_assert_eq!(self.seeder.has(key, PieceIndex(p)), set.contains(&p));
            }
            // An offer is retired only once the peer has the piece; new offers only fill the
            // room that the standing offers leave.
            let had = before.get(&k).cloned().unwrap_or_default();
            for retired in had.difference(&distinct) {
                prop_assert!(
                    set.contains(retired),
                    "{}'s offer of {} retired before completion",
                    k,
                    retired
                );
            }
            let standing = had.intersection(&distinct).count();
            let fresh = new_offers.get(&k).copied().unwrap_or(0);
            prop_assert_eq!(standing + fresh, offers.len());
        }
        let mut all_seen = true;
        for p in 0..PIECES {
            let holders = self.pieces.values().filter(|s| s.contains(&p)).count();
            prop_assert_eq!(self.seeder.availability(PieceIndex(p)) as usize, holders);
            all_seen &= holders > 0;
        }
        prop_assert_eq!(self.seeder.is_distributed(), all_seen);
        prop_assert_eq!(self.seeder.num_peers(), self.pieces.len());
        Ok(())
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn super_seed_invariants_hold_after_every_step(
        seed in any::<u64>(),
        offers_per_peer in 1usize..3,
        lone in any::<bool>(),
        ops in proptest::collection::vec(op(), 1..200),
    ) {
        let mut h = Harness::new(seed, offers_per_peer, lone);
        for op in &ops {
            h.apply(op)?;
        }
        let mut again = Harness::new(seed, offers_per_peer, lone);
        for op in &ops {
            again.apply(op)?;
        }
        prop_assert_eq!(h.log, again.log);
    }
}
