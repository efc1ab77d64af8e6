//! A UDP tracker's front end (BEP 15): datagrams in, datagrams out, the swarm table behind.
//!
//! Connection ids are stateless: a keyed hash (SipHash-2-4 under the configured secret) of the
//! client's address and the current epoch of [`Config::epoch`]. An id is accepted in the epoch
//! it was made in and the next [`Config::grace_epochs`], so with the defaults it stays valid for
//! two to three minutes (BEP 15: "Trackers should accept the connection ID until two minutes
//! after it has been send"). Nothing is stored per client, so a flood of connects costs no
//! memory.
//!
//! ```
//! use std::time::Instant;
//! use tracker::server::{Config as TableConfig, SwarmTable};
//! use tracker::udp::{Request, Response, TransactionId};
//! use tracker::udp::server::{Config, Server};
//! use tracker::Family;
//!
//! # #[expect(clippy::disallowed_methods, reason = "a driver reads the clock")]
//! let now = Instant::now();
//! let mut table = SwarmTable::new(TableConfig::default());
//! let mut server = Server::new(Config::new([7; 16]), now);
//! let client = "10.0.0.1:6881".parse()?;
//!
//! let mut connect = Vec::new();
//! Request::Connect { transaction_id: TransactionId(1) }.encode(&mut connect);
//! let mut reply = Vec::new();
//! assert!(server.handle_datagram(now, client, &connect, &mut table, &mut reply));
//! let Response::Connect { connection_id, .. } = Response::decode(&reply, Family::V4)? else {
//!     unreachable!()
//! };
//! assert!(server.is_valid(now, client, connection_id));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use super::{ConnectionId, DecodeError, Request, Response, TransactionId};
use crate::server::{self, Endpoint, SwarmTable};
use crate::siphash::siphash24;
use crate::{Family, udp};

/// The server's settings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Config {
    /// The key of the connection-id hash. Random, and secret: whoever knows it can forge
    /// connection ids for any address (and so make the tracker announce a spoofed address).
    pub secret: [u8; 16],
    /// Length of an epoch.
    pub epoch: Duration,
    /// Epochs after its own in which an id is still accepted.
    pub grace_epochs: u32,
}

impl Config {
    /// One-minute epochs with two of grace, under `secret` (take it from the operating
    /// system's random generator).
    pub fn new(secret: [u8; 16]) -> Self {
        Self {
            secret,
            epoch: Duration::from_secs(60),
            grace_epochs: 2,
        }
    }
}

/// The front end.
///
/// Methods: (A) getters taking `&self`; (B) [`handle_datagram`](Self::handle_datagram) for
/// input from the network. It keeps no state per client and has no timers.
#[derive(Debug)]
pub struct Server {
    config: Config,
    origin: Instant,
}

impl Server {
    /// A server whose epochs count from `now`.
    pub fn new(config: Config, now: Instant) -> Self {
        Self {
            config,
            origin: now,
        }
    }

    /// The connection id `client` gets at `now`.
    pub fn connection_id(&self, now: Instant, client: SocketAddr) -> ConnectionId {
        self.id_for(self.epoch(now), client)
    }

    /// Whether `id` is one `client` got recently enough.
    pub fn is_valid(&self, now: Instant, client: SocketAddr, id: ConnectionId) -> bool {
        let epoch = self.epoch(now);
        (0..=u64::from(self.config.grace_epochs))
            .filter_map(|back| epoch.checked_sub(back))
            .any(|e| self.id_for(e, client) == id)
    }

    /// Answers one datagram from `from`: appends the reply to `out` and returns true, or
    /// returns false when nothing should be sent (a packet too short to carry a transaction id,
    /// or a connect without the protocol id: not meant for a tracker).
    ///
    /// Announces use the packet's source address with the announced port (the IP field is
    /// ignored: it would let anyone aim a swarm at a third party) and get peers of the packet's
    /// family. Bad connection ids and malformed or refused requests get an error packet.
    pub fn handle_datagram(
        &self,
        now: Instant,
        from: SocketAddr,
        packet: &[u8],
        table: &mut SwarmTable,
        out: &mut Vec<u8>,
    ) -> bool {
        let from = SocketAddr::new(from.ip().to_canonical(), from.port());
        let request = match Request::decode(packet) {
            Ok(request) => request,
            Err(DecodeError::TooShort { len, .. }) if len < 16 => return false,
            Err(DecodeError::BadProtocolId(_)) => return false,
            Err(e) => {
                // Every error but `TooShort` comes from a packet of 16 bytes or more.
                let tid = packet
                    .get(12..16)
                    .and_then(|b| b.try_into().ok())
                    .map_or(TransactionId(0), |b| TransactionId(u32::from_be_bytes(b)));
                return error(out, tid, &e.to_string());
            }
        };
        let tid = request.transaction_id();
        match request {
            Request::Connect { .. } => {
                Response::Connect {
                    transaction_id: tid,
                    connection_id: self.connection_id(now, from),
                }
                .encode(out);
                true
            }
            Request::Announce(a) => {
                if !self.is_valid(now, from, a.connection_id) {
                    return error(out, tid, "connection id expired");
                }
                if a.port == 0 {
                    return error(out, tid, "invalid port");
                }
                let family = Family::of(from.ip());
                let announce = server::Announce {
                    info_hash: a.info_hash,
                    peer_id: a.peer_id,
                    endpoint: Endpoint::Addr(SocketAddr::new(from.ip(), a.port)),
                    event: a.event,
                    left: Some(a.left),
                    numwant: u32::try_from(a.num_want).ok(),
                    family: Some(family),
                };
                match table.announce(now, &announce) {
                    Ok(reply) => {
                        Response::Announce {
                            transaction_id: tid,
                            interval: u32::try_from(reply.interval.as_secs()).unwrap_or(u32::MAX),
                            leechers: reply.incomplete,
                            seeders: reply.complete,
                            peers: reply
                                .peers
                                .iter()
                                .filter_map(|p| match p.endpoint {
                                    Endpoint::Addr(addr) => Some(addr),
                                    Endpoint::WebSocket(_) => None,
                                })
                                .collect(),
                        }
                        .encode(out);
                        true
                    }
                    Err(refusal) => error(out, tid, &refusal.to_string()),
                }
            }
            Request::Scrape {
                connection_id,
                info_hashes,
                ..
            } => {
                if !self.is_valid(now, from, connection_id) {
                    return error(out, tid, "connection id expired");
                }
                if info_hashes.is_empty() {
                    // BEP 15: "A full scrape can't be done with this protocol."
                    return error(out, tid, "no info-hash to scrape");
                }
                match table.scrape(&info_hashes) {
                    Ok(files) => {
                        Response::Scrape {
                            transaction_id: tid,
                            stats: files.into_iter().map(|(_, s)| s).collect(),
                        }
                        .encode(out);
                        true
                    }
                    Err(refusal) => error(out, tid, &refusal.to_string()),
                }
            }
        }
    }

    fn epoch(&self, now: Instant) -> u64 {
        let elapsed = now.saturating_duration_since(self.origin);
        let epoch = self.config.epoch.as_nanos().max(1);
        u64::try_from(elapsed.as_nanos() / epoch).unwrap_or(u64::MAX)
    }

    fn id_for(&self, epoch: u64, client: SocketAddr) -> ConnectionId {
        // epoch (8) · IPv6 or IPv4-mapped address (16) · port (2)
        let mut input = [0u8; 26];
        input[..8].copy_from_slice(&epoch.to_le_bytes());
        let ip = match client.ip() {
            IpAddr::V4(ip) => ip.to_ipv6_mapped(),
            IpAddr::V6(ip) => ip,
        };
        input[8..24].copy_from_slice(&ip.octets());
        input[24..].copy_from_slice(&client.port().to_be_bytes());
        ConnectionId(siphash24(&self.config.secret, &input))
    }
}

fn error(out: &mut Vec<u8>, transaction_id: TransactionId, message: &str) -> bool {
    udp::Response::Error {
        transaction_id,
        message: message.to_owned(),
    }
    .encode(out);
    true
}

#[cfg(test)]
mod tests;
