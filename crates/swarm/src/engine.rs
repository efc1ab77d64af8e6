//! One torrent's engine.
//!
//! [`Swarm`] owns a [`peer_wire::Session`] per connection, one [`piece_picker::Picker`] and one
//! [`choker::Choker`], and turns what happens on the connections into what the driver must do:
//! open or close connections, write and verify pieces, read blocks to serve, announce. It
//! performs no I/O and reads no clock; the same engine runs under tokio in `node` and under a
//! virtual clock in the simulator.
//!
//! Methods: (A) getters taking `&self`; (B) `handle_*` for input from the network, the disk,
//! the tracker or the clock; (C) commands; (D) `poll_*` for output. After any (B) or (C) call,
//! drain `poll_transmit` (or `poll_outgoing`), `poll_action` and `poll_event`, then read
//! `poll_timeout`.
//!
//! ```text
//!   candidates ──(room, not banned)──▶ Connect(addr) ──▶ add_peer ──▶ handshakes ─┐
//!   incoming connection ──────────────────────────────▶ add_peer ──────────────────┤
//!                                                                                   ▼
//!   peer's pieces ──▶ picker; interested? ◀── have ◀──────────────────────── Open session
//!   unchoked ──▶ pick (pipeline = rate × 3 s) ──▶ request ──▶ block ──▶ Write ──▶ …
//!   … last block of a piece ──▶ Verify(piece) ──▶ handle_verified ──▶ ok: have to every peer
//!                                                                  └─ bad: strikes, ban
//!   peer requests ──▶ Read ──▶ handle_read ──▶ block to the peer (if still unchoked)
//!   every 10 s: choker ──▶ Unchoke/Choke      closed session ──▶ Disconnect, picker forgets
//! ```
//!
//! Invariants:
//! - every open peer is registered with the choker, and with the picker once its pieces are
//!   known; a removed peer is in neither;
//! - a block is written at most once: only when the picker says its bytes are new;
//! - a piece is reported verified at most once, and `have` is sent for it to every peer;
//! - a banned address is never connected to or accepted again.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use peer_wire::extended::{METADATA_PIECE_LEN, Metadata, Pex, PexFlags};
use peer_wire::{
    Bitfield, BlockRef, CloseReason, Event as WireEvent, Handshake, LocalPieces, Message, Outgoing,
    PieceIndex, Session,
};
use piece_picker::{PeerKey, PickOptions, Picker};

use crate::Config;

/// Something the driver must do.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    /// Open a connection to this address, then call [`Swarm::add_peer`] (or
    /// [`Swarm::handle_connect_failed`]).
    Connect(SocketAddr),
    /// Close this peer's connection; the engine has forgotten it.
    Disconnect(PeerKey),
    /// Write a block to storage (through the layout's piece-to-file spans).
    Write {
        /// Its piece.
        piece: PieceIndex,
        /// Offset in the piece.
        offset: u32,
        /// The bytes.
        data: Bytes,
    },
    /// Every block of the piece is written: hash it, then call [`Swarm::handle_verified`].
    Verify(PieceIndex),
    /// Read a block from storage for this peer, then call [`Swarm::handle_read`].
    Read {
        /// Who asked.
        peer: PeerKey,
        /// What.
        block: BlockRef,
    },
    /// Announce to the trackers.
    Announce(AnnounceEvent),
    /// Read these blocks of `piece` back from storage and report a digest of each (SHA-1)
    /// with [`Swarm::handle_block_digests`]: smart banning, to find which sender of a piece
    /// that failed its check sent the bad blocks. Read them before any later write to the
    /// piece (the engine asks before it requests the piece again).
    DigestBlocks {
        /// The piece.
        piece: PieceIndex,
        /// Its blocks to digest.
        blocks: Vec<BlockRef>,
    },
    /// Fetch these blocks from web seed `seed` (BEP 19: HTTP range requests of the byte ranges
    /// they cover, file by file), then call [`Swarm::handle_web_seed_data`] or
    /// [`Swarm::handle_web_seed_failed`]. The blocks are in torrent order, and contiguous runs
    /// can go in one request.
    WebSeedRequest {
        /// Which web seed ([`Swarm::add_web_seed`]'s index).
        seed: usize,
        /// The blocks.
        blocks: Vec<BlockRef>,
    },
}

/// The `event` of an announce (BEP 3).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AnnounceEvent {
    /// The first announce.
    Started,
    /// A regular one.
    Periodic,
    /// The download just completed.
    Completed,
    /// We are leaving.
    Stopped,
}

/// Something that happened, for the application.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// A piece passed its hash check.
    PieceVerified(PieceIndex),
    /// A piece failed its hash check; `banned` lists the peers banned for it.
    PieceFailed {
        /// The piece.
        piece: PieceIndex,
        /// Addresses banned for it.
        banned: Vec<SocketAddr>,
    },
    /// Smart banning found the peers that sent bad blocks of `piece` (which failed its check
    /// earlier and has passed since): they are banned.
    PeersBanned {
        /// The piece.
        piece: PieceIndex,
        /// The connections closed for it (their addresses are banned).
        banned: Vec<SocketAddr>,
    },
    /// Every wanted piece is verified.
    Finished,
    /// A connection ended.
    PeerClosed {
        /// The peer.
        peer: PeerKey,
        /// Its address.
        addr: SocketAddr,
        /// Why.
        reason: CloseReason,
    },
}

/// Why [`Swarm::add_peer`] refused a connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Refused {
    /// The address is banned.
    #[error("address banned")]
    Banned,
    /// Already connected to this address.
    #[error("already connected")]
    Duplicate,
    /// As many connections as allowed.
    #[error("connection limit reached")]
    Full,
    /// The engine is stopped.
    #[error("stopped")]
    Stopped,
}

/// One torrent's engine. See the module docs.
#[derive(Debug)]
pub struct Swarm {
    config: Config,
    picker: Picker,
    choker: choker::Choker,
    have: Bitfield,
    /// Super-seeding ([`Config::super_seed`]): which piece to announce to whom.
    super_seed: Option<choker::SuperSeed>,
    /// Who sent each block written of each piece in progress (smart banning).
    senders: HashMap<PieceIndex, Vec<(BlockRef, IpAddr)>>,
    /// Pieces that failed their check with blocks from several peers: see [`Suspect`].
    suspects: HashMap<PieceIndex, Suspect>,
    /// HTTP web seeds (BEP 19), by index.
    web_seeds: Vec<WebSeed>,
    /// The web seeds that sent blocks written of each piece in progress.
    web_senders: HashMap<PieceIndex, BTreeSet<usize>>,
    peers: BTreeMap<PeerKey, Peer>,
    next_key: u32,
    /// Addresses to connect to, in the order learned.
    candidates: VecDeque<SocketAddr>,
    /// Every address learned, with when it may be tried again and how often it failed.
    known: BTreeMap<SocketAddr, Known>,
    connecting: BTreeSet<SocketAddr>,
    banned: BTreeSet<IpAddr>,
    /// Peers whose session has news to handle.
    dirty: BTreeSet<PeerKey>,
    /// Peers whose session may have something to send.
    sending: BTreeSet<PeerKey>,
    actions: VecDeque<Action>,
    events: VecDeque<Event>,
    scratch: Vec<BlockRef>,
    next_tick: Instant,
    /// BEP 11: the listening addresses of our open peers (with their PEX flags) as of the
    /// last tick, and how many times that set changed.
    pex_members: BTreeMap<SocketAddr, PexFlags>,
    pex_generation: u64,
    next_announce: Option<Instant>,
    finished: bool,
    stopped: bool,
    uploaded: u64,
    downloaded: u64,
}

#[derive(Debug)]
struct Peer {
    session: Session,
    addr: SocketAddr,
    /// Registered with the picker (its pieces are known).
    in_picker: bool,
    /// Pieces of failed hash checks this peer sent blocks of.
    strikes: u32,
    /// Payload bytes received at the last tick, and the rate since (bytes per second).
    last_received: u64,
    download_rate: u64,
    /// The driver reported the connection closed ([`Swarm::handle_disconnected`]).
    closed_by_driver: bool,
    /// Blocks the driver is reading for this peer.
    reading: Vec<BlockRef>,
    /// The peer's requests not yet handed to the driver to read: reads are issued only while
    /// the connection's send buffer is below its watermark, so that a peer's requests cost
    /// memory in proportion to its rate, and our own requests on the same connection do not
    /// wait behind seconds of queued blocks.
    to_read: VecDeque<BlockRef>,
    /// Payload bytes sent at the last tick, and the rate since.
    last_sent: u64,
    upload_rate: u64,
    /// We dialed it (its address is where it listens), rather than it us.
    outgoing: bool,
    /// The listening addresses our last PEX messages told this peer about.
    pex_sent: BTreeSet<SocketAddr>,
    /// When this peer may get our next PEX message: set by an extended handshake that
    /// announces ut_pex (then [`PEX_FIRST_DELAY`] away), moved an interval on by each message.
    /// `None`: it does not speak ut_pex, or PEX is off.
    pex_due: Option<Instant>,
    /// The [`Swarm::pex_members`] generation this peer was last found up to date with (told
    /// every member, or nothing new to tell): until the set changes, nothing to send it.
    pex_told: Option<u64>,
    /// The picker's [`Picker::generation`] when a pick for this peer last came up short (it
    /// had nothing more we want): until that changes, or the peer announces a pickable piece
    /// or unchokes us, picking again for it would find nothing.
    exhausted: Option<u64>,
    /// Pieces this peer rejected requests for while unchoking us (an origin that offloads, a
    /// super-seed): not asked of it again until [`DECLINE_MEMORY`] after the first, so that a
    /// peer that declines does not get the same requests back at once, forever.
    declined: Option<(Bitfield, Instant)>,
    /// Origin offload ([`Config::origin_max_copies`]): the pieces we sent blocks of to this
    /// peer, and since when we have declined its requests without it showing a piece it got
    /// elsewhere (a `have` for a piece we did not send).
    offload: Option<Offload>,
}

/// An origin's view of one peer's progress while it offloads (see [`Peer::offload`]).
#[derive(Debug)]
struct Offload {
    served: Bitfield,
    declining_since: Option<Instant>,
}

/// How long pieces a peer declined are not asked of it again (then it gets another chance:
/// the peers that had them may have gone, or it may serve them now; see
/// [`OFFLOAD_PATIENCE`]).
const DECLINE_MEMORY: Duration = Duration::from_secs(5);

/// How long an offloading origin declines a peer's requests while the peer shows no piece it
/// got elsewhere. The peers counted as copies may be gone without a word (a closed browser tab
/// stays connected until its WebRTC consent times out, about 30 s), choking it, or slow; past
/// this, the origin serves it until it shows progress from others again.
const OFFLOAD_PATIENCE: Duration = Duration::from_secs(2);

/// A piece that failed its check with blocks from several peers (libtorrent's "smart ban").
/// The engine asks for a digest of each block as it was received; the piece is downloaded
/// again from one peer only (a second failure then has a single culprit, banned at once); once
/// it passes, the engine asks for the digests of the good blocks, and a peer whose block
/// differed is banned. Honest peers that shared a bad piece with a liar are never blamed.
#[derive(Debug, Default)]
struct Suspect {
    /// Each block of the failed attempt, its sender, and the digest of what it sent (once the
    /// driver reported it).
    bad: Vec<(BlockRef, IpAddr, Option<[u8; 20]>)>,
    /// The one peer the piece is downloaded from again.
    owner: Option<PeerKey>,
    /// The piece passed: waiting for the digests of the good blocks.
    passed: bool,
}

/// A web seed (BEP 19): a plain HTTP server with every piece, which the picker sees as a
/// peer that never chokes. Its requests are batches of blocks the driver fetches with range
/// requests; a failure backs it off, and repeated failures (or bad data) retire it.
#[derive(Debug)]
struct WebSeed {
    /// Its key in the picker (from the peers' key space, never a connection's).
    key: PeerKey,
    /// Requests in flight.
    in_flight: usize,
    /// Not before this (after a failure).
    retry_at: Option<Instant>,
    /// Failures in a row.
    failures: u32,
    /// Retired: no more requests.
    retired: bool,
}

/// Blocks per web seed request (1 MiB), and requests in flight per web seed.
const WEB_SEED_BATCH: usize = 64;
const WEB_SEED_PARALLEL: usize = 2;
/// Failures in a row, or pieces that failed their check, after which a web seed is retired.
const WEB_SEED_MAX_FAILURES: u32 = 5;

/// A peer's first PEX message goes this long after its extended handshake (at the first tick
/// then): soon, so a newcomer learns the swarm at once, yet late enough that connections
/// opened together (a tracker's reply) are in it. libtorrent sends its first at its next
/// one-second tick.
const PEX_FIRST_DELAY: Duration = Duration::from_secs(2);
/// The shortest time between two PEX messages to a peer, whatever the configured interval:
/// libtorrent disconnects (`too_frequent_pex`) a peer whose seventh message comes within a
/// minute of the first of them (ut_pex.cpp, `m_last_pex[6]`).
const PEX_MIN_INTERVAL: Duration = Duration::from_secs(15);
/// The PEX conventions clients keep (Azureus and µTorrent's, which BEP 11 grew from): "no more
/// than 50 added peers and 50 removed peers" per message, IPv4 and IPv6 together; and no more
/// than a message a minute, which the interval keeps.
const PEX_MAX_PEERS: usize = 50;

#[derive(Debug, Clone, Copy)]
struct Known {
    retry_at: Option<Instant>,
    failures: u32,
}

impl Swarm {
    /// An engine for a torrent of which we have `have` (verified pieces, e.g. from resume
    /// data). It asks for a first announce at once.
    pub fn new(config: Config, have: Bitfield, now: Instant) -> Self {
        let geometry = config.geometry();
        let mut picker = Picker::new(config.picker.clone(), geometry)
            .expect("a peer_wire::Geometry is a valid picker geometry");
        for piece in have.iter() {
            // `have` is the torrent's size (checked below): every index is in range.
            let _ = picker.piece_verified(piece);
        }
        let have = if have.len() == geometry.num_pieces {
            have
        } else {
            Bitfield::new(geometry.num_pieces)
        };
        picker.set_sequential(config.sequential);
        let finished = picker.is_complete();
        let choker = choker::Choker::new(config.choker, now);
        let super_seed = (config.super_seed && finished).then(|| {
            choker::SuperSeed::new(choker::super_seed::Config {
                seed: config.rng_seed ^ 0x5eed,
                offers_per_peer: 2,
                ..choker::super_seed::Config::new(geometry.num_pieces)
            })
        });
        let mut s = Self {
            picker,
            choker,
            have,
            super_seed,
            senders: HashMap::new(),
            suspects: HashMap::new(),
            web_seeds: Vec::new(),
            web_senders: HashMap::new(),
            peers: BTreeMap::new(),
            next_key: 0,
            candidates: VecDeque::new(),
            known: BTreeMap::new(),
            connecting: BTreeSet::new(),
            banned: BTreeSet::new(),
            dirty: BTreeSet::new(),
            sending: BTreeSet::new(),
            actions: VecDeque::new(),
            events: VecDeque::new(),
            scratch: Vec::new(),
            next_tick: now + config.tick,
            pex_members: BTreeMap::new(),
            pex_generation: 0,
            next_announce: Some(now + config.announce_interval),
            finished,
            stopped: false,
            uploaded: 0,
            downloaded: 0,
            config,
        };
        if s.config.pex_interval.is_none() {
            // PEX off (a private torrent, BEP 27): do not offer ut_pex either, as libtorrent
            // does; a peer's ut_pex messages then arrive as an unknown extension and are ignored.
            s.config
                .session
                .extended
                .extensions
                .retain(|(name, _)| name != peer_wire::extended::name::UT_PEX);
        }
        s.actions
            .push_back(Action::Announce(AnnounceEvent::Started));
        s
    }

    // (A) getters

    /// Verified pieces.
    pub fn have(&self) -> &Bitfield {
        &self.have
    }

    /// Whether every wanted piece is verified.
    pub fn is_finished(&self) -> bool {
        self.finished
    }

    /// Open connections.
    pub fn num_peers(&self) -> usize {
        self.peers.len()
    }

    /// Addresses known (from trackers, PEX, the driver), connected or not.
    pub fn num_known(&self) -> usize {
        self.known.len()
    }

    /// The open connections and their addresses.
    pub fn peers(&self) -> impl Iterator<Item = (PeerKey, SocketAddr)> + '_ {
        self.peers.iter().map(|(&k, p)| (k, p.addr))
    }

    /// A peer's session (its state, its pieces, its extended handshake).
    pub fn session(&self, peer: PeerKey) -> Option<&Session> {
        self.peers.get(&peer).map(|p| &p.session)
    }

    /// Payload bytes sent and received, over every connection so far.
    pub fn transferred(&self) -> (u64, u64) {
        let (mut up, mut down) = (self.uploaded, self.downloaded);
        for p in self.peers.values() {
            let (d, u) = p.session.payload_bytes();
            up += u;
            down += d;
        }
        (up, down)
    }

    /// Bytes still wanted (what an announce calls `left`).
    pub fn left(&self) -> u64 {
        let g = self.config.geometry();
        (0..g.num_pieces)
            .map(PieceIndex)
            .filter(|&p| self.picker.is_wanted(p))
            .map(|p| u64::from(g.piece_size(p).unwrap_or(0)))
            .sum()
    }

    /// Whether an address is banned.
    pub fn is_banned(&self, ip: IpAddr) -> bool {
        self.banned.contains(&ip)
    }

    // (B) input

    /// A connection is open (we dialed it after [`Action::Connect`], or it came in). The
    /// session sends our handshake at once.
    pub fn add_peer(&mut self, now: Instant, addr: SocketAddr) -> Result<PeerKey, Refused> {
        let outgoing = self.connecting.remove(&addr);
        if self.stopped {
            return Err(Refused::Stopped);
        }
        if self.banned.contains(&addr.ip()) {
            return Err(Refused::Banned);
        }
        if self.peers.values().any(|p| p.addr == addr) {
            return Err(Refused::Duplicate);
        }
        if self.peers.len() >= self.config.max_connections {
            return Err(Refused::Full);
        }
        let key = PeerKey(self.next_key);
        self.next_key = self.next_key.wrapping_add(1);
        let mut session_config = self.config.session.clone();
        session_config.peer_ip = Some(addr.ip());
        let pieces = if self.super_seed.is_some() {
            // Super-seeding: we pretend to have nothing, then offer piece by piece.
            LocalPieces::None
        } else if self.have.is_full() {
            LocalPieces::All
        } else if self.have.count() == 0 {
            LocalPieces::None
        } else {
            LocalPieces::Some(self.have.clone())
        };
        let session = Session::new(session_config, pieces, now);
        // A fresh key is never in the choker.
        let _ = self.choker.add_peer(now, choker_key(key));
        self.peers.insert(
            key,
            Peer {
                session,
                addr,
                in_picker: false,
                strikes: 0,
                last_received: 0,
                download_rate: 0,
                closed_by_driver: false,
                reading: Vec::new(),
                to_read: VecDeque::new(),
                last_sent: 0,
                upload_rate: 0,
                outgoing,
                pex_sent: BTreeSet::new(),
                pex_due: None,
                pex_told: None,
                exhausted: None,
                declined: None,
                offload: None,
            },
        );
        if let Some(k) = self.known.get_mut(&addr) {
            k.failures = 0;
        }
        self.sending.insert(key);
        Ok(key)
    }

    /// A connection attempt failed.
    pub fn handle_connect_failed(&mut self, now: Instant, addr: SocketAddr) {
        self.connecting.remove(&addr);
        let backoff = self.config.reconnect_backoff;
        let k = self.known.entry(addr).or_insert(Known {
            retry_at: None,
            failures: 0,
        });
        k.failures += 1;
        let factor = 1u32 << k.failures.min(6);
        k.retry_at = Some(now + backoff * factor);
        self.candidates.push_back(addr);
        self.fill_connections(now);
    }

    /// Bytes from a peer's connection.
    pub fn handle_bytes(&mut self, now: Instant, peer: PeerKey, buf: &mut BytesMut) {
        if let Some(p) = self.peers.get_mut(&peer) {
            p.session.handle_bytes(now, buf);
            self.dirty.insert(peer);
            self.process(now);
        }
    }

    /// A peer's handshake on a message transport (the simulator).
    pub fn handle_handshake(&mut self, now: Instant, peer: PeerKey, handshake: Handshake) {
        if let Some(p) = self.peers.get_mut(&peer) {
            p.session.handle_handshake(now, handshake);
            self.dirty.insert(peer);
            self.process(now);
        }
    }

    /// A peer's message on a message transport (the simulator).
    pub fn handle_message(&mut self, now: Instant, peer: PeerKey, message: Message) {
        if let Some(p) = self.peers.get_mut(&peer) {
            p.session.handle_message(now, message);
            self.dirty.insert(peer);
            self.process(now);
        }
    }

    /// The connection closed (reset, end of stream).
    pub fn handle_disconnected(&mut self, now: Instant, peer: PeerKey) {
        if let Some(p) = self.peers.get_mut(&peer) {
            // The driver already knows: no Disconnect for this one.
            p.closed_by_driver = true;
            p.session.close();
            self.dirty.insert(peer);
            self.process(now);
        }
    }

    /// The hash check of a piece the engine asked to [`Action::Verify`].
    pub fn handle_verified(&mut self, now: Instant, piece: PieceIndex, ok: bool) {
        if self.have.has(piece) {
            return;
        }
        if ok {
            if self.picker.piece_verified(piece).is_err() {
                return;
            }
            self.senders.remove(&piece);
            self.web_senders.remove(&piece);
            if let Some(suspect) = self.suspects.get_mut(&piece) {
                // Compare what each sender of the failed attempt sent with the good blocks.
                suspect.passed = true;
                let blocks = suspect.bad.iter().map(|&(b, _, _)| b).collect();
                self.actions
                    .push_back(Action::DigestBlocks { piece, blocks });
            }
            self.have.insert(piece);
            self.events.push_back(Event::PieceVerified(piece));
            for (&key, p) in &mut self.peers {
                let _ = p.session.have(piece);
                self.dirty.insert(key);
            }
            if !self.finished && self.picker.num_wanted() == 0 {
                self.finished = true;
                self.events.push_back(Event::Finished);
                self.actions
                    .push_back(Action::Announce(AnnounceEvent::Completed));
                for (&key, p) in &mut self.peers {
                    let _ = p.session.set_interested(false);
                    self.dirty.insert(key);
                }
            }
        } else {
            self.piece_failed(piece, true);
        }
        self.process(now);
    }

    /// The driver could not store `piece` (a block write failed: a full or failing disk), or
    /// could not read it back to check it: it is downloaded again, and no peer is blamed.
    /// Call it in place of [`Swarm::handle_verified`] when the engine asked to verify it.
    pub fn handle_lost(&mut self, now: Instant, piece: PieceIndex) {
        if self.have.has(piece) {
            return;
        }
        self.piece_failed(piece, false);
        self.process(now);
    }

    /// A piece that failed its check (`blame`: its senders are suspected) or was lost.
    fn piece_failed(&mut self, piece: PieceIndex, blame: bool) {
        // Blocks from a web seed: it may be the one with the wrong bytes (an edited file on
        // the server). It is charged; the peers are not blamed for this piece.
        let from_web_seed = self.web_senders.remove(&piece).unwrap_or_default();
        let blame = blame && from_web_seed.is_empty();
        for i in from_web_seed {
            let ws = &mut self.web_seeds[i];
            ws.failures += 1;
            if ws.failures >= WEB_SEED_MAX_FAILURES {
                ws.retired = true;
            }
        }
        let senders = self.senders.remove(&piece).unwrap_or_default();
        let mut ips: Vec<IpAddr> = senders.iter().map(|&(_, ip)| ip).collect();
        ips.sort_unstable();
        ips.dedup();
        if blame && ips.len() > 1 {
            // Several senders: find out which (smart ban) before blaming anyone. The digests
            // are read before the piece is requested again (the driver keeps the order).
            let blocks = senders.iter().map(|&(b, _)| b).collect();
            self.suspects.insert(
                piece,
                Suspect {
                    bad: senders.into_iter().map(|(b, ip)| (b, ip, None)).collect(),
                    owner: None,
                    passed: false,
                },
            );
            self.actions
                .push_back(Action::DigestBlocks { piece, blocks });
        }
        {
            let contributors = self.picker.piece_failed(piece).unwrap_or_default();
            // One sender: it alone sent the bad piece. Several: the suspect's digests decide.
            let contributors = if blame && ips.len() <= 1 {
                contributors
            } else {
                Vec::new()
            };
            // The piece is wanted again: peers that have it are interesting again.
            for (&key, p) in &mut self.peers {
                if !p.session.am_interested()
                    && p.session.peer_pieces().is_some_and(|b| b.has(piece))
                {
                    let _ = p.session.set_interested(true);
                    self.dirty.insert(key);
                }
            }
            let alone = contributors.len() == 1;
            let mut banned = Vec::new();
            for key in contributors {
                let Some(p) = self.peers.get_mut(&key) else {
                    continue;
                };
                p.strikes += 1;
                if alone || p.strikes >= self.config.ban_strikes {
                    banned.push(p.addr);
                    self.banned.insert(p.addr.ip());
                    p.session.close();
                    self.dirty.insert(key);
                }
            }
            self.events.push_back(Event::PieceFailed { piece, banned });
        }
    }

    /// Adds an HTTP web seed (BEP 19): the driver knows its URL by the returned index. It is
    /// used like a peer with every piece that never chokes.
    pub fn add_web_seed(&mut self, now: Instant) -> usize {
        let key = PeerKey(self.next_key);
        self.next_key = self.next_key.wrapping_add(1);
        let _ = self.picker.peer_has_all(key);
        self.web_seeds.push(WebSeed {
            key,
            in_flight: 0,
            retry_at: None,
            failures: 0,
            retired: false,
        });
        self.fill_web_seeds(now);
        self.web_seeds.len() - 1
    }

    /// Blocks a web seed sent for an [`Action::WebSeedRequest`] (all of them, or those that
    /// came before a failure, which is then reported with [`Swarm::handle_web_seed_failed`]
    /// for the rest).
    pub fn handle_web_seed_data(
        &mut self,
        now: Instant,
        seed: usize,
        blocks: Vec<(BlockRef, Bytes)>,
        complete: bool,
    ) {
        let Some(ws) = self.web_seeds.get_mut(seed) else {
            return;
        };
        let key = ws.key;
        if complete {
            ws.in_flight = ws.in_flight.saturating_sub(1);
            ws.failures = 0;
        }
        for (block, data) in blocks {
            if data.len() == block.len as usize {
                // Counted like bytes from peers: what a user and the trackers call downloaded.
                self.downloaded += u64::from(block.len);
                self.on_block(key, block, data);
            } else {
                let _ = self.picker.request_dropped(key, block);
            }
        }
        self.process(now);
        if complete {
            self.fill_web_seeds(now);
        }
    }

    /// A web seed request failed for these blocks (`permanent`: the seed does not have the
    /// file, 404 and the like). The blocks go back to the picker; the seed is retried after a
    /// backoff, or retired.
    pub fn handle_web_seed_failed(
        &mut self,
        now: Instant,
        seed: usize,
        blocks: &[BlockRef],
        permanent: bool,
    ) {
        let Some(ws) = self.web_seeds.get_mut(seed) else {
            return;
        };
        let key = ws.key;
        ws.in_flight = ws.in_flight.saturating_sub(1);
        ws.failures += 1;
        if permanent || ws.failures >= WEB_SEED_MAX_FAILURES {
            ws.retired = true;
        }
        let backoff = self.config.reconnect_backoff * (1 << ws.failures.min(5));
        ws.retry_at = Some(now + backoff);
        for &block in blocks {
            let _ = self.picker.request_dropped(key, block);
        }
        if ws.retired && ws.in_flight == 0 {
            let _ = self.picker.peer_left(key, &Bitfield::full(self.have.len()));
        }
        self.process(now);
        self.fill_web_seeds(now);
    }

    /// Web seeds in use (not retired).
    pub fn num_web_seeds(&self) -> usize {
        self.web_seeds.iter().filter(|w| !w.retired).count()
    }

    /// The digests of the blocks of an [`Action::DigestBlocks`]. The first report for a suspect
    /// piece is what its senders sent; the second, once it passed, the good blocks: a sender
    /// whose block differs is banned.
    pub fn handle_block_digests(
        &mut self,
        now: Instant,
        piece: PieceIndex,
        digests: &[(BlockRef, [u8; 20])],
    ) {
        let Some(suspect) = self.suspects.get_mut(&piece) else {
            return;
        };
        if !suspect.passed {
            for (block, _, digest) in &mut suspect.bad {
                if let Some(&(_, d)) = digests.iter().find(|(b, _)| b == block) {
                    *digest = Some(d);
                }
            }
            return;
        }
        let Some(suspect) = self.suspects.remove(&piece) else {
            return;
        };
        let mut liars: Vec<IpAddr> = suspect
            .bad
            .iter()
            .filter(|(block, _, bad)| {
                let good = digests.iter().find(|(b, _)| b == block).map(|&(_, d)| d);
                matches!((bad, good), (Some(bad), Some(good)) if *bad != good)
            })
            .map(|&(_, ip, _)| ip)
            .collect();
        liars.sort_unstable();
        liars.dedup();
        if liars.is_empty() {
            return;
        }
        let mut banned = Vec::new();
        for ip in liars {
            self.banned.insert(ip);
            for (&key, p) in &mut self.peers {
                if p.addr.ip() == ip {
                    banned.push(p.addr);
                    p.session.close();
                    self.dirty.insert(key);
                }
            }
        }
        self.events.push_back(Event::PeersBanned { piece, banned });
        self.process(now);
    }

    /// A block the engine asked to [`Action::Read`], to send to the peer.
    pub fn handle_read(&mut self, now: Instant, peer: PeerKey, block: BlockRef, data: Bytes) {
        if let Some(p) = self.peers.get_mut(&peer) {
            p.reading.retain(|b| *b != block);
            // The peer may have cancelled it, or we choked it since: then it is dropped.
            let _ = p.session.send_block(block, data);
            self.issue_reads(peer);
            self.dirty.insert(peer);
            self.process(now);
        }
    }

    /// Addresses learned from a tracker, PEX or the user.
    pub fn handle_peers(&mut self, now: Instant, addrs: impl IntoIterator<Item = SocketAddr>) {
        self.learn(addrs);
        self.fill_connections(now);
    }

    /// A tracker answered; `interval` is when it wants the next announce.
    pub fn handle_announced(&mut self, now: Instant, interval: Option<Duration>) {
        if let Some(i) = interval {
            self.config.announce_interval = i.max(Duration::from_secs(30));
        }
        if !self.stopped {
            self.next_announce = Some(now + self.config.announce_interval);
        }
    }

    /// Fires every timer that is due.
    pub fn handle_timeout(&mut self, now: Instant) {
        if now >= self.next_tick {
            // Sessions' timers (handshake, idle, keep-alive, snubbing) are tens of seconds:
            // checking them once a tick keeps this engine's deadline O(1) to compute.
            for (&key, p) in &mut self.peers {
                if p.session.poll_timeout().is_some_and(|t| t <= now) {
                    p.session.handle_timeout(now);
                    self.dirty.insert(key);
                }
            }
            self.tick(now);
        }
        if self.choker.poll_timeout().is_some_and(|t| t <= now) {
            for (&key, p) in &self.peers {
                let (received, sent) = p.session.payload_bytes();
                let ck = choker_key(key);
                self.choker
                    .handle_transferred(now, ck, choker::Totals { received, sent });
                let _ = self
                    .choker
                    .set_interested(now, ck, p.session.am_interested());
            }
            self.choker.handle_timeout(now);
        }
        if let Some(at) = self.next_announce
            && now >= at
        {
            self.actions
                .push_back(Action::Announce(AnnounceEvent::Periodic));
            self.next_announce = Some(now + self.config.announce_interval);
        }
        self.fill_connections(now);
        self.process(now);
    }

    // (C) commands

    /// Leaves the swarm: every connection closes and a last announce is asked for.
    pub fn stop(&mut self, now: Instant) {
        if self.stopped {
            return;
        }
        self.stopped = true;
        self.next_announce = None;
        for (&key, p) in &mut self.peers {
            p.session.close();
            self.dirty.insert(key);
        }
        self.process(now);
        self.actions
            .push_back(Action::Announce(AnnounceEvent::Stopped));
    }

    // (D) output

    /// The next bytes to send on some connection.
    #[must_use]
    pub fn poll_transmit(&mut self, now: Instant) -> Option<(PeerKey, Bytes)> {
        while let Some(&key) = self.sending.first() {
            if let Some(bytes) = self
                .peers
                .get_mut(&key)
                .and_then(|p| p.session.poll_transmit(now))
            {
                self.issue_reads(key);
                return Some((key, bytes));
            }
            self.sending.remove(&key);
        }
        None
    }

    /// The next bytes to send on one connection, for a driver that takes from a connection only
    /// while its socket has room (see [`Swarm::sending_peers`]). Do not mix with
    /// [`Swarm::poll_outgoing`].
    #[must_use]
    pub fn poll_transmit_from(&mut self, now: Instant, peer: PeerKey) -> Option<Bytes> {
        let out = self
            .peers
            .get_mut(&peer)
            .and_then(|p| p.session.poll_transmit(now));
        if out.is_some() {
            self.issue_reads(peer);
        } else {
            self.sending.remove(&peer);
        }
        out
    }

    /// The next message to send on some connection, for a message transport (the
    /// simulator). Do not mix with [`Swarm::poll_transmit`].
    #[must_use]
    pub fn poll_outgoing(&mut self, now: Instant) -> Option<(PeerKey, Outgoing)> {
        while let Some(&key) = self.sending.first() {
            if let Some(out) = self.poll_outgoing_from(now, key) {
                return Some((key, out));
            }
        }
        None
    }

    /// The next message to send on one connection (message transport), for a driver that
    /// takes from a connection only while its socket buffer has room.
    #[must_use]
    pub fn poll_outgoing_from(&mut self, now: Instant, peer: PeerKey) -> Option<Outgoing> {
        let out = self
            .peers
            .get_mut(&peer)
            .and_then(|p| p.session.poll_outgoing(now));
        if out.is_some() {
            self.issue_reads(peer);
        } else {
            self.sending.remove(&peer);
        }
        out
    }

    /// Connections that may have something to send.
    pub fn sending_peers(&self) -> impl Iterator<Item = PeerKey> + '_ {
        self.sending.iter().copied()
    }

    /// The next thing to do.
    #[must_use]
    pub fn poll_action(&mut self) -> Option<Action> {
        self.actions.pop_front()
    }

    /// The next event.
    #[must_use]
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// When [`Swarm::handle_timeout`] should next be called.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        let mut next = Some(self.next_tick);
        let mut consider = |t: Option<Instant>| {
            if let Some(t) = t {
                next = Some(next.map_or(t, |n: Instant| n.min(t)));
            }
        };
        consider(self.choker.poll_timeout());
        consider(self.next_announce);
        next
    }

    // private

    /// Handles the news of every dirty peer, then what follows from it (requests, choker
    /// decisions, closed connections), until nothing changes.
    fn process(&mut self, now: Instant) {
        while let Some(key) = self.dirty.pop_first() {
            self.drain_session(now, key);
            self.fill_requests(key);
            self.sending.insert(key);
        }
        while let Some(offer) = self.super_seed.as_mut().and_then(|s| s.poll_offer()) {
            let key = PeerKey(offer.peer.0);
            if let Some(p) = self.peers.get_mut(&key) {
                let _ = p.session.have(offer.piece);
                self.sending.insert(key);
            }
        }
        while let Some(action) = self.choker.poll_action() {
            let key = PeerKey(action.peer().0);
            self.sending.insert(key);
            if let Some(p) = self.peers.get_mut(&key) {
                let _ = match action {
                    choker::Action::Unchoke(_) => p.session.unchoke(),
                    choker::Action::Choke(_) => {
                        p.reading.clear();
                        p.to_read.clear();
                        p.session.choke()
                    }
                };
            }
        }
    }

    fn drain_session(&mut self, now: Instant, key: PeerKey) {
        loop {
            let Some(p) = self.peers.get_mut(&key) else {
                return;
            };
            let Some(event) = p.session.poll_event() else {
                return;
            };
            match event {
                WireEvent::PeerPieces(bits) => {
                    let joined = if bits.is_full() {
                        self.picker.peer_has_all(key)
                    } else {
                        self.picker.peer_joined(key, &bits)
                    };
                    p.in_picker = joined.is_ok();
                    p.exhausted = None;
                    if let Some(seeder) = &mut self.super_seed {
                        let _ = seeder.add_peer(choker_key(key), bits.as_bytes());
                    }
                    self.choker.handle_pieces(choker_key(key), bits.count());
                    if !self.finished && self.picker.is_interesting(&bits) {
                        let _ = p.session.set_interested(true);
                    }
                }
                WireEvent::Have(piece) => {
                    let _ = self.picker.peer_have(key, piece);
                    if let Some(o) = &mut p.offload
                        && !o.served.has(piece)
                    {
                        // It got a piece from others: the offload works for it.
                        o.declining_since = None;
                    }
                    if self.picker.is_pickable(piece) {
                        p.exhausted = None;
                    }
                    if let Some(seeder) = &mut self.super_seed {
                        seeder.handle_have(choker_key(key), piece);
                    }
                    if let Some(bits) = p.session.peer_pieces() {
                        self.choker.handle_pieces(choker_key(key), bits.count());
                    }
                    if !self.finished && !p.session.am_interested() && self.picker.is_wanted(piece)
                    {
                        let _ = p.session.set_interested(true);
                    }
                }
                WireEvent::DontHave(piece) => {
                    let _ = self.picker.peer_dont_have(key, piece);
                }
                WireEvent::Choked { dropped } => {
                    for block in dropped {
                        let _ = self.picker.request_dropped(key, block);
                    }
                }
                WireEvent::Rejected(block) => {
                    let _ = self.picker.request_dropped(key, block);
                    // A reject that is not the choke's (BEP 6: a choke rejects what was
                    // pending) declines the piece; so does one of an allowed-fast piece.
                    if !p.session.peer_choking() || p.session.allowed_fast().contains(&block.piece)
                    {
                        let pieces = self.picker.num_pieces();
                        let (declined, _) = p
                            .declined
                            .get_or_insert_with(|| (Bitfield::new(pieces), now));
                        declined.insert(block.piece);
                        p.exhausted = None;
                    }
                }
                WireEvent::Interested => {
                    self.choker.handle_interested(now, choker_key(key), true);
                }
                WireEvent::NotInterested => {
                    self.choker.handle_interested(now, choker_key(key), false);
                }
                WireEvent::Request(block) => {
                    // Web seeds count in the picker as peers with every piece; the offload
                    // counts the connected peers that could serve the requester instead (a
                    // peer CDN origin's own URL is its torrents' web seed).
                    let web_seeds = u32::try_from(self.web_seeds.len()).unwrap_or(u32::MAX);
                    let copies_elsewhere = self.finished
                        && self.config.origin_max_copies.is_some_and(|max| {
                            self.picker
                                .availability(block.piece)
                                .saturating_sub(web_seeds)
                                >= max
                        });
                    let offload = copies_elsewhere && {
                        let pieces = self.picker.num_pieces();
                        let o = p.offload.get_or_insert_with(|| Offload {
                            served: Bitfield::new(pieces),
                            declining_since: None,
                        });
                        let since = *o.declining_since.get_or_insert(now);
                        now < since + OFFLOAD_PATIENCE
                    };
                    let withheld = self
                        .super_seed
                        .as_ref()
                        .is_some_and(|seeder| !seeder.may_serve(choker_key(key), block.piece));
                    if self.have.has(block.piece) && !offload && !withheld {
                        if let Some(o) = &mut p.offload {
                            o.served.insert(block.piece);
                        }
                        p.to_read.push_back(block);
                        self.issue_reads(key);
                    } else {
                        let _ = p.session.reject(block);
                    }
                }
                WireEvent::Cancel(block) => {
                    p.reading.retain(|b| *b != block);
                    p.to_read.retain(|b| *b != block);
                }
                WireEvent::Block { block, data } => self.on_block(key, block, data),
                WireEvent::Metadata(Metadata::Request { piece }) => self.serve_metadata(key, piece),
                WireEvent::HashRequest(request) => self.serve_hashes(key, request),
                WireEvent::Pex(pex) => {
                    if self.config.pex_interval.is_some() {
                        self.learn(pex.added.into_iter().map(|(a, _)| a));
                        // Dial them now, not at the next tick (libtorrent: a "connect boost").
                        self.fill_connections(now);
                    }
                }
                WireEvent::Closed(reason) => {
                    self.remove_peer(key, reason);
                    return;
                }
                WireEvent::Unchoked | WireEvent::AllowedFast(_) => p.exhausted = None,
                WireEvent::ExtendedHandshake(h) => {
                    // Its first PEX message soon, not an interval later: a newcomer learns the
                    // swarm at once (libtorrent sends its first at the next second's tick). A
                    // repeated handshake keeps the schedule (libtorrent counts every message).
                    if self.config.pex_interval.is_some()
                        && p.pex_due.is_none()
                        && h.extension_id(peer_wire::extended::name::UT_PEX).is_some()
                    {
                        p.pex_due = Some(now + PEX_FIRST_DELAY);
                    }
                }
                WireEvent::Handshake { .. }
                | WireEvent::Snubbed { .. }
                | WireEvent::Suggest(_)
                | WireEvent::Port(_)
                | WireEvent::Metadata(_)
                | WireEvent::Extended { .. }
                | WireEvent::Hashes { .. }
                | WireEvent::HashReject(_) => {}
            }
        }
    }

    fn on_block(&mut self, key: PeerKey, block: BlockRef, data: Bytes) {
        let Ok(received) = self.picker.block_received(key, block) else {
            return;
        };
        if received.write {
            if let Some(p) = self.peers.get(&key) {
                self.senders
                    .entry(block.piece)
                    .or_default()
                    .push((block, p.addr.ip()));
            } else if let Some(i) = self.web_seeds.iter().position(|w| w.key == key) {
                self.web_senders.entry(block.piece).or_default().insert(i);
            }
            self.actions.push_back(Action::Write {
                piece: block.piece,
                offset: block.offset,
                data,
            });
        }
        for other in received.cancel {
            if let Some(p) = self.peers.get_mut(&other) {
                let _ = p.session.cancel(block);
                self.dirty.insert(other);
            }
        }
        if let Some(piece) = received.piece_complete {
            self.actions.push_back(Action::Verify(piece));
        }
    }

    /// Gives idle web seeds a batch of blocks each. A web seed is the origin's fallback: it is
    /// asked only for pieces no connected peer has, unless nothing at all came from peers in
    /// the last tick (then for anything). Runs once a tick and when a web seed request ends
    /// (it costs O(pieces)).
    fn fill_web_seeds(&mut self, now: Instant) {
        if self.finished || self.stopped || self.web_seeds.iter().all(|w| w.retired) {
            return;
        }
        let web = self.web_seeds.iter().filter(|w| !w.retired).count() as u32;
        let starving = self.peers.values().all(|p| p.download_rate == 0);
        let all = if starving {
            Bitfield::full(self.have.len())
        } else {
            let mut only_here = Bitfield::new(self.have.len());
            let mut any = false;
            for piece in (0..self.have.len()).map(PieceIndex) {
                if self.picker.is_wanted(piece) && self.picker.availability(piece) <= web {
                    only_here.insert(piece);
                    any = true;
                }
            }
            if !any {
                return;
            }
            only_here
        };
        for i in 0..self.web_seeds.len() {
            let ws = &self.web_seeds[i];
            if ws.retired
                || ws.in_flight >= WEB_SEED_PARALLEL
                || ws.retry_at.is_some_and(|t| now < t)
            {
                continue;
            }
            let key = ws.key;
            let mut blocks = Vec::new();
            let picked = self
                .picker
                .pick(
                    key,
                    &all,
                    WEB_SEED_BATCH,
                    &PickOptions::default(),
                    &mut blocks,
                )
                .unwrap_or(0);
            if picked == 0 {
                continue;
            }
            blocks.sort_unstable();
            self.web_seeds[i].in_flight += 1;
            self.actions
                .push_back(Action::WebSeedRequest { seed: i, blocks });
        }
    }

    /// Keeps the peer's pipeline full: enough requests for `request_queue_time` at its rate.
    fn fill_requests(&mut self, key: PeerKey) {
        let Some(p) = self.peers.get_mut(&key) else {
            return;
        };
        if self.finished || !p.in_picker || !p.session.is_open() || !p.session.am_interested() {
            return;
        }
        let choked = p.session.peer_choking();
        if choked && p.session.allowed_fast().is_empty() {
            return;
        }
        let per_second = p.download_rate as f64 / f64::from(piece_picker::BLOCK_LEN);
        let target = (per_second * self.config.request_queue_time.as_secs_f64()).ceil() as usize;
        let target = target.max(self.config.min_pipeline);
        // Endgame (every missing block already requested): a block is asked of a second peer
        // only by a peer with nothing else in flight, one at a time, as libtorrent does;
        // otherwise the last part of the download is fetched several times over.
        let target = if self.picker.is_endgame() { 1 } else { target };
        let outstanding = p.session.requested().len();
        let room = target
            .saturating_sub(outstanding)
            .min(p.session.request_slots());
        if room == 0 {
            return;
        }
        let Some(bits) = p.session.peer_pieces() else {
            return;
        };
        // What the peer has, and the pieces it lets us have while choked, less what it declined.
        let allowed_fast = |p: &Peer| -> Vec<PieceIndex> {
            let declined = p.declined.as_ref().map(|(d, _)| d);
            p.session
                .allowed_fast()
                .iter()
                .copied()
                .filter(|&piece| declined.is_none_or(|d| !d.has(piece)))
                .collect()
        };
        // (Interest follows what it has: it may serve what it declined later.)
        let has = bits;
        let masked;
        let bits = match &p.declined {
            Some((declined, _)) => {
                let mut b = bits.clone();
                for piece in declined.iter() {
                    b.remove(piece);
                }
                masked = b;
                &masked
            }
            None => bits,
        };
        let generation = self.picker.generation();
        if p.exhausted == Some(generation) {
            #[cfg(any(test, fuzzing))]
            {
                // The skip is exact: a pick now (on a copy) finds nothing either.
                let allowed = choked.then(|| allowed_fast(p));
                let options = PickOptions {
                    choked_with_allowed_fast: allowed.as_deref(),
                };
                let mut copy = self.picker.clone();
                let mut out = Vec::new();
                let n = copy.pick(key, bits, room, &options, &mut out).unwrap_or(0);
                assert_eq!(n, 0, "a skipped pick would have found {out:?}");
            }
            // Nothing new to pick; the interest goes once nothing is in flight either.
            if outstanding == 0 && !choked && !self.picker.is_interesting(has) {
                let _ = p.session.set_interested(false);
            }
            return;
        }
        let allowed = choked.then(|| allowed_fast(p));
        let options = PickOptions {
            choked_with_allowed_fast: allowed.as_deref(),
        };
        self.scratch.clear();
        let picked = self
            .picker
            .pick(key, bits, room, &options, &mut self.scratch)
            .unwrap_or(0);
        // The peer has nothing we still want (not merely nothing free to request now: blocks
        // requested of others may come back).
        let done = picked == 0 && outstanding == 0 && !choked && !self.picker.is_interesting(has);
        // In endgame a block's requesters come and go without the generation changing: no
        // caching there (it is short).
        p.exhausted = (picked < room && !self.picker.is_endgame()).then_some(generation);
        for &block in &self.scratch {
            // A suspect piece comes from one peer only: the first to be given a block of it.
            let other_owner = self
                .suspects
                .get_mut(&block.piece)
                .is_some_and(|suspect| *suspect.owner.get_or_insert(key) != key);
            if other_owner || p.session.request(block).is_err() {
                let _ = self.picker.request_dropped(key, block);
            }
        }
        if done {
            let _ = p.session.set_interested(false);
        }
    }

    /// Hands the peer's pending requests to the driver to read while the connection's send
    /// buffer (queued bytes plus reads in progress) is below its watermark: a second's worth
    /// at the peer's current rate, between 64 KiB and 1 MiB (libtorrent scales its
    /// `send_buffer_watermark` the same way).
    fn issue_reads(&mut self, key: PeerKey) {
        let Some(p) = self.peers.get_mut(&key) else {
            return;
        };
        let watermark = (p.upload_rate as usize).clamp(64 << 10, 1 << 20);
        let mut pending =
            p.session.queued_bytes() + p.reading.iter().map(|b| b.len as usize).sum::<usize>();
        while pending < watermark {
            let Some(block) = p.to_read.pop_front() else {
                break;
            };
            pending += block.len as usize;
            p.reading.push(block);
            self.actions.push_back(Action::Read { peer: key, block });
        }
    }

    fn serve_metadata(&mut self, key: PeerKey, piece: u32) {
        let Some(p) = self.peers.get_mut(&key) else {
            return;
        };
        let reply = match &self.config.metadata {
            Some(info) => {
                let start = piece as usize * METADATA_PIECE_LEN as usize;
                if start < info.len() {
                    let end = (start + METADATA_PIECE_LEN as usize).min(info.len());
                    Metadata::Data {
                        piece,
                        total_size: u32::try_from(info.len()).unwrap_or(u32::MAX),
                        data: info.slice(start..end),
                    }
                } else {
                    Metadata::Reject { piece }
                }
            }
            None => Metadata::Reject { piece },
        };
        let _ = p.session.send_metadata(&reply);
    }

    /// Answers a BEP 52 hash request from [`Config::piece_layers`], or rejects it (BEP 52:
    /// "Hash requests MUST be answered with either a 'hashes' or 'hash reject' message"),
    /// whatever the choke state (BEP 52: "Hash requests may be sent to a peer regardless of its
    /// choke state").
    fn serve_hashes(&mut self, key: PeerKey, request: peer_wire::HashRequest) {
        /// A peer that does not read what we send gets rejects rather than our memory: an
        /// answer (at most 18 KiB) is queued only below this. Blocks alone stay under about
        /// 1 MiB (`issue_reads`' watermark), so a reading peer never reaches it.
        const HASH_REPLY_BUDGET: usize = 2 << 20;
        let Some(p) = self.peers.get_mut(&key) else {
            return;
        };
        let answer = match &self.config.piece_layers {
            _ if p.session.queued_bytes() > HASH_REPLY_BUDGET => None,
            Some(layers) => layers.answer(&request).ok(),
            None => None,
        };
        let _ = match answer {
            Some(hashes) => p.session.send_hashes(request, hashes),
            None => p.session.send_hash_reject(request),
        };
    }

    fn remove_peer(&mut self, key: PeerKey, reason: CloseReason) {
        let Some(p) = self.peers.remove(&key) else {
            return;
        };
        if p.in_picker {
            let empty = Bitfield::new(self.config.geometry().num_pieces);
            let bits = p.session.peer_pieces().unwrap_or(&empty);
            let _ = self.picker.peer_left(key, bits);
        }
        let _ = self.choker.remove_peer(choker_key(key));
        for suspect in self.suspects.values_mut() {
            if suspect.owner == Some(key) {
                suspect.owner = None;
            }
        }
        if let Some(seeder) = &mut self.super_seed {
            let _ = seeder.remove_peer(choker_key(key));
        }
        let (down, up) = p.session.payload_bytes();
        self.downloaded += down;
        self.uploaded += up;
        if !p.closed_by_driver {
            self.actions.push_back(Action::Disconnect(key));
        }
        self.events.push_back(Event::PeerClosed {
            peer: key,
            addr: p.addr,
            reason,
        });
    }

    /// Rates and pipelines.
    fn tick(&mut self, now: Instant) {
        let secs = self.config.tick.as_secs_f64();
        for (&key, p) in &mut self.peers {
            let (received, sent) = p.session.payload_bytes();
            p.download_rate = ((received - p.last_received) as f64 / secs) as u64;
            p.last_received = received;
            p.upload_rate = ((sent - p.last_sent) as f64 / secs) as u64;
            p.last_sent = sent;
            if p.declined
                .as_ref()
                .is_some_and(|&(_, since)| now >= since + DECLINE_MEMORY)
            {
                p.declined = None;
                p.exhausted = None;
            }
            self.dirty.insert(key);
        }
        self.next_tick = now + self.config.tick;
        self.fill_web_seeds(now);
        self.pex_round(now);
    }

    /// Where a peer accepts connections: the address we dialed, or the port its extended
    /// handshake gave (`p`) at the address it came from.
    fn listen_addr(p: &Peer) -> Option<SocketAddr> {
        if p.outgoing {
            return Some(p.addr);
        }
        let port = p.session.peer_extended()?.listen_port?;
        (port != 0).then(|| SocketAddr::new(p.addr.ip(), port))
    }

    /// BEP 11: tells each peer whose PEX message is due which peers we connected to and dropped
    /// since our last message to it (at most 50 of each per message). A peer is due
    /// [`PEX_FIRST_DELAY`] after its extended handshake, then an interval after each message;
    /// a due peer with nothing new to hear stays due, so news reaches it at the next tick, and
    /// two messages to it are always at least an interval apart.
    fn pex_round(&mut self, now: Instant) {
        let Some(interval) = self.config.pex_interval else {
            return;
        };
        let interval = interval.max(PEX_MIN_INTERVAL);
        let due = |p: &Peer| p.pex_due.is_some_and(|t| t <= now);
        if !self.peers.values().any(due) {
            return;
        }
        let current: BTreeMap<SocketAddr, PexFlags> = self
            .peers
            .values()
            .filter(|p| p.session.is_open())
            .filter_map(|p| {
                let addr = Self::listen_addr(p)?;
                let mut flags = 0;
                if p.session.peer_pieces().is_some_and(Bitfield::is_full) {
                    flags |= PexFlags::SEED;
                }
                if p.outgoing {
                    flags |= PexFlags::REACHABLE;
                }
                Some((addr, PexFlags(flags)))
            })
            .collect();
        if current != self.pex_members {
            self.pex_members = current;
            self.pex_generation += 1;
        }
        let (members, generation) = (&self.pex_members, self.pex_generation);
        for (&key, p) in &mut self.peers {
            // A due peer already up to date with this set costs nothing more (every peer is
            // due in a quiet swarm, at every tick).
            if !due(p) || p.pex_told == Some(generation) {
                continue;
            }
            let supports = p
                .session
                .peer_extended()
                .is_some_and(|e| e.extension_id(peer_wire::extended::name::UT_PEX).is_some());
            if !supports || !p.session.is_open() {
                continue;
            }
            let own = Self::listen_addr(p);
            let mut added: Vec<(SocketAddr, PexFlags)> = members
                .iter()
                .filter(|(a, _)| Some(**a) != own && !p.pex_sent.contains(a))
                .map(|(&a, &f)| (a, f))
                .collect();
            let mut dropped: Vec<SocketAddr> = p
                .pex_sent
                .iter()
                .filter(|a| !members.contains_key(a))
                .copied()
                .collect();
            // At most PEX_MAX_PEERS added and dropped per message; the rest go in the next.
            let everything = added.len() <= PEX_MAX_PEERS && dropped.len() <= PEX_MAX_PEERS;
            added.truncate(PEX_MAX_PEERS);
            dropped.truncate(PEX_MAX_PEERS);
            if everything {
                p.pex_told = Some(generation);
            }
            if added.is_empty() && dropped.is_empty() {
                continue;
            }
            for a in &dropped {
                p.pex_sent.remove(a);
            }
            p.pex_sent.extend(added.iter().map(|&(a, _)| a));
            if p.session.send_pex(&Pex { added, dropped }).is_ok() {
                self.sending.insert(key);
            }
            p.pex_due = Some(now + interval);
        }
    }

    /// Remembers new addresses as candidates (not banned ones, not known ones).
    fn learn(&mut self, addrs: impl IntoIterator<Item = SocketAddr>) {
        for addr in addrs {
            if self.banned.contains(&addr.ip()) || self.known.contains_key(&addr) {
                continue;
            }
            let fresh = Known {
                retry_at: None,
                failures: 0,
            };
            self.known.insert(addr, fresh);
            self.candidates.push_back(addr);
        }
    }

    /// Asks for connections while there is room.
    fn fill_connections(&mut self, now: Instant) {
        if self.stopped {
            return;
        }
        let mut deferred = Vec::new();
        while self.peers.len() + self.connecting.len() < self.config.max_connections
            && self.connecting.len() < self.config.max_connecting
        {
            let Some(addr) = self.candidates.pop_front() else {
                break;
            };
            if self.banned.contains(&addr.ip())
                || self.connecting.contains(&addr)
                || self.peers.values().any(|p| p.addr == addr)
            {
                continue;
            }
            if let Some(k) = self.known.get(&addr)
                && k.retry_at.is_some_and(|t| t > now)
            {
                deferred.push(addr);
                continue;
            }
            self.connecting.insert(addr);
            self.actions.push_back(Action::Connect(addr));
        }
        self.candidates.extend(deferred);
    }
}

/// The choker's name for a peer: the same number.
fn choker_key(key: PeerKey) -> choker::PeerKey {
    choker::PeerKey(key.0)
}

#[cfg(test)]
mod tests;
