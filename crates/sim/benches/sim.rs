//! Simulator speed: a whole flash crowd per iteration, the real engine in every peer.
//!
//! - `flash_crowd/N`: N leechers (1 MB/s up, 10 MB/s down, 20 ms) and one 10 MB/s seed, all
//!   arriving at once for a 4 MiB file in 256 KiB pieces, run until every leecher has it.
//!
//! Before timing, each size is run once and its speed printed as simulated seconds per wall
//! second ("× real time"), with the number of events: the figure the target is
//! stated in. No other simulator runs a real BitTorrent engine per peer in one process to
//! compare against (libtorrent's simulator drives whole libtorrent sessions over a simulated
//! asio, one process per scenario, far slower than real time at this size).

use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use sim::{Network, PeerSpec, Sim};

#[expect(
    clippy::disallowed_methods,
    reason = "a bench times with the wall clock, and needs an origin for the virtual one"
)]
fn now() -> Instant {
    Instant::now()
}

fn crowd(n: usize) -> Sim {
    let mut peers = vec![PeerSpec::seed(10_000_000)];
    peers.extend((0..n).map(|_| PeerSpec::leecher(Duration::ZERO, 1_000_000, 10_000_000)));
    Sim::new(Network::new(4 << 20), peers, now())
}

fn flash_crowd(c: &mut Criterion) {
    let mut group = c.benchmark_group("flash_crowd");
    group.sample_size(10);
    for n in [100, 1000] {
        let wall = now();
        let report = crowd(n).run();
        let took = wall.elapsed().as_secs_f64();
        assert_eq!(report.unfinished, 0);
        println!(
            "flash_crowd/{n}: {:.1} simulated s in {took:.2} wall s = {:.1}x real time, {} events ({:.2} us each)",
            report.elapsed.as_secs_f64(),
            report.elapsed.as_secs_f64() / took,
            report.events,
            took * 1e6 / report.events as f64
        );
        group.bench_function(n.to_string(), |b| b.iter(|| crowd(n).run()));
    }
    group.finish();
}

criterion_group!(benches, flash_crowd);
criterion_main!(benches);
