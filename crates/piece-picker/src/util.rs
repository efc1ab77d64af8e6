//! Small tools: the seeded PRNG, a hasher for integer keys, and 64-piece words of bitsets.

use std::hash::{BuildHasherDefault, Hasher};

/// SplitMix64 (Steele, Lea and Flood, "Fast splittable pseudorandom number generators", 2014):
/// one add and two multiply-xorshifts per output, every seed valid. Tie-breaking needs no more.
#[derive(Clone, Debug)]
pub(crate) struct Rng(u64);

impl Rng {
    pub(crate) fn new(seed: u64) -> Self {
        Self(seed)
    }

    pub(crate) fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (`n > 0`), by Lemire's multiply-shift; the bias of at most `n / 2^32`
    /// does not matter for tie-breaking.
    pub(crate) fn below(&mut self, n: usize) -> usize {
        debug_assert!(n > 0);
        let n = n.min(u32::MAX as usize) as u64;
        (((self.next_u64() >> 32) * n) >> 32) as usize
    }
}

/// A multiplicative hasher for `u32` keys (peer keys, piece indices). The caller chooses the
/// keys, not a remote peer, so hash flooding is not a concern and SipHash's cost is not needed.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct KeyHasher(u64);

impl Hasher for KeyHasher {
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.write_u32(u32::from(b));
        }
    }

    fn write_u32(&mut self, n: u32) {
        self.0 = (self.0.rotate_left(5) ^ u64::from(n)).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    }

    fn finish(&self) -> u64 {
        // hashbrown takes the bucket from the low bits and a tag from the top 7: fold the well
        // mixed high half down.
        self.0 ^ (self.0 >> 32)
    }
}

pub(crate) type KeyBuild = BuildHasherDefault<KeyHasher>;

/// A set of pieces as 64-bit words in the wire's bit order: piece `p` is bit `63 - p % 64` of
/// word `p / 64`, so a word equals the big-endian load of 8 bytes of a peer's bitfield.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Bits(Vec<u64>);

impl Bits {
    pub(crate) fn new(len: u32) -> Self {
        Self(vec![0; words(len)])
    }

    pub(crate) fn get(&self, p: u32) -> bool {
        self.0[(p / 64) as usize] & mask(p) != 0
    }

    pub(crate) fn set(&mut self, p: u32, on: bool) {
        let w = &mut self.0[(p / 64) as usize];
        if on {
            *w |= mask(p);
        } else {
            *w &= !mask(p);
        }
    }

    pub(crate) fn word(&self, w: usize) -> u64 {
        self.0[w]
    }

    pub(crate) fn num_words(&self) -> usize {
        self.0.len()
    }
}

/// Word `w` of a bitfield's wire bytes (zeros past the end).
pub(crate) fn wire_word(bytes: &[u8], w: usize) -> u64 {
    let start = w * 8;
    match bytes.get(start..start + 8) {
        Some(chunk) => u64::from_be_bytes(chunk.try_into().expect("a slice of 8 bytes")),
        None => {
            let mut buf = [0u8; 8];
            let tail = bytes.get(start..).unwrap_or(&[]);
            buf[..tail.len()].copy_from_slice(tail);
            u64::from_be_bytes(buf)
        }
    }
}

/// Calls `f` for every piece in the bitfield `bytes` (wire order) and in `include` but not in
/// `exclude`, ascending: 64 pieces per step, in a loop the compiler can keep branch-free while
/// the words are empty.
pub(crate) fn for_each_common(
    bytes: &[u8],
    include: &Bits,
    exclude: &Bits,
    mut f: impl FnMut(u32),
) {
    let words = include.0.len().min(exclude.0.len());
    let mut w = 0;
    for ((chunk, &i), &e) in bytes.chunks_exact(8).zip(&include.0).zip(&exclude.0) {
        let c = u64::from_be_bytes(chunk.try_into().expect("chunks of 8")) & i & !e;
        if c != 0 {
            ones(w, c).for_each(&mut f);
        }
        w += 1;
    }
    for w in w..words {
        ones(w, wire_word(bytes, w) & include.0[w] & !exclude.0[w]).for_each(&mut f);
    }
}

/// The pieces set in word `w`, ascending.
pub(crate) fn ones(w: usize, mut word: u64) -> impl Iterator<Item = u32> {
    std::iter::from_fn(move || {
        if word == 0 {
            return None;
        }
        let lz = word.leading_zeros();
        word &= !(1u64 << (63 - lz));
        Some(w as u32 * 64 + lz)
    })
}

pub(crate) fn words(len: u32) -> usize {
    len.div_ceil(64) as usize
}

fn mask(p: u32) -> u64 {
    1u64 << (63 - p % 64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn below_stays_in_range_and_reaches_every_value() {
        let mut rng = Rng::new(7);
        for n in 1..=9 {
            let mut seen = vec![false; n];
            for _ in 0..200 {
                seen[rng.below(n)] = true;
            }
            assert!(seen.iter().all(|&s| s), "n = {n}");
        }
    }

    #[test]
    fn wire_words_match_bitfield_bits_for_every_length_up_to_three_words() {
        for len in 0..=192u32 {
            let mut field = peer_wire::Bitfield::new(len);
            let mut bits = Bits::new(len);
            for p in (0..len).filter(|p| p % 3 == 0 || p % 7 == 1) {
                field.insert(peer_wire::PieceIndex(p));
                bits.set(p, true);
            }
            for w in 0..bits.num_words() {
                assert_eq!(
                    wire_word(field.as_bytes(), w),
                    bits.word(w),
                    "len {len} word {w}"
                );
                let from_word: Vec<u32> = ones(w, bits.word(w)).collect();
                let expected: Vec<u32> = (w as u32 * 64..(w as u32 * 64 + 64).min(len))
                    .filter(|&p| bits.get(p))
                    .collect();
                assert_eq!(from_word, expected);
            }
            // Against a set of every third piece, minus every fifth.
            let (mut include, mut exclude) = (Bits::new(len), Bits::new(len));
            for p in 0..len {
                include.set(p, p % 3 == 0);
                exclude.set(p, p % 5 == 0);
            }
            let mut common = Vec::new();
            for_each_common(field.as_bytes(), &include, &exclude, |p| common.push(p));
            let expected: Vec<u32> = (0..len)
                .filter(|&p| bits.get(p) && p % 3 == 0 && p % 5 != 0)
                .collect();
            assert_eq!(common, expected, "len {len}");
        }
    }
}
