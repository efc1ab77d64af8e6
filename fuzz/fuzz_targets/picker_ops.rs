//! A piece picker driven by arbitrary operations: peers join (with a bitfield or as seeds),
//! announce and retract pieces, leave; picks (some choked, with an allowed-fast set), blocks
//! received (requested or not), requests dropped, pieces verified, hashed good or bad,
//! priorities, deadlines, sequential mode. The input is: 3 bytes of geometry and settings, then
//! operations of 4 bytes each (kind, then 3 argument bytes).
//!
//! After every operation: `check_invariants`, availability equal to the bitfields this target
//! keeps (the picker's caller owns them), and every pick within the rules: at most
//! `max_blocks`, only pieces the peer has, not verified, not skipped, allowed fast when choked,
//! never a block this peer was already asked for, a block asked of others only in endgame.

#![no_main]

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use libfuzzer_sys::fuzz_target;
use piece_picker::{
    BLOCK_LEN, Bitfield, BlockRef, BlockState, Config, Geometry, PeerKey, PickOptions, Picker,
    PieceIndex, Priority,
};

const PEERS: u8 = 6;

struct Harness {
    picker: Picker,
    /// Each peer's bitfield (`None` for a seed).
    bits: BTreeMap<PeerKey, Option<Bitfield>>,
    /// Blocks requested of each peer.
    requests: BTreeMap<PeerKey, BTreeSet<BlockRef>>,
    /// Pieces reported complete, not hashed yet.
    complete: Vec<PieceIndex>,
    out: Vec<BlockRef>,
}

impl Harness {
    fn pieces(&self, peer: PeerKey) -> Bitfield {
        match &self.bits[&peer] {
            Some(b) => b.clone(),
            None => Bitfield::full(self.picker.num_pieces()),
        }
    }

    fn forget(&mut self, piece: PieceIndex) {
        for set in self.requests.values_mut() {
            set.retain(|b| b.piece != piece);
        }
        self.complete.retain(|&p| p != piece);
    }

    fn check(&self) {
        if let Err(e) = self.picker.check_invariants() {
            panic!("invariant broken: {e}");
        }
        let seeds = self.bits.values().filter(|b| b.is_none()).count() as u32;
        for p in (0..self.picker.num_pieces()).map(PieceIndex) {
            let count = self.bits.values().flatten().filter(|b| b.has(p)).count() as u32;
            assert_eq!(
                self.picker.availability(p),
                count + seeds,
                "availability of {p:?}"
            );
        }
        for (&peer, set) in &self.requests {
            assert_eq!(self.picker.num_requests(peer), Some(set.len() as u32));
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((head, mut ops)) = data.split_first_chunk::<3>() else {
        return;
    };
    let num_pieces = 1 + u32::from(head[0] % 40);
    let blocks = 1 + u32::from(head[1] % 4);
    let piece_length = blocks * BLOCK_LEN;
    let last = 1 + (u32::from(head[1] >> 2) * 997) % piece_length;
    let geometry = Geometry {
        num_pieces,
        piece_length,
        last_piece_length: last,
    };
    let config = Config {
        rng_seed: u64::from(head[2]),
        initial_random_pieces: u32::from(head[2] % 3),
        endgame: head[2] & 0x80 == 0,
        endgame_max_requesters: 1 + u16::from(head[2] >> 5 & 3),
    };
    let mut h = Harness {
        picker: Picker::new(config, geometry).expect("valid geometry"),
        bits: BTreeMap::new(),
        requests: BTreeMap::new(),
        complete: Vec::new(),
        out: Vec::new(),
    };
    let n = num_pieces;
    while let Some((&[kind, a, b, c], rest)) = ops.split_first_chunk::<4>() {
        ops = rest;
        let peer = PeerKey(u32::from(a % PEERS));
        let piece = PieceIndex(u32::from(b) % n);
        match kind % 14 {
            0 | 1 => {
                if h.bits.contains_key(&peer) {
                    assert!(h.picker.peer_has_all(peer).is_err());
                    continue;
                }
                let mut bits = Bitfield::new(n);
                if kind % 14 == 0 {
                    h.picker.peer_has_all(peer).expect("new peer");
                    h.bits.insert(peer, None);
                } else {
                    // The bitfield from a pattern: bit p set iff ((p * b) ^ c) & 1.
                    for p in
                        (0..n).filter(|&p| ((p * u32::from(b)) ^ u32::from(c) >> (p % 8)) & 1 == 1)
                    {
                        bits.insert(PieceIndex(p));
                    }
                    h.picker.peer_joined(peer, &bits).expect("new peer");
                    h.bits.insert(peer, (!bits.is_full()).then_some(bits));
                }
                h.requests.insert(peer, BTreeSet::new());
            }
            2 => {
                if !h.bits.contains_key(&peer) {
                    continue;
                }
                let bits = h.pieces(peer);
                h.picker.peer_left(peer, &bits).expect("known peer");
                h.bits.remove(&peer);
                h.requests.remove(&peer);
            }
            3 => match h.bits.get_mut(&peer) {
                Some(Some(bits)) => {
                    if bits.insert(piece) {
                        h.picker.peer_have(peer, piece).expect("known peer");
                    }
                }
                Some(None) => h.picker.peer_have(peer, piece).expect("known peer"),
                None => assert!(h.picker.peer_have(peer, piece).is_err()),
            },
            4 => match h.bits.get_mut(&peer) {
                Some(Some(bits)) => {
                    if bits.remove(piece) {
                        h.picker.peer_dont_have(peer, piece).expect("had it");
                    }
                }
                Some(slot @ None) => {
                    h.picker.peer_dont_have(peer, piece).expect("a seed has it");
                    let mut bits = Bitfield::full(n);
                    bits.remove(piece);
                    *slot = Some(bits);
                }
                None => {}
            },
            5 | 6 | 7 => {
                if !h.bits.contains_key(&peer) {
                    continue;
                }
                let max = usize::from(b % 24);
                let allowed: Vec<PieceIndex> = (0..8)
                    .filter(|i| c & (1 << i) != 0)
                    .map(|i| PieceIndex(u32::from(b / 24) + i * 5))
                    .collect();
                let options = PickOptions {
                    choked_with_allowed_fast: (kind % 14 == 7).then_some(&allowed[..]),
                };
                let pieces = h.pieces(peer);
                h.out.clear();
                let got = h
                    .picker
                    .pick(peer, &pieces, max, &options, &mut h.out)
                    .expect("known peer");
                assert_eq!(got, h.out.len());
                assert!(got <= max);
                let mut seen = BTreeSet::new();
                for blk in &h.out {
                    assert!(seen.insert(*blk), "{blk:?} twice in one pick");
                    assert!(pieces.has(blk.piece), "{blk:?}: the peer lacks it");
                    assert!(!h.picker.have(blk.piece), "{blk:?}: verified");
                    assert_ne!(
                        h.picker.priority(blk.piece),
                        Priority::SKIP,
                        "{blk:?}: skipped"
                    );
                    if let Some(allowed) = options.choked_with_allowed_fast {
                        assert!(allowed.contains(&blk.piece), "{blk:?}: not allowed fast");
                    }
                    assert!(
                        !h.requests[&peer].contains(blk),
                        "{blk:?}: asked twice of {peer:?}"
                    );
                    let others = h.requests.values().filter(|s| s.contains(blk)).count();
                    if others > 0 {
                        assert!(h.picker.is_endgame(), "{blk:?}: duplicate outside endgame");
                        assert!(others < usize::from(h.picker.config().endgame_max_requesters));
                    }
                }
                let out = std::mem::take(&mut h.out);
                h.requests
                    .get_mut(&peer)
                    .expect("joined")
                    .extend(out.iter().copied());
                h.out = out;
            }
            8 | 9 => {
                // A block from `peer`: one it was asked for (8), or any block (9).
                if !h.bits.contains_key(&peer) {
                    continue;
                }
                let blk = if kind % 14 == 8 {
                    let set = &h.requests[&peer];
                    let Some(&blk) = set.iter().nth(usize::from(c) % set.len().max(1)) else {
                        continue;
                    };
                    blk
                } else {
                    let all: Vec<BlockRef> = h.picker.piece_blocks(piece).collect();
                    all[usize::from(c) % all.len()]
                };
                let state = h.picker.block_state(blk).expect("a block");
                let mut others: BTreeSet<PeerKey> = h
                    .requests
                    .iter()
                    .filter(|(_, s)| s.contains(&blk))
                    .map(|(&p, _)| p)
                    .collect();
                others.remove(&peer);
                let r = h.picker.block_received(peer, blk).expect("known peer");
                let fresh = matches!(state, BlockState::Free | BlockState::Requested(_));
                assert_eq!(r.write, fresh);
                if fresh {
                    assert_eq!(r.cancel.iter().copied().collect::<BTreeSet<_>>(), others);
                    for set in h.requests.values_mut() {
                        set.remove(&blk);
                    }
                    let done = h
                        .picker
                        .piece_blocks(blk.piece)
                        .all(|b| h.picker.block_state(b) == Some(BlockState::Received));
                    assert_eq!(r.piece_complete, done.then_some(blk.piece));
                    h.complete.extend(r.piece_complete);
                } else {
                    assert!(r.cancel.is_empty() && r.piece_complete.is_none());
                }
            }
            10 => {
                let Some(set) = h.requests.get_mut(&peer) else {
                    continue;
                };
                let Some(&blk) = set.iter().nth(usize::from(c) % set.len().max(1)) else {
                    continue;
                };
                set.remove(&blk);
                assert_eq!(h.picker.request_dropped(peer, blk), Ok(true));
            }
            11 => {
                // Hash a complete piece (good unless `c` is odd), or verify any piece.
                if let Some(&p) = h.complete.get(usize::from(b) % h.complete.len().max(1)) {
                    if c & 1 == 0 {
                        h.picker.piece_verified(p).expect("in range");
                    } else {
                        let senders = h.picker.piece_failed(p).expect("complete");
                        assert!(!senders.is_empty() && senders.windows(2).all(|w| w[0] < w[1]));
                    }
                    h.forget(p);
                } else if c & 2 == 0 {
                    h.picker.piece_verified(piece).expect("in range");
                    h.forget(piece);
                }
            }
            12 => {
                let prio = Priority::new(c % 8).expect("0 to 7");
                h.picker.set_piece_priority(piece, prio).expect("in range");
            }
            _ => match c % 4 {
                0 => h.picker.set_sequential(b & 1 == 1),
                1 => h.picker.set_deadline(piece, None).expect("in range"),
                _ => h
                    .picker
                    .set_deadline(piece, Some(Duration::from_millis(u64::from(c))))
                    .expect("in range"),
            },
        }
        h.check();
    }
});
