//! HTTP trackers, the client side: announce and scrape URLs (BEP 3, 7, 48) and the bencoded
//! responses (BEP 3, 23, 7, 24, 31, 48). [`server`] is the other side.
//!
//! The caller does the HTTP GET; this module builds the URL and reads the body. Every response
//! is checked against [`Limits`] before anything is allocated for it, and anything malformed is
//! a [`ResponseError`] that says what and where.
//!
//! ```
//! use tracker::{AnnounceRequest, Event, InfoHash, PeerId, Reply, http};
//!
//! let mut request = AnnounceRequest::new(InfoHash([0x12; 20]), PeerId(*b"-PC0001-abcdefghijkl"), 6881);
//! request.left = 1000;
//! request.event = Event::Started;
//! let url = http::announce_url("http://tracker.example/announce?passkey=x", &request);
//! assert!(url.starts_with("http://tracker.example/announce?passkey=x&info_hash=%12%12"));
//!
//! // BEP 23: `peers` as 6 bytes per peer.
//! let body = b"d8:intervali1800e5:peers6:\x7f\x00\x00\x01\x1a\xe1e";
//! let Reply::Success(response) = http::parse_announce_response(body, &http::Limits::default())? else {
//!     unreachable!()
//! };
//! assert_eq!(response.peers[0].addr, "127.0.0.1:6881".parse()?);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

pub mod server;

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::Duration;

use torrent_format::bencode::{self, DecodeOptions, Dict, Mode, Type, Value};

use crate::compact::{self, LengthError};
use crate::{
    AnnounceRequest, AnnounceResponse, Failure, Family, InfoHash, Peer, PeerId, Reply, Retry,
    ScrapeStats, percent,
};

/// Bounds on what a tracker's response may make us decode and allocate.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Longest body, in bytes (checked before decoding).
    pub max_response_len: usize,
    /// Most peers in one announce response (`peers` and `peers6` together).
    pub max_peers: usize,
    /// Most swarms in one scrape response.
    pub max_files: usize,
    /// Longest `failure reason`, `warning message` or `tracker id`, in bytes.
    pub max_string_len: usize,
}

impl Default for Limits {
    /// 1 MiB, 10 000 peers, 10 000 files, 4 KiB strings: far above what trackers send (a
    /// numwant of 200 is 1.2 KB compact), far below what would hurt.
    fn default() -> Self {
        Self {
            max_response_len: 1 << 20,
            max_peers: 10_000,
            max_files: 10_000,
            max_string_len: 4096,
        }
    }
}

/// A response that is not what BEP 3 and its extensions allow.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ResponseError {
    /// The body is longer than [`Limits::max_response_len`].
    #[error("response of {len} bytes is over the limit of {max}")]
    TooLong {
        /// Its length.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// The body is not bencode.
    #[error("response is not bencode: {0}")]
    Bencode(#[from] bencode::DecodeError),
    /// The body is not a dictionary.
    #[error("response is a {found}, not a dictionary")]
    NotADictionary {
        /// What it is.
        found: Type,
    },
    /// A key holds the wrong type.
    #[error("`{key}` is a {found}, expected a {expected}")]
    WrongType {
        /// The key.
        key: &'static str,
        /// What it holds.
        found: Type,
        /// What it should hold.
        expected: Type,
    },
    /// A number out of its range (a negative interval, a count over 2³²−1, a port over 65535).
    #[error("`{key}` is {value}, out of range")]
    OutOfRange {
        /// The key.
        key: &'static str,
        /// The value.
        value: i64,
    },
    /// A string over [`Limits::max_string_len`].
    #[error("`{key}` of {len} bytes is over the limit of {max}")]
    StringTooLong {
        /// The key.
        key: &'static str,
        /// Its length.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// A compact peer list whose length is not a multiple of 6 (`peers`) or 18 (`peers6`).
    #[error(transparent)]
    CompactLength(#[from] LengthError),
    /// More peers than [`Limits::max_peers`].
    #[error("{count} peers, over the limit of {max}")]
    TooManyPeers {
        /// How many the response holds.
        count: usize,
        /// The limit.
        max: usize,
    },
    /// An entry of a dictionary-form peer list that is not a peer.
    #[error("peer {index} of the list: {what}")]
    BadPeer {
        /// Its position in the list.
        index: usize,
        /// What is wrong.
        what: &'static str,
    },
    /// An `external ip` (BEP 24) that is neither 4 nor 16 bytes.
    #[error("`external ip` of {len} bytes (expected 4 or 16)")]
    BadExternalIp {
        /// Its length.
        len: usize,
    },
    /// A scrape `files` key that is not a 20-byte info-hash (nor its UTF-8 binary string).
    #[error("scrape key of {len} bytes is not an info-hash")]
    BadInfoHash {
        /// Its length.
        len: usize,
    },
    /// More scrape entries than [`Limits::max_files`].
    #[error("{count} scrape entries, over the limit of {max}")]
    TooManyFiles {
        /// How many the response holds.
        count: usize,
        /// The limit.
        max: usize,
    },
}

/// A scrape response (BEP 48).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ScrapeResponse {
    /// The swarms, in the response's order.
    pub files: Vec<(InfoHash, ScrapeStats)>,
    /// Do not scrape more often than this (`flags` → `min_request_interval`).
    pub min_request_interval: Option<Duration>,
}

/// The announce URL for `request` (BEP 3): `announce` with the query appended.
///
/// `info_hash`, `peer_id` and `trackerid` are percent-encoded byte by byte; `compact=1` asks
/// for BEP 23 peer lists; `event`, `numwant`, `key`, `trackerid`, `ipv4` and `ipv6` are left out
/// when absent. A query already in `announce` (a passkey) is kept and extended with `&`; a
/// fragment is dropped (it is never sent to a server).
pub fn announce_url(announce: &str, request: &AnnounceRequest) -> String {
    let mut url = String::with_capacity(announce.len() + 200);
    url.push_str(strip_fragment(announce));
    push_separator(&mut url);
    url.push_str("info_hash=");
    percent::encode_into(&request.info_hash.0, &mut url);
    url.push_str("&peer_id=");
    percent::encode_into(&request.peer_id.0, &mut url);
    let numbers = [
        ("port", u64::from(request.port)),
        ("uploaded", request.uploaded),
        ("downloaded", request.downloaded),
        ("left", request.left),
        ("compact", 1),
    ];
    for (key, value) in numbers {
        url.push('&');
        url.push_str(key);
        url.push('=');
        url.push_str(&value.to_string());
    }
    if let Some(event) = request.event.as_str() {
        url.push_str("&event=");
        url.push_str(event);
    }
    if let Some(numwant) = request.numwant {
        url.push_str("&numwant=");
        url.push_str(&numwant.to_string());
    }
    if let Some(key) = request.key {
        // libtorrent's form: eight uppercase hex digits.
        url.push_str(&format!("&key={key:08X}"));
    }
    if let Some(id) = &request.tracker_id {
        url.push_str("&trackerid=");
        percent::encode_into(id, &mut url);
    }
    if let Some(ip) = request.ipv4 {
        url.push_str("&ipv4=");
        url.push_str(&ip.to_string());
    }
    if let Some(ip) = request.ipv6 {
        // BEP 7: the address in its text form; `:` is not unreserved, so escape it.
        url.push_str("&ipv6=");
        percent::encode_into(ip.to_string().as_bytes(), &mut url);
    }
    url
}

/// The scrape URL of an announce URL (BEP 48), with one `info_hash` parameter per hash, or
/// `None` when the tracker does not follow the scrape convention.
///
/// BEP 48: "Find the last '/' in it. If the text immediately following that '/' isn't
/// 'announce' it will be taken as a sign that that tracker doesn't support the scrape
/// convention. If it does, substitute 'scrape' for 'announce' to find the scrape page."
/// An empty `info_hashes` asks for every swarm (trackers may refuse).
pub fn scrape_url(announce: &str, info_hashes: &[InfoHash]) -> Option<String> {
    let announce = strip_fragment(announce);
    let slash = announce.rfind('/')?;
    let rest = &announce[slash + 1..];
    let tail = rest.strip_prefix("announce")?;
    let mut url = String::with_capacity(announce.len() + info_hashes.len() * 72);
    url.push_str(&announce[..=slash]);
    url.push_str("scrape");
    url.push_str(tail);
    for (i, hash) in info_hashes.iter().enumerate() {
        if i == 0 {
            push_separator(&mut url);
        } else {
            url.push('&');
        }
        url.push_str("info_hash=");
        percent::encode_into(&hash.0, &mut url);
    }
    Some(url)
}

/// Reads an announce response body.
///
/// Accepts `peers` as a compact string (BEP 23) or a list of dictionaries (BEP 3: `ip`, `port`,
/// `peer id`) and `peers6` (BEP 7). A dictionary peer whose `ip` is a host name rather than an
/// address is skipped (resolving names is not this crate's business). Unknown keys are ignored;
/// dictionary keys may come in any order (lenient bencode, as trackers write it).
pub fn parse_announce_response(
    body: &[u8],
    limits: &Limits,
) -> Result<Reply<AnnounceResponse>, ResponseError> {
    let doc = decode(body, limits)?;
    let root = root_dict(&doc)?;
    if let Some(failure) = failure(&root, limits)? {
        return Ok(Reply::Failure(failure));
    }
    let mut response = AnnounceResponse {
        interval: seconds(&root, "interval")?,
        min_interval: seconds(&root, "min interval")?,
        tracker_id: bytes(&root, "tracker id", limits)?.map(<[u8]>::to_vec),
        complete: count(&root, "complete")?,
        incomplete: count(&root, "incomplete")?,
        warning: bytes(&root, "warning message", limits)?
            .map(|b| String::from_utf8_lossy(b).into_owned()),
        peers: Vec::new(),
        external_ip: None,
    };
    if let Some(ip) = bytes(&root, "external ip", limits)? {
        response.external_ip = Some(match ip.len() {
            4 => IpAddr::V4(Ipv4Addr::from(<[u8; 4]>::try_from(ip).unwrap_or_default())),
            16 => IpAddr::V6(Ipv6Addr::from(<[u8; 16]>::try_from(ip).unwrap_or_default())),
            len => return Err(ResponseError::BadExternalIp { len }),
        });
    }
    let peers = root.get(b"peers");
    let peers6 = root.get(b"peers6");
    // Count before allocating: a compact string's length says how many peers it holds.
    let count = peers.map_or(0, peer_count) + peers6.map_or(0, peer_count);
    if count > limits.max_peers {
        return Err(ResponseError::TooManyPeers {
            count,
            max: limits.max_peers,
        });
    }
    response.peers.reserve_exact(count);
    if let Some(peers) = peers {
        match peers.ty() {
            Type::Bytes => read_compact(peers, Family::V4, &mut response.peers)?,
            Type::List => read_peer_dicts(peers, &mut response.peers)?,
            found => {
                return Err(ResponseError::WrongType {
                    key: "peers",
                    found,
                    expected: Type::Bytes,
                });
            }
        }
    }
    if let Some(peers6) = peers6 {
        expect(peers6, "peers6", Type::Bytes)?;
        read_compact(peers6, Family::V6, &mut response.peers)?;
    }
    Ok(Reply::Success(response))
}

/// Reads a scrape response body (BEP 48).
///
/// Keys of `files` are 20-byte info-hashes; the UTF-8 encoding of a 20-character binary string
/// (what bittorrent-tracker writes, up to 40 bytes) is accepted too. Missing counts are 0.
pub fn parse_scrape_response(
    body: &[u8],
    limits: &Limits,
) -> Result<Reply<ScrapeResponse>, ResponseError> {
    let doc = decode(body, limits)?;
    let root = root_dict(&doc)?;
    if let Some(failure) = failure(&root, limits)? {
        return Ok(Reply::Failure(failure));
    }
    let mut response = ScrapeResponse::default();
    if let Some(flags) = root.get(b"flags") {
        let flags = dict(flags, "flags")?;
        response.min_request_interval = seconds(&flags, "min_request_interval")?;
    }
    let Some(files) = root.get(b"files") else {
        return Ok(Reply::Success(response));
    };
    let files = dict(files, "files")?;
    if files.len() > limits.max_files {
        return Err(ResponseError::TooManyFiles {
            count: files.len(),
            max: limits.max_files,
        });
    }
    response.files.reserve_exact(files.len());
    for (key, value) in files.iter() {
        let hash = scrape_key(key).ok_or(ResponseError::BadInfoHash { len: key.len() })?;
        let entry = dict(value, "files")?;
        let stats = ScrapeStats {
            complete: count(&entry, "complete")?.unwrap_or(0),
            downloaded: count(&entry, "downloaded")?.unwrap_or(0),
            incomplete: count(&entry, "incomplete")?.unwrap_or(0),
        };
        response.files.push((hash, stats));
    }
    Ok(Reply::Success(response))
}

/// Drops a `#fragment`.
fn strip_fragment(url: &str) -> &str {
    url.split_once('#').map_or(url, |(before, _)| before)
}

/// Appends `?` to a URL without a query, `&` to one with a query, nothing after a trailing `?`
/// or `&`.
fn push_separator(url: &mut String) {
    if !url.contains('?') {
        url.push('?');
    } else if !url.ends_with(['?', '&']) {
        url.push('&');
    }
}

fn decode<'a>(body: &'a [u8], limits: &Limits) -> Result<bencode::Document<'a>, ResponseError> {
    if body.len() > limits.max_response_len {
        return Err(ResponseError::TooLong {
            len: body.len(),
            max: limits.max_response_len,
        });
    }
    let options = DecodeOptions {
        mode: Mode::Lenient,
        limits: bencode::Limits {
            max_depth: 8,
            // A dictionary peer is 7 values (the dictionary, three keys, three values), a scrape
            // entry at most a dozen; the rest of a response is a few dozen.
            max_items: 16 * limits.max_peers.max(limits.max_files) + 256,
            max_string_len: limits.max_response_len,
        },
    };
    Ok(bencode::decode(body, &options)?)
}

fn root_dict<'a>(doc: &'a bencode::Document<'_>) -> Result<Dict<'a>, ResponseError> {
    let root = doc.root();
    root.as_dict()
        .ok_or(ResponseError::NotADictionary { found: root.ty() })
}

/// `failure reason` and BEP 31's `retry in` (minutes, or `"never"`).
fn failure(root: &Dict<'_>, limits: &Limits) -> Result<Option<Failure>, ResponseError> {
    let Some(reason) = bytes(root, "failure reason", limits)? else {
        return Ok(None);
    };
    let retry = match root.get(b"retry in") {
        None => Retry::Default,
        Some(v) => match v.kind() {
            bencode::Kind::Bytes(b"never") => Retry::Never,
            bencode::Kind::Int(minutes) if minutes >= 0 => {
                Retry::After(Duration::from_secs((minutes as u64).saturating_mul(60)))
            }
            // Anything else is advice we cannot follow; the failure itself still stands.
            _ => Retry::Default,
        },
    };
    Ok(Some(Failure {
        reason: String::from_utf8_lossy(reason).into_owned(),
        retry,
    }))
}

fn expect(value: Value<'_>, key: &'static str, expected: Type) -> Result<(), ResponseError> {
    if value.ty() == expected {
        Ok(())
    } else {
        Err(ResponseError::WrongType {
            key,
            found: value.ty(),
            expected,
        })
    }
}

fn dict<'a>(value: Value<'a>, key: &'static str) -> Result<Dict<'a>, ResponseError> {
    expect(value, key, Type::Dict)?;
    value.as_dict().ok_or(ResponseError::WrongType {
        key,
        found: value.ty(),
        expected: Type::Dict,
    })
}

fn int(root: &Dict<'_>, key: &'static str) -> Result<Option<i64>, ResponseError> {
    let Some(value) = root.get(key.as_bytes()) else {
        return Ok(None);
    };
    value.as_int().map(Some).ok_or(ResponseError::WrongType {
        key,
        found: value.ty(),
        expected: Type::Int,
    })
}

fn seconds(root: &Dict<'_>, key: &'static str) -> Result<Option<Duration>, ResponseError> {
    match int(root, key)? {
        None => Ok(None),
        Some(value) if value >= 0 => Ok(Some(Duration::from_secs(value as u64))),
        Some(value) => Err(ResponseError::OutOfRange { key, value }),
    }
}

fn count(root: &Dict<'_>, key: &'static str) -> Result<Option<u32>, ResponseError> {
    match int(root, key)? {
        None => Ok(None),
        Some(value) => u32::try_from(value)
            .map(Some)
            .map_err(|_| ResponseError::OutOfRange { key, value }),
    }
}

fn bytes<'a>(
    root: &Dict<'a>,
    key: &'static str,
    limits: &Limits,
) -> Result<Option<&'a [u8]>, ResponseError> {
    let Some(value) = root.get(key.as_bytes()) else {
        return Ok(None);
    };
    let b = value.as_bytes().ok_or(ResponseError::WrongType {
        key,
        found: value.ty(),
        expected: Type::Bytes,
    })?;
    if b.len() > limits.max_string_len {
        return Err(ResponseError::StringTooLong {
            key,
            len: b.len(),
            max: limits.max_string_len,
        });
    }
    Ok(Some(b))
}

/// How many peers a `peers`/`peers6` value holds, for the limit check (a wrong type counts 0
/// and fails later with its own error).
fn peer_count(value: Value<'_>) -> usize {
    match value.kind() {
        // Rounded up, so a string a little over the limit is refused as too many peers rather
        // than read; a length off the grid is refused when read.
        bencode::Kind::Bytes(b) => b.len().div_ceil(compact::V4_LEN),
        bencode::Kind::List(l) => l.len(),
        _ => 0,
    }
}

fn read_compact(
    value: Value<'_>,
    family: Family,
    out: &mut Vec<Peer>,
) -> Result<(), ResponseError> {
    let bytes = value.as_bytes().unwrap_or_default();
    out.extend(compact::decode(bytes, family)?.map(|addr| Peer {
        addr,
        peer_id: None,
    }));
    Ok(())
}

fn read_peer_dicts(value: Value<'_>, out: &mut Vec<Peer>) -> Result<(), ResponseError> {
    let Some(list) = value.as_list() else {
        return Ok(());
    };
    for (index, item) in list.iter().enumerate() {
        let bad = |what| ResponseError::BadPeer { index, what };
        let entry = item.as_dict().ok_or(bad("not a dictionary"))?;
        let ip = entry
            .get(b"ip")
            .and_then(|v| v.as_bytes())
            .ok_or(bad("no `ip` string"))?;
        let port = entry
            .get(b"port")
            .and_then(|v| v.as_int())
            .ok_or(bad("no `port` integer"))?;
        let port = u16::try_from(port).map_err(|_| bad("`port` out of range"))?;
        let peer_id = match entry.get(b"peer id") {
            None => None,
            Some(id) => Some(
                id.as_bytes()
                    .and_then(PeerId::from_slice)
                    .ok_or(bad("`peer id` is not 20 bytes"))?,
            ),
        };
        // BEP 3: "IP address ... either IPv6 (hexed) or IPv4 (dotted quad) or DNS name". Names
        // are skipped; the caller connects to addresses.
        let Some(ip) = std::str::from_utf8(ip)
            .ok()
            .and_then(|s| s.parse::<IpAddr>().ok())
        else {
            continue;
        };
        out.push(Peer {
            addr: (ip, port).into(),
            peer_id,
        });
    }
    Ok(())
}

/// A scrape key: 20 raw bytes, or a binary string's UTF-8 (each char U+0000..U+00FF one byte).
fn scrape_key(key: &[u8]) -> Option<InfoHash> {
    if let Some(hash) = InfoHash::from_slice(key) {
        return Some(hash);
    }
    let text = std::str::from_utf8(key).ok()?;
    crate::ws::from_binary_string::<20>(text).ok().map(InfoHash)
}

#[cfg(test)]
mod tests;
