//! WebTorrent's WebSocket trackers: the signaling channel of WebRTC peers.
//!
//! One [`WsTracker`] per tracker URL, shared by every torrent of a node that announces to it:
//! one socket and one peer id for all of them (the tracker binds a socket to the first peer id
//! it sees, and that id is also the one of our wire handshakes). Each torrent that
//! [joins](WsTracker::join) gets a sans-IO [`tracker::ws::Client`] inside the task that owns the
//! socket, and a channel of [`Signal`]s: when to make offers, the offers of other peers to
//! answer, the answers to ours.
//!
//! ```text
//!   torrent ──join / offers / answer / completed / leave──▶ WsTracker task ──text──▶ tracker
//!   torrent ◀──Signal (NeedOffers, Offer, Answer, …)────── Client per torrent ◀──text──┘
//! ```
//!
//! The clients decide when to connect (the first join, then after a closed socket with their
//! backoff: 10 s · 2ⁿ plus jitter, at most an hour, as WebTorrent) and when to announce; the
//! task opens the socket when any of them asks and tells all of them when it opens or closes.
//! SDPs are opaque here: making and reading them is the WebRTC transport's job.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, oneshot};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};
use tracker::ws::{Client, Config, Event, OfferId, Stats};
use tracker::{InfoHash, PeerId};

use crate::clock;

/// The largest message accepted from a tracker (an offer's SDP is a few KiB).
const MAX_MESSAGE: usize = 64 << 10;
/// How long opening the socket (TCP and the WebSocket handshake) may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(20);

/// What a torrent hears from a WebSocket tracker.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Signal {
    /// An announce is due: make up to `count` offers (complete SDPs) and hand them to
    /// [`WsTracker::announce`] (none if no more peers are wanted).
    NeedOffers {
        /// How many at most.
        count: usize,
    },
    /// Another peer's offer: answer it with [`WsTracker::answer`].
    Offer {
        /// The offerer.
        peer_id: PeerId,
        /// Its offer.
        offer_id: OfferId,
        /// Its SDP.
        sdp: String,
    },
    /// The answer to one of our offers.
    Answer {
        /// The answerer.
        peer_id: PeerId,
        /// Our offer.
        offer_id: OfferId,
        /// Its SDP.
        sdp: String,
    },
    /// One of our offers got no answer in time, or the socket closed: drop its connection.
    OfferExpired(OfferId),
    /// The tracker answered an announce: seeds and leechers it knows.
    Announced {
        /// Seeds.
        complete: Option<u32>,
        /// Leechers.
        incomplete: Option<u32>,
    },
    /// The tracker refused a request, or warned.
    Failure(String),
}

/// Settings of a [`WsTracker`].
#[derive(Clone, Debug)]
pub struct WsOptions {
    /// Our peer id, for every torrent.
    pub peer_id: [u8; 20],
    /// The first reconnect delay after the socket closed (doubling on each failure).
    pub reconnect_min: Duration,
    /// Up to this much random delay is added to each reconnect.
    pub reconnect_jitter: Duration,
    /// Offers asked for each announce.
    pub offers: usize,
}

impl WsOptions {
    /// WebTorrent's settings: reconnects after 10 s (doubling up to an hour) plus up to 10 s
    /// of jitter, 5 offers an announce.
    pub fn new(peer_id: [u8; 20]) -> Self {
        Self {
            peer_id,
            reconnect_min: Duration::from_secs(10),
            reconnect_jitter: Duration::from_secs(10),
            offers: 5,
        }
    }
}

/// A WebSocket tracker shared by a node's torrents; the socket's task ends when every handle
/// is dropped.
#[derive(Clone, Debug)]
pub struct WsTracker {
    requests: mpsc::UnboundedSender<Request>,
}

#[derive(Debug)]
enum Request {
    Join {
        info_hash: InfoHash,
        signals: mpsc::UnboundedSender<Signal>,
    },
    Announce {
        info_hash: InfoHash,
        stats: Stats,
        sdps: Vec<String>,
        reply: oneshot::Sender<Vec<OfferId>>,
    },
    Answer {
        info_hash: InfoHash,
        to: PeerId,
        offer_id: OfferId,
        sdp: String,
    },
    Completed {
        info_hash: InfoHash,
        stats: Stats,
    },
    Leave {
        info_hash: InfoHash,
        stats: Stats,
    },
}

impl WsTracker {
    /// The tracker at `url` (`ws://HOST:PORT/PATH`); nothing is opened until a torrent joins.
    pub fn spawn(url: &str, options: WsOptions) -> Self {
        let (requests, rx) = mpsc::unbounded_channel();
        tokio::spawn(run(url.to_string(), options, rx));
        Self { requests }
    }

    /// Announces `info_hash` here from now on; its signals come on the returned channel.
    pub fn join(&self, info_hash: [u8; 20]) -> mpsc::UnboundedReceiver<Signal> {
        let (signals, rx) = mpsc::unbounded_channel();
        let _ = self.requests.send(Request::Join {
            info_hash: InfoHash(info_hash),
            signals,
        });
        rx
    }

    /// Announces with these offers (after [`Signal::NeedOffers`]); returns their ids in order
    /// (none if the socket is not open: the offers were not sent).
    pub async fn announce(
        &self,
        info_hash: [u8; 20],
        stats: Stats,
        sdps: Vec<String>,
    ) -> Vec<OfferId> {
        let (reply, rx) = oneshot::channel();
        let request = Request::Announce {
            info_hash: InfoHash(info_hash),
            stats,
            sdps,
            reply,
        };
        if self.requests.send(request).is_err() {
            return Vec::new();
        }
        rx.await.unwrap_or_default()
    }

    /// Answers an offer from [`Signal::Offer`].
    pub fn answer(&self, info_hash: [u8; 20], to: PeerId, offer_id: OfferId, sdp: String) {
        let _ = self.requests.send(Request::Answer {
            info_hash: InfoHash(info_hash),
            to,
            offer_id,
            sdp,
        });
    }

    /// The torrent finished downloading.
    pub fn completed(&self, info_hash: [u8; 20], stats: Stats) {
        let _ = self.requests.send(Request::Completed {
            info_hash: InfoHash(info_hash),
            stats,
        });
    }

    /// Stops announcing `info_hash` (`stopped` to the tracker).
    pub fn leave(&self, info_hash: [u8; 20], stats: Stats) {
        let _ = self.requests.send(Request::Leave {
            info_hash: InfoHash(info_hash),
            stats,
        });
    }
}

type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

struct Torrent {
    client: Client,
    signals: mpsc::UnboundedSender<Signal>,
}

/// The socket's task.
struct Task {
    url: String,
    options: WsOptions,
    torrents: HashMap<InfoHash, Torrent>,
    /// Texts waiting for the socket to take them.
    outbox: Vec<String>,
    /// Whether a client asked for the socket and it is not open yet.
    wanted: bool,
    /// Whether the socket is open.
    open: bool,
    /// Seeds each client's offer ids and jitter differently.
    next_seed: u64,
}

async fn run(url: String, options: WsOptions, mut requests: mpsc::UnboundedReceiver<Request>) {
    let mut task = Task {
        url,
        options,
        torrents: HashMap::new(),
        outbox: Vec::new(),
        wanted: false,
        open: false,
        next_seed: u64::from_le_bytes(crate::client::random_bytes::<8>()),
    };
    let mut socket: Option<Socket> = None;
    loop {
        if socket.is_none() && task.wanted {
            task.wanted = false;
            match connect(&task.url).await {
                Ok(s) => {
                    socket = Some(s);
                    task.open = true;
                    task.each(|c, now| c.handle_open(now));
                }
                Err(_) => task.each(|c, now| c.handle_close(now)),
            }
            continue;
        }
        if let Some(s) = &mut socket
            && !task.outbox.is_empty()
        {
            let mut failed = false;
            for text in std::mem::take(&mut task.outbox) {
                if s.feed(Message::text(text)).await.is_err() {
                    failed = true;
                    break;
                }
            }
            if failed || s.flush().await.is_err() {
                socket = None;
                task.open = false;
                task.outbox.clear();
                task.each(|c, now| c.handle_close(now));
                continue;
            }
        }
        let wake = task
            .torrents
            .values()
            .filter_map(|t| t.client.poll_timeout())
            .min();
        let sleep = async {
            match wake {
                Some(at) => tokio::time::sleep_until(at.into()).await,
                None => std::future::pending().await,
            }
        };
        let incoming = async {
            match &mut socket {
                Some(s) => s.next().await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            request = requests.recv() => match request {
                Some(r) => task.on_request(r),
                None => {
                    // Every handle is gone: say `stopped` for what is left, then end.
                    let stats = Stats::default();
                    task.each(|c, now| c.stop(now, stats));
                    if let Some(mut s) = socket.take() {
                        for text in std::mem::take(&mut task.outbox) {
                            let _ = s.feed(Message::text(text)).await;
                        }
                        let _ = s.flush().await;
                        let _ = s.close(None).await;
                    }
                    return;
                }
            },
            message = incoming => match message {
                Some(Ok(Message::Text(text))) => {
                    let text = text.as_str().to_string();
                    task.each(|c, now| c.handle_text(now, &text));
                }
                Some(Ok(Message::Close(_)) | Err(_)) | None => {
                    socket = None;
                    task.open = false;
                    task.outbox.clear();
                    task.each(|c, now| c.handle_close(now));
                }
                // Pings are answered by tungstenite on the next write or flush.
                Some(Ok(_)) => {}
            },
            () = sleep => task.each(|c, now| c.handle_timeout(now)),
        }
    }
}

async fn connect(url: &str) -> Result<Socket, String> {
    let config = WebSocketConfig::default()
        .max_message_size(Some(MAX_MESSAGE))
        .max_frame_size(Some(MAX_MESSAGE));
    let connecting = tokio_tungstenite::connect_async_with_config(url, Some(config), false);
    match tokio::time::timeout(CONNECT_TIMEOUT, connecting).await {
        Ok(Ok((socket, _response))) => Ok(socket),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err("timed out".to_string()),
    }
}

impl Task {
    fn on_request(&mut self, request: Request) {
        let now = clock();
        match request {
            Request::Join { info_hash, signals } => {
                let mut config = Config::new(info_hash, PeerId(self.options.peer_id));
                config.rng_seed = self.next_seed;
                self.next_seed = self.next_seed.wrapping_add(0x9E37_79B9_7F4A_7C15);
                config.offers = self.options.offers;
                config.reconnect_min = self.options.reconnect_min;
                config.reconnect_jitter = self.options.reconnect_jitter;
                let mut client = Client::new(config);
                client.start(now);
                self.torrents.insert(info_hash, Torrent { client, signals });
                self.drain(info_hash);
            }
            Request::Announce {
                info_hash,
                stats,
                sdps,
                reply,
            } => {
                let ids = self
                    .torrents
                    .get_mut(&info_hash)
                    .and_then(|t| t.client.announce(now, stats, sdps).ok())
                    .unwrap_or_default();
                let _ = reply.send(ids);
                self.drain(info_hash);
            }
            Request::Answer {
                info_hash,
                to,
                offer_id,
                sdp,
            } => {
                if let Some(t) = self.torrents.get_mut(&info_hash) {
                    let _ = t.client.answer(now, to, offer_id, sdp);
                }
                self.drain(info_hash);
            }
            Request::Completed { info_hash, stats } => {
                if let Some(t) = self.torrents.get_mut(&info_hash) {
                    let _ = t.client.completed(now, stats);
                }
                self.drain(info_hash);
            }
            Request::Leave { info_hash, stats } => {
                if let Some(t) = self.torrents.get_mut(&info_hash) {
                    t.client.stop(now, stats);
                }
                self.drain(info_hash);
                self.torrents.remove(&info_hash);
            }
        }
    }

    /// Calls `f` on every client, then carries out what they want.
    fn each(&mut self, mut f: impl FnMut(&mut Client, Instant)) {
        let now = clock();
        let keys: Vec<InfoHash> = self.torrents.keys().copied().collect();
        for key in keys {
            if let Some(t) = self.torrents.get_mut(&key) {
                f(&mut t.client, now);
            }
            self.drain(key);
        }
    }

    /// Moves a client's texts to the socket and its events to its torrent.
    fn drain(&mut self, info_hash: InfoHash) {
        let Some(t) = self.torrents.get_mut(&info_hash) else {
            return;
        };
        while let Some(event) = t.client.poll_event() {
            let signal = match event {
                Event::Connect if self.open => {
                    // Open already, for the other torrents: an announce is due now.
                    t.client.handle_open(clock());
                    continue;
                }
                Event::Connect => {
                    self.wanted = true;
                    continue;
                }
                Event::NeedOffers { count } => Signal::NeedOffers { count },
                Event::Offer {
                    peer_id,
                    offer_id,
                    sdp,
                } => Signal::Offer {
                    peer_id,
                    offer_id,
                    sdp,
                },
                Event::Answer {
                    peer_id,
                    offer_id,
                    sdp,
                } => Signal::Answer {
                    peer_id,
                    offer_id,
                    sdp,
                },
                Event::OfferExpired(id) => Signal::OfferExpired(id),
                Event::Announced(reply) => Signal::Announced {
                    complete: reply.complete,
                    incomplete: reply.incomplete,
                },
                Event::Failure(reason) | Event::Warning(reason) => Signal::Failure(reason),
                Event::Scraped(_) => continue,
            };
            let _ = t.signals.send(signal);
        }
        // After the events: handling one may have queued texts (an announce on opening).
        while let Some(text) = t.client.poll_transmit() {
            self.outbox.push(text);
        }
    }
}
