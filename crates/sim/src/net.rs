//! The network, its event queue and the peers on it.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap, VecDeque};
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::time::{Duration, Instant};

use bytes::Bytes;
use peer_wire::{Bitfield, Geometry, InfoHash, Message, Outgoing, PeerId};
use swarm::{Action, PeerKey, Swarm};

use crate::report::{PeerReport, Report};
use crate::rng::Rng;

/// A peer of the simulated swarm.
#[derive(Clone, Debug, PartialEq)]
pub struct PeerSpec {
    /// Upload capacity, bytes per second.
    pub upload: u64,
    /// Download capacity, bytes per second.
    pub download: u64,
    /// One-way latency to the network's core (a round trip between two peers is twice the
    /// sum of theirs).
    pub latency: Duration,
    /// When it joins, from the start of the run.
    pub arrive: Duration,
    /// Starts with every piece.
    pub seed: bool,
    /// Leaves this long after it has every piece (`None`: stays to the end).
    pub linger: Option<Duration>,
    /// Serves nobody (a free rider): no upload slot, no optimistic unchoke.
    pub free_rider: bool,
    /// The content's origin: its bytes are counted apart, and with `origin_mode` it chokes
    /// with the choker's origin mode.
    pub origin: bool,
}

impl PeerSpec {
    /// A leecher arriving at `arrive` with these rates and 20 ms of latency, staying to the end.
    pub fn leecher(arrive: Duration, upload: u64, download: u64) -> Self {
        Self {
            upload,
            download,
            latency: Duration::from_millis(20),
            arrive,
            seed: false,
            linger: None,
            free_rider: false,
            origin: false,
        }
    }

    /// A seed present from the start.
    pub fn seed(upload: u64) -> Self {
        Self {
            seed: true,
            ..Self::leecher(Duration::ZERO, upload, upload)
        }
    }
}

/// How peers choose pieces.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum PieceOrder {
    /// Rarest first, a few random pieces to start (the default).
    #[default]
    RarestFirst,
    /// Uniformly random.
    Random,
    /// In order (streaming).
    Sequential,
}

/// The simulated network and its content.
#[derive(Clone, Debug)]
pub struct Network {
    /// Size of the file, bytes.
    pub file_size: u64,
    /// Piece length, bytes.
    pub piece_length: u64,
    /// Probability that a message is lost (once) and retransmitted.
    pub loss: f64,
    /// Peers the tracker returns per announce.
    pub numwant: usize,
    /// Connections per peer.
    pub max_connections: usize,
    /// How peers pick pieces.
    pub piece_order: PieceOrder,
    /// The origin peers use the choker's origin mode and decline pieces that
    /// `origin_max_copies` of their peers already have.
    pub origin_mode: bool,
    /// See `origin_mode`.
    pub origin_max_copies: u32,
    /// The origin peers super-seed (BEP 16).
    pub super_seed: bool,
    /// Seed of every random choice.
    pub rng_seed: u64,
    /// The run stops at this much simulated time even if peers are still downloading.
    pub max_time: Duration,
    /// Re-announce interval (the tracker's `interval`).
    pub announce_interval: Duration,
}

impl Network {
    /// A network for a file of `file_size` bytes in 256 KiB pieces, no loss, 50 peers per
    /// announce and per peer, rarest first, an hour of simulated time at most.
    pub fn new(file_size: u64) -> Self {
        Self {
            file_size,
            piece_length: 256 * 1024,
            loss: 0.0,
            numwant: 50,
            max_connections: 50,
            piece_order: PieceOrder::RarestFirst,
            origin_mode: false,
            origin_max_copies: 3,
            super_seed: false,
            rng_seed: 1,
            max_time: Duration::from_secs(3600),
            announce_interval: Duration::from_secs(300),
        }
    }
}

/// A run in progress.
pub struct Sim {
    network: Network,
    geometry: Geometry,
    start: Instant,
    now: Instant,
    specs: Vec<PeerSpec>,
    nodes: Vec<Option<Node>>,
    online: Vec<usize>,
    queue: BinaryHeap<Reverse<Scheduled>>,
    /// The events' payloads, by slot (the queue holds only times and slots, so that it moves
    /// small entries); freed slots are reused.
    slots: Vec<Option<Payload>>,
    free_slots: Vec<u32>,
    seq: u64,
    rng: Rng,
    zero_block: Bytes,
    report: Vec<PeerReport>,

    events: u64,
    /// Peers not yet arrived, or arrived and neither finished nor gone.
    unfinished: usize,
}

struct Node {
    swarm: Swarm,
    /// Its connections, by its key's number (keys are handed out in order).
    conns: Vec<Conn>,
    /// Messages waiting for the uplink, per connection.
    queues: BTreeMap<PeerKey, VecDeque<Outgoing>>,
    /// Bytes in each connection's queue.
    queued: BTreeMap<PeerKey, usize>,
    /// Connections with queued messages, in the order the uplink serves them.
    ring: VecDeque<PeerKey>,
    uplink_busy: bool,
    /// The connection whose message the uplink is sending.
    uplink_key: Option<PeerKey>,
    downlink_free: Instant,
    timer: Option<Instant>,
}

/// One end of a connection.
#[derive(Clone, Copy, Debug, Default)]
struct Conn {
    /// The other end: its node and its key for the connection.
    peer: Option<(usize, PeerKey)>,
    /// In-order delivery: when the last message on this connection arrives.
    last_delivery: Option<Instant>,
}

/// An event in the queue, ordered by time, then by when it was scheduled (so that equal times
/// keep their order and a run is deterministic).
struct Scheduled {
    at: Instant,
    seq: u64,
    slot: u32,
}

impl PartialEq for Scheduled {
    fn eq(&self, other: &Self) -> bool {
        (self.at, self.seq) == (other.at, other.seq)
    }
}

impl Eq for Scheduled {}

impl PartialOrd for Scheduled {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Scheduled {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (self.at, self.seq).cmp(&(other.at, other.seq))
    }
}

enum Payload {
    Arrive(usize),
    Leave(usize),
    Timer(usize),
    Connect {
        from: usize,
        to: usize,
    },
    Uploaded {
        from: usize,
        key: PeerKey,
        message: Outgoing,
    },
    Deliver {
        to: usize,
        key: PeerKey,
        message: Outgoing,
    },
    Closed {
        to: usize,
        key: PeerKey,
    },
}

impl Sim {
    /// A run of `peers` on `network`. `start` is the virtual clock's origin (any instant).
    pub fn new(network: Network, peers: Vec<PeerSpec>, start: Instant) -> Self {
        let geometry = Geometry::new(network.file_size, network.piece_length)
            .expect("a file of at least one byte in pieces of at most 4 GiB");
        let mut sim = Self {
            rng: Rng::new(network.rng_seed),
            geometry,
            start,
            now: start,
            nodes: peers.iter().map(|_| None).collect(),
            report: peers
                .iter()
                .map(|p| PeerReport {
                    arrive: p.arrive,
                    ..PeerReport::default()
                })
                .collect(),
            specs: peers,
            online: Vec::new(),
            queue: BinaryHeap::new(),
            slots: Vec::new(),
            free_slots: Vec::new(),
            seq: 0,
            zero_block: Bytes::from(vec![0u8; 1 << 17]),

            events: 0,
            unfinished: 0,
            network,
        };
        sim.unfinished = sim.specs.iter().filter(|p| !p.seed).count();
        for i in 0..sim.specs.len() {
            let at = start + sim.specs[i].arrive;
            sim.schedule(at, Payload::Arrive(i));
        }
        sim
    }

    /// Runs to the end: every peer that stays has every piece, or `max_time` has passed.
    pub fn run(mut self) -> Report {
        let end = self.start + self.network.max_time;
        while let Some(Reverse(Scheduled { at, slot, .. })) = self.queue.pop() {
            if at > end {
                break;
            }
            self.now = at;
            let Some(payload) = self.slots[slot as usize].take() else {
                continue;
            };
            self.free_slots.push(slot);
            self.events += 1;
            self.handle(payload);
            if self.all_done() {
                break;
            }
        }
        let elapsed = self.now - self.start;
        for (i, n) in self.nodes.iter().enumerate() {
            if let Some(n) = n {
                (self.report[i].uploaded, self.report[i].downloaded) = n.swarm.transferred();
            }
        }
        Report::new(self.report, &self.specs, elapsed, self.events)
    }

    /// Every peer has arrived, and every one that is not a seed has finished or left.
    fn all_done(&self) -> bool {
        self.unfinished == 0
    }

    fn schedule(&mut self, at: Instant, payload: Payload) {
        let seq = self.seq;
        self.seq += 1;
        let slot = match self.free_slots.pop() {
            Some(slot) => {
                self.slots[slot as usize] = Some(payload);
                slot
            }
            None => {
                self.slots.push(Some(payload));
                u32::try_from(self.slots.len() - 1).expect("fewer than 4 billion pending events")
            }
        };
        self.queue.push(Reverse(Scheduled { at, seq, slot }));
    }

    fn handle(&mut self, payload: Payload) {
        let now = self.now;
        match payload {
            Payload::Arrive(i) => self.arrive(i),
            Payload::Leave(i) => {
                if let Some(n) = self.nodes[i].as_mut() {
                    n.swarm.stop(now);
                    self.report[i].left = Some(now - self.start);
                    (self.report[i].uploaded, self.report[i].downloaded) = n.swarm.transferred();
                    if self.report[i].finish.is_none() && !self.specs[i].seed {
                        self.unfinished -= 1;
                    }
                    self.pump(i);
                    self.online.retain(|&j| j != i);
                    self.nodes[i] = None;
                }
            }
            Payload::Timer(i) => {
                if let Some(n) = self.nodes[i].as_mut() {
                    n.timer = None;
                    if n.swarm.poll_timeout().is_some_and(|t| t <= now) {
                        n.swarm.handle_timeout(now);
                    }
                    self.pump(i);
                }
            }
            Payload::Connect { from, to } => self.connect(from, to),
            Payload::Uploaded { from, key, message } => self.uploaded(from, key, message, true),
            Payload::Deliver { to, key, message } => {
                if let Some(n) = self.nodes[to].as_mut() {
                    match message {
                        Outgoing::Handshake(h) => n.swarm.handle_handshake(now, key, h),
                        Outgoing::Message(m) => n.swarm.handle_message(now, key, m),
                    }
                    self.pump(to);
                }
            }
            Payload::Closed { to, key } => {
                if let Some(n) = self.nodes[to].as_mut() {
                    n.swarm.handle_disconnected(now, key);
                    self.set_link(to, key, None);
                    self.pump(to);
                }
            }
        }
    }

    fn arrive(&mut self, i: usize) {
        let spec = &self.specs[i];
        let mut peer_id = [b'-'; 20];
        peer_id[..8].copy_from_slice(&(i as u64).to_be_bytes());
        let mut config = swarm::Config::new(InfoHash([7; 20]), PeerId(peer_id), self.geometry)
            .with_seed(self.network.rng_seed ^ (i as u64).wrapping_mul(0x9e37_79b9));
        config.max_connections = self.network.max_connections;
        config.announce_interval = self.network.announce_interval;
        match self.network.piece_order {
            PieceOrder::RarestFirst => {}
            PieceOrder::Random => config.picker.initial_random_pieces = u32::MAX,
            PieceOrder::Sequential => config.sequential = true,
        }
        if spec.free_rider {
            config.choker.policy.slots = choker::Slots::Fixed(0);
            config.choker.optimistic_slots = 0;
        }
        if spec.origin && self.network.origin_mode {
            config.choker.policy.seed_mode = choker::SeedMode::Origin;
            config.origin_max_copies = Some(self.network.origin_max_copies);
        }
        config.super_seed = spec.origin && self.network.super_seed;
        let have = if spec.seed {
            Bitfield::full(self.geometry.num_pieces)
        } else {
            Bitfield::new(self.geometry.num_pieces)
        };
        if spec.seed {
            self.report[i].finish = Some(self.now - self.start);
            if let Some(linger) = spec.linger {
                let at = self.now + linger;
                self.schedule(at, Payload::Leave(i));
            }
        }
        self.nodes[i] = Some(Node {
            swarm: Swarm::new(config, have, self.now),
            conns: Vec::new(),
            queues: BTreeMap::new(),
            queued: BTreeMap::new(),
            ring: VecDeque::new(),
            uplink_busy: false,
            uplink_key: None,
            downlink_free: self.now,
            timer: None,
        });
        self.online.push(i);
        self.pump(i);
    }

    /// Both ends open at once, one round trip after the attempt.
    fn connect(&mut self, from: usize, to: usize) {
        let now = self.now;
        let (Some(from_addr), Some(to_addr)) = (
            self.nodes[from].as_ref().map(|_| peer_addr(from)),
            self.nodes[to].as_ref().map(|_| peer_addr(to)),
        ) else {
            if let Some(n) = self.nodes[from].as_mut() {
                n.swarm.handle_connect_failed(now, peer_addr(to));
                self.pump(from);
            }
            return;
        };
        let a = self.node(from).swarm.add_peer(now, to_addr);
        let b = self.node(to).swarm.add_peer(now, from_addr);
        match (a, b) {
            (Ok(a), Ok(b)) => {
                self.set_link(from, a, Some((to, b)));
                self.set_link(to, b, Some((from, a)));
            }
            (Ok(a), Err(_)) => self.node(from).swarm.handle_disconnected(now, a),
            (Err(_), Ok(b)) => self.node(to).swarm.handle_disconnected(now, b),
            (Err(_), Err(_)) => {}
        }
        self.pump(from);
        self.pump(to);
    }

    fn link(&self, i: usize, key: PeerKey) -> Option<(usize, PeerKey)> {
        self.nodes[i]
            .as_ref()?
            .conns
            .get(key.0 as usize)
            .and_then(|c| c.peer)
    }

    fn set_link(&mut self, i: usize, key: PeerKey, peer: Option<(usize, PeerKey)>) {
        if let Some(n) = self.nodes[i].as_mut() {
            let slot = key.0 as usize;
            if n.conns.len() <= slot {
                n.conns.resize(slot + 1, Conn::default());
            }
            n.conns[slot].peer = peer;
            if peer.is_none() {
                n.conns[slot].last_delivery = None;
            }
        }
    }

    fn node(&mut self, i: usize) -> &mut Node {
        self.nodes[i].as_mut().expect("an online node")
    }

    /// Carries out what node `i` wants: actions, messages, its next timer.
    fn pump(&mut self, i: usize) {
        let now = self.now;
        loop {
            let Some(n) = self.nodes[i].as_mut() else {
                return;
            };
            let Some(action) = n.swarm.poll_action() else {
                break;
            };
            match action {
                Action::Connect(addr) => {
                    if let Some(to) = peer_index(addr).filter(|&to| to < self.specs.len()) {
                        let rtt = 2 * (self.specs[i].latency + self.specs[to].latency);
                        self.schedule(now + rtt, Payload::Connect { from: i, to });
                    } else {
                        n.swarm.handle_connect_failed(now, addr);
                    }
                }
                Action::Disconnect(key) => {
                    if let Some((j, their)) = self.link(i, key) {
                        self.set_link(i, key, None);
                        self.set_link(j, their, None);
                        let delay = self.specs[i].latency + self.specs[j].latency;
                        self.schedule(now + delay, Payload::Closed { to: j, key: their });
                    }
                }
                Action::Write { .. } => {}
                Action::Verify(piece) => n.swarm.handle_verified(now, piece, true),
                // The simulated peers have no web seeds.
                Action::WebSeedRequest { .. } => {}
                Action::DigestBlocks { piece, blocks } => {
                    // Every simulated block is zeros: one digest for all.
                    let digests: Vec<_> = blocks.into_iter().map(|b| (b, [0; 20])).collect();
                    n.swarm.handle_block_digests(now, piece, &digests);
                }
                Action::Read { peer, block } => {
                    let data = self.zero_block.slice(..block.len as usize);
                    n.swarm.handle_read(now, peer, block, data);
                }
                Action::Announce(event) => {
                    if event != swarm::AnnounceEvent::Stopped {
                        let peers = self.tracker_peers(i);
                        let interval = self.network.announce_interval;
                        let n = self.node(i);
                        n.swarm.handle_peers(now, peers);
                        n.swarm.handle_announced(now, Some(interval));
                    }
                }
            }
        }
        if let Some(n) = self.nodes[i].as_ref()
            && self.report[i].finish.is_none()
            && n.swarm.is_finished()
        {
            self.report[i].finish = Some(now - self.start);
            self.unfinished -= 1;
            if let Some(linger) = self.specs[i].linger {
                self.schedule(now + linger, Payload::Leave(i));
            }
        }
        self.send_all(i);
        if let Some(n) = self.nodes[i].as_mut()
            && let Some(at) = n.swarm.poll_timeout()
            && n.timer.is_none_or(|t| at < t)
        {
            n.timer = Some(at);
            self.schedule(at.max(now), Payload::Timer(i));
        }
    }

    /// Takes what node `i` wants to send into its per-connection queues (each at most a
    /// socket buffer's worth), and starts its uplink if idle.
    fn send_all(&mut self, i: usize) {
        let Some(n) = self.nodes[i].as_ref() else {
            return;
        };
        let keys: Vec<PeerKey> = n.swarm.sending_peers().collect();
        for key in keys {
            self.pull(i, key);
        }
        if self.nodes[i].as_ref().is_some_and(|n| !n.uplink_busy) {
            self.next_upload(i);
        }
    }

    /// Moves messages of one connection from the engine to the connection's queue while the
    /// queue (the socket's send buffer) has room.
    fn pull(&mut self, i: usize, key: PeerKey) {
        let now = self.now;
        loop {
            let Some(n) = self.nodes[i].as_mut() else {
                return;
            };
            if n.queued.get(&key).copied().unwrap_or(0) >= SOCKET_BUFFER {
                return;
            }
            let Some(message) = n.swarm.poll_outgoing_from(now, key) else {
                return;
            };
            // A small message with nothing ahead of it on its connection goes straight out: it
            // takes a negligible share of the uplink, and skipping the uplink's turn saves an
            // event per message (most of the messages are `have`s and requests).
            let small = !matches!(message, Outgoing::Message(Message::Piece { .. }));
            if small && n.uplink_key != Some(key) && !n.queues.contains_key(&key) {
                self.uploaded(i, key, message, false);
                continue;
            }
            *n.queued.entry(key).or_default() += wire_size(&message);
            let queue = n.queues.entry(key).or_default();
            if queue.is_empty() {
                n.ring.push_back(key);
            }
            queue.push_back(message);
        }
    }

    /// The uplink serves the connections with something to send in turn, one message each
    /// (as TCP flows share a link): a small request never waits behind a whole queue of
    /// another connection's blocks.
    fn next_upload(&mut self, i: usize) {
        let now = self.now;
        let rate = self.specs[i].upload.max(1) as f64;
        let Some(n) = self.nodes[i].as_mut() else {
            return;
        };
        while let Some(key) = n.ring.pop_front() {
            let Some(queue) = n.queues.get_mut(&key) else {
                continue;
            };
            let Some(message) = queue.pop_front() else {
                continue;
            };
            if queue.is_empty() {
                n.queues.remove(&key);
            } else {
                n.ring.push_back(key);
            }
            let size = wire_size(&message);
            if let Some(q) = n.queued.get_mut(&key) {
                *q -= size;
                if *q == 0 {
                    n.queued.remove(&key);
                }
            }
            let busy = Duration::from_secs_f64(size as f64 / rate);
            let done = now + busy;
            let report = &mut self.report[i];
            report.upload_busy[usize::from(report.finish.is_some())] += busy;
            n.uplink_busy = true;
            n.uplink_key = Some(key);
            self.schedule(
                done,
                Payload::Uploaded {
                    from: i,
                    key,
                    message,
                },
            );
            return;
        }
        n.uplink_busy = false;
        n.uplink_key = None;
    }

    /// A message left node `i`'s uplink: it crosses both latencies (and maybe a loss) and
    /// queues at the receiver's downlink.
    fn uploaded(&mut self, i: usize, key: PeerKey, message: Outgoing, from_uplink: bool) {
        let now = self.now;
        if from_uplink {
            self.next_upload(i);
            // Room in that connection's buffer: the engine may send (and read) more.
            self.pump(i);
        }
        let Some((j, their)) = self.link(i, key) else {
            return;
        };
        let latency = self.specs[i].latency + self.specs[j].latency;
        let mut arrives = now + latency;
        if self.network.loss > 0.0 && self.rng.unit() < self.network.loss {
            arrives += (4 * latency).max(Duration::from_millis(200));
        }
        let down = Duration::from_secs_f64(
            wire_size(&message) as f64 / self.specs[j].download.max(1) as f64,
        );
        let Some(receiver) = self.nodes[j].as_mut() else {
            return;
        };
        let mut done = receiver.downlink_free.max(arrives) + down;
        receiver.downlink_free = done;
        // A connection delivers in order: nothing overtakes a retransmitted message.
        let slot = their.0 as usize;
        if receiver.conns.len() <= slot {
            receiver.conns.resize(slot + 1, Conn::default());
        }
        let last = receiver.conns[slot].last_delivery.get_or_insert(done);
        done = done.max(*last);
        *last = done;
        self.schedule(
            done,
            Payload::Deliver {
                to: j,
                key: their,
                message,
            },
        );
    }

    /// Up to `numwant` random online peers other than `i`.
    fn tracker_peers(&mut self, i: usize) -> Vec<SocketAddr> {
        let want = self
            .network
            .numwant
            .min(self.online.len().saturating_sub(1));
        let mut out = Vec::with_capacity(want);
        let mut tries = 0;
        while out.len() < want && tries < 4 * want + 8 {
            tries += 1;
            let j = self.online[self.rng.below(self.online.len())];
            if j != i
                && let Some(addr) = self.nodes[j].as_ref().map(|_| peer_addr(j))
                && !out.contains(&addr)
            {
                out.push(addr);
            }
        }
        out
    }
}

impl Sim {
    /// How many events have been processed so far.
    pub fn events(&self) -> u64 {
        self.events
    }
}

/// A connection's send buffer: messages beyond it stay in the engine (whose own reads of
/// blocks to serve then wait too, as a real client's do when its socket is full).
const SOCKET_BUFFER: usize = 32 << 10;

/// Bytes a message takes on the wire.
fn wire_size(message: &Outgoing) -> usize {
    match message {
        Outgoing::Handshake(_) => peer_wire::handshake::HANDSHAKE_LEN,
        Outgoing::Message(m) => m.encoded_len(),
    }
}

/// Peer `i`'s address: 10.0.0.0/8 numbered from 10.0.0.1, port 6881.
fn peer_addr(i: usize) -> SocketAddr {
    let n = u32::try_from(i).map_or(u32::MAX, |i| 0x0a00_0001u32.saturating_add(i));
    SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::from(n), 6881))
}

/// The peer at an address given by [`peer_addr`].
fn peer_index(addr: SocketAddr) -> Option<usize> {
    match addr {
        SocketAddr::V4(v4) => u32::from(*v4.ip())
            .checked_sub(0x0a00_0001)
            .map(|i| i as usize),
        SocketAddr::V6(_) => None,
    }
}
