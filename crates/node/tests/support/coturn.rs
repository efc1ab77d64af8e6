//! Debian's coturn (`turnserver`) on 127.0.0.1, a TURN server of the test's own, set up as
//! rtc-transport's tests/common/coturn.rs says.

use std::net::SocketAddr;
use std::process::Command;
use std::time::Duration;

use super::{Proc, free_port};

// The command line and readiness check, shared with rtc-transport's TURN tests.
#[path = "../../../rtc-transport/tests/common/coturn.rs"]
mod cmd;

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
            Command::new("turnserver").args(cmd::args(port, relay_low)),
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

    fn wait_until_it_answers(&self) {
        assert!(
            cmd::answers(self.addr, Duration::from_secs(20)),
            "turnserver on {} did not answer within 20 s",
            self.addr
        );
    }
}
