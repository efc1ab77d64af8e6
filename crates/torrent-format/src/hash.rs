//! Info-hashes and the SHA-1 / SHA-256 digests they are made of.

use std::fmt;

/// A v1 info-hash: the SHA-1 of the bencoded `info` dictionary, exactly as received (BEP 3).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct InfoHashV1(pub [u8; 20]);

/// A v2 info-hash: the SHA-256 of the bencoded `info` dictionary (BEP 52).
///
/// On the wire (handshake, trackers, DHT) it is truncated to its first 20 bytes;
/// [`InfoHashV2::truncated`] gives that form.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct InfoHashV2(pub [u8; 32]);

/// The info-hashes of one torrent: a v1 torrent has only `v1`, a v2 torrent only `v2`, a hybrid
/// both. At least one is always present.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct InfoHashes {
    /// The SHA-1 info-hash, for v1 and hybrid torrents.
    pub v1: Option<InfoHashV1>,
    /// The SHA-256 info-hash, for v2 and hybrid torrents.
    pub v2: Option<InfoHashV2>,
}

impl InfoHashV1 {
    /// Parses 40 hexadecimal digits (either case).
    pub fn from_hex(s: &str) -> Option<Self> {
        let mut out = [0u8; 20];
        decode_hex(s, &mut out).then_some(Self(out))
    }

    /// Lower-case hexadecimal, 40 characters.
    pub fn to_hex(&self) -> String {
        encode_hex(&self.0)
    }
}

impl InfoHashV2 {
    /// Parses 64 hexadecimal digits (either case).
    pub fn from_hex(s: &str) -> Option<Self> {
        let mut out = [0u8; 32];
        decode_hex(s, &mut out).then_some(Self(out))
    }

    /// Lower-case hexadecimal, 64 characters.
    pub fn to_hex(&self) -> String {
        encode_hex(&self.0)
    }

    /// The first 20 bytes, as used in the peer handshake and by trackers (BEP 52).
    pub fn truncated(&self) -> [u8; 20] {
        let mut out = [0u8; 20];
        out.copy_from_slice(&self.0[..20]);
        out
    }
}

impl fmt::Debug for InfoHashV1 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "InfoHashV1({})", self.to_hex())
    }
}

impl fmt::Display for InfoHashV1 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl fmt::Debug for InfoHashV2 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "InfoHashV2({})", self.to_hex())
    }
}

impl fmt::Display for InfoHashV2 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

/// SHA-1 of `data`. The `sha1` crate picks SHA-NI at run time where the CPU has it.
pub fn sha1(data: &[u8]) -> [u8; 20] {
    use sha1::Digest;
    sha1::Sha1::digest(data).into()
}

/// SHA-256 of `data`.
pub fn sha256(data: &[u8]) -> [u8; 32] {
    use sha2::Digest;
    sha2::Sha256::digest(data).into()
}

pub(crate) fn encode_hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for &b in bytes {
        s.push(DIGITS[usize::from(b >> 4)] as char);
        s.push(DIGITS[usize::from(b & 15)] as char);
    }
    s
}

pub(crate) fn decode_hex(s: &str, out: &mut [u8]) -> bool {
    let s = s.as_bytes();
    if s.len() != out.len() * 2 {
        return false;
    }
    for (o, pair) in out.iter_mut().zip(s.chunks_exact(2)) {
        match (hex_digit(pair[0]), hex_digit(pair[1])) {
            (Some(h), Some(l)) => *o = h << 4 | l,
            _ => return false,
        }
    }
    true
}

fn hex_digit(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_round_trips_and_rejects_bad_digits() {
        let h = InfoHashV1::from_hex("C0FDA1EDAFDBDBB96443424E0B3899AF7159D10E").unwrap();
        assert_eq!(h.to_hex(), "c0fda1edafdbdbb96443424e0b3899af7159d10e");
        assert!(InfoHashV1::from_hex("c0fda1edafdbdbb96443424e0b3899af7159d10").is_none());
        assert!(InfoHashV1::from_hex("g0fda1edafdbdbb96443424e0b3899af7159d10e").is_none());
    }

    #[test]
    fn sha1_matches_fips_180_vector() {
        // FIPS 180-2, appendix A.1: SHA-1("abc").
        assert_eq!(
            encode_hex(&sha1(b"abc")),
            "a9993e364706816aba3e25717850c26c9cd0d89d"
        );
    }
}
