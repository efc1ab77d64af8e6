//! Message Stream Encryption (MSE, also "PE" or the Azureus protocol encryption): the
//! handshake that BitTorrent clients put before the BEP 3 handshake to obfuscate a connection,
//! and the RC4 stream cipher it may switch on. Sans-IO like the rest of the crate: bytes in,
//! bytes out, no socket, no clock, no random source (the caller passes [`Entropy`]).
//!
//! The exchange (A dials, B accepts; `S` is the Diffie-Hellman secret, `SKEY` the info-hash):
//!
//! ```text
//! 1 A->B: Ya, PadA
//! 2 B->A: Yb, PadB
//! 3 A->B: HASH('req1', S), HASH('req2', SKEY) xor HASH('req3', S),
//!         ENCRYPT(VC, crypto_provide, len(PadC), PadC, len(IA)), ENCRYPT(IA)
//! 4 B->A: ENCRYPT(VC, crypto_select, len(PadD), PadD), ENCRYPT2(payload stream)
//! 5 A->B: ENCRYPT2(payload stream)
//! ```
//!
//! `Y` are 96-byte big-endian public keys (G = 2, P the 768-bit prime), the pads 0 to 512
//! bytes, `VC` eight zero bytes, `ENCRYPT` RC4 keyed with `HASH('keyA', S, SKEY)` (A to B) or
//! `HASH('keyB', S, SKEY)` (B to A) after 1024 discarded bytes. `crypto_provide` is a bit set
//! (0x01 plaintext, 0x02 RC4) and `crypto_select` one of its bits: `ENCRYPT2` is RC4 continuing
//! the same keystreams, or nothing at all. `IA` (initial payload) usually carries A's BEP 3
//! handshake.
//!
//! A responder finds the torrent by trying `HASH('req2', SKEY)` of every torrent it serves
//! ([`StreamKeyHash`]); it resynchronizes on `HASH('req1', S)` after the unknown `PadA`, the
//! initiator on `ENCRYPT(VC)` after `PadB`, each within 512 bytes of padding.
//!
//! Methods: (A) getters taking `&self`; (B) `handle_bytes` for input from the network; (D)
//! `poll_transmit` for output. After every `handle_bytes` drain `poll_transmit` (the last
//! message of the handshake is queued by the call that completes it).
//!
//! ```
//! use bytes::BytesMut;
//! use peer_wire::InfoHash;
//! use peer_wire::mse::{Config, Crypto, Entropy, Initiator, Responder, StreamKeyHash};
//! use peer_wire::Status;
//!
//! let info_hash = InfoHash([7; 20]);
//! let skey = StreamKeyHash::of(&info_hash);
//! let entropy = |k| Entropy::new([k; 20], vec![k; 40], Vec::new()).expect("short pads");
//! let ia = b"\x13BitTorrent protocol...".to_vec();
//! let mut a = Initiator::new(Config::default(), entropy(1), info_hash, ia.clone()).unwrap();
//! let mut b = Responder::new(Config::default(), entropy(2));
//! let (mut to_a, mut to_b) = (Vec::new(), Vec::new());
//! let (mut a_done, mut b_done) = (None, None);
//! while a_done.is_none() || b_done.is_none() {
//!     let _ = a.poll_transmit(&mut to_b);
//!     let mut input = BytesMut::from(&to_b[..]);
//!     to_b.clear();
//!     if let Status::Complete(e) = b.handle_bytes(&mut input, |h| (*h == skey).then_some(info_hash)).unwrap() {
//!         b_done = Some(e);
//!     }
//!     let _ = b.poll_transmit(&mut to_a);
//!     let mut input = BytesMut::from(&to_a[..]);
//!     to_a.clear();
//!     if let Status::Complete(e) = a.handle_bytes(&mut input).unwrap() {
//!         a_done = Some(e);
//!     }
//! }
//! let (a_done, b_done) = (a_done.unwrap(), b_done.unwrap());
//! assert_eq!(b_done.initial_payload, ia);
//! assert_eq!(b_done.info_hash, info_hash);
//! // Both offered both methods: the responder picks plaintext unless it prefers RC4.
//! assert!(matches!((a_done.crypto, b_done.crypto), (Crypto::Plaintext, Crypto::Plaintext)));
//! ```

mod crypto;
mod machine;
#[cfg(test)]
mod tests;

pub use crypto::Rc4;
pub use machine::{Initiator, Responder};

use crate::InfoHash;

/// Length of a Diffie-Hellman public key on the wire (768 bits).
pub const PUBLIC_KEY_LEN: usize = 96;
/// Length of a private key: 160 bits, as libtorrent draws them (MSE: "at least 128 bits").
pub const PRIVATE_KEY_LEN: usize = 20;
/// The longest pad MSE allows (PadA to PadD: "random data with a random length of 0 to 512").
pub const MAX_PAD: usize = 512;
/// How many random bytes [`Entropy::from_random`] takes.
pub const ENTROPY_LEN: usize = PRIVATE_KEY_LEN + 2 + MAX_PAD;

/// The crypto methods of `crypto_provide` and `crypto_select`: a bit set.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Methods(pub u32);

impl Methods {
    /// 0x01: after the handshake the stream is not encrypted (only the handshake is).
    pub const PLAINTEXT: Self = Self(0x01);
    /// 0x02: the whole stream goes through RC4.
    pub const RC4: Self = Self(0x02);
    /// Both.
    pub const BOTH: Self = Self(0x03);

    /// Whether every bit of `other` is in this set.
    pub fn contains(self, other: Self) -> bool {
        self.0 & other.0 == other.0
    }

    /// The bits in both sets.
    #[must_use]
    pub fn intersection(self, other: Self) -> Self {
        Self(self.0 & other.0)
    }

    /// No bit set.
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }
}

/// What one side allows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Config {
    /// The methods this side accepts; an initiator offers exactly these (`crypto_provide`).
    /// Bits other than [`Methods::BOTH`] are ignored.
    pub allowed: Methods,
    /// A responder offered both methods picks RC4 when set, plaintext when not (libtorrent's
    /// `prefer_rc4`, off by default there too: once both sides are past the handshake,
    /// obfuscating the rest costs CPU and hides nothing more from a middlebox).
    pub prefer_rc4: bool,
}

impl Default for Config {
    /// Both methods allowed, plaintext preferred: what libtorrent and WebTorrent do by default.
    fn default() -> Self {
        Self {
            allowed: Methods::BOTH,
            prefer_rc4: false,
        }
    }
}

/// A Diffie-Hellman private key X.
#[derive(Clone, PartialEq, Eq)]
pub struct PrivateKey(pub [u8; PRIVATE_KEY_LEN]);

impl std::fmt::Debug for PrivateKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PrivateKey(..)")
    }
}

/// The random choices of one handshake: the private key and the two pads this side sends
/// (PadA and PadC for an initiator, PadB and PadD for a responder). This crate has no random
/// source: the caller draws them, from the operating system.
#[derive(Clone, Debug)]
pub struct Entropy {
    private_key: PrivateKey,
    first_pad: Vec<u8>,
    second_pad: Vec<u8>,
}

impl Entropy {
    /// A private key and two pads of at most [`MAX_PAD`] bytes each; the key must not be zero.
    pub fn new(
        private_key: [u8; PRIVATE_KEY_LEN],
        first_pad: Vec<u8>,
        second_pad: Vec<u8>,
    ) -> Result<Self, UsageError> {
        if private_key == [0; PRIVATE_KEY_LEN] {
            return Err(UsageError::ZeroPrivateKey);
        }
        for pad in [&first_pad, &second_pad] {
            if pad.len() > MAX_PAD {
                return Err(UsageError::PadTooLong { len: pad.len() });
            }
        }
        Ok(Self {
            private_key: PrivateKey(private_key),
            first_pad,
            second_pad,
        })
    }

    /// From [`ENTROPY_LEN`] random bytes: the private key, a first pad of 0 to 512 of them, and
    /// an empty second pad (the spec: "PadC is reserved for future extensions to the
    /// handshake... standard practice at this time is for it to be zero-length"). An all-zero
    /// key (odds 2^-160) becomes 1.
    pub fn from_random(random: &[u8; ENTROPY_LEN]) -> Self {
        let (key, rest) = random.split_at(PRIVATE_KEY_LEN);
        let mut private_key = [0u8; PRIVATE_KEY_LEN];
        private_key.copy_from_slice(key);
        if private_key == [0; PRIVATE_KEY_LEN] {
            private_key[PRIVATE_KEY_LEN - 1] = 1;
        }
        let len = usize::from(u16::from_be_bytes([rest[0], rest[1]])) % (MAX_PAD + 1);
        Self {
            private_key: PrivateKey(private_key),
            first_pad: rest[2..2 + len].to_vec(),
            second_pad: Vec::new(),
        }
    }
}

/// `HASH('req2', SKEY)`: how an initiator names its torrent. A responder compares it with the
/// same hash of each torrent it serves (and may index its torrents by it).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct StreamKeyHash(pub [u8; 20]);

impl StreamKeyHash {
    /// The hash of a torrent's info-hash (the v1 one, or a v2 one truncated to 20 bytes).
    pub fn of(info_hash: &InfoHash) -> Self {
        Self(crypto::req2(info_hash))
    }
}

/// The method the handshake settled on, with the cipher state when it is RC4.
#[derive(Debug)]
pub enum Crypto {
    /// The rest of the stream, both ways, is not encrypted.
    Plaintext,
    /// The rest of the stream, both ways, goes through these keystreams (already advanced past
    /// the handshake).
    Rc4(Box<Rc4Pair>),
}

/// The two RC4 keystreams of a connection.
#[derive(Clone, Debug)]
pub struct Rc4Pair {
    /// Applied to every byte this side sends.
    pub send: Rc4,
    /// Applied to every byte this side receives.
    pub receive: Rc4,
}

/// The end of a successful handshake.
#[derive(Debug)]
pub struct Established {
    /// What the rest of the stream uses. The bytes left in the input buffer after the call that
    /// returned this are the peer's first bytes of that stream, still as they came (encrypted
    /// with [`Rc4Pair::receive`] when RC4).
    pub crypto: Crypto,
    /// The torrent (SKEY) both sides proved they know: the initiator's own, or the one the
    /// responder found for the initiator's [`StreamKeyHash`]. The BEP 3 handshake that follows
    /// must name the same one.
    pub info_hash: InfoHash,
    /// A responder: the initiator's initial payload `IA`, decrypted (usually its BEP 3
    /// handshake, and the start of the stream in any case). An initiator: empty.
    pub initial_payload: Vec<u8>,
}

/// Bytes from the peer that end the handshake. Each closes the connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The peer's public key is 0, 1, P - 1 or not below P.
    #[error("degenerate Diffie-Hellman public key")]
    BadPublicKey,
    /// A responder found no `HASH('req1', S)` within 512 bytes of padding after `Ya`.
    #[error("no HASH('req1', S) within 512 bytes of padding")]
    NoSyncHash,
    /// An initiator found no `ENCRYPT(VC)` within 512 bytes of padding after `Yb`.
    #[error("no encrypted verification constant within 512 bytes of padding")]
    NoSyncVc,
    /// The initiator's `HASH('req2', SKEY)` names no torrent the responder serves.
    #[error("the peer asks for a torrent we do not serve")]
    UnknownTorrent,
    /// The eight bytes after the stream-key hash did not decrypt to zeros (the initiator used
    /// another key).
    #[error("verification constant is not zero")]
    BadVerificationConstant,
    /// `len(PadC)` or `len(PadD)` over 512.
    #[error("pad of {len} bytes (at most 512)")]
    PadTooLong {
        /// The length the peer gave.
        len: u16,
    },
    /// The initiator's `crypto_provide` has no method the responder allows.
    #[error("the peer offers crypto methods {offered:#x}, none of which we allow")]
    NoCommonMethod {
        /// The initiator's bits.
        offered: u32,
    },
    /// The responder's `crypto_select` is not exactly one method the initiator offered.
    #[error("the peer selected crypto methods {selected:#x}, which is not one we offered")]
    BadSelect {
        /// The responder's bits.
        selected: u32,
    },
}

/// A caller's mistake.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum UsageError {
    /// A pad over [`MAX_PAD`] bytes.
    #[error("pad of {len} bytes (at most 512)")]
    PadTooLong {
        /// Its length.
        len: usize,
    },
    /// An initial payload over 65535 bytes (its length is a 16-bit field).
    #[error("initial payload of {len} bytes (at most 65535)")]
    InitialPayloadTooLong {
        /// Its length.
        len: usize,
    },
    /// A zero private key (its public key would be 1, which every peer refuses).
    #[error("the private key is zero")]
    ZeroPrivateKey,
    /// [`Config::allowed`] has neither plaintext nor RC4.
    #[error("no crypto method allowed")]
    NoMethodAllowed,
}
