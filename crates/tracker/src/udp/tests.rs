use super::*;
use crate::Event;

fn hex(s: &str) -> Vec<u8> {
    hex::decode(s.replace([' ', '\n'], "")).unwrap()
}

fn encode_request(r: &Request) -> Vec<u8> {
    let mut out = Vec::new();
    r.encode(&mut out);
    out
}

fn encode_response(r: &Response) -> Vec<u8> {
    let mut out = Vec::new();
    r.encode(&mut out);
    out
}

/// BEP 15, connect request: protocol_id 0x41727101980 (8), action 0 (4), transaction_id (4).
/// Connect response: action 0 (4), transaction_id (4), connection_id (8).
#[test]
fn connect_packets() {
    let request = hex("00000417 27101980 00000000 deadbeef");
    let r = Request::Connect {
        transaction_id: TransactionId(0xdead_beef),
    };
    assert_eq!(encode_request(&r), request);
    assert_eq!(Request::decode(&request), Ok(r));

    let response = hex("00000000 deadbeef 01020304 05060708");
    let r = Response::Connect {
        transaction_id: TransactionId(0xdead_beef),
        connection_id: ConnectionId(0x0102_0304_0506_0708),
    };
    assert_eq!(encode_response(&r), response);
    assert_eq!(Response::decode(&response, Family::V4), Ok(r));
}

fn announce() -> Announce {
    Announce {
        connection_id: ConnectionId(0x0102_0304_0506_0708),
        transaction_id: TransactionId(0x0a0b_0c0d),
        info_hash: InfoHash([0x11; 20]),
        peer_id: PeerId([0x22; 20]),
        downloaded: 1,
        left: 2,
        uploaded: 3,
        event: Event::Started,
        ip: Ipv4Addr::new(1, 2, 3, 4),
        key: 0x0506_0708,
        num_want: -1,
        port: 6881,
        url_data: Vec::new(),
    }
}

/// BEP 15's announce request, offset by offset: connection_id 0, action 8, transaction_id 12,
/// info_hash 16, peer_id 36, downloaded 56, left 64, uploaded 72, event 80, IP 84, key 88,
/// num_want 92, port 96; 98 bytes.
#[test]
fn announce_request_layout() {
    let expected = hex(&format!(
        "0102030405060708 00000001 0a0b0c0d {} {} 0000000000000001 0000000000000002 \
         0000000000000003 00000002 01020304 05060708 ffffffff 1ae1",
        "11".repeat(20),
        "22".repeat(20)
    ));
    assert_eq!(expected.len(), ANNOUNCE_LEN);
    let packet = encode_request(&Request::Announce(announce()));
    assert_eq!(packet, expected);
    assert_eq!(Request::decode(&packet), Ok(Request::Announce(announce())));
}

/// BEP 41: option type 2 (URLData), a length byte, the bytes; long data in several options.
#[test]
fn url_data_options() {
    let mut a = announce();
    a.url_data = b"/announce?passkey=abc".to_vec();
    let packet = encode_request(&Request::Announce(a.clone()));
    assert_eq!(&packet[98..100], &[2, 21]);
    assert_eq!(&packet[100..], b"/announce?passkey=abc");
    assert_eq!(Request::decode(&packet), Ok(Request::Announce(a.clone())));

    a.url_data = vec![b'x'; 300];
    let packet = encode_request(&Request::Announce(a.clone()));
    assert_eq!(packet.len(), 98 + 2 + 255 + 2 + 45);
    assert_eq!(Request::decode(&packet), Ok(Request::Announce(a)));
}

#[test]
fn options_nop_end_unknown_and_truncated() {
    let mut packet = encode_request(&Request::Announce(announce()));
    // NOP, unknown option 9 of 2 bytes, URLData "/a", end, URLData ignored after the end.
    packet.extend_from_slice(&[1, 9, 2, 0xff, 0xff, 2, 2, b'/', b'a', 0, 2, 1, b'z']);
    let Ok(Request::Announce(a)) = Request::decode(&packet) else {
        panic!()
    };
    assert_eq!(a.url_data, b"/a");
    // A truncated option ends the list without an error.
    let mut packet = encode_request(&Request::Announce(announce()));
    packet.extend_from_slice(&[2, 5, b'/']);
    let Ok(Request::Announce(a)) = Request::decode(&packet) else {
        panic!()
    };
    assert!(a.url_data.is_empty());
}

#[test]
fn url_data_of_tracker_urls() {
    assert_eq!(url_data("udp://t.example:6969/announce"), b"/announce");
    assert_eq!(
        url_data("udp://t.example:6969/a/announce?pk=1#x"),
        b"/a/announce?pk=1"
    );
    assert_eq!(url_data("udp://t.example:6969?pk=1"), b"?pk=1");
    assert!(url_data("udp://t.example:6969").is_empty());
    assert!(url_data("udp://t.example:6969/").is_empty());
}

/// Announce response: action 1, transaction_id, interval, leechers, seeders, then 6-byte
/// peers (or 18-byte ones over IPv6).
#[test]
fn announce_responses_by_family() {
    let v4 = hex("00000001 0a0b0c0d 00000708 00000002 00000003 7f000001 1ae1");
    let r = Response::Announce {
        transaction_id: TransactionId(0x0a0b_0c0d),
        interval: 1800,
        leechers: 2,
        seeders: 3,
        peers: vec!["127.0.0.1:6881".parse().unwrap()],
    };
    assert_eq!(encode_response(&r), v4);
    assert_eq!(Response::decode(&v4, Family::V4), Ok(r));

    let v6 = hex(&format!(
        "00000001 0a0b0c0d 00000708 00000002 00000003 {}01 1ae1",
        "00".repeat(15)
    ));
    let r = Response::Announce {
        transaction_id: TransactionId(0x0a0b_0c0d),
        interval: 1800,
        leechers: 2,
        seeders: 3,
        peers: vec!["[::1]:6881".parse().unwrap()],
    };
    assert_eq!(encode_response(&r), v6);
    assert_eq!(Response::decode(&v6, Family::V6), Ok(r));
    // An IPv4-mapped address in an IPv6 response stays 18 bytes when written again
    // (found by the `tracker_udp_packet` fuzz target).
    let mapped = Response::Announce {
        transaction_id: TransactionId(1),
        interval: 1,
        leechers: 0,
        seeders: 0,
        peers: vec!["[::ffff:1.2.3.4]:5".parse().unwrap()],
    };
    let packet = encode_response(&mapped);
    assert_eq!(packet.len(), 20 + 18);
    assert_eq!(Response::decode(&packet, Family::V6), Ok(mapped));
    // The same bytes read as IPv4 are 3 peers of 6 bytes: the family decides.
    let Ok(Response::Announce { peers, .. }) = Response::decode(&v6, Family::V4) else {
        panic!()
    };
    assert_eq!(peers.len(), 3);
}

/// Scrape request: connection_id, action 2, transaction_id, 20-byte hashes. Response: action
/// 2, transaction_id, then seeders, completed, leechers per hash.
#[test]
fn scrape_packets() {
    let request = hex(&format!(
        "0102030405060708 00000002 00000009 {}{}",
        "aa".repeat(20),
        "bb".repeat(20)
    ));
    let r = Request::Scrape {
        connection_id: ConnectionId(0x0102_0304_0506_0708),
        transaction_id: TransactionId(9),
        info_hashes: vec![InfoHash([0xaa; 20]), InfoHash([0xbb; 20])],
    };
    assert_eq!(encode_request(&r), request);
    assert_eq!(Request::decode(&request), Ok(r));

    let response = hex("00000002 00000009 00000005 00000032 0000000a");
    let r = Response::Scrape {
        transaction_id: TransactionId(9),
        stats: vec![ScrapeStats {
            complete: 5,
            downloaded: 50,
            incomplete: 10,
        }],
    };
    assert_eq!(encode_response(&r), response);
    assert_eq!(Response::decode(&response, Family::V4), Ok(r));
}

/// Error: action 3, transaction_id, message.
#[test]
fn error_packet() {
    let packet = [&hex("00000003 00000009")[..], b"denied"].concat();
    let r = Response::Error {
        transaction_id: TransactionId(9),
        message: "denied".into(),
    };
    assert_eq!(encode_response(&r), packet);
    assert_eq!(Response::decode(&packet, Family::V4), Ok(r));
    // Not UTF-8: read lossily, never an error.
    let packet = [&hex("00000003 00000009")[..], b"\xff"].concat();
    assert!(matches!(
        Response::decode(&packet, Family::V4),
        Ok(Response::Error { message, .. }) if message == "\u{fffd}"
    ));
}

#[test]
fn malformed_requests_are_typed_errors() {
    let connect = encode_request(&Request::Connect {
        transaction_id: TransactionId(1),
    });
    let short_announce = [&connect[..8], &hex("00000001 00000001"), &[0; 10]].concat();
    let mut bad_event = encode_request(&Request::Announce(announce()));
    bad_event[83] = 4;
    let ragged = [&connect[..8], &hex("00000002 00000001"), &[0; 21]].concat();
    let too_many = [&connect[..8], &hex("00000002 00000001"), &[0; 75 * 20]].concat();
    let cases: Vec<(Vec<u8>, DecodeError)> = vec![
        (
            connect[..15].to_vec(),
            DecodeError::TooShort {
                len: 15,
                min: 16,
                action: "request",
            },
        ),
        (
            [&[0; 8][..], &connect[8..]].concat(),
            DecodeError::BadProtocolId(0),
        ),
        (
            [&connect[..8], &hex("00000007 00000001")].concat(),
            DecodeError::UnknownAction(7),
        ),
        (
            short_announce,
            DecodeError::TooShort {
                len: 26,
                min: 98,
                action: "announce",
            },
        ),
        (bad_event, DecodeError::UnknownEvent(4)),
        (
            ragged,
            DecodeError::Ragged {
                action: "scrape request",
                len: 21,
                unit: 20,
            },
        ),
        (too_many, DecodeError::TooManyHashes(75)),
    ];
    for (packet, error) in cases {
        assert_eq!(Request::decode(&packet), Err(error));
    }
    // 74 hashes are fine.
    let max = [&connect[..8], &hex("00000002 00000001"), &[0; 74 * 20]].concat();
    assert!(Request::decode(&max).is_ok());
}

#[test]
fn malformed_responses_are_typed_errors() {
    let cases: Vec<(Vec<u8>, DecodeError)> = vec![
        (
            hex("00000000 00000001"),
            DecodeError::TooShort {
                len: 8,
                min: 16,
                action: "connect response",
            },
        ),
        (
            hex("00000001 00000001 00000001"),
            DecodeError::TooShort {
                len: 12,
                min: 20,
                action: "announce response",
            },
        ),
        (
            hex("00000001 00000001 00000001 00000001 00000001 0102030405"),
            DecodeError::Peers(LengthError {
                family: Family::V4,
                len: 5,
                entry: 6,
            }),
        ),
        (
            hex("00000002 00000001 00000001"),
            DecodeError::Ragged {
                action: "scrape response",
                len: 4,
                unit: 12,
            },
        ),
        (hex("00000004 00000001"), DecodeError::UnknownAction(4)),
        (
            hex("000000"),
            DecodeError::TooShort {
                len: 3,
                min: 8,
                action: "response",
            },
        ),
    ];
    for (packet, error) in cases {
        assert_eq!(Response::decode(&packet, Family::V4), Err(error));
    }
}

#[test]
fn announce_from_a_request_maps_absent_fields_to_bep15_defaults() {
    let mut request = AnnounceRequest::new(InfoHash([1; 20]), PeerId([2; 20]), 1);
    let a = Announce::new(ConnectionId(5), TransactionId(6), &request, Vec::new());
    assert_eq!((a.num_want, a.key, a.ip), (-1, 0, Ipv4Addr::UNSPECIFIED));
    request.numwant = Some(u32::MAX);
    request.key = Some(9);
    request.ipv4 = Some(Ipv4Addr::LOCALHOST);
    let a = Announce::new(ConnectionId(5), TransactionId(6), &request, Vec::new());
    assert_eq!(
        (a.num_want, a.key, a.ip),
        (i32::MAX, 9, Ipv4Addr::LOCALHOST)
    );
}
