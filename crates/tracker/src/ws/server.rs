//! A WebSocket tracker's relay (WebTorrent signaling), the way bittorrent-tracker's server
//! behaves: `(socket, text)` in, `(socket, text)` out, the swarm table behind.
//!
//! - An announce is answered with the swarm's numbers and the WebSocket interval. Its offers
//!   are relayed, each to a different random WebSocket peer of the swarm (never back to the
//!   sender), up to `numwant`; each relayed offer carries the offerer's `peer_id` and the
//!   `offer_id`.
//! - An answer is routed to the socket of `to_peer_id` in that swarm, carrying the answerer's
//!   `peer_id` and the `offer_id`; the answerer gets no reply.
//! - A socket is bound to the first peer id it announces; another peer id on it is refused.
//! - When a socket closes, its peers leave every swarm they joined through it (unless they have
//!   since announced through another socket).
//!
//! ```
//! use std::time::Instant;
//! use tracker::server::{Config as TableConfig, SocketId, SwarmTable};
//! use tracker::ws::server::{Config, Server};
//!
//! # #[expect(clippy::disallowed_methods, reason = "a driver reads the clock")]
//! let now = Instant::now();
//! let mut table = SwarmTable::new(TableConfig::default());
//! let mut server = Server::new(Config::default());
//! let hash = "a".repeat(20);
//! let announce = |peer: &str| format!(
//!     r#"{{"action":"announce","info_hash":"{hash}","peer_id":"{}","numwant":1,"left":1,"event":"started","offers":[{{"offer_id":"{}","offer":{{"type":"offer","sdp":"v=0"}}}}]}}"#,
//!     peer.repeat(20), "o".repeat(20));
//! server.handle_text(now, SocketId(1), &announce("x"), &mut table);
//! server.handle_text(now, SocketId(2), &announce("y"), &mut table);
//! let out: Vec<_> = std::iter::from_fn(|| server.poll_transmit()).collect();
//! // Each got its reply; the second one's offer went to the first socket.
//! assert_eq!(out.len(), 3);
//! assert_eq!(out[2].0, SocketId(1));
//! assert!(out[2].1.contains(r#""offer":{"type":"offer","sdp":"v=0"}"#));
//! ```

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::time::Instant;

use super::{
    AnnounceReply, ClientMessage, Limits, RelayedAnswer, RelayedOffer, ScrapeReply, ServerMessage,
};
use crate::server::{self, Endpoint, Kind, SocketId, SwarmTable};
use crate::{Event, InfoHash, PeerId};

/// The relay's settings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Config {
    /// Bounds on client messages.
    pub limits: Limits,
    /// Most swarms one socket may join.
    pub max_swarms_per_socket: usize,
}

impl Default for Config {
    /// Default [`Limits`], 1000 swarms per socket.
    fn default() -> Self {
        Self {
            limits: Limits::default(),
            max_swarms_per_socket: 1000,
        }
    }
}

/// The relay.
///
/// Methods: (A) getters taking `&self`; (B) [`handle_text`](Self::handle_text) and
/// [`handle_close`](Self::handle_close) for input from the sockets; (D)
/// [`poll_transmit`](Self::poll_transmit) for the frames to send. Peer expiry is the swarm
/// table's timer.
#[derive(Debug, Default)]
pub struct Server {
    config: Config,
    sockets: BTreeMap<SocketId, Socket>,
    out: VecDeque<(SocketId, String)>,
}

#[derive(Debug, Default)]
struct Socket {
    peer_id: Option<PeerId>,
    swarms: BTreeSet<InfoHash>,
}

impl Server {
    /// A relay without sockets.
    pub fn new(config: Config) -> Self {
        Self {
            config,
            sockets: BTreeMap::new(),
            out: VecDeque::new(),
        }
    }

    /// How many sockets have sent a message and not closed.
    pub fn num_sockets(&self) -> usize {
        self.sockets.len()
    }

    /// The peer id a socket is bound to.
    pub fn peer_id(&self, socket: SocketId) -> Option<PeerId> {
        self.sockets.get(&socket).and_then(|s| s.peer_id)
    }

    /// Handles a text frame from `socket`.
    pub fn handle_text(
        &mut self,
        now: Instant,
        socket: SocketId,
        text: &str,
        table: &mut SwarmTable,
    ) {
        let message = match ClientMessage::from_json(text, &self.config.limits) {
            Ok(m) => m,
            Err(e) => {
                self.reply(socket, None, e.to_string());
                return;
            }
        };
        match message {
            ClientMessage::Announce(a) => {
                if !self.bind(socket, a.peer_id, a.info_hash) {
                    return;
                }
                let sock = self.sockets.entry(socket).or_default();
                if a.event != Event::Stopped
                    && !sock.swarms.contains(&a.info_hash)
                    && sock.swarms.len() >= self.config.max_swarms_per_socket
                {
                    self.reply(
                        socket,
                        Some(a.info_hash),
                        "too many torrents on one socket".into(),
                    );
                    return;
                }
                // bittorrent-tracker: "numwant" is the number of offers (explicit only).
                let wanted = a.numwant.map_or(a.offers.len(), |n| {
                    a.offers.len().min(usize::try_from(n).unwrap_or(usize::MAX))
                });
                let announce = server::Announce {
                    info_hash: a.info_hash,
                    peer_id: a.peer_id,
                    endpoint: Endpoint::WebSocket(socket),
                    event: a.event,
                    left: a.left,
                    numwant: Some(u32::try_from(wanted).unwrap_or(u32::MAX)),
                    family: None,
                };
                let reply = match table.announce(now, &announce) {
                    Ok(reply) => reply,
                    Err(refusal) => {
                        self.reply(socket, Some(a.info_hash), refusal.to_string());
                        return;
                    }
                };
                if reply.stored {
                    sock.swarms.insert(a.info_hash);
                } else {
                    sock.swarms.remove(&a.info_hash);
                }
                self.send(
                    socket,
                    &ServerMessage::Announced(AnnounceReply {
                        info_hash: Some(a.info_hash),
                        complete: Some(reply.complete),
                        incomplete: Some(reply.incomplete),
                        interval: Some(reply.interval),
                        ..AnnounceReply::default()
                    }),
                );
                for (peer, offer) in reply.peers.iter().zip(a.offers) {
                    let Endpoint::WebSocket(to) = peer.endpoint else {
                        continue;
                    };
                    self.send(
                        to,
                        &ServerMessage::Offer(RelayedOffer {
                            info_hash: a.info_hash,
                            peer_id: a.peer_id,
                            offer_id: offer.offer_id,
                            sdp: offer.sdp,
                        }),
                    );
                }
            }
            ClientMessage::Answer(a) => {
                if !self.bind(socket, a.peer_id, a.info_hash) {
                    return;
                }
                let to = table
                    .peer(&a.info_hash, Kind::WebSocket, &a.to_peer_id)
                    .map(|p| p.endpoint);
                // bittorrent-tracker drops an answer for a peer it does not know, silently.
                if let Some(Endpoint::WebSocket(to)) = to {
                    self.send(
                        to,
                        &ServerMessage::Answer(RelayedAnswer {
                            info_hash: a.info_hash,
                            peer_id: a.peer_id,
                            offer_id: a.offer_id,
                            sdp: a.sdp,
                        }),
                    );
                }
            }
            ClientMessage::Scrape(hashes) => match table.scrape(&hashes) {
                Ok(files) => {
                    let min_request_interval = Some(table.config().ws_interval);
                    self.send(
                        socket,
                        &ServerMessage::Scraped(ScrapeReply {
                            files,
                            min_request_interval,
                        }),
                    );
                }
                Err(refusal) => self.reply(socket, None, refusal.to_string()),
            },
        }
    }

    /// The socket closed: its peers leave the swarms they joined through it.
    pub fn handle_close(&mut self, socket: SocketId, table: &mut SwarmTable) {
        let Some(sock) = self.sockets.remove(&socket) else {
            return;
        };
        if let Some(peer_id) = sock.peer_id {
            for hash in &sock.swarms {
                table.remove(hash, &peer_id, Endpoint::WebSocket(socket));
            }
        }
        self.out.retain(|(to, _)| *to != socket);
    }

    /// The next frame to send, with its socket.
    #[must_use]
    pub fn poll_transmit(&mut self) -> Option<(SocketId, String)> {
        self.out.pop_front()
    }

    /// Binds `socket` to `peer_id` on first use; false (after replying a failure) when it is
    /// bound to another.
    fn bind(&mut self, socket: SocketId, peer_id: PeerId, info_hash: InfoHash) -> bool {
        let sock = self.sockets.entry(socket).or_default();
        match sock.peer_id {
            None => {
                sock.peer_id = Some(peer_id);
                true
            }
            Some(bound) if bound == peer_id => true,
            Some(_) => {
                self.reply(
                    socket,
                    Some(info_hash),
                    "peer_id differs from the one this socket announced".into(),
                );
                false
            }
        }
    }

    fn reply(&mut self, socket: SocketId, info_hash: Option<InfoHash>, reason: String) {
        self.send(socket, &ServerMessage::Failure { info_hash, reason });
    }

    fn send(&mut self, socket: SocketId, message: &ServerMessage) {
        self.out.push_back((socket, message.to_json()));
    }
}

#[cfg(test)]
mod tests;
