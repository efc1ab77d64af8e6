//! A session driven by arbitrary bytes from the peer, arbitrary commands and clock jumps: the
//! input is a sequence of operations. Never a panic; `Closed` at most once and nothing sent
//! after it; requests stay inside the torrent and within the limits.

#![no_main]

use std::sync::OnceLock;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use libfuzzer_sys::fuzz_target;
use peer_wire::{
    BlockRef, Config, Event, Geometry, Handshake, InfoHash, LocalPieces, PeerId, PieceIndex,
    Reserved, Session,
};

fn origin() -> Instant {
    static ORIGIN: OnceLock<Instant> = OnceLock::new();
    *ORIGIN.get_or_init(Instant::now)
}

fuzz_target!(|data: &[u8]| {
    let geometry = Geometry::new(9 * 32 * 1024 + 1000, 32 * 1024).expect("valid geometry");
    let info_hash = InfoHash([7; 20]);
    let mut config = Config::new(
        Handshake {
            reserved: Reserved::ours(),
            info_hash,
            peer_id: PeerId([1; 20]),
        },
        geometry,
    );
    config.max_peer_requests = 8;
    config.peer_ip = Some([10, 0, 0, 1].into());
    let mut now = origin();
    let mut s = Session::new(config, LocalPieces::None, now);
    // The peer's handshake first (its reserved bits from the input), so that the fuzzer
    // spends its time on messages.
    let Some((&bits, mut rest)) = data.split_first() else {
        return;
    };
    let mut hs = BytesMut::new();
    Handshake {
        reserved: peer_wire::Reserved([0, 0, 0, 0, 0, bits & 0x10, 0, bits & 0x05]),
        info_hash,
        peer_id: PeerId([2; 20]),
    }
    .encode(&mut hs);
    s.handle_bytes(now, &mut hs);
    let mut buf = BytesMut::new();
    let mut asked: Vec<BlockRef> = Vec::new();
    let mut closed = 0;
    while let Some((&op, tail)) = rest.split_first() {
        rest = tail;
        let was_closed = s.is_closed();
        match op % 8 {
            // Bytes from the peer: the next (op / 8) bytes.
            0 | 1 | 2 => {
                let n = usize::from(op / 8).min(rest.len());
                buf.extend_from_slice(&rest[..n]);
                rest = &rest[n..];
                s.handle_bytes(now, &mut buf);
            }
            3 => {
                let piece = u32::from(op / 8) % 11;
                let _ = s.request(BlockRef {
                    piece: PieceIndex(piece),
                    offset: 0,
                    len: 16384,
                });
            }
            4 => {
                if let Some(b) = asked.pop() {
                    let _ = s.send_block(b, Bytes::from(vec![0; b.len as usize]));
                }
            }
            5 => {
                let _ = match op / 8 % 4 {
                    0 => s.choke(),
                    1 => s.unchoke(),
                    2 => s.set_interested(true),
                    _ => s.have(PieceIndex(u32::from(op / 32))),
                };
            }
            6 => {
                now += Duration::from_secs(u64::from(op / 8) * 4);
                if s.poll_timeout().is_some_and(|t| t <= now) {
                    s.handle_timeout(now);
                }
            }
            _ => {
                if let Some(&b) = s.requested().first() {
                    s.cancel(b)
                        .expect("an outstanding request can be cancelled");
                }
            }
        }
        let mut sent = 0;
        while let Some(chunk) = s.poll_transmit(now) {
            sent += chunk.len();
        }
        assert!(!was_closed || sent == 0, "sent after closing");
        while let Some(e) = s.poll_event() {
            match e {
                Event::Closed(_) => closed += 1,
                Event::Request(b) => asked.push(b),
                _ => {}
            }
        }
        assert!(closed <= 1, "closed twice");
        assert!(s.requested().iter().all(|b| geometry.contains(b)));
        assert!(s.peer_requests().len() <= 8);
    }
});
