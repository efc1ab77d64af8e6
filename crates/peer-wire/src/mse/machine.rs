//! The two roles of the handshake as push state machines. Each `handle_bytes` consumes what it
//! can from the front of the caller's buffer and leaves the rest: a prefix of a step is simply
//! left there until more bytes come (the longest wait is for `IA`, at most 65535 bytes, and the
//! padding searches keep at most 19 bytes).
//!
//! Invariants: the transmit buffer only grows before the state that completes the handshake;
//! every byte either side sends after `Ya`/`Yb` and its pad goes through exactly one keystream
//! position, so [`Rc4Pair`] continues the stream wherever the handshake stopped.

use bytes::{Buf, BytesMut};

use super::crypto::{self, KeyPair};
use super::{
    Config, Crypto, Entropy, Error, Established, InfoHash, MAX_PAD, Methods, PUBLIC_KEY_LEN, Rc4,
    Rc4Pair, StreamKeyHash, UsageError,
};
use crate::Status;

/// The verification constant: eight zero bytes.
const VC: [u8; 8] = [0; 8];

/// The side that dials: it knows the torrent and sends first.
///
/// Methods: (A) getters taking `&self`; (B) [`Initiator::handle_bytes`] for bytes from the
/// peer; (D) [`Initiator::poll_transmit`] for bytes to send. After construction and after every
/// `handle_bytes`, drain `poll_transmit`.
#[derive(Debug)]
pub struct Initiator {
    config: Config,
    keys: KeyPairDebug,
    entropy: Entropy,
    info_hash: InfoHash,
    initial_payload: Vec<u8>,
    transmit: Vec<u8>,
    state: InitiatorState,
}

#[derive(Debug)]
enum InitiatorState {
    /// Waiting for the 96 bytes of `Yb`.
    Yb,
    /// Looking for `ENCRYPT(VC)` after `PadB`; `skipped` pad bytes are behind us.
    SyncVc {
        ciphers: Box<Rc4Pair>,
        pattern: [u8; 8],
        skipped: usize,
    },
    /// Waiting for `crypto_select` and `len(PadD)` (6 bytes, encrypted).
    Select {
        ciphers: Box<Rc4Pair>,
    },
    /// Waiting for `PadD`.
    PadD {
        ciphers: Box<Rc4Pair>,
        selected: Methods,
        len: usize,
    },
    Done,
    Failed(Error),
}

impl Initiator {
    /// Starts a handshake for `info_hash`; `initial_payload` (usually our BEP 3 handshake, 68
    /// bytes: libtorrent refuses a longer `IA`) goes encrypted in step 3. Step 1 is ready in
    /// [`Initiator::poll_transmit`].
    pub fn new(
        config: Config,
        entropy: Entropy,
        info_hash: InfoHash,
        initial_payload: Vec<u8>,
    ) -> Result<Self, UsageError> {
        check_config(&config)?;
        if initial_payload.len() > usize::from(u16::MAX) {
            return Err(UsageError::InitialPayloadTooLong {
                len: initial_payload.len(),
            });
        }
        let keys = KeyPair::new(&entropy.private_key);
        let mut transmit = Vec::with_capacity(PUBLIC_KEY_LEN + entropy.first_pad.len());
        // Step 1: Ya, PadA.
        transmit.extend_from_slice(keys.public());
        transmit.extend_from_slice(&entropy.first_pad);
        Ok(Self {
            config,
            keys: KeyPairDebug(keys),
            entropy,
            info_hash,
            initial_payload,
            transmit,
            state: InitiatorState::Yb,
        })
    }

    /// Takes bytes from the responder. [`Status::Complete`] once the handshake is done (then
    /// `input` holds what followed it); an error ends the handshake, and every later call
    /// returns it again. After completion, calls consume nothing and return `Partial`.
    pub fn handle_bytes(&mut self, input: &mut BytesMut) -> Result<Status<Established>, Error> {
        loop {
            // Each step takes the state and either returns (putting back the state to wait in)
            // or gives the next one.
            self.state = match std::mem::replace(&mut self.state, InitiatorState::Done) {
                InitiatorState::Yb => {
                    let Some(yb) = input.get(..PUBLIC_KEY_LEN) else {
                        return self.wait(InitiatorState::Yb);
                    };
                    let secret = match self.keys.0.shared_secret(&array(yb)) {
                        Ok(s) => s,
                        Err(e) => return self.fail(e),
                    };
                    input.advance(PUBLIC_KEY_LEN);
                    let mut ciphers = Box::new(Rc4Pair {
                        send: Rc4::mse(&crypto::rc4_key(b"keyA", &secret, &self.info_hash)),
                        receive: Rc4::mse(&crypto::rc4_key(b"keyB", &secret, &self.info_hash)),
                    });
                    self.write_step_3(&secret, &mut ciphers.send);
                    // ENCRYPT(VC) as the responder will send it; finding it consumes those
                    // eight keystream bytes.
                    let mut pattern = VC;
                    ciphers.receive.apply(&mut pattern);
                    InitiatorState::SyncVc {
                        ciphers,
                        pattern,
                        skipped: 0,
                    }
                }
                InitiatorState::SyncVc {
                    ciphers,
                    pattern,
                    mut skipped,
                } => match sync(input, &pattern, &mut skipped) {
                    Sync::Found => InitiatorState::Select { ciphers },
                    Sync::Partial => {
                        return self.wait(InitiatorState::SyncVc {
                            ciphers,
                            pattern,
                            skipped,
                        });
                    }
                    Sync::Missing => return self.fail(Error::NoSyncVc),
                },
                InitiatorState::Select { mut ciphers } => {
                    let Some(head) = input.get(..6) else {
                        return self.wait(InitiatorState::Select { ciphers });
                    };
                    let mut head: [u8; 6] = array(head);
                    ciphers.receive.apply(&mut head);
                    let selected = u32::from_be_bytes(array(&head[..4]));
                    let pad = u16::from_be_bytes([head[4], head[5]]);
                    let offered = self.config.allowed.intersection(Methods::BOTH);
                    let one = selected == Methods::PLAINTEXT.0 || selected == Methods::RC4.0;
                    if !one || !offered.contains(Methods(selected)) {
                        return self.fail(Error::BadSelect { selected });
                    }
                    if usize::from(pad) > MAX_PAD {
                        return self.fail(Error::PadTooLong { len: pad });
                    }
                    input.advance(6);
                    InitiatorState::PadD {
                        ciphers,
                        selected: Methods(selected),
                        len: usize::from(pad),
                    }
                }
                InitiatorState::PadD {
                    mut ciphers,
                    selected,
                    len,
                } => {
                    if input.len() < len {
                        return self.wait(InitiatorState::PadD {
                            ciphers,
                            selected,
                            len,
                        });
                    }
                    // PadD carries nothing; its bytes still advance the keystream.
                    ciphers.receive.skip(len);
                    input.advance(len);
                    // (The state stays `Done`.)
                    return Ok(Status::Complete(Established {
                        crypto: crypto_for(selected, ciphers),
                        info_hash: self.info_hash,
                        initial_payload: Vec::new(),
                    }));
                }
                InitiatorState::Done => return Ok(Status::Partial),
                InitiatorState::Failed(e) => return self.fail(e),
            };
        }
    }

    /// Appends the bytes to send to `out`; returns how many.
    #[must_use]
    pub fn poll_transmit(&mut self, out: &mut Vec<u8>) -> usize {
        drain(&mut self.transmit, out)
    }

    /// Step 3: the sync hash, the obfuscated stream key, then, encrypted, `VC`,
    /// `crypto_provide`, `len(PadC)`, `PadC`, `len(IA)` and `IA`.
    fn write_step_3(&mut self, secret: &[u8; PUBLIC_KEY_LEN], send: &mut Rc4) {
        let out = &mut self.transmit;
        out.extend_from_slice(&crypto::req1(secret));
        let req2 = StreamKeyHash::of(&self.info_hash).0;
        let req3 = crypto::req3(secret);
        out.extend(req2.iter().zip(req3).map(|(a, b)| a ^ b));
        let start = out.len();
        out.extend_from_slice(&VC);
        out.extend_from_slice(
            &self
                .config
                .allowed
                .intersection(Methods::BOTH)
                .0
                .to_be_bytes(),
        );
        push_len(out, self.entropy.second_pad.len());
        out.extend_from_slice(&self.entropy.second_pad);
        push_len(out, self.initial_payload.len());
        out.extend_from_slice(&self.initial_payload);
        send.apply(&mut out[start..]);
    }

    fn wait(&mut self, state: InitiatorState) -> Result<Status<Established>, Error> {
        self.state = state;
        Ok(Status::Partial)
    }

    fn fail(&mut self, e: Error) -> Result<Status<Established>, Error> {
        self.state = InitiatorState::Failed(e);
        Err(e)
    }
}

/// The side that accepts: it learns the torrent from the initiator.
///
/// Methods: (A) getters taking `&self`; (B) [`Responder::handle_bytes`] for bytes from the
/// peer; (D) [`Responder::poll_transmit`] for bytes to send. After every `handle_bytes`, drain
/// `poll_transmit`.
#[derive(Debug)]
pub struct Responder {
    config: Config,
    keys: KeyPairDebug,
    entropy: Entropy,
    transmit: Vec<u8>,
    state: ResponderState,
}

#[derive(Debug)]
enum ResponderState {
    /// Waiting for the 96 bytes of `Ya`.
    Ya,
    /// Looking for `HASH('req1', S)` after `PadA`.
    SyncHash {
        secret: Secret,
        pattern: [u8; 20],
        skipped: usize,
    },
    /// Waiting for the obfuscated stream key, then `VC`, `crypto_provide` and `len(PadC)`
    /// (20 + 14 bytes).
    Header {
        secret: Secret,
    },
    /// Waiting for `PadC` and `len(IA)`.
    PadC {
        ciphers: Box<Rc4Pair>,
        info_hash: InfoHash,
        offered: Methods,
        len: usize,
    },
    /// Waiting for `IA`.
    Ia {
        ciphers: Box<Rc4Pair>,
        info_hash: InfoHash,
        offered: Methods,
        len: usize,
    },
    Done,
    Failed(Error),
}

impl Responder {
    /// Waits for an initiator's step 1. Nothing is sent before it.
    pub fn new(config: Config, entropy: Entropy) -> Self {
        Self {
            config,
            keys: KeyPairDebug(KeyPair::new(&entropy.private_key)),
            entropy,
            transmit: Vec::new(),
            state: ResponderState::Ya,
        }
    }

    /// Takes bytes from the initiator; `torrents` names the torrent whose
    /// `HASH('req2', info-hash)` is given, if this side serves it. [`Status::Complete`] once the
    /// handshake is done (then `input` holds what followed `IA`); an error ends the handshake,
    /// and every later call returns it again. After completion, calls consume nothing and
    /// return `Partial`.
    pub fn handle_bytes(
        &mut self,
        input: &mut BytesMut,
        mut torrents: impl FnMut(&StreamKeyHash) -> Option<InfoHash>,
    ) -> Result<Status<Established>, Error> {
        loop {
            // As in the initiator: each step returns or gives the next state.
            self.state = match std::mem::replace(&mut self.state, ResponderState::Done) {
                ResponderState::Ya => {
                    let Some(ya) = input.get(..PUBLIC_KEY_LEN) else {
                        return self.wait(ResponderState::Ya);
                    };
                    let secret = match self.keys.0.shared_secret(&array(ya)) {
                        Ok(s) => s,
                        Err(e) => return self.fail(e),
                    };
                    input.advance(PUBLIC_KEY_LEN);
                    // Step 2: Yb, PadB.
                    self.transmit.extend_from_slice(self.keys.0.public());
                    self.transmit.extend_from_slice(&self.entropy.first_pad);
                    ResponderState::SyncHash {
                        pattern: crypto::req1(&secret),
                        secret: Secret(Box::new(secret)),
                        skipped: 0,
                    }
                }
                ResponderState::SyncHash {
                    secret,
                    pattern,
                    mut skipped,
                } => match sync(input, &pattern, &mut skipped) {
                    Sync::Found => ResponderState::Header { secret },
                    Sync::Partial => {
                        return self.wait(ResponderState::SyncHash {
                            secret,
                            pattern,
                            skipped,
                        });
                    }
                    Sync::Missing => return self.fail(Error::NoSyncHash),
                },
                ResponderState::Header { secret } => {
                    let Some(head) = input.get(..20 + 14) else {
                        return self.wait(ResponderState::Header { secret });
                    };
                    let secret = &*secret.0;
                    let req3 = crypto::req3(secret);
                    let mut skey = [0u8; 20];
                    for (k, (a, b)) in skey.iter_mut().zip(head.iter().zip(req3)) {
                        *k = a ^ b;
                    }
                    let Some(info_hash) = torrents(&StreamKeyHash(skey)) else {
                        return self.fail(Error::UnknownTorrent);
                    };
                    let mut ciphers = Box::new(Rc4Pair {
                        send: Rc4::mse(&crypto::rc4_key(b"keyB", secret, &info_hash)),
                        receive: Rc4::mse(&crypto::rc4_key(b"keyA", secret, &info_hash)),
                    });
                    let mut rest: [u8; 14] = array(&head[20..]);
                    ciphers.receive.apply(&mut rest);
                    if rest[..8] != VC {
                        return self.fail(Error::BadVerificationConstant);
                    }
                    let offered = Methods(u32::from_be_bytes(array(&rest[8..12])));
                    let pad = u16::from_be_bytes([rest[12], rest[13]]);
                    if usize::from(pad) > MAX_PAD {
                        return self.fail(Error::PadTooLong { len: pad });
                    }
                    input.advance(20 + 14);
                    ResponderState::PadC {
                        ciphers,
                        info_hash,
                        offered,
                        len: usize::from(pad),
                    }
                }
                ResponderState::PadC {
                    mut ciphers,
                    info_hash,
                    offered,
                    len,
                } => {
                    let Some(ia_len) = input.get(len..len + 2) else {
                        return self.wait(ResponderState::PadC {
                            ciphers,
                            info_hash,
                            offered,
                            len,
                        });
                    };
                    let mut ia_len: [u8; 2] = array(ia_len);
                    // PadC carries nothing; its bytes still advance the keystream.
                    ciphers.receive.skip(len);
                    ciphers.receive.apply(&mut ia_len);
                    input.advance(len + 2);
                    ResponderState::Ia {
                        ciphers,
                        info_hash,
                        offered,
                        len: usize::from(u16::from_be_bytes(ia_len)),
                    }
                }
                ResponderState::Ia {
                    mut ciphers,
                    info_hash,
                    offered,
                    len,
                } => {
                    let Some(ia) = input.get(..len) else {
                        return self.wait(ResponderState::Ia {
                            ciphers,
                            info_hash,
                            offered,
                            len,
                        });
                    };
                    let mut initial_payload = ia.to_vec();
                    ciphers.receive.apply(&mut initial_payload);
                    input.advance(len);
                    let selected = match self.select(offered) {
                        Ok(m) => m,
                        Err(e) => return self.fail(e),
                    };
                    // Step 4: ENCRYPT(VC, crypto_select, len(PadD), PadD).
                    let start = self.transmit.len();
                    self.transmit.extend_from_slice(&VC);
                    self.transmit.extend_from_slice(&selected.0.to_be_bytes());
                    push_len(&mut self.transmit, self.entropy.second_pad.len());
                    self.transmit.extend_from_slice(&self.entropy.second_pad);
                    ciphers.send.apply(&mut self.transmit[start..]);
                    // (The state stays `Done`.)
                    return Ok(Status::Complete(Established {
                        crypto: crypto_for(selected, ciphers),
                        info_hash,
                        initial_payload,
                    }));
                }
                ResponderState::Done => return Ok(Status::Partial),
                ResponderState::Failed(e) => return self.fail(e),
            };
        }
    }

    /// Appends the bytes to send to `out`; returns how many.
    #[must_use]
    pub fn poll_transmit(&mut self, out: &mut Vec<u8>) -> usize {
        drain(&mut self.transmit, out)
    }

    /// One method both sides allow: plaintext, unless RC4 is preferred (or the only one).
    fn select(&self, offered: Methods) -> Result<Methods, Error> {
        let common = offered
            .intersection(self.config.allowed)
            .intersection(Methods::BOTH);
        if common.is_empty() {
            return Err(Error::NoCommonMethod { offered: offered.0 });
        }
        Ok(if common == Methods::BOTH {
            if self.config.prefer_rc4 {
                Methods::RC4
            } else {
                Methods::PLAINTEXT
            }
        } else {
            common
        })
    }

    fn wait(&mut self, state: ResponderState) -> Result<Status<Established>, Error> {
        self.state = state;
        Ok(Status::Partial)
    }

    fn fail(&mut self, e: Error) -> Result<Status<Established>, Error> {
        self.state = ResponderState::Failed(e);
        Err(e)
    }
}

/// The Diffie-Hellman secret S, which `Debug` does not show.
struct Secret(Box<[u8; PUBLIC_KEY_LEN]>);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(..)")
    }
}

/// A key pair whose `Debug` shows nothing (its private half is secret).
struct KeyPairDebug(KeyPair);

impl std::fmt::Debug for KeyPairDebug {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("KeyPair(..)")
    }
}

fn check_config(config: &Config) -> Result<(), UsageError> {
    if config.allowed.intersection(Methods::BOTH).is_empty() {
        return Err(UsageError::NoMethodAllowed);
    }
    Ok(())
}

fn crypto_for(selected: Methods, ciphers: Box<Rc4Pair>) -> Crypto {
    if selected == Methods::RC4 {
        Crypto::Rc4(ciphers)
    } else {
        Crypto::Plaintext
    }
}

enum Sync {
    /// The marker was found and consumed with everything before it.
    Found,
    /// Not yet; what cannot start the marker was consumed.
    Partial,
    /// Not within 512 bytes of padding.
    Missing,
}

/// Looks for `pattern` at most `MAX_PAD` bytes into a pad of which `skipped` bytes were already
/// consumed.
fn sync(input: &mut BytesMut, pattern: &[u8], skipped: &mut usize) -> Sync {
    // The last offset (from the start of the pad) where the marker may begin.
    let max_start = MAX_PAD - *skipped;
    let window = &input[..input.len().min(max_start + pattern.len())];
    if let Some(at) = window.windows(pattern.len()).position(|w| w == pattern) {
        input.advance(at + pattern.len());
        return Sync::Found;
    }
    if window.len() == max_start + pattern.len() {
        return Sync::Missing;
    }
    // Keep the bytes that may still be the start of the marker.
    let drop = input.len().saturating_sub(pattern.len() - 1);
    input.advance(drop);
    *skipped += drop;
    Sync::Partial
}

fn push_len(out: &mut Vec<u8>, len: usize) {
    // Pads are at most 512 bytes and IA at most 65535 (checked by the constructors).
    let len = u16::try_from(len).expect("lengths are checked at construction");
    out.extend_from_slice(&len.to_be_bytes());
}

fn drain(transmit: &mut Vec<u8>, out: &mut Vec<u8>) -> usize {
    let n = transmit.len();
    out.append(transmit);
    n
}

/// A fixed-size array from a slice of exactly that size.
fn array<const N: usize>(bytes: &[u8]) -> [u8; N] {
    let mut out = [0; N];
    out.copy_from_slice(bytes);
    out
}
