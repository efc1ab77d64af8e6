//! SipHash-2-4 (Aumasson & Bernstein), the keyed hash behind the UDP server's stateless
//! connection ids: a short input, a secret key, 64 bits out that an attacker cannot predict
//! without the key.

pub(crate) fn siphash24(key: &[u8; 16], data: &[u8]) -> u64 {
    let k0 = u64::from_le_bytes(key[..8].try_into().unwrap_or_default());
    let k1 = u64::from_le_bytes(key[8..].try_into().unwrap_or_default());
    let mut v = [
        k0 ^ 0x736f_6d65_7073_6575,
        k1 ^ 0x646f_7261_6e64_6f6d,
        k0 ^ 0x6c79_6765_6e65_7261,
        k1 ^ 0x7465_6462_7974_6573,
    ];
    let mut chunks = data.chunks_exact(8);
    for chunk in &mut chunks {
        let m = u64::from_le_bytes(chunk.try_into().unwrap_or_default());
        compress(&mut v, m);
    }
    let mut last = [0u8; 8];
    let rest = chunks.remainder();
    last[..rest.len()].copy_from_slice(rest);
    // The final word carries the input length's low byte in its top byte.
    let m = u64::from_le_bytes(last) | ((data.len() as u64) << 56);
    compress(&mut v, m);
    v[2] ^= 0xff;
    for _ in 0..4 {
        round(&mut v);
    }
    v[0] ^ v[1] ^ v[2] ^ v[3]
}

fn compress(v: &mut [u64; 4], m: u64) {
    v[3] ^= m;
    round(v);
    round(v);
    v[0] ^= m;
}

fn round(v: &mut [u64; 4]) {
    v[0] = v[0].wrapping_add(v[1]);
    v[1] = v[1].rotate_left(13) ^ v[0];
    v[0] = v[0].rotate_left(32);
    v[2] = v[2].wrapping_add(v[3]);
    v[3] = v[3].rotate_left(16) ^ v[2];
    v[0] = v[0].wrapping_add(v[3]);
    v[3] = v[3].rotate_left(21) ^ v[0];
    v[2] = v[2].wrapping_add(v[1]);
    v[1] = v[1].rotate_left(17) ^ v[2];
    v[2] = v[2].rotate_left(32);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> [u8; 16] {
        std::array::from_fn(|i| i as u8)
    }

    /// The reference vectors of the SipHash paper (appendix A) and its `vectors.h`: key
    /// 00 01 .. 0f, messages 00 01 .. (n-1).
    #[test]
    fn reference_vectors() {
        let message: Vec<u8> = (0..15).collect();
        assert_eq!(siphash24(&key(), &[]), 0x726f_db47_dd0e_0e31);
        assert_eq!(siphash24(&key(), &message[..1]), 0x74f8_39c5_93dc_67fd);
        assert_eq!(siphash24(&key(), &message[..2]), 0x0d6c_8009_d9a9_4f5a);
        assert_eq!(siphash24(&key(), &message), 0xa129_ca61_49be_45e5);
    }

    /// The standard library still ships SipHash-2-4 (deprecated as a `Hasher`): an independent
    /// implementation to compare every length from 0 to 64 against.
    #[test]
    #[expect(deprecated, reason = "std's SipHasher is the oracle")]
    fn matches_std_siphasher_for_every_length() {
        use std::hash::Hasher;
        let data: Vec<u8> = (0..64u8).map(|i| i.wrapping_mul(37)).collect();
        let k = [0x0123_4567_89ab_cdef_u64, 0xfedc_ba98_7654_3210];
        let mut key = [0u8; 16];
        key[..8].copy_from_slice(&k[0].to_le_bytes());
        key[8..].copy_from_slice(&k[1].to_le_bytes());
        for len in 0..=data.len() {
            let mut h = std::hash::SipHasher::new_with_keys(k[0], k[1]);
            h.write(&data[..len]);
            assert_eq!(siphash24(&key, &data[..len]), h.finish(), "length {len}");
        }
    }
}
