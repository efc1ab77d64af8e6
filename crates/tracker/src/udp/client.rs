//! The client state machine of one UDP tracker (BEP 15).

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use super::{
    Announce, ConnectionId, DecodeError, MAX_SCRAPE_HASHES, Request, Response, TransactionId,
    action,
};
use crate::rng::Rng;
use crate::{AnnounceRequest, AnnounceResponse, Failure, Family, InfoHash, Peer, ScrapeStats};

/// The client's settings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Config {
    /// Seed of the transaction ids and of the `key` used when an announce has none.
    pub rng_seed: u64,
    /// The first retransmission timeout; the n-th retry waits `base_timeout · 2ⁿ`.
    pub base_timeout: Duration,
    /// Retransmissions before a request fails (BEP 15: n goes up to 8).
    pub max_retransmissions: u32,
    /// How long a connection id may be used after it was received (BEP 15: one minute).
    pub connection_id_lifetime: Duration,
    /// BEP 41 URL data sent with each announce (see [`super::url_data`]); empty for none.
    pub url_data: Vec<u8>,
    /// Most requests in progress at once.
    pub max_requests: usize,
}

impl Default for Config {
    /// BEP 15's timers: 15 s doubling up to 8 retransmissions (3840 s for the last), connection
    /// ids used for 60 s; seed 0, no URL data, 16 requests.
    fn default() -> Self {
        Self {
            rng_seed: 0,
            base_timeout: Duration::from_secs(15),
            max_retransmissions: 8,
            connection_id_lifetime: Duration::from_secs(60),
            url_data: Vec::new(),
            max_requests: 16,
        }
    }
}

/// Names a request, to match its [`Event`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RequestId(pub u64);

/// What the client reports.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// An announce succeeded.
    Announced {
        /// The request.
        id: RequestId,
        /// The tracker's answer (interval, seeders, leechers, peers).
        response: AnnounceResponse,
    },
    /// A scrape succeeded.
    Scraped {
        /// The request.
        id: RequestId,
        /// The numbers, paired with the hashes asked (a short response pairs fewer).
        stats: Vec<(InfoHash, ScrapeStats)>,
    },
    /// A request failed; it is gone.
    Failed {
        /// The request.
        id: RequestId,
        /// Why.
        error: RequestError,
    },
}

/// Why a request failed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RequestError {
    /// The tracker sent an error packet.
    #[error("{0}")]
    Tracker(Failure),
    /// No answer after the last retransmission.
    #[error("tracker did not answer")]
    TimedOut,
    /// The answer (matched by transaction id and action) was malformed.
    #[error("malformed response: {0}")]
    Malformed(DecodeError),
}

/// A command the client cannot carry out.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum UsageError {
    /// [`Config::max_requests`] are in progress.
    #[error("too many requests in progress")]
    TooManyRequests,
    /// A scrape of no swarm (BEP 15 has no full scrape) or of more than 74.
    #[error("a UDP scrape takes 1 to 74 info-hashes, not {0}")]
    ScrapeSize(usize),
}

/// One UDP tracker, as a client sees it: the connect handshake, requests, retransmissions.
///
/// Methods: (A) getters taking `&self`; (B) [`handle_datagram`](Self::handle_datagram) and
/// [`handle_timeout`](Self::handle_timeout) for input from the network or clock; (C)
/// [`announce`](Self::announce), [`scrape`](Self::scrape), [`cancel`](Self::cancel) from the
/// application; (D) `poll_*` for output. After any (B) or (C) call, drain
/// [`poll_transmit`](Self::poll_transmit), then [`poll_timeout`](Self::poll_timeout), then
/// [`poll_event`](Self::poll_event).
///
/// A connection id is fetched when a request needs one and used for
/// [`Config::connection_id_lifetime`]; after that the next request (or retransmission) connects
/// again. A packet not sent within `base_timeout · 2ⁿ` is sent again, the n-th time; after
/// [`Config::max_retransmissions`] the request fails with [`RequestError::TimedOut`]. Answers
/// are matched by transaction id and action; anything else (stray, short, late, duplicated,
/// malformed without a match) is ignored.
#[derive(Debug)]
pub struct Client {
    config: Config,
    family: Family,
    rng: Rng,
    conn: Conn,
    pending: Vec<Pending>,
    next_id: u64,
    transmits: VecDeque<Vec<u8>>,
    events: VecDeque<Event>,
    /// The `key` of announces that carry none.
    key: u32,
}

impl Client {
    /// A client for the tracker at `tracker` (its family decides how announce responses are
    /// read: BEP 15 answers IPv6 packets with IPv6 peers).
    pub fn new(config: Config, tracker: SocketAddr) -> Self {
        let mut rng = Rng::new(config.rng_seed);
        Self {
            key: rng.next_u32(),
            rng,
            config,
            family: Family::of(tracker.ip()),
            conn: Conn::None,
            pending: Vec::new(),
            next_id: 0,
            transmits: VecDeque::new(),
            events: VecDeque::new(),
        }
    }

    /// Whether a connection id is held and still usable at `now`.
    pub fn is_connected(&self, now: Instant) -> bool {
        matches!(self.conn, Conn::Connected { expires, .. } if now < expires)
    }

    /// How many requests are in progress.
    pub fn num_requests(&self) -> usize {
        self.pending.len()
    }

    /// Starts an announce.
    pub fn announce(
        &mut self,
        now: Instant,
        request: AnnounceRequest,
    ) -> Result<RequestId, UsageError> {
        self.start(now, Job::Announce(Box::new(request)))
    }

    /// Starts a scrape of 1 to 74 swarms.
    pub fn scrape(
        &mut self,
        now: Instant,
        info_hashes: Vec<InfoHash>,
    ) -> Result<RequestId, UsageError> {
        if info_hashes.is_empty() || info_hashes.len() > MAX_SCRAPE_HASHES {
            return Err(UsageError::ScrapeSize(info_hashes.len()));
        }
        self.start(now, Job::Scrape(info_hashes))
    }

    /// Forgets a request: no event will come for it. Returns whether it was in progress.
    pub fn cancel(&mut self, id: RequestId) -> bool {
        let before = self.pending.len();
        self.pending.retain(|p| p.id != id);
        before != self.pending.len()
    }

    /// Takes a datagram from the tracker.
    pub fn handle_datagram(&mut self, now: Instant, packet: &[u8]) {
        let (Some(action), Some(tid)) = (read_u32(packet, 0), read_u32(packet, 4)) else {
            return;
        };
        let tid = TransactionId(tid);
        if let Conn::Connecting { tid: expected, .. } = self.conn
            && expected == tid
        {
            self.on_connect_reply(now, action, packet);
            return;
        }
        let Some(i) = self.pending.iter().position(|p| p.sent_tid() == Some(tid)) else {
            return;
        };
        let expected = match self.pending[i].job {
            Job::Announce(_) => action::ANNOUNCE,
            Job::Scrape(_) => action::SCRAPE,
        };
        if action != expected && action != action::ERROR {
            return;
        }
        let pending = self.pending.remove(i);
        let id = pending.id;
        let event = match Response::decode(packet, self.family) {
            Err(e) => Event::Failed {
                id,
                error: RequestError::Malformed(e),
            },
            Ok(Response::Error { message, .. }) => Event::Failed {
                id,
                error: RequestError::Tracker(Failure::new(message)),
            },
            Ok(Response::Announce {
                interval,
                leechers,
                seeders,
                peers,
                ..
            }) => Event::Announced {
                id,
                response: AnnounceResponse {
                    interval: Some(Duration::from_secs(u64::from(interval))),
                    complete: Some(seeders),
                    incomplete: Some(leechers),
                    peers: peers
                        .into_iter()
                        .map(|addr| Peer {
                            addr,
                            peer_id: None,
                        })
                        .collect(),
                    ..AnnounceResponse::default()
                },
            },
            Ok(Response::Scrape { stats, .. }) => {
                let hashes = match pending.job {
                    Job::Scrape(hashes) => hashes,
                    Job::Announce(_) => Vec::new(),
                };
                Event::Scraped {
                    id,
                    stats: hashes.into_iter().zip(stats).collect(),
                }
            }
            // Excluded by the action check above.
            Ok(Response::Connect { .. }) => return,
        };
        self.events.push_back(event);
    }

    /// Retransmits what is due, reconnects where the connection id expired, fails what ran
    /// out of retries.
    pub fn handle_timeout(&mut self, now: Instant) {
        if let Conn::Connecting {
            tid,
            attempt,
            deadline,
        } = self.conn
            && deadline <= now
        {
            if attempt >= self.config.max_retransmissions {
                self.conn = Conn::None;
                self.fail_waiting(&RequestError::TimedOut);
            } else {
                self.conn = Conn::Connecting {
                    tid,
                    attempt: attempt + 1,
                    deadline: now + self.timeout(attempt + 1),
                };
                self.push(&Request::Connect {
                    transaction_id: tid,
                });
            }
        }
        let mut i = 0;
        while i < self.pending.len() {
            let Stage::Sent {
                attempt,
                deadline,
                connection_id,
                ..
            } = self.pending[i].stage
            else {
                i += 1;
                continue;
            };
            if deadline > now {
                i += 1;
                continue;
            }
            if attempt >= self.config.max_retransmissions {
                let id = self.pending.remove(i).id;
                self.events.push_back(Event::Failed {
                    id,
                    error: RequestError::TimedOut,
                });
                continue;
            }
            let usable = matches!(self.conn, Conn::Connected { id, expires }
                if id == connection_id && now < expires);
            if usable {
                let tid = self.pending[i].sent_tid().unwrap_or(TransactionId(0));
                self.pending[i].stage = Stage::Sent {
                    tid,
                    attempt: attempt + 1,
                    deadline: now + self.timeout(attempt + 1),
                    connection_id,
                };
                let packet = self.request_packet(&self.pending[i].job, connection_id, tid);
                self.push(&packet);
            } else {
                // BEP 15: a connection id is only good for a minute; get a new one first.
                self.pending[i].stage = Stage::Waiting {
                    attempt: attempt + 1,
                };
            }
            i += 1;
        }
        self.drive(now);
    }

    /// The next datagram to send to the tracker.
    #[must_use]
    pub fn poll_transmit(&mut self) -> Option<Vec<u8>> {
        self.transmits.pop_front()
    }

    /// When to call [`handle_timeout`](Self::handle_timeout).
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        let connect = match self.conn {
            Conn::Connecting { deadline, .. } => Some(deadline),
            _ => None,
        };
        self.pending
            .iter()
            .filter_map(|p| match p.stage {
                Stage::Sent { deadline, .. } => Some(deadline),
                Stage::Waiting { .. } => None,
            })
            .chain(connect)
            .min()
    }

    /// The next event.
    #[must_use]
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    fn start(&mut self, now: Instant, job: Job) -> Result<RequestId, UsageError> {
        if self.pending.len() >= self.config.max_requests {
            return Err(UsageError::TooManyRequests);
        }
        let id = RequestId(self.next_id);
        self.next_id += 1;
        self.pending.push(Pending {
            id,
            job,
            stage: Stage::Waiting { attempt: 0 },
        });
        self.drive(now);
        Ok(id)
    }

    /// Sends what waits for a connection when there is one, or starts connecting.
    fn drive(&mut self, now: Instant) {
        if let Conn::Connected { expires, .. } = self.conn
            && expires <= now
        {
            self.conn = Conn::None;
        }
        if !self
            .pending
            .iter()
            .any(|p| matches!(p.stage, Stage::Waiting { .. }))
        {
            return;
        }
        match self.conn {
            Conn::Connected { id, .. } => {
                for i in 0..self.pending.len() {
                    let Stage::Waiting { attempt } = self.pending[i].stage else {
                        continue;
                    };
                    let tid = self.fresh_tid();
                    self.pending[i].stage = Stage::Sent {
                        tid,
                        attempt,
                        deadline: now + self.timeout(attempt),
                        connection_id: id,
                    };
                    let packet = self.request_packet(&self.pending[i].job, id, tid);
                    self.push(&packet);
                }
            }
            Conn::None => {
                let tid = self.fresh_tid();
                self.conn = Conn::Connecting {
                    tid,
                    attempt: 0,
                    deadline: now + self.timeout(0),
                };
                self.push(&Request::Connect {
                    transaction_id: tid,
                });
            }
            Conn::Connecting { .. } => {}
        }
    }

    fn on_connect_reply(&mut self, now: Instant, action: u32, packet: &[u8]) {
        match action {
            action::CONNECT => {
                let Ok(Response::Connect { connection_id, .. }) =
                    Response::decode(packet, self.family)
                else {
                    // Too short to hold a connection id: wait for the retransmission.
                    return;
                };
                self.conn = Conn::Connected {
                    id: connection_id,
                    expires: now + self.config.connection_id_lifetime,
                };
                self.drive(now);
            }
            action::ERROR => {
                let message = String::from_utf8_lossy(packet.get(8..).unwrap_or_default());
                self.conn = Conn::None;
                self.fail_waiting(&RequestError::Tracker(Failure::new(message)));
            }
            _ => {}
        }
    }

    fn fail_waiting(&mut self, error: &RequestError) {
        let (failed, kept): (Vec<Pending>, Vec<Pending>) = std::mem::take(&mut self.pending)
            .into_iter()
            .partition(|p| matches!(p.stage, Stage::Waiting { .. }));
        self.pending = kept;
        for p in failed {
            self.events.push_back(Event::Failed {
                id: p.id,
                error: error.clone(),
            });
        }
    }

    fn request_packet(
        &self,
        job: &Job,
        connection_id: ConnectionId,
        tid: TransactionId,
    ) -> Request {
        match job {
            Job::Announce(request) => {
                let mut packet =
                    Announce::new(connection_id, tid, request, self.config.url_data.clone());
                packet.key = request.key.unwrap_or(self.key);
                Request::Announce(packet)
            }
            Job::Scrape(hashes) => Request::Scrape {
                connection_id,
                transaction_id: tid,
                info_hashes: hashes.clone(),
            },
        }
    }

    fn push(&mut self, request: &Request) {
        let mut out = Vec::with_capacity(super::ANNOUNCE_LEN + self.config.url_data.len() + 8);
        request.encode(&mut out);
        self.transmits.push_back(out);
    }

    /// `base_timeout · 2^attempt` (saturating).
    fn timeout(&self, attempt: u32) -> Duration {
        self.config
            .base_timeout
            .saturating_mul(1u32.checked_shl(attempt).unwrap_or(u32::MAX))
    }

    /// A transaction id no exchange in progress uses.
    fn fresh_tid(&mut self) -> TransactionId {
        loop {
            let tid = TransactionId(self.rng.next_u32());
            let used = matches!(self.conn, Conn::Connecting { tid: t, .. } if t == tid)
                || self.pending.iter().any(|p| p.sent_tid() == Some(tid));
            if !used {
                return tid;
            }
        }
    }
}

#[derive(Clone, Copy, Debug)]
enum Conn {
    None,
    Connecting {
        tid: TransactionId,
        attempt: u32,
        deadline: Instant,
    },
    Connected {
        id: ConnectionId,
        expires: Instant,
    },
}

#[derive(Debug)]
struct Pending {
    id: RequestId,
    job: Job,
    stage: Stage,
}

impl Pending {
    fn sent_tid(&self) -> Option<TransactionId> {
        match self.stage {
            Stage::Sent { tid, .. } => Some(tid),
            Stage::Waiting { .. } => None,
        }
    }
}

#[derive(Debug)]
enum Job {
    Announce(Box<AnnounceRequest>),
    Scrape(Vec<InfoHash>),
}

#[derive(Clone, Copy, Debug)]
enum Stage {
    /// Needs a connection id; `attempt` carries over the retransmissions already spent.
    Waiting { attempt: u32 },
    Sent {
        tid: TransactionId,
        attempt: u32,
        deadline: Instant,
        connection_id: ConnectionId,
    },
}

fn read_u32(packet: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_be_bytes(packet.get(at..at + 4)?.try_into().ok()?))
}

#[cfg(test)]
mod tests;
