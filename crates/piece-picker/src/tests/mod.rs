//! Scenario tests in libtorrent's string form (`test/test_piece_picker.cpp`): one character per
//! piece for availability, have, priority and partial blocks. Every step of the harness checks
//! the invariants and the availability against its own copy of the peers' bitfields.

mod prop;
mod scenarios;

use std::collections::HashMap;

use crate::{
    BLOCK_LEN, Bitfield, BlockRef, Config, Geometry, PeerKey, PickOptions, Picker, PieceIndex,
    Priority,
};

/// Blocks per piece in the string scenarios (libtorrent's tests use 4 too).
pub(crate) const BLOCKS: u32 = 4;

/// The peer that sends the partial blocks of `setup`.
const WRITER: PeerKey = PeerKey(90);

/// A picker and the bitfields of its peers (seeds have none).
pub(crate) struct Harness {
    pub(crate) picker: Picker,
    pub(crate) bits: HashMap<PeerKey, Option<Bitfield>>,
    next_peer: u32,
}

pub(crate) fn geometry(num_pieces: u32) -> Geometry {
    Geometry {
        num_pieces,
        piece_length: BLOCKS * BLOCK_LEN,
        last_piece_length: BLOCKS * BLOCK_LEN,
    }
}

/// Rarest first from the start (libtorrent's tests pass `rarest_first` explicitly).
pub(crate) fn config(seed: u64) -> Config {
    Config {
        rng_seed: seed,
        initial_random_pieces: 0,
        ..Config::default()
    }
}

/// libtorrent's `setup_picker`:
/// - `availability`: one digit per piece, how many peers have it (peers 0 to 9, peer `j` has
///   the pieces whose digit is above `j`);
/// - `have`: any character but a space is a verified piece;
/// - `priority`: a digit 0 to 7 per piece, or empty for all [`Priority::NORMAL`];
/// - `partial`: a hex digit per piece whose bit `j` marks block `j` received (from a peer that
///   has nothing), space or empty for none.
pub(crate) fn setup(availability: &str, have: &str, priority: &str, partial: &str) -> Harness {
    setup_with(config(1), availability, have, priority, partial)
}

pub(crate) fn setup_with(
    config: Config,
    availability: &str,
    have: &str,
    priority: &str,
    partial: &str,
) -> Harness {
    let n = availability.len() as u32;
    assert_eq!(have.len() as u32, n, "have string length");
    let mut h = Harness {
        picker: Picker::new(config, geometry(n)).unwrap(),
        bits: HashMap::new(),
        next_peer: 100,
    };
    let avail: Vec<u32> = availability.bytes().map(|c| u32::from(c - b'0')).collect();
    for j in 0..10 {
        let s: String = avail
            .iter()
            .map(|&a| if a > j { '*' } else { ' ' })
            .collect();
        if s.contains('*') {
            h.join(PeerKey(j), &s);
        }
    }
    h.join(WRITER, &" ".repeat(n as usize));
    for (p, c) in partial.chars().enumerate() {
        let mask = c.to_digit(16).unwrap_or(0);
        for b in (0..BLOCKS).filter(|b| mask & (1 << b) != 0) {
            let r = h.receive(WRITER, block(p as u32, b));
            assert!(r.write);
        }
    }
    for (p, c) in priority.chars().enumerate() {
        let prio = Priority::new(c.to_digit(10).unwrap() as u8).unwrap();
        h.picker
            .set_piece_priority(PieceIndex(p as u32), prio)
            .unwrap();
    }
    for (p, c) in have.chars().enumerate() {
        if c != ' ' {
            h.picker.piece_verified(PieceIndex(p as u32)).unwrap();
        }
    }
    h.check();
    for (p, &a) in avail.iter().enumerate() {
        assert_eq!(h.picker.availability(PieceIndex(p as u32)), a);
    }
    h
}

/// Block `b` of piece `p` in the string scenarios.
pub(crate) fn block(p: u32, b: u32) -> BlockRef {
    BlockRef {
        piece: PieceIndex(p),
        offset: b * BLOCK_LEN,
        len: BLOCK_LEN,
    }
}

/// A bitfield from a string: any character but a space is a piece.
pub(crate) fn bits(s: &str) -> Bitfield {
    let mut b = Bitfield::new(s.len() as u32);
    for (i, c) in s.chars().enumerate() {
        if c != ' ' {
            b.insert(PieceIndex(i as u32));
        }
    }
    b
}

impl Harness {
    /// Checks the invariants, and every piece's availability against the bitfields.
    pub(crate) fn check(&self) {
        self.picker.check_invariants().unwrap();
        let seeds = self.bits.values().filter(|b| b.is_none()).count() as u32;
        for p in 0..self.picker.num_pieces() {
            let piece = PieceIndex(p);
            let count = self
                .bits
                .values()
                .flatten()
                .filter(|b| b.has(piece))
                .count() as u32;
            assert_eq!(self.picker.availability(piece), count + seeds, "piece {p}");
        }
    }

    /// A peer with the pieces of `s` (a seed if all).
    pub(crate) fn join(&mut self, peer: PeerKey, s: &str) {
        let b = bits(s);
        self.picker.peer_joined(peer, &b).unwrap();
        self.bits.insert(peer, (!b.is_full()).then_some(b));
        self.check();
    }

    /// A new peer with the pieces of `s`.
    pub(crate) fn peer(&mut self, s: &str) -> PeerKey {
        let peer = PeerKey(self.next_peer);
        self.next_peer += 1;
        self.join(peer, s);
        peer
    }

    pub(crate) fn pieces_of(&self, peer: PeerKey) -> Bitfield {
        match &self.bits[&peer] {
            Some(b) => b.clone(),
            None => Bitfield::full(self.picker.num_pieces()),
        }
    }

    pub(crate) fn pick_for(
        &mut self,
        peer: PeerKey,
        max: usize,
        options: &PickOptions<'_>,
    ) -> Vec<BlockRef> {
        let pieces = self.pieces_of(peer);
        let mut out = Vec::new();
        let n = self
            .picker
            .pick(peer, &pieces, max, options, &mut out)
            .unwrap();
        assert_eq!(n, out.len());
        assert!(n <= max);
        for b in &out {
            assert!(pieces.has(b.piece), "picked {b:?} the peer lacks");
            assert!(!self.picker.have(b.piece));
            assert_ne!(self.picker.priority(b.piece), Priority::SKIP);
        }
        self.check();
        out
    }

    /// Blocks picked for a new peer with the pieces of `s`.
    pub(crate) fn pick(&mut self, s: &str, max: usize) -> Vec<BlockRef> {
        let peer = self.peer(s);
        self.pick_for(peer, max, &PickOptions::default())
    }

    /// The distinct pieces of `pick`, in order of first appearance.
    pub(crate) fn pick_pieces(&mut self, s: &str, max: usize) -> Vec<u32> {
        pieces(&self.pick(s, max))
    }

    pub(crate) fn receive(&mut self, peer: PeerKey, b: BlockRef) -> crate::Received {
        let r = self.picker.block_received(peer, b).unwrap();
        self.check();
        r
    }
}

/// The distinct pieces of `blocks`, in order of first appearance.
pub(crate) fn pieces(blocks: &[BlockRef]) -> Vec<u32> {
    let mut out: Vec<u32> = Vec::new();
    for b in blocks {
        if !out.contains(&b.piece.0) {
            out.push(b.piece.0);
        }
    }
    out
}
