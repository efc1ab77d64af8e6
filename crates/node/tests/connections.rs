//! 500 connections to one `peercdn seed`, each asking for blocks and never reading a byte:
//! the seed keeps them all, its memory stays bounded, and a real downloader still gets the
//! whole file from it meanwhile.

mod support;

use std::io::Write;
use std::net::TcpStream;
use std::time::Duration;

use support::{TempDir, completes, content, make_torrent, peercdn_download, peercdn_seed};
use torrent_format::Metainfo;

const SIZE: usize = 16 << 20;
const CONNECTIONS: usize = 500;

fn vm_rss_kib(pid: u64) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("the seed runs");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS in /proc/PID/status")
}

/// A handshake, `interested`, and 64 requests; then nothing is ever read.
fn greedy_peer(addr: &str, info_hash: [u8; 20], n: usize) -> TcpStream {
    let mut s = TcpStream::connect(addr).expect("the seed accepts");
    let mut out = Vec::new();
    out.push(19);
    out.extend_from_slice(b"BitTorrent protocol");
    out.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0, 0]);
    out.extend_from_slice(&info_hash);
    let mut peer_id = *b"-GR0001-000000000000";
    peer_id[8..16].copy_from_slice(format!("{n:08}").as_bytes());
    out.extend_from_slice(&peer_id);
    out.extend_from_slice(&[0, 0, 0, 1, 2]);
    for i in 0..64u32 {
        out.extend_from_slice(&[0, 0, 0, 13, 6]);
        out.extend_from_slice(&(i / 16).to_be_bytes());
        out.extend_from_slice(&((i % 16) * 16384).to_be_bytes());
        out.extend_from_slice(&16384u32.to_be_bytes());
    }
    s.write_all(&out).expect("the seed reads");
    s
}

#[test]
fn five_hundred_greedy_connections_neither_exhaust_memory_nor_stop_the_seed() {
    let dir = TempDir::new("connections");
    let torrent = make_torrent(dir.path(), "file.bin", SIZE, "256K", &[]);
    let meta = Metainfo::from_bytes(&std::fs::read(&torrent).expect("created")).expect("valid");
    let info_hash = meta.info_hashes().v1.expect("a v1 torrent").0;
    let (mut seed, started) = peercdn_seed(
        &torrent,
        &dir.path().join("seed/file.bin"),
        "127.0.0.1:0",
        &["--max-connections", "600"],
    );
    let addr = started["listen"].as_str().expect("listen").to_string();
    let pid = started["pid"].as_u64().expect("pid");
    let baseline = vm_rss_kib(pid);

    let peers: Vec<TcpStream> = (0..CONNECTIONS)
        .map(|n| greedy_peer(&addr, info_hash, n))
        .collect();
    seed.wait_line(Duration::from_secs(60), false, |l| {
        serde_json::from_str::<serde_json::Value>(l)
            .is_ok_and(|v| v["peers"].as_u64().is_some_and(|p| p >= CONNECTIONS as u64))
    });

    // A real downloader gets the whole file while the 500 hang on.
    let out = dir.path().join("out");
    completes(&mut peercdn_download(
        &torrent,
        &out,
        "127.0.0.1:0",
        &["--peer", &addr],
    ));
    assert!(std::fs::read(out.join("file.bin")).expect("downloaded") == content(SIZE, 7));

    // Each greedy peer costs at most its bounded buffers: 500 of them, well under 64 MiB.
    let rss = vm_rss_kib(pid);
    eprintln!("seed RSS: {baseline} KiB alone, {rss} KiB with {CONNECTIONS} greedy peers");
    assert!(
        rss < baseline + 64 * 1024,
        "memory bounded: {rss} KiB (baseline {baseline} KiB)"
    );
    drop(peers);
}
