//! ICE servers for real: coturn (`turnserver`, Debian's `coturn` package) on 127.0.0.1 with a
//! fresh configuration on its command line, a STUN server-reflexive candidate through it, two
//! peers connected through TURN relay candidates only, a refused credential and a server that
//! never answers. Without `turnserver` installed the coturn tests say so and pass.

mod common;
#[path = "common/coturn.rs"]
mod coturn;

use std::net::{SocketAddr, UdpSocket};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::{Closer, bind, exchange, pattern, wall};
use rtc_transport::{
    CandidateKind, CloseReason, Config, Error, FailureReason, GatherConfig, Gathered, Gatherer,
    IcePolicy, IceServer, Peer, ResolvedServer, UsageError,
};

const MIB: usize = 1024 * 1024;

#[test]
fn two_peers_move_mebibytes_through_turn_relays_only() {
    let Some(turn) = Coturn::start() else { return };
    let server = turn.server("u", "p");
    let (sa, sb) = (bind(0), bind(0));
    let started = wall();
    let a_gathered = gather(&sa, std::slice::from_ref(&server), Duration::from_secs(5));
    let b_gathered = gather(&sb, &[server], Duration::from_secs(5));
    let gathering = wall() - started;
    let relayed: Vec<_> = [&a_gathered, &b_gathered]
        .iter()
        .flat_map(|g| {
            g.candidates()
                .iter()
                .filter(|c| c.is_relay())
                .map(|c| c.address)
        })
        .collect();
    for g in [&a_gathered, &b_gathered] {
        assert!(g.failures().is_empty(), "{g:?}");
        let relays: Vec<_> = g.candidates().iter().filter(|c| c.is_relay()).collect();
        assert_eq!(relays.len(), 1, "{g:?}");
        assert!(
            matches!(relays[0].kind, CandidateKind::Relay { server, .. } if server == turn.addr)
        );
    }

    let now = wall();
    let (mut a, offer) =
        Peer::offer_gathered(Config::default(), a_gathered, IcePolicy::Relay, now).expect("offer");
    let (b, answer) =
        Peer::answer_gathered(Config::default(), b_gathered, IcePolicy::Relay, &offer, now)
            .expect("answer");
    a.accept_answer(now, &answer).expect("accept");
    for sdp in [&offer, &answer] {
        // Only the relay candidate, its base hidden.
        assert_eq!(candidates(sdp), 1, "{sdp}");
        assert!(sdp.contains("typ relay raddr 0.0.0.0 rport 0"), "{sdp}");
    }

    let a_data = pattern(21, 4 * MIB);
    let b_data = pattern(22, MIB + 777);
    let (ra, rb) = exchange(
        (a, sa, &a_data),
        (b, sb, &b_data),
        Closer::A,
        Duration::from_secs(90),
    );
    assert_eq!((ra.received, rb.received), (b_data.len(), a_data.len()));
    // Every datagram either peer sent went to the TURN server: the path is the relay.
    assert_eq!(ra.destinations, [turn.addr].into());
    assert_eq!(rb.destinations, [turn.addr].into());
    // Yet each sees the other at its relayed address, not at the server's (which every
    // relayed peer shares).
    assert_eq!(ra.remote_addr, Some(relayed[1]));
    assert_eq!(rb.remote_addr, Some(relayed[0]));
    assert_eq!(ra.closed, Some(CloseReason::Local));
    assert_eq!(rb.closed, Some(CloseReason::Remote));
    eprintln!(
        "gathering both {gathering:?}; open after {:?}/{:?}; transfer {:?}/{:?}",
        ra.open_after, rb.open_after, ra.transfer, rb.transfer
    );
}

/// One side relay-only, the other with every candidate (host and relay): the relay-only side
/// still sends only to the TURN server, and the other reaches it (directly at its relayed
/// address, or through its own allocation).
#[test]
fn a_relay_only_peer_connects_to_one_with_every_candidate() {
    let Some(turn) = Coturn::start() else { return };
    let server = turn.server("u", "p");
    let (sa, sb) = (bind(0), bind(0));
    let a_gathered = gather(&sa, std::slice::from_ref(&server), Duration::from_secs(5));
    let b_gathered = gather(&sb, &[server], Duration::from_secs(5));
    let now = wall();
    let (mut a, offer) =
        Peer::offer_gathered(Config::default(), a_gathered, IcePolicy::All, now).expect("offer");
    let (b, answer) =
        Peer::answer_gathered(Config::default(), b_gathered, IcePolicy::Relay, &offer, now)
            .expect("answer");
    a.accept_answer(now, &answer).expect("accept");
    assert!(
        offer.contains("typ host") && offer.contains("typ relay"),
        "{offer}"
    );
    let a_data = pattern(31, MIB);
    let b_data = pattern(32, MIB / 2);
    let (ra, rb) = exchange(
        (a, sa, &a_data),
        (b, sb, &b_data),
        Closer::B,
        Duration::from_secs(60),
    );
    assert_eq!((ra.received, rb.received), (b_data.len(), a_data.len()));
    assert_eq!(rb.destinations, [turn.addr].into());
    assert_eq!(
        (ra.closed, rb.closed),
        (Some(CloseReason::Remote), Some(CloseReason::Local))
    );
}

#[test]
fn stun_gives_a_server_reflexive_candidate() {
    let Some(turn) = Coturn::start() else { return };
    let socket = bind(0);
    let host = socket.local_addr().expect("addr");
    let gathered = gather(
        &socket,
        &[ResolvedServer::Stun(turn.addr)],
        Duration::from_secs(5),
    );
    assert!(gathered.failures().is_empty(), "{gathered:?}");
    let srflx: Vec<_> = gathered
        .candidates()
        .iter()
        .filter(|c| matches!(c.kind, CandidateKind::ServerReflexive { .. }))
        .collect();
    // No NAT on loopback: the server sees the host address itself.
    assert_eq!(srflx.len(), 1, "{gathered:?}");
    assert_eq!(srflx[0].address, host);
    assert_eq!(
        srflx[0].kind,
        CandidateKind::ServerReflexive {
            base: host,
            server: turn.addr
        }
    );
    // Redundant with the host candidate (RFC 8445 §5.1.3): not in the SDP.
    let (_, offer) =
        Peer::offer_gathered(Config::default(), gathered, IcePolicy::All, wall()).expect("offer");
    assert_eq!(candidates(&offer), 1, "{offer}");
    assert!(offer.contains("typ host"), "{offer}");
}

#[test]
fn a_wrong_credential_gives_no_relay_candidate() {
    let Some(turn) = Coturn::start() else { return };
    let socket = bind(0);
    let started = wall();
    let gathered = gather(
        &socket,
        &[turn.server("u", "wrong")],
        Duration::from_secs(5),
    );
    // Refused at once, not waited out.
    assert!(wall() - started < Duration::from_secs(4), "{gathered:?}");
    assert!(!gathered.candidates().iter().any(|c| c.is_relay()));
    // The Binding half of a TURN server still answers.
    assert!(
        gathered
            .candidates()
            .iter()
            .any(|c| matches!(c.kind, CandidateKind::ServerReflexive { .. }))
    );
    match gathered.failures() {
        [failure] => {
            assert!(failure.allocate);
            assert!(
                matches!(&failure.reason, FailureReason::AllocateRefused(why) if why.contains("401")),
                "{failure:?}"
            );
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        Peer::offer_gathered(Config::default(), gathered, IcePolicy::Relay, wall()).map(|_| ()),
        Err(Error::Usage(UsageError::NoRelayCandidate))
    );
}

/// Sans-IO, no coturn needed: a server that never answers is given up at the deadline, and the
/// host candidate is all there is.
#[test]
fn a_silent_server_is_given_up_at_the_deadline() {
    let host: SocketAddr = "127.0.0.1:40000".parse().expect("addr");
    let silent: SocketAddr = "127.0.0.1:9".parse().expect("addr");
    let start = wall();
    let timeout = Duration::from_secs(2);
    let config = GatherConfig { timeout };
    let servers = [
        ResolvedServer::Stun(silent),
        ResolvedServer::Turn {
            addr: "127.0.0.2:3478".parse().expect("addr"),
            username: "u".to_owned(),
            credential: "p".to_owned(),
        },
        // Another family than the host: not asked at all.
        ResolvedServer::Stun("[::1]:3478".parse().expect("addr")),
    ];
    let mut g = Gatherer::new(&config, &[host], &servers, start).expect("gatherer");
    let mut now = start;
    let mut sent = Vec::new();
    while !g.is_done() {
        while let Some(t) = g.poll_transmit() {
            assert_eq!(t.source, host);
            sent.push(t.destination);
        }
        now = g.poll_timeout().expect("a deadline while gathering");
        g.handle_timeout(now);
    }
    assert_eq!(now, start + timeout);
    assert!(g.poll_timeout().is_none());
    // Retransmitted (RFC 8489 §6.2.1), to the two servers of the host's family only.
    assert!(sent.len() > 3, "{sent:?}");
    assert!(sent.iter().all(|d| d.is_ipv4()));
    let gathered = g.finish();
    assert_eq!(gathered.candidates().len(), 1);
    assert_eq!(gathered.candidates()[0].kind, CandidateKind::Host);
    assert_eq!(gathered.failures().len(), 3, "{gathered:?}"); // two bindings, one allocation
    assert!(
        gathered
            .failures()
            .iter()
            .all(|f| f.reason == FailureReason::Timeout)
    );
    // A connection can still be offered on the host candidate.
    let (_, offer) =
        Peer::offer_gathered(Config::default(), gathered, IcePolicy::All, now).expect("offer");
    assert!(offer.contains("typ host"));
}

/// Hostile datagrams from a server's address: dropped, no panic, gathering goes on.
#[test]
fn garbage_from_a_server_changes_nothing() {
    let host: SocketAddr = "127.0.0.1:40000".parse().expect("addr");
    let server: SocketAddr = "127.0.0.1:3478".parse().expect("addr");
    let now = wall();
    let servers = [ResolvedServer::Turn {
        addr: server,
        username: "u".to_owned(),
        credential: "p".to_owned(),
    }];
    let mut g = Gatherer::new(&GatherConfig::default(), &[host], &servers, now).expect("g");
    let mut request = None;
    while let Some(t) = g.poll_transmit() {
        request = Some(t.contents);
    }
    let request = request.expect("a request");
    let mut x = 7u64;
    for len in 0..400 {
        let mut datagram: Vec<u8> = (0..len)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            })
            .collect();
        // Half of them look like STUN responses to our request (type, cookie, transaction).
        if len >= 20 && len % 2 == 0 {
            datagram[..2].copy_from_slice(&[0x01, 0x13]);
            datagram[2..4].copy_from_slice(&((len - 20) as u16).to_be_bytes());
            datagram[4..20].copy_from_slice(&request[4..20]);
        }
        assert!(g.handle_receive(now, server, host, &datagram));
        // ChannelData-shaped (RFC 8656 §12.4).
        if len >= 4 {
            datagram[0] = 0x40;
            datagram[2..4].copy_from_slice(&((len - 4) as u16).to_be_bytes());
            assert!(g.handle_receive(now, server, host, &datagram));
        }
    }
    // Not from a server: not the gatherer's.
    assert!(!g.handle_receive(now, "127.0.0.1:1".parse().expect("addr"), host, b"x"));
    assert!(!g.candidates().iter().any(|c| c.is_relay()));
}

#[test]
fn ice_server_urls_resolve_to_gatherer_input() {
    let server = IceServer {
        urls: vec![
            "stun:127.0.0.1:3478".to_owned(),
            "turn:localhost?transport=udp".to_owned(),
        ],
        username: "u".to_owned(),
        credential: "p".to_owned(),
    };
    let resolved = server
        .resolve(|host, port| {
            assert_eq!((host, port), ("localhost", 3478));
            vec![SocketAddr::from(([127, 0, 0, 1], port))]
        })
        .expect("resolved");
    assert_eq!(resolved.len(), 2);
    let tcp = IceServer {
        urls: vec!["turn:127.0.0.1?transport=tcp".to_owned()],
        ..server
    };
    let err = tcp.urls().expect_err("tcp");
    assert!(err.to_string().contains("only udp"), "{err}");
}

/// Candidates in an SDP (rtc writes each for components 1 and 2: count the first).
fn candidates(sdp: &str) -> usize {
    sdp.lines()
        .filter_map(|l| l.strip_prefix("a=candidate:"))
        .filter(|c| c.split_ascii_whitespace().nth(1) == Some("1"))
        .count()
}

/// Drives a gatherer on `socket` until it is done (at most `timeout` plus a little).
fn gather(socket: &UdpSocket, servers: &[ResolvedServer], timeout: Duration) -> Gathered {
    let local = socket.local_addr().expect("addr");
    let config = GatherConfig { timeout };
    let mut g = Gatherer::new(&config, &[local], servers, wall()).expect("gatherer");
    let mut buf = vec![0; 65_536];
    while !g.is_done() {
        while let Some(t) = g.poll_transmit() {
            socket.send_to(&t.contents, t.destination).expect("send");
        }
        let Some(deadline) = g.poll_timeout() else {
            break;
        };
        let wait = deadline.saturating_duration_since(wall());
        if wait.is_zero() {
            g.handle_timeout(wall());
            continue;
        }
        socket.set_read_timeout(Some(wait)).expect("timeout");
        match socket.recv_from(&mut buf) {
            Ok((n, from)) => {
                g.handle_receive(wall(), from, local, &buf[..n]);
            }
            Err(_) => g.handle_timeout(wall()),
        }
    }
    g.finish()
}

/// A coturn process of our own on 127.0.0.1, killed when dropped.
struct Coturn {
    child: Child,
    addr: SocketAddr,
}

impl Coturn {
    /// Starts `turnserver` on a free port with user `u:p` in realm `peercdn`; `None` (and a
    /// message) when it is not installed.
    fn start() -> Option<Self> {
        if Command::new("turnserver")
            .arg("--version")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_err()
        {
            // scripts/test installs it and sets PEERCDN_REQUIRE_EXTERNAL=1: there, missing is
            // a failure.
            assert!(
                std::env::var_os("PEERCDN_REQUIRE_EXTERNAL").is_none_or(|v| v != "1"),
                "`turnserver` (Debian package coturn) is required but not installed"
            );
            eprintln!("SKIPPED: `turnserver` (Debian package coturn) is not installed");
            return None;
        }
        let port = free_port();
        // Relayed ports: a range above another free port, for the allocations of one test.
        let relay_low = free_port().clamp(1024, 65_000);
        let child = Command::new("turnserver")
            .args(coturn::args(port, relay_low))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn turnserver");
        let turn = Self {
            child,
            addr: SocketAddr::from(([127, 0, 0, 1], port)),
        };
        turn.wait_until_it_answers();
        Some(turn)
    }

    fn server(&self, username: &str, credential: &str) -> ResolvedServer {
        ResolvedServer::Turn {
            addr: self.addr,
            username: username.to_owned(),
            credential: credential.to_owned(),
        }
    }

    fn wait_until_it_answers(&self) {
        assert!(
            coturn::answers(self.addr, Duration::from_secs(20)),
            "turnserver on {} did not answer within 20 s",
            self.addr
        );
    }
}

impl Drop for Coturn {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A UDP port nobody holds right now (the OS's choice for a socket we then close).
fn free_port() -> u16 {
    UdpSocket::bind("127.0.0.1:0")
        .and_then(|s| s.local_addr())
        .expect("bind")
        .port()
}
