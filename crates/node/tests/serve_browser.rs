//! The page of `peercdn serve` in headless Chromium (Debian's `chromium`, driven by
//! playwright-core), in a network namespace of the test's own (support/browser.rs).
//!
//! Until the origin speaks WebRTC, a browser alone in the swarm gets every byte from the web
//! seed, and the page must say so: every byte from the origin, none from peers. The harness
//! already opens several pages, one browser context (one WebTorrent peer) each, page N+1 once
//! page N is done: the WebRTC tests will open a second page and count its bytes from the first.

#[path = "support/browser.rs"]
mod browser;
mod support;

use std::time::Duration;

use browser::{Netns, have_browser, page_events, sha1_hex};
use support::{TempDir, content};

#[test]
fn a_page_downloads_a_file_from_the_web_seed_and_says_every_byte_came_from_the_origin() {
    if !have_browser() {
        return;
    }
    let dir = TempDir::new("serve-browser");
    let www = dir.path().join("www");
    std::fs::create_dir_all(www.join("media")).expect("writable");
    // Not a whole number of pieces or blocks: the last piece is short.
    let data = content(3 * 1024 * 1024 + 12_345, 21);
    std::fs::write(www.join("media/clip one.bin"), &data).expect("writable");
    std::fs::write(www.join("small.txt"), b"a small file\n").expect("writable");

    let ns = Netns::new();
    let (_serve, started) = ns.serve(&www, &[]);
    let base = started["url"].as_str().expect("a URL");
    let page = format!("{base}p/media/clip%20one.bin");
    let mut chromium = ns.chromium(&["--timeout", "90"], &[page]);

    let browser = chromium.wait_event(Duration::from_secs(60), "browser");
    eprintln!("chromium {}", browser["version"]);
    // The page announced itself to the WebSocket tracker on the same port (and got an answer),
    // and downloaded the file.
    let events = page_events(
        &mut chromium,
        0,
        &["tracker", "done"],
        Duration::from_secs(90),
    );
    let done = &events[1];
    assert_eq!(done["path"], "media/clip one.bin");
    assert_eq!(done["size"], data.len());
    assert_eq!(done["downloaded"], data.len());
    assert_eq!(
        done["sha1"].as_str(),
        Some(sha1_hex(&data).as_str()),
        "the page got other bytes: {done}"
    );
    // No other peer: every byte from the origin's web seed, each block once.
    assert_eq!(done["fromPeers"], 0, "{done}");
    assert_eq!(done["fromOrigin"], data.len(), "{done}");
    chromium.wait_event(Duration::from_secs(10), "finished");
    assert_eq!(chromium.wait_exit(Duration::from_secs(30)), Some(0));
}
