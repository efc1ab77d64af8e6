//! The scenarios of `peercdn simulate`: each builds a [`Network`] and its peers from a few
//! parameters, runs it, and reduces the [`Report`] to the figures the scenario is about.
//!
//! Rates are in bytes per second and peers per second, sizes in bytes, times in seconds.

use std::time::{Duration, Instant};

use crate::rng::Rng;
use crate::{Network, PeerSpec, PieceOrder, Report, Sim};

/// Parameters every scenario shares.
#[derive(Clone, Debug, PartialEq)]
pub struct Common {
    /// Size of the file.
    pub file_size: u64,
    /// Piece length.
    pub piece_length: u64,
    /// Leechers' upload rate.
    pub upload: u64,
    /// Leechers' download rate.
    pub download: u64,
    /// The seeds' (origin's) upload rate.
    pub seed_upload: u64,
    /// One-way latency of every peer to the network's core.
    pub latency: Duration,
    /// Probability that a message is lost once.
    pub loss: f64,
    /// Seed of every random choice.
    pub rng_seed: u64,
    /// Longest simulated time.
    pub max_time: Duration,
}

impl Default for Common {
    fn default() -> Self {
        Self {
            file_size: 16 << 20,
            piece_length: 256 << 10,
            upload: 1_000_000,
            download: 10_000_000,
            seed_upload: 10_000_000,
            latency: Duration::from_millis(20),
            loss: 0.0,
            rng_seed: 1,
            max_time: Duration::from_secs(3600),
        }
    }
}

impl Common {
    fn network(&self) -> Network {
        let mut n = Network::new(self.file_size);
        n.piece_length = self.piece_length;
        n.loss = self.loss;
        n.rng_seed = self.rng_seed;
        n.max_time = self.max_time;
        n
    }

    fn leecher(&self, arrive: Duration) -> PeerSpec {
        PeerSpec {
            latency: self.latency,
            ..PeerSpec::leecher(arrive, self.upload, self.download)
        }
    }

    fn origin(&self) -> PeerSpec {
        PeerSpec {
            latency: self.latency,
            origin: true,
            ..PeerSpec::seed(self.seed_upload)
        }
    }
}

/// Summary of download times, in seconds.
#[derive(Clone, Debug, PartialEq)]
pub struct Times {
    /// Peers that finished.
    pub finished: usize,
    /// Peers that did not.
    pub unfinished: usize,
    /// Mean.
    pub mean: f64,
    /// Median.
    pub p50: f64,
    /// 90th percentile.
    pub p90: f64,
    /// Slowest.
    pub max: f64,
    /// Every download time, sorted.
    pub all: Vec<f64>,
}

impl Times {
    fn of(report: &Report) -> Self {
        Self::new(report.download_times.clone(), report.unfinished)
    }

    /// From download times in any order, and a count of peers that did not finish.
    fn new(mut all: Vec<f64>, unfinished: usize) -> Self {
        all.sort_by(f64::total_cmp);
        let quantile = |q: f64| {
            let n = all.len();
            if n == 0 {
                f64::NAN
            } else {
                all[((n - 1) as f64 * q).round() as usize]
            }
        };
        Self {
            finished: all.len(),
            unfinished,
            mean: all.iter().sum::<f64>() / all.len() as f64,
            p50: quantile(0.5),
            p90: quantile(0.9),
            max: quantile(1.0),
            all,
        }
    }
}

/// `flash-crowd`: every leecher arrives at once.
#[derive(Clone, Debug, PartialEq)]
pub struct FlashCrowd {
    /// Shared parameters.
    pub common: Common,
    /// Leechers.
    pub peers: usize,
    /// Seeds (origins) present from the start.
    pub seeds: usize,
}

/// What a flash crowd measured.
#[derive(Clone, Debug, PartialEq)]
pub struct FlashCrowdResult {
    /// Download times.
    pub times: Times,
    /// Every leecher's download time, sorted.
    pub download_times: Vec<f64>,
    /// Payload bytes the seeds uploaded.
    pub origin_bytes: u64,
    /// Payload bytes the leechers uploaded.
    pub peer_bytes: u64,
    /// How long the seeds alone would take to serve every leecher (client-server):
    /// `max(peers × size / (seeds × seed upload), size / download)`.
    pub client_server_time: f64,
    /// Simulated time, wall time and events of the run.
    pub run: RunStats,
}

/// How the run went as a computation.
#[derive(Clone, Debug, PartialEq)]
pub struct RunStats {
    /// Simulated seconds.
    pub simulated: f64,
    /// Events processed.
    pub events: u64,
}

impl FlashCrowd {
    /// Runs it; `start` is the virtual clock's origin.
    pub fn run(&self, start: Instant) -> FlashCrowdResult {
        let c = &self.common;
        let mut specs: Vec<PeerSpec> = (0..self.seeds).map(|_| c.origin()).collect();
        specs.extend((0..self.peers).map(|_| c.leecher(Duration::ZERO)));
        let report = Sim::new(c.network(), specs, start).run();
        let origin_bytes = report.peers[..self.seeds].iter().map(|p| p.uploaded).sum();
        let peer_bytes = report.peers[self.seeds..].iter().map(|p| p.uploaded).sum();
        let size = c.file_size as f64;
        let client_server_time = (self.peers as f64 * size
            / (self.seeds.max(1) as f64 * c.seed_upload as f64))
            .max(size / c.download as f64);
        FlashCrowdResult {
            times: Times::of(&report),
            download_times: report.download_times.clone(),
            origin_bytes,
            peer_bytes,
            client_server_time,
            run: RunStats {
                simulated: report.elapsed.as_secs_f64(),
                events: report.events,
            },
        }
    }
}

/// `steady`: Poisson arrivals, seeds leaving at a rate, against the fluid model of Qiu and
/// Srikant ("Modeling and performance analysis of BitTorrent-like peer-to-peer networks",
/// SIGCOMM 2004).
#[derive(Clone, Debug, PartialEq)]
pub struct Steady {
    /// Shared parameters (`upload` is the model's μ × size, `download` its c × size; the
    /// origin uploads at `upload` too, `seed_upload` is not used).
    pub common: Common,
    /// λ: new peers per second.
    pub arrival_rate: f64,
    /// γ: rate at which a seed leaves (1 / mean seeding time), per second.
    pub seed_leave_rate: f64,
    /// Simulated time; the first fifth is a warm-up left out of the averages.
    pub duration: Duration,
}

/// What a steady-state run measured, beside the model's prediction.
#[derive(Clone, Debug, PartialEq)]
pub struct SteadyResult {
    /// Mean download time of peers that arrived after the warm-up and finished.
    pub mean_download_time: f64,
    /// The model's T.
    pub model_download_time: f64,
    /// Time-averaged number of downloaders after the warm-up.
    pub mean_downloaders: f64,
    /// The model's x̄ = λ T.
    pub model_downloaders: f64,
    /// Time-averaged number of seeds after the warm-up (the origin excluded).
    pub mean_seeds: f64,
    /// The model's ȳ = λ / γ.
    pub model_seeds: f64,
    /// Share of the time their uplinks were busy, over every peer that arrived after the
    /// warm-up: while downloading (the model's η, if upload is the bottleneck), and while
    /// seeding.
    pub upload_use: [f64; 2],
    /// (arrival, download time) of every peer that arrived after the warm-up and finished, in
    /// seconds.
    pub downloads: Vec<(f64, f64)>,
    /// Peers that arrived, and that finished.
    pub arrived: usize,
    /// See `arrived`.
    pub finished: usize,
    /// The run.
    pub run: RunStats,
}

/// The steady state of the Qiu–Srikant fluid model with no aborts (θ = 0): returns
/// (T, x̄, ȳ). `upload` and `download` in bytes per second become μ and c in files per second;
/// η, the effectiveness of file sharing, is close to 1 when files have many pieces.
pub fn fluid_model(
    arrival_rate: f64,
    upload: f64,
    download: f64,
    seed_leave_rate: f64,
    file_size: f64,
    eta: f64,
) -> (f64, f64, f64) {
    let mu = upload / file_size;
    let c = download / file_size;
    // 1/ν = max(1/c, (1/η)(1/μ − 1/γ)).
    let t = (1.0 / c).max((1.0 / mu - 1.0 / seed_leave_rate) / eta);
    (t, arrival_rate * t, arrival_rate / seed_leave_rate)
}

impl Steady {
    /// Runs it; `start` is the virtual clock's origin.
    pub fn run(&self, start: Instant) -> SteadyResult {
        let c = &self.common;
        let mut rng = Rng::new(c.rng_seed ^ 0x57ea_d1e5);
        // One origin seed keeps the content available (the model's swarm never dies out). It
        // uploads at the peers' rate, so that it is one more seed of the model, not an extra
        // server beside it.
        let mut specs = vec![PeerSpec {
            upload: c.upload,
            ..c.origin()
        }];
        let mut t = 0.0;
        let end = self.duration.as_secs_f64();
        loop {
            t += rng.exponential(self.arrival_rate);
            if t >= end {
                break;
            }
            let linger = Duration::from_secs_f64(rng.exponential(self.seed_leave_rate));
            specs.push(PeerSpec {
                linger: Some(linger),
                ..c.leecher(Duration::from_secs_f64(t))
            });
        }
        let mut network = c.network();
        network.max_time = self.duration;
        let report = Sim::new(network, specs.clone(), start).run();
        let warmup = end / 5.0;
        let (mut downloading, mut seeding) = (0.0, 0.0);
        let mut times = Vec::new();
        let mut downloads = Vec::new();
        let (mut busy, mut online) = ([0.0; 2], [0.0; 2]);
        for p in report.peers.iter().skip(1) {
            let arrive = p.arrive.as_secs_f64();
            let left = p.left.map_or(end, |l| l.as_secs_f64()).min(end);
            let finish = p.finish.map_or(left, |f| f.as_secs_f64()).min(left);
            downloading += overlap(arrive, finish, warmup, end);
            seeding += overlap(finish, left, warmup, end);
            if arrive >= warmup {
                busy[0] += p.upload_busy[0].as_secs_f64();
                busy[1] += p.upload_busy[1].as_secs_f64();
                online[0] += finish - arrive;
                online[1] += left - finish;
            }
            if arrive >= warmup
                && let Some(f) = p.finish
            {
                times.push(f.as_secs_f64() - arrive);
                downloads.push((arrive, f.as_secs_f64() - arrive));
            }
        }
        let span = end - warmup;
        let (model_t, model_x, model_y) = fluid_model(
            self.arrival_rate,
            c.upload as f64,
            c.download as f64,
            self.seed_leave_rate,
            c.file_size as f64,
            1.0,
        );
        SteadyResult {
            mean_download_time: times.iter().sum::<f64>() / times.len().max(1) as f64,
            model_download_time: model_t,
            mean_downloaders: downloading / span,
            model_downloaders: model_x,
            mean_seeds: seeding / span,
            model_seeds: model_y,
            upload_use: [0, 1].map(|k| busy[k] / online[k].max(f64::MIN_POSITIVE)),
            downloads,
            arrived: specs.len() - 1,
            finished: report.download_times.len(),
            run: RunStats {
                simulated: report.elapsed.as_secs_f64(),
                events: report.events,
            },
        }
    }
}

/// Length of `[a, b]` inside `[lo, hi]`.
fn overlap(a: f64, b: f64, lo: f64, hi: f64) -> f64 {
    (b.min(hi) - a.max(lo)).max(0.0)
}

/// `free-rider`: a share of the leechers never uploads.
#[derive(Clone, Debug, PartialEq)]
pub struct FreeRider {
    /// Shared parameters.
    pub common: Common,
    /// Leechers.
    pub peers: usize,
    /// Share of them (0 to 1) that never upload.
    pub free_riders: f64,
}

/// Download times of free riders and of contributors.
#[derive(Clone, Debug, PartialEq)]
pub struct FreeRiderResult {
    /// Contributors' download times.
    pub contributors: Times,
    /// Free riders' download times.
    pub free_riders: Times,
    /// The run.
    pub run: RunStats,
}

impl FreeRider {
    /// Runs it; `start` is the virtual clock's origin.
    pub fn run(&self, start: Instant) -> FreeRiderResult {
        let c = &self.common;
        let riders = ((self.peers as f64) * self.free_riders.clamp(0.0, 1.0)).round() as usize;
        // Which peers ride for free is drawn at random: the first peers to connect get the
        // seed's first turns, and giving those to the free riders would flatter them.
        let mut rng = Rng::new(c.rng_seed ^ 0x0f4e_e41d);
        let mut order: Vec<usize> = (0..self.peers).collect();
        for i in (1..order.len()).rev() {
            order.swap(i, rng.below(i + 1));
        }
        let riding: std::collections::BTreeSet<usize> = order[..riders].iter().copied().collect();
        let mut specs = vec![c.origin()];
        specs.extend((0..self.peers).map(|i| PeerSpec {
            free_rider: riding.contains(&i),
            ..c.leecher(Duration::ZERO)
        }));
        let report = Sim::new(c.network(), specs.clone(), start).run();
        let subset = |riding: bool| {
            let group = report
                .peers
                .iter()
                .zip(&specs)
                .filter(|(_, s)| !s.seed && s.free_rider == riding);
            let times = group
                .clone()
                .filter_map(|(p, _)| p.finish.map(|f| (f - p.arrive).as_secs_f64()));
            let unfinished = group.filter(|(p, _)| p.finish.is_none()).count();
            Times::new(times.collect(), unfinished)
        };
        FreeRiderResult {
            contributors: subset(false),
            free_riders: subset(true),
            run: RunStats {
                simulated: report.elapsed.as_secs_f64(),
                events: report.events,
            },
        }
    }
}

/// `piece-order`: the same flash crowd with rarest first, random and sequential picking.
#[derive(Clone, Debug, PartialEq)]
pub struct PieceOrderRun {
    /// Shared parameters.
    pub common: Common,
    /// Leechers.
    pub peers: usize,
}

/// One piece order's outcome.
#[derive(Clone, Debug, PartialEq)]
pub struct OrderResult {
    /// The order.
    pub order: PieceOrder,
    /// Download times.
    pub times: Times,
    /// Peers that finished more than 50% later than the median: those left waiting for the
    /// last pieces.
    pub stragglers: usize,
    /// The run.
    pub run: RunStats,
}

impl PieceOrderRun {
    /// Runs the three orders; `start` is the virtual clock's origin.
    pub fn run(&self, start: Instant) -> Vec<OrderResult> {
        [
            PieceOrder::RarestFirst,
            PieceOrder::Random,
            PieceOrder::Sequential,
        ]
        .into_iter()
        .map(|order| {
            let c = &self.common;
            let mut specs = vec![c.origin()];
            specs.extend((0..self.peers).map(|_| c.leecher(Duration::ZERO)));
            let mut network = c.network();
            network.piece_order = order;
            let report = Sim::new(network, specs, start).run();
            let times = Times::of(&report);
            let stragglers = report
                .download_times
                .iter()
                .filter(|&&t| t > 1.5 * times.p50)
                .count()
                + report.unfinished;
            OrderResult {
                order,
                times,
                stragglers,
                run: RunStats {
                    simulated: report.elapsed.as_secs_f64(),
                    events: report.events,
                },
            }
        })
        .collect()
    }
}

/// `origin`: a peer CDN origin and peers arriving over time, with and without origin mode.
#[derive(Clone, Debug, PartialEq)]
pub struct Origin {
    /// Shared parameters (`seed_upload` is the origin's).
    pub common: Common,
    /// Peers arriving.
    pub peers: usize,
    /// They arrive uniformly at random over this long.
    pub arrival_window: Duration,
}

/// The origin's share of the bytes, one run per choking mode.
#[derive(Clone, Debug, PartialEq)]
pub struct OriginResult {
    /// Whether the origin used the choker's origin mode.
    pub origin_mode: bool,
    /// Whether it super-seeded (BEP 16).
    pub super_seed: bool,
    /// Payload bytes the origin uploaded.
    pub origin_bytes: u64,
    /// Payload bytes the peers uploaded.
    pub peer_bytes: u64,
    /// `origin_bytes / (origin_bytes + peer_bytes)`.
    pub origin_fraction: f64,
    /// Download times.
    pub times: Times,
    /// The run.
    pub run: RunStats,
}

impl Origin {
    /// Runs without origin mode, with it, and with it and super-seeding; `start` is the virtual
    /// clock's origin.
    pub fn run(&self, start: Instant) -> Vec<OriginResult> {
        let c = &self.common;
        let mut rng = Rng::new(c.rng_seed ^ 0x0419_1e55);
        let mut specs = vec![c.origin()];
        let window = self.arrival_window.as_secs_f64();
        let mut arrivals: Vec<f64> = (0..self.peers).map(|_| rng.unit() * window).collect();
        arrivals.sort_by(f64::total_cmp);
        specs.extend(
            arrivals
                .into_iter()
                .map(|t| c.leecher(Duration::from_secs_f64(t))),
        );
        [(false, false), (true, false), (true, true)]
            .into_iter()
            .map(|(origin_mode, super_seed)| {
                let mut network = c.network();
                network.origin_mode = origin_mode;
                network.super_seed = super_seed;
                let report = Sim::new(network, specs.clone(), start).run();
                let origin_bytes = report.peers[0].uploaded;
                let peer_bytes: u64 = report.peers[1..].iter().map(|p| p.uploaded).sum();
                OriginResult {
                    origin_mode,
                    super_seed,
                    origin_bytes,
                    peer_bytes,
                    origin_fraction: origin_bytes as f64
                        / (origin_bytes + peer_bytes).max(1) as f64,
                    times: Times::of(&report),
                    run: RunStats {
                        simulated: report.elapsed.as_secs_f64(),
                        events: report.events,
                    },
                }
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fluid_model_matches_its_two_regimes() {
        // Upload-constrained: T = (1/η)(1/μ − 1/γ). Size 1, μ = 0.01, γ = 0.02, c = 1.
        let (t, x, y) = fluid_model(0.5, 0.01, 1.0, 0.02, 1.0, 1.0);
        assert!((t - 50.0).abs() < 1e-9);
        assert!((x - 25.0).abs() < 1e-9 && (y - 25.0).abs() < 1e-9);
        // Download-constrained: seeds stay long enough that T = 1/c.
        let (t, _, _) = fluid_model(0.5, 0.5, 0.1, 0.001, 1.0, 1.0);
        assert!((t - 10.0).abs() < 1e-9);
    }

    #[test]
    fn overlap_clips_to_the_window() {
        assert_eq!(overlap(0.0, 10.0, 5.0, 20.0), 5.0);
        assert_eq!(overlap(30.0, 40.0, 5.0, 20.0), 0.0);
    }
}
