//! The engine under arbitrary sequences of peer messages, disk results, tracker answers and
//! clock jumps. After every step: no panic; at most `max_connections` peers; a piece is
//! reported verified once and only after the engine asked to verify it; `have` matches the
//! verified pieces; reads are only for pieces we have; a block is written at most once per
//! attempt at its piece; nothing is sent to a peer after its Disconnect.

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::Bytes;
use peer_wire::{
    Bitfield, BlockRef, Geometry, Handshake, InfoHash, Message, Outgoing, PeerId, PieceIndex,
    Reserved,
};
use proptest::prelude::*;
use swarm::{Action, Config, Event, PeerKey, Swarm};

const HASH: InfoHash = InfoHash([3; 20]);
const PIECES: u32 = 6;
const PIECE_LEN: u64 = 32 * 1024;

#[derive(Debug, Clone)]
enum Op {
    Connect(u8),
    Handshake(u8),
    /// Connect, handshake, have all, unchoke: a seed ready to serve.
    OpenSeed(u8),
    /// Answer the engine's oldest request to this peer with the right block.
    Serve(u8),
    Send(u8, Message),
    Drop(u8),
    Verify(bool),
    Read,
    Tracker(Vec<u8>),
    Wait(u16),
}

fn block() -> impl Strategy<Value = BlockRef> {
    (
        0..PIECES + 1,
        prop_oneof![Just(0u32), Just(16384)],
        prop_oneof![Just(16384u32), 1u32..20000],
    )
        .prop_map(|(p, offset, len)| BlockRef {
            piece: PieceIndex(p),
            offset,
            len,
        })
}

fn message() -> impl Strategy<Value = Message> {
    prop_oneof![
        Just(Message::Unchoke),
        Just(Message::Choke),
        Just(Message::Interested),
        Just(Message::NotInterested),
        Just(Message::HaveAll),
        Just(Message::HaveNone),
        (0..PIECES + 1).prop_map(|p| Message::Have(PieceIndex(p))),
        any::<u8>().prop_map(|b| Message::Bitfield(Bytes::from(vec![b & 0xfc]))),
        block().prop_map(Message::Request),
        block().prop_map(Message::Cancel),
        block().prop_map(Message::Reject),
        block().prop_map(|b| Message::Piece {
            piece: b.piece,
            offset: b.offset,
            data: Bytes::from(vec![1; b.len as usize]),
        }),
        Just(Message::KeepAlive),
    ]
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        2 => (0u8..6).prop_map(Op::Connect),
        2 => (0u8..6).prop_map(Op::OpenSeed),
        6 => (0u8..6).prop_map(Op::Serve),
        2 => (0u8..6).prop_map(Op::Handshake),
        8 => (0u8..6, message()).prop_map(|(p, m)| Op::Send(p, m)),
        1 => (0u8..6).prop_map(Op::Drop),
        2 => any::<bool>().prop_map(Op::Verify),
        2 => Just(Op::Read),
        1 => proptest::collection::vec(0u8..10, 0..4).prop_map(Op::Tracker),
        2 => (0u16..200).prop_map(Op::Wait),
    ]
}

fn addr(i: u8) -> SocketAddr {
    SocketAddr::from(([10, 0, 0, i + 1], 6881))
}

#[expect(clippy::disallowed_methods, reason = "an origin for a virtual clock")]
fn origin() -> Instant {
    Instant::now()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn engine_invariants_hold(ops in proptest::collection::vec(op(), 1..80)) {
        let geometry = Geometry::new(u64::from(PIECES) * PIECE_LEN - 1000, PIECE_LEN).unwrap();
        let mut config = Config::new(HASH, PeerId([1; 20]), geometry).with_seed(5);
        config.max_connections = 4;
        let max = config.max_connections;
        let mut now = origin();
        let mut s = Swarm::new(config, Bitfield::new(PIECES), now);
        let mut keys: BTreeMap<u8, PeerKey> = BTreeMap::new();
        let mut gone: BTreeSet<PeerKey> = BTreeSet::new();
        let mut to_verify: Vec<PieceIndex> = Vec::new();
        let mut verified: BTreeSet<PieceIndex> = BTreeSet::new();
        let mut reads: Vec<(PeerKey, BlockRef)> = Vec::new();
        let mut written: BTreeSet<BlockRef> = BTreeSet::new();
        for op in ops {
            match op {
                Op::Connect(i) => {
                    if let Ok(k) = s.add_peer(now, addr(i)) {
                        keys.insert(i, k);
                    }
                }
                Op::Handshake(i) => {
                    if let Some(&k) = keys.get(&i) {
                        let h = Handshake { reserved: Reserved::ours(), info_hash: HASH, peer_id: PeerId([i + 2; 20]) };
                        s.handle_handshake(now, k, h);
                    }
                }
                Op::OpenSeed(i) => {
                    if let Ok(k) = s.add_peer(now, addr(i)) {
                        keys.insert(i, k);
                        let h = Handshake { reserved: Reserved::ours(), info_hash: HASH, peer_id: PeerId([i + 2; 20]) };
                        s.handle_handshake(now, k, h);
                        s.handle_message(now, k, Message::HaveAll);
                        s.handle_message(now, k, Message::Unchoke);
                    }
                }
                Op::Serve(i) => {
                    let asked = keys.get(&i).and_then(|&k| {
                        s.session(k).and_then(|x| x.requested().first().copied()).map(|b| (k, b))
                    });
                    if let Some((k, b)) = asked {
                        let data = Bytes::from(vec![7; b.len as usize]);
                        s.handle_message(now, k, Message::Piece { piece: b.piece, offset: b.offset, data });
                    }
                }
                Op::Send(i, m) => {
                    if let Some(&k) = keys.get(&i) {
                        s.handle_message(now, k, m);
                    }
                }
                Op::Drop(i) => {
                    if let Some(k) = keys.remove(&i) {
                        s.handle_disconnected(now, k);
                        gone.insert(k);
                    }
                }
                Op::Verify(ok) => {
                    if let Some(piece) = to_verify.pop() {
                        s.handle_verified(now, piece, ok);
                        if !ok {
                            written.retain(|b| b.piece != piece);
                        }
                    }
                }
                Op::Read => {
                    if let Some((k, b)) = reads.pop() {
                        s.handle_read(now, k, b, Bytes::from(vec![0; b.len as usize]));
                    }
                }
                Op::Tracker(list) => s.handle_peers(now, list.into_iter().map(addr)),
                Op::Wait(secs) => {
                    now += Duration::from_secs(u64::from(secs));
                    s.handle_timeout(now);
                }
            }
            while let Some(action) = s.poll_action() {
                match action {
                    Action::Verify(piece) => {
                        prop_assert!(!verified.contains(&piece), "verify of a verified piece");
                        to_verify.push(piece);
                    }
                    Action::Read { peer, block } => {
                        prop_assert!(s.have().has(block.piece), "read of a piece we lack");
                        reads.push((peer, block));
                    }
                    Action::Write { piece, offset, data } => {
                        let b = BlockRef { piece, offset, len: data.len() as u32 };
                        prop_assert!(written.insert(b), "block written twice: {b:?}");
                        prop_assert!(!verified.contains(&piece));
                    }
                    Action::Disconnect(k) => {
                        keys.retain(|_, v| *v != k);
                        gone.insert(k);
                    }
                    Action::Connect(_)
                    | Action::Announce(_)
                    | Action::DigestBlocks { .. }
                    | Action::WebSeedRequest { .. } => {}
                }
            }
            while let Some(event) = s.poll_event() {
                if let Event::PieceVerified(p) = event {
                    prop_assert!(verified.insert(p), "verified twice");
                }
            }
            while let Some((k, out)) = s.poll_outgoing(now) {
                prop_assert!(!gone.contains(&k), "sent to a peer after its disconnect");
                let _ = matches!(out, Outgoing::Handshake(_));
            }
            prop_assert!(s.num_peers() <= max);
            prop_assert_eq!(s.have().count() as usize, verified.len());
            prop_assert!(s.poll_timeout().is_some_and(|t| t > now));
        }
    }
}
