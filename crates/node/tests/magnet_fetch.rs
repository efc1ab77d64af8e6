//! `peercdn::magnet::fetch_metadata` on 127.0.0.1 without external clients: its typed errors
//! (no peers, no tracker reachable, metadata too large), a lying peer beside an honest seed,
//! and a v2-only magnet (the truncated SHA-256 info-hash on the wire, the whole one checked).

mod support;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use peer_wire::extended::{METADATA_PIECE_LEN, Metadata};
use peer_wire::{
    Config, Event, Geometry, Handshake, InfoHash, LocalPieces, PeerId, Reserved, Session,
};
use peercdn::client::{AddOptions, Node, NodeConfig, random_peer_id};
use peercdn::magnet::{MagnetError, fetch_metadata};
use peercdn::storage::Mode;
use support::{TempDir, make_torrent, peercdn};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use torrent_format::{Magnet, Metainfo};

const SIZE: usize = 16 * 1024 * 1024 + 99;

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a runtime")
}

#[expect(clippy::disallowed_methods, reason = "a test driver reads the clock")]
fn now() -> Instant {
    Instant::now()
}

fn read(torrent: &Path) -> Metainfo {
    Metainfo::from_bytes(&std::fs::read(torrent).expect("torrent written")).expect("valid")
}

/// A peer that speaks the wire protocol with a normal session, announces `metadata_size`
/// and answers every ut_metadata request with the pieces of `serve`. Returns its address and
/// the count of pieces it sent.
async fn fake_peer(
    info_hash: [u8; 20],
    metadata_size: u32,
    serve: Vec<u8>,
) -> (SocketAddr, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("a port");
    let addr = listener.local_addr().expect("bound");
    let serve = Bytes::from(serve);
    let sent = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&sent);
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let counter = Arc::clone(&counter);
            tokio::spawn(serve_one(
                stream,
                info_hash,
                metadata_size,
                serve.clone(),
                counter,
            ));
        }
    });
    (addr, sent)
}

async fn serve_one(
    mut stream: TcpStream,
    info_hash: [u8; 20],
    size: u32,
    serve: Bytes,
    sent: Arc<AtomicUsize>,
) {
    let geometry = Geometry::new(1 << 20, 1 << 14).expect("a geometry");
    let mut config = Config::new(
        Handshake {
            reserved: Reserved::ours(),
            info_hash: InfoHash(info_hash),
            peer_id: PeerId(*b"-XX0001-fakefakefake"),
        },
        geometry,
    );
    config.extended.metadata_size = Some(size);
    let mut s = Session::new(config, LocalPieces::All, now());
    let mut buf = BytesMut::with_capacity(1 << 16);
    loop {
        while let Some(e) = s.poll_event() {
            match e {
                Event::Metadata(Metadata::Request { piece }) => {
                    let start = piece as usize * METADATA_PIECE_LEN as usize;
                    let end = (start + METADATA_PIECE_LEN as usize).min(serve.len());
                    let reply = if start < end {
                        sent.fetch_add(1, Ordering::Relaxed);
                        Metadata::Data {
                            piece,
                            total_size: size,
                            data: serve.slice(start..end),
                        }
                    } else {
                        Metadata::Reject { piece }
                    };
                    let _ = s.send_metadata(&reply);
                }
                Event::Closed(_) => return,
                _ => {}
            }
        }
        while let Some(chunk) = s.poll_transmit(now()) {
            if stream.write_all(&chunk).await.is_err() {
                return;
            }
        }
        match stream.read_buf(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(_) => s.handle_bytes(now(), &mut buf),
        }
    }
}

/// Starts a node seeding `meta` from `dir/seed`; returns it and the running torrent.
async fn own_seed(meta: &Metainfo, dir: &Path) -> (Node, peercdn::client::Running) {
    let node = Node::start(NodeConfig::new("127.0.0.1:0".parse().expect("an address")))
        .await
        .expect("listening");
    let running = node
        .add(
            meta.clone(),
            &dir.join("seed"),
            Mode::Seed,
            AddOptions::default(),
        )
        .await
        .expect("seeding");
    (node, running)
}

fn v1_hash(meta: &Metainfo) -> [u8; 20] {
    meta.info_hashes().v1.expect("a v1 torrent").0
}

#[test]
fn a_link_without_trackers_or_peers_has_no_peers() {
    let magnet = Magnet::parse("magnet:?xt=urn:btih:0123456789abcdef0123456789abcdef01234567")
        .expect("a link");
    let result = runtime().block_on(fetch_metadata(
        &magnet,
        random_peer_id(),
        6881,
        &[],
        Duration::from_secs(30),
    ));
    assert!(matches!(result, Err(MagnetError::NoPeers)), "{result:?}");
}

#[test]
fn unreachable_trackers_are_reported_as_such() {
    // Nothing listens on port 1: every announce is refused at once.
    let magnet = Magnet::parse(
        "magnet:?xt=urn:btih:0123456789abcdef0123456789abcdef01234567\
         &tr=http%3A%2F%2F127.0.0.1%3A1%2Fannounce",
    )
    .expect("a link");
    let started = now();
    let result = runtime().block_on(fetch_metadata(
        &magnet,
        random_peer_id(),
        6881,
        &[],
        Duration::from_secs(60),
    ));
    assert!(
        matches!(result, Err(MagnetError::NoTrackerReachable(_))),
        "{result:?}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "not the whole timeout"
    );
}

#[test]
fn metadata_over_the_limit_is_refused() {
    let hash = [0x42; 20];
    let result = runtime().block_on(async {
        let (peer, _) = fake_peer(hash, 64 << 20, Vec::new()).await;
        let magnet = Magnet::parse(&format!("magnet:?xt=urn:btih:{}&x.pe={peer}", hex(&hash)))
            .expect("a link");
        fetch_metadata(
            &magnet,
            random_peer_id(),
            6881,
            &[],
            Duration::from_secs(30),
        )
        .await
    });
    assert!(
        matches!(
            result,
            Err(MagnetError::TooLarge {
                size: 67_108_864,
                limit: 31_457_280
            })
        ),
        "{result:?}"
    );
}

#[test]
fn a_lying_peer_beside_an_honest_seed_does_not_win() {
    let dir = TempDir::new("magnet-liar");
    let torrent = make_torrent(dir.path(), "movie.bin", SIZE, "16K", &[]);
    let original = read(&torrent);
    let info = original.info_bytes();
    assert!(info.len() > METADATA_PIECE_LEN as usize);
    let mut lie = info.to_vec();
    for piece in lie.chunks_mut(METADATA_PIECE_LEN as usize) {
        piece[piece.len() / 2] ^= 0x20;
    }
    let (fetched, lies) = runtime().block_on(async {
        let (liar, lies) = fake_peer(v1_hash(&original), info.len() as u32, lie).await;
        let (node, running) = own_seed(&original, dir.path()).await;
        // The liar first, so that it is likely asked (its key is the lowest).
        let magnet = Magnet::new(original.info_hashes());
        let fetched = fetch_metadata(
            &magnet,
            random_peer_id(),
            6881,
            &[liar, node.local_addr()],
            Duration::from_secs(60),
        )
        .await;
        let _ = running.stop().await;
        node.shutdown();
        (fetched, lies.load(Ordering::Relaxed))
    });
    let fetched = fetched.expect("the metadata");
    // Whether the liar gets asked depends on which connection is ready first (the swarm
    // crate's property tests cover liars deterministically); whatever it sent, the result is
    // the true dictionary.
    eprintln!("the liar answered {lies} requests");
    assert_eq!(fetched.info_bytes(), info);
    assert_eq!(fetched.info_hashes(), original.info_hashes());
}

#[test]
fn a_v2_only_magnet_uses_the_truncated_hash_and_checks_the_whole() {
    let dir = TempDir::new("magnet-v2");
    let data = dir.path().join("seed").join("movie.bin");
    std::fs::create_dir_all(data.parent().expect("a parent")).expect("writable");
    std::fs::write(&data, support::content(SIZE, 3)).expect("writable");
    let torrent: PathBuf = dir.path().join("movie.torrent");
    let out = peercdn()
        .arg("create")
        .arg(&data)
        .arg("-o")
        .arg(&torrent)
        .args(["--v2", "--piece-size", "16K"])
        .output()
        .expect("peercdn create runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let original = read(&torrent);
    let hashes = original.info_hashes();
    assert!(hashes.v1.is_none() && hashes.v2.is_some());
    let fetched = runtime().block_on(async {
        let (node, running) = own_seed(&original, dir.path()).await;
        let magnet = Magnet::new(hashes);
        assert!(magnet.to_string().contains("urn:btmh:1220"));
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
    let fetched = fetched.expect("the metadata");
    assert_eq!(fetched.info_hashes(), hashes);
    assert_eq!(fetched.info_bytes(), original.info_bytes());
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
