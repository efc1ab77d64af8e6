//! WebRTC peers of a torrent: WebTorrent's BitTorrent over data channels, signaled through
//! WebSocket trackers ([`crate::signaling`]), carried by [`rtc_transport::Peer`].
//!
//! ```text
//!   WsTracker ──Signal──▶ RtcSwarm (one per torrent and tracker) ──offers/answers──▶ WsTracker
//!                              │ spawns
//!                              ▼
//!   UDP socket ◀──datagrams──▶ driver task (one per connection, owns the rtc Peer)
//!                              │ channel open: one end of a pipe
//!                              ▼
//!                         torrent::Command::Attach ──▶ the torrent's engine, beside TCP peers
//! ```
//!
//! Each connection has a UDP socket of its own, bound to [`RtcOptions::host`] on a port the
//! system picks; its address is the one host candidate of the SDP (non-trickle: the offer and
//! the answer carry every candidate). Its datagrams go out and come in batched (the `udp`
//! module: GSO, `recvmmsg`, GRO). The driver moves datagrams and timers between the socket
//! and the sans-IO peer, and bytes between the data channel and the pipe the engine reads and
//! writes like a TCP stream, with backpressure both ways: it reads from the pipe only while the
//! channel takes more ([`rtc_transport::Config::max_buffered`]), and reads from the channel only
//! after the pipe took what it had.
//!
//! **Glare.** Two peers that offer to each other at once each get the other's offer and an
//! answer to their own. Both keep the connection whose offerer has the lower peer id, so both
//! keep the same one.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use bytes::BytesMut;
use rtc_transport::{
    Config as RtcConfig, Event as RtcEvent, GatherConfig, Gathered, Gatherer, IcePolicy, IceServer,
    Peer, ResolvedServer,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::UdpSocket;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinSet;
use tracker::PeerId;
use tracker::ws::{OfferId, Stats};

use crate::clock;
use crate::signaling::{Signal, WsTracker};
use crate::torrent::{Command, Status};
use crate::udp::{BatchSocket, RECV_BATCH};

/// Bytes the pipe between a driver and the engine holds each way.
const PIPE: usize = 256 << 10;

/// Settings of a node's WebRTC peers.
#[derive(Clone, Debug)]
pub struct RtcOptions {
    /// The address of our host candidate (each connection binds a UDP socket on it).
    pub host: IpAddr,
    /// Most WebRTC connections per torrent, connecting ones included.
    pub max_peers: usize,
    /// How long a connection may take from the offer (or the answer) to an open channel.
    pub connect_timeout: Duration,
    /// The data channel's settings.
    pub channel: RtcConfig,
    /// The receive and send buffer asked for each connection's UDP socket (the system grants
    /// at most `net.core.rmem_max` and `wmem_max`). Datagrams that find the receive buffer
    /// full are lost and resent by SCTP: with the system's default (208 KiB on Linux, much of
    /// it taken by per-datagram overhead) a fast sender loses some even within a 64 KiB
    /// window.
    pub socket_buffer: usize,
    /// STUN and TURN servers (UDP): each connection's socket gathers a server-reflexive
    /// candidate from each STUN server and a relayed one from each TURN server before its
    /// offer or answer is made (non-trickle: the SDP carries them all).
    pub ice_servers: Vec<IceServer>,
    /// Which candidates to use: all, or relayed ones only (a TURN server must answer).
    pub policy: IcePolicy,
    /// How long gathering may take; servers that have not answered by then are left out.
    pub gather_timeout: Duration,
}

impl RtcOptions {
    /// Host candidates on `host`, 30 peers per torrent, 25 s to connect (WebTorrent's), the
    /// transport's default channel, 4 MiB socket buffers.
    ///
    /// The channel's buffered bytes are its send window, and the transport's 64 KiB caps a
    /// 50 ms path at 1.3 MB/s. Larger windows were faster on loopback between peercdn peers
    /// (scripts/bench-webrtc, 256 MiB: 64 KiB 159 MB/s, 256 KiB 179 MB/s) but slower to
    /// Chromium (34 MB/s at 64 KiB, 21 MB/s at 256 KiB), whose page reads slower than we send;
    /// and 1 MiB fell to 102 MB/s where the system grants sockets only its default 208 KiB.
    pub fn new(host: IpAddr) -> Self {
        Self {
            host,
            max_peers: 30,
            connect_timeout: Duration::from_secs(25),
            channel: RtcConfig::default(),
            socket_buffer: 4 << 20,
            ice_servers: Vec::new(),
            policy: IcePolicy::All,
            gather_timeout: GatherConfig::default().timeout,
        }
    }
}

/// The address this machine uses to reach the rest of the network (what a host candidate
/// should name), found without sending anything: the source address the system picks for a
/// UDP socket "connected" to a documentation address. 127.0.0.1 when there is no route.
pub fn default_host() -> IpAddr {
    let probe = std::net::UdpSocket::bind((Ipv4Addr::UNSPECIFIED, 0))
        .and_then(|s| s.connect((Ipv4Addr::new(192, 0, 2, 1), 9)).map(|()| s))
        .and_then(|s| s.local_addr());
    match probe {
        Ok(addr) if !addr.ip().is_unspecified() => addr.ip(),
        _ => IpAddr::V4(Ipv4Addr::LOCALHOST),
    }
}

/// One torrent's WebRTC peers through one WebSocket tracker; ends (announcing `stopped`) when
/// [`RtcSwarm::stop`] is called or the torrent stops.
#[derive(Debug)]
pub struct RtcSwarm {
    stop: Option<oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<()>,
}

impl RtcSwarm {
    /// Starts announcing `info_hash` to `tracker` and connecting the peers it brings to the
    /// torrent behind `commands`. `peer_id` is ours (the tracker's and the handshakes').
    pub fn spawn(
        tracker: WsTracker,
        info_hash: [u8; 20],
        peer_id: [u8; 20],
        commands: mpsc::Sender<Command>,
        status: watch::Receiver<Status>,
        options: RtcOptions,
    ) -> Self {
        let (stop, stop_rx) = oneshot::channel();
        let signals = tracker.join(info_hash);
        let manager = Manager {
            tracker,
            info_hash,
            peer_id: PeerId(peer_id),
            commands,
            options,
            servers: Vec::new(),
            pending: HashMap::new(),
            peers: HashMap::new(),
            drivers: JoinSet::new(),
        };
        let task = tokio::spawn(manager.run(signals, status, stop_rx));
        Self {
            stop: Some(stop),
            task,
        }
    }

    /// Says `stopped` to the tracker, closes the connections and waits for the task.
    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let _ = (&mut self.task).await;
    }
}

impl Drop for RtcSwarm {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// An offer of ours waiting for its answer.
/// It lives until its answer comes or the tracker client says it expired
/// ([`Signal::OfferExpired`]: after 50 s, or when the socket closed).
struct PendingOffer {
    peer: Peer,
    socket: UdpSocket,
}

/// The addresses of the ICE servers' hosts (DNS on a blocking thread); servers that do not
/// resolve are left out.
async fn resolve(servers: Vec<IceServer>) -> Vec<ResolvedServer> {
    if servers.is_empty() {
        return Vec::new();
    }
    let lookup = move || {
        let mut out = Vec::new();
        for server in &servers {
            let resolved = server.resolve(|host, port| {
                use std::net::ToSocketAddrs;
                (host, port)
                    .to_socket_addrs()
                    .map(Iterator::collect)
                    .unwrap_or_default()
            });
            out.extend(resolved.unwrap_or_default());
        }
        out
    };
    tokio::task::spawn_blocking(lookup)
        .await
        .unwrap_or_default()
}

/// A UDP socket for one connection, its address (the host candidate), and the candidates
/// gathered on it from the ICE servers.
async fn bind(
    options: &RtcOptions,
    servers: &[ResolvedServer],
) -> Option<(UdpSocket, SocketAddr, Gathered)> {
    let socket = UdpSocket::bind(SocketAddr::new(options.host, 0))
        .await
        .ok()?;
    let local = socket.local_addr().ok()?;
    if servers.is_empty() {
        return Some((socket, local, Gathered::hosts(&[local])));
    }
    let config = GatherConfig {
        timeout: options.gather_timeout,
    };
    let mut gatherer = Gatherer::new(&config, &[local], servers, clock()).ok()?;
    let mut buf = vec![0u8; 2048];
    loop {
        while let Some(t) = gatherer.poll_transmit() {
            let _ = socket.send_to(&t.contents, t.destination).await;
        }
        let Some(wake) = gatherer.poll_timeout() else {
            break;
        };
        tokio::select! {
            received = socket.recv_from(&mut buf) => {
                if let Ok((n, from)) = received {
                    // Nothing else is expected yet: nobody knows this socket's address.
                    gatherer.handle_receive(clock(), from, local, &buf[..n]);
                }
            }
            () = tokio::time::sleep_until(wake.into()) => gatherer.handle_timeout(clock()),
        }
    }
    Some((socket, local, gatherer.finish()))
}

/// An offer on a socket of its own.
async fn make_offer(
    options: RtcOptions,
    servers: Vec<ResolvedServer>,
) -> Option<(PendingOffer, String)> {
    let (socket, _, gathered) = bind(&options, &servers).await?;
    let (peer, sdp) =
        Peer::offer_gathered(options.channel.clone(), gathered, options.policy, clock()).ok()?;
    Some((PendingOffer { peer, socket }, sdp))
}

/// Which side of a connection we are.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Side {
    Offerer,
    Answerer,
}

/// A connection to a peer (connecting or open).
struct Conn {
    side: Side,
    abort: tokio::task::AbortHandle,
}

struct Manager {
    tracker: WsTracker,
    info_hash: [u8; 20],
    peer_id: PeerId,
    commands: mpsc::Sender<Command>,
    options: RtcOptions,
    /// The ICE servers' addresses, resolved when the manager starts.
    servers: Vec<ResolvedServer>,
    pending: HashMap<OfferId, PendingOffer>,
    /// Connections by the remote's peer id.
    peers: HashMap<PeerId, Conn>,
    /// Driver tasks, one per connection in `peers`.
    drivers: JoinSet<()>,
}

fn stats(status: &Status) -> Stats {
    Stats {
        uploaded: status.uploaded,
        downloaded: status.downloaded,
        left: Some(status.left),
    }
}

impl Manager {
    async fn run(
        mut self,
        mut signals: mpsc::UnboundedReceiver<Signal>,
        mut status: watch::Receiver<Status>,
        mut stop: oneshot::Receiver<()>,
    ) {
        let mut finished = status.borrow().finished;
        self.servers = resolve(self.options.ice_servers.clone()).await;
        loop {
            tokio::select! {
                signal = signals.recv() => match signal {
                    Some(signal) => {
                        let current = stats(&status.borrow());
                        self.on_signal(signal, current).await;
                    }
                    None => break,
                },
                changed = status.changed() => {
                    if changed.is_err() {
                        break;
                    }
                    let (now_finished, stopped, current) = {
                        let s = status.borrow_and_update();
                        (s.finished, s.stopped, stats(&s))
                    };
                    if stopped {
                        break;
                    }
                    if now_finished && !finished {
                        self.tracker.completed(self.info_hash, current);
                    }
                    finished = now_finished;
                }
                Some(ended) = self.drivers.join_next_with_id(), if !self.drivers.is_empty() => {
                    // Ended, failed or aborted alike: the connection is gone.
                    let task = match ended {
                        Ok((task, ())) => task,
                        Err(e) => e.id(),
                    };
                    let gone = self.peers.iter().find(|(_, c)| c.abort.id() == task);
                    if let Some((&peer_id, _)) = gone {
                        self.peers.remove(&peer_id);
                    }
                }
                _ = &mut stop => break,
            }
        }
        let current = stats(&status.borrow());
        self.tracker.leave(self.info_hash, current);
        self.drivers.shutdown().await;
    }

    fn room(&self) -> usize {
        self.options
            .max_peers
            .saturating_sub(self.peers.len() + self.pending.len())
    }

    async fn on_signal(&mut self, signal: Signal, current: Stats) {
        let now = clock();
        match signal {
            Signal::NeedOffers { count } => {
                // Gathered at once: a server that does not answer delays them all only once.
                let making = (0..count.min(self.room()))
                    .map(|_| make_offer(self.options.clone(), self.servers.clone()));
                let (offers, sdps): (Vec<_>, Vec<_>) = futures_util::future::join_all(making)
                    .await
                    .into_iter()
                    .flatten()
                    .unzip();
                // Announce even without offers: the tracker must know us to pass us theirs.
                let ids = self.tracker.announce(self.info_hash, current, sdps).await;
                for (id, offer) in ids.into_iter().zip(offers) {
                    self.pending.insert(id, offer);
                }
            }
            Signal::Offer {
                peer_id,
                offer_id,
                sdp,
            } => self.on_offer(peer_id, offer_id, &sdp).await,
            Signal::Answer {
                peer_id,
                offer_id,
                sdp,
            } => self.on_answer(now, peer_id, offer_id, &sdp),
            Signal::OfferExpired(id) => {
                self.pending.remove(&id);
            }
            Signal::Announced { .. } | Signal::Failure(_) => {}
        }
    }

    async fn on_offer(&mut self, from: PeerId, offer_id: OfferId, sdp: &str) {
        if from == self.peer_id {
            return;
        }
        if let Some(existing) = self.peers.get(&from) {
            // Glare: keep the connection whose offerer has the lower peer id.
            let ours_wins = existing.side == Side::Answerer || self.peer_id.0 < from.0;
            if ours_wins {
                return;
            }
            if let Some(c) = self.peers.remove(&from) {
                c.abort.abort();
            }
        }
        if self.room() == 0 {
            return;
        }
        let Some((socket, local, gathered)) = bind(&self.options, &self.servers).await else {
            return;
        };
        let channel = self.options.channel.clone();
        let Ok((peer, answer)) =
            Peer::answer_gathered(channel, gathered, self.options.policy, sdp, clock())
        else {
            return;
        };
        self.tracker.answer(self.info_hash, from, offer_id, answer);
        self.start(from, Side::Answerer, peer, socket, local);
    }

    fn on_answer(&mut self, now: Instant, from: PeerId, offer_id: OfferId, sdp: &str) {
        let Some(mut offer) = self.pending.remove(&offer_id) else {
            return;
        };
        if from == self.peer_id {
            return;
        }
        if let Some(existing) = self.peers.get(&from) {
            // Glare: our offer's connection wins only if we are the lower id and the one we
            // have is theirs.
            let ours_wins = existing.side == Side::Answerer && self.peer_id.0 < from.0;
            if !ours_wins {
                return;
            }
            if let Some(c) = self.peers.remove(&from) {
                c.abort.abort();
            }
        }
        if offer.peer.accept_answer(now, sdp).is_err() {
            return;
        }
        let Ok(local) = offer.socket.local_addr() else {
            return;
        };
        self.start(from, Side::Offerer, offer.peer, offer.socket, local);
    }

    fn start(
        &mut self,
        remote: PeerId,
        side: Side,
        peer: Peer,
        socket: UdpSocket,
        local: SocketAddr,
    ) {
        let Ok(socket) = BatchSocket::new(socket, self.options.socket_buffer) else {
            return;
        };
        let driver = Driver {
            peer,
            socket,
            local,
            commands: self.commands.clone(),
            // From now: gathering may have taken a while since the signal came.
            deadline: clock() + self.options.connect_timeout,
        };
        let abort = self.drivers.spawn(driver.run());
        self.peers.insert(remote, Conn { side, abort });
    }
}

/// One connection's task: the UDP socket, the clock and the pipe to the engine around a
/// sans-IO [`Peer`].
struct Driver {
    peer: Peer,
    socket: BatchSocket,
    local: SocketAddr,
    commands: mpsc::Sender<Command>,
    /// The channel must be open by then.
    deadline: Instant,
}

impl Driver {
    async fn run(mut self) {
        // The engine's end of the pipe goes to it once the channel opens.
        let (ours, theirs) = tokio::io::duplex(PIPE);
        let mut theirs = Some(theirs);
        let (mut from_engine, mut to_engine) = tokio::io::split(ours);
        // Bytes read from the channel, not yet taken by the pipe.
        let mut inbound = BytesMut::new();
        // Bytes read from the pipe, not yet taken by the channel.
        let mut outbound = BytesMut::new();
        let mut engine_buf = vec![0u8; 64 << 10];
        let mut open = false;
        let mut engine_closed = false;
        loop {
            // Output of the last input.
            self.transmit().await;
            while let Some(event) = self.peer.poll_event() {
                match event {
                    RtcEvent::ChannelOpen { .. } => {
                        open = true;
                        let Some(stream) = theirs.take() else {
                            continue;
                        };
                        // The remote's address for the engine (bans, duplicates), as the ICE
                        // agent sees it: through a relay its address there, not the relay's,
                        // which all relayed peers share.
                        let addr = self.peer.remote_addr().unwrap_or(self.local);
                        let attach = Command::Attach {
                            stream: Box::new(stream),
                            addr,
                        };
                        if self.commands.send(attach).await.is_err() {
                            return;
                        }
                    }
                    RtcEvent::Closed(_) => {
                        // Hand over what arrived before the close, then end the stream.
                        let _ = to_engine.write_all(&inbound).await;
                        self.peer.read_into(&mut inbound);
                        let _ = to_engine.write_all(&inbound).await;
                        let _ = to_engine.shutdown().await;
                        self.transmit().await; // the goodbye
                        return;
                    }
                    _ => {}
                }
            }
            if !open && clock() >= self.deadline {
                self.peer.close();
                self.transmit().await; // the goodbye
                return;
            }
            if open && inbound.is_empty() {
                self.peer.read_into(&mut inbound);
            }
            if open && !outbound.is_empty() {
                let n = self.peer.write(clock(), &outbound).unwrap_or(0);
                let _ = outbound.split_to(n);
                if n > 0 {
                    continue;
                }
            }
            if engine_closed && outbound.is_empty() {
                // The engine dropped the connection and everything it wrote is queued.
                self.peer.close();
                self.transmit().await; // the goodbye
                return;
            }
            let wake = match (self.peer.poll_timeout(), open) {
                (Some(at), false) => Some(at.min(self.deadline)),
                (None, false) => Some(self.deadline),
                (at, true) => at,
            };
            let timer = async {
                match wake {
                    Some(at) => tokio::time::sleep_until(at.into()).await,
                    None => std::future::pending().await,
                }
            };
            let want_engine = open && outbound.is_empty() && !engine_closed;
            tokio::select! {
                readable = self.socket.readable() => {
                    if readable.is_ok() {
                        let now = clock();
                        let (peer, local) = (&mut self.peer, self.local);
                        let mut take = |from, datagram: &[u8]| {
                            peer.handle_receive(now, from, local, datagram);
                        };
                        // Datagrams that came one by one (no GRO run: at most one per
                        // buffer) get the stack's acknowledgement after each receive call, as
                        // a sender's window grows with each (WebTorrent's seed sent 50 MB/s
                        // with one per drained socket, 65-75 with this); coalesced runs, from
                        // a sender that batches its own sends, are all taken first.
                        while let Ok(n) = self.socket.try_recv(&mut take) {
                            if n <= RECV_BATCH {
                                break;
                            }
                        }
                    }
                }
                () = timer => self.peer.handle_timeout(clock()),
                written = to_engine.write(&inbound), if !inbound.is_empty() => match written {
                    Ok(n) => {
                        let _ = inbound.split_to(n);
                    }
                    Err(_) => engine_closed = true,
                },
                read = from_engine.read(&mut engine_buf), if want_engine => match read {
                    Ok(0) | Err(_) => engine_closed = true,
                    Ok(n) => outbound.extend_from_slice(&engine_buf[..n]),
                },
            }
        }
    }

    /// Sends every datagram the stack has queued, batched.
    async fn transmit(&mut self) {
        while let Some(t) = self.peer.poll_transmit() {
            self.socket.send(t.destination, &t.contents).await;
        }
        self.socket.flush().await;
    }
}
