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
    Proc, TempDir, completes, content, have_node_packages, info_hash_hex, make_torrent, peercdn,
    peercdn_download, start_tracker, wait_for_seeds, webtorrent_peer,
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
    completes(&mut peercdn_download(&torrent, &out, "127.0.0.1:0", &[]));
    assert!(
        std::fs::read(out.join("movie.bin")).expect("downloaded") == content(SIZE, 7),
        "the download is byte-exact"
    );
}

/// WebTorrent's defaults (`secure: 1`): every connection it dials opens with an MSE handshake
/// offering plaintext and RC4; peercdn answers it and selects plaintext.
#[test]
fn webtorrent_downloads_from_a_peercdn_seed_through_our_tracker() {
    let log = webtorrent_downloads_from_a_peercdn_seed("to-webtorrent", None);
    assert_mse(&log, "crypto handshake done (method 1)");
}

/// `--secure 0`: no MSE, a plain BitTorrent handshake.
#[test]
fn webtorrent_without_encryption_downloads_from_a_peercdn_seed() {
    let log = webtorrent_downloads_from_a_peercdn_seed("to-webtorrent-plain", Some("0"));
    assert!(!log.iter().any(|l| l.contains("PE: ")), "no MSE at level 0");
}

/// `--secure 2`: MSE offering RC4 only, so the whole stream is RC4 both ways.
#[test]
fn webtorrent_requiring_rc4_downloads_from_a_peercdn_seed() {
    let log = webtorrent_downloads_from_a_peercdn_seed("to-webtorrent-rc4", Some("2"));
    assert_mse(&log, "crypto handshake done (method 2)");
}

/// In WebTorrent's debug log (`DEBUG=bittorrent-protocol`): its MSE handshake with us ended
/// with `done` (method 1 plaintext, 2 RC4).
fn assert_mse(log: &[String], done: &str) {
    if log.is_empty() {
        return; // skipped: no WebTorrent
    }
    assert!(
        log.iter().any(|l| l.contains("PE: sent step 1 (initiator")),
        "WebTorrent dialed with MSE"
    );
    assert!(log.iter().any(|l| l.contains(done)), "{done}");
}

/// A peercdn seed, announced to `peercdn tracker`, then a WebTorrent leecher that finds it
/// there, at encryption level `secure` (WebTorrent's default when `None`). Returns
/// WebTorrent's output up to its `finished` event, with bittorrent-protocol's debug log.
fn webtorrent_downloads_from_a_peercdn_seed(name: &str, secure: Option<&str>) -> Vec<String> {
    if !have_node_packages(&["webtorrent"]) {
        return Vec::new();
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
            .env("DEBUG", "bittorrent-protocol")
            .args(
                secure
                    .map(|level| ["--secure", level])
                    .into_iter()
                    .flatten(),
            ),
    );
    leech.wait_event(Duration::from_secs(120), "finished");
    assert!(
        std::fs::read(out.join("movie.bin")).expect("downloaded") == content(SIZE, 7),
        "WebTorrent's copy is byte-exact"
    );
    leech.seen.clone()
}
