//! Payloads of BEP 10 extended messages: the extended handshake, ut_metadata (BEP 9), ut_pex
//! (BEP 11) and lt_donthave (BEP 54).
//!
//! Each decoder takes the payload after the extended id byte. Dictionaries are read leniently
//! (as libtorrent reads them: keys in any order, unknown keys ignored, a field of the wrong type
//! treated as absent), but with small bencode limits, since a peer controls them.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};

use bytes::Bytes;
use torrent_format::bencode::{self, DecodeOptions, Dict, Mode, OwnedValue};

use crate::{DecodeError, PieceIndex};

/// Names of the extensions this crate speaks, as they appear in `m`.
pub mod name {
    /// BEP 9.
    pub const UT_METADATA: &str = "ut_metadata";
    /// BEP 11.
    pub const UT_PEX: &str = "ut_pex";
    /// BEP 54.
    pub const LT_DONTHAVE: &str = "lt_donthave";
}

/// BEP 9: metadata is exchanged in pieces of 16 KiB.
pub const METADATA_PIECE_LEN: u32 = 16 * 1024;

/// The extended handshake (BEP 10, extended id 0).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ExtendedHandshake {
    /// `m`: extension name to the id the sender wants to receive it under; 0 turns an
    /// extension off. Decoding sorts them by name.
    pub extensions: Vec<(String, u8)>,
    /// `v`: client name and version.
    pub client: Option<String>,
    /// `p`: the sender's listen port.
    pub listen_port: Option<u16>,
    /// `reqq`: how many outstanding requests the sender queues.
    pub reqq: Option<u32>,
    /// `yourip`: the receiver's address as the sender sees it.
    pub your_ip: Option<IpAddr>,
    /// `ipv4`: the sender's own IPv4 address.
    pub ipv4: Option<Ipv4Addr>,
    /// `ipv6`: the sender's own IPv6 address.
    pub ipv6: Option<Ipv6Addr>,
    /// `metadata_size` (BEP 9): size of the info dictionary.
    pub metadata_size: Option<u32>,
    /// `upload_only` (BEP 21): the sender only uploads (a seed, or a partial seed).
    pub upload_only: bool,
}

impl ExtendedHandshake {
    /// The id the sender wants `name` sent under, if it has it on.
    pub fn extension_id(&self, name: &str) -> Option<u8> {
        self.extensions
            .iter()
            .find(|(n, _)| n == name)
            .map(|&(_, id)| id)
            .filter(|&id| id != 0)
    }

    /// Decodes the payload.
    pub fn decode(payload: &[u8]) -> Result<Self, DecodeError> {
        let err = |what| DecodeError::Extension {
            extension: "handshake",
            what,
        };
        let doc = decode_dict(payload).map_err(|_| err("not bencode"))?;
        let dict = doc.root().as_dict().ok_or(err("not a dictionary"))?;
        let mut h = Self::default();
        if let Some(m) = dict.get(b"m").and_then(|v| v.as_dict()) {
            for (key, value) in m.iter() {
                let (Ok(name), Some(id)) = (std::str::from_utf8(key), value.as_int()) else {
                    continue;
                };
                if let Ok(id) = u8::try_from(id)
                    && !h.extensions.iter().any(|(n, _)| n == name)
                {
                    h.extensions.push((name.to_owned(), id));
                }
            }
        }
        // One order whatever the sender's (lenient peers send keys unsorted).
        h.extensions.sort();
        h.client = dict
            .get(b"v")
            .and_then(|v| v.as_bytes())
            .map(|v| String::from_utf8_lossy(v).into_owned());
        h.listen_port = int(dict, b"p")
            .and_then(|p| u16::try_from(p).ok())
            .filter(|&p| p != 0);
        h.reqq = int(dict, b"reqq").and_then(|q| u32::try_from(q).ok());
        h.your_ip = dict.get(b"yourip").and_then(|v| v.as_bytes()).and_then(ip);
        h.ipv4 = dict
            .get(b"ipv4")
            .and_then(|v| v.as_bytes())
            .and_then(|b| <[u8; 4]>::try_from(b).ok())
            .map(Ipv4Addr::from);
        h.ipv6 = dict
            .get(b"ipv6")
            .and_then(|v| v.as_bytes())
            .and_then(|b| <[u8; 16]>::try_from(b).ok())
            .map(Ipv6Addr::from);
        h.metadata_size = int(dict, b"metadata_size").and_then(|s| u32::try_from(s).ok());
        h.upload_only = int(dict, b"upload_only").is_some_and(|u| u != 0);
        Ok(h)
    }

    /// Encodes the payload (canonical bencode).
    pub fn encode(&self) -> Vec<u8> {
        let mut m = OwnedValue::dict();
        for (name, id) in &self.extensions {
            m = m.with(name.as_bytes(), i64::from(*id).into());
        }
        let mut d = OwnedValue::dict().with("m", m);
        if let Some(v) = &self.client {
            d = d.with("v", v.as_str().into());
        }
        if let Some(p) = self.listen_port {
            d = d.with("p", i64::from(p).into());
        }
        if let Some(q) = self.reqq {
            d = d.with("reqq", i64::from(q).into());
        }
        if let Some(ip) = self.your_ip {
            d = d.with("yourip", OwnedValue::Bytes(ip_bytes(ip)));
        }
        if let Some(ip) = self.ipv4 {
            d = d.with("ipv4", OwnedValue::Bytes(ip.octets().to_vec()));
        }
        if let Some(ip) = self.ipv6 {
            d = d.with("ipv6", OwnedValue::Bytes(ip.octets().to_vec()));
        }
        if let Some(s) = self.metadata_size {
            d = d.with("metadata_size", i64::from(s).into());
        }
        if self.upload_only {
            d = d.with("upload_only", 1.into());
        }
        d.to_bytes()
    }
}

/// A ut_metadata message (BEP 9).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Metadata {
    /// `msg_type` 0: send me this piece of the info dictionary.
    Request {
        /// Piece number (16 KiB each).
        piece: u32,
    },
    /// `msg_type` 1: a piece, after the dictionary.
    Data {
        /// Piece number.
        piece: u32,
        /// Size of the whole info dictionary.
        total_size: u32,
        /// The piece's bytes (shares the message's buffer).
        data: Bytes,
    },
    /// `msg_type` 2: the sender will not send this piece.
    Reject {
        /// Piece number.
        piece: u32,
    },
    /// A `msg_type` BEP 9 does not define; BEP 9 says to ignore it.
    Unknown {
        /// The type.
        msg_type: i64,
    },
}

impl Metadata {
    /// Decodes the payload. For `Data`, checks that the piece lies inside `total_size` and
    /// has the length BEP 9 gives it (16 KiB, less for the last piece).
    pub fn decode(payload: &Bytes) -> Result<Self, DecodeError> {
        let err = |what| DecodeError::Extension {
            extension: "ut_metadata",
            what,
        };
        let options = DecodeOptions {
            mode: Mode::Lenient,
            limits: small_limits(),
        };
        let (doc, used) =
            bencode::decode_prefix(payload, &options).map_err(|_| err("not bencode"))?;
        let dict = doc.root().as_dict().ok_or(err("not a dictionary"))?;
        let msg_type = int(dict, b"msg_type").ok_or(err("no msg_type"))?;
        let piece = int(dict, b"piece")
            .and_then(|p| u32::try_from(p).ok())
            .ok_or(err("no piece"));
        let message = match msg_type {
            0 => Self::Request { piece: piece? },
            1 => {
                let piece = piece?;
                let total_size = int(dict, b"total_size")
                    .and_then(|s| u32::try_from(s).ok())
                    .ok_or(err("no total_size"))?;
                let data = payload.slice(used..);
                let start = u64::from(piece) * u64::from(METADATA_PIECE_LEN);
                let expected = u64::from(total_size)
                    .checked_sub(start)
                    .filter(|&rest| rest > 0)
                    .ok_or(err("piece beyond total_size"))?
                    .min(u64::from(METADATA_PIECE_LEN));
                if data.len() as u64 != expected {
                    return Err(err("piece of the wrong length"));
                }
                Self::Data {
                    piece,
                    total_size,
                    data,
                }
            }
            2 => Self::Reject { piece: piece? },
            msg_type => Self::Unknown { msg_type },
        };
        Ok(message)
    }

    /// Encodes the payload (for `Data`, the dictionary followed by the piece).
    pub fn encode(&self) -> Vec<u8> {
        let (msg_type, piece) = match self {
            Self::Request { piece } => (0, *piece),
            Self::Data { piece, .. } => (1, *piece),
            Self::Reject { piece } => (2, *piece),
            Self::Unknown { msg_type } => {
                return OwnedValue::dict()
                    .with("msg_type", (*msg_type).into())
                    .to_bytes();
            }
        };
        let mut d = OwnedValue::dict()
            .with("msg_type", msg_type.into())
            .with("piece", i64::from(piece).into());
        if let Self::Data {
            total_size, data, ..
        } = self
        {
            d = d.with("total_size", i64::from(*total_size).into());
            let mut out = d.to_bytes();
            out.extend_from_slice(data);
            return out;
        }
        d.to_bytes()
    }
}

/// BEP 11 peer flags (`added.f`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct PexFlags(pub u8);

impl PexFlags {
    /// 0x01: prefers encryption.
    pub const ENCRYPTION: u8 = 0x01;
    /// 0x02: a seed or upload-only peer.
    pub const SEED: u8 = 0x02;
    /// 0x04: supports uTP.
    pub const UTP: u8 = 0x04;
    /// 0x08: supports ut_holepunch.
    pub const HOLEPUNCH: u8 = 0x08;
    /// 0x10: reachable (the sender connected to it, not the reverse).
    pub const REACHABLE: u8 = 0x10;
}

/// A ut_pex message (BEP 11): peers the sender connected to or dropped since its last one.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Pex {
    /// New peers, IPv4 (`added`) then IPv6 (`added6`), with their flags.
    pub added: Vec<(SocketAddr, PexFlags)>,
    /// Gone peers (`dropped`, `dropped6`).
    pub dropped: Vec<SocketAddr>,
}

impl Pex {
    /// BEP 11: "at most 50 added and 50 dropped peers per message" is what clients send;
    /// we accept up to this many of each, more is an error.
    pub const MAX_PEERS: usize = 200;

    /// Decodes the payload.
    pub fn decode(payload: &[u8]) -> Result<Self, DecodeError> {
        let err = |what| DecodeError::Extension {
            extension: "ut_pex",
            what,
        };
        let doc = decode_dict(payload).map_err(|_| err("not bencode"))?;
        let dict = doc.root().as_dict().ok_or(err("not a dictionary"))?;
        let bytes = |key: &[u8]| dict.get(key).and_then(|v| v.as_bytes()).unwrap_or_default();
        let mut pex = Self::default();
        for (list, flags, width) in [
            (b"added" as &[u8], b"added.f" as &[u8], 6),
            (b"added6", b"added6.f", 18),
        ] {
            let addrs = compact_peers(bytes(list), width)
                .ok_or(err("compact peers of the wrong length"))?;
            let flags = bytes(flags);
            pex.added.extend(
                addrs
                    .enumerate()
                    .map(|(i, a)| (a, PexFlags(flags.get(i).copied().unwrap_or(0)))),
            );
        }
        for (list, width) in [(b"dropped" as &[u8], 6), (b"dropped6", 18)] {
            let addrs = compact_peers(bytes(list), width)
                .ok_or(err("compact peers of the wrong length"))?;
            pex.dropped.extend(addrs);
        }
        if pex.added.len() > Self::MAX_PEERS || pex.dropped.len() > Self::MAX_PEERS {
            return Err(err("too many peers"));
        }
        Ok(pex)
    }

    /// Encodes the payload. The four lists and the flags are always present (libtorrent
    /// writes them even when empty).
    pub fn encode(&self) -> Vec<u8> {
        let mut added = [Vec::new(), Vec::new()];
        let mut flags = [Vec::new(), Vec::new()];
        let mut dropped = [Vec::new(), Vec::new()];
        for (addr, f) in &self.added {
            let v6 = usize::from(addr.is_ipv6());
            put_compact(&mut added[v6], addr);
            flags[v6].push(f.0);
        }
        for addr in &self.dropped {
            put_compact(&mut dropped[usize::from(addr.is_ipv6())], addr);
        }
        let [a4, a6] = added;
        let [f4, f6] = flags;
        let [d4, d6] = dropped;
        OwnedValue::dict()
            .with("added", OwnedValue::Bytes(a4))
            .with("added.f", OwnedValue::Bytes(f4))
            .with("added6", OwnedValue::Bytes(a6))
            .with("added6.f", OwnedValue::Bytes(f6))
            .with("dropped", OwnedValue::Bytes(d4))
            .with("dropped6", OwnedValue::Bytes(d6))
            .to_bytes()
    }
}

/// lt_donthave (BEP 54): the sender no longer has this piece. The payload is the index alone.
pub fn decode_dont_have(payload: &[u8]) -> Result<PieceIndex, DecodeError> {
    <[u8; 4]>::try_from(payload)
        .map(|b| PieceIndex(u32::from_be_bytes(b)))
        .map_err(|_| DecodeError::Extension {
            extension: "lt_donthave",
            what: "payload is not four bytes",
        })
}

/// The lt_donthave payload.
pub fn encode_dont_have(piece: PieceIndex) -> [u8; 4] {
    piece.0.to_be_bytes()
}

/// Limits for dictionaries a peer sends: shallow and small.
fn small_limits() -> bencode::Limits {
    bencode::Limits {
        max_depth: 8,
        max_items: 4096,
        max_string_len: 1 << 20,
    }
}

fn decode_dict(payload: &[u8]) -> Result<bencode::Document<'_>, bencode::DecodeError> {
    let options = DecodeOptions {
        mode: Mode::Lenient,
        limits: small_limits(),
    };
    bencode::decode(payload, &options)
}

fn int(dict: Dict<'_>, key: &[u8]) -> Option<i64> {
    dict.get(key).and_then(|v| v.as_int())
}

/// A compact address without port: 4 or 16 bytes.
fn ip(bytes: &[u8]) -> Option<IpAddr> {
    match bytes.len() {
        4 => <[u8; 4]>::try_from(bytes).ok().map(IpAddr::from),
        16 => <[u8; 16]>::try_from(bytes).ok().map(IpAddr::from),
        _ => None,
    }
}

fn ip_bytes(ip: IpAddr) -> Vec<u8> {
    match ip {
        IpAddr::V4(v4) => v4.octets().to_vec(),
        IpAddr::V6(v6) => v6.octets().to_vec(),
    }
}

/// Compact peers (BEP 23 for IPv4, BEP 7 for IPv6): address then big-endian port, `width`
/// bytes each. `None` if the length is not a multiple of `width`.
fn compact_peers(bytes: &[u8], width: usize) -> Option<impl Iterator<Item = SocketAddr> + '_> {
    if !bytes.len().is_multiple_of(width) {
        return None;
    }
    Some(bytes.chunks_exact(width).map(move |c| {
        let port = u16::from_be_bytes([c[width - 2], c[width - 1]]);
        match ip(&c[..width - 2]) {
            Some(IpAddr::V6(v6)) => SocketAddr::V6(SocketAddrV6::new(v6, port, 0, 0)),
            Some(IpAddr::V4(v4)) => SocketAddr::V4(SocketAddrV4::new(v4, port)),
            // `width` is 6 or 18, so the address part is 4 or 16 bytes.
            None => SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, port)),
        }
    }))
}

fn put_compact(out: &mut Vec<u8>, addr: &SocketAddr) {
    out.extend_from_slice(&ip_bytes(addr.ip()));
    out.extend_from_slice(&addr.port().to_be_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extended_handshake_round_trips_every_field() {
        let h = ExtendedHandshake {
            extensions: vec![
                ("lt_donthave".into(), 7),
                ("ut_metadata".into(), 3),
                ("ut_pex".into(), 1),
            ],
            client: Some("peercdn 0.1".into()),
            listen_port: Some(6881),
            reqq: Some(2000),
            your_ip: Some(IpAddr::from([127, 0, 0, 1])),
            ipv4: Some(Ipv4Addr::new(10, 1, 2, 3)),
            ipv6: Some(Ipv6Addr::LOCALHOST),
            metadata_size: Some(31_337),
            upload_only: true,
        };
        assert_eq!(ExtendedHandshake::decode(&h.encode()), Ok(h.clone()));
        assert_eq!(h.extension_id(name::UT_METADATA), Some(3));
        assert_eq!(h.extension_id("ut_holepunch"), None);
    }

    #[test]
    fn webtorrents_extended_handshake_is_understood() {
        // INTEROP-NOTES: {"m":{"ut_metadata":1,"lt_donthave":2},"metadata_size":N}.
        let h = ExtendedHandshake::decode(
            b"d1:md11:lt_donthavei2e11:ut_metadatai1ee13:metadata_sizei1234ee",
        )
        .unwrap();
        assert_eq!(h.extension_id(name::UT_METADATA), Some(1));
        assert_eq!(h.extension_id(name::LT_DONTHAVE), Some(2));
        assert_eq!(h.metadata_size, Some(1234));
        assert_eq!(h.reqq, None);
        // Disabled (0), out-of-range and wrongly typed entries are not extensions.
        let h = ExtendedHandshake::decode(b"d1:md1:ai0e1:bi300e1:c1:xe1:pi-1ee").unwrap();
        assert_eq!(h.extension_id("a"), None);
        assert_eq!(h.extensions, vec![("a".to_owned(), 0)]);
        assert_eq!(h.listen_port, None);
        assert!(ExtendedHandshake::decode(b"le").is_err());
        assert!(ExtendedHandshake::decode(b"d1:m").is_err());
    }

    #[test]
    fn metadata_pieces_must_have_their_bep_9_length() {
        let data = Metadata::Data {
            piece: 1,
            total_size: 16_384 + 100,
            data: Bytes::from(vec![1; 100]),
        };
        let bytes = Bytes::from(data.encode());
        assert_eq!(Metadata::decode(&bytes), Ok(data));
        // BEP 9's own example of a data message header.
        let example = Bytes::from_static(b"d8:msg_typei1e5:piecei0e10:total_sizei5ee12345");
        assert!(matches!(
            Metadata::decode(&example),
            Ok(Metadata::Data { total_size: 5, .. })
        ));
        let short = Bytes::from_static(b"d8:msg_typei1e5:piecei0e10:total_sizei6ee12345");
        assert!(Metadata::decode(&short).is_err());
        let beyond = Bytes::from_static(b"d8:msg_typei1e5:piecei1e10:total_sizei5ee");
        assert!(Metadata::decode(&beyond).is_err());
        for m in [
            Metadata::Request { piece: 2 },
            Metadata::Reject { piece: 0 },
        ] {
            assert_eq!(Metadata::decode(&Bytes::from(m.encode())), Ok(m));
        }
        assert_eq!(
            Metadata::decode(&Bytes::from_static(b"d8:msg_typei9ee")),
            Ok(Metadata::Unknown { msg_type: 9 })
        );
    }

    #[test]
    fn pex_round_trips_both_families_with_flags() {
        let pex = Pex {
            added: vec![
                ("10.0.0.1:6881".parse().unwrap(), PexFlags(PexFlags::SEED)),
                (
                    "[::1]:51413".parse().unwrap(),
                    PexFlags(PexFlags::UTP | PexFlags::REACHABLE),
                ),
            ],
            dropped: vec![
                "192.168.1.2:1".parse().unwrap(),
                "[2001:db8::1]:2".parse().unwrap(),
            ],
        };
        assert_eq!(Pex::decode(&pex.encode()), Ok(pex));
        assert!(Pex::decode(b"d5:added5:12345e").is_err());
        // Missing flags are zero.
        let p = Pex::decode(b"d5:added6:\x7f\x00\x00\x01\x1a\xe1e").unwrap();
        assert_eq!(
            p.added,
            vec![("127.0.0.1:6881".parse().unwrap(), PexFlags(0))]
        );
    }

    #[test]
    fn dont_have_is_a_bare_index() {
        assert_eq!(
            decode_dont_have(&encode_dont_have(PieceIndex(77))),
            Ok(PieceIndex(77))
        );
        assert!(decode_dont_have(&[0, 0, 1]).is_err());
    }
}
