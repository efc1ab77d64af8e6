//! Debian's coturn (`turnserver`) on 127.0.0.1, a TURN server of the test's own: user `u`,
//! password `p`, realm `peercdn`, relays on 127.0.0.1 (loopback peers allowed), UDP only.

use std::net::{SocketAddr, UdpSocket};
use std::process::Command;
use std::time::Duration;

use super::{Proc, free_port};

pub(crate) struct Coturn {
    /// Its log (`--simple-log` on stdout).
    pub(crate) proc: Proc,
    pub(crate) addr: SocketAddr,
}

impl Coturn {
    /// Starts it on a free port and waits until it answers a STUN Binding request.
    pub(crate) fn start() -> Self {
        let port = free_port();
        // Relayed ports: a range above another free port.
        let relay_low = free_port().clamp(1024, 65_000);
        let proc = Proc::spawn(
            "turnserver",
            Command::new("turnserver").args([
                "-n",
                "--listening-ip=127.0.0.1",
                "--relay-ip=127.0.0.1",
                &format!("--listening-port={port}"),
                &format!("--min-port={relay_low}"),
                &format!("--max-port={}", relay_low + 200),
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
                "--verbose",
            ]),
        );
        let turn = Self {
            proc,
            addr: SocketAddr::from(([127, 0, 0, 1], port)),
        };
        turn.wait_until_it_answers();
        turn
    }

    /// Its URL for `--ice-server`.
    pub(crate) fn url(&self) -> String {
        format!("turn:{}?transport=udp", self.addr)
    }

    /// Readiness: a STUN Binding request (RFC 8489 §5) answered with a success response.
    fn wait_until_it_answers(&self) {
        let socket = UdpSocket::bind("127.0.0.1:0").expect("bind");
        socket
            .set_read_timeout(Some(Duration::from_millis(100)))
            .expect("timeout");
        let mut request = [0u8; 20];
        request[..2].copy_from_slice(&[0x00, 0x01]); // Binding request, no attributes
        request[4..8].copy_from_slice(&[0x21, 0x12, 0xa4, 0x42]); // magic cookie
        request[8..20].copy_from_slice(b"peercdnready");
        let mut buf = [0u8; 1500];
        super::poll(Duration::from_secs(20), "answer from turnserver", || {
            socket
                .send_to(&request, self.addr)
                .map_err(|e| e.to_string())?;
            match socket.recv_from(&mut buf) {
                Ok((n, _))
                    if n >= 20 && buf[..2] == [0x01, 0x01] && buf[8..20] == request[8..20] =>
                {
                    Ok(())
                }
                _ => Err("no answer".to_string()),
            }
        });
    }
}
