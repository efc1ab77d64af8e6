//! One rechoke over 10,000 peers.
//!
//! - `choker/round`: `Choker::handle_timeout` at the deadline, then draining its actions: rates
//!   from the byte counters, the views, the slot count, the ranking, the optimistic draw and the
//!   diff, for 10,000 peers of which 7,000 are interested. Round after round on the same
//!   choker, as a swarm runs it; between rounds (untimed) every peer's counters move on by a
//!   different amount, so each round ranks anew.
//! - `rank/select` and `rank/full_sort`: the pure ranking alone over the same 10,000 views, as
//!   the choker does it (a selection of the winners, `select_nth_unstable_by`, libtorrent's
//!   `nth_element`) and as a full sort by the same comparator would (what a client that sorts
//!   every peer each round pays; no published Rust crate offers a choker to compare against).
//! - `slot_count/rate_based`: libtorrent's rate-based slot count over the same views.
//!
//! Every seed mode is timed for `rank/select`, since each compares different keys.

use std::hint::black_box;
use std::time::{Duration, Instant};

use choker::{Choker, Config, PeerKey, PeerView, SeedMode, Slots, Totals};
use criterion::{BatchSize, Criterion, criterion_group, criterion_main};

const PEERS: u32 = 10_000;

#[expect(clippy::disallowed_methods, reason = "an origin for a virtual clock")]
fn origin() -> Instant {
    Instant::now()
}

#[expect(
    clippy::disallowed_methods,
    reason = "a bench times with the wall clock"
)]
fn stopwatch() -> Instant {
    Instant::now()
}

/// A deterministic scramble (SplitMix64's finaliser), so that every run sees the same peers.
fn mix(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// A choker with 10,000 peers that has run a few rounds, and the time of its next round.
fn busy_choker(mode: SeedMode) -> (Choker, Instant) {
    let t0 = origin();
    let mut config = Config {
        seed: 1,
        ..Config::new(4000, 256 * 1024)
    };
    config.policy.seed_mode = mode;
    let mut choker = Choker::new(config, t0);
    for k in 0..PEERS {
        let key = PeerKey(k);
        choker.add_peer(t0, key).unwrap();
        choker
            .set_interested(t0, key, mix(u64::from(k)) & 1 == 0)
            .unwrap();
        choker.handle_interested(t0, key, mix(u64::from(k) + 1) % 10 < 7);
        choker.handle_pieces(key, (mix(u64::from(k) + 2) % 4000) as u32);
    }
    let mut now = t0;
    for round in 1..=3u64 {
        now += Duration::from_secs(10);
        for k in 0..PEERS {
            let r = mix(u64::from(k) * 7 + round);
            let totals = Totals {
                received: round * (r % 200_000),
                sent: round * ((r >> 20) % 500_000),
            };
            choker.handle_transferred(now, PeerKey(k), totals);
        }
        choker.handle_timeout(now);
        while choker.poll_action().is_some() {}
    }
    let next = choker.poll_timeout().unwrap();
    (choker, next)
}

fn views(choker: &Choker, now: Instant) -> Vec<PeerView> {
    (0..PEERS)
        .filter_map(|k| choker.view(PeerKey(k), now))
        .collect()
}

fn bench(c: &mut Criterion) {
    let (mut choker, _) = busy_choker(SeedMode::RoundRobin);
    let mut group = c.benchmark_group("choker");
    group.bench_function("round", |b| {
        b.iter_custom(|iters| {
            let mut timed = Duration::ZERO;
            for _ in 0..iters {
                // Untimed: the clock reaches the deadline and the counters move on, as the
                // swarm's ticks would have reported them.
                let now = choker.poll_timeout().unwrap();
                let round = choker.rounds();
                for k in 0..PEERS {
                    let r = mix(u64::from(k) * 7 + round);
                    let mut totals =
                        choker
                            .view(PeerKey(k), now)
                            .map_or(Totals::default(), |v| Totals {
                                received: 0,
                                sent: v.uploaded,
                            });
                    totals.received = round * (r % 200_000);
                    totals.sent += (r >> 20) % 500_000;
                    choker.handle_transferred(now, PeerKey(k), totals);
                }
                let start = stopwatch();
                choker.handle_timeout(now);
                while let Some(action) = choker.poll_action() {
                    black_box(action);
                }
                timed += start.elapsed();
            }
            timed
        });
    });
    group.finish();

    let mut group = c.benchmark_group("rank");
    for mode in [
        SeedMode::RoundRobin,
        SeedMode::FastestUpload,
        SeedMode::AntiLeech,
        SeedMode::Origin,
    ] {
        let (choker, next) = busy_choker(mode);
        let views = views(&choker, next);
        let policy = choker.config().policy;
        group.bench_function(format!("select/{mode:?}"), |b| {
            b.iter_batched_ref(
                || views.clone(),
                |v| black_box(choker::rank(v, 4, &policy, next)),
                BatchSize::LargeInput,
            );
        });
        if mode == SeedMode::RoundRobin {
            group.bench_function("full_sort/RoundRobin", |b| {
                b.iter_batched_ref(
                    || views.clone(),
                    |v| v.sort_unstable_by(|a, b| choker::compare(a, b, &policy, next)),
                    BatchSize::LargeInput,
                );
            });
            group.bench_function("slot_count/rate_based", |b| {
                b.iter(|| black_box(choker::slot_count(&views, Slots::rate_based())));
            });
        }
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
