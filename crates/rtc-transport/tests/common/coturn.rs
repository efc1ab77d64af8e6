//! Debian's coturn (`turnserver`) as the tests run it, on 127.0.0.1: user `u`, password `p`,
//! realm `peercdn`, relays on 127.0.0.1 (loopback peers allowed), UDP only, its log on
//! stdout. Shared by this crate's tests/turn.rs and the node's tests/support/coturn.rs.

use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

/// `turnserver`'s arguments: listening on `port`, relaying from ports `relay_low` to
/// `relay_low + 200`.
pub(crate) fn args(port: u16, relay_low: u16) -> Vec<String> {
    let mut args: Vec<String> = [
        "-n",
        "--listening-ip=127.0.0.1",
        "--relay-ip=127.0.0.1",
        "--lt-cred-mech",
        "--user=u:p",
        "--realm=peercdn",
        "--allow-loopback-peers",
        "--no-cli",
        "--no-tls",
        "--no-dtls",
        "--no-tcp-relay",
        "--log-file=stdout",
        "--simple-log",
        // The `usage` lines: bytes relayed per allocation.
        "--verbose",
    ]
    .map(String::from)
    .to_vec();
    args.push(format!("--listening-port={port}"));
    args.push(format!("--min-port={relay_low}"));
    args.push(format!("--max-port={}", relay_low + 200));
    args
}

/// Readiness: whether the server at `addr` answers a STUN Binding request (RFC 8489 §5) with
/// a success response within `within`, asking every 100 ms.
#[expect(clippy::disallowed_methods, reason = "a test driver reads the clock")]
pub(crate) fn answers(addr: SocketAddr, within: Duration) -> bool {
    let deadline = Instant::now() + within;
    let socket = UdpSocket::bind("127.0.0.1:0").expect("bind");
    socket
        .set_read_timeout(Some(Duration::from_millis(100)))
        .expect("timeout");
    let mut request = [0u8; 20];
    request[..2].copy_from_slice(&[0x00, 0x01]); // Binding request, no attributes
    request[4..8].copy_from_slice(&[0x21, 0x12, 0xa4, 0x42]); // magic cookie
    request[8..20].copy_from_slice(b"peercdnready");
    let mut buf = [0u8; 1500];
    while Instant::now() < deadline {
        let _ = socket.send_to(&request, addr);
        if let Ok((n, _)) = socket.recv_from(&mut buf)
            && n >= 20
            && buf[..2] == [0x01, 0x01]
            && buf[8..20] == request[8..20]
        {
            return true;
        }
    }
    false
}
