//! Magnet links: parsing and building (BEP 9, BEP 52 `btmh`, BEP 53 `so`).
//!
//! A magnet link names a torrent by its info-hash so that a client can join the swarm and fetch
//! the info dictionary from peers (BEP 9) instead of from a `.torrent` file. This module parses
//! one into a [`Magnet`] and, through [`std::fmt::Display`], writes one back. It does no I/O.
//!
//! ```
//! use torrent_format::magnet::{Magnet, MagnetError};
//!
//! let link = "magnet:?xt=urn:btih:c0fda1edafdbdbb96443424e0b3899af7159d10e\
//!             &dn=temp&tr=http%3A%2F%2Fexample.com%2Fannounce&so=0,2-3";
//! let magnet = Magnet::parse(link)?;
//! assert_eq!(
//!     magnet.info_hashes.v1.map(|h| h.to_hex()).as_deref(),
//!     Some("c0fda1edafdbdbb96443424e0b3899af7159d10e"),
//! );
//! assert_eq!(magnet.name.as_deref(), Some("temp"));
//! assert_eq!(magnet.trackers, ["http://example.com/announce"]);
//! assert_eq!(magnet.select_only, [0..=0, 2..=3]);
//!
//! // Building is deterministic, and what it builds parses back to the same value.
//! assert_eq!(Magnet::parse(&magnet.to_string())?, magnet);
//!
//! assert_eq!(Magnet::parse("http://example.com/"), Err(MagnetError::NotAMagnet));
//! # Ok::<(), MagnetError>(())
//! ```
//!
//! # What is read
//!
//! | key    | field            | notes |
//! |--------|------------------|-------|
//! | `xt`   | `info_hashes`    | `urn:btih:` + 40 hex digits or 32 base32 characters (v1); `urn:btmh:` + a hex multihash, which must be SHA-256 `1220…` (v2). Both may appear (hybrid). Other URNs (`urn:sha1:`, `urn:ed2k:`, …) are ignored. At least one BitTorrent info-hash is required. |
//! | `dn`   | `name`           | the first non-empty one; `+` decodes to a space here only. |
//! | `tr`   | `trackers`       | in order, empty values and duplicates dropped. |
//! | `ws`   | `web_seeds`      | likewise (BEP 19 URLs). |
//! | `xl`   | `exact_length`   | decimal, the first one. |
//! | `x.pe` | `peers`          | BEP 9 `host:port`, `ipv4:port`, `[ipv6]:port`; duplicates dropped. |
//! | `so`   | `select_only`    | BEP 53 indices and inclusive ranges, `0,2,4-6`, in the order written. |
//!
//! Keys may carry a numeric suffix (`xt.1`, `tr.2`), which is dropped, and are matched without
//! regard to ASCII case, as libtorrent does; unknown keys (`xs`, `as`, `kt`, `dht`, …) are skipped without being decoded.
//! The scheme `magnet:?` is matched case-insensitively, the `urn:btih:`/`urn:btmh:` prefixes too
//! (RFC 8141 makes URN namespace identifiers case-insensitive). Whitespace is not trimmed.
//!
//! # Decoding
//!
//! Every value read is percent-decoded (`%XX`, either case). What is malformed is treated by
//! what it is for:
//! - the identity of the torrent (`xt`) and `so` (which files to fetch) must be right: a bad
//!   escape, a value that is not UTF-8, a bad hash or range is an error, never a guess;
//! - the parameters that only help find or label the torrent are kept when they can be and
//!   dropped when not, as libtorrent does, so a link pasted from the web still works: a `dn`
//!   is decoded lossily (a bad escape stays as written, bytes that are not UTF-8 become U+FFFD);
//!   a `tr`, `ws` or `x.pe` that is malformed, and an `xl` that is not a decimal below 2^64, is
//!   dropped; after [`MAX_LIST_LEN`] distinct trackers, web seeds or peers, the rest are dropped.
//!
//! `+` means a space in `dn` only:
//! generators produce `dn=Some+Name` from HTML forms, but in a URL (`tr`, `ws`) a space is never
//! valid while `+` is a legal character, so decoding it there would corrupt the URL. libtorrent
//! decodes `+` as a space in every value; that is the one place we knowingly differ.
//!
//! # Building
//!
//! [`Magnet`]'s `Display` writes the parameters in a fixed order: `xt` (v1, as lower-case hex),
//! `xt` (v2, `urn:btmh:1220` + lower-case hex), `dn`, `xl`, each `tr`, each `ws`, each `x.pe`,
//! then one `so`. Values are percent-encoded as whole components: every byte but RFC 3986's
//! unreserved characters (`A-Z a-z 0-9 - . _ ~`) becomes `%XX`, so a tracker URL is written
//! `http%3A%2F%2F…`, as libtorrent does. `x.pe` keeps its `:` readable.
//!
//! # Invariants
//!
//! - Round trip: for every `m` returned by [`Magnet::parse`],
//!   `Magnet::parse(&m.to_string()) == Ok(m)`. To keep that true, a link whose rebuilt form
//!   would be longer than [`MAX_LINK_LEN`] is rejected as [`MagnetError::TooLong`] too.
//! - A parsed magnet has at least one info-hash, a non-empty name if any, no empty or repeated
//!   tracker or web seed, no repeated peer, and ascending `so` ranges.
//!
//! # Limits
//!
//! Magnets come from web pages, clipboards and peers, so every size is bounded before memory is
//! spent on it: the link is at most [`MAX_LINK_LEN`] bytes (checked first, before any other
//! work), at most [`MAX_LIST_LEN`] distinct trackers, web seeds and peers each (libtorrent-like
//! sanity; real links carry a handful), and at most [`MAX_SELECT_ONLY_RANGES`] `so` ranges.
//! Every value is bounded by the link length; numbers must fit their type (`xl` in `u64`, file
//! indices in `u32`, ports in `u16`).

use std::borrow::Cow;
use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::ops::RangeInclusive;
use std::str::FromStr;

use crate::hash::{InfoHashV1, InfoHashV2, InfoHashes};

/// The longest magnet link accepted, in bytes: 64 KiB.
pub const MAX_LINK_LEN: usize = 64 * 1024;

/// The most distinct trackers, web seeds or peers kept from one link (each list separately);
/// the rest are dropped.
pub const MAX_LIST_LEN: usize = 100;

/// The most `so` ranges one link may carry (BEP 53 sets no limit; one per file of a large
/// library torrent is plausible, more is not).
pub const MAX_SELECT_ONLY_RANGES: usize = 1000;

/// A parsed magnet link (BEP 9).
///
/// Build one with [`Magnet::parse`] or [`Magnet::new`]; write it out with `to_string()`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Magnet {
    /// The v1 and/or v2 info-hash (`xt`). A parsed magnet always has at least one.
    pub info_hashes: InfoHashes,
    /// The display name (`dn`), percent-decoded; never `Some("")` after parsing.
    pub name: Option<String>,
    /// Tracker URLs (`tr`), in link order, without duplicates.
    pub trackers: Vec<String>,
    /// Web seed URLs (`ws`, BEP 19), in link order, without duplicates.
    pub web_seeds: Vec<String>,
    /// The total size in bytes (`xl`), if given.
    pub exact_length: Option<u64>,
    /// Peers to contact directly (`x.pe`, BEP 9), in link order, without duplicates.
    pub peers: Vec<PeerAddr>,
    /// File indices to download (`so`, BEP 53): inclusive ranges, each `start <= end`, in link
    /// order. Empty means "all files".
    pub select_only: Vec<RangeInclusive<u32>>,
}

/// A peer address from `x.pe` (BEP 9): "hostname:port, ipv4-literal:port or
/// [ipv6-literal]:port".
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum PeerAddr {
    /// An IPv4 or IPv6 literal with its port.
    Ip(SocketAddr),
    /// A DNS name (ASCII letters, digits, `-`, `_`, dot-separated labels) with its port. Not
    /// resolved here: resolving is I/O.
    Host {
        /// The host name, as written.
        host: String,
        /// The port, never 0.
        port: u16,
    },
}

/// Why a magnet link was rejected.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MagnetError {
    /// The text does not begin with `magnet:?`.
    #[error("not a magnet link: it must start with `magnet:?`")]
    NotAMagnet,
    /// The link, or the link [`Magnet`]'s `Display` would rebuild from it, is longer than
    /// [`MAX_LINK_LEN`].
    #[error(
        "magnet link is {len} bytes long (as written or once re-encoded); the limit is {max} bytes"
    )]
    TooLong {
        /// The length found, in bytes.
        len: usize,
        /// The limit, [`MAX_LINK_LEN`].
        max: usize,
    },
    /// No `xt=urn:btih:` or `xt=urn:btmh:` parameter.
    #[error(
        "magnet link has no BitTorrent info-hash: it needs `xt=urn:btih:<40 hex digits>` \
         or `xt=urn:btmh:1220<64 hex digits>`"
    )]
    MissingInfoHash,
    /// A `urn:btih:` that is not 40 hex digits or 32 base32 characters, or a `urn:btmh:` that
    /// is not a well-formed hex SHA-256 multihash.
    #[error(
        "invalid info-hash in `{param}`: `urn:btih:` takes 40 hex digits or 32 base32 \
         characters, `urn:btmh:` takes `1220` and 64 hex digits"
    )]
    InvalidInfoHash {
        /// The parameter name, without any `.N` suffix.
        param: &'static str,
    },
    /// A `urn:btmh:` multihash whose hash function is not SHA-256 (code 0x12).
    #[error(
        "unsupported hash function 0x{code:x} in `urn:btmh:`; BitTorrent v2 uses SHA-256 \
         (multihash prefix `1220`)"
    )]
    UnsupportedHashFunction {
        /// The multihash function code found.
        code: u64,
    },
    /// Two `xt` parameters name different v1 (or different v2) info-hashes.
    #[error("magnet link names two different {version} info-hashes; it must name one torrent")]
    ConflictingInfoHashes {
        /// `"v1"` or `"v2"`.
        version: &'static str,
    },
    /// A `%` not followed by two hex digits.
    #[error("bad percent-encoding in `{param}`: every `%` must be followed by two hex digits")]
    InvalidPercentEncoding {
        /// The parameter name, without any `.N` suffix.
        param: &'static str,
    },
    /// A value that is not UTF-8 once percent-decoded.
    #[error("`{param}` is not valid UTF-8 once percent-decoded")]
    InvalidUtf8 {
        /// The parameter name, without any `.N` suffix.
        param: &'static str,
    },
    /// A peer address (as in `x.pe`) that is not `host:port`, `ipv4:port` or `[ipv6]:port`;
    /// from [`PeerAddr`]'s `FromStr` (in a magnet link such a peer is dropped).
    #[error(
        "`x.pe` must be `host:port`, `ipv4:port` or `[ipv6]:port`, with a port from 1 to 65535"
    )]
    InvalidPeerAddress,
    /// An `so` that is not a comma-separated list of indices and ascending ranges.
    #[error(
        "`so` must be comma-separated file indices and ascending ranges such as `0,2,4-6`, \
         each index below 2^32"
    )]
    InvalidSelectOnly,
    /// More distinct values of one parameter than the limit allows.
    #[error("magnet link has more than {max} distinct `{param}` values")]
    TooMany {
        /// The parameter name.
        param: &'static str,
        /// The limit.
        max: usize,
    },
}

impl Magnet {
    /// A magnet with these info-hashes and nothing else.
    pub fn new(info_hashes: InfoHashes) -> Self {
        Self {
            info_hashes,
            name: None,
            trackers: Vec::new(),
            web_seeds: Vec::new(),
            exact_length: None,
            peers: Vec::new(),
            select_only: Vec::new(),
        }
    }

    /// Parses a magnet link. See the [module docs](crate::magnet) for what is read and what is rejected.
    pub fn parse(s: &str) -> Result<Self, MagnetError> {
        // Bound the work before doing any.
        if s.len() > MAX_LINK_LEN {
            return Err(MagnetError::TooLong {
                len: s.len(),
                max: MAX_LINK_LEN,
            });
        }
        // Checked split: the 8th byte may sit inside a multi-byte character.
        let query = match s.split_at_checked(PREFIX.len()) {
            Some((scheme, query)) if scheme.eq_ignore_ascii_case(PREFIX) => query,
            _ => return Err(MagnetError::NotAMagnet),
        };

        let mut v1: Option<InfoHashV1> = None;
        let mut v2: Option<InfoHashV2> = None;
        let mut m = Self::new(InfoHashes { v1: None, v2: None });

        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let (key, raw) = pair.split_once('=').unwrap_or((pair, ""));
            // Keys are matched without regard to ASCII case, as libtorrent does (`XT=` works).
            match strip_index(key).to_ascii_lowercase().as_str() {
                "xt" => match parse_topic(&decode(raw, "xt", false)?)? {
                    Some(Topic::V1(h)) => merge(&mut v1, h, "v1")?,
                    Some(Topic::V2(h)) => merge(&mut v2, h, "v2")?,
                    None => {} // another network's URN (`urn:sha1:`, `urn:ed2k:`, ...)
                },
                // The parameters below only help find or label the torrent. Like libtorrent, a
                // malformed one is dropped rather than failing a link users pasted from the web
                // (old generators wrote Latin-1 names; tracker lists grow long).
                "dn" => {
                    let name = decode_lossy(raw);
                    if m.name.is_none() && !name.is_empty() {
                        m.name = Some(name);
                    }
                }
                "tr" => {
                    if let Ok(url) = decode(raw, "tr", false) {
                        push_url(&mut m.trackers, url);
                    }
                }
                "ws" => {
                    if let Ok(url) = decode(raw, "ws", false) {
                        push_url(&mut m.web_seeds, url);
                    }
                }
                "xl" if m.exact_length.is_none() => {
                    m.exact_length = decode(raw, "xl", false)
                        .ok()
                        .and_then(|v| parse_decimal::<u64>(&v));
                }
                "x.pe" => {
                    let peer = decode(raw, "x.pe", false)
                        .ok()
                        .and_then(|v| v.parse::<PeerAddr>().ok());
                    if let Some(peer) = peer
                        && !m.peers.contains(&peer)
                        && m.peers.len() < MAX_LIST_LEN
                    {
                        m.peers.push(peer);
                    }
                }
                "so" => parse_select_only(&decode(raw, "so", false)?, &mut m.select_only)?,
                _ => {} // BEP 9 leaves room for other keys; skip them undecoded.
            }
        }

        if v1.is_none() && v2.is_none() {
            return Err(MagnetError::MissingInfoHash);
        }
        m.info_hashes = InfoHashes { v1, v2 };

        // Re-encoding can grow a value threefold (a raw `/` becomes `%2F`); refuse what we could
        // not write back within the limit, so that parse(to_string(m)) == m always holds.
        let len = m.encoded_len();
        if len > MAX_LINK_LEN {
            return Err(MagnetError::TooLong {
                len,
                max: MAX_LINK_LEN,
            });
        }
        Ok(m)
    }

    /// The length in bytes of `self.to_string()`, computed without allocating.
    pub fn encoded_len(&self) -> usize {
        let mut counter = LenCounter(0);
        // Writing to a LenCounter cannot fail: its `write_str` always returns Ok.
        let _ = self.write_link(&mut counter);
        counter.0
    }

    fn write_link(&self, w: &mut impl fmt::Write) -> fmt::Result {
        w.write_str(PREFIX)?;
        let mut sep = "";
        let mut param = |w: &mut dyn fmt::Write, key: &str| {
            let s = sep;
            sep = "&";
            write!(w, "{s}{key}=")
        };
        if let Some(h) = self.info_hashes.v1 {
            param(w, "xt")?;
            write!(w, "urn:btih:{h}")?;
        }
        if let Some(h) = self.info_hashes.v2 {
            param(w, "xt")?;
            // BEP 52: the multihash of a SHA-256 digest: code 0x12, length 0x20.
            write!(w, "urn:btmh:1220{h}")?;
        }
        if let Some(name) = self.name.as_deref().filter(|n| !n.is_empty()) {
            param(w, "dn")?;
            encode(w, name, b"")?;
        }
        if let Some(len) = self.exact_length {
            param(w, "xl")?;
            write!(w, "{len}")?;
        }
        for tr in &self.trackers {
            param(w, "tr")?;
            encode(w, tr, b"")?;
        }
        for ws in &self.web_seeds {
            param(w, "ws")?;
            encode(w, ws, b"")?;
        }
        for peer in &self.peers {
            param(w, "x.pe")?;
            // RFC 3986 allows `:` in a query; brackets it does not, so they are encoded.
            encode(w, &peer.to_string(), b":")?;
        }
        if !self.select_only.is_empty() {
            param(w, "so")?;
            for (i, r) in self.select_only.iter().enumerate() {
                let comma = if i == 0 { "" } else { "," };
                if r.start() == r.end() {
                    write!(w, "{comma}{}", r.start())?;
                } else {
                    write!(w, "{comma}{}-{}", r.start(), r.end())?;
                }
            }
        }
        Ok(())
    }
}

impl fmt::Display for Magnet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.write_link(f)
    }
}

impl FromStr for Magnet {
    type Err = MagnetError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl PeerAddr {
    /// The port.
    pub fn port(&self) -> u16 {
        match self {
            Self::Ip(addr) => addr.port(),
            Self::Host { port, .. } => *port,
        }
    }
}

impl FromStr for PeerAddr {
    type Err = MagnetError;

    /// Parses `hostname:port`, `ipv4:port` or `[ipv6]:port` (BEP 9). Port 0 is rejected: no
    /// peer can be reached there.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if let Ok(addr) = s.parse::<SocketAddr>() {
            return if addr.port() == 0 {
                Err(MagnetError::InvalidPeerAddress)
            } else {
                Ok(Self::Ip(addr))
            };
        }
        // What `SocketAddr` refused may still be an IP literal with a port it does not take
        // (`1.2.3.4:080`); keep those as `Ip`, so that writing one out and reading it back
        // gives the same variant.
        let (host, port) = s.rsplit_once(':').ok_or(MagnetError::InvalidPeerAddress)?;
        let port = parse_decimal::<u16>(port)
            .filter(|&p| p != 0)
            .ok_or(MagnetError::InvalidPeerAddress)?;
        if let Some(v6) = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
            let ip = v6
                .parse::<Ipv6Addr>()
                .map_err(|_| MagnetError::InvalidPeerAddress)?;
            return Ok(Self::Ip(SocketAddr::new(ip.into(), port)));
        }
        if let Ok(ip) = host.parse::<Ipv4Addr>() {
            return Ok(Self::Ip(SocketAddr::new(ip.into(), port)));
        }
        if !is_hostname(host) {
            return Err(MagnetError::InvalidPeerAddress);
        }
        Ok(Self::Host {
            host: host.to_owned(),
            port,
        })
    }
}

impl fmt::Display for PeerAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            // SocketAddr writes IPv6 as `[addr]:port`, as BEP 9 wants.
            Self::Ip(addr) => write!(f, "{addr}"),
            Self::Host { host, port } => write!(f, "{host}:{port}"),
        }
    }
}

impl From<SocketAddr> for PeerAddr {
    fn from(addr: SocketAddr) -> Self {
        Self::Ip(addr)
    }
}

enum Topic {
    V1(InfoHashV1),
    V2(InfoHashV2),
}

/// Counts the bytes written instead of storing them.
struct LenCounter(usize);

impl fmt::Write for LenCounter {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        self.0 += s.len();
        Ok(())
    }
}

/// Drops a `.N` suffix from a key: BEP 9 links may number repeated keys (`xt.1`, `tr.2`).
fn strip_index(key: &str) -> &str {
    match key.rsplit_once('.') {
        Some((base, n)) if !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()) => base,
        _ => key,
    }
}

/// Parses one `xt` value; `None` for URNs of other networks.
fn parse_topic(xt: &str) -> Result<Option<Topic>, MagnetError> {
    const INVALID: MagnetError = MagnetError::InvalidInfoHash { param: "xt" };
    let Some((urn, hash)) = xt.split_at_checked(URN_PREFIX_LEN) else {
        return Ok(None);
    };
    if urn.eq_ignore_ascii_case("urn:btih:") {
        // BEP 9: "the info-hash hex encoded, for a total of 40 characters. For compatability
        // with existing links in the wild, clients should also support the 32 character base32
        // encoded info-hash."
        let h = match hash.len() {
            40 => InfoHashV1::from_hex(hash),
            32 => decode_base32(hash).map(InfoHashV1),
            _ => None,
        };
        h.map(|h| Some(Topic::V1(h))).ok_or(INVALID)
    } else if urn.eq_ignore_ascii_case("urn:btmh:") {
        // BEP 9: "<tagged-info-hash> Is the multihash formatted, hex encoded full infohash for
        // torrents in the new metadata format."
        if hash.len() > 2 * MAX_MULTIHASH_LEN || !hash.len().is_multiple_of(2) {
            return Err(INVALID);
        }
        let mut bytes = [0u8; MAX_MULTIHASH_LEN];
        let bytes = &mut bytes[..hash.len() / 2];
        if !crate::hash::decode_hex(hash, bytes) {
            return Err(INVALID);
        }
        let (code, rest) = read_varint(bytes).ok_or(INVALID)?;
        if code != MULTIHASH_SHA2_256 {
            return Err(MagnetError::UnsupportedHashFunction { code });
        }
        let (len, digest) = read_varint(rest).ok_or(INVALID)?;
        match <[u8; 32]>::try_from(digest) {
            Ok(d) if len == 32 => Ok(Some(Topic::V2(InfoHashV2(d)))),
            _ => Err(INVALID),
        }
    } else {
        Ok(None)
    }
}

/// RFC 4648 base32 (upper or lower case, no padding) of exactly 20 bytes.
fn decode_base32(s: &str) -> Option<[u8; 20]> {
    let upper = s.to_ascii_uppercase();
    let bytes = data_encoding::BASE32.decode(upper.as_bytes()).ok()?;
    bytes.try_into().ok()
}

/// An unsigned LEB128 varint as multiformats uses it (at most 9 bytes), and what follows it.
fn read_varint(bytes: &[u8]) -> Option<(u64, &[u8])> {
    let mut value = 0u64;
    for (i, &b) in bytes.iter().enumerate().take(9) {
        value |= u64::from(b & 0x7f) << (7 * i);
        if b & 0x80 == 0 {
            return Some((value, &bytes[i + 1..]));
        }
    }
    None
}

fn merge<T: PartialEq>(
    slot: &mut Option<T>,
    h: T,
    version: &'static str,
) -> Result<(), MagnetError> {
    match slot {
        Some(old) if *old != h => Err(MagnetError::ConflictingInfoHashes { version }),
        Some(_) => Ok(()),
        None => {
            *slot = Some(h);
            Ok(())
        }
    }
}

/// Adds a URL unless it is empty (libtorrent drops empty `tr` values too), already there, or
/// past [`MAX_LIST_LEN`] (the rest of an overlong list is dropped, which bounds memory).
fn push_url(list: &mut Vec<String>, url: Cow<'_, str>) {
    if !url.is_empty() && list.len() < MAX_LIST_LEN && !list.iter().any(|u| *u == url) {
        list.push(url.into_owned());
    }
}

fn too_many(param: &'static str, max: usize) -> MagnetError {
    MagnetError::TooMany { param, max }
}

/// BEP 53: "so=0,2,4,6-8 means select only, and the numbers are the file indices. Files are
/// zero-indexed. Dashes mean inclusive ranges, so 6,7, and 8 are also added."
fn parse_select_only(s: &str, out: &mut Vec<RangeInclusive<u32>>) -> Result<(), MagnetError> {
    for token in s.split(',') {
        let range = match token.split_once('-') {
            Some((a, b)) => match (parse_decimal::<u32>(a), parse_decimal::<u32>(b)) {
                (Some(a), Some(b)) if a <= b => a..=b,
                _ => return Err(MagnetError::InvalidSelectOnly),
            },
            None => {
                let i = parse_decimal::<u32>(token).ok_or(MagnetError::InvalidSelectOnly)?;
                i..=i
            }
        };
        if out.len() == MAX_SELECT_ONLY_RANGES {
            return Err(too_many("so", MAX_SELECT_ONLY_RANGES));
        }
        out.push(range);
    }
    Ok(())
}

/// ASCII digits only: `str::parse` would also take a leading `+`.
fn parse_decimal<T: FromStr>(s: &str) -> Option<T> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// A DNS name: dot-separated labels of ASCII letters, digits, `-` and `_` (seen in the wild),
/// at most 63 bytes a label and 253 in all (RFC 1035).
fn is_hostname(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 253
        && s.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
}

/// Percent-decodes a value; `+` becomes a space only if `plus_is_space`.
fn decode<'a>(
    raw: &'a str,
    param: &'static str,
    plus_is_space: bool,
) -> Result<Cow<'a, str>, MagnetError> {
    let needs_work = raw.contains('%') || (plus_is_space && raw.contains('+'));
    if !needs_work {
        return Ok(Cow::Borrowed(raw));
    }
    let mut out = Vec::with_capacity(raw.len());
    let mut bytes = raw.bytes();
    while let Some(b) = bytes.next() {
        match b {
            b'%' => {
                let hi = bytes.next().and_then(hex_value);
                let lo = bytes.next().and_then(hex_value);
                match (hi, lo) {
                    (Some(hi), Some(lo)) => out.push((hi << 4) | lo),
                    _ => return Err(MagnetError::InvalidPercentEncoding { param }),
                }
            }
            b'+' if plus_is_space => out.push(b' '),
            _ => out.push(b),
        }
    }
    String::from_utf8(out)
        .map(Cow::Owned)
        .map_err(|_| MagnetError::InvalidUtf8 { param })
}

/// Percent-decodes a name as well as it can: `+` is a space, a `%` without two hex digits after
/// it stays as it is, and bytes that are not UTF-8 become U+FFFD.
fn decode_lossy(raw: &str) -> String {
    let bytes = raw.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let escaped = (bytes[i] == b'%')
            .then(|| {
                Some((
                    hex_value(*bytes.get(i + 1)?)?,
                    hex_value(*bytes.get(i + 2)?)?,
                ))
            })
            .flatten();
        match (escaped, bytes[i]) {
            (Some((hi, lo)), _) => {
                out.push((hi << 4) | lo);
                i += 3;
                continue;
            }
            (None, b'+') => out.push(b' '),
            (None, b) => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn hex_value(c: u8) -> Option<u8> {
    char::from(c)
        .to_digit(16)
        .and_then(|d| u8::try_from(d).ok())
}

/// Percent-encodes every byte but RFC 3986's unreserved characters and those in `keep`.
fn encode(w: &mut dyn fmt::Write, s: &str, keep: &[u8]) -> fmt::Result {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    // Write runs of unescaped characters at once rather than byte by byte.
    let mut start = 0;
    for (i, b) in s.bytes().enumerate() {
        let plain = b.is_ascii_alphanumeric() || b"-._~".contains(&b) || keep.contains(&b);
        if !plain {
            // Only ASCII bytes are kept, so `start..i` is empty or an ASCII run: both ends are
            // character boundaries and `get` always succeeds.
            w.write_str(s.get(start..i).unwrap_or_default())?;
            let esc = [b'%', HEX[usize::from(b >> 4)], HEX[usize::from(b & 15)]];
            // Three ASCII bytes are always UTF-8.
            w.write_str(std::str::from_utf8(&esc).unwrap_or_default())?;
            start = i + 1;
        }
    }
    w.write_str(s.get(start..).unwrap_or_default())
}

const PREFIX: &str = "magnet:?";
/// `urn:btih:` and `urn:btmh:` are both this long.
const URN_PREFIX_LEN: usize = 9;
/// Multihash function code of SHA2-256 (multiformats table).
const MULTIHASH_SHA2_256: u64 = 0x12;
/// Longest `urn:btmh:` multihash read, in bytes: room for two 9-byte varints and a 64-byte
/// digest, so an unknown function is reported as such rather than as a bad length.
const MAX_MULTIHASH_LEN: usize = 9 + 9 + 64;

#[cfg(test)]
mod tests;
