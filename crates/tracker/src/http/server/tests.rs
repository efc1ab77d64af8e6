use std::time::{Duration, Instant};

use super::*;
use crate::http::{self, Limits};
use crate::server::{Config, SwarmPeer};
use crate::{AnnounceRequest, Peer, Reply};

#[expect(
    clippy::disallowed_methods,
    reason = "tests need an origin for virtual time"
)]
fn origin() -> Instant {
    Instant::now()
}

fn limits() -> RequestLimits {
    RequestLimits::default()
}

fn hash_param(b: u8) -> String {
    format!("%{b:02X}").repeat(20)
}

fn query(extra: &str) -> String {
    format!(
        "info_hash={}&peer_id=-PC0001-abcdefghijkl&port=6881{extra}",
        hash_param(0xaa)
    )
}

#[test]
fn announce_query_fields_are_read() {
    let q = format!(
        "{}&uploaded=1&downloaded=2&left=3&event=completed&compact=1&no_peer_id=1&numwant=7\
         &key=ab12&trackerid=t%00&ipv6=%3A%3A1",
        query("")
    );
    assert_eq!(
        parse_announce(&q, &limits()),
        Ok(AnnounceQuery {
            info_hash: InfoHash([0xaa; 20]),
            peer_id: PeerId(*b"-PC0001-abcdefghijkl"),
            port: 6881,
            uploaded: Some(1),
            downloaded: Some(2),
            left: Some(3),
            event: Event::Completed,
            compact: true,
            no_peer_id: true,
            numwant: Some(7),
            key: Some(b"ab12".to_vec()),
            tracker_id: Some(b"t\0".to_vec()),
            claimed_ip: Some("::1".parse().unwrap()),
        })
    );
}

#[test]
fn minimal_announce_defaults() {
    let q = parse_announce(&query(""), &limits()).unwrap();
    assert_eq!(q.event, Event::None);
    assert!(!q.compact);
    assert_eq!((q.left, q.numwant, q.key), (None, None, None));
    // numwant=-1 (BEP 15's "default") is absent.
    assert_eq!(
        parse_announce(&query("&numwant=-1"), &limits())
            .unwrap()
            .numwant,
        None
    );
}

/// Raw bytes that happen to be unreserved characters may come unescaped; `+` is a byte.
#[test]
fn info_hash_bytes_may_come_unescaped() {
    let q = format!(
        "info_hash={}&peer_id={}&port=1",
        "+".repeat(20),
        "a".repeat(20)
    );
    let q = parse_announce(&q, &limits()).unwrap();
    assert_eq!(q.info_hash, InfoHash([b'+'; 20]));
}

#[test]
fn bad_announce_queries_are_typed_errors() {
    let cases = [
        (
            "peer_id=-PC0001-abcdefghijkl&port=1".to_string(),
            RequestError::Missing("info_hash"),
        ),
        (
            format!("info_hash={}&port=1", hash_param(1)),
            RequestError::Missing("peer_id"),
        ),
        (
            format!("info_hash={}&peer_id={}", hash_param(1), "a".repeat(20)),
            RequestError::Missing("port"),
        ),
        (
            format!("info_hash={}&peer_id=x&port=1", hash_param(1)),
            RequestError::Invalid("peer_id"),
        ),
        (
            format!("info_hash=%AA&peer_id={}&port=1", "a".repeat(20)),
            RequestError::Invalid("info_hash"),
        ),
        (
            query("").replace("port=6881", "port=0"),
            RequestError::Invalid("port"),
        ),
        (
            query("").replace("port=6881", "port=65536"),
            RequestError::Invalid("port"),
        ),
        (
            query("").replace("port=6881", "port=+1"),
            RequestError::Invalid("port"),
        ),
        (query("&left=x"), RequestError::Invalid("left")),
        (query("&left=-1"), RequestError::Invalid("left")),
        (query("&event=paused2"), RequestError::Invalid("event")),
        (query("&compact=2"), RequestError::Invalid("compact")),
        (query("&numwant=1x"), RequestError::Invalid("numwant")),
        (query("&key=%G0"), RequestError::BadEscape { param: "key" }),
        (query("&%zz=1"), RequestError::BadEscape { param: "query" }),
    ];
    for (q, error) in cases {
        assert_eq!(parse_announce(&q, &limits()), Err(error), "{q}");
    }
}

#[test]
fn limits_are_checked() {
    let tight = RequestLimits {
        max_target_len: 30,
        max_params: 2,
    };
    assert_eq!(
        parse_request(&"/announce?".repeat(4), &tight),
        Err(RequestError::TooLong { len: 40, max: 30 })
    );
    assert_eq!(
        parse_request("/scrape?a=1&b=2&c=3", &tight),
        Err(RequestError::TooManyParams { max: 2 })
    );
    // Empty pieces do not count.
    assert_eq!(
        parse_request("/scrape?&&&", &tight),
        Ok(Request::Scrape(vec![]))
    );
}

#[test]
fn paths_choose_announce_or_scrape() {
    assert!(matches!(
        parse_request(&format!("/announce?{}", query("")), &limits()),
        Ok(Request::Announce(_))
    ));
    assert!(matches!(
        parse_request(&format!("/passkey123/announce?{}", query("")), &limits()),
        Ok(Request::Announce(_))
    ));
    assert_eq!(
        parse_request(
            &format!(
                "/scrape?info_hash={}&info_hash={}",
                hash_param(1),
                hash_param(2)
            ),
            &limits()
        ),
        Ok(Request::Scrape(vec![InfoHash([1; 20]), InfoHash([2; 20])]))
    );
    assert_eq!(
        parse_request("/scrape", &limits()),
        Ok(Request::Scrape(vec![]))
    );
    for target in ["/", "/announce.php?x=1", "/stats", ""] {
        assert_eq!(
            parse_request(target, &limits()),
            Err(RequestError::UnknownPath),
            "{target}"
        );
    }
    assert_eq!(
        parse_request("/scrape?info_hash=abc", &limits()),
        Err(RequestError::Invalid("info_hash"))
    );
}

fn reply(peers: Vec<SwarmPeer>) -> AnnounceReply {
    AnnounceReply {
        complete: 1,
        incomplete: 2,
        downloaded: 0,
        interval: Duration::from_secs(600),
        min_interval: Duration::from_secs(60),
        peers,
        stored: true,
    }
}

fn peer(id: u8, addr: &str) -> SwarmPeer {
    SwarmPeer {
        peer_id: PeerId([id; 20]),
        endpoint: Endpoint::Addr(addr.parse().unwrap()),
        seeder: false,
    }
}

#[test]
fn compact_reply_bytes() {
    let body = encode_announce(
        &reply(vec![peer(1, "10.0.0.1:6881"), peer(2, "[::1]:2")]),
        true,
        false,
    );
    let mut expected = b"d8:completei1e10:incompletei2e8:intervali600e12:min intervali60e\
                         5:peers6:\x0a\x00\x00\x01\x1a\xe16:peers618:"
        .to_vec();
    expected.extend_from_slice(&[0; 15]);
    expected.extend_from_slice(&[1, 0, 2, b'e']);
    assert_eq!(body, expected);
}

#[test]
fn compact_reply_without_ipv6_peers_has_no_peers6() {
    let body = encode_announce(&reply(vec![]), true, false);
    assert_eq!(
        body,
        b"d8:completei1e10:incompletei2e8:intervali600e12:min intervali60e5:peers0:e"
    );
}

#[test]
fn dictionary_reply_bytes() {
    let peers = vec![peer(b'a', "10.0.0.1:6881")];
    assert_eq!(
        encode_announce(&reply(peers.clone()), false, false),
        b"d8:completei1e10:incompletei2e8:intervali600e12:min intervali60e5:peersl\
          d2:ip8:10.0.0.17:peer id20:aaaaaaaaaaaaaaaaaaaa4:porti6881eeee"
    );
    assert_eq!(
        encode_announce(&reply(peers), false, true),
        b"d8:completei1e10:incompletei2e8:intervali600e12:min intervali60e5:peersl\
          d2:ip8:10.0.0.14:porti6881eeee"
    );
}

#[test]
fn scrape_and_failure_bytes() {
    let stats = ScrapeStats {
        complete: 5,
        downloaded: 50,
        incomplete: 10,
    };
    let mut expected = b"d5:filesd20:".to_vec();
    expected.extend_from_slice(&[7; 20]);
    expected.extend_from_slice(
        b"d8:completei5e10:downloadedi50e10:incompletei10eee5:flagsd20:min_request_intervali900eee",
    );
    assert_eq!(
        encode_scrape(
            &[(InfoHash([7; 20]), stats)],
            Some(Duration::from_secs(900))
        ),
        expected
    );
    assert_eq!(encode_scrape(&[], None), b"d5:filesdee");
    assert_eq!(encode_failure("no"), b"d14:failure reason2:noe");
}

/// The whole loop: our client's URL, parsed by our server, answered, read by our client.
#[test]
fn client_url_server_reply_client_parse() {
    let now = origin();
    let mut table = SwarmTable::new(Config::default());
    let hash = InfoHash([0x12; 20]);
    let mut first = AnnounceRequest::new(hash, PeerId([1; 20]), 6881);
    first.left = 100;
    first.event = Event::Started;
    let second = AnnounceRequest::new(hash, PeerId([2; 20]), 6882);

    for (request, ip) in [(&first, "10.0.0.1"), (&second, "10.0.0.2")] {
        let url = http::announce_url("http://tracker/announce", request);
        let target = url.strip_prefix("http://tracker").unwrap();
        let body = respond(now, target, ip.parse().unwrap(), &mut table, &limits());
        let Reply::Success(response) =
            http::parse_announce_response(&body, &Limits::default()).unwrap()
        else {
            panic!("failure: {}", String::from_utf8_lossy(&body));
        };
        if request.peer_id == second.peer_id {
            assert_eq!(
                response.peers,
                [Peer {
                    addr: "10.0.0.1:6881".parse().unwrap(),
                    peer_id: None
                }]
            );
            assert_eq!((response.complete, response.incomplete), (Some(1), Some(1)));
        } else {
            assert!(response.peers.is_empty(), "never the announcer itself");
        }
    }
    let url = http::scrape_url("http://tracker/announce", &[hash]).unwrap();
    let body = respond(
        now,
        url.strip_prefix("http://tracker").unwrap(),
        "10.0.0.3".parse().unwrap(),
        &mut table,
        &limits(),
    );
    let Reply::Success(scrape) = http::parse_scrape_response(&body, &Limits::default()).unwrap()
    else {
        panic!()
    };
    assert_eq!(
        scrape.files,
        [(
            hash,
            ScrapeStats {
                complete: 1,
                downloaded: 0,
                incomplete: 1
            }
        )]
    );
}

#[test]
fn respond_reports_errors_as_failure_reasons() {
    let now = origin();
    let mut table = SwarmTable::new(Config::default());
    let ip = "10.0.0.1".parse().unwrap();
    assert_eq!(
        respond(now, "/announce?port=1", ip, &mut table, &limits()),
        encode_failure("missing `info_hash`")
    );
    assert_eq!(
        respond(now, "/scrape", ip, &mut table, &limits()),
        encode_failure("full scrape is disabled")
    );
    assert_eq!(
        respond(now, "/other", ip, &mut table, &limits()),
        encode_failure("not an announce or scrape request")
    );
}

/// The address announced is the connection's, not the `ip` parameter's.
#[test]
fn claimed_ip_is_ignored() {
    let now = origin();
    let mut table = SwarmTable::new(Config::default());
    let target = format!("/announce?{}&ip=6.6.6.6", query(""));
    respond(
        now,
        &target,
        "10.0.0.1".parse().unwrap(),
        &mut table,
        &limits(),
    );
    let peers: Vec<_> = table.peers(&InfoHash([0xaa; 20])).collect();
    assert_eq!(
        peers[0].endpoint,
        Endpoint::Addr("10.0.0.1:6881".parse().unwrap())
    );
}
