//! Small flash crowds through the simulator: every leecher finishes, peers carry most of the
//! load, and a run is a function of its seed.

use std::time::{Duration, Instant};

use sim::{Network, PeerSpec, Sim};

#[expect(clippy::disallowed_methods, reason = "an origin for a virtual clock")]
fn origin() -> Instant {
    Instant::now()
}

fn crowd(n: usize, seed: u64) -> sim::Report {
    let mut peers = vec![PeerSpec::seed(4_000_000)];
    peers.extend((0..n).map(|_| PeerSpec::leecher(Duration::ZERO, 1_000_000, 8_000_000)));
    let mut network = Network::new(4 << 20);
    network.rng_seed = seed;
    Sim::new(network, peers, origin()).run()
}

#[test]
fn every_leecher_finishes_and_peers_upload_most_of_the_bytes() {
    let n = 30;
    let report = crowd(n, 7);
    assert_eq!(report.unfinished, 0);
    assert_eq!(report.download_times.len(), n);
    let seed = report.peers[0].uploaded;
    let peers: u64 = report.peers[1..].iter().map(|p| p.uploaded).sum();
    let downloaded: u64 = report.peers[1..].iter().map(|p| p.downloaded).sum();
    assert!(
        downloaded >= (n as u64) * (4 << 20),
        "everyone got the whole file"
    );
    assert!(
        peers > 2 * seed,
        "the swarm, not the seed, carries the load: {seed} vs {peers}"
    );
    // Faster than the seed alone could serve everyone (client-server: n × size / upload).
    let client_server = n as f64 * f64::from(4u32 << 20) / 4e6;
    assert!(report.quantile(1.0).unwrap() < client_server);
}

#[test]
fn the_same_seed_gives_the_same_report_and_another_seed_may_not() {
    let a = crowd(12, 3);
    let b = crowd(12, 3);
    assert_eq!(a.download_times, b.download_times);
    assert_eq!(a.events, b.events);
    assert_eq!(a.peers, b.peers);
}

#[test]
fn loss_slows_the_crowd_down_but_it_still_completes() {
    let mut peers = vec![PeerSpec::seed(4_000_000)];
    peers.extend((0..10).map(|_| PeerSpec::leecher(Duration::ZERO, 1_000_000, 8_000_000)));
    let clean = Sim::new(Network::new(2 << 20), peers.clone(), origin()).run();
    let mut lossy = Network::new(2 << 20);
    lossy.loss = 0.05;
    let lossy = Sim::new(lossy, peers, origin()).run();
    assert_eq!(lossy.unfinished, 0);
    assert!(lossy.mean_download_time().unwrap() > clean.mean_download_time().unwrap());
}

#[test]
fn origin_mode_lowers_the_origins_bytes() {
    use sim::scenarios::{Common, Origin};
    let result = Origin {
        common: Common {
            file_size: 4 << 20,
            ..Common::default()
        },
        peers: 40,
        arrival_window: Duration::from_secs(30),
    }
    .run(origin());
    let (off, on, sup) = (&result[0], &result[1], &result[2]);
    assert!(!off.origin_mode && on.origin_mode && !on.super_seed && sup.super_seed);
    assert_eq!(
        off.times.unfinished + on.times.unfinished + sup.times.unfinished,
        0,
        "everyone finishes either way"
    );
    assert!(
        on.origin_bytes * 2 < off.origin_bytes,
        "origin mode at least halves the origin's bytes: {} vs {}",
        on.origin_bytes,
        off.origin_bytes
    );
    assert!(
        sup.origin_bytes < on.origin_bytes,
        "super-seeding lowers them further: {} vs {}",
        sup.origin_bytes,
        on.origin_bytes
    );
}

/// When the origin's upload is the swarm's scarce resource (no faster than a peer's), a plain
/// seed sends most pieces several times over; super-seeding sends each about once, and the
/// crowd finishes sooner.
#[test]
fn super_seeding_sends_each_piece_about_once_from_a_scarce_origin() {
    use sim::scenarios::{Common, Origin};
    let size: u64 = 4 << 20;
    let result = Origin {
        common: Common {
            file_size: size,
            // More pieces than peers, so that each peer can be offered its own.
            piece_length: 64 << 10,
            seed_upload: 1_000_000,
            ..Common::default()
        },
        peers: 40,
        arrival_window: Duration::ZERO,
    }
    .run(origin());
    let (plain, sup) = (&result[0], &result[2]);
    assert_eq!(plain.times.unfinished + sup.times.unfinished, 0);
    assert!(
        plain.origin_bytes > 2 * size,
        "a plain seed repeats pieces: {} bytes for a {size}-byte file",
        plain.origin_bytes
    );
    assert!(
        sup.origin_bytes < size + size / 2,
        "super-seeding: {} bytes for a {size}-byte file",
        sup.origin_bytes
    );
    assert!(sup.times.mean < plain.times.mean);
}
