//! Arbitrary operation sequences against a model of the peers' bitfields and requests: the
//! invariants hold after every step, availability matches the bitfields, every pick obeys the
//! rules, and every answer (cancels, completion, senders) is the model's.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::Duration;

use proptest::prelude::*;

use super::Harness;
use crate::{
    BLOCK_LEN, BlockRef, BlockState, Config, Geometry, PeerKey, PickOptions, Picker, PieceIndex,
    Priority, UsageError,
};

#[derive(Clone, Debug)]
enum Op {
    Join {
        peer: u8,
        seed: bool,
        bits: u64,
    },
    Leave {
        peer: u8,
    },
    Have {
        peer: u8,
        piece: u8,
    },
    DontHave {
        peer: u8,
        piece: u8,
    },
    Pick {
        peer: u8,
        max: u8,
        allowed: Option<u64>,
    },
    Receive {
        peer: u8,
        nth: u8,
    },
    ReceiveAny {
        peer: u8,
        piece: u8,
        block: u8,
    },
    Drop {
        peer: u8,
        nth: u8,
    },
    Verify {
        piece: u8,
    },
    Hash {
        nth: u8,
        ok: bool,
    },
    Priority {
        piece: u8,
        priority: u8,
    },
    Priorities {
        seed: u64,
    },
    Deadline {
        piece: u8,
        at: Option<u8>,
    },
    Sequential(bool),
}

fn op() -> impl Strategy<Value = Op> {
    let peer = 0u8..6;
    prop_oneof![
        4 => (peer.clone(), any::<bool>(), any::<u64>())
            .prop_map(|(peer, seed, bits)| Op::Join { peer, seed, bits }),
        1 => peer.clone().prop_map(|peer| Op::Leave { peer }),
        3 => (peer.clone(), any::<u8>()).prop_map(|(peer, piece)| Op::Have { peer, piece }),
        1 => (peer.clone(), any::<u8>()).prop_map(|(peer, piece)| Op::DontHave { peer, piece }),
        6 => (peer.clone(), 0u8..12, prop::option::weighted(0.15, any::<u64>()))
            .prop_map(|(peer, max, allowed)| Op::Pick { peer, max, allowed }),
        6 => (peer.clone(), any::<u8>()).prop_map(|(peer, nth)| Op::Receive { peer, nth }),
        1 => (peer.clone(), any::<u8>(), 0u8..5)
            .prop_map(|(peer, piece, block)| Op::ReceiveAny { peer, piece, block }),
        2 => (peer, any::<u8>()).prop_map(|(peer, nth)| Op::Drop { peer, nth }),
        1 => any::<u8>().prop_map(|piece| Op::Verify { piece }),
        3 => (any::<u8>(), prop::bool::weighted(0.8)).prop_map(|(nth, ok)| Op::Hash { nth, ok }),
        1 => (any::<u8>(), 0u8..8).prop_map(|(piece, priority)| Op::Priority { piece, priority }),
        1 => any::<u64>().prop_map(|seed| Op::Priorities { seed }),
        1 => (any::<u8>(), prop::option::of(any::<u8>()))
            .prop_map(|(piece, at)| Op::Deadline { piece, at }),
        1 => any::<bool>().prop_map(Op::Sequential),
    ]
}

fn setup() -> impl Strategy<Value = (Geometry, Config)> {
    (
        1u32..=40,
        1u32..=4,
        any::<u32>(),
        any::<u64>(),
        0u32..4,
        any::<bool>(),
        1u16..4,
    )
        .prop_map(
            |(num_pieces, blocks, last, rng_seed, initial_random_pieces, endgame, max)| {
                let piece_length = blocks * BLOCK_LEN;
                let geometry = Geometry {
                    num_pieces,
                    piece_length,
                    last_piece_length: 1 + last % piece_length,
                };
                let config = Config {
                    rng_seed,
                    initial_random_pieces,
                    endgame,
                    endgame_max_requesters: max,
                };
                (geometry, config)
            },
        )
}

fn requesters_of(
    requests: &HashMap<PeerKey, BTreeSet<BlockRef>>,
    b: &BlockRef,
) -> BTreeSet<PeerKey> {
    requests
        .iter()
        .filter(|(_, set)| set.contains(b))
        .map(|(&p, _)| p)
        .collect()
}

struct Model {
    h: Harness,
    /// Blocks requested of each peer, as the picker should have them.
    requests: HashMap<PeerKey, BTreeSet<BlockRef>>,
    /// Received blocks of unverified pieces, and who sent them.
    received: BTreeMap<u32, BTreeMap<u32, PeerKey>>,
    /// Pieces reported complete and not hashed yet.
    complete: Vec<u32>,
}

impl Model {
    fn n(&self) -> u32 {
        self.h.picker.num_pieces()
    }

    fn forget_piece(&mut self, piece: u32) {
        for set in self.requests.values_mut() {
            set.retain(|b| b.piece.0 != piece);
        }
        self.received.remove(&piece);
        self.complete.retain(|&p| p != piece);
    }

    fn apply(&mut self, op: &Op) {
        let n = self.n();
        let picker = &mut self.h.picker;
        match *op {
            Op::Join { peer, seed, bits } => {
                let key = PeerKey(u32::from(peer));
                let mut field = crate::Bitfield::new(n);
                for p in (0..n).filter(|p| seed || bits & (1 << (p % 64)) != 0) {
                    field.insert(PieceIndex(p));
                }
                if self.h.bits.contains_key(&key) {
                    assert_eq!(
                        picker.peer_joined(key, &field),
                        Err(UsageError::PeerExists(key))
                    );
                    return;
                }
                if seed && bits % 2 == 0 {
                    picker.peer_has_all(key).unwrap();
                } else {
                    picker.peer_joined(key, &field).unwrap();
                }
                self.h.bits.insert(key, (!field.is_full()).then_some(field));
                self.requests.insert(key, BTreeSet::new());
            }
            Op::Leave { peer } => {
                let key = PeerKey(u32::from(peer));
                if !self.h.bits.contains_key(&key) {
                    let empty = crate::Bitfield::new(n);
                    assert_eq!(
                        picker.peer_left(key, &empty),
                        Err(UsageError::UnknownPeer(key))
                    );
                    return;
                }
                let field = match &self.h.bits[&key] {
                    Some(b) => b.clone(),
                    None => crate::Bitfield::full(n),
                };
                picker.peer_left(key, &field).unwrap();
                self.h.bits.remove(&key);
                self.requests.remove(&key);
            }
            Op::Have { peer, piece } => {
                let (key, piece) = (PeerKey(u32::from(peer)), PieceIndex(u32::from(piece) % n));
                match self.h.bits.get_mut(&key) {
                    None => assert_eq!(
                        picker.peer_have(key, piece),
                        Err(UsageError::UnknownPeer(key))
                    ),
                    Some(None) => picker.peer_have(key, piece).unwrap(),
                    Some(Some(field)) => {
                        // The session reports a piece once: so does the model.
                        if field.insert(piece) {
                            picker.peer_have(key, piece).unwrap();
                        }
                    }
                }
            }
            Op::DontHave { peer, piece } => {
                let (key, piece) = (PeerKey(u32::from(peer)), PieceIndex(u32::from(piece) % n));
                match self.h.bits.get_mut(&key) {
                    None => {}
                    Some(slot @ None) => {
                        picker.peer_dont_have(key, piece).unwrap();
                        let mut field = crate::Bitfield::full(n);
                        field.remove(piece);
                        *slot = Some(field);
                    }
                    Some(Some(field)) => {
                        let had = field.remove(piece);
                        if had {
                            picker.peer_dont_have(key, piece).unwrap();
                        }
                    }
                }
            }
            Op::Pick { peer, max, allowed } => {
                let key = PeerKey(u32::from(peer));
                if !self.h.bits.contains_key(&key) {
                    return;
                }
                let allowed: Option<Vec<PieceIndex>> = allowed.map(|mask| {
                    (0..64)
                        .filter(|b| mask & (1 << b) != 0)
                        .map(PieceIndex)
                        .collect()
                });
                let options = PickOptions {
                    choked_with_allowed_fast: allowed.as_deref(),
                };
                self.pick(key, usize::from(max), &options);
            }
            Op::Receive { peer, nth } => {
                let key = PeerKey(u32::from(peer));
                let Some(set) = self.requests.get(&key).filter(|s| !s.is_empty()) else {
                    return;
                };
                let b = *set.iter().nth(usize::from(nth) % set.len()).unwrap();
                self.receive(key, b);
            }
            Op::ReceiveAny { peer, piece, block } => {
                let key = PeerKey(u32::from(peer));
                if !self.h.bits.contains_key(&key) {
                    return;
                }
                let blocks: Vec<BlockRef> = picker
                    .piece_blocks(PieceIndex(u32::from(piece) % n))
                    .collect();
                let b = blocks[usize::from(block) % blocks.len()];
                self.receive(key, b);
            }
            Op::Drop { peer, nth } => {
                let key = PeerKey(u32::from(peer));
                let Some(set) = self.requests.get_mut(&key) else {
                    return;
                };
                if set.is_empty() {
                    let b = picker.piece_blocks(PieceIndex(0)).next().unwrap();
                    assert_eq!(picker.request_dropped(key, b), Ok(false));
                    return;
                }
                let b = *set.iter().nth(usize::from(nth) % set.len()).unwrap();
                set.remove(&b);
                assert_eq!(picker.request_dropped(key, b), Ok(true));
            }
            Op::Verify { piece } => {
                let piece = u32::from(piece) % n;
                picker.piece_verified(PieceIndex(piece)).unwrap();
                self.forget_piece(piece);
            }
            Op::Hash { nth, ok } => {
                if self.complete.is_empty() {
                    return;
                }
                let piece = self.complete[usize::from(nth) % self.complete.len()];
                if ok {
                    picker.piece_verified(PieceIndex(piece)).unwrap();
                } else {
                    let senders: BTreeSet<PeerKey> =
                        self.received[&piece].values().copied().collect();
                    let got = picker.piece_failed(PieceIndex(piece)).unwrap();
                    assert_eq!(got, senders.into_iter().collect::<Vec<_>>());
                }
                self.forget_piece(piece);
            }
            Op::Priority { piece, priority } => {
                let piece = PieceIndex(u32::from(piece) % n);
                picker
                    .set_piece_priority(piece, Priority::new(priority).unwrap())
                    .unwrap();
            }
            Op::Priorities { seed } => {
                let mut x = seed;
                let prios: Vec<Priority> = (0..n)
                    .map(|_| {
                        x = x
                            .wrapping_mul(6364136223846793005)
                            .wrapping_add(1442695040888963407);
                        Priority::new((x >> 61) as u8).unwrap()
                    })
                    .collect();
                picker.set_piece_priorities(&prios).unwrap();
            }
            Op::Deadline { piece, at } => {
                let piece = PieceIndex(u32::from(piece) % n);
                let at = at.map(|s| Duration::from_millis(u64::from(s)));
                picker.set_deadline(piece, at).unwrap();
            }
            Op::Sequential(on) => picker.set_sequential(on),
        }
    }

    fn pick(&mut self, key: PeerKey, max: usize, options: &PickOptions<'_>) {
        let pieces = self.h.pieces_of(key);
        let mut out = vec![BlockRef {
            piece: PieceIndex(u32::MAX),
            offset: 0,
            len: 0,
        }];
        let picker = &mut self.h.picker;
        let n = picker.pick(key, &pieces, max, options, &mut out).unwrap();
        assert_eq!(
            out.remove(0).piece,
            PieceIndex(u32::MAX),
            "out is appended to"
        );
        assert_eq!(n, out.len());
        assert!(n <= max);
        let distinct: BTreeSet<BlockRef> = out.iter().copied().collect();
        assert_eq!(distinct.len(), n, "a block twice in one pick");
        for b in &out {
            assert!(picker.block_state(*b).is_some(), "not a block: {b:?}");
            assert!(pieces.has(b.piece), "picked {b:?}, which the peer lacks");
            assert!(!picker.have(b.piece), "picked {b:?} of a verified piece");
            assert_ne!(
                picker.priority(b.piece),
                Priority::SKIP,
                "picked a skipped piece"
            );
            if let Some(allowed) = options.choked_with_allowed_fast {
                assert!(allowed.contains(&b.piece), "{b:?} is not allowed fast");
            }
            assert!(
                !self.requests[&key].contains(b),
                "{b:?} requested twice of {key:?}"
            );
            let others = requesters_of(&self.requests, b).len();
            if others > 0 {
                assert!(
                    picker.config().endgame && picker.is_endgame(),
                    "duplicate outside endgame"
                );
                assert!(others < usize::from(picker.config().endgame_max_requesters));
            }
            assert!(
                !self
                    .received
                    .get(&b.piece.0)
                    .is_some_and(|r| r.contains_key(&b.offset))
            );
        }
        // Fewer than asked means nothing free was left among the pieces it could pick.
        if n < max {
            for p in (0..picker.num_pieces()).map(PieceIndex) {
                let allowed = options
                    .choked_with_allowed_fast
                    .is_none_or(|a| a.contains(&p));
                if pieces.has(p) && picker.is_wanted(p) && allowed {
                    for b in picker.piece_blocks(p) {
                        assert_ne!(
                            picker.block_state(b),
                            Some(BlockState::Free),
                            "missed {b:?}"
                        );
                    }
                }
            }
        }
        self.requests.get_mut(&key).unwrap().extend(out);
    }

    fn receive(&mut self, key: PeerKey, b: BlockRef) {
        let picker = &mut self.h.picker;
        let have = picker.have(b.piece);
        let already = self
            .received
            .get(&b.piece.0)
            .is_some_and(|r| r.contains_key(&b.offset));
        let mut expected_cancel = requesters_of(&self.requests, &b);
        expected_cancel.remove(&key);
        let r = picker.block_received(key, b).unwrap();
        assert_eq!(r.write, !have && !already);
        if !r.write {
            assert!(r.cancel.is_empty() && r.piece_complete.is_none());
            assert!(expected_cancel.is_empty());
            return;
        }
        assert_eq!(
            r.cancel.iter().copied().collect::<BTreeSet<_>>(),
            expected_cancel
        );
        assert_eq!(r.cancel.len(), expected_cancel.len());
        for set in self.requests.values_mut() {
            set.remove(&b);
        }
        let blocks = self.received.entry(b.piece.0).or_default();
        blocks.insert(b.offset, key);
        let done = blocks.len() == picker.piece_blocks(b.piece).count();
        assert_eq!(r.piece_complete, done.then_some(b.piece));
        if done {
            self.complete.push(b.piece.0);
        }
    }

    /// The picker agrees with the model on every request and received block.
    fn check(&self) {
        self.h.check();
        let picker = &self.h.picker;
        for (&key, set) in &self.requests {
            assert_eq!(picker.num_requests(key), Some(set.len() as u32), "{key:?}");
            for b in set {
                assert!(
                    picker.requesters(*b).any(|p| p == key),
                    "{b:?} not requested of {key:?}"
                );
            }
        }
        for (&piece, blocks) in &self.received {
            for &offset in blocks.keys() {
                let b = picker
                    .piece_blocks(PieceIndex(piece))
                    .find(|b| b.offset == offset)
                    .unwrap();
                assert_eq!(picker.block_state(b), Some(BlockState::Received));
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1000, ..ProptestConfig::default() })]

    #[test]
    fn operation_sequences_keep_every_invariant(
        (geometry, config) in setup(),
        ops in prop::collection::vec(op(), 1..200),
    ) {
        let mut model = Model {
            h: Harness {
                picker: Picker::new(config, geometry).unwrap(),
                bits: HashMap::new(),
                next_peer: 100,
            },
            requests: HashMap::new(),
            received: BTreeMap::new(),
            complete: Vec::new(),
        };
        for op in &ops {
            model.apply(op);
            model.check();
        }
    }
}
