//! `peercdn` and a real Transmission (`transmission-daemon` 3.00, driven by its RPC) on
//! 127.0.0.1: each downloads from the other, byte-exact.
//!
//! Transmission 3.00 never dials a peer on 127.0.0.0/8 (a "martian" address to it), whether a
//! tracker or PEX names it, and its RPC cannot add a peer: so the torrents have no tracker and
//! our side dials Transmission with `--peer`, as a downloader and as a seed (a Transmission
//! that dials our listener cannot happen on loopback). Transmission keeps its default
//! encryption setting, `preferred`, in both directions (it accepts an MSE or a plaintext
//! handshake), and one more test has it require encryption, so our dialer must open with MSE.
//! See `support::transmission` for its settings.
//!
//! Transmission 3 has no BEP 52 (it came in Transmission 4): it cannot parse a v2-only
//! torrent, so there is no v2 case here.
//!
//! Without transmission-daemon the tests skip, unless `PEERCDN_REQUIRE_EXTERNAL=1`
//! (scripts/test) makes that a failure.

mod support;

use std::time::Duration;

use serde_json::json;

use support::transmission::{Transmission, have_transmission, status};
use support::{TempDir, content, download_from_peer, make_torrent, peercdn_seed};

const SIZE: usize = 8 * 1024 * 1024 + 4321;

#[test]
fn peercdn_downloads_from_a_transmission_seed() {
    if !have_transmission() {
        return;
    }
    let dir = TempDir::new("from-transmission");
    let torrent = make_torrent(dir.path(), "movie.bin", SIZE, "256K", &[]);
    let mut tr = Transmission::start(&dir.path().join("transmission"));
    let id = tr.add(&torrent, &dir.path().join("seed"));
    // Transmission checks the data of a torrent it has just been given, then seeds it.
    tr.wait_torrent(id, Duration::from_secs(20), "seeding", |t| {
        t["status"] == status::SEEDING && t["percentDone"].as_f64() == Some(1.0)
    });
    let peer = format!("127.0.0.1:{}", tr.peer_port);
    download_from_peer(&torrent, &dir.path().join("out"), &peer, "movie.bin", SIZE);
    let t = tr.torrent(id).expect("Transmission answers");
    assert!(
        t["uploadedEver"].as_u64().is_some_and(|n| n >= SIZE as u64),
        "Transmission counts what it uploaded: {t}"
    );
}

/// Transmission requiring encryption (`encryption: 2`) accepts MSE handshakes only: our
/// downloader must dial it with one.
#[test]
fn peercdn_downloads_from_a_transmission_seed_that_requires_encryption() {
    if !have_transmission() {
        return;
    }
    let dir = TempDir::new("from-transmission-mse");
    let torrent = make_torrent(dir.path(), "movie.bin", SIZE, "256K", &[]);
    let mut tr =
        Transmission::start_with(&dir.path().join("transmission"), json!({"encryption": 2}));
    let id = tr.add(&torrent, &dir.path().join("seed"));
    tr.wait_torrent(id, Duration::from_secs(20), "seeding", |t| {
        t["status"] == status::SEEDING && t["percentDone"].as_f64() == Some(1.0)
    });
    let peer = format!("127.0.0.1:{}", tr.peer_port);
    download_from_peer(&torrent, &dir.path().join("out"), &peer, "movie.bin", SIZE);
}

#[test]
fn transmission_downloads_from_a_peercdn_seed() {
    if !have_transmission() {
        return;
    }
    let dir = TempDir::new("to-transmission");
    let torrent = make_torrent(dir.path(), "movie.bin", SIZE, "256K", &[]);
    let mut tr = Transmission::start(&dir.path().join("transmission"));
    let out = dir.path().join("tr");
    let id = tr.add(&torrent, &out);
    // It must know the torrent before our seed dials it, or it refuses the handshake.
    tr.wait_torrent(id, Duration::from_secs(20), "downloading", |t| {
        t["status"] == status::DOWNLOADING
    });
    let peer = format!("127.0.0.1:{}", tr.peer_port);
    let (_seed, _) = peercdn_seed(
        &torrent,
        &dir.path().join("seed/movie.bin"),
        "127.0.0.1:0",
        &["--peer", &peer],
    );
    // Whether each connection was encrypted, as Transmission saw it (printed with the output).
    let mut encrypted = Vec::new();
    let t = tr.wait_torrent(id, Duration::from_secs(25), "complete", |t| {
        for p in t["peers"].as_array().into_iter().flatten() {
            encrypted.push(p["isEncrypted"].clone());
        }
        t["percentDone"].as_f64() == Some(1.0) && t["status"] == status::SEEDING
    });
    encrypted.dedup();
    eprintln!("Transmission's connections to our seed, encrypted: {encrypted:?}");
    assert_eq!(t["haveValid"].as_u64(), Some(SIZE as u64), "{t}");
    assert!(
        std::fs::read(out.join("movie.bin")).expect("downloaded") == content(SIZE, 7),
        "Transmission's copy is byte-exact"
    );
}
