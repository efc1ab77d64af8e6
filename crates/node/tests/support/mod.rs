//! Processes for interop tests: `peercdn` itself and external clients, killed when the test
//! ends however it ends, their output read line by line with timeouts (no sleeps).

#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

#[expect(
    clippy::disallowed_methods,
    reason = "tests time out on the wall clock"
)]
fn now() -> Instant {
    Instant::now()
}

/// A folder under the system temp dir, removed on drop.
pub(crate) struct TempDir(pub PathBuf);

impl TempDir {
    pub(crate) fn new(name: &str) -> Self {
        let path = std::env::temp_dir().join(format!("peercdn-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).expect("temp folder is writable");
        Self(path)
    }

    pub(crate) fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A child process whose stdout lines (and stderr lines, tagged) arrive on a channel.
pub(crate) struct Proc {
    pub(crate) name: String,
    child: Child,
    /// Kept open: some helpers exit when their stdin closes.
    stdin: Option<ChildStdin>,
    lines: Receiver<(bool, String)>,
    /// Every line seen, for the failure message.
    pub(crate) seen: Vec<String>,
}

impl Proc {
    pub(crate) fn spawn(name: &str, command: &mut Command) -> Self {
        let mut child = command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {name}: {e}"));
        let (tx, lines) = mpsc::channel();
        let stdout = child.stdout.take().expect("piped");
        let stderr = child.stderr.take().expect("piped");
        for (is_err, stream) in [
            (false, Box::new(stdout) as Box<dyn std::io::Read + Send>),
            (true, Box::new(stderr)),
        ] {
            let tx = tx.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(stream).lines() {
                    let Ok(line) = line else { return };
                    if tx.send((is_err, line)).is_err() {
                        return;
                    }
                }
            });
        }
        Self {
            name: name.to_string(),
            stdin: child.stdin.take(),
            child,
            lines,
            seen: Vec::new(),
        }
    }

    /// Waits for a stdout line (or, with `stderr`, any line) that `want` accepts.
    pub(crate) fn wait_line(
        &mut self,
        timeout: Duration,
        stderr: bool,
        want: impl Fn(&str) -> bool,
    ) -> String {
        let deadline = now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(now());
            match self.lines.recv_timeout(left) {
                Ok((is_err, line)) => {
                    self.seen
                        .push(format!("{}{line}", if is_err { "! " } else { "" }));
                    if (stderr || !is_err) && want(&line) {
                        return line;
                    }
                }
                Err(RecvTimeoutError::Timeout) => panic!(
                    "{}: no expected line within {timeout:?}; output:\n{}",
                    self.name,
                    self.seen.join("\n")
                ),
                Err(RecvTimeoutError::Disconnected) => panic!(
                    "{} ended ({:?}) without the expected line; output:\n{}",
                    self.name,
                    self.child.try_wait(),
                    self.seen.join("\n")
                ),
            }
        }
    }

    /// Waits for a stdout JSON object whose `event` is `event`.
    pub(crate) fn wait_event(&mut self, timeout: Duration, event: &str) -> serde_json::Value {
        let line = self.wait_line(timeout, false, |l| {
            serde_json::from_str::<serde_json::Value>(l).is_ok_and(|v| v["event"] == event)
        });
        serde_json::from_str(&line).expect("checked above")
    }

    /// Waits for the process to exit; returns its status code.
    pub(crate) fn wait_exit(&mut self, timeout: Duration) -> Option<i32> {
        let deadline = now() + timeout;
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return status.code();
            }
            let left = deadline.saturating_duration_since(now());
            if left.is_zero() {
                panic!(
                    "{} did not exit within {timeout:?}; output:\n{}",
                    self.name,
                    self.seen.join("\n")
                );
            }
            // Drain output while waiting (the pipes must not fill up).
            if let Ok((is_err, line)) = self.lines.recv_timeout(left.min(Duration::from_millis(50)))
            {
                self.seen
                    .push(format!("{}{line}", if is_err { "! " } else { "" }));
            }
        }
    }

    /// Sends SIGKILL.
    pub(crate) fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.stdin.take();
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            while let Ok((is_err, line)) = self.lines.try_recv() {
                self.seen
                    .push(format!("{}{line}", if is_err { "! " } else { "" }));
            }
            let tail: Vec<&String> = self.seen.iter().rev().take(60).collect();
            eprintln!("--- {} (last lines) ---", self.name);
            for line in tail.into_iter().rev() {
                eprintln!("{line}");
            }
        }
    }
}

/// The `peercdn` binary under test.
pub(crate) fn peercdn() -> Command {
    Command::new(env!("CARGO_BIN_EXE_peercdn"))
}

/// Deterministic bytes.
pub(crate) fn content(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

/// A file of `len` bytes at `dir/name` and a torrent for it announcing to `trackers`, made by
/// `peercdn create`; returns the torrent's path.
pub(crate) fn make_torrent(
    dir: &Path,
    name: &str,
    len: usize,
    piece: &str,
    trackers: &[&str],
) -> PathBuf {
    let data = dir.join("seed").join(name);
    std::fs::create_dir_all(data.parent().expect("has a parent")).expect("writable");
    std::fs::write(&data, content(len, 7)).expect("writable");
    let torrent = dir.join(format!("{name}.torrent"));
    let mut cmd = peercdn();
    cmd.arg("create").arg(&data).arg("-o").arg(&torrent);
    cmd.arg("--piece-size").arg(piece);
    for t in trackers {
        cmd.arg("--tracker").arg(t);
    }
    let out = cmd.output().expect("peercdn create runs");
    assert!(
        out.status.success(),
        "create: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    torrent
}

/// Starts `peercdn tracker --http 127.0.0.1:0`; returns it and its announce URL.
pub(crate) fn start_tracker() -> (Proc, String) {
    let mut p = Proc::spawn(
        "peercdn tracker",
        peercdn().args(["tracker", "--http", "127.0.0.1:0"]),
    );
    let line = p.wait_line(Duration::from_secs(20), true, |l| {
        l.starts_with("HTTP tracker: ")
    });
    let url = line.trim_start_matches("HTTP tracker: ").to_string();
    (p, url)
}

/// Whether external clients are required (scripts/test sets `PEERCDN_REQUIRE_EXTERNAL=1`):
/// then a missing one is a failure; otherwise the test says so and passes without running.
pub(crate) fn external_required() -> bool {
    std::env::var_os("PEERCDN_REQUIRE_EXTERNAL").is_some_and(|v| v == "1")
}

/// Whether python3-libtorrent can be imported by /usr/bin/python3.
pub(crate) fn have_libtorrent() -> bool {
    let ok = Command::new("/usr/bin/python3")
        .args(["-c", "import libtorrent"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        assert!(
            !external_required(),
            "python3-libtorrent is required (PEERCDN_REQUIRE_EXTERNAL=1) but cannot be imported"
        );
        eprintln!("skipped: python3-libtorrent is not installed");
    }
    ok
}

/// The libtorrent peer script of the conformance suite.
pub(crate) fn libtorrent_peer() -> Command {
    let script =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../conformance/external/libtorrent_peer.py");
    let mut cmd = Command::new("/usr/bin/python3");
    cmd.arg(script);
    cmd
}
