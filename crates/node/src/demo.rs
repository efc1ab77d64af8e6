//! `peercdn demo`: a whole peer CDN on loopback, with nothing set up beforehand.
//!
//! It makes a sample file, starts an origin (a seed, the embedded HTTP and WebSocket trackers
//! and a web seed sharing one upload limit), starts several downloaders with home-like links,
//! shows their progress and ends with a table: time and throughput per downloader, and how many
//! bytes came from the origin and how many from peers. Every downloaded file is compared with
//! the original.
//!
//! The native downloaders are hybrid peers (TCP, and WebRTC through the WebSocket tracker);
//! `--webrtc N` of them reach the swarm over WebRTC only, as browsers do.

use std::fmt::Write as _;
use std::io::IsTerminal;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use peercdn::client::{AddOptions, Node, NodeConfig, Running};
use peercdn::storage::Mode;
use peercdn::tracker_server::{Table, serve_http, serve_ws};
use peercdn::webserver::FileServer;
use serde_json::json;
use torrent_format::Metainfo;
use torrent_format::create::{CreateOptions, Version, create_torrent};

use crate::format::parse_size;
use crate::output::{emit, failure};

/// Arguments of `peercdn demo`.
#[derive(Debug, clap::Args)]
#[command(
    long_about = "Run a peer CDN on this machine's loopback with nothing set up: make a sample \
                  file, start an origin (seed + HTTP and WebSocket tracker + web seed, sharing \
                  one upload limit), start downloaders with home-like links (some over WebRTC \
                  only, as browsers), show their progress, and end with a \
                  table of times, throughputs, and bytes from the origin versus from peers. \
                  Every download is checked byte for byte against the original.",
    after_long_help = "With --json, prints one JSON object at the end:\n  \
                       {\"peers\", \"size\", \"origin_rate\", \"peer_rate\", \"seconds\",\n   \
                       \"downloaders\": [{\"webrtc_only\", \"webrtc_peers\", \"seconds\", \"mb_per_s\", \"uploaded\"}...],\n   \
                       \"origin_bytes\", \"web_seed_bytes\", \"peer_bytes\", \"origin_fraction\",\n   \
                       \"client_server_seconds\", \"verified\"}\n\
                       Examples:\n  \
                       peercdn demo\n  \
                       peercdn demo --peers 8 --size 128M --origin-rate 4M"
)]
pub(crate) struct Args {
    /// Downloaders
    #[arg(long, value_name = "N", default_value_t = 4)]
    peers: usize,

    /// How many of the downloaders connect over WebRTC only (through the WebSocket tracker),
    /// as browsers do; the others are hybrid (TCP and WebRTC)
    #[arg(long, value_name = "N", default_value_t = 2)]
    webrtc: usize,

    /// Size of the sample file (suffixes K, M, G)
    #[arg(long, value_name = "SIZE", default_value = "64M", value_parser = parse_size)]
    size: u64,

    /// The origin's upload limit, seed and web seed together, bytes per second
    #[arg(long, value_name = "RATE", default_value = "8M", value_parser = parse_size)]
    origin_rate: u64,

    /// Each downloader's upload and download limit, bytes per second
    #[arg(long, value_name = "RATE", default_value = "16M", value_parser = parse_size)]
    peer_rate: u64,

    /// Print one JSON object at the end instead of text
    #[arg(long)]
    pub(crate) json: bool,
}

/// Runs `peercdn demo`.
pub(crate) fn run(args: &Args) -> anyhow::Result<ExitCode> {
    if args.peers == 0 || args.peers > 64 {
        return Err(failure("usage", "--peers must be 1 to 64"));
    }
    if args.webrtc > args.peers {
        return Err(failure("usage", "--webrtc must be at most --peers"));
    }
    if args.size == 0 || args.size > 4 << 30 {
        return Err(failure("usage", "--size must be 1 byte to 4 GiB"));
    }
    let dir = std::env::temp_dir().join(format!("peercdn-demo-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let result = crate::runtime()?.block_on(demo(args, &dir));
    let _ = std::fs::remove_dir_all(&dir);
    result
}

fn io(what: &str, e: impl std::fmt::Display) -> anyhow::Error {
    failure("io_error", format!("{what}: {e}"))
}

fn localhost() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 0))
}

async fn demo(args: &Args, dir: &Path) -> anyhow::Result<ExitCode> {
    let say = |line: String| {
        if !args.json {
            eprintln!("{line}");
        }
    };
    // The sample file.
    let origin_dir = dir.join("origin");
    std::fs::create_dir_all(&origin_dir).map_err(|e| io("cannot create a temp folder", e))?;
    let sample = origin_dir.join("sample.bin");
    std::fs::write(&sample, sample_bytes(args.size)).map_err(|e| io("cannot write", e))?;

    // The origin: tracker, seed, web seed, one upload limit for the last two.
    let table = Table::new(tracker::server::Config::default());
    let tracker = tokio::net::TcpListener::bind(localhost())
        .await
        .map_err(|e| io("cannot listen", e))?;
    let announce = format!(
        "http://{}/announce",
        tracker.local_addr().map_err(|e| io("listener", e))?
    );
    tokio::spawn(serve_http(tracker, table.clone()));
    let signaling = tokio::net::TcpListener::bind(localhost())
        .await
        .map_err(|e| io("cannot listen", e))?;
    let websocket = format!(
        "ws://{}",
        signaling.local_addr().map_err(|e| io("listener", e))?
    );
    tokio::spawn(serve_ws(signaling, table.clone()));
    tokio::spawn(table.clone().expire());
    let mut config = NodeConfig::new(localhost());
    config.upload_rate = Some(args.origin_rate);
    let origin = Node::start(config)
        .await
        .map_err(|e| io("cannot listen", e))?;
    let web = tokio::net::TcpListener::bind(localhost())
        .await
        .map_err(|e| io("cannot listen", e))?;
    let web_url = format!(
        "http://{}/",
        web.local_addr().map_err(|e| io("listener", e))?
    );
    let files = FileServer::new(&origin_dir, origin.rates().upload.clone())
        .map_err(|e| io("cannot serve the origin folder", e))?;
    tokio::spawn(files.clone().serve(web));

    let options = CreateOptions {
        version: Version::V1,
        // Two tiers: TCP peers use the first, WebRTC peers the second.
        trackers: vec![vec![announce.clone()], vec![websocket.clone()]],
        web_seeds: vec![web_url.clone()],
        created_by: Some(concat!("peercdn/", env!("CARGO_PKG_VERSION")).to_string()),
        ..CreateOptions::default()
    };
    let created = {
        let sample = sample.clone();
        tokio::task::spawn_blocking(move || create_torrent(&sample, &options, &|_| {}))
            .await
            .map_err(|e| io("hashing", e))?
            .map_err(|e| failure("io_error", e.to_string()))?
    };
    let meta =
        Metainfo::from_bytes(&created.bytes).map_err(|e| failure(e.code(), e.to_string()))?;
    let seeded = origin
        .add(
            meta.clone(),
            &origin_dir,
            Mode::Seed,
            AddOptions {
                origin: true,
                ..AddOptions::default()
            },
        )
        .await
        .map_err(|e| failure("storage_error", e.to_string()))?;
    say(format!(
        "origin: seed {}, trackers {announce} and {websocket}, web seed {web_url}; upload \
         limit {:.1} MB/s",
        origin.local_addr(),
        args.origin_rate as f64 / 1e6
    ));
    say(format!(
        "{} downloaders ({} over WebRTC only) at {:.1} MB/s each way, {:.1} MB file ({} pieces)",
        args.peers,
        args.webrtc,
        args.peer_rate as f64 / 1e6,
        args.size as f64 / 1e6,
        meta.num_pieces()
    ));

    // The downloaders, all at once (a flash crowd).
    let started = crate::clock();
    let mut nodes = Vec::new();
    for i in 0..args.peers {
        let mut config = NodeConfig::new(localhost());
        config.upload_rate = Some(args.peer_rate);
        config.download_rate = Some(args.peer_rate);
        let node = Node::start(config)
            .await
            .map_err(|e| io("cannot listen", e))?;
        let out = dir.join(format!("peer-{i}"));
        // The last --webrtc of them, as browsers.
        let options = AddOptions {
            webrtc_only: i >= args.peers - args.webrtc,
            ..AddOptions::default()
        };
        let running = node
            .add(meta.clone(), &out, Mode::Download, options)
            .await
            .map_err(|e| failure("storage_error", e.to_string()))?;
        nodes.push((node, running, out));
    }
    let (finished, webrtc_peers) = follow(&nodes, started, args.json).await;
    let total = started.elapsed().as_secs_f64();

    // The table.
    let origin_status = seeded.status().borrow().clone();
    let web_bytes = files.bytes_sent();
    let mut verified = true;
    let mut rows = Vec::new();
    let original = std::fs::read(&sample).map_err(|e| io("cannot read", e))?;
    for (i, (_, running, out)) in nodes.iter().enumerate() {
        let s = running.status().borrow().clone();
        let same = std::fs::read(out.join("sample.bin")).is_ok_and(|d| d == original);
        verified &= same;
        let seconds = finished[i].unwrap_or(total);
        rows.push((
            seconds,
            s.uploaded,
            same,
            i >= args.peers - args.webrtc,
            webrtc_peers[i],
        ));
    }
    // What the origin sent (seed and web seed) and what the downloaders sent each other.
    let origin_bytes = origin_status.uploaded + web_bytes;
    let peer_bytes: u64 = rows.iter().map(|r| r.1).sum();
    let downloaded = origin_bytes + peer_bytes;
    let client_server = args.size as f64 * args.peers as f64 / args.origin_rate as f64;
    for (_, running, _) in nodes {
        let _ = running.stop().await;
    }
    let _ = seeded.stop().await;
    if args.json {
        crate::output::emit_json(&json!({
            "peers": args.peers, "size": args.size, "origin_rate": args.origin_rate,
            "peer_rate": args.peer_rate, "seconds": total,
            "downloaders": rows.iter().map(|r| json!({
                "webrtc_only": r.3, "webrtc_peers": r.4, "seconds": r.0, "mb_per_s": args.size as f64 / r.0 / 1e6, "uploaded": r.1,
                "verified": r.2,
            })).collect::<Vec<_>>(),
            "origin_bytes": origin_bytes, "web_seed_bytes": web_bytes,
            "peer_bytes": peer_bytes,
            "origin_fraction": origin_bytes as f64 / downloaded.max(1) as f64,
            "client_server_seconds": client_server, "verified": verified,
        }));
    } else {
        let mut text = String::new();
        let _ = writeln!(
            text,
            "\npeer   links        time (s)   MB/s   uploaded to others (MB)   check"
        );
        for (i, r) in rows.iter().enumerate() {
            let _ = writeln!(
                text,
                "{i:>4}   {:<11}   {:>8.2}   {:>4.1}   {:>23.1}   {}",
                if r.3 { "WebRTC" } else { "TCP+WebRTC" },
                r.0,
                args.size as f64 / r.0 / 1e6,
                r.1 as f64 / 1e6,
                if r.2 { "ok" } else { "MISMATCH" }
            );
        }
        let pct = |b: u64| 100.0 * b as f64 / downloaded.max(1) as f64;
        let _ = writeln!(
            text,
            "\nbytes from the origin: {:.1} MB ({:.0}%: seed {:.1} MB, web seed {:.1} MB)",
            origin_bytes as f64 / 1e6,
            pct(origin_bytes),
            origin_status.uploaded as f64 / 1e6,
            web_bytes as f64 / 1e6
        );
        let _ = writeln!(
            text,
            "bytes from peers:      {:.1} MB ({:.0}%)",
            peer_bytes as f64 / 1e6,
            pct(peer_bytes)
        );
        let _ = writeln!(
            text,
            "all done in {total:.1} s; the origin alone (client-server) would take {client_server:.1} s"
        );
        emit(&text);
    }
    Ok(if verified && finished.iter().all(Option::is_some) {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// Shows progress until every downloader is done (or stalls for a minute); returns when each
/// finished, in seconds from `started`, and the most WebRTC connections each had at once.
async fn follow(
    nodes: &[(Node, Running, PathBuf)],
    started: Instant,
    json: bool,
) -> (Vec<Option<f64>>, Vec<usize>) {
    let mut done: Vec<Option<f64>> = vec![None; nodes.len()];
    let mut webrtc = vec![0; nodes.len()];
    let tty = !json && std::io::stderr().is_terminal();
    let mut last_progress = (crate::clock(), 0u64);
    let mut tick = tokio::time::interval(Duration::from_millis(250));
    let mut lines = 0;
    loop {
        tick.tick().await;
        let mut bytes = 0;
        let mut status = Vec::new();
        for (i, (_, running, _)) in nodes.iter().enumerate() {
            let s = running.status().borrow().clone();
            bytes += s.downloaded;
            webrtc[i] = webrtc[i].max(s.attached_peers);
            if s.finished && done[i].is_none() {
                done[i] = Some(started.elapsed().as_secs_f64());
            }
            status.push(s);
        }
        if tty {
            let mut text = String::new();
            if lines > 0 {
                let _ = write!(text, "\x1b[{lines}A");
            }
            for (i, s) in status.iter().enumerate() {
                let pct = 100.0 * f64::from(s.have) / f64::from(s.pieces.max(1));
                let filled = (pct / 5.0) as usize;
                let _ = writeln!(
                    text,
                    "\x1b[2Kpeer {i:>2} [{}{}] {pct:>5.1}%  {} peers  up {:.1} MB",
                    "=".repeat(filled),
                    " ".repeat(20 - filled.min(20)),
                    s.peers,
                    s.uploaded as f64 / 1e6
                );
            }
            lines = status.len();
            eprint!("{text}");
        }
        if done.iter().all(Option::is_some) {
            return (done, webrtc);
        }
        if bytes > last_progress.1 {
            last_progress = (crate::clock(), bytes);
        } else if last_progress.0.elapsed() > Duration::from_secs(60) {
            return (done, webrtc);
        }
    }
}

/// Deterministic, incompressible-looking bytes.
fn sample_bytes(len: u64) -> Vec<u8> {
    let mut x = 0x9e37_79b9_7f4a_7c15u64;
    let mut out = Vec::with_capacity(usize::try_from(len).unwrap_or(0));
    while (out.len() as u64) < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out.extend_from_slice(&x.to_le_bytes());
    }
    out.truncate(usize::try_from(len).unwrap_or(0));
    out
}
