//! The swarm engine driven by operations decoded from the input: peers connect, handshake,
//! send arbitrary messages (as bytes, through the real decoder), are served or dropped; disk
//! results and clock jumps come in between; odd-length inputs drive a super-seeding seed.
//! Never a panic; a piece is verified at most once;
//! at most `max_connections` peers; nothing is sent to a peer after its disconnect.

#![no_main]

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use libfuzzer_sys::fuzz_target;
use peer_wire::{
    Bitfield, BlockRef, Geometry, Handshake, InfoHash, Limits, Message, PeerId, PieceIndex,
    Reserved, Status,
};
use swarm::{Action, Config, Event, PeerKey, Swarm};

fn origin() -> Instant {
    static ORIGIN: OnceLock<Instant> = OnceLock::new();
    *ORIGIN.get_or_init(Instant::now)
}

fuzz_target!(|data: &[u8]| {
    const HASH: InfoHash = InfoHash([3; 20]);
    let geometry = Geometry::new(6 * 32 * 1024 - 1000, 32 * 1024).expect("valid");
    let mut config = Config::new(HASH, PeerId([1; 20]), geometry).with_seed(9);
    config.max_connections = 4;
    // Inputs of odd length start a super-seeding seed instead of an empty leecher.
    let seeding = data.len() % 2 == 1;
    config.super_seed = seeding;
    let have = if seeding {
        Bitfield::full(6)
    } else {
        Bitfield::new(6)
    };
    let mut now = origin();
    let mut s = Swarm::new(config, have, now);
    let mut keys: BTreeMap<u8, PeerKey> = BTreeMap::new();
    let mut gone: BTreeSet<PeerKey> = BTreeSet::new();
    let mut verify: Vec<PieceIndex> = Vec::new();
    let mut verified: BTreeSet<PieceIndex> = s.have().iter().collect();
    let mut reads: Vec<(PeerKey, BlockRef)> = Vec::new();
    let mut rest = data;
    while let Some((&op, tail)) = rest.split_first() {
        rest = tail;
        let peer = op >> 5;
        let addr = SocketAddr::from(([10, 0, 0, peer + 1], 6881));
        match op & 0x1f {
            0..=2 => {
                if let Ok(k) = s.add_peer(now, addr) {
                    keys.insert(peer, k);
                    let h = Handshake {
                        reserved: Reserved::ours(),
                        info_hash: HASH,
                        peer_id: PeerId([peer + 2; 20]),
                    };
                    s.handle_handshake(now, k, h);
                }
            }
            3..=12 => {
                // Raw bytes from the peer, decoded by the real codec: the next (op & 0x1f) bytes.
                let n = usize::from(op & 0x1f).min(rest.len());
                let mut buf = BytesMut::from(&rest[..n]);
                rest = &rest[n..];
                if let Some(&k) = keys.get(&peer) {
                    while let Ok(Status::Complete(m)) =
                        Message::decode(&mut buf, &Limits::default())
                    {
                        s.handle_message(now, k, m);
                    }
                }
            }
            13..=17 => {
                let asked = keys.get(&peer).and_then(|&k| {
                    s.session(k)
                        .and_then(|x| x.requested().first().copied())
                        .map(|b| (k, b))
                });
                if let Some((k, b)) = asked {
                    let data = Bytes::from(vec![7; b.len as usize]);
                    s.handle_message(
                        now,
                        k,
                        Message::Piece {
                            piece: b.piece,
                            offset: b.offset,
                            data,
                        },
                    );
                }
            }
            18 | 19 => {
                if let Some(&k) = keys.get(&peer) {
                    s.handle_message(now, k, Message::HaveAll);
                    s.handle_message(now, k, Message::Unchoke);
                }
            }
            20 => {
                if let Some(k) = keys.remove(&peer) {
                    s.handle_disconnected(now, k);
                    gone.insert(k);
                }
            }
            21 | 22 => {
                if let Some(piece) = verify.pop() {
                    s.handle_verified(now, piece, op & 1 == 0);
                }
            }
            23 | 24 => {
                if let Some((k, b)) = reads.pop() {
                    s.handle_read(now, k, b, Bytes::from(vec![0; b.len as usize]));
                }
            }
            25 => s.handle_peers(
                now,
                (0..3).map(|i| SocketAddr::from(([10, 0, 1, i + peer], 1))),
            ),
            _ => {
                now += Duration::from_secs(u64::from(op & 0x1f) * 7);
                s.handle_timeout(now);
            }
        }
        while let Some(action) = s.poll_action() {
            match action {
                Action::Verify(piece) => {
                    assert!(!verified.contains(&piece), "verify of a verified piece");
                    verify.push(piece);
                }
                Action::Read { peer, block } => {
                    assert!(s.have().has(block.piece), "read of a piece we lack");
                    reads.push((peer, block));
                }
                Action::Disconnect(k) => {
                    keys.retain(|_, v| *v != k);
                    gone.insert(k);
                }
                _ => {}
            }
        }
        while let Some(event) = s.poll_event() {
            if let Event::PieceVerified(p) = event {
                assert!(verified.insert(p), "verified twice");
            }
        }
        while let Some((k, _)) = s.poll_outgoing(now) {
            assert!(!gone.contains(&k), "sent after disconnect");
        }
        assert!(s.num_peers() <= 4);
        assert_eq!(s.have().count() as usize, verified.len());
    }
});
