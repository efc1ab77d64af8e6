//! `peercdn tracker`: the embedded tracker on its own.

use std::net::SocketAddr;
use std::process::ExitCode;

use peercdn::tracker_server::{Table, serve_http, serve_udp, serve_ws};
use tracker::server::Config;

use crate::output::{failure, io_message};

/// Arguments of `peercdn tracker`.
#[derive(Debug, clap::Args)]
#[command(
    long_about = "Run a BitTorrent tracker that any client can use: HTTP announces and \
                  scrapes (BEP 3, 23, 7, 48), UDP (BEP 15), and WebTorrent's WebSocket \
                  tracker (announces, and WebRTC offers and answers relayed between peers), \
                  one swarm table for all. Peers that stop announcing expire after two \
                  intervals (10 minutes each; 2 minutes over WebSocket).",
    after_long_help = "Examples:\n  \
                       peercdn tracker --http 0.0.0.0:8000\n  \
                       peercdn tracker --http 127.0.0.1:8000 --udp 127.0.0.1:6969 --ws 127.0.0.1:8001\n\
                       Torrents then use http://HOST:8000/announce, udp://HOST:6969/announce or \
                       ws://HOST:8001."
)]
pub(crate) struct Args {
    /// Serve HTTP announces and scrapes here
    #[arg(long, value_name = "ADDR")]
    http: Option<SocketAddr>,

    /// Serve UDP (BEP 15) here
    #[arg(long, value_name = "ADDR")]
    udp: Option<SocketAddr>,

    /// Serve WebTorrent's WebSocket tracker here
    #[arg(long, value_name = "ADDR")]
    ws: Option<SocketAddr>,
}

/// Runs `peercdn tracker` until Ctrl-C.
pub(crate) fn run(args: &Args) -> anyhow::Result<ExitCode> {
    let http = match (args.http, args.udp, args.ws) {
        (None, None, None) => Some(SocketAddr::from(([0, 0, 0, 0], 8000))),
        (http, _, _) => http,
    };
    crate::runtime()?.block_on(async {
        let table = Table::new(Config {
            rng_seed: u64::from_le_bytes(peercdn::client::random_bytes::<8>()),
            ..Config::default()
        });
        tokio::spawn(table.clone().expire());
        if let Some(addr) = http {
            let listener = tokio::net::TcpListener::bind(addr).await.map_err(|e| {
                failure(
                    "io_error",
                    format!("cannot listen on {addr}: {}", io_message(&e)),
                )
            })?;
            let bound = listener.local_addr().unwrap_or(addr);
            eprintln!("HTTP tracker: http://{bound}/announce");
            tokio::spawn(serve_http(listener, table.clone()));
        }
        if let Some(addr) = args.udp {
            let socket = tokio::net::UdpSocket::bind(addr).await.map_err(|e| {
                failure(
                    "io_error",
                    format!("cannot bind {addr}: {}", io_message(&e)),
                )
            })?;
            let bound = socket.local_addr().unwrap_or(addr);
            eprintln!("UDP tracker: udp://{bound}/announce");
            tokio::spawn(serve_udp(
                socket,
                table.clone(),
                peercdn::client::random_bytes::<16>(),
            ));
        }
        if let Some(addr) = args.ws {
            let listener = tokio::net::TcpListener::bind(addr).await.map_err(|e| {
                failure(
                    "io_error",
                    format!("cannot listen on {addr}: {}", io_message(&e)),
                )
            })?;
            let bound = listener.local_addr().unwrap_or(addr);
            eprintln!("WebSocket tracker: ws://{bound}");
            tokio::spawn(serve_ws(listener, table.clone()));
        }
        let _ = tokio::signal::ctrl_c().await;
        Ok(ExitCode::SUCCESS)
    })
}
