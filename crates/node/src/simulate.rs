//! `peercdn simulate`: swarms of real engines on a simulated network (the `sim` crate).

use std::fmt::Write as _;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use sim::scenarios::{
    Common, FlashCrowd, FreeRider, OrderResult, Origin, PieceOrderRun, RunStats, Steady, Times,
};

use crate::output::{emit, emit_json, failure, io_failure};
use crate::plot::{Chart, PALETTE, Series};

/// Arguments of `peercdn simulate`.
#[derive(Debug, clap::Args)]
#[command(
    long_about = "Run a swarm of peers, each the real BitTorrent engine of this program, on a \
                  simulated network with a virtual clock: per-peer upload and download rates, \
                  latency and loss. Runs are deterministic: the same --rng-seed gives the same \
                  output. Rates are in bytes per second, sizes in bytes, times in seconds.",
    after_long_help = "Examples:\n  \
                       peercdn simulate flash-crowd --peers 200 --seeds 1\n  \
                       peercdn simulate steady --arrival-rate 0.25 --upload-rate 800000 \\\n      \
                       --download-rate 4000000 --seed-leave-rate 0.05 --file-size 67108864 --duration 1600\n  \
                       peercdn simulate free-rider --peers 100 --free-riders 0.2\n  \
                       peercdn simulate piece-order --peers 100\n  \
                       peercdn simulate origin --peers 200 --arrival-window 120"
)]
pub(crate) struct Args {
    #[command(subcommand)]
    scenario: Scenario,

    /// Print one JSON object (parameters and results) instead of text
    #[arg(long, global = true)]
    pub(crate) json: bool,

    /// Also draw the scenario's figure into this PNG file: completion time against the number
    /// of peers (flash-crowd, which then also runs 1/8, 1/4 and 1/2 of --peers), download time
    /// against arrival beside the model (steady), or the share of peers finished over time
    /// (free-rider, piece-order, origin)
    #[arg(long, global = true, value_name = "FILE.png")]
    plot: Option<std::path::PathBuf>,
}

#[derive(Debug, clap::Subcommand)]
enum Scenario {
    /// Every peer arrives at once; beside it, the time a client-server origin would take
    FlashCrowd {
        /// Leechers
        #[arg(long, default_value_t = 100)]
        peers: usize,
        /// Seeds (origins) present from the start
        #[arg(long, default_value_t = 1)]
        seeds: usize,
        #[command(flatten)]
        common: CommonArgs,
    },
    /// Poisson arrivals and departing seeds, beside the Qiu & Srikant fluid model. The model is
    /// a fluid: it applies when a download lasts long against a newcomer's first second or so
    /// with nothing to share (a minute or more), and to a run long enough to average over many
    /// downloads
    Steady {
        /// New peers per second (λ)
        #[arg(long)]
        arrival_rate: f64,
        /// Rate at which a seed leaves, per second (γ; mean seeding time 1/γ)
        #[arg(long)]
        seed_leave_rate: f64,
        #[command(flatten)]
        common: CommonArgs,
    },
    /// A share of the peers never uploads
    FreeRider {
        /// Leechers
        #[arg(long, default_value_t = 100)]
        peers: usize,
        /// Share of them (0 to 1) that never upload
        #[arg(long, default_value_t = 0.2)]
        free_riders: f64,
        #[command(flatten)]
        common: CommonArgs,
    },
    /// Rarest first, random and sequential picking on the same flash crowd
    PieceOrder {
        /// Leechers
        #[arg(long, default_value_t = 100)]
        peers: usize,
        #[command(flatten)]
        common: CommonArgs,
    },
    /// A peer CDN origin and peers arriving over time, with and without origin mode
    Origin {
        /// Peers arriving
        #[arg(long, default_value_t = 100)]
        peers: usize,
        /// They arrive uniformly at random over this many seconds
        #[arg(long, default_value_t = 60.0)]
        arrival_window: f64,
        #[command(flatten)]
        common: CommonArgs,
    },
}

#[derive(Debug, clap::Args)]
struct CommonArgs {
    /// File size, bytes
    #[arg(long, default_value_t = 16 << 20)]
    file_size: u64,
    /// Piece length, bytes
    #[arg(long, default_value_t = 256 << 10)]
    piece_size: u64,
    /// Each peer's upload rate, bytes per second
    #[arg(long, default_value_t = 1_000_000)]
    upload_rate: u64,
    /// Each peer's download rate, bytes per second
    #[arg(long, default_value_t = 10_000_000)]
    download_rate: u64,
    /// The seeds' (origin's) upload rate, bytes per second (default: 10 × the peers')
    #[arg(long)]
    seed_upload_rate: Option<u64>,
    /// One-way latency of each peer to the network's core, milliseconds
    #[arg(long, default_value_t = 20)]
    latency_ms: u64,
    /// Probability that a message is lost (once) and retransmitted
    #[arg(long, default_value_t = 0.0)]
    loss: f64,
    /// Seed of every random choice: the same seed gives the same output
    #[arg(long, default_value_t = 1)]
    rng_seed: u64,
    /// Simulated seconds: the length of a steady run, the limit of the others
    #[arg(long)]
    duration: Option<f64>,
}

impl CommonArgs {
    fn common(&self) -> anyhow::Result<Common> {
        if self.file_size == 0 || self.piece_size == 0 || self.piece_size > u64::from(u32::MAX) {
            return Err(failure(
                "usage",
                "--file-size and --piece-size must be positive (a piece under 4 GiB)",
            ));
        }
        if self.upload_rate == 0 || self.download_rate == 0 {
            return Err(failure("usage", "rates must be positive"));
        }
        if !(0.0..1.0).contains(&self.loss) {
            return Err(failure("usage", "--loss is a probability below 1"));
        }
        Ok(Common {
            file_size: self.file_size,
            piece_length: self.piece_size,
            upload: self.upload_rate,
            download: self.download_rate,
            seed_upload: self.seed_upload_rate.unwrap_or(10 * self.upload_rate),
            latency: Duration::from_millis(self.latency_ms),
            loss: self.loss,
            rng_seed: self.rng_seed,
            max_time: Duration::from_secs_f64(self.duration.unwrap_or(3600.0).max(1.0)),
        })
    }

    fn json(&self, c: &Common) -> Value {
        json!({
            "file_size": c.file_size, "piece_size": c.piece_length, "upload_rate": c.upload,
            "download_rate": c.download, "seed_upload_rate": c.seed_upload,
            "latency_ms": self.latency_ms, "loss": c.loss, "rng_seed": c.rng_seed,
        })
    }
}

/// Runs `peercdn simulate`.
pub(crate) fn run(args: &Args) -> anyhow::Result<ExitCode> {
    #[expect(
        clippy::disallowed_methods,
        reason = "the virtual clock needs an origin"
    )]
    let start = Instant::now();
    let (value, text) = match &args.scenario {
        Scenario::FlashCrowd {
            peers,
            seeds,
            common,
        } => {
            let c = common.common()?;
            let r = FlashCrowd {
                common: c.clone(),
                peers: *peers,
                seeds: *seeds,
            }
            .run(start);
            let mut text = String::new();
            let _ = writeln!(
                text,
                "flash crowd: {peers} peers, {seeds} seed(s), {} bytes",
                c.file_size
            );
            let _ = writeln!(text, "{}", times_text(&r.times));
            let _ = writeln!(
                text,
                "client-server (seeds alone): {:.1} s   peer-to-peer, last peer: {:.1} s",
                r.client_server_time, r.times.max
            );
            let _ = writeln!(
                text,
                "bytes uploaded: origin {} ({:.1}%), peers {}",
                r.origin_bytes,
                100.0 * r.origin_bytes as f64 / (r.origin_bytes + r.peer_bytes).max(1) as f64,
                r.peer_bytes
            );
            if let Some(path) = &args.plot {
                let mut sizes: Vec<usize> = [8, 4, 2]
                    .iter()
                    .map(|d| peers / d)
                    .filter(|&n| n > 0)
                    .collect();
                sizes.dedup();
                let mut last = Vec::new();
                let mut mean = Vec::new();
                let mut server = Vec::new();
                for n in sizes {
                    let small = FlashCrowd {
                        common: c.clone(),
                        peers: n,
                        seeds: *seeds,
                    }
                    .run(start);
                    last.push((n as f64, small.times.max));
                    mean.push((n as f64, small.times.mean));
                    server.push((n as f64, small.client_server_time));
                }
                last.push((*peers as f64, r.times.max));
                mean.push((*peers as f64, r.times.mean));
                server.push((*peers as f64, r.client_server_time));
                let chart = Chart {
                    title: format!("flash crowd: {} bytes, {seeds} seed(s)", c.file_size),
                    x_label: "peers".into(),
                    y_label: "completion time (s)".into(),
                    series: vec![
                        Series {
                            name: "client-server".into(),
                            color: PALETTE[1],
                            points: server,
                            line: true,
                        },
                        Series {
                            name: "p2p, last peer".into(),
                            color: PALETTE[0],
                            points: last,
                            line: true,
                        },
                        Series {
                            name: "p2p, mean".into(),
                            color: PALETTE[2],
                            points: mean,
                            line: true,
                        },
                    ],
                };
                chart
                    .write_png(path)
                    .map_err(|e| io_failure("cannot write", path, &e))?;
            }
            let value = json!({
                "scenario": "flash-crowd",
                "parameters": {"peers": peers, "seeds": seeds, "common": common.json(&c)},
                "completion": times_json(&r.times),
                "download_times_s": r.download_times,
                "origin_bytes": r.origin_bytes,
                "peer_bytes": r.peer_bytes,
                "client_server_time_s": r.client_server_time,
                "run": run_json(&r.run),
            });
            (value, text + &run_text(&r.run))
        }
        Scenario::Steady {
            arrival_rate,
            seed_leave_rate,
            common,
        } => {
            if *arrival_rate <= 0.0 || *seed_leave_rate <= 0.0 {
                return Err(failure(
                    "usage",
                    "--arrival-rate and --seed-leave-rate must be positive",
                ));
            }
            let c = common.common()?;
            let duration = Duration::from_secs_f64(common.duration.unwrap_or(600.0).max(1.0));
            let r = Steady {
                common: c.clone(),
                arrival_rate: *arrival_rate,
                seed_leave_rate: *seed_leave_rate,
                duration,
            }
            .run(start);
            let mut text = String::new();
            let _ = writeln!(
                text,
                "steady state over {:.0} s ({} arrived, {} finished; first fifth left out)",
                duration.as_secs_f64(),
                r.arrived,
                r.finished
            );
            let _ = writeln!(text, "                   simulated    Qiu & Srikant model");
            let _ = writeln!(
                text,
                "download time (s)  {:>9.1}    {:>9.1}",
                r.mean_download_time, r.model_download_time
            );
            let _ = writeln!(
                text,
                "downloaders        {:>9.1}    {:>9.1}",
                r.mean_downloaders, r.model_downloaders
            );
            let _ = writeln!(
                text,
                "seeds              {:>9.1}    {:>9.1}",
                r.mean_seeds, r.model_seeds
            );
            let _ = writeln!(
                text,
                "uplinks busy       {:>8.0}% downloading, {:.0}% seeding (the model: 100%)",
                100.0 * r.upload_use[0],
                100.0 * r.upload_use[1]
            );
            if let Some(path) = &args.plot {
                let end = duration.as_secs_f64();
                let chart = Chart {
                    title: "steady state: simulated vs Qiu & Srikant".into(),
                    x_label: "arrival time (s)".into(),
                    y_label: "download time (s)".into(),
                    series: vec![
                        Series {
                            name: "simulated peers".into(),
                            color: PALETTE[0],
                            points: r.downloads.clone(),
                            line: false,
                        },
                        Series {
                            name: "model".into(),
                            color: PALETTE[1],
                            points: vec![
                                (end / 5.0, r.model_download_time),
                                (end, r.model_download_time),
                            ],
                            line: true,
                        },
                        Series {
                            name: "simulated mean".into(),
                            color: PALETTE[2],
                            points: vec![
                                (end / 5.0, r.mean_download_time),
                                (end, r.mean_download_time),
                            ],
                            line: true,
                        },
                    ],
                };
                chart
                    .write_png(path)
                    .map_err(|e| io_failure("cannot write", path, &e))?;
            }
            let value = json!({
                "scenario": "steady",
                "parameters": {"arrival_rate": arrival_rate, "seed_leave_rate": seed_leave_rate,
                               "duration_s": duration.as_secs_f64(), "common": common.json(&c)},
                "mean_download_time_s": r.mean_download_time,
                "model_download_time_s": r.model_download_time,
                "mean_downloaders": r.mean_downloaders,
                "upload_use_downloading": r.upload_use[0],
                "upload_use_seeding": r.upload_use[1],
                "model_downloaders": r.model_downloaders,
                "mean_seeds": r.mean_seeds,
                "model_seeds": r.model_seeds,
                "arrived": r.arrived,
                "finished": r.finished,
                "run": run_json(&r.run),
            });
            (value, text + &run_text(&r.run))
        }
        Scenario::FreeRider {
            peers,
            free_riders,
            common,
        } => {
            let c = common.common()?;
            let r = FreeRider {
                common: c.clone(),
                peers: *peers,
                free_riders: *free_riders,
            }
            .run(start);
            let text = format!(
                "contributors: {}\nfree riders:  {}\n{}",
                times_text(&r.contributors),
                times_text(&r.free_riders),
                run_text(&r.run)
            );
            if let Some(path) = &args.plot {
                cdf_chart(
                    "free riders vs contributors",
                    &[
                        ("contributors", &r.contributors),
                        ("free riders", &r.free_riders),
                    ],
                    path,
                )?;
            }
            let value = json!({
                "scenario": "free-rider",
                "parameters": {"peers": peers, "free_riders": free_riders, "common": common.json(&c)},
                "contributors": times_json(&r.contributors),
                "free_riders": times_json(&r.free_riders),
                "run": run_json(&r.run),
            });
            (value, text)
        }
        Scenario::PieceOrder { peers, common } => {
            let c = common.common()?;
            let results = PieceOrderRun {
                common: c.clone(),
                peers: *peers,
            }
            .run(start);
            let mut text = String::new();
            for r in &results {
                let _ = writeln!(
                    text,
                    "{:<13} {}  stragglers {}",
                    order_name(r),
                    times_text(&r.times),
                    r.stragglers
                );
            }
            if let Some(path) = &args.plot {
                let groups: Vec<(&str, &Times)> =
                    results.iter().map(|r| (order_name(r), &r.times)).collect();
                cdf_chart("piece order", &groups, path)?;
            }
            let value = json!({
                "scenario": "piece-order",
                "parameters": {"peers": peers, "common": common.json(&c)},
                "orders": results.iter().map(|r| json!({
                    "order": order_name(r), "completion": times_json(&r.times),
                    "stragglers": r.stragglers, "run": run_json(&r.run),
                })).collect::<Vec<_>>(),
            });
            (value, text)
        }
        Scenario::Origin {
            peers,
            arrival_window,
            common,
        } => {
            let c = common.common()?;
            let results = Origin {
                common: c.clone(),
                peers: *peers,
                arrival_window: Duration::from_secs_f64(arrival_window.max(0.0)),
            }
            .run(start);
            let mut text = String::new();
            let label = |r: &sim::scenarios::OriginResult| match (r.origin_mode, r.super_seed) {
                (false, _) => "plain seed",
                (true, false) => "origin mode",
                (true, true) => "origin mode + super-seeding",
            };
            for r in &results {
                let _ = writeln!(
                    text,
                    "{:<28}: origin served {:.1}% ({} of {} bytes); {}",
                    label(r),
                    100.0 * r.origin_fraction,
                    r.origin_bytes,
                    r.origin_bytes + r.peer_bytes,
                    times_text(&r.times)
                );
            }
            if let Some(path) = &args.plot {
                let groups: Vec<(&str, &Times)> =
                    results.iter().map(|r| (label(r), &r.times)).collect();
                cdf_chart("origin", &groups, path)?;
            }
            let value = json!({
                "scenario": "origin",
                "parameters": {"peers": peers, "arrival_window_s": arrival_window, "common": common.json(&c)},
                "runs": results.iter().map(|r| json!({
                    "origin_mode": r.origin_mode, "super_seed": r.super_seed,
                    "origin_bytes": r.origin_bytes,
                    "peer_bytes": r.peer_bytes, "origin_fraction": r.origin_fraction,
                    "completion": times_json(&r.times), "run": run_json(&r.run),
                })).collect::<Vec<_>>(),
            });
            (value, text)
        }
    };
    if args.json {
        emit_json(&value);
    } else {
        emit(&text);
    }
    Ok(ExitCode::SUCCESS)
}

fn order_name(r: &OrderResult) -> &'static str {
    match r.order {
        sim::PieceOrder::RarestFirst => "rarest-first",
        sim::PieceOrder::Random => "random",
        sim::PieceOrder::Sequential => "sequential",
    }
}

fn times_text(t: &Times) -> String {
    format!(
        "download time mean {:.1} s, median {:.1} s, p90 {:.1} s, max {:.1} s ({} finished, {} not)",
        t.mean, t.p50, t.p90, t.max, t.finished, t.unfinished
    )
}

fn times_json(t: &Times) -> Value {
    let num = |x: f64| if x.is_finite() { json!(x) } else { Value::Null };
    json!({"finished": t.finished, "unfinished": t.unfinished, "mean_s": num(t.mean),
           "p50_s": num(t.p50), "p90_s": num(t.p90), "max_s": num(t.max)})
}

fn run_text(r: &RunStats) -> String {
    format!(
        "({:.1} simulated seconds, {} events)\n",
        r.simulated, r.events
    )
}

fn run_json(r: &RunStats) -> Value {
    json!({"simulated_s": r.simulated, "events": r.events})
}

/// The share of peers finished over time, one line per group.
fn cdf_chart(title: &str, groups: &[(&str, &Times)], path: &std::path::Path) -> anyhow::Result<()> {
    let series = groups
        .iter()
        .enumerate()
        .map(|(i, (name, times))| {
            let n = times.all.len().max(1) as f64;
            let mut points = vec![(0.0, 0.0)];
            points.extend(
                times
                    .all
                    .iter()
                    .enumerate()
                    .map(|(k, &t)| (t, (k + 1) as f64 / n)),
            );
            Series {
                name: (*name).to_owned(),
                color: PALETTE[i % PALETTE.len()],
                points,
                line: true,
            }
        })
        .collect();
    let chart = Chart {
        title: title.to_owned(),
        x_label: "time since arrival (s)".into(),
        y_label: "share of peers finished".into(),
        series,
    };
    chart
        .write_png(path)
        .map_err(|e| io_failure("cannot write", path, &e))
}
