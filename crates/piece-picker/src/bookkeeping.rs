//! The picker's bookkeeping: checks of the caller's input, moving pieces in and out of their
//! levels, starting and ending downloads, and the counts that follow block changes. Every
//! command goes through these, so that each invariant is kept in one place.

use peer_wire::{Bitfield, BlockRef, Geometry, PieceIndex};

use crate::buckets::{MAX_AVAIL, PieceState};
use crate::picker::Picker;
use crate::{BLOCK_LEN, PeerKey, UsageError};

impl Picker {
    pub(crate) fn state(&self, piece: PieceIndex) -> Option<PieceState> {
        self.pieces.get(piece.0 as usize).copied()
    }

    pub(crate) fn check_piece(&self, piece: PieceIndex) -> Result<u32, UsageError> {
        if piece.0 < self.geometry.num_pieces {
            Ok(piece.0)
        } else {
            Err(UsageError::PieceOutOfRange(piece))
        }
    }

    pub(crate) fn check_bitfield(&self, pieces: &Bitfield) -> Result<(), UsageError> {
        if pieces.len() == self.geometry.num_pieces {
            Ok(())
        } else {
            Err(UsageError::BitfieldLength {
                len: pieces.len(),
                expected: self.geometry.num_pieces,
            })
        }
    }

    pub(crate) fn num_blocks(&self, piece: u32) -> u32 {
        let len = if piece + 1 == self.geometry.num_pieces {
            self.geometry.last_piece_length
        } else {
            self.geometry.piece_length
        };
        len.div_ceil(BLOCK_LEN)
    }

    /// The piece and block number of `block`, if it is exactly one of the torrent's blocks.
    pub(crate) fn block_index(&self, block: BlockRef) -> Result<(u32, u32), UsageError> {
        let piece = block.piece.0;
        if piece < self.geometry.num_pieces && block.offset.is_multiple_of(BLOCK_LEN) {
            let b = block.offset / BLOCK_LEN;
            if b < self.num_blocks(piece) && block_ref(self.geometry, piece, b) == block {
                return Ok((piece, b));
            }
        }
        Err(UsageError::NotABlock(block))
    }

    pub(crate) fn block_ref(&self, piece: u32, b: u32) -> BlockRef {
        block_ref(self.geometry, piece, b)
    }

    /// Whether `piece` has a download with no free block.
    pub(crate) fn is_saturated(&self, piece: u32) -> bool {
        self.downloads
            .get(piece)
            .is_some_and(|slot| self.downloads.slots[slot as usize].num_free == 0)
    }

    pub(crate) fn inc_avail(&mut self, p: u32) {
        let s = self.pieces[p as usize];
        if s.avail() == MAX_AVAIL {
            return;
        }
        if self.in_level(p) {
            self.levels[usize::from(s.priority())].increment(&mut self.pieces, p, s.avail());
        }
        self.pieces[p as usize].inc_avail();
    }

    pub(crate) fn dec_avail(&mut self, p: u32) {
        let s = self.pieces[p as usize];
        if s.avail() == 0 {
            return;
        }
        if self.in_level(p) {
            self.levels[usize::from(s.priority())].decrement(&mut self.pieces, p, s.avail());
        }
        self.pieces[p as usize].dec_avail();
    }

    /// Whether `p` belongs in its level: wanted, and not in progress.
    pub(crate) fn in_level(&self, p: u32) -> bool {
        self.pieces[p as usize].wanted() && !self.busy.get(p)
    }

    /// The piece `p` (not verified) becomes wanted or not, at its current priority: its level,
    /// its want bit and the wanted count follow. Nothing happens if it already is.
    pub(crate) fn set_wanted(&mut self, p: u32, on: bool) {
        let s = self.pieces[p as usize];
        if self.want.get(p) == on {
            return;
        }
        let level = usize::from(s.priority());
        if !self.busy.get(p) {
            if on {
                self.levels[level].insert(&mut self.pieces, p, s.avail());
            } else {
                self.levels[level].remove(&mut self.pieces, p, s.avail());
            }
        }
        self.want.set(p, on);
        if on {
            self.wanted[level] += 1;
        } else {
            self.wanted[level] -= 1;
        }
    }

    pub(crate) fn rebuild_levels(&mut self) {
        for prio in 1..8u8 {
            let busy = &self.busy;
            self.levels[usize::from(prio)].rebuild(&mut self.pieces, |p, s| {
                s.wanted() && s.priority() == prio && !busy.get(p)
            });
        }
    }

    /// Takes the pieces started since the last call out of their levels.
    pub(crate) fn settle(&mut self) {
        let mut started = std::mem::take(&mut self.started);
        for p in started.drain(..) {
            let s = self.pieces[p as usize];
            self.levels[usize::from(s.priority())].remove(&mut self.pieces, p, s.avail());
        }
        self.started = started;
    }

    /// A seed becomes an ordinary peer with every piece counted on the pieces.
    pub(crate) fn break_seed(&mut self, peer: PeerKey) {
        self.seeds -= 1;
        if let Some(r) = self.peers.get_mut(&peer) {
            r.seed = false;
            r.count = self.geometry.num_pieces;
        }
        for s in &mut self.pieces {
            if s.avail() < MAX_AVAIL {
                s.inc_avail();
            }
        }
        self.rebuild_levels();
    }

    /// A download of `piece`, every block free (it is made consistent by the caller's next
    /// block change and `blocks_changed`). The piece leaves its level at the next
    /// [`Picker::settle`], which the caller owes.
    pub(crate) fn start_download(&mut self, piece: u32) -> u32 {
        if self.in_level(piece) {
            self.started.push(piece);
        }
        self.busy.set(piece, true);
        let n = self.num_blocks(piece);
        self.downloads.open(piece, n)
    }

    /// Forgets the download in `slot`, whose piece is then out of every level; returns it.
    pub(crate) fn end_download(&mut self, slot: u32) -> u32 {
        let d = &self.downloads.slots[slot as usize];
        let piece = d.piece;
        if d.num_free == 0 && self.pieces[piece as usize].wanted() {
            self.saturated -= 1;
        }
        self.downloads.close(slot);
        self.busy.set(piece, false);
        piece
    }

    /// Bookkeeping after blocks of `slot` changed state, `free_before` of them free before:
    /// the partial list, the saturated count, and the download itself once nothing in it is
    /// requested or received.
    pub(crate) fn blocks_changed(&mut self, slot: u32, free_before: u32) {
        let d = &self.downloads.slots[slot as usize];
        let (piece, free, all) = (d.piece, d.num_free, d.num_blocks);
        let wanted = self.pieces[piece as usize].wanted();
        if free_before > 0 && free == 0 {
            self.downloads.remove_partial(slot);
            if wanted {
                self.saturated += 1;
            }
        } else if free_before == 0 && free > 0 {
            self.supply += 1;
            self.downloads.add_partial(slot);
            if wanted {
                self.saturated -= 1;
            }
        }
        if free == all {
            // Nothing requested or received: the piece is open again.
            let piece = self.end_download(slot);
            let s = self.pieces[piece as usize];
            if s.wanted() {
                self.levels[usize::from(s.priority())].insert(&mut self.pieces, piece, s.avail());
            }
        }
    }

    /// Records `peer` as a requester of block `b` of `slot` (not one yet) and returns it.
    /// The caller adds it to the peer's count with [`Picker::count_requests`].
    pub(crate) fn request(&mut self, peer: PeerKey, slot: u32, b: u32) -> BlockRef {
        self.downloads.add_requester(slot, b, peer);
        self.block_ref(self.downloads.slots[slot as usize].piece, b)
    }

    /// Adds `n` blocks to the requests counted for `peer`.
    pub(crate) fn count_requests(&mut self, peer: PeerKey, n: usize) {
        if let Some(record) = self.peers.get_mut(&peer) {
            record.requests += n as u32;
        }
    }
}

pub(crate) fn block_ref(geometry: Geometry, piece: u32, b: u32) -> BlockRef {
    let size = if piece + 1 == geometry.num_pieces {
        geometry.last_piece_length
    } else {
        geometry.piece_length
    };
    let offset = b * BLOCK_LEN;
    BlockRef {
        piece: PieceIndex(piece),
        offset,
        len: (size - offset).min(BLOCK_LEN),
    }
}

/// Calls `f` for every piece in `pieces`, skipping empty bytes.
pub(crate) fn for_each_set(pieces: &Bitfield, mut f: impl FnMut(u32)) {
    for (i, &byte) in pieces.as_bytes().iter().enumerate() {
        let mut byte = byte;
        while byte != 0 {
            let lz = byte.leading_zeros();
            byte &= !(0x80 >> lz);
            f(i as u32 * 8 + lz);
        }
    }
}
