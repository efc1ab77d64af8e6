use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::BytesMut;
use peer_wire::{Geometry, Handshake, InfoHash, Message, Outgoing, PeerId, Reserved};
use proptest::prelude::*;
use torrent_format::hash::sha256;
use torrent_format::merkle::{self, PieceTree};

use super::proof::{self, Unanswerable};
use super::*;
use crate::Swarm;

const P16: u64 = 16 * 1024;
const P64: u64 = 64 * 1024;

#[expect(clippy::disallowed_methods, reason = "an origin for a virtual clock")]
fn origin() -> Instant {
    Instant::now()
}

/// A file of `pieces` pieces of `piece_length` (the last one `last_blocks` blocks long, 0 for
/// a whole piece): its piece layer and root, from its leaves.
fn file(
    seed: u32,
    pieces: u32,
    piece_length: u64,
    last_blocks: usize,
) -> ([u8; 32], Vec<[u8; 32]>) {
    let bpp = (piece_length / merkle::BLOCK_SIZE) as usize;
    let blocks = (pieces as usize - 1) * bpp + if last_blocks == 0 { bpp } else { last_blocks };
    let leaves: Vec<[u8; 32]> = (0..blocks)
        .map(|i| sha256(&[seed.to_le_bytes(), (i as u32).to_le_bytes()].concat()))
        .collect();
    let layer = merkle::piece_layer(&leaves, piece_length);
    assert_eq!(layer.len(), pieces as usize);
    (merkle::root_from_leaves(&leaves), layer)
}

fn request(root: [u8; 32], base: u32, index: u32, length: u32, proof: u32) -> HashRequest {
    HashRequest {
        pieces_root: root,
        base_layer: base,
        index,
        length,
        proof_layers: proof,
    }
}

fn hashes_of(bytes: &[u8]) -> Vec<[u8; 32]> {
    bytes.chunks(32).map(|h| h.try_into().unwrap()).collect()
}

// ---- answering ----------------------------------------------------------------------------

#[test]
fn every_well_formed_request_is_answered_and_the_answer_proves_to_the_root() {
    // Every base layer from the piece layer up, every power-of-two length, every aligned
    // index and every proof depth, on files of 2 to 40 pieces of 16 and 64 KiB.
    for piece_length in [P16, P64] {
        for pieces in 2..=40 {
            let (root, layer) = file(pieces, pieces, piece_length, 1);
            let tree = PieceTree::from_piece_layer(&layer, piece_length).unwrap();
            let seed = PieceLayers::new(piece_length, [(root, layer.clone())]);
            let top = tree.num_layers();
            for base in tree.piece_layer()..top {
                let width = tree.width(base).unwrap() as u32;
                let mut length = 1;
                while length <= width {
                    for index in (0..width).step_by(length as usize) {
                        for proof_layers in 0..top - base {
                            let r = request(root, base, index, length, proof_layers);
                            let answer = seed.answer(&r).unwrap();
                            let got = hashes_of(&answer);
                            let uncles = uncle_count(length, proof_layers);
                            assert_eq!(got.len(), (length + uncles) as usize, "{r:?}");
                            for (i, h) in got[..length as usize].iter().enumerate() {
                                assert_eq!(Some(*h), tree.node(base, u64::from(index) + i as u64));
                            }
                            if proof_layers == top - base - 1 {
                                let base_hashes = proof::verify(&root, top, &r, &answer).unwrap();
                                assert_eq!(base_hashes, got[..length as usize]);
                            }
                        }
                    }
                    length *= 2;
                }
            }
        }
    }
}

#[test]
fn uncles_follow_bep_52_and_libtorrent() {
    // BEP 52: "the first log2(length)-1 proof layers are omitted". 512 hashes with 10 proof
    // layers: layers 1 to 8 above the base come from the hashes themselves, then 2 uncles.
    assert_eq!(uncle_count(512, 10), 2);
    assert_eq!(uncle_count(512, 8), 0);
    assert_eq!(uncle_count(2, 3), 3);
    // libtorrent asks for one hash at the end of a long layer and expects proof_layers + 1
    // uncles back (bt_peer_connection::on_hashes): the first is the hash's own sibling.
    assert_eq!(uncle_count(1, 4), 5);
    assert_eq!(uncle_count(1, u32::MAX), u32::MAX);
    let (root, layer) = file(1, 600, P64, 0);
    let seed = PieceLayers::new(P64, [(root, layer.clone())]);
    let tree = PieceTree::from_piece_layer(&layer, P64).unwrap();
    let base = tree.piece_layer();
    let r = request(root, base, 512, 1, tree.num_layers() - base - 1);
    let got = hashes_of(&seed.answer(&r).unwrap());
    assert_eq!(got[0], layer[512]);
    assert_eq!(got[1], layer[513]);
    assert_eq!(merkle::root_from_uncles(got[0], 512, &got[1..]), root);
    assert_eq!(
        proof::verify(&root, tree.num_layers(), &r, &seed.answer(&r).unwrap()).unwrap(),
        [layer[512]]
    );
}

#[test]
fn hostile_requests_are_rejected() {
    // 100 pieces of 64 KiB: the piece layer is layer 2, the root layer 9 (128 padded pieces).
    let (root, layer) = file(2, 100, P64, 3);
    let seed = PieceLayers::new(P64, [(root, layer)]);
    let cases = [
        (request([1; 32], 2, 0, 2, 0), Unanswerable::UnknownRoot),
        (request(root, 0, 0, 2, 0), Unanswerable::BelowPieceLayer),
        (request(root, 1, 0, 512, 8), Unanswerable::BelowPieceLayer),
        (request(root, 9, 0, 1, 0), Unanswerable::OutOfRange),
        (request(root, u32::MAX, 0, 2, 0), Unanswerable::OutOfRange),
        (request(root, 2, 0, 0, 0), Unanswerable::BadLength(0)),
        (request(root, 2, 0, 3, 0), Unanswerable::BadLength(3)),
        (request(root, 2, 0, 1024, 0), Unanswerable::BadLength(1024)),
        (
            request(root, 2, 0, u32::MAX, 0),
            Unanswerable::BadLength(u32::MAX),
        ),
        (request(root, 2, 2, 4, 0), Unanswerable::Misaligned),
        (request(root, 2, 128, 2, 0), Unanswerable::OutOfRange),
        (request(root, 2, 126, 4, 0), Unanswerable::Misaligned),
        (request(root, 2, 124, 8, 0), Unanswerable::Misaligned),
        (
            request(root, 2, u32::MAX - 1, 2, 0),
            Unanswerable::OutOfRange,
        ),
        (request(root, 2, 0, 256, 0), Unanswerable::OutOfRange),
        (request(root, 2, 0, 2, 7), Unanswerable::TooManyProofLayers),
        (request(root, 8, 0, 2, 1), Unanswerable::TooManyProofLayers),
        (
            request(root, 2, 0, 2, u32::MAX),
            Unanswerable::TooManyProofLayers,
        ),
    ];
    for (r, why) in cases {
        assert_eq!(seed.answer(&r), Err(why), "{r:?}");
    }
    // The largest legal ones are answered: the whole padded layer, every proof layer.
    assert!(seed.answer(&request(root, 2, 0, 128, 6)).is_ok());
    assert!(seed.answer(&request(root, 8, 0, 2, 0)).is_ok());
}

#[test]
fn a_layer_that_does_not_hash_to_its_root_is_never_served() {
    let (root, mut layer) = file(3, 10, P16, 0);
    layer[4][0] ^= 1;
    let seed = PieceLayers::new(P16, [(root, layer)]);
    assert_eq!(
        seed.answer(&request(root, 0, 0, 2, 0)),
        Err(Unanswerable::UnknownRoot)
    );
}

/// A file of a test torrent: name, size, root, piece layer.
type TorrentFile<'a> = (&'a str, u64, [u8; 32], Vec<[u8; 32]>);

/// A v2 `.torrent` of files in pieces of `piece_length`, with the layers of the files longer
/// than one piece. Names must be given sorted.
fn v2_torrent(piece_length: u64, files: &[TorrentFile<'_>]) -> Vec<u8> {
    fn bytes(out: &mut Vec<u8>, b: &[u8]) {
        out.extend(format!("{}:", b.len()).as_bytes());
        out.extend(b);
    }
    let mut t = b"d4:infod9:file treed".to_vec();
    for (name, size, root, _) in files {
        bytes(&mut t, name.as_bytes());
        t.extend(format!("d0:d6:lengthi{size}e11:pieces root32:").as_bytes());
        t.extend(root);
        t.extend(b"ee");
    }
    t.extend(format!("e12:meta versioni2e4:name1:t12:piece lengthi{piece_length}ee").as_bytes());
    t.extend(b"12:piece layersd");
    let mut layers: Vec<_> = files.iter().filter(|f| f.1 > piece_length).collect();
    layers.sort_by_key(|f| f.2);
    for (_, _, root, layer) in layers {
        bytes(&mut t, root);
        bytes(&mut t, &layer.concat());
    }
    t.extend(b"ee");
    t
}

#[test]
fn layers_of_a_torrent_are_served_by_root() {
    let (big, big_layer) = file(4, 9, P16, 0);
    let (small, small_layer) = file(5, 1, P16, 0);
    let meta = Metainfo::from_bytes(&v2_torrent(
        P16,
        &[
            ("a.bin", 9 * P16, big, big_layer.clone()),
            ("b.txt", P16, small, small_layer),
        ],
    ))
    .unwrap();
    let seed = PieceLayers::from_metainfo(&meta).unwrap();
    assert_eq!(
        seed.len(),
        1,
        "only the file longer than one piece has a layer"
    );
    let got = seed.answer(&request(big, 0, 8, 8, 0)).unwrap();
    assert_eq!(hashes_of(&got)[0], big_layer[8]);
    assert_eq!(
        seed.answer(&request(small, 0, 0, 2, 0)),
        Err(Unanswerable::UnknownRoot)
    );
    // The same torrent from its info dictionary alone (a magnet link) has nothing to serve.
    let bare = Metainfo::from_info_bytes(meta.info_bytes(), &Default::default()).unwrap();
    assert!(PieceLayers::from_metainfo(&bare).is_none());
}

// ---- the engine -----------------------------------------------------------------------------

/// An engine seeding a torrent with these piece layers, and a peer connected to it; returns
/// them and the engine's key for the peer.
fn engine_with_peer(layers: Option<PieceLayers>) -> (Swarm, PeerKey, Instant) {
    let now = origin();
    let geometry = Geometry::new(9 * P16, P16).unwrap();
    let mut config = crate::Config::new(InfoHash([3; 20]), PeerId([1; 20]), geometry);
    config.piece_layers = layers.map(Arc::new);
    let mut swarm = Swarm::new(config, peer_wire::Bitfield::full(9), now);
    let key = swarm
        .add_peer(now, SocketAddr::from(([10, 0, 0, 2], 6881)))
        .unwrap();
    swarm.handle_handshake(
        now,
        key,
        Handshake {
            reserved: Reserved::ours(),
            info_hash: InfoHash([3; 20]),
            peer_id: PeerId([2; 20]),
        },
    );
    while swarm.poll_outgoing_from(now, key).is_some() {}
    (swarm, key, now)
}

fn hash_replies(swarm: &mut Swarm, key: PeerKey, now: Instant) -> Vec<Message> {
    std::iter::from_fn(|| swarm.poll_outgoing_from(now, key))
        .filter_map(|o| match o {
            Outgoing::Message(m @ (Message::Hashes { .. } | Message::HashReject(_))) => Some(m),
            _ => None,
        })
        .collect()
}

#[test]
fn the_engine_answers_hash_requests_from_its_piece_layers_and_rejects_the_rest() {
    let (root, layer) = file(6, 9, P16, 0);
    let seed = PieceLayers::new(P16, [(root, layer.clone())]);
    let (mut swarm, key, now) = engine_with_peer(Some(seed));
    // Choked, and asking for the whole layer with no proof, then nonsense.
    let good = request(root, 0, 0, 16, 3);
    let bad = request(root, 0, 3, 16, 0);
    swarm.handle_message(now, key, Message::HashRequest(good));
    swarm.handle_message(now, key, Message::HashRequest(bad));
    let replies = hash_replies(&mut swarm, key, now);
    let [
        Message::Hashes { request, hashes },
        Message::HashReject(rejected),
    ] = &replies[..]
    else {
        panic!("{replies:?}");
    };
    assert_eq!((*request, *rejected), (good, bad));
    assert_eq!(hashes_of(hashes)[..9], layer[..]);
    assert!(swarm.session(key).is_some_and(|s| s.is_open()));

    // Without piece layers (a v1 torrent), every request is rejected.
    let (mut swarm, key, now) = engine_with_peer(None);
    swarm.handle_message(now, key, Message::HashRequest(good));
    assert_eq!(
        hash_replies(&mut swarm, key, now),
        [Message::HashReject(good)]
    );
}

#[test]
fn a_peer_that_does_not_read_its_answers_gets_rejects_not_memory() {
    // 2048 pieces: each request of 512 hashes (and two uncles) is answered with 16 KiB.
    let (root, layer) = file(7, 2048, P16, 0);
    let (mut swarm, key, now) = engine_with_peer(Some(PieceLayers::new(P16, [(root, layer)])));
    let r = request(root, 0, 0, 512, 10);
    for _ in 0..400 {
        swarm.handle_message(now, key, Message::HashRequest(r));
    }
    let queued = swarm.session(key).unwrap().queued_bytes();
    assert!(queued < 3 << 20, "{queued} bytes queued");
    let replies = hash_replies(&mut swarm, key, now);
    assert_eq!(replies.len(), 400, "every request is answered");
    let rejects = replies
        .iter()
        .filter(|m| matches!(m, Message::HashReject(_)))
        .count();
    assert!((200..400).contains(&rejects), "{rejects} rejects");
    // Once it has read them, it is answered again.
    swarm.handle_message(now, key, Message::HashRequest(r));
    assert!(matches!(
        hash_replies(&mut swarm, key, now)[..],
        [Message::Hashes { .. }]
    ));
}

// ---- fetching -------------------------------------------------------------------------------

/// Files for a fetch: (root, size, layer); `ones` files of one piece are mixed in.
struct Files {
    piece_length: u64,
    files: Vec<([u8; 32], u64, Vec<[u8; 32]>)>,
}

impl Files {
    fn new(piece_length: u64, shapes: &[(u32, usize)]) -> Self {
        let bpp = piece_length / merkle::BLOCK_SIZE;
        let files = shapes
            .iter()
            .enumerate()
            .map(|(i, &(pieces, last))| {
                let (root, layer) = file(100 + i as u32, pieces, piece_length, last);
                let last = if last == 0 { bpp } else { last as u64 };
                let size = (u64::from(pieces) - 1) * piece_length + last * merkle::BLOCK_SIZE - 5;
                (root, size, layer)
            })
            .collect();
        Self {
            piece_length,
            files,
        }
    }

    fn seed(&self) -> PieceLayers {
        PieceLayers::new(
            self.piece_length,
            self.files.iter().map(|(r, _, l)| (*r, l.clone())),
        )
    }

    fn fetch(&self, config: Config, now: Instant) -> PieceLayersFetch {
        let files = self.files.iter().map(|(r, s, _)| (*r, *s));
        PieceLayersFetch::for_files(config, self.piece_length, files, now).unwrap()
    }

    /// The layers a fetch must end with: files longer than one piece, each root once.
    fn expected(&self) -> Vec<([u8; 32], Vec<[u8; 32]>)> {
        let mut out: Vec<([u8; 32], Vec<[u8; 32]>)> = Vec::new();
        for (r, s, l) in &self.files {
            if *s > self.piece_length && !out.iter().any(|(o, _)| o == r) {
                out.push((*r, l.clone()));
            }
        }
        out
    }
}

fn events(f: &mut PieceLayersFetch) -> Vec<Event> {
    std::iter::from_fn(|| f.poll_event()).collect()
}

#[test]
fn every_layer_comes_from_one_seed_in_chunks_of_512() {
    // 1025 pieces of 16 KiB: chunks of 512, 512, then 1 piece asked as 2 (BEP 52's minimum);
    // 3 pieces, asked as 4; a file of one piece (no layer); the first file again (same root).
    let mut files = Files::new(P16, &[(1025, 0), (3, 0), (1, 0)]);
    files.files.push(files.files[0].clone());
    let seed = files.seed();
    let now = origin();
    let mut f = files.fetch(Config::default(), now);
    assert_eq!(f.num_layers(), 2);
    assert_eq!(f.progress(), (0, 1028));
    f.handle_peer_joined(now, PeerKey(7));
    let mut asked = Vec::new();
    while let Some((peer, r)) = f.poll_transmit() {
        assert_eq!(peer, PeerKey(7));
        asked.push((r.index, r.length, r.proof_layers));
        let hashes = seed.answer(&r).unwrap();
        f.handle_hashes(now, peer, &r, &hashes);
    }
    // Two in flight at a time (libtorrent's pipeline); every proof goes up to the root.
    assert_eq!(
        asked,
        [(0, 512, 10), (512, 512, 10), (1024, 2, 10), (0, 4, 1)]
    );
    assert_eq!(
        events(&mut f),
        [Event::Done {
            layers: files.expected()
        }]
    );
    assert!(f.is_finished());
    assert_eq!(f.poll_timeout(), None);
}

#[test]
fn nothing_to_fetch_is_done_at_once_and_bad_settings_are_refused() {
    let files = Files::new(P64, &[(1, 0), (1, 3)]);
    let mut f = files.fetch(Config::default(), origin());
    assert_eq!(events(&mut f), [Event::Done { layers: Vec::new() }]);
    let files = Files::new(P16, &[(100, 0)]);
    let one = [(files.files[0].0, files.files[0].1)];
    assert_eq!(
        PieceLayersFetch::for_files(Config::default(), 3 * P16, one, origin()).unwrap_err(),
        UsageError::PieceLength
    );
    let config = Config {
        max_hashes: 99,
        ..Config::default()
    };
    assert_eq!(
        PieceLayersFetch::for_files(config, P16, one, origin()).unwrap_err(),
        UsageError::TooManyHashes { limit: 99 }
    );
}

#[test]
fn a_liar_is_dropped_and_its_chunks_asked_of_an_honest_peer() {
    let files = Files::new(P64, &[(700, 2)]);
    let seed = files.seed();
    let now = origin();
    let mut f = files.fetch(Config::default(), now);
    let (liar, honest) = (PeerKey(0), PeerKey(1));
    f.handle_peer_joined(now, liar);
    f.handle_peer_joined(now, honest);
    let mut bad = Vec::new();
    while let Some((peer, r)) = f.poll_transmit() {
        let mut hashes = seed.answer(&r).unwrap().to_vec();
        if peer == liar {
            // A wrong hash in the middle, or one hash too many.
            if r.index == 0 {
                hashes[32 * 100] ^= 1;
            } else {
                hashes.extend_from_slice(&[0; 32]);
            }
        }
        f.handle_hashes(now, peer, &r, &hashes);
        bad.extend(events(&mut f));
    }
    assert!(
        matches!(
            bad[..],
            [
                Event::BadHashes {
                    peer: PeerKey(0),
                    reason: BadHashes::WrongRoot
                },
                Event::Done { .. }
            ]
        ),
        "{bad:?}"
    );
    let Event::Done { layers } = &bad[1] else {
        unreachable!()
    };
    assert_eq!(*layers, files.expected());
    assert_eq!(f.num_peers(), 1);
}

#[test]
fn answers_must_match_what_was_asked() {
    let files = Files::new(P16, &[(40, 0)]);
    let seed = files.seed();
    let now = origin();
    let mut f = files.fetch(Config::default(), now);
    let peer = PeerKey(3);
    f.handle_peer_joined(now, peer);
    let (_, r) = f.poll_transmit().unwrap();
    let root = r.pieces_root;
    // Unsolicited or for something else: ignored, whatever the bytes.
    let other = request(root, 0, 0, 32, 0);
    f.handle_hashes(now, peer, &other, &seed.answer(&other).unwrap());
    f.handle_hashes(now, PeerKey(9), &r, &seed.answer(&r).unwrap());
    f.handle_hash_reject(now, PeerKey(9), &r);
    f.handle_hashes(now, peer, &request([0; 32], 0, 0, 2, 0), &[]);
    assert!(events(&mut f).is_empty());
    assert_eq!(f.progress(), (0, 40));
    // A short answer to the real request drops the peer.
    let hashes = seed.answer(&r).unwrap();
    f.handle_hashes(now, peer, &r, &hashes[..hashes.len() - 32]);
    assert_eq!(
        events(&mut f),
        [Event::BadHashes {
            peer,
            reason: BadHashes::WrongLength {
                got: hashes.len() - 32,
                expected: hashes.len()
            }
        }]
    );
    assert_eq!(f.num_peers(), 0);
    // Its late answers are not read.
    f.handle_hashes(now, peer, &r, &hashes);
    assert_eq!(f.progress(), (0, 40));
}

#[test]
fn rejects_and_timeouts_move_a_chunk_to_another_peer() {
    let files = Files::new(P16, &[(600, 0)]);
    let seed = files.seed();
    let mut now = origin();
    let config = Config {
        requests_per_peer: 1,
        ..Config::default()
    };
    let mut f = files.fetch(config.clone(), now);
    let (a, b) = (PeerKey(0), PeerKey(1));
    f.handle_peer_joined(now, a);
    f.handle_peer_joined(now, b);
    let first: Vec<_> = std::iter::from_fn(|| f.poll_transmit()).collect();
    assert_eq!(first.iter().map(|(p, _)| *p).collect::<Vec<_>>(), [a, b]);
    // `a` rejects chunk 0: `b` is busy, `a` rests; nobody is asked until `b` answers.
    f.handle_hash_reject(now, a, &first[0].1);
    assert_eq!(f.poll_transmit(), None);
    let answer = seed.answer(&first[1].1).unwrap();
    f.handle_hashes(now, b, &first[1].1, &answer);
    let (to, r) = f.poll_transmit().unwrap();
    assert_eq!((to, r), (b, first[0].1));
    // `b` goes silent: after the request timeout the chunk goes back to `a`, rested by then.
    let t = f.poll_timeout().unwrap();
    assert_eq!(t, now + config.retry_backoff);
    now = t;
    f.handle_timeout(now);
    assert_eq!(f.poll_transmit(), None, "a rested, b still has it");
    now += config.request_timeout;
    f.handle_timeout(now);
    let (to, again) = f.poll_transmit().unwrap();
    assert_eq!((to, again), (a, r));
    // `b`'s late answer is still welcome, and the request to `a` is withdrawn in its favour.
    f.handle_hashes(now, b, &r, &seed.answer(&r).unwrap());
    assert_eq!(
        events(&mut f),
        [Event::Done {
            layers: files.expected()
        }]
    );
    // `a`'s answer now changes nothing.
    f.handle_hashes(now, a, &r, &seed.answer(&r).unwrap());
    assert!(events(&mut f).is_empty());
}

#[test]
fn the_deadline_and_giving_up_end_the_fetch_once() {
    let files = Files::new(P16, &[(10, 0)]);
    let now = origin();
    let config = Config {
        timeout: Some(Duration::from_secs(30)),
        ..Config::default()
    };
    let mut f = files.fetch(config.clone(), now);
    f.give_up();
    assert_eq!(
        events(&mut f),
        [Event::Failed {
            reason: Failure::NoPeers
        }]
    );
    f.give_up();
    f.handle_timeout(now + Duration::from_secs(99));
    assert!(events(&mut f).is_empty());

    let mut f = files.fetch(config, now);
    f.handle_peer_joined(now, PeerKey(1));
    let (_, r) = f.poll_transmit().unwrap();
    let mut t = now;
    while let Some(next) = f.poll_timeout() {
        t = next;
        f.handle_timeout(t);
        while f.poll_transmit().is_some() {}
    }
    assert_eq!(t, now + Duration::from_secs(30));
    assert_eq!(
        events(&mut f),
        [Event::Failed {
            reason: Failure::TimedOut {
                received: 0,
                total: 10
            }
        }]
    );
    f.handle_hashes(t, PeerKey(1), &r, &[]);
    assert!(events(&mut f).is_empty() && f.poll_transmit().is_none());
}

/// What a simulated peer does with the request it was sent last.
#[derive(Clone, Copy, Debug)]
enum Op {
    Join(u8),
    Honest(u8),
    /// Flip a bit of the answer at this byte.
    Lie(u8, u16),
    /// Answer with this many bytes more (or fewer) than the truth.
    Resize(u8, i8),
    Reject(u8),
    Leave(u8),
    Wait(u8),
    /// Arbitrary hashes for an arbitrary request header.
    Noise(u8, u32, u32, u8),
    GiveUp,
}

fn op() -> impl Strategy<Value = Op> {
    let peer = 0u8..4;
    prop_oneof![
        1 => peer.clone().prop_map(Op::Join),
        4 => peer.clone().prop_map(Op::Honest),
        1 => (peer.clone(), any::<u16>()).prop_map(|(p, at)| Op::Lie(p, at)),
        1 => (peer.clone(), any::<i8>()).prop_map(|(p, by)| Op::Resize(p, by)),
        1 => peer.clone().prop_map(Op::Reject),
        1 => peer.clone().prop_map(Op::Leave),
        1 => (0u8..20).prop_map(Op::Wait),
        1 => (peer, any::<u32>(), 0u32..12, 0u8..5).prop_map(|(p, i, l, n)| Op::Noise(p, i, l, n)),
        1 => Just(Op::GiveUp),
    ]
}

proptest! {
    /// Any sequence of joins, honest and lying answers, rejects, departures, noise and clock
    /// jumps: never a panic; requests go only to present peers and are well-formed BEP 52
    /// requests the seed can answer; `Done` or `Failed` at most once, and `Done` only with the
    /// true layers; liars are reported, honest peers never.
    #[test]
    fn the_fetch_keeps_its_invariants(ops in proptest::collection::vec(op(), 0..120)) {
        let files = Files::new(P16, &[(1100, 0), (5, 0), (1, 0)]);
        let seed = files.seed();
        let mut now = origin();
        let config = Config {
            timeout: Some(Duration::from_secs(600)),
            hashes_per_request: 256,
            ..Config::default()
        };
        let mut f = files.fetch(config, now);
        let mut present = BTreeSet::new();
        let mut inbox: BTreeMap<u8, Vec<HashRequest>> = BTreeMap::new();
        let mut liars = BTreeSet::new();
        let mut ended = 0;
        for op in ops {
            match op {
                Op::Join(p) => {
                    present.insert(p);
                    f.handle_peer_joined(now, PeerKey(u32::from(p)));
                }
                Op::Honest(p) | Op::Lie(p, _) | Op::Resize(p, _) => {
                    if let Some(r) = inbox.get_mut(&p).and_then(|q| q.pop()) {
                        let mut hashes = seed.answer(&r).unwrap().to_vec();
                        match op {
                            Op::Lie(_, at) => {
                                let at = usize::from(at) % hashes.len();
                                hashes[at] ^= 1;
                                liars.insert(p);
                            }
                            Op::Resize(_, by) if by != 0 => {
                                let len = (hashes.len() as isize + isize::from(by)).max(0);
                                hashes.resize(len as usize, 0);
                                liars.insert(p);
                            }
                            _ => {}
                        }
                        f.handle_hashes(now, PeerKey(u32::from(p)), &r, &hashes);
                    }
                }
                Op::Reject(p) => {
                    if let Some(r) = inbox.get_mut(&p).and_then(|q| q.pop()) {
                        f.handle_hash_reject(now, PeerKey(u32::from(p)), &r);
                    }
                }
                Op::Leave(p) => {
                    present.remove(&p);
                    inbox.remove(&p);
                    f.handle_peer_left(now, PeerKey(u32::from(p)));
                }
                Op::Wait(s) => {
                    now += Duration::from_secs(u64::from(s));
                    if f.poll_timeout().is_some_and(|t| t <= now) {
                        f.handle_timeout(now);
                    }
                }
                Op::Noise(p, index, length, n) => {
                    let r = request(files.files[usize::from(p) % 3].0, 0, index, 1 << length, 10);
                    if inbox.get(&p).is_some_and(|q| q.contains(&r)) {
                        // By chance what it was asked: then its noise is a lie.
                        liars.insert(p);
                    }
                    let hashes = vec![p; usize::from(n) * 32 + usize::from(n % 2)];
                    f.handle_hashes(now, PeerKey(u32::from(p)), &r, &hashes);
                    f.handle_hash_reject(now, PeerKey(u32::from(p)), &r);
                }
                Op::GiveUp => f.give_up(),
            }
            while let Some((to, r)) = f.poll_transmit() {
                let p = to.0 as u8;
                prop_assert!(ended == 0, "a request after the end");
                prop_assert!(present.contains(&p), "a request to {to:?}, not present");
                prop_assert!(r.length >= 2 && r.length.is_power_of_two() && r.length <= 256);
                prop_assert!(r.index % r.length == 0);
                prop_assert!(seed.answer(&r).is_ok(), "{r:?}");
                inbox.entry(p).or_default().insert(0, r);
            }
            while let Some(e) = f.poll_event() {
                match e {
                    Event::Done { layers } => {
                        prop_assert_eq!(&layers, &files.expected());
                        ended += 1;
                    }
                    Event::Failed { .. } => ended += 1,
                    Event::BadHashes { peer, .. } => {
                        let p = peer.0 as u8;
                        prop_assert!(liars.contains(&p), "an honest peer reported");
                        present.remove(&p);
                        inbox.remove(&p);
                    }
                }
            }
            prop_assert!(ended <= 1, "ended twice");
            prop_assert_eq!(ended == 1, f.is_finished());
        }
    }
}

#[test]
fn a_seed_answers_what_a_fetch_asks_over_real_sessions() {
    // The fetch's requests and the seed's answers through two peer_wire sessions, as the
    // node's magnet code and engine carry them.
    let files = Files::new(P64, &[(1500, 1)]);
    let seed = files.seed();
    let now = origin();
    let hash = InfoHash([4; 20]);
    let geometry = Geometry::new(1500 * P64, P64).unwrap();
    let handshake = |id| Handshake {
        reserved: Reserved::ours(),
        info_hash: hash,
        peer_id: PeerId([id; 20]),
    };
    let mut server = peer_wire::Session::new(
        peer_wire::Config::new(handshake(1), geometry),
        peer_wire::LocalPieces::All,
        now,
    );
    let mut client =
        peer_wire::Session::without_geometry(peer_wire::Config::for_metadata(handshake(2)), now);
    let mut f = files.fetch(Config::default(), now);
    let mut done = None;
    for round in 0..100 {
        if round == 1 {
            // The handshakes are through: the peer may be asked.
            assert!(client.is_open());
            f.handle_peer_joined(now, PeerKey(0));
        }
        while let Some((_, r)) = f.poll_transmit() {
            client.send_hash_request(r).unwrap();
        }
        let mut to_server = BytesMut::new();
        while let Some(b) = client.poll_transmit(now) {
            to_server.extend_from_slice(&b);
        }
        server.handle_bytes(now, &mut to_server);
        while let Some(e) = server.poll_event() {
            if let peer_wire::Event::HashRequest(r) = e {
                let _ = match seed.answer(&r) {
                    Ok(h) => server.send_hashes(r, h),
                    Err(_) => server.send_hash_reject(r),
                };
            }
        }
        let mut to_client = BytesMut::new();
        while let Some(b) = server.poll_transmit(now) {
            to_client.extend_from_slice(&b);
        }
        client.handle_bytes(now, &mut to_client);
        while let Some(e) = client.poll_event() {
            if let peer_wire::Event::Hashes { request, hashes } = e {
                f.handle_hashes(now, PeerKey(0), &request, &hashes);
            }
        }
        if let Some(e) = f.poll_event() {
            done = Some(e);
            break;
        }
    }
    assert_eq!(
        done,
        Some(Event::Done {
            layers: files.expected()
        })
    );
}
