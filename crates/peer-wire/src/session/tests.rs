use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};

use super::*;
use crate::DecodeError;
use crate::message::Limits;
use crate::{InfoHash, PeerId};

const HASH: InfoHash = InfoHash([0xab; 20]);

/// The origin of the virtual clock: read once per test; time then moves only by adding to it.
#[expect(clippy::disallowed_methods, reason = "an origin for a virtual clock")]
fn origin() -> Instant {
    Instant::now()
}

/// 10 pieces of 32 KiB, the last one 1000 bytes.
fn geometry() -> Geometry {
    Geometry::new(9 * 32 * 1024 + 1000, 32 * 1024).unwrap()
}

fn config(id: u8, reserved: Reserved) -> Config {
    Config::new(
        Handshake {
            reserved,
            info_hash: HASH,
            peer_id: PeerId([id; 20]),
        },
        geometry(),
    )
}

fn block(piece: u32, offset: u32, len: u32) -> BlockRef {
    BlockRef {
        piece: PieceIndex(piece),
        offset,
        len,
    }
}

/// Everything `s` wants to send, as one buffer.
fn drain(s: &mut Session, now: Instant) -> BytesMut {
    let mut out = BytesMut::new();
    while let Some(chunk) = s.poll_transmit(now) {
        out.extend_from_slice(&chunk);
    }
    out
}

fn events(s: &mut Session) -> Vec<Event> {
    std::iter::from_fn(|| s.poll_event()).collect()
}

/// Two sessions joined back to back: bytes go across until both are quiet.
struct Pair {
    a: Session,
    b: Session,
    now: Instant,
}

impl Pair {
    fn new(a: Config, a_pieces: LocalPieces, b: Config, b_pieces: LocalPieces) -> Self {
        let now = origin();
        let mut pair = Self {
            a: Session::new(a, a_pieces, now),
            b: Session::new(b, b_pieces, now),
            now,
        };
        pair.step();
        pair
    }

    fn step(&mut self) {
        loop {
            let mut to_b = drain(&mut self.a, self.now);
            let mut to_a = drain(&mut self.b, self.now);
            if to_a.is_empty() && to_b.is_empty() {
                return;
            }
            self.b.handle_bytes(self.now, &mut to_b);
            self.a.handle_bytes(self.now, &mut to_a);
        }
    }
}

/// A session facing a hand-driven peer that has sent its handshake: returns the session with
/// its opening events drained.
fn facing_raw_peer(reserved: Reserved) -> (Session, Instant) {
    let now = origin();
    let mut s = Session::new(config(1, Reserved::ours()), LocalPieces::None, now);
    let mut bytes = BytesMut::new();
    Handshake {
        reserved,
        info_hash: HASH,
        peer_id: PeerId([2; 20]),
    }
    .encode(&mut bytes);
    s.handle_bytes(now, &mut bytes);
    let _ = drain(&mut s, now);
    let _ = events(&mut s);
    (s, now)
}

fn feed(s: &mut Session, now: Instant, messages: &[Message]) -> Vec<Event> {
    let mut bytes = BytesMut::new();
    for m in messages {
        m.encode(&mut bytes);
    }
    s.handle_bytes(now, &mut bytes);
    events(s)
}

fn closed_by(events: &[Event]) -> Option<CloseReason> {
    events.iter().find_map(|e| match e {
        Event::Closed(r) => Some(*r),
        _ => None,
    })
}

#[test]
fn a_seed_and_a_leecher_exchange_handshakes_and_a_block() {
    let mut p = Pair::new(
        config(1, Reserved::ours()),
        LocalPieces::All,
        config(2, Reserved::ours()),
        LocalPieces::None,
    );
    let seen_by_b = events(&mut p.b);
    assert!(
        matches!(seen_by_b[0], Event::Handshake { common, .. } if common.fast() && common.extension_protocol())
    );
    assert!(matches!(&seen_by_b[1], Event::ExtendedHandshake(h) if h.reqq == Some(2000)));
    assert!(matches!(&seen_by_b[2], Event::PeerPieces(bits) if bits.is_full()));
    let seen_by_a = events(&mut p.a);
    assert!(matches!(&seen_by_a[2], Event::PeerPieces(bits) if bits.count() == 0));

    assert_eq!(p.b.request(block(0, 0, 16384)), Err(UsageError::Choked));
    p.b.set_interested(true).unwrap();
    p.step();
    assert_eq!(events(&mut p.a), [Event::Interested]);
    p.a.unchoke().unwrap();
    p.step();
    assert_eq!(events(&mut p.b), [Event::Unchoked]);

    let wanted = block(9, 0, 1000);
    p.b.request(wanted).unwrap();
    p.step();
    assert_eq!(events(&mut p.a), [Event::Request(wanted)]);
    let data = Bytes::from(vec![7u8; 1000]);
    p.a.send_block(wanted, data.clone()).unwrap();
    p.step();
    assert_eq!(
        events(&mut p.b),
        [Event::Block {
            block: wanted,
            data
        }]
    );
    assert!(p.b.requested().is_empty());
    assert_eq!(p.b.payload_bytes(), (1000, 0));
    assert_eq!(p.a.payload_bytes(), (0, 1000));
    // Served once only.
    assert_eq!(
        p.a.send_block(wanted, Bytes::from(vec![7u8; 1000])),
        Err(UsageError::NotRequested)
    );
}

#[test]
fn without_the_fast_extension_pieces_go_as_a_bitfield() {
    let plain = Reserved::default().with(Reserved::EXTENSION_PROTOCOL);
    let mut p = Pair::new(
        config(1, Reserved::ours()),
        LocalPieces::All,
        config(2, plain),
        LocalPieces::None,
    );
    let seen = events(&mut p.b);
    assert!(
        seen.iter()
            .any(|e| matches!(e, Event::PeerPieces(bits) if bits.is_full()))
    );
    assert_eq!(p.b.common().map(|c| c.fast()), Some(false));
}

#[test]
fn have_before_the_handshake_joins_the_bitfield() {
    let now = origin();
    let mut s = Session::new(config(1, Reserved::default()), LocalPieces::None, now);
    s.have(PieceIndex(3)).unwrap();
    assert_eq!(s.have(PieceIndex(10)), Err(UsageError::OutOfRange));
    let mut bytes = BytesMut::new();
    Handshake {
        reserved: Reserved::default(),
        info_hash: HASH,
        peer_id: PeerId([2; 20]),
    }
    .encode(&mut bytes);
    s.handle_bytes(now, &mut bytes);
    let mut sent = drain(&mut s, now);
    let _ = Handshake::decode(&sent).unwrap();
    let _ = sent.split_to(crate::handshake::HANDSHAKE_LEN);
    let m = Message::decode(&mut sent, &Limits::default()).unwrap();
    assert_eq!(
        m,
        Status::Complete(Message::Bitfield(Bytes::from_static(&[0x10, 0])))
    );
}

#[test]
fn a_handshake_for_another_swarm_or_from_ourselves_closes() {
    let now = origin();
    for (hash, id, reason) in [
        (
            InfoHash([1; 20]),
            PeerId([2; 20]),
            ProtocolViolation::WrongInfoHash,
        ),
        (HASH, PeerId([1; 20]), ProtocolViolation::OwnPeerId),
    ] {
        let mut s = Session::new(config(1, Reserved::ours()), LocalPieces::None, now);
        let mut bytes = BytesMut::new();
        Handshake {
            reserved: Reserved::ours(),
            info_hash: hash,
            peer_id: id,
        }
        .encode(&mut bytes);
        s.handle_bytes(now, &mut bytes);
        assert_eq!(
            events(&mut s),
            [Event::Closed(CloseReason::Violation(reason))]
        );
        assert_eq!(s.poll_transmit(now), None, "nothing is sent after closing");
    }
}

#[test]
fn bitfield_rules_of_bep_3_are_enforced() {
    let cases: Vec<(Vec<Message>, ProtocolViolation)> = vec![
        (
            vec![Message::Bitfield(Bytes::from_static(&[0]))],
            ProtocolViolation::BitfieldLength {
                len: 1,
                expected: 2,
            },
        ),
        (
            vec![Message::Bitfield(Bytes::from_static(&[0, 0x20]))],
            ProtocolViolation::BitfieldSpareBits,
        ),
        (
            vec![Message::Have(PieceIndex(10))],
            ProtocolViolation::PieceOutOfRange(10),
        ),
        (
            vec![Message::Suggest(PieceIndex(99))],
            ProtocolViolation::PieceOutOfRange(99),
        ),
    ];
    for (messages, violation) in cases {
        let (mut s, now) = facing_raw_peer(Reserved::ours());
        let seen = feed(&mut s, now, &messages);
        assert_eq!(
            closed_by(&seen),
            Some(CloseReason::Violation(violation)),
            "{messages:?}"
        );
        assert!(s.is_closed());
    }
    // An extended handshake and a keep-alive before the bitfield are fine (libtorrent sends
    // its extended handshake first).
    let (mut s, now) = facing_raw_peer(Reserved::ours());
    let ext = Message::Extended {
        id: 0,
        payload: Bytes::from(ExtendedHandshake::default().encode()),
    };
    let seen = feed(
        &mut s,
        now,
        &[
            Message::KeepAlive,
            ext,
            Message::Bitfield(Bytes::from_static(&[0xff, 0xc0])),
        ],
    );
    assert!(matches!(seen.last(), Some(Event::PeerPieces(b)) if b.is_full()));
}

/// aria2 sends a bitfield in the middle of a connection when it is shorter than the haves it
/// would send, and have all once it is complete: what is new counts as haves, nothing is taken
/// back, and a malformed one still closes the connection.
#[test]
fn a_late_bitfield_or_have_all_adds_to_what_the_peer_has() {
    let (mut s, now) = facing_raw_peer(Reserved::ours());
    let seen = feed(
        &mut s,
        now,
        &[
            Message::Have(PieceIndex(1)),
            // Pieces 0 and 2 (1 again, 9 not yet).
            Message::Bitfield(Bytes::from_static(&[0b1110_0000, 0])),
        ],
    );
    let haves = |seen: &[Event]| -> Vec<u32> {
        seen.iter()
            .filter_map(|e| match e {
                Event::Have(p) => Some(p.0),
                _ => None,
            })
            .collect()
    };
    assert_eq!(haves(&seen), [1, 0, 2]);
    let seen = feed(&mut s, now, &[Message::HaveNone, Message::HaveAll]);
    assert_eq!(haves(&seen), [3, 4, 5, 6, 7, 8, 9]);
    assert!(s.is_open() && s.peer_pieces().is_some_and(Bitfield::is_full));
    let seen = feed(
        &mut s,
        now,
        &[Message::Bitfield(Bytes::from_static(&[0xff]))],
    );
    assert_eq!(
        closed_by(&seen),
        Some(CloseReason::Violation(ProtocolViolation::BitfieldLength {
            len: 1,
            expected: 2
        }))
    );
}

#[test]
fn fast_and_extension_messages_need_their_bits() {
    let (mut s, now) = facing_raw_peer(Reserved::default());
    let seen = feed(&mut s, now, &[Message::HaveAll]);
    assert_eq!(
        closed_by(&seen),
        Some(CloseReason::Violation(
            ProtocolViolation::FastNotNegotiated(0x0e)
        ))
    );
    let (mut s, now) = facing_raw_peer(Reserved::default());
    let seen = feed(
        &mut s,
        now,
        &[Message::Extended {
            id: 0,
            payload: Bytes::from_static(b"de"),
        }],
    );
    assert_eq!(
        closed_by(&seen),
        Some(CloseReason::Violation(
            ProtocolViolation::ExtensionsNotNegotiated
        ))
    );
}

#[test]
fn an_unrequested_block_closes_but_one_that_crossed_a_cancel_does_not() {
    let (mut s, now) = facing_raw_peer(Reserved::ours());
    feed(&mut s, now, &[Message::HaveAll, Message::Unchoke]);
    let b = block(0, 0, 4);
    s.request(b).unwrap();
    s.cancel(b).unwrap();
    let piece = |b: BlockRef| Message::Piece {
        piece: b.piece,
        offset: b.offset,
        data: Bytes::from_static(b"abcd"),
    };
    assert!(
        feed(&mut s, now, &[piece(b)]).is_empty(),
        "crossed the cancel: dropped quietly"
    );
    let seen = feed(&mut s, now, &[piece(block(1, 0, 4))]);
    assert_eq!(
        closed_by(&seen),
        Some(CloseReason::Violation(ProtocolViolation::UnrequestedBlock(
            block(1, 0, 4)
        )))
    );
    // Exactly one Closed, and nothing after it.
    assert!(feed(&mut s, now, &[piece(block(1, 0, 4))]).is_empty());
}

#[test]
fn without_fast_a_choke_drops_our_requests_and_their_blocks_may_still_arrive() {
    let (mut s, now) = facing_raw_peer(Reserved::default());
    feed(&mut s, now, &[Message::Unchoke]);
    s.request(block(2, 0, 16384)).unwrap();
    s.request(block(2, 16384, 16384)).unwrap();
    let seen = feed(&mut s, now, &[Message::Choke]);
    assert_eq!(
        seen,
        [Event::Choked {
            dropped: vec![block(2, 0, 16384), block(2, 16384, 16384)]
        }]
    );
    assert!(s.requested().is_empty());
    let late = Message::Piece {
        piece: PieceIndex(2),
        offset: 0,
        data: Bytes::from(vec![0; 16384]),
    };
    assert!(feed(&mut s, now, &[late]).is_empty());
}

#[test]
fn requests_are_checked_against_the_piece_and_the_limit() {
    for bad in [
        block(9, 0, 1001),
        block(0, 32 * 1024 - 1, 2),
        block(0, 0, 0),
        block(10, 0, 1),
    ] {
        let (mut s, now) = facing_raw_peer(Reserved::ours());
        s.unchoke().unwrap();
        let seen = feed(&mut s, now, &[Message::Request(bad)]);
        assert_eq!(
            closed_by(&seen),
            Some(CloseReason::Violation(ProtocolViolation::InvalidRequest(
                bad
            ))),
            "{bad:?}"
        );
    }
    let mut cfg = config(1, Reserved::ours());
    cfg.geometry = Geometry::new(1 << 20, 1 << 20).unwrap();
    cfg.max_request_len = 16384;
    let now = origin();
    let mut s = Session::new(cfg, LocalPieces::All, now);
    let mut bytes = BytesMut::new();
    Handshake {
        reserved: Reserved::ours(),
        info_hash: HASH,
        peer_id: PeerId([2; 20]),
    }
    .encode(&mut bytes);
    s.handle_bytes(now, &mut bytes);
    s.unchoke().unwrap();
    let seen = feed(&mut s, now, &[Message::Request(block(0, 0, 16385))]);
    assert!(matches!(
        closed_by(&seen),
        Some(CloseReason::Violation(ProtocolViolation::InvalidRequest(_)))
    ));
}

#[test]
fn while_choking_requests_are_rejected_with_fast_and_ignored_without() {
    for reserved in [Reserved::ours(), Reserved::default()] {
        let (mut s, now) = facing_raw_peer(reserved);
        let seen = feed(&mut s, now, &[Message::Request(block(0, 0, 16384))]);
        // No bitfield came first: the peer has nothing; and no Request event.
        assert!(matches!(&seen[..], [Event::PeerPieces(b)] if b.count() == 0));
        let mut sent = drain(&mut s, now);
        let reply = Message::decode(&mut sent, &Limits::default()).unwrap();
        if reserved.fast() {
            assert_eq!(reply, Status::Complete(Message::Reject(block(0, 0, 16384))));
        } else {
            assert_eq!(reply, Status::Partial);
        }
    }
}

#[test]
fn choking_with_fast_rejects_every_queued_request() {
    let (mut s, now) = facing_raw_peer(Reserved::ours());
    s.unchoke().unwrap();
    let _ = drain(&mut s, now);
    let queued = [block(1, 0, 16384), block(1, 16384, 16384)];
    feed(
        &mut s,
        now,
        &[Message::Request(queued[0]), Message::Request(queued[1])],
    );
    s.choke().unwrap();
    let mut sent = drain(&mut s, now);
    let mut replies = Vec::new();
    while let Ok(Status::Complete(m)) = Message::decode(&mut sent, &Limits::default()) {
        replies.push(m);
    }
    assert_eq!(
        replies,
        [
            Message::Choke,
            Message::Reject(queued[0]),
            Message::Reject(queued[1])
        ]
    );
    assert_eq!(s.peer_requests().len(), 0);
    assert_eq!(
        s.send_block(queued[0], Bytes::from(vec![0; 16384])),
        Err(UsageError::NotRequested)
    );
}

#[test]
fn request_depth_follows_the_peers_reqq() {
    let (mut s, now) = facing_raw_peer(Reserved::ours());
    let ext = ExtendedHandshake {
        reqq: Some(3),
        ..ExtendedHandshake::default()
    };
    feed(
        &mut s,
        now,
        &[
            Message::Extended {
                id: 0,
                payload: Bytes::from(ext.encode()),
            },
            Message::HaveAll,
            Message::Unchoke,
        ],
    );
    for offset in 0..3 {
        s.request(block(0, offset * 16384 / 2, 8192)).unwrap();
    }
    assert_eq!(s.request_slots(), 0);
    assert_eq!(s.request(block(1, 0, 16384)), Err(UsageError::QueueFull));
}

#[test]
fn allowed_fast_pieces_may_be_requested_while_choked() {
    let (mut s, now) = facing_raw_peer(Reserved::ours());
    let seen = feed(
        &mut s,
        now,
        &[Message::HaveAll, Message::AllowedFast(PieceIndex(4))],
    );
    assert!(seen.contains(&Event::AllowedFast(PieceIndex(4))));
    assert_eq!(s.request(block(3, 0, 16384)), Err(UsageError::Choked));
    s.request(block(4, 0, 16384)).unwrap();
}

#[test]
fn timers_close_idle_and_silent_peers_and_keep_the_connection_alive() {
    // No handshake in time.
    let now = origin();
    let mut s = Session::new(config(1, Reserved::ours()), LocalPieces::None, now);
    let deadline = s.poll_timeout().unwrap();
    assert_eq!(deadline, now + Duration::from_secs(20));
    s.handle_timeout(deadline - Duration::from_millis(1));
    assert!(events(&mut s).is_empty());
    s.handle_timeout(deadline);
    assert_eq!(
        events(&mut s),
        [Event::Closed(CloseReason::HandshakeTimeout)]
    );
    assert_eq!(s.poll_timeout(), None);

    // Keep-alive after 60 s of silence from us, idle close after 120 s of silence from them.
    let (mut s, start) = facing_raw_peer(Reserved::ours());
    let keepalive = s.poll_timeout().unwrap();
    assert_eq!(keepalive, start + Duration::from_secs(60));
    s.handle_timeout(keepalive);
    s.handle_timeout(keepalive); // an extra call is a no-op
    let sent = drain(&mut s, keepalive);
    assert_eq!(&sent[..], &[0, 0, 0, 0]);
    assert_eq!(s.poll_timeout(), Some(start + Duration::from_secs(120)));
    s.handle_timeout(start + Duration::from_secs(120));
    assert_eq!(events(&mut s), [Event::Closed(CloseReason::Idle)]);
}

#[test]
fn a_peer_that_sends_no_block_for_a_minute_is_snubbing_us() {
    let (mut s, now) = facing_raw_peer(Reserved::ours());
    feed(&mut s, now, &[Message::HaveAll, Message::Unchoke]);
    let later = now + Duration::from_secs(5);
    let mut keepalive = BytesMut::from(&[0u8, 0, 0, 0][..]);
    s.handle_bytes(later, &mut keepalive);
    s.request(block(0, 0, 16384)).unwrap();
    let snub = later + Duration::from_secs(60);
    assert!(s.poll_timeout().unwrap() <= snub);
    s.handle_timeout(snub);
    assert_eq!(
        events(&mut s),
        [Event::Snubbed {
            outstanding: vec![block(0, 0, 16384)]
        }]
    );
    assert!(s.is_snubbed());
    s.handle_timeout(snub);
    assert!(events(&mut s).is_empty(), "reported once");
    let data = Message::Piece {
        piece: PieceIndex(0),
        offset: 0,
        data: Bytes::from(vec![1; 16384]),
    };
    feed(&mut s, snub, &[data]);
    assert!(!s.is_snubbed());
}

#[test]
fn extension_messages_arrive_decoded_under_our_ids() {
    let (mut s, now) = facing_raw_peer(Reserved::ours());
    let pex = crate::extended::Pex {
        added: vec![("10.0.0.1:6881".parse().unwrap(), Default::default())],
        dropped: vec![],
    };
    let seen = feed(
        &mut s,
        now,
        &[
            Message::HaveAll,
            Message::Extended {
                id: EXT_PEX,
                payload: Bytes::from(pex.encode()),
            },
            Message::Extended {
                id: EXT_DONTHAVE,
                payload: Bytes::from_static(&[0, 0, 0, 5]),
            },
            Message::Extended {
                id: 77,
                payload: Bytes::from_static(b"x"),
            },
        ],
    );
    assert_eq!(
        seen[1..],
        [
            Event::Pex(pex),
            Event::DontHave(PieceIndex(5)),
            Event::Extended {
                id: 77,
                payload: Bytes::from_static(b"x")
            },
        ]
    );
    assert!(!s.peer_pieces().unwrap().has(PieceIndex(5)));
    // We may only send extensions the peer announced.
    assert_eq!(s.dont_have(PieceIndex(1)), Err(UsageError::Unsupported));
}

#[test]
fn malformed_bytes_close_the_session_once() {
    let (mut s, now) = facing_raw_peer(Reserved::ours());
    let mut bytes = BytesMut::from(&[0, 0, 0, 2, 4, 0][..]);
    s.handle_bytes(now, &mut bytes);
    assert_eq!(
        events(&mut s),
        [Event::Closed(CloseReason::Malformed(
            DecodeError::WrongLength { id: 4, len: 1 }
        ))]
    );
    let mut more = BytesMut::from(&[0, 0, 0, 0][..]);
    s.handle_bytes(now, &mut more);
    assert!(events(&mut s).is_empty());
    assert_eq!(s.request(block(0, 0, 1)), Err(UsageError::Closed));
}

#[test]
fn metadata_pieces_must_match_the_announced_size_and_the_limit() {
    use crate::extended::Metadata;
    let data = |total_size: u32| Message::Extended {
        id: EXT_METADATA,
        payload: Bytes::from(
            Metadata::Data {
                piece: 0,
                total_size,
                data: Bytes::from(vec![0; total_size.min(16384) as usize]),
            }
            .encode(),
        ),
    };
    let announce = |size: u32| Message::Extended {
        id: 0,
        payload: Bytes::from(
            ExtendedHandshake {
                metadata_size: Some(size),
                ..ExtendedHandshake::default()
            }
            .encode(),
        ),
    };
    let (mut s, now) = facing_raw_peer(Reserved::ours());
    let seen = feed(&mut s, now, &[announce(100), data(100)]);
    assert!(matches!(
        seen.last(),
        Some(Event::Metadata(Metadata::Data {
            total_size: 100,
            ..
        }))
    ));
    let seen = feed(&mut s, now, &[data(200)]);
    assert_eq!(
        closed_by(&seen),
        Some(CloseReason::Violation(ProtocolViolation::MetadataSize(200)))
    );
    let (mut s, now) = facing_raw_peer(Reserved::ours());
    let seen = feed(&mut s, now, &[data(31 << 20)]);
    assert_eq!(
        closed_by(&seen),
        Some(CloseReason::Violation(ProtocolViolation::MetadataSize(
            31 << 20
        )))
    );
}

#[test]
fn sessions_also_talk_in_messages_for_a_simulator() {
    let now = origin();
    let mut a = Session::new(config(1, Reserved::ours()), LocalPieces::All, now);
    let mut b = Session::new(config(2, Reserved::ours()), LocalPieces::None, now);
    // Carries messages both ways until both are quiet, as a simulated link would.
    fn carry(from: &mut Session, to: &mut Session, now: Instant) -> bool {
        let mut moved = false;
        while let Some(out) = from.poll_outgoing(now) {
            moved = true;
            match out {
                Outgoing::Handshake(h) => to.handle_handshake(now, h),
                Outgoing::Message(m) => to.handle_message(now, m),
            }
        }
        moved
    }
    let step = |a: &mut Session, b: &mut Session| while carry(a, b, now) | carry(b, a, now) {};
    step(&mut a, &mut b);
    assert!(a.is_open() && b.is_open());
    assert!(b.peer_pieces().is_some_and(Bitfield::is_full));
    b.set_interested(true).unwrap();
    a.unchoke().unwrap();
    step(&mut a, &mut b);
    let wanted = block(3, 16384, 16384);
    b.request(wanted).unwrap();
    step(&mut a, &mut b);
    let data = Bytes::from(vec![5; 16384]);
    assert!(events(&mut a).contains(&Event::Request(wanted)));
    a.send_block(wanted, data.clone()).unwrap();
    step(&mut a, &mut b);
    let got = events(&mut b);
    let Some(Event::Block { data: received, .. }) = got.last() else {
        panic!("a block: {got:?}");
    };
    assert_eq!(
        received.as_ptr(),
        data.as_ptr(),
        "the same bytes, not a copy"
    );
}

#[test]
fn a_block_goes_out_as_header_then_its_own_chunk() {
    let mut p = Pair::new(
        config(1, Reserved::ours()),
        LocalPieces::All,
        config(2, Reserved::ours()),
        LocalPieces::None,
    );
    p.b.set_interested(true).unwrap();
    p.a.unchoke().unwrap();
    p.step();
    let wanted = block(0, 0, 16384);
    p.b.request(wanted).unwrap();
    p.step();
    let data = Bytes::from(vec![9; 16384]);
    p.a.have(PieceIndex(1)).unwrap();
    p.a.send_block(wanted, data.clone()).unwrap();
    let first = p.a.poll_transmit(p.now).unwrap();
    assert_eq!(first.len(), 9 + 13, "the have, then the block's header");
    let second = p.a.poll_transmit(p.now).unwrap();
    assert_eq!(
        second.as_ptr(),
        data.as_ptr(),
        "the block itself, not a copy"
    );
    assert_eq!(p.a.poll_transmit(p.now), None);
}

/// A session without a geometry facing a hand-driven peer that has sent its handshake; returns
/// it with what it sent and reported so far.
fn magnet_facing_raw_peer(reserved: Reserved) -> (Session, Instant, BytesMut, Vec<Event>) {
    let now = origin();
    let local = Handshake {
        reserved: Reserved::ours(),
        info_hash: HASH,
        peer_id: PeerId([1; 20]),
    };
    let mut config = Config::for_metadata(local);
    config.peer_ip = Some([10, 0, 0, 2].into());
    let mut s = Session::without_geometry(config, now);
    let mut bytes = BytesMut::new();
    Handshake {
        reserved,
        info_hash: HASH,
        peer_id: PeerId([2; 20]),
    }
    .encode(&mut bytes);
    s.handle_bytes(now, &mut bytes);
    let sent = drain(&mut s, now);
    let seen = events(&mut s);
    (s, now, sent, seen)
}

#[test]
fn without_geometry_any_bitfield_and_piece_index_is_taken_and_dropped() {
    for reserved in [Reserved::ours(), Reserved::default()] {
        let (mut s, now, _, _) = magnet_facing_raw_peer(reserved);
        assert!(!s.has_geometry());
        // 1001 bytes with every bit set: no torrent to compare it with.
        let bitfield = Message::Bitfield(Bytes::from(vec![0xff; 1001]));
        let seen = feed(
            &mut s,
            now,
            &[
                bitfield,
                Message::Have(PieceIndex(u32::MAX)),
                Message::Unchoke,
            ],
        );
        assert_eq!(seen, [Event::Unchoked]);
        assert!(s.is_open());
        assert_eq!(s.peer_pieces(), None);
        // A late bitfield is nothing to check against either.
        let seen = feed(&mut s, now, &[Message::Bitfield(Bytes::from_static(&[0]))]);
        assert_eq!(seen, []);
        assert!(s.is_open());
    }
    let (mut s, now, _, _) = magnet_facing_raw_peer(Reserved::ours());
    let seen = feed(
        &mut s,
        now,
        &[
            Message::HaveAll,
            Message::Suggest(PieceIndex(70_000)),
            Message::AllowedFast(PieceIndex(80_000)),
        ],
    );
    assert!(seen.is_empty(), "{seen:?}");
    assert!(s.allowed_fast().is_empty());
    assert!(s.is_open());
}

#[test]
fn without_geometry_nothing_is_announced_requested_or_served() {
    let (mut s, now, sent, seen) = magnet_facing_raw_peer(Reserved::ours());
    assert!(matches!(seen[..], [Event::Handshake { .. }]));
    // Our extended handshake (ut_metadata only), then have none; no allowed fast.
    let mut sent = sent;
    let _ours = sent.split_to(crate::handshake::HANDSHAKE_LEN);
    let mut out = Vec::new();
    while let Ok(Status::Complete(m)) = Message::decode(&mut sent, &Limits::default()) {
        out.push(m);
    }
    assert_eq!(out.len(), 2, "{out:?}");
    let Message::Extended { id: 0, payload } = &out[0] else {
        panic!("extended handshake first: {out:?}");
    };
    let ours = ExtendedHandshake::decode(payload).unwrap();
    assert_eq!(ours.extensions, [("ut_metadata".to_owned(), EXT_METADATA)]);
    assert_eq!(out[1], Message::HaveNone);
    assert_eq!(s.request(block(0, 0, 16384)), Err(UsageError::NoGeometry));
    assert_eq!(s.have(PieceIndex(0)), Err(UsageError::NoGeometry));
    assert_eq!(s.suggest(PieceIndex(0)), Err(UsageError::NoGeometry));
    // Unchoking changes nothing: a request is still declined (BEP 6 reject).
    s.unchoke().unwrap();
    let _ = drain(&mut s, now);
    let wanted = block(123_456, 0, 16384);
    let seen = feed(&mut s, now, &[Message::Request(wanted)]);
    assert!(seen.is_empty(), "{seen:?}");
    assert_eq!(s.peer_requests().len(), 0);
    let mut sent = drain(&mut s, now);
    assert_eq!(
        Message::decode(&mut sent, &Limits::default()),
        Ok(Status::Complete(Message::Reject(wanted)))
    );
    // An oversized request is still a violation, and so is any block.
    let seen = feed(&mut s, now, &[Message::Request(block(0, 0, 1 << 20))]);
    assert!(matches!(
        closed_by(&seen),
        Some(CloseReason::Violation(ProtocolViolation::InvalidRequest(_)))
    ));
    let (mut s, now, _, _) = magnet_facing_raw_peer(Reserved::ours());
    let seen = feed(
        &mut s,
        now,
        &[Message::Piece {
            piece: PieceIndex(0),
            offset: 0,
            data: Bytes::from_static(b"x"),
        }],
    );
    assert!(matches!(
        closed_by(&seen),
        Some(CloseReason::Violation(ProtocolViolation::UnrequestedBlock(
            _
        )))
    ));
}

#[test]
fn without_geometry_fetches_the_info_dictionary_from_a_normal_session() {
    use crate::extended::Metadata;
    let now = origin();
    let mut seed_config = config(1, Reserved::ours());
    seed_config.extended.metadata_size = Some(20_000);
    let mut seed = Session::new(seed_config, LocalPieces::All, now);
    let mut magnet = Session::without_geometry(
        Config::for_metadata(Handshake {
            reserved: Reserved::ours(),
            info_hash: HASH,
            peer_id: PeerId([2; 20]),
        }),
        now,
    );
    let step = |a: &mut Session, b: &mut Session| loop {
        let mut to_b = drain(a, now);
        let mut to_a = drain(b, now);
        if to_a.is_empty() && to_b.is_empty() {
            return;
        }
        b.handle_bytes(now, &mut to_b);
        a.handle_bytes(now, &mut to_a);
    };
    step(&mut seed, &mut magnet);
    assert!(magnet.is_open() && seed.is_open());
    assert_eq!(
        magnet.peer_extended().and_then(|e| e.metadata_size),
        Some(20_000)
    );
    let seen = events(&mut seed);
    assert!(
        seen.contains(&Event::PeerPieces(Bitfield::new(10))),
        "{seen:?}"
    );
    let _ = events(&mut magnet);
    magnet
        .send_metadata(&Metadata::Request { piece: 1 })
        .unwrap();
    step(&mut seed, &mut magnet);
    assert!(events(&mut seed).contains(&Event::Metadata(Metadata::Request { piece: 1 })));
    let data = Metadata::Data {
        piece: 1,
        total_size: 20_000,
        data: Bytes::from(vec![7; 20_000 - 16_384]),
    };
    seed.send_metadata(&data).unwrap();
    step(&mut seed, &mut magnet);
    assert_eq!(events(&mut magnet), [Event::Metadata(data)]);
}

#[test]
fn hash_messages_go_both_ways_between_a_magnet_session_and_a_seed() {
    // BEP 52: a session without a geometry asks a seed's session for a piece layer; the seed
    // answers with hashes or a reject; each side sees exactly what the other sent.
    let now = origin();
    let mut seed = Session::new(config(1, Reserved::ours()), LocalPieces::All, now);
    let mut magnet = Session::without_geometry(
        Config::for_metadata(Handshake {
            reserved: Reserved::ours(),
            info_hash: HASH,
            peer_id: PeerId([2; 20]),
        }),
        now,
    );
    let request = HashRequest {
        pieces_root: [7; 32],
        base_layer: 1,
        index: 512,
        length: 512,
        proof_layers: 9,
    };
    // Not before the handshakes.
    assert_eq!(magnet.send_hash_request(request), Err(UsageError::NotOpen));
    let step = |a: &mut Session, b: &mut Session| loop {
        let mut to_b = drain(a, now);
        let mut to_a = drain(b, now);
        if to_a.is_empty() && to_b.is_empty() {
            return;
        }
        b.handle_bytes(now, &mut to_b);
        a.handle_bytes(now, &mut to_a);
    };
    step(&mut seed, &mut magnet);
    let _ = events(&mut seed);
    let _ = events(&mut magnet);
    magnet.send_hash_request(request).unwrap();
    step(&mut seed, &mut magnet);
    assert_eq!(events(&mut seed), [Event::HashRequest(request)]);
    let hashes = Bytes::from(vec![9u8; 32 * 514]);
    // Hashes are 32 bytes each: anything else is a caller bug, not a malformed message.
    assert_eq!(
        seed.send_hashes(request, hashes.slice(1..)),
        Err(UsageError::NotWholeHashes)
    );
    seed.send_hashes(request, hashes.clone()).unwrap();
    seed.send_hash_reject(request).unwrap();
    step(&mut seed, &mut magnet);
    assert_eq!(
        events(&mut magnet),
        [
            Event::Hashes { request, hashes },
            Event::HashReject(request)
        ]
    );
    assert!(magnet.is_open() && seed.is_open());
    seed.close();
    assert_eq!(seed.send_hash_reject(request), Err(UsageError::Closed));
}
