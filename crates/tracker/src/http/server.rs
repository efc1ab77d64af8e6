//! HTTP trackers, the server side: the request target of a `GET /announce?…` or
//! `GET /scrape?…` in, the bencoded body out.
//!
//! The caller runs the HTTP server and passes the request target and the client's IP address;
//! [`respond`] does the rest against a [`SwarmTable`]. The pieces are public too: parse with
//! [`parse_request`], decide (an allow list, a passkey), then encode with
//! [`encode_announce`], [`encode_scrape`] or [`encode_failure`].
//!
//! ```
//! use std::time::Instant;
//! use tracker::http::server::{respond, RequestLimits};
//! use tracker::server::{Config, SwarmTable};
//!
//! let mut table = SwarmTable::new(Config::default());
//! # #[expect(clippy::disallowed_methods, reason = "a driver reads the clock")]
//! let now = Instant::now();
//! let target = "/announce?info_hash=%AA%AA%AA%AA%AA%AA%AA%AA%AA%AA%AA%AA%AA%AA%AA%AA%AA%AA%AA%AA\
//!               &peer_id=-PC0001-abcdefghijkl&port=6881&left=0&compact=1";
//! let body = respond(now, target, "10.0.0.1".parse()?, &mut table, &RequestLimits::default());
//! assert!(body.starts_with(b"d8:completei1e10:incompletei0e8:intervali600e"));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use torrent_format::bencode::{OwnedValue, encode_bytes};

use crate::compact;
use crate::percent;
use crate::server::{AnnounceReply, Endpoint, SwarmTable};
use crate::{Event, Family, InfoHash, PeerId, ScrapeStats, server};

/// Bounds on a request target.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RequestLimits {
    /// Longest request target, in bytes.
    pub max_target_len: usize,
    /// Most `key=value` parameters.
    pub max_params: usize,
}

impl Default for RequestLimits {
    /// 8 KiB and 128 parameters: a scrape of 100 swarms is 6.3 KB.
    fn default() -> Self {
        Self {
            max_target_len: 8192,
            max_params: 128,
        }
    }
}

/// A parsed request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Request {
    /// `…/announce?…`
    Announce(AnnounceQuery),
    /// `…/scrape?…`: the info-hashes (none for a full scrape).
    Scrape(Vec<InfoHash>),
}

/// The parameters of an announce (BEP 3, 7, 23).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AnnounceQuery {
    /// `info_hash`: 20 bytes.
    pub info_hash: InfoHash,
    /// `peer_id`: 20 bytes.
    pub peer_id: PeerId,
    /// `port`: 1 to 65535.
    pub port: u16,
    /// `uploaded`.
    pub uploaded: Option<u64>,
    /// `downloaded`.
    pub downloaded: Option<u64>,
    /// `left`.
    pub left: Option<u64>,
    /// `event`.
    pub event: Event,
    /// `compact=1` (BEP 23).
    pub compact: bool,
    /// `no_peer_id=1`: leave `peer id` out of dictionary peers.
    pub no_peer_id: bool,
    /// `numwant`; a negative value is absent.
    pub numwant: Option<u32>,
    /// `key`, as sent.
    pub key: Option<Vec<u8>>,
    /// `trackerid`.
    pub tracker_id: Option<Vec<u8>>,
    /// `ip`, `ipv4` or `ipv6` (BEP 7): the address the client claims. [`respond`] ignores it
    /// and uses the connection's address, which cannot be forged to aim peers at a third party.
    pub claimed_ip: Option<IpAddr>,
}

impl AnnounceQuery {
    /// The table's view of this announce from a client at `remote_ip`.
    pub fn to_announce(&self, remote_ip: IpAddr) -> server::Announce {
        server::Announce {
            info_hash: self.info_hash,
            peer_id: self.peer_id,
            endpoint: Endpoint::Addr(SocketAddr::new(remote_ip.to_canonical(), self.port)),
            event: self.event,
            left: self.left,
            numwant: self.numwant,
            family: None,
        }
    }
}

/// A request target that is not a valid announce or scrape.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RequestError {
    /// Longer than [`RequestLimits::max_target_len`].
    #[error("request of {len} bytes is over the limit of {max}")]
    TooLong {
        /// Its length.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// More parameters than [`RequestLimits::max_params`].
    #[error("more than {max} parameters")]
    TooManyParams {
        /// The limit.
        max: usize,
    },
    /// The path ends in neither `announce` nor `scrape`.
    #[error("not an announce or scrape request")]
    UnknownPath,
    /// A `%` not followed by two hex digits.
    #[error("bad percent-encoding in `{param}`")]
    BadEscape {
        /// The parameter (or `query` when in a name).
        param: &'static str,
    },
    /// A required parameter is missing.
    #[error("missing `{0}`")]
    Missing(&'static str),
    /// A parameter with an invalid value.
    #[error("invalid `{0}`")]
    Invalid(&'static str),
}

/// Parses a request target (`/announce?…`, `/x/scrape?…`, possibly with a passkey in the path):
/// the last path component says which. Repeated parameters: the first counts, except
/// `info_hash` in a scrape, which may repeat.
pub fn parse_request(target: &str, limits: &RequestLimits) -> Result<Request, RequestError> {
    if target.len() > limits.max_target_len {
        return Err(RequestError::TooLong {
            len: target.len(),
            max: limits.max_target_len,
        });
    }
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let last = path.rsplit('/').next().unwrap_or(path);
    match last {
        "announce" => parse_announce(query, limits).map(Request::Announce),
        "scrape" => parse_scrape(query, limits).map(Request::Scrape),
        _ => Err(RequestError::UnknownPath),
    }
}

/// Parses an announce query string (without the `?`).
pub fn parse_announce(query: &str, limits: &RequestLimits) -> Result<AnnounceQuery, RequestError> {
    let params = params(query, limits)?;
    let get = |name: &str| {
        params
            .iter()
            .find(|(k, _)| k == name.as_bytes())
            .map(|(_, v)| v)
    };
    let info_hash = get("info_hash").ok_or(RequestError::Missing("info_hash"))?;
    let info_hash = InfoHash::from_slice(info_hash).ok_or(RequestError::Invalid("info_hash"))?;
    let peer_id = get("peer_id").ok_or(RequestError::Missing("peer_id"))?;
    let peer_id = PeerId::from_slice(peer_id).ok_or(RequestError::Invalid("peer_id"))?;
    let port = get("port").ok_or(RequestError::Missing("port"))?;
    let port = number::<u16>(port)
        .filter(|&p| p != 0)
        .ok_or(RequestError::Invalid("port"))?;
    let counter = |name: &'static str| match get(name) {
        None => Ok(None),
        Some(v) => number::<u64>(v)
            .map(Some)
            .ok_or(RequestError::Invalid(name)),
    };
    let event = match get("event") {
        None => Event::None,
        Some(v) => Event::from_name(v).ok_or(RequestError::Invalid("event"))?,
    };
    let flag = |name: &'static str| match get(name).map(Vec::as_slice) {
        None | Some(b"0") => Ok(false),
        Some(b"1") => Ok(true),
        Some(_) => Err(RequestError::Invalid(name)),
    };
    let numwant = match get("numwant") {
        None => None,
        // Some clients send -1 for "default", as in BEP 15.
        Some(v) if v.first() == Some(&b'-') => None,
        Some(v) => Some(number::<u32>(v).ok_or(RequestError::Invalid("numwant"))?),
    };
    let claimed_ip = ["ipv4", "ipv6", "ip"]
        .iter()
        .filter_map(|name| get(name))
        .find_map(|v| std::str::from_utf8(v).ok()?.parse().ok());
    Ok(AnnounceQuery {
        info_hash,
        peer_id,
        port,
        uploaded: counter("uploaded")?,
        downloaded: counter("downloaded")?,
        left: counter("left")?,
        event,
        compact: flag("compact")?,
        no_peer_id: flag("no_peer_id")?,
        numwant,
        key: get("key").cloned(),
        tracker_id: get("trackerid").cloned(),
        claimed_ip,
    })
}

/// Parses a scrape query string (without the `?`): its `info_hash` parameters.
pub fn parse_scrape(query: &str, limits: &RequestLimits) -> Result<Vec<InfoHash>, RequestError> {
    params(query, limits)?
        .iter()
        .filter(|(k, _)| k == b"info_hash")
        .map(|(_, v)| InfoHash::from_slice(v).ok_or(RequestError::Invalid("info_hash")))
        .collect()
}

/// The body for an announce reply: `complete`, `incomplete`, `interval`, `min interval`, and
/// the peers as BEP 23 `peers` plus BEP 7 `peers6` when `compact`, or as a BEP 3 list of
/// dictionaries (`ip`, `port`, and `peer id` unless `no_peer_id`) otherwise.
pub fn encode_announce(reply: &AnnounceReply, compact: bool, no_peer_id: bool) -> Vec<u8> {
    let addrs = reply.peers.iter().filter_map(|p| match p.endpoint {
        Endpoint::Addr(addr) => Some((p.peer_id, addr)),
        Endpoint::WebSocket(_) => None,
    });
    let mut out = OwnedValue::dict()
        .with("complete", i64::from(reply.complete).into())
        .with("incomplete", i64::from(reply.incomplete).into())
        .with("interval", secs(reply.interval).into())
        .with("min interval", secs(reply.min_interval).into());
    if compact {
        let (mut v4, mut v6) = (Vec::new(), Vec::new());
        for (_, addr) in addrs {
            if !compact::encode_into(addr, Family::V4, &mut v4) {
                compact::encode_into(addr, Family::V6, &mut v6);
            }
        }
        out = out.with("peers", v4.into());
        if !v6.is_empty() {
            out = out.with("peers6", v6.into());
        }
    } else {
        let list = addrs
            .map(|(id, addr)| {
                let mut peer = OwnedValue::dict()
                    .with("ip", addr.ip().to_canonical().to_string().into())
                    .with("port", i64::from(addr.port()).into());
                if !no_peer_id {
                    peer = peer.with("peer id", id.0.to_vec().into());
                }
                peer
            })
            .collect();
        out = out.with("peers", OwnedValue::List(list));
    }
    out.to_bytes()
}

/// The body for a scrape reply (BEP 48): `files` keyed by the raw 20-byte info-hashes, and
/// `flags` → `min_request_interval` when given.
pub fn encode_scrape(
    files: &[(InfoHash, ScrapeStats)],
    min_request_interval: Option<Duration>,
) -> Vec<u8> {
    let mut map = OwnedValue::dict();
    for (hash, stats) in files {
        let entry = OwnedValue::dict()
            .with("complete", i64::from(stats.complete).into())
            .with("downloaded", i64::from(stats.downloaded).into())
            .with("incomplete", i64::from(stats.incomplete).into());
        map = map.with(hash.0.to_vec(), entry);
    }
    let mut out = OwnedValue::dict().with("files", map);
    if let Some(interval) = min_request_interval {
        out = out.with(
            "flags",
            OwnedValue::dict().with("min_request_interval", secs(interval).into()),
        );
    }
    out.to_bytes()
}

/// The body for a refusal: `d14:failure reason<len>:<reason>e`.
pub fn encode_failure(reason: &str) -> Vec<u8> {
    let mut out = b"d14:failure reason".to_vec();
    encode_bytes(reason.as_bytes(), &mut out);
    out.push(b'e');
    out
}

/// Answers one request against `table`: the body to send with `200 OK` (trackers report
/// errors in the body, as `failure reason`). The peer's address is `remote_ip` with the
/// announced port; a claimed `ip` parameter is ignored.
pub fn respond(
    now: Instant,
    target: &str,
    remote_ip: IpAddr,
    table: &mut SwarmTable,
    limits: &RequestLimits,
) -> Vec<u8> {
    match parse_request(target, limits) {
        Err(e) => encode_failure(&e.to_string()),
        Ok(Request::Announce(query)) => match table.announce(now, &query.to_announce(remote_ip)) {
            Ok(reply) => encode_announce(&reply, query.compact, query.no_peer_id),
            Err(refusal) => encode_failure(&refusal.to_string()),
        },
        Ok(Request::Scrape(hashes)) => match table.scrape(&hashes) {
            Ok(files) => encode_scrape(&files, Some(table.config().interval)),
            Err(refusal) => encode_failure(&refusal.to_string()),
        },
    }
}

/// A decoded `name=value` pair.
type Param = (Vec<u8>, Vec<u8>);

/// Splits a query into percent-decoded `(name, value)` pairs; empty pieces (`a=1&&b=2`) are
/// skipped, a piece without `=` has an empty value.
fn params(query: &str, limits: &RequestLimits) -> Result<Vec<Param>, RequestError> {
    let mut out = Vec::new();
    for piece in query.as_bytes().split(|&b| b == b'&') {
        if piece.is_empty() {
            continue;
        }
        if out.len() == limits.max_params {
            return Err(RequestError::TooManyParams {
                max: limits.max_params,
            });
        }
        let (name, value) = match piece.iter().position(|&b| b == b'=') {
            Some(i) => (&piece[..i], &piece[i + 1..]),
            None => (piece, &b""[..]),
        };
        let mut k = Vec::with_capacity(name.len());
        percent::decode_into(name, &mut k)
            .map_err(|_| RequestError::BadEscape { param: "query" })?;
        let mut v = Vec::with_capacity(value.len());
        percent::decode_into(value, &mut v).map_err(|_| RequestError::BadEscape {
            param: known_name(&k),
        })?;
        out.push((k, v));
    }
    Ok(out)
}

/// The static name of a parameter we know, for error messages.
fn known_name(name: &[u8]) -> &'static str {
    const NAMES: [&str; 15] = [
        "info_hash",
        "peer_id",
        "port",
        "uploaded",
        "downloaded",
        "left",
        "event",
        "compact",
        "no_peer_id",
        "numwant",
        "key",
        "trackerid",
        "ip",
        "ipv4",
        "ipv6",
    ];
    NAMES
        .iter()
        .find(|n| n.as_bytes() == name)
        .copied()
        .unwrap_or("query")
}

/// Decimal digits only (no sign, no spaces), within `T`.
fn number<T: std::str::FromStr>(digits: &[u8]) -> Option<T> {
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(digits).ok()?.parse().ok()
}

fn secs(d: Duration) -> i64 {
    i64::try_from(d.as_secs()).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests;
