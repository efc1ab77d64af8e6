//! Runs every vector of `conformance/vectors/magnet.json` through `torrent_format::Magnet::parse`
//! and reports every mismatch at once.
//!
//! A vector is `{ "name", "uri", "expect" }`, with optional helpers that keep large links out of
//! the data file:
//! - `"repeat": { "template", "count", "start"? }` appends `template` `count` times, `{i}`
//!   replaced by `start`, `start + 1`, … (`start` defaults to 0);
//! - `"pad_to_len": n` then appends `pad_char` (default `a`) until the link is `n` bytes long.
//!
//! `expect` is either `{ "ok": false, "error": "<MagnetError variant>" }` or `{ "ok": true,
//! "info_hash_v1", "info_hash_v2", "name", "trackers", "web_seeds", "exact_length", "peers",
//! "select_only": [[start, end], …], "canonical"? }`, where hashes are lower-case hex or null,
//! peers are written as `PeerAddr`'s `Display` gives them, and `canonical`, when present, is the
//! exact link `to_string()` must build. Every `ok` vector must also round-trip:
//! `Magnet::parse(&m.to_string()) == Ok(m)`.

use serde::Deserialize;
use torrent_format::Magnet;

const VECTORS: &str = include_str!("../vectors/magnet.json");

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Vector {
    name: String,
    uri: String,
    #[serde(default)]
    repeat: Option<Repeat>,
    #[serde(default)]
    pad_to_len: Option<usize>,
    #[serde(default)]
    pad_char: Option<char>,
    expect: Expect,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Repeat {
    template: String,
    count: usize,
    #[serde(default)]
    start: usize,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Expect {
    ok: bool,
    #[serde(default)]
    error: Option<String>,
    #[serde(default)]
    info_hash_v1: Option<String>,
    #[serde(default)]
    info_hash_v2: Option<String>,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    trackers: Vec<String>,
    #[serde(default)]
    web_seeds: Vec<String>,
    #[serde(default)]
    exact_length: Option<u64>,
    #[serde(default)]
    peers: Vec<String>,
    #[serde(default)]
    select_only: Vec<[u32; 2]>,
    #[serde(default)]
    canonical: Option<String>,
}

impl Vector {
    fn link(&self) -> Result<String, String> {
        let mut link = self.uri.clone();
        if let Some(r) = &self.repeat {
            for i in r.start..r.start + r.count {
                link.push_str(&r.template.replace("{i}", &i.to_string()));
            }
        }
        if let Some(n) = self.pad_to_len {
            let c = self.pad_char.unwrap_or('a');
            if link.len() > n || !c.is_ascii() {
                return Err(format!("cannot pad {} bytes to {n} with {c:?}", link.len()));
            }
            link.extend(std::iter::repeat_n(c, n - link.len()));
        }
        Ok(link)
    }
}

/// The variant name of an error, from its `Debug` form (`InvalidInfoHash { .. }` → `InvalidInfoHash`).
fn kind(e: &impl std::fmt::Debug) -> String {
    format!("{e:?}")
        .chars()
        .take_while(char::is_ascii_alphanumeric)
        .collect()
}

/// Every way `m` differs from `want`, as text.
fn compare(m: &Magnet, want: &Expect) -> Vec<String> {
    let mut diffs = Vec::new();
    let mut check = |field: &str, got: String, expected: String| {
        if got != expected {
            diffs.push(format!("{field}: got {got}, want {expected}"));
        }
    };
    check(
        "info_hash_v1",
        format!("{:?}", m.info_hashes.v1.map(|h| h.to_hex())),
        format!("{:?}", want.info_hash_v1),
    );
    check(
        "info_hash_v2",
        format!("{:?}", m.info_hashes.v2.map(|h| h.to_hex())),
        format!("{:?}", want.info_hash_v2),
    );
    check("name", format!("{:?}", m.name), format!("{:?}", want.name));
    check(
        "trackers",
        format!("{:?}", m.trackers),
        format!("{:?}", want.trackers),
    );
    check(
        "web_seeds",
        format!("{:?}", m.web_seeds),
        format!("{:?}", want.web_seeds),
    );
    check(
        "exact_length",
        format!("{:?}", m.exact_length),
        format!("{:?}", want.exact_length),
    );
    let peers: Vec<String> = m.peers.iter().map(ToString::to_string).collect();
    check("peers", format!("{peers:?}"), format!("{:?}", want.peers));
    let so: Vec<[u32; 2]> = m
        .select_only
        .iter()
        .map(|r| [*r.start(), *r.end()])
        .collect();
    check(
        "select_only",
        format!("{so:?}"),
        format!("{:?}", want.select_only),
    );
    let built = m.to_string();
    if let Some(canonical) = &want.canonical {
        check("to_string", built.clone(), canonical.clone());
    }
    match Magnet::parse(&built) {
        Ok(again) if again == *m => {}
        other => diffs.push(format!("round trip through {built:?} gave {other:?}")),
    }
    diffs
}

#[test]
fn every_magnet_vector_matches() {
    let vectors: Vec<Vector> =
        serde_json::from_str(VECTORS).expect("magnet.json is valid JSON of the documented shape");
    assert!(vectors.len() >= 30, "only {} vectors", vectors.len());

    let mut failures = Vec::new();
    let mut names = std::collections::HashSet::new();
    for v in &vectors {
        if !names.insert(v.name.as_str()) {
            failures.push(format!("{}: duplicate vector name", v.name));
        }
        let link = match v.link() {
            Ok(link) => link,
            Err(e) => {
                failures.push(format!("{}: bad vector: {e}", v.name));
                continue;
            }
        };
        match (Magnet::parse(&link), v.expect.ok) {
            (Ok(m), true) => {
                failures.extend(
                    compare(&m, &v.expect)
                        .into_iter()
                        .map(|d| format!("{}: {d}", v.name)),
                );
            }
            (Ok(m), false) => failures.push(format!(
                "{}: parsed, but want error {:?}; got {m:?}",
                v.name, v.expect.error
            )),
            (Err(e), true) => failures.push(format!("{}: want ok, got error {e:?} ({e})", v.name)),
            (Err(e), false) => {
                let want = v.expect.error.as_deref().unwrap_or("<missing `error`>");
                if kind(&e) != want {
                    failures.push(format!("{}: want error {want}, got {e:?} ({e})", v.name));
                }
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} magnet vectors failed:\n  {}",
        failures.len(),
        vectors.len(),
        failures.join("\n  ")
    );
}
