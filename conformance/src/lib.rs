//! Conformance vectors run against our crates and against other clients.
//!
//! The corpus of libtorrent's own test torrents lives in `../shared/corpus` (beside the
//! repository; `PEERCDN_CORPUS` overrides). [`our_verdicts`] runs `torrent-format` over it and
//! gives each torrent's verdict in the schema of the corpus' `EXPECTED.json`; [`compare`] diffs
//! two verdicts; `expectations.json` lists where we differ from libtorrent on purpose, with
//! the reason. The `conformance` binary adds libtorrent (python3-libtorrent) and WebTorrent's
//! `parse-torrent` and prints the three-way table.

pub mod wire;

use std::path::{Path, PathBuf};

use serde_json::{Value, json};
use torrent_format::Metainfo;

/// The folder of libtorrent's test torrents.
pub fn corpus_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("PEERCDN_CORPUS") {
        return PathBuf::from(dir);
    }
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/corpus/libtorrent-test-torrents")
}

/// The repository's `conformance/` folder.
pub fn conformance_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Reads `EXPECTED.json`: one object per torrent.
pub fn expected() -> anyhow::Result<Vec<Value>> {
    let path = corpus_dir().join("EXPECTED.json");
    let text = std::fs::read_to_string(&path)
        .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", path.display()))?;
    Ok(serde_json::from_str(&text)?)
}

/// One deliberate difference from libtorrent, from `expectations.json`.
#[derive(Debug, serde::Deserialize)]
pub struct Expectation {
    /// The torrent file name.
    pub file: String,
    /// Our verdict: "accept" or "reject".
    pub verdict: String,
    /// Why we differ.
    pub reason: String,
}

/// Reads `conformance/expectations.json`.
pub fn expectations() -> anyhow::Result<Vec<Expectation>> {
    let text = std::fs::read_to_string(conformance_dir().join("expectations.json"))?;
    Ok(serde_json::from_str(&text)?)
}

/// Our verdict on one torrent file, in the schema of `EXPECTED.json`.
pub fn our_verdict(file: &Path) -> Value {
    let name = file
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let bytes = match std::fs::read(file) {
        Ok(b) => b,
        Err(e) => return json!({ "file": name, "verdict": "reject", "message": e.to_string() }),
    };
    match Metainfo::from_bytes(&bytes) {
        Err(e) => json!({
            "file": name, "verdict": "reject", "error": e.code(), "message": e.to_string()
        }),
        Ok(m) => verdict_json(&name, &m),
    }
}

/// An accepted torrent in the schema of `EXPECTED.json`.
pub fn verdict_json(name: &str, m: &Metainfo) -> Value {
    let hashes = m.info_hashes();
    let mut web_seeds: Vec<String> = m.web_seeds().to_vec();
    web_seeds.extend(m.http_seeds().iter().cloned());
    json!({
        "file": name,
        "verdict": "accept",
        "v1": hashes.v1.map(|h| h.to_hex()),
        "v2": hashes.v2.map(|h| h.to_hex()),
        "name": m.name(),
        "total_size": m.total_size(),
        "piece_length": m.piece_length(),
        "num_pieces": m.num_pieces(),
        "files": m.files().map(|f| json!({
            "path": f.path, "size": f.size, "pad": f.attributes.pad
        })).collect::<Vec<_>>(),
        "trackers": m.trackers(),
        "web_seeds": web_seeds,
        "private": m.is_private(),
    })
}

/// Runs our parser over every `.torrent` named in `expected`.
pub fn our_verdicts(expected: &[Value]) -> Vec<Value> {
    expected
        .iter()
        .map(|e| our_verdict(&corpus_dir().join(e["file"].as_str().unwrap_or_default())))
        .collect()
}

/// Differences between an expected and an actual verdict, as readable lines (empty: same).
/// `EXPECTED.json` lists trackers flat, in an order libtorrent 2.0.8 shuffles within each tier,
/// so trackers are compared as sets of URLs.
pub fn compare(expected: &Value, actual: &Value) -> Vec<String> {
    let mut diffs = Vec::new();
    if expected["verdict"] != actual["verdict"] {
        diffs.push(format!(
            "verdict: expected {} ({}), got {} ({})",
            expected["verdict"],
            expected.get("libtorrent_error").unwrap_or(&Value::Null),
            actual["verdict"],
            actual.get("message").unwrap_or(&Value::Null),
        ));
        return diffs;
    }
    if expected["verdict"] != "accept" {
        return diffs;
    }
    for key in [
        "v1",
        "v2",
        "name",
        "total_size",
        "piece_length",
        "num_pieces",
        "web_seeds",
        "private",
    ] {
        if expected[key] != actual[key] {
            diffs.push(format!(
                "{key}: expected {}, got {}",
                expected[key], actual[key]
            ));
        }
    }
    if normalize_tiers(&expected["trackers"]) != normalize_tiers(&actual["trackers"]) {
        diffs.push(format!(
            "trackers: expected {}, got {}",
            expected["trackers"], actual["trackers"]
        ));
    }
    let (ef, af) = (as_array(&expected["files"]), as_array(&actual["files"]));
    if ef.len() != af.len() {
        diffs.push(format!(
            "files: expected {} files, got {}",
            ef.len(),
            af.len()
        ));
    }
    for (i, (e, a)) in ef.iter().zip(af).enumerate() {
        if e != a {
            diffs.push(format!("file {i}: expected {e}, got {a}"));
        }
    }
    diffs
}

fn as_array(v: &Value) -> &[Value] {
    v.as_array().map_or(&[], |a| a.as_slice())
}

/// Tiers or a flat list, as one sorted list of URLs.
fn normalize_tiers(v: &Value) -> Vec<String> {
    let mut urls: Vec<String> = Vec::new();
    for item in as_array(v) {
        match item {
            Value::String(u) => urls.push(u.clone()),
            tier => urls.extend(
                as_array(tier)
                    .iter()
                    .filter_map(|u| u.as_str().map(str::to_owned)),
            ),
        }
    }
    urls.sort();
    urls
}

/// Another parser's verdicts on the corpus, from one of the `external/` scripts.
#[derive(Debug)]
pub enum External {
    /// The verdicts, one per torrent, in `EXPECTED.json`'s schema.
    Ran(Vec<Value>),
    /// The parser could not run here (not installed): why.
    Unavailable(String),
}

/// python3-libtorrent's verdicts (`external/libtorrent_parse.py`, run by Debian's
/// `/usr/bin/python3`, which is where the package installs).
pub fn libtorrent_verdicts() -> External {
    run_external(
        "/usr/bin/python3",
        &[conformance_dir().join("external/libtorrent_parse.py")],
    )
}

/// WebTorrent's `parse-torrent` verdicts (`external/parse_torrent.mjs`; `npm ci` in
/// `conformance/` installs it).
pub fn parse_torrent_verdicts() -> External {
    if !conformance_dir()
        .join("node_modules/parse-torrent")
        .exists()
    {
        return External::Unavailable(
            "parse-torrent is not installed (npm ci in conformance/)".into(),
        );
    }
    run_external(
        "node",
        &[conformance_dir().join("external/parse_torrent.mjs")],
    )
}

fn run_external(program: &str, script: &[PathBuf]) -> External {
    let output = std::process::Command::new(program)
        .args(script)
        .arg(corpus_dir())
        .output();
    match output {
        Err(e) => External::Unavailable(format!("cannot run {program}: {e}")),
        Ok(out) if !out.status.success() => External::Unavailable(format!(
            "{program} {} failed: {}",
            script[0].display(),
            String::from_utf8_lossy(&out.stderr)
                .lines()
                .last()
                .unwrap_or_default()
        )),
        Ok(out) => match serde_json::from_slice(&out.stdout) {
            Ok(v) => External::Ran(v),
            Err(e) => External::Unavailable(format!("{program}: unreadable output: {e}")),
        },
    }
}

/// Finds a torrent's verdict in a list of verdicts.
pub fn find<'a>(verdicts: &'a [Value], file: &str) -> Option<&'a Value> {
    verdicts.iter().find(|v| v["file"] == file)
}
