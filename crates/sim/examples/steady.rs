//! `cargo run --release -p sim --example steady -- λ U C γ SIZE DURATION [PIECE] [RNG_SEED]`.
use sim::scenarios::{Common, Steady};
use std::time::{Duration, Instant};

#[expect(
    clippy::disallowed_methods,
    reason = "an example measures its own speed"
)]
fn main() {
    let a: Vec<f64> = std::env::args()
        .skip(1)
        .map(|s| s.parse().unwrap())
        .collect();
    let common = Common {
        file_size: a[4] as u64,
        upload: a[1] as u64,
        download: a[2] as u64,
        seed_upload: a[1] as u64,
        piece_length: a.get(6).map_or(256 << 10, |&p| p as u64),
        rng_seed: a.get(7).map_or(1, |&s| s as u64),
        ..Common::default()
    };
    let steady = Steady {
        common,
        arrival_rate: a[0],
        seed_leave_rate: a[3],
        duration: Duration::from_secs_f64(a[5]),
    };
    let wall = Instant::now();
    let r = steady.run(Instant::now());
    println!("{r:#?}\nwall {:.2}s", wall.elapsed().as_secs_f64());
}
