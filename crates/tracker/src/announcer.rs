//! The multitracker announcer (BEP 12): which tracker to announce to, when, and with which
//! event. Transport-agnostic: it names a URL and an event; the caller announces over HTTP
//! ([`crate::http`]) or UDP ([`crate::udp::Client`]) and hands the result back.
//!
//! BEP 12: "the client will shuffle the list of trackers in each tier", tries the tiers in
//! order and the trackers of a tier in order, and "if the connection with a tracker is
//! successful, it will be moved to the front of the tier". Each announce starts again from the
//! first tracker of the first tier; trackers that failed are skipped while they back off.
//!
//! Invariants:
//! - at most one announce per lane is in flight (one lane over all tiers, or one per tier with
//!   [`Config::all_tiers`]), and at most one per tracker;
//! - a tracker gets `started` before anything else, `completed` at most once after it, and
//!   `stopped` only if it had `started` (and nothing after `stopped`);
//! - after [`Announcer::stop`], [`Action::Finished`] comes exactly once, when every `stopped`
//!   has been answered or [`Config::stop_timeout`] has passed.
//!
//! ```
//! use std::time::{Duration, Instant};
//! use tracker::announcer::{Action, Announcer, Config};
//! use tracker::{AnnounceResponse, Event};
//!
//! # #[expect(clippy::disallowed_methods, reason = "a driver reads the clock")]
//! let now = Instant::now();
//! let tiers = vec![vec!["udp://a.example:6969".to_string()], vec!["http://b.example/announce".to_string()]];
//! let mut announcer = Announcer::new(Config::default(), tiers, now);
//! let Some(Action::Announce(job)) = announcer.poll_action() else { unreachable!() };
//! assert_eq!((job.url.as_str(), job.event), ("udp://a.example:6969", Event::Started));
//!
//! // The first tier fails: the second is tried at once.
//! announcer.handle_failure(now, job.tracker, tracker::Retry::Default);
//! let Some(Action::Announce(job)) = announcer.poll_action() else { unreachable!() };
//! assert_eq!(job.url, "http://b.example/announce");
//!
//! let response = AnnounceResponse { interval: Some(Duration::from_secs(1800)), ..Default::default() };
//! announcer.handle_response(now, job.tracker, &response);
//! assert_eq!(announcer.poll_timeout(), Some(now + Duration::from_secs(1800)));
//! ```

use std::collections::VecDeque;
use std::ops::Range;
use std::time::{Duration, Instant};

use crate::rng::Rng;
use crate::{AnnounceResponse, Event, Retry};

/// The announcer's settings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Config {
    /// Seed of the shuffle within tiers and of the `key`.
    pub rng_seed: u64,
    /// Announce to one tracker of every tier at once (libtorrent's `announce_to_all_tiers`)
    /// rather than to the first that works (BEP 12).
    pub all_tiers: bool,
    /// The interval when a response gives none.
    pub default_interval: Duration,
    /// The shortest interval accepted from a tracker.
    pub interval_floor: Duration,
    /// The longest interval accepted from a tracker.
    pub interval_ceiling: Duration,
    /// The wait after a tracker's first failure; it doubles with each further one.
    pub retry_base: Duration,
    /// The longest wait after failures.
    pub retry_max: Duration,
    /// How long [`Announcer::stop`] waits for the `stopped` announces.
    pub stop_timeout: Duration,
}

impl Default for Config {
    /// BEP 12 behaviour, 30 min default interval accepted between 1 min and 2 h, failures
    /// retried after 15 s doubling up to 30 min, 10 s for the `stopped` announces.
    fn default() -> Self {
        Self {
            rng_seed: 0,
            all_tiers: false,
            default_interval: Duration::from_secs(1800),
            interval_floor: Duration::from_secs(60),
            interval_ceiling: Duration::from_secs(7200),
            retry_base: Duration::from_secs(15),
            retry_max: Duration::from_secs(1800),
            stop_timeout: Duration::from_secs(10),
        }
    }
}

/// Names a tracker of the announcer (its position in the list given to [`Announcer::new`],
/// tiers flattened).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TrackerId(pub usize);

/// An announce to make.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Job {
    /// The tracker, for [`Announcer::handle_response`] or [`Announcer::handle_failure`].
    pub tracker: TrackerId,
    /// Its URL.
    pub url: String,
    /// The event to send.
    pub event: Event,
    /// The `tracker id` it gave last, to send back.
    pub tracker_id: Option<Vec<u8>>,
    /// The `key` to send: one random number for the whole session of this torrent, so that
    /// trackers recognize us across address changes (BEP 3, BEP 15).
    pub key: u32,
}

/// What the announcer asks of the caller.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    /// Announce, then report the result.
    Announce(Job),
    /// Every `stopped` announce is done (or timed out): the torrent can go.
    Finished,
}

/// A tracker's state, for display.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TrackerInfo {
    /// Its id.
    pub id: TrackerId,
    /// Its URL.
    pub url: String,
    /// Its tier.
    pub tier: usize,
    /// Failures since its last success.
    pub failures: u32,
    /// When it may be tried again after failures.
    pub retry_at: Option<Instant>,
    /// Whether it said never to come back (BEP 31).
    pub disabled: bool,
    /// Whether it knows us (`started` succeeded, `stopped` not yet sent).
    pub started: bool,
}

/// The announcer of one torrent.
///
/// Methods: (A) getters taking `&self`; (B) [`handle_response`](Self::handle_response),
/// [`handle_failure`](Self::handle_failure) and [`handle_timeout`](Self::handle_timeout) for
/// results and the clock; (C) [`completed`](Self::completed),
/// [`announce_now`](Self::announce_now) and [`stop`](Self::stop) from the application; (D)
/// [`poll_action`](Self::poll_action) and [`poll_timeout`](Self::poll_timeout).
#[derive(Debug)]
pub struct Announcer {
    config: Config,
    trackers: Vec<Tracker>,
    /// Each tier's trackers, in the order to try them.
    tiers: Vec<Vec<usize>>,
    lanes: Vec<Lane>,
    stop: Option<Stop>,
    actions: VecDeque<Action>,
    key: u32,
}

#[derive(Debug)]
struct Tracker {
    url: String,
    tier: usize,
    started: bool,
    completed_due: bool,
    failures: u32,
    retry_at: Option<Instant>,
    disabled: bool,
    tracker_id: Option<Vec<u8>>,
    in_flight: Option<Event>,
}

#[derive(Debug)]
struct Lane {
    tiers: Range<usize>,
    /// When to announce next; `None` while one is in flight (or nothing can be tried).
    next_at: Option<Instant>,
    in_flight: bool,
    /// When the last announce of this lane succeeded, and the `min interval` it carried.
    last: Option<(Instant, Duration)>,
}

#[derive(Debug)]
struct Stop {
    deadline: Instant,
    finished: bool,
}

impl Announcer {
    /// An announcer over `tiers` of tracker URLs (a torrent's `announce-list`, or its
    /// `announce` alone as one tier). Each tier is shuffled; a URL that appears twice keeps its
    /// first place; empty tiers are dropped. The first announce is due at `now`.
    pub fn new(config: Config, tiers: Vec<Vec<String>>, now: Instant) -> Self {
        let mut rng = Rng::new(config.rng_seed);
        let mut trackers: Vec<Tracker> = Vec::new();
        let mut order = Vec::new();
        for tier in tiers {
            let mut members = Vec::new();
            for url in tier {
                if trackers.iter().any(|t| t.url == url) {
                    continue;
                }
                members.push(trackers.len());
                trackers.push(Tracker {
                    url,
                    tier: order.len(),
                    started: false,
                    completed_due: false,
                    failures: 0,
                    retry_at: None,
                    disabled: false,
                    tracker_id: None,
                    in_flight: None,
                });
            }
            if !members.is_empty() {
                rng.shuffle(&mut members);
                order.push(members);
            }
        }
        let lanes = if config.all_tiers {
            (0..order.len()).map(|t| Lane::new(t..t + 1, now)).collect()
        } else if order.is_empty() {
            Vec::new()
        } else {
            vec![Lane::new(0..order.len(), now)]
        };
        let mut announcer = Self {
            config,
            trackers,
            tiers: order,
            lanes,
            stop: None,
            actions: VecDeque::new(),
            key: rng.next_u32(),
        };
        announcer.drive(now);
        announcer
    }

    /// The trackers, tier by tier in the order they are tried.
    pub fn trackers(&self) -> impl Iterator<Item = TrackerInfo> + '_ {
        self.tiers.iter().flatten().map(|&i| {
            let t = &self.trackers[i];
            TrackerInfo {
                id: TrackerId(i),
                url: t.url.clone(),
                tier: t.tier,
                failures: t.failures,
                retry_at: t.retry_at,
                disabled: t.disabled,
                started: t.started,
            }
        })
    }

    /// The `key` every [`Job`] carries.
    pub fn key(&self) -> u32 {
        self.key
    }

    /// Whether [`Action::Finished`] was given.
    pub fn is_finished(&self) -> bool {
        self.stop.as_ref().is_some_and(|s| s.finished)
    }

    /// The download finished: every tracker that knows us gets `completed`, now.
    pub fn completed(&mut self, now: Instant) {
        if self.stop.is_some() {
            return;
        }
        for t in &mut self.trackers {
            if t.started || t.in_flight == Some(Event::Started) {
                t.completed_due = true;
            }
        }
        for lane in &mut self.lanes {
            if !lane.in_flight {
                lane.next_at = Some(now);
            }
        }
        self.drive(now);
    }

    /// We want peers: announce as soon as the trackers' `min interval` allows.
    pub fn announce_now(&mut self, now: Instant) {
        if self.stop.is_some() {
            return;
        }
        for lane in &mut self.lanes {
            if lane.in_flight {
                continue;
            }
            let earliest = lane.last.map_or(now, |(at, min)| (at + min).max(now));
            lane.next_at = Some(lane.next_at.map_or(earliest, |n| n.min(earliest)));
        }
        self.drive(now);
    }

    /// Leaving: `stopped` to every tracker that knows us, then [`Action::Finished`].
    pub fn stop(&mut self, now: Instant) {
        if self.stop.is_some() {
            return;
        }
        self.stop = Some(Stop {
            deadline: now + self.config.stop_timeout,
            finished: false,
        });
        for i in 0..self.trackers.len() {
            let t = &self.trackers[i];
            // One in flight decides when it comes back.
            if t.in_flight.is_none() && t.started && !t.disabled {
                self.send(i, Event::Stopped);
            }
        }
        self.check_finished();
    }

    /// A tracker answered the announce in flight to it.
    pub fn handle_response(
        &mut self,
        now: Instant,
        tracker: TrackerId,
        response: &AnnounceResponse,
    ) {
        let Some(event) = self.take_in_flight(tracker) else {
            return;
        };
        let i = tracker.0;
        let t = &mut self.trackers[i];
        t.failures = 0;
        t.retry_at = None;
        if response.tracker_id.is_some() {
            t.tracker_id.clone_from(&response.tracker_id);
        }
        match event {
            Event::Started => t.started = true,
            Event::Completed => t.completed_due = false,
            Event::Stopped => t.started = false,
            Event::None => {}
        }
        // BEP 12: a tracker that answered moves to the front of its tier.
        let tier = &mut self.tiers[t.tier];
        if let Some(pos) = tier.iter().position(|&x| x == i) {
            tier[..=pos].rotate_right(1);
        }
        if self.stop.is_some() {
            if event != Event::Stopped && self.trackers[i].started {
                self.send(i, Event::Stopped);
            }
            self.check_finished();
            return;
        }
        let min = response.min_interval.unwrap_or_default();
        let interval = response
            .interval
            .unwrap_or(self.config.default_interval)
            .max(min)
            .clamp(self.config.interval_floor, self.config.interval_ceiling);
        let completed_due = self.trackers[i].completed_due;
        if let Some(lane) = self.lane_of(i) {
            lane.last = Some((now, min));
            // A `completed` that became due while this announce was in flight goes now.
            lane.next_at = Some(if completed_due { now } else { now + interval });
        }
        self.drive(now);
    }

    /// The announce in flight to a tracker failed (no answer, a malformed one, or a `failure
    /// reason`): it backs off — as `retry` says, or `retry_base · 2ⁿ⁻¹` after n failures — and
    /// the next tracker is tried at once.
    pub fn handle_failure(&mut self, now: Instant, tracker: TrackerId, retry: Retry) {
        if self.take_in_flight(tracker).is_none() {
            return;
        }
        let i = tracker.0;
        let t = &mut self.trackers[i];
        t.failures = t.failures.saturating_add(1);
        let backoff = self
            .config
            .retry_base
            .saturating_mul(1u32.checked_shl(t.failures - 1).unwrap_or(u32::MAX))
            .min(self.config.retry_max);
        match retry {
            Retry::Default => t.retry_at = Some(now + backoff),
            Retry::After(d) => t.retry_at = Some(now + d),
            Retry::Never => {
                t.disabled = true;
                t.retry_at = None;
            }
        }
        if self.stop.is_some() {
            self.check_finished();
            return;
        }
        if let Some(lane) = self.lane_of(i) {
            lane.next_at = Some(now);
        }
        self.drive(now);
    }

    /// Starts what is due.
    pub fn handle_timeout(&mut self, now: Instant) {
        if let Some(stop) = &mut self.stop {
            if !stop.finished && stop.deadline <= now {
                for t in &mut self.trackers {
                    t.in_flight = None;
                }
                stop.finished = true;
                self.actions.push_back(Action::Finished);
            }
            return;
        }
        self.drive(now);
    }

    /// The next thing to do.
    #[must_use]
    pub fn poll_action(&mut self) -> Option<Action> {
        self.actions.pop_front()
    }

    /// When to call [`handle_timeout`](Self::handle_timeout).
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        match &self.stop {
            Some(stop) if stop.finished => None,
            Some(stop) => Some(stop.deadline),
            None => self
                .lanes
                .iter()
                .filter(|l| !l.in_flight)
                .filter_map(|l| l.next_at)
                .min(),
        }
    }

    /// For each lane due at `now`, announces to the first tracker that may be tried, or waits
    /// for the earliest backoff to end.
    fn drive(&mut self, now: Instant) {
        if self.stop.is_some() {
            return;
        }
        for l in 0..self.lanes.len() {
            let lane = &self.lanes[l];
            if lane.in_flight || lane.next_at.is_none_or(|at| at > now) {
                continue;
            }
            let candidates: Vec<usize> = self.tiers[lane.tiers.clone()]
                .iter()
                .flatten()
                .copied()
                .filter(|&i| !self.trackers[i].disabled && self.trackers[i].in_flight.is_none())
                .collect();
            let ready = candidates
                .iter()
                .copied()
                .find(|&i| self.trackers[i].retry_at.is_none_or(|at| at <= now));
            match ready {
                Some(i) => {
                    let t = &self.trackers[i];
                    let event = if !t.started {
                        Event::Started
                    } else if t.completed_due {
                        Event::Completed
                    } else {
                        Event::None
                    };
                    self.lanes[l].in_flight = true;
                    self.lanes[l].next_at = None;
                    self.send(i, event);
                }
                None => {
                    self.lanes[l].next_at = candidates
                        .iter()
                        .filter_map(|&i| self.trackers[i].retry_at)
                        .min();
                }
            }
        }
    }

    fn send(&mut self, i: usize, event: Event) {
        let t = &mut self.trackers[i];
        t.in_flight = Some(event);
        self.actions.push_back(Action::Announce(Job {
            tracker: TrackerId(i),
            url: t.url.clone(),
            event,
            tracker_id: t.tracker_id.clone(),
            key: self.key,
        }));
    }

    /// Clears the tracker's announce in flight (and its lane's); `None` if there was none.
    fn take_in_flight(&mut self, tracker: TrackerId) -> Option<Event> {
        if self.is_finished() {
            return None;
        }
        let event = self.trackers.get_mut(tracker.0)?.in_flight.take()?;
        if event != Event::Stopped
            && let Some(lane) = self.lane_of(tracker.0)
        {
            lane.in_flight = false;
        }
        Some(event)
    }

    fn lane_of(&mut self, i: usize) -> Option<&mut Lane> {
        let tier = self.trackers[i].tier;
        self.lanes.iter_mut().find(|l| l.tiers.contains(&tier))
    }

    fn check_finished(&mut self) {
        if let Some(stop) = &mut self.stop
            && !stop.finished
            && self.trackers.iter().all(|t| t.in_flight.is_none())
        {
            stop.finished = true;
            self.actions.push_back(Action::Finished);
        }
    }
}

impl Lane {
    fn new(tiers: Range<usize>, now: Instant) -> Self {
        Self {
            tiers,
            next_at: Some(now),
            in_flight: false,
            last: None,
        }
    }
}

#[cfg(test)]
mod tests;
