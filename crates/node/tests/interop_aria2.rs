//! `peercdn` and a real aria2 (`aria2c` 1.36) in one swarm on 127.0.0.1, found through
//! `peercdn tracker` (aria2 has no switch to add a peer, and dials what a tracker gives it):
//! each downloads from the other, byte-exact. aria2 runs with DHT, LPD and PEX off and its
//! other defaults (encryption allowed, not required); see `support::aria2`.
//!
//! aria2 1.36 has no BEP 52: it refuses a v2-only torrent ("Missing pieces in torrent
//! metainfo") and reads a hybrid one as v1, so there is no v2 case here.
//!
//! Without aria2c the tests skip, unless `PEERCDN_REQUIRE_EXTERNAL=1` (scripts/test) makes
//! that a failure.

mod support;

use std::time::Duration;

use support::aria2::{self, have_aria2};
use support::{
    Proc, TempDir, completes, content, info_hash_hex, make_torrent, peercdn_download, peercdn_seed,
    start_tracker, wait_for_seeds,
};

const SIZE: usize = 8 * 1024 * 1024 + 4321;

#[test]
fn peercdn_downloads_from_an_aria2_seed_through_our_tracker() {
    if !have_aria2() {
        return;
    }
    let dir = TempDir::new("from-aria2");
    let (_tracker, url) = start_tracker();
    let torrent = make_torrent(dir.path(), "movie.bin", SIZE, "256K", &[&url]);
    let _seed = Proc::spawn(
        "aria2c seed",
        &mut aria2::seed(&torrent, &dir.path().join("seed")),
    );
    // aria2 announces `left=0` only once its check of the data found every piece.
    wait_for_seeds(&url, &info_hash_hex(&torrent), 1, Duration::from_secs(20));
    let out = dir.path().join("out");
    completes(&mut peercdn_download(&torrent, &out, "127.0.0.1:0", &[]));
    assert!(
        std::fs::read(out.join("movie.bin")).expect("downloaded") == content(SIZE, 7),
        "the download is byte-exact"
    );
}

/// aria2 announces the pieces it got since its last announcement with one `bitfield` message,
/// in the middle of the connection, whenever that is no longer than their `have` messages
/// (`DefaultBtInteractive::checkHave`: 5 + bitfield bytes <= 9 × haves; with the fast
/// extension, `have all` once it has everything): the seed must take it as the peer's new
/// piece set, not close the connection, or aria2 (which then bans the seed) never finishes.
#[test]
fn aria2_downloads_from_a_peercdn_seed_through_our_tracker() {
    if !have_aria2() {
        return;
    }
    let dir = TempDir::new("to-aria2");
    let (_tracker, url) = start_tracker();
    let torrent = make_torrent(dir.path(), "movie.bin", SIZE, "256K", &[&url]);
    let (_seed, _) = peercdn_seed(
        &torrent,
        &dir.path().join("seed/movie.bin"),
        "127.0.0.1:0",
        &[],
    );
    // aria2 asks the tracker once at its start: the seed must be in the swarm by then.
    wait_for_seeds(&url, &info_hash_hex(&torrent), 1, Duration::from_secs(20));
    let out = dir.path().join("aria2");
    let mut leech = Proc::spawn("aria2c leecher", &mut aria2::download(&torrent, &out));
    // --seed-time=0: aria2 exits 0 once the download is complete and checked.
    assert_eq!(
        leech.wait_exit(Duration::from_secs(30)),
        Some(0),
        "aria2c succeeds"
    );
    assert!(
        std::fs::read(out.join("movie.bin")).expect("downloaded") == content(SIZE, 7),
        "aria2's copy is byte-exact"
    );
}
