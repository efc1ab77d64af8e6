//! Two of our torrents over real TCP on 127.0.0.1: a seed behind the listener and a leecher
//! that dials it; bytes on a memory "disk" with real SHA-1 checks. And the same over another
//! byte stream than TCP (an in-memory pipe, as a WebRTC data channel will be).

mod support;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use peer_wire::{Bitfield, BlockRef, Geometry, InfoHash, PeerId, PieceIndex};
use peercdn::disk::{Disk, DiskError};
use peercdn::listen::{Listener, Registry};
use peercdn::mse_io::Policy;
use peercdn::torrent::{self, TorrentParams};
use support::content;

const PIECE: u64 = 256 << 10;

struct MemDisk {
    data: Mutex<Vec<u8>>,
    hashes: Vec<[u8; 20]>,
    /// Flip the bits of every block served.
    liar: bool,
}

impl Disk for MemDisk {
    fn write(&self, piece: PieceIndex, offset: u32, data: &[u8]) -> Result<(), DiskError> {
        let at = (u64::from(piece.0) * PIECE) as usize + offset as usize;
        self.data.lock().unwrap()[at..at + data.len()].copy_from_slice(data);
        Ok(())
    }

    fn read(&self, block: BlockRef) -> Result<Bytes, DiskError> {
        let at = (u64::from(block.piece.0) * PIECE) as usize + block.offset as usize;
        let mut out = self.data.lock().unwrap()[at..at + block.len as usize].to_vec();
        if self.liar {
            out.iter_mut().for_each(|b| *b ^= 0x5a);
        }
        Ok(Bytes::from(out))
    }

    fn verify(&self, piece: PieceIndex) -> Result<bool, DiskError> {
        let data = self.data.lock().unwrap();
        let start = (u64::from(piece.0) * PIECE) as usize;
        let end = (start + PIECE as usize).min(data.len());
        Ok(torrent_format::hash::sha1(&data[start..end]) == self.hashes[piece.0 as usize])
    }
}

struct Swarmlet {
    data: Vec<u8>,
    geometry: Geometry,
    hashes: Vec<[u8; 20]>,
    info_hash: InfoHash,
}

impl Swarmlet {
    fn new(len: usize) -> Self {
        let data = content(len, 42);
        let geometry = Geometry::new(len as u64, PIECE).unwrap();
        let hashes = data
            .chunks(PIECE as usize)
            .map(torrent_format::hash::sha1)
            .collect();
        Self {
            data,
            geometry,
            hashes,
            info_hash: InfoHash([0x42; 20]),
        }
    }

    fn params(&self, id: u8, seed: bool, liar: bool) -> (TorrentParams, Arc<MemDisk>) {
        let disk = Arc::new(MemDisk {
            data: Mutex::new(if seed {
                self.data.clone()
            } else {
                vec![0; self.data.len()]
            }),
            hashes: self.hashes.clone(),
            liar,
        });
        let mut peer_id = [b'-'; 20];
        peer_id[0] = id;
        let config = swarm::Config::new(self.info_hash, PeerId(peer_id), self.geometry)
            .with_seed(u64::from(id));
        let have = if seed {
            Bitfield::full(self.geometry.num_pieces)
        } else {
            Bitfield::new(self.geometry.num_pieces)
        };
        let params = TorrentParams {
            config,
            have,
            disk: disk.clone(),
            disk_threads: 2,
            announce: None,
            rates: peercdn::conn::Rates::default(),
            web_seeds: Vec::new(),
            encryption: Policy::Enabled,
        };
        (params, disk)
    }
}

async fn listen(registry: &Registry, ip: &str) -> SocketAddr {
    let listener = Listener::bind(
        format!("{ip}:0").parse().unwrap(),
        registry.clone(),
        Policy::Enabled,
    )
    .await
    .unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(listener.run());
    addr
}

async fn finished(status: &mut tokio::sync::watch::Receiver<torrent::Status>) {
    tokio::time::timeout(Duration::from_secs(60), status.wait_for(|s| s.finished))
        .await
        .expect("the download finishes within a minute")
        .expect("the torrent is running");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_leecher_downloads_from_a_seed_over_tcp() {
    let s = Swarmlet::new(3 * PIECE as usize + 12_345);
    let registry = Registry::default();
    let addr = listen(&registry, "127.0.0.1").await;
    let (seed_params, _) = s.params(1, true, false);
    let seed = torrent::spawn(seed_params).unwrap();
    registry.insert(s.info_hash, seed.commands());

    let (params, disk) = s.params(2, false, false);
    let leecher = torrent::spawn(params).unwrap();
    leecher
        .commands()
        .send(torrent::Command::AddPeers(vec![addr]))
        .await
        .unwrap();
    finished(&mut leecher.status()).await;
    assert_eq!(*disk.data.lock().unwrap(), s.data);
    let status = leecher.status().borrow().clone();
    assert_eq!(status.have, s.geometry.num_pieces);
    assert!(status.downloaded >= s.data.len() as u64);
    leecher.stop().await;
    seed.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lying_seed_is_banned_and_the_honest_one_completes_the_download() {
    let s = Swarmlet::new(4 * PIECE as usize);
    let (honest_reg, liar_reg) = (Registry::default(), Registry::default());
    // Bans are by IP address: the liar gets one of its own.
    let honest_addr = listen(&honest_reg, "127.0.0.1").await;
    let liar_addr = listen(&liar_reg, "127.0.0.2").await;
    let honest = torrent::spawn(s.params(1, true, false).0).unwrap();
    honest_reg.insert(s.info_hash, honest.commands());
    let liar = torrent::spawn(s.params(3, true, true).0).unwrap();
    liar_reg.insert(s.info_hash, liar.commands());

    let (params, disk) = s.params(2, false, false);
    let leecher = torrent::spawn(params).unwrap();
    leecher
        .commands()
        .send(torrent::Command::AddPeers(vec![liar_addr, honest_addr]))
        .await
        .unwrap();
    finished(&mut leecher.status()).await;
    assert_eq!(*disk.data.lock().unwrap(), s.data, "no corrupt byte kept");
    let banned = leecher.status().borrow().banned.clone();
    assert_eq!(
        banned,
        [liar_addr],
        "the liar, and only the liar, is banned"
    );
    leecher.stop().await;
    honest.stop().await;
    liar.stop().await;
}

/// A connection over any byte stream ([`torrent::Command::Attach`]), where both sides send
/// their handshake at once, as WebTorrent's WebRTC peers do: an in-memory pipe here.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_leecher_downloads_from_a_seed_over_any_byte_stream() {
    let s = Swarmlet::new(3 * PIECE as usize + 777);
    let seed = torrent::spawn(s.params(1, true, false).0).unwrap();
    let (params, disk) = s.params(2, false, false);
    let leecher = torrent::spawn(params).unwrap();
    let (one, other) = tokio::io::duplex(64 << 10);
    for (torrent, stream, port) in [(&seed, one, 1), (&leecher, other, 2)] {
        torrent
            .commands()
            .send(torrent::Command::Attach {
                stream: Box::new(stream),
                addr: SocketAddr::from(([10, 0, 0, port], 9)),
            })
            .await
            .unwrap();
    }
    finished(&mut leecher.status()).await;
    assert_eq!(*disk.data.lock().unwrap(), s.data);
    leecher.stop().await;
    seed.stop().await;
}
