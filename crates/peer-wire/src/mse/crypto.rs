//! The primitives of MSE: the 768-bit Diffie-Hellman exchange, the SHA-1 derivations of the
//! sync marker, the stream-key hash and the RC4 keys, and RC4 itself.

use crypto_bigint::modular::{FixedMontyForm, FixedMontyParams};
use crypto_bigint::{Odd, U192, U768};
use sha1::{Digest, Sha1};

use super::{Error, InfoHash, PUBLIC_KEY_LEN, PrivateKey};

/// The prime P (MSE: "P is 768 bit long safe prime", the Oakley group 1 prime of RFC 2409).
const P_HEX: &str = "FFFFFFFFFFFFFFFFC90FDAA22168C234C4C6628B80DC1CD129024E088A67CC74020BBEA6\
                     3B139B22514A08798E3404DDEF9519B3CD3A431B302B0A6DF25F14374FE1356D6D51C245\
                     E485B576625E7EC6F44C42E9A63A36210000000000090563";

/// Montgomery parameters of P, computed at compile time.
const PARAMS: FixedMontyParams<{ U768::LIMBS }> =
    FixedMontyParams::new_vartime(Odd::<U768>::from_be_hex(P_HEX));

/// A Diffie-Hellman key pair: X (160 bits, as libtorrent draws it; MSE asks for at least 128)
/// and Y = G^X mod P with G = 2, as the 96 big-endian bytes that go on the wire.
pub(super) struct KeyPair {
    private: U192,
    public: [u8; PUBLIC_KEY_LEN],
}

impl KeyPair {
    pub(super) fn new(private: &PrivateKey) -> Self {
        let mut wide = [0u8; 24];
        wide[4..].copy_from_slice(&private.0);
        let private = U192::from_be_slice(&wide);
        let two = FixedMontyForm::new(&U768::from_u8(2), &PARAMS);
        Self {
            private,
            public: to_bytes(&two.pow(&private).retrieve()),
        }
    }

    pub(super) fn public(&self) -> &[u8; PUBLIC_KEY_LEN] {
        &self.public
    }

    /// S = Y_remote^X mod P. A remote key outside [2, P - 2] is refused, as libtorrent does:
    /// 0, 1 and P - 1 give a secret in a subgroup of at most two elements.
    pub(super) fn shared_secret(
        &self,
        remote: &[u8; PUBLIC_KEY_LEN],
    ) -> Result<[u8; PUBLIC_KEY_LEN], Error> {
        let y = U768::from_be_slice(remote);
        let p_minus_1 = PARAMS.modulus().as_ref().wrapping_sub(&U768::ONE);
        if y < U768::from_u8(2) || y >= p_minus_1 {
            return Err(Error::BadPublicKey);
        }
        let y = FixedMontyForm::new(&y, &PARAMS);
        Ok(to_bytes(&y.pow(&self.private).retrieve()))
    }
}

fn to_bytes(n: &U768) -> [u8; PUBLIC_KEY_LEN] {
    n.to_be_bytes().into()
}

/// SHA-1 of the concatenation of `parts` (MSE's `HASH()`).
fn hash(parts: &[&[u8]]) -> [u8; 20] {
    let mut h = Sha1::new();
    for part in parts {
        h.update(part);
    }
    h.finalize().into()
}

/// `HASH('req1', S)`: the marker the responder synchronizes on.
pub(super) fn req1(secret: &[u8; PUBLIC_KEY_LEN]) -> [u8; 20] {
    hash(&[b"req1", secret])
}

/// `HASH('req2', SKEY)`: names the torrent without showing its info-hash.
pub(super) fn req2(info_hash: &InfoHash) -> [u8; 20] {
    hash(&[b"req2", &info_hash.0])
}

/// `HASH('req3', S)`: the mask over `HASH('req2', SKEY)`.
pub(super) fn req3(secret: &[u8; PUBLIC_KEY_LEN]) -> [u8; 20] {
    hash(&[b"req3", secret])
}

/// The initiator's sending key `HASH('keyA', S, SKEY)`, or the responder's `HASH('keyB', S,
/// SKEY)`.
pub(super) fn rc4_key(label: &[u8; 4], secret: &[u8; PUBLIC_KEY_LEN], skey: &InfoHash) -> [u8; 20] {
    hash(&[label, secret, &skey.0])
}

/// The RC4 stream cipher (the keystream XORed into the data; encrypting and decrypting are the
/// same operation). MSE uses it with 160-bit keys and discards the first 1024 bytes of each
/// keystream ([`Rc4::mse`]).
#[derive(Clone)]
pub struct Rc4 {
    s: [u8; 256],
    i: u8,
    j: u8,
}

impl Rc4 {
    /// RC4 keyed with `key` (1 to 256 bytes), at the start of its keystream.
    pub fn new<const N: usize>(key: &[u8; N]) -> Self {
        const { assert!(N >= 1 && N <= 256, "an RC4 key has 1 to 256 bytes") };
        let mut s = [0u8; 256];
        for (i, x) in s.iter_mut().enumerate() {
            *x = i as u8;
        }
        let mut j = 0u8;
        for i in 0..256 {
            j = j.wrapping_add(s[i]).wrapping_add(key[i % N]);
            s.swap(i, usize::from(j));
        }
        Self { s, i: 0, j: 0 }
    }

    /// RC4 as MSE uses it: keyed with a 20-byte SHA-1 and with "the first 1024 bytes of the RC4
    /// output discarded".
    pub fn mse(key: &[u8; 20]) -> Self {
        let mut rc4 = Self::new(key);
        rc4.skip(1024);
        rc4
    }

    /// XORs the next `data.len()` bytes of the keystream into `data`, in place.
    pub fn apply(&mut self, data: &mut [u8]) {
        let (mut i, mut j) = (self.i, self.j);
        let s = &mut self.s;
        for byte in data {
            i = i.wrapping_add(1);
            let si = s[usize::from(i)];
            j = j.wrapping_add(si);
            let sj = s[usize::from(j)];
            s[usize::from(i)] = sj;
            s[usize::from(j)] = si;
            *byte ^= s[usize::from(si.wrapping_add(sj))];
        }
        (self.i, self.j) = (i, j);
    }

    /// Advances the keystream by `n` bytes (bytes that were sent or received but need not be
    /// kept, such as padding).
    pub fn skip(&mut self, mut n: usize) {
        let mut scratch = [0u8; 256];
        while n > 0 {
            let step = n.min(scratch.len());
            self.apply(&mut scratch[..step]);
            n -= step;
        }
    }
}

impl std::fmt::Debug for Rc4 {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The state is key material: never printed.
        f.debug_struct("Rc4").finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 6229, section 2, key 0x0102030405: the keystream at offsets 0 and 1024 (the first
    /// byte MSE uses).
    #[test]
    fn rc4_matches_rfc_6229_at_offsets_0_and_1024() {
        let mut rc4 = Rc4::new(&[1, 2, 3, 4, 5]);
        let mut stream = vec![0u8; 1040];
        rc4.apply(&mut stream);
        assert_eq!(
            hex::encode(&stream[..16]),
            "b2396305f03dc027ccc3524a0a1118a8"
        );
        assert_eq!(
            hex::encode(&stream[1024..]),
            "30abbcc7c20b01609f23ee2d5f6bb7df"
        );
        // Skipping is the same as applying, in any split.
        let mut skipped = Rc4::new(&[1, 2, 3, 4, 5]);
        skipped.skip(1000);
        skipped.skip(24);
        let mut tail = [0u8; 16];
        skipped.apply(&mut tail);
        assert_eq!(tail[..], stream[1024..]);
    }

    #[test]
    fn the_prime_is_the_768_bit_oakley_group_1_prime() {
        let p = to_bytes(PARAMS.modulus().as_ref());
        assert_eq!(p[..8], [0xff; 8]);
        assert_eq!(p[88..], [0, 0, 0, 0, 0, 0x09, 0x05, 0x63]);
        assert_eq!(P_HEX.len(), 2 * PUBLIC_KEY_LEN);
    }

    #[test]
    fn degenerate_public_keys_are_refused() {
        let pair = KeyPair::new(&PrivateKey([7; 20]));
        let p = to_bytes(PARAMS.modulus().as_ref());
        let mut p_minus_1 = p;
        p_minus_1[95] -= 1;
        let mut p_minus_2 = p;
        p_minus_2[95] -= 2;
        let mut one = [0u8; PUBLIC_KEY_LEN];
        one[95] = 1;
        let mut two = [0u8; PUBLIC_KEY_LEN];
        two[95] = 2;
        for bad in [
            [0u8; PUBLIC_KEY_LEN],
            one,
            p_minus_1,
            p,
            [0xff; PUBLIC_KEY_LEN],
        ] {
            assert_eq!(pair.shared_secret(&bad), Err(Error::BadPublicKey));
        }
        for good in [two, p_minus_2] {
            assert!(pair.shared_secret(&good).is_ok());
        }
    }
}
