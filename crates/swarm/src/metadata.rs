//! Fetching a torrent's info dictionary from peers (BEP 9, ut_metadata): what a magnet link
//! needs before anything else can start.
//!
//! [`MetadataFetch`] performs no I/O and reads no clock, and owns no connection: the driver
//! keeps one [`peer_wire::Session`] per peer (made with [`peer_wire::Session::without_geometry`])
//! and passes on what the sessions report, the peers' extended handshakes and ut_metadata
//! messages; it sends the messages the fetch hands back with
//! [`peer_wire::Session::send_metadata`].
//!
//! Methods: (A) getters taking `&self`; (B) `handle_*` for input from the network or clock;
//! (C) commands from the application; (D) `poll_*` for output. After any (B) or (C) call,
//! drain `poll_transmit`, then `poll_timeout`, then `poll_event`. Any call order is valid; an
//! extra `handle_timeout` is a no-op.
//!
//! ```text
//!  extended handshakes ──▶ peers (ut_metadata? metadata_size ≤ limit?) ──▶ attempt of one size
//!  attempt: 16 KiB pieces ──request──▶ peers, spread, a few in flight each
//!       data ──▶ copied in place       reject / timeout / peer gone ──▶ asked again elsewhere
//!  every piece in ──▶ SHA-1 (v1) / SHA-256 (v2) of the whole ──▶ match: Done(bytes)
//!                                                            └─▶ mismatch: contributors get a
//!                                                                strike, a new attempt starts
//! ```
//!
//! Choosing whom to ask. An attempt fetches a dictionary of one size: the size most of the
//! least-struck peers announced (`metadata_size`; a peer that announced none is probed with
//! piece 0, whose reply carries `total_size`). While peers without strikes are available
//! (not resting after a reject or a timeout, and answering: peers that rejected or let a
//! request time out since their last data come last), the pieces are spread over them;
//! otherwise the least-struck available peer is asked alone, so that a failure then has a
//! single culprit.
//! So an honest peer gets a strike only for an attempt it shared with a liar, and once it
//! has one, liars have to fail alone to stay ahead of it. Nobody is banned here: the
//! contributors of a failed attempt are reported ([`Event::HashMismatch`]) for the driver to
//! judge.
//!
//! Invariants:
//! - nothing is allocated for a dictionary before its size is checked against
//!   [`Config::max_size`], and then exactly that size;
//! - [`MetadataFetch::poll_transmit`] hands out nothing for a peer that left or was reported
//!   unusable, even if it was queued before;
//! - a piece slot is missing, in flight with exactly one peer, or received from one peer, and
//!   a received piece is never overwritten;
//! - only data a peer was asked for in the current attempt, of the attempt's size and of the
//!   piece's BEP 9 length, is taken;
//! - [`Event::Done`] carries bytes whose hashes equal every info-hash given, and [`Event::Done`]
//!   or [`Event::Failed`] comes exactly once, after which nothing more is sent or reported
//!   (but rejects of the peers' own requests).
//!
//! ```
//! use std::time::Instant;
//! use bytes::Bytes;
//! use peer_wire::extended::{ExtendedHandshake, Metadata};
//! use swarm::PeerKey;
//! use swarm::metadata::{Config, Event, MetadataFetch};
//! use torrent_format::{InfoHashV1, InfoHashes};
//!
//! let info = b"d4:name5:hello12:piece lengthi16384ee";
//! let hashes = InfoHashes { v1: Some(InfoHashV1(torrent_format::hash::sha1(info))), v2: None };
//! # #[expect(clippy::disallowed_methods, reason = "a driver reads the clock")]
//! let now = Instant::now();
//! let mut fetch = MetadataFetch::new(Config::default(), hashes, now).unwrap();
//! // A session reported its peer's extended handshake.
//! let peer = PeerKey(0);
//! fetch.handle_extended_handshake(now, peer, &ExtendedHandshake {
//!     extensions: vec![("ut_metadata".into(), 3)],
//!     metadata_size: Some(info.len() as u32),
//!     ..ExtendedHandshake::default()
//! });
//! while let Some((to, message)) = fetch.poll_transmit() {
//!     // session_of(to).send_metadata(&message); here the peer answers at once:
//!     let Metadata::Request { piece } = message else { unreachable!() };
//!     let data = Metadata::Data { piece, total_size: info.len() as u32,
//!                                 data: Bytes::from_static(info) };
//!     fetch.handle_metadata(now, to, &data);
//! }
//! assert_eq!(fetch.poll_event(), Some(Event::Done(Bytes::from_static(info))));
//! ```

use std::collections::{BTreeMap, VecDeque};
use std::time::{Duration, Instant};

use bytes::Bytes;
use peer_wire::extended::{ExtendedHandshake, METADATA_PIECE_LEN, Metadata, name};
use piece_picker::PeerKey;
use torrent_format::InfoHashes;

mod events;

pub use events::{Event, Failure, Unusable, UsageError};

/// Settings of a [`MetadataFetch`]. [`Config::default`] gives libtorrent-like limits.
#[derive(Clone, Debug)]
pub struct Config {
    /// Largest info dictionary accepted (libtorrent: 30 MiB). A peer that announces more is
    /// of no use; nothing is allocated for it.
    pub max_size: u32,
    /// A request not answered within this is asked of another peer.
    pub request_timeout: Duration,
    /// A peer that rejected a request, or let one time out, is asked nothing for this long.
    pub retry_backoff: Duration,
    /// Requests in flight to one peer.
    pub requests_per_peer: usize,
    /// Give up after this many assembled dictionaries failed their hash check.
    pub max_hash_failures: u32,
    /// Give up when the dictionary is not in after this long (from [`MetadataFetch::new`]);
    /// `None`: never (the driver decides).
    pub timeout: Option<Duration>,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            max_size: 30 << 20,
            request_timeout: Duration::from_secs(10),
            retry_backoff: Duration::from_secs(5),
            requests_per_peer: 4,
            max_hash_failures: 8,
            timeout: None,
        }
    }
}

/// Fetches one torrent's info dictionary from its peers. See the module docs.
#[derive(Debug)]
pub struct MetadataFetch {
    config: Config,
    hashes: InfoHashes,
    peers: BTreeMap<PeerKey, Peer>,
    attempt: Option<Attempt>,
    hash_failures: u32,
    deadline: Option<Instant>,
    transmit: VecDeque<(PeerKey, Metadata)>,
    events: VecDeque<Event>,
    finished: bool,
    /// A peer offered ut_metadata with an acceptable (or unknown) size.
    seen_offer: bool,
    /// The largest size over the limit a peer gave.
    too_large: Option<u32>,
}

#[derive(Debug, Default)]
struct Peer {
    /// `metadata_size` from its extended handshake, or `total_size` from its data.
    size: Option<u32>,
    /// Requests in flight: the piece and when it times out.
    in_flight: Vec<(u32, Instant)>,
    /// Pieces of the current attempt asked of it and not answered (in flight or timed out):
    /// its data for these is taken. A piece at most once.
    asked: Vec<u32>,
    /// Asked nothing before this (after a reject or a timeout).
    resting_until: Option<Instant>,
    /// Failed attempts it sent pieces of.
    strikes: u32,
    /// Requests it rejected or let time out since its last data.
    misses: u32,
}

/// One dictionary being assembled.
#[derive(Debug)]
struct Attempt {
    size: u32,
    /// `size` bytes.
    buf: Vec<u8>,
    slots: Vec<Slot>,
    received: u32,
    /// When every available peer has strikes: the one peer asked (see `check_attempt`).
    only: Option<PeerKey>,
    /// Only peers without misses are asked (some are available).
    responsive_only: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Slot {
    /// Not requested; `avoid` rejected it or let it time out.
    Missing {
        avoid: Option<PeerKey>,
    },
    InFlight(PeerKey),
    Have(PeerKey),
}

impl MetadataFetch {
    /// A fetch of the dictionary with these info-hashes: on the wire the v1 one, or the v2
    /// one truncated; each one given is checked (SHA-1 and SHA-256 of the whole dictionary).
    pub fn new(config: Config, hashes: InfoHashes, now: Instant) -> Result<Self, UsageError> {
        if hashes.v1.is_none() && hashes.v2.is_none() {
            return Err(UsageError::NoInfoHash);
        }
        Ok(Self {
            deadline: config.timeout.map(|t| now + t),
            config,
            hashes,
            peers: BTreeMap::new(),
            attempt: None,
            hash_failures: 0,
            transmit: VecDeque::new(),
            events: VecDeque::new(),
            finished: false,
            seen_offer: false,
            too_large: None,
        })
    }

    // (A) getters

    /// The 20 bytes of the handshake: the v1 info-hash, or the v2 one truncated (BEP 52).
    pub fn info_hash(&self) -> [u8; 20] {
        match (self.hashes.v1, self.hashes.v2) {
            (Some(v1), _) => v1.0,
            (None, Some(v2)) => v2.truncated(),
            // `new` refuses neither.
            (None, None) => [0; 20],
        }
    }

    /// The size of the dictionary being assembled, once chosen.
    pub fn size(&self) -> Option<u32> {
        self.attempt.as_ref().map(|a| a.size)
    }

    /// Pieces of the current attempt received, and in it (0 and 0 before a size is chosen).
    pub fn progress(&self) -> (u32, u32) {
        self.attempt
            .as_ref()
            .map_or((0, 0), |a| (a.received, slot_count(a.size)))
    }

    /// Assembled dictionaries that failed their hash check so far.
    pub fn hash_failures(&self) -> u32 {
        self.hash_failures
    }

    /// A peer's strikes (failed attempts it sent pieces of); `None` for a peer the fetch does
    /// not know.
    pub fn strikes(&self, peer: PeerKey) -> Option<u32> {
        self.peers.get(&peer).map(|p| p.strikes)
    }

    /// Peers that offer the dictionary.
    pub fn num_peers(&self) -> usize {
        self.peers.len()
    }

    /// Whether [`Event::Done`] or [`Event::Failed`] has been reported.
    pub fn is_finished(&self) -> bool {
        self.finished
    }

    // (B) input

    /// A peer's extended handshake (BEP 10; a later one updates the first). A peer that
    /// offers no ut_metadata, or a dictionary over the limit, is reported
    /// [`Event::Unusable`] and forgotten.
    pub fn handle_extended_handshake(
        &mut self,
        now: Instant,
        peer: PeerKey,
        handshake: &ExtendedHandshake,
    ) {
        if self.finished {
            return;
        }
        let reason = if handshake.extension_id(name::UT_METADATA).is_none() {
            Some(Unusable::NoMetadataExtension)
        } else {
            handshake
                .metadata_size
                .filter(|&size| size > self.config.max_size)
                .map(|size| Unusable::TooLarge { size })
        };
        if let Some(reason) = reason {
            self.drop_peer(peer, Some(reason));
        } else {
            self.seen_offer = true;
            // 0 is no dictionary at all: as good as unknown (a probe will tell).
            let size = handshake.metadata_size.filter(|&s| s > 0);
            let p = self.peers.entry(peer).or_default();
            if let Some(size) = size
                && p.size != Some(size)
            {
                p.size = Some(size);
                // What it was asked may no longer be what it answers.
                let lost = std::mem::take(&mut p.in_flight);
                p.asked.clear();
                self.release(peer, lost.iter().map(|&(piece, _)| piece), None);
            }
        }
        self.schedule(now);
    }

    /// A ut_metadata message from a peer. Its requests are rejected (we have nothing to
    /// serve); its data is taken only if it was asked for in the current attempt.
    pub fn handle_metadata(&mut self, now: Instant, peer: PeerKey, message: &Metadata) {
        match message {
            // BEP 9: "If the peer doesn't have the metadata it must respond with reject".
            Metadata::Request { piece } => self
                .transmit
                .push_back((peer, Metadata::Reject { piece: *piece })),
            _ if self.finished => {}
            Metadata::Data {
                piece,
                total_size,
                data,
            } => self.on_data(now, peer, *piece, *total_size, data),
            Metadata::Reject { piece } => {
                let Some(p) = self.peers.get_mut(&peer) else {
                    return;
                };
                if let Some(i) = p.asked.iter().position(|&a| a == *piece) {
                    p.asked.swap_remove(i);
                    p.in_flight.retain(|&(a, _)| a != *piece);
                    p.resting_until = Some(now + self.config.retry_backoff);
                    p.misses += 1;
                    self.release(peer, [*piece], Some(peer));
                }
            }
            // BEP 9: unknown message types are ignored.
            Metadata::Unknown { .. } => {}
        }
        self.schedule(now);
    }

    /// The connection to a peer ended: what it was asked is asked of others.
    pub fn handle_peer_left(&mut self, now: Instant, peer: PeerKey) {
        if self.finished {
            return;
        }
        self.drop_peer(peer, None);
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
            let reason = self.stalled_reason(Failure::TimedOut { received, total });
            return self.fail(reason);
        }
        let mut expired = Vec::new();
        let clock = (now, self.config.retry_backoff);
        for (&key, p) in &mut self.peers {
            crate::late::expire_late(
                &mut p.in_flight,
                &mut p.resting_until,
                &mut p.misses,
                clock,
                |piece| expired.push((key, piece)),
            );
        }
        for (key, piece) in expired {
            self.release(key, [piece], Some(key));
        }
        self.schedule(now);
    }

    // (C) commands

    /// Gives up now (the driver has no more peers to try): [`Event::Failed`].
    pub fn give_up(&mut self) {
        if !self.finished {
            let (received, total) = self.progress();
            let reason = self.stalled_reason(Failure::GaveUp { received, total });
            self.fail(reason);
        }
    }

    // (D) output

    /// The next ut_metadata message to send, and to whom (with
    /// [`peer_wire::Session::send_metadata`]; if that fails, report
    /// [`MetadataFetch::handle_peer_left`]).
    #[must_use]
    pub fn poll_transmit(&mut self) -> Option<(PeerKey, Metadata)> {
        self.transmit.pop_front()
    }

    /// When [`MetadataFetch::handle_timeout`] should next be called.
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

    fn on_data(&mut self, now: Instant, peer: PeerKey, piece: u32, total_size: u32, data: &Bytes) {
        let Some(p) = self.peers.get_mut(&peer) else {
            return;
        };
        let Some(i) = p.asked.iter().position(|&a| a == piece) else {
            // Not asked (or already answered): dropped.
            return;
        };
        p.asked.swap_remove(i);
        p.in_flight.retain(|&(a, _)| a != piece);
        p.misses = 0;
        if total_size > self.config.max_size {
            self.release(peer, [piece], None);
            return self.drop_peer(peer, Some(Unusable::TooLarge { size: total_size }));
        }
        if total_size > 0 {
            // A probe's answer tells a peer's size (and a liar's true colours).
            p.size = Some(total_size);
        }
        if !self.store(peer, piece, total_size, data) {
            // Not taken: the piece is asked of another peer.
            self.release(peer, [piece], Some(peer));
        }
        if let Some(attempt) = &self.attempt {
            if attempt.size != total_size
                && let Some(p) = self.peers.get_mut(&peer)
            {
                // It serves another dictionary: what else it was asked is asked elsewhere.
                let lost = std::mem::take(&mut p.in_flight);
                self.release(peer, lost.iter().map(|&(piece, _)| piece), Some(peer));
            } else if attempt.received == slot_count(attempt.size) {
                self.verify(now);
            }
        }
    }

    /// Copies a piece into the attempt (starting one if there is none); whether it was taken.
    fn store(&mut self, peer: PeerKey, piece: u32, total_size: u32, data: &Bytes) -> bool {
        if total_size == 0 {
            return false;
        }
        if self.attempt.is_none() {
            self.start_attempt();
        }
        let Some(attempt) = self.attempt.as_mut() else {
            return false;
        };
        if attempt.size != total_size {
            return false;
        }
        let Some(range) = piece_range(total_size, piece).filter(|r| r.len() == data.len()) else {
            return false;
        };
        let slot = &mut attempt.slots[piece as usize];
        match *slot {
            Slot::Have(_) => return false,
            Slot::InFlight(other) if other != peer => {
                // A late answer beat the peer asked since: that one is asked nothing more.
                if let Some(o) = self.peers.get_mut(&other) {
                    o.in_flight.retain(|&(a, _)| a != piece);
                }
            }
            _ => {}
        }
        *slot = Slot::Have(peer);
        attempt.buf[range].copy_from_slice(data);
        attempt.received += 1;
        true
    }

    fn verify(&mut self, now: Instant) {
        let Some(attempt) = self.attempt.take() else {
            return;
        };
        let v1_ok = self
            .hashes
            .v1
            .is_none_or(|h| torrent_format::hash::sha1(&attempt.buf) == h.0);
        let v2_ok = self
            .hashes
            .v2
            .is_none_or(|h| torrent_format::hash::sha256(&attempt.buf) == h.0);
        if v1_ok && v2_ok {
            self.finished = true;
            self.events.push_back(Event::Done(Bytes::from(attempt.buf)));
            return;
        }
        self.hash_failures += 1;
        let mut contributors: Vec<PeerKey> = attempt
            .slots
            .iter()
            .filter_map(|s| match s {
                Slot::Have(k) => Some(*k),
                _ => None,
            })
            .collect();
        contributors.sort_unstable();
        contributors.dedup();
        for key in &contributors {
            if let Some(p) = self.peers.get_mut(key) {
                p.strikes += 1;
            }
        }
        for p in self.peers.values_mut() {
            p.asked.clear();
            p.in_flight.clear();
        }
        self.events.push_back(Event::HashMismatch { contributors });
        if self.hash_failures >= self.config.max_hash_failures {
            let attempts = self.hash_failures;
            return self.fail(Failure::HashMismatches { attempts });
        }
        self.schedule(now);
    }

    /// Sends requests: starts an attempt if there is none (or probes peers of unknown size),
    /// then gives each missing piece to a peer that may take it.
    fn schedule(&mut self, now: Instant) {
        if self.finished {
            return;
        }
        self.check_attempt();
        if self.attempt.is_none() {
            self.start_attempt();
        }
        let Some(attempt) = self.attempt.as_mut() else {
            // No size known: ask piece 0 of the peers that did not say, to learn it.
            for (&key, p) in &mut self.peers {
                if p.size.is_none() && p.in_flight.is_empty() && p.resting_until.is_none() {
                    p.in_flight.push((0, now + self.config.request_timeout));
                    if !p.asked.contains(&0) {
                        p.asked.push(0);
                    }
                    self.transmit
                        .push_back((key, Metadata::Request { piece: 0 }));
                }
            }
            return;
        };
        for piece in 0..attempt.slots.len() {
            let Slot::Missing { avoid } = attempt.slots[piece] else {
                continue;
            };
            // The peer with the fewest requests in flight, another than `avoid` if possible.
            let pick = self
                .peers
                .iter()
                .filter(|&(&key, p)| {
                    // Spread over the peers without strikes, or the one peer alone.
                    attempt.only.map_or(p.strikes == 0, |o| o == key)
                        && (!attempt.responsive_only || p.misses == 0)
                        && p.size.is_none_or(|s| s == attempt.size)
                        && p.resting_until.is_none()
                        && p.in_flight.len() < self.config.requests_per_peer
                })
                .min_by_key(|&(&key, p)| (Some(key) == avoid, p.in_flight.len(), key))
                .map(|(&key, _)| key);
            let Some(key) = pick else {
                break;
            };
            let piece = piece as u32;
            let p = self.peers.get_mut(&key).expect("picked from the map");
            p.in_flight.push((piece, now + self.config.request_timeout));
            if !p.asked.contains(&piece) {
                p.asked.push(piece);
            }
            attempt.slots[piece as usize] = Slot::InFlight(key);
            self.transmit.push_back((key, Metadata::Request { piece }));
        }
    }

    /// Starts an attempt if some peer's size is known: the size most of the least-struck
    /// such peers gave (ties: the first peer's).
    fn start_attempt(&mut self) {
        let Some(level) = self
            .peers
            .values()
            .filter(|p| p.size.is_some())
            .map(|p| p.strikes)
            .min()
        else {
            return;
        };
        let mut votes: Vec<(u32, usize, PeerKey)> = Vec::new();
        for (&key, p) in &self.peers {
            if let Some(size) = p.size.filter(|_| p.strikes == level) {
                match votes.iter_mut().find(|v| v.0 == size) {
                    Some(v) => v.1 += 1,
                    None => votes.push((size, 1, key)),
                }
            }
        }
        // Most votes, then the earliest peer.
        let Some(&(size, _, _)) = votes
            .iter()
            .min_by_key(|&&(_, count, key)| (std::cmp::Reverse(count), key))
        else {
            return;
        };
        // `size` is at most `max_size` (checked as each peer's size was learned).
        let count = slot_count(size) as usize;
        self.attempt = Some(Attempt {
            size,
            buf: vec![0; size as usize],
            slots: vec![Slot::Missing { avoid: None }; count],
            received: 0,
            only: None,
            responsive_only: false,
        });
        for p in self.peers.values_mut() {
            p.asked.clear();
            p.in_flight.clear();
        }
    }

    /// Drops an attempt no present peer can serve while others offer another size, and
    /// picks who serves it now: the available peers (not resting after a reject or a timeout;
    /// answering ones first) without strikes, else the least-struck available peer alone
    /// (kept while it stays so).
    fn check_attempt(&mut self) {
        let Some(attempt) = self.attempt.as_mut() else {
            return;
        };
        let size = attempt.size;
        let fits = |p: &Peer| p.size.is_none_or(|s| s == size);
        let servable = self.peers.values().any(fits);
        let other = self.peers.values().any(|p| p.size.is_some());
        if !servable && other {
            self.attempt = None;
            for p in self.peers.values_mut() {
                p.asked.clear();
                p.in_flight.clear();
            }
            return;
        }
        // Peers that answer come first: a peer that rejects or times out is asked only when
        // no other is available.
        let responsive = self
            .peers
            .values()
            .any(|p| fits(p) && p.resting_until.is_none() && p.misses == 0);
        attempt.responsive_only = responsive;
        let available =
            |p: &Peer| fits(p) && p.resting_until.is_none() && (!responsive || p.misses == 0);
        let Some(level) = self
            .peers
            .values()
            .filter(|p| available(p))
            .map(|p| p.strikes)
            .min()
        else {
            // Everyone rests: nobody is asked anything for now.
            return;
        };
        if level == 0 {
            attempt.only = None;
            return;
        }
        let keep = attempt
            .only
            .and_then(|o| self.peers.get(&o))
            .is_some_and(|p| available(p) && p.strikes == level);
        if !keep {
            // Peers that said this size before those that said nothing.
            attempt.only = self
                .peers
                .iter()
                .filter(|(_, p)| available(p) && p.strikes == level)
                .min_by_key(|&(&key, p)| (p.size.is_none(), key))
                .map(|(&key, _)| key);
        }
    }

    /// Forgets a peer (reporting it unusable if `reason`); what it was asked goes back.
    fn drop_peer(&mut self, peer: PeerKey, reason: Option<Unusable>) {
        if let Some(Unusable::TooLarge { size }) = reason {
            self.too_large = self.too_large.max(Some(size));
        }
        if let Some(p) = self.peers.remove(&peer) {
            self.release(peer, p.in_flight.iter().map(|&(piece, _)| piece), None);
        }
        // Nothing goes to a peer the fetch has forgotten.
        self.transmit.retain(|(to, _)| *to != peer);
        if let Some(reason) = reason {
            self.events.push_back(Event::Unusable { peer, reason });
        }
    }

    /// Pieces `peer` had in flight are missing again.
    fn release(
        &mut self,
        peer: PeerKey,
        pieces: impl IntoIterator<Item = u32>,
        avoid: Option<PeerKey>,
    ) {
        let Some(attempt) = self.attempt.as_mut() else {
            return;
        };
        for piece in pieces {
            if let Some(slot) = attempt.slots.get_mut(piece as usize)
                && *slot == Slot::InFlight(peer)
            {
                *slot = Slot::Missing { avoid };
            }
        }
    }

    /// Why the fetch stalled: nobody offered the dictionary, only over the limit, or `other`.
    fn stalled_reason(&self, other: Failure) -> Failure {
        match (self.seen_offer, self.too_large) {
            (false, Some(size)) => Failure::TooLarge {
                size,
                limit: self.config.max_size,
            },
            (false, None) => Failure::NoPeers,
            (true, _) => other,
        }
    }

    fn fail(&mut self, reason: Failure) {
        self.finished = true;
        self.attempt = None;
        self.events.push_back(Event::Failed { reason });
    }
}

/// Pieces of a dictionary of `size` bytes (BEP 9: 16 KiB each, the last one shorter).
fn slot_count(size: u32) -> u32 {
    size.div_ceil(METADATA_PIECE_LEN)
}

/// Where `piece` lies in a dictionary of `size` bytes; `None` past the end.
fn piece_range(size: u32, piece: u32) -> Option<std::ops::Range<usize>> {
    let start = u64::from(piece) * u64::from(METADATA_PIECE_LEN);
    let end = (start + u64::from(METADATA_PIECE_LEN)).min(u64::from(size));
    (start < end).then_some(start as usize..end as usize)
}

#[cfg(test)]
mod tests;
