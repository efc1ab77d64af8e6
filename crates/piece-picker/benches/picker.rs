//! The picker at scale: 1,000,000 pieces of 256 KiB (16 blocks), 1,000 peers (100 seeds and
//! 900 peers with one piece in eight, at random), rarest first.
//!
//! - `have/ours`, `dont_have/ours`: one `peer_have` (`peer_dont_have`) of a random non-seed
//!   peer for a random piece it lacks (has): an O(1) bucket move. Timed in runs of 4096, each
//!   run undone untimed, so the swarm stays the same. `have/naive` is the lower bound of any
//!   picker: one increment of a plain availability array.
//! - `pick/ours`: one `pick` of 16 blocks (a whole piece) for a random peer: choose the piece,
//!   start it, mark its blocks requested. Timed in runs of 1024 picks, whose requests are then
//!   dropped untimed. `pick/naive` is what a picker without buckets does: scan every piece for
//!   the lowest availability the peer has (one pick per iteration, nothing marked).
//! - `pick_sparse/ours`: the same for a newcomer with 100 pieces, which takes the word-by-word
//!   path (O(pieces / 64)).
//!
//! No crate on crates.io offers a standalone piece picker to compare with (rqbit's lives inside
//! `librqbit` and takes pieces in order); the naive scans stand in for "no data structure".

use std::hint::black_box;
use std::time::Duration;

use criterion::measurement::{Measurement, WallTime};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use piece_picker::{
    Bitfield, BlockRef, Config, Geometry, PeerKey, PickOptions, Picker, PieceIndex,
};

const PIECES: u32 = 1_000_000;
const SEEDS: u32 = 100;
const PEERS: u32 = 1_000;
const BLOCKS: usize = 16;

struct Swarm {
    picker: Picker,
    /// Bitfields of the peers, seeds included (full).
    bits: Vec<Bitfield>,
    rng: u64,
}

impl Swarm {
    fn new() -> Self {
        let geometry = Geometry {
            num_pieces: PIECES,
            piece_length: 256 * 1024,
            last_piece_length: 256 * 1024,
        };
        let config = Config {
            initial_random_pieces: 0,
            ..Config::default()
        };
        let mut s = Self {
            picker: Picker::new(config, geometry).expect("valid geometry"),
            bits: Vec::new(),
            rng: 0x1234_5678,
        };
        for peer in 0..PEERS {
            let bits = if peer < SEEDS {
                s.picker.peer_has_all(PeerKey(peer)).expect("new peer");
                Bitfield::full(PIECES)
            } else {
                // Each bit set with probability 1/8.
                let bytes: Vec<u8> = (0..PIECES / 8)
                    .map(|_| {
                        let r = s.next();
                        (r & (r >> 8) & (r >> 16)) as u8
                    })
                    .collect();
                let bits = Bitfield::from_wire(&bytes, PIECES).expect("exact length");
                s.picker
                    .peer_joined(PeerKey(peer), &bits)
                    .expect("new peer");
                bits
            };
            s.bits.push(bits);
        }
        s
    }

    fn next(&mut self) -> u64 {
        // xorshift64*
        self.rng ^= self.rng >> 12;
        self.rng ^= self.rng << 25;
        self.rng ^= self.rng >> 27;
        self.rng.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: u32) -> u32 {
        (((self.next() >> 32) * u64::from(n)) >> 32) as u32
    }

    /// `count` random (non-seed peer, piece) pairs where the peer has the piece iff `has`.
    fn pairs(&mut self, count: usize, has: bool) -> Vec<(PeerKey, PieceIndex)> {
        let mut out = Vec::with_capacity(count);
        while out.len() < count {
            let peer = SEEDS + self.below(PEERS - SEEDS);
            let piece = PieceIndex(self.below(PIECES));
            if self.bits[peer as usize].has(piece) == has {
                out.push((PeerKey(peer), piece));
            }
        }
        out
    }
}

fn have(c: &mut Criterion) {
    let mut s = Swarm::new();
    let lacking = s.pairs(1 << 20, false);
    let held = s.pairs(1 << 20, true);
    let mut g = c.benchmark_group("have");
    g.throughput(Throughput::Elements(1));
    let mut at = 0;
    g.bench_function("ours", |b| {
        b.iter_custom(|iters| {
            runs(iters, 4096, |n| {
                let run = cycle(&lacking, &mut at, n);
                let start = WallTime.start();
                for &(peer, piece) in &run {
                    s.picker.peer_have(peer, piece).expect("known peer");
                }
                let t = WallTime.end(start);
                for &(peer, piece) in &run {
                    s.picker.peer_dont_have(peer, piece).expect("just had");
                }
                t
            })
        });
    });
    let mut naive = vec![0u32; PIECES as usize];
    g.bench_function("naive", |b| {
        b.iter_custom(|iters| {
            runs(iters, 4096, |n| {
                let run = cycle(&lacking, &mut at, n);
                let start = WallTime.start();
                for &(_, piece) in &run {
                    naive[piece.0 as usize] += 1;
                }
                black_box(&naive);
                WallTime.end(start)
            })
        });
    });
    g.finish();
    let mut g = c.benchmark_group("dont_have");
    g.throughput(Throughput::Elements(1));
    g.bench_function("ours", |b| {
        b.iter_custom(|iters| {
            runs(iters, 4096, |n| {
                let run = cycle(&held, &mut at, n);
                let start = WallTime.start();
                for &(peer, piece) in &run {
                    s.picker.peer_dont_have(peer, piece).expect("has it");
                }
                let t = WallTime.end(start);
                for &(peer, piece) in &run {
                    s.picker.peer_have(peer, piece).expect("known peer");
                }
                t
            })
        });
    });
    g.finish();
    assert!(s.picker.num_in_progress() == 0);
}

fn pick(c: &mut Criterion) {
    let mut s = Swarm::new();
    let mut g = c.benchmark_group("pick");
    g.throughput(Throughput::Elements(1));
    let peers: Vec<u32> = (0..1 << 16).map(|_| s.below(PEERS)).collect();
    let mut at = 0;
    let mut out: Vec<BlockRef> = Vec::with_capacity(1024 * BLOCKS);
    let none = PickOptions::default();
    g.bench_function("ours", |b| {
        b.iter_custom(|iters| {
            runs(iters, 1024, |n| {
                let run = cycle(&peers, &mut at, n);
                out.clear();
                let start = WallTime.start();
                for &peer in &run {
                    let bits = &s.bits[peer as usize];
                    s.picker
                        .pick(PeerKey(peer), bits, BLOCKS, &none, &mut out)
                        .expect("known peer");
                }
                let t = WallTime.end(start);
                assert_eq!(out.len(), run.len() * BLOCKS);
                for (i, block) in out.iter().enumerate() {
                    let peer = PeerKey(run[i / BLOCKS]);
                    s.picker.request_dropped(peer, *block).expect("picked");
                }
                t
            })
        });
    });
    // Availability, verified and in-progress flags as plain arrays: a scan per pick.
    let avail: Vec<u32> = (0..PIECES)
        .map(|p| s.picker.availability(PieceIndex(p)))
        .collect();
    let busy = vec![false; PIECES as usize];
    let have = vec![false; PIECES as usize];
    g.bench_function("naive", |b| {
        let mut i = 0;
        b.iter(|| {
            let peer = peers[i % peers.len()] as usize;
            i += 1;
            let bits = &s.bits[peer];
            let best = (0..PIECES)
                .filter(|&p| !have[p as usize] && !busy[p as usize] && bits.has(PieceIndex(p)))
                .min_by_key(|&p| avail[p as usize]);
            black_box(best)
        });
    });
    g.finish();

    let mut g = c.benchmark_group("pick_sparse");
    g.throughput(Throughput::Elements(1));
    let mut newcomer = Bitfield::new(PIECES);
    while newcomer.count() < 100 {
        newcomer.insert(PieceIndex(s.below(PIECES)));
    }
    let key = PeerKey(PEERS);
    s.picker.peer_joined(key, &newcomer).expect("new peer");
    g.bench_function("ours", |b| {
        b.iter_custom(|iters| {
            runs(iters, 64, |n| {
                out.clear();
                let start = WallTime.start();
                for _ in 0..n {
                    s.picker
                        .pick(key, &newcomer, BLOCKS, &none, &mut out)
                        .expect("known peer");
                }
                let t = WallTime.end(start);
                assert_eq!(out.len(), n * BLOCKS);
                for block in &out {
                    s.picker.request_dropped(key, *block).expect("picked");
                }
                t
            })
        });
    });
    g.finish();
}

/// Runs `iters` iterations in runs of at most `run`, summing what each run measures.
fn runs(iters: u64, run: u64, mut f: impl FnMut(usize) -> Duration) -> Duration {
    let mut total = Duration::ZERO;
    let mut left = iters;
    while left > 0 {
        let n = left.min(run);
        total += f(n as usize);
        left -= n;
    }
    total
}

/// The next `n` items of `items`, wrapping around.
fn cycle<T: Copy>(items: &[T], at: &mut usize, n: usize) -> Vec<T> {
    let run = (0..n).map(|i| items[(*at + i) % items.len()]).collect();
    *at = (*at + n) % items.len();
    run
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .sample_size(30);
    targets = have, pick
}
criterion_main!(benches);
