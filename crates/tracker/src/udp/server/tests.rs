use std::time::Duration;

use super::*;
use crate::server::Config as TableConfig;
use crate::udp::{Announce, Client, Config as ClientConfig, Event as ClientEvent};
use crate::{AnnounceRequest, Event, InfoHash, PeerId, ScrapeStats};

#[expect(
    clippy::disallowed_methods,
    reason = "tests need an origin for virtual time"
)]
fn origin() -> Instant {
    Instant::now()
}

fn server(now: Instant) -> Server {
    Server::new(Config::new([9; 16]), now)
}

fn table() -> SwarmTable {
    SwarmTable::new(TableConfig::default())
}

fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

fn ask(
    s: &mut Server,
    t: &mut SwarmTable,
    now: Instant,
    from: SocketAddr,
    request: &Request,
) -> Option<Response> {
    let mut packet = Vec::new();
    request.encode(&mut packet);
    let mut out = Vec::new();
    s.handle_datagram(now, from, &packet, t, &mut out)
        .then(|| Response::decode(&out, Family::of(from.ip())).unwrap())
}

fn connect(s: &mut Server, t: &mut SwarmTable, now: Instant, from: SocketAddr) -> ConnectionId {
    match ask(
        s,
        t,
        now,
        from,
        &Request::Connect {
            transaction_id: TransactionId(1),
        },
    ) {
        Some(Response::Connect {
            connection_id,
            transaction_id,
        }) => {
            assert_eq!(transaction_id, TransactionId(1));
            connection_id
        }
        other => panic!("{other:?}"),
    }
}

fn announce(conn: ConnectionId, peer: u8, port: u16) -> Request {
    let mut r = AnnounceRequest::new(InfoHash([0xaa; 20]), PeerId([peer; 20]), port);
    r.left = 1;
    r.event = Event::Started;
    Request::Announce(Announce::new(conn, TransactionId(2), &r, Vec::new()))
}

/// BEP 15: "Trackers should accept the connection ID until two minutes after it has been
/// send." Ours: at least two minutes, at most three.
#[test]
fn connection_ids_live_two_to_three_minutes() {
    let t0 = origin();
    let mut s = server(t0);
    let mut t = table();
    let client = addr("10.0.0.1:6881");
    for issued_at in [0, 30, 59] {
        let issued = t0 + Duration::from_secs(issued_at);
        let id = connect(&mut s, &mut t, issued, client);
        assert!(s.is_valid(issued + Duration::from_secs(120), client, id));
        assert!(!s.is_valid(issued + Duration::from_secs(180), client, id));
    }
}

#[test]
fn connection_ids_are_bound_to_address_port_and_secret() {
    let now = origin();
    let s = server(now);
    let a = s.connection_id(now, addr("10.0.0.1:6881"));
    assert_eq!(a, s.connection_id(now, addr("10.0.0.1:6881")));
    assert!(!s.is_valid(now, addr("10.0.0.2:6881"), a));
    assert!(!s.is_valid(now, addr("10.0.0.1:6882"), a));
    let other = Server::new(Config::new([8; 16]), now);
    assert!(!other.is_valid(now, addr("10.0.0.1:6881"), a));
    // An IPv4-mapped source is the IPv4 client.
    let mut t = table();
    let mut s = server(now);
    let id = connect(&mut s, &mut t, now, addr("[::ffff:10.0.0.1]:6881"));
    assert!(s.is_valid(now, addr("10.0.0.1:6881"), id));
}

#[test]
fn announces_need_a_valid_connection_id() {
    let now = origin();
    let mut s = server(now);
    let mut t = table();
    let from = addr("10.0.0.1:6881");
    assert_eq!(
        ask(
            &mut s,
            &mut t,
            now,
            from,
            &announce(ConnectionId(5), 1, 6881)
        ),
        Some(Response::Error {
            transaction_id: TransactionId(2),
            message: "connection id expired".into()
        })
    );
    assert_eq!(t.num_peers(), 0);
}

#[test]
fn announce_and_scrape_through_the_table() {
    let now = origin();
    let mut s = server(now);
    let mut t = table();
    let (a, b) = (addr("10.0.0.1:40000"), addr("10.0.0.2:40000"));
    let ca = connect(&mut s, &mut t, now, a);
    let cb = connect(&mut s, &mut t, now, b);
    ask(&mut s, &mut t, now, a, &announce(ca, 1, 6881)).unwrap();
    let reply = ask(&mut s, &mut t, now, b, &announce(cb, 2, 6882)).unwrap();
    // The peer is the packet's source address with the announced port.
    assert_eq!(
        reply,
        Response::Announce {
            transaction_id: TransactionId(2),
            interval: 600,
            leechers: 2,
            seeders: 0,
            peers: vec![addr("10.0.0.1:6881")],
        }
    );
    let scrape = Request::Scrape {
        connection_id: ca,
        transaction_id: TransactionId(3),
        info_hashes: vec![InfoHash([0xaa; 20]), InfoHash([0xbb; 20])],
    };
    assert_eq!(
        ask(&mut s, &mut t, now, a, &scrape),
        Some(Response::Scrape {
            transaction_id: TransactionId(3),
            stats: vec![
                ScrapeStats {
                    complete: 0,
                    downloaded: 0,
                    incomplete: 2
                },
                ScrapeStats::default()
            ],
        })
    );
}

/// BEP 15: the response carries peers of the family of the packet.
#[test]
fn ipv6_clients_get_ipv6_peers_only() {
    let now = origin();
    let mut s = server(now);
    let mut t = table();
    let (v4, v6a, v6b) = (
        addr("10.0.0.1:1"),
        addr("[2001:db8::1]:1"),
        addr("[2001:db8::2]:1"),
    );
    for (n, from) in [(1, v4), (2, v6a)] {
        let c = connect(&mut s, &mut t, now, from);
        ask(&mut s, &mut t, now, from, &announce(c, n, 6881)).unwrap();
    }
    let c = connect(&mut s, &mut t, now, v6b);
    let Some(Response::Announce { peers, .. }) =
        ask(&mut s, &mut t, now, v6b, &announce(c, 3, 6881))
    else {
        panic!()
    };
    assert_eq!(peers, [addr("[2001:db8::1]:6881")]);
}

#[test]
fn bad_packets_get_errors_or_silence() {
    let now = origin();
    let mut s = server(now);
    let mut t = table();
    let from = addr("10.0.0.1:1");
    let mut out = Vec::new();
    // Too short for a transaction id, or not a tracker packet: silence.
    assert!(!s.handle_datagram(now, from, &[0; 15], &mut t, &mut out));
    assert!(!s.handle_datagram(now, from, &[0; 16], &mut t, &mut out));
    assert!(out.is_empty());
    // An unknown action: an error with the transaction id.
    let mut packet = vec![0u8; 16];
    packet[11] = 9;
    packet[15] = 7;
    assert!(s.handle_datagram(now, from, &packet, &mut t, &mut out));
    assert_eq!(
        Response::decode(&out, Family::V4),
        Ok(Response::Error {
            transaction_id: TransactionId(7),
            message: "unknown action 9".into()
        })
    );
    // Port 0, and a scrape of nothing.
    let c = connect(&mut s, &mut t, now, from);
    assert!(matches!(
        ask(&mut s, &mut t, now, from, &announce(c, 1, 0)),
        Some(Response::Error { message, .. }) if message == "invalid port"
    ));
    let empty = Request::Scrape {
        connection_id: c,
        transaction_id: TransactionId(1),
        info_hashes: vec![],
    };
    assert!(matches!(
        ask(&mut s, &mut t, now, from, &empty),
        Some(Response::Error { .. })
    ));
    // A full table refuses with an error packet.
    let mut full = SwarmTable::new(TableConfig {
        max_swarms: 0,
        ..TableConfig::default()
    });
    assert!(matches!(
        ask(&mut s, &mut full, now, from, &announce(c, 1, 1)),
        Some(Response::Error { message, .. }) if message.contains("full")
    ));
}

/// Our client and our server, packet by packet.
#[test]
fn client_and_server_talk() {
    let now = origin();
    let s = server(now);
    let mut t = table();
    let tracker = addr("10.0.0.100:6969");
    let mut results = Vec::new();
    for (n, from) in [(1u8, addr("10.0.0.1:6881")), (2, addr("10.0.0.2:6881"))] {
        let mut c = Client::new(
            ClientConfig {
                rng_seed: u64::from(n),
                ..ClientConfig::default()
            },
            tracker,
        );
        let mut r = AnnounceRequest::new(InfoHash([0xaa; 20]), PeerId([n; 20]), 6881);
        r.event = Event::Started;
        c.announce(now, r).unwrap();
        while let Some(packet) = c.poll_transmit() {
            let mut out = Vec::new();
            if s.handle_datagram(now, from, &packet, &mut t, &mut out) {
                c.handle_datagram(now, &out);
            }
        }
        results.extend(std::iter::from_fn(|| c.poll_event()));
    }
    let [
        ClientEvent::Announced { .. },
        ClientEvent::Announced { ref response, .. },
    ] = results[..]
    else {
        panic!("{results:?}")
    };
    assert_eq!(response.peers[0].addr, addr("10.0.0.1:6881"));
    assert_eq!(response.incomplete, Some(0));
    assert_eq!(response.complete, Some(2));
}
