//! Magnet links against real seeds on 127.0.0.1: `peercdn::magnet::fetch_metadata` gets the
//! info dictionary over ut_metadata (BEP 9) from a libtorrent seed (python3-libtorrent 2.0)
//! found through `peercdn tracker` or named by `x.pe`, and from our own seed (a `Node`), and
//! the resulting torrent is the original one: same info-hash, files and info bytes.

mod support;

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use peercdn::client::{AddOptions, Node, NodeConfig, random_peer_id};
use peercdn::magnet::fetch_metadata;
use peercdn::storage::Mode;
use support::{
    TempDir, have_libtorrent, libtorrent_seed, libtorrent_seed_with, make_torrent, start_tracker,
};
use torrent_format::{Magnet, Metainfo};

/// Over 1000 pieces of 16 KiB: an info dictionary of two ut_metadata pieces.
const SIZE: usize = 16 * 1024 * 1024 + 777;

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a runtime")
}

fn read(torrent: &Path) -> Metainfo {
    Metainfo::from_bytes(&std::fs::read(torrent).expect("torrent written")).expect("valid")
}

/// The magnet link of `meta` with these trackers and peers, as a user would paste it.
fn magnet_link(meta: &Metainfo, trackers: &[&str], peers: &[SocketAddr]) -> Magnet {
    let mut magnet = Magnet::new(meta.info_hashes());
    magnet.name = Some(meta.name().to_string());
    magnet.trackers = trackers.iter().map(|t| t.to_string()).collect();
    let link = magnet.to_string();
    let link = peers
        .iter()
        .fold(link, |link, p| format!("{link}&x.pe={p}"));
    Magnet::parse(&link).expect("a valid link")
}

/// What the fetched torrent must share with the original.
fn assert_same_torrent(fetched: &Metainfo, original: &Metainfo, trackers: &[&str]) {
    assert_eq!(fetched.info_hashes(), original.info_hashes());
    assert_eq!(fetched.info_bytes(), original.info_bytes());
    assert_eq!(fetched.name(), original.name());
    assert_eq!(fetched.total_size(), original.total_size());
    let files = |m: &Metainfo| -> Vec<(String, u64)> {
        m.files().map(|f| (f.path.to_string(), f.size)).collect()
    };
    assert_eq!(files(fetched), files(original));
    let tiers: Vec<Vec<String>> = trackers.iter().map(|t| vec![t.to_string()]).collect();
    assert_eq!(fetched.trackers(), &tiers[..]);
}

#[test]
fn metadata_from_a_libtorrent_seed_found_through_our_tracker() {
    if !have_libtorrent() {
        return;
    }
    let dir = TempDir::new("magnet-lt-tracker");
    let (_tracker, url) = start_tracker();
    let torrent = make_torrent(dir.path(), "movie.bin", SIZE, "16K", &[&url]);
    let original = read(&torrent);
    assert!(
        original.info_bytes().len() > 16 * 1024,
        "several metadata pieces"
    );
    let (_seed, _port) = libtorrent_seed(dir.path(), &torrent);
    let magnet = magnet_link(&original, &[&url], &[]);
    let fetched = runtime()
        .block_on(fetch_metadata(
            &magnet,
            random_peer_id(),
            6881,
            &[],
            Duration::from_secs(60),
        ))
        .expect("the metadata");
    assert_same_torrent(&fetched, &original, &[&url]);
}

#[test]
fn metadata_from_a_libtorrent_seed_named_by_x_pe() {
    if !have_libtorrent() {
        return;
    }
    let dir = TempDir::new("magnet-lt-xpe");
    let torrent = make_torrent(dir.path(), "movie.bin", SIZE, "16K", &[]);
    let original = read(&torrent);
    let (_seed, port) = libtorrent_seed(dir.path(), &torrent);
    let peer = SocketAddr::from(([127, 0, 0, 1], port));
    let magnet = magnet_link(&original, &[], &[peer]);
    assert!(magnet.trackers.is_empty());
    let fetched = runtime()
        .block_on(fetch_metadata(
            &magnet,
            random_peer_id(),
            6881,
            &[],
            Duration::from_secs(60),
        ))
        .expect("the metadata");
    assert_same_torrent(&fetched, &original, &[]);
}

#[test]
fn metadata_from_our_own_seed() {
    let dir = TempDir::new("magnet-own-seed");
    let torrent = make_torrent(dir.path(), "movie.bin", SIZE, "16K", &[]);
    let original = read(&torrent);
    let rt = runtime();
    let fetched = rt.block_on(async {
        let node = Node::start(NodeConfig::new("127.0.0.1:0".parse().expect("an address")))
            .await
            .expect("listening");
        let running = node
            .add(
                original.clone(),
                &dir.path().join("seed"),
                Mode::Seed,
                AddOptions::default(),
            )
            .await
            .expect("seeding");
        assert_eq!(
            running.status().borrow().have,
            original.num_pieces(),
            "the seed has every piece"
        );
        // The seed given as an extra peer, as `peercdn download MAGNET --peer ADDR` would.
        let magnet = magnet_link(&original, &[], &[]);
        let fetched = fetch_metadata(
            &magnet,
            random_peer_id(),
            6881,
            &[node.local_addr()],
            Duration::from_secs(30),
        )
        .await;
        let _ = running.stop().await;
        node.shutdown();
        fetched
    });
    assert_same_torrent(&fetched.expect("the metadata"), &original, &[]);
}

/// A seed that accepts only encrypted connections (libtorrent, encryption forced, RC4 only)
/// gives its metadata: the fetch dials MSE first and runs RC4 both ways.
#[test]
fn metadata_from_a_libtorrent_seed_that_requires_rc4() {
    if !have_libtorrent() {
        return;
    }
    let dir = TempDir::new("magnet-lt-rc4");
    let torrent = make_torrent(dir.path(), "movie.bin", SIZE, "16K", &[]);
    let original = read(&torrent);
    let (_seed, port) = libtorrent_seed_with(
        dir.path(),
        &torrent,
        &["--encryption", "forced", "--enc-level", "rc4"],
    );
    let magnet = magnet_link(&original, &[], &[SocketAddr::from(([127, 0, 0, 1], port))]);
    let fetched = runtime()
        .block_on(fetch_metadata(
            &magnet,
            random_peer_id(),
            6881,
            &[],
            Duration::from_secs(60),
        ))
        .expect("the metadata");
    assert_same_torrent(&fetched, &original, &[]);
}
