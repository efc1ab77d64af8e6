//! The picker's state, its getters and every command except `pick` (in `pick.rs`).

use std::collections::HashMap;
use std::time::Duration;

use peer_wire::{Bitfield, BlockRef, Geometry, PieceIndex};

use crate::bookkeeping::{block_ref, for_each_set};
use crate::buckets::{Buckets, PieceState};
use crate::downloads::{Downloads, Slot};
use crate::util::{Bits, KeyBuild, Rng, wire_word};
use crate::{BLOCK_LEN, BlockState, Config, PeerKey, Priority, Received, UsageError};

/// Which blocks to request from which peer, for one torrent.
///
/// Performs no I/O and reads no clock; its only randomness comes from [`Config::rng_seed`].
///
/// Methods: (A) getters taking `&self`; (C) commands, which the swarm engine issues as the
/// network and the disk report: a peer's pieces ([`Picker::peer_joined`],
/// [`Picker::peer_have`], ...), blocks ([`Picker::block_received`],
/// [`Picker::request_dropped`]), hash results ([`Picker::piece_verified`],
/// [`Picker::piece_failed`]) and the user's wishes (priorities, deadlines, sequential mode).
/// [`Picker::pick`] is the output: call it whenever a peer that unchoked us (or that offers
/// allowed-fast pieces) has room for more requests. Any call order is valid; a caller bug is
/// a [`UsageError`] and changes nothing.
///
/// The caller owns each peer's bitfield (`peer_wire::Session::peer_pieces` keeps it) and
/// passes it where needed; the picker keeps per peer only whether it is a seed, how many
/// pieces it counted for it and how many blocks it has requested of it.
///
/// See the [crate docs](crate) for the algorithms, the costs and the invariants.
#[derive(Clone, Debug)]
pub struct Picker {
    pub(crate) config: Config,
    pub(crate) geometry: Geometry,
    pub(crate) pieces: Vec<PieceState>,
    /// The wanted pieces not in progress, by priority (index 1 to 7; level 0 stays empty).
    /// A piece in progress is out of its level, as libtorrent takes "full" pieces out of
    /// `m_pieces`: a pick never walks over the pieces everyone is busy with.
    pub(crate) levels: [Buckets; 8],
    /// Wanted pieces per priority, in progress or not.
    pub(crate) wanted: [u32; 8],
    /// The wanted pieces, as words the pick can AND with a peer's bitfield.
    pub(crate) want: Bits,
    /// The pieces with a download (some block requested or received).
    pub(crate) busy: Bits,
    /// Pieces a pick started, still in their level until the pick ends (so that the scan
    /// never sees its array move under it). Empty between calls.
    pub(crate) started: Vec<u32>,
    /// Peers with every piece, counted here instead of on each piece (libtorrent's `m_seeds`):
    /// a seed joining or leaving is O(1).
    pub(crate) seeds: u32,
    pub(crate) peers: HashMap<PeerKey, PeerRecord, KeyBuild>,
    pub(crate) downloads: Downloads,
    /// Pieces with a deadline, earliest first.
    pub(crate) deadlines: Vec<(Duration, u32)>,
    pub(crate) sequential: bool,
    pub(crate) num_have: u32,
    /// Every piece below is verified (libtorrent's `m_cursor`): where a sequential pick starts.
    pub(crate) cursor: u32,
    /// Wanted pieces with no free block (all requested or received): endgame when this is
    /// every wanted piece.
    pub(crate) saturated: u32,
    /// Bumped whenever a peer may find a block it could not before without gaining a piece:
    /// see [`Picker::generation`].
    pub(crate) supply: u64,
    pub(crate) rng: Rng,
    /// Reused by `block_received`.
    scratch: Vec<PeerKey>,
}

#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct PeerRecord {
    /// Counted in `seeds`, not on the pieces.
    pub(crate) seed: bool,
    /// Pieces counted on the pieces for this peer.
    pub(crate) count: u32,
    /// Blocks this peer is a requester of.
    pub(crate) requests: u32,
}

impl Picker {
    /// A picker for a torrent of `geometry`, with nothing verified, no peer, every piece at
    /// [`Priority::NORMAL`]. O(pieces).
    pub fn new(config: Config, geometry: Geometry) -> Result<Self, UsageError> {
        let n = geometry.num_pieces;
        if n > 0
            && (geometry.piece_length == 0
                || geometry.last_piece_length == 0
                || geometry.last_piece_length > geometry.piece_length)
        {
            return Err(UsageError::Geometry(geometry));
        }
        let blocks_per_piece = geometry.piece_length.div_ceil(BLOCK_LEN).max(1);
        let mut pieces = vec![PieceState::new(Priority::NORMAL.get()); n as usize];
        let mut levels: [Buckets; 8] = Default::default();
        levels[usize::from(Priority::NORMAL.get())].rebuild(&mut pieces, |_, _| true);
        let mut want = Bits::new(n);
        for p in 0..n {
            want.set(p, true);
        }
        let mut wanted = [0; 8];
        wanted[usize::from(Priority::NORMAL.get())] = n;
        Ok(Self {
            rng: Rng::new(config.rng_seed),
            config,
            geometry,
            pieces,
            levels,
            wanted,
            want,
            busy: Bits::new(n),
            started: Vec::new(),
            seeds: 0,
            peers: HashMap::default(),
            downloads: Downloads::new(blocks_per_piece),
            deadlines: Vec::new(),
            sequential: false,
            num_have: 0,
            cursor: 0,
            saturated: 0,
            supply: 0,
            scratch: Vec::new(),
        })
    }

    // (A) getters

    /// The settings.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The torrent's piece sizes.
    pub fn geometry(&self) -> Geometry {
        self.geometry
    }

    /// Number of pieces.
    pub fn num_pieces(&self) -> u32 {
        self.geometry.num_pieces
    }

    /// Whether `piece` is verified (`false` past the end).
    pub fn have(&self, piece: PieceIndex) -> bool {
        self.state(piece).is_some_and(|s| s.have())
    }

    /// How many connected peers have `piece`, seeds included (0 past the end).
    pub fn availability(&self, piece: PieceIndex) -> u32 {
        self.state(piece).map_or(0, |s| s.avail() + self.seeds)
    }

    /// The priority of `piece` ([`Priority::SKIP`] past the end).
    pub fn priority(&self, piece: PieceIndex) -> Priority {
        self.state(piece)
            .map_or(Priority::SKIP, |s| Priority(s.priority()))
    }

    /// The deadline of `piece`, if it has one.
    pub fn deadline(&self, piece: PieceIndex) -> Option<Duration> {
        self.deadlines
            .iter()
            .find(|&&(_, p)| p == piece.0)
            .map(|&(d, _)| d)
    }

    /// Whether `piece` is still to download: not verified, priority above 0.
    pub fn is_wanted(&self, piece: PieceIndex) -> bool {
        self.state(piece).is_some_and(|s| s.wanted())
    }

    /// Whether a peer with `pieces` has a piece we want (send `interested`). O(pieces / 64).
    pub fn is_interesting(&self, pieces: &Bitfield) -> bool {
        let bytes = pieces.as_bytes();
        (0..self.want.num_words()).any(|w| self.want.word(w) & wire_word(bytes, w) != 0)
    }

    /// Whether every piece is verified.
    pub fn is_complete(&self) -> bool {
        self.num_have == self.geometry.num_pieces
    }

    /// Number of verified pieces.
    pub fn num_have(&self) -> u32 {
        self.num_have
    }

    /// Number of pieces still to download (not verified, priority above 0); 0 means done.
    pub fn num_wanted(&self) -> u32 {
        self.wanted.iter().sum()
    }

    /// Number of seeds among the peers.
    pub fn num_seeds(&self) -> u32 {
        self.seeds
    }

    /// Number of peers.
    pub fn num_peers(&self) -> usize {
        self.peers.len()
    }

    /// Blocks requested of `peer` and not yet received or dropped; `None` for an unknown peer.
    pub fn num_requests(&self, peer: PeerKey) -> Option<u32> {
        self.peers.get(&peer).map(|r| r.requests)
    }

    /// Pieces with some block requested or received and not verified yet.
    pub fn num_in_progress(&self) -> usize {
        self.downloads.len()
    }

    /// Whether every block still wanted is requested or received, so that [`Picker::pick`]
    /// requests blocks already in flight again (when [`Config::endgame`] is on).
    pub fn is_endgame(&self) -> bool {
        let wanted = self.num_wanted();
        wanted > 0 && self.saturated == wanted
    }

    /// A number that changes whenever a pick that came up short for a peer (fewer blocks than
    /// asked for: the peer had nothing more we want) could return more with the peer's pieces
    /// and choke state unchanged: a block became free in a piece that had none, priorities,
    /// deadlines or the mode changed, or endgame began. While it stays the same, such a peer
    /// needs no new pick until it announces a piece (see [`Picker::is_pickable`]), unchokes us
    /// or its allowed-fast set grows. O(1).
    pub fn generation(&self) -> u64 {
        self.supply * 2 + u64::from(self.is_endgame())
    }

    /// Whether a pick could return a block of `piece` to some peer that has it: it is wanted
    /// and has a free block, or endgame is on. O(1); false for an index out of range.
    pub fn is_pickable(&self, piece: PieceIndex) -> bool {
        let p = piece.0;
        p < self.geometry.num_pieces
            && self.pieces[p as usize].wanted()
            && (!self.is_saturated(p) || self.is_endgame())
    }

    /// Whether sequential mode is on.
    pub fn is_sequential(&self) -> bool {
        self.sequential
    }

    /// Where `block` is; `None` if it is not one of this torrent's blocks.
    pub fn block_state(&self, block: BlockRef) -> Option<BlockState> {
        let (piece, b) = self.block_index(block).ok()?;
        if self.pieces[piece as usize].have() {
            return Some(BlockState::Verified);
        }
        let Some(slot) = self.downloads.get(piece) else {
            return Some(BlockState::Free);
        };
        let block = self.downloads.blocks(slot)[b as usize];
        Some(match block.state {
            Slot::Free => BlockState::Free,
            Slot::Requested => BlockState::Requested(block.requesters),
            Slot::Received => BlockState::Received,
        })
    }

    /// The peers `block` is requested from.
    pub fn requesters(&self, block: BlockRef) -> impl Iterator<Item = PeerKey> + '_ {
        let found = self
            .block_index(block)
            .ok()
            .and_then(|(piece, b)| Some((self.downloads.get(piece)?, b)));
        found
            .into_iter()
            .flat_map(|(slot, b)| self.downloads.requesters(slot, b))
    }

    /// The blocks of `piece`, in order (none past the end).
    pub fn piece_blocks(&self, piece: PieceIndex) -> impl Iterator<Item = BlockRef> + use<> {
        let n = if piece.0 < self.geometry.num_pieces {
            self.num_blocks(piece.0)
        } else {
            0
        };
        let geometry = self.geometry;
        (0..n).map(move |b| block_ref(geometry, piece.0, b))
    }

    /// The verified pieces, as a bitfield to announce. O(pieces).
    pub fn have_pieces(&self) -> Bitfield {
        let mut bits = Bitfield::new(self.geometry.num_pieces);
        for (p, s) in self.pieces.iter().enumerate() {
            if s.have() {
                bits.insert(PieceIndex(p as u32));
            }
        }
        bits
    }

    // (C) commands: peers

    /// A peer's pieces are known (its bitfield, or an empty one for `have none`). A full
    /// bitfield makes it a seed: O(1). Otherwise O(pieces / 8 + pieces it has).
    pub fn peer_joined(&mut self, peer: PeerKey, pieces: &Bitfield) -> Result<(), UsageError> {
        self.check_bitfield(pieces)?;
        if self.peers.contains_key(&peer) {
            return Err(UsageError::PeerExists(peer));
        }
        if pieces.is_full() && !pieces.is_empty() {
            return self.peer_has_all(peer);
        }
        self.peers.insert(
            peer,
            PeerRecord {
                count: pieces.count(),
                ..PeerRecord::default()
            },
        );
        for_each_set(pieces, |p| self.inc_avail(p));
        Ok(())
    }

    /// A peer has every piece (`have all`, BEP 6, or a full bitfield). O(1).
    pub fn peer_has_all(&mut self, peer: PeerKey) -> Result<(), UsageError> {
        if self.peers.contains_key(&peer) {
            return Err(UsageError::PeerExists(peer));
        }
        self.peers.insert(
            peer,
            PeerRecord {
                seed: true,
                count: self.geometry.num_pieces,
                requests: 0,
            },
        );
        self.seeds += 1;
        Ok(())
    }

    /// A peer announced a piece it did not have (call once per new piece, as
    /// `peer_wire::Event::Have` is emitted). O(1). Nothing to do for a seed.
    pub fn peer_have(&mut self, peer: PeerKey, piece: PieceIndex) -> Result<(), UsageError> {
        let p = self.check_piece(piece)?;
        let record = self
            .peers
            .get_mut(&peer)
            .ok_or(UsageError::UnknownPeer(peer))?;
        if record.seed {
            return Ok(());
        }
        record.count += 1;
        self.inc_avail(p);
        Ok(())
    }

    /// A peer no longer has a piece (BEP 54 `lt_donthave`). O(1), except that a seed first
    /// becomes an ordinary peer with every piece counted: O(pieces), once (libtorrent's
    /// `break_one_seed`). The picker does not keep bitfields, so it cannot tell which peers
    /// have a piece: call this only for a piece the peer had (the session's `DontHave` event
    /// is only emitted for those).
    pub fn peer_dont_have(&mut self, peer: PeerKey, piece: PieceIndex) -> Result<(), UsageError> {
        let p = self.check_piece(piece)?;
        let record = *self.peers.get(&peer).ok_or(UsageError::UnknownPeer(peer))?;
        if record.seed {
            self.break_seed(peer);
        } else if record.count == 0 || self.pieces[p as usize].avail() == 0 {
            return Err(UsageError::NotAnnounced { peer, piece });
        }
        if let Some(r) = self.peers.get_mut(&peer) {
            r.count -= 1;
        }
        self.dec_avail(p);
        Ok(())
    }

    /// A peer is gone; `pieces` is its bitfield as last known (ignored for a seed). Its
    /// requests are dropped: their blocks become free unless requested of others too.
    /// O(1) for a seed, O(pieces / 8 + pieces it has) otherwise, plus O(blocks in progress)
    /// if it had requests.
    pub fn peer_left(&mut self, peer: PeerKey, pieces: &Bitfield) -> Result<(), UsageError> {
        let record = *self.peers.get(&peer).ok_or(UsageError::UnknownPeer(peer))?;
        if !record.seed {
            self.check_bitfield(pieces)?;
            if pieces.count() != record.count {
                return Err(UsageError::BitfieldMismatch {
                    peer,
                    counted: record.count,
                    given: pieces.count(),
                });
            }
        }
        if record.requests > 0 {
            let active: Vec<u32> = self.downloads.active().collect();
            for slot in active {
                let before = self.downloads.slots[slot as usize].num_free;
                let num_blocks = self.downloads.slots[slot as usize].num_blocks;
                for b in 0..num_blocks {
                    if self.downloads.is_requester(slot, b, peer) {
                        self.downloads.drop_requester(slot, b, peer);
                    }
                }
                self.blocks_changed(slot, before);
            }
        }
        self.peers.remove(&peer);
        if record.seed {
            self.seeds -= 1;
        } else {
            for_each_set(pieces, |p| self.dec_avail(p));
        }
        Ok(())
    }

    // (C) commands: blocks

    /// A block arrived from `peer` (the session checked that we asked for it). Blocks are
    /// accepted whoever they were requested from, and even if the request was dropped.
    /// O(1), plus O(requesters) in endgame.
    pub fn block_received(
        &mut self,
        peer: PeerKey,
        block: BlockRef,
    ) -> Result<Received, UsageError> {
        let (piece, b) = self.block_index(block)?;
        if !self.peers.contains_key(&peer) {
            return Err(UsageError::UnknownPeer(peer));
        }
        if self.pieces[piece as usize].have() {
            return Ok(Received::default());
        }
        let slot = match self.downloads.get(piece) {
            Some(slot) => slot,
            None => {
                let slot = self.start_download(piece);
                self.settle();
                slot
            }
        };
        let before = self.downloads.slots[slot as usize].num_free;
        let mut cancel = Vec::new();
        let mut requesters = std::mem::take(&mut self.scratch);
        requesters.clear();
        let write = self
            .downloads
            .receive(slot, b, peer, &mut cancel, &mut requesters);
        for &r in &requesters {
            if let Some(record) = self.peers.get_mut(&r) {
                record.requests -= 1;
            }
        }
        self.scratch = requesters;
        let d = &self.downloads.slots[slot as usize];
        let piece_complete = (write && d.num_received == d.num_blocks).then_some(PieceIndex(piece));
        self.blocks_changed(slot, before);
        Ok(Received {
            write,
            cancel,
            piece_complete,
        })
    }

    /// A request of `peer` will not be answered: the peer rejected it (BEP 6), choked us
    /// without the fast extension, timed out, left; or we cancelled it. The block becomes free
    /// unless it is requested of others too. Returns whether `peer` was a requester. O(1).
    pub fn request_dropped(&mut self, peer: PeerKey, block: BlockRef) -> Result<bool, UsageError> {
        let (piece, b) = self.block_index(block)?;
        if !self.peers.contains_key(&peer) {
            return Err(UsageError::UnknownPeer(peer));
        }
        let Some(slot) = self.downloads.get(piece) else {
            return Ok(false);
        };
        if !self.downloads.is_requester(slot, b, peer) {
            return Ok(false);
        }
        let before = self.downloads.slots[slot as usize].num_free;
        self.downloads.drop_requester(slot, b, peer);
        if let Some(record) = self.peers.get_mut(&peer) {
            record.requests -= 1;
        }
        self.blocks_changed(slot, before);
        Ok(true)
    }

    // (C) commands: pieces

    /// `piece` passed its hash check, or was found on disk at startup: it is ours. Requests
    /// still out for it are forgotten (a late block is then `Received { write: false, .. }`).
    /// O(min(a - lo, A - a)) for availability `a`, lowest occupied bucket `lo` and `A` buckets
    /// (see the crate docs); at most the number of peers.
    pub fn piece_verified(&mut self, piece: PieceIndex) -> Result<(), UsageError> {
        let p = self.check_piece(piece)?;
        if self.pieces[p as usize].have() {
            return Ok(());
        }
        if let Some(slot) = self.downloads.get(p) {
            for b in 0..self.downloads.slots[slot as usize].num_blocks {
                let requesters: Vec<PeerKey> = self.downloads.requesters(slot, b).collect();
                for r in requesters {
                    if let Some(record) = self.peers.get_mut(&r) {
                        record.requests -= 1;
                    }
                }
            }
            // Closed while still wanted (for the counts); it does not go back to its level.
            self.end_download(slot);
        } else if self.in_level(p) {
            let s = self.pieces[p as usize];
            self.levels[usize::from(s.priority())].remove(&mut self.pieces, p, s.avail());
        }
        let s = self.pieces[p as usize];
        if s.wanted() {
            self.want.set(p, false);
            self.wanted[usize::from(s.priority())] -= 1;
        }
        self.pieces[p as usize].set_have();
        self.num_have += 1;
        self.deadlines.retain(|&(_, d)| d != p);
        while self.cursor < self.geometry.num_pieces && self.pieces[self.cursor as usize].have() {
            self.cursor += 1;
        }
        Ok(())
    }

    /// `piece` failed its hash check: every block becomes free again, and the peers that sent
    /// its blocks are returned (sorted, once each) so that the caller can score or ban them.
    pub fn piece_failed(&mut self, piece: PieceIndex) -> Result<Vec<PeerKey>, UsageError> {
        let p = self.check_piece(piece)?;
        let slot = self
            .downloads
            .get(p)
            .filter(|&s| {
                let d = &self.downloads.slots[s as usize];
                d.num_received == d.num_blocks
            })
            .ok_or(UsageError::PieceNotComplete(piece))?;
        let senders = self.downloads.reset(slot);
        self.blocks_changed(slot, 0);
        Ok(senders)
    }

    // (C) commands: what the user wants

    /// Sets one piece's priority. O(1) for a piece in progress or verified; otherwise it moves
    /// between levels in O(min(a - lo, A - a)) as for [`Picker::piece_verified`].
    pub fn set_piece_priority(
        &mut self,
        piece: PieceIndex,
        priority: Priority,
    ) -> Result<(), UsageError> {
        let p = self.check_piece(piece)?;
        self.supply += 1;
        let old = self.pieces[p as usize];
        if old.priority() == priority.get() {
            return Ok(());
        }
        let saturated = self.is_saturated(p);
        if saturated && old.wanted() {
            self.saturated -= 1;
        }
        if old.have() {
            self.pieces[p as usize].set_priority(priority.get());
            return Ok(());
        }
        self.set_wanted(p, false);
        self.pieces[p as usize].set_priority(priority.get());
        self.set_wanted(p, priority.get() > 0);
        if saturated && self.pieces[p as usize].wanted() {
            self.saturated += 1;
        }
        Ok(())
    }

    /// Sets every piece's priority (one per piece; see [`crate::piece_priorities`] to derive
    /// them from file priorities). Rebuilds the levels by counting sort: O(pieces + buckets).
    pub fn set_piece_priorities(&mut self, priorities: &[Priority]) -> Result<(), UsageError> {
        if priorities.len() != self.pieces.len() {
            return Err(UsageError::PriorityCount {
                len: priorities.len(),
                expected: self.geometry.num_pieces,
            });
        }
        self.supply += 1;
        for (s, prio) in self.pieces.iter_mut().zip(priorities) {
            s.set_priority(prio.get());
        }
        self.wanted = [0; 8];
        for p in 0..self.geometry.num_pieces {
            let s = self.pieces[p as usize];
            self.want.set(p, s.wanted());
            if s.wanted() {
                self.wanted[usize::from(s.priority())] += 1;
            }
        }
        self.rebuild_levels();
        self.saturated = self
            .downloads
            .active()
            .map(|slot| self.downloads.slots[slot as usize].piece)
            .filter(|&p| self.pieces[p as usize].wanted() && self.is_saturated(p))
            .count() as u32;
        Ok(())
    }

    /// Gives `piece` a deadline (streaming): pieces with one are picked before all others,
    /// earliest first; `None` removes it. A verified piece loses its deadline; priority 0
    /// still skips a piece. O(pieces with a deadline).
    pub fn set_deadline(
        &mut self,
        piece: PieceIndex,
        deadline: Option<Duration>,
    ) -> Result<(), UsageError> {
        let p = self.check_piece(piece)?;
        self.supply += 1;
        self.deadlines.retain(|&(_, d)| d != p);
        if let Some(at) = deadline
            && !self.pieces[p as usize].have()
        {
            let i = self.deadlines.partition_point(|&e| e < (at, p));
            self.deadlines.insert(i, (at, p));
        }
        Ok(())
    }

    /// Removes every deadline.
    pub fn clear_deadlines(&mut self) {
        self.supply += 1;
        self.deadlines.clear();
    }

    /// Sequential mode: new pieces in index order instead of rarest first (within a
    /// priority, after deadlines and partial pieces).
    pub fn set_sequential(&mut self, sequential: bool) {
        self.supply += 1;
        self.sequential = sequential;
    }

    /// Checks every invariant of the [crate docs](crate) that the picker can see on its own
    /// (not availability against the peers' bitfields, which the caller owns). O(pieces +
    /// blocks in progress); for tests and fuzzing.
    #[cfg(any(test, fuzzing, feature = "check-invariants"))]
    pub fn check_invariants(&self) -> Result<(), String> {
        crate::invariants::check(self)
    }
}
