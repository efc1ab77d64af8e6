//! The `peercdn` command: create, inspect and verify torrents; download and seed them; run a
//! tracker; simulate swarms.
//!
//! This binary is the one place in the workspace that does I/O: it reads and writes files,
//! draws progress bars and reads the clock (only for `create --date`). The protocol work is
//! done by the sans-IO `torrent-format` crate.
//!
//! Exit codes: 0 success, 1 failure (a bad torrent, an unreadable file, a verify that found
//! bad pieces), 2 usage error (clap's own code for bad arguments).

mod create;
mod demo;
mod download;
mod format;
mod inspect;
mod output;
mod plot;
mod progress;
mod serve;
mod simulate;
mod tracker_cmd;
mod verify;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Command-line arguments.
#[derive(Debug, Parser)]
#[command(
    name = "peercdn",
    version,
    about = "Peer-to-peer content distribution over BitTorrent and WebTorrent",
    long_about = "Peer-to-peer content distribution over BitTorrent and WebTorrent.\n\n\
                  Create a torrent of a file or folder, inspect a torrent or magnet link, \
                  check data against a torrent, download and seed torrents, and run a \
                  tracker.",
    after_help = "Exit codes: 0 success, 1 failure, 2 usage error.\n\
                  Commands taking --json print exactly one JSON object on stdout, also on \
                  failure ({\"error\": KIND, \"message\": TEXT})."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Show what a .torrent file or magnet link contains
    Inspect(inspect::Args),
    /// Create a .torrent file from a file or folder
    Create(create::Args),
    /// Check data on disk against a .torrent file
    Verify(verify::Args),
    /// Run a whole peer CDN on loopback: origin, tracker, web seed, downloaders
    Demo(demo::Args),
    /// Download a torrent
    Download(download::DownloadArgs),
    /// Check data against a torrent, then seed it
    Seed(download::SeedArgs),
    /// Run a BitTorrent tracker (HTTP and UDP)
    Tracker(tracker_cmd::Args),
    /// Serve a folder as a peer CDN origin: seed, web seed, tracker and a web page
    Serve(serve::Args),
    /// Simulate a swarm of peers on a virtual network
    Simulate(simulate::Args),
}

/// The runtime of the commands that do network I/O: two worker threads (this machine's cores).
fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| output::failure("io_error", format!("cannot start the runtime: {e}")))
}

/// The clock, for the commands that time themselves for the user.
#[expect(
    clippy::disallowed_methods,
    reason = "the commands measure their own durations for the user"
)]
fn clock() -> std::time::Instant {
    std::time::Instant::now()
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let (json, result) = match cli.command {
        Command::Inspect(args) => (args.json, inspect::run(&args)),
        Command::Create(args) => (args.json, create::run(&args)),
        Command::Verify(args) => (args.json, verify::run(&args)),
        Command::Demo(args) => (args.json, demo::run(&args)),
        Command::Download(args) => (args.json, download::download(&args)),
        Command::Seed(args) => (args.json, download::seed(&args)),
        Command::Tracker(args) => (false, tracker_cmd::run(&args)),
        Command::Serve(args) => (args.json, serve::run(&args)),
        Command::Simulate(args) => (args.json, simulate::run(&args)),
    };
    match result {
        Ok(code) => code,
        Err(error) => output::report_error(&error, json),
    }
}
