//! Upload and download rate limits: a token bucket shared by every connection it limits.
//!
//! A writer knows what it sends: it pays first ([`RateLimiter::consume`]) and waits until the
//! bucket is out of debt before writing. A reader cannot know what a read will bring: it waits
//! until the bucket is out of debt (`consume(0)`), reads at most a block's worth, and pays
//! after. Over any stretch of time the bytes sent stay within `rate × time + burst`, and the
//! bytes received within that plus a block per connection.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::clock;

/// A shared byte-rate limit.
#[derive(Debug)]
pub struct RateLimiter {
    rate: f64,
    burst: f64,
    state: Mutex<State>,
}

#[derive(Debug)]
struct State {
    tokens: f64,
    at: Instant,
}

impl RateLimiter {
    /// At most `bytes_per_second` on average, bursts of a tenth of a second (at least 64 KiB).
    pub fn new(bytes_per_second: u64) -> Self {
        let rate = bytes_per_second.max(1) as f64;
        let burst = (rate / 10.0).max(65536.0);
        Self {
            rate,
            burst,
            state: Mutex::new(State {
                tokens: burst,
                at: clock(),
            }),
        }
    }

    /// The limit, bytes per second.
    pub fn rate(&self) -> u64 {
        self.rate as u64
    }

    /// Takes `bytes` from the bucket; returns how long to wait before moving more.
    pub fn take(&self, bytes: usize, now: Instant) -> Duration {
        let mut s = crate::lock(&self.state);
        let elapsed = now.saturating_duration_since(s.at).as_secs_f64();
        s.at = s.at.max(now);
        s.tokens = (s.tokens + elapsed * self.rate).min(self.burst);
        s.tokens -= bytes as f64;
        if s.tokens >= 0.0 {
            Duration::ZERO
        } else {
            Duration::from_secs_f64(-s.tokens / self.rate)
        }
    }

    /// Takes `bytes` and waits until the bucket is out of debt.
    pub async fn consume(&self, bytes: usize) {
        let wait = self.take(bytes, clock());
        if !wait.is_zero() {
            tokio::time::sleep(wait).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bucket_allows_a_burst_then_the_rate() {
        let limiter = RateLimiter::new(1_000_000);
        let t0 = clock();
        // A burst of 100 kB (a tenth of a second) goes at once.
        assert_eq!(limiter.take(100_000, t0), Duration::ZERO);
        // The next 500 kB owe half a second.
        let wait = limiter.take(500_000, t0);
        assert!((wait.as_secs_f64() - 0.5).abs() < 1e-6, "{wait:?}");
        // Half a second later the debt is paid: 100 kB more owe a tenth of a second.
        let wait = limiter.take(100_000, t0 + Duration::from_millis(500));
        assert!((wait.as_secs_f64() - 0.1).abs() < 1e-6, "{wait:?}");
        // After a long idle time, only the burst is available again (no unbounded credit).
        let later = t0 + Duration::from_secs(100);
        assert_eq!(limiter.take(100_000, later), Duration::ZERO);
        assert!(limiter.take(100_000, later) > Duration::from_millis(99));
    }
}
