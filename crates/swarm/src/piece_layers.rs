//! BEP 52 piece layers from peers: what a v2 magnet link needs after its info dictionary.
//!
//! A v2 torrent's `info` dictionary gives each file's `pieces root` (the root of a SHA-256
//! merkle tree over its 16 KiB blocks) but not the hash of each piece: those, the file's
//! "piece layer", are kept outside it (the `.torrent`'s `piece layers`). A file of at most one
//! piece is checked against its root; a longer one needs its piece layer, which a magnet user
//! asks of peers with BEP 52 `hash request` messages, checking each answer against the root.
//!
//! [`PieceLayersFetch`] does that; it performs no I/O, reads no clock and owns no connection:
//! the driver keeps one [`peer_wire::Session`] per peer, tells the fetch which peers may have
//! the layers (those that have the metadata) and passes on their `hashes` and `hash reject`
//! messages; it sends the requests the fetch hands back with
//! [`peer_wire::Session::send_hash_request`]. (The fetch has no hashes to give: the driver
//! answers the peers' own hash requests with rejects.) [`PieceLayers`] is the other side:
//! the piece layers of a torrent we have, answering such requests
//! ([`crate::Config::piece_layers`]).
//!
//! Methods: (A) getters taking `&self`; (B) `handle_*` for input from the network or clock;
//! (C) commands from the application; (D) `poll_*` for output. After any (B) or (C) call,
//! drain `poll_transmit`, then `poll_timeout`, then `poll_event`. Any call order is valid; an
//! extra `handle_timeout` is a no-op.
//!
//! ```text
//!  files longer than one piece ──▶ layers, each cut into chunks of ≤ 512 hashes (libtorrent's)
//!  chunk ──hash request (piece layer, index, length, every proof layer)──▶ a peer
//!      hashes ──▶ base hashes + uncles hash up to the pieces root? ──yes──▶ kept
//!                                                                └─no───▶ BadHashes(peer),
//!                                                                         peer forgotten
//!      reject / timeout / peer gone ──▶ the chunk is asked of another peer (the one that
//!                                       failed rests, then comes last)
//!  every chunk in ──▶ Done(layers)          deadline / give_up ──▶ Failed
//! ```
//!
//! Invariants:
//! - a layer holds only hashes that were proven, with their uncles, to its file's root; every
//!   layer in [`Event::Done`] hashes to its root;
//! - memory is fixed at [`PieceLayersFetch::new`]: one hash per piece of the files asked for
//!   (bounded by the torrent's piece count), and an answer is checked for its exact length
//!   before anything is copied from it;
//! - a chunk is missing, in flight with exactly one peer, or kept, and a kept chunk is never
//!   overwritten; only an answer to a request the peer was sent (and not yet answered) is read;
//! - nothing goes to a peer the fetch forgot, even if queued before;
//! - [`Event::Done`] or [`Event::Failed`] comes exactly once, then nothing more is sent.
//!
//! ```
//! use std::time::Instant;
//! use bytes::Bytes;
//! use swarm::PeerKey;
//! use swarm::piece_layers::{Config, Event, PieceLayers, PieceLayersFetch};
//! use torrent_format::merkle;
//!
//! // A file of 3 pieces of 16 KiB: its piece layer is its leaf layer.
//! let layer: Vec<[u8; 32]> = (0u8..3).map(|i| torrent_format::hash::sha256(&[i])).collect();
//! let root = merkle::root_from_piece_layer(&layer, 16384);
//! let seed = PieceLayers::new(16384, [(root, layer.clone())]);
//! # #[expect(clippy::disallowed_methods, reason = "a driver reads the clock")]
//! let now = Instant::now();
//! let mut fetch =
//!     PieceLayersFetch::for_files(Config::default(), 16384, [(root, 3 * 16384)], now).unwrap();
//! fetch.handle_peer_joined(now, PeerKey(0));
//! while let Some((peer, request)) = fetch.poll_transmit() {
//!     // session_of(peer).send_hash_request(request); here the seed answers at once:
//!     let hashes = seed.answer(&request).unwrap();
//!     fetch.handle_hashes(now, peer, &request, &hashes);
//! }
//! assert_eq!(fetch.poll_event(), Some(Event::Done { layers: vec![(root, layer)] }));
//! ```

mod proof;
mod serve;

use std::collections::{BTreeMap, BTreeSet, HashSet, VecDeque};
use std::time::{Duration, Instant};

use peer_wire::HashRequest;
use piece_picker::PeerKey;
use torrent_format::Metainfo;
use torrent_format::merkle::{self, BLOCK_SIZE};

pub use proof::{BadHashes, MAX_REQUEST_LENGTH, Unanswerable, uncle_count};
pub use serve::PieceLayers;

/// Settings of a [`PieceLayersFetch`]. [`Config::default`] gives libtorrent-like values.
#[derive(Clone, Debug)]
pub struct Config {
    /// A request not answered within this is asked of another peer.
    pub request_timeout: Duration,
    /// A peer that rejected a request, or let one time out, is asked nothing for this long
    /// (libtorrent asks again after 3 s).
    pub retry_backoff: Duration,
    /// Requests in flight to one peer (libtorrent keeps at most 2).
    pub requests_per_peer: usize,
    /// Hashes of the piece layer per request: a power of two from 2 to
    /// [`MAX_REQUEST_LENGTH`] (other values are rounded down into that range). libtorrent
    /// asks for 512 at a time.
    pub hashes_per_request: u32,
    /// Most hashes (pieces of the files asked for) a fetch holds; a torrent's piece count is
    /// already bounded by its parser (libtorrent's limit: 2^21).
    pub max_hashes: u32,
    /// Give up when the layers are not all in after this long (from
    /// [`PieceLayersFetch::new`]); `None`: never (the driver decides).
    pub timeout: Option<Duration>,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            request_timeout: Duration::from_secs(10),
            retry_backoff: Duration::from_secs(3),
            requests_per_peer: 2,
            hashes_per_request: MAX_REQUEST_LENGTH,
            max_hashes: 0x20_0000,
            timeout: None,
        }
    }
}

/// Something that happened, for the application.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// Every layer, as (`pieces root`, one hash per piece of the file), in the order the files
    /// were given (each root once). The fetch is over.
    Done {
        /// The layers.
        layers: Vec<([u8; 32], Vec<[u8; 32]>)>,
    },
    /// A peer answered with hashes that are not what it was asked for, or do not hash up to
    /// the file's root: the fetch forgot it (the driver may close the connection).
    BadHashes {
        /// The peer.
        peer: PeerKey,
        /// What was wrong.
        reason: BadHashes,
    },
    /// The fetch gave up. It is over.
    Failed {
        /// Why.
        reason: Failure,
    },
}

/// Why a fetch gave up.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Failure {
    /// No peer that may have the layers ever joined.
    #[error("no peer to ask for the piece layers")]
    NoPeers,
    /// [`Config::timeout`] passed first.
    #[error("timed out with {received} of {total} piece hashes")]
    TimedOut {
        /// Piece hashes received.
        received: u64,
        /// Piece hashes wanted.
        total: u64,
    },
    /// The application gave up ([`PieceLayersFetch::give_up`]).
    #[error("gave up with {received} of {total} piece hashes")]
    GaveUp {
        /// Piece hashes received.
        received: u64,
        /// Piece hashes wanted.
        total: u64,
    },
}

/// A command the fetch cannot carry out: a bug in the caller.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum UsageError {
    /// The piece length is not a power of two of at least 16 KiB (BEP 52).
    #[error("piece length is not a power of two of at least 16 KiB")]
    PieceLength,
    /// The files have more pieces than [`Config::max_hashes`].
    #[error("more than {limit} piece hashes to fetch")]
    TooManyHashes {
        /// [`Config::max_hashes`].
        limit: u32,
    },
}

/// Fetches the piece layers of a torrent's files from its peers. See the module docs.
#[derive(Debug)]
pub struct PieceLayersFetch {
    config: Config,
    layers: Vec<Layer>,
    /// The chunks in [`Slot::Missing`], in order.
    missing: BTreeSet<ChunkId>,
    /// Chunks kept, of `total_chunks`; piece hashes kept.
    kept_chunks: usize,
    total_chunks: usize,
    received: u64,
    peers: BTreeMap<PeerKey, Peer>,
    transmit: VecDeque<(PeerKey, HashRequest)>,
    events: VecDeque<Event>,
    deadline: Option<Instant>,
    /// A peer joined at some point.
    seen_peer: bool,
    finished: bool,
}

/// One file's layer being assembled.
#[derive(Debug)]
struct Layer {
    root: [u8; 32],
    /// Pieces of the file.
    pieces: u32,
    /// BEP 52 layer number of the piece layer, and of the root.
    base: u32,
    num_layers: u32,
    /// Hashes per chunk (the last chunk may be shorter, still a power of two of at least 2).
    chunk_len: u32,
    /// One per piece; meaningful where the chunk is [`Slot::Have`].
    hashes: Vec<[u8; 32]>,
    chunks: Vec<Slot>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Slot {
    /// Not requested; `avoid` rejected it or let it time out.
    Missing {
        avoid: Option<PeerKey>,
    },
    InFlight(PeerKey),
    Have,
}

/// (layer, chunk).
type ChunkId = (usize, u32);

#[derive(Debug, Default)]
struct Peer {
    /// Requests in flight and when they time out.
    in_flight: Vec<(ChunkId, Instant)>,
    /// Chunks it was asked for and has not answered (in flight or timed out): its answer to
    /// these is read.
    asked: Vec<ChunkId>,
    /// Asked nothing before this (after a reject or a timeout).
    resting_until: Option<Instant>,
    /// Requests it rejected or let time out since its last good answer.
    misses: u32,
}

impl PieceLayersFetch {
    /// A fetch of the piece layers a v2 torrent lacks: those of its files longer than one
    /// piece that it has no layer for. With none to fetch, [`Event::Done`] comes at once.
    pub fn new(config: Config, meta: &Metainfo, now: Instant) -> Result<Self, UsageError> {
        let files = (0..meta.num_files())
            .filter(|&i| meta.piece_layer(i).is_none())
            .filter_map(|i| meta.file(i))
            .filter(|f| !f.attributes.pad)
            .filter_map(|f| Some((f.pieces_root?, f.size)));
        Self::for_files(config, meta.piece_length(), files, now)
    }

    /// A fetch of the piece layers of these files, as (`pieces root`, size in bytes); files of
    /// at most one piece need none and are skipped, and a root given twice is fetched once.
    pub fn for_files(
        config: Config,
        piece_length: u64,
        files: impl IntoIterator<Item = ([u8; 32], u64)>,
        now: Instant,
    ) -> Result<Self, UsageError> {
        if piece_length < BLOCK_SIZE || !piece_length.is_power_of_two() {
            return Err(UsageError::PieceLength);
        }
        let base = (piece_length / BLOCK_SIZE).trailing_zeros();
        // The largest power of two in [2, 512] not above the setting.
        let wanted = config.hashes_per_request.clamp(2, MAX_REQUEST_LENGTH);
        let per_request = 1u32 << (31 - wanted.leading_zeros());
        let mut layers: Vec<Layer> = Vec::new();
        let mut roots: HashSet<[u8; 32]> = HashSet::new();
        let mut total: u64 = 0;
        for (root, size) in files {
            if size <= piece_length || !roots.insert(root) {
                continue;
            }
            let pieces = size.div_ceil(piece_length);
            total += pieces;
            if total > u64::from(config.max_hashes) {
                return Err(UsageError::TooManyHashes {
                    limit: config.max_hashes,
                });
            }
            // At most `max_hashes` (a u32).
            let pieces = pieces as u32;
            let width = pieces.next_power_of_two();
            let chunk_len = per_request.min(width);
            let height = width.trailing_zeros();
            layers.push(Layer {
                root,
                pieces,
                base,
                num_layers: base + height,
                chunk_len,
                hashes: vec![[0; 32]; pieces as usize],
                chunks: vec![Slot::Missing { avoid: None }; pieces.div_ceil(chunk_len) as usize],
            });
        }
        let missing: BTreeSet<ChunkId> = layers
            .iter()
            .enumerate()
            .flat_map(|(i, l)| (0..l.chunks.len() as u32).map(move |c| (i, c)))
            .collect();
        let mut fetch = Self {
            deadline: config.timeout.map(|t| now + t),
            config,
            layers,
            total_chunks: missing.len(),
            missing,
            kept_chunks: 0,
            received: 0,
            peers: BTreeMap::new(),
            transmit: VecDeque::new(),
            events: VecDeque::new(),
            seen_peer: false,
            finished: false,
        };
        fetch.check_done();
        Ok(fetch)
    }

    // (A) getters

    /// Piece hashes received and wanted, over all layers.
    pub fn progress(&self) -> (u64, u64) {
        let total = self.layers.iter().map(|l| u64::from(l.pieces)).sum();
        (self.received, total)
    }

    /// Layers to fetch (files longer than one piece, distinct roots).
    pub fn num_layers(&self) -> usize {
        self.layers.len()
    }

    /// Peers the fetch may ask.
    pub fn num_peers(&self) -> usize {
        self.peers.len()
    }

    /// Whether [`Event::Done`] or [`Event::Failed`] has been reported.
    pub fn is_finished(&self) -> bool {
        self.finished
    }

    // (B) input

    /// A peer that may have the layers (it has the torrent's metadata): it is asked.
    pub fn handle_peer_joined(&mut self, now: Instant, peer: PeerKey) {
        if self.finished {
            return;
        }
        self.seen_peer = true;
        self.peers.entry(peer).or_default();
        self.schedule(now);
    }

    /// A `hashes` message from a peer. Read only if it answers a request the peer was sent;
    /// hashes that do not prove to the file's root drop the peer ([`Event::BadHashes`]).
    pub fn handle_hashes(
        &mut self,
        now: Instant,
        peer: PeerKey,
        request: &HashRequest,
        hashes: &[u8],
    ) {
        if self.finished {
            return;
        }
        let Some(id) = self.asked_chunk(peer, request) else {
            // Unsolicited, or an answer already taken: dropped.
            return;
        };
        let layer = &self.layers[id.0];
        match proof::verify(&layer.root, layer.num_layers, request, hashes) {
            Ok(base) => {
                let p = self
                    .peers
                    .get_mut(&peer)
                    .expect("asked_chunk found the peer");
                p.asked.retain(|&a| a != id);
                p.in_flight.retain(|&(a, _)| a != id);
                p.misses = 0;
                self.store(id, peer, &base);
                self.check_done();
            }
            Err(reason) => {
                self.drop_peer(peer);
                self.events.push_back(Event::BadHashes { peer, reason });
            }
        }
        self.schedule(now);
    }

    /// A `hash reject` from a peer: what it was asked goes to another peer, and it rests.
    pub fn handle_hash_reject(&mut self, now: Instant, peer: PeerKey, request: &HashRequest) {
        if self.finished {
            return;
        }
        if let Some(id) = self.asked_chunk(peer, request) {
            let p = self
                .peers
                .get_mut(&peer)
                .expect("asked_chunk found the peer");
            p.asked.retain(|&a| a != id);
            p.in_flight.retain(|&(a, _)| a != id);
            p.resting_until = Some(now + self.config.retry_backoff);
            p.misses += 1;
            self.release(peer, [id], Some(peer));
        }
        self.schedule(now);
    }

    /// The connection to a peer ended: what it was asked is asked of others.
    pub fn handle_peer_left(&mut self, now: Instant, peer: PeerKey) {
        if self.finished {
            return;
        }
        self.drop_peer(peer);
        self.schedule(now);
    }

    /// Fires whatever timer is due: requests that timed out go to other peers; past
    /// [`Config::timeout`], the fetch fails.
    pub fn handle_timeout(&mut self, now: Instant) {
        if self.finished {
            return;
        }
        if self.deadline.is_some_and(|d| now >= d) {
            let (received, total) = self.progress();
            return self.fail(self.stalled(Failure::TimedOut { received, total }));
        }
        let mut expired = Vec::new();
        let clock = (now, self.config.retry_backoff);
        for (&key, p) in &mut self.peers {
            crate::late::expire_late(
                &mut p.in_flight,
                &mut p.resting_until,
                &mut p.misses,
                clock,
                |id| expired.push((key, id)),
            );
        }
        for (key, id) in expired {
            self.release(key, [id], Some(key));
        }
        self.schedule(now);
    }

    // (C) commands

    /// Gives up now (the driver has no more peers to try): [`Event::Failed`].
    pub fn give_up(&mut self) {
        if !self.finished {
            let (received, total) = self.progress();
            self.fail(self.stalled(Failure::GaveUp { received, total }));
        }
    }

    // (D) output

    /// The next hash request to send, and to whom (with
    /// [`peer_wire::Session::send_hash_request`]; if that fails, report
    /// [`PieceLayersFetch::handle_peer_left`]).
    #[must_use]
    pub fn poll_transmit(&mut self) -> Option<(PeerKey, HashRequest)> {
        self.transmit.pop_front()
    }

    /// When [`PieceLayersFetch::handle_timeout`] should next be called.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        if self.finished {
            return None;
        }
        let peers = self
            .peers
            .values()
            .flat_map(|p| p.in_flight.iter().map(|&(_, t)| t).chain(p.resting_until));
        peers.chain(self.deadline).min()
    }

    /// The next event.
    #[must_use]
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    // private

    /// The chunk `request` asks for, if `peer` was asked it and has not answered.
    fn asked_chunk(&self, peer: PeerKey, request: &HashRequest) -> Option<ChunkId> {
        let p = self.peers.get(&peer)?;
        p.asked
            .iter()
            .copied()
            .find(|&id| self.request_for(id) == *request)
    }

    fn request_for(&self, (layer, chunk): ChunkId) -> HashRequest {
        let l = &self.layers[layer];
        let range = l.chunk_range(chunk);
        let length = l.request_len(chunk);
        HashRequest {
            pieces_root: l.root,
            base_layer: l.base,
            index: range.start,
            length,
            // Every proof layer up to the root: the answer proves itself.
            proof_layers: l.num_layers - l.base - 1,
        }
    }

    /// Keeps a chunk's proven hashes (unless it is kept already).
    fn store(&mut self, (layer, chunk): ChunkId, peer: PeerKey, base: &[[u8; 32]]) {
        let l = &mut self.layers[layer];
        match l.chunks[chunk as usize] {
            Slot::Have => return,
            Slot::InFlight(other) if other != peer => {
                // A late answer beat the peer asked since: that one is asked nothing more.
                if let Some(o) = self.peers.get_mut(&other) {
                    o.in_flight.retain(|&(a, _)| a != (layer, chunk));
                    o.asked.retain(|&a| a != (layer, chunk));
                }
            }
            _ => {}
        }
        let range = l.chunk_range(chunk);
        let (start, end) = (range.start as usize, range.end as usize);
        // The rest of `base` is padding, proven with the others.
        l.hashes[start..end].copy_from_slice(&base[..end - start]);
        l.chunks[chunk as usize] = Slot::Have;
        self.missing.remove(&(layer, chunk));
        self.kept_chunks += 1;
        self.received += u64::from(range.end - range.start);
    }

    /// Reports [`Event::Done`] once every chunk is kept.
    fn check_done(&mut self) {
        if self.finished || self.kept_chunks < self.total_chunks {
            return;
        }
        // Each chunk was proven to its root; the whole layer is checked once more all the
        // same, as the parser checks the layers of a `.torrent`. (A layer that failed would be
        // fetched again.)
        for (i, layer) in self.layers.iter_mut().enumerate() {
            let piece_length = BLOCK_SIZE << layer.base;
            if merkle::root_from_piece_layer(&layer.hashes, piece_length) != layer.root {
                layer.chunks.fill(Slot::Missing { avoid: None });
                self.kept_chunks -= layer.chunks.len();
                self.received -= u64::from(layer.pieces);
                self.missing
                    .extend((0..layer.chunks.len() as u32).map(|c| (i, c)));
            }
        }
        if self.kept_chunks < self.total_chunks {
            return;
        }
        self.finished = true;
        self.transmit.clear();
        let layers = std::mem::take(&mut self.layers)
            .into_iter()
            .map(|l| (l.root, l.hashes))
            .collect();
        self.events.push_back(Event::Done { layers });
    }

    /// Gives each missing chunk to a peer that may take it: not resting, with room in its
    /// pipeline; one that did not fail it, that answers, with the fewest requests, first.
    fn schedule(&mut self, now: Instant) {
        if self.finished {
            return;
        }
        let mut given = Vec::new();
        for &(layer, chunk) in &self.missing {
            let Slot::Missing { avoid } = self.layers[layer].chunks[chunk as usize] else {
                continue;
            };
            let pick = self
                .peers
                .iter()
                .filter(|(_, p)| {
                    p.resting_until.is_none() && p.in_flight.len() < self.config.requests_per_peer
                })
                .min_by_key(|&(&key, p)| (Some(key) == avoid, p.misses, p.in_flight.len(), key))
                .map(|(&key, _)| key);
            let Some(key) = pick else {
                break;
            };
            let id = (layer, chunk);
            let p = self.peers.get_mut(&key).expect("picked from the map");
            p.in_flight.push((id, now + self.config.request_timeout));
            if !p.asked.contains(&id) {
                p.asked.push(id);
            }
            self.layers[layer].chunks[chunk as usize] = Slot::InFlight(key);
            given.push((key, id));
        }
        for (key, id) in given {
            self.missing.remove(&id);
            let request = self.request_for(id);
            self.transmit.push_back((key, request));
        }
    }

    /// Forgets a peer; what it had in flight goes back.
    fn drop_peer(&mut self, peer: PeerKey) {
        if let Some(p) = self.peers.remove(&peer) {
            self.release(peer, p.in_flight.iter().map(|&(id, _)| id), Some(peer));
        }
        // Nothing goes to a peer the fetch has forgotten.
        self.transmit.retain(|(to, _)| *to != peer);
    }

    /// Chunks `peer` had in flight are missing again.
    fn release(
        &mut self,
        peer: PeerKey,
        ids: impl IntoIterator<Item = ChunkId>,
        avoid: Option<PeerKey>,
    ) {
        for (layer, chunk) in ids {
            if let Some(slot) = self
                .layers
                .get_mut(layer)
                .and_then(|l| l.chunks.get_mut(chunk as usize))
                && *slot == Slot::InFlight(peer)
            {
                *slot = Slot::Missing { avoid };
                self.missing.insert((layer, chunk));
            }
        }
    }

    /// Why the fetch stalled: nobody to ask, or `other`.
    fn stalled(&self, other: Failure) -> Failure {
        if self.seen_peer {
            other
        } else {
            Failure::NoPeers
        }
    }

    fn fail(&mut self, reason: Failure) {
        self.finished = true;
        self.transmit.clear();
        self.events.push_back(Event::Failed { reason });
    }
}

impl Layer {
    /// The pieces a chunk covers (without padding).
    fn chunk_range(&self, chunk: u32) -> std::ops::Range<u32> {
        let start = chunk * self.chunk_len;
        start..(start + self.chunk_len).min(self.pieces)
    }

    /// Hashes a chunk's request asks for: the chunk length, or for a last chunk that is
    /// shorter, its pieces rounded up to a power of two of at least 2 (BEP 52: "Length MUST
    /// be equal-to-or-greater-than two and a power of two"); the rest is padding.
    fn request_len(&self, chunk: u32) -> u32 {
        let range = self.chunk_range(chunk);
        // `chunk_len` is a power of two of at least 2 (`for_files`).
        (range.end - range.start)
            .next_power_of_two()
            .clamp(2, self.chunk_len)
    }
}

#[cfg(test)]
mod tests;
