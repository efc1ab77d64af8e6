use std::collections::BTreeSet;

use proptest::prelude::*;

use super::*;

#[expect(
    clippy::disallowed_methods,
    reason = "tests need an origin for virtual time"
)]
fn origin() -> Instant {
    Instant::now()
}

const HASH: InfoHash = InfoHash([0xaa; 20]);

fn id(n: u32) -> PeerId {
    let mut id = [0u8; 20];
    id[..4].copy_from_slice(&n.to_be_bytes());
    PeerId(id)
}

fn addr(n: u32) -> Endpoint {
    Endpoint::Addr(SocketAddr::from(([10, 0, (n >> 8) as u8, n as u8], 6881)))
}

fn announce(n: u32) -> Announce {
    Announce {
        info_hash: HASH,
        peer_id: id(n),
        endpoint: addr(n),
        event: Event::Started,
        left: Some(100),
        numwant: None,
        family: None,
    }
}

fn table() -> SwarmTable {
    SwarmTable::new(Config::default())
}

fn ids(reply: &AnnounceReply) -> BTreeSet<PeerId> {
    reply.peers.iter().map(|p| p.peer_id).collect()
}

#[test]
fn second_peer_gets_the_first_and_counts_add_up() {
    let now = origin();
    let mut t = table();
    let first = t.announce(now, &announce(1)).unwrap();
    assert!(first.peers.is_empty());
    assert!(first.stored);
    let mut seed = announce(2);
    seed.left = Some(0);
    let second = t.announce(now, &seed).unwrap();
    assert_eq!(ids(&second), BTreeSet::from([id(1)]));
    assert_eq!((second.complete, second.incomplete), (1, 1));
    assert_eq!(second.interval, Duration::from_secs(600));
    assert_eq!(second.min_interval, Duration::from_secs(60));
    assert_eq!(
        t.stats(&HASH),
        Some(ScrapeStats {
            complete: 1,
            downloaded: 0,
            incomplete: 1
        })
    );
    t.check_invariants();
}

/// INTEROP-NOTES: handing a client its own address makes rtorrent and qBittorrent treat the
/// IP as "self" and stop dialing it. Excluded by peer id and by endpoint.
#[test]
fn never_returns_the_announcer_itself() {
    let now = origin();
    let mut t = table();
    t.announce(now, &announce(1)).unwrap();
    // Same peer again: nothing.
    assert!(t.announce(now, &announce(1)).unwrap().peers.is_empty());
    // The same client restarted with a new peer id, same address: its stale entry is not
    // handed back to it.
    let mut restarted = announce(2);
    restarted.endpoint = addr(1);
    assert!(t.announce(now, &restarted).unwrap().peers.is_empty());
    t.check_invariants();
}

#[test]
fn stopped_removes_the_peer_and_the_empty_swarm() {
    let now = origin();
    let mut t = table();
    t.announce(now, &announce(1)).unwrap();
    t.announce(now, &announce(2)).unwrap();
    let mut stop = announce(1);
    stop.event = Event::Stopped;
    let reply = t.announce(now, &stop).unwrap();
    assert!(reply.peers.is_empty());
    assert!(!reply.stored);
    assert_eq!(reply.incomplete, 1);
    stop.peer_id = id(2);
    t.announce(now, &stop).unwrap();
    assert_eq!(t.num_swarms(), 0);
    assert_eq!(t.num_peers(), 0);
    assert_eq!(t.poll_timeout(), None);
    // Stopping an unknown peer creates nothing.
    t.announce(now, &stop).unwrap();
    assert_eq!(t.num_swarms(), 0);
    t.check_invariants();
}

#[test]
fn completed_counts_each_download_once() {
    let now = origin();
    let mut t = table();
    t.announce(now, &announce(1)).unwrap();
    let mut done = announce(1);
    done.event = Event::Completed;
    done.left = Some(0);
    let reply = t.announce(now, &done).unwrap();
    assert_eq!(
        (reply.complete, reply.incomplete, reply.downloaded),
        (1, 0, 1)
    );
    // A repeated `completed` from a seeder is not a second download.
    let reply = t.announce(now, &done).unwrap();
    assert_eq!(reply.downloaded, 1);
    // A seeder that never was a leecher here, announcing `completed`, counts (we cannot
    // tell); one joining as a seed with `started` does not.
    let mut other = done;
    other.peer_id = id(2);
    other.endpoint = addr(2);
    assert_eq!(t.announce(now, &other).unwrap().downloaded, 2);
    let mut seed = announce(3);
    seed.left = Some(0);
    assert_eq!(t.announce(now, &seed).unwrap().downloaded, 2);
    // `completed` without `left` makes a seeder.
    let mut no_left = announce(4);
    no_left.event = Event::Completed;
    no_left.left = None;
    assert_eq!(t.announce(now, &no_left).unwrap().complete, 4);
    t.check_invariants();
}

#[test]
fn a_seeder_that_needs_data_again_is_a_leecher() {
    let now = origin();
    let mut t = table();
    let mut a = announce(1);
    a.left = Some(0);
    t.announce(now, &a).unwrap();
    a.left = Some(5);
    a.event = Event::None;
    let reply = t.announce(now, &a).unwrap();
    assert_eq!((reply.complete, reply.incomplete), (0, 1));
    t.check_invariants();
}

#[test]
fn peers_expire_after_twice_the_interval() {
    let now = origin();
    let mut t = table();
    t.announce(now, &announce(1)).unwrap();
    t.announce(now + Duration::from_secs(100), &announce(2))
        .unwrap();
    let deadline = now + Duration::from_secs(1200);
    assert_eq!(t.poll_timeout(), Some(deadline));
    t.handle_timeout(deadline - Duration::from_nanos(1));
    assert_eq!(t.num_peers(), 2);
    t.handle_timeout(deadline);
    assert_eq!(t.num_peers(), 1);
    assert_eq!(t.peers(&HASH).next().unwrap().peer_id, id(2));
    assert_eq!(t.poll_timeout(), Some(deadline + Duration::from_secs(100)));
    // Announcing again moves the deadline.
    t.announce(now + Duration::from_secs(1250), &announce(2))
        .unwrap();
    t.handle_timeout(deadline + Duration::from_secs(100));
    assert_eq!(t.num_peers(), 1);
    t.handle_timeout(now + Duration::from_secs(1250 + 1200));
    assert_eq!(t.num_peers(), 0);
    assert_eq!(t.num_swarms(), 0);
    // An extra call is a no-op.
    t.handle_timeout(now + Duration::from_secs(5000));
    t.check_invariants();
}

#[test]
fn websocket_peers_expire_by_the_websocket_interval() {
    let now = origin();
    let mut t = table();
    let mut a = announce(1);
    a.endpoint = Endpoint::WebSocket(SocketId(1));
    assert_eq!(
        t.announce(now, &a).unwrap().interval,
        Duration::from_secs(120)
    );
    assert_eq!(t.poll_timeout(), Some(now + Duration::from_secs(240)));
}

#[test]
fn numwant_defaults_to_50_and_is_capped_at_200() {
    let now = origin();
    let mut t = table();
    for n in 0..300 {
        t.announce(now, &announce(n)).unwrap();
    }
    let mut a = announce(1000);
    assert_eq!(t.announce(now, &a).unwrap().peers.len(), 50);
    a.numwant = Some(1000);
    let reply = t.announce(now, &a).unwrap();
    assert_eq!(reply.peers.len(), 200);
    assert_eq!(ids(&reply).len(), 200, "no duplicates");
    a.numwant = Some(0);
    assert!(t.announce(now, &a).unwrap().peers.is_empty());
    t.check_invariants();
}

#[test]
fn samples_are_random_and_cover_the_swarm() {
    let now = origin();
    let mut t = table();
    for n in 0..100 {
        t.announce(now, &announce(n)).unwrap();
    }
    let mut a = announce(1000);
    a.numwant = Some(10);
    let mut seen = BTreeSet::new();
    let mut samples = BTreeSet::new();
    for _ in 0..100 {
        let reply = t.announce(now, &a).unwrap();
        samples.insert(ids(&reply));
        seen.extend(ids(&reply));
    }
    assert!(samples.len() > 90, "samples repeat: {}", samples.len());
    assert_eq!(seen.len(), 100, "some peer never sampled");
    t.check_invariants();
}

#[test]
fn same_seed_same_samples() {
    let now = origin();
    let run = || {
        let mut t = table();
        (0..50)
            .map(|n| {
                let mut a = announce(n);
                a.numwant = Some(5);
                ids(&t.announce(now, &a).unwrap())
            })
            .collect::<Vec<_>>()
    };
    assert_eq!(run(), run());
}

#[test]
fn family_filter_and_kinds_do_not_mix() {
    let now = origin();
    let mut t = table();
    t.announce(now, &announce(1)).unwrap();
    let mut v6 = announce(2);
    v6.endpoint = Endpoint::Addr("[2001:db8::2]:1".parse().unwrap());
    t.announce(now, &v6).unwrap();
    let mut ws = announce(3);
    ws.endpoint = Endpoint::WebSocket(SocketId(3));
    t.announce(now, &ws).unwrap();

    let mut asker = announce(4);
    asker.family = Some(Family::V4);
    assert_eq!(
        ids(&t.announce(now, &asker).unwrap()),
        BTreeSet::from([id(1)])
    );
    asker.family = Some(Family::V6);
    assert_eq!(
        ids(&t.announce(now, &asker).unwrap()),
        BTreeSet::from([id(2)])
    );
    asker.family = None;
    assert_eq!(
        ids(&t.announce(now, &asker).unwrap()),
        BTreeSet::from([id(1), id(2)])
    );
    let mut ws_asker = announce(5);
    ws_asker.endpoint = Endpoint::WebSocket(SocketId(5));
    assert_eq!(
        ids(&t.announce(now, &ws_asker).unwrap()),
        BTreeSet::from([id(3)])
    );
    // Counts cover both kinds.
    assert_eq!(t.stats(&HASH).unwrap().incomplete, 5);
    t.check_invariants();
}

#[test]
fn swarm_limit_refuses_new_swarms_only() {
    let now = origin();
    let mut t = SwarmTable::new(Config {
        max_swarms: 1,
        ..Config::default()
    });
    t.announce(now, &announce(1)).unwrap();
    let mut other = announce(2);
    other.info_hash = InfoHash([1; 20]);
    assert_eq!(t.announce(now, &other), Err(Refusal::TooManySwarms));
    assert!(t.announce(now, &announce(2)).is_ok());
    t.check_invariants();
}

#[test]
fn peer_limits_answer_without_storing() {
    let now = origin();
    let mut t = SwarmTable::new(Config {
        max_peers_per_swarm: 2,
        max_peers: 3,
        ..Config::default()
    });
    t.announce(now, &announce(1)).unwrap();
    t.announce(now, &announce(2)).unwrap();
    let reply = t.announce(now, &announce(3)).unwrap();
    assert!(!reply.stored);
    assert_eq!(ids(&reply), BTreeSet::from([id(1), id(2)]));
    // Known peers still update.
    assert!(t.announce(now, &announce(2)).unwrap().stored);
    let mut other = announce(4);
    other.info_hash = InfoHash([1; 20]);
    assert!(t.announce(now, &other).unwrap().stored);
    let mut fifth = announce(5);
    fifth.info_hash = InfoHash([2; 20]);
    let reply = t.announce(now, &fifth).unwrap();
    assert!(!reply.stored, "total limit");
    assert_eq!(t.num_swarms(), 2, "no empty swarm left behind");
    t.check_invariants();
}

#[test]
fn scrapes() {
    let now = origin();
    let mut t = table();
    t.announce(now, &announce(1)).unwrap();
    let unknown = InfoHash([3; 20]);
    assert_eq!(
        t.scrape(&[HASH, unknown]),
        Ok(vec![
            (
                HASH,
                ScrapeStats {
                    complete: 0,
                    downloaded: 0,
                    incomplete: 1
                }
            ),
            (unknown, ScrapeStats::default())
        ])
    );
    assert_eq!(t.scrape(&[]), Err(Refusal::FullScrapeDisabled));
    assert_eq!(t.scrape(&[HASH; 101]), Err(Refusal::TooManyHashes(101)));
    let mut full = SwarmTable::new(Config {
        full_scrape: true,
        ..Config::default()
    });
    full.announce(now, &announce(1)).unwrap();
    assert_eq!(full.scrape(&[]).unwrap().len(), 1);
}

#[test]
fn remove_only_matches_the_endpoint() {
    let now = origin();
    let mut t = table();
    let mut a = announce(1);
    a.endpoint = Endpoint::WebSocket(SocketId(1));
    t.announce(now, &a).unwrap();
    // The peer reconnects on socket 2 and announces there.
    a.endpoint = Endpoint::WebSocket(SocketId(2));
    t.announce(now, &a).unwrap();
    assert!(!t.remove(&HASH, &id(1), Endpoint::WebSocket(SocketId(1))));
    assert_eq!(t.num_peers(), 1);
    assert!(t.remove(&HASH, &id(1), Endpoint::WebSocket(SocketId(2))));
    assert_eq!(t.num_peers(), 0);
    t.check_invariants();
}

#[derive(Clone, Debug)]
enum Op {
    Announce {
        swarm: u8,
        peer: u8,
        ws: bool,
        event: u8,
        left: Option<u8>,
        numwant: Option<u8>,
    },
    Advance(u16),
    Remove {
        swarm: u8,
        peer: u8,
    },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => (0..3u8, 0..12u8, any::<bool>(), 0..4u8, proptest::option::of(0..3u8), proptest::option::of(0..20u8))
            .prop_map(|(swarm, peer, ws, event, left, numwant)| Op::Announce { swarm, peer, ws, event, left, numwant }),
        2 => any::<u16>().prop_map(Op::Advance),
        1 => (0..3u8, 0..12u8).prop_map(|(swarm, peer)| Op::Remove { swarm, peer }),
    ]
}

proptest! {
    /// Arbitrary announces, removals and clock jumps under small limits: the invariants of the
    /// module docs hold after every step, replies never hold the announcer or too many peers,
    /// and what a scrape says is what `peers` lists.
    #[test]
    fn table_invariants_hold(ops in proptest::collection::vec(op(), 1..120)) {
        let mut now = origin();
        let mut t = SwarmTable::new(Config {
            max_swarms: 2,
            max_peers_per_swarm: 6,
            max_peers: 9,
            max_numwant: 4,
            interval: Duration::from_secs(100),
            ws_interval: Duration::from_secs(30),
            ..Config::default()
        });
        for op in ops {
            match op {
                Op::Announce { swarm, peer, ws, event, left, numwant } => {
                    let endpoint = if ws {
                        Endpoint::WebSocket(SocketId(u64::from(peer)))
                    } else {
                        addr(u32::from(peer))
                    };
                    let a = Announce {
                        info_hash: InfoHash([swarm; 20]),
                        peer_id: id(u32::from(peer)),
                        endpoint,
                        event: [Event::None, Event::Completed, Event::Started, Event::Stopped][usize::from(event)],
                        left: left.map(u64::from),
                        numwant: numwant.map(u32::from),
                        family: None,
                    };
                    if let Ok(reply) = t.announce(now, &a) {
                        prop_assert!(reply.peers.len() <= 4);
                        prop_assert!(reply.peers.iter().all(|p| p.peer_id != a.peer_id && p.endpoint != a.endpoint));
                        prop_assert!(reply.peers.iter().all(|p| p.endpoint.kind() == endpoint.kind()));
                        prop_assert_eq!(ids(&reply).len(), reply.peers.len());
                        if a.event == Event::Stopped {
                            prop_assert!(t.peer(&a.info_hash, endpoint.kind(), &a.peer_id).is_none());
                        }
                    }
                }
                Op::Advance(secs) => {
                    now += Duration::from_secs(u64::from(secs % 300));
                    t.handle_timeout(now);
                    prop_assert!(t.poll_timeout().is_none_or(|at| at > now));
                }
                Op::Remove { swarm, peer } => {
                    t.remove(&InfoHash([swarm; 20]), &id(u32::from(peer)), addr(u32::from(peer)));
                }
            }
            t.check_invariants();
            for s in 0..3u8 {
                let hash = InfoHash([s; 20]);
                let peers: Vec<_> = t.peers(&hash).collect();
                let stats = t.stats(&hash).unwrap_or_default();
                prop_assert_eq!(stats.complete as usize, peers.iter().filter(|p| p.seeder).count());
                prop_assert_eq!(stats.incomplete as usize, peers.iter().filter(|p| !p.seeder).count());
            }
        }
    }
}
