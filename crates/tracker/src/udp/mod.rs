//! UDP trackers (BEP 15): the packets, a client state machine per tracker ([`Client`]) and a
//! server front end ([`server::Server`]).
//!
//! Every integer is big-endian. Requests start with a 64-bit connection id (the protocol id
//! `0x41727101980` for a connect), a 32-bit action and a 32-bit transaction id; responses with
//! the action and the transaction id. Announce responses carry BEP 23's 6-byte IPv4 peers, or
//! 18-byte IPv6 peers when the tracker was reached over IPv6 (BEP 15: the format follows the
//! address family of the packet).
//!
//! ```
//! use tracker::udp::{Request, TransactionId};
//!
//! let mut packet = Vec::new();
//! Request::Connect { transaction_id: TransactionId(0x1234_5678) }.encode(&mut packet);
//! assert_eq!(packet, [0, 0, 4, 0x17, 0x27, 0x10, 0x19, 0x80, 0, 0, 0, 0, 0x12, 0x34, 0x56, 0x78]);
//! assert_eq!(Request::decode(&packet), Ok(Request::Connect { transaction_id: TransactionId(0x1234_5678) }));
//! ```

mod client;
pub mod server;

use std::net::{Ipv4Addr, SocketAddr};

pub use client::{Client, Config, Event, RequestError, RequestId, UsageError};

use crate::compact::{self, LengthError};
use crate::{AnnounceRequest, Family, InfoHash, PeerId, ScrapeStats};

/// The magic constant of a connect request.
pub const PROTOCOL_ID: u64 = 0x0417_2710_1980;

/// Most info-hashes in one scrape request (BEP 15: "Up to about 74 torrents can be scraped at
/// once. A full scrape can't be done with this protocol.").
pub const MAX_SCRAPE_HASHES: usize = 74;

/// The announce request's fixed part, in bytes (BEP 15); BEP 41 options may follow.
pub const ANNOUNCE_LEN: usize = 98;

/// The action numbers.
pub mod action {
    /// Connect.
    pub const CONNECT: u32 = 0;
    /// Announce.
    pub const ANNOUNCE: u32 = 1;
    /// Scrape.
    pub const SCRAPE: u32 = 2;
    /// Error (responses only).
    pub const ERROR: u32 = 3;
}

/// A connection id: what a connect response grants, good for one minute of requests.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ConnectionId(pub u64);

/// A transaction id: chosen by the client, echoed by the tracker.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TransactionId(pub u32);

/// A client's packet.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Request {
    /// Asks for a connection id.
    Connect {
        /// The transaction.
        transaction_id: TransactionId,
    },
    /// An announce.
    Announce(Announce),
    /// A scrape of up to [`MAX_SCRAPE_HASHES`] swarms.
    Scrape {
        /// From the connect response.
        connection_id: ConnectionId,
        /// The transaction.
        transaction_id: TransactionId,
        /// The swarms.
        info_hashes: Vec<InfoHash>,
    },
}

/// The announce request (BEP 15) with BEP 41's URL data.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Announce {
    /// From the connect response.
    pub connection_id: ConnectionId,
    /// The transaction.
    pub transaction_id: TransactionId,
    /// The swarm.
    pub info_hash: InfoHash,
    /// Our peer id.
    pub peer_id: PeerId,
    /// Bytes downloaded.
    pub downloaded: u64,
    /// Bytes left.
    pub left: u64,
    /// Bytes uploaded.
    pub uploaded: u64,
    /// The event.
    pub event: crate::Event,
    /// Our IPv4 address, or 0.0.0.0 for "the packet's source".
    pub ip: Ipv4Addr,
    /// The client's key.
    pub key: u32,
    /// Peers wanted; -1 for the tracker's default.
    pub num_want: i32,
    /// Our port.
    pub port: u16,
    /// BEP 41 URL data: the path and query of the `udp://` URL (a passkey), empty for none.
    pub url_data: Vec<u8>,
}

impl Announce {
    /// The packet for `request`, under a connection id and transaction id.
    pub fn new(
        connection_id: ConnectionId,
        transaction_id: TransactionId,
        request: &AnnounceRequest,
        url_data: Vec<u8>,
    ) -> Self {
        Self {
            connection_id,
            transaction_id,
            info_hash: request.info_hash,
            peer_id: request.peer_id,
            downloaded: request.downloaded,
            left: request.left,
            uploaded: request.uploaded,
            event: request.event,
            ip: request.ipv4.unwrap_or(Ipv4Addr::UNSPECIFIED),
            key: request.key.unwrap_or(0),
            num_want: request
                .numwant
                .map_or(-1, |n| i32::try_from(n).unwrap_or(i32::MAX)),
            port: request.port,
            url_data,
        }
    }
}

/// A tracker's packet.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Response {
    /// Grants a connection id.
    Connect {
        /// The transaction.
        transaction_id: TransactionId,
        /// The id.
        connection_id: ConnectionId,
    },
    /// Answers an announce.
    Announce {
        /// The transaction.
        transaction_id: TransactionId,
        /// Seconds until the next announce.
        interval: u32,
        /// Leechers.
        leechers: u32,
        /// Seeders.
        seeders: u32,
        /// Peers, all of the family of the packet.
        peers: Vec<SocketAddr>,
    },
    /// Answers a scrape, one entry per requested hash, in order.
    Scrape {
        /// The transaction.
        transaction_id: TransactionId,
        /// The numbers.
        stats: Vec<ScrapeStats>,
    },
    /// Refuses a request.
    Error {
        /// The transaction (0 from some trackers when the request was unreadable).
        transaction_id: TransactionId,
        /// The message, lossily decoded as UTF-8.
        message: String,
    },
}

/// A packet that is not what BEP 15 allows.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// Shorter than its action needs.
    #[error("packet of {len} bytes, {action} needs at least {min}")]
    TooShort {
        /// Its length.
        len: usize,
        /// What it needs.
        min: usize,
        /// Which packet it was read as.
        action: &'static str,
    },
    /// An action number that does not exist (in this direction).
    #[error("unknown action {0}")]
    UnknownAction(u32),
    /// A connect request without the protocol id.
    #[error("connect request with protocol id {0:#x}")]
    BadProtocolId(u64),
    /// An event number over 3.
    #[error("unknown event {0}")]
    UnknownEvent(u32),
    /// A scrape request whose hashes are not whole 20-byte units, or a scrape response whose
    /// entries are not whole 12-byte units.
    #[error("{action} body of {len} bytes is not a multiple of {unit}")]
    Ragged {
        /// Which packet.
        action: &'static str,
        /// The length after the header.
        len: usize,
        /// The unit.
        unit: usize,
    },
    /// A peer list whose length is not a multiple of the family's entry size.
    #[error(transparent)]
    Peers(#[from] LengthError),
    /// A scrape of more than [`MAX_SCRAPE_HASHES`] swarms.
    #[error("scrape of {0} info-hashes is over the limit of 74")]
    TooManyHashes(usize),
}

impl Request {
    /// Reads a client's packet. Bytes after a connect request are ignored; bytes after an
    /// announce's fixed part are read as BEP 41 options (unknown ones skipped, a truncated one
    /// ends them).
    pub fn decode(packet: &[u8]) -> Result<Self, DecodeError> {
        let head = |action| check_len(packet, 16, action);
        head("request")?;
        let connection_id = ConnectionId(be_u64(packet, 0));
        let transaction_id = TransactionId(be_u32(packet, 12));
        match be_u32(packet, 8) {
            action::CONNECT => {
                if connection_id.0 != PROTOCOL_ID {
                    return Err(DecodeError::BadProtocolId(connection_id.0));
                }
                Ok(Self::Connect { transaction_id })
            }
            action::ANNOUNCE => {
                check_len(packet, ANNOUNCE_LEN, "announce")?;
                let event = match be_u32(packet, 80) {
                    0 => crate::Event::None,
                    1 => crate::Event::Completed,
                    2 => crate::Event::Started,
                    3 => crate::Event::Stopped,
                    n => return Err(DecodeError::UnknownEvent(n)),
                };
                Ok(Self::Announce(Announce {
                    connection_id,
                    transaction_id,
                    info_hash: InfoHash(array(packet, 16)),
                    peer_id: PeerId(array(packet, 36)),
                    downloaded: be_u64(packet, 56),
                    left: be_u64(packet, 64),
                    uploaded: be_u64(packet, 72),
                    event,
                    ip: Ipv4Addr::from(array::<4>(packet, 84)),
                    key: be_u32(packet, 88),
                    num_want: be_u32(packet, 92) as i32,
                    port: u16::from_be_bytes(array(packet, 96)),
                    url_data: url_data_options(&packet[ANNOUNCE_LEN..]),
                }))
            }
            action::SCRAPE => {
                let body = &packet[16..];
                if !body.len().is_multiple_of(20) {
                    return Err(DecodeError::Ragged {
                        action: "scrape request",
                        len: body.len(),
                        unit: 20,
                    });
                }
                let count = body.len() / 20;
                if count > MAX_SCRAPE_HASHES {
                    return Err(DecodeError::TooManyHashes(count));
                }
                let info_hashes = body
                    .chunks_exact(20)
                    .map(|c| InfoHash(array(c, 0)))
                    .collect();
                Ok(Self::Scrape {
                    connection_id,
                    transaction_id,
                    info_hashes,
                })
            }
            n => Err(DecodeError::UnknownAction(n)),
        }
    }

    /// The transaction id.
    pub fn transaction_id(&self) -> TransactionId {
        match self {
            Self::Connect { transaction_id } | Self::Scrape { transaction_id, .. } => {
                *transaction_id
            }
            Self::Announce(a) => a.transaction_id,
        }
    }

    /// Appends the packet to `out`.
    pub fn encode(&self, out: &mut Vec<u8>) {
        match self {
            Self::Connect { transaction_id } => {
                out.extend_from_slice(&PROTOCOL_ID.to_be_bytes());
                out.extend_from_slice(&action::CONNECT.to_be_bytes());
                out.extend_from_slice(&transaction_id.0.to_be_bytes());
            }
            Self::Announce(a) => {
                out.extend_from_slice(&a.connection_id.0.to_be_bytes());
                out.extend_from_slice(&action::ANNOUNCE.to_be_bytes());
                out.extend_from_slice(&a.transaction_id.0.to_be_bytes());
                out.extend_from_slice(&a.info_hash.0);
                out.extend_from_slice(&a.peer_id.0);
                out.extend_from_slice(&a.downloaded.to_be_bytes());
                out.extend_from_slice(&a.left.to_be_bytes());
                out.extend_from_slice(&a.uploaded.to_be_bytes());
                out.extend_from_slice(&(a.event as u32).to_be_bytes());
                out.extend_from_slice(&a.ip.octets());
                out.extend_from_slice(&a.key.to_be_bytes());
                out.extend_from_slice(&a.num_want.to_be_bytes());
                out.extend_from_slice(&a.port.to_be_bytes());
                // BEP 41: option 2 (URLData) in chunks of at most 255 bytes, then nothing (the
                // end of the packet ends the options).
                for chunk in a.url_data.chunks(255) {
                    out.push(2);
                    out.push(chunk.len() as u8);
                    out.extend_from_slice(chunk);
                }
            }
            Self::Scrape {
                connection_id,
                transaction_id,
                info_hashes,
            } => {
                out.extend_from_slice(&connection_id.0.to_be_bytes());
                out.extend_from_slice(&action::SCRAPE.to_be_bytes());
                out.extend_from_slice(&transaction_id.0.to_be_bytes());
                for h in info_hashes {
                    out.extend_from_slice(&h.0);
                }
            }
        }
    }
}

impl Response {
    /// Reads a tracker's packet; announce peers are read as `family` (the family of the
    /// address the tracker was reached at).
    pub fn decode(packet: &[u8], family: Family) -> Result<Self, DecodeError> {
        check_len(packet, 8, "response")?;
        let transaction_id = TransactionId(be_u32(packet, 4));
        match be_u32(packet, 0) {
            action::CONNECT => {
                check_len(packet, 16, "connect response")?;
                Ok(Self::Connect {
                    transaction_id,
                    connection_id: ConnectionId(be_u64(packet, 8)),
                })
            }
            action::ANNOUNCE => {
                check_len(packet, 20, "announce response")?;
                let peers = compact::decode(&packet[20..], family)?.collect();
                Ok(Self::Announce {
                    transaction_id,
                    interval: be_u32(packet, 8),
                    leechers: be_u32(packet, 12),
                    seeders: be_u32(packet, 16),
                    peers,
                })
            }
            action::SCRAPE => {
                let body = &packet[8..];
                if !body.len().is_multiple_of(12) {
                    return Err(DecodeError::Ragged {
                        action: "scrape response",
                        len: body.len(),
                        unit: 12,
                    });
                }
                // BEP 15 order: seeders, completed, leechers.
                let stats = body
                    .chunks_exact(12)
                    .map(|c| ScrapeStats {
                        complete: be_u32(c, 0),
                        downloaded: be_u32(c, 4),
                        incomplete: be_u32(c, 8),
                    })
                    .collect();
                Ok(Self::Scrape {
                    transaction_id,
                    stats,
                })
            }
            action::ERROR => Ok(Self::Error {
                transaction_id,
                message: String::from_utf8_lossy(&packet[8..]).into_owned(),
            }),
            n => Err(DecodeError::UnknownAction(n)),
        }
    }

    /// The transaction id.
    pub fn transaction_id(&self) -> TransactionId {
        match self {
            Self::Connect { transaction_id, .. }
            | Self::Announce { transaction_id, .. }
            | Self::Scrape { transaction_id, .. }
            | Self::Error { transaction_id, .. } => *transaction_id,
        }
    }

    /// Appends the packet to `out`. Announce peers are written as their `SocketAddr` variant
    /// says (6 or 18 bytes); a tracker puts only the family of the packet in one response.
    pub fn encode(&self, out: &mut Vec<u8>) {
        match self {
            Self::Connect {
                transaction_id,
                connection_id,
            } => {
                header(out, action::CONNECT, *transaction_id);
                out.extend_from_slice(&connection_id.0.to_be_bytes());
            }
            Self::Announce {
                transaction_id,
                interval,
                leechers,
                seeders,
                peers,
            } => {
                header(out, action::ANNOUNCE, *transaction_id);
                for n in [interval, leechers, seeders] {
                    out.extend_from_slice(&n.to_be_bytes());
                }
                // Each peer as its variant says (not canonicalized: an IPv4-mapped address read
                // from an IPv6 response stays 18 bytes).
                for peer in peers {
                    match peer {
                        SocketAddr::V4(a) => out.extend_from_slice(&a.ip().octets()),
                        SocketAddr::V6(a) => out.extend_from_slice(&a.ip().octets()),
                    }
                    out.extend_from_slice(&peer.port().to_be_bytes());
                }
            }
            Self::Scrape {
                transaction_id,
                stats,
            } => {
                header(out, action::SCRAPE, *transaction_id);
                for s in stats {
                    for n in [s.complete, s.downloaded, s.incomplete] {
                        out.extend_from_slice(&n.to_be_bytes());
                    }
                }
            }
            Self::Error {
                transaction_id,
                message,
            } => {
                header(out, action::ERROR, *transaction_id);
                out.extend_from_slice(message.as_bytes());
            }
        }
    }
}

/// BEP 41 URL data for a `udp://` tracker URL: its path and query ("/announce?passkey=…"),
/// empty when there is no path beyond `/`.
pub fn url_data(url: &str) -> Vec<u8> {
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    let rest = rest.split_once('#').map_or(rest, |(before, _)| before);
    match rest.find(['/', '?']) {
        Some(i) if &rest[i..] != "/" => rest.as_bytes()[i..].to_vec(),
        _ => Vec::new(),
    }
}

fn header(out: &mut Vec<u8>, action: u32, transaction_id: TransactionId) {
    out.extend_from_slice(&action.to_be_bytes());
    out.extend_from_slice(&transaction_id.0.to_be_bytes());
}

fn check_len(packet: &[u8], min: usize, action: &'static str) -> Result<(), DecodeError> {
    if packet.len() < min {
        return Err(DecodeError::TooShort {
            len: packet.len(),
            min,
            action,
        });
    }
    Ok(())
}

/// `N` bytes at `at`; the caller checked the length (zeros otherwise, never a panic).
fn array<const N: usize>(packet: &[u8], at: usize) -> [u8; N] {
    packet
        .get(at..at + N)
        .and_then(|s| s.try_into().ok())
        .unwrap_or([0; N])
}

fn be_u32(packet: &[u8], at: usize) -> u32 {
    u32::from_be_bytes(array(packet, at))
}

fn be_u64(packet: &[u8], at: usize) -> u64 {
    u64::from_be_bytes(array(packet, at))
}

/// Collects BEP 41's URLData (option 2) from the options after an announce: 0 ends the list, 1
/// is a one-byte no-op, every other option is a type, a length and that many bytes.
fn url_data_options(mut options: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some((&kind, rest)) = options.split_first() {
        match kind {
            0 => break,
            1 => options = rest,
            _ => {
                let Some((&len, rest)) = rest.split_first() else {
                    break;
                };
                let Some(data) = rest.get(..usize::from(len)) else {
                    break;
                };
                if kind == 2 {
                    out.extend_from_slice(data);
                }
                options = &rest[usize::from(len)..];
            }
        }
    }
    out
}

#[cfg(test)]
mod tests;
