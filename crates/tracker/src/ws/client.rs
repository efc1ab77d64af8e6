//! The client state machine of one WebSocket tracker for one torrent.

use std::collections::{BTreeMap, VecDeque};
use std::time::{Duration, Instant};

use super::{
    Announce, AnnounceReply, Answer, ClientMessage, Limits, Offer, OfferId, ScrapeReply,
    ServerMessage,
};
use crate::rng::Rng;
use crate::{Event as AnnounceEvent, InfoHash, PeerId};

/// The client's settings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Config {
    /// The torrent.
    pub info_hash: InfoHash,
    /// Our peer id: the same on every announce, and in the wire handshakes (the tracker binds
    /// the socket to the first peer id it sees).
    pub peer_id: PeerId,
    /// Seed of the offer ids and the reconnect jitter.
    pub rng_seed: u64,
    /// Offers asked for each announce (WebTorrent: at most 5).
    pub offers: usize,
    /// The re-announce interval until the tracker gives one.
    pub default_interval: Duration,
    /// The shortest re-announce interval accepted from a tracker.
    pub interval_floor: Duration,
    /// How long an offer waits for its answer (WebTorrent: 50 s).
    pub offer_timeout: Duration,
    /// The first reconnect delay; it doubles on every failed attempt (WebTorrent: 10 s).
    pub reconnect_min: Duration,
    /// The longest reconnect delay (WebTorrent: 1 h).
    pub reconnect_max: Duration,
    /// Up to this much random delay is added to each reconnect, so that the clients of a
    /// restarted tracker do not all come back at once.
    pub reconnect_jitter: Duration,
    /// Bounds on the tracker's messages.
    pub limits: Limits,
}

impl Config {
    /// WebTorrent's settings for `info_hash` and `peer_id`: 5 offers, 2 min default interval
    /// (30 s floor), 50 s offer timeout, reconnects after 10 s doubling up to 1 h, plus up to
    /// 10 s of jitter.
    pub fn new(info_hash: InfoHash, peer_id: PeerId) -> Self {
        Self {
            info_hash,
            peer_id,
            rng_seed: 0,
            offers: 5,
            default_interval: Duration::from_secs(120),
            interval_floor: Duration::from_secs(30),
            offer_timeout: Duration::from_secs(50),
            reconnect_min: Duration::from_secs(10),
            reconnect_max: Duration::from_secs(3600),
            reconnect_jitter: Duration::from_secs(10),
            limits: Limits::default(),
        }
    }
}

/// Transfer totals for an announce.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Bytes uploaded.
    pub uploaded: u64,
    /// Bytes downloaded.
    pub downloaded: u64,
    /// Bytes left; `None` before the size is known (no metadata yet).
    pub left: Option<u64>,
}

/// What the client asks of the caller, or tells it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// Open the WebSocket to the tracker, then call [`Client::handle_open`] (or
    /// [`Client::handle_close`] if it fails).
    Connect,
    /// An announce is due: create up to `count` WebRTC offers (complete SDP, all candidates)
    /// and pass them to [`Client::announce`] (with none, if no more peers are wanted). The
    /// next one is scheduled when `announce` is called.
    NeedOffers {
        /// How many.
        count: usize,
    },
    /// The tracker answered an announce.
    Announced(AnnounceReply),
    /// Another peer's offer: create the answer and pass it to [`Client::answer`].
    Offer {
        /// The offerer.
        peer_id: PeerId,
        /// Its offer's id.
        offer_id: OfferId,
        /// The SDP.
        sdp: String,
    },
    /// The answer to one of our offers: give it to that offer's connection.
    Answer {
        /// The answerer.
        peer_id: PeerId,
        /// Our offer.
        offer_id: OfferId,
        /// The SDP.
        sdp: String,
    },
    /// One of our offers got no answer in time (or the socket closed): drop its connection.
    OfferExpired(OfferId),
    /// The tracker answered a scrape.
    Scraped(ScrapeReply),
    /// The tracker refused a request.
    Failure(String),
    /// A warning from the tracker, or an unreadable message (which is otherwise ignored).
    Warning(String),
}

/// A command the client cannot carry out.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum UsageError {
    /// The socket is not open.
    #[error("not connected to the tracker")]
    NotConnected,
    /// [`Client::stop`] was called.
    #[error("stopped")]
    Stopped,
}

/// One WebSocket tracker for one torrent, as WebTorrent's client uses it.
///
/// Methods: (A) getters taking `&self`; (B) [`handle_open`](Self::handle_open),
/// [`handle_text`](Self::handle_text), [`handle_close`](Self::handle_close) and
/// [`handle_timeout`](Self::handle_timeout) for input from the socket or the clock; (C)
/// [`start`](Self::start), [`announce`](Self::announce), [`answer`](Self::answer),
/// [`completed`](Self::completed), [`scrape`](Self::scrape) and [`stop`](Self::stop) from the
/// application; (D) `poll_*` for output. After any (B) or (C) call, drain
/// [`poll_transmit`](Self::poll_transmit), then [`poll_timeout`](Self::poll_timeout), then
/// [`poll_event`](Self::poll_event).
///
/// The caller owns the socket: [`Event::Connect`] says when to open it. The first announce on
/// each connection is `started` (the tracker forgot us when the previous socket closed); later
/// ones follow the tracker's interval. A closed socket is reopened after
/// `reconnect_min · 2ⁿ` (at most `reconnect_max`) plus jitter; n goes back to 0 once the
/// tracker answers.
#[derive(Debug)]
pub struct Client {
    config: Config,
    rng: Rng,
    state: State,
    retries: u32,
    interval: Duration,
    /// The `tracker id` of the last reply that had one (sent back as `trackerid`).
    tracker_id: Option<String>,
    /// Our offers waiting for an answer, with their deadlines.
    offers: BTreeMap<OfferId, Instant>,
    transmits: VecDeque<String>,
    events: VecDeque<Event>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    /// Before [`Client::start`].
    Idle,
    /// [`Event::Connect`] given; waiting for the socket.
    Connecting,
    /// Connected. `due`: when to ask for the next announce (`None` while the caller prepares
    /// offers); `started`: whether `started` went out on this connection.
    Open { due: Option<Instant>, started: bool },
    /// Waiting to reconnect.
    Closed { reconnect_at: Instant },
    /// [`Client::stop`] was called.
    Stopped,
}

impl Client {
    /// A client that does nothing until [`start`](Self::start).
    pub fn new(config: Config) -> Self {
        Self {
            rng: Rng::new(config.rng_seed),
            interval: config.default_interval,
            tracker_id: None,
            config,
            state: State::Idle,
            retries: 0,
            offers: BTreeMap::new(),
            transmits: VecDeque::new(),
            events: VecDeque::new(),
        }
    }

    /// Whether the socket is open.
    pub fn is_connected(&self) -> bool {
        matches!(self.state, State::Open { .. })
    }

    /// Whether [`stop`](Self::stop) was called.
    pub fn is_stopped(&self) -> bool {
        self.state == State::Stopped
    }

    /// Our offers still waiting for an answer.
    pub fn pending_offers(&self) -> impl Iterator<Item = OfferId> + '_ {
        self.offers.keys().copied()
    }

    /// Asks for the first connection.
    pub fn start(&mut self, _now: Instant) {
        if self.state == State::Idle {
            self.state = State::Connecting;
            self.events.push_back(Event::Connect);
        }
    }

    /// The socket is open: an announce is due now.
    pub fn handle_open(&mut self, now: Instant) {
        if matches!(self.state, State::Connecting | State::Closed { .. }) {
            self.state = State::Open {
                due: Some(now),
                started: false,
            };
            self.handle_timeout(now);
        }
    }

    /// The socket closed, or could not be opened: reconnect after the backoff. Our unanswered
    /// offers expire (their answers would have come through this socket).
    pub fn handle_close(&mut self, now: Instant) {
        if matches!(self.state, State::Idle | State::Stopped) {
            return;
        }
        for (offer_id, _) in std::mem::take(&mut self.offers) {
            self.events.push_back(Event::OfferExpired(offer_id));
        }
        let delay = self
            .config
            .reconnect_min
            .saturating_mul(1u32.checked_shl(self.retries).unwrap_or(u32::MAX))
            .min(self.config.reconnect_max);
        let jitter_ns = self
            .config
            .reconnect_jitter
            .as_nanos()
            .min(u128::from(u64::MAX)) as u64;
        let jitter = Duration::from_nanos(self.rng.below(jitter_ns.saturating_add(1)));
        self.retries = self.retries.saturating_add(1);
        self.state = State::Closed {
            reconnect_at: now + delay + jitter,
        };
    }

    /// A text frame from the tracker.
    pub fn handle_text(&mut self, now: Instant, text: &str) {
        if !self.is_connected() {
            return;
        }
        let message = match ServerMessage::from_json(text, &self.config.limits) {
            Ok(m) => m,
            Err(e) => {
                self.events
                    .push_back(Event::Warning(format!("invalid tracker message: {e}")));
                return;
            }
        };
        match message {
            ServerMessage::Announced(reply) => {
                if reply.info_hash.is_some_and(|h| h != self.config.info_hash) {
                    // Another torrent's reply on a shared socket.
                    return;
                }
                self.retries = 0;
                if let Some(interval) = reply.interval {
                    self.interval = interval
                        .max(reply.min_interval.unwrap_or_default())
                        .max(self.config.interval_floor);
                    if let State::Open { due: Some(due), .. } = &mut self.state {
                        *due = now + self.interval;
                    }
                }
                if reply.tracker_id.is_some() {
                    self.tracker_id.clone_from(&reply.tracker_id);
                }
                if let Some(warning) = &reply.warning {
                    self.events.push_back(Event::Warning(warning.clone()));
                }
                self.events.push_back(Event::Announced(reply));
            }
            ServerMessage::Offer(offer) => {
                if offer.info_hash != self.config.info_hash || offer.peer_id == self.config.peer_id
                {
                    return;
                }
                self.retries = 0;
                self.events.push_back(Event::Offer {
                    peer_id: offer.peer_id,
                    offer_id: offer.offer_id,
                    sdp: offer.sdp,
                });
            }
            ServerMessage::Answer(answer) => {
                if answer.info_hash != self.config.info_hash
                    || answer.peer_id == self.config.peer_id
                {
                    return;
                }
                // Only answers to offers still waiting: a late or forged one is dropped.
                if self.offers.remove(&answer.offer_id).is_some() {
                    self.events.push_back(Event::Answer {
                        peer_id: answer.peer_id,
                        offer_id: answer.offer_id,
                        sdp: answer.sdp,
                    });
                }
            }
            ServerMessage::Scraped(reply) => {
                self.retries = 0;
                self.events.push_back(Event::Scraped(reply));
            }
            ServerMessage::Failure { info_hash, reason } => {
                if info_hash.is_none_or(|h| h == self.config.info_hash) {
                    self.events.push_back(Event::Failure(reason));
                }
            }
        }
    }

    /// Reconnects, asks for due announces, expires offers.
    pub fn handle_timeout(&mut self, now: Instant) {
        match &mut self.state {
            State::Closed { reconnect_at } if *reconnect_at <= now => {
                self.state = State::Connecting;
                self.events.push_back(Event::Connect);
            }
            State::Open { due, .. } if due.is_some_and(|d| d <= now) => {
                *due = None;
                self.events.push_back(Event::NeedOffers {
                    count: self.config.offers,
                });
            }
            _ => {}
        }
        let expired: Vec<OfferId> = self
            .offers
            .iter()
            .filter(|&(_, &deadline)| deadline <= now)
            .map(|(&id, _)| id)
            .collect();
        for id in expired {
            self.offers.remove(&id);
            self.events.push_back(Event::OfferExpired(id));
        }
    }

    /// Announces with these offers (complete SDPs); returns their ids, in order. The first
    /// announce on a connection is `started`. Schedules the next one after the interval.
    pub fn announce(
        &mut self,
        now: Instant,
        stats: Stats,
        sdps: Vec<String>,
    ) -> Result<Vec<OfferId>, UsageError> {
        let event = match &mut self.state {
            State::Open { due, started } => {
                *due = Some(now + self.interval);
                if std::mem::replace(started, true) {
                    AnnounceEvent::None
                } else {
                    AnnounceEvent::Started
                }
            }
            State::Stopped => return Err(UsageError::Stopped),
            _ => return Err(UsageError::NotConnected),
        };
        let mut offers = Vec::with_capacity(sdps.len());
        for sdp in sdps {
            let mut id = [0u8; 20];
            self.rng.fill(&mut id);
            let offer_id = OfferId(id);
            self.offers
                .insert(offer_id, now + self.config.offer_timeout);
            offers.push(Offer { offer_id, sdp });
        }
        let ids = offers.iter().map(|o| o.offer_id).collect();
        self.send(ClientMessage::Announce(Announce {
            info_hash: self.config.info_hash,
            peer_id: self.config.peer_id,
            numwant: Some(u32::try_from(offers.len()).unwrap_or(u32::MAX)),
            uploaded: Some(stats.uploaded),
            downloaded: Some(stats.downloaded),
            left: stats.left,
            event,
            offers,
            tracker_id: self.tracker_id.clone(),
        }));
        Ok(ids)
    }

    /// Answers an offer from [`Event::Offer`].
    pub fn answer(
        &mut self,
        _now: Instant,
        to_peer_id: PeerId,
        offer_id: OfferId,
        sdp: String,
    ) -> Result<(), UsageError> {
        self.require_open()?;
        self.send(ClientMessage::Answer(Answer {
            info_hash: self.config.info_hash,
            peer_id: self.config.peer_id,
            to_peer_id,
            offer_id,
            sdp,
        }));
        Ok(())
    }

    /// The download finished: announces `completed` (no offers) if `started` went out on this
    /// connection; otherwise the next `started` carries `left: 0` and nothing is sent.
    pub fn completed(&mut self, _now: Instant, stats: Stats) -> Result<(), UsageError> {
        self.require_open()?;
        if let State::Open { started: true, .. } = self.state {
            self.send_event(AnnounceEvent::Completed, stats);
        }
        Ok(())
    }

    /// Scrapes our torrent.
    pub fn scrape(&mut self, _now: Instant) -> Result<(), UsageError> {
        self.require_open()?;
        self.send(ClientMessage::Scrape(vec![self.config.info_hash]));
        Ok(())
    }

    /// Leaves: announces `stopped` if connected (send it, then close the socket), expires our
    /// offers, and does nothing more.
    pub fn stop(&mut self, _now: Instant, stats: Stats) {
        if let State::Open { started: true, .. } = self.state {
            self.send_event(AnnounceEvent::Stopped, stats);
        }
        for (offer_id, _) in std::mem::take(&mut self.offers) {
            self.events.push_back(Event::OfferExpired(offer_id));
        }
        self.state = State::Stopped;
    }

    /// The next text frame to send.
    #[must_use]
    pub fn poll_transmit(&mut self) -> Option<String> {
        self.transmits.pop_front()
    }

    /// When to call [`handle_timeout`](Self::handle_timeout).
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        let state = match self.state {
            State::Closed { reconnect_at } => Some(reconnect_at),
            State::Open { due, .. } => due,
            _ => None,
        };
        self.offers.values().copied().chain(state).min()
    }

    /// The next event.
    #[must_use]
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    fn require_open(&self) -> Result<(), UsageError> {
        match self.state {
            State::Open { .. } => Ok(()),
            State::Stopped => Err(UsageError::Stopped),
            _ => Err(UsageError::NotConnected),
        }
    }

    fn send_event(&mut self, event: AnnounceEvent, stats: Stats) {
        self.send(ClientMessage::Announce(Announce {
            info_hash: self.config.info_hash,
            peer_id: self.config.peer_id,
            numwant: Some(0),
            uploaded: Some(stats.uploaded),
            downloaded: Some(stats.downloaded),
            left: stats.left,
            event,
            offers: Vec::new(),
            tracker_id: self.tracker_id.clone(),
        }));
    }

    fn send(&mut self, message: ClientMessage) {
        self.transmits.push_back(message.to_json());
    }
}

#[cfg(test)]
mod tests;
