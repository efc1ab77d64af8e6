use std::time::{Duration, Instant};

use bytes::Bytes;
use peer_wire::extended::{ExtendedHandshake, Metadata};
use proptest::prelude::*;
use torrent_format::hash::{sha1, sha256};
use torrent_format::{InfoHashV1, InfoHashV2, InfoHashes};

use super::*;

/// The origin of the virtual clock: read once per test; time then moves only by adding to it.
#[expect(clippy::disallowed_methods, reason = "an origin for a virtual clock")]
fn origin() -> Instant {
    Instant::now()
}

/// A dictionary-like blob of `len` bytes.
fn info(len: usize, seed: u8) -> Bytes {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
        .collect::<Vec<u8>>()
        .into()
}

fn v1(info: &[u8]) -> InfoHashes {
    InfoHashes {
        v1: Some(InfoHashV1(sha1(info))),
        v2: None,
    }
}

fn handshake(size: Option<u32>) -> ExtendedHandshake {
    ExtendedHandshake {
        extensions: vec![("ut_metadata".into(), 2)],
        metadata_size: size,
        ..ExtendedHandshake::default()
    }
}

fn data(info: &[u8], piece: u32) -> Metadata {
    let range = piece_range(info.len() as u32, piece).expect("a piece of the dictionary");
    Metadata::Data {
        piece,
        total_size: info.len() as u32,
        data: Bytes::copy_from_slice(&info[range]),
    }
}

fn transmits(f: &mut MetadataFetch) -> Vec<(PeerKey, Metadata)> {
    std::iter::from_fn(|| f.poll_transmit()).collect()
}

fn events(f: &mut MetadataFetch) -> Vec<Event> {
    std::iter::from_fn(|| f.poll_event()).collect()
}

fn requests_to(sent: &[(PeerKey, Metadata)], peer: PeerKey) -> Vec<u32> {
    sent.iter()
        .filter_map(|(k, m)| match m {
            Metadata::Request { piece } if *k == peer => Some(*piece),
            _ => None,
        })
        .collect()
}

/// Answers every request with the right data until nothing is left to send.
fn answer_all(f: &mut MetadataFetch, now: Instant, info: &[u8]) {
    while let Some((peer, m)) = f.poll_transmit() {
        if let Metadata::Request { piece } = m {
            f.handle_metadata(now, peer, &data(info, piece));
        }
    }
}

#[test]
fn one_peer_gives_the_dictionary_in_16_kib_pieces() {
    let info = info(40_000, 1);
    let now = origin();
    let mut f = MetadataFetch::new(Config::default(), v1(&info), now).unwrap();
    assert_eq!(f.info_hash(), sha1(&info));
    f.handle_extended_handshake(now, PeerKey(7), &handshake(Some(40_000)));
    let sent = transmits(&mut f);
    assert_eq!(requests_to(&sent, PeerKey(7)), [0, 1, 2]);
    assert_eq!(f.progress(), (0, 3));
    for piece in [2, 0] {
        f.handle_metadata(now, PeerKey(7), &data(&info, piece));
    }
    assert_eq!(f.progress(), (2, 3));
    assert!(events(&mut f).is_empty());
    f.handle_metadata(now, PeerKey(7), &data(&info, 1));
    assert_eq!(events(&mut f), [Event::Done(info)]);
    assert!(f.is_finished());
    assert_eq!(f.poll_timeout(), None);
}

#[test]
fn pieces_are_spread_over_peers_and_requests_are_rejected() {
    let info = info(6 * 16_384, 2);
    let now = origin();
    let config = Config {
        requests_per_peer: 1,
        ..Config::default()
    };
    let mut f = MetadataFetch::new(config, v1(&info), now).unwrap();
    for k in 0..3 {
        f.handle_extended_handshake(now, PeerKey(k), &handshake(Some(info.len() as u32)));
    }
    let sent = transmits(&mut f);
    let asked: Vec<Vec<u32>> = (0..3).map(|k| requests_to(&sent, PeerKey(k))).collect();
    assert_eq!(asked, [vec![0], vec![1], vec![2]]);
    // BEP 9: a peer asking us gets a reject: we have nothing yet.
    f.handle_metadata(now, PeerKey(1), &Metadata::Request { piece: 4 });
    assert_eq!(
        transmits(&mut f),
        [(PeerKey(1), Metadata::Reject { piece: 4 })]
    );
    f.handle_metadata(now, PeerKey(1), &data(&info, 1));
    assert_eq!(requests_to(&transmits(&mut f), PeerKey(1)), [3]);
}

#[test]
fn a_size_over_the_limit_is_refused_before_anything_is_allocated() {
    let now = origin();
    let mut f = MetadataFetch::new(Config::default(), v1(b"x"), now).unwrap();
    f.handle_extended_handshake(now, PeerKey(1), &handshake(Some((30 << 20) + 1)));
    f.handle_extended_handshake(now, PeerKey(2), &ExtendedHandshake::default());
    assert_eq!(
        events(&mut f),
        [
            Event::Unusable {
                peer: PeerKey(1),
                reason: Unusable::TooLarge {
                    size: (30 << 20) + 1
                }
            },
            Event::Unusable {
                peer: PeerKey(2),
                reason: Unusable::NoMetadataExtension
            }
        ]
    );
    assert!(f.attempt.is_none());
    assert_eq!(f.num_peers(), 0);
    assert!(transmits(&mut f).is_empty());
    f.give_up();
    assert_eq!(
        events(&mut f),
        [Event::Failed {
            reason: Failure::TooLarge {
                size: (30 << 20) + 1,
                limit: 30 << 20
            }
        }]
    );
    let mut f = MetadataFetch::new(Config::default(), v1(b"x"), now).unwrap();
    f.give_up();
    assert_eq!(
        events(&mut f),
        [Event::Failed {
            reason: Failure::NoPeers
        }]
    );
    assert_eq!(
        MetadataFetch::new(Config::default(), InfoHashes { v1: None, v2: None }, now).err(),
        Some(UsageError::NoInfoHash)
    );
}

#[test]
fn a_rejected_piece_goes_to_another_peer_and_the_rejecter_rests() {
    let info = info(20_000, 3);
    let now = origin();
    let mut f = MetadataFetch::new(Config::default(), v1(&info), now).unwrap();
    f.handle_extended_handshake(now, PeerKey(1), &handshake(Some(20_000)));
    assert_eq!(requests_to(&transmits(&mut f), PeerKey(1)), [0, 1]);
    f.handle_extended_handshake(now, PeerKey(2), &handshake(Some(20_000)));
    assert!(transmits(&mut f).is_empty(), "everything is in flight");
    f.handle_metadata(now, PeerKey(1), &Metadata::Reject { piece: 1 });
    assert_eq!(requests_to(&transmits(&mut f), PeerKey(2)), [1]);
    f.handle_metadata(now, PeerKey(2), &Metadata::Reject { piece: 1 });
    // Both rest now: nothing is asked until the backoff ends.
    assert!(transmits(&mut f).is_empty());
    let later = now + Config::default().retry_backoff;
    assert_eq!(f.poll_timeout(), Some(later));
    f.handle_timeout(later);
    assert_eq!(requests_to(&transmits(&mut f), PeerKey(1)), [1]);
    f.handle_metadata(later, PeerKey(1), &data(&info, 0));
    f.handle_metadata(later, PeerKey(1), &data(&info, 1));
    assert_eq!(events(&mut f), [Event::Done(info)]);
}

#[test]
fn a_timed_out_request_is_asked_elsewhere_and_a_late_answer_still_counts() {
    let info = info(10_000, 4);
    let now = origin();
    let mut f = MetadataFetch::new(Config::default(), v1(&info), now).unwrap();
    f.handle_extended_handshake(now, PeerKey(1), &handshake(Some(10_000)));
    f.handle_extended_handshake(now, PeerKey(2), &handshake(Some(10_000)));
    assert_eq!(requests_to(&transmits(&mut f), PeerKey(1)), [0]);
    let timeout = now + Config::default().request_timeout;
    assert_eq!(f.poll_timeout(), Some(timeout));
    f.handle_timeout(timeout - Duration::from_millis(1));
    assert!(transmits(&mut f).is_empty(), "an early timer does nothing");
    f.handle_timeout(timeout);
    assert_eq!(requests_to(&transmits(&mut f), PeerKey(2)), [0]);
    // Peer 1's late answer arrives first: taken, and peer 2's is then dropped.
    f.handle_metadata(timeout, PeerKey(1), &data(&info, 0));
    assert_eq!(events(&mut f), [Event::Done(info.clone())]);
    f.handle_metadata(timeout, PeerKey(2), &data(&info, 0));
    assert!(events(&mut f).is_empty());
}

#[test]
fn a_peer_that_leaves_gives_its_pieces_back() {
    let info = info(3 * 16_384, 5);
    let now = origin();
    let mut f = MetadataFetch::new(Config::default(), v1(&info), now).unwrap();
    f.handle_extended_handshake(now, PeerKey(1), &handshake(Some(info.len() as u32)));
    assert_eq!(requests_to(&transmits(&mut f), PeerKey(1)), [0, 1, 2]);
    f.handle_metadata(now, PeerKey(1), &data(&info, 1));
    f.handle_peer_left(now, PeerKey(1));
    assert!(transmits(&mut f).is_empty());
    f.handle_extended_handshake(now, PeerKey(2), &handshake(Some(info.len() as u32)));
    assert_eq!(requests_to(&transmits(&mut f), PeerKey(2)), [0, 2]);
    // Data from the peer that left, or unrequested, is dropped.
    f.handle_metadata(now, PeerKey(1), &data(&info, 0));
    f.handle_metadata(now, PeerKey(3), &data(&info, 0));
    assert_eq!(f.progress(), (1, 3));
    answer_all(&mut f, now, &info);
    f.handle_metadata(now, PeerKey(2), &data(&info, 0));
    f.handle_metadata(now, PeerKey(2), &data(&info, 2));
    assert_eq!(events(&mut f), [Event::Done(info)]);
}

#[test]
fn nothing_queued_goes_to_a_peer_that_left() {
    // fuzz-metadata-ff71c7cc: a driver whose send failed reported the peer gone while
    // draining; the second request to it was still queued.
    let info = info(40_000, 5);
    let now = origin();
    let mut f = MetadataFetch::new(Config::default(), v1(&info), now).unwrap();
    f.handle_extended_handshake(now, PeerKey(1), &handshake(Some(40_000)));
    f.handle_metadata(now, PeerKey(1), &Metadata::Request { piece: 0 });
    let first = f.poll_transmit();
    assert_eq!(first, Some((PeerKey(1), Metadata::Request { piece: 0 })));
    f.handle_peer_left(now, PeerKey(1));
    assert_eq!(f.poll_transmit(), None);
    f.handle_extended_handshake(now, PeerKey(2), &handshake(Some(40_000)));
    assert_eq!(requests_to(&transmits(&mut f), PeerKey(2)), [0, 1, 2]);
}

#[test]
fn data_of_the_wrong_length_or_piece_is_dropped() {
    let info = info(20_000, 6);
    let now = origin();
    let mut f = MetadataFetch::new(Config::default(), v1(&info), now).unwrap();
    f.handle_extended_handshake(now, PeerKey(1), &handshake(Some(20_000)));
    let _ = transmits(&mut f);
    for bad in [
        Metadata::Data {
            piece: 0,
            total_size: 20_000,
            data: Bytes::from_static(b"short"),
        },
        Metadata::Data {
            piece: 9,
            total_size: 20_000,
            data: Bytes::new(),
        },
        Metadata::Data {
            piece: 1,
            total_size: 0,
            data: Bytes::new(),
        },
    ] {
        f.handle_metadata(now, PeerKey(1), &bad);
    }
    assert_eq!(f.progress(), (0, 2));
    assert!(events(&mut f).is_empty());
}

#[test]
fn a_mismatch_reports_its_contributors_and_starts_over_with_other_peers() {
    let info = info(2 * 16_384, 7);
    let mut lie = info.to_vec();
    lie[16_384] ^= 1;
    let now = origin();
    let config = Config {
        requests_per_peer: 1,
        ..Config::default()
    };
    let mut f = MetadataFetch::new(config, v1(&info), now).unwrap();
    let size = Some(info.len() as u32);
    for k in 0..3 {
        f.handle_extended_handshake(now, PeerKey(k), &handshake(size));
    }
    let sent = transmits(&mut f);
    assert_eq!(requests_to(&sent, PeerKey(0)), [0]);
    assert_eq!(requests_to(&sent, PeerKey(1)), [1]);
    f.handle_metadata(now, PeerKey(0), &data(&info, 0));
    f.handle_metadata(now, PeerKey(1), &data(&lie, 1));
    assert_eq!(
        events(&mut f),
        [Event::HashMismatch {
            contributors: vec![PeerKey(0), PeerKey(1)]
        }]
    );
    assert_eq!(f.strikes(PeerKey(1)), Some(1));
    assert_eq!(f.strikes(PeerKey(2)), Some(0));
    // Only the peer without strikes is asked now.
    let sent = transmits(&mut f);
    assert_eq!(requests_to(&sent, PeerKey(2)), [0]);
    assert_eq!(sent.len(), 1);
    f.handle_metadata(now, PeerKey(2), &data(&info, 0));
    answer_all(&mut f, now, &info);
    assert_eq!(events(&mut f), [Event::Done(info)]);
}

#[test]
fn with_strikes_everywhere_one_peer_at_a_time_finds_the_honest_one() {
    let info = info(2 * 16_384, 8);
    let mut lie = info.to_vec();
    lie[0] ^= 0x80;
    let now = origin();
    let config = Config {
        requests_per_peer: 1,
        ..Config::default()
    };
    let mut f = MetadataFetch::new(config, v1(&info), now).unwrap();
    let size = Some(info.len() as u32);
    // Peer 0 lies about piece 0; peer 1 is honest.
    f.handle_extended_handshake(now, PeerKey(0), &handshake(size));
    f.handle_extended_handshake(now, PeerKey(1), &handshake(size));
    let mut mismatches = 0;
    for _ in 0..10 {
        while let Some((peer, m)) = f.poll_transmit() {
            if let Metadata::Request { piece } = m {
                let source = if peer == PeerKey(0) {
                    &lie[..]
                } else {
                    &info[..]
                };
                f.handle_metadata(now, peer, &data(source, piece));
            }
        }
        for e in events(&mut f) {
            match e {
                Event::HashMismatch { contributors } => {
                    mismatches += 1;
                    assert!(contributors.contains(&PeerKey(0)));
                }
                Event::Done(bytes) => {
                    assert_eq!(bytes, info);
                    assert!(mismatches <= 3, "2L + 1 attempts");
                    return;
                }
                other => panic!("{other:?}"),
            }
        }
    }
    panic!("never done");
}

#[test]
fn a_peer_without_metadata_size_is_probed_with_piece_0() {
    let info = info(30_000, 9);
    let now = origin();
    let mut f = MetadataFetch::new(Config::default(), v1(&info), now).unwrap();
    f.handle_extended_handshake(now, PeerKey(4), &handshake(None));
    assert_eq!(requests_to(&transmits(&mut f), PeerKey(4)), [0]);
    assert_eq!(f.size(), None);
    f.handle_metadata(now, PeerKey(4), &data(&info, 0));
    assert_eq!(f.size(), Some(30_000));
    assert_eq!(f.progress(), (1, 2));
    answer_all(&mut f, now, &info);
    assert_eq!(events(&mut f), [Event::Done(info)]);
}

#[test]
fn a_probe_over_the_limit_is_refused() {
    let now = origin();
    let config = Config {
        max_size: 1000,
        ..Config::default()
    };
    let mut f = MetadataFetch::new(config, v1(b"x"), now).unwrap();
    f.handle_extended_handshake(now, PeerKey(4), &handshake(None));
    let _ = transmits(&mut f);
    f.handle_metadata(
        now,
        PeerKey(4),
        &Metadata::Data {
            piece: 0,
            total_size: 5000,
            data: Bytes::from(vec![0; 5000]),
        },
    );
    assert_eq!(
        events(&mut f),
        [Event::Unusable {
            peer: PeerKey(4),
            reason: Unusable::TooLarge { size: 5000 }
        }]
    );
    assert_eq!(f.size(), None);
}

#[test]
fn v2_and_hybrid_dictionaries_are_checked_with_every_hash() {
    let info = info(1000, 10);
    let now = origin();
    let v2 = InfoHashV2(sha256(&info));
    let cases = [
        (
            InfoHashes {
                v1: None,
                v2: Some(v2),
            },
            true,
        ),
        (
            InfoHashes {
                v1: Some(InfoHashV1(sha1(&info))),
                v2: Some(v2),
            },
            true,
        ),
        (
            InfoHashes {
                v1: Some(InfoHashV1(sha1(&info))),
                v2: Some(InfoHashV2([0; 32])),
            },
            false,
        ),
    ];
    for (hashes, good) in cases {
        let mut f = MetadataFetch::new(Config::default(), hashes, now).unwrap();
        if hashes.v1.is_none() {
            assert_eq!(f.info_hash(), v2.truncated());
        }
        f.handle_extended_handshake(now, PeerKey(0), &handshake(Some(1000)));
        answer_all(&mut f, now, &info);
        let seen = events(&mut f);
        assert_eq!(matches!(seen[..], [Event::Done(_)]), good, "{seen:?}");
    }
}

#[test]
fn the_deadline_fails_the_fetch_once() {
    let now = origin();
    let config = Config {
        timeout: Some(Duration::from_secs(30)),
        ..Config::default()
    };
    let mut f = MetadataFetch::new(config, v1(&info(20_000, 1)), now).unwrap();
    f.handle_extended_handshake(now, PeerKey(0), &handshake(Some(20_000)));
    let _ = transmits(&mut f);
    let mut t = now;
    while let Some(next) = f.poll_timeout() {
        t = next;
        f.handle_timeout(t);
        let _ = transmits(&mut f);
    }
    assert_eq!(t, now + Duration::from_secs(30));
    let seen = events(&mut f);
    assert_eq!(
        seen,
        [Event::Failed {
            reason: Failure::TimedOut {
                received: 0,
                total: 2
            }
        }]
    );
    f.handle_timeout(t + Duration::from_secs(1));
    f.give_up();
    assert!(events(&mut f).is_empty());
}

/// How a simulated peer behaves.
#[derive(Clone, Copy, Debug)]
enum Behaviour {
    Honest,
    /// Honest, without `metadata_size` in its handshake (as our own seed).
    Unannounced,
    /// Sends the right size with one byte of each piece flipped.
    Liar,
    /// Announces a size one byte larger and sends garbage of it.
    WrongSize,
    /// Never answers.
    Silent,
    /// Rejects everything.
    Rejecter,
    /// No ut_metadata.
    NoExtension,
    /// Announces more than the limit.
    TooLarge,
    /// Honest for a few answers, then leaves.
    Leaves(u8),
}

fn behaviour() -> impl Strategy<Value = Behaviour> {
    prop_oneof![
        Just(Behaviour::Honest),
        Just(Behaviour::Unannounced),
        Just(Behaviour::Liar),
        Just(Behaviour::WrongSize),
        Just(Behaviour::Silent),
        Just(Behaviour::Rejecter),
        Just(Behaviour::NoExtension),
        Just(Behaviour::TooLarge),
        (0u8..4).prop_map(Behaviour::Leaves),
    ]
}

/// Runs a fetch among `peers` under a virtual clock, answers delivered in an order drawn
/// from `seed`; returns the events.
fn simulate(info: &Bytes, peers: &[Behaviour], seed: u64) -> Vec<Event> {
    let now0 = origin();
    let mut now = now0;
    let liars = peers
        .iter()
        .filter(|b| matches!(b, Behaviour::Liar | Behaviour::WrongSize))
        .count() as u32;
    let config = Config {
        max_size: 100_000,
        requests_per_peer: 2,
        max_hash_failures: 2 * liars + 2,
        timeout: Some(Duration::from_secs(1800)),
        ..Config::default()
    };
    let size = info.len() as u32;
    let mut f = MetadataFetch::new(config, v1(info), now).unwrap();
    let mut answered = vec![0u8; peers.len()];
    let mut gone = vec![false; peers.len()];
    let mut rng = seed | 1;
    let mut next = move || {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng
    };
    for (k, b) in peers.iter().enumerate() {
        let h = match b {
            Behaviour::NoExtension => ExtendedHandshake::default(),
            Behaviour::TooLarge => handshake(Some(200_000)),
            Behaviour::WrongSize => handshake(Some(size + 1)),
            Behaviour::Unannounced => handshake(None),
            _ => handshake(Some(size)),
        };
        f.handle_extended_handshake(now, PeerKey(k as u32), &h);
    }
    let mut seen = Vec::new();
    let mut wire: Vec<(PeerKey, Metadata)> = Vec::new();
    for _ in 0..10_000 {
        wire.extend(std::iter::from_fn(|| f.poll_transmit()));
        seen.extend(std::iter::from_fn(|| f.poll_event()));
        if f.is_finished() {
            break;
        }
        if wire.is_empty() {
            match f.poll_timeout() {
                Some(t) => {
                    now = now.max(t);
                    f.handle_timeout(now);
                    continue;
                }
                None => break,
            }
        }
        let (peer, m) = wire.swap_remove(next() as usize % wire.len());
        let k = peer.0 as usize;
        let Metadata::Request { piece } = m else {
            continue;
        };
        if gone[k] {
            continue;
        }
        let answer = match peers[k] {
            Behaviour::Honest | Behaviour::Unannounced => Some(data(info, piece)),
            Behaviour::Leaves(n) => {
                answered[k] += 1;
                if answered[k] > n {
                    gone[k] = true;
                    f.handle_peer_left(now, peer);
                    None
                } else {
                    Some(data(info, piece))
                }
            }
            Behaviour::Liar => {
                let mut lie = info.to_vec();
                if let Some(r) = piece_range(size, piece) {
                    lie[r.start] ^= 0x55;
                }
                Some(data(&lie, piece))
            }
            Behaviour::WrongSize => {
                let garbage = vec![0xee; info.len() + 1];
                Some(data(&garbage, piece))
            }
            Behaviour::Rejecter => Some(Metadata::Reject { piece }),
            Behaviour::Silent | Behaviour::NoExtension | Behaviour::TooLarge => None,
        };
        if let Some(answer) = answer {
            f.handle_metadata(now, peer, &answer);
        }
        // Time passes a little with each message.
        now += Duration::from_millis(next() % 50);
    }
    assert!(
        now - now0 <= Duration::from_secs(1801),
        "ended by the deadline"
    );
    seen
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Whatever the peers do, the fetch never takes a wrong dictionary, ends at most once,
    /// and with one honest peer that stays, it gets the dictionary.
    #[test]
    fn lying_peers_never_win_and_one_honest_peer_is_enough(
        len in 1usize..70_000,
        peers in proptest::collection::vec(behaviour(), 1..7),
        seed in any::<u64>(),
    ) {
        let info = info(len, seed as u8);
        let seen = simulate(&info, &peers, seed);
        let ends = seen
            .iter()
            .filter(|e| matches!(e, Event::Done(_) | Event::Failed { .. }))
            .count();
        prop_assert!(ends <= 1, "{seen:?}");
        for e in &seen {
            match e {
                Event::Done(bytes) => prop_assert_eq!(bytes, &info),
                Event::HashMismatch { contributors } => {
                    // Honest peers alone never make a bad dictionary.
                    prop_assert!(
                        contributors.iter().any(|k| matches!(
                            peers[k.0 as usize],
                            Behaviour::Liar | Behaviour::WrongSize
                        )),
                        "{:?} {:?}", contributors, peers
                    );
                }
                _ => {}
            }
        }
        let honest = peers
            .iter()
            .any(|b| matches!(b, Behaviour::Honest | Behaviour::Unannounced));
        if honest {
            prop_assert!(matches!(seen.last(), Some(Event::Done(_))), "{:?} {:?}", peers, seen);
        }
    }
}
