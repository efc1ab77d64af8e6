//! Headless Chromium on loopback, for the tests of `peercdn serve`'s page: a network namespace
//! of the test's own, set up as ../shared/INTEROP-NOTES.md ("Running WebRTC on loopback")
//! says Chromium's WebRTC needs it, `peercdn serve` inside it, and Chromium inside it driven by
//! `conformance/external/chromium_page.mjs` (playwright-core), one browser context per page.
//!
//! Include it with `#[path = "support/browser.rs"] mod browser;` beside `mod support;`.

#![allow(dead_code)]

use std::ffi::OsStr;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::support::{Proc, external_required, have_node_packages, have_program, peercdn};

/// Whether everything the browser tests need is here: Chromium (Debian's `chromium`),
/// `unshare` and `nsenter` (util-linux), `ip` (iproute2), the right to create a network
/// namespace (root), and node with playwright-core (conformance/node_modules). Missing, it is a
/// failure with `PEERCDN_REQUIRE_EXTERNAL=1`; otherwise the test says so and passes.
pub(crate) fn have_browser() -> bool {
    if !(have_program("chromium", "chromium")
        && have_program("unshare", "util-linux")
        && have_program("nsenter", "util-linux")
        && have_program("ip", "iproute2"))
    {
        return false;
    }
    let namespaces = Command::new("unshare")
        .args(["--net", "--", "true"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !namespaces {
        assert!(
            !external_required(),
            "the browser tests need to create a network namespace (run as root), and \
             `unshare --net true` failed (PEERCDN_REQUIRE_EXTERNAL=1)"
        );
        eprintln!("skipped: cannot create a network namespace (not root?)");
        return false;
    }
    have_node_packages(&["playwright-core"])
}

/// A network namespace that lives as long as this value: loopback up, plus the veth pair,
/// the 127.0.0.2 address and the default route that Chromium needs before it gathers ICE
/// candidates, and `route_localnet` so that 127.0.0.2 reaches 127.0.0.1. Nothing in it
/// reaches outside the machine.
pub(crate) struct Netns {
    /// `cat`, holding the namespace open until its stdin closes (when this is dropped).
    holder: Proc,
    pid: u32,
}

impl Netns {
    pub(crate) fn new() -> Self {
        let setup = "set -e
            ip link set lo up
            ip link add hx0 type veth peer name hx1
            ip link set hx0 up
            ip link set hx1 up
            ip addr add 127.0.0.2/32 dev hx0
            ip route add default dev hx0 src 127.0.0.2
            echo 1 > /proc/sys/net/ipv4/conf/all/route_localnet
            echo \"ready $$\"
            exec cat";
        let mut holder = Proc::spawn(
            "network namespace",
            Command::new("unshare").args(["--net", "--", "sh", "-c", setup]),
        );
        let line = holder.wait_line(Duration::from_secs(20), false, |l| l.starts_with("ready "));
        let pid = line["ready ".len()..]
            .trim()
            .parse()
            .expect("the namespace's shell prints its pid");
        Self { holder, pid }
    }

    /// `program` run inside the namespace (through `nsenter`, which execs it).
    pub(crate) fn command(&self, program: impl AsRef<OsStr>) -> Command {
        let mut cmd = Command::new("nsenter");
        cmd.arg(format!("--net=/proc/{}/ns/net", self.pid))
            .arg("--")
            .arg(program);
        cmd
    }

    /// `peercdn serve DIR --http 127.0.0.1:0 --listen 127.0.0.1:0 --json EXTRA...` in the
    /// namespace, started; returns it and its `started` event.
    pub(crate) fn serve(&self, dir: &Path, extra: &[&str]) -> (Proc, serde_json::Value) {
        let mut cmd = self.command(peercdn().get_program());
        cmd.arg("serve")
            .arg(dir)
            .args(["--http", "127.0.0.1:0", "--listen", "127.0.0.1:0", "--json"])
            .args(extra);
        let mut serve = Proc::spawn("peercdn serve", &mut cmd);
        let started = serve.wait_event(Duration::from_secs(120), "started");
        (serve, started)
    }

    /// Headless Chromium in the namespace opening `urls` (`chromium_page.mjs` with `args`
    /// before them: `--timeout S`, `--parallel`, `--keep-open`).
    pub(crate) fn chromium(&self, args: &[&str], urls: &[String]) -> Proc {
        let script = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../conformance/external/chromium_page.mjs");
        let mut cmd = self.command("node");
        cmd.arg(script).args(args).args(urls);
        Proc::spawn("chromium", &mut cmd)
    }
}

/// SHA-1 of `bytes`, lower-case hex (what the page reports).
pub(crate) fn sha1_hex(bytes: &[u8]) -> String {
    use sha1::Digest;
    sha1::Sha1::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Reads the driver's events until page `page` has reported each of `events` (in any order);
/// returns the first of each, in the order of `events`. A `failed` event, or the deadline,
/// fails the test with the driver's output.
pub(crate) fn page_events(
    chromium: &mut Proc,
    page: u64,
    events: &[&str],
    timeout: Duration,
) -> Vec<serde_json::Value> {
    let deadline = now() + timeout;
    let mut found: Vec<Option<serde_json::Value>> = vec![None; events.len()];
    while found.iter().any(Option::is_none) {
        let left = deadline.saturating_duration_since(now());
        let line = chromium.wait_line(left, false, |l| {
            serde_json::from_str::<serde_json::Value>(l).is_ok_and(|v| {
                v["event"] == "failed"
                    || (v["page"] == page && events.iter().any(|e| v["event"] == *e))
            })
        });
        let v: serde_json::Value = serde_json::from_str(&line).expect("checked above");
        assert_ne!(
            v["event"],
            "failed",
            "the browser failed: {v}\n{}",
            chromium.seen.join("\n")
        );
        for (slot, event) in found.iter_mut().zip(events) {
            if slot.is_none() && v["event"] == *event {
                *slot = Some(v.clone());
            }
        }
    }
    found.into_iter().flatten().collect()
}

#[expect(
    clippy::disallowed_methods,
    reason = "tests time out on the wall clock"
)]
fn now() -> Instant {
    Instant::now()
}
