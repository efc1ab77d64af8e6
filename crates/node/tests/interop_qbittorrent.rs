//! `peercdn` and a real qBittorrent (`qbittorrent-nox` 4.5.2 on libtorrent 2.0, driven by its
//! Web API) in one swarm on 127.0.0.1, found through `peercdn tracker`: each downloads from the
//! other, byte-exact, with v1 torrents and with BEP 52 (v2-only and hybrid) ones.
//!
//! qBittorrent runs with its default encryption setting ("allow": it dials a peer from a
//! tracker with a plaintext handshake first) and with "require" (MSE with RC4 only, both ways),
//! so our listener answers MSE from it. See `support::qbittorrent` for its settings (DHT, LSD,
//! PeX, UPnP, uTP off; peers and Web UI on 127.0.0.1).
//!
//! Without qbittorrent-nox the tests skip, unless `PEERCDN_REQUIRE_EXTERNAL=1` (scripts/test)
//! makes that a failure.

mod support;

use std::path::Path;
use std::time::Duration;

use support::qbittorrent::{Qbittorrent, have_qbittorrent, is_seeding};
use support::{
    TempDir, completes, content, make_torrent_with, peercdn_download, peercdn_seed, start_tracker,
    swarm_hash_hex, wait_for_seeds,
};

const SIZE: usize = 8 * 1024 * 1024 + 4321;

#[test]
fn peercdn_downloads_from_a_qbittorrent_seed_through_our_tracker() {
    peercdn_downloads_from_qbittorrent("from-qbittorrent", &[], &[]);
}

#[test]
fn qbittorrent_downloads_from_a_peercdn_seed_through_our_tracker() {
    qbittorrent_downloads_from_peercdn("to-qbittorrent", &[], &[]);
}

/// qBittorrent requiring encryption dials our seed with MSE and RC4 (its peer flag `E`: RC4
/// throughout), the only connection it accepts: our listener answers it.
#[test]
fn qbittorrent_requiring_encryption_downloads_from_a_peercdn_seed() {
    let flags =
        qbittorrent_downloads_from_peercdn("to-qbittorrent-rc4", &[], &[REQUIRE_ENCRYPTION]);
    assert!(
        flags.iter().all(|f| f.contains('E')),
        "every connection qBittorrent had to our seed is RC4-encrypted; its flags: {flags:?}"
    );
}

/// qBittorrent requiring encryption accepts MSE handshakes with RC4 only, so our downloader
/// must dial it with one (qBittorrent announced before we did, so it would learn our address
/// only at its next announce, many minutes later).
#[test]
fn peercdn_downloads_from_a_qbittorrent_seed_that_requires_encryption() {
    peercdn_downloads_from_qbittorrent("from-qbittorrent-rc4", &[], &[REQUIRE_ENCRYPTION]);
}

/// A v2-only torrent (BEP 52; the swarm is known by the truncated SHA-256 info-hash), seeded by
/// qBittorrent. (Transmission 3 and aria2 1.36 cannot read one; they read a hybrid as v1.)
#[test]
fn peercdn_downloads_a_v2_torrent_from_a_qbittorrent_seed() {
    peercdn_downloads_from_qbittorrent("v2-from-qbittorrent", &["--v2"], &[]);
}

/// A v2-only torrent, seeded by us.
#[test]
fn qbittorrent_downloads_a_v2_torrent_from_a_peercdn_seed() {
    qbittorrent_downloads_from_peercdn("v2-to-qbittorrent", &["--v2"], &[]);
}

/// A hybrid torrent (v1 and v2 metadata; qBittorrent's swarm id is the truncated v2 hash),
/// seeded by us.
#[test]
fn qbittorrent_downloads_a_hybrid_torrent_from_a_peercdn_seed() {
    qbittorrent_downloads_from_peercdn("hybrid-to-qbittorrent", &["--hybrid"], &[]);
}

/// qBittorrent's "require encryption" (`pe_forced` both ways, RC4).
const REQUIRE_ENCRYPTION: &str = "Session\\Encryption=1";

/// qBittorrent (with `settings` in its `[BitTorrent]` section) seeds a torrent made with
/// `create` (its data checked first); `peercdn download` finds it through our tracker and
/// copies it.
fn peercdn_downloads_from_qbittorrent(name: &str, create: &[&str], settings: &[&str]) {
    if !have_qbittorrent() {
        return;
    }
    let dir = TempDir::new(name);
    let (_tracker, url) = start_tracker();
    let torrent = make_torrent_with(dir.path(), "movie.bin", SIZE, "256K", &[&url], create);
    let qbt = Qbittorrent::start_with(&dir.path().join("qbittorrent"), settings);
    qbt.add(&torrent, &dir.path().join("seed"));
    qbt.wait_torrent(Duration::from_secs(20), "seeding", is_seeding);
    wait_for_seeds(&url, &swarm_hash_hex(&torrent), 1, Duration::from_secs(20));
    let out = dir.path().join("out");
    completes(&mut peercdn_download(&torrent, &out, "127.0.0.1:0", &[]));
    assert_same(&out.join("movie.bin"));
}

/// A peercdn seed of a torrent made with `create`; qBittorrent (with `settings`), given the
/// torrent, finds the seed through our tracker and copies it. Returns qBittorrent's flags for
/// each connection it had while downloading.
fn qbittorrent_downloads_from_peercdn(
    name: &str,
    create: &[&str],
    settings: &[&str],
) -> Vec<String> {
    if !have_qbittorrent() {
        return Vec::new();
    }
    let dir = TempDir::new(name);
    let (_tracker, url) = start_tracker();
    let torrent = make_torrent_with(dir.path(), "movie.bin", SIZE, "256K", &[&url], create);
    // At 4 MiB/s the download lasts about 2 s, long enough to see the connection in
    // qBittorrent's peer list (it drops a seed's connection once it is a seed itself).
    let (_seed, _) = peercdn_seed(
        &torrent,
        &dir.path().join("seed/movie.bin"),
        "127.0.0.1:0",
        &["--upload-rate", "4M"],
    );
    wait_for_seeds(&url, &swarm_hash_hex(&torrent), 1, Duration::from_secs(20));
    let qbt = Qbittorrent::start_with(&dir.path().join("qbittorrent"), settings);
    let out = dir.path().join("qbt");
    qbt.add(&torrent, &out);
    let mut flags = Vec::new();
    let t = qbt.wait_torrent(Duration::from_secs(25), "complete", |t| {
        // qBittorrent's id for a torrent: the v1 info-hash, or for v2 and hybrid torrents the
        // truncated v2 one.
        if let Some(hash) = t["hash"].as_str() {
            for peer in qbt.peers(hash).unwrap_or_default().values() {
                // (Empty while the connection is still being made.)
                if let Some(f) = peer["flags"].as_str().filter(|f| !f.is_empty()) {
                    flags.push(f.to_string());
                }
            }
        }
        is_seeding(t)
    });
    assert_same(&out.join("movie.bin"));
    assert!(
        !flags.is_empty(),
        "qBittorrent listed a peer while downloading: {t}"
    );
    flags.dedup();
    eprintln!("qBittorrent's flags for its connections to our seed: {flags:?}");
    flags
}
/// The file at `path` is the torrent's content, byte for byte.
fn assert_same(path: &Path) {
    let got = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert!(got == content(SIZE, 7), "{} is byte-exact", path.display());
}
