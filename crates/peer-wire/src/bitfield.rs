//! A set of pieces, one bit each, in the wire's order (BEP 3: "the high bit in the first byte
//! corresponds to piece index 0").

use bytes::Bytes;

use crate::PieceIndex;

/// A set of pieces of a torrent with a fixed piece count.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Bitfield {
    bits: Vec<u8>,
    len: u32,
    count: u32,
}

/// Why bytes from a peer are not a bitfield for this torrent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BitfieldError {
    /// Not `ceil(pieces / 8)` bytes.
    WrongLength {
        /// Bytes received.
        len: usize,
        /// Bytes expected.
        expected: usize,
    },
    /// A bit set past the last piece (BEP 3: "Spare bits at the end are set to zero").
    SpareBits,
}

impl Bitfield {
    /// No piece of `len`.
    pub fn new(len: u32) -> Self {
        Self {
            bits: vec![0; byte_len(len)],
            len,
            count: 0,
        }
    }

    /// Every piece of `len`.
    pub fn full(len: u32) -> Self {
        let mut b = Self::new(len);
        b.bits.fill(0xff);
        if !len.is_multiple_of(8)
            && let Some(last) = b.bits.last_mut()
        {
            *last = 0xff << (8 - len % 8);
        }
        b.count = len;
        b
    }

    /// Reads a peer's bitfield for a torrent of `len` pieces.
    pub fn from_wire(bytes: &[u8], len: u32) -> Result<Self, BitfieldError> {
        let expected = byte_len(len);
        if bytes.len() != expected {
            return Err(BitfieldError::WrongLength {
                len: bytes.len(),
                expected,
            });
        }
        if !len.is_multiple_of(8)
            && let Some(&last) = bytes.last()
            && last & (0xff >> (len % 8)) != 0
        {
            return Err(BitfieldError::SpareBits);
        }
        let count = bytes.iter().map(|b| b.count_ones()).sum();
        Ok(Self {
            bits: bytes.to_vec(),
            len,
            count,
        })
    }

    /// The bytes to send.
    pub fn to_bytes(&self) -> Bytes {
        Bytes::copy_from_slice(&self.bits)
    }

    /// The wire bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bits
    }

    /// Number of pieces in the torrent.
    pub fn len(&self) -> u32 {
        self.len
    }

    /// Whether the torrent has no pieces.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Number of pieces in the set.
    pub fn count(&self) -> u32 {
        self.count
    }

    /// Whether every piece is in the set.
    pub fn is_full(&self) -> bool {
        self.count == self.len
    }

    /// Whether `piece` is in the set (`false` past the end).
    pub fn has(&self, piece: PieceIndex) -> bool {
        piece.0 < self.len && self.bits[(piece.0 / 8) as usize] & mask(piece.0) != 0
    }

    /// Adds `piece`; returns whether it was new. Pieces past the end are ignored.
    pub fn insert(&mut self, piece: PieceIndex) -> bool {
        if piece.0 >= self.len || self.has(piece) {
            return false;
        }
        self.bits[(piece.0 / 8) as usize] |= mask(piece.0);
        self.count += 1;
        true
    }

    /// Removes `piece`; returns whether it was there.
    pub fn remove(&mut self, piece: PieceIndex) -> bool {
        if !self.has(piece) {
            return false;
        }
        self.bits[(piece.0 / 8) as usize] &= !mask(piece.0);
        self.count -= 1;
        true
    }

    /// The pieces in the set, in order.
    pub fn iter(&self) -> impl Iterator<Item = PieceIndex> + '_ {
        (0..self.len).map(PieceIndex).filter(|&p| self.has(p))
    }
}

fn byte_len(pieces: u32) -> usize {
    pieces.div_ceil(8) as usize
}

fn mask(piece: u32) -> u8 {
    0x80 >> (piece % 8)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_length_up_to_three_bytes_checks_spare_bits_and_size() {
        for len in 0..=24u32 {
            let full = Bitfield::full(len);
            assert_eq!(full.count(), len);
            assert_eq!(Bitfield::from_wire(full.as_bytes(), len), Ok(full.clone()));
            assert_eq!(
                (0..len).filter(|&p| full.has(PieceIndex(p))).count() as u32,
                len
            );
            assert!(!full.has(PieceIndex(len)));
            if len % 8 != 0 {
                let mut bytes = full.as_bytes().to_vec();
                *bytes.last_mut().unwrap() |= 1;
                assert_eq!(
                    Bitfield::from_wire(&bytes, len),
                    Err(BitfieldError::SpareBits)
                );
            }
            let mut longer = full.as_bytes().to_vec();
            longer.push(0);
            assert!(matches!(
                Bitfield::from_wire(&longer, len),
                Err(BitfieldError::WrongLength { .. })
            ));
        }
    }

    #[test]
    fn insert_and_remove_keep_the_count() {
        let mut b = Bitfield::new(10);
        assert!(b.insert(PieceIndex(0)) && b.insert(PieceIndex(9)));
        assert!(!b.insert(PieceIndex(9)) && !b.insert(PieceIndex(10)));
        assert_eq!(b.as_bytes(), &[0x80, 0x40]);
        assert_eq!(b.count(), 2);
        assert!(b.remove(PieceIndex(0)) && !b.remove(PieceIndex(0)));
        assert_eq!(b.iter().collect::<Vec<_>>(), [PieceIndex(9)]);
    }
}
