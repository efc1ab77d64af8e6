//! Our magnet vectors through python3-libtorrent's `parse_magnet_uri`: where both accept a link
//! they must read the same info-hashes, and every other difference (a verdict, or a field) must
//! be listed in `magnet-expectations.json` with the reason we differ. A listed difference that
//! disappears fails too.
//!
//! Needs Debian's python3-libtorrent; under `PEERCDN_REQUIRE_EXTERNAL=1` (set by
//! `scripts/test`) a missing libtorrent fails instead of skipping.

use std::collections::BTreeSet;

use conformance::conformance_dir;
use serde_json::Value;

#[test]
fn libtorrent_reads_our_magnet_vectors_as_we_do_or_we_say_why_not() {
    let vectors: Vec<Value> = serde_json::from_str(
        &std::fs::read_to_string(conformance_dir().join("vectors/magnet.json")).unwrap(),
    )
    .unwrap();
    // Vectors built at test time (`repeat`, `pad_to_len`) are about our limits, not libtorrent's.
    let vectors: Vec<&Value> = vectors
        .iter()
        .filter(|v| v.get("repeat").is_none() && v.get("pad_to_len").is_none())
        .collect();
    let uris: Vec<&str> = vectors.iter().map(|v| v["uri"].as_str().unwrap()).collect();
    let list = std::env::temp_dir().join(format!("magnets-{}.json", std::process::id()));
    std::fs::write(&list, serde_json::to_vec(&uris).unwrap()).unwrap();
    let output = std::process::Command::new("/usr/bin/python3")
        .arg(conformance_dir().join("external/libtorrent_parse.py"))
        .arg("--magnets")
        .arg(&list)
        .output();
    let _ = std::fs::remove_file(&list);
    let output = match output {
        Ok(o) if o.status.success() => o,
        other => {
            let why = format!("python3-libtorrent did not run: {other:?}");
            assert!(
                std::env::var_os("PEERCDN_REQUIRE_EXTERNAL").is_none(),
                "{why}"
            );
            eprintln!("skipped: {why}");
            return;
        }
    };
    let theirs: Vec<Value> = serde_json::from_slice(&output.stdout).unwrap();
    let expected: Vec<Value> = serde_json::from_str(
        &std::fs::read_to_string(conformance_dir().join("magnet-expectations.json")).unwrap(),
    )
    .unwrap();
    let listed: BTreeSet<(String, String)> = expected
        .iter()
        .map(|e| {
            (
                e["vector"].as_str().unwrap().to_owned(),
                e["differs"].as_str().unwrap().to_owned(),
            )
        })
        .collect();

    let mut found = BTreeSet::new();
    for (v, lt) in vectors.iter().zip(&theirs) {
        let name = v["name"].as_str().unwrap().to_owned();
        let ours = &v["expect"];
        if ours["ok"] != lt["ok"] {
            found.insert((name, "verdict".to_owned()));
            continue;
        }
        if ours["ok"] == true {
            assert_eq!(
                ours["info_hash_v1"], lt["info_hash_v1"],
                "{name}: v1 info-hash"
            );
            assert_eq!(
                ours["info_hash_v2"], lt["info_hash_v2"],
                "{name}: v2 info-hash"
            );
            let undecodable = |key: &str| {
                lt["undecodable"]
                    .as_array()
                    .is_some_and(|u| u.iter().any(|k| k == key))
            };
            let differs = ["name", "trackers", "web_seeds"]
                .iter()
                .any(|k| !undecodable(k) && ours[*k] != lt[*k]);
            if differs {
                found.insert((name, "fields".to_owned()));
            }
        }
    }
    let unexplained: Vec<_> = found.difference(&listed).collect();
    let vanished: Vec<_> = listed.difference(&found).collect();
    assert!(
        unexplained.is_empty() && vanished.is_empty(),
        "differences from libtorrent without a reason in magnet-expectations.json: {unexplained:?}\n\
         listed differences that are gone (remove them): {vanished:?}"
    );
}
