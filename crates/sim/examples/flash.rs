//! Quick timing of a flash crowd: `cargo run --release -p sim --example flash -- PEERS [FILE_SIZE]`.
use sim::{Network, PeerSpec, Sim};
use std::time::{Duration, Instant};

#[expect(
    clippy::disallowed_methods,
    reason = "an example measures its own speed"
)]
fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(100);
    let mut peers = vec![PeerSpec::seed(10_000_000)];
    peers.extend((0..n).map(|_| PeerSpec::leecher(Duration::ZERO, 1_000_000, 10_000_000)));
    let size: u64 = std::env::args()
        .nth(2)
        .and_then(|a| a.parse().ok())
        .unwrap_or(16 << 20);
    let network = Network::new(size);
    let wall = Instant::now();
    let report = Sim::new(network, peers, Instant::now()).run();
    let took = wall.elapsed();
    println!(
        "{n} peers: simulated {:.1} s in {:.2} s ({:.0}x real time), {} events, mean {:.1} s, max {:.1} s, unfinished {}",
        report.elapsed.as_secs_f64(),
        took.as_secs_f64(),
        report.elapsed.as_secs_f64() / took.as_secs_f64(),
        report.events,
        report.mean_download_time().unwrap_or(f64::NAN),
        report.quantile(1.0).unwrap_or(f64::NAN),
        report.unfinished
    );
    let seed_up = report.peers[0].uploaded;
    let peers_up: u64 = report.peers[1..].iter().map(|p| p.uploaded).sum();
    println!("seed uploaded {seed_up}, peers uploaded {peers_up}");
}
