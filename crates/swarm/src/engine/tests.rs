//! Swarms joined in memory: messages go straight from one engine to another, storage is a
//! byte vector per node, verification is a real SHA-1 against the torrent's hashes, and time
//! jumps to the next deadline when nothing else is pending.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::Bytes;
use peer_wire::{Bitfield, Geometry, InfoHash, Outgoing, PeerId};

use super::*;

const PIECE: u64 = 32 * 1024;

#[expect(clippy::disallowed_methods, reason = "an origin for a virtual clock")]
fn origin() -> Instant {
    Instant::now()
}

fn content(len: usize) -> Vec<u8> {
    let mut x = 0x1234_5678_u64;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

struct Node {
    swarm: Swarm,
    addr: SocketAddr,
    storage: Vec<u8>,
    /// Corrupt every block this node serves.
    liar: bool,
}

struct Net {
    nodes: Vec<Node>,
    /// (node, its key for the link) -> (other node, the other's key).
    links: BTreeMap<(usize, PeerKey), (usize, PeerKey)>,
    hashes: Vec<[u8; 20]>,
    geometry: Geometry,
    now: Instant,
    /// What the web seed serves (every node's web seed 0), if there is one.
    web_seed: Option<Vec<u8>>,
}

impl Net {
    fn new(len: usize, seeds: usize, leechers: usize) -> Self {
        let data = content(len);
        let geometry = Geometry::new(len as u64, PIECE).unwrap();
        let hashes = data
            .chunks(PIECE as usize)
            .map(torrent_format::hash::sha1)
            .collect();
        let now = origin();
        let nodes = (0..seeds + leechers)
            .map(|i| {
                let seed = i < seeds;
                let mut id = [b'-'; 20];
                id[..4].copy_from_slice(&(i as u32).to_be_bytes());
                let config =
                    Config::new(InfoHash([9; 20]), PeerId(id), geometry).with_seed(i as u64);
                let have = if seed {
                    Bitfield::full(geometry.num_pieces)
                } else {
                    Bitfield::new(geometry.num_pieces)
                };
                Node {
                    swarm: Swarm::new(config, have, now),
                    addr: SocketAddr::from(([10, 0, (i / 250) as u8, (i % 250) as u8 + 1], 6881)),
                    storage: if seed { data.clone() } else { vec![0; len] },
                    liar: false,
                }
            })
            .collect();
        Self {
            nodes,
            links: BTreeMap::new(),
            hashes,
            geometry,
            now,
            web_seed: None,
        }
    }

    /// Everyone learns everyone's address (a tracker would).
    fn introduce(&mut self) {
        let addrs: Vec<SocketAddr> = self.nodes.iter().map(|n| n.addr).collect();
        for (i, n) in self.nodes.iter_mut().enumerate() {
            let others: Vec<_> = addrs
                .iter()
                .enumerate()
                .filter(|&(j, _)| j != i)
                .map(|(_, &a)| a)
                .collect();
            n.swarm.handle_peers(self.now, others);
        }
    }

    /// Moves messages and carries out actions until nothing is left to do now.
    fn settle(&mut self) -> bool {
        let mut any = false;
        loop {
            let mut progress = false;
            for i in 0..self.nodes.len() {
                while let Some(action) = self.nodes[i].swarm.poll_action() {
                    progress = true;
                    self.act(i, action);
                }
                while let Some((key, out)) = self.nodes[i].swarm.poll_outgoing(self.now) {
                    progress = true;
                    let Some(&(j, their_key)) = self.links.get(&(i, key)) else {
                        continue;
                    };
                    let now = self.now;
                    let to = &mut self.nodes[j].swarm;
                    match out {
                        Outgoing::Handshake(h) => to.handle_handshake(now, their_key, h),
                        Outgoing::Message(m) => to.handle_message(now, their_key, m),
                    }
                }
            }
            if !progress {
                return any;
            }
            any = true;
        }
    }

    fn act(&mut self, i: usize, action: Action) {
        let now = self.now;
        match action {
            Action::Connect(addr) => {
                let Some(j) = self.nodes.iter().position(|n| n.addr == addr) else {
                    self.nodes[i].swarm.handle_connect_failed(now, addr);
                    return;
                };
                let from = self.nodes[i].addr;
                match (
                    self.nodes[i].swarm.add_peer(now, addr),
                    self.nodes[j].swarm.add_peer(now, from),
                ) {
                    (Ok(a), Ok(b)) => {
                        self.links.insert((i, a), (j, b));
                        self.links.insert((j, b), (i, a));
                    }
                    (Ok(a), Err(_)) => self.nodes[i].swarm.handle_disconnected(now, a),
                    (Err(_), Ok(b)) => self.nodes[j].swarm.handle_disconnected(now, b),
                    (Err(_), Err(_)) => {}
                }
            }
            Action::Disconnect(key) => {
                if let Some((j, their)) = self.links.remove(&(i, key)) {
                    self.links.remove(&(j, their));
                    self.nodes[j].swarm.handle_disconnected(now, their);
                }
            }
            Action::Write {
                piece,
                offset,
                data,
            } => {
                let at = (u64::from(piece.0) * PIECE) as usize + offset as usize;
                self.nodes[i].storage[at..at + data.len()].copy_from_slice(&data);
            }
            Action::Verify(piece) => {
                let start = (u64::from(piece.0) * PIECE) as usize;
                let len = self.geometry.piece_size(piece).unwrap() as usize;
                let ok = torrent_format::hash::sha1(&self.nodes[i].storage[start..start + len])
                    == self.hashes[piece.0 as usize];
                self.nodes[i].swarm.handle_verified(now, piece, ok);
            }
            Action::Read { peer, block } => {
                let at = (u64::from(block.piece.0) * PIECE) as usize + block.offset as usize;
                let mut data = self.nodes[i].storage[at..at + block.len as usize].to_vec();
                if self.nodes[i].liar {
                    data.iter_mut().for_each(|b| *b ^= 0xff);
                }
                self.nodes[i]
                    .swarm
                    .handle_read(now, peer, block, Bytes::from(data));
            }
            Action::Announce(_) => {}
            Action::WebSeedRequest { seed, blocks } => {
                let Some(served) = &self.web_seed else {
                    self.nodes[i]
                        .swarm
                        .handle_web_seed_failed(now, seed, &blocks, true);
                    return;
                };
                let data = blocks
                    .iter()
                    .map(|b| {
                        let at = (u64::from(b.piece.0) * PIECE) as usize + b.offset as usize;
                        (*b, Bytes::copy_from_slice(&served[at..at + b.len as usize]))
                    })
                    .collect();
                self.nodes[i]
                    .swarm
                    .handle_web_seed_data(now, seed, data, true);
            }
            Action::DigestBlocks { piece, blocks } => {
                let digests: Vec<_> = blocks
                    .into_iter()
                    .map(|b| {
                        let at = (u64::from(b.piece.0) * PIECE) as usize + b.offset as usize;
                        let data = &self.nodes[i].storage[at..at + b.len as usize];
                        (b, torrent_format::hash::sha1(data))
                    })
                    .collect();
                self.nodes[i]
                    .swarm
                    .handle_block_digests(now, piece, &digests);
            }
        }
    }

    /// Runs until `done` or `limit` of virtual time, jumping to each next deadline.
    fn run(&mut self, limit: Duration, done: impl Fn(&Self) -> bool) -> Duration {
        let start = self.now;
        while !done(self) && self.now - start < limit {
            if self.settle() {
                continue;
            }
            let next = self
                .nodes
                .iter()
                .filter_map(|n| n.swarm.poll_timeout())
                .min()
                .unwrap();
            self.now = self.now.max(next);
            let now = self.now;
            for n in &mut self.nodes {
                if n.swarm.poll_timeout().is_some_and(|t| t <= now) {
                    n.swarm.handle_timeout(now);
                }
            }
        }
        self.now - start
    }

    fn all_finished(&self) -> bool {
        self.nodes.iter().all(|n| n.swarm.is_finished())
    }
}

#[test]
fn one_seed_and_three_leechers_all_complete_with_verified_data() {
    let len = 20 * PIECE as usize + 1234;
    let mut net = Net::new(len, 1, 3);
    net.introduce();
    let took = net.run(Duration::from_secs(600), Net::all_finished);
    assert!(net.all_finished(), "finished after {took:?}");
    let data = content(len);
    for n in &net.nodes {
        assert_eq!(n.storage, data);
        assert!(n.swarm.have().is_full());
    }
    // Leechers traded with each other, not only with the seed.
    let from_seed = net.nodes[0].swarm.transferred().0;
    let total: u64 = net.nodes[1..].iter().map(|n| n.swarm.transferred().1).sum();
    assert_eq!(
        total,
        3 * len as u64,
        "every byte downloaded once (no endgame duplicates here)"
    );
    assert!(
        from_seed < total,
        "peers served some of it: seed sent {from_seed} of {total}"
    );
}

#[test]
fn a_peer_that_sends_bad_data_is_banned_and_the_download_still_completes() {
    let len = 8 * PIECE as usize;
    // Two seeds, one of which corrupts everything it serves, and one leecher.
    let mut net = Net::new(len, 2, 1);
    net.nodes[1].liar = true;
    net.introduce();
    net.run(Duration::from_secs(900), |n| n.nodes[2].swarm.is_finished());
    let leecher = &net.nodes[2].swarm;
    assert!(leecher.is_finished());
    assert!(
        leecher.is_banned(net.nodes[1].addr.ip()),
        "the liar is banned"
    );
    assert!(!leecher.is_banned(net.nodes[0].addr.ip()));
    assert_eq!(net.nodes[2].storage, content(len));
}

#[test]
fn the_same_seed_gives_the_same_run() {
    let run = || {
        let mut net = Net::new(12 * PIECE as usize, 1, 4);
        net.introduce();
        let took = net.run(Duration::from_secs(600), Net::all_finished);
        let sent: Vec<u64> = net.nodes.iter().map(|n| n.swarm.transferred().0).collect();
        (took, sent)
    };
    assert_eq!(run(), run());
}

#[test]
fn announces_start_complete_and_stop() {
    let now = origin();
    let g = Geometry::new(PIECE, PIECE).unwrap();
    let mut s = Swarm::new(
        Config::new(InfoHash([1; 20]), PeerId([2; 20]), g),
        Bitfield::new(1),
        now,
    );
    assert_eq!(
        s.poll_action(),
        Some(Action::Announce(AnnounceEvent::Started))
    );
    s.handle_announced(now, Some(Duration::from_secs(120)));
    let next = s.poll_timeout().unwrap();
    assert!(next <= now + Duration::from_secs(120));
    s.handle_timeout(now + Duration::from_secs(120));
    assert!(
        std::iter::from_fn(|| s.poll_action())
            .any(|a| a == Action::Announce(AnnounceEvent::Periodic))
    );
    s.stop(now + Duration::from_secs(121));
    assert_eq!(
        s.poll_action(),
        Some(Action::Announce(AnnounceEvent::Stopped))
    );
    assert_eq!(
        s.add_peer(now, "10.0.0.1:1".parse().unwrap()),
        Err(Refused::Stopped)
    );
}

#[test]
fn connections_stay_within_the_limits_and_failed_addresses_back_off() {
    let now = origin();
    let g = Geometry::new(PIECE, PIECE).unwrap();
    let mut config = Config::new(InfoHash([1; 20]), PeerId([2; 20]), g);
    config.max_connections = 3;
    config.max_connecting = 2;
    let mut s = Swarm::new(config, Bitfield::new(1), now);
    let _ = s.poll_action();
    let addrs: Vec<SocketAddr> = (1..=5)
        .map(|i| SocketAddr::from(([10, 0, 0, i], 1)))
        .collect();
    s.handle_peers(now, addrs.clone());
    let connects: Vec<_> = std::iter::from_fn(|| s.poll_action()).collect();
    assert_eq!(
        connects,
        [Action::Connect(addrs[0]), Action::Connect(addrs[1])]
    );
    s.handle_connect_failed(now, addrs[0]);
    assert_eq!(s.poll_action(), Some(Action::Connect(addrs[2])));
    s.add_peer(now, addrs[1]).unwrap();
    s.add_peer(now, addrs[2]).unwrap();
    s.add_peer(now, addrs[3]).unwrap();
    assert_eq!(s.add_peer(now, addrs[4]), Err(Refused::Full));
    assert_eq!(s.add_peer(now, addrs[1]), Err(Refused::Duplicate));
}

#[test]
fn a_super_seeding_seed_sends_each_piece_about_once() {
    let len = 24 * PIECE as usize;
    let mut net = Net::new(len, 1, 4);
    let mut config = Config::new(InfoHash([9; 20]), PeerId([b's'; 20]), net.geometry).with_seed(7);
    config.super_seed = true;
    net.nodes[0].swarm = Swarm::new(config, Bitfield::full(net.geometry.num_pieces), net.now);
    net.introduce();
    // Leechers learn of the seed's pieces one offer at a time, never all at once (a plain
    // seed's bitfield): in this memory network a whole exchange happens at one instant, so by
    // the first check some offers have spread and been replaced, but most pieces are unseen.
    let seed_addr = net.nodes[0].addr;
    let seen_of_seed = |n: &Net| -> Vec<u32> {
        n.nodes[1..]
            .iter()
            .filter_map(|node| {
                let (key, _) = node.swarm.peers().find(|&(_, a)| a == seed_addr)?;
                Some(node.swarm.session(key)?.peer_pieces()?.count())
            })
            .collect()
    };
    net.run(Duration::from_secs(900), |n| {
        seen_of_seed(n).iter().any(|&c| c > 0)
    });
    let seen = seen_of_seed(&net);
    assert!(
        !seen.is_empty() && seen.iter().all(|&c| c <= 12),
        "{seen:?}"
    );
    net.run(Duration::from_secs(900), Net::all_finished);
    assert!(net.all_finished());
    for n in &net.nodes {
        assert_eq!(n.storage, content(len));
    }
    let sent = net.nodes[0].swarm.transferred().0;
    assert!(
        sent < len as u64 + len as u64 / 4,
        "the seed sent {sent} bytes of a {len}-byte file"
    );
}

/// A complete origin for `net`'s torrent that declines pieces one connected peer has.
fn offloading_origin(net: &Net) -> Swarm {
    let mut config = Config::new(InfoHash([9; 20]), PeerId([b'o'; 20]), net.geometry).with_seed(3);
    config.origin_max_copies = Some(1);
    Swarm::new(config, Bitfield::full(net.geometry.num_pieces), net.now)
}

#[test]
fn an_origin_declines_what_a_connected_peer_has_and_its_own_web_seed_does_not_count() {
    let len = 16 * PIECE as usize;
    let mut net = Net::new(len, 1, 2);
    net.nodes[0].swarm = offloading_origin(&net);
    // As with `peercdn serve`: the origin's torrent names the origin itself as web seed.
    let now = net.now;
    net.nodes[0].swarm.add_web_seed(now);
    let (origin_addr, first) = (net.nodes[0].addr, net.nodes[1].addr);
    // Alone with the origin, the first leecher gets everything from it.
    net.nodes[1].swarm.handle_peers(now, [origin_addr]);
    net.run(Duration::from_secs(600), |n| n.nodes[1].swarm.is_finished());
    assert!(net.nodes[1].swarm.is_finished());
    let sent_to_first = net.nodes[0].swarm.transferred().0;
    assert_eq!(sent_to_first, len as u64);
    // The second finds both: the origin declines every piece the first has.
    let now = net.now;
    net.nodes[2].swarm.handle_peers(now, [origin_addr, first]);
    net.run(Duration::from_secs(600), |n| n.nodes[2].swarm.is_finished());
    assert!(net.nodes[2].swarm.is_finished());
    assert_eq!(net.nodes[2].storage, content(len));
    let sent_to_second = net.nodes[0].swarm.transferred().0 - sent_to_first;
    assert_eq!(sent_to_second, 0, "the first leecher had every piece");
}

/// The copy an origin counts on may never come: here a seed that never unchokes anyone (as a
/// closed browser tab that is still "connected"). The origin declines for a moment, sees the
/// downloader get nothing elsewhere, and serves it.
#[test]
fn an_origin_serves_what_it_declined_when_the_peer_gets_it_nowhere_else() {
    let len = 32 * PIECE as usize;
    let mut net = Net::new(len, 2, 1);
    let full = Bitfield::full(net.geometry.num_pieces);
    net.nodes[0].swarm = offloading_origin(&net);
    let mut stingy = Config::new(InfoHash([9; 20]), PeerId([b's'; 20]), net.geometry).with_seed(4);
    stingy.choker.policy.slots = choker::Slots::Fixed(0);
    stingy.choker.optimistic_slots = 0;
    net.nodes[1].swarm = Swarm::new(stingy, full, net.now);
    let (origin_addr, stingy_addr) = (net.nodes[0].addr, net.nodes[1].addr);
    let now = net.now;
    // The origin sees the stingy seed's copy.
    net.nodes[0].swarm.handle_peers(now, [stingy_addr]);
    net.run(Duration::from_secs(5), |n| {
        n.nodes[0].swarm.num_peers() == 1
    });
    assert_eq!(net.nodes[0].swarm.num_peers(), 1);
    let now = net.now;
    net.nodes[2]
        .swarm
        .handle_peers(now, [origin_addr, stingy_addr]);
    let took = net.run(Duration::from_secs(600), |n| n.nodes[2].swarm.is_finished());
    assert!(net.nodes[2].swarm.is_finished(), "stuck for {took:?}");
    assert_eq!(net.nodes[2].storage, content(len));
    // The stingy seed gave at most its allowed-fast pieces (BEP 6, sent while choking); the
    // origin the rest.
    let (origin_sent, stingy_sent) = (
        net.nodes[0].swarm.transferred().0,
        net.nodes[1].swarm.transferred().0,
    );
    assert!(origin_sent >= len as u64 / 2, "{origin_sent} {stingy_sent}");
    // Declined once, asked again when the downloader's memory of it lapsed, then served.
    assert!(took < Duration::from_secs(30), "{took:?}");
}

#[test]
fn peers_learn_of_each_other_through_pex() {
    let len = 8 * PIECE as usize;
    let mut net = Net::new(len, 1, 2);
    let (seed, a) = (net.nodes[0].addr, net.nodes[1].addr);
    let now = net.now;
    // Only the first leecher knows the seed; the second knows only the first leecher.
    net.nodes[1].swarm.handle_peers(now, [seed]);
    net.nodes[2].swarm.handle_peers(now, [a]);
    net.run(Duration::from_secs(600), |n| {
        n.nodes[2].swarm.peers().any(|(_, addr)| addr == seed)
    });
    assert!(
        net.nodes[2].swarm.peers().any(|(_, addr)| addr == seed),
        "the seed's address came by ut_pex from the first leecher"
    );
    net.run(Duration::from_secs(600), Net::all_finished);
    assert_eq!(net.nodes[2].storage, content(len));
}

#[test]
fn pex_off_learns_nothing_from_peers() {
    let len = 4 * PIECE as usize;
    let mut net = Net::new(len, 1, 2);
    for (i, node) in net.nodes.iter_mut().enumerate() {
        let mut id = [b'-'; 20];
        id[..4].copy_from_slice(&(i as u32).to_be_bytes());
        let mut config =
            Config::new(InfoHash([9; 20]), PeerId(id), net.geometry).with_seed(i as u64);
        config.pex_interval = None;
        let have = node.swarm.have().clone();
        node.swarm = Swarm::new(config, have, net.now);
    }
    let (seed, a) = (net.nodes[0].addr, net.nodes[1].addr);
    let now = net.now;
    net.nodes[1].swarm.handle_peers(now, [seed]);
    net.nodes[2].swarm.handle_peers(now, [a]);
    net.run(Duration::from_secs(300), |n| n.nodes[1].swarm.is_finished());
    net.run(Duration::from_secs(180), |_| false);
    assert!(!net.nodes[2].swarm.peers().any(|(_, addr)| addr == seed));
}

#[test]
fn a_web_seed_alone_serves_the_whole_download() {
    let len = 10 * PIECE as usize + 999;
    let mut net = Net::new(len, 0, 1);
    net.web_seed = Some(content(len));
    let now = net.now;
    assert_eq!(net.nodes[0].swarm.add_web_seed(now), 0);
    net.run(Duration::from_secs(300), Net::all_finished);
    assert!(net.all_finished());
    assert_eq!(net.nodes[0].storage, content(len));
    assert_eq!(
        net.nodes[0].swarm.transferred().1,
        len as u64,
        "the web seed's bytes count as downloaded"
    );
}

#[test]
fn a_web_seed_with_wrong_bytes_is_retired_and_no_peer_is_blamed() {
    let len = 8 * PIECE as usize;
    let mut net = Net::new(len, 1, 1);
    let mut wrong = content(len);
    wrong.iter_mut().for_each(|b| *b = b.wrapping_add(1));
    net.web_seed = Some(wrong);
    let now = net.now;
    net.nodes[1].swarm.add_web_seed(now);
    net.introduce();
    net.run(Duration::from_secs(900), Net::all_finished);
    assert!(net.all_finished());
    assert_eq!(net.nodes[1].storage, content(len));
    let leecher = &net.nodes[1].swarm;
    assert!(
        !leecher.is_banned(net.nodes[0].addr.ip()),
        "the honest seed is not blamed"
    );
    assert_eq!(leecher.num_web_seeds(), 0, "the web seed is retired");
}
