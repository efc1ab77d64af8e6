//! v2-only magnet links (BEP 52) between `peercdn` and a real libtorrent (python3-libtorrent
//! 2.0) on 127.0.0.1: after the info dictionary (BEP 9), the piece layer of every file longer
//! than one piece goes over BEP 52 hash requests, in both directions, and the downloads are
//! byte-exact; and between two `peercdn` nodes, whose fetched torrent must carry the very
//! layers of the original. The torrents are made by `peercdn create --v2`; the links carry the
//! peer to ask (`x.pe`, or libtorrent's `connect_peer`), no tracker.

mod support;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use support::{
    Proc, TempDir, completes, content, have_libtorrent, libtorrent_seed, peercdn, peercdn_download,
    peercdn_seed,
};
use torrent_format::{Magnet, Metainfo};

/// `peercdn create --v2 PATH -o OUT --piece-size PIECE`; returns the parsed torrent.
fn create_v2(path: &Path, out: &Path, piece: &str) -> Metainfo {
    let made = peercdn()
        .arg("create")
        .arg(path)
        .arg("-o")
        .arg(out)
        .args(["--v2", "--piece-size", piece])
        .output()
        .expect("peercdn create runs");
    assert!(
        made.status.success(),
        "create: {}",
        String::from_utf8_lossy(&made.stderr)
    );
    let meta = Metainfo::from_bytes(&std::fs::read(out).expect("torrent written")).expect("valid");
    let hashes = meta.info_hashes();
    assert!(
        hashes.v1.is_none() && hashes.v2.is_some(),
        "a v2-only torrent"
    );
    meta
}

/// Writes `len` bytes of `content(len, seed)` at `path`.
fn write_file(path: &Path, len: usize, seed: u64) {
    std::fs::create_dir_all(path.parent().expect("a parent")).expect("writable");
    std::fs::write(path, content(len, seed)).expect("writable");
}

/// The v2-only magnet link of `meta` (`urn:btmh:1220…`), naming `peer` with `x.pe`.
fn magnet(meta: &Metainfo, peer: Option<SocketAddr>) -> String {
    let link = Magnet::new(meta.info_hashes()).to_string();
    assert!(
        link.contains("xt=urn:btmh:1220") && !link.contains("btih"),
        "{link}"
    );
    match peer {
        Some(p) => format!("{link}&x.pe={p}"),
        None => link,
    }
}

/// Files of `meta` longer than one piece: they need their piece layers.
fn multi_piece_files(meta: &Metainfo) -> usize {
    meta.files()
        .filter(|f| f.size > meta.piece_length())
        .count()
}

fn same_bytes(got: &Path, want: &[u8]) {
    let got = std::fs::read(got).unwrap_or_else(|e| panic!("{}: {e}", got.display()));
    assert!(got == want, "{} bytes, byte-exact? no", got.len());
}

/// 545 pieces of 32 KiB: the piece layer (layer 1 of the tree) takes two requests of
/// libtorrent's 512 hashes at most.
const BIG: usize = 545 * 32 * 1024 - 3000;

#[test]
fn peercdn_downloads_a_v2_magnet_of_a_multi_piece_file_from_libtorrent() {
    if !have_libtorrent() {
        return;
    }
    let dir = TempDir::new("magnet-v2-single");
    let data = dir.path().join("seed").join("movie.bin");
    write_file(&data, BIG, 11);
    let meta = create_v2(&data, &dir.path().join("movie.torrent"), "32K");
    assert_eq!((meta.num_pieces(), multi_piece_files(&meta)), (545, 1));
    let (_seed, port) = libtorrent_seed(dir.path(), &dir.path().join("movie.torrent"));
    let link = magnet(&meta, Some(SocketAddr::from(([127, 0, 0, 1], port))));
    let out = dir.path().join("out");
    let mut download = peercdn_download(&link, &out, "127.0.0.1:0", &[]);
    let started = download.wait_event(Duration::from_secs(60), "started");
    assert_eq!(started["pieces"], 545, "{started}");
    completes(&mut download);
    same_bytes(&out.join("movie.bin"), &content(BIG, 11));
}

#[test]
fn peercdn_downloads_a_v2_magnet_of_several_files_from_libtorrent() {
    if !have_libtorrent() {
        return;
    }
    // A file of 49 pieces of 64 KiB (its piece layer is layer 2 of its tree) beside a file of
    // one piece (no piece layer: checked against its root) and an empty one.
    let dir = TempDir::new("magnet-v2-multi");
    let album = dir.path().join("seed").join("album");
    let (big, small) = (48 * 65536 + 777, 1000);
    write_file(&album.join("big.bin"), big, 21);
    write_file(&album.join("notes").join("small.txt"), small, 22);
    write_file(&album.join("empty"), 0, 23);
    let torrent = dir.path().join("album.torrent");
    let meta = create_v2(&album, &torrent, "64K");
    assert_eq!(multi_piece_files(&meta), 1);
    assert!(
        meta.files()
            .any(|f| f.size > 0 && f.size <= meta.piece_length())
    );
    let (_seed, port) = libtorrent_seed(dir.path(), &torrent);
    let link = magnet(&meta, Some(SocketAddr::from(([127, 0, 0, 1], port))));
    let out = dir.path().join("out");
    completes(&mut peercdn_download(&link, &out, "127.0.0.1:0", &[]));
    same_bytes(&out.join("album").join("big.bin"), &content(big, 21));
    same_bytes(
        &out.join("album").join("notes").join("small.txt"),
        &content(small, 22),
    );
}

/// 513 pieces of 32 KiB: libtorrent asks for the piece layer as 512 hashes, then one (its
/// request for the last piece alone, answered with its own sibling as the first uncle).
const ODD: usize = 512 * 32 * 1024 + 100;

/// A libtorrent leecher of a magnet link, dialing one peer, that reports what
/// `libtorrent_peer.py` does not: the first piece it verified and how much of the torrent it
/// had then (`verified`), and every disconnection, peer error or failed hash check (`alert`).
/// Settings as in that script (DHT, LSD, UPnP, NAT-PMP and uTP off; 127.0.0.1 only).
///
/// libtorrent can check a v2 file without its piece layer, but only once the whole file is in
/// (against the file's root): a piece verified before that proves the layer came from the
/// seed, over BEP 52 hash requests.
const LEECHER: &str = r#"
import json, sys, time
import libtorrent as lt
magnet, save, host, port = sys.argv[1:5]
def out(o):
    sys.stdout.write(json.dumps(o) + "\n")
    sys.stdout.flush()
ses = lt.session({
    "listen_interfaces": "127.0.0.1:0", "enable_dht": False, "enable_lsd": False,
    "enable_upnp": False, "enable_natpmp": False, "enable_outgoing_utp": False,
    "enable_incoming_utp": False, "allow_multiple_connections_per_ip": True,
    "alert_mask": lt.alert.category_t.all_categories,
})
atp = lt.parse_magnet_uri(magnet)
atp.save_path = save
h = ses.add_torrent(atp)
h.connect_peer((host, int(port)))
seen = False
start = time.time()
while time.time() - start < 120:
    for a in ses.pop_alerts():
        kind = type(a).__name__
        if kind in ("peer_disconnected_alert", "peer_error_alert", "hash_failed_alert"):
            out({"event": "alert", "alert": kind, "message": a.message()})
    st = h.status()
    if not seen and st.num_pieces > 0:
        seen = True
        out({"event": "verified", "pieces": st.num_pieces, "done": st.total_wanted_done,
             "wanted": st.total_wanted})
    if st.is_seeding:
        out({"event": "finished"})
        sys.exit(0)
    time.sleep(0.005)
sys.exit(4)
"#;

#[test]
fn libtorrent_downloads_a_v2_magnet_from_a_peercdn_seed() {
    if !have_libtorrent() {
        return;
    }
    let dir = TempDir::new("magnet-v2-to-lt");
    let data = dir.path().join("seed").join("movie.bin");
    write_file(&data, ODD, 31);
    let torrent: PathBuf = dir.path().join("movie.torrent");
    let meta = create_v2(&data, &torrent, "32K");
    assert_eq!(meta.num_pieces(), 513);
    // About 4 s of upload: pieces arrive one by one, long before the file is whole.
    let (_seed, started) = peercdn_seed(&torrent, &data, "127.0.0.1:0", &["--upload-rate", "4M"]);
    let listen: SocketAddr = started["listen"]
        .as_str()
        .and_then(|l| l.parse().ok())
        .expect("a listening address");
    let out = dir.path().join("out");
    std::fs::create_dir_all(&out).expect("writable");
    let mut leecher = Proc::spawn(
        "libtorrent leecher",
        Command::new("/usr/bin/python3")
            .args(["-c", LEECHER, &magnet(&meta, None)])
            .arg(&out)
            .args([listen.ip().to_string(), listen.port().to_string()]),
    );
    let verified = leecher.wait_event(Duration::from_secs(60), "verified");
    let (done, wanted) = (verified["done"].as_u64(), verified["wanted"].as_u64());
    assert!(
        wanted == Some(ODD as u64) && done < wanted,
        "the first piece was verified with the piece layer, before the file was whole: \
         {verified}"
    );
    leecher.wait_event(Duration::from_secs(120), "finished");
    // libtorrent closes a connection whose hashes do not check out ("invalid hashes").
    let complaints: Vec<&String> = leecher
        .seen
        .iter()
        .filter(|l| l.contains("\"alert\"") && l.to_ascii_lowercase().contains("hash"))
        .collect();
    assert!(complaints.is_empty(), "{complaints:?}");
    same_bytes(&out.join("movie.bin"), &content(ODD, 31));
}

/// Our own fetch against our own seed, in process (no external client needed): the torrent
/// built from a v2 magnet link carries the piece layers of the original, and `peercdn
/// download` of the link from `peercdn seed` is byte-exact.
#[test]
fn a_v2_magnet_between_peercdn_nodes_carries_the_piece_layers() {
    use peercdn::client::{AddOptions, Node, NodeConfig, random_peer_id};
    use peercdn::magnet::fetch_metadata;
    use peercdn::storage::Mode;

    let dir = TempDir::new("magnet-v2-own");
    let album = dir.path().join("seed").join("album");
    let (big, other) = (600 * 16384 + 5, 3 * 65536);
    write_file(&album.join("a.bin"), big, 41);
    write_file(&album.join("b.bin"), other, 42);
    write_file(&album.join("c.txt"), 10, 43);
    let torrent = dir.path().join("album.torrent");
    let original = create_v2(&album, &torrent, "16K");
    assert_eq!(multi_piece_files(&original), 2);
    let link = Magnet::parse(&magnet(&original, None)).expect("a valid link");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a runtime");
    let fetched = runtime.block_on(async {
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
        let fetched = fetch_metadata(
            &link,
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
    let fetched = fetched.expect("the metadata and the piece layers");
    assert_eq!(fetched.info_bytes(), original.info_bytes());
    for i in 0..original.num_files() {
        assert_eq!(fetched.piece_layer(i), original.piece_layer(i), "file {i}");
    }
    assert!(fetched.piece_layer(0).is_some_and(|l| l.len() == 601));

    let (_seed, started) = peercdn_seed(&torrent, &album, "127.0.0.1:0", &[]);
    let listen: SocketAddr = started["listen"]
        .as_str()
        .and_then(|l| l.parse().ok())
        .expect("a listening address");
    let out = dir.path().join("out");
    completes(&mut peercdn_download(
        magnet(&original, Some(listen)),
        &out,
        "127.0.0.1:0",
        &[],
    ));
    same_bytes(&out.join("album").join("a.bin"), &content(big, 41));
    same_bytes(&out.join("album").join("b.bin"), &content(other, 42));
    same_bytes(&out.join("album").join("c.txt"), &content(10, 43));
}
