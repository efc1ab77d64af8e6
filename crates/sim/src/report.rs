//! What a run measured.

use std::time::Duration;

use crate::PeerSpec;

/// One peer's run.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PeerReport {
    /// When it arrived.
    pub arrive: Duration,
    /// When it had every piece (at arrival for a seed).
    pub finish: Option<Duration>,
    /// When it left (`None`: stayed to the end).
    pub left: Option<Duration>,
    /// Payload bytes it uploaded, by the end of the run or when it left.
    pub uploaded: u64,
    /// Payload bytes it downloaded.
    pub downloaded: u64,
    /// Time its uplink spent sending before it had every piece, and after.
    pub upload_busy: [Duration; 2],
}

/// What a run measured.
#[derive(Clone, Debug, PartialEq)]
pub struct Report {
    /// Every peer, in the order given.
    pub peers: Vec<PeerReport>,
    /// Simulated time of the run.
    pub elapsed: Duration,
    /// Events the simulator processed (messages, timers, arrivals).
    pub events: u64,
    /// Download times (finish − arrival) of the peers that were not seeds and finished, in
    /// seconds, sorted.
    pub download_times: Vec<f64>,
    /// Peers that were neither seeds nor finished at the end.
    pub unfinished: usize,
    /// Time-averaged number of peers downloading, and of seeds, over the run.
    pub mean_downloaders: f64,
    /// See `mean_downloaders`.
    pub mean_seeds: f64,
}

impl Report {
    pub(crate) fn new(
        peers: Vec<PeerReport>,
        specs: &[PeerSpec],
        elapsed: Duration,
        events: u64,
    ) -> Self {
        let mut download_times: Vec<f64> = peers
            .iter()
            .zip(specs)
            .filter(|(_, s)| !s.seed)
            .filter_map(|(p, _)| p.finish.map(|f| (f - p.arrive).as_secs_f64()))
            .collect();
        download_times.sort_by(f64::total_cmp);
        let unfinished = peers
            .iter()
            .zip(specs)
            .filter(|(p, s)| !s.seed && p.finish.is_none() && p.arrive <= elapsed)
            .count();
        // Time-averages: each peer contributes the time it spent in each state, within the run.
        let end = elapsed.as_secs_f64();
        let (mut downloading, mut seeding) = (0.0, 0.0);
        for p in &peers {
            let arrive = p.arrive.as_secs_f64().min(end);
            let left = p.left.map_or(end, |l| l.as_secs_f64().min(end));
            let finish = p.finish.map_or(left, |f| f.as_secs_f64().min(left));
            downloading += (finish - arrive).max(0.0);
            seeding += (left - finish).max(0.0);
        }
        let (mean_downloaders, mean_seeds) = if end > 0.0 {
            (downloading / end, seeding / end)
        } else {
            (0.0, 0.0)
        };
        Self {
            peers,
            elapsed,
            events,
            download_times,
            unfinished,
            mean_downloaders,
            mean_seeds,
        }
    }

    /// Mean download time of the peers that finished, in seconds.
    pub fn mean_download_time(&self) -> Option<f64> {
        (!self.download_times.is_empty())
            .then(|| self.download_times.iter().sum::<f64>() / self.download_times.len() as f64)
    }

    /// The `q` quantile (0 to 1) of the download times, in seconds.
    pub fn quantile(&self, q: f64) -> Option<f64> {
        let n = self.download_times.len();
        (n > 0).then(|| self.download_times[((n - 1) as f64 * q.clamp(0.0, 1.0)).round() as usize])
    }
}
