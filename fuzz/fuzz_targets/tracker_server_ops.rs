//! The tracker's swarm table driven by operations decoded from the input, through its three
//! front ends: announces (address and WebSocket peers, every event), WebSocket sockets that
//! announce with offers and close, HTTP and UDP scrapes, and clock jumps. Small limits, so they
//! are hit.
//!
//! Never a panic; the table's invariants hold after every operation (counts match peers, one
//! expiry entry per peer, limits respected, no empty swarm); no announce gets itself back or
//! more than `max_numwant` peers; after a clock jump no peer outlives its deadline; relayed
//! offers never go back to their sender.

#![no_main]

use std::sync::OnceLock;
use std::time::{Duration, Instant};

use libfuzzer_sys::fuzz_target;
use tracker::fuzzing::check_swarm_table;
use tracker::server::{Announce, Config, Endpoint, SocketId, SwarmTable};
use tracker::ws::{self, ClientMessage, OfferId, ServerMessage};
use tracker::{Event, Family, InfoHash, PeerId};

fn origin() -> Instant {
    static ORIGIN: OnceLock<Instant> = OnceLock::new();
    *ORIGIN.get_or_init(Instant::now)
}

fuzz_target!(|data: &[u8]| {
    let mut now = origin();
    let mut table = SwarmTable::new(Config {
        max_swarms: 3,
        max_peers_per_swarm: 8,
        max_peers: 12,
        max_numwant: 5,
        max_scrape_hashes: 4,
        full_scrape: data.first().is_some_and(|b| b & 1 == 1),
        interval: Duration::from_secs(60),
        ws_interval: Duration::from_secs(20),
        rng_seed: 3,
        ..Config::default()
    });
    let mut relay = ws::server::Server::new(ws::server::Config {
        max_swarms_per_socket: 2,
        ..ws::server::Config::default()
    });
    let events = [
        Event::None,
        Event::Completed,
        Event::Started,
        Event::Stopped,
    ];
    for chunk in data.chunks(3) {
        let (op, a, b) = (
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        );
        let swarm = InfoHash([a % 4; 20]);
        let peer = a >> 4;
        match op % 6 {
            0 | 1 => {
                let endpoint = if op & 0x80 != 0 {
                    Endpoint::WebSocket(SocketId(u64::from(peer)))
                } else if op & 0x40 != 0 {
                    Endpoint::Addr(format!("[2001:db8::{peer}]:1").parse().expect("v6"))
                } else {
                    Endpoint::Addr(format!("10.0.0.{peer}:1").parse().expect("v4"))
                };
                let announce = Announce {
                    info_hash: swarm,
                    peer_id: PeerId([peer; 20]),
                    endpoint,
                    event: events[usize::from(b & 3)],
                    left: (b & 4 != 0).then_some(u64::from(b >> 4)),
                    numwant: (b & 8 != 0).then_some(u32::from(b >> 3)),
                    family: match op & 0x30 {
                        0x10 => Some(Family::V4),
                        0x20 => Some(Family::V6),
                        _ => None,
                    },
                };
                if let Ok(reply) = table.announce(now, &announce) {
                    assert!(reply.peers.len() <= 5);
                    for p in &reply.peers {
                        assert!(p.peer_id != announce.peer_id && p.endpoint != announce.endpoint);
                        assert_eq!(p.endpoint.kind(), endpoint.kind());
                    }
                }
            }
            2 => {
                now += Duration::from_secs(u64::from(b));
                table.handle_timeout(now);
                assert!(table.poll_timeout().is_none_or(|t| t > now));
            }
            3 => {
                // A WebSocket peer announces with offers.
                let offers = usize::from(b % 4);
                let message = ClientMessage::Announce(ws::Announce {
                    info_hash: swarm,
                    peer_id: PeerId([peer; 20]),
                    numwant: (b & 0x10 != 0).then_some(u32::from(b >> 5)),
                    uploaded: None,
                    downloaded: None,
                    left: Some(u64::from(b & 0x20)),
                    event: events[usize::from(b >> 6)],
                    offers: (0..offers)
                        .map(|i| ws::Offer {
                            offer_id: OfferId([i as u8; 20]),
                            sdp: "v=0".into(),
                        })
                        .collect(),
                    tracker_id: None,
                });
                let socket = SocketId(u64::from(op >> 4));
                relay.handle_text(now, socket, &message.to_json(), &mut table);
                let mut relayed = 0;
                while let Some((to, frame)) = relay.poll_transmit() {
                    let parsed =
                        ServerMessage::from_json(&frame, &ws::Limits::default()).expect("readable");
                    if let ServerMessage::Offer(o) = parsed {
                        assert_ne!(to, socket, "offer relayed back to its sender");
                        assert_eq!(o.peer_id, PeerId([peer; 20]));
                        relayed += 1;
                    }
                }
                assert!(relayed <= offers);
            }
            4 => {
                relay.handle_close(SocketId(u64::from(op >> 4)), &mut table);
            }
            _ => {
                let hashes: Vec<InfoHash> = (0..b % 6).map(|i| InfoHash([i; 20])).collect();
                if let Ok(files) = table.scrape(&hashes) {
                    for (hash, stats) in files {
                        let peers: Vec<_> = table.peers(&hash).collect();
                        assert_eq!(
                            stats.complete as usize,
                            peers.iter().filter(|p| p.seeder).count()
                        );
                        assert_eq!(
                            stats.incomplete as usize,
                            peers.iter().filter(|p| !p.seeder).count()
                        );
                    }
                }
            }
        }
        check_swarm_table(&table);
    }
});
