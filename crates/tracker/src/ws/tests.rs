use super::*;

fn limits() -> Limits {
    Limits::default()
}

/// 20 bytes `b` as a binary string inside hand-written JSON: `\u00XX` escapes, as
/// `JSON.stringify` writes control characters.
fn bin(b: u8) -> String {
    format!("\\u{b:04x}").repeat(20)
}

#[test]
fn every_byte_is_one_code_point() {
    let all: Vec<u8> = (0..=255).collect();
    let s = to_binary_string(&all);
    assert_eq!(s.chars().count(), 256);
    assert!(s.chars().zip(0u32..).all(|(c, n)| u32::from(c) == n));
    let back: [u8; 256] = from_binary_string(&s).unwrap();
    assert_eq!(back.to_vec(), all);
}

#[test]
fn binary_string_errors() {
    assert_eq!(
        from_binary_string::<3>("ab\u{100}"),
        Err(BinaryStringError::CodePoint {
            index: 2,
            code_point: 0x100
        })
    );
    assert_eq!(
        from_binary_string::<2>("a😀"),
        Err(BinaryStringError::CodePoint {
            index: 1,
            code_point: 0x1f600
        })
    );
    assert_eq!(
        from_binary_string::<20>("abc"),
        Err(BinaryStringError::Length {
            expected: 20,
            found: 3
        })
    );
    assert_eq!(
        from_binary_string::<2>("abc"),
        Err(BinaryStringError::Length {
            expected: 2,
            found: 3
        })
    );
}

/// INTEROP-NOTES: byte 0xEB travels as UTF-8 `ë` or as `\u00eb`; both are the same byte.
#[test]
fn escaped_and_raw_latin1_are_the_same_byte() {
    let raw = format!(r#"{{"action":"scrape","info_hash":"{}"}}"#, "ë".repeat(20));
    let escaped = format!(
        r#"{{"action":"scrape","info_hash":"{}"}}"#,
        r"\u00eb".repeat(20)
    );
    let want = ClientMessage::Scrape(vec![InfoHash([0xeb; 20])]);
    assert_eq!(ClientMessage::from_json(&raw, &limits()), Ok(want.clone()));
    assert_eq!(ClientMessage::from_json(&escaped, &limits()), Ok(want));
}

fn announce_json() -> String {
    format!(
        r#"{{"numwant":2,"uploaded":0,"downloaded":0,"left":1000,"event":"started","action":"announce","info_hash":"{}","peer_id":"-WW0300-{}","offers":[{{"offer":{{"type":"offer","sdp":"v=0\r\n"}},"offer_id":"{}"}},{{"offer":{{"type":"offer","sdp":"v=1"}},"offer_id":"{}"}}]}}"#,
        bin(0x12),
        "abcdefghijkl",
        bin(1),
        bin(2)
    )
}

/// The announce WebTorrent's websocket-tracker.js sends: the fields of
/// `_defaultAnnounceOpts`, then `action`, `info_hash`, `peer_id`, `numwant` and `offers`.
#[test]
fn webtorrent_announce() {
    let m = ClientMessage::from_json(&announce_json(), &limits()).unwrap();
    assert_eq!(
        m,
        ClientMessage::Announce(Announce {
            info_hash: InfoHash([0x12; 20]),
            peer_id: PeerId(*b"-WW0300-abcdefghijkl"),
            numwant: Some(2),
            uploaded: Some(0),
            downloaded: Some(0),
            left: Some(1000),
            event: AnnounceEvent::Started,
            offers: vec![
                Offer {
                    offer_id: OfferId([1; 20]),
                    sdp: "v=0\r\n".into()
                },
                Offer {
                    offer_id: OfferId([2; 20]),
                    sdp: "v=1".into()
                },
            ],
            tracker_id: None,
        })
    );
}

#[test]
fn announce_json_written() {
    let m = ClientMessage::Announce(Announce {
        info_hash: InfoHash([b'h'; 20]),
        peer_id: PeerId([b'p'; 20]),
        numwant: Some(1),
        uploaded: Some(1),
        downloaded: Some(2),
        left: Some(3),
        event: AnnounceEvent::Started,
        offers: vec![Offer {
            offer_id: OfferId([b'o'; 20]),
            sdp: "v=0".into(),
        }],
        tracker_id: None,
    });
    let (h, p, o) = ("h".repeat(20), "p".repeat(20), "o".repeat(20));
    assert_eq!(
        m.to_json(),
        format!(
            r#"{{"action":"announce","info_hash":"{h}","peer_id":"{p}","numwant":1,"uploaded":1,"downloaded":2,"left":3,"event":"started","offers":[{{"offer":{{"type":"offer","sdp":"v=0"}},"offer_id":"{o}"}}]}}"#
        )
    );
}

/// websocket-tracker.js: "Don't include offers with 'stopped' or 'completed' event".
#[test]
fn stopped_and_completed_carry_no_offers_field() {
    for event in [AnnounceEvent::Stopped, AnnounceEvent::Completed] {
        let m = ClientMessage::Announce(Announce {
            info_hash: InfoHash([1; 20]),
            peer_id: PeerId([2; 20]),
            numwant: None,
            uploaded: None,
            downloaded: None,
            left: Some(0),
            event,
            offers: vec![],
            tracker_id: None,
        });
        let json = m.to_json();
        assert!(!json.contains("offers"), "{json}");
        assert_eq!(ClientMessage::from_json(&json, &limits()), Ok(m));
    }
}

/// The answer of websocket-tracker.js's `peer.once('signal', …)`.
#[test]
fn webtorrent_answer() {
    let json = format!(
        r#"{{"action":"announce","info_hash":"{}","peer_id":"{}","to_peer_id":"{}","answer":{{"type":"answer","sdp":"v=0"}},"offer_id":"{}"}}"#,
        bin(1),
        bin(2),
        bin(3),
        bin(4)
    );
    let m = ClientMessage::from_json(&json, &limits()).unwrap();
    assert_eq!(
        m,
        ClientMessage::Answer(Answer {
            info_hash: InfoHash([1; 20]),
            peer_id: PeerId([2; 20]),
            to_peer_id: PeerId([3; 20]),
            offer_id: OfferId([4; 20]),
            sdp: "v=0".into(),
        })
    );
    assert_eq!(ClientMessage::from_json(&m.to_json(), &limits()), Ok(m));
}

#[test]
fn scrape_takes_a_string_a_list_or_nothing() {
    let list = format!(
        r#"{{"action":"scrape","info_hash":["{}","{}"]}}"#,
        bin(1),
        bin(2)
    );
    assert_eq!(
        ClientMessage::from_json(&list, &limits()),
        Ok(ClientMessage::Scrape(vec![
            InfoHash([1; 20]),
            InfoHash([2; 20])
        ]))
    );
    assert_eq!(
        ClientMessage::from_json(r#"{"action":"scrape"}"#, &limits()),
        Ok(ClientMessage::Scrape(vec![]))
    );
}

/// JavaScript numbers: `left` is `NaN` → `null` before the metadata, some clients send
/// strings; fractions truncate; negatives are absent.
#[test]
fn numbers_are_read_leniently() {
    let json = format!(
        r#"{{"action":"announce","info_hash":"{}","peer_id":"{}","left":null,"uploaded":"12","downloaded":1.5,"numwant":-1}}"#,
        bin(1),
        bin(2)
    );
    let Ok(ClientMessage::Announce(a)) = ClientMessage::from_json(&json, &limits()) else {
        panic!()
    };
    assert_eq!(
        (a.left, a.uploaded, a.downloaded, a.numwant),
        (None, Some(12), Some(1), None)
    );
}

#[test]
fn malformed_client_messages_are_typed_errors() {
    let tight = Limits {
        max_message_len: 2000,
        max_offers: 1,
        max_sdp_len: 3,
        max_scrape_hashes: 1,
    };
    let (h, p) = (bin(1), bin(2));
    let cases = [
        (
            "x".repeat(2001),
            MessageError::TooLong {
                len: 2001,
                max: 2000,
            },
        ),
        (
            r#"{"action":"announce""#.into(),
            MessageError::Json(String::new()),
        ),
        (
            r#"{"action":"announce","info_hash":5}"#.into(),
            MessageError::Json(String::new()),
        ),
        (
            r#"{"action":"connect"}"#.into(),
            MessageError::UnknownAction,
        ),
        (r#"{"info_hash":"x"}"#.into(), MessageError::UnknownAction),
        (
            format!(r#"{{"action":"announce","info_hash":"{h}"}}"#),
            MessageError::Missing("peer_id"),
        ),
        (
            format!(r#"{{"action":"announce","peer_id":"{p}"}}"#),
            MessageError::Missing("info_hash"),
        ),
        (
            format!(r#"{{"action":"announce","info_hash":"{h}","peer_id":"short"}}"#),
            MessageError::BinaryString {
                field: "peer_id",
                error: BinaryStringError::Length {
                    expected: 20,
                    found: 5,
                },
            },
        ),
        (
            format!(
                r#"{{"action":"announce","info_hash":"{}Ā","peer_id":"{p}"}}"#,
                "a".repeat(19)
            ),
            MessageError::BinaryString {
                field: "info_hash",
                error: BinaryStringError::CodePoint {
                    index: 19,
                    code_point: 0x100,
                },
            },
        ),
        (
            format!(r#"{{"action":"announce","info_hash":"{h}","peer_id":"{p}","event":"begin"}}"#),
            MessageError::Event,
        ),
        (
            format!(
                r#"{{"action":"announce","info_hash":"{h}","peer_id":"{p}","offers":[{{"offer_id":"{h}","offer":{{"type":"answer","sdp":"x"}}}}]}}"#
            ),
            MessageError::SdpType("offer"),
        ),
        (
            format!(
                r#"{{"action":"announce","info_hash":"{h}","peer_id":"{p}","offers":[{{"offer_id":"{h}","offer":{{"type":"offer","sdp":"long"}}}}]}}"#
            ),
            MessageError::SdpTooLong { len: 4, max: 3 },
        ),
        (
            format!(
                r#"{{"action":"announce","info_hash":"{h}","peer_id":"{p}","offers":[{{"offer":{{"type":"offer","sdp":"x"}}}}]}}"#
            ),
            MessageError::Missing("offer_id"),
        ),
        (
            format!(
                r#"{{"action":"announce","info_hash":"{h}","peer_id":"{p}","offers":[{{}},{{}}]}}"#
            ),
            MessageError::TooManyOffers { count: 2, max: 1 },
        ),
        (
            format!(
                r#"{{"action":"announce","info_hash":"{h}","peer_id":"{p}","answer":{{"type":"answer","sdp":"x"}},"offer_id":"{h}"}}"#
            ),
            MessageError::Missing("to_peer_id"),
        ),
        (
            format!(r#"{{"action":"scrape","info_hash":["{h}","{h}"]}}"#),
            MessageError::TooManyHashes { count: 2, max: 1 },
        ),
    ];
    for (json, error) in cases {
        let got = ClientMessage::from_json(&json, &tight);
        match (&got, &error) {
            // The JSON error's text is serde_json's; only the variant is ours.
            (Err(MessageError::Json(_)), MessageError::Json(_)) => {}
            _ => assert_eq!(got, Err(error), "{json}"),
        }
    }
}

/// bittorrent-tracker's reply to an announce (server.js `_onWebSocketRequest`).
#[test]
fn tracker_reply() {
    let json = format!(
        r#"{{"complete":1,"incomplete":2,"action":"announce","info_hash":"{}","interval":120}}"#,
        bin(1)
    );
    assert_eq!(
        ServerMessage::from_json(&json, &limits()),
        Ok(ServerMessage::Announced(AnnounceReply {
            info_hash: Some(InfoHash([1; 20])),
            complete: Some(1),
            incomplete: Some(2),
            interval: Some(Duration::from_secs(120)),
            ..AnnounceReply::default()
        }))
    );
}

/// The relayed offer and answer of server.js.
#[test]
fn relayed_offer_and_answer() {
    let offer = format!(
        r#"{{"action":"announce","offer":{{"type":"offer","sdp":"o"}},"offer_id":"{}","peer_id":"{}","info_hash":"{}"}}"#,
        bin(3),
        bin(2),
        bin(1)
    );
    let want = ServerMessage::Offer(RelayedOffer {
        info_hash: InfoHash([1; 20]),
        peer_id: PeerId([2; 20]),
        offer_id: OfferId([3; 20]),
        sdp: "o".into(),
    });
    assert_eq!(
        ServerMessage::from_json(&offer, &limits()),
        Ok(want.clone())
    );
    assert_eq!(
        ServerMessage::from_json(&want.to_json(), &limits()),
        Ok(want)
    );

    let answer = format!(
        r#"{{"action":"announce","answer":{{"type":"answer","sdp":"a"}},"offer_id":"{}","peer_id":"{}","info_hash":"{}"}}"#,
        bin(3),
        bin(2),
        bin(1)
    );
    assert_eq!(
        ServerMessage::from_json(&answer, &limits()),
        Ok(ServerMessage::Answer(RelayedAnswer {
            info_hash: InfoHash([1; 20]),
            peer_id: PeerId([2; 20]),
            offer_id: OfferId([3; 20]),
            sdp: "a".into(),
        }))
    );
}

#[test]
fn failures_with_and_without_action() {
    // parse-websocket.js errors: no action, no info_hash.
    assert_eq!(
        ServerMessage::from_json(r#"{"failure reason":"invalid info_hash"}"#, &limits()),
        Ok(ServerMessage::Failure {
            info_hash: None,
            reason: "invalid info_hash".into()
        })
    );
    let json = format!(
        r#"{{"action":"announce","failure reason":"disallowed","info_hash":"{}"}}"#,
        bin(1)
    );
    let want = ServerMessage::Failure {
        info_hash: Some(InfoHash([1; 20])),
        reason: "disallowed".into(),
    };
    assert_eq!(ServerMessage::from_json(&json, &limits()), Ok(want.clone()));
    assert_eq!(
        want.to_json(),
        format!(
            r#"{{"action":"announce","info_hash":"{}","failure reason":"disallowed"}}"#,
            bin(1)
        )
    );
}

/// server.js `_onScrape`: `files` keyed by binary strings, and `flags`.
#[test]
fn scrape_reply() {
    let json = format!(
        r#"{{"action":"scrape","files":{{"{}":{{"complete":1,"incomplete":2,"downloaded":1}}}},"flags":{{"min_request_interval":600}}}}"#,
        bin(0xeb)
    );
    assert_eq!(
        ServerMessage::from_json(&json, &limits()),
        Ok(ServerMessage::Scraped(ScrapeReply {
            files: vec![(
                InfoHash([0xeb; 20]),
                ScrapeStats {
                    complete: 1,
                    downloaded: 1,
                    incomplete: 2
                }
            )],
            min_request_interval: Some(Duration::from_secs(600)),
        }))
    );
}

#[test]
fn warnings_and_tracker_ids_ride_on_replies() {
    let json = r#"{"action":"announce","warning message":"slow down","tracker id":"t1","min interval":30}"#;
    let Ok(ServerMessage::Announced(r)) = ServerMessage::from_json(json, &limits()) else {
        panic!()
    };
    assert_eq!(r.warning.as_deref(), Some("slow down"));
    assert_eq!(r.tracker_id.as_deref(), Some("t1"));
    assert_eq!(r.min_interval, Some(Duration::from_secs(30)));
}

#[test]
fn malformed_server_messages_are_typed_errors() {
    assert_eq!(
        ServerMessage::from_json(r#"{"action":"hello"}"#, &limits()),
        Err(MessageError::UnknownAction)
    );
    let json = format!(
        r#"{{"action":"announce","offer":{{"type":"offer","sdp":"o"}},"peer_id":"{}","info_hash":"{}"}}"#,
        bin(2),
        bin(1)
    );
    assert_eq!(
        ServerMessage::from_json(&json, &limits()),
        Err(MessageError::Missing("offer_id"))
    );
    let json = r#"{"action":"scrape","files":{"short":{}}}"#;
    assert!(matches!(
        ServerMessage::from_json(json, &limits()),
        Err(MessageError::BinaryString { field: "files", .. })
    ));
}
