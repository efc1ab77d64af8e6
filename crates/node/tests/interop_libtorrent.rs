//! `peercdn` and a real libtorrent (python3-libtorrent 2.0) in one swarm on 127.0.0.1, found
//! through `peercdn tracker`: each downloads from the other, byte-exact.

mod support;

use std::time::Duration;

use support::{
    Proc, TempDir, completes, content, have_libtorrent, libtorrent_peer, libtorrent_seed,
    make_torrent, peercdn_download, peercdn_seed, start_tracker,
};

const SIZE: usize = 8 * 1024 * 1024 + 4321;

#[test]
fn peercdn_downloads_from_a_libtorrent_seed_through_our_tracker() {
    if !have_libtorrent() {
        return;
    }
    let dir = TempDir::new("from-libtorrent");
    let (_tracker, url) = start_tracker();
    let torrent = make_torrent(dir.path(), "movie.bin", SIZE, "256K", &[&url]);
    let (_seed, _) = libtorrent_seed(dir.path(), &torrent);
    let out = dir.path().join("out");
    completes(&mut peercdn_download(&torrent, &out, "127.0.0.1:0", &[]));
    assert!(
        std::fs::read(out.join("movie.bin")).expect("downloaded") == content(SIZE, 7),
        "the download is byte-exact"
    );
}

#[test]
fn libtorrent_downloads_from_a_peercdn_seed_through_our_tracker() {
    if !have_libtorrent() {
        return;
    }
    let dir = TempDir::new("to-libtorrent");
    let (_tracker, url) = start_tracker();
    let torrent = make_torrent(dir.path(), "movie.bin", SIZE, "256K", &[&url]);
    let (_seed, _) = peercdn_seed(
        &torrent,
        &dir.path().join("seed/movie.bin"),
        "127.0.0.1:0",
        &[],
    );
    let out = dir.path().join("lt");
    std::fs::create_dir_all(&out).expect("writable");
    let mut leech = Proc::spawn(
        "libtorrent leecher",
        libtorrent_peer()
            .arg("--save")
            .arg(&out)
            .arg("--torrent")
            .arg(&torrent),
    );
    leech.wait_event(Duration::from_secs(120), "finished");
    assert!(
        std::fs::read(out.join("movie.bin")).expect("downloaded") == content(SIZE, 7),
        "libtorrent's copy is byte-exact"
    );
}

#[test]
fn peercdn_downloads_a_magnet_link_from_a_libtorrent_seed() {
    if !have_libtorrent() {
        return;
    }
    let dir = TempDir::new("magnet-from-libtorrent");
    let (_tracker, url) = start_tracker();
    let torrent = make_torrent(dir.path(), "movie.bin", SIZE, "256K", &[&url]);
    let (_seed, _) = libtorrent_seed(dir.path(), &torrent);
    support::wait_for_seeds(
        &url,
        &support::info_hash_hex(&torrent),
        1,
        Duration::from_secs(60),
    );
    // Nothing but the info-hash and the tracker: the metadata comes from libtorrent (BEP 9).
    let magnet = format!(
        "magnet:?xt=urn:btih:{}&tr={}",
        support::info_hash_hex(&torrent),
        url.replace(':', "%3A").replace('/', "%2F")
    );
    let out = dir.path().join("out");
    completes(&mut peercdn_download(&magnet, &out, "127.0.0.1:0", &[]));
    assert!(
        std::fs::read(out.join("movie.bin")).expect("downloaded") == content(SIZE, 7),
        "the download from a magnet link is byte-exact"
    );
}
