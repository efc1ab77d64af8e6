//! SHA-1 of a piece computed while it is written, so that the hash check reads back only what
//! did not arrive in order (usually nothing) instead of the whole piece.
//!
//! Blocks mostly arrive in order: a peer is asked for a piece's blocks from the first on. While
//! a piece is written from offset 0 on without gaps, each block is fed to a running SHA-1 right
//! after it reached the file; `next` is where the hashed prefix ends. The check then reads
//! `next..end` from the files, finishes the hash and compares, with the same verified-table
//! rules as a check that reads everything (a write that overlaps the check defeats it).
//!
//! The running hash must describe exactly the bytes in the files' prefix `0..next`:
//! - a write that starts before `next` (a block sent again, perhaps with other bytes) drops it;
//! - a block is hashed only if no other write of the piece is in progress when it begins, and
//!   none begins before it ends (one that does marks the slot `poisoned`), so that the bytes
//!   hashed are the bytes left in the file;
//! - a failed write drops it; blocks that touch pad files (read back as zeros whatever a peer
//!   sent) are not hashed: the check reads them;
//! - writes at or after `next` that are not hashed leave it alone: the check reads them.

use std::collections::HashMap;

use sha1::{Digest, Sha1};

/// The hashed prefix of a piece.
#[derive(Clone, Debug)]
pub(super) struct Running {
    hasher: Sha1,
    /// Bytes hashed: the prefix `0..next` of the piece.
    next: u32,
}

impl Running {
    /// Where the hashed prefix ends.
    pub(super) fn next(&self) -> u32 {
        self.next
    }

    /// Feeds the bytes that follow the prefix.
    pub(super) fn update(&mut self, data: &[u8]) {
        self.hasher.update(data);
        self.next = self.next.saturating_add(data.len() as u32);
    }

    /// The SHA-1 of everything fed.
    pub(super) fn finish(self) -> [u8; 20] {
        self.hasher.finalize().into()
    }
}

#[derive(Debug)]
enum Slot {
    Idle(Running),
    /// A write is feeding the hash; `poisoned` if another write of the piece began meanwhile.
    Busy {
        poisoned: bool,
    },
}

/// The running hashes of the pieces being written (a few at a time; a piece abandoned half-way
/// keeps its ~100 bytes until it is written again or checked).
#[derive(Debug, Default)]
pub(super) struct InOrder {
    slots: HashMap<u32, Slot>,
}

/// What a write may do with the running hash of its piece.
#[derive(Debug)]
pub(super) enum Claim {
    /// Nothing: the write does not extend the hashed prefix.
    None,
    /// Feed the block to this hash after writing it, then hand it back with
    /// [`InOrder::release`].
    Hash(Running),
}

impl InOrder {
    /// A write of `len` bytes at `offset` of `piece` begins. `alone`: no other write of the
    /// piece is in progress and the block may be hashed (it touches no pad file).
    pub(super) fn begin_write(&mut self, piece: u32, offset: u32, alone: bool) -> Claim {
        let fresh = || {
            Claim::Hash(Running {
                hasher: Sha1::new(),
                next: 0,
            })
        };
        let (slot, claim) = match self.slots.remove(&piece) {
            Some(Slot::Busy { .. }) => (Some(Slot::Busy { poisoned: true }), Claim::None),
            Some(Slot::Idle(running)) if offset == running.next && alone => {
                (Some(Slot::Busy { poisoned: false }), Claim::Hash(running))
            }
            // Bytes of the prefix are written again: its hash is void. A fresh start at offset
            // 0 (the piece downloaded again) hashes anew.
            Some(Slot::Idle(running)) if offset < running.next => {
                if offset == 0 && alone {
                    (Some(Slot::Busy { poisoned: false }), fresh())
                } else {
                    (None, Claim::None)
                }
            }
            Some(idle @ Slot::Idle(_)) => (Some(idle), Claim::None),
            None if offset == 0 && alone => (Some(Slot::Busy { poisoned: false }), fresh()),
            None => (None, Claim::None),
        };
        if let Some(slot) = slot {
            self.slots.insert(piece, slot);
        }
        claim
    }

    /// The write that claimed `piece`'s hash ended: `fed` is the hash with the block in it, or
    /// `None` if the write failed. Kept only if no other write began meanwhile.
    pub(super) fn release(&mut self, piece: u32, fed: Option<Running>) {
        match (self.slots.remove(&piece), fed) {
            (Some(Slot::Busy { poisoned: false }), Some(running)) => {
                self.slots.insert(piece, Slot::Idle(running));
            }
            (Some(Slot::Idle(running)), _) => {
                // Not ours (cannot happen: a claim leaves the slot busy until released).
                self.slots.insert(piece, Slot::Idle(running));
            }
            _ => {}
        }
    }

    /// Takes `piece`'s running hash for a check (no write of it in progress).
    pub(super) fn take(&mut self, piece: u32) -> Option<Running> {
        match self.slots.remove(&piece)? {
            Slot::Idle(running) => Some(running),
            busy @ Slot::Busy { .. } => {
                self.slots.insert(piece, busy);
                None
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sha1(data: &[u8]) -> [u8; 20] {
        Sha1::digest(data).into()
    }

    /// Feeds `data` for a claim, as `Storage::write_block` does after a successful write.
    fn write(h: &mut InOrder, offset: u32, data: &[u8], alone: bool) {
        match h.begin_write(0, offset, alone) {
            Claim::Hash(mut r) => {
                r.update(data);
                h.release(0, Some(r));
            }
            Claim::None => {}
        }
    }

    #[test]
    fn blocks_in_order_are_hashed_as_written() {
        let mut h = InOrder::default();
        write(&mut h, 0, b"abcd", true);
        write(&mut h, 4, b"efgh", true);
        let r = h.take(0).expect("running");
        assert_eq!(r.next(), 8);
        assert_eq!(r.finish(), sha1(b"abcdefgh"));
        assert!(h.take(0).is_none(), "taken once");
    }

    #[test]
    fn a_gap_stops_the_prefix_and_a_rewrite_inside_it_drops_it() {
        let mut h = InOrder::default();
        write(&mut h, 0, b"abcd", true);
        write(&mut h, 8, b"ijkl", true); // out of order: left for the check to read
        write(&mut h, 4, b"efgh", true); // fills the gap: the prefix grows to 8
        assert_eq!(h.take(0).map(|r| r.next()), Some(8));

        write(&mut h, 0, b"abcd", true);
        write(&mut h, 4, b"efgh", true);
        write(&mut h, 2, b"XY", true); // bytes of the prefix changed: its hash is void
        assert!(h.take(0).is_none());
    }

    #[test]
    fn a_fresh_start_at_zero_hashes_anew() {
        let mut h = InOrder::default();
        write(&mut h, 0, b"bad!", true);
        write(&mut h, 0, b"good", true);
        let r = h.take(0).expect("running");
        assert_eq!(r.finish(), sha1(b"good"));
    }

    #[test]
    fn overlapping_or_failed_writes_are_not_trusted() {
        let mut h = InOrder::default();
        // Another write began while the claimed one was in progress.
        let Claim::Hash(mut r) = h.begin_write(0, 0, true) else {
            panic!("offset 0 claims");
        };
        assert!(matches!(h.begin_write(0, 0, false), Claim::None));
        r.update(b"abcd");
        h.release(0, Some(r));
        assert!(h.take(0).is_none(), "poisoned");

        // A write that is not alone does not start or extend the prefix.
        assert!(matches!(h.begin_write(0, 0, false), Claim::None));
        assert!(h.take(0).is_none());

        // A failed write drops the hash.
        let Claim::Hash(_) = h.begin_write(0, 0, true) else {
            panic!("offset 0 claims");
        };
        h.release(0, None);
        assert!(h.take(0).is_none());
    }
}
