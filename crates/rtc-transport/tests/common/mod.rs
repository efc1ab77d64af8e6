//! Drivers for the tests and the throughput example: a blocking UDP driver (one thread per
//! peer, a socket on 127.0.0.1 each) and an in-memory network with a virtual clock. The crate
//! itself stays sans-IO: this is the I/O a node would do.

#![allow(
    dead_code,
    unreachable_pub,
    missing_docs,
    reason = "each test binary uses part of the drivers"
)]

use std::collections::BTreeSet;
use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use rtc_transport::{CloseReason, Config, Event, Peer, State};

/// The wall clock, for drivers.
#[expect(clippy::disallowed_methods, reason = "a driver reads the clock")]
pub fn wall() -> Instant {
    Instant::now()
}

/// `len` bytes of a deterministic stream (xorshift64*), different per `seed`.
pub fn pattern(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        out.extend_from_slice(&x.wrapping_mul(0x2545_f491_4f6c_dd1d).to_le_bytes());
    }
    out.truncate(len);
    out
}

/// A UDP socket on 127.0.0.1 with `buffer` bytes of kernel send and receive buffer (0 keeps
/// the system's default).
pub fn bind(buffer: usize) -> UdpSocket {
    bind_on("127.0.0.1:0", buffer)
}

/// A UDP socket on `addr` (a loopback address, port 0) with `buffer` bytes of kernel buffers.
pub fn bind_on(addr: &str, buffer: usize) -> UdpSocket {
    let socket = UdpSocket::bind(addr).expect("bind loopback");
    if buffer > 0 {
        let s = socket2::SockRef::from(&socket);
        s.set_recv_buffer_size(buffer).expect("SO_RCVBUF");
        s.set_send_buffer_size(buffer).expect("SO_SNDBUF");
    }
    socket
}

/// What one side of a UDP run did.
#[derive(Debug)]
pub struct Outcome {
    /// Bytes read, each checked against [`Side::expect`].
    pub received: usize,
    /// From the start of the run to the channel opening.
    pub open_after: Option<Duration>,
    /// From the channel opening to the last expected byte read.
    pub transfer: Option<Duration>,
    pub closed: Option<CloseReason>,
    pub dropped_datagrams: u64,
    /// Every address a datagram was sent to.
    pub destinations: BTreeSet<SocketAddr>,
    /// [`Peer::remote_addr`] at the end.
    pub remote_addr: Option<SocketAddr>,
}

/// One side of a UDP run.
pub struct Side {
    pub peer: Peer,
    pub socket: UdpSocket,
    /// Bytes to write once the peer exists (written as the channel takes them).
    pub send: Vec<u8>,
    /// The bytes to read (each read is checked against them as it comes) before this side
    /// counts as done.
    pub expect: Vec<u8>,
    /// Close the connection once both sides are done (else wait for the remote to close it).
    pub close_when_done: bool,
}

/// Which side closes the connection once both are done.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Closer {
    A,
    B,
}

/// Runs two peers on their sockets, one thread each, until both have read what the other
/// wrote (`a_data` from A to B, `b_data` from B to A) and the `closer` closed, or `timeout`.
pub fn exchange(
    (a, sa, a_data): (Peer, UdpSocket, &[u8]),
    (b, sb, b_data): (Peer, UdpSocket, &[u8]),
    closer: Closer,
    timeout: Duration,
) -> (Outcome, Outcome) {
    let done = AtomicUsize::new(0);
    let deadline = wall() + timeout;
    let side = |peer, socket, send: &[u8], expect: &[u8], closes| Side {
        peer,
        socket,
        send: send.to_vec(),
        expect: expect.to_vec(),
        close_when_done: closes,
    };
    let a_side = side(a, sa, a_data, b_data, closer == Closer::A);
    let b_side = side(b, sb, b_data, a_data, closer == Closer::B);
    let (ra, rb) = std::thread::scope(|s| {
        let done = &done;
        let tb = s.spawn(move || run(b_side, done, 2, deadline));
        let ra = run(a_side, done, 2, deadline);
        (ra, tb.join().expect("b's thread"))
    });
    (ra.expect("a"), rb.expect("b"))
}

/// Drives one side until both are done (`done` counts the sides that are) and then until the
/// connection closes, or until `deadline`. Blocks on the socket until the peer's next deadline
/// (at most `max_wait`): that wait is for input, not for time to pass.
pub fn run(
    mut side: Side,
    done: &AtomicUsize,
    sides: usize,
    deadline: Instant,
) -> Result<Outcome, String> {
    let local = side.socket.local_addr().map_err(|e| e.to_string())?;
    let start = wall();
    let max_wait = Duration::from_millis(50);
    let mut buf = vec![0u8; 65_536];
    let mut chunk = vec![0u8; 256 * 1024];
    let mut received = 0;
    let mut sent = 0;
    let mut open_at = None;
    let mut finished_at = None;
    let mut counted = false;
    let mut closed = None;
    let mut destinations = BTreeSet::new();
    loop {
        let now = wall();
        if now > deadline {
            return Err(format!(
                "{:?}: timed out: sent {sent} of {}, received {} of {}, {:?}",
                side.peer.role(),
                side.send.len(),
                received,
                side.expect.len(),
                side.peer
            ));
        }
        // Commands: write what the channel takes.
        while sent < side.send.len() && side.peer.state() != State::Closed {
            let n = side
                .peer
                .write(now, &side.send[sent..])
                .map_err(|e| e.to_string())?;
            if n == 0 {
                break;
            }
            sent += n;
        }
        // Output.
        while let Some(t) = side.peer.poll_transmit() {
            destinations.insert(t.destination);
            side.socket
                .send_to(&t.contents, t.destination)
                .map_err(|e| format!("send_to {}: {e}", t.destination))?;
        }
        while let Some(event) = side.peer.poll_event() {
            if std::env::var_os("RTC_TRACE").is_some() {
                eprintln!("{:?} {:?} {event:?}", wall() - start, side.peer.role());
            }
            match event {
                Event::ChannelOpen { .. } => open_at = Some(wall()),
                Event::Closed(reason) => closed = Some(reason),
                Event::Connected | Event::Readable | Event::Writable => {}
                other => return Err(format!("unexpected event {other:?}")),
            }
        }
        loop {
            let n = side.peer.read(&mut chunk);
            if n == 0 {
                break;
            }
            let want = side.expect.get(received..received + n);
            if want != Some(&chunk[..n]) {
                return Err(format!(
                    "bytes {received}..{} differ from what was sent",
                    received + n
                ));
            }
            received += n;
        }
        if !counted && received == side.expect.len() && sent == side.send.len() {
            counted = true;
            finished_at = Some(wall());
            done.fetch_add(1, Ordering::SeqCst);
        }
        if counted && done.load(Ordering::SeqCst) == sides {
            if side.close_when_done && closed.is_none() {
                side.peer.close();
                continue; // drain the goodbye
            }
            if closed.is_some() {
                return Ok(Outcome {
                    received,
                    open_after: open_at.map(|t| t - start),
                    transfer: open_at.zip(finished_at).map(|(o, f)| f - o),
                    closed,
                    dropped_datagrams: side.peer.dropped_datagrams(),
                    destinations,
                    remote_addr: side.peer.remote_addr(),
                });
            }
        }
        if let Some(reason) = closed
            && !counted
        {
            return Err(format!("closed early: {reason:?}"));
        }
        // Input: a datagram, or the deadline.
        let now = wall();
        let wait = side
            .peer
            .poll_timeout()
            .map_or(max_wait, |t| t.saturating_duration_since(now))
            .min(max_wait);
        if wait.is_zero() {
            side.peer.handle_timeout(now);
            continue;
        }
        side.socket
            .set_read_timeout(Some(wait))
            .map_err(|e| e.to_string())?;
        match side.socket.recv_from(&mut buf) {
            Ok((n, from)) => side.peer.handle_receive(wall(), from, local, &buf[..n]),
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                side.peer.handle_timeout(wall());
            }
            Err(e) => return Err(format!("recv_from: {e}")),
        }
    }
}

/// Two peers connected through UDP sockets on 127.0.0.1, signaled in-process.
pub fn udp_pair(config: &Config, buffer: usize) -> ((Peer, UdpSocket), (Peer, UdpSocket)) {
    udp_pair_on("127.0.0.1:0", config, buffer)
}

/// Two peers connected through UDP sockets on `addr` (a loopback address, port 0).
pub fn udp_pair_on(
    addr: &str,
    config: &Config,
    buffer: usize,
) -> ((Peer, UdpSocket), (Peer, UdpSocket)) {
    let now = wall();
    let sa = bind_on(addr, buffer);
    let sb = bind_on(addr, buffer);
    let a_addr: SocketAddr = sa.local_addr().expect("local addr");
    let b_addr: SocketAddr = sb.local_addr().expect("local addr");
    let (mut a, offer) = Peer::offer(config.clone(), &[a_addr], now).expect("offer");
    let (b, answer) = Peer::answer(config.clone(), &[b_addr], &offer, now).expect("answer");
    a.accept_answer(now, &answer).expect("accept answer");
    ((a, sa), (b, sb))
}

const LATENCY: Duration = Duration::from_micros(50);

/// An in-memory network between two peers: instant delivery, a virtual clock that jumps to the
/// next deadline when nothing is in flight (quinn's `Pair::step`).
pub struct Pair {
    pub a: Peer,
    pub b: Peer,
    pub now: Instant,
    pub a_events: Vec<Event>,
    pub b_events: Vec<Event>,
}

impl Pair {
    pub fn new(config_a: Config, config_b: Config) -> Self {
        let now = wall();
        let a_addr: SocketAddr = "127.0.0.1:40001".parse().expect("addr");
        let b_addr: SocketAddr = "127.0.0.1:40002".parse().expect("addr");
        let (mut a, offer) = Peer::offer(config_a, &[a_addr], now).expect("offer");
        let (b, answer) = Peer::answer(config_b, &[b_addr], &offer, now).expect("answer");
        a.accept_answer(now, &answer).expect("accept");
        Self::from_peers(a, b, now)
    }

    /// Two peers the caller signaled itself (with an edited SDP, say), at `now`.
    pub fn from_peers(a: Peer, b: Peer, now: Instant) -> Self {
        Self {
            a,
            b,
            now,
            a_events: Vec::new(),
            b_events: Vec::new(),
        }
    }

    /// Delivers everything in flight, after a link latency of 50 µs; when nothing was, jumps
    /// the clock to the next deadline. Returns false when there is neither traffic nor a
    /// deadline.
    pub fn step(&mut self) -> bool {
        self.now += LATENCY;
        let mut moved = false;
        while let Some(t) = self.a.poll_transmit() {
            self.b
                .handle_receive(self.now, t.source, t.destination, &t.contents);
            moved = true;
        }
        while let Some(t) = self.b.poll_transmit() {
            self.a
                .handle_receive(self.now, t.source, t.destination, &t.contents);
            moved = true;
        }
        // Deadlines that passed while traffic moved.
        self.a.handle_timeout(self.now);
        self.b.handle_timeout(self.now);
        self.a_events
            .extend(std::iter::from_fn(|| self.a.poll_event()));
        self.b_events
            .extend(std::iter::from_fn(|| self.b.poll_event()));
        if moved {
            return true;
        }
        let Some(next) = self
            .a
            .poll_timeout()
            .into_iter()
            .chain(self.b.poll_timeout())
            .min()
        else {
            return false;
        };
        self.now = self.now.max(next);
        self.a.handle_timeout(self.now);
        self.b.handle_timeout(self.now);
        true
    }

    /// Steps until `done` holds, at most `max_steps` times.
    pub fn run_until(&mut self, max_steps: usize, mut done: impl FnMut(&mut Self) -> bool) -> bool {
        for _ in 0..max_steps {
            if done(self) {
                return true;
            }
            if !self.step() {
                return done(self);
            }
        }
        done(self)
    }

    pub fn open(&mut self) {
        assert!(
            self.run_until(10_000, |p| p.a.state() == State::Open
                && p.b.state() == State::Open),
            "never opened: {:?} {:?}",
            self.a,
            self.b
        );
    }
}
