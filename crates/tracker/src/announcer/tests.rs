use super::*;

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

fn tiers(spec: &[&[&str]]) -> Vec<Vec<String>> {
    spec.iter()
        .map(|t| t.iter().map(|u| (*u).to_owned()).collect())
        .collect()
}

fn jobs(a: &mut Announcer) -> Vec<Job> {
    std::iter::from_fn(|| a.poll_action())
        .map(|action| match action {
            Action::Announce(job) => job,
            Action::Finished => panic!("unexpected Finished"),
        })
        .collect()
}

fn one(a: &mut Announcer) -> Job {
    let mut j = jobs(a);
    assert_eq!(j.len(), 1, "{j:?}");
    j.remove(0)
}

fn ok(interval: u64) -> AnnounceResponse {
    AnnounceResponse {
        interval: Some(secs(interval)),
        ..AnnounceResponse::default()
    }
}

fn order(a: &Announcer) -> Vec<String> {
    a.trackers().map(|t| t.url).collect()
}

#[test]
fn tiers_are_shuffled_by_the_seed_and_kept_in_order() {
    let spec = tiers(&[&["a", "b", "c", "d", "e"], &["f", "g"]]);
    let run = |seed| {
        let a = Announcer::new(
            Config {
                rng_seed: seed,
                ..Config::default()
            },
            spec.clone(),
            origin(),
        );
        order(&a)
    };
    assert_eq!(run(3), run(3));
    let orders: std::collections::BTreeSet<_> = (0..20).map(run).collect();
    assert!(orders.len() > 1, "the seed changes the shuffle");
    for o in orders {
        let (first, second) = o.split_at(5);
        let mut first = first.to_vec();
        first.sort();
        assert_eq!(first, ["a", "b", "c", "d", "e"]);
        assert!(second.contains(&"f".to_owned()) && second.contains(&"g".to_owned()));
    }
}

#[test]
fn duplicates_and_empty_tiers_are_dropped() {
    let a = Announcer::new(
        Config::default(),
        tiers(&[&[], &["a"], &["a", "b"]]),
        origin(),
    );
    let infos: Vec<_> = a.trackers().map(|t| (t.url, t.tier)).collect();
    assert_eq!(infos, [("a".to_owned(), 0), ("b".to_owned(), 1)]);
}

#[test]
fn first_announce_is_started_then_regular_after_the_interval() {
    let t0 = origin();
    let mut a = Announcer::new(Config::default(), tiers(&[&["a"]]), t0);
    let job = one(&mut a);
    assert_eq!((job.url.as_str(), job.event), ("a", Event::Started));
    // Nothing else while in flight.
    assert_eq!(a.poll_timeout(), None);
    a.handle_response(t0, job.tracker, &ok(900));
    assert_eq!(a.poll_timeout(), Some(t0 + secs(900)));
    a.handle_timeout(t0 + secs(899));
    assert!(jobs(&mut a).is_empty());
    a.handle_timeout(t0 + secs(900));
    assert_eq!(one(&mut a).event, Event::None);
}

#[test]
fn intervals_are_clamped_and_min_interval_respected() {
    let t0 = origin();
    let mut a = Announcer::new(Config::default(), tiers(&[&["a"]]), t0);
    let cases = [
        (ok(5), 60),                         // floor
        (ok(100_000), 7200),                 // ceiling
        (AnnounceResponse::default(), 1800), // default
        (
            AnnounceResponse {
                interval: Some(secs(100)),
                min_interval: Some(secs(300)),
                ..AnnounceResponse::default()
            },
            300,
        ),
    ];
    let mut now = t0;
    for (response, wait) in cases {
        let job = one(&mut a);
        a.handle_response(now, job.tracker, &response);
        assert_eq!(a.poll_timeout(), Some(now + secs(wait)));
        now += secs(wait);
        a.handle_timeout(now);
    }
}

/// BEP 12: a tracker that answers moves to the front of its tier.
#[test]
fn answering_tracker_moves_to_the_front_of_its_tier() {
    let t0 = origin();
    let mut a = Announcer::new(Config::default(), tiers(&[&["a", "b", "c"]]), t0);
    let before = order(&a);
    let first = one(&mut a);
    assert_eq!(first.url, before[0]);
    a.handle_failure(t0, first.tracker, Retry::Default);
    let second = one(&mut a);
    assert_eq!(second.url, before[1], "next in the tier, at once");
    a.handle_response(t0, second.tracker, &ok(600));
    assert_eq!(
        order(&a),
        [before[1].clone(), before[0].clone(), before[2].clone()]
    );
    // The next announce starts from the front: the one that answered.
    a.handle_timeout(t0 + secs(600));
    assert_eq!(one(&mut a).url, before[1]);
}

/// BEP 12: all trackers of a tier failing sends the client to the next tier; each announce
/// starts over from the first tier, skipping trackers that back off.
#[test]
fn failing_tier_falls_through_to_the_next() {
    let t0 = origin();
    let mut a = Announcer::new(Config::default(), tiers(&[&["a"], &["b"], &["c"]]), t0);
    let ja = one(&mut a);
    assert_eq!(ja.url, "a");
    a.handle_failure(t0, ja.tracker, Retry::Default);
    let jb = one(&mut a);
    assert_eq!(jb.url, "b");
    a.handle_failure(t0, jb.tracker, Retry::Default);
    let jc = one(&mut a);
    assert_eq!((jc.url.as_str(), jc.event), ("c", Event::Started));
    a.handle_response(t0, jc.tracker, &ok(1800));
    // At the next announce "a" has recovered from its 15 s backoff: tier 1 comes first again,
    // with `started` since it never answered.
    a.handle_timeout(t0 + secs(1800));
    let again = one(&mut a);
    assert_eq!((again.url.as_str(), again.event), ("a", Event::Started));
}

#[test]
fn backoff_doubles_per_failure_up_to_the_maximum() {
    let t0 = origin();
    let mut a = Announcer::new(Config::default(), tiers(&[&["a"]]), t0);
    let mut now = t0;
    let mut waits = Vec::new();
    for _ in 0..10 {
        let job = one(&mut a);
        a.handle_failure(now, job.tracker, Retry::Default);
        let at = a.poll_timeout().unwrap();
        waits.push((at - now).as_secs());
        now = at;
        a.handle_timeout(now);
    }
    assert_eq!(waits, [15, 30, 60, 120, 240, 480, 960, 1800, 1800, 1800]);
    assert_eq!(a.trackers().next().unwrap().failures, 10);
    // Success resets the count.
    let job = one(&mut a);
    a.handle_response(now, job.tracker, &ok(600));
    assert_eq!(a.trackers().next().unwrap().failures, 0);
}

/// BEP 31: `retry in` minutes, or never.
#[test]
fn retry_advice_is_followed() {
    let t0 = origin();
    let mut a = Announcer::new(Config::default(), tiers(&[&["a"], &["b"]]), t0);
    let ja = one(&mut a);
    a.handle_failure(t0, ja.tracker, Retry::Never);
    let jb = one(&mut a);
    a.handle_failure(t0, jb.tracker, Retry::After(secs(120)));
    assert_eq!(a.poll_timeout(), Some(t0 + secs(120)));
    a.handle_timeout(t0 + secs(120));
    assert_eq!(one(&mut a).url, "b", "a is never tried again");
    assert!(a.trackers().next().unwrap().disabled);
}

#[test]
fn completed_goes_once_to_each_tracker_that_knows_us() {
    let t0 = origin();
    let mut a = Announcer::new(Config::default(), tiers(&[&["a"]]), t0);
    let job = one(&mut a);
    a.handle_response(t0, job.tracker, &ok(1800));
    a.completed(t0 + secs(10));
    let job = one(&mut a);
    assert_eq!(job.event, Event::Completed, "sent now, not at the interval");
    a.handle_response(t0 + secs(10), job.tracker, &ok(1800));
    a.handle_timeout(t0 + secs(1810));
    assert_eq!(one(&mut a).event, Event::None);
}

#[test]
fn completed_during_started_in_flight_follows_it() {
    let t0 = origin();
    let mut a = Announcer::new(Config::default(), tiers(&[&["a"]]), t0);
    let job = one(&mut a);
    a.completed(t0);
    assert!(jobs(&mut a).is_empty(), "one announce in flight at a time");
    a.handle_response(t0, job.tracker, &ok(1800));
    assert_eq!(one(&mut a).event, Event::Completed);
}

#[test]
fn completed_before_any_started_is_not_sent() {
    let t0 = origin();
    let mut a = Announcer::new(Config::default(), tiers(&[&["a"]]), t0);
    let job = one(&mut a);
    a.handle_failure(t0, job.tracker, Retry::Default);
    a.completed(t0);
    a.handle_timeout(t0 + secs(15));
    // The seed starts with `started` (and left = 0, which the caller fills in).
    let job = one(&mut a);
    assert_eq!(job.event, Event::Started);
    a.handle_response(t0 + secs(15), job.tracker, &ok(60));
    a.handle_timeout(t0 + secs(75));
    assert_eq!(one(&mut a).event, Event::None);
}

#[test]
fn stop_sends_stopped_to_started_trackers_then_finishes() {
    let t0 = origin();
    let mut a = Announcer::new(
        Config {
            all_tiers: true,
            ..Config::default()
        },
        tiers(&[&["a"], &["b"], &["c"]]),
        t0,
    );
    let started = jobs(&mut a);
    assert_eq!(started.len(), 3, "one per tier with all_tiers");
    // a answers, b fails, c is still in flight when we stop.
    a.handle_response(t0, started[0].tracker, &ok(60));
    a.handle_failure(t0, started[1].tracker, Retry::Default);
    a.stop(t0 + secs(1));
    let stops = jobs(&mut a);
    assert_eq!(stops.len(), 1);
    assert_eq!(
        (stops[0].url.as_str(), stops[0].event),
        ("a", Event::Stopped)
    );
    a.handle_response(t0 + secs(1), stops[0].tracker, &ok(60));
    assert!(!a.is_finished(), "c's started is in flight");
    // c answers its started: it knows us now, so it gets stopped too.
    a.handle_response(t0 + secs(2), started[2].tracker, &ok(60));
    let stop_c = one(&mut a);
    assert_eq!((stop_c.url.as_str(), stop_c.event), ("c", Event::Stopped));
    a.handle_failure(t0 + secs(3), stop_c.tracker, Retry::Default);
    assert_eq!(a.poll_action(), Some(Action::Finished));
    assert!(a.is_finished());
    assert_eq!(a.poll_timeout(), None);
    // Nothing after that.
    a.completed(t0 + secs(4));
    a.announce_now(t0 + secs(4));
    a.handle_timeout(t0 + secs(10_000));
    assert_eq!(a.poll_action(), None);
}

#[test]
fn stop_gives_up_after_its_timeout() {
    let t0 = origin();
    let mut a = Announcer::new(Config::default(), tiers(&[&["a"]]), t0);
    let job = one(&mut a);
    a.handle_response(t0, job.tracker, &ok(60));
    a.stop(t0);
    let stop = one(&mut a);
    assert_eq!(a.poll_timeout(), Some(t0 + secs(10)));
    a.handle_timeout(t0 + secs(10));
    assert_eq!(a.poll_action(), Some(Action::Finished));
    // A late answer changes nothing.
    a.handle_response(t0 + secs(11), stop.tracker, &ok(60));
    assert_eq!(a.poll_action(), None);
}

#[test]
fn stop_without_started_trackers_finishes_at_once() {
    let t0 = origin();
    let mut a = Announcer::new(Config::default(), tiers(&[&["a"]]), t0);
    let job = one(&mut a);
    a.handle_failure(t0, job.tracker, Retry::Default);
    a.stop(t0);
    assert_eq!(a.poll_action(), Some(Action::Finished));
    let mut empty = Announcer::new(Config::default(), vec![], t0);
    assert_eq!(empty.poll_timeout(), None);
    empty.stop(t0);
    assert_eq!(empty.poll_action(), Some(Action::Finished));
}

#[test]
fn announce_now_waits_for_min_interval() {
    let t0 = origin();
    let mut a = Announcer::new(Config::default(), tiers(&[&["a"]]), t0);
    let job = one(&mut a);
    a.handle_response(
        t0,
        job.tracker,
        &AnnounceResponse {
            interval: Some(secs(1800)),
            min_interval: Some(secs(300)),
            ..AnnounceResponse::default()
        },
    );
    a.announce_now(t0 + secs(10));
    assert!(jobs(&mut a).is_empty());
    assert_eq!(a.poll_timeout(), Some(t0 + secs(300)));
    a.handle_timeout(t0 + secs(300));
    let job = one(&mut a);
    assert_eq!(job.event, Event::None);
    // Without a min interval in the last response, the next one goes at once.
    a.handle_response(t0 + secs(300), job.tracker, &ok(1800));
    a.announce_now(t0 + secs(301));
    assert_eq!(one(&mut a).tracker, job.tracker);
}

#[test]
fn the_key_is_one_per_session_and_follows_the_seed() {
    let t0 = origin();
    let make = |seed| {
        Announcer::new(
            Config {
                rng_seed: seed,
                ..Config::default()
            },
            tiers(&[&["a"], &["b"]]),
            t0,
        )
    };
    let mut a = make(1);
    assert_eq!(a.key(), make(1).key());
    assert_ne!(a.key(), make(2).key());
    let first = one(&mut a);
    a.handle_failure(t0, first.tracker, Retry::Default);
    let second = one(&mut a);
    assert_eq!((first.key, second.key), (a.key(), a.key()));
}

#[test]
fn tracker_ids_are_sent_back() {
    let t0 = origin();
    let mut a = Announcer::new(Config::default(), tiers(&[&["a"]]), t0);
    let job = one(&mut a);
    assert_eq!(job.tracker_id, None);
    a.handle_response(
        t0,
        job.tracker,
        &AnnounceResponse {
            tracker_id: Some(b"xyz".to_vec()),
            ..ok(60)
        },
    );
    a.handle_timeout(t0 + secs(60));
    assert_eq!(one(&mut a).tracker_id.as_deref(), Some(&b"xyz"[..]));
}

#[test]
fn results_for_trackers_without_an_announce_in_flight_are_ignored() {
    let t0 = origin();
    let mut a = Announcer::new(Config::default(), tiers(&[&["a"], &["b"]]), t0);
    let job = one(&mut a);
    a.handle_response(t0, TrackerId(1), &ok(60));
    a.handle_failure(t0, TrackerId(1), Retry::Never);
    a.handle_failure(t0, TrackerId(99), Retry::Never);
    assert!(jobs(&mut a).is_empty());
    assert!(!a.trackers().any(|t| t.disabled));
    a.handle_response(t0, job.tracker, &ok(60));
    a.handle_response(t0, job.tracker, &ok(5000));
    assert_eq!(
        a.poll_timeout(),
        Some(t0 + secs(60)),
        "the duplicate is ignored"
    );
}
