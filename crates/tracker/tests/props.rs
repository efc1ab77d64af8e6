//! Property tests across the crate's codecs.
//!
//! Oracles:
//! - round trips through our own encoders: UDP packets, compact peer lists, WebSocket messages,
//!   binary strings;
//! - the client against the server: an announce URL our client builds is parsed by our server
//!   into the same fields; the bodies our server writes are read by our client into the same
//!   peers and numbers;
//! - on arbitrary and near-valid input (bytes, strings, truncations), the decoders return
//!   errors, never panic, and the UDP client machine stays consistent.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::{Duration, Instant};

use proptest::collection::vec;
use proptest::prelude::*;
use proptest::test_runner::FileFailurePersistence;
use tracker::http::server::{self as http_server, RequestLimits};
use tracker::server::{AnnounceReply, Endpoint, SwarmPeer};
use tracker::udp::{self, ConnectionId, Request, Response, TransactionId};
use tracker::ws::{self, ClientMessage, OfferId, ServerMessage};
use tracker::{
    AnnounceRequest, Event, Family, InfoHash, PeerId, Reply, ScrapeStats, compact, http,
};

#[expect(
    clippy::disallowed_methods,
    reason = "tests need an origin for virtual time"
)]
fn origin() -> Instant {
    Instant::now()
}

fn config() -> ProptestConfig {
    ProptestConfig {
        // 256 by default; PROPTEST_CASES=100000 for a long hunt.
        cases: std::env::var("PROPTEST_CASES")
            .ok()
            .and_then(|n| n.parse().ok())
            .unwrap_or(256),
        failure_persistence: Some(Box::new(FileFailurePersistence::Direct(
            "proptest-regressions/props.txt",
        ))),
        ..ProptestConfig::default()
    }
}

fn event() -> impl Strategy<Value = Event> {
    prop_oneof![
        Just(Event::None),
        Just(Event::Completed),
        Just(Event::Started),
        Just(Event::Stopped)
    ]
}

fn info_hash() -> impl Strategy<Value = InfoHash> {
    any::<[u8; 20]>().prop_map(InfoHash)
}

fn peer_id() -> impl Strategy<Value = PeerId> {
    any::<[u8; 20]>().prop_map(PeerId)
}

fn v4() -> impl Strategy<Value = SocketAddr> {
    (any::<u32>(), any::<u16>())
        .prop_map(|(ip, port)| SocketAddr::new(Ipv4Addr::from(ip).into(), port))
}

/// IPv6 addresses that are not IPv4-mapped (those count as IPv4).
fn v6() -> impl Strategy<Value = SocketAddr> {
    (any::<u128>(), any::<u16>())
        .prop_filter("not mapped", |(ip, _)| {
            Ipv6Addr::from(*ip).to_ipv4_mapped().is_none()
        })
        .prop_map(|(ip, port)| SocketAddr::new(Ipv6Addr::from(ip).into(), port))
}

/// Peers of a UDP response of `family`; IPv6 ones include IPv4-mapped addresses, which stay
/// 18 bytes (a fuzz target found them turned into 6).
fn addrs(family: Family) -> BoxedStrategy<Vec<SocketAddr>> {
    match family {
        Family::V4 => vec(v4(), 0..20).boxed(),
        Family::V6 => vec(
            prop_oneof![
                v6(),
                v4().prop_map(|a| match a {
                    SocketAddr::V4(a) => SocketAddr::new(a.ip().to_ipv6_mapped().into(), a.port()),
                    SocketAddr::V6(_) => a,
                })
            ],
            0..20,
        )
        .boxed(),
    }
}

fn family() -> impl Strategy<Value = Family> {
    prop_oneof![Just(Family::V4), Just(Family::V6)]
}

fn udp_request() -> impl Strategy<Value = Request> {
    let announce = (
        any::<u64>(),
        any::<u32>(),
        info_hash(),
        peer_id(),
        any::<[u64; 3]>(),
        event(),
        any::<[u32; 3]>(),
        any::<u16>(),
        vec(any::<u8>(), 0..600),
    )
        .prop_map(
            |(
                conn,
                tid,
                info_hash,
                peer_id,
                [downloaded, left, uploaded],
                event,
                [ip, key, want],
                port,
                url_data,
            )| {
                Request::Announce(udp::Announce {
                    connection_id: ConnectionId(conn),
                    transaction_id: TransactionId(tid),
                    info_hash,
                    peer_id,
                    downloaded,
                    left,
                    uploaded,
                    event,
                    ip: Ipv4Addr::from(ip),
                    key,
                    num_want: want as i32,
                    port,
                    url_data,
                })
            },
        );
    prop_oneof![
        any::<u32>().prop_map(|t| Request::Connect {
            transaction_id: TransactionId(t)
        }),
        announce,
        (any::<u64>(), any::<u32>(), vec(info_hash(), 0..=74)).prop_map(|(c, t, info_hashes)| {
            Request::Scrape {
                connection_id: ConnectionId(c),
                transaction_id: TransactionId(t),
                info_hashes,
            }
        }),
    ]
}

fn stats() -> impl Strategy<Value = ScrapeStats> {
    any::<[u32; 3]>().prop_map(|[complete, downloaded, incomplete]| ScrapeStats {
        complete,
        downloaded,
        incomplete,
    })
}

fn udp_response(family: Family) -> impl Strategy<Value = Response> {
    prop_oneof![
        (any::<u32>(), any::<u64>()).prop_map(|(t, c)| Response::Connect {
            transaction_id: TransactionId(t),
            connection_id: ConnectionId(c)
        }),
        (any::<u32>(), any::<[u32; 3]>(), addrs(family)).prop_map(
            |(t, [interval, leechers, seeders], peers)| {
                Response::Announce {
                    transaction_id: TransactionId(t),
                    interval,
                    leechers,
                    seeders,
                    peers,
                }
            }
        ),
        (any::<u32>(), vec(stats(), 0..80)).prop_map(|(t, stats)| Response::Scrape {
            transaction_id: TransactionId(t),
            stats
        }),
        (any::<u32>(), ".{0,100}").prop_map(|(t, message)| Response::Error {
            transaction_id: TransactionId(t),
            message
        }),
    ]
}

fn announce_request() -> impl Strategy<Value = AnnounceRequest> {
    (
        info_hash(),
        peer_id(),
        1..=u16::MAX,
        any::<[u64; 3]>(),
        event(),
        proptest::option::of(any::<u32>()),
        proptest::option::of(any::<u32>()),
        proptest::option::of(vec(any::<u8>(), 0..30)),
        proptest::option::of(any::<u32>()),
        proptest::option::of(any::<u128>()),
    )
        .prop_map(
            |(
                info_hash,
                peer_id,
                port,
                [uploaded, downloaded, left],
                event,
                numwant,
                key,
                tracker_id,
                ipv4,
                ipv6,
            )| {
                AnnounceRequest {
                    info_hash,
                    peer_id,
                    port,
                    uploaded,
                    downloaded,
                    left,
                    event,
                    numwant,
                    key,
                    tracker_id,
                    ipv4: ipv4.map(Ipv4Addr::from),
                    ipv6: ipv6.map(Ipv6Addr::from),
                }
            },
        )
}

fn swarm_peers() -> impl Strategy<Value = Vec<SwarmPeer>> {
    vec((peer_id(), prop_oneof![v4(), v6()]), 0..30).prop_map(|v| {
        v.into_iter()
            .map(|(peer_id, addr)| SwarmPeer {
                peer_id,
                endpoint: Endpoint::Addr(addr),
                seeder: false,
            })
            .collect()
    })
}

fn id20() -> impl Strategy<Value = [u8; 20]> {
    any::<[u8; 20]>()
}

fn client_message() -> impl Strategy<Value = ClientMessage> {
    let announce = (
        info_hash(),
        peer_id(),
        proptest::option::of(any::<u32>()),
        proptest::option::of(any::<[u64; 3]>()),
        event(),
        vec((id20(), ".{0,50}"), 0..=5),
        proptest::option::of("[a-z]{0,8}"),
    )
        .prop_map(
            |(info_hash, peer_id, numwant, counters, event, offers, tracker_id)| {
                ClientMessage::Announce(ws::Announce {
                    info_hash,
                    peer_id,
                    numwant,
                    uploaded: counters.map(|c| c[0]),
                    downloaded: counters.map(|c| c[1]),
                    left: counters.map(|c| c[2]),
                    event,
                    offers: offers
                        .into_iter()
                        .map(|(id, sdp)| ws::Offer {
                            offer_id: OfferId(id),
                            sdp,
                        })
                        .collect(),
                    tracker_id,
                })
            },
        );
    let answer = (info_hash(), peer_id(), peer_id(), id20(), ".{0,50}").prop_map(
        |(info_hash, peer_id, to_peer_id, offer_id, sdp)| {
            ClientMessage::Answer(ws::Answer {
                info_hash,
                peer_id,
                to_peer_id,
                offer_id: OfferId(offer_id),
                sdp,
            })
        },
    );
    prop_oneof![
        announce,
        answer,
        vec(info_hash(), 0..10).prop_map(ClientMessage::Scrape)
    ]
}

fn server_message() -> impl Strategy<Value = ServerMessage> {
    let reply = (
        proptest::option::of(info_hash()),
        proptest::option::of(any::<[u32; 2]>()),
        proptest::option::of(any::<[u32; 2]>()),
        proptest::option::of(".{0,20}"),
        proptest::option::of(".{0,20}"),
    )
        .prop_map(|(info_hash, counts, intervals, warning, tracker_id)| {
            ServerMessage::Announced(ws::AnnounceReply {
                info_hash,
                complete: counts.map(|c| c[0]),
                incomplete: counts.map(|c| c[1]),
                interval: intervals.map(|i| Duration::from_secs(u64::from(i[0]))),
                min_interval: intervals.map(|i| Duration::from_secs(u64::from(i[1]))),
                warning,
                tracker_id,
            })
        });
    let relay = (info_hash(), peer_id(), id20(), ".{0,50}", any::<bool>()).prop_map(
        |(info_hash, peer_id, offer_id, sdp, is_offer)| {
            if is_offer {
                ServerMessage::Offer(ws::RelayedOffer {
                    info_hash,
                    peer_id,
                    offer_id: OfferId(offer_id),
                    sdp,
                })
            } else {
                ServerMessage::Answer(ws::RelayedAnswer {
                    info_hash,
                    peer_id,
                    offer_id: OfferId(offer_id),
                    sdp,
                })
            }
        },
    );
    let scrape = (
        vec((info_hash(), stats()), 0..10),
        proptest::option::of(any::<u32>()),
    )
        .prop_map(|(mut files, interval)| {
            // JSON objects are keyed maps: sorted by key (binary strings sort as their bytes),
            // one entry per key.
            files.sort_by_key(|(h, _)| *h);
            files.dedup_by_key(|(h, _)| *h);
            ServerMessage::Scraped(ws::ScrapeReply {
                files,
                min_request_interval: interval.map(|i| Duration::from_secs(u64::from(i))),
            })
        });
    let failure = (proptest::option::of(info_hash()), ".{0,40}")
        .prop_map(|(info_hash, reason)| ServerMessage::Failure { info_hash, reason });
    prop_oneof![reply, relay, scrape, failure]
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn compact_round_trip(family in family(), seed in any::<u64>()) {
        let peers = match family {
            Family::V4 => (0..(seed % 20)).map(|i| SocketAddr::new(Ipv4Addr::from(seed as u32 ^ i as u32).into(), i as u16)).collect::<Vec<_>>(),
            Family::V6 => (0..(seed % 20)).map(|i| SocketAddr::new(Ipv6Addr::from(u128::from(seed) << 64 | u128::from(i)).into(), i as u16)).collect(),
        };
        let bytes = compact::encode(&peers, family);
        prop_assert_eq!(bytes.len(), peers.len() * compact::entry_len(family));
        prop_assert_eq!(compact::decode(&bytes, family).unwrap().collect::<Vec<_>>(), peers);
    }

    #[test]
    fn udp_requests_round_trip(request in udp_request()) {
        let mut packet = Vec::new();
        request.encode(&mut packet);
        prop_assert_eq!(Request::decode(&packet), Ok(request));
    }

    #[test]
    fn udp_responses_round_trip((family, response) in family().prop_flat_map(|f| (Just(f), udp_response(f)))) {
        let mut packet = Vec::new();
        response.encode(&mut packet);
        prop_assert_eq!(Response::decode(&packet, family), Ok(response));
    }

    /// Arbitrary bytes never panic the decoders; prefixes of valid packets neither.
    #[test]
    fn udp_decoders_take_anything(bytes in vec(any::<u8>(), 0..200), request in udp_request()) {
        let _ = Request::decode(&bytes);
        let _ = Response::decode(&bytes, Family::V4);
        let _ = Response::decode(&bytes, Family::V6);
        let mut packet = Vec::new();
        request.encode(&mut packet);
        for len in 0..packet.len().min(120) {
            let _ = Request::decode(&packet[..len]);
        }
    }

    /// Our client's announce URL, parsed by our server: the same fields.
    #[test]
    fn announce_urls_parse_back(request in announce_request()) {
        let url = http::announce_url("http://t.example/x/announce?pass=1", &request);
        let target = url.strip_prefix("http://t.example").unwrap();
        let http_server::Request::Announce(q) = http_server::parse_request(target, &RequestLimits::default()).unwrap() else {
            panic!("not an announce")
        };
        prop_assert_eq!(q.info_hash, request.info_hash);
        prop_assert_eq!(q.peer_id, request.peer_id);
        prop_assert_eq!(q.port, request.port);
        prop_assert_eq!((q.uploaded, q.downloaded, q.left), (Some(request.uploaded), Some(request.downloaded), Some(request.left)));
        prop_assert_eq!(q.event, request.event);
        prop_assert!(q.compact);
        prop_assert_eq!(q.numwant, request.numwant);
        prop_assert_eq!(q.key, request.key.map(|k| format!("{k:08X}").into_bytes()));
        prop_assert_eq!(q.tracker_id, request.tracker_id);
        let claimed = request.ipv4.map(IpAddr::from).or(request.ipv6.map(IpAddr::from));
        prop_assert_eq!(q.claimed_ip, claimed);
    }

    #[test]
    fn scrape_urls_parse_back(hashes in vec(info_hash(), 0..20)) {
        let url = http::scrape_url("http://t.example/announce", &hashes).unwrap();
        let target = url.strip_prefix("http://t.example").unwrap();
        prop_assert_eq!(
            http_server::parse_request(target, &RequestLimits::default()),
            Ok(http_server::Request::Scrape(hashes))
        );
    }

    /// Our server's bodies, read by our client.
    #[test]
    fn announce_bodies_read_back(peers in swarm_peers(), counts in any::<[u32; 2]>(), compact in any::<bool>(), no_peer_id in any::<bool>()) {
        let reply = AnnounceReply {
            complete: counts[0],
            incomplete: counts[1],
            downloaded: 0,
            interval: Duration::from_secs(600),
            min_interval: Duration::from_secs(60),
            peers: peers.clone(),
            stored: true,
        };
        let body = http_server::encode_announce(&reply, compact, no_peer_id);
        let Reply::Success(r) = http::parse_announce_response(&body, &http::Limits::default()).unwrap() else {
            panic!()
        };
        prop_assert_eq!((r.complete, r.incomplete), (Some(counts[0]), Some(counts[1])));
        prop_assert_eq!(r.interval, Some(Duration::from_secs(600)));
        let addr = |p: &SwarmPeer| match p.endpoint { Endpoint::Addr(a) => a, Endpoint::WebSocket(_) => unreachable!() };
        let mut want: Vec<(SocketAddr, Option<PeerId>)> = peers
            .iter()
            .map(|p| (addr(p), (!compact && !no_peer_id).then_some(p.peer_id)))
            .collect();
        if compact {
            // IPv4 first (`peers`), then IPv6 (`peers6`).
            want.sort_by_key(|(a, _)| a.is_ipv6());
        }
        let got: Vec<_> = r.peers.iter().map(|p| (p.addr, p.peer_id)).collect();
        prop_assert_eq!(got, want);
    }

    #[test]
    fn scrape_bodies_read_back(files in vec((info_hash(), stats()), 0..20), interval in proptest::option::of(0..100_000u64)) {
        let mut files = files;
        files.sort_by_key(|(h, _)| *h);
        files.dedup_by_key(|(h, _)| *h);
        let body = http_server::encode_scrape(&files, interval.map(Duration::from_secs));
        let Reply::Success(r) = http::parse_scrape_response(&body, &http::Limits::default()).unwrap() else {
            panic!()
        };
        prop_assert_eq!(r.files, files);
        prop_assert_eq!(r.min_request_interval, interval.map(Duration::from_secs));
    }

    /// Arbitrary bytes, and valid bodies cut anywhere or with one byte changed: errors, not
    /// panics, and never more peers than the limit.
    #[test]
    fn http_parsers_take_anything(bytes in vec(any::<u8>(), 0..300), peers in swarm_peers(), cut in any::<prop::sample::Index>(), flip in any::<(prop::sample::Index, u8)>()) {
        let limits = http::Limits { max_peers: 10, ..http::Limits::default() };
        let _ = http::parse_announce_response(&bytes, &limits);
        let _ = http::parse_scrape_response(&bytes, &limits);
        let reply = AnnounceReply {
            complete: 1, incomplete: 2, downloaded: 0,
            interval: Duration::from_secs(1), min_interval: Duration::from_secs(1),
            peers, stored: true,
        };
        for compact in [true, false] {
            let mut body = http_server::encode_announce(&reply, compact, false);
            if let Ok(Reply::Success(r)) = http::parse_announce_response(&body[..cut.index(body.len())], &limits) {
                prop_assert!(r.peers.len() <= 10);
            }
            let at = flip.0.index(body.len());
            body[at] ^= flip.1;
            if let Ok(Reply::Success(r)) = http::parse_announce_response(&body, &limits) {
                prop_assert!(r.peers.len() <= 10);
            }
        }
    }

    #[test]
    fn http_queries_take_anything(target in "[/a-z?&=%0-9A-F+]{0,200}") {
        let _ = http_server::parse_request(&target, &RequestLimits::default());
    }

    #[test]
    fn ws_client_messages_round_trip(m in client_message()) {
        prop_assert_eq!(ClientMessage::from_json(&m.to_json(), &ws::Limits::default()), Ok(m));
    }

    #[test]
    fn ws_server_messages_round_trip(m in server_message()) {
        prop_assert_eq!(ServerMessage::from_json(&m.to_json(), &ws::Limits::default()), Ok(m));
    }

    #[test]
    fn ws_parsers_take_anything(text in ".{0,300}", m in server_message(), cut in any::<prop::sample::Index>()) {
        let _ = ClientMessage::from_json(&text, &ws::Limits::default());
        let _ = ServerMessage::from_json(&text, &ws::Limits::default());
        let json = m.to_json();
        let mut at = cut.index(json.len());
        while !json.is_char_boundary(at) {
            at -= 1;
        }
        if at < json.len() {
            prop_assert!(ServerMessage::from_json(&json[..at], &ws::Limits::default()).is_err());
        }
    }

    #[test]
    fn binary_strings_round_trip(bytes in any::<[u8; 20]>(), wide in "[\u{100}-\u{10ffff}]") {
        let s = ws::to_binary_string(&bytes);
        prop_assert_eq!(ws::from_binary_string::<20>(&s), Ok(bytes));
        let mut bad: String = s.chars().take(19).collect();
        bad.push_str(&wide);
        let is_code_point_error = matches!(
            ws::from_binary_string::<20>(&bad),
            Err(ws::BinaryStringError::CodePoint { index: 19, .. })
        );
        prop_assert!(is_code_point_error);
    }

    /// The UDP client under arbitrary datagrams and clock jumps: no panic, deadlines in the
    /// future after each `handle_timeout`, every request ends in exactly one event.
    #[test]
    fn udp_client_survives_anything(ops in vec((any::<u8>(), vec(any::<u8>(), 0..40)), 1..60)) {
        let mut now = origin();
        let mut c = udp::Client::new(udp::Config::default(), "10.0.0.1:1".parse().unwrap());
        let mut started = std::collections::BTreeSet::new();
        let mut ended = std::collections::BTreeSet::new();
        for (op, data) in ops {
            match op % 4 {
                0 => {
                    if let Ok(id) = c.announce(now, AnnounceRequest::new(InfoHash([1; 20]), PeerId([2; 20]), 1)) {
                        started.insert(id);
                    }
                }
                1 => {
                    // A datagram that sometimes echoes a real transaction id.
                    let mut packet = data.clone();
                    if let Some(sent) = c.poll_transmit()
                        && packet.len() >= 8
                        && op & 0x10 != 0
                    {
                        packet[4..8].copy_from_slice(&sent[12..16]);
                    }
                    c.handle_datagram(now, &packet);
                }
                2 => {
                    now += Duration::from_secs(u64::from(op) * 7);
                    c.handle_timeout(now);
                    prop_assert!(c.poll_timeout().is_none_or(|t| t > now));
                }
                _ => while c.poll_transmit().is_some() {},
            }
            while let Some(event) = c.poll_event() {
                let id = match event {
                    udp::Event::Announced { id, .. } | udp::Event::Scraped { id, .. } | udp::Event::Failed { id, .. } => id,
                };
                prop_assert!(started.contains(&id));
                prop_assert!(ended.insert(id), "two events for one request");
            }
            prop_assert_eq!(c.num_requests(), started.len() - ended.len());
        }
    }
}
