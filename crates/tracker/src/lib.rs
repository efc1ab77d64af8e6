#![doc = include_str!("../README.md")]

pub mod announcer;
pub mod compact;
pub mod http;
pub mod server;
pub mod udp;
pub mod ws;

mod percent;
mod rng;
mod siphash;

/// Internals for the fuzz targets (built with `--cfg fuzzing`), not part of the API.
#[cfg(fuzzing)]
#[doc(hidden)]
pub mod fuzzing {
    /// Panics if the table breaks an invariant of [`crate::server`]'s docs.
    pub fn check_swarm_table(table: &crate::SwarmTable) {
        table.check_invariants();
    }
}

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

pub use announcer::Announcer;
pub use server::SwarmTable;

/// The 20 bytes that name a swarm: a v1 info-hash, or a v2 info-hash truncated to 20 bytes
/// (BEP 52: "the truncated 20-byte form is used in the tracker protocol").
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct InfoHash(pub [u8; 20]);

impl InfoHash {
    /// The hash from exactly 20 bytes.
    pub fn from_slice(bytes: &[u8]) -> Option<Self> {
        bytes.try_into().ok().map(Self)
    }
}

impl From<torrent_format::InfoHashV1> for InfoHash {
    fn from(h: torrent_format::InfoHashV1) -> Self {
        Self(h.0)
    }
}

impl From<&torrent_format::InfoHashV2> for InfoHash {
    fn from(h: &torrent_format::InfoHashV2) -> Self {
        Self(h.truncated())
    }
}

impl fmt::Debug for InfoHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "InfoHash({})", Hex(&self.0))
    }
}

impl fmt::Display for InfoHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        Hex(&self.0).fmt(f)
    }
}

/// A peer's 20-byte id, the one it sends in the wire handshake.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PeerId(pub [u8; 20]);

impl PeerId {
    /// The id from exactly 20 bytes.
    pub fn from_slice(bytes: &[u8]) -> Option<Self> {
        bytes.try_into().ok().map(Self)
    }
}

impl fmt::Debug for PeerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Peer ids usually start with a printable client tag (`-PC0001-`): show it when so.
        match std::str::from_utf8(&self.0) {
            Ok(s) if s.bytes().all(|b| b.is_ascii_graphic()) => write!(f, "PeerId({s:?})"),
            _ => write!(f, "PeerId({})", Hex(&self.0)),
        }
    }
}

/// The `event` of an announce (BEP 3). The discriminants are BEP 15's numbers.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Event {
    /// A regular announce (no `event` parameter; UDP 0).
    #[default]
    None = 0,
    /// The download finished (UDP 1). Not sent when the content was complete at start.
    Completed = 1,
    /// The first announce to a tracker (UDP 2).
    Started = 2,
    /// The client leaves the swarm (UDP 3).
    Stopped = 3,
}

impl Event {
    /// The HTTP/WebSocket `event` value; `None` for a regular announce.
    pub fn as_str(self) -> Option<&'static str> {
        match self {
            Self::None => None,
            Self::Completed => Some("completed"),
            Self::Started => Some("started"),
            Self::Stopped => Some("stopped"),
        }
    }

    /// The event an HTTP/WebSocket `event` value names. `"empty"` (BEP 3's old spelling of
    /// none), `"update"` and `"paused"` (BEP 21) are regular announces; anything else is `None`.
    pub fn from_name(name: &[u8]) -> Option<Self> {
        match name {
            b"" | b"empty" | b"update" | b"paused" => Some(Self::None),
            b"completed" => Some(Self::Completed),
            b"started" => Some(Self::Started),
            b"stopped" => Some(Self::Stopped),
            _ => None,
        }
    }
}

/// An IP address family.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Family {
    /// IPv4.
    V4,
    /// IPv6.
    V6,
}

impl Family {
    /// The family of an address; an IPv4-mapped IPv6 address (`::ffff:a.b.c.d`) is IPv4.
    pub fn of(ip: IpAddr) -> Self {
        match ip.to_canonical() {
            IpAddr::V4(_) => Self::V4,
            IpAddr::V6(_) => Self::V6,
        }
    }
}

/// What a client sends in an announce, whatever the transport (HTTP, UDP or WebSocket).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AnnounceRequest {
    /// The swarm.
    pub info_hash: InfoHash,
    /// Our peer id (the one of our wire handshakes).
    pub peer_id: PeerId,
    /// The port we accept peer connections on.
    pub port: u16,
    /// Bytes uploaded since the `started` event.
    pub uploaded: u64,
    /// Bytes downloaded since the `started` event.
    pub downloaded: u64,
    /// Bytes still missing (0 for a seed).
    pub left: u64,
    /// The event.
    pub event: Event,
    /// How many peers we want; `None` lets the tracker decide (HTTP: no `numwant`; UDP: -1).
    pub numwant: Option<u32>,
    /// A random number that identifies us across IP changes (BEP 3 `key`, BEP 15 `key`).
    pub key: Option<u32>,
    /// The `tracker id` an earlier response of this tracker gave (HTTP `trackerid`).
    pub tracker_id: Option<Vec<u8>>,
    /// Our IPv4 address, for a tracker reached over IPv6 (BEP 7 `ipv4`; UDP's IP field).
    pub ipv4: Option<Ipv4Addr>,
    /// Our IPv6 address, for a tracker reached over IPv4 (BEP 7 `ipv6`; not carried by UDP).
    pub ipv6: Option<Ipv6Addr>,
}

impl AnnounceRequest {
    /// A regular announce with zero counters and nothing optional.
    pub fn new(info_hash: InfoHash, peer_id: PeerId, port: u16) -> Self {
        Self {
            info_hash,
            peer_id,
            port,
            uploaded: 0,
            downloaded: 0,
            left: 0,
            event: Event::None,
            numwant: None,
            key: None,
            tracker_id: None,
            ipv4: None,
            ipv6: None,
        }
    }
}

/// A peer a tracker gave us.
///
/// Trackers may include ourselves (bittorrent-tracker and opentracker do): recognize yourself by
/// the peer id of the wire handshake, never by the address (another client may share the IP).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Peer {
    /// Where to connect.
    pub addr: SocketAddr,
    /// Its peer id, when the tracker said (BEP 3 dictionary form); compact forms carry none.
    pub peer_id: Option<PeerId>,
}

/// A successful announce response, whatever the transport.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AnnounceResponse {
    /// How long to wait before the next regular announce (`interval`).
    pub interval: Option<Duration>,
    /// Do not announce more often than this (`min interval`).
    pub min_interval: Option<Duration>,
    /// Send this back as `trackerid` in later announces (`tracker id`).
    pub tracker_id: Option<Vec<u8>>,
    /// Seeders (`complete`; BEP 15 `seeders`).
    pub complete: Option<u32>,
    /// Leechers (`incomplete`; BEP 15 `leechers`).
    pub incomplete: Option<u32>,
    /// A warning to show (`warning message`); the announce still succeeded.
    pub warning: Option<String>,
    /// The peers, IPv4 and IPv6 together (`peers`, `peers6`).
    pub peers: Vec<Peer>,
    /// Our address as the tracker sees it (BEP 24 `external ip`).
    pub external_ip: Option<IpAddr>,
}

/// One swarm's numbers in a scrape (BEP 48; BEP 15's scrape response).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct ScrapeStats {
    /// Seeders.
    pub complete: u32,
    /// Completed downloads the tracker counted (`downloaded`; BEP 15 `completed`).
    pub downloaded: u32,
    /// Leechers.
    pub incomplete: u32,
}

/// A tracker's answer: success, or a failure it reported on purpose (`failure reason`, a BEP 15
/// error packet). Malformed answers are errors of the decoders instead.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Reply<T> {
    /// The tracker answered.
    Success(T),
    /// The tracker refused.
    Failure(Failure),
}

/// A failure a tracker reported.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Failure {
    /// Its `failure reason` (or BEP 15 error message), lossily decoded as UTF-8.
    pub reason: String,
    /// When to retry (BEP 31 `retry in`).
    pub retry: Retry,
}

impl Failure {
    /// A failure without retry advice.
    pub fn new(reason: impl Into<String>) -> Self {
        Self {
            reason: reason.into(),
            retry: Retry::Default,
        }
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "tracker failure: {}", self.reason)
    }
}

/// BEP 31's advice on retrying after a failure.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Retry {
    /// No advice: back off as usual.
    #[default]
    Default,
    /// `retry in` minutes.
    After(Duration),
    /// `retry in: never`: do not announce to this tracker again.
    Never,
}

/// Lowercase hex of a byte string, for `Debug` and `Display`.
struct Hex<'a>(&'a [u8]);

impl fmt::Display for Hex<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for b in self.0 {
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_names_round_trip_and_legacy_spellings_are_regular() {
        for e in [Event::Completed, Event::Started, Event::Stopped] {
            assert_eq!(Event::from_name(e.as_str().unwrap().as_bytes()), Some(e));
        }
        assert_eq!(Event::None.as_str(), None);
        for name in [&b"empty"[..], b"update", b"paused", b""] {
            assert_eq!(Event::from_name(name), Some(Event::None));
        }
        assert_eq!(Event::from_name(b"Started"), None);
    }

    #[test]
    fn mapped_ipv4_counts_as_ipv4() {
        let mapped: IpAddr = "::ffff:10.0.0.1".parse().unwrap();
        assert_eq!(Family::of(mapped), Family::V4);
        assert_eq!(Family::of("::1".parse().unwrap()), Family::V6);
    }

    #[test]
    fn ids_debug_readably() {
        assert_eq!(
            format!("{:?}", PeerId(*b"-PC0001-abcdefghijkl")),
            "PeerId(\"-PC0001-abcdefghijkl\")"
        );
        assert_eq!(
            format!("{}", InfoHash([0xab; 20])),
            "abababababababababababababababababababab"
        );
        assert!(format!("{:?}", PeerId([0; 20])).contains("0000"));
    }
}
