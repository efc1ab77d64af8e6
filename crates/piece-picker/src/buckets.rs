//! The per-piece record and one priority level's pieces sorted by availability.
//!
//! This is libtorrent's `m_pieces` with `m_priority_boundaries` (`piece_picker.cpp`): one array
//! of piece indices sorted by availability, cut into buckets by an array of bucket ends, and a
//! per-piece position so that a piece can be found in O(1). When a peer announces a piece, the
//! piece swaps places with the last piece of its bucket and that bucket's end moves down by one:
//! now it is the first piece of the next bucket. Two writes, no search, no shifting.
//!
//! Four differences from libtorrent:
//! - one array per priority level instead of folding priority into the sort key, so that a
//!   priority always wins over availability and a `have` never moves a piece more than one
//!   bucket;
//! - the order inside a bucket is not shuffled on every move: `pick` starts each bucket at a
//!   random offset instead (the same tie-breaking, paid for when picking, not on every `have`);
//! - removal and insertion (a piece verified, a priority changed) walk toward whichever end of
//!   the array is nearer, in buckets; the front end leaves a gap (`start`) that a later insert
//!   reuses. libtorrent always walks to the back;
//! - the empty buckets below the lowest occupied one (`lo`) are not kept, so that neither a pick
//!   nor a removal walks them.

use std::ops::Range;

/// What the picker keeps for every piece: 8 bytes (libtorrent's `piece_pos` is 8 too).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct PieceState {
    /// Availability (peers other than seeds) in the low [`AVAIL_BITS`] bits, the priority in
    /// the next 3, then the have flag.
    bits: u32,
    /// Index in its level's `order` (meaningful only while the piece is wanted).
    pub(crate) pos: u32,
}

const AVAIL_BITS: u32 = 27;
/// Availability saturates here (134 million peers).
pub(crate) const MAX_AVAIL: u32 = (1 << AVAIL_BITS) - 1;
const PRIO_SHIFT: u32 = AVAIL_BITS;
const PRIO_MASK: u32 = 0b111 << PRIO_SHIFT;
const HAVE: u32 = 1 << 30;

impl PieceState {
    pub(crate) fn new(priority: u8) -> Self {
        Self {
            bits: u32::from(priority) << PRIO_SHIFT,
            pos: 0,
        }
    }

    pub(crate) fn avail(self) -> u32 {
        self.bits & MAX_AVAIL
    }

    pub(crate) fn priority(self) -> u8 {
        ((self.bits & PRIO_MASK) >> PRIO_SHIFT) as u8
    }

    pub(crate) fn have(self) -> bool {
        self.bits & HAVE != 0
    }

    /// Not verified and not skipped: in a level.
    pub(crate) fn wanted(self) -> bool {
        !self.have() && self.priority() > 0
    }

    pub(crate) fn set_priority(&mut self, priority: u8) {
        self.bits = (self.bits & !PRIO_MASK) | (u32::from(priority) << PRIO_SHIFT);
    }

    pub(crate) fn set_have(&mut self) {
        self.bits |= HAVE;
    }

    /// Callers check `avail() < MAX_AVAIL` first.
    pub(crate) fn inc_avail(&mut self) {
        debug_assert!(self.avail() < MAX_AVAIL);
        self.bits += 1;
    }

    /// Callers check `avail() > 0` first.
    pub(crate) fn dec_avail(&mut self) {
        debug_assert!(self.avail() > 0);
        self.bits -= 1;
    }
}

/// One priority level: its pieces sorted by availability.
///
/// `order[start..]` holds the pieces; bucket `k` holds exactly the pieces of availability `k`.
/// Buckets below `lo` are empty and their ends are not kept (often most of them: in a healthy
/// swarm no piece has fewer than dozens of copies). For `k >= lo`, bucket `k` is
/// `order[begin(k)..ends[k]]`, where `begin(lo) = start` and `begin(k) = ends[k - 1]` above.
/// `ends` is never empty and ends at `order.len()`; the top bucket is empty only if it is
/// `lo`, and then the level is empty.
#[derive(Clone, Debug)]
pub(crate) struct Buckets {
    order: Vec<u32>,
    ends: Vec<u32>,
    start: u32,
    /// No piece in a bucket below this one.
    lo: usize,
}

impl Default for Buckets {
    fn default() -> Self {
        Self::new()
    }
}

impl Buckets {
    pub(crate) fn new() -> Self {
        Self {
            order: Vec::new(),
            ends: vec![0],
            start: 0,
            lo: 0,
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.order.len() - self.start as usize
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The lowest bucket that may hold a piece: buckets below it are empty.
    pub(crate) fn first_bucket(&self) -> usize {
        self.lo
    }

    pub(crate) fn num_buckets(&self) -> usize {
        self.ends.len()
    }

    /// Indices into the order of bucket `k`.
    pub(crate) fn bucket(&self, k: usize) -> Range<usize> {
        if k < self.lo {
            return 0..0;
        }
        self.begin(k) as usize..self.ends[k] as usize
    }

    /// The piece at index `i` of the order.
    pub(crate) fn at(&self, i: usize) -> u32 {
        self.order[i]
    }

    /// First index of bucket `k >= lo`.
    fn begin(&self, k: usize) -> u32 {
        if k == self.lo {
            self.start
        } else {
            self.ends[k - 1]
        }
    }

    fn place(&mut self, pieces: &mut [PieceState], i: u32, piece: u32) {
        self.order[i as usize] = piece;
        pieces[piece as usize].pos = i;
    }

    /// `piece`, in bucket `a`, moves to bucket `a + 1`: it swaps with the last piece of its
    /// bucket, which then ends one earlier. O(1).
    pub(crate) fn increment(&mut self, pieces: &mut [PieceState], piece: u32, a: u32) {
        let a = a as usize;
        debug_assert!(a >= self.lo);
        if a + 1 == self.ends.len() {
            self.ends.push(self.ends[a]);
        }
        let i = pieces[piece as usize].pos;
        let last = self.ends[a] - 1;
        let other = self.order[last as usize];
        self.place(pieces, i, other);
        self.place(pieces, last, piece);
        self.ends[a] = last;
        if a == self.lo && last == self.start {
            self.lo += 1;
        }
    }

    /// `piece`, in bucket `a > 0`, moves to bucket `a - 1`: it swaps with the first piece of
    /// its bucket, which then starts one later. O(1).
    pub(crate) fn decrement(&mut self, pieces: &mut [PieceState], piece: u32, a: u32) {
        let a = a as usize;
        debug_assert!(a > 0 && a >= self.lo);
        let i = pieces[piece as usize].pos;
        let first = self.begin(a);
        let other = self.order[first as usize];
        self.place(pieces, i, other);
        self.place(pieces, first, piece);
        self.ends[a - 1] = first + 1;
        if a == self.lo {
            self.lo = a - 1;
        }
        self.trim();
    }

    /// Adds `piece` to bucket `a`. Each bucket between the nearer end (the gap at the front,
    /// or the back) and bucket `a` passes one piece along: O(|a - lo|) or O(top - a) steps.
    pub(crate) fn insert(&mut self, pieces: &mut [PieceState], piece: u32, a: u32) {
        let a = a as usize;
        if self.is_empty() {
            // Start afresh at bucket `a`.
            self.order.clear();
            self.order.push(piece);
            pieces[piece as usize].pos = 0;
            self.ends.clear();
            self.ends.resize(a + 1, 1);
            self.start = 0;
            self.lo = a;
            return;
        }
        let top = self.ends.len() - 1;
        let lo = self.lo;
        if self.start > 0 && a <= top && a.abs_diff(lo) < top - a {
            // Through the gap at the front: the hole starts just before bucket `lo`.
            self.start -= 1;
            let mut hole = self.start;
            if a < lo {
                // Bucket `a` is the new lowest; the empty ones up to `lo` end after it.
                self.ends[a..lo].fill(hole + 1);
                self.lo = a;
            } else {
                // Each bucket from `lo` below `a` hands its last piece down into the hole.
                for k in lo..a {
                    let last = self.ends[k] - 1;
                    if last != hole {
                        let moved = self.order[last as usize];
                        self.place(pieces, hole, moved);
                    }
                    hole = last;
                    self.ends[k] = last;
                }
            }
            self.place(pieces, hole, piece);
            return;
        }
        // At the back: the hole starts as the last slot of the top bucket and each bucket above
        // `a` hands its first piece up into it.
        let len = self.order.len() as u32;
        self.order.push(piece);
        if a > top {
            self.ends.resize(a + 1, len);
            self.ends[a] = len + 1;
            self.place(pieces, len, piece);
            return;
        }
        self.ends[top] = len + 1;
        let mut hole = len;
        for k in (a.max(lo) + 1..=top).rev() {
            let first = self.ends[k - 1];
            if first != hole {
                let moved = self.order[first as usize];
                self.place(pieces, hole, moved);
            }
            hole = first;
            self.ends[k - 1] = first + 1;
        }
        if a < lo {
            // The hole is now the last slot of bucket `lo`; its first piece moves into it and
            // the piece takes the front: bucket `a` below the others.
            let first = self.start;
            if first != hole {
                let moved = self.order[first as usize];
                self.place(pieces, hole, moved);
            }
            hole = first;
            self.ends[a..lo].fill(first + 1);
            self.lo = a;
        }
        self.place(pieces, hole, piece);
    }

    /// Takes `piece` out of bucket `a`, the mirror of [`Buckets::insert`].
    pub(crate) fn remove(&mut self, pieces: &mut [PieceState], piece: u32, a: u32) {
        let a = a as usize;
        let top = self.ends.len() - 1;
        let lo = self.lo;
        debug_assert!(a >= lo && a <= top);
        let mut hole = pieces[piece as usize].pos;
        if a - lo < top - a {
            // Toward the front: each bucket from `a` down to `lo` gives its first piece to the
            // hole, which leaves the bucket at its front; past `lo` it joins the gap.
            for k in (lo..=a).rev() {
                let first = self.begin(k);
                if first != hole {
                    let moved = self.order[first as usize];
                    self.place(pieces, hole, moved);
                }
                hole = first;
                if k == lo {
                    self.start += 1;
                } else {
                    self.ends[k - 1] = first + 1;
                }
            }
        } else {
            // Toward the back: each bucket from `a` up gives its last piece to the hole, which
            // leaves the bucket at its back; at the top it falls off the end.
            for k in a..=top {
                let last = self.ends[k] - 1;
                if last != hole {
                    let moved = self.order[last as usize];
                    self.place(pieces, hole, moved);
                }
                hole = last;
                self.ends[k] = last;
            }
            self.order.pop();
        }
        if self.is_empty() {
            // Give the memory back: a level that empties (every piece verified, or moved to
            // another priority) may have held the whole torrent.
            *self = Self::new();
            return;
        }
        while self.ends[self.lo] == self.start {
            self.lo += 1;
        }
        self.trim();
    }

    /// Rebuilds the level from the pieces for which `member(index, state)` holds, by counting
    /// sort on availability: O(pieces + buckets).
    pub(crate) fn rebuild(
        &mut self,
        pieces: &mut [PieceState],
        member: impl Fn(u32, &PieceState) -> bool,
    ) {
        let mut counts: Vec<u32> = vec![0];
        for (p, s) in pieces.iter().enumerate() {
            if member(p as u32, s) {
                let a = s.avail() as usize;
                if counts.len() <= a {
                    counts.resize(a + 1, 0);
                }
                counts[a] += 1;
            }
        }
        let mut ends = Vec::with_capacity(counts.len());
        let mut next = Vec::with_capacity(counts.len());
        let mut total = 0u32;
        for &c in &counts {
            next.push(total);
            total += c;
            ends.push(total);
        }
        let mut order = vec![0u32; total as usize];
        for (p, s) in pieces.iter_mut().enumerate() {
            if member(p as u32, s) {
                let slot = &mut next[s.avail() as usize];
                order[*slot as usize] = p as u32;
                s.pos = *slot;
                *slot += 1;
            }
        }
        let lo = counts.iter().position(|&c| c > 0).unwrap_or(0);
        *self = Self {
            order,
            ends,
            start: 0,
            lo,
        };
        self.trim();
    }

    /// Drops empty buckets at the top (down to `lo`).
    fn trim(&mut self) {
        while self.ends.len() > self.lo + 1
            && self.ends[self.ends.len() - 1] == self.ends[self.ends.len() - 2]
        {
            self.ends.pop();
        }
    }

    /// Checks the invariants of the type docs against the piece table for level `priority`,
    /// whose members are the pieces for which `member(index, state)` holds.
    #[cfg(any(test, fuzzing, feature = "check-invariants"))]
    pub(crate) fn check(
        &self,
        pieces: &[PieceState],
        priority: u8,
        member: impl Fn(u32, &PieceState) -> bool,
    ) -> Result<(), String> {
        if self.ends.last() != Some(&(self.order.len() as u32)) {
            return Err(format!("level {priority}: last end is not the length"));
        }
        let lo = self.lo;
        if lo >= self.ends.len() || self.start > self.ends[lo] {
            return Err(format!(
                "level {priority}: start past the end of bucket {lo}"
            ));
        }
        if self.ends[lo..].windows(2).any(|w| w[0] > w[1]) {
            return Err(format!("level {priority}: bucket ends decrease"));
        }
        let top = self.ends.len() - 1;
        if !self.is_empty() && (self.bucket(lo).is_empty() || self.bucket(top).is_empty()) {
            return Err(format!("level {priority}: empty lowest or top bucket"));
        }
        if self.is_empty() && (top != lo || self.order.len() != self.start as usize) {
            return Err(format!("level {priority}: empty, with buckets"));
        }
        for k in 0..self.ends.len() {
            for i in self.bucket(k) {
                let p = self.order[i];
                let s = pieces
                    .get(p as usize)
                    .ok_or(format!("level {priority}: piece {p} out of range"))?;
                if s.pos as usize != i {
                    return Err(format!(
                        "level {priority}: piece {p} at {i} says pos {}",
                        s.pos
                    ));
                }
                if s.avail() as usize != k {
                    return Err(format!(
                        "level {priority}: piece {p} of availability {} in bucket {k}",
                        s.avail()
                    ));
                }
                if !member(p, s) || s.priority() != priority {
                    return Err(format!("level {priority}: piece {p} should not be here"));
                }
            }
        }
        let members = pieces
            .iter()
            .enumerate()
            .filter(|&(p, s)| member(p as u32, s) && s.priority() == priority)
            .count();
        if members != self.len() {
            return Err(format!(
                "level {priority}: holds {} pieces, {members} belong",
                self.len()
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::util::Rng;

    fn table(avails: &[u32]) -> Vec<PieceState> {
        avails
            .iter()
            .map(|&a| {
                let mut s = PieceState::new(4);
                for _ in 0..a {
                    s.inc_avail();
                }
                s
            })
            .collect()
    }

    #[test]
    fn piece_state_packs_availability_priority_and_have() {
        let mut s = PieceState::new(7);
        for _ in 0..5 {
            s.inc_avail();
        }
        assert_eq!((s.avail(), s.priority(), s.have()), (5, 7, false));
        s.set_priority(0);
        assert!(!s.wanted());
        s.set_priority(3);
        s.set_have();
        assert_eq!(
            (s.avail(), s.priority(), s.have(), s.wanted()),
            (5, 3, true, false)
        );
        assert_eq!(std::mem::size_of::<PieceState>(), 8);
    }

    /// Every operation on random small levels, checked against the invariants after each step.
    #[test]
    fn random_operations_keep_the_buckets_sorted() {
        let mut rng = Rng::new(1);
        for round in 0..1000 {
            let n = 1 + rng.below(40);
            let spread = 1 + rng.below(12);
            let mut pieces = table(
                &(0..n)
                    .map(|_| (5 + rng.below(spread)) as u32)
                    .collect::<Vec<_>>(),
            );
            let mut level = Buckets::new();
            level.rebuild(&mut pieces, |_, s| s.wanted());
            level.check(&pieces, 4, |_, s| s.wanted()).unwrap();
            for step in 0..300 {
                let p = rng.below(n) as u32;
                let s = pieces[p as usize];
                let a = s.avail();
                let before = format!("{level:?}");
                let op = rng.below(4);
                match op {
                    0 if s.wanted() => {
                        level.increment(&mut pieces, p, a);
                        pieces[p as usize].inc_avail();
                    }
                    0 => pieces[p as usize].inc_avail(),
                    1 if a > 0 && s.wanted() => {
                        level.decrement(&mut pieces, p, a);
                        pieces[p as usize].dec_avail();
                    }
                    1 if a > 0 => pieces[p as usize].dec_avail(),
                    2 if s.wanted() => {
                        level.remove(&mut pieces, p, a);
                        pieces[p as usize].set_priority(0);
                    }
                    _ if !s.wanted() => {
                        pieces[p as usize].set_priority(4);
                        level.insert(&mut pieces, p, a);
                    }
                    _ => {}
                }
                if let Err(e) = level.check(&pieces, 4, |_, s| s.wanted()) {
                    panic!("round {round} step {step}: {e}: {before}, op {op} on {p} -> {level:?}");
                }
            }
        }
    }

    #[test]
    fn removal_from_a_low_bucket_leaves_a_gap_that_insert_reuses() {
        let mut pieces = table(&[0, 1, 2, 3, 4, 5, 6, 7]);
        let mut level = Buckets::new();
        level.rebuild(&mut pieces, |_, s| s.wanted());
        pieces[1].set_priority(0);
        level.remove(&mut pieces, 1, 1);
        assert_eq!(level.start, 1);
        level.check(&pieces, 4, |_, s| s.wanted()).unwrap();
        pieces[1].set_priority(4);
        level.insert(&mut pieces, 1, 1);
        assert_eq!((level.start, level.order.len()), (0, 8));
        level.check(&pieces, 4, |_, s| s.wanted()).unwrap();
    }
}
