//! BEP 52 hash messages, both sides, driven by operations decoded from the input: a
//! `PieceLayersFetch` of three files' piece layers with four peers that join, answer honestly,
//! lie (a flipped bit, a wrong length), reject, leave, send arbitrary hash requests and hashes,
//! and raw bytes through a `Session::without_geometry` (the real decoder); the clock jumps. A
//! seed's `PieceLayers` answers every request the fetch makes and every arbitrary one.
//!
//! Never a panic. Requests go only to peers that joined and are still there, and are ones the
//! seed can answer (BEP 52: a power of two of 2 to 512 hashes, aligned, inside the layer, every
//! proof layer); an answer has exactly `length + uncles` hashes; `Done` or `Failed` at most
//! once, `Done` only with the true layers, and nothing is sent after it; `BadHashes` only for a
//! peer that lied.

#![no_main]

use std::collections::{BTreeMap, BTreeSet};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use peer_wire::{
    Config, Event as WireEvent, Handshake, HashRequest, InfoHash, PeerId, Reserved, Session,
};
use swarm::PeerKey;
use swarm::piece_layers::{self, Event, PieceLayers, PieceLayersFetch, uncle_count};
use torrent_format::merkle;

const PIECE: u64 = 32 * 1024;
const HASH: InfoHash = InfoHash([6; 20]);

fn origin() -> Instant {
    static ORIGIN: OnceLock<Instant> = OnceLock::new();
    *ORIGIN.get_or_init(Instant::now)
}

/// (root, size, layer) of three files: 700 pieces (two requests), 3 pieces, 1 piece (none).
fn files() -> &'static [([u8; 32], u64, Vec<[u8; 32]>)] {
    static FILES: OnceLock<Vec<([u8; 32], u64, Vec<[u8; 32]>)>> = OnceLock::new();
    FILES.get_or_init(|| {
        [(700u32, 1u32), (3, 2), (1, 3)]
            .iter()
            .map(|&(pieces, seed)| {
                let blocks = (pieces as usize - 1) * 2 + 1;
                let leaves: Vec<[u8; 32]> = (0..blocks)
                    .map(|i| {
                        torrent_format::hash::sha256(
                            &[seed.to_le_bytes(), (i as u32).to_le_bytes()].concat(),
                        )
                    })
                    .collect();
                let layer = merkle::piece_layer(&leaves, PIECE);
                let size = u64::from(pieces - 1) * PIECE + 16384 - 7;
                (merkle::root_from_leaves(&leaves), size, layer)
            })
            .collect()
    })
}

fn seed() -> &'static PieceLayers {
    static SEED: OnceLock<PieceLayers> = OnceLock::new();
    SEED.get_or_init(|| PieceLayers::new(PIECE, files().iter().map(|(r, _, l)| (*r, l.clone()))))
}

/// A session for `key` facing a peer that has sent its handshake.
fn session(key: u8, now: Instant) -> Session {
    let config = Config::for_metadata(Handshake {
        reserved: Reserved::ours(),
        info_hash: HASH,
        peer_id: PeerId([1; 20]),
    });
    let mut s = Session::without_geometry(config, now);
    let mut hs = BytesMut::new();
    Handshake {
        reserved: Reserved::ours(),
        info_hash: HASH,
        peer_id: PeerId([key + 2; 20]),
    }
    .encode(&mut hs);
    s.handle_bytes(now, &mut hs);
    s
}

fn header(raw: &[u8]) -> Option<HashRequest> {
    let raw: &[u8; 48] = raw.try_into().ok()?;
    let word = |at: usize| u32::from_be_bytes([raw[at], raw[at + 1], raw[at + 2], raw[at + 3]]);
    Some(HashRequest {
        pieces_root: raw[..32].try_into().ok()?,
        base_layer: word(32) % 16,
        index: word(36),
        length: word(40),
        proof_layers: word(44) % 16,
    })
}

/// The seed's answer, checked: the hash count BEP 52 calls for, at most 512 base hashes.
fn answer(r: &HashRequest) -> Option<bytes::Bytes> {
    let hashes = seed().answer(r).ok()?;
    assert!(r.length.is_power_of_two() && r.length <= piece_layers::MAX_REQUEST_LENGTH);
    let want = (u64::from(r.length) + u64::from(uncle_count(r.length, r.proof_layers))) * 32;
    assert_eq!(hashes.len() as u64, want, "{r:?}");
    Some(hashes)
}

fuzz_target!(|data: &[u8]| {
    let files = files();
    let truth: Vec<([u8; 32], Vec<[u8; 32]>)> =
        files[..2].iter().map(|(r, _, l)| (*r, l.clone())).collect();
    let mut now = origin();
    let config = piece_layers::Config {
        timeout: Some(Duration::from_secs(300)),
        ..piece_layers::Config::default()
    };
    let mut f =
        PieceLayersFetch::for_files(config, PIECE, files.iter().map(|(r, s, _)| (*r, *s)), now)
            .expect("a valid piece length");
    let mut present: BTreeSet<PeerKey> = BTreeSet::new();
    // What each peer was asked and has not answered, oldest last.
    let mut inbox: BTreeMap<PeerKey, Vec<HashRequest>> = BTreeMap::new();
    let mut liars: BTreeSet<PeerKey> = BTreeSet::new();
    let mut sessions: BTreeMap<PeerKey, Session> = BTreeMap::new();
    let mut ended = 0;
    let mut rest = data;
    while let Some((&op, tail)) = rest.split_first() {
        rest = tail;
        let key = PeerKey(u32::from(op >> 6));
        let mut take = |n: usize| {
            let n = n.min(rest.len());
            let (head, tail) = rest.split_at(n);
            rest = tail;
            head
        };
        match op & 0x3f {
            0..=3 => {
                present.insert(key);
                f.handle_peer_joined(now, key);
            }
            // An honest, a lying or a resized answer to the oldest request.
            4..=23 => {
                if let Some(r) = inbox.get_mut(&key).and_then(|q| q.pop()) {
                    let mut hashes = answer(&r)
                        .expect("the fetch asks what the seed has")
                        .to_vec();
                    let raw = take(2);
                    let n = usize::from(raw.first().copied().unwrap_or(0)) << 8
                        | usize::from(raw.get(1).copied().unwrap_or(0));
                    match op & 0x3f {
                        16..=19 => {
                            let at = n % hashes.len();
                            hashes[at] ^= 1 << (op & 7);
                            liars.insert(key);
                        }
                        20..=23 => {
                            hashes.resize(n % (hashes.len() * 2 + 1), 0x55);
                            liars.insert(key);
                        }
                        _ => {}
                    }
                    f.handle_hashes(now, key, &r, &hashes);
                }
            }
            24..=27 => {
                if let Some(r) = inbox.get_mut(&key).and_then(|q| q.pop()) {
                    f.handle_hash_reject(now, key, &r);
                }
            }
            28..=29 => {
                present.remove(&key);
                inbox.remove(&key);
                sessions.remove(&key);
                f.handle_peer_left(now, key);
            }
            30..=37 => {
                now += Duration::from_secs(u64::from(op & 7) * 2);
                if f.poll_timeout().is_some_and(|t| t <= now) {
                    f.handle_timeout(now);
                }
            }
            // An arbitrary request (of a known root, or any), answered by the seed; the fetch
            // gets it as hashes or a reject from `key`.
            38..=45 => {
                let raw = take(48);
                if let Some(mut r) = header(raw) {
                    if op & 1 == 0 {
                        r.pieces_root = files[usize::from(raw[0]) % 3].0;
                    }
                    let hashes = answer(&r)
                        .map(|h| h.to_vec())
                        .unwrap_or_else(|| raw.to_vec());
                    if inbox.get(&key).is_some_and(|q| q.contains(&r)) {
                        // By chance what it was asked: it may be a lie.
                        liars.insert(key);
                    }
                    f.handle_hashes(now, key, &r, &hashes);
                    f.handle_hash_reject(now, key, &r);
                }
            }
            // Raw bytes from the peer into a session without a geometry; its hash messages
            // reach the fetch (and its requests the seed) as a driver would pass them.
            46..=61 => {
                let n = usize::from(op & 0x3f) - 42;
                let s = sessions
                    .entry(key)
                    .or_insert_with(|| session(key.0 as u8, now));
                let mut buf = BytesMut::from(take(n * 8));
                s.handle_bytes(now, &mut buf);
                while let Some(e) = s.poll_event() {
                    match e {
                        WireEvent::Hashes { request, hashes } => {
                            liars.insert(key);
                            f.handle_hashes(now, key, &request, &hashes);
                        }
                        WireEvent::HashReject(request) => f.handle_hash_reject(now, key, &request),
                        WireEvent::HashRequest(request) => {
                            let _ = match answer(&request) {
                                Some(h) => s.send_hashes(request, h),
                                None => s.send_hash_reject(request),
                            };
                        }
                        WireEvent::Closed(_) => {
                            present.remove(&key);
                            inbox.remove(&key);
                            f.handle_peer_left(now, key);
                        }
                        _ => {}
                    }
                }
                while s.poll_transmit(now).is_some() {}
                if s.is_closed() {
                    sessions.remove(&key);
                }
            }
            _ => f.give_up(),
        }
        while let Some((to, r)) = f.poll_transmit() {
            assert!(ended == 0, "a request after the end");
            assert!(
                present.contains(&to),
                "a request to {to:?}, which is not there"
            );
            assert!(r.length >= 2, "{r:?}");
            assert!(
                answer(&r).is_some(),
                "a request the seed cannot answer: {r:?}"
            );
            // Every proof layer, up to the root (layer 11 for 700 pieces of 32 KiB, 3 for 3).
            let top = if r.pieces_root == files[0].0 { 11 } else { 3 };
            assert_eq!(r.base_layer, 1, "{r:?}");
            assert_eq!(r.proof_layers + r.base_layer + 1, top, "{r:?}");
            inbox.entry(to).or_default().insert(0, r);
        }
        while let Some(e) = f.poll_event() {
            match e {
                Event::Done { layers } => {
                    assert_eq!(layers, truth, "only the true layers");
                    ended += 1;
                }
                Event::Failed { .. } => ended += 1,
                Event::BadHashes { peer, .. } => {
                    assert!(liars.contains(&peer), "{peer:?} told the truth");
                    present.remove(&peer);
                    inbox.remove(&peer);
                }
            }
        }
        assert!(ended <= 1, "ended twice");
        assert_eq!(ended == 1, f.is_finished());
    }
});
