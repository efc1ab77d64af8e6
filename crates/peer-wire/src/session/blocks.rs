//! The blocks a session keeps track of, each with an index beside it, so that the checks it
//! makes for every request and every block (is it there? take it out) cost the same with
//! 2,000 outstanding as with 2: [`Requested`], the blocks we asked for, in no particular order;
//! [`Queue`], the blocks the peer asked for, in the order it asked.

use std::collections::{HashMap, HashSet, VecDeque};

use crate::BlockRef;

#[derive(Debug, Default)]
pub(super) struct Requested {
    blocks: Vec<BlockRef>,
    /// Where each block is in `blocks`.
    at: HashMap<BlockRef, usize>,
}

impl Requested {
    pub(super) fn as_slice(&self) -> &[BlockRef] {
        &self.blocks
    }

    pub(super) fn len(&self) -> usize {
        self.blocks.len()
    }

    pub(super) fn is_empty(&self) -> bool {
        self.blocks.is_empty()
    }

    pub(super) fn contains(&self, block: &BlockRef) -> bool {
        self.at.contains_key(block)
    }

    /// Adds `block` (the caller checked that it is not there yet).
    pub(super) fn push(&mut self, block: BlockRef) {
        self.at.insert(block, self.blocks.len());
        self.blocks.push(block);
    }

    /// Takes `block` out; `false` if it was not there.
    pub(super) fn remove(&mut self, block: &BlockRef) -> bool {
        let Some(i) = self.at.remove(block) else {
            return false;
        };
        self.blocks.swap_remove(i);
        if let Some(moved) = self.blocks.get(i) {
            self.at.insert(*moved, i);
        }
        true
    }

    /// Empties it, returning what it held.
    pub(super) fn take(&mut self) -> Vec<BlockRef> {
        self.at.clear();
        std::mem::take(&mut self.blocks)
    }

    pub(super) fn clear(&mut self) {
        self.at.clear();
        self.blocks.clear();
    }
}

/// The peer's requests, first come first served.
#[derive(Debug, Default)]
pub(super) struct Queue {
    blocks: VecDeque<BlockRef>,
    set: HashSet<BlockRef>,
}

impl Queue {
    pub(super) fn iter(&self) -> impl ExactSizeIterator<Item = &BlockRef> {
        self.blocks.iter()
    }

    pub(super) fn len(&self) -> usize {
        self.blocks.len()
    }

    pub(super) fn contains(&self, block: &BlockRef) -> bool {
        self.set.contains(block)
    }

    /// Queues `block` (the caller checked that it is not there yet).
    pub(super) fn push_back(&mut self, block: BlockRef) {
        self.set.insert(block);
        self.blocks.push_back(block);
    }

    /// Takes `block` out (it is usually at the front); `false` if it was not there.
    pub(super) fn remove(&mut self, block: &BlockRef) -> bool {
        if !self.set.remove(block) {
            return false;
        }
        if let Some(i) = self.blocks.iter().position(|b| b == block) {
            self.blocks.remove(i);
        }
        true
    }

    /// Empties it, returning what it held, in order.
    pub(super) fn take(&mut self) -> VecDeque<BlockRef> {
        self.set.clear();
        std::mem::take(&mut self.blocks)
    }

    pub(super) fn clear(&mut self) {
        self.set.clear();
        self.blocks.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::PieceIndex;

    fn b(i: u32) -> BlockRef {
        BlockRef {
            piece: PieceIndex(i / 4),
            offset: (i % 4) * 16384,
            len: 16384,
        }
    }

    #[test]
    fn the_index_follows_every_removal() {
        let mut r = Requested::default();
        for i in 0..10 {
            r.push(b(i));
        }
        // Out of order, first, last, and one that is not there.
        for i in [3, 0, 9, 5, 42] {
            assert_eq!(r.remove(&b(i)), i != 42);
            assert!(!r.contains(&b(i)));
        }
        assert_eq!(r.len(), 6);
        for (i, block) in r.as_slice().iter().enumerate() {
            assert_eq!(r.at[block], i);
        }
        let mut left: Vec<u32> = (0..10).filter(|i| ![3, 0, 9, 5].contains(i)).collect();
        let mut got: Vec<u32> = r
            .as_slice()
            .iter()
            .map(|x| x.piece.0 * 4 + x.offset / 16384)
            .collect();
        got.sort_unstable();
        left.sort_unstable();
        assert_eq!(got, left);
        assert_eq!(r.take().len(), 6);
        assert!(r.is_empty() && !r.contains(&b(1)));
    }

    #[test]
    fn the_queue_keeps_its_order_and_its_set() {
        let mut q = Queue::default();
        for i in 0..5 {
            q.push_back(b(i));
        }
        assert!(q.remove(&b(0)) && q.remove(&b(3)) && !q.remove(&b(3)));
        assert_eq!(q.iter().copied().collect::<Vec<_>>(), [b(1), b(2), b(4)]);
        assert!(q.contains(&b(4)) && !q.contains(&b(0)));
        assert_eq!(q.take(), [b(1), b(2), b(4)]);
        assert_eq!(q.len(), 0);
        assert!(!q.contains(&b(1)));
    }
}
