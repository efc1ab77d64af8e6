use super::*;
use crate::{Event as AnnounceEvent, PeerId};

#[expect(
    clippy::disallowed_methods,
    reason = "tests need an origin for virtual time"
)]
fn origin() -> Instant {
    Instant::now()
}

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

fn client() -> Client {
    Client::new(Config::default(), "10.0.0.9:6969".parse().unwrap())
}

fn request() -> AnnounceRequest {
    let mut r = AnnounceRequest::new(InfoHash([1; 20]), PeerId([2; 20]), 6881);
    r.event = AnnounceEvent::Started;
    r.left = 10;
    r
}

fn sent(c: &mut Client) -> Vec<Request> {
    std::iter::from_fn(|| c.poll_transmit())
        .map(|p| Request::decode(&p).unwrap())
        .collect()
}

fn events(c: &mut Client) -> Vec<Event> {
    std::iter::from_fn(|| c.poll_event()).collect()
}

fn reply(r: &Response) -> Vec<u8> {
    let mut out = Vec::new();
    r.encode(&mut out);
    out
}

fn connect_reply(tid: TransactionId, id: u64) -> Vec<u8> {
    reply(&Response::Connect {
        transaction_id: tid,
        connection_id: ConnectionId(id),
    })
}

fn announce_reply(tid: TransactionId) -> Vec<u8> {
    reply(&Response::Announce {
        transaction_id: tid,
        interval: 900,
        leechers: 4,
        seeders: 5,
        peers: vec!["10.0.0.1:6881".parse().unwrap()],
    })
}

/// Connects, announces, returns the announce's transaction id.
fn connected_announce(c: &mut Client, now: Instant) -> (RequestId, TransactionId) {
    let id = c.announce(now, request()).unwrap();
    let [Request::Connect { transaction_id }] = sent(c)[..] else {
        panic!("expected a connect")
    };
    c.handle_datagram(now, &connect_reply(transaction_id, 77));
    let [Request::Announce(ref a)] = sent(c)[..] else {
        panic!("expected an announce")
    };
    assert_eq!(a.connection_id, ConnectionId(77));
    (id, a.transaction_id)
}

#[test]
fn connect_then_announce_then_event() {
    let now = origin();
    let mut c = client();
    let (id, tid) = connected_announce(&mut c, now);
    assert!(c.is_connected(now));
    c.handle_datagram(now, &announce_reply(tid));
    assert_eq!(
        events(&mut c),
        [Event::Announced {
            id,
            response: AnnounceResponse {
                interval: Some(secs(900)),
                complete: Some(5),
                incomplete: Some(4),
                peers: vec![Peer {
                    addr: "10.0.0.1:6881".parse().unwrap(),
                    peer_id: None
                }],
                ..AnnounceResponse::default()
            }
        }]
    );
    assert_eq!(c.poll_timeout(), None);
    assert_eq!(c.num_requests(), 0);
    // A duplicate of the answer is ignored.
    c.handle_datagram(now, &announce_reply(tid));
    assert!(events(&mut c).is_empty());
}

/// BEP 15: "If a response is not received after 15 * 2 ^ n seconds, the client should
/// retransmit the request, where n starts at 0 and is increased up to 8 (3840 seconds) after
/// every retransmission."
#[test]
fn connect_retransmits_at_15_30_60_then_fails() {
    let t0 = origin();
    let mut c = client();
    let id = c.announce(t0, request()).unwrap();
    let [Request::Connect { transaction_id }] = sent(&mut c)[..] else {
        panic!()
    };
    let mut at = t0;
    for n in 0..=8u32 {
        let wait = secs(15 << n);
        assert_eq!(c.poll_timeout(), Some(at + wait), "timeout {n}");
        // Early: nothing.
        c.handle_timeout(at + wait - Duration::from_millis(1));
        assert!(sent(&mut c).is_empty());
        at += wait;
        c.handle_timeout(at);
        if n < 8 {
            // The same connect again (a late answer to any copy still counts).
            assert_eq!(sent(&mut c), [Request::Connect { transaction_id }]);
            assert!(events(&mut c).is_empty());
        }
    }
    // 15 · (2⁹ − 1) s after the first send: failed.
    assert_eq!(at, t0 + secs(7665));
    assert!(sent(&mut c).is_empty());
    assert_eq!(
        events(&mut c),
        [Event::Failed {
            id,
            error: RequestError::TimedOut
        }]
    );
    assert_eq!(c.poll_timeout(), None);
}

#[test]
fn announce_retransmits_with_the_same_transaction() {
    let t0 = origin();
    let mut c = client();
    let (_, tid) = connected_announce(&mut c, t0);
    assert_eq!(c.poll_timeout(), Some(t0 + secs(15)));
    c.handle_timeout(t0 + secs(15));
    let [Request::Announce(ref a)] = sent(&mut c)[..] else {
        panic!()
    };
    assert_eq!(a.transaction_id, tid);
    assert_eq!(c.poll_timeout(), Some(t0 + secs(45)));
    // An answer to the retransmitted request completes it.
    c.handle_datagram(t0 + secs(20), &announce_reply(tid));
    assert!(matches!(events(&mut c)[..], [Event::Announced { .. }]));
}

/// BEP 15: "A client can use a connection ID until one minute after it has received it."
#[test]
fn connection_id_is_reused_for_a_minute_then_renewed() {
    let t0 = origin();
    let mut c = client();
    let (_, tid) = connected_announce(&mut c, t0);
    c.handle_datagram(t0, &announce_reply(tid));
    events(&mut c);
    // 59 s later: straight to the announce.
    c.announce(t0 + secs(59), request()).unwrap();
    let [Request::Announce(ref a)] = sent(&mut c)[..] else {
        panic!("expected the announce without a connect")
    };
    assert_eq!(a.connection_id, ConnectionId(77));
    c.handle_datagram(t0 + secs(59), &announce_reply(a.transaction_id));
    // 60 s: expired, connect first.
    c.announce(t0 + secs(60), request()).unwrap();
    assert!(!c.is_connected(t0 + secs(60)));
    assert!(matches!(sent(&mut c)[..], [Request::Connect { .. }]));
}

#[test]
fn retransmission_after_expiry_reconnects_first() {
    let t0 = origin();
    let mut c = client();
    let (_, tid) = connected_announce(&mut c, t0);
    c.handle_datagram(t0, &announce_reply(tid));
    events(&mut c);
    // An announce at 50 s times out at 65 s, after the id expired at 60 s.
    c.announce(t0 + secs(50), request()).unwrap();
    assert!(matches!(sent(&mut c)[..], [Request::Announce(_)]));
    c.handle_timeout(t0 + secs(65));
    let [Request::Connect { transaction_id }] = sent(&mut c)[..] else {
        panic!("expected a reconnect")
    };
    c.handle_datagram(t0 + secs(66), &connect_reply(transaction_id, 88));
    let [Request::Announce(ref a)] = sent(&mut c)[..] else {
        panic!()
    };
    assert_eq!(a.connection_id, ConnectionId(88));
    // Its second try: the timeout has grown to 30 s.
    assert_eq!(c.poll_timeout(), Some(t0 + secs(66 + 30)));
}

#[test]
fn responses_are_matched_by_transaction_and_action() {
    let now = origin();
    let mut c = client();
    let (id, tid) = connected_announce(&mut c, now);
    let wrong_tid = TransactionId(tid.0.wrapping_add(1));
    // Another transaction, a scrape answer to our announce, a connect answer, short packets.
    c.handle_datagram(now, &announce_reply(wrong_tid));
    c.handle_datagram(
        now,
        &reply(&Response::Scrape {
            transaction_id: tid,
            stats: vec![],
        }),
    );
    c.handle_datagram(now, &connect_reply(tid, 5));
    for len in 0..8 {
        c.handle_datagram(now, &announce_reply(tid)[..len]);
    }
    assert!(events(&mut c).is_empty());
    assert_eq!(c.num_requests(), 1);
    // An error packet for our transaction fails the request.
    c.handle_datagram(
        now,
        &reply(&Response::Error {
            transaction_id: tid,
            message: "torrent not registered".into(),
        }),
    );
    assert_eq!(
        events(&mut c),
        [Event::Failed {
            id,
            error: RequestError::Tracker(Failure::new("torrent not registered"))
        }]
    );
}

#[test]
fn a_malformed_answer_to_our_transaction_fails_the_request() {
    let now = origin();
    let mut c = client();
    let (id, tid) = connected_announce(&mut c, now);
    let mut bad = announce_reply(tid);
    bad.pop();
    c.handle_datagram(now, &bad);
    assert!(matches!(
        events(&mut c)[..],
        [Event::Failed { id: got, error: RequestError::Malformed(DecodeError::Peers(_)) }] if got == id
    ));
}

#[test]
fn connect_errors_fail_the_waiting_requests() {
    let now = origin();
    let mut c = client();
    let a = c.announce(now, request()).unwrap();
    let b = c.scrape(now, vec![InfoHash([1; 20])]).unwrap();
    let [Request::Connect { transaction_id }] = sent(&mut c)[..] else {
        panic!("one connect serves both")
    };
    c.handle_datagram(
        now,
        &reply(&Response::Error {
            transaction_id,
            message: "go away".into(),
        }),
    );
    let failed: Vec<_> = events(&mut c)
        .into_iter()
        .map(|e| match e {
            Event::Failed { id, .. } => id,
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(failed, [a, b]);
}

#[test]
fn ipv6_trackers_answer_with_ipv6_peers() {
    let now = origin();
    let mut c = Client::new(Config::default(), "[2001:db8::1]:6969".parse().unwrap());
    let (_, tid) = connected_announce(&mut c, now);
    let packet = reply(&Response::Announce {
        transaction_id: tid,
        interval: 60,
        leechers: 0,
        seeders: 1,
        peers: vec!["[2001:db8::2]:6881".parse().unwrap()],
    });
    c.handle_datagram(now, &packet);
    let [Event::Announced { ref response, .. }] = events(&mut c)[..] else {
        panic!()
    };
    assert_eq!(
        response.peers[0].addr,
        "[2001:db8::2]:6881".parse().unwrap()
    );
}

#[test]
fn scrape_pairs_stats_with_the_hashes_asked() {
    let now = origin();
    let mut c = client();
    let hashes = vec![InfoHash([1; 20]), InfoHash([2; 20])];
    let id = c.scrape(now, hashes.clone()).unwrap();
    let [Request::Connect { transaction_id }] = sent(&mut c)[..] else {
        panic!()
    };
    c.handle_datagram(now, &connect_reply(transaction_id, 1));
    let [
        Request::Scrape {
            transaction_id,
            ref info_hashes,
            ..
        },
    ] = sent(&mut c)[..]
    else {
        panic!()
    };
    assert_eq!(info_hashes, &hashes);
    let stats = ScrapeStats {
        complete: 1,
        downloaded: 2,
        incomplete: 3,
    };
    c.handle_datagram(
        now,
        &reply(&Response::Scrape {
            transaction_id,
            stats: vec![stats, stats],
        }),
    );
    assert_eq!(
        events(&mut c),
        [Event::Scraped {
            id,
            stats: vec![(hashes[0], stats), (hashes[1], stats)]
        }]
    );
}

#[test]
fn usage_errors() {
    let now = origin();
    let mut c = Client::new(
        Config {
            max_requests: 1,
            ..Config::default()
        },
        "10.0.0.9:6969".parse().unwrap(),
    );
    assert_eq!(c.scrape(now, vec![]), Err(UsageError::ScrapeSize(0)));
    assert_eq!(
        c.scrape(now, vec![InfoHash([0; 20]); 75]),
        Err(UsageError::ScrapeSize(75))
    );
    c.announce(now, request()).unwrap();
    assert_eq!(c.announce(now, request()), Err(UsageError::TooManyRequests));
}

#[test]
fn cancel_forgets_a_request() {
    let now = origin();
    let mut c = client();
    let (id, tid) = connected_announce(&mut c, now);
    assert!(c.cancel(id));
    assert!(!c.cancel(id));
    c.handle_datagram(now, &announce_reply(tid));
    assert!(events(&mut c).is_empty());
    assert_eq!(c.poll_timeout(), None);
}

#[test]
fn bep41_url_data_goes_with_every_announce() {
    let now = origin();
    let mut c = Client::new(
        Config {
            url_data: b"/announce?pk=1".to_vec(),
            ..Config::default()
        },
        "10.0.0.9:6969".parse().unwrap(),
    );
    c.announce(now, request()).unwrap();
    let [Request::Connect { transaction_id }] = sent(&mut c)[..] else {
        panic!()
    };
    c.handle_datagram(now, &connect_reply(transaction_id, 1));
    let [Request::Announce(ref a)] = sent(&mut c)[..] else {
        panic!()
    };
    assert_eq!(a.url_data, b"/announce?pk=1");
}

#[test]
fn announces_without_a_key_get_the_session_key() {
    let now = origin();
    let mut c = client();
    let mut keys = Vec::new();
    for key in [None, None, Some(5)] {
        let mut r = request();
        r.key = key;
        c.announce(now, r).unwrap();
        for packet in sent(&mut c) {
            match packet {
                Request::Connect { transaction_id } => {
                    c.handle_datagram(now, &connect_reply(transaction_id, 1));
                    for p in sent(&mut c) {
                        if let Request::Announce(a) = p {
                            keys.push(a.key);
                        }
                    }
                }
                Request::Announce(a) => keys.push(a.key),
                Request::Scrape { .. } => {}
            }
        }
    }
    assert_eq!(keys.len(), 3);
    assert_eq!(keys[0], keys[1]);
    assert_eq!(keys[2], 5);
}

#[test]
fn transaction_ids_follow_the_seed() {
    let run = |seed| {
        let mut c = Client::new(
            Config {
                rng_seed: seed,
                ..Config::default()
            },
            "10.0.0.9:6969".parse().unwrap(),
        );
        c.announce(origin(), request()).unwrap();
        sent(&mut c)[0].transaction_id()
    };
    assert_eq!(run(1), run(1));
    assert_ne!(run(1), run(2));
}
