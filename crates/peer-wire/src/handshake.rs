//! The BEP 3 handshake: `\x13BitTorrent protocol`, eight reserved bytes, the info-hash and the
//! peer id, 68 bytes in all.

use bytes::BufMut;

use crate::{DecodeError, InfoHash, PeerId, Status};

/// The protocol string, after its length byte (BEP 3: "the string 'BitTorrent protocol'").
pub const PROTOCOL: &[u8; 19] = b"BitTorrent protocol";

/// Length of a handshake on the wire.
pub const HANDSHAKE_LEN: usize = 1 + 19 + 8 + 20 + 20;

/// The eight reserved bytes: what each side supports.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Reserved(pub [u8; 8]);

impl Reserved {
    /// Extension protocol (BEP 10): bit 20 from the right, `reserved[5] & 0x10`.
    pub const EXTENSION_PROTOCOL: (usize, u8) = (5, 0x10);
    /// Fast extension (BEP 6): "the third least significant bit", `reserved[7] & 0x04`.
    pub const FAST: (usize, u8) = (7, 0x04);
    /// DHT (BEP 5): "the last bit", `reserved[7] & 0x01`.
    pub const DHT: (usize, u8) = (7, 0x01);
    /// v2 upgrade (BEP 52): "the 4th most significant bit in the last byte", `reserved[7] & 0x10`.
    pub const V2: (usize, u8) = (7, 0x10);

    /// What we send by default: extension protocol and fast extension (WebTorrent sends the same
    /// two bits).
    pub fn ours() -> Self {
        Self::default()
            .with(Self::EXTENSION_PROTOCOL)
            .with(Self::FAST)
    }

    /// This set with one more bit.
    #[must_use]
    pub fn with(mut self, (byte, mask): (usize, u8)) -> Self {
        self.0[byte] |= mask;
        self
    }

    /// Whether a bit is set.
    pub fn has(&self, (byte, mask): (usize, u8)) -> bool {
        self.0[byte] & mask != 0
    }

    /// BEP 10 extension protocol.
    pub fn extension_protocol(&self) -> bool {
        self.has(Self::EXTENSION_PROTOCOL)
    }

    /// BEP 6 fast extension.
    pub fn fast(&self) -> bool {
        self.has(Self::FAST)
    }

    /// BEP 5 DHT (the peer accepts `port` messages).
    pub fn dht(&self) -> bool {
        self.has(Self::DHT)
    }

    /// BEP 52 v2 upgrade.
    pub fn v2(&self) -> bool {
        self.has(Self::V2)
    }

    /// Both sides' bits: what the connection may use.
    #[must_use]
    pub fn common(&self, other: &Self) -> Self {
        let mut out = [0; 8];
        for (o, (a, b)) in out.iter_mut().zip(self.0.iter().zip(&other.0)) {
            *o = a & b;
        }
        Self(out)
    }
}

/// A handshake.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Handshake {
    /// What the sender supports.
    pub reserved: Reserved,
    /// The swarm: the v1 info-hash, or a v2 info-hash truncated to 20 bytes (BEP 52).
    pub info_hash: InfoHash,
    /// The sender.
    pub peer_id: PeerId,
}

impl Handshake {
    /// Decodes a handshake from the start of `buf`. A prefix of a valid handshake is
    /// [`Status::Partial`]; a wrong length byte or protocol string is an error as soon as the
    /// first wrong byte is there.
    pub fn decode(buf: &[u8]) -> Result<Status<(Self, usize)>, DecodeError> {
        if let Some(&len) = buf.first()
            && usize::from(len) != PROTOCOL.len()
        {
            return Err(DecodeError::NotBitTorrent);
        }
        let have = buf.len().min(1 + PROTOCOL.len());
        if buf[1.min(buf.len())..have] != PROTOCOL[..have.saturating_sub(1)] {
            return Err(DecodeError::NotBitTorrent);
        }
        let Some(bytes) = buf.get(..HANDSHAKE_LEN) else {
            return Ok(Status::Partial);
        };
        let reserved = Reserved(array(&bytes[20..28]));
        let info_hash = InfoHash(array(&bytes[28..48]));
        let peer_id = PeerId(array(&bytes[48..68]));
        Ok(Status::Complete((
            Self {
                reserved,
                info_hash,
                peer_id,
            },
            HANDSHAKE_LEN,
        )))
    }

    /// Writes the 68 bytes.
    pub fn encode(&self, out: &mut impl BufMut) {
        out.put_u8(PROTOCOL.len() as u8);
        out.put_slice(PROTOCOL);
        out.put_slice(&self.reserved.0);
        out.put_slice(&self.info_hash.0);
        out.put_slice(&self.peer_id.0);
    }
}

/// A fixed-size array from a slice of exactly that size.
pub(crate) fn array<const N: usize>(bytes: &[u8]) -> [u8; N] {
    let mut out = [0; N];
    out.copy_from_slice(bytes);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Handshake {
        Handshake {
            reserved: Reserved::ours().with(Reserved::DHT),
            info_hash: InfoHash([0xaa; 20]),
            peer_id: PeerId(*b"-PC0001-abcdefghijkl"),
        }
    }

    #[test]
    fn handshake_round_trips_and_every_prefix_is_partial() {
        let mut bytes = Vec::new();
        sample().encode(&mut bytes);
        assert_eq!(bytes.len(), HANDSHAKE_LEN);
        assert_eq!(&bytes[..20], b"\x13BitTorrent protocol");
        assert_eq!(&bytes[20..28], &[0, 0, 0, 0, 0, 0x10, 0, 0x05]);
        for cut in 0..HANDSHAKE_LEN {
            assert_eq!(
                Handshake::decode(&bytes[..cut]),
                Ok(Status::Partial),
                "{cut}"
            );
        }
        bytes.extend_from_slice(b"more");
        assert_eq!(
            Handshake::decode(&bytes),
            Ok(Status::Complete((sample(), HANDSHAKE_LEN)))
        );
    }

    #[test]
    fn a_stranger_is_refused_at_its_first_wrong_byte() {
        assert_eq!(
            Handshake::decode(b"GET / HTTP/1.1"),
            Err(DecodeError::NotBitTorrent)
        );
        assert_eq!(
            Handshake::decode(b"\x13BitTorrent pro"),
            Ok(Status::Partial)
        );
        assert_eq!(
            Handshake::decode(b"\x13BitTorrent Pro"),
            Err(DecodeError::NotBitTorrent)
        );
    }

    #[test]
    fn reserved_bits_are_where_the_beps_put_them() {
        let r = Reserved([0, 0, 0, 0, 0, 0x10, 0, 0x15]);
        assert!(r.extension_protocol() && r.fast() && r.dht() && r.v2());
        assert!(!Reserved::default().fast());
        let webtorrent = Reserved([0, 0, 0, 0, 0, 0x10, 0, 0x04]);
        assert_eq!(webtorrent, Reserved::ours());
        assert!(
            !webtorrent
                .common(&Reserved::default().with(Reserved::FAST))
                .extension_protocol()
        );
    }
}
