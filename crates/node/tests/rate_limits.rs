//! `--download-rate` and `--upload-rate` end to end, over TCP on 127.0.0.1: a transfer of
//! several seconds' worth of the limit never runs faster than the limit plus a stated burst,
//! and its data is byte-exact.
//!
//! Only upper bounds on speed are asserted: a slow or busy machine can make a transfer slower,
//! never faster, so these tests cannot fail for want of speed.

mod support;

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use support::{
    Proc, TempDir, completes, content, have_libtorrent, libtorrent_peer, make_torrent, peercdn,
    peercdn_download, peercdn_seed,
};

/// The limit under test: 2 MiB/s.
const RATE: u64 = 2 << 20;
const RATE_ARG: &str = "2M";
/// Five seconds' worth of [`RATE`].
const SIZE: usize = 10 << 20;
/// What may pass beyond `RATE × time`. The limiter lets a burst of a tenth of a second of its
/// rate through at once (205 KiB here, crates/node/src/rate.rs), and charges a read or a write
/// after it happened: one read of at most about 160 KiB per connection (the read buffer), or one
/// batch of writes of at most the writer's 256 KiB high-water mark plus a block. One connection
/// here: 205 + 272 KiB at most, rounded up to 512 KiB (a quarter of a second of `RATE`).
const ALLOWANCE: u64 = 512 << 10;

#[expect(
    clippy::disallowed_methods,
    reason = "tests time out on the wall clock"
)]
fn now() -> Instant {
    Instant::now()
}

/// Fails unless `bytes` in `elapsed` stay within `RATE × elapsed + ALLOWANCE`.
fn assert_within_limit(what: &str, bytes: u64, elapsed: Duration) {
    let limit = RATE as f64 * elapsed.as_secs_f64() + ALLOWANCE as f64;
    assert!(
        bytes as f64 <= limit,
        "{what}: {bytes} bytes in {elapsed:?} ({:.0} B/s), over the {RATE} B/s limit plus a \
         {ALLOWANCE}-byte burst ({limit:.0} bytes)",
        bytes as f64 / elapsed.as_secs_f64()
    );
}

/// The next JSON event of `p`'s stdout whose `event` is one of `events`, and when it arrived.
fn next_event(p: &mut Proc, events: &[&str]) -> (Instant, serde_json::Value) {
    let line = p.wait_line(Duration::from_secs(60), false, |l| {
        serde_json::from_str::<serde_json::Value>(l)
            .is_ok_and(|v| events.iter().any(|e| v["event"] == *e))
    });
    (now(), serde_json::from_str(&line).expect("checked above"))
}

/// Follows a `peercdn download --json` from its `started` event to `complete`: every progress
/// event's `downloaded` within the limit since `started` arrived, and so is the total, by the
/// download's own clock and by ours. Returns the bytes and the seconds the download reported.
fn follow_download(download: &mut Proc, what: &str, count: &str) -> (u64, f64) {
    let (started, _) = next_event(download, &["started"]);
    loop {
        let (at, event) = next_event(download, &["progress", "complete"]);
        let bytes = event[count].as_u64().expect("a byte count");
        assert_within_limit(what, bytes, at - started);
        if event["event"] == "complete" {
            let seconds = event["seconds"].as_f64().expect("seconds");
            assert_within_limit(what, bytes, Duration::from_secs_f64(seconds));
            assert_eq!(download.wait_exit(Duration::from_secs(30)), Some(0));
            eprintln!(
                "{what}: {bytes} bytes in {seconds:.2} s by its own clock ({:.0} B/s), {:.2} s \
                 by ours; limit {RATE} B/s",
                bytes as f64 / seconds,
                (at - started).as_secs_f64()
            );
            return (bytes, seconds);
        }
    }
}

#[test]
fn a_download_limit_holds_against_a_fast_seed() {
    let dir = TempDir::new("rate-download");
    let torrent = make_torrent(dir.path(), "movie.bin", SIZE, "256K", &[]);
    let (_seed, started) = peercdn_seed(
        &torrent,
        &dir.path().join("seed/movie.bin"),
        "127.0.0.1:0",
        &[],
    );
    let seed = started["listen"].as_str().expect("a listen address");
    let out = dir.path().join("out");
    let mut download = peercdn_download(
        &torrent,
        &out,
        "127.0.0.1:0",
        &["--peer", seed, "--download-rate", RATE_ARG],
    );
    let (bytes, _) = follow_download(&mut download, "download", "downloaded");
    assert!(bytes >= SIZE as u64, "every byte came from the seed");
    assert!(
        std::fs::read(out.join("movie.bin")).expect("downloaded") == content(SIZE, 7),
        "the download is byte-exact"
    );
}

#[test]
fn an_upload_limit_holds_against_a_libtorrent_leecher() {
    if !have_libtorrent() {
        return;
    }
    let dir = TempDir::new("rate-upload");
    let torrent = make_torrent(dir.path(), "movie.bin", SIZE, "256K", &[]);
    let (mut seed, started) = peercdn_seed(
        &torrent,
        &dir.path().join("seed/movie.bin"),
        "127.0.0.1:0",
        &["--upload-rate", RATE_ARG],
    );
    let listen = started["listen"].as_str().expect("a listen address");
    let lt = dir.path().join("lt");
    std::fs::create_dir_all(&lt).expect("writable");
    let spawned = now();
    let mut leech = Proc::spawn(
        "libtorrent leecher",
        libtorrent_peer()
            .arg("--save")
            .arg(&lt)
            .arg("--torrent")
            .arg(&torrent)
            .args(["--peer", listen]),
    );
    let finished = leech.wait_event(Duration::from_secs(60), "finished");
    let took = now() - spawned;
    // libtorrent's own clock starts before it connects, ours before it is spawned: both are at
    // least the time the bytes took.
    let seconds = finished["seconds"].as_f64().expect("seconds");
    assert_within_limit("upload", SIZE as u64, Duration::from_secs_f64(seconds));
    assert_within_limit("upload", SIZE as u64, took);
    eprintln!(
        "upload: libtorrent took {seconds:.2} s ({:.0} B/s) for {SIZE} bytes, {:.2} s by our \
         clock; limit {RATE} B/s",
        SIZE as f64 / seconds,
        took.as_secs_f64()
    );
    assert!(
        std::fs::read(lt.join("movie.bin")).expect("downloaded") == content(SIZE, 7),
        "libtorrent's copy is byte-exact"
    );
    // The seed's own count agrees: it sent the whole file, within the limit since the leecher
    // was spawned (nothing else downloads from it). Its progress events queued up meanwhile
    // and are read late, which only loosens this bound.
    loop {
        let (at, progress) = next_event(&mut seed, &["progress"]);
        let uploaded = progress["uploaded"].as_u64().expect("a byte count");
        assert_within_limit("upload (the seed's count)", uploaded, at - spawned);
        if uploaded >= SIZE as u64 {
            break;
        }
    }
}

#[test]
fn an_upload_limit_holds_across_connections() {
    // rate.rs: "Over any stretch of time the bytes moved stay within `rate × time + burst`",
    // whatever the number of connections; allowed here on top: one block per connection.
    const LEECHERS: usize = 4;
    const EACH: usize = 2 << 20;
    const LIMIT: u64 = 1 << 20;
    let burst = (LIMIT / 10).max(64 << 10);
    let allowance = burst + LEECHERS as u64 * (16 << 10);
    let dir = TempDir::new("rate-connections");
    let torrent = make_torrent(dir.path(), "movie.bin", EACH, "256K", &[]);
    let (_seed, started) = peercdn_seed(
        &torrent,
        &dir.path().join("seed/movie.bin"),
        "127.0.0.1:0",
        &["--upload-rate", "1M"],
    );
    let seed = started["listen"].as_str().expect("a listen address");
    let spawned = now();
    // One connection each, to the seed: they cannot trade with each other.
    let mut leechers: Vec<Proc> = (0..LEECHERS)
        .map(|i| {
            peercdn_download(
                &torrent,
                &dir.path().join(format!("out{i}")),
                "127.0.0.1:0",
                &["--peer", seed, "--max-connections", "1"],
            )
        })
        .collect();
    for leecher in &mut leechers {
        completes(leecher);
    }
    let took = now() - spawned;
    let total = (LEECHERS * EACH) as u64;
    eprintln!(
        "{LEECHERS} connections: {total} bytes in {:.2} s ({:.0} B/s); limit {LIMIT} B/s",
        took.as_secs_f64(),
        total as f64 / took.as_secs_f64()
    );
    for i in 0..LEECHERS {
        let path = dir.path().join(format!("out{i}/movie.bin"));
        assert!(std::fs::read(path).expect("downloaded") == content(EACH, 7));
    }
    let limit = LIMIT as f64 * took.as_secs_f64() + allowance as f64;
    assert!(
        total as f64 <= limit,
        "{total} bytes in {took:?}: over {LIMIT} B/s plus {allowance} bytes ({limit:.0})"
    );
}

#[test]
fn a_download_limit_holds_for_a_web_seed() {
    let dir = TempDir::new("rate-webseed");
    let www = dir.path().join("www");
    std::fs::create_dir_all(&www).expect("writable");
    std::fs::write(www.join("movie.bin"), content(SIZE, 7)).expect("writable");
    let (_server, base) = http_server(&www);
    let torrent = dir.path().join("movie.torrent");
    let out = peercdn()
        .arg("create")
        .arg(www.join("movie.bin"))
        .arg("-o")
        .arg(&torrent)
        .args(["--piece-size", "256K", "--web-seed", &base])
        .output()
        .expect("peercdn create runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = dir.path().join("out");
    let mut download = peercdn_download(
        &torrent,
        &out,
        "127.0.0.1:0",
        &["--download-rate", RATE_ARG],
    );
    // The JSON's `downloaded` counts bytes from peers only: time the whole file instead.
    let (started, _) = next_event(&mut download, &["started"]);
    let complete = completes(&mut download);
    let seconds = complete["seconds"].as_f64().expect("seconds");
    eprintln!("web seed: {SIZE} bytes in {seconds:.2} s; limit {RATE} B/s");
    assert_within_limit("web seed", SIZE as u64, Duration::from_secs_f64(seconds));
    assert_within_limit("web seed", SIZE as u64, now() - started);
    assert!(std::fs::read(out.join("movie.bin")).expect("downloaded") == content(SIZE, 7));
}

/// `python3 -m http.server` on a port of its choosing on 127.0.0.1, serving `root`; returns it
/// and its base URL.
fn http_server(root: &Path) -> (Proc, String) {
    let mut server = Proc::spawn(
        "http.server",
        Command::new("python3")
            .args(["-u", "-m", "http.server", "--bind", "127.0.0.1", "0"])
            .arg("--directory")
            .arg(root),
    );
    // "Serving HTTP on 127.0.0.1 port 38057 (http://127.0.0.1:38057/) ..."
    let line = server.wait_line(Duration::from_secs(20), true, |l| {
        l.contains("Serving HTTP")
    });
    let url = line
        .split(['(', ')'])
        .nth(1)
        .filter(|u| u.starts_with("http://"))
        .unwrap_or_else(|| panic!("no URL in {line:?}"))
        .to_string();
    (server, url)
}
