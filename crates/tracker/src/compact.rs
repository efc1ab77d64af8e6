//! Compact peer lists: BEP 23's 6 bytes per IPv4 peer (address, then port, both big-endian) and
//! BEP 7's 18 bytes per IPv6 peer. HTTP trackers send them as the `peers` and `peers6` strings,
//! UDP trackers (BEP 15) append them to the announce response.

use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};

use crate::Family;

/// Bytes per IPv4 peer (BEP 23).
pub const V4_LEN: usize = 6;
/// Bytes per IPv6 peer (BEP 7).
pub const V6_LEN: usize = 18;

/// A compact peer list whose length is not a multiple of its entry size.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("compact {family:?} peer list of {len} bytes is not a multiple of {entry}")]
pub struct LengthError {
    /// The family the list was read as.
    pub family: Family,
    /// Its length.
    pub len: usize,
    /// The entry size it should be a multiple of.
    pub entry: usize,
}

/// The entry size of a family's compact form.
pub fn entry_len(family: Family) -> usize {
    match family {
        Family::V4 => V4_LEN,
        Family::V6 => V6_LEN,
    }
}

/// Decodes a compact list of `family` peers; the length is checked before anything is read.
pub fn decode(
    bytes: &[u8],
    family: Family,
) -> Result<impl ExactSizeIterator<Item = SocketAddr> + '_, LengthError> {
    let entry = entry_len(family);
    if !bytes.len().is_multiple_of(entry) {
        return Err(LengthError {
            family,
            len: bytes.len(),
            entry,
        });
    }
    Ok(bytes
        .chunks_exact(entry)
        .map(move |c| decode_one(c, family)))
}

/// One entry; `chunk` has exactly the family's entry length (the callers chunk exactly).
fn decode_one(chunk: &[u8], family: Family) -> SocketAddr {
    let port = u16::from_be_bytes([chunk[chunk.len() - 2], chunk[chunk.len() - 1]]);
    match family {
        Family::V4 => {
            let ip = Ipv4Addr::new(chunk[0], chunk[1], chunk[2], chunk[3]);
            SocketAddr::V4(SocketAddrV4::new(ip, port))
        }
        Family::V6 => {
            let mut octets = [0u8; 16];
            octets.copy_from_slice(&chunk[..16]);
            SocketAddr::V6(SocketAddrV6::new(Ipv6Addr::from(octets), port, 0, 0))
        }
    }
}

/// Appends the compact form of `addr` if it is of `family` (an IPv4-mapped IPv6 address counts
/// as IPv4); returns whether it did.
pub fn encode_into(addr: SocketAddr, family: Family, out: &mut Vec<u8>) -> bool {
    match (addr.ip().to_canonical(), family) {
        (std::net::IpAddr::V4(ip), Family::V4) => out.extend_from_slice(&ip.octets()),
        (std::net::IpAddr::V6(ip), Family::V6) => out.extend_from_slice(&ip.octets()),
        _ => return false,
    }
    out.extend_from_slice(&addr.port().to_be_bytes());
    true
}

/// The compact list of the `family` addresses among `addrs` (the others are left out).
pub fn encode<'a>(addrs: impl IntoIterator<Item = &'a SocketAddr>, family: Family) -> Vec<u8> {
    let mut out = Vec::new();
    for &addr in addrs {
        encode_into(addr, family, &mut out);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    /// BEP 23: "each peer is represented using only 6 bytes. The first 4 bytes contain the
    /// 32-bit ipv4 address. The remaining two bytes contain the port number. Both address and
    /// port use network-byte order." 10.0.0.1:6881 is `0a 00 00 01 1a e1`.
    #[test]
    fn bep23_ipv4_entries() {
        let bytes = [10, 0, 0, 1, 0x1a, 0xe1, 192, 168, 1, 2, 0xff, 0xff];
        let peers: Vec<_> = decode(&bytes, Family::V4).unwrap().collect();
        assert_eq!(peers, [addr("10.0.0.1:6881"), addr("192.168.1.2:65535")]);
        assert_eq!(encode(&peers, Family::V4), bytes);
    }

    /// BEP 7: "peers6 ... 18 bytes per peer: 16 for the address, 2 for the port".
    #[test]
    fn bep7_ipv6_entries() {
        let mut bytes = vec![0x20, 0x01, 0x0d, 0xb8];
        bytes.extend_from_slice(&[0; 11]);
        bytes.extend_from_slice(&[1, 0x1a, 0xe1]);
        let peers: Vec<_> = decode(&bytes, Family::V6).unwrap().collect();
        assert_eq!(peers, [addr("[2001:db8::1]:6881")]);
        assert_eq!(encode(&peers, Family::V6), bytes);
    }

    #[test]
    fn lengths_off_the_grid_are_errors() {
        assert_eq!(
            decode(&[0; 7], Family::V4).err(),
            Some(LengthError {
                family: Family::V4,
                len: 7,
                entry: 6
            })
        );
        assert!(decode(&[0; 36], Family::V6).is_ok());
        assert!(decode(&[0; 35], Family::V6).is_err());
        assert_eq!(decode(&[], Family::V4).unwrap().len(), 0);
    }

    #[test]
    fn encoding_sorts_by_family_and_unmaps_mapped_addresses() {
        let addrs = [
            addr("1.2.3.4:1"),
            addr("[::1]:2"),
            addr("[::ffff:5.6.7.8]:3"),
        ];
        assert_eq!(
            encode(&addrs, Family::V4),
            [1, 2, 3, 4, 0, 1, 5, 6, 7, 8, 0, 3]
        );
        assert_eq!(encode(&addrs, Family::V6).len(), 18);
    }
}
