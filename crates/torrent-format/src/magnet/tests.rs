//! Unit tests of magnet links: BEP 9 and BEP 53 examples, v2 and hybrid links, every error.

use super::*;
use proptest::prelude::*;

fn v1(hex: &str) -> Option<InfoHashV1> {
    Some(InfoHashV1::from_hex(hex).unwrap())
}

fn v2(hex: &str) -> Option<InfoHashV2> {
    Some(InfoHashV2::from_hex(hex).unwrap())
}

fn err(link: &str) -> MagnetError {
    Magnet::parse(link).unwrap_err()
}

const BASE: &str = "c0fda1edafdbdbb96443424e0b3899af7159d10e";

#[test]
fn parses_bep9_link_with_every_field() {
    // BEP 9: "magnet:?xt=urn:btih:<info-hash>&dn=<name>&tr=<tracker-url>&x.pe=<peer-address>"
    let link = "magnet:?xt=urn:btih:c0fda1edafdbdbb96443424e0b3899af7159d10e&dn=temp\
                &tr=http%3A%2F%2Fexample.com%2Fannounce&x.pe=192.0.2.1:6881\
                &x.pe=[2001:db8::1]:6881&x.pe=peer.example.org:51413";
    let m = Magnet::parse(link).unwrap();
    assert_eq!(
        m.info_hashes,
        InfoHashes {
            v1: v1(BASE),
            v2: None
        }
    );
    assert_eq!(m.name.as_deref(), Some("temp"));
    assert_eq!(m.trackers, ["http://example.com/announce"]);
    assert_eq!(
        m.peers,
        [
            PeerAddr::Ip("192.0.2.1:6881".parse().unwrap()),
            PeerAddr::Ip("[2001:db8::1]:6881".parse().unwrap()),
            PeerAddr::Host {
                host: "peer.example.org".into(),
                port: 51413
            },
        ]
    );
    assert_eq!(
        m.to_string(),
        "magnet:?xt=urn:btih:c0fda1edafdbdbb96443424e0b3899af7159d10e&dn=temp\
         &tr=http%3A%2F%2Fexample.com%2Fannounce&x.pe=192.0.2.1:6881\
         &x.pe=%5B2001:db8::1%5D:6881&x.pe=peer.example.org:51413"
    );
}

#[test]
fn base32_and_hex_name_the_same_hash() {
    let hex = Magnet::parse(&format!("magnet:?xt=urn:btih:{}", BASE.to_uppercase())).unwrap();
    let b32 = Magnet::parse("magnet:?xt=urn:btih:YD62D3NP3PN3SZCDIJHAWOEZV5YVTUIO").unwrap();
    let b32_lower = Magnet::parse("magnet:?xt=urn:btih:yd62d3np3pn3szcdijhawoezv5yvtuio").unwrap();
    assert_eq!(hex, b32);
    assert_eq!(hex, b32_lower);
    assert_eq!(b32.info_hashes.v1, v1(BASE));
}

#[test]
fn select_only_matches_bep53_example() {
    // BEP 53: "magnet:?xt=urn:btih:HASH&dn=NAME&tr=TRACKER&so=0,2,4,6-8"
    let m = Magnet::parse(&format!(
        "magnet:?xt=urn:btih:{BASE}&dn=NAME&tr=TRACKER&so=0,2,4,6-8"
    ))
    .unwrap();
    assert_eq!(m.select_only, [0..=0, 2..=2, 4..=4, 6..=8]);
    assert!(m.to_string().ends_with("&so=0,2,4,6-8"));
}

#[test]
fn v2_only_link_carries_sha256_multihash() {
    // libtorrent's test_torrents/v2_only.torrent.
    let h = "95e04d0c4bad94ab206efa884666fd89777dbe4f7bd9945af1829037a85c6192";
    let link = format!("magnet:?xt=urn:btmh:1220{h}&dn=test1MB");
    let m = Magnet::parse(&link).unwrap();
    assert_eq!(
        m.info_hashes,
        InfoHashes {
            v1: None,
            v2: v2(h)
        }
    );
    assert_eq!(m.to_string(), link);
}

#[test]
fn hybrid_link_carries_both_hashes_in_either_order() {
    // libtorrent's test_torrents/v2_hybrid.torrent.
    let h1 = "514c76c1f27ec61ca8b37851bcd1cbf0b26cf120";
    let h2 = "518fbaf39b37020c896e8768a967da6d76bbd5ef7a02c761021b65a72c6cfa11";
    let canonical =
        format!("magnet:?xt=urn:btih:{h1}&xt=urn:btmh:1220{h2}&dn=bittorrent-v1-v2-hybrid-test");
    let reversed = format!(
        "magnet:?dn=bittorrent-v1-v2-hybrid-test&xt.2=urn:btmh:1220{h2}&xt.1=urn:btih:{h1}"
    );
    let m = Magnet::parse(&reversed).unwrap();
    assert_eq!(
        m.info_hashes,
        InfoHashes {
            v1: v1(h1),
            v2: v2(h2)
        }
    );
    assert_eq!(m.to_string(), canonical);
}

#[test]
fn plus_is_a_space_in_dn_only() {
    let m = Magnet::parse(&format!(
        "magnet:?xt=urn:btih:{BASE}&dn=a+b%2Bc&tr=http://t/a+b"
    ))
    .unwrap();
    assert_eq!(m.name.as_deref(), Some("a b+c"));
    assert_eq!(m.trackers, ["http://t/a+b"]);
    assert!(
        m.to_string()
            .contains("dn=a%20b%2Bc&tr=http%3A%2F%2Ft%2Fa%2Bb")
    );
}

#[test]
fn duplicate_and_empty_trackers_are_dropped_in_order() {
    let m = Magnet::parse(&format!(
        "magnet:?xt=urn:btih:{BASE}&tr=udp://b&tr=&tr=udp://a&tr.1=udp%3A%2F%2Fb"
    ))
    .unwrap();
    assert_eq!(m.trackers, ["udp://b", "udp://a"]);
}

#[test]
fn first_name_and_length_win_and_empty_name_is_none() {
    let m = Magnet::parse(&format!(
        "magnet:?xt=urn:btih:{BASE}&dn=&dn=first&dn=second&xl=10&xl=20"
    ))
    .unwrap();
    assert_eq!(m.name.as_deref(), Some("first"));
    assert_eq!(m.exact_length, Some(10));
    let m = Magnet::parse(&format!("magnet:?xt=urn:btih:{BASE}&dn=")).unwrap();
    assert_eq!(m.name, None);
}

#[test]
fn unknown_keys_and_foreign_urns_are_ignored() {
    let link = format!(
        "magnet:?xt=urn:ed2k:354B15E68FB8F36D7CD88FF94116CDC1&xt=urn:btih:{BASE}&xs=%ZZ&as=x&kt=a+b&&x.pe.x=1"
    );
    assert_eq!(Magnet::parse(&link).unwrap().info_hashes.v1, v1(BASE));
}

#[test]
fn scheme_and_urn_prefix_match_case_insensitively() {
    let m = Magnet::parse(&format!("MAGNET:?xt=URN:BTIH:{BASE}")).unwrap();
    assert_eq!(m.info_hashes.v1, v1(BASE));
}

#[test]
fn each_malformation_has_its_own_error() {
    use MagnetError::*;
    let ih = format!("xt=urn:btih:{BASE}");
    let cases: &[(String, MagnetError)] = &[
        ("http://example.com/".into(), NotAMagnet),
        ("magnet:".into(), NotAMagnet),
        ("magnét:?".into(), NotAMagnet),
        ("magnet:?dn=x".into(), MissingInfoHash),
        (
            "magnet:?xt=urn:btih:c0fd".into(),
            InvalidInfoHash { param: "xt" },
        ),
        (
            "magnet:?xt=urn:btih:g0fda1edafdbdbb96443424e0b3899af7159d10e".into(),
            InvalidInfoHash { param: "xt" },
        ),
        (
            "magnet:?xt=urn:btih:YD62D3NP3PN3SZCDIJHAWOEZV5YVTUI1".into(),
            InvalidInfoHash { param: "xt" },
        ),
        (
            "magnet:?xt=urn:btmh:1220abcd".into(),
            InvalidInfoHash { param: "xt" },
        ),
        (
            "magnet:?xt=urn:btmh:1114c0fda1edafdbdbb96443424e0b3899af7159d10e".into(),
            UnsupportedHashFunction { code: 0x11 },
        ),
        (
            format!("magnet:?{ih}&xt=urn:btih:{}", "0".repeat(40)),
            ConflictingInfoHashes { version: "v1" },
        ),
        (format!("magnet:?{ih}&so=1,,2"), InvalidSelectOnly),
        (format!("magnet:?{ih}&so=5-3"), InvalidSelectOnly),
        (format!("magnet:?{ih}&so=+1"), InvalidSelectOnly),
        (format!("magnet:?{ih}&so=4294967296"), InvalidSelectOnly),
    ];
    for (link, want) in cases {
        assert_eq!(Magnet::parse(link), Err(*want), "{link}");
    }
}

#[test]
fn overlong_link_is_rejected_before_parsing() {
    let mut link = format!("magnet:?xt=urn:btih:{BASE}&x=");
    link.push_str(&"a".repeat(MAX_LINK_LEN - link.len()));
    assert!(Magnet::parse(&link).is_ok());
    link.push('a');
    assert_eq!(
        err(&link),
        MagnetError::TooLong {
            len: MAX_LINK_LEN + 1,
            max: MAX_LINK_LEN
        }
    );
    // Not even the scheme is looked at.
    assert!(matches!(
        err(&"x".repeat(MAX_LINK_LEN + 1)),
        MagnetError::TooLong { .. }
    ));
}

#[test]
fn link_too_long_to_rebuild_is_rejected() {
    // Raw `/` is 1 byte in, 3 bytes out.
    let link = format!("magnet:?xt=urn:btih:{BASE}&dn={}", "/".repeat(30_000));
    assert!(matches!(err(&link), MagnetError::TooLong { len, .. } if len > MAX_LINK_LEN));
}

/// Parameters that only help find or label the torrent are dropped when malformed, as
/// libtorrent drops them, rather than failing a link a user pasted (checked against
/// python3-libtorrent 2.0.8's `parse_magnet_uri`, which accepts every one of these).
#[test]
fn malformed_auxiliary_parameters_are_dropped_like_libtorrent() {
    let ih = format!("xt=urn:btih:{BASE}");
    for aux in [
        "tr=%zz",
        "tr=%FF",
        "ws=%zz",
        "xl=-1",
        "xl=18446744073709551616",
        "xl=%2B5",
        "x.pe=1.2.3.4",
        "x.pe=1.2.3.4:0",
        "x.pe=bad%20host:1",
        "x.pe=::1:80",
    ] {
        let m = Magnet::parse(&format!("magnet:?{ih}&{aux}")).unwrap();
        assert_eq!(m, Magnet::new(m.info_hashes), "{aux}");
    }
    // A name is decoded as well as it can be: bad escapes stay, non-UTF-8 becomes U+FFFD.
    let name = |dn: &str| {
        Magnet::parse(&format!("magnet:?{ih}&dn={dn}"))
            .unwrap()
            .name
    };
    assert_eq!(name("abc%4").as_deref(), Some("abc%4"));
    assert_eq!(name("caf%E9").as_deref(), Some("caf\u{fffd}"));
    assert_eq!(name("a+b%20c").as_deref(), Some("a b c"));
}

#[test]
fn long_lists_keep_their_first_entries_and_repeats_do_not_count() {
    let mut link = format!("magnet:?xt=urn:btih:{BASE}");
    for i in 0..MAX_LIST_LEN {
        link.push_str(&format!("&tr=udp://t{i}&tr=udp://t{i}"));
    }
    link.push_str("&tr=udp://one-more");
    let m = Magnet::parse(&link).unwrap();
    assert_eq!(m.trackers.len(), MAX_LIST_LEN);
    assert_eq!(m.trackers.last().map(String::as_str), Some("udp://t99"));
}

#[test]
fn peer_addresses_keep_their_variant_through_a_round_trip() {
    let cases = [
        ("192.0.2.1:080", "192.0.2.1:80", true),
        ("%5B2001:db8::1%5D:6881", "[2001:db8::1]:6881", true),
        ("[::ffff:192.0.2.1]:1", "[::ffff:192.0.2.1]:1", true),
        ("[2001:db8::1]:065535", "[2001:db8::1]:65535", true),
        (
            "Peer-1.example_host.org:6881",
            "Peer-1.example_host.org:6881",
            false,
        ),
        ("999.1.1.1:6881", "999.1.1.1:6881", false),
    ];
    for (written, shown, is_ip) in cases {
        let m = Magnet::parse(&format!("magnet:?xt=urn:btih:{BASE}&x.pe={written}")).unwrap();
        assert_eq!(m.peers[0].to_string(), shown);
        assert_eq!(matches!(m.peers[0], PeerAddr::Ip(_)), is_ip, "{written}");
        assert_eq!(Magnet::parse(&m.to_string()).as_ref(), Ok(&m), "{written}");
    }
}

#[test]
fn non_ascii_values_are_encoded_byte_by_byte() {
    // Found by `parsed_magnets_round_trip`: slicing mid-character in `encode`.
    let m = Magnet::parse(&format!("magnet:?xt=urn:btih:{BASE}&tr.1=é&dn=日本")).unwrap();
    assert_eq!(m.trackers, ["é"]);
    assert_eq!(m.name.as_deref(), Some("日本"));
    assert!(m.to_string().contains("dn=%E6%97%A5%E6%9C%AC&tr=%C3%A9"));
    assert_eq!(Magnet::parse(&m.to_string()), Ok(m));
}

#[test]
fn errors_read_as_advice() {
    let msg = MagnetError::MissingInfoHash.to_string();
    assert!(msg.contains("xt=urn:btih:"), "{msg}");
    let msg = MagnetError::UnsupportedHashFunction { code: 0x11 }.to_string();
    assert!(msg.contains("0x11") && msg.contains("1220"), "{msg}");
}

fn magnet_like() -> impl Strategy<Value = String> {
    let hash = prop_oneof![
        Just(format!("urn:btih:{BASE}")),
        Just("urn:btih:YD62D3NP3PN3SZCDIJHAWOEZV5YVTUIO".to_owned()),
        Just(format!("urn:btmh:1220{}", "ab".repeat(32))),
    ];
    let key = prop_oneof![
        Just("dn"),
        Just("tr"),
        Just("ws"),
        Just("xl"),
        Just("x.pe"),
        Just("so"),
        Just("tr.1"),
        Just("kt"),
    ];
    let value = "([a-z0-9:/.+\\[\\]~ ,-]|%[0-9A-Fa-f]{2}|é){0,12}";
    (hash, proptest::collection::vec((key, value), 0..8)).prop_map(|(h, params)| {
        let mut s = format!("magnet:?xt={h}");
        for (k, v) in params {
            s.push_str(&format!("&{k}={v}"));
        }
        s
    })
}

proptest! {
    #[test]
    fn parsed_magnets_round_trip(link in magnet_like()) {
        if let Ok(m) = Magnet::parse(&link) {
            let built = m.to_string();
            prop_assert_eq!(built.len(), m.encoded_len());
            prop_assert_eq!(Magnet::parse(&built), Ok(m));
        }
    }

    #[test]
    fn parse_never_panics(s in "magnet:\\?[ -~é%&=]{0,64}") {
        let _ = Magnet::parse(&s);
    }

    #[test]
    fn select_only_round_trips(ranges in proptest::collection::vec((0u32..50, 0u32..5), 1..10)) {
        let mut m = Magnet::new(InfoHashes { v1: v1(BASE), v2: None });
        m.select_only = ranges.into_iter().map(|(a, n)| a..=a + n).collect();
        prop_assert_eq!(Magnet::parse(&m.to_string()), Ok(m));
    }
}
