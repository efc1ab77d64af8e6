use std::net::SocketAddr;

use torrent_format::bencode::DecodeErrorKind;

use super::*;
use crate::Event;

/// The info-hash of the BitTorrent wiki's example, whose encoding is
/// `%124Vx%9A%BC%DE%F1%23Eg%89%AB%CD%EF%124Vx%9A`.
const HASH: [u8; 20] = [
    0x12, 0x34, 0x56, 0x78, 0x9a, 0xbc, 0xde, 0xf1, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef, 0x12,
    0x34, 0x56, 0x78, 0x9a,
];
const HASH_ENCODED: &str = "%124Vx%9A%BC%DE%F1%23Eg%89%AB%CD%EF%124Vx%9A";

fn request() -> AnnounceRequest {
    AnnounceRequest::new(InfoHash(HASH), PeerId(*b"-PC0001-abcdefghijkl"), 6881)
}

fn limits() -> Limits {
    Limits::default()
}

fn success<T>(reply: Reply<T>) -> T {
    match reply {
        Reply::Success(t) => t,
        Reply::Failure(f) => panic!("unexpected failure {f:?}"),
    }
}

fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

#[test]
fn announce_url_carries_every_field_in_order() {
    let mut r = request();
    r.uploaded = 1;
    r.downloaded = 2;
    r.left = 3;
    r.event = Event::Started;
    r.numwant = Some(50);
    r.key = Some(0xdead_beef);
    r.tracker_id = Some(b"t id".to_vec());
    r.ipv4 = Some("1.2.3.4".parse().unwrap());
    r.ipv6 = Some("::1".parse().unwrap());
    assert_eq!(
        announce_url("http://t.example/announce", &r),
        format!(
            "http://t.example/announce?info_hash={HASH_ENCODED}&peer_id=-PC0001-abcdefghijkl\
             &port=6881&uploaded=1&downloaded=2&left=3&compact=1&event=started&numwant=50\
             &key=DEADBEEF&trackerid=t%20id&ipv4=1.2.3.4&ipv6=%3A%3A1"
        )
    );
}

#[test]
fn regular_announce_leaves_absent_fields_out() {
    assert_eq!(
        announce_url("http://t.example/announce", &request()),
        format!(
            "http://t.example/announce?info_hash={HASH_ENCODED}&peer_id=-PC0001-abcdefghijkl\
             &port=6881&uploaded=0&downloaded=0&left=0&compact=1"
        )
    );
}

#[test]
fn announce_url_keeps_an_existing_query_and_drops_a_fragment() {
    let r = request();
    let cases = [
        ("http://t/a?passkey=x", "http://t/a?passkey=x&info_hash="),
        ("http://t/a?passkey=x&", "http://t/a?passkey=x&info_hash="),
        ("http://t/a?", "http://t/a?info_hash="),
        ("http://t/a#frag", "http://t/a?info_hash="),
        ("http://t/a?k=1#frag", "http://t/a?k=1&info_hash="),
    ];
    for (base, start) in cases {
        let url = announce_url(base, &r);
        assert!(url.starts_with(start), "{base} -> {url}");
        assert!(!url.contains('#'));
    }
}

/// BEP 48's table of announce URLs and their scrape URLs.
#[test]
fn scrape_urls_follow_bep48() {
    let cases = [
        (
            "~http://example.com/announce",
            Some("~http://example.com/scrape"),
        ),
        (
            "~http://example.com/x/announce",
            Some("~http://example.com/x/scrape"),
        ),
        (
            "~http://example.com/announce.php",
            Some("~http://example.com/scrape.php"),
        ),
        ("~http://example.com/a", None),
        (
            "~http://example.com/announce?x2%0644",
            Some("~http://example.com/scrape?x2%0644"),
        ),
        ("~http://example.com/announce?x=2/4", None),
        ("~http://example.com/x%064announce", None),
    ];
    for (announce, scrape) in cases {
        assert_eq!(scrape_url(announce, &[]).as_deref(), scrape, "{announce}");
    }
}

#[test]
fn scrape_url_appends_each_hash() {
    let url = scrape_url(
        "http://t/announce?k=1",
        &[InfoHash(HASH), InfoHash([0x41; 20])],
    )
    .unwrap();
    assert_eq!(
        url,
        format!(
            "http://t/scrape?k=1&info_hash={HASH_ENCODED}&info_hash={}",
            "A".repeat(20)
        )
    );
    assert_eq!(
        scrape_url("http://t/announce", &[InfoHash([0x41; 20])]).unwrap(),
        format!("http://t/scrape?info_hash={}", "A".repeat(20))
    );
}

/// BEP 23: "peers" as a string of 6-byte entries.
#[test]
fn compact_response() {
    let body = b"d8:completei2e10:incompletei3e8:intervali1800e12:min intervali900e\
                 5:peers12:\x0a\x00\x00\x01\x1a\xe1\xc0\xa8\x01\x02\x1a\xe2e";
    let r = success(parse_announce_response(body, &limits()).unwrap());
    assert_eq!(r.interval, Some(Duration::from_secs(1800)));
    assert_eq!(r.min_interval, Some(Duration::from_secs(900)));
    assert_eq!((r.complete, r.incomplete), (Some(2), Some(3)));
    let addrs: Vec<_> = r.peers.iter().map(|p| p.addr).collect();
    assert_eq!(addrs, [addr("10.0.0.1:6881"), addr("192.168.1.2:6882")]);
    assert!(r.peers.iter().all(|p| p.peer_id.is_none()));
}

/// BEP 3's dictionary peers; a DNS name is skipped, IPv6 text is read.
#[test]
fn dictionary_response() {
    let body = b"d8:intervali900e5:peersl\
                 d2:ip9:127.0.0.17:peer id20:-PC0001-abcdefghijkl4:porti6881ee\
                 d2:ip11:example.com4:porti1ee\
                 d2:ip3:::14:porti2ee\
                 ee";
    let r = success(parse_announce_response(body, &limits()).unwrap());
    assert_eq!(
        r.peers,
        [
            Peer {
                addr: addr("127.0.0.1:6881"),
                peer_id: Some(PeerId(*b"-PC0001-abcdefghijkl")),
            },
            Peer {
                addr: addr("[::1]:2"),
                peer_id: None,
            },
        ]
    );
}

/// BEP 7: `peers6` beside `peers`; BEP 24: `external ip`; the optional strings.
#[test]
fn ipv6_peers_external_ip_warning_and_tracker_id() {
    let mut body = b"d11:external ip4:\x01\x02\x03\x048:intervali60e5:peers0:6:peers618:".to_vec();
    body.extend_from_slice(&[0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
    body.extend_from_slice(&[0x1a, 0xe1]);
    body.extend_from_slice(b"10:tracker id3:abc15:warning message4:slowe");
    let r = success(parse_announce_response(&body, &limits()).unwrap());
    assert_eq!(r.peers.len(), 1);
    assert_eq!(r.peers[0].addr, addr("[2001:db8::1]:6881"));
    assert_eq!(r.external_ip, Some("1.2.3.4".parse().unwrap()));
    assert_eq!(r.tracker_id.as_deref(), Some(&b"abc"[..]));
    assert_eq!(r.warning.as_deref(), Some("slow"));
}

/// BEP 3: "If present, then no other keys may be present"; BEP 31 adds `retry in`.
#[test]
fn failure_reason_with_retry_advice() {
    let cases: [(&[u8], Retry); 4] = [
        (b"d14:failure reason4:gonee", Retry::Default),
        (
            b"d14:failure reason4:gone8:retry ini30ee",
            Retry::After(Duration::from_secs(1800)),
        ),
        (b"d14:failure reason4:gone8:retry in5:nevere", Retry::Never),
        (b"d14:failure reason4:gone8:retry ini-1ee", Retry::Default),
    ];
    for (body, retry) in cases {
        assert_eq!(
            parse_announce_response(body, &limits()),
            Ok(Reply::Failure(Failure {
                reason: "gone".into(),
                retry
            }))
        );
    }
    assert!(matches!(
        parse_scrape_response(b"d14:failure reason1:xe", &limits()),
        Ok(Reply::Failure(_))
    ));
}

#[test]
fn keys_in_any_order_and_unknown_keys_are_accepted() {
    let body = b"d8:intervali5e5:peers0:3:fooi1e8:completei1ee";
    let r = success(parse_announce_response(body, &limits()).unwrap());
    assert_eq!(r.complete, Some(1));
    assert!(r.peers.is_empty());
}

#[test]
fn malformed_announce_responses_are_typed_errors() {
    let small = Limits {
        max_response_len: 64,
        max_peers: 2,
        max_files: 1,
        max_string_len: 4,
    };
    let cases: [(&[u8], &Limits, ResponseError); 13] = [
        (
            b"d8:intervali5e",
            &limits(),
            ResponseError::Bencode(bencode::DecodeError {
                kind: DecodeErrorKind::UnexpectedEof,
                offset: 14,
            }),
        ),
        (
            b"li1ee",
            &limits(),
            ResponseError::NotADictionary { found: Type::List },
        ),
        (
            b"d8:intervali-5ee",
            &limits(),
            ResponseError::OutOfRange {
                key: "interval",
                value: -5,
            },
        ),
        (
            b"d8:interval2:60e",
            &limits(),
            ResponseError::WrongType {
                key: "interval",
                found: Type::Bytes,
                expected: Type::Int,
            },
        ),
        (
            b"d8:completei4294967296ee",
            &limits(),
            ResponseError::OutOfRange {
                key: "complete",
                value: 1 << 32,
            },
        ),
        (
            b"d5:peersi1ee",
            &limits(),
            ResponseError::WrongType {
                key: "peers",
                found: Type::Int,
                expected: Type::Bytes,
            },
        ),
        (
            b"d5:peers7:\x01\x02\x03\x04\x05\x06\x07e",
            &limits(),
            ResponseError::CompactLength(LengthError {
                family: Family::V4,
                len: 7,
                entry: 6,
            }),
        ),
        (
            b"d6:peers65:\x01\x02\x03\x04\x05e",
            &limits(),
            ResponseError::CompactLength(LengthError {
                family: Family::V6,
                len: 5,
                entry: 18,
            }),
        ),
        (
            b"d5:peers18:\x01\x02\x03\x04\x05\x06\x01\x02\x03\x04\x05\x06\x01\x02\x03\x04\x05\x06e",
            &small,
            ResponseError::TooManyPeers { count: 3, max: 2 },
        ),
        (
            b"d5:peersld2:ip3:::14:porti65536eeee",
            &limits(),
            ResponseError::BadPeer {
                index: 0,
                what: "`port` out of range",
            },
        ),
        (
            b"d5:peersli1eee",
            &limits(),
            ResponseError::BadPeer {
                index: 0,
                what: "not a dictionary",
            },
        ),
        (
            b"d11:external ip5:abcdee",
            &limits(),
            ResponseError::BadExternalIp { len: 5 },
        ),
        (
            b"d14:failure reason5:abcdee",
            &small,
            ResponseError::StringTooLong {
                key: "failure reason",
                len: 5,
                max: 4,
            },
        ),
    ];
    for (body, limits, error) in cases {
        assert_eq!(
            parse_announce_response(body, limits),
            Err(error),
            "{}",
            String::from_utf8_lossy(body)
        );
    }
}

#[test]
fn oversized_bodies_are_refused_before_decoding() {
    let limits = Limits {
        max_response_len: 10,
        ..Limits::default()
    };
    // Not even bencode: the length check comes first.
    assert_eq!(
        parse_announce_response(&[b'x'; 11], &limits),
        Err(ResponseError::TooLong { len: 11, max: 10 })
    );
    assert_eq!(
        parse_scrape_response(&[b'x'; 11], &limits),
        Err(ResponseError::TooLong { len: 11, max: 10 })
    );
}

#[test]
fn peer_id_of_the_wrong_length_is_an_error() {
    let body = b"d5:peersld2:ip9:127.0.0.17:peer id3:abc4:porti1eeee";
    assert_eq!(
        parse_announce_response(body, &limits()),
        Err(ResponseError::BadPeer {
            index: 0,
            what: "`peer id` is not 20 bytes"
        })
    );
}

/// BEP 48's example response, with `flags`.
#[test]
fn scrape_response() {
    let mut body = b"d5:filesd20:".to_vec();
    body.extend_from_slice(&HASH);
    body.extend_from_slice(
        b"d8:completei5e10:downloadedi50e10:incompletei10eee5:flagsd20:min_request_intervali900eee",
    );
    let r = success(parse_scrape_response(&body, &limits()).unwrap());
    assert_eq!(
        r.files,
        [(
            InfoHash(HASH),
            ScrapeStats {
                complete: 5,
                downloaded: 50,
                incomplete: 10
            }
        )]
    );
    assert_eq!(r.min_request_interval, Some(Duration::from_secs(900)));
}

/// INTEROP-NOTES: bittorrent-tracker writes `files` keys as the UTF-8 of the binary string.
#[test]
fn scrape_keys_written_as_utf8_binary_strings_are_read() {
    let key = crate::ws::to_binary_string(&HASH);
    assert_eq!(
        key.len(),
        29,
        "9 of the 20 bytes are over 0x7f: 2 bytes of UTF-8 each"
    );
    let body = format!("d5:filesd{}:{key}d8:completei1eeee", key.len());
    let r = success(parse_scrape_response(body.as_bytes(), &limits()).unwrap());
    assert_eq!(r.files[0].0, InfoHash(HASH));
    assert_eq!(r.files[0].1.complete, 1);
    assert_eq!(r.files[0].1.incomplete, 0);
}

#[test]
fn malformed_scrape_responses_are_typed_errors() {
    let one = Limits {
        max_files: 1,
        ..Limits::default()
    };
    let two_files = format!("d5:filesd20:{}de20:{}deee", "a".repeat(20), "b".repeat(20));
    let cases: [(&[u8], &Limits, ResponseError); 4] = [
        (
            b"d5:filesd3:abcdeee",
            &limits(),
            ResponseError::BadInfoHash { len: 3 },
        ),
        (
            b"d5:filesli1eee",
            &limits(),
            ResponseError::WrongType {
                key: "files",
                found: Type::List,
                expected: Type::Dict,
            },
        ),
        (
            two_files.as_bytes(),
            &one,
            ResponseError::TooManyFiles { count: 2, max: 1 },
        ),
        (
            b"d5:filesd20:aaaaaaaaaaaaaaaaaaaad8:completei-1eeee",
            &limits(),
            ResponseError::OutOfRange {
                key: "complete",
                value: -1,
            },
        ),
    ];
    for (body, limits, error) in cases {
        assert_eq!(parse_scrape_response(body, limits), Err(error));
    }
}

#[test]
fn every_truncation_of_a_valid_response_is_an_error_not_a_panic() {
    let body = b"d8:completei2e10:incompletei3e8:intervali1800e5:peersld2:ip9:127.0.0.1\
                 7:peer id20:-PC0001-abcdefghijkl4:porti6881eee6:peers618:\
                 \x20\x01\x0d\xb8\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x01\x1a\xe1e";
    assert!(matches!(
        parse_announce_response(body, &limits()),
        Ok(Reply::Success(_))
    ));
    for len in 0..body.len() {
        assert!(
            parse_announce_response(&body[..len], &limits()).is_err(),
            "prefix of {len} bytes"
        );
    }
}
