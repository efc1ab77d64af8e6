//! One torrent at run time: an actor task that owns the sans-IO [`Swarm`] engine and carries
//! out what it asks for — connections ([`crate::conn`]), disk work ([`crate::disk`]),
//! announces ([`Announce`]) — feeding the results back with the clock.
//!
//! ```text
//!   peers' reader tasks ──frames──┐            ┌──bytes──> writer tasks (one per peer)
//!   disk workers ───────done──────┤            ├──jobs───> disk workers
//!   connect/announce tasks ─res───┼─> actor ───┼──spawn──> connect/announce tasks
//!   handle (commands) ────────────┘  (Swarm)   └──status─> watch channel (progress)
//! ```
//!
//! Backpressure: the actor takes no more frames from peers while the disk has more than
//! [`DISK_BACKLOG`] bytes of writes queued, and produces bytes for a peer only while that
//! peer's writer holds less than [`conn::HIGH_WATER`]; so memory stays bounded by the number of
//! connections, whatever the peers send.

use std::collections::{BTreeSet, HashMap, HashSet, VecDeque};
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use peer_wire::{Bitfield, BlockRef, Handshake, InfoHash, Limits, PieceIndex};
use swarm::{Action, AnnounceEvent, Event, PeerKey, Swarm};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, oneshot, watch};

use crate::clock;
use crate::conn::{self, ConnEvent, Frame, Outbox};
use crate::disk::{Disk, DiskError, DiskPool, Done, Job};
use crate::mse_io::{self, Outgoing, Policy};
use crate::webseed::{FetchError, WebSeed};

/// Bytes of queued disk writes beyond which the actor stops reading from peers.
pub const DISK_BACKLOG: usize = 4 << 20;
/// How long a connection attempt may take.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// What an announce reports to a tracker.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AnnounceRequest {
    /// Which announce.
    pub event: AnnounceEvent,
    /// Payload bytes uploaded so far.
    pub uploaded: u64,
    /// Payload bytes downloaded so far.
    pub downloaded: u64,
    /// Bytes still wanted.
    pub left: u64,
}

/// A tracker's answer.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AnnounceReply {
    /// Peers to try.
    pub peers: Vec<SocketAddr>,
    /// When to announce next.
    pub interval: Option<Duration>,
}

/// The future an [`Announce`] returns.
pub type AnnounceFuture = Pin<Box<dyn Future<Output = Result<AnnounceReply, String>> + Send>>;

/// Talks to the torrent's trackers (HTTP, UDP, several tiers: the implementor's business).
pub trait Announce: Send + Sync + 'static {
    /// One announce.
    fn announce(&self, request: AnnounceRequest) -> AnnounceFuture;
}

/// Progress, published after every change; changes of the byte counts alone at most every
/// [`BYTES_PUBLISH_INTERVAL`] (they change on nearly every event, and each publication wakes
/// every watcher).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Status {
    /// Verified pieces.
    pub have: u32,
    /// Pieces in the torrent.
    pub pieces: u32,
    /// Bytes still wanted.
    pub left: u64,
    /// Payload bytes downloaded and uploaded so far.
    pub downloaded: u64,
    /// See `downloaded`.
    pub uploaded: u64,
    /// Open connections.
    pub peers: usize,
    /// Of those, the ones attached with [`Command::Attach`] (WebRTC data channels).
    pub attached_peers: usize,
    /// Peer addresses known (trackers, PEX, `--peer`), connected or not.
    pub known: usize,
    /// Every wanted piece is verified.
    pub finished: bool,
    /// The last tracker error, if the last announce failed.
    pub tracker_error: Option<String>,
    /// A disk error that stopped the download until space is back.
    pub disk_error: Option<String>,
    /// The actor has stopped.
    pub stopped: bool,
    /// Peers banned for sending bad data, in the order found.
    pub banned: Vec<SocketAddr>,
}

/// Instructions to a running torrent.
#[derive(Debug)]
pub enum Command {
    /// Connect to these addresses (the user's, or another source's).
    AddPeers(Vec<SocketAddr>),
    /// A connection the listener accepted for this torrent, with the peer's handshake and
    /// what followed it.
    Incoming {
        /// The connection.
        stream: TcpStream,
        /// Its RC4 state, if its MSE handshake chose RC4 (`None`: plaintext).
        cipher: Option<Box<peer_wire::mse::Rc4Pair>>,
        /// The peer's address.
        addr: SocketAddr,
        /// Its handshake.
        handshake: Handshake,
        /// Bytes after the handshake.
        rest: BytesMut,
    },
    /// A connection to a peer of this torrent over another byte stream than TCP (a WebRTC
    /// data channel's): both sides send their handshake at once, as WebTorrent's peers do.
    Attach {
        /// The stream.
        stream: Box<dyn conn::ByteStream>,
        /// The peer's address, as the transport knows it (for bans and duplicates; it is never
        /// dialed or passed on by PEX).
        addr: SocketAddr,
    },
    /// Announce `stopped`, close every connection and end; the sender is told when done.
    Stop(oneshot::Sender<()>),
}

/// A running torrent.
#[derive(Debug)]
pub struct TorrentHandle {
    commands: mpsc::Sender<Command>,
    status: watch::Receiver<Status>,
    task: tokio::task::JoinHandle<()>,
}

impl TorrentHandle {
    /// Progress.
    pub fn status(&self) -> watch::Receiver<Status> {
        self.status.clone()
    }

    /// Where to send commands.
    pub fn commands(&self) -> mpsc::Sender<Command> {
        self.commands.clone()
    }

    /// Stops the torrent (announcing `stopped` within a few seconds at most) and waits for it.
    pub async fn stop(self) {
        let (tx, rx) = oneshot::channel();
        if self.commands.send(Command::Stop(tx)).await.is_ok() {
            let _ = rx.await;
        }
        let _ = self.task.await;
    }
}

/// Everything a torrent needs to run.
pub struct TorrentParams {
    /// The engine's settings (info-hash, peer id, geometry, limits).
    pub config: swarm::Config,
    /// Pieces already verified (resume data or a check of the files).
    pub have: Bitfield,
    /// Where its bytes live.
    pub disk: Arc<dyn Disk>,
    /// Disk worker threads.
    pub disk_threads: usize,
    /// Its trackers, if any.
    pub announce: Option<Arc<dyn Announce>>,
    /// Rate limits for its connections.
    pub rates: conn::Rates,
    /// Its HTTP web seeds (BEP 19).
    pub web_seeds: Vec<WebSeed>,
    /// Protocol encryption for the peers it dials.
    pub encryption: Policy,
}

/// Starts a torrent on the current tokio runtime.
pub fn spawn(params: TorrentParams) -> std::io::Result<TorrentHandle> {
    let (commands, command_rx) = mpsc::channel(64);
    let (done_tx, done_rx) = mpsc::unbounded_channel();
    let disk = Arc::clone(&params.disk);
    let pool = DiskPool::new(params.disk, params.disk_threads, done_tx)?;
    let now = clock();
    let num_pieces = params.config.geometry().num_pieces;
    let info_hash = params.config.session.local.info_hash;
    let mut swarm = Swarm::new(params.config, params.have, now);
    for _ in &params.web_seeds {
        swarm.add_web_seed(now);
    }
    let (status_tx, status) = watch::channel(Status {
        pieces: num_pieces,
        have: swarm.have().count(),
        left: swarm.left(),
        finished: swarm.is_finished(),
        ..Status::default()
    });
    // Frames waiting for the actor, from all connections: each batch holds up to a read
    // buffer (about 128 KiB), so this bounds their memory to a few MiB.
    let (conn_tx, conn_rx) = mpsc::channel(32);
    let (internal_tx, internal_rx) = mpsc::unbounded_channel();
    let actor = Actor {
        swarm,
        pool,
        disk,
        conns: HashMap::new(),
        blocked: BTreeSet::new(),
        lost: BTreeSet::new(),
        announce: params.announce,
        rates: params.rates,
        backlog: Backlog::default(),
        reads_in_flight: 0,
        web_seeds: params.web_seeds.into_iter().map(Arc::new).collect(),
        conn_tx,
        internal_tx,
        status: status_tx,
        tracker_error: None,
        disk_error: None,
        stop_replies: Vec::new(),
        stopping: None,
        stop_done: false,
        banned: Vec::new(),
        paused_until: None,
        bytes_stale_since: None,
        info_hash,
        encryption: params.encryption,
        plain_peers: HashSet::new(),
        attached: HashSet::new(),
        deferred_reads: VecDeque::new(),
        pause: FIRST_PAUSE,
    };
    let task = tokio::spawn(actor.run(command_rx, conn_rx, done_rx, internal_rx));
    Ok(TorrentHandle {
        commands,
        status,
        task,
    })
}

/// Results of tasks the actor spawned.
enum Internal {
    Connected(SocketAddr, std::io::Result<Outgoing>),
    WebSeed(
        usize,
        Vec<BlockRef>,
        Result<Vec<(BlockRef, Bytes)>, FetchError>,
    ),
    Announced(AnnounceEvent, Result<AnnounceReply, String>),
}

struct Actor {
    swarm: Swarm,
    pool: DiskPool,
    /// For reads that need no worker ([`Disk::read_cached`]).
    disk: Arc<dyn Disk>,
    conns: HashMap<PeerKey, Outbox>,
    /// Peers whose writer was full when the engine had more for them.
    blocked: BTreeSet<PeerKey>,
    /// Pieces with a failed write: their hash check result is not trusted.
    lost: BTreeSet<PieceIndex>,
    announce: Option<Arc<dyn Announce>>,
    rates: conn::Rates,
    web_seeds: Vec<Arc<WebSeed>>,
    conn_tx: mpsc::Sender<ConnEvent>,
    internal_tx: mpsc::UnboundedSender<Internal>,
    status: watch::Sender<Status>,
    tracker_error: Option<String>,
    disk_error: Option<String>,
    /// Who asked to stop.
    stop_replies: Vec<oneshot::Sender<()>>,
    /// Stopping: the latest time to end even if the `stopped` announce is not answered.
    stopping: Option<Instant>,
    /// The `stopped` announce is done (or there is none).
    stop_done: bool,
    banned: Vec<SocketAddr>,
    /// A full disk: no frames from peers are taken until then (the blocks would be lost).
    paused_until: Option<Instant>,
    /// Since when the byte counts changed without being published.
    bytes_stale_since: Option<Instant>,
    info_hash: InfoHash,
    encryption: Policy,
    /// Peers that did not speak MSE when dialed: dialed plainly from then on.
    plain_peers: HashSet<SocketAddr>,
    /// Connections that came by [`Command::Attach`] (some may have closed since).
    attached: HashSet<PeerKey>,
    /// Reads waiting for the send backlog to shrink below [`SEND_BACKLOG`].
    deferred_reads: VecDeque<(PeerKey, BlockRef)>,
    /// Blocks read for peers and still in memory.
    backlog: Backlog,
    /// Bytes of reads handed to the workers and not back yet.
    reads_in_flight: usize,
    /// The next pause after a full disk (doubles up to a minute; reset by a verified piece).
    pause: Duration,
}

/// Bytes of blocks read for peers and still in memory (queued in the engine or a writer, or
/// being read) beyond which the torrent reads no more for now. Each connection's queue is
/// bounded too, but many peers that ask and never read could together hold many times this.
pub const SEND_BACKLOG: usize = 4 << 20;

/// Blocks read for peers and still in memory, over all of a torrent's connections: each block
/// counts from the moment it is read until its last reference is dropped (written to the
/// socket, or dropped with its connection), so nothing can leak from the count.
#[derive(Clone, Debug, Default)]
struct Backlog(Arc<BacklogInner>);

#[derive(Debug, Default)]
struct BacklogInner {
    bytes: AtomicUsize,
    /// The actor waits for the count to fall below half of [`SEND_BACKLOG`].
    waiting: AtomicBool,
    drained: tokio::sync::Notify,
}

impl Backlog {
    /// Whether `extra` more bytes would put it at [`SEND_BACKLOG`] or over; if so,
    /// [`Backlog::drained`] fires once it falls below half.
    fn is_over(&self, extra: usize) -> bool {
        let over = || self.0.bytes.load(Ordering::Acquire) + extra >= SEND_BACKLOG;
        if !over() {
            return false;
        }
        self.0.waiting.store(true, Ordering::Release);
        // The last block may have gone in between: look again.
        over()
    }

    /// `data`, counted until it is dropped.
    fn hold(&self, data: Bytes) -> Bytes {
        self.0.bytes.fetch_add(data.len(), Ordering::AcqRel);
        Bytes::from_owner(Held {
            data,
            backlog: self.clone(),
        })
    }

    /// Resolves once the count fell below half of [`SEND_BACKLOG`] after [`Backlog::is_over`].
    async fn drained(&self) {
        self.0.drained.notified().await;
    }
}

/// A block's bytes and the backlog that counts them.
struct Held {
    data: Bytes,
    backlog: Backlog,
}

impl AsRef<[u8]> for Held {
    fn as_ref(&self) -> &[u8] {
        &self.data
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        let inner = &self.backlog.0;
        let before = inner.bytes.fetch_sub(self.data.len(), Ordering::AcqRel);
        if before - self.data.len() < SEND_BACKLOG / 2
            && inner.waiting.swap(false, Ordering::AcqRel)
        {
            inner.drained.notify_one();
        }
    }
}

/// Most peers remembered as not speaking MSE.
const MAX_PLAIN_PEERS: usize = 4096;

/// How long a change of only the byte counts may wait before it is published.
pub const BYTES_PUBLISH_INTERVAL: Duration = Duration::from_millis(100);

/// The first pause after a full disk.
const FIRST_PAUSE: Duration = Duration::from_secs(2);

impl Actor {
    async fn run(
        mut self,
        mut commands: mpsc::Receiver<Command>,
        mut conn_rx: mpsc::Receiver<ConnEvent>,
        mut done_rx: mpsc::UnboundedReceiver<Vec<Done>>,
        mut internal_rx: mpsc::UnboundedReceiver<Internal>,
    ) {
        loop {
            let now = clock();
            self.drive(now);
            if let Some(deadline) = self.stopping
                && (self.stop_done || now >= deadline)
            {
                break;
            }
            if self.paused_until.is_some_and(|t| now >= t) {
                self.paused_until = None;
            }
            let wake = self
                .swarm
                .poll_timeout()
                .into_iter()
                .chain(self.stopping)
                .chain(self.paused_until)
                .chain(self.bytes_stale_since.map(|t| t + BYTES_PUBLISH_INTERVAL))
                .min()
                .unwrap_or(now + Duration::from_secs(3600));
            let disk_ok = self.pool.pending_bytes() < DISK_BACKLOG && self.paused_until.is_none();
            let backlog = self.backlog.clone();
            tokio::select! {
                biased;
                Some(done) = done_rx.recv() => {
                    let now = clock();
                    for done in done {
                        self.on_disk(now, done);
                    }
                }
                Some(internal) = internal_rx.recv() => self.on_internal(clock(), internal),
                // Blocks read earlier went out: the reads that waited for it can go on.
                () = backlog.drained(), if !self.deferred_reads.is_empty() => {}
                command = commands.recv() => match command {
                    Some(c) => self.on_command(clock(), c),
                    // Every handle is gone: stop.
                    None => self.begin_stop(clock()),
                },
                Some(event) = conn_rx.recv(), if disk_ok => self.on_conn(clock(), event),
                () = tokio::time::sleep_until(wake.into()) => {
                    let now = clock();
                    if self.swarm.poll_timeout().is_some_and(|t| t <= now) {
                        self.swarm.handle_timeout(now);
                    }
                }
            }
        }
        self.conns.clear();
        self.status.send_modify(|s| s.stopped = true);
        for reply in self.stop_replies.drain(..) {
            let _ = reply.send(());
        }
    }

    fn begin_stop(&mut self, now: Instant) {
        if self.stopping.is_none() {
            self.stopping = Some(now + Duration::from_secs(5));
            self.swarm.stop(now);
        }
    }

    fn on_command(&mut self, now: Instant, command: Command) {
        match command {
            Command::AddPeers(addrs) => self.swarm.handle_peers(now, addrs),
            Command::Incoming {
                stream,
                cipher,
                addr,
                handshake,
                rest,
            } => {
                if let Ok(key) = self.swarm.add_peer(now, addr) {
                    self.swarm.handle_handshake(now, key, handshake);
                    let outbox = conn::spawn(
                        stream,
                        cipher,
                        key,
                        rest,
                        false,
                        Limits::default(),
                        self.rates.clone(),
                        self.conn_tx.clone(),
                    );
                    self.conns.insert(key, outbox);
                }
            }
            Command::Attach { stream, addr } => {
                if let Ok(key) = self.swarm.add_peer(now, addr) {
                    let outbox = conn::spawn(
                        stream,
                        None,
                        key,
                        BytesMut::new(),
                        true,
                        Limits::default(),
                        self.rates.clone(),
                        self.conn_tx.clone(),
                    );
                    self.conns.insert(key, outbox);
                    self.attached.insert(key);
                }
            }
            Command::Stop(reply) => {
                self.stop_replies.push(reply);
                self.begin_stop(now);
            }
        }
    }

    fn on_conn(&mut self, now: Instant, event: ConnEvent) {
        match event {
            ConnEvent::Frames(key, frames) => {
                if !self.conns.contains_key(&key) {
                    return;
                }
                for frame in frames {
                    match frame {
                        Frame::Handshake(h) => self.swarm.handle_handshake(now, key, h),
                        Frame::Message(m) => self.swarm.handle_message(now, key, m),
                    }
                }
            }
            ConnEvent::Closed(key, _reason) => {
                if self.conns.remove(&key).is_some() {
                    self.blocked.remove(&key);
                    self.swarm.handle_disconnected(now, key);
                }
            }
            ConnEvent::Writable(key) => {
                self.blocked.remove(&key);
            }
        }
    }

    fn on_disk(&mut self, now: Instant, done: Done) {
        match done {
            Done::WriteFailed { piece, error } => {
                self.lost.insert(piece);
                self.note_disk_error(&error);
                if matches!(error, DiskError::Full(_)) && self.paused_until.is_none() {
                    // Stop taking blocks for a while; what is in flight is written (or lost and
                    // downloaded again) once there is space.
                    self.paused_until = Some(now + self.pause);
                    self.pause = (self.pause * 2).min(Duration::from_secs(60));
                }
            }
            Done::Verified { piece, result } => {
                let lost = self.lost.remove(&piece);
                match result {
                    Ok(ok) if !lost => {
                        if ok {
                            self.disk_error = None;
                            self.pause = FIRST_PAUSE;
                        }
                        self.swarm.handle_verified(now, piece, ok);
                    }
                    Ok(_) => self.swarm.handle_lost(now, piece),
                    Err(error) => {
                        self.note_disk_error(&error);
                        self.swarm.handle_lost(now, piece);
                    }
                }
            }
            Done::Digests { piece, digests } => {
                self.swarm.handle_block_digests(now, piece, &digests);
            }
            Done::Read {
                peer,
                block,
                result,
            } => {
                self.reads_in_flight -= block.len as usize;
                match result {
                    Ok(data) => {
                        let data = self.backlog.hold(data);
                        self.swarm.handle_read(now, peer, block, data);
                    }
                    Err(error) => {
                        // We cannot serve what we claimed to have: drop the peer rather than stall
                        // it.
                        self.note_disk_error(&error);
                        self.conns.remove(&peer);
                        self.swarm.handle_disconnected(now, peer);
                    }
                }
            }
        }
    }

    fn note_disk_error(&mut self, error: &DiskError) {
        self.disk_error = Some(error.to_string());
    }

    fn on_internal(&mut self, now: Instant, internal: Internal) {
        match internal {
            Internal::Connected(addr, Ok(out)) => match self.swarm.add_peer(now, addr) {
                Ok(key) => {
                    if out.fell_back && self.plain_peers.len() < MAX_PLAIN_PEERS {
                        self.plain_peers.insert(addr);
                    }
                    let outbox = conn::spawn(
                        out.stream,
                        out.cipher,
                        key,
                        out.rest,
                        true,
                        Limits::default(),
                        self.rates.clone(),
                        self.conn_tx.clone(),
                    );
                    self.conns.insert(key, outbox);
                }
                Err(_) => self.swarm.handle_connect_failed(now, addr),
            },
            Internal::Connected(addr, Err(_)) => self.swarm.handle_connect_failed(now, addr),
            Internal::WebSeed(seed, _, Ok(blocks)) => {
                self.swarm.handle_web_seed_data(now, seed, blocks, true);
            }
            Internal::WebSeed(seed, blocks, Err(e)) => {
                self.swarm
                    .handle_web_seed_failed(now, seed, &blocks, e.permanent);
            }
            Internal::Announced(event, result) => {
                match result {
                    Ok(reply) => {
                        self.tracker_error = None;
                        if event != AnnounceEvent::Stopped {
                            self.swarm.handle_peers(now, reply.peers);
                            self.swarm.handle_announced(now, reply.interval);
                        }
                    }
                    Err(e) => {
                        self.tracker_error = Some(e);
                        if event != AnnounceEvent::Stopped {
                            self.swarm.handle_announced(now, None);
                        }
                    }
                }
                if event == AnnounceEvent::Stopped {
                    self.stop_done = true;
                }
            }
        }
    }

    /// Carries out everything the engine wants now, then publishes the status.
    /// Reads a block a peer asked for: here if the page cache has it, else on a worker.
    fn read(&mut self, now: Instant, peer: PeerKey, block: BlockRef) {
        match self.disk.read_cached(block) {
            Some(data) => {
                let data = self.backlog.hold(data);
                self.swarm.handle_read(now, peer, block, data);
            }
            None => {
                self.reads_in_flight += block.len as usize;
                self.pool.submit(Job::Read { peer, block });
            }
        }
    }

    fn drive(&mut self, now: Instant) {
        while !self.deferred_reads.is_empty() && !self.backlog.is_over(self.reads_in_flight) {
            if let Some((peer, block)) = self.deferred_reads.pop_front() {
                self.read(now, peer, block);
            }
        }
        loop {
            let mut progress = false;
            while let Some(action) = self.swarm.poll_action() {
                progress = true;
                self.act(now, action);
            }
            let sending: Vec<PeerKey> = self.swarm.sending_peers().collect();
            for key in sending {
                if self.blocked.contains(&key) {
                    continue;
                }
                let Some(outbox) = self.conns.get(&key) else {
                    // Gone: let the engine drop what it had for it.
                    while self.swarm.poll_transmit_from(now, key).is_some() {}
                    continue;
                };
                loop {
                    if !outbox.has_room() {
                        self.blocked.insert(key);
                        break;
                    }
                    match self.swarm.poll_transmit_from(now, key) {
                        Some(bytes) => {
                            progress = true;
                            outbox.send(bytes);
                        }
                        None => break,
                    }
                }
            }
            while let Some(event) = self.swarm.poll_event() {
                match event {
                    Event::PeerClosed { peer, .. } => {
                        self.conns.remove(&peer);
                        self.blocked.remove(&peer);
                    }
                    Event::PieceFailed { banned, .. } | Event::PeersBanned { banned, .. } => {
                        self.banned.extend(banned);
                    }
                    _ => {}
                }
            }
            if !progress {
                break;
            }
        }
        self.pool.flush();
        // Published only when something changed; `left` (a walk over the pieces) only when a
        // piece was verified, the one thing that changes it; the byte counts alone at most
        // every BYTES_PUBLISH_INTERVAL.
        let (uploaded, downloaded) = self.swarm.transferred();
        let have = self.swarm.have().count();
        let peers = self.swarm.num_peers();
        let conns = &self.conns;
        self.attached.retain(|k| conns.contains_key(k));
        let attached_peers = self.attached.len();
        let known = self.swarm.num_known();
        let finished = self.swarm.is_finished();
        let (swarm, banned) = (&self.swarm, &self.banned);
        let (tracker_error, disk_error) = (&self.tracker_error, &self.disk_error);
        let stale_since = &mut self.bytes_stale_since;
        self.status.send_if_modified(|s| {
            let changed = s.have != have
                || s.peers != peers
                || s.attached_peers != attached_peers
                || s.known != known
                || s.finished != finished
                || s.tracker_error != *tracker_error
                || s.disk_error != *disk_error
                // Bans only accumulate.
                || s.banned.len() != banned.len();
            let bytes_changed = s.downloaded != downloaded || s.uploaded != uploaded;
            if bytes_changed && stale_since.is_none() {
                *stale_since = Some(now);
            }
            // The first payload byte is news (time to first byte): published at once.
            let first = s.downloaded == 0 && downloaded > 0;
            let bytes_due = first || stale_since.is_some_and(|t| now >= t + BYTES_PUBLISH_INTERVAL);
            if !changed && !bytes_due {
                return false;
            }
            *stale_since = None;
            if s.have != have {
                s.left = swarm.left();
            }
            s.have = have;
            s.downloaded = downloaded;
            s.uploaded = uploaded;
            s.peers = peers;
            s.attached_peers = attached_peers;
            s.known = known;
            s.finished = finished;
            s.tracker_error.clone_from(tracker_error);
            s.disk_error.clone_from(disk_error);
            s.banned.clone_from(banned);
            true
        });
    }

    fn act(&mut self, now: Instant, action: Action) {
        match action {
            Action::Connect(addr) => {
                let tx = self.internal_tx.clone();
                let (info_hash, policy) = (self.info_hash, self.encryption);
                let plain_known = self.plain_peers.contains(&addr);
                tokio::spawn(async move {
                    let result =
                        mse_io::dial(addr, info_hash, policy, plain_known, CONNECT_TIMEOUT).await;
                    let _ = tx.send(Internal::Connected(addr, result));
                });
            }
            Action::Disconnect(key) => {
                self.conns.remove(&key);
                self.blocked.remove(&key);
            }
            Action::Write {
                piece,
                offset,
                data,
            } => self.pool.submit(Job::Write {
                piece,
                offset,
                data,
            }),
            Action::Verify(piece) => self.pool.submit(Job::Verify(piece)),
            Action::Read { peer, block } => {
                if self.deferred_reads.is_empty() && !self.backlog.is_over(self.reads_in_flight) {
                    self.read(now, peer, block);
                } else {
                    self.deferred_reads.push_back((peer, block));
                }
            }
            Action::DigestBlocks { piece, blocks } => {
                self.pool.submit(Job::Digest { piece, blocks });
            }
            Action::WebSeedRequest { seed, blocks } => {
                let Some(web_seed) = self.web_seeds.get(seed).cloned() else {
                    self.swarm.handle_web_seed_failed(now, seed, &blocks, true);
                    return;
                };
                let tx = self.internal_tx.clone();
                let rate = self.rates.download.clone();
                tokio::spawn(async move {
                    // Under a download limit the request is paid for before it is sent: web
                    // seeds share the limit with peers, a request at a time.
                    if let Some(rate) = rate {
                        let len: usize = blocks.iter().map(|b| b.len as usize).sum();
                        rate.consume(len).await;
                    }
                    let result = web_seed.fetch(&blocks).await;
                    let _ = tx.send(Internal::WebSeed(seed, blocks, result));
                });
            }
            Action::Announce(event) => {
                let Some(announce) = self.announce.clone() else {
                    if event == AnnounceEvent::Stopped {
                        self.stop_done = true;
                    } else {
                        self.swarm.handle_announced(now, None);
                    }
                    return;
                };
                let (uploaded, downloaded) = self.swarm.transferred();
                let request = AnnounceRequest {
                    event,
                    uploaded,
                    downloaded,
                    left: self.swarm.left(),
                };
                let tx = self.internal_tx.clone();
                tokio::spawn(async move {
                    let result = announce.announce(request).await;
                    let _ = tx.send(Internal::Announced(event, result));
                });
            }
        }
    }
}
