//! `peercdn tracker`: the embedded tracker on its own.

use std::net::SocketAddr;
use std::process::ExitCode;

use peercdn::tracker_server::{Table, serve_http, serve_udp};
use tracker::server::Config;

use crate::output::{failure, io_message};

/// Arguments of `peercdn tracker`.
#[derive(Debug, clap::Args)]
#[command(
    long_about = "Run a BitTorrent tracker that any client can use: HTTP announces and \
                  scrapes (BEP 3, 23, 7, 48) and UDP (BEP 15), one swarm table for both. \
                  Peers that stop announcing expire after two intervals (10 minutes each).",
    after_long_help = "Examples:\n  \
                       peercdn tracker --http 0.0.0.0:8000\n  \
                       peercdn tracker --http 127.0.0.1:8000 --udp 127.0.0.1:6969\n\
                       Torrents then use http://HOST:8000/announce or udp://HOST:6969/announce."
)]
pub(crate) struct Args {
    /// Serve HTTP announces and scrapes here
    #[arg(long, value_name = "ADDR")]
    http: Option<SocketAddr>,

    /// Serve UDP (BEP 15) here
    #[arg(long, value_name = "ADDR")]
    udp: Option<SocketAddr>,
}

/// Runs `peercdn tracker` until Ctrl-C.
pub(crate) fn run(args: &Args) -> anyhow::Result<ExitCode> {
    let http = match (args.http, args.udp) {
        (None, None) => Some(SocketAddr::from(([0, 0, 0, 0], 8000))),
        (http, _) => http,
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| failure("io_error", format!("cannot start the runtime: {e}")))?;
    runtime.block_on(async {
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
        let _ = tokio::signal::ctrl_c().await;
        Ok(ExitCode::SUCCESS)
    })
}
