//! `peercdn` and a real WebTorrent (3.x in Node, over TCP: no WebRTC) in one swarm on 127.0.0.1,
//! found through `peercdn tracker`: each downloads from the other, byte-exact.
//!
//! WebTorrent runs from `conformance/external/webtorrent_peer.mjs` with DHT, LSD, UPnP,
//! NAT-PMP, web seeds, uTP and PEX off and no tracker but the torrent's, so it dials nothing off
//! the machine. Without node or `conformance/node_modules` the tests skip, unless
//! `PEERCDN_REQUIRE_EXTERNAL=1` (scripts/test) makes that a failure.

mod support;

use std::time::Duration;

use support::{
    Proc, TempDir, content, have_node_packages, info_hash_hex, make_torrent, peercdn,
    start_tracker, wait_for_seeds, webtorrent_peer,
};

const SIZE: usize = 8 * 1024 * 1024 + 4321;

#[test]
fn peercdn_downloads_from_a_webtorrent_seed_through_our_tracker() {
    if !have_node_packages(&["webtorrent"]) {
        return;
    }
    let dir = TempDir::new("from-webtorrent");
    let (_tracker, url) = start_tracker();
    let torrent = make_torrent(dir.path(), "movie.bin", SIZE, "256K", &[&url]);
    // WebTorrent's own settings otherwise, encryption included: it accepts our plaintext dial.
    let mut seed = Proc::spawn(
        "webtorrent seed",
        webtorrent_peer()
            .arg("--save")
            .arg(dir.path().join("seed"))
            .arg("--torrent")
            .arg(&torrent)
            .arg("--seed"),
    );
    seed.wait_event(Duration::from_secs(60), "ready");
    wait_for_seeds(&url, &info_hash_hex(&torrent), 1, Duration::from_secs(20));
    let out = dir.path().join("out");
    let mut leech = Proc::spawn(
        "peercdn download",
        peercdn()
            .arg("download")
            .arg(&torrent)
            .arg("-o")
            .arg(&out)
            .args(["--listen", "127.0.0.1:0", "--json"]),
    );
    leech.wait_event(Duration::from_secs(120), "complete");
    assert_eq!(leech.wait_exit(Duration::from_secs(30)), Some(0));
    assert!(
        std::fs::read(out.join("movie.bin")).expect("downloaded") == content(SIZE, 7),
        "the download is byte-exact"
    );
}

#[test]
fn webtorrent_downloads_from_a_peercdn_seed_through_our_tracker() {
    // `--secure 0`: WebTorrent's default (1) opens every connection it dials with an MSE
    // handshake and never retries in plaintext; peercdn speaks no MSE. The test below
    // (ignored) is that case.
    webtorrent_downloads_from_a_peercdn_seed("to-webtorrent", "0");
}

#[test]
#[ignore = "peercdn has no MSE/PE: WebTorrent's default (secure: 1) dials with an MSE handshake, \
            which peercdn drops, and WebTorrent never retries in plaintext"]
fn webtorrent_with_default_encryption_downloads_from_a_peercdn_seed() {
    webtorrent_downloads_from_a_peercdn_seed("to-webtorrent-mse", "1");
}

/// A peercdn seed, announced to `peercdn tracker`, then a WebTorrent leecher at encryption
/// level `secure` that finds it there.
fn webtorrent_downloads_from_a_peercdn_seed(name: &str, secure: &str) {
    if !have_node_packages(&["webtorrent"]) {
        return;
    }
    let dir = TempDir::new(name);
    let (_tracker, url) = start_tracker();
    let torrent = make_torrent(dir.path(), "movie.bin", SIZE, "256K", &[&url]);
    let mut seed = Proc::spawn(
        "peercdn seed",
        peercdn()
            .arg("seed")
            .arg(&torrent)
            .arg(dir.path().join("seed/movie.bin"))
            .args(["--listen", "127.0.0.1:0", "--json"]),
    );
    seed.wait_event(Duration::from_secs(60), "started");
    wait_for_seeds(&url, &info_hash_hex(&torrent), 1, Duration::from_secs(20));
    let out = dir.path().join("wt");
    std::fs::create_dir_all(&out).expect("writable");
    let mut leech = Proc::spawn(
        "webtorrent leecher",
        webtorrent_peer()
            .arg("--save")
            .arg(&out)
            .arg("--torrent")
            .arg(&torrent)
            .args(["--secure", secure]),
    );
    leech.wait_event(Duration::from_secs(120), "finished");
    assert!(
        std::fs::read(out.join("movie.bin")).expect("downloaded") == content(SIZE, 7),
        "WebTorrent's copy is byte-exact"
    );
}
