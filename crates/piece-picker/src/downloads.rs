//! Pieces in progress and the state of each of their blocks.
//!
//! Only pieces with at least one block requested or received have an entry here (libtorrent's
//! `downloading_piece`); every other piece's blocks are implicitly all free, or all verified if
//! we have it. Entries live in a slab, their blocks in one flat array with a fixed stride (the
//! block count of a full piece), so starting a piece allocates nothing once the slab has grown
//! (libtorrent's `m_block_info` with `m_free_block_infos`).

use std::collections::HashMap;

use crate::PeerKey;
use crate::util::KeyBuild;

/// Marks an unused slab entry, and a download that is not in the partial list.
pub(crate) const NONE: u32 = u32::MAX;

/// Where one block of a piece in progress is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Slot {
    /// Nobody has been asked for it.
    Free,
    /// Asked of `Block::peer` and of `Block::requesters - 1` more peers listed in
    /// `Download::dups` (endgame).
    Requested,
    /// Its bytes arrived from `Block::peer`; the piece is not verified yet.
    Received,
}

#[derive(Clone, Copy, Debug)]
pub(crate) struct Block {
    /// The first requester while requested; who sent it once received.
    pub(crate) peer: PeerKey,
    /// Peers the block is requested from (0 unless `Requested`).
    pub(crate) requesters: u16,
    pub(crate) state: Slot,
}

const FREE_BLOCK: Block = Block {
    peer: PeerKey(0),
    requesters: 0,
    state: Slot::Free,
};

#[derive(Clone, Debug)]
pub(crate) struct Download {
    /// The piece, or [`NONE`] for an unused entry.
    pub(crate) piece: u32,
    pub(crate) num_blocks: u32,
    pub(crate) num_free: u32,
    pub(crate) num_received: u32,
    /// Index in [`Downloads::partials`], or [`NONE`].
    pub(crate) partial_idx: u32,
    /// Requesters after the first, as (block, peer): only endgame adds any.
    pub(crate) dups: Vec<(u32, PeerKey)>,
}

#[derive(Clone, Debug)]
pub(crate) struct Downloads {
    pub(crate) slots: Vec<Download>,
    blocks: Vec<Block>,
    vacant: Vec<u32>,
    by_piece: HashMap<u32, u32, KeyBuild>,
    /// Downloads with at least one free block: what "partial pieces first" walks.
    pub(crate) partials: Vec<u32>,
    stride: u32,
}

impl Downloads {
    pub(crate) fn new(stride: u32) -> Self {
        Self {
            slots: Vec::new(),
            blocks: Vec::new(),
            vacant: Vec::new(),
            by_piece: HashMap::default(),
            partials: Vec::new(),
            stride,
        }
    }

    pub(crate) fn get(&self, piece: u32) -> Option<u32> {
        self.by_piece.get(&piece).copied()
    }

    pub(crate) fn len(&self) -> usize {
        self.by_piece.len()
    }

    /// A download of `piece` with every block free, in the partial list.
    pub(crate) fn open(&mut self, piece: u32, num_blocks: u32) -> u32 {
        debug_assert!(num_blocks > 0 && num_blocks <= self.stride);
        let slot = match self.vacant.pop() {
            Some(slot) => slot,
            None => {
                self.slots.push(Download {
                    piece: NONE,
                    num_blocks: 0,
                    num_free: 0,
                    num_received: 0,
                    partial_idx: NONE,
                    dups: Vec::new(),
                });
                self.blocks
                    .resize(self.slots.len() * self.stride as usize, FREE_BLOCK);
                (self.slots.len() - 1) as u32
            }
        };
        let d = &mut self.slots[slot as usize];
        d.piece = piece;
        d.num_blocks = num_blocks;
        d.num_free = num_blocks;
        d.num_received = 0;
        d.dups.clear();
        self.blocks_mut(slot).fill(FREE_BLOCK);
        self.by_piece.insert(piece, slot);
        self.add_partial(slot);
        slot
    }

    /// Forgets the download in `slot`.
    pub(crate) fn close(&mut self, slot: u32) {
        self.remove_partial(slot);
        let d = &mut self.slots[slot as usize];
        self.by_piece.remove(&d.piece);
        d.piece = NONE;
        d.dups.clear();
        self.vacant.push(slot);
    }

    pub(crate) fn blocks(&self, slot: u32) -> &[Block] {
        let d = &self.slots[slot as usize];
        let start = slot as usize * self.stride as usize;
        &self.blocks[start..start + d.num_blocks as usize]
    }

    pub(crate) fn blocks_mut(&mut self, slot: u32) -> &mut [Block] {
        let n = self.slots[slot as usize].num_blocks as usize;
        let start = slot as usize * self.stride as usize;
        &mut self.blocks[start..start + n]
    }

    pub(crate) fn add_partial(&mut self, slot: u32) {
        let d = &mut self.slots[slot as usize];
        if d.partial_idx == NONE {
            d.partial_idx = self.partials.len() as u32;
            self.partials.push(slot);
        }
    }

    pub(crate) fn remove_partial(&mut self, slot: u32) {
        let idx = self.slots[slot as usize].partial_idx;
        if idx == NONE {
            return;
        }
        self.partials.swap_remove(idx as usize);
        if let Some(&moved) = self.partials.get(idx as usize) {
            self.slots[moved as usize].partial_idx = idx;
        }
        self.slots[slot as usize].partial_idx = NONE;
    }

    /// Whether `peer` is among the requesters of block `b` of `slot`.
    pub(crate) fn is_requester(&self, slot: u32, b: u32, peer: PeerKey) -> bool {
        let block = self.blocks(slot)[b as usize];
        block.state == Slot::Requested
            && (block.peer == peer
                || (block.requesters > 1 && self.slots[slot as usize].dups.contains(&(b, peer))))
    }

    /// Every requester of block `b` of `slot`, first one first.
    pub(crate) fn requesters(&self, slot: u32, b: u32) -> impl Iterator<Item = PeerKey> + '_ {
        let block = self.blocks(slot)[b as usize];
        let first = (block.state == Slot::Requested).then_some(block.peer);
        let dups = self.slots[slot as usize]
            .dups
            .iter()
            .filter(move |&&(d, _)| d == b)
            .map(|&(_, p)| p);
        first.into_iter().chain(dups)
    }

    /// Takes `peer` off the requesters of block `b` (a requester); frees the block if it was
    /// the last one. Returns whether the block became free.
    pub(crate) fn drop_requester(&mut self, slot: u32, b: u32, peer: PeerKey) -> bool {
        let start = slot as usize * self.stride as usize + b as usize;
        let d = &mut self.slots[slot as usize];
        let block = &mut self.blocks[start];
        debug_assert_eq!(block.state, Slot::Requested);
        if block.peer == peer {
            // Promote the next requester, if any, to first.
            match d.dups.iter().position(|&(d, _)| d == b) {
                Some(i) => block.peer = d.dups.swap_remove(i).1,
                None => debug_assert_eq!(block.requesters, 1),
            }
        } else if let Some(i) = d.dups.iter().position(|&e| e == (b, peer)) {
            d.dups.swap_remove(i);
        }
        block.requesters -= 1;
        if block.requesters == 0 {
            *block = FREE_BLOCK;
            d.num_free += 1;
            return true;
        }
        false
    }

    /// Adds `peer` to block `b`'s requesters (not one yet). Returns whether it was free.
    pub(crate) fn add_requester(&mut self, slot: u32, b: u32, peer: PeerKey) -> bool {
        let start = slot as usize * self.stride as usize + b as usize;
        let d = &mut self.slots[slot as usize];
        let block = &mut self.blocks[start];
        match block.state {
            Slot::Free => {
                *block = Block {
                    peer,
                    requesters: 1,
                    state: Slot::Requested,
                };
                d.num_free -= 1;
                true
            }
            Slot::Requested => {
                d.dups.push((b, peer));
                block.requesters += 1;
                false
            }
            Slot::Received => unreachable!("callers only request free or requested blocks"),
        }
    }

    /// Marks block `b` received from `peer`: every requester it had goes to `requesters` (for
    /// the per-peer request counts) and those other than `peer` to `cancel`. Returns `false`,
    /// changing nothing, if it was already received.
    pub(crate) fn receive(
        &mut self,
        slot: u32,
        b: u32,
        peer: PeerKey,
        cancel: &mut Vec<PeerKey>,
        requesters: &mut Vec<PeerKey>,
    ) -> bool {
        let start = slot as usize * self.stride as usize + b as usize;
        let block = self.blocks[start];
        match block.state {
            Slot::Received => return false,
            Slot::Free => self.slots[slot as usize].num_free -= 1,
            Slot::Requested => {
                requesters.extend(self.requesters(slot, b));
                cancel.extend(requesters.iter().copied().filter(|&p| p != peer));
                self.slots[slot as usize].dups.retain(|&(d, _)| d != b);
            }
        }
        self.blocks[start] = Block {
            peer,
            requesters: 0,
            state: Slot::Received,
        };
        self.slots[slot as usize].num_received += 1;
        true
    }

    /// Every block back to free (a failed hash); returns the distinct senders, sorted.
    pub(crate) fn reset(&mut self, slot: u32) -> Vec<PeerKey> {
        let mut senders: Vec<PeerKey> = self
            .blocks(slot)
            .iter()
            .filter(|b| b.state == Slot::Received)
            .map(|b| b.peer)
            .collect();
        senders.sort_unstable();
        senders.dedup();
        self.blocks_mut(slot).fill(FREE_BLOCK);
        let d = &mut self.slots[slot as usize];
        d.num_free = d.num_blocks;
        d.num_received = 0;
        d.dups.clear();
        senders
    }

    /// The slots in use, in slab order.
    pub(crate) fn active(&self) -> impl Iterator<Item = u32> + '_ {
        (0..self.slots.len() as u32).filter(|&s| self.slots[s as usize].piece != NONE)
    }

    #[cfg(any(test, fuzzing, feature = "check-invariants"))]
    pub(crate) fn check(&self) -> Result<(), String> {
        if self.active().count() != self.by_piece.len() {
            return Err("slab and piece map disagree".into());
        }
        for (i, &slot) in self.partials.iter().enumerate() {
            if self.slots[slot as usize].partial_idx != i as u32 {
                return Err(format!(
                    "partial list entry {i} (slot {slot}) has a stale index"
                ));
            }
        }
        for slot in self.active() {
            let d = &self.slots[slot as usize];
            if self.by_piece.get(&d.piece) != Some(&slot) {
                return Err(format!("piece {} not mapped to slot {slot}", d.piece));
            }
            let blocks = self.blocks(slot);
            let free = blocks.iter().filter(|b| b.state == Slot::Free).count() as u32;
            let received = blocks.iter().filter(|b| b.state == Slot::Received).count() as u32;
            if (free, received) != (d.num_free, d.num_received) {
                return Err(format!(
                    "piece {}: counts {}/{} free/received, blocks say {free}/{received}",
                    d.piece, d.num_free, d.num_received
                ));
            }
            if free == d.num_blocks {
                return Err(format!("piece {}: download with every block free", d.piece));
            }
            if (d.partial_idx != NONE) != (free > 0) {
                return Err(format!(
                    "piece {}: in the partial list iff a block is free",
                    d.piece
                ));
            }
            for (b, block) in blocks.iter().enumerate() {
                let b = b as u32;
                let dups = d.dups.iter().filter(|&&(x, _)| x == b).count();
                match block.state {
                    Slot::Requested => {
                        if usize::from(block.requesters) != dups + 1 {
                            return Err(format!(
                                "piece {} block {b}: {} requesters, {} listed",
                                d.piece,
                                block.requesters,
                                dups + 1
                            ));
                        }
                        let mut all: Vec<PeerKey> = self.requesters(slot, b).collect();
                        all.sort_unstable();
                        all.dedup();
                        if all.len() != dups + 1 {
                            return Err(format!("piece {} block {b}: a peer twice", d.piece));
                        }
                    }
                    Slot::Free | Slot::Received => {
                        if block.requesters != 0 || dups != 0 {
                            return Err(format!(
                                "piece {} block {b}: requesters on a {:?} block",
                                d.piece, block.state
                            ));
                        }
                    }
                }
            }
        }
        Ok(())
    }
}
