//! Magnet links: the info dictionary fetched from peers (BEP 9, ut_metadata), checked against
//! the info-hash, and turned into a [`Metainfo`] that [`crate::client::Node::add`] takes.
//!
//! [`fetch_metadata`] finds peers through the link's trackers (`tr`, one tier each, as
//! libtorrent reads them), its `x.pe` peers and any the caller adds, connects to them over TCP,
//! and drives the sans-IO [`MetadataFetch`] with one [`Session::without_geometry`] per
//! connection. Each connection is a small task of its own (the traffic is a few messages of
//! 16 KiB); the fetch runs on the caller's task.
//!
//! ```text
//!   trackers ──announce (started)──┐
//!   x.pe, extra peers ─────────────┼─▶ candidates ──connect──▶ connection tasks (Session)
//!                                  │        ▲                    │ extended handshake,
//!                                  │        └── more peers ──────┤ ut_metadata messages
//!   MetadataFetch ◀──────────────────────────────────────────────┤
//!        └─ requests ──▶ connection tasks ──▶ Done (dictionary)    │ hashes, hash rejects
//!   PieceLayersFetch (v2, files of several pieces) ◀─────────────┘
//!        └─ hash requests ──▶ connection tasks ──▶ Done ──▶ .torrent bytes ──▶ Metainfo
//! ```
//!
//! A v2-only torrent (BEP 52) needs more than its info dictionary: the piece layer of each
//! file longer than one piece, which lies outside it. Those are asked of the same peers with
//! BEP 52 hash requests, by the sans-IO [`PieceLayersFetch`], each answer checked against its
//! file's `pieces root` before it is kept. (Hybrid torrents need none: their v1 piece hashes
//! are in the dictionary.)
//!
//! The [`Metainfo`] is built from the exact bytes the peers sent (so its info-hash is the
//! link's) with the piece layers fetched, and carries the link's trackers as its announce list
//! and its web seeds (`ws`) as `url-list`. We do not listen here: `listen_port` is only what
//! the trackers are told (the port of the [`crate::client::Node`] that downloads next).

use std::collections::{BTreeMap, HashSet, VecDeque};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use peer_wire::extended::{ExtendedHandshake, Metadata};
use peer_wire::{
    Config, Event as WireEvent, Handshake, HashRequest, InfoHash, PeerId, Reserved, Session,
};
use swarm::PeerKey;
use swarm::metadata::{self, Failure, MetadataFetch};
use swarm::piece_layers::{self, PieceLayersFetch};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::mpsc;
use torrent_format::bencode::encode_bytes;
use torrent_format::magnet::PeerAddr;
use torrent_format::metainfo::Version;
use torrent_format::{Magnet, Metainfo, MetainfoError};

use crate::clock;
use crate::mse_io::{self, Policy};
use crate::torrent::{Announce, AnnounceReply, AnnounceRequest, CONNECT_TIMEOUT};
use crate::trackers::Trackers;

/// Settings of [`fetch_metadata_with`].
#[derive(Clone, Debug)]
pub struct FetchOptions {
    /// Our peer id (the node's).
    pub peer_id: [u8; 20],
    /// The port the trackers are told.
    pub listen_port: u16,
    /// Peers to try besides the link's own.
    pub extra_peers: Vec<SocketAddr>,
    /// Give up after this long.
    pub timeout: Duration,
    /// Largest info dictionary accepted (libtorrent: 30 MiB).
    pub max_size: u32,
    /// Most connections at once.
    pub max_connections: usize,
    /// Protocol encryption of the connections (MSE first, then plain, by default).
    pub encryption: Policy,
}

impl FetchOptions {
    /// Defaults: 30 MiB at most, 30 connections, encryption [`Policy::Enabled`].
    pub fn new(peer_id: [u8; 20], listen_port: u16, timeout: Duration) -> Self {
        Self {
            peer_id,
            listen_port,
            extra_peers: Vec::new(),
            timeout,
            max_size: metadata::Config::default().max_size,
            max_connections: 30,
            encryption: Policy::Enabled,
        }
    }
}

/// Why a magnet link's metadata could not be had.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MagnetError {
    /// No peer offered the metadata: the link names none and has no tracker we can use, the
    /// trackers knew none, or none of the peers answered with ut_metadata.
    #[error("no peer offered the torrent's metadata")]
    NoPeers,
    /// Every tracker of the link failed and no other peer was known.
    #[error("no tracker could be reached: {0}")]
    NoTrackerReachable(String),
    /// The time ran out with peers but without the whole dictionary.
    #[error("timed out fetching the metadata ({received} of {total} pieces)")]
    TimedOut {
        /// Pieces received.
        received: u32,
        /// Pieces in the dictionary (0: its size was not known yet).
        total: u32,
    },
    /// The peers announced a dictionary over the limit.
    #[error("the metadata is {size} bytes, over the limit of {limit}")]
    TooLarge {
        /// Size announced.
        size: u32,
        /// The limit.
        limit: u32,
    },
    /// Every peer that had it left before the dictionary was complete.
    #[error("the peers left before the metadata was complete ({received} of {total} pieces)")]
    PeersLeft {
        /// Pieces received.
        received: u32,
        /// Pieces in the dictionary.
        total: u32,
    },
    /// Dictionaries assembled from the peers kept failing the info-hash check.
    #[error("{attempts} copies of the metadata from peers did not match the info-hash")]
    BadMetadata {
        /// How many.
        attempts: u32,
    },
    /// The dictionary matches the info-hash but is not a torrent we can use.
    #[error("the metadata matches the info-hash but is not a usable torrent: {0}")]
    Invalid(#[from] MetainfoError),
    /// A v2 torrent's piece layers (BEP 52) could not be had from the peers: without them the
    /// pieces of its files longer than one piece cannot be checked.
    #[error("the metadata is in, but not the piece layers: {0}")]
    PieceLayers(piece_layers::Failure),
}

/// Fetches the info dictionary of `magnet` from its peers and returns it as a [`Metainfo`]
/// whose info-hash is the link's, with the link's trackers as its announce list.
/// `extra_peers` are tried besides the link's `x.pe`; `listen_port` is what the trackers are
/// told.
pub async fn fetch_metadata(
    magnet: &Magnet,
    peer_id: [u8; 20],
    listen_port: u16,
    extra_peers: &[SocketAddr],
    timeout: Duration,
) -> Result<Metainfo, MagnetError> {
    let mut options = FetchOptions::new(peer_id, listen_port, timeout);
    options.extra_peers = extra_peers.to_vec();
    fetch_metadata_with(magnet, &options).await
}

/// [`fetch_metadata`] with every setting.
pub async fn fetch_metadata_with(
    magnet: &Magnet,
    options: &FetchOptions,
) -> Result<Metainfo, MagnetError> {
    let config = metadata::Config {
        max_size: options.max_size,
        timeout: Some(options.timeout),
        ..metadata::Config::default()
    };
    let deadline = clock() + options.timeout;
    let fetch = MetadataFetch::new(config, magnet.info_hashes, clock())
        .map_err(|_| MagnetError::NoPeers)?;
    let mut fetcher = Fetcher::new(options, magnet, fetch);
    fetcher.add_link_peers(magnet).await;
    let Outcome::Info(info) = fetcher.run().await? else {
        // The metadata stage ends with the dictionary or an error.
        return Err(MagnetError::NoPeers);
    };
    let mut layers = Vec::new();
    let bare = Metainfo::from_info_bytes(&info, &torrent_format::metainfo::Limits::default())?;
    if bare.version() == Version::V2 {
        // BEP 52: files longer than one piece are checked against piece layers, which are not
        // in the dictionary.
        let config = piece_layers::Config {
            timeout: Some(deadline.saturating_duration_since(clock())),
            ..piece_layers::Config::default()
        };
        let fetch = PieceLayersFetch::new(config, &bare, clock())
            .map_err(|_| MagnetError::Invalid(MetainfoError::InvalidPieceLength))?;
        if fetch.num_layers() > 0 {
            fetcher.start_layers(fetch);
            if let Outcome::Layers(got) = fetcher.run().await? {
                layers = got;
            }
        }
    }
    build_metainfo_with_layers(&info, &layers, magnet)
}

/// The `.torrent` for a verified info dictionary: `announce` and `announce-list` from the
/// link's trackers (each its own tier), `info` exactly as received, `url-list` from its web
/// seeds. Keys in bencode's sorted order.
pub fn build_metainfo(info: &[u8], magnet: &Magnet) -> Result<Metainfo, MagnetError> {
    build_metainfo_with_layers(info, &[], magnet)
}

/// [`build_metainfo`] with the v2 piece layers fetched from peers, as (`pieces root`, one hash
/// per piece), under `piece layers` (checked again against their roots by the parser).
pub fn build_metainfo_with_layers(
    info: &[u8],
    layers: &[([u8; 32], Vec<[u8; 32]>)],
    magnet: &Magnet,
) -> Result<Metainfo, MagnetError> {
    let layer_bytes: usize = layers.iter().map(|(_, l)| 48 + l.len() * 32).sum();
    let mut out = Vec::with_capacity(info.len() + layer_bytes + 512);
    out.push(b'd');
    if let Some(first) = magnet.trackers.first() {
        encode_bytes(b"announce", &mut out);
        encode_bytes(first.as_bytes(), &mut out);
        encode_bytes(b"announce-list", &mut out);
        out.push(b'l');
        for url in &magnet.trackers {
            out.push(b'l');
            encode_bytes(url.as_bytes(), &mut out);
            out.push(b'e');
        }
        out.push(b'e');
    }
    encode_bytes(b"info", &mut out);
    out.extend_from_slice(info);
    if !layers.is_empty() {
        // Keys in sorted order, as bencode wants.
        let mut sorted: Vec<&([u8; 32], Vec<[u8; 32]>)> = layers.iter().collect();
        sorted.sort_by_key(|(root, _)| *root);
        encode_bytes(b"piece layers", &mut out);
        out.push(b'd');
        for (root, layer) in sorted {
            encode_bytes(root, &mut out);
            encode_bytes(&layer.concat(), &mut out);
        }
        out.push(b'e');
    }
    if !magnet.web_seeds.is_empty() {
        encode_bytes(b"url-list", &mut out);
        out.push(b'l');
        for url in &magnet.web_seeds {
            encode_bytes(url.as_bytes(), &mut out);
        }
        out.push(b'e');
    }
    out.push(b'e');
    let meta = Metainfo::from_bytes(&out)?;
    // The bytes hashed are the bytes parsed: the same info-hashes (checked all the same).
    let (want, got) = (magnet.info_hashes, meta.info_hashes());
    if want.v1.is_some_and(|h| got.v1 != Some(h)) || want.v2.is_some_and(|h| got.v2 != Some(h)) {
        return Err(MagnetError::BadMetadata { attempts: 1 });
    }
    Ok(meta)
}

/// What woke the fetch up.
enum Wake {
    Conn(Option<FromConn>),
    Announced(Result<AnnounceReply, String>),
    Timer,
}

/// What a connection task tells the fetch.
#[derive(Debug)]
enum FromConn {
    /// The handshakes are through.
    Open(PeerKey),
    Extended(PeerKey, ExtendedHandshake),
    Metadata(PeerKey, Metadata),
    Hashes(PeerKey, HashRequest, bytes::Bytes),
    HashReject(PeerKey, HashRequest),
    Closed(PeerKey),
}

/// What the fetch asks a connection task to send.
#[derive(Debug)]
enum ToConn {
    Metadata(Metadata),
    HashRequest(HashRequest),
}

/// How a stage of the fetch ended.
enum Outcome {
    /// The info dictionary.
    Info(bytes::Bytes),
    /// The piece layers, by `pieces root`.
    Layers(Vec<([u8; 32], Vec<[u8; 32]>)>),
}

/// The fetch's side of one connection.
#[derive(Debug)]
struct Conn {
    to: mpsc::UnboundedSender<ToConn>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Conn {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Re-announces while the fetch lacks peers: 2 s, doubling to 30 s.
const ANNOUNCE_BACKOFF: (Duration, Duration) = (Duration::from_secs(2), Duration::from_secs(30));
/// With no other peer known, this many failed announces in a row end the fetch.
const MAX_FAILED_ANNOUNCES: u32 = 3;

struct Fetcher {
    fetch: MetadataFetch,
    /// The second stage, once the dictionary is in (v2 torrents with files of several pieces).
    layers: Option<PieceLayersFetch>,
    /// Connections whose handshakes are through.
    open: std::collections::BTreeSet<PeerKey>,
    info_hash: [u8; 20],
    peer_id: [u8; 20],
    max_size: u32,
    max_connections: usize,
    encryption: Policy,
    candidates: VecDeque<SocketAddr>,
    known: HashSet<SocketAddr>,
    conns: BTreeMap<PeerKey, Conn>,
    next_key: u32,
    from_conns: (mpsc::Sender<FromConn>, mpsc::Receiver<FromConn>),
    trackers: Option<Trackers>,
    announcing: Option<tokio::task::JoinHandle<Result<AnnounceReply, String>>>,
    next_announce: Option<Instant>,
    announce_backoff: Duration,
    tracker_answered: bool,
    tracker_error: Option<String>,
    failed_announces: u32,
}

impl Fetcher {
    fn new(options: &FetchOptions, magnet: &Magnet, fetch: MetadataFetch) -> Self {
        let info_hash = fetch.info_hash();
        let tiers = magnet.trackers.iter().map(|t| vec![t.clone()]).collect();
        let key = u32::from_le_bytes(crate::client::random_bytes::<4>());
        let trackers = Trackers::new(tiers, info_hash, options.peer_id, options.listen_port, key);
        let now = clock();
        let mut fetcher = Self {
            fetch,
            layers: None,
            open: std::collections::BTreeSet::new(),
            info_hash,
            peer_id: options.peer_id,
            max_size: options.max_size,
            max_connections: options.max_connections.max(1),
            encryption: options.encryption,
            candidates: VecDeque::new(),
            known: HashSet::new(),
            conns: BTreeMap::new(),
            next_key: 0,
            from_conns: mpsc::channel(256),
            next_announce: (!trackers.is_empty()).then_some(now),
            trackers: (!trackers.is_empty()).then_some(trackers),
            announcing: None,
            announce_backoff: ANNOUNCE_BACKOFF.0,
            tracker_answered: false,
            tracker_error: None,
            failed_announces: 0,
        };
        for &addr in &options.extra_peers {
            fetcher.add_candidate(addr);
        }
        fetcher
    }

    /// The link's own peers (`x.pe`), host names resolved.
    async fn add_link_peers(&mut self, magnet: &Magnet) {
        for peer in &magnet.peers {
            match peer {
                PeerAddr::Ip(addr) => self.add_candidate(*addr),
                PeerAddr::Host { host, port } => {
                    let lookup = tokio::net::lookup_host((host.as_str(), *port));
                    if let Ok(Ok(addrs)) = tokio::time::timeout(CONNECT_TIMEOUT, lookup).await {
                        for addr in addrs {
                            self.add_candidate(addr);
                        }
                    }
                }
            }
        }
    }

    /// Moves on to the piece layers: every open connection may have them.
    fn start_layers(&mut self, mut fetch: PieceLayersFetch) {
        let now = clock();
        for &key in &self.open {
            fetch.handle_peer_joined(now, key);
        }
        self.layers = Some(fetch);
    }

    /// When the current stage's fetch wants its `handle_timeout`.
    fn stage_timeout(&self) -> Option<Instant> {
        match &self.layers {
            Some(layers) => layers.poll_timeout(),
            None => self.fetch.poll_timeout(),
        }
    }

    /// Peers the current stage may ask.
    fn stage_peers(&self) -> usize {
        match &self.layers {
            Some(layers) => layers.num_peers(),
            None => self.fetch.num_peers(),
        }
    }

    fn give_up(&mut self) {
        match &mut self.layers {
            Some(layers) => layers.give_up(),
            None => self.fetch.give_up(),
        }
    }

    /// Runs the current stage (the dictionary, then the piece layers) to its end.
    async fn run(&mut self) -> Result<Outcome, MagnetError> {
        loop {
            self.fill_connections();
            if let Some(result) = self.drain() {
                return result;
            }
            if self.conns.is_empty()
                && self.candidates.is_empty()
                && self.announcing.is_none()
                && self.next_announce.is_none()
            {
                if self.trackers.is_some() {
                    // The trackers may know others by now.
                    self.schedule_announce();
                } else {
                    // Nothing left to try.
                    self.give_up();
                    if let Some(result) = self.drain() {
                        return result;
                    }
                }
            }
            if self.announcing.is_none()
                && let Some(at) = self.next_announce
                && clock() >= at
            {
                self.announce();
            }
            let wake = [self.stage_timeout(), self.next_announce]
                .into_iter()
                .flatten()
                .min()
                .unwrap_or_else(|| clock() + Duration::from_secs(60));
            let woke = {
                let from_conns = &mut self.from_conns.1;
                let announcing = &mut self.announcing;
                tokio::select! {
                    message = from_conns.recv() => Wake::Conn(message),
                    reply = async {
                        match announcing {
                            Some(task) => task.await,
                            None => std::future::pending().await,
                        }
                    } => Wake::Announced(reply.unwrap_or_else(|e| Err(e.to_string()))),
                    () = tokio::time::sleep_until(wake.into()) => Wake::Timer,
                }
            };
            match woke {
                // We hold a sender: the channel never closes.
                Wake::Conn(message) => {
                    if let Some(message) = message {
                        self.on_conn(message);
                    }
                }
                Wake::Announced(reply) => {
                    self.announcing = None;
                    self.on_announce(reply);
                    if self.failed_announces >= MAX_FAILED_ANNOUNCES
                        && !self.tracker_answered
                        && self.known.is_empty()
                    {
                        let error = self.tracker_error.take().unwrap_or_default();
                        return Err(MagnetError::NoTrackerReachable(error));
                    }
                }
                Wake::Timer => {
                    let now = clock();
                    if self.stage_timeout().is_some_and(|t| now >= t) {
                        match &mut self.layers {
                            Some(layers) => layers.handle_timeout(now),
                            None => self.fetch.handle_timeout(now),
                        }
                    }
                }
            }
        }
    }

    fn add_candidate(&mut self, addr: SocketAddr) {
        if self.known.insert(addr) {
            self.candidates.push_back(addr);
        }
    }

    fn announce(&mut self) {
        let Some(trackers) = &self.trackers else {
            return;
        };
        self.next_announce = None;
        let request = AnnounceRequest {
            event: swarm::AnnounceEvent::Started,
            uploaded: 0,
            downloaded: 0,
            // Unknown until the metadata is in; not 0, which would make us a seed.
            left: 16 * 1024,
        };
        self.announcing = Some(tokio::spawn(trackers.announce(request)));
    }

    fn on_announce(&mut self, reply: Result<AnnounceReply, String>) {
        match reply {
            Ok(reply) => {
                self.tracker_answered = true;
                self.failed_announces = 0;
                for addr in reply.peers {
                    self.add_candidate(addr);
                }
            }
            Err(e) => {
                self.failed_announces += 1;
                self.tracker_error = Some(e);
            }
        }
        // Ask again while no peer offers the metadata (or the piece layers).
        if self.stage_peers() == 0 {
            self.schedule_announce();
        }
    }

    fn schedule_announce(&mut self) {
        self.next_announce = Some(clock() + self.announce_backoff);
        self.announce_backoff = (self.announce_backoff * 2).min(ANNOUNCE_BACKOFF.1);
    }

    fn fill_connections(&mut self) {
        while self.conns.len() < self.max_connections {
            let Some(addr) = self.candidates.pop_front() else {
                return;
            };
            let key = PeerKey(self.next_key);
            self.next_key = self.next_key.wrapping_add(1);
            let (to, from_fetch) = mpsc::unbounded_channel();
            let handshake = Handshake {
                reserved: Reserved::ours(),
                info_hash: InfoHash(self.info_hash),
                peer_id: PeerId(self.peer_id),
            };
            let mut config = Config::for_metadata(handshake);
            config.max_metadata_size = self.max_size;
            let task = tokio::spawn(connection(
                key,
                (addr, self.encryption),
                config,
                from_fetch,
                self.from_conns.0.clone(),
            ));
            self.conns.insert(key, Conn { to, task });
        }
    }

    fn on_conn(&mut self, message: FromConn) {
        let now = clock();
        match message {
            FromConn::Open(key) => {
                self.open.insert(key);
                if let Some(layers) = &mut self.layers {
                    layers.handle_peer_joined(now, key);
                }
            }
            FromConn::Extended(key, h) => self.fetch.handle_extended_handshake(now, key, &h),
            FromConn::Metadata(key, m) => self.fetch.handle_metadata(now, key, &m),
            FromConn::Hashes(key, request, hashes) => {
                if let Some(layers) = &mut self.layers {
                    layers.handle_hashes(now, key, &request, &hashes);
                }
            }
            FromConn::HashReject(key, request) => {
                if let Some(layers) = &mut self.layers {
                    layers.handle_hash_reject(now, key, &request);
                }
            }
            FromConn::Closed(key) => self.forget(key),
        }
    }

    /// A connection ended (or is ended): neither stage asks it anything more.
    fn forget(&mut self, key: PeerKey) {
        let now = clock();
        self.conns.remove(&key);
        self.open.remove(&key);
        self.fetch.handle_peer_left(now, key);
        if let Some(layers) = &mut self.layers {
            layers.handle_peer_left(now, key);
        }
    }

    /// Hands a message to a connection task; a connection that is gone is forgotten.
    fn send(&mut self, key: PeerKey, message: ToConn) {
        let sent = self
            .conns
            .get(&key)
            .is_some_and(|c| c.to.send(message).is_ok());
        if !sent {
            self.forget(key);
        }
    }

    /// Passes the fetches' requests on; returns the stage's outcome once there is one.
    fn drain(&mut self) -> Option<Result<Outcome, MagnetError>> {
        loop {
            let mut progressed = false;
            // After the dictionary, this still carries rejects of the peers' requests.
            while let Some((key, message)) = self.fetch.poll_transmit() {
                progressed = true;
                self.send(key, ToConn::Metadata(message));
            }
            while let Some((key, request)) = self.layers.as_mut().and_then(|l| l.poll_transmit()) {
                progressed = true;
                self.send(key, ToConn::HashRequest(request));
            }
            while let Some(event) = self.layers.as_mut().and_then(|l| l.poll_event()) {
                progressed = true;
                match event {
                    piece_layers::Event::Done { layers } => {
                        return Some(Ok(Outcome::Layers(layers)));
                    }
                    piece_layers::Event::Failed { reason } => {
                        return Some(Err(MagnetError::PieceLayers(reason)));
                    }
                    piece_layers::Event::BadHashes { peer, .. } => {
                        // The fetch forgot it; dropping the connection closes it.
                        self.conns.remove(&peer);
                        self.open.remove(&peer);
                    }
                }
            }
            while let Some(event) = self.fetch.poll_event() {
                progressed = true;
                match event {
                    metadata::Event::Done(info) => return Some(Ok(Outcome::Info(info))),
                    metadata::Event::Failed { reason } => return Some(Err(self.error(reason))),
                    metadata::Event::Unusable { peer, .. } => {
                        // Dropping the connection closes it.
                        self.conns.remove(&peer);
                        self.open.remove(&peer);
                    }
                    // A dictionary from one peer alone that does not match: that peer lies
                    // (or is broken). It goes, so that it cannot use up the attempts while an
                    // honest peer is still connecting.
                    metadata::Event::HashMismatch { contributors } if contributors.len() == 1 => {
                        self.forget(contributors[0]);
                    }
                    // Several contributors: they are not asked again before the others; the
                    // download that follows checks every piece anyway.
                    metadata::Event::HashMismatch { .. } => {}
                }
            }
            if !progressed {
                return None;
            }
        }
    }

    fn error(&self, reason: Failure) -> MagnetError {
        match reason {
            Failure::NoPeers => match &self.tracker_error {
                Some(e) if !self.tracker_answered && self.known.is_empty() => {
                    MagnetError::NoTrackerReachable(e.clone())
                }
                _ => MagnetError::NoPeers,
            },
            Failure::TooLarge { size, limit } => MagnetError::TooLarge { size, limit },
            Failure::TimedOut { received, total } => MagnetError::TimedOut { received, total },
            Failure::GaveUp { received, total } => MagnetError::PeersLeft { received, total },
            Failure::HashMismatches { attempts } => MagnetError::BadMetadata { attempts },
            _ => MagnetError::NoPeers,
        }
    }
}

/// One peer: connects, runs a [`Session::without_geometry`], reports its handshake, extended
/// handshake, ut_metadata and BEP 52 hash messages (rejecting its hash requests itself), and
/// sends what the fetch asks; reports `Closed` however it ends.
async fn connection(
    key: PeerKey,
    to: (SocketAddr, Policy),
    config: Config,
    mut from_fetch: mpsc::UnboundedReceiver<ToConn>,
    to_fetch: mpsc::Sender<FromConn>,
) {
    let _ = run_connection(key, to, config, &mut from_fetch, &to_fetch).await;
    let _ = to_fetch.send(FromConn::Closed(key)).await;
}

async fn run_connection(
    key: PeerKey,
    (addr, policy): (SocketAddr, Policy),
    config: Config,
    from_fetch: &mut mpsc::UnboundedReceiver<ToConn>,
    to_fetch: &mpsc::Sender<FromConn>,
) -> std::io::Result<()> {
    let info_hash = config.local.info_hash;
    let out = mse_io::dial(addr, info_hash, policy, false, CONNECT_TIMEOUT).await?;
    let mut stream = out.stream;
    let _ = stream.set_nodelay(true);
    // RC4 when the peer chose it: our bytes encrypted on the way out, its bytes decrypted as
    // they come (after what came with the encrypted handshake, decrypted already).
    let (mut decrypt, mut encrypt) = match out.cipher {
        Some(pair) => (Some(pair.receive), Some(pair.send)),
        None => (None, None),
    };
    let mut session = Session::without_geometry(config, clock());
    let mut buf = out.rest;
    buf.reserve(64 << 10);
    loop {
        while let Some(chunk) = session.poll_transmit(clock()) {
            match &mut encrypt {
                Some(rc4) => {
                    let mut chunk = chunk.to_vec();
                    rc4.apply(&mut chunk);
                    stream.write_all(&chunk).await?;
                }
                None => stream.write_all(&chunk).await?,
            }
        }
        while let Some(event) = session.poll_event() {
            let message = match event {
                WireEvent::Handshake { .. } => FromConn::Open(key),
                WireEvent::ExtendedHandshake(h) => FromConn::Extended(key, h),
                WireEvent::Metadata(m) => FromConn::Metadata(key, m),
                WireEvent::Hashes { request, hashes } => FromConn::Hashes(key, request, hashes),
                WireEvent::HashReject(request) => FromConn::HashReject(key, request),
                WireEvent::HashRequest(request) => {
                    // We have no hashes to give (BEP 52: a request MUST be answered).
                    let _ = session.send_hash_reject(request);
                    continue;
                }
                WireEvent::Closed(_) => return Ok(()),
                _ => continue,
            };
            if to_fetch.send(message).await.is_err() {
                return Ok(());
            }
        }
        let wake = session
            .poll_timeout()
            .unwrap_or_else(|| clock() + Duration::from_secs(60));
        if buf.capacity() - buf.len() < 16 << 10 {
            buf.reserve(64 << 10);
        }
        let start = buf.len();
        tokio::select! {
            read = stream.read_buf(&mut buf) => {
                if read? == 0 {
                    return Ok(());
                }
                if let Some(rc4) = &mut decrypt {
                    rc4.apply(&mut buf[start..]);
                }
                session.handle_bytes(clock(), &mut buf);
            }
            message = from_fetch.recv() => {
                // The fetch dropped us, or asks something the peer cannot take.
                let Some(message) = message else { return Ok(()) };
                let sent = match message {
                    ToConn::Metadata(m) => session.send_metadata(&m),
                    ToConn::HashRequest(r) => session.send_hash_request(r),
                };
                if sent.is_err() {
                    return Ok(());
                }
            }
            () = tokio::time::sleep_until(wake.into()) => session.handle_timeout(clock()),
        }
    }
}
