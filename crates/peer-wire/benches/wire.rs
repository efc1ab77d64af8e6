//! The peer wire codec against rqbit's (`librqbit-peer-protocol` from crates.io), side by side in
//! the same run, on the same bytes.
//!
//! - `decode_mix` / `encode_mix` (messages/s): a deterministic mix of 10,000 small messages as a
//!   real connection carries them: mostly `have` and `request`, some `cancel`, a few
//!   `choke`/`unchoke`/`interested`/`not interested` and keep-alives, and the occasional `ut_pex`
//!   extended message. No fast-extension (BEP 6) or `port` message: rqbit's crate refuses those
//!   ids, so the mix holds only what both sides can decode.
//! - `decode_pieces` / `encode_pieces` (bytes/s): a stream of 1024 `piece` messages of 16 KiB
//!   blocks (16 MiB).
//!
//! What is timed, per side:
//!
//! - Decoding. Each side first gets the stream into its own receive buffer, as a socket read
//!   would put it there: ours into a reused `BytesMut` (`reserve` takes back the storage that the
//!   previous round's frames released, then `extend_from_slice`), rqbit's into a reused `Vec<u8>`
//!   (its ring buffer in `librqbit`'s `ReadBuf`). That copy is outside the timing for both. Timed:
//!   taking every message off the buffer and reading all its fields, as a session would (folded
//!   into a checksum that goes to `black_box`), then dropping it.
//!   Ours: `Message::decode` (each frame is split off the buffer; a block or an extended payload
//!   is a `Bytes` sharing the buffer's memory). rqbit: `Message::deserialize(rest, &[])`, which
//!   borrows from the buffer, then advancing by the length it returns, as `ReadBuf::read_message`
//!   does. Neither copies a block. But rqbit's block is only lent until the next message, while
//!   ours is an owned `Bytes` (two atomic reference-count updates per frame): `rqbit_owned`
//!   adds the copy that keeping a lent block takes (into an owned `Bytes`), as handing it to
//!   a disk-writing thread does, which ours does not need.
//! - Encoding the mix: every message into one reused buffer. Ours: `Message::encode` into a
//!   `Vec<u8>` cleared each round. rqbit: `Message::serialize` into the next bytes of a reused,
//!   large enough `[u8]` (rqbit serializes into a fixed buffer).
//! - Encoding pieces. Ours (`ours`): `encode_piece_header` into a 13-byte array and the pair of
//!   slices (header, block) that a vectored write takes; the block is not touched. rqbit:
//!   `Message::Piece(..).serialize` into its `MAX_MSG_LEN` write buffer, which copies the block
//!   (librqbit's upload path, `serialize_piece_preamble` and then reading the block from disk
//!   into the same buffer, copies it as well). `ours_copy` is our `Message::encode` of the same
//!   pieces into a `Vec`, which copies too: the like-for-like codec comparison.
//!
//! Not equal work, and rare in the mix (2 in 1000 messages): an extended message is an id and an
//! opaque payload to our codec (its bencode is parsed later, by the extension that owns it),
//! while rqbit's codec parses (and, to encode, writes) the `ut_pex` bencode itself.
//!
//! Before timing anything, both sides' outputs are checked against each other: our encoding and
//! rqbit's are the same bytes, both decoders give the same fields, and our blocks point into the
//! receive buffer.

use std::hint::black_box;
use std::io::IoSlice;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use criterion::measurement::{Measurement, WallTime};
use criterion::{Criterion, SamplingMode, Throughput, criterion_group, criterion_main};
use librqbit_peer_protocol as rq;
use librqbit_peer_protocol::extended::ExtendedMessage;
use librqbit_peer_protocol::extended::PeerExtendedMessageIds;
use librqbit_peer_protocol::extended::ut_pex::UtPex;
use peer_wire::message::encode_piece_header;
use peer_wire::{BlockRef, Limits, Message, PieceIndex, Status};

/// Messages in the mix.
const MIX_LEN: usize = 10_000;
/// Piece messages in the piece stream.
const PIECES: usize = 1024;
/// Block size.
const BLOCK: u32 = 16 * 1024;
/// Piece size the requests and pieces walk through (64 blocks).
const PIECE_LEN: u32 = 1 << 20;

/// One message of the mix, before either crate's type.
#[derive(Clone, Copy, Debug)]
enum Spec {
    KeepAlive,
    Choke,
    Unchoke,
    Interested,
    NotInterested,
    Have(u32),
    Request(u32, u32, u32),
    Cancel(u32, u32, u32),
    Pex,
}

/// xorshift64*: the same seed gives the same mix on every run.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: u64) -> u32 {
        u32::try_from(self.next() % n).expect("small")
    }
}

/// The mix, per 1000 messages: have 460, request 400, cancel 60, keep-alive 33, interested 15,
/// choke, unchoke and not interested 10 each, `ut_pex` 2. Requests walk a piece block by block
/// (as a downloader pipelines them) and move to a random piece at its end; a cancel names a
/// block requested a little earlier; haves name random pieces of a 20,000-piece torrent.
fn mix() -> Vec<Spec> {
    let mut rng = Rng(0x5eed_0000_00c0_ffee);
    let (mut piece, mut offset) = (rng.below(20_000), 0);
    let mut recent = Vec::new();
    (0..MIX_LEN)
        .map(|_| match rng.below(1000) {
            0..460 => Spec::Have(rng.below(20_000)),
            860..920 if !recent.is_empty() => {
                let (p, o, l) = recent[rng.below(recent.len() as u64) as usize];
                Spec::Cancel(p, o, l)
            }
            // Also a cancel before any request: a request then.
            460..920 => {
                let r = (piece, offset, BLOCK);
                offset += BLOCK;
                if offset == PIECE_LEN {
                    (piece, offset) = (rng.below(20_000), 0);
                }
                recent.push(r);
                if recent.len() > 16 {
                    recent.remove(0);
                }
                Spec::Request(r.0, r.1, r.2)
            }
            920..953 => Spec::KeepAlive,
            953..968 => Spec::Interested,
            968..978 => Spec::Choke,
            978..988 => Spec::Unchoke,
            988..998 => Spec::NotInterested,
            _ => Spec::Pex,
        })
        .collect()
}

/// The payload (after the extended id) of a `ut_pex` message as rqbit writes it: three peers
/// added, one dropped.
fn pex_payload() -> Bytes {
    let peer = |c, port| SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::new(10, 0, 0, c), port));
    let pex = UtPex::from_addrs(
        [peer(1, 6881), peer(2, 51413), peer(3, 6889)].into_iter(),
        [peer(4, 6881)].into_iter(),
    );
    let mut frame = [0; 256];
    let len = rq::Message::Extended(ExtendedMessage::UtPex(pex.as_borrowed()))
        .serialize(&mut frame, &PeerExtendedMessageIds::my)
        .expect("fits");
    assert_eq!(frame[4..6], [20, rq::MY_EXTENDED_UT_PEX]);
    Bytes::copy_from_slice(&frame[6..len])
}

fn block(piece: u32, offset: u32, len: u32) -> BlockRef {
    BlockRef {
        piece: PieceIndex(piece),
        offset,
        len,
    }
}

fn ours(spec: &[Spec], pex: &Bytes) -> Vec<Message> {
    spec.iter()
        .map(|s| match *s {
            Spec::KeepAlive => Message::KeepAlive,
            Spec::Choke => Message::Choke,
            Spec::Unchoke => Message::Unchoke,
            Spec::Interested => Message::Interested,
            Spec::NotInterested => Message::NotInterested,
            Spec::Have(p) => Message::Have(PieceIndex(p)),
            Spec::Request(p, o, l) => Message::Request(block(p, o, l)),
            Spec::Cancel(p, o, l) => Message::Cancel(block(p, o, l)),
            Spec::Pex => Message::Extended {
                id: rq::MY_EXTENDED_UT_PEX,
                payload: pex.clone(),
            },
        })
        .collect()
}

/// rqbit's messages, decoded by rqbit from `stream` (they borrow it, as in rqbit itself).
fn theirs(stream: &[u8]) -> Vec<rq::Message<'_>> {
    let mut out = Vec::new();
    let mut rest = stream;
    while !rest.is_empty() {
        let (m, len) = rq::Message::deserialize(rest, &[]).expect("rqbit decodes the stream");
        out.push(m);
        rest = &rest[len..];
    }
    out
}

fn rq_matches(m: &rq::Message<'_>, s: Spec) -> bool {
    match (m, s) {
        (rq::Message::KeepAlive, Spec::KeepAlive)
        | (rq::Message::Choke, Spec::Choke)
        | (rq::Message::Unchoke, Spec::Unchoke)
        | (rq::Message::Interested, Spec::Interested)
        | (rq::Message::NotInterested, Spec::NotInterested) => true,
        (rq::Message::Have(a), Spec::Have(b)) => *a == b,
        (rq::Message::Request(r), Spec::Request(p, o, l))
        | (rq::Message::Cancel(r), Spec::Cancel(p, o, l)) => {
            (r.index, r.begin, r.length) == (p, o, l)
        }
        (rq::Message::Extended(ExtendedMessage::UtPex(x)), Spec::Pex) => {
            x.added_peers().count() == 3 && x.dropped_peers().count() == 1
        }
        _ => false,
    }
}

/// Runs `iters` rounds of `prepare` (not timed) then `run` (timed, with criterion's own clock) on
/// `state`, and returns the time spent in `run`.
fn timed<S>(
    iters: u64,
    state: &mut S,
    mut prepare: impl FnMut(&mut S),
    mut run: impl FnMut(&mut S),
) -> Duration {
    let mut total = Duration::ZERO;
    for _ in 0..iters {
        prepare(state);
        let start = WallTime.start();
        run(state);
        total += WallTime.end(start);
    }
    total
}

/// The socket read into our receive buffer: `reserve` takes back the storage once every frame
/// split off in the previous round is dropped, so this is one `memcpy`, no allocation.
fn refill_ours(rx: &mut BytesMut, stream: &[u8]) {
    rx.reserve(stream.len());
    rx.extend_from_slice(stream);
}

/// The socket read into rqbit's receive buffer.
fn refill_rqbit(rx: &mut Vec<u8>, stream: &[u8]) {
    rx.clear();
    rx.extend_from_slice(stream);
}

/// What a session does with a decoded message: reads every field (here into a checksum, which
/// goes to `black_box`).
fn fields_ours(m: &Message) -> u64 {
    let bytes = |b: &Bytes| b.as_ptr().addr() as u64 ^ b.len() as u64;
    let block =
        |b: &BlockRef| u64::from(b.piece.0) ^ u64::from(b.offset) << 20 ^ u64::from(b.len) << 40;
    match m {
        Message::KeepAlive => 1,
        Message::Choke => 2,
        Message::Unchoke => 3,
        Message::Interested => 4,
        Message::NotInterested => 5,
        Message::Have(p) => u64::from(p.0),
        Message::Request(b) => block(b),
        Message::Cancel(b) => !block(b),
        Message::Piece {
            piece,
            offset,
            data,
        } => u64::from(piece.0) ^ u64::from(*offset) << 20 ^ bytes(data),
        Message::Extended { id, payload } => u64::from(*id) ^ bytes(payload),
        _ => unreachable!("not in the benchmark's streams"),
    }
}

/// [`fields_ours`] for rqbit's messages. A `ut_pex` message is parsed already (see the header);
/// it goes to `black_box` whole.
fn fields_rqbit(m: &rq::Message<'_>) -> u64 {
    let bytes = |b: &[u8]| b.as_ptr().addr() as u64 ^ b.len() as u64;
    let block =
        |r: &rq::Request| u64::from(r.index) ^ u64::from(r.begin) << 20 ^ u64::from(r.length) << 40;
    match m {
        rq::Message::KeepAlive => 1,
        rq::Message::Choke => 2,
        rq::Message::Unchoke => 3,
        rq::Message::Interested => 4,
        rq::Message::NotInterested => 5,
        rq::Message::Have(p) => u64::from(*p),
        rq::Message::Request(r) => block(r),
        rq::Message::Cancel(r) => !block(r),
        rq::Message::Piece(p) => {
            let (first, second) = p.data();
            u64::from(p.index) ^ u64::from(p.begin) << 20 ^ bytes(first) ^ bytes(second)
        }
        rq::Message::Extended(e) => {
            black_box(e);
            u64::from(rq::MY_EXTENDED_UT_PEX)
        }
        rq::Message::Bitfield(_) => unreachable!("not in the benchmark's streams"),
    }
}

/// Takes every message off `rx` and hands it to the consumer, as a connection's read loop does.
fn decode_ours(rx: &mut BytesMut, limits: &Limits) -> usize {
    let mut n = 0;
    let mut sum = 0u64;
    while let Status::Complete(m) = Message::decode(rx, limits).expect("valid stream") {
        sum = sum.wrapping_add(fields_ours(&m));
        n += 1;
    }
    black_box(sum);
    n
}

/// rqbit's `ReadBuf::read_message` loop over a contiguous buffer: deserialize, advance by the
/// returned length, stop at "not enough data".
fn decode_rqbit(rx: &[u8]) -> usize {
    decode_rqbit_with(rx, |_| {})
}

/// rqbit's decoder lends each block until the next message; a block that must outlive that
/// (handed to a disk-writing thread, as ours is) has to be copied out.
fn decode_rqbit_owned(rx: &[u8]) -> usize {
    decode_rqbit_with(rx, |m| {
        if let rq::Message::Piece(p) = m {
            // The block may wrap around rqbit's ring buffer: two slices.
            let (first, second) = p.data();
            let mut block = Vec::with_capacity(first.len() + second.len());
            block.extend_from_slice(first);
            block.extend_from_slice(second);
            black_box(Bytes::from(block));
        }
    })
}

fn decode_rqbit_with(rx: &[u8], mut keep: impl FnMut(&rq::Message<'_>)) -> usize {
    let mut n = 0;
    let mut sum = 0u64;
    let mut at = 0;
    loop {
        match rq::Message::deserialize(&rx[at..], &[]) {
            Ok((m, len)) => {
                sum = sum.wrapping_add(fields_rqbit(&m));
                keep(&m);
                at += len;
                n += 1;
            }
            Err(rq::MessageDeserializeError::NotEnoughData(..)) => break,
            Err(e) => panic!("valid stream: {e}"),
        }
    }
    black_box(sum);
    n
}

/// The mix in our types, and its bytes.
struct Mix {
    messages: Vec<Message>,
    stream: Vec<u8>,
}

fn mix_fixture() -> Mix {
    let spec = mix();
    let messages = ours(&spec, &pex_payload());
    let mut stream = Vec::new();
    for m in &messages {
        m.encode(&mut stream);
    }

    let mut rx = BytesMut::new();
    refill_ours(&mut rx, &stream);
    for m in &messages {
        assert_eq!(
            Message::decode(&mut rx, &Limits::default()),
            Ok(Status::Complete(m.clone()))
        );
    }
    assert!(rx.is_empty());
    let theirs = theirs(&stream);
    assert_eq!(theirs.len(), spec.len());
    for (m, s) in theirs.iter().zip(&spec) {
        assert!(rq_matches(m, *s), "{m:?} is not {s:?}");
    }
    let mut again = vec![0; stream.len()];
    let mut at = 0;
    for m in &theirs {
        at += m
            .serialize(&mut again[at..], &PeerExtendedMessageIds::my)
            .expect("fits");
    }
    assert_eq!(again[..at], stream[..], "rqbit writes the same bytes");
    Mix { messages, stream }
}

fn check_receive_buffer_reused(stream: &[u8]) {
    let mut rx = BytesMut::new();
    refill_ours(&mut rx, stream);
    let storage = rx.as_ptr();
    decode_ours(&mut rx, &Limits::default());
    refill_ours(&mut rx, stream);
    assert_eq!(rx.as_ptr(), storage, "the refill reuses the receive buffer");
}

fn decode_mix(c: &mut Criterion) {
    let Mix { messages, stream } = mix_fixture();
    check_receive_buffer_reused(&stream);
    let mut g = c.benchmark_group("decode_mix");
    g.throughput(Throughput::Elements(messages.len() as u64));
    let limits = Limits::default();
    let mut rx = BytesMut::new();
    g.bench_function("ours", |b| {
        b.iter_custom(|iters| {
            timed(
                iters,
                &mut rx,
                |rx| refill_ours(rx, &stream),
                |rx| assert_eq!(decode_ours(rx, &limits), MIX_LEN),
            )
        });
    });
    let mut rx = Vec::new();
    g.bench_function("rqbit", |b| {
        b.iter_custom(|iters| {
            timed(
                iters,
                &mut rx,
                |rx| refill_rqbit(rx, &stream),
                |rx| assert_eq!(decode_rqbit(rx), MIX_LEN),
            )
        });
    });
    g.finish();
}

fn encode_mix(c: &mut Criterion) {
    let Mix { messages, stream } = mix_fixture();
    let theirs = theirs(&stream);
    let mut g = c.benchmark_group("encode_mix");
    g.throughput(Throughput::Elements(messages.len() as u64));
    let mut out = Vec::with_capacity(stream.len());
    g.bench_function("ours", |b| {
        b.iter(|| {
            out.clear();
            for m in black_box(&messages) {
                m.encode(&mut out);
            }
            black_box(&out[..]);
        });
    });
    let mut out = vec![0; stream.len()];
    g.bench_function("rqbit", |b| {
        b.iter(|| {
            let mut at = 0;
            for m in black_box(&theirs) {
                at += m
                    .serialize(&mut out[at..], &PeerExtendedMessageIds::my)
                    .expect("fits");
            }
            black_box(&out[..at]);
        });
    });
    g.finish();
}

/// 1024 blocks of 16 KiB (piece, offset, block), walking 1 MiB pieces, and their stream of
/// piece messages.
struct Pieces {
    blocks: Vec<(u32, u32, Bytes)>,
    stream: Vec<u8>,
}

fn pieces_fixture() -> Pieces {
    let mut rng = Rng(0x5eed_0000_b10c_0001);
    let data: Vec<u8> = (0..PIECES * BLOCK as usize / 8)
        .flat_map(|_| rng.next().to_le_bytes())
        .collect();
    let data = Bytes::from(data);
    let per_piece = (PIECE_LEN / BLOCK) as usize;
    let blocks: Vec<_> = (0..PIECES)
        .map(|i| {
            let piece = 1000 + u32::try_from(i / per_piece).expect("small");
            let offset = u32::try_from(i % per_piece).expect("small") * BLOCK;
            let at = i * BLOCK as usize;
            (piece, offset, data.slice(at..at + BLOCK as usize))
        })
        .collect();
    let mut stream = Vec::new();
    for (piece, offset, data) in &blocks {
        encode_piece_header(PieceIndex(*piece), *offset, BLOCK, &mut stream);
        stream.extend_from_slice(data);
    }

    let mut rx = BytesMut::new();
    refill_ours(&mut rx, &stream);
    let base = rx.as_ptr() as usize;
    let mut write_buf = vec![0; rq::MAX_MSG_LEN];
    for (i, (piece, offset, block)) in blocks.iter().enumerate() {
        let frame = i * (13 + BLOCK as usize);
        let Ok(Status::Complete(Message::Piece {
            piece: p,
            offset: o,
            data,
        })) = Message::decode(&mut rx, &Limits::default())
        else {
            panic!("a piece");
        };
        assert_eq!((p.0, o, &data), (*piece, *offset, block));
        assert_eq!(
            data.as_ptr() as usize,
            base + frame + 13,
            "our block is not copied"
        );

        let (rq::Message::Piece(their), len) =
            rq::Message::deserialize(&stream[frame..], &[]).expect("rqbit decodes the stream")
        else {
            panic!("a piece");
        };
        assert_eq!(
            (their.index, their.begin, their.data()),
            (*piece, *offset, (&block[..], &[][..]))
        );
        assert_eq!(
            their.data().0.as_ptr(),
            stream[frame + 13..].as_ptr(),
            "rqbit's block is not copied"
        );
        let written = rq::Message::Piece(rq::Piece::from_data(*piece, *offset, block))
            .serialize(&mut write_buf, &PeerExtendedMessageIds::default)
            .expect("fits");
        assert_eq!(len, written);
        assert_eq!(
            write_buf[..written],
            stream[frame..frame + len],
            "rqbit writes the same bytes"
        );
    }
    assert!(rx.is_empty());
    Pieces { blocks, stream }
}

fn decode_pieces(c: &mut Criterion) {
    let Pieces { stream, .. } = pieces_fixture();
    check_receive_buffer_reused(&stream);
    let mut g = c.benchmark_group("decode_pieces");
    g.throughput(Throughput::Bytes(stream.len() as u64))
        .sampling_mode(SamplingMode::Flat);
    let limits = Limits::default();
    let mut rx = BytesMut::new();
    g.bench_function("ours", |b| {
        b.iter_custom(|iters| {
            timed(
                iters,
                &mut rx,
                |rx| refill_ours(rx, &stream),
                |rx| assert_eq!(decode_ours(rx, &limits), PIECES),
            )
        });
    });
    let mut rx = Vec::new();
    g.bench_function("rqbit", |b| {
        b.iter_custom(|iters| {
            timed(
                iters,
                &mut rx,
                |rx| refill_rqbit(rx, &stream),
                |rx| assert_eq!(decode_rqbit(rx), PIECES),
            )
        });
    });
    g.bench_function("rqbit_owned", |b| {
        b.iter_custom(|iters| {
            timed(
                iters,
                &mut rx,
                |rx| refill_rqbit(rx, &stream),
                |rx| assert_eq!(decode_rqbit_owned(rx), PIECES),
            )
        });
    });
    g.finish();
}

fn encode_pieces(c: &mut Criterion) {
    let Pieces { blocks, stream } = pieces_fixture();
    let mut g = c.benchmark_group("encode_pieces");
    g.throughput(Throughput::Bytes(stream.len() as u64))
        .sampling_mode(SamplingMode::Flat);
    g.bench_function("ours", |b| {
        b.iter(|| {
            for (piece, offset, data) in black_box(&blocks) {
                let mut header = [0; 13];
                encode_piece_header(PieceIndex(*piece), *offset, BLOCK, &mut &mut header[..]);
                black_box([IoSlice::new(&header), IoSlice::new(data)]);
            }
        });
    });
    let mut out = Vec::with_capacity(13 + BLOCK as usize);
    g.bench_function("ours_copy", |b| {
        b.iter(|| {
            for (piece, offset, data) in black_box(&blocks) {
                out.clear();
                Message::Piece {
                    piece: PieceIndex(*piece),
                    offset: *offset,
                    data: data.clone(),
                }
                .encode(&mut out);
                black_box(&out[..]);
            }
        });
    });
    let mut write_buf = vec![0; rq::MAX_MSG_LEN];
    g.bench_function("rqbit", |b| {
        b.iter(|| {
            for (piece, offset, data) in black_box(&blocks) {
                let len = rq::Message::Piece(rq::Piece::from_data(*piece, *offset, data))
                    .serialize(&mut write_buf, &PeerExtendedMessageIds::default)
                    .expect("fits");
                black_box(&write_buf[..len]);
            }
        });
    });
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    targets = decode_mix, encode_mix, decode_pieces, encode_pieces
}
criterion_main!(benches);
