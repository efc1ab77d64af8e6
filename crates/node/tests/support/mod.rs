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

    /// Once it has exited: moves the rest of its output to `seen`.
    pub(crate) fn drain(&mut self) {
        while let Ok((is_err, line)) = self.lines.recv_timeout(Duration::from_secs(5)) {
            self.seen
                .push(format!("{}{line}", if is_err { "! " } else { "" }));
        }
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
    make_torrent_with(dir, name, len, piece, trackers, &[])
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

/// Starts `peercdn tracker` serving both HTTP and UDP on 127.0.0.1; returns it and its HTTP and
/// UDP announce URLs.
pub(crate) fn start_tracker_with_udp() -> (Proc, String, String) {
    let mut p = Proc::spawn(
        "peercdn tracker",
        peercdn().args(["tracker", "--http", "127.0.0.1:0", "--udp", "127.0.0.1:0"]),
    );
    let mut http = None;
    let mut udp = None;
    while http.is_none() || udp.is_none() {
        let line = p.wait_line(Duration::from_secs(20), true, |l| {
            l.starts_with("HTTP tracker: ") || l.starts_with("UDP tracker: ")
        });
        if let Some(url) = line.strip_prefix("HTTP tracker: ") {
            http = Some(url.to_string());
        } else if let Some(url) = line.strip_prefix("UDP tracker: ") {
            udp = Some(url.to_string());
        }
    }
    (p, http.expect("loop ended"), udp.expect("loop ended"))
}

/// The conformance suite's folder (its `package.json` and `node_modules`, its `external/`).
fn conformance_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../conformance")
}

/// Whether `node` runs and can import each of `packages` from conformance/node_modules (installed
/// by `npm ci --ignore-scripts` there; scripts/test does it).
pub(crate) fn have_node_packages(packages: &[&str]) -> bool {
    let imports: String = packages
        .iter()
        .map(|p| format!("await import({p:?});"))
        .collect();
    let ok = Command::new("node")
        .args(["--input-type=module", "-e", &imports])
        .current_dir(conformance_dir())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        assert!(
            !external_required(),
            "node with {packages:?} is required (PEERCDN_REQUIRE_EXTERNAL=1) but cannot import them \
             (run `npm ci --ignore-scripts` in conformance/)"
        );
        eprintln!("skipped: node or {packages:?} (conformance/node_modules) is not installed");
    }
    ok
}

/// A Node script of the conformance suite's `external/` folder.
pub(crate) fn node_script(name: &str) -> Command {
    let mut cmd = Command::new("node");
    cmd.arg(conformance_dir().join("external").join(name));
    cmd
}

/// The WebTorrent peer script (`external/webtorrent_peer.mjs`).
pub(crate) fn webtorrent_peer() -> Command {
    node_script("webtorrent_peer.mjs")
}

/// Starts bittorrent-tracker's server (`external/bittorrent_tracker.mjs`) on 127.0.0.1, with UDP
/// if `udp`; returns it, its HTTP announce URL and, with `udp`, its UDP one.
pub(crate) fn start_bittorrent_tracker(udp: bool) -> (Proc, String, Option<String>) {
    let mut cmd = node_script("bittorrent_tracker.mjs");
    if udp {
        cmd.arg("--udp");
    }
    let mut p = Proc::spawn("bittorrent-tracker", &mut cmd);
    let ready = p.wait_event(Duration::from_secs(30), "listening");
    let http = ready["http"].as_str().expect("an HTTP URL").to_string();
    let udp = ready["udp"].as_str().map(str::to_string);
    (p, http, udp)
}

/// What `peercdn inspect --json` says of `torrent`.
fn inspect_json(torrent: &Path) -> serde_json::Value {
    let out = peercdn()
        .arg("inspect")
        .arg(torrent)
        .arg("--json")
        .output()
        .expect("peercdn inspect runs");
    serde_json::from_slice(&out.stdout).expect("inspect prints JSON")
}

/// The v1 info hash of `torrent` in hex, as `peercdn inspect --json` prints it.
pub(crate) fn info_hash_hex(torrent: &Path) -> String {
    let v = inspect_json(torrent);
    v["info_hash_v1"]
        .as_str()
        .expect("a v1 torrent")
        .to_string()
}

/// Scrapes an HTTP tracker (the `/announce` URL's `/scrape` sibling, BEP 48) until it counts at
/// least `seeds` seeds of `info_hash` (hex): so a leecher is started only once the seed it
/// should find has announced, whichever client or tracker protocol the seed used.
pub(crate) fn wait_for_seeds(announce: &str, info_hash: &str, seeds: u64, timeout: Duration) {
    let deadline = now() + timeout;
    loop {
        let last = match scrape_complete(announce, info_hash) {
            Ok(n) if n >= seeds => return,
            Ok(n) => format!("{n} seed(s)"),
            Err(e) => e,
        };
        assert!(
            now() < deadline,
            "{announce}: fewer than {seeds} seed(s) of {info_hash} within {timeout:?} ({last})"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// One HTTP scrape; the `complete` count of the only file in the reply.
fn scrape_complete(announce: &str, info_hash: &str) -> Result<u64, String> {
    use std::io::{Read, Write};
    let rest = announce
        .strip_prefix("http://")
        .ok_or("not an http:// URL")?;
    let (host, path) = rest.split_once('/').ok_or("no path")?;
    let path = path
        .strip_suffix("announce")
        .ok_or("not an /announce URL")?;
    let escaped: String = (0..info_hash.len())
        .step_by(2)
        .map(|i| format!("%{}", &info_hash[i..i + 2]))
        .collect();
    let mut stream = std::net::TcpStream::connect(host).map_err(|e| e.to_string())?;
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .map_err(|e| e.to_string())?;
    write!(
        stream,
        "GET /{path}scrape?info_hash={escaped} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"
    )
    .map_err(|e| e.to_string())?;
    // Read the head, then exactly Content-Length bytes (the server may keep the connection).
    let mut reply = Vec::new();
    let mut buf = [0u8; 4096];
    let body_at = loop {
        let n = stream.read(&mut buf).map_err(|e| e.to_string())?;
        if n == 0 {
            return Err("connection closed in the head".into());
        }
        reply.extend_from_slice(&buf[..n]);
        if let Some(i) = reply.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
    };
    let head = String::from_utf8_lossy(&reply[..body_at]).to_ascii_lowercase();
    let len: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .and_then(|v| v.trim().parse().ok())
        .ok_or("no Content-Length")?;
    while reply.len() < body_at + len {
        let n = stream.read(&mut buf).map_err(|e| e.to_string())?;
        if n == 0 {
            return Err("connection closed in the body".into());
        }
        reply.extend_from_slice(&buf[..n]);
    }
    let body = &reply[body_at..body_at + len];
    // BEP 48: d5:filesd20:<hash>d8:completei<N>e...eee; with no such torrent, no `complete`.
    let key = b"8:completei";
    let Some(at) = body.windows(key.len()).position(|w| w == key) else {
        return Ok(0);
    };
    let digits: String = body[at + key.len()..]
        .iter()
        .take_while(|b| b.is_ascii_digit())
        .map(|&b| char::from(b))
        .collect();
    digits.parse().map_err(|_| "a malformed scrape".to_string())
}

/// A libtorrent seed of `torrent` whose data is in `dir/seed`, ready; returns it and its port.
pub(crate) fn libtorrent_seed(dir: &Path, torrent: &Path) -> (Proc, u16) {
    libtorrent_seed_with(dir, torrent, &[])
}

/// [`libtorrent_seed`] with more `libtorrent_peer.py` switches (`--encryption forced`, ...).
pub(crate) fn libtorrent_seed_with(dir: &Path, torrent: &Path, extra: &[&str]) -> (Proc, u16) {
    let mut seed = Proc::spawn(
        "libtorrent seed",
        libtorrent_peer()
            .arg("--save")
            .arg(dir.join("seed"))
            .arg("--torrent")
            .arg(torrent)
            .arg("--seed")
            .args(extra),
    );
    let ready = seed.wait_event(Duration::from_secs(60), "ready");
    let port = ready["port"].as_u64().expect("a port") as u16;
    (seed, port)
}

/// `peercdn seed TORRENT DATA --listen LISTEN --json EXTRA...`, started; returns it and its
/// `started` event (`listen`, `pid`).
pub(crate) fn peercdn_seed(
    torrent: &Path,
    data: &Path,
    listen: &str,
    extra: &[&str],
) -> (Proc, serde_json::Value) {
    let mut seed = Proc::spawn(
        "peercdn seed",
        peercdn()
            .arg("seed")
            .arg(torrent)
            .arg(data)
            .args(["--listen", listen, "--json"])
            .args(extra),
    );
    let started = seed.wait_event(Duration::from_secs(60), "started");
    (seed, started)
}

/// `peercdn download SOURCE -o OUT --listen LISTEN --json EXTRA...` (SOURCE: a .torrent or a
/// magnet link).
pub(crate) fn peercdn_download(
    source: impl AsRef<std::ffi::OsStr>,
    out: &Path,
    listen: &str,
    extra: &[&str],
) -> Proc {
    Proc::spawn(
        "peercdn download",
        peercdn()
            .arg("download")
            .arg(source)
            .arg("-o")
            .arg(out)
            .args(["--listen", listen, "--json"])
            .args(extra),
    )
}

/// `peercdn download TORRENT -o OUT --peer PEER` to completion; then `OUT/NAME` must be
/// `content(len, 7)`, what [`make_torrent`] wrote.
pub(crate) fn download_from_peer(torrent: &Path, out: &Path, peer: &str, name: &str, len: usize) {
    completes(&mut peercdn_download(
        torrent,
        out,
        "127.0.0.1:0",
        &["--peer", peer],
    ));
    assert!(
        std::fs::read(out.join(name)).expect("downloaded") == content(len, 7),
        "the download from {peer} is byte-exact"
    );
}

/// Waits for a download's `complete` event and its exit with status 0; returns the event.
pub(crate) fn completes(download: &mut Proc) -> serde_json::Value {
    let complete = download.wait_event(Duration::from_secs(120), "complete");
    assert_eq!(download.wait_exit(Duration::from_secs(30)), Some(0));
    complete
}

// Real BitTorrent clients driven through their own control interfaces (Transmission's RPC,
// qBittorrent's Web API, aria2's command line), each with its own configuration, on loopback.
pub(crate) mod aria2;
pub(crate) mod coturn;
pub(crate) mod http;
pub(crate) mod qbittorrent;
pub(crate) mod transmission;

/// Whether `program` is an executable file on the `PATH`; the Debian package `package`
/// provides it. Missing, it is a failure with `PEERCDN_REQUIRE_EXTERNAL=1`, else the test says
/// so and passes without running. (Looked up rather than run: `qbittorrent-nox --version`
/// creates a profile in the home folder.)
pub(crate) fn have_program(program: &str, package: &str) -> bool {
    use std::os::unix::fs::PermissionsExt;
    let ok = std::env::var_os("PATH").is_some_and(|path| {
        std::env::split_paths(&path).any(|dir| {
            std::fs::metadata(dir.join(program))
                .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        })
    });
    if !ok {
        assert!(
            !external_required(),
            "{program} is required (PEERCDN_REQUIRE_EXTERNAL=1) but is not on the PATH \
             (apt-get install {package})"
        );
        eprintln!("skipped: {program} ({package}) is not installed");
    }
    ok
}

/// A TCP port that was free on 127.0.0.1 a moment ago, for a client that must be told its
/// port before it starts (and cannot report a port 0 it was given). Never the same port twice
/// in one test process, so tests running side by side do not get each other's.
pub(crate) fn free_port() -> u16 {
    use std::collections::HashSet;
    use std::sync::Mutex;
    static GIVEN: Mutex<Option<HashSet<u16>>> = Mutex::new(None);
    let mut given = GIVEN.lock().unwrap_or_else(|e| e.into_inner());
    let given = given.get_or_insert_with(HashSet::new);
    loop {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port on 127.0.0.1")
            .port();
        if given.insert(port) {
            return port;
        }
    }
}

/// Asks `check` every 100 ms until it answers `Ok`, for at most `timeout`; then fails, saying
/// `what` was awaited and the last answer (`Err` says why not yet: a state, a refused
/// connection).
pub(crate) fn poll<T>(
    timeout: Duration,
    what: &str,
    check: impl FnMut() -> Result<T, String>,
) -> T {
    try_poll(timeout, check)
        .unwrap_or_else(|last| panic!("no {what} within {timeout:?}; last: {last}"))
}

/// [`poll`] that returns the last `Err` at the deadline instead of failing.
pub(crate) fn try_poll<T>(
    timeout: Duration,
    mut check: impl FnMut() -> Result<T, String>,
) -> Result<T, String> {
    let deadline = now() + timeout;
    loop {
        match check() {
            Ok(value) => return Ok(value),
            Err(last) if now() >= deadline => return Err(last),
            Err(_) => std::thread::sleep(Duration::from_millis(100)),
        }
    }
}

/// [`make_torrent`] with more `peercdn create` switches (`--v2`, `--hybrid`), the same data
/// (`content(len, 7)` at `dir/seed/name`).
pub(crate) fn make_torrent_with(
    dir: &Path,
    name: &str,
    len: usize,
    piece: &str,
    trackers: &[&str],
    switches: &[&str],
) -> PathBuf {
    let data = dir.join("seed").join(name);
    std::fs::create_dir_all(data.parent().expect("has a parent")).expect("writable");
    std::fs::write(&data, content(len, 7)).expect("writable");
    let torrent = dir.join(format!("{name}.torrent"));
    let mut cmd = peercdn();
    cmd.arg("create").arg(&data).arg("-o").arg(&torrent);
    cmd.arg("--piece-size").arg(piece).args(switches);
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

/// The 20-byte info-hash in hex that peers and trackers know `torrent` by: the v1 one, or the
/// v2 one truncated (BEP 52) for a v2-only torrent.
pub(crate) fn swarm_hash_hex(torrent: &Path) -> String {
    let v = inspect_json(torrent);
    match (v["info_hash_v1"].as_str(), v["info_hash_v2"].as_str()) {
        (Some(v1), _) => v1.to_string(),
        (None, Some(v2)) => v2[..40].to_string(),
        (None, None) => panic!("no info-hash in {v}"),
    }
}
