use super::*;
use crate::ws::{RelayedAnswer, RelayedOffer, ServerMessage};

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

const HASH: InfoHash = InfoHash([0x11; 20]);
const ME: PeerId = PeerId([0x22; 20]);
const THEM: PeerId = PeerId([0x33; 20]);

fn config() -> Config {
    Config {
        reconnect_jitter: Duration::ZERO,
        ..Config::new(HASH, ME)
    }
}

fn events(c: &mut Client) -> Vec<Event> {
    std::iter::from_fn(|| c.poll_event()).collect()
}

fn sent(c: &mut Client) -> Vec<ClientMessage> {
    std::iter::from_fn(|| c.poll_transmit())
        .map(|t| ClientMessage::from_json(&t, &Limits::default()).unwrap())
        .collect()
}

fn stats() -> Stats {
    Stats {
        uploaded: 1,
        downloaded: 2,
        left: Some(3),
    }
}

fn reply(interval: u64) -> String {
    ServerMessage::Announced(AnnounceReply {
        info_hash: Some(HASH),
        complete: Some(1),
        incomplete: Some(2),
        interval: Some(secs(interval)),
        ..AnnounceReply::default()
    })
    .to_json()
}

/// Started, opened, first announce made; returns the offer ids.
fn opened(c: &mut Client, now: Instant, offers: usize) -> Vec<OfferId> {
    c.start(now);
    assert_eq!(events(c), [Event::Connect]);
    c.handle_open(now);
    assert_eq!(events(c), [Event::NeedOffers { count: 5 }]);
    let sdps = (0..offers).map(|i| format!("sdp{i}")).collect();
    let ids = c.announce(now, stats(), sdps).unwrap();
    let [ClientMessage::Announce(ref a)] = sent(c)[..] else {
        panic!()
    };
    assert_eq!(a.event, crate::Event::Started);
    ids
}

#[test]
fn first_announce_is_started_with_the_offers() {
    let now = origin();
    let mut c = Client::new(config());
    c.start(now);
    c.handle_open(now);
    events(&mut c);
    let ids = c
        .announce(now, stats(), vec!["a".into(), "b".into()])
        .unwrap();
    assert_eq!(
        sent(&mut c),
        [ClientMessage::Announce(Announce {
            info_hash: HASH,
            peer_id: ME,
            numwant: Some(2),
            uploaded: Some(1),
            downloaded: Some(2),
            left: Some(3),
            event: crate::Event::Started,
            offers: vec![
                Offer {
                    offer_id: ids[0],
                    sdp: "a".into()
                },
                Offer {
                    offer_id: ids[1],
                    sdp: "b".into()
                }
            ],
            tracker_id: None,
        })]
    );
    assert_ne!(ids[0], ids[1]);
    assert_eq!(c.pending_offers().count(), 2);
}

#[test]
fn reannounces_follow_the_interval() {
    let t0 = origin();
    let mut c = Client::new(config());
    opened(&mut c, t0, 0);
    // Before a reply: the default interval.
    assert_eq!(c.poll_timeout(), Some(t0 + secs(120)));
    c.handle_text(t0, &reply(300));
    assert!(matches!(events(&mut c)[..], [Event::Announced(_)]));
    assert_eq!(c.poll_timeout(), Some(t0 + secs(300)));
    c.handle_timeout(t0 + secs(299));
    assert!(events(&mut c).is_empty());
    c.handle_timeout(t0 + secs(300));
    assert_eq!(events(&mut c), [Event::NeedOffers { count: 5 }]);
    // Nothing more is due until the caller announces.
    assert_eq!(c.poll_timeout(), None);
    c.announce(t0 + secs(301), stats(), vec![]).unwrap();
    let [ClientMessage::Announce(ref a)] = sent(&mut c)[..] else {
        panic!()
    };
    assert_eq!(a.event, crate::Event::None);
    assert_eq!(c.poll_timeout(), Some(t0 + secs(601)));
}

#[test]
fn interval_floor_and_tracker_id() {
    let t0 = origin();
    let mut c = Client::new(config());
    opened(&mut c, t0, 0);
    let json = ServerMessage::Announced(AnnounceReply {
        info_hash: Some(HASH),
        interval: Some(secs(1)),
        tracker_id: Some("tid".into()),
        warning: Some("careful".into()),
        ..AnnounceReply::default()
    })
    .to_json();
    c.handle_text(t0, &json);
    assert!(
        matches!(&events(&mut c)[..], [Event::Warning(w), Event::Announced(_)] if w == "careful")
    );
    assert_eq!(c.poll_timeout(), Some(t0 + secs(30)));
    c.handle_timeout(t0 + secs(30));
    c.announce(t0 + secs(30), stats(), vec![]).unwrap();
    let [ClientMessage::Announce(ref a)] = sent(&mut c)[..] else {
        panic!()
    };
    assert_eq!(a.tracker_id.as_deref(), Some("tid"));
}

#[test]
fn remote_offers_are_answered_through_the_tracker() {
    let now = origin();
    let mut c = Client::new(config());
    opened(&mut c, now, 0);
    let offer = |from: PeerId, hash: InfoHash| {
        ServerMessage::Offer(RelayedOffer {
            info_hash: hash,
            peer_id: from,
            offer_id: OfferId([9; 20]),
            sdp: "remote".into(),
        })
        .to_json()
    };
    // Our own offer echoed back, and another torrent's: ignored.
    c.handle_text(now, &offer(ME, HASH));
    c.handle_text(now, &offer(THEM, InfoHash([0; 20])));
    assert!(events(&mut c).is_empty());
    c.handle_text(now, &offer(THEM, HASH));
    assert_eq!(
        events(&mut c),
        [Event::Offer {
            peer_id: THEM,
            offer_id: OfferId([9; 20]),
            sdp: "remote".into()
        }]
    );
    c.answer(now, THEM, OfferId([9; 20]), "mine".into())
        .unwrap();
    assert_eq!(
        sent(&mut c),
        [ClientMessage::Answer(Answer {
            info_hash: HASH,
            peer_id: ME,
            to_peer_id: THEM,
            offer_id: OfferId([9; 20]),
            sdp: "mine".into()
        })]
    );
}

fn answer_to(offer_id: OfferId) -> String {
    ServerMessage::Answer(RelayedAnswer {
        info_hash: HASH,
        peer_id: THEM,
        offer_id,
        sdp: "their answer".into(),
    })
    .to_json()
}

#[test]
fn answers_reach_pending_offers_once() {
    let now = origin();
    let mut c = Client::new(config());
    let ids = opened(&mut c, now, 2);
    c.handle_text(now, &answer_to(ids[1]));
    assert_eq!(
        events(&mut c),
        [Event::Answer {
            peer_id: THEM,
            offer_id: ids[1],
            sdp: "their answer".into()
        }]
    );
    // Again, or for an offer we never made: dropped.
    c.handle_text(now, &answer_to(ids[1]));
    c.handle_text(now, &answer_to(OfferId([0; 20])));
    assert!(events(&mut c).is_empty());
    assert_eq!(c.pending_offers().collect::<Vec<_>>(), [ids[0]]);
}

/// websocket-tracker.js: OFFER_TIMEOUT = 50 s.
#[test]
fn unanswered_offers_expire_after_50_seconds() {
    let t0 = origin();
    let mut c = Client::new(config());
    let ids = opened(&mut c, t0, 1);
    assert_eq!(c.poll_timeout(), Some(t0 + secs(50)));
    c.handle_timeout(t0 + secs(49));
    assert!(events(&mut c).is_empty());
    c.handle_timeout(t0 + secs(50));
    assert_eq!(events(&mut c), [Event::OfferExpired(ids[0])]);
    // A late answer is dropped.
    c.handle_text(t0 + secs(51), &answer_to(ids[0]));
    assert!(events(&mut c).is_empty());
}

/// websocket-tracker.js: 10 s · 2ⁿ, at most 1 h (jitter off here).
#[test]
fn reconnects_back_off_and_reset_after_an_answer() {
    let t0 = origin();
    let mut c = Client::new(config());
    let ids = opened(&mut c, t0, 1);
    let mut now = t0;
    c.handle_close(now);
    // The socket took the offer's answer path with it.
    assert_eq!(events(&mut c), [Event::OfferExpired(ids[0])]);
    let mut delays = Vec::new();
    for _ in 0..12 {
        let at = c.poll_timeout().unwrap();
        delays.push((at - now).as_secs());
        c.handle_timeout(at - Duration::from_millis(1));
        assert!(events(&mut c).is_empty());
        now = at;
        c.handle_timeout(now);
        assert_eq!(events(&mut c), [Event::Connect]);
        c.handle_close(now);
    }
    assert_eq!(
        delays,
        [10, 20, 40, 80, 160, 320, 640, 1280, 2560, 3600, 3600, 3600]
    );
    // An answer from the tracker resets the backoff.
    let at = c.poll_timeout().unwrap();
    c.handle_timeout(at);
    c.handle_open(at);
    assert_eq!(
        events(&mut c),
        [Event::Connect, Event::NeedOffers { count: 5 }]
    );
    c.announce(at, stats(), vec![]).unwrap();
    let [ClientMessage::Announce(ref a)] = sent(&mut c)[..] else {
        panic!()
    };
    assert_eq!(
        a.event,
        crate::Event::Started,
        "a new connection starts again"
    );
    c.handle_text(at, &reply(120));
    c.handle_close(at);
    assert_eq!(c.poll_timeout(), Some(at + secs(10)));
}

#[test]
fn jitter_follows_the_seed_and_stays_in_bounds() {
    let now = origin();
    let delay = |seed| {
        let mut c = Client::new(Config {
            rng_seed: seed,
            ..Config::new(HASH, ME)
        });
        c.start(now);
        c.handle_close(now);
        c.poll_timeout().unwrap() - now
    };
    assert_eq!(delay(1), delay(1));
    assert_ne!(delay(1), delay(2));
    for seed in 0..20 {
        assert!((secs(10)..=secs(20)).contains(&delay(seed)));
    }
}

#[test]
fn completed_and_stopped_carry_no_offers() {
    let now = origin();
    let mut c = Client::new(config());
    opened(&mut c, now, 1);
    c.completed(now, stats()).unwrap();
    let [ClientMessage::Announce(ref a)] = sent(&mut c)[..] else {
        panic!()
    };
    assert_eq!((a.event, a.offers.len()), (crate::Event::Completed, 0));
    c.stop(now, stats());
    let [ClientMessage::Announce(ref a)] = sent(&mut c)[..] else {
        panic!()
    };
    assert_eq!((a.event, a.offers.len()), (crate::Event::Stopped, 0));
    assert!(matches!(events(&mut c)[..], [Event::OfferExpired(_)]));
    assert!(c.is_stopped());
    assert_eq!(c.poll_timeout(), None);
    assert_eq!(c.announce(now, stats(), vec![]), Err(UsageError::Stopped));
    // Nothing happens after a stop.
    c.handle_close(now);
    c.handle_timeout(now + secs(3600));
    assert!(events(&mut c).is_empty());
}

#[test]
fn commands_need_an_open_socket() {
    let now = origin();
    let mut c = Client::new(config());
    assert_eq!(
        c.announce(now, stats(), vec![]),
        Err(UsageError::NotConnected)
    );
    assert_eq!(c.scrape(now), Err(UsageError::NotConnected));
    assert_eq!(
        c.answer(now, THEM, OfferId([0; 20]), String::new()),
        Err(UsageError::NotConnected)
    );
    // Before `started` went out, `completed` sends nothing.
    c.start(now);
    c.handle_open(now);
    c.completed(now, stats()).unwrap();
    assert!(sent(&mut c).is_empty());
    // Text before the socket is open is ignored.
    let mut idle = Client::new(config());
    idle.handle_text(now, &reply(10));
    assert!(events(&mut idle).is_empty());
}

#[test]
fn failures_warnings_and_scrapes_are_reported() {
    let now = origin();
    let mut c = Client::new(config());
    opened(&mut c, now, 0);
    c.handle_text(now, r#"{"failure reason":"invalid info_hash"}"#);
    c.handle_text(now, "not json");
    c.scrape(now).unwrap();
    assert_eq!(sent(&mut c), [ClientMessage::Scrape(vec![HASH])]);
    c.handle_text(
        now,
        &ServerMessage::Scraped(crate::ws::ScrapeReply::default()).to_json(),
    );
    let got = events(&mut c);
    assert!(matches!(&got[0], Event::Failure(r) if r == "invalid info_hash"));
    assert!(matches!(&got[1], Event::Warning(w) if w.starts_with("invalid tracker message")));
    assert!(matches!(&got[2], Event::Scraped(_)));
}
