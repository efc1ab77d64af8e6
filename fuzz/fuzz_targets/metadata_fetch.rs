//! A ut_metadata fetch (BEP 9) driven by operations decoded from the input: four peers send
//! extended handshakes of any size, honest, lying and arbitrary ut_metadata messages (through
//! the real decoder), rejects, raw bytes into a `Session::without_geometry`, leave, and the
//! clock jumps. Never a panic; `Done` or `Failed` at most once, and `Done` only with the true
//! dictionary; requests go only to peers that offered ut_metadata and are still there, and
//! name a piece of a dictionary within the limit; nothing but rejects is sent after the end.

#![no_main]

use std::collections::{BTreeMap, BTreeSet};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use libfuzzer_sys::fuzz_target;
use peer_wire::extended::{ExtendedHandshake, METADATA_PIECE_LEN, Metadata};
use peer_wire::{Config, Event as WireEvent, Handshake, InfoHash, PeerId, Reserved, Session};
use swarm::PeerKey;
use swarm::metadata::{self, Event, MetadataFetch};
use torrent_format::{InfoHashV1, InfoHashes};

const MAX_SIZE: u32 = 100_000;
const HASH: InfoHash = InfoHash([5; 20]);

fn origin() -> Instant {
    static ORIGIN: OnceLock<Instant> = OnceLock::new();
    *ORIGIN.get_or_init(Instant::now)
}

fn info() -> &'static [u8] {
    static INFO: OnceLock<Vec<u8>> = OnceLock::new();
    INFO.get_or_init(|| (0..40_000u32).map(|i| (i * 7 + i / 251) as u8).collect())
}

fn piece_data(source: &[u8], piece: u32) -> Option<Bytes> {
    let start = piece as usize * METADATA_PIECE_LEN as usize;
    let end = (start + METADATA_PIECE_LEN as usize).min(source.len());
    (start < end).then(|| Bytes::copy_from_slice(&source[start..end]))
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

fuzz_target!(|data: &[u8]| {
    let info = info();
    let hashes = InfoHashes {
        v1: Some(InfoHashV1(torrent_format::hash::sha1(info))),
        v2: None,
    };
    let config = metadata::Config {
        max_size: MAX_SIZE,
        requests_per_peer: 2,
        max_hash_failures: 4,
        timeout: Some(Duration::from_secs(600)),
        ..metadata::Config::default()
    };
    let mut now = origin();
    let mut f = MetadataFetch::new(config, hashes, now).expect("a v1 hash");
    // What each peer was asked and has not answered, by the harness's reckoning.
    let mut asked: BTreeMap<PeerKey, Vec<u32>> = BTreeMap::new();
    let mut offered: BTreeSet<PeerKey> = BTreeSet::new();
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
            // An extended handshake: ut_metadata or not, and a size near the dictionary's,
            // over the limit, or anything.
            0..=5 => {
                let raw = take(4);
                let size = match op & 3 {
                    0 => Some(info.len() as u32),
                    1 => None,
                    2 => Some(MAX_SIZE + 1),
                    _ => raw.try_into().ok().map(u32::from_be_bytes),
                };
                let h = ExtendedHandshake {
                    extensions: if op & 4 == 0 {
                        vec![("ut_metadata".into(), 3)]
                    } else {
                        Vec::new()
                    },
                    metadata_size: size,
                    ..ExtendedHandshake::default()
                };
                if h.extensions.is_empty() || size.is_some_and(|s| s > MAX_SIZE) {
                    offered.remove(&key);
                } else {
                    offered.insert(key);
                }
                f.handle_extended_handshake(now, key, &h);
            }
            // An honest or a lying answer to the oldest request.
            6..=19 => {
                if let Some(piece) = asked.get_mut(&key).and_then(|a| a.pop()) {
                    let mut source = info.to_vec();
                    if op & 0x3f >= 16 {
                        let i =
                            (piece as usize * METADATA_PIECE_LEN as usize).min(source.len() - 1);
                        source[i] ^= 1;
                    }
                    if let Some(data) = piece_data(&source, piece) {
                        let m = Metadata::Data {
                            piece,
                            total_size: info.len() as u32,
                            data,
                        };
                        f.handle_metadata(now, key, &m);
                    }
                }
            }
            20..=23 => {
                if let Some(piece) = asked.get_mut(&key).and_then(|a| a.pop()) {
                    f.handle_metadata(now, key, &Metadata::Reject { piece });
                }
            }
            // An arbitrary ut_metadata payload through the real decoder.
            24..=31 => {
                let n = usize::from(op & 7) * 8 + 4;
                let payload = Bytes::copy_from_slice(take(n));
                if let Ok(m) = Metadata::decode(&payload) {
                    f.handle_metadata(now, key, &m);
                }
            }
            32..=35 => {
                offered.remove(&key);
                asked.remove(&key);
                sessions.remove(&key);
                f.handle_peer_left(now, key);
            }
            36..=43 => {
                now += Duration::from_secs(u64::from(op & 7) * 3);
                if f.poll_timeout().is_some_and(|t| t <= now) {
                    f.handle_timeout(now);
                }
            }
            // Raw bytes from the peer into a session without a geometry; its events drive
            // the fetch as a driver would.
            44..=62 => {
                let n = usize::from(op & 0x3f) - 40;
                let s = sessions
                    .entry(key)
                    .or_insert_with(|| session(key.0 as u8, now));
                let mut buf = BytesMut::from(take(n * 4));
                s.handle_bytes(now, &mut buf);
                while let Some(e) = s.poll_event() {
                    match e {
                        WireEvent::ExtendedHandshake(h) => {
                            let usable = h.extension_id("ut_metadata").is_some()
                                && h.metadata_size.is_none_or(|s| s <= MAX_SIZE);
                            if usable {
                                offered.insert(key);
                            } else {
                                offered.remove(&key);
                            }
                            f.handle_extended_handshake(now, key, &h);
                        }
                        WireEvent::Metadata(m) => f.handle_metadata(now, key, &m),
                        WireEvent::Closed(_) => {
                            offered.remove(&key);
                            asked.remove(&key);
                            f.handle_peer_left(now, key);
                        }
                        _ => {}
                    }
                }
                // What it sends would go to the peer.
                while s.poll_transmit(now).is_some() {}
                if s.is_closed() {
                    sessions.remove(&key);
                }
            }
            _ => f.give_up(),
        }
        while let Some((to, m)) = f.poll_transmit() {
            match m {
                Metadata::Request { piece } => {
                    assert!(ended == 0, "a request after the end");
                    assert!(
                        offered.contains(&to),
                        "a request to {to:?}, which offers nothing"
                    );
                    assert!(
                        piece < MAX_SIZE.div_ceil(METADATA_PIECE_LEN),
                        "piece {piece}"
                    );
                    asked.entry(to).or_default().insert(0, piece);
                }
                Metadata::Reject { .. } => {}
                other => panic!("sent {other:?}"),
            }
            if let Some(s) = sessions.get_mut(&to)
                && s.send_metadata(&m).is_err()
                && matches!(m, Metadata::Request { .. })
            {
                // The session cannot carry it (no ut_metadata announced on the wire).
                offered.remove(&to);
                asked.remove(&to);
                sessions.remove(&to);
                f.handle_peer_left(now, to);
            }
        }
        while let Some(e) = f.poll_event() {
            match e {
                Event::Done(bytes) => {
                    assert_eq!(&bytes[..], info, "only the true dictionary");
                    ended += 1;
                }
                Event::Failed { .. } => ended += 1,
                Event::Unusable { peer, .. } => {
                    offered.remove(&peer);
                }
                Event::HashMismatch { contributors } => assert!(!contributors.is_empty()),
            }
        }
        assert!(ended <= 1, "ended twice");
        assert_eq!(ended == 1, f.is_finished());
    }
});
