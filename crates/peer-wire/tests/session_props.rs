//! Session invariants under arbitrary sequences of peer messages, application commands and
//! clock jumps: no panic; `Closed` at most once and nothing after it; the peer's pieces
//! announced once, before any `Have`; our outstanding requests
//! within the depth and inside the torrent; the peer's queued requests within the limit and
//! only while we may serve them; deadlines never in the past after `handle_timeout`.

use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use peer_wire::{
    BlockRef, Config, Event, Geometry, Handshake, InfoHash, LocalPieces, Message, PeerId,
    PieceIndex, Reserved, Session,
};
use proptest::prelude::*;

const HASH: InfoHash = InfoHash([7; 20]);

#[derive(Debug, Clone)]
enum Op {
    /// The peer sends these messages (in one read, split at `cut`).
    Peer(Vec<Message>, usize),
    /// Raw bytes from the peer.
    Garbage(Vec<u8>),
    Request(BlockRef),
    Cancel(usize),
    Serve(usize),
    Reject(usize),
    Choke,
    Unchoke,
    Interested(bool),
    Have(u32),
    /// The clock moves on, then `handle_timeout` if the session asks for it by then.
    Wait(u64),
    Close,
}

fn block() -> impl Strategy<Value = BlockRef> {
    // Mostly valid blocks of a 10-piece torrent, sometimes not.
    (
        0u32..12,
        prop_oneof![Just(0u32), Just(16384), 0u32..40_000],
        prop_oneof![Just(16384u32), 0u32..40_000],
    )
        .prop_map(|(piece, offset, len)| BlockRef {
            piece: PieceIndex(piece),
            offset,
            len,
        })
}

fn message() -> impl Strategy<Value = Message> {
    prop_oneof![
        Just(Message::KeepAlive),
        Just(Message::Choke),
        Just(Message::Unchoke),
        Just(Message::Interested),
        Just(Message::NotInterested),
        Just(Message::HaveAll),
        Just(Message::HaveNone),
        (0u32..12).prop_map(|p| Message::Have(PieceIndex(p))),
        proptest::collection::vec(any::<u8>(), 0..4)
            .prop_map(|b| Message::Bitfield(Bytes::from(b))),
        block().prop_map(Message::Request),
        block().prop_map(Message::Cancel),
        block().prop_map(Message::Reject),
        (0u32..12).prop_map(|p| Message::AllowedFast(PieceIndex(p))),
        (0u32..12).prop_map(|p| Message::Suggest(PieceIndex(p))),
        block().prop_map(|b| Message::Piece {
            piece: b.piece,
            offset: b.offset,
            data: Bytes::from(vec![0; (b.len % 20_000) as usize])
        }),
        (0u8..5, proptest::collection::vec(any::<u8>(), 0..40)).prop_map(|(id, p)| {
            Message::Extended {
                id,
                payload: Bytes::from(p),
            }
        }),
    ]
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (proptest::collection::vec(message(), 1..4), any::<usize>()).prop_map(|(m, c)| Op::Peer(m, c)),
        1 => proptest::collection::vec(any::<u8>(), 0..12).prop_map(Op::Garbage),
        3 => block().prop_map(Op::Request),
        1 => any::<usize>().prop_map(Op::Cancel),
        2 => any::<usize>().prop_map(Op::Serve),
        1 => any::<usize>().prop_map(Op::Reject),
        1 => Just(Op::Choke),
        2 => Just(Op::Unchoke),
        1 => any::<bool>().prop_map(Op::Interested),
        1 => (0u32..12).prop_map(Op::Have),
        2 => (0u64..200).prop_map(Op::Wait),
        1 => Just(Op::Close),
    ]
}

#[expect(clippy::disallowed_methods, reason = "an origin for a virtual clock")]
fn origin() -> Instant {
    Instant::now()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn session_invariants_hold(fast in any::<bool>(), ext in any::<bool>(), ops in proptest::collection::vec(op(), 1..60)) {
        let geometry = Geometry::new(9 * 32 * 1024 + 1000, 32 * 1024).unwrap();
        let local = Handshake { reserved: Reserved::ours(), info_hash: HASH, peer_id: PeerId([1; 20]) };
        let mut config = Config::new(local, geometry);
        config.max_peer_requests = 4;
        config.peer_ip = Some([10, 0, 0, 1].into());
        let max_peer_requests = config.max_peer_requests;
        let mut now = origin();
        let mut s = Session::new(config, LocalPieces::None, now);
        let mut reserved = Reserved::default();
        if fast { reserved = reserved.with(Reserved::FAST); }
        if ext { reserved = reserved.with(Reserved::EXTENSION_PROTOCOL); }
        let mut wire = BytesMut::new();
        Handshake { reserved, info_hash: HASH, peer_id: PeerId([2; 20]) }.encode(&mut wire);
        s.handle_bytes(now, &mut wire);

        let mut closed = 0;
        let mut pieces_announced = 0;
        let mut peer_requests: Vec<BlockRef> = Vec::new();
        for op in ops {
            let was_closed = s.is_closed();
            match op {
                Op::Peer(messages, cut) => {
                    let mut bytes = BytesMut::new();
                    for m in &messages { m.encode(&mut bytes); }
                    let cut = cut % (bytes.len() + 1);
                    let mut first = BytesMut::from(&bytes[..cut]);
                    s.handle_bytes(now, &mut first);
                    // What the session left is the start of a message; the rest follows it.
                    first.extend_from_slice(&bytes[cut..]);
                    s.handle_bytes(now, &mut first);
                    prop_assert!(first.is_empty() || s.is_closed(), "whole messages are consumed");
                }
                Op::Garbage(bytes) => s.handle_bytes(now, &mut BytesMut::from(&bytes[..])),
                Op::Request(b) => { let _ = s.request(b); }
                Op::Cancel(i) => {
                    if let Some(&b) = s.requested().get(i % s.requested().len().max(1)) {
                        prop_assert!(s.cancel(b).is_ok());
                    }
                }
                Op::Serve(i) => {
                    if !peer_requests.is_empty() {
                        let b = peer_requests.remove(i % peer_requests.len());
                        let _ = s.send_block(b, Bytes::from(vec![0; b.len as usize]));
                    }
                }
                Op::Reject(i) => {
                    if !peer_requests.is_empty() {
                        let b = peer_requests.remove(i % peer_requests.len());
                        let _ = s.reject(b);
                    }
                }
                Op::Choke => { let _ = s.choke(); }
                Op::Unchoke => { let _ = s.unchoke(); }
                Op::Interested(i) => { let _ = s.set_interested(i); }
                Op::Have(p) => { let _ = s.have(PieceIndex(p)); }
                Op::Wait(secs) => {
                    now += Duration::from_secs(secs);
                    if s.poll_timeout().is_some_and(|t| t <= now) {
                        s.handle_timeout(now);
                        prop_assert!(s.poll_timeout().is_none_or(|t| t > now), "a fired timer is re-armed in the future");
                    }
                }
                Op::Close => s.close(),
            }
            let mut sent = 0;
            while let Some(chunk) = s.poll_transmit(now) { sent += chunk.len(); }
            if was_closed { prop_assert_eq!(sent, 0, "nothing sent after closing"); }
            while let Some(e) = s.poll_event() {
                prop_assert!(!was_closed || closed == 0, "no event after Closed");
                match e {
                    Event::Closed(_) => closed += 1,
                    Event::Request(b) => peer_requests.push(b),
                    Event::PeerPieces(_) => pieces_announced += 1,
                    Event::Have(_) | Event::DontHave(_) => {
                        prop_assert_eq!(pieces_announced, 1, "what the peer has comes before its haves");
                    }
                    _ => {}
                }
            }
            prop_assert!(closed <= 1);
            prop_assert!(pieces_announced <= 1, "the peer's pieces are announced once");
            prop_assert_eq!(closed == 1, s.is_closed());
            prop_assert!(s.requested().len() <= 2000);
            prop_assert!(s.requested().iter().all(|b| geometry.contains(b)));
            prop_assert!(s.peer_requests().len() <= max_peer_requests);
            prop_assert!(s.peer_requests().all(|b| geometry.contains(b)));
            if s.is_closed() {
                prop_assert!(s.requested().is_empty() && s.poll_timeout().is_none());
            }
            if !s.peer_choking() || s.is_closed() {
                // Nothing to say about allowed-fast requests here.
            } else if !fast {
                prop_assert!(s.requested().is_empty(), "choked without fast: no request outstanding");
            }
        }
    }
}
