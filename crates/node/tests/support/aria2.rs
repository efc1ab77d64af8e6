//! aria2 (`aria2c` 1.36, Debian's `aria2`) driven on its command line: no configuration file
//! (`--no-conf`), DHT (IPv4 and IPv6), LPD and PEX off, peers accepted on 127.0.0.1 at a port
//! of the test's choosing, its log on stdout. It finds peers through the torrent's trackers
//! only (it has no switch to add a peer) and dials them, 127.0.0.1 included.
//!
//! Encryption stays at aria2's defaults (`--bt-require-crypto=false`,
//! `--bt-min-crypto-level=plain`): it dials with a plain BitTorrent handshake and accepts
//! either kind.

use std::path::Path;
use std::process::Command;

use super::{free_port, have_program};

/// Whether `aria2c` is installed (see [`have_program`]).
pub(crate) fn have_aria2() -> bool {
    have_program("aria2c", "aria2")
}

/// `aria2c` downloading `torrent` into `dir` and exiting once it has every piece
/// (`--seed-time=0`).
pub(crate) fn download(torrent: &Path, dir: &Path) -> Command {
    let mut cmd = aria2c(dir);
    cmd.arg("--seed-time=0").arg(torrent);
    cmd
}

/// `aria2c` checking the data of `torrent` in `dir` (`--check-integrity`), then seeding it
/// until it is killed (`--seed-ratio=0.0` and no `--seed-time`).
pub(crate) fn seed(torrent: &Path, dir: &Path) -> Command {
    let mut cmd = aria2c(dir);
    cmd.args(["--check-integrity=true", "--seed-ratio=0.0"])
        .arg(torrent);
    cmd
}

/// aria2c's common switches: the folder, the loopback-only and quiet settings.
fn aria2c(dir: &Path) -> Command {
    let mut cmd = Command::new("aria2c");
    cmd.arg("--no-conf")
        .arg(format!("--dir={}", dir.display()))
        .args([
            "--enable-dht=false",
            "--enable-dht6=false",
            "--bt-enable-lpd=false",
            "--enable-peer-exchange=false",
            // Sockets (the listening one included) on loopback only.
            "--interface=127.0.0.1",
            "--disable-ipv6=true",
            "--file-allocation=none",
            "--bt-save-metadata=false",
            "--auto-save-interval=0",
            "--summary-interval=0",
            "--show-console-readout=false",
            "--console-log-level=warn",
            "--log=-",
            "--log-level=info",
        ])
        .arg(format!("--listen-port={}", free_port()));
    cmd
}
