//! The wire vectors (`vectors/wire.json`) against peer-wire and against WebTorrent's
//! `bittorrent-protocol`: each decodes every vector's bytes and encodes every valid vector's
//! messages, and must give the vector's result. `bittorrent-protocol`'s known differences are
//! listed with their reasons in `wire-expectations.json`; the run fails on any other
//! difference and on an expected difference that no longer happens.
//!
//! `bittorrent-protocol` needs Node and `npm ci` in `conformance/`; under
//! `PEERCDN_REQUIRE_EXTERNAL=1` (set by `scripts/test`) its absence is a failure.

use conformance::conformance_dir;
use conformance::wire::{
    JsRun, WireResult, bittorrent_protocol, our_decode, our_encode, wire_vectors,
};

#[test]
fn peer_wire_decodes_and_encodes_every_vector() {
    let vectors = wire_vectors().unwrap();
    assert!(vectors.len() >= 30);
    for v in &vectors {
        let got = our_decode(&v.bytes);
        let want = WireResult {
            messages: v.messages.clone(),
            error: v.error.clone(),
        };
        assert_eq!(got, want, "{}", v.name);
        if v.error.is_none() {
            assert_eq!(
                hex::encode(our_encode(&v.messages).unwrap()),
                hex::encode(&v.bytes),
                "{}",
                v.name
            );
        }
    }
}

#[test]
fn bittorrent_protocol_agrees_except_where_expected() {
    let vectors = wire_vectors().unwrap();
    let (decoded, encoded) = match bittorrent_protocol(&vectors) {
        JsRun::Ran(d, e) => (d, e),
        JsRun::Unavailable(why) => {
            assert!(
                std::env::var_os("PEERCDN_REQUIRE_EXTERNAL").is_none(),
                "bittorrent-protocol is required: {why}"
            );
            eprintln!("skipped: {why}");
            return;
        }
    };
    assert_eq!(decoded.len(), vectors.len());
    let expectations: serde_json::Value = serde_json::from_slice(
        &std::fs::read(conformance_dir().join("wire-expectations.json")).unwrap(),
    )
    .unwrap();
    let expected_diff = |kind: &str, name: &str| {
        expectations[kind]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["vector"] == name)
    };
    let mut failures = Vec::new();
    for ((v, d), e) in vectors.iter().zip(&decoded).zip(&encoded) {
        // bittorrent-protocol reports its own error texts; only whether it stopped matters.
        // Bytes that end inside a message are not an error for either: both wait for more.
        let stops = v.error.as_deref().is_some_and(|e| e != "partial");
        let agrees = d.messages == v.messages && d.error.is_some() == stops;
        match (agrees, expected_diff("decode", &v.name)) {
            (false, false) => failures.push(format!("decode {}: got {d:?}", v.name)),
            (true, true) => failures.push(format!(
                "decode {}: expected a difference, none left",
                v.name
            )),
            _ => {}
        }
        if v.error.is_none() {
            let agrees = e.as_ref().is_ok_and(|bytes| *bytes == v.bytes);
            match (agrees, expected_diff("encode", &v.name)) {
                (false, false) => failures.push(format!("encode {}: got {e:?}", v.name)),
                (true, true) => failures.push(format!(
                    "encode {}: expected a difference, none left",
                    v.name
                )),
                _ => {}
            }
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
}
