//! Trackers on both sides of the wire: `peercdn` and a real libtorrent (python3-libtorrent 2.0)
//! find each other through a tracker that is not ours, bittorrent-tracker's server (the npm
//! package WebTorrent uses; `conformance/external/bittorrent_tracker.mjs`), over HTTP and over
//! UDP; and libtorrent announces over UDP (BEP 15) to `peercdn tracker --udp`, so our UDP
//! tracker server and client both meet libtorrent's. Each download is checked byte-exact.
//!
//! The leecher starts only once the tracker has the seed (an announce seen by bittorrent-tracker,
//! a scrape of ours), so the leecher's first announce finds it. Without libtorrent, node or
//! `conformance/node_modules` the tests skip, unless `PEERCDN_REQUIRE_EXTERNAL=1`
//! (scripts/test) makes that a failure.

mod support;

use std::path::Path;
use std::time::Duration;

use support::{
    Proc, TempDir, completes, content, have_libtorrent, have_node_packages, info_hash_hex,
    libtorrent_peer, libtorrent_seed, make_torrent, peercdn_download, peercdn_seed,
    start_bittorrent_tracker, start_tracker_with_udp, wait_for_seeds,
};

const SIZE: usize = 8 * 1024 * 1024 + 4321;

#[test]
fn peercdn_downloads_from_a_libtorrent_seed_through_bittorrent_tracker_http() {
    through_bittorrent_tracker("bt-http-from-lt", false, Direction::FromLibtorrent);
}

#[test]
fn libtorrent_downloads_from_a_peercdn_seed_through_bittorrent_tracker_http() {
    through_bittorrent_tracker("bt-http-to-lt", false, Direction::ToLibtorrent);
}

#[test]
fn peercdn_downloads_from_a_libtorrent_seed_through_bittorrent_tracker_udp() {
    through_bittorrent_tracker("bt-udp-from-lt", true, Direction::FromLibtorrent);
}

#[test]
fn libtorrent_downloads_from_a_peercdn_seed_through_bittorrent_tracker_udp() {
    through_bittorrent_tracker("bt-udp-to-lt", true, Direction::ToLibtorrent);
}

#[test]
fn libtorrent_downloads_from_a_peercdn_seed_through_our_udp_tracker() {
    through_our_udp_tracker("udp-to-lt", Direction::ToLibtorrent);
}

#[test]
fn peercdn_downloads_from_a_libtorrent_seed_through_our_udp_tracker() {
    through_our_udp_tracker("udp-from-lt", Direction::FromLibtorrent);
}

/// Who seeds: libtorrent (peercdn downloads) or peercdn (libtorrent downloads).
#[derive(Clone, Copy)]
enum Direction {
    FromLibtorrent,
    ToLibtorrent,
}

fn through_bittorrent_tracker(name: &str, udp: bool, direction: Direction) {
    if !have_libtorrent() || !have_node_packages(&["bittorrent-tracker"]) {
        return;
    }
    let dir = TempDir::new(name);
    let (mut tracker, http, udp_url) = start_bittorrent_tracker(udp);
    let url = if udp {
        udp_url.expect("asked for UDP")
    } else {
        http
    };
    let torrent = make_torrent(dir.path(), "movie.bin", SIZE, "256K", &[&url]);
    let proto = if udp { "udp" } else { "http" };
    swarm(dir.path(), &torrent, direction, || {
        // bittorrent-tracker prints each announce: wait for the seed's (nothing left).
        tracker.wait_line(Duration::from_secs(30), false, |l| {
            serde_json::from_str::<serde_json::Value>(l)
                .is_ok_and(|v| v["event"] == "announce" && v["proto"] == proto && v["left"] == 0)
        });
    });
}

fn through_our_udp_tracker(name: &str, direction: Direction) {
    if !have_libtorrent() {
        return;
    }
    let dir = TempDir::new(name);
    let (_tracker, http, udp) = start_tracker_with_udp();
    // Only the UDP URL in the torrent: both clients announce over UDP.
    let torrent = make_torrent(dir.path(), "movie.bin", SIZE, "256K", &[&udp]);
    let info_hash = info_hash_hex(&torrent);
    // The HTTP side serves the same swarm table: scrape it for the seed.
    swarm(dir.path(), &torrent, direction, || {
        wait_for_seeds(&http, &info_hash, 1, Duration::from_secs(30));
    });
}

/// Seeds `torrent` (its data is in `dir/seed`) with one client, waits for `seed_announced`,
/// downloads it with the other, and checks the copy.
fn swarm(dir: &Path, torrent: &Path, direction: Direction, seed_announced: impl FnOnce()) {
    match direction {
        Direction::FromLibtorrent => {
            let (_seed, _) = libtorrent_seed(dir, torrent);
            seed_announced();
            let out = dir.join("out");
            completes(&mut peercdn_download(torrent, &out, "127.0.0.1:0", &[]));
            assert!(
                std::fs::read(out.join("movie.bin")).expect("downloaded") == content(SIZE, 7),
                "the download is byte-exact"
            );
        }
        Direction::ToLibtorrent => {
            let (_seed, _) = peercdn_seed(torrent, &dir.join("seed/movie.bin"), "127.0.0.1:0", &[]);
            seed_announced();
            let out = dir.join("lt");
            std::fs::create_dir_all(&out).expect("writable");
            let mut leech = Proc::spawn(
                "libtorrent leecher",
                libtorrent_peer()
                    .arg("--save")
                    .arg(&out)
                    .arg("--torrent")
                    .arg(torrent),
            );
            leech.wait_event(Duration::from_secs(120), "finished");
            assert!(
                std::fs::read(out.join("movie.bin")).expect("downloaded") == content(SIZE, 7),
                "libtorrent's copy is byte-exact"
            );
        }
    }
}
