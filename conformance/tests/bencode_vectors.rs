//! Runs `vectors/bencode.json` against `torrent_format::bencode` in both modes.
//!
//! The file is an array of vectors:
//! ```json
//! { "name": "...", "input": "printable text" | "input_hex": "00ff",
//!   "limits": { "max_depth": 1, "max_items": 2, "max_string_len": 3 },   (optional)
//!   "strict":  { "ok": true, "value": <value> } | { "ok": false, "error": "Kind", "offset": 7 },
//!   "lenient": same }
//! ```
//! Values in JSON: an integer is `{"i": n}`, with `n` a string beyond ±2^53 (where JSON numbers
//! stop being exact); a byte string is `{"s": "utf-8 text"}` or `{"x": "hex"}`; a list is an
//! array; a dictionary is `{"d": [[key, value], ...]}` in input order, repeated keys included,
//! each key a byte string as above. Errors are named by `DecodeErrorKind`'s variant name
//! without its payload (`UnexpectedByte`, not `UnexpectedByte(101)`), and `offset` is the
//! error's byte offset. Missing `limits` fields take the defaults.
//!
//! Every mismatch is printed before the test fails.

use std::fmt::Write as _;

use serde_json::Value as Json;
use torrent_format::bencode::{DecodeError, DecodeOptions, Kind, Limits, Mode, Value, decode};

const VECTORS: &str = include_str!("../vectors/bencode.json");

/// A decoded value in a form that compares with the JSON expectations.
#[derive(Debug, PartialEq)]
enum Tree {
    Int(i64),
    Bytes(Vec<u8>),
    List(Vec<Self>),
    Dict(Vec<(Vec<u8>, Self)>),
}

impl Tree {
    fn from_value(v: Value<'_>) -> Self {
        match v.kind() {
            Kind::Int(i) => Self::Int(i),
            Kind::Bytes(b) => Self::Bytes(b.to_vec()),
            Kind::List(l) => Self::List(l.iter().map(Self::from_value).collect()),
            Kind::Dict(d) => Self::Dict(
                d.iter()
                    .map(|(k, v)| (k.to_vec(), Self::from_value(v)))
                    .collect(),
            ),
        }
    }

    fn from_json(j: &Json) -> Result<Self, String> {
        if let Json::Array(items) = j {
            return items
                .iter()
                .map(Self::from_json)
                .collect::<Result<_, _>>()
                .map(Self::List);
        }
        let obj = j
            .as_object()
            .filter(|o| o.len() == 1)
            .ok_or(format!("bad value {j}"))?;
        let (tag, body) = obj.iter().next().ok_or("empty object")?;
        match (tag.as_str(), body) {
            ("i", Json::Number(n)) => n.as_i64().map(Self::Int).ok_or(format!("bad int {n}")),
            ("i", Json::String(s)) => s.parse().map(Self::Int).map_err(|e| format!("{s}: {e}")),
            ("s", Json::String(s)) => Ok(Self::Bytes(s.as_bytes().to_vec())),
            ("x", Json::String(h)) => hex::decode(h).map(Self::Bytes).map_err(|e| e.to_string()),
            ("d", Json::Array(entries)) => entries
                .iter()
                .map(|e| match e.as_array().map(Vec::as_slice) {
                    Some([k, v]) => match Self::from_json(k)? {
                        Self::Bytes(k) => Ok((k, Self::from_json(v)?)),
                        _ => Err(format!("key {k} is not a byte string")),
                    },
                    _ => Err(format!("bad entry {e}")),
                })
                .collect::<Result<_, _>>()
                .map(Self::Dict),
            _ => Err(format!("bad value {j}")),
        }
    }
}

/// What one mode should produce.
#[derive(Debug, PartialEq)]
enum Outcome {
    Ok(Tree),
    Err { kind: String, offset: usize },
}

impl Outcome {
    fn from_result(r: Result<Tree, DecodeError>) -> Self {
        match r {
            Ok(tree) => Self::Ok(tree),
            Err(e) => Self::Err {
                kind: kind_name(&e),
                offset: e.offset,
            },
        }
    }

    fn from_json(j: &Json) -> Result<Self, String> {
        match j.get("ok").and_then(Json::as_bool) {
            Some(true) => Tree::from_json(j.get("value").ok_or("no value")?).map(Self::Ok),
            Some(false) => Ok(Self::Err {
                kind: j
                    .get("error")
                    .and_then(Json::as_str)
                    .ok_or("no error")?
                    .to_owned(),
                offset: j.get("offset").and_then(Json::as_u64).ok_or("no offset")? as usize,
            }),
            None => Err(format!("no \"ok\" in {j}")),
        }
    }
}

/// `UnexpectedByte(101)` → `UnexpectedByte`.
fn kind_name(e: &DecodeError) -> String {
    let debug = format!("{:?}", e.kind);
    debug.split('(').next().unwrap_or_default().to_owned()
}

fn input(v: &Json) -> Result<Vec<u8>, String> {
    match (v.get("input"), v.get("input_hex")) {
        (Some(Json::String(s)), None) => Ok(s.as_bytes().to_vec()),
        (None, Some(Json::String(h))) => hex::decode(h).map_err(|e| e.to_string()),
        _ => Err("exactly one of input and input_hex".into()),
    }
}

fn limits(v: &Json) -> Result<Limits, String> {
    let mut limits = Limits::default();
    let Some(l) = v.get("limits") else {
        return Ok(limits);
    };
    let obj = l.as_object().ok_or("limits is not an object")?;
    for (field, n) in obj {
        let n = n.as_u64().ok_or(format!("limit {field} is not a number"))? as usize;
        match field.as_str() {
            "max_depth" => limits.max_depth = n,
            "max_items" => limits.max_items = n,
            "max_string_len" => limits.max_string_len = n,
            other => return Err(format!("unknown limit {other}")),
        }
    }
    Ok(limits)
}

/// Runs one vector; returns a line per mismatch.
fn run(v: &Json) -> Result<Vec<String>, String> {
    let bytes = input(v)?;
    let limits = limits(v)?;
    let mut mismatches = Vec::new();
    for (mode, field) in [(Mode::Strict, "strict"), (Mode::Lenient, "lenient")] {
        let want = Outcome::from_json(v.get(field).ok_or(format!("no {field}"))?)?;
        let doc = decode(&bytes, &DecodeOptions { mode, limits });
        let got = Outcome::from_result(doc.map(|d| Tree::from_value(d.root())));
        if got != want {
            mismatches.push(format!("{field}: expected {want:?}, got {got:?}"));
        }
    }
    Ok(mismatches)
}

#[test]
fn bencode_vectors() {
    let vectors: Vec<Json> = serde_json::from_str(VECTORS).expect("bencode.json is valid JSON");
    let mut report = String::new();
    let mut failed = 0;
    let mut names = std::collections::HashSet::new();
    for v in &vectors {
        let name = v.get("name").and_then(Json::as_str).unwrap_or("<unnamed>");
        if !names.insert(name) {
            writeln!(report, "{name}: name used twice").unwrap();
            failed += 1;
        }
        match run(v) {
            Ok(lines) if lines.is_empty() => {}
            Ok(lines) => {
                failed += 1;
                for line in lines {
                    writeln!(report, "{name}: {line}").unwrap();
                }
            }
            Err(e) => {
                failed += 1;
                writeln!(report, "{name}: malformed vector: {e}").unwrap();
            }
        }
    }
    assert!(vectors.len() >= 60, "only {} vectors", vectors.len());
    assert!(
        failed == 0,
        "{failed} of {} vectors failed:\n{report}",
        vectors.len()
    );
}
