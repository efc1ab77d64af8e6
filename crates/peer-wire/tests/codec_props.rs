//! Property tests for the wire codec: the handshake and every message after it (BEP 3, 5, 6, 10,
//! 52).
//!
//! Oracles:
//! - our own encoder: `decode(encode(m)) == m` for arbitrary messages of every variant, with
//!   `encoded_len` equal to the bytes written;
//! - decoding the same stream whole and cut into arbitrary chunks (the way a socket delivers it)
//!   gives the same handshake and the same messages;
//! - on arbitrary and near-valid bytes, `decode` never panics, never takes more than it was given,
//!   leaves the buffer alone when it answers `Partial`, and what it takes re-encodes to exactly
//!   the bytes it took (hashes in whole 32-byte units, `Unknown` only for unknown ids);
//! - a length prefix over [`Limits::max_message_len`] is refused from its four bytes alone.
//! - the BEPs' payload lengths per id, written out here, checked for every id and every length
//!   up to 200: accepted exactly when they fit, `WrongLength` otherwise.

use bytes::{Bytes, BytesMut};
use peer_wire::handshake::HANDSHAKE_LEN;
use peer_wire::message::{frame_len, id};
use peer_wire::{
    BlockRef, DecodeError, Handshake, HashRequest, InfoHash, Limits, Message, PeerId, PieceIndex,
    Reserved, Status,
};
use proptest::collection::vec;
use proptest::prelude::*;
use proptest::sample::{Index, select};
use proptest::test_runner::FileFailurePersistence;

/// Every id [`Message::parse`] gives a meaning to; the rest decode as [`Message::Unknown`].
const KNOWN_IDS: [u8; 19] = [
    id::CHOKE,
    id::UNCHOKE,
    id::INTERESTED,
    id::NOT_INTERESTED,
    id::HAVE,
    id::BITFIELD,
    id::REQUEST,
    id::PIECE,
    id::CANCEL,
    id::PORT,
    id::SUGGEST,
    id::HAVE_ALL,
    id::HAVE_NONE,
    id::REJECT,
    id::ALLOWED_FAST,
    id::EXTENDED,
    id::HASH_REQUEST,
    id::HASHES,
    id::HASH_REJECT,
];

/// Payloads of up to `max` arbitrary bytes.
fn payload(max: usize) -> impl Strategy<Value = Bytes> {
    vec(any::<u8>(), 0..=max).prop_map(Bytes::from)
}

fn piece() -> impl Strategy<Value = PieceIndex> {
    any::<u32>().prop_map(PieceIndex)
}

fn block_ref() -> impl Strategy<Value = BlockRef> {
    (piece(), any::<u32>(), any::<u32>()).prop_map(|(piece, offset, len)| BlockRef {
        piece,
        offset,
        len,
    })
}

fn hash_request() -> impl Strategy<Value = HashRequest> {
    (any::<[u8; 32]>(), any::<[u32; 4]>()).prop_map(
        |(pieces_root, [base_layer, index, length, proof_layers])| HashRequest {
            pieces_root,
            base_layer,
            index,
            length,
            proof_layers,
        },
    )
}

/// Ids no known message uses.
fn unknown_id() -> impl Strategy<Value = u8> {
    select(
        (0..=u8::MAX)
            .filter(|i| !KNOWN_IDS.contains(i))
            .collect::<Vec<_>>(),
    )
}

/// Every variant, with arbitrary fields.
fn message() -> impl Strategy<Value = Message> {
    prop_oneof![
        Just(Message::KeepAlive),
        Just(Message::Choke),
        Just(Message::Unchoke),
        Just(Message::Interested),
        Just(Message::NotInterested),
        piece().prop_map(Message::Have),
        payload(64).prop_map(Message::Bitfield),
        block_ref().prop_map(Message::Request),
        (piece(), any::<u32>(), payload(256)).prop_map(|(piece, offset, data)| Message::Piece {
            piece,
            offset,
            data
        }),
        block_ref().prop_map(Message::Cancel),
        any::<u16>().prop_map(Message::Port),
        piece().prop_map(Message::Suggest),
        Just(Message::HaveAll),
        Just(Message::HaveNone),
        block_ref().prop_map(Message::Reject),
        piece().prop_map(Message::AllowedFast),
        (any::<u8>(), payload(64)).prop_map(|(id, payload)| Message::Extended { id, payload }),
        hash_request().prop_map(Message::HashRequest),
        (hash_request(), vec(any::<[u8; 32]>(), 0..4)).prop_map(|(request, hashes)| {
            Message::Hashes {
                request,
                hashes: Bytes::from(hashes.concat()),
            }
        }),
        hash_request().prop_map(Message::HashReject),
        (unknown_id(), payload(64)).prop_map(|(id, payload)| Message::Unknown { id, payload }),
    ]
}

fn handshake() -> impl Strategy<Value = Handshake> {
    (any::<[u8; 8]>(), any::<[u8; 20]>(), any::<[u8; 20]>()).prop_map(
        |(reserved, info_hash, peer_id)| Handshake {
            reserved: Reserved(reserved),
            info_hash: InfoHash(info_hash),
            peer_id: PeerId(peer_id),
        },
    )
}

/// Limits from none at all to none to speak of.
fn limits() -> impl Strategy<Value = Limits> {
    prop_oneof![
        Just(Limits::default()),
        (0u32..300).prop_map(|max_message_len| Limits { max_message_len }),
        Just(Limits {
            max_message_len: u32::MAX
        }),
    ]
}

/// Bytes a decoder may meet: noise; frames of any id, known ones half the time, with any body
/// (so the lengths that do not fit their id are reached) under a prefix that fits it or any
/// small one; and valid messages cut short or with one byte changed.
fn wire_bytes() -> impl Strategy<Value = Vec<u8>> {
    let noise = vec(any::<u8>(), 0..80);
    let id = prop_oneof![select(&KNOWN_IDS[..]), any::<u8>()];
    let frame = (
        id,
        // Short bodies for the fixed-size messages, longer ones around BEP 52's 48-byte header.
        prop_oneof![vec(any::<u8>(), 0..16), vec(any::<u8>(), 44..120)],
        prop_oneof![Just(None), (0u32..120).prop_map(Some)],
    )
        .prop_map(|(id, body, prefix)| {
            // The prefix that fits the body, or any small one.
            let len = prefix.unwrap_or(1 + body.len() as u32);
            let mut out = len.to_be_bytes().to_vec();
            out.push(id);
            out.extend_from_slice(&body);
            out
        });
    let mangled = (
        vec(message(), 1..4),
        any::<Index>(),
        any::<u8>(),
        any::<Index>(),
    )
        .prop_map(|(messages, at, byte, cut)| {
            let mut out = Vec::new();
            for m in &messages {
                m.encode(&mut out);
            }
            let at = at.index(out.len());
            out[at] = byte;
            out.truncate(cut.index(out.len() + 1));
            out
        });
    prop_oneof![1 => noise, 2 => frame, 1 => mangled]
}

fn encode(m: &Message) -> Vec<u8> {
    let mut out = Vec::new();
    m.encode(&mut out);
    out
}

/// What a receiver does: the handshake first, then messages until the bytes run out. Panics on
/// a decode error (the streams given here are valid).
#[derive(Default)]
struct Receiver {
    buf: BytesMut,
    handshake: Option<Handshake>,
    messages: Vec<Message>,
}

impl Receiver {
    fn feed(&mut self, chunk: &[u8]) {
        self.buf.extend_from_slice(chunk);
        if self.handshake.is_none() {
            match Handshake::decode(&self.buf).expect("a valid handshake") {
                Status::Complete((h, n)) => {
                    assert_eq!(n, HANDSHAKE_LEN);
                    let _ = self.buf.split_to(n);
                    self.handshake = Some(h);
                }
                Status::Partial => return,
            }
        }
        loop {
            let before = self.buf.clone();
            match Message::decode(&mut self.buf, &Limits::default()).expect("a valid message") {
                Status::Complete(m) => self.messages.push(m),
                Status::Partial => {
                    assert_eq!(self.buf, before, "a partial decode leaves the buffer alone");
                    return;
                }
            }
        }
    }
}

/// The payload lengths (after the id) each id accepts, as BEP 3, 5, 6, 10 and 52 define them.
fn accepts(id: u8, len: usize) -> bool {
    match id {
        id::CHOKE | id::UNCHOKE | id::INTERESTED | id::NOT_INTERESTED => len == 0,
        id::HAVE_ALL | id::HAVE_NONE => len == 0,
        id::HAVE | id::SUGGEST | id::ALLOWED_FAST => len == 4,
        id::REQUEST | id::CANCEL | id::REJECT => len == 12,
        id::PORT => len == 2,
        id::PIECE => len >= 8,
        // The extended message id, then its payload.
        id::EXTENDED => len >= 1,
        // Pieces root, base layer, index, length, proof layers: 32 + 4 * 4 bytes.
        id::HASH_REQUEST | id::HASH_REJECT => len == 48,
        id::HASHES => len >= 48 && (len - 48).is_multiple_of(32),
        // A bitfield's length is the session's to check; unknown ids are ignored whole.
        _ => true,
    }
}

/// Exhaustive over every id and every payload length up to 200: a well-framed message is
/// accepted exactly when its length fits its id, re-encodes to the bytes it came from, and an
/// unfit one is `WrongLength` naming the id and length.
#[test]
fn every_id_accepts_exactly_the_payload_lengths_its_bep_defines() {
    for message_id in 0..=u8::MAX {
        for len in 0..=200usize {
            let mut bytes = u32::try_from(1 + len).unwrap().to_be_bytes().to_vec();
            bytes.push(message_id);
            bytes.extend((0..len).map(|i| i as u8 ^ message_id));
            let result = Message::decode(&mut BytesMut::from(&bytes[..]), &Limits::default());
            if accepts(message_id, len) {
                let Ok(Status::Complete(m)) = result else {
                    panic!("id {message_id}, {len} bytes: {result:?}");
                };
                assert_eq!(encode(&m), bytes, "id {message_id}, {len} bytes: {m:?}");
                let unknown = matches!(m, Message::Unknown { .. });
                assert_eq!(unknown, !KNOWN_IDS.contains(&message_id), "{m:?}");
            } else {
                assert_eq!(
                    result,
                    Err(DecodeError::WrongLength {
                        id: message_id,
                        len
                    }),
                    "id {message_id}, {len} bytes"
                );
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig {
        // 1024 by default; PROPTEST_CASES=100000 for a long hunt.
        cases: std::env::var("PROPTEST_CASES").ok().and_then(|n| n.parse().ok()).unwrap_or(1024),
        // Integration tests default to a file beside the source; keep the crate's one folder.
        failure_persistence: Some(Box::new(FileFailurePersistence::Direct(
            "proptest-regressions/codec_props.txt",
        ))),
        ..ProptestConfig::default()
    })]

    /// Every message decodes to itself, from exactly the `encoded_len` bytes written; `parse`
    /// agrees on the body; and the limit is inclusive: a frame whose prefix equals
    /// `max_message_len` is accepted, one byte less of limit refuses it.
    #[test]
    fn every_message_round_trips(m in message(), trailing in vec(any::<u8>(), 0..8)) {
        let bytes = encode(&m);
        prop_assert_eq!(bytes.len(), m.encoded_len());
        let mut buf = BytesMut::from(&bytes[..]);
        buf.extend_from_slice(&trailing);
        prop_assert_eq!(
            Message::decode(&mut buf, &Limits::default()),
            Ok(Status::Complete(m.clone()))
        );
        prop_assert_eq!(&buf[..], &trailing[..], "exactly one message taken");
        prop_assert_eq!(Message::parse(Bytes::copy_from_slice(&bytes[4..])), Ok(m.clone()));

        let body = u32::try_from(bytes.len() - 4).unwrap();
        let exact = Limits { max_message_len: body };
        prop_assert_eq!(
            Message::decode(&mut BytesMut::from(&bytes[..]), &exact),
            Ok(Status::Complete(m))
        );
        if let Some(limit) = body.checked_sub(1) {
            let mut buf = BytesMut::from(&bytes[..]);
            prop_assert_eq!(
                Message::decode(&mut buf, &Limits { max_message_len: limit }),
                Err(DecodeError::MessageTooLong { len: body, limit })
            );
            prop_assert_eq!(&buf[..], &bytes[..], "a refused prefix is not taken");
        }
    }

    /// Every handshake decodes to itself from its 68 bytes, whatever follows.
    #[test]
    fn every_handshake_round_trips(h in handshake(), trailing in vec(any::<u8>(), 0..8)) {
        let mut bytes = Vec::new();
        h.encode(&mut bytes);
        prop_assert_eq!(bytes.len(), HANDSHAKE_LEN);
        bytes.extend_from_slice(&trailing);
        prop_assert_eq!(Handshake::decode(&bytes), Ok(Status::Complete((h, HANDSHAKE_LEN))));
    }

    /// A handshake and messages, delivered in arbitrary chunks, decode to what the whole stream
    /// decodes to, which is what was sent; nothing is left over.
    #[test]
    fn chunking_does_not_change_what_is_decoded(
        h in handshake(),
        messages in vec(message(), 0..16),
        cuts in vec(any::<Index>(), 0..24),
    ) {
        let mut stream = Vec::new();
        h.encode(&mut stream);
        for m in &messages {
            m.encode(&mut stream);
        }

        let mut whole = Receiver::default();
        whole.feed(&stream);
        prop_assert_eq!(whole.handshake, Some(h));
        prop_assert_eq!(&whole.messages, &messages);
        prop_assert!(whole.buf.is_empty());

        let mut cuts: Vec<usize> = cuts.iter().map(|c| c.index(stream.len() + 1)).collect();
        cuts.push(0);
        cuts.push(stream.len());
        cuts.sort_unstable();
        let mut chunked = Receiver::default();
        for pair in cuts.windows(2) {
            chunked.feed(&stream[pair[0]..pair[1]]);
        }
        prop_assert_eq!(chunked.handshake, whole.handshake);
        prop_assert_eq!(&chunked.messages, &whole.messages);
        prop_assert!(chunked.buf.is_empty());
    }

    /// On any bytes, decoding message after message never panics and never takes more than it
    /// was given. `Partial` leaves the buffer as it was; `Complete` takes a prefix that the
    /// message re-encodes to byte for byte; an over-limit prefix takes nothing.
    #[test]
    fn decoding_any_bytes_takes_only_what_it_decodes(input in wire_bytes(), limits in limits()) {
        let mut buf = BytesMut::from(&input[..]);
        let mut offset = 0;
        loop {
            let before = buf.len();
            let result = Message::decode(&mut buf, &limits);
            prop_assert!(buf.len() <= before);
            let taken = before - buf.len();
            prop_assert_eq!(&buf[..], &input[offset + taken..], "what is left is the rest");
            match result {
                Ok(Status::Complete(m)) => {
                    prop_assert_eq!(
                        &encode(&m)[..],
                        &input[offset..offset + taken],
                        "{:?} re-encodes to the bytes it came from",
                        m
                    );
                    prop_assert!(m.encoded_len() - 4 <= limits.max_message_len as usize);
                    match &m {
                        Message::Hashes { hashes, .. } => prop_assert!(hashes.len().is_multiple_of(32)),
                        Message::Unknown { id, .. } => prop_assert!(!KNOWN_IDS.contains(id)),
                        _ => {}
                    }
                }
                Ok(Status::Partial) => {
                    prop_assert_eq!(taken, 0);
                    break;
                }
                Err(DecodeError::MessageTooLong { len, limit }) => {
                    prop_assert_eq!(taken, 0);
                    prop_assert_eq!(limit, limits.max_message_len);
                    prop_assert!(len > limit);
                    break;
                }
                Err(_) => {
                    // A malformed frame is either left in place or taken whole, never more.
                    let frame = frame_len(&input[offset..], &limits);
                    prop_assert!(
                        taken == 0 || frame == Ok(Status::Complete(taken)),
                        "took {} bytes of a frame of {:?}",
                        taken,
                        frame
                    );
                    break;
                }
            }
            offset += taken;
        }
    }

    /// A length prefix over the limit is an error from its four bytes alone, however much of
    /// the body has arrived; one at or under the limit waits for its body.
    #[test]
    fn an_over_limit_prefix_is_refused_without_its_body(
        limit in 0u32..1 << 21,
        over in prop_oneof![1u32..4, 1u32..=u32::MAX],
        arrived in vec(any::<u8>(), 0..16),
    ) {
        let len = limit.saturating_add(over);
        let limits = Limits { max_message_len: limit };
        let mut bytes = len.to_be_bytes().to_vec();
        bytes.extend_from_slice(&arrived);
        let mut buf = BytesMut::from(&bytes[..]);
        prop_assert_eq!(
            Message::decode(&mut buf, &limits),
            Err(DecodeError::MessageTooLong { len, limit })
        );
        prop_assert_eq!(&buf[..], &bytes[..]);

        // At the limit, with fewer body bytes than it names: wait.
        if limit > 0 {
            let mut bytes = limit.to_be_bytes().to_vec();
            bytes.extend_from_slice(&arrived[..arrived.len().min(limit as usize - 1)]);
            let mut buf = BytesMut::from(&bytes[..]);
            prop_assert_eq!(Message::decode(&mut buf, &limits), Ok(Status::Partial));
            prop_assert_eq!(&buf[..], &bytes[..]);
        }
    }

    /// On any bytes, the handshake decoder never panics: it finds a handshake only in 68 bytes
    /// that re-encode to themselves, waits only on a prefix of the protocol string, and refuses
    /// anything else.
    #[test]
    fn decoding_any_handshake_bytes_is_exact(
        input in prop_oneof![
            vec(any::<u8>(), 0..80),
            (handshake(), any::<Index>(), any::<u8>(), any::<Index>()).prop_map(
                |(h, at, byte, cut)| {
                    let mut out = Vec::new();
                    h.encode(&mut out);
                    out[at.index(HANDSHAKE_LEN)] = byte;
                    out.truncate(cut.index(HANDSHAKE_LEN + 1));
                    out
                }
            ),
        ],
    ) {
        let header = b"\x13BitTorrent protocol";
        let agrees = input.iter().zip(header).all(|(a, b)| a == b);
        match Handshake::decode(&input) {
            Ok(Status::Complete((h, n))) => {
                prop_assert_eq!(n, HANDSHAKE_LEN);
                let mut out = Vec::new();
                h.encode(&mut out);
                prop_assert_eq!(&out[..], &input[..n]);
            }
            Ok(Status::Partial) => prop_assert!(agrees && input.len() < HANDSHAKE_LEN),
            Err(e) => {
                prop_assert_eq!(e, DecodeError::NotBitTorrent);
                prop_assert!(!agrees);
            }
        }
    }
}
