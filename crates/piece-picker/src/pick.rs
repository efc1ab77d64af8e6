//! Choosing blocks for one peer.
//!
//! The order, for a peer that does not choke us:
//! 1. pieces with a deadline, earliest first;
//! 2. then, for each priority from 7 down to 1: partial pieces (some block requested or
//!    received) with a free block, to finish what is started before starting anything new;
//!    then new pieces: in sequential mode the lowest index from the cursor; before
//!    [`Config::initial_random_pieces`](crate::Config) are verified, a random one; else the
//!    rarest (lowest availability), ties broken at random;
//! 3. in endgame, blocks already requested of other peers, least requested first.
//!
//! A peer that chokes us gets only its allowed-fast pieces, ranked the same way.

use std::cmp::Reverse;

use peer_wire::{Bitfield, BlockRef, PieceIndex};

use crate::downloads::{NONE, Slot};
use crate::picker::Picker;
use crate::util::{for_each_common, ones, wire_word};
use crate::{PeerKey, PickOptions, UsageError};

/// The peer being picked for.
struct Peer<'a> {
    key: PeerKey,
    pieces: &'a Bitfield,
    /// Registered as a seed: counted in `Picker::seeds`, not in the buckets, so bucket 0 is
    /// worth searching.
    seed: bool,
    /// A seed whose `pieces` are whole: every test of a piece passes without a look. A seed
    /// may be picked from with fewer (the caller leaves out what it declined).
    all: bool,
}

impl Peer<'_> {
    fn has(&self, p: u32) -> bool {
        self.all || self.pieces.has(PieceIndex(p))
    }

    /// Word `w` of the peer's pieces.
    fn word(&self, w: usize) -> u64 {
        if self.all {
            u64::MAX
        } else {
            wire_word(self.pieces.as_bytes(), w)
        }
    }
}

impl Picker {
    /// Requests up to `max_blocks` blocks of `peer`, whose pieces are `pieces`, and appends
    /// them to `out` (which is not cleared: reuse one buffer and nothing is allocated). Each
    /// block is marked requested by `peer`. Returns how many were added: fewer than
    /// `max_blocks` when the peer has nothing more we want.
    ///
    /// Never picks a verified piece, a piece of priority 0, a piece the peer lacks, or a block
    /// already requested of this peer; outside endgame, never a block requested of anyone.
    ///
    /// Cost: O(blocks picked) plus the search, which starts at the rarest bucket at a random
    /// offset and stops at the first piece the peer has (a peer with few pieces is matched
    /// word by word against the wanted pieces instead: O(pieces / 64)); partial pieces and
    /// deadlines add O(partial pieces + deadlines).
    pub fn pick(
        &mut self,
        peer: PeerKey,
        pieces: &Bitfield,
        max_blocks: usize,
        options: &PickOptions<'_>,
        out: &mut Vec<BlockRef>,
    ) -> Result<usize, UsageError> {
        let record = self.peers.get(&peer).ok_or(UsageError::UnknownPeer(peer))?;
        self.check_bitfield(pieces)?;
        let ctx = Peer {
            key: peer,
            pieces,
            seed: record.seed,
            all: record.seed && pieces.is_full(),
        };
        let mut budget = max_blocks;
        let before = out.len();
        if budget == 0 || self.num_wanted() == 0 {
            return Ok(0);
        }
        match options.choked_with_allowed_fast {
            Some(allowed) => self.pick_allowed_fast(&ctx, allowed, &mut budget, out),
            None => {
                self.pick_deadlines(&ctx, &mut budget, out);
                for level in (1..8u8).rev() {
                    if budget == 0 {
                        break;
                    }
                    if self.wanted[usize::from(level)] == 0 {
                        continue;
                    }
                    self.pick_partials(&ctx, level, &mut budget, out);
                    if budget > 0 && !self.levels[usize::from(level)].is_empty() {
                        self.pick_new(&ctx, level, &mut budget, out);
                    }
                }
            }
        }
        if budget > 0 && self.config.endgame && self.is_endgame() {
            self.pick_endgame(&ctx, options.choked_with_allowed_fast, &mut budget, out);
        }
        self.settle();
        let picked = out.len() - before;
        self.count_requests(peer, picked);
        Ok(picked)
    }

    /// Free blocks of `slot`, in order, up to the budget.
    fn take_free(
        &mut self,
        ctx: &Peer<'_>,
        slot: u32,
        budget: &mut usize,
        out: &mut Vec<BlockRef>,
    ) {
        let d = &self.downloads.slots[slot as usize];
        let (before, num_blocks) = (d.num_free, d.num_blocks);
        for b in 0..num_blocks {
            if *budget == 0 {
                break;
            }
            if self.downloads.blocks(slot)[b as usize].state == Slot::Free {
                out.push(self.request(ctx.key, slot, b));
                *budget -= 1;
            }
        }
        self.blocks_changed(slot, before);
    }

    /// Free blocks of piece `p` (wanted, and the peer has it), starting it if it is new.
    fn take_piece(&mut self, ctx: &Peer<'_>, p: u32, budget: &mut usize, out: &mut Vec<BlockRef>) {
        let slot = match self.downloads.get(p) {
            Some(slot) if self.downloads.slots[slot as usize].num_free > 0 => slot,
            Some(_) => return,
            None => self.start_download(p),
        };
        self.take_free(ctx, slot, budget, out);
    }

    fn pick_deadlines(&mut self, ctx: &Peer<'_>, budget: &mut usize, out: &mut Vec<BlockRef>) {
        // `take_piece` never changes the deadline list.
        for i in 0..self.deadlines.len() {
            if *budget == 0 {
                return;
            }
            let p = self.deadlines[i].1;
            if self.pieces[p as usize].wanted() && ctx.has(p) {
                self.take_piece(ctx, p, budget, out);
            }
        }
    }

    fn pick_partials(
        &mut self,
        ctx: &Peer<'_>,
        level: u8,
        budget: &mut usize,
        out: &mut Vec<BlockRef>,
    ) {
        let mut i = 0;
        while i < self.downloads.partials.len() && *budget > 0 {
            let slot = self.downloads.partials[i];
            let p = self.downloads.slots[slot as usize].piece;
            let s = self.pieces[p as usize];
            if !s.wanted() || s.priority() != level || !ctx.has(p) {
                i += 1;
                continue;
            }
            self.take_free(ctx, slot, budget, out);
            // A piece with no free block left the list, and the last entry took its place.
            if self.downloads.slots[slot as usize].partial_idx != NONE {
                i += 1;
            }
        }
    }

    fn pick_new(&mut self, ctx: &Peer<'_>, level: u8, budget: &mut usize, out: &mut Vec<BlockRef>) {
        let level_len = self.levels[usize::from(level)].len() as u64;
        if self.sequential {
            self.pick_sequential(ctx, level, budget, out);
        } else if self.num_have < self.config.initial_random_pieces {
            self.pick_random(ctx, level, budget, out);
        } else if !ctx.seed && u64::from(ctx.pieces.count()) * SPARSE_FACTOR < level_len {
            self.pick_rarest_sparse(ctx, level, budget, out);
        } else {
            self.pick_rarest(ctx, level, budget, out);
        }
    }

    /// Lowest index first, from the cursor, a word of 64 pieces at a time.
    fn pick_sequential(
        &mut self,
        ctx: &Peer<'_>,
        level: u8,
        budget: &mut usize,
        out: &mut Vec<BlockRef>,
    ) {
        for w in (self.cursor / 64) as usize..self.want.num_words() {
            let word = ctx.word(w) & self.want.word(w) & !self.busy.word(w);
            for p in ones(w, word) {
                if self.pieces[p as usize].priority() == level {
                    self.take_piece(ctx, p, budget, out);
                    if *budget == 0 {
                        return;
                    }
                }
            }
        }
    }

    /// From a random piece on, wrapping around.
    fn pick_random(
        &mut self,
        ctx: &Peer<'_>,
        level: u8,
        budget: &mut usize,
        out: &mut Vec<BlockRef>,
    ) {
        let nw = self.want.num_words();
        let r = self.rng.below(self.geometry.num_pieces as usize);
        let (w0, first) = (r / 64, u64::MAX >> (r % 64));
        for step in 0..=nw {
            let w = (w0 + step) % nw;
            let mask = match step {
                0 => first,
                s if s == nw => !first,
                _ => u64::MAX,
            };
            let word = ctx.word(w) & self.want.word(w) & !self.busy.word(w) & mask;
            for p in ones(w, word) {
                if self.pieces[p as usize].priority() == level {
                    self.take_piece(ctx, p, budget, out);
                    if *budget == 0 {
                        return;
                    }
                }
            }
        }
    }

    /// Bucket by bucket from the rarest; each bucket from a random offset, wrapping around.
    /// A non-seed peer skips bucket 0: it has none of those pieces, or they would count it.
    fn pick_rarest(
        &mut self,
        ctx: &Peer<'_>,
        level: u8,
        budget: &mut usize,
        out: &mut Vec<BlockRef>,
    ) {
        let level = usize::from(level);
        // `take_piece` starts downloads; the levels change only when the pick settles.
        let first = self.levels[level]
            .first_bucket()
            .max(usize::from(!ctx.seed));
        for k in first..self.levels[level].num_buckets() {
            let range = self.levels[level].bucket(k);
            if range.is_empty() {
                continue;
            }
            let r = range.start + self.rng.below(range.len());
            // Pieces this pick started stay here until it ends: skipped on their busy bit.
            for i in (r..range.end).chain(range.start..r) {
                let p = self.levels[level].at(i);
                if !self.busy.get(p) && ctx.has(p) {
                    self.take_piece(ctx, p, budget, out);
                    if *budget == 0 {
                        return;
                    }
                }
            }
        }
    }

    /// For a peer with few pieces: its pieces that we want, word by word; the rarest of them,
    /// ties broken by reservoir sampling. One pass per piece taken.
    fn pick_rarest_sparse(
        &mut self,
        ctx: &Peer<'_>,
        level: u8,
        budget: &mut usize,
        out: &mut Vec<BlockRef>,
    ) {
        loop {
            let mut best: Option<(u32, u32)> = None;
            let mut ties = 0;
            let (pieces, rng) = (&self.pieces, &mut self.rng);
            for_each_common(ctx.pieces.as_bytes(), &self.want, &self.busy, |p| {
                let s = pieces[p as usize];
                if s.priority() != level {
                    return;
                }
                let a = s.avail();
                match best {
                    Some((b, _)) if a > b => {}
                    Some((b, _)) if a == b => {
                        ties += 1;
                        if rng.below(ties) == 0 {
                            best = Some((a, p));
                        }
                    }
                    _ => {
                        best = Some((a, p));
                        ties = 1;
                    }
                }
            });
            let Some((_, p)) = best else { return };
            // `p` was not busy: it is now, so the next pass finds another piece.
            self.take_piece(ctx, p, budget, out);
            if *budget == 0 {
                return;
            }
        }
    }

    /// Only the allowed-fast pieces, best first: deadline, priority, partial, rarity, index.
    /// O(allowed²) for the few pieces (BEP 6 suggests 10) of the set.
    fn pick_allowed_fast(
        &mut self,
        ctx: &Peer<'_>,
        allowed: &[PieceIndex],
        budget: &mut usize,
        out: &mut Vec<BlockRef>,
    ) {
        while *budget > 0 {
            let mut best = None;
            for &PieceIndex(p) in allowed {
                if p >= self.geometry.num_pieces {
                    continue;
                }
                let s = self.pieces[p as usize];
                if !s.wanted() || !ctx.has(p) {
                    continue;
                }
                let partial = match self.downloads.get(p) {
                    Some(slot) if self.downloads.slots[slot as usize].num_free == 0 => continue,
                    Some(_) => true,
                    None => false,
                };
                let deadline = self.deadline(PieceIndex(p));
                let key = (
                    deadline.is_none(),
                    deadline,
                    Reverse(s.priority()),
                    !partial,
                    s.avail(),
                    p,
                );
                if best.as_ref().is_none_or(|(k, _)| key < *k) {
                    best = Some((key, p));
                }
            }
            let Some((_, p)) = best else { return };
            self.take_piece(ctx, p, budget, out);
        }
    }

    /// Blocks in flight from other peers, those with fewest requesters first, up to
    /// [`Config::endgame_max_requesters`](crate::Config) per block.
    fn pick_endgame(
        &mut self,
        ctx: &Peer<'_>,
        allowed: Option<&[PieceIndex]>,
        budget: &mut usize,
        out: &mut Vec<BlockRef>,
    ) {
        for round in 1..self.config.endgame_max_requesters {
            for slot in 0..self.downloads.slots.len() as u32 {
                let d = &self.downloads.slots[slot as usize];
                let (p, num_blocks) = (d.piece, d.num_blocks);
                if p == NONE
                    || !self.pieces[p as usize].wanted()
                    || !ctx.has(p)
                    || allowed.is_some_and(|a| !a.contains(&PieceIndex(p)))
                {
                    continue;
                }
                for b in 0..num_blocks {
                    let block = self.downloads.blocks(slot)[b as usize];
                    if block.state == Slot::Requested
                        && block.requesters == round
                        && !self.downloads.is_requester(slot, b, ctx.key)
                    {
                        out.push(self.request(ctx.key, slot, b));
                        *budget -= 1;
                        if *budget == 0 {
                            return;
                        }
                    }
                }
            }
        }
    }
}

/// A peer with fewer than one piece in this many of a level is matched against the wanted
/// words instead of the buckets: scanning the buckets for its few pieces would take longer
/// (about `level / pieces` probes against `pieces / 64` word operations).
const SPARSE_FACTOR: u64 = 1024;
