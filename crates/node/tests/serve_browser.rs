//! The page of `peercdn serve` in headless Chromium (Debian's `chromium`, driven by
//! playwright-core), in a network namespace of the test's own (support/browser.rs).
//!
//! The page downloads over WebRTC from the swarm, the origin's own peer included, and uses the
//! web seed only when no peer sends anything. Each page opens in a browser context of its own
//! (its own WebTorrent peer); page N+1 opens once page N is done, and page N keeps seeding.

#[path = "support/browser.rs"]
mod browser;
mod support;

use std::path::Path;
use std::time::Duration;

use browser::{Netns, have_browser, page_events, sha1_hex};
use support::{TempDir, content};

/// A folder with `media/clip one.bin` (`len` bytes, not a whole number of pieces or blocks)
/// and a small file; returns the clip's bytes.
fn site(www: &Path, len: usize) -> Vec<u8> {
    std::fs::create_dir_all(www.join("media")).expect("writable");
    let data = content(len, 21);
    std::fs::write(www.join("media/clip one.bin"), &data).expect("writable");
    std::fs::write(www.join("small.txt"), b"a small file\n").expect("writable");
    data
}

/// One test's origin: `media/clip one.bin` of some length in a folder of its own, served by
/// `peercdn serve` in a network namespace of its own.
struct Served {
    data: Vec<u8>,
    /// The clip's page.
    page: String,
    // Dropped in this order: the server, the namespace, the folder.
    _serve: support::Proc,
    ns: Netns,
    _dir: TempDir,
}

impl Served {
    /// A clip of `len` bytes served with `serve_args` added to `peercdn serve`'s.
    fn start(name: &str, len: usize, serve_args: &[&str]) -> Self {
        let dir = TempDir::new(name);
        let www = dir.path().join("www");
        let data = site(&www, len);
        let ns = Netns::new();
        let (serve, started) = ns.serve(&www, serve_args);
        let base = started["url"].as_str().expect("a URL");
        Self {
            data,
            page: format!("{base}p/media/clip%20one.bin"),
            _serve: serve,
            ns,
            _dir: dir,
        }
    }

    /// Chromium with `args`, opening the clip's page `pages` times.
    fn chromium(&self, args: &[&str], pages: usize) -> support::Proc {
        self.ns.chromium(args, &vec![self.page.clone(); pages])
    }
}

/// Page `page`'s `done` event (after its `tracker` event: it announced to the WebSocket
/// tracker on the same port and got an answer), checked to hold exactly `data`.
fn done(chromium: &mut support::Proc, page: u64, data: &[u8]) -> serde_json::Value {
    let events = page_events(
        chromium,
        page,
        &["tracker", "done"],
        Duration::from_secs(90),
    );
    checked_done(events[1].clone(), page, data)
}

/// `done`, checked to be page `page`'s download of exactly `data`.
fn checked_done(done: serde_json::Value, page: u64, data: &[u8]) -> serde_json::Value {
    assert_eq!(done["path"], "media/clip one.bin");
    assert_eq!(done["size"], data.len());
    assert_eq!(done["downloaded"], data.len());
    assert_eq!(
        done["sha1"].as_str(),
        Some(sha1_hex(data).as_str()),
        "page {page} got other bytes: {done}"
    );
    done
}

#[test]
fn a_page_alone_gets_every_byte_from_the_origin_over_webrtc() {
    if !have_browser() {
        return;
    }
    let served = Served::start("serve-browser", 3 * 1024 * 1024 + 12_345, &[]);
    let data = &served.data;
    let mut chromium = served.chromium(&["--timeout", "90"], 1);
    let browser = chromium.wait_event(Duration::from_secs(60), "browser");
    eprintln!("chromium {}", browser["version"]);
    let done = done(&mut chromium, 0, data);
    // No other peer: every byte from the origin, each block once, and over WebRTC: the web
    // seed was never needed.
    assert_eq!(done["fromPeers"], 0, "{done}");
    assert_eq!(done["fromOrigin"], data.len(), "{done}");
    assert_eq!(done["webSeed"], false, "{done}");
    chromium.wait_event(Duration::from_secs(10), "finished");
    assert_eq!(chromium.wait_exit(Duration::from_secs(30)), Some(0));
}

/// The peer CDN at work: the second visitor gets most of the file from the first, who keeps
/// the page open, and not from the origin.
#[test]
fn a_second_page_gets_most_bytes_from_the_first_page() {
    if !have_browser() {
        return;
    }
    let served = Served::start("serve-browser-2", 8 * 1024 * 1024 + 4321, &[]);
    let data = &served.data;
    let mut chromium = served.chromium(&["--timeout", "120"], 2);
    let first = done(&mut chromium, 0, data);
    assert_eq!(first["fromOrigin"], data.len(), "{first}");
    let second = done(&mut chromium, 1, data);
    let (peers, origin) = (
        second["fromPeers"].as_u64().expect("a count"),
        second["fromOrigin"].as_u64().expect("a count"),
    );
    assert!(
        peers > origin && peers >= data.len() as u64 / 2,
        "most of the second page's bytes come from the first page: {second}"
    );
    chromium.wait_event(Duration::from_secs(10), "finished");
    assert_eq!(chromium.wait_exit(Duration::from_secs(30)), Some(0));
}

/// Without the origin's WebRTC peer and with no other visitor, no peer ever sends a byte: the
/// page falls back to the web seed and gets the file from it.
#[test]
fn a_page_with_no_peer_to_send_falls_back_to_the_web_seed() {
    if !have_browser() {
        return;
    }
    let served = Served::start(
        "serve-browser-fallback",
        2 * 1024 * 1024 + 99,
        &["--no-webrtc"],
    );
    let data = &served.data;
    let mut chromium = served.chromium(&["--timeout", "90"], 1);
    // The page announces at once and falls back 4 s later: its `tracker` event came before
    // the `fallback` one, and a second one (its completion) may come after `finished`.
    let events = page_events(
        &mut chromium,
        0,
        &["tracker", "fallback"],
        Duration::from_secs(60),
    );
    assert_eq!(
        events[1]["downloaded"], 0,
        "nothing before the fallback: {}",
        events[1]
    );
    let done = page_events(&mut chromium, 0, &["done"], Duration::from_secs(60));
    let done = checked_done(done[0].clone(), 0, data);
    assert_eq!(done["fromOrigin"], data.len(), "{done}");
    assert_eq!(done["webSeed"], true, "{done}");
    chromium.wait_event(Duration::from_secs(10), "finished");
    assert_eq!(chromium.wait_exit(Duration::from_secs(30)), Some(0));
}

/// A visitor who arrives just after another left (the tab closed, its connection to the origin
/// perhaps not yet noticed as gone): the origin does not wait on the copy that left, and the
/// page gets the file from the origin's peer over WebRTC, not from the web seed.
#[test]
fn a_page_after_a_visitor_left_gets_the_file_from_the_origin_over_webrtc() {
    if !have_browser() {
        return;
    }
    let served = Served::start("serve-browser-left", 4 * 1024 * 1024 + 55, &[]);
    let data = &served.data;
    let mut chromium = served.chromium(&["--timeout", "120", "--close-done"], 2);
    done(&mut chromium, 0, data);
    let second = done(&mut chromium, 1, data);
    assert_eq!(second["fromOrigin"], data.len(), "{second}");
    assert_eq!(second["webSeed"], false, "{second}");
    chromium.wait_event(Duration::from_secs(10), "finished");
    assert_eq!(chromium.wait_exit(Duration::from_secs(30)), Some(0));
}
