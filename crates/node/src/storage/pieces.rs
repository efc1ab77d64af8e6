//! Which pieces are verified, and the bookkeeping that keeps a write and a hash check of the
//! same piece from racing into a wrong "verified".
//!
//! A piece is in the verified set only if a hash check passed *and* no write to that piece
//! started between the moment the check began reading and the moment it finished. Every write
//! removes its piece from the set before touching the disk, whether it then succeeds or fails.
//!
//! The table also knows which pieces the resume state on disk may list (`listed`): a write to
//! one of those is refused, since a crash in the middle of it would leave a state that trusts
//! a half-written piece.

use std::collections::{BTreeSet, HashMap};

use peer_wire::{Bitfield, PieceIndex};

use super::in_order::InOrder;

/// A hash check's claim ticket: the piece's write generation when the check began, or `None`
/// if a write was in progress (then the check cannot mark the piece verified).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Ticket(Option<u32>);

#[derive(Debug)]
pub(super) struct PieceTable {
    verified: Bitfield,
    /// Pieces that the resume state on disk (or one being written) may list.
    listed: Bitfield,
    /// Bumped when a write to the piece starts and again when it ends. Wraps (a check would
    /// have to span exactly 2^32 writes of its piece to be fooled).
    generation: Vec<u32>,
    /// Writes in progress, by piece (only a few pieces at a time).
    writing: HashMap<u32, u32>,
    /// Pieces written (at least partly) since the last flush took them.
    dirty_pieces: BTreeSet<u32>,
    /// Files written since the last flush took them.
    dirty_files: BTreeSet<usize>,
    /// Running hashes of pieces written in order (kept under the same lock as the rest, so
    /// that a claim and the write bookkeeping agree).
    pub(super) in_order: InOrder,
}

impl PieceTable {
    pub(super) fn new(num_pieces: u32) -> Self {
        Self {
            verified: Bitfield::new(num_pieces),
            listed: Bitfield::new(num_pieces),
            generation: vec![0; num_pieces as usize],
            writing: HashMap::new(),
            dirty_pieces: BTreeSet::new(),
            dirty_files: BTreeSet::new(),
            in_order: InOrder::default(),
        }
    }

    /// Whether a write of `piece` is in progress.
    pub(super) fn is_writing(&self, piece: PieceIndex) -> bool {
        self.writing.contains_key(&piece.0)
    }

    pub(super) fn verified(&self) -> &Bitfield {
        &self.verified
    }

    /// A write to `piece` begins: it is no longer verified. Refused (`false`) if the resume
    /// state on disk may list the piece.
    #[must_use]
    pub(super) fn begin_write(&mut self, piece: PieceIndex) -> bool {
        if self.listed.has(piece) {
            return false;
        }
        self.verified.remove(piece);
        if let Some(g) = self.generation.get_mut(piece.0 as usize) {
            *g = g.wrapping_add(1);
        }
        *self.writing.entry(piece.0).or_insert(0) += 1;
        true
    }

    /// A write to `piece` ended; `files` were written (perhaps only partly).
    pub(super) fn end_write(&mut self, piece: PieceIndex, files: impl IntoIterator<Item = usize>) {
        if let Some(g) = self.generation.get_mut(piece.0 as usize) {
            *g = g.wrapping_add(1);
        }
        if let Some(n) = self.writing.get_mut(&piece.0) {
            *n -= 1;
            if *n == 0 {
                self.writing.remove(&piece.0);
            }
        }
        let mut wrote = false;
        for file in files {
            self.dirty_files.insert(file);
            wrote = true;
        }
        if wrote {
            self.dirty_pieces.insert(piece.0);
        }
    }

    /// A hash check of `piece` is about to read it.
    pub(super) fn begin_check(&self, piece: PieceIndex) -> Ticket {
        if self.writing.contains_key(&piece.0) {
            return Ticket(None);
        }
        Ticket(self.generation.get(piece.0 as usize).copied())
    }

    /// A hash check of `piece` ended with `good`; returns whether the piece is now verified.
    /// A verified piece's `files` are due for the next flush: its bytes may have been written
    /// by an earlier process that never synced them (`kill -9` keeps the page cache, a power
    /// cut does not), and no resume state may list it before they are synced.
    pub(super) fn end_check(
        &mut self,
        piece: PieceIndex,
        ticket: Ticket,
        good: bool,
        files: impl IntoIterator<Item = usize>,
    ) -> bool {
        let unchanged = ticket.0.is_some()
            && ticket.0 == self.generation.get(piece.0 as usize).copied()
            && !self.writing.contains_key(&piece.0);
        if good && unchanged {
            self.verified.insert(piece);
            self.dirty_files.extend(files);
            self.dirty_pieces.insert(piece.0);
            true
        } else {
            if !good {
                self.verified.remove(piece);
            }
            false
        }
    }

    /// Marks `piece` verified without a check (resume state); not while it is being written.
    pub(super) fn trust(&mut self, piece: PieceIndex) -> bool {
        !self.writing.contains_key(&piece.0) && {
            self.verified.insert(piece);
            true
        }
    }

    /// The pieces that the resume state on disk may list.
    pub(super) fn listed(&self) -> &Bitfield {
        &self.listed
    }

    /// A resume state listing `pieces` is about to be written over one that listed
    /// [`Self::listed`]: until it is known which of the two is on disk, both are.
    pub(super) fn listing(&mut self, pieces: &Bitfield) {
        for p in pieces.iter() {
            self.listed.insert(p);
        }
    }

    /// The resume state on disk now lists exactly `pieces`.
    pub(super) fn listed_exactly(&mut self, pieces: Bitfield) {
        self.listed = pieces;
    }

    /// Syncing `file` failed: the `lost` pieces (written since the previous flush) leave the
    /// verified set and, with `retry`, the file and pieces stay due for the next flush.
    pub(super) fn sync_failed(&mut self, file: usize, lost: &[u32], retry: bool) {
        for &p in lost {
            self.verified.remove(PieceIndex(p));
            if retry {
                self.dirty_pieces.insert(p);
            }
        }
        if retry {
            self.dirty_files.insert(file);
        }
    }

    /// Takes the pieces and files written since the last call.
    pub(super) fn take_dirty(&mut self) -> (BTreeSet<u32>, BTreeSet<usize>) {
        (
            std::mem::take(&mut self.dirty_pieces),
            std::mem::take(&mut self.dirty_files),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const P: PieceIndex = PieceIndex(3);

    #[test]
    fn a_check_verifies_only_if_no_write_touched_the_piece_meanwhile() {
        let mut t = PieceTable::new(8);
        let ticket = t.begin_check(P);
        assert!(t.end_check(P, ticket, true, [0]));
        assert!(t.verified().has(P));

        // A write that starts during the check, finished or not, defeats it.
        let ticket = t.begin_check(P);
        assert!(t.begin_write(P));
        assert!(!t.verified().has(P));
        assert!(!t.end_check(P, ticket, true, [0]));
        t.end_write(P, [0]);
        let ticket2 = t.begin_check(P);
        assert!(t.begin_write(P));
        t.end_write(P, [0]);
        assert!(!t.end_check(P, ticket2, true, [0]));
        assert!(!t.verified().has(P));

        // A check that begins while a write is in progress cannot verify either.
        assert!(t.begin_write(P));
        let ticket = t.begin_check(P);
        t.end_write(P, [0]);
        assert!(!t.end_check(P, ticket, true, [0]));
        assert!(!t.verified().has(P));
    }

    #[test]
    fn a_failed_check_unverifies_and_trust_waits_for_writes() {
        let mut t = PieceTable::new(8);
        assert!(t.trust(P));
        let ticket = t.begin_check(P);
        assert!(!t.end_check(P, ticket, false, [0]));
        assert!(!t.verified().has(P));
        assert!(t.begin_write(P));
        assert!(!t.trust(P));
    }

    #[test]
    fn pieces_a_saved_state_may_list_cannot_be_written() {
        let mut t = PieceTable::new(8);
        t.listed_exactly(Bitfield::new(8));
        let mut s = Bitfield::new(8);
        s.insert(P);
        t.listing(&s);
        assert!(!t.begin_write(P));
        assert!(t.begin_write(PieceIndex(4)));
        t.listed_exactly(Bitfield::new(8));
        assert!(t.begin_write(P));
    }

    #[test]
    fn dirty_sets_are_taken_once() {
        let mut t = PieceTable::new(8);
        assert!(t.begin_write(P));
        t.end_write(P, [1, 2]);
        assert!(t.begin_write(PieceIndex(4)));
        t.end_write(PieceIndex(4), []); // wrote nothing (pad only or failed at once)
        let (pieces, files) = t.take_dirty();
        assert_eq!(pieces.into_iter().collect::<Vec<_>>(), [3]);
        assert_eq!(files.into_iter().collect::<Vec<_>>(), [1, 2]);
        assert_eq!(t.take_dirty(), (BTreeSet::new(), BTreeSet::new()));
    }

    #[test]
    fn a_verified_piece_is_due_for_the_next_flush_and_a_failed_sync_unverifies_it() {
        let mut t = PieceTable::new(8);
        let ticket = t.begin_check(P);
        assert!(t.end_check(P, ticket, true, [5]));
        let (pieces, files) = t.take_dirty();
        assert!(pieces.contains(&3) && files.contains(&5));
        t.sync_failed(5, &[3], true);
        assert!(!t.verified().has(P));
        let (pieces, files) = t.take_dirty();
        assert!(pieces.contains(&3) && files.contains(&5), "still due");
    }
}
