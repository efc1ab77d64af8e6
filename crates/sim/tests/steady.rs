//! The steady state of a swarm with Poisson arrivals against the Qiu & Srikant fluid model.

use std::time::{Duration, Instant};

use sim::scenarios::{Common, Steady};

#[expect(clippy::disallowed_methods, reason = "an origin for a virtual clock")]
fn origin() -> Instant {
    Instant::now()
}

/// Where the model applies (a download lasts a minute, so a newcomer's first second with
/// nothing to share is a small part of it), the engine's mean download time is within 10% of
/// the model's, and so is the number of downloaders; downloaders keep their uplinks busy.
#[test]
fn mean_download_time_is_within_ten_percent_of_the_fluid_model() {
    let r = Steady {
        common: Common {
            file_size: 64 << 20,
            upload: 800_000,
            download: 4_000_000,
            seed_upload: 800_000,
            ..Common::default()
        },
        arrival_rate: 0.25,
        seed_leave_rate: 0.05,
        duration: Duration::from_secs(1600),
    }
    .run(origin());
    let off = |a: f64, b: f64| (a - b).abs() / b;
    assert!(r.finished > 300, "{} finished", r.finished);
    assert!(
        off(r.mean_download_time, r.model_download_time) < 0.10,
        "download time {:.1} s, model {:.1} s",
        r.mean_download_time,
        r.model_download_time
    );
    assert!(
        off(r.mean_downloaders, r.model_downloaders) < 0.10,
        "downloaders {:.1}, model {:.1}",
        r.mean_downloaders,
        r.model_downloaders
    );
    assert!(r.upload_use[0] > 0.85, "upload use {:?}", r.upload_use);
}
