//! peer-wire against a real libtorrent seed: python3-libtorrent seeds a file on 127.0.0.1
//! (`external/libtorrent_seed.py`), and this test, using only `peer_wire::Session` and a plain
//! TCP socket, does the handshakes, reads the seed's pieces announcement, becomes interested,
//! waits to be unchoked, requests every block of two pieces (a full one and the short last
//! one) and checks each piece's SHA-1 against the torrent. On the same connection it fetches
//! the info dictionary over ut_metadata (BEP 9) and checks that it hashes to the info-hash.
//!
//! Needs Debian's python3-libtorrent; under `PEERCDN_REQUIRE_EXTERNAL=1` (set by
//! `scripts/test`) a missing libtorrent is a failure, not a skip.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use bytes::BytesMut;
use peer_wire::extended::{ExtendedHandshake, METADATA_PIECE_LEN, Metadata};
use peer_wire::{
    BlockRef, Config, Event, Geometry, Handshake, InfoHash, LocalPieces, PeerId, PieceIndex,
    Reserved, Session,
};
use torrent_format::Metainfo;

/// The seed process; killed (and its folder removed) when the test ends, however it ends.
struct Seed {
    child: Child,
    dir: PathBuf,
    port: u16,
    torrent: PathBuf,
}

impl Drop for Seed {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            // The seed's alert log tells why libtorrent dropped us, if it did.
            let log = std::fs::read_to_string(self.dir.join("seed.log")).unwrap_or_default();
            eprintln!("libtorrent seed log:\n{log}");
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn start_seed(name: &str) -> Option<Seed> {
    let script = conformance::conformance_dir().join("external/libtorrent_seed.py");
    let dir = std::env::temp_dir().join(format!("peer-wire-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp folder is writable");
    let torrent = dir.join("seed.torrent");
    let log = std::fs::File::create(dir.join("seed.log")).expect("temp folder is writable");
    let spawned = Command::new("/usr/bin/python3")
        .arg(&script)
        .arg("--data")
        .arg(&dir)
        .arg("--torrent")
        .arg(&torrent)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(log)
        .spawn();
    let mut child = match spawned {
        Ok(c) => c,
        Err(e) => return unavailable(&format!("cannot run /usr/bin/python3: {e}")),
    };
    let mut line = String::new();
    let stdout = child.stdout.take().expect("stdout is piped");
    let read = BufReader::new(stdout).read_line(&mut line);
    if read.is_err() || line.is_empty() {
        let status = child.wait().ok();
        let _ = std::fs::remove_dir_all(&dir);
        return unavailable(&format!("libtorrent seed did not start ({status:?})"));
    }
    let info: serde_json::Value = serde_json::from_str(&line).expect("the seed prints JSON");
    let port = info["port"].as_u64().expect("a port") as u16;
    Some(Seed {
        child,
        dir,
        port,
        torrent,
    })
}

fn unavailable(why: &str) -> Option<Seed> {
    assert!(
        std::env::var_os("PEERCDN_REQUIRE_EXTERNAL").is_none(),
        "python3-libtorrent is required: {why}"
    );
    eprintln!("skipped: {why}");
    None
}

#[test]
fn we_download_and_verify_pieces_from_a_libtorrent_seed_with_only_peer_wire() {
    let Some(seed) = start_seed("download") else {
        return;
    };
    let meta = Metainfo::from_bytes(&std::fs::read(&seed.torrent).unwrap()).unwrap();
    let info_hash = InfoHash::from(meta.info_hashes().v1.expect("a v1 torrent"));
    let geometry = Geometry::new(meta.total_size(), meta.piece_length()).unwrap();
    let last = PieceIndex(meta.num_pieces() - 1);
    let wanted = [PieceIndex(0), last];

    let mut config = Config::new(
        Handshake {
            reserved: Reserved::ours(),
            info_hash,
            peer_id: PeerId(*b"-PC0001-wiretest0001"),
        },
        geometry,
    );
    config.extended = ExtendedHandshake {
        client: Some("peer-wire test".into()),
        ..config.extended
    };
    let mut stream = TcpStream::connect(("127.0.0.1", seed.port)).unwrap();
    // A bound on a stuck read, not a synchronization: every read returns as soon as bytes come.
    stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    let mut session = Session::new(config, LocalPieces::None, clock());

    let mut pieces: Vec<Vec<u8>> = wanted
        .iter()
        .map(|&p| vec![0; meta.piece_size(p).unwrap() as usize])
        .collect();
    let mut missing: Vec<BlockRef> = wanted
        .iter()
        .flat_map(|&piece| blocks(piece, meta.piece_size(piece).unwrap() as u32))
        .collect();
    let total_blocks = missing.len();
    let mut received = 0;
    let mut seen: Vec<String> = Vec::new();
    let mut metadata: Vec<u8> = Vec::new();
    let mut metadata_pieces = 0u32;
    let mut metadata_done = 0u32;
    let mut buf = BytesMut::with_capacity(1 << 16);
    while received < total_blocks || metadata_done < metadata_pieces.max(1) {
        let now = clock();
        while let Some(chunk) = session.poll_transmit(now) {
            stream.write_all(&chunk).unwrap();
        }
        while let Some(event) = session.poll_event() {
            match event {
                Event::PeerPieces(bits) => {
                    assert!(bits.is_full(), "the seed has every piece");
                    session.set_interested(true).unwrap();
                }
                Event::Block { block, data } => {
                    let i = wanted.iter().position(|&p| p == block.piece).unwrap();
                    let at = block.offset as usize;
                    pieces[i][at..at + data.len()].copy_from_slice(&data);
                    received += 1;
                }
                Event::ExtendedHandshake(h) => {
                    let size = h.metadata_size.expect("libtorrent announces metadata_size");
                    metadata = vec![0; size as usize];
                    metadata_pieces = size.div_ceil(METADATA_PIECE_LEN);
                    for piece in 0..metadata_pieces {
                        session.send_metadata(&Metadata::Request { piece }).unwrap();
                    }
                }
                Event::Metadata(Metadata::Data { piece, data, .. }) => {
                    let at = (piece * METADATA_PIECE_LEN) as usize;
                    metadata[at..at + data.len()].copy_from_slice(&data);
                    metadata_done += 1;
                }
                Event::Closed(reason) => panic!("closed: {reason} after {seen:?}"),
                ref other => seen.push(format!("{other:?}").chars().take(80).collect()),
            }
        }
        // Keep the pipeline full whenever the seed lets us request.
        while session.request_slots() > 0
            && let Some(&next) = missing.first()
        {
            match session.request(next) {
                Ok(()) => {
                    missing.remove(0);
                }
                Err(_) => break,
            }
        }
        while let Some(chunk) = session.poll_transmit(now) {
            stream.write_all(&chunk).unwrap();
        }
        if received == total_blocks && metadata_pieces > 0 && metadata_done == metadata_pieces {
            break;
        }
        let mut scratch = vec![0u8; 1 << 16];
        let n = stream.read(&mut scratch).expect("the seed answers");
        assert!(n > 0, "the seed closed the connection");
        buf.extend_from_slice(&scratch[..n]);
        session.handle_bytes(clock(), &mut buf);
    }

    let peer = session.peer_handshake().expect("handshake done");
    assert!(peer.peer_id.0.starts_with(b"-LT20"), "{:?}", peer.peer_id);
    assert!(peer.reserved.extension_protocol() && peer.reserved.fast());
    let ext = session
        .peer_extended()
        .expect("libtorrent sends an extended handshake");
    assert!(
        ext.client
            .as_deref()
            .unwrap_or("")
            .starts_with("libtorrent/")
    );
    assert!(ext.extension_id("ut_metadata").is_some());
    for (i, &piece) in wanted.iter().enumerate() {
        assert_eq!(
            torrent_format::hash::sha1(&pieces[i]),
            meta.piece_hash_v1(piece).unwrap(),
            "piece {piece:?} matches the torrent"
        );
    }
    assert_eq!(
        torrent_format::hash::sha1(&metadata),
        info_hash.0,
        "the info dictionary from ut_metadata hashes to the info-hash"
    );
    let (down, _) = session.payload_bytes();
    assert_eq!(
        down,
        pieces.iter().map(|p| p.len() as u64).sum::<u64>(),
        "every byte counted once"
    );
}

/// The 16 KiB blocks of a piece.
fn blocks(piece: PieceIndex, size: u32) -> impl Iterator<Item = BlockRef> {
    (0..size.div_ceil(16384)).map(move |i| BlockRef {
        piece,
        offset: i * 16384,
        len: (size - i * 16384).min(16384),
    })
}

/// The driver's clock: this test does real I/O, so it reads real time.
#[expect(clippy::disallowed_methods, reason = "a driver reads the clock")]
fn clock() -> Instant {
    Instant::now()
}
