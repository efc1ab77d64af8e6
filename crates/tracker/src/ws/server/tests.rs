use std::collections::BTreeSet;
use std::time::Duration;

use super::*;
use crate::server::Config as TableConfig;
use crate::ws::{
    Announce, Answer, Client, Config as ClientConfig, Event as ClientEvent, Offer, OfferId, Stats,
};

#[expect(
    clippy::disallowed_methods,
    reason = "tests need an origin for virtual time"
)]
fn origin() -> Instant {
    Instant::now()
}

const HASH: InfoHash = InfoHash([0x11; 20]);

fn peer(n: u8) -> PeerId {
    PeerId([n; 20])
}

fn announce(n: u8, offers: u8) -> String {
    ClientMessage::Announce(Announce {
        info_hash: HASH,
        peer_id: peer(n),
        numwant: Some(u32::from(offers)),
        uploaded: Some(0),
        downloaded: Some(0),
        left: Some(1),
        event: Event::Started,
        offers: (0..offers)
            .map(|i| Offer {
                offer_id: OfferId([n * 16 + i; 20]),
                sdp: format!("sdp {n}/{i}"),
            })
            .collect(),
        tracker_id: None,
    })
    .to_json()
}

fn out(s: &mut Server) -> Vec<(SocketId, ServerMessage)> {
    std::iter::from_fn(|| s.poll_transmit())
        .map(|(to, text)| {
            (
                to,
                ServerMessage::from_json(&text, &Limits::default()).unwrap(),
            )
        })
        .collect()
}

fn setup(peers: u8) -> (Server, SwarmTable, Instant) {
    let now = origin();
    let mut s = Server::new(Config::default());
    let mut t = SwarmTable::new(TableConfig::default());
    for n in 1..=peers {
        s.handle_text(now, SocketId(u64::from(n)), &announce(n, 0), &mut t);
    }
    out(&mut s);
    (s, t, now)
}

#[test]
fn announce_gets_the_swarm_numbers_and_the_websocket_interval() {
    let (mut s, mut t, now) = setup(2);
    s.handle_text(now, SocketId(3), &announce(3, 0), &mut t);
    assert_eq!(
        out(&mut s),
        [(
            SocketId(3),
            ServerMessage::Announced(AnnounceReply {
                info_hash: Some(HASH),
                complete: Some(0),
                incomplete: Some(3),
                interval: Some(Duration::from_secs(120)),
                ..AnnounceReply::default()
            })
        )]
    );
}

/// Each offer goes to a different peer, never back to the offerer, with the offerer's peer id
/// and the offer id.
#[test]
fn offers_are_relayed_one_per_peer() {
    let (mut s, mut t, now) = setup(5);
    s.handle_text(now, SocketId(9), &announce(9, 3), &mut t);
    let messages = out(&mut s);
    assert!(matches!(
        messages[0],
        (SocketId(9), ServerMessage::Announced(_))
    ));
    let relays = &messages[1..];
    assert_eq!(relays.len(), 3);
    let targets: BTreeSet<SocketId> = relays.iter().map(|(to, _)| *to).collect();
    assert_eq!(targets.len(), 3);
    assert!(!targets.contains(&SocketId(9)));
    let mut offer_ids = BTreeSet::new();
    for (_, m) in relays {
        let ServerMessage::Offer(o) = m else {
            panic!("{m:?}")
        };
        assert_eq!((o.info_hash, o.peer_id), (HASH, peer(9)));
        assert_eq!(o.sdp, format!("sdp 9/{}", o.offer_id.0[0] - 9 * 16));
        offer_ids.insert(o.offer_id);
    }
    assert_eq!(offer_ids.len(), 3);
}

#[test]
fn numwant_limits_the_relays_and_a_small_swarm_gets_what_it_has() {
    let (mut s, mut t, now) = setup(5);
    let mut a = ClientMessage::from_json(&announce(9, 4), &Limits::default()).unwrap();
    if let ClientMessage::Announce(a) = &mut a {
        a.numwant = Some(1);
    }
    s.handle_text(now, SocketId(9), &a.to_json(), &mut t);
    assert_eq!(out(&mut s).len(), 1 + 1);

    let (mut s, mut t, now) = setup(1);
    s.handle_text(now, SocketId(9), &announce(9, 5), &mut t);
    assert_eq!(out(&mut s).len(), 1 + 1);
}

#[test]
fn answers_are_routed_to_the_offerer_only() {
    let (mut s, mut t, now) = setup(2);
    let answer = ClientMessage::Answer(Answer {
        info_hash: HASH,
        peer_id: peer(2),
        to_peer_id: peer(1),
        offer_id: OfferId([7; 20]),
        sdp: "answer".into(),
    });
    s.handle_text(now, SocketId(2), &answer.to_json(), &mut t);
    assert_eq!(
        out(&mut s),
        [(
            SocketId(1),
            ServerMessage::Answer(crate::ws::RelayedAnswer {
                info_hash: HASH,
                peer_id: peer(2),
                offer_id: OfferId([7; 20]),
                sdp: "answer".into()
            })
        )]
    );
    // To a peer that is not in the swarm: dropped, no reply.
    let lost = ClientMessage::Answer(Answer {
        info_hash: HASH,
        peer_id: peer(2),
        to_peer_id: peer(8),
        offer_id: OfferId([7; 20]),
        sdp: "answer".into(),
    });
    s.handle_text(now, SocketId(2), &lost.to_json(), &mut t);
    assert!(out(&mut s).is_empty());
}

#[test]
fn a_socket_keeps_its_first_peer_id() {
    let (mut s, mut t, now) = setup(1);
    assert_eq!(s.peer_id(SocketId(1)), Some(peer(1)));
    s.handle_text(now, SocketId(1), &announce(2, 0), &mut t);
    assert!(matches!(
        &out(&mut s)[..],
        [(
            SocketId(1),
            ServerMessage::Failure {
                info_hash: Some(HASH),
                ..
            }
        )]
    ));
    assert_eq!(t.num_peers(), 1);
}

#[test]
fn closing_a_socket_removes_its_peers() {
    let (mut s, mut t, now) = setup(3);
    let other = InfoHash([0x22; 20]);
    let mut a = ClientMessage::from_json(&announce(1, 0), &Limits::default()).unwrap();
    if let ClientMessage::Announce(a) = &mut a {
        a.info_hash = other;
    }
    s.handle_text(now, SocketId(1), &a.to_json(), &mut t);
    assert_eq!(t.num_peers(), 4);
    s.handle_close(SocketId(1), &mut t);
    assert_eq!(t.num_peers(), 2);
    assert_eq!(t.stats(&other), None);
    assert_eq!(s.num_sockets(), 2);
    // Closing twice, or a socket never seen, is a no-op.
    s.handle_close(SocketId(1), &mut t);
    s.handle_close(SocketId(99), &mut t);
    assert_eq!(t.num_peers(), 2);
}

#[test]
fn a_peer_that_moved_sockets_survives_the_old_one_closing() {
    let (mut s, mut t, now) = setup(1);
    s.handle_text(now, SocketId(5), &announce(1, 0), &mut t);
    out(&mut s);
    s.handle_close(SocketId(1), &mut t);
    assert_eq!(t.num_peers(), 1);
    // Offers now reach it on the new socket.
    s.handle_text(now, SocketId(2), &announce(2, 1), &mut t);
    assert_eq!(out(&mut s)[1].0, SocketId(5));
}

#[test]
fn websocket_and_address_peers_do_not_mix() {
    let (mut s, mut t, now) = setup(0);
    let http = crate::server::Announce {
        info_hash: HASH,
        peer_id: peer(1),
        endpoint: Endpoint::Addr("10.0.0.1:1".parse().unwrap()),
        event: Event::Started,
        left: Some(1),
        numwant: None,
        family: None,
    };
    t.announce(now, &http).unwrap();
    s.handle_text(now, SocketId(2), &announce(2, 3), &mut t);
    assert_eq!(out(&mut s).len(), 1, "no offer can go to an HTTP peer");
}

#[test]
fn bad_messages_get_failure_replies() {
    let (mut s, mut t, now) = setup(0);
    s.handle_text(now, SocketId(1), "{", &mut t);
    s.handle_text(now, SocketId(1), r#"{"action":"connect"}"#, &mut t);
    let replies = out(&mut s);
    assert_eq!(replies.len(), 2);
    assert!(replies.iter().all(|(to, m)| *to == SocketId(1)
        && matches!(
            m,
            ServerMessage::Failure {
                info_hash: None,
                ..
            }
        )));
    assert_eq!(t.num_peers(), 0);
}

#[test]
fn swarms_per_socket_are_limited() {
    let now = origin();
    let mut s = Server::new(Config {
        max_swarms_per_socket: 1,
        ..Config::default()
    });
    let mut t = SwarmTable::new(TableConfig::default());
    s.handle_text(now, SocketId(1), &announce(1, 0), &mut t);
    let mut a = ClientMessage::from_json(&announce(1, 0), &Limits::default()).unwrap();
    if let ClientMessage::Announce(a) = &mut a {
        a.info_hash = InfoHash([0x22; 20]);
    }
    s.handle_text(now, SocketId(1), &a.to_json(), &mut t);
    let replies = out(&mut s);
    assert!(matches!(replies[1].1, ServerMessage::Failure { .. }));
    assert_eq!(t.num_peers(), 1);
}

#[test]
fn scrape_over_websocket() {
    let (mut s, mut t, now) = setup(2);
    s.handle_text(
        now,
        SocketId(1),
        &ClientMessage::Scrape(vec![HASH]).to_json(),
        &mut t,
    );
    let replies = out(&mut s);
    let [(SocketId(1), ServerMessage::Scraped(ref r))] = replies[..] else {
        panic!("{replies:?}")
    };
    assert_eq!(r.files[0].1.incomplete, 2);
    assert_eq!(r.min_request_interval, Some(Duration::from_secs(120)));
    // A full scrape is refused by default.
    s.handle_text(now, SocketId(1), r#"{"action":"scrape"}"#, &mut t);
    assert!(matches!(
        out(&mut s)[..],
        [(_, ServerMessage::Failure { .. })]
    ));
}

/// Two of our clients meet through our server: offer, relay, answer, relay.
#[test]
fn clients_signal_through_the_server() {
    let now = origin();
    let mut server = Server::new(Config::default());
    let mut table = SwarmTable::new(TableConfig::default());
    let mut clients: Vec<Client> = (1..=2)
        .map(|n| {
            Client::new(ClientConfig {
                rng_seed: u64::from(n),
                ..ClientConfig::new(HASH, peer(n))
            })
        })
        .collect();
    let mut got = [Vec::new(), Vec::new()];
    // Client 1 joins without offers; client 2 joins with one.
    for (i, offers) in [(0usize, 0usize), (1, 1)] {
        let c = &mut clients[i];
        c.start(now);
        c.handle_open(now);
        c.announce(now, Stats::default(), vec!["offer sdp".into(); offers])
            .unwrap();
    }
    // Pump frames until quiet; client 1 answers any offer.
    for _ in 0..10 {
        for (i, c) in clients.iter_mut().enumerate() {
            while let Some(text) = c.poll_transmit() {
                server.handle_text(now, SocketId(i as u64), &text, &mut table);
            }
        }
        while let Some((to, text)) = server.poll_transmit() {
            clients[to.0 as usize].handle_text(now, &text);
        }
        for (i, c) in clients.iter_mut().enumerate() {
            while let Some(e) = c.poll_event() {
                if let ClientEvent::Offer {
                    peer_id, offer_id, ..
                } = &e
                {
                    c.answer(now, *peer_id, *offer_id, "answer sdp".into())
                        .unwrap();
                }
                got[i].push(e);
            }
        }
    }
    assert!(got[0].iter().any(|e| matches!(e,
        ClientEvent::Offer { peer_id, sdp, .. } if *peer_id == peer(2) && sdp == "offer sdp")));
    assert!(got[1].iter().any(|e| matches!(e,
        ClientEvent::Answer { peer_id, sdp, .. } if *peer_id == peer(1) && sdp == "answer sdp")));
    assert_eq!(clients[1].pending_offers().count(), 0);
}
