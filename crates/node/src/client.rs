//! A node: one listening port, one peer id, any number of torrents, each on real files.
//!
//! [`Node::add`] opens a torrent's [`Storage`], restores what a previous run verified
//! ([`resume::restore`]: the saved state is trusted, everything else on disk is re-hashed),
//! and starts its engine ([`crate::torrent`]) with its trackers ([`Trackers`]). While it runs,
//! the resume state is saved every [`RESUME_INTERVAL`] when something new was verified, and
//! once more when it stops.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use peer_wire::{BlockRef, Geometry, InfoHash, PeerId, PieceIndex};
use torrent_format::Metainfo;

use crate::conn::Rates;
use crate::disk::{Disk, DiskError};
use crate::listen::{Listener, Registry};
use crate::lock;
use crate::mse_io::Policy;
use crate::rate::RateLimiter;
use crate::signaling::{WsOptions, WsTracker};
use crate::storage::{Mode, Storage, StorageError, resume};
use crate::torrent::{self, Status, TorrentHandle, TorrentParams};
use crate::trackers::Trackers;
use crate::webrtc::{RtcOptions, RtcSwarm, default_host};
use crate::webseed::WebSeed;

/// How often a running download saves its resume state (when something new was verified).
pub const RESUME_INTERVAL: Duration = Duration::from_secs(10);

/// Settings of a node.
#[derive(Clone, Debug)]
pub struct NodeConfig {
    /// Where to accept peers (port 0: any free port).
    pub listen: SocketAddr,
    /// Our peer id (the same for every torrent).
    pub peer_id: [u8; 20],
    /// Most connections per torrent.
    pub max_connections: usize,
    /// Disk worker threads per torrent.
    pub disk_threads: usize,
    /// Most bytes per second sent to peers, all torrents together.
    pub upload_rate: Option<u64>,
    /// Most bytes per second received from peers, all torrents together.
    pub download_rate: Option<u64>,
    /// Protocol encryption (MSE/PE) for connections we dial and accept.
    pub encryption: Policy,
    /// WebRTC peers through the torrents' WebSocket trackers (`ws://`, `wss://`); `None`:
    /// those trackers are ignored.
    pub webrtc: Option<RtcOptions>,
}

impl NodeConfig {
    /// Listening on `listen`, with a fresh random peer id (`-PC0001-` and 12 random bytes
    /// as printable characters), 50 connections per torrent, two disk threads, encryption
    /// [`Policy::Enabled`], WebRTC peers with host candidates on the listening address (or,
    /// when that is unspecified, on [`default_host`]).
    pub fn new(listen: SocketAddr) -> Self {
        let host = if listen.ip().is_unspecified() {
            default_host()
        } else {
            listen.ip()
        };
        Self {
            listen,
            peer_id: random_peer_id(),
            max_connections: 50,
            disk_threads: 2,
            upload_rate: None,
            download_rate: None,
            encryption: Policy::Enabled,
            webrtc: Some(RtcOptions::new(host)),
        }
    }
}

/// A fresh peer id in Azureus style: `-PC0001-` then 12 random alphanumeric characters.
pub fn random_peer_id() -> [u8; 20] {
    const ALPHABET: &[u8] = b"0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";
    let mut id = *b"-PC0001-000000000000";
    let random = random_bytes::<12>();
    for (slot, r) in id[8..].iter_mut().zip(random) {
        *slot = ALPHABET[usize::from(r) % ALPHABET.len()];
    }
    id
}

/// Bytes from the operating system's random source (`/dev/urandom`); if that cannot be read,
/// a mix of the clock and the process id (enough for peer ids and keys, which need to be
/// unique, not secret).
#[expect(
    clippy::disallowed_methods,
    reason = "the runtime may read the wall clock: a last-resort entropy source"
)]
pub fn random_bytes<const N: usize>() -> [u8; N] {
    use std::io::Read;
    let mut out = [0u8; N];
    let ok = std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut out))
        .is_ok();
    if !ok {
        let seed = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64)
            ^ u64::from(std::process::id()).rotate_left(32);
        let mut x = seed;
        for b in &mut out {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            *b = x as u8;
        }
    }
    out
}

/// Why a torrent could not start.
#[derive(Debug, thiserror::Error)]
pub enum AddError {
    /// Its files could not be opened or created.
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// The runtime could not start its workers.
    #[error("cannot start disk workers: {0}")]
    Io(#[from] std::io::Error),
    /// The torrent's geometry is outside what the engine supports.
    #[error("unsupported torrent: {0}")]
    Unsupported(String),
}

/// A running node.
#[derive(Debug)]
pub struct Node {
    config: NodeConfig,
    registry: Registry,
    local_addr: SocketAddr,
    listener: tokio::task::JoinHandle<()>,
    rates: Rates,
    /// WebSocket trackers by URL, shared by the torrents that announce to them.
    ws_trackers: std::sync::Mutex<HashMap<String, WsTracker>>,
}

impl Node {
    /// Binds the listening port and starts accepting peers.
    pub async fn start(config: NodeConfig) -> std::io::Result<Self> {
        let registry = Registry::default();
        let listener = Listener::bind(config.listen, registry.clone(), config.encryption).await?;
        let local_addr = listener.local_addr()?;
        let listener = tokio::spawn(listener.run());
        let rates = Rates {
            upload: config.upload_rate.map(|r| Arc::new(RateLimiter::new(r))),
            download: config.download_rate.map(|r| Arc::new(RateLimiter::new(r))),
        };
        Ok(Self {
            config,
            registry,
            local_addr,
            listener,
            rates,
            ws_trackers: std::sync::Mutex::new(HashMap::new()),
        })
    }

    /// The address peers reach us at.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// The node's rate limits (to share with other uploads of the same host, such as its web
    /// seed).
    pub fn rates(&self) -> &Rates {
        &self.rates
    }

    /// Our peer id.
    pub fn peer_id(&self) -> [u8; 20] {
        self.config.peer_id
    }

    /// Starts a torrent whose data is (or goes) under `dir`. `Mode::Seed` requires every file
    /// to be there (and checks them all); `Mode::Download` restores from the resume state in
    /// `dir` and re-hashes what it must.
    pub async fn add(
        &self,
        meta: Metainfo,
        dir: &Path,
        mode: Mode,
        options: AddOptions,
    ) -> Result<Running, AddError> {
        let geometry = Geometry::new(meta.total_size(), meta.piece_length())
            .ok_or_else(|| AddError::Unsupported("pieces over 4 GiB".to_string()))?;
        let hashes = meta.info_hashes();
        let info_hash = match (hashes.v1, hashes.v2) {
            (Some(v1), _) => v1.0,
            (None, Some(v2)) => v2.truncated(),
            (None, None) => return Err(AddError::Unsupported("no info-hash".to_string())),
        };
        let tiers = meta.trackers().to_vec();
        let ws_urls: Vec<String> = tiers
            .iter()
            .flatten()
            .filter(|u| u.starts_with("ws://") || u.starts_with("wss://"))
            .cloned()
            .collect();
        let dir = dir.to_path_buf();
        let resume_path = (mode == Mode::Download).then(|| resume::default_path(&dir, &hashes));
        let threads = self.config.disk_threads.max(1);
        let just_hashed = options.just_hashed && mode == Mode::Seed;
        let (storage, restored) = {
            let resume_path = resume_path.clone();
            tokio::task::spawn_blocking(move || -> Result<_, AddError> {
                let storage = Storage::open(&meta, &dir, mode)?;
                let state = match &resume_path {
                    _ if just_hashed => Some(resume::ResumeState::complete(storage.metainfo())),
                    Some(p) => resume::load(p, storage.metainfo()),
                    None => None,
                };
                let restored = resume::restore(&storage, state.as_ref(), threads);
                if let Some(path) = &resume_path {
                    // The storage refuses writes to pieces of a state on disk until a new one
                    // is saved: save what was just restored before downloading.
                    storage.save_resume(path)?;
                }
                Ok((storage, restored))
            })
            .await
            .map_err(|e| AddError::Io(std::io::Error::other(e.to_string())))??
        };
        let storage = Arc::new(storage);
        let mut config =
            swarm::Config::new(InfoHash(info_hash), PeerId(self.config.peer_id), geometry)
                .with_seed(u64::from_le_bytes(random_bytes::<8>()));
        config.max_connections = self.config.max_connections;
        config.super_seed = options.super_seed;
        if options.origin {
            config.choker.policy.seed_mode = choker::SeedMode::Origin;
            config.origin_max_copies = Some(options.origin_max_copies.unwrap_or(3));
        } else if mode == Mode::Seed {
            // A plain seed serves every interested peer at once and lets TCP share its uplink
            // (libtorrent's unlimited unchoke slots). With a few slots, peers that ask and never
            // read would hold them for rounds while real downloaders wait; this way such a peer
            // costs only its bounded buffers.
            config.choker.policy.slots = choker::Slots::Fixed(usize::MAX);
        }
        if storage.metainfo().is_private() || options.webrtc_only {
            // BEP 27: peers only from the trackers. WebRTC only: PEX names TCP addresses.
            config.pex_interval = None;
        }
        // Peers that accepted our connection learn where to reach us (for their PEX).
        config.session.extended.listen_port = Some(self.local_addr.port());
        // Peers that came by a magnet link fetch the info dictionary from us (BEP 9).
        config.metadata = Some(Bytes::copy_from_slice(storage.metainfo().info_bytes()));
        // BEP 9: the extended handshake says how large it is.
        config.session.extended.metadata_size =
            u32::try_from(storage.metainfo().info_bytes().len()).ok();
        // Peers that came by a v2 magnet link fetch the piece layers from us (BEP 52).
        config.piece_layers = swarm::PieceLayers::from_metainfo(storage.metainfo()).map(Arc::new);
        let port = options.announce_port.unwrap_or(self.local_addr.port());
        let trackers = Trackers::new(
            tiers,
            info_hash,
            self.config.peer_id,
            port,
            u32::from_le_bytes(random_bytes::<4>()),
        );
        let announce: Option<Arc<dyn torrent::Announce>> =
            if trackers.is_empty() || options.webrtc_only {
                None
            } else {
                Some(Arc::new(trackers))
            };
        let handle = torrent::spawn(TorrentParams {
            config,
            have: restored.have,
            disk: Arc::new(StorageDisk(Arc::clone(&storage))),
            disk_threads: threads,
            announce,
            rates: self.rates.clone(),
            web_seeds: WebSeed::all(storage.metainfo()),
            encryption: self.config.encryption,
        })?;
        self.registry.insert(InfoHash(info_hash), handle.commands());
        let rtc = match &self.config.webrtc {
            Some(options) => ws_urls
                .iter()
                .map(|url| {
                    RtcSwarm::spawn(
                        self.ws_tracker(url),
                        info_hash,
                        self.config.peer_id,
                        handle.commands(),
                        handle.status(),
                        options.clone(),
                    )
                })
                .collect(),
            None => Vec::new(),
        };
        let saver = resume_path.clone().map(|path| {
            tokio::spawn(save_periodically(
                Arc::clone(&storage),
                path,
                handle.status(),
            ))
        });
        Ok(Running {
            handle,
            rtc,
            storage,
            resume_path,
            saver,
            info_hash,
            registry: self.registry.clone(),
            trusted: restored.trusted,
            rechecked: restored.rechecked,
        })
    }

    /// The WebSocket tracker at `url`, opened by the first torrent that announces to it.
    fn ws_tracker(&self, url: &str) -> WsTracker {
        lock(&self.ws_trackers)
            .entry(url.to_string())
            .or_insert_with(|| WsTracker::spawn(url, WsOptions::new(self.config.peer_id)))
            .clone()
    }

    /// Stops accepting peers.
    pub fn shutdown(&self) {
        self.listener.abort();
    }
}

/// Options of [`Node::add`].
#[derive(Clone, Copy, Debug, Default)]
pub struct AddOptions {
    /// Super-seed (BEP 16) if the torrent starts complete.
    pub super_seed: bool,
    /// The port to announce instead of the listening one (behind a port forward).
    pub announce_port: Option<u16>,
    /// A peer CDN origin: once complete, unchoke with the choker's origin mode (upload to the
    /// peers that will pass pieces on) and decline pieces three connected peers already have.
    pub origin: bool,
    /// With `origin`: decline pieces this many connected peers have instead of three.
    pub origin_max_copies: Option<u32>,
    /// Reach peers over WebRTC only, as a browser does: the HTTP and UDP trackers are not
    /// asked and PEX is off (its addresses are for TCP); the WebSocket trackers and the web
    /// seeds are used.
    pub webrtc_only: bool,
    /// With `Mode::Seed`: the caller made the metainfo from these very files moments ago
    /// (`peercdn serve`), so they are not hashed again; a file shorter than the metainfo says
    /// still fails. The caller must know the files did not change since it hashed them.
    pub just_hashed: bool,
}

async fn save_periodically(
    storage: Arc<Storage>,
    path: PathBuf,
    mut status: tokio::sync::watch::Receiver<Status>,
) {
    let mut saved = storage.verified().count();
    loop {
        tokio::time::sleep(RESUME_INTERVAL).await;
        let (have, stopped) = {
            let s = status.borrow_and_update();
            (s.have, s.stopped)
        };
        if stopped {
            return;
        }
        if have != saved {
            let storage = Arc::clone(&storage);
            let path = path.clone();
            let done = tokio::task::spawn_blocking(move || storage.save_resume(&path)).await;
            if let Ok(Ok(state)) = done {
                saved = state.pieces.count();
            }
        }
    }
}

/// A torrent running in a [`Node`].
#[derive(Debug)]
pub struct Running {
    handle: TorrentHandle,
    /// Its WebRTC peers, one manager per WebSocket tracker.
    rtc: Vec<RtcSwarm>,
    storage: Arc<Storage>,
    resume_path: Option<PathBuf>,
    saver: Option<tokio::task::JoinHandle<()>>,
    info_hash: [u8; 20],
    registry: Registry,
    /// Pieces a resume state vouched for at start.
    pub trusted: u32,
    /// Pieces re-hashed at start.
    pub rechecked: u32,
}

impl Running {
    /// Progress.
    pub fn status(&self) -> tokio::sync::watch::Receiver<Status> {
        self.handle.status()
    }

    /// Commands to the engine (add peers by hand).
    pub fn commands(&self) -> tokio::sync::mpsc::Sender<torrent::Command> {
        self.handle.commands()
    }

    /// The info-hash peers know it by (v1, or the truncated v2).
    pub fn info_hash(&self) -> [u8; 20] {
        self.info_hash
    }

    /// Stops: `stopped` to the trackers, connections closed, resume state saved.
    pub async fn stop(self) -> Result<(), StorageError> {
        self.registry.remove(&InfoHash(self.info_hash));
        if let Some(saver) = self.saver {
            saver.abort();
        }
        for rtc in self.rtc {
            rtc.stop().await;
        }
        self.handle.stop().await;
        if let Some(path) = self.resume_path {
            let storage = self.storage;
            match tokio::task::spawn_blocking(move || storage.save_resume(&path)).await {
                Ok(saved) => {
                    saved?;
                }
                Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
                Err(_) => {}
            }
        }
        Ok(())
    }
}

/// The engine's view of a [`Storage`].
struct StorageDisk(Arc<Storage>);

fn disk_error(e: &StorageError) -> DiskError {
    if e.is_disk_full() {
        DiskError::Full(e.to_string())
    } else {
        DiskError::Io(e.to_string())
    }
}

impl Disk for StorageDisk {
    fn write(&self, piece: PieceIndex, offset: u32, data: &[u8]) -> Result<(), DiskError> {
        self.0
            .write_block(piece, offset, data)
            .map_err(|e| disk_error(&e))
    }

    fn read(&self, block: BlockRef) -> Result<Bytes, DiskError> {
        self.0
            .read_block(block.piece, block.offset, block.len)
            .map(Bytes::from)
            .map_err(|e| disk_error(&e))
    }

    fn verify(&self, piece: PieceIndex) -> Result<bool, DiskError> {
        self.0.hash_piece(piece).map_err(|e| disk_error(&e))
    }

    fn read_cached(&self, block: BlockRef) -> Option<Bytes> {
        self.0
            .read_block_cached(block.piece, block.offset, block.len)
            .map(Bytes::from)
    }
}

/// Where the data of a torrent named `name` lives for `peercdn seed TORRENT PATH`: `PATH` is
/// the file or folder itself (its parent is the folder the storage opens), or a folder that
/// holds it.
pub fn seed_dir(path: &Path, name: &str) -> PathBuf {
    if path.file_name().is_some_and(|n| n == name) {
        path.parent()
            .map_or_else(|| PathBuf::from("."), Path::to_path_buf)
    } else {
        path.to_path_buf()
    }
}
