//! Wire vectors (`vectors/wire.json`): run through peer-wire, and through WebTorrent's
//! `bittorrent-protocol` (`external/wire_protocol.mjs`).
//!
//! Messages are JSON objects in one shape for every implementation (byte strings as lowercase
//! hex), so results compare as values.

use std::io::Write;
use std::process::{Command, Stdio};

use bytes::{Bytes, BytesMut};
use peer_wire::{
    BlockRef, DecodeError, Handshake, HashRequest, Limits, Message, PieceIndex, Status,
};
use serde_json::{Value, json};

use crate::conformance_dir;

/// One vector.
#[derive(Debug, Clone)]
pub struct WireVector {
    /// Its name.
    pub name: String,
    /// The bytes: a handshake, then messages.
    pub bytes: Vec<u8>,
    /// What they decode to, handshake first.
    pub messages: Vec<Value>,
    /// What stops decoding (`None`: nothing).
    pub error: Option<String>,
}

/// What an implementation made of a vector.
#[derive(Debug, Clone, PartialEq)]
pub struct WireResult {
    /// Decoded messages, handshake first.
    pub messages: Vec<Value>,
    /// What stopped decoding.
    pub error: Option<String>,
}

/// Reads `vectors/wire.json`.
pub fn wire_vectors() -> anyhow::Result<Vec<WireVector>> {
    let path = conformance_dir().join("vectors/wire.json");
    let file: Value = serde_json::from_slice(&std::fs::read(&path)?)?;
    let vectors = file["vectors"]
        .as_array()
        .ok_or_else(|| anyhow::anyhow!("{}: no vectors", path.display()))?;
    vectors
        .iter()
        .map(|v| {
            Ok(WireVector {
                name: v["name"].as_str().unwrap_or_default().to_owned(),
                bytes: hex::decode(v["hex"].as_str().unwrap_or_default())?,
                messages: v["messages"].as_array().cloned().unwrap_or_default(),
                error: v["error"].as_str().map(str::to_owned),
            })
        })
        .collect()
}

/// Decodes a vector's bytes with peer-wire, fed one byte at a time, as a slow connection
/// would deliver them (the split tests of peer-wire check that the result does not depend on
/// where the bytes are cut).
pub fn our_decode(bytes: &[u8]) -> WireResult {
    let mut messages = Vec::new();
    let mut buf = BytesMut::new();
    let mut handshake_done = false;
    for &b in bytes {
        buf.extend_from_slice(&[b]);
        if !handshake_done {
            match Handshake::decode(&buf) {
                Ok(Status::Partial) => continue,
                Ok(Status::Complete((h, used))) => {
                    let _ = buf.split_to(used);
                    messages.push(handshake_json(&h));
                    handshake_done = true;
                }
                Err(e) => {
                    return WireResult {
                        messages,
                        error: Some(error_name(&e)),
                    };
                }
            }
        }
        loop {
            match Message::decode(&mut buf, &Limits::default()) {
                Ok(Status::Partial) => break,
                Ok(Status::Complete(m)) => messages.push(message_json(&m)),
                Err(e) => {
                    return WireResult {
                        messages,
                        error: Some(error_name(&e)),
                    };
                }
            }
        }
    }
    let partial = !handshake_done || !buf.is_empty();
    WireResult {
        messages,
        error: partial.then(|| "partial".to_owned()),
    }
}

/// Encodes messages (handshake first) with peer-wire.
pub fn our_encode(messages: &[Value]) -> anyhow::Result<Vec<u8>> {
    let mut out = Vec::new();
    for m in messages {
        if m["type"] == "handshake" {
            handshake_from_json(m)?.encode(&mut out);
        } else {
            message_from_json(m)?.encode(&mut out);
        }
    }
    Ok(out)
}

/// The outcome of running the vectors through `bittorrent-protocol`.
pub enum JsRun {
    /// Decoded results, by vector, and encoded hex (or error), by vector.
    Ran(Vec<WireResult>, Vec<Result<Vec<u8>, String>>),
    /// Node or the package is missing.
    Unavailable(String),
}

/// Runs every vector through `bittorrent-protocol`, decoding the bytes and encoding the
/// messages of the vectors that decode without error.
pub fn bittorrent_protocol(vectors: &[WireVector]) -> JsRun {
    if !conformance_dir()
        .join("node_modules/bittorrent-protocol")
        .exists()
    {
        return JsRun::Unavailable(
            "bittorrent-protocol is not installed (npm ci in conformance/)".into(),
        );
    }
    let decode = json!({
        "mode": "decode",
        "cases": vectors.iter().map(|v| json!({"name": v.name, "hex": hex::encode(&v.bytes)})).collect::<Vec<_>>(),
    });
    let encode = json!({
        "mode": "encode",
        "cases": vectors.iter().map(|v| json!({"name": v.name, "messages": v.messages})).collect::<Vec<_>>(),
    });
    let (decoded, encoded) = match (run_js(&decode), run_js(&encode)) {
        (Ok(d), Ok(e)) => (d, e),
        (Err(e), _) | (_, Err(e)) => return JsRun::Unavailable(e),
    };
    let decoded = decoded["results"]
        .as_array()
        .map(|r| {
            r.iter()
                .map(|r| WireResult {
                    messages: r["messages"].as_array().cloned().unwrap_or_default(),
                    error: r["error"].as_str().map(str::to_owned),
                })
                .collect()
        })
        .unwrap_or_default();
    let encoded = encoded["results"]
        .as_array()
        .map(|r| {
            r.iter()
                .map(|r| match r["error"].as_str() {
                    Some(e) => Err(e.to_owned()),
                    None => hex::decode(r["hex"].as_str().unwrap_or_default())
                        .map_err(|e| e.to_string()),
                })
                .collect()
        })
        .unwrap_or_default();
    JsRun::Ran(decoded, encoded)
}

fn run_js(request: &Value) -> Result<Value, String> {
    let script = conformance_dir().join("external/wire_protocol.mjs");
    let mut child = Command::new("node")
        .arg(&script)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot run node: {e}"))?;
    child
        .stdin
        .take()
        .expect("stdin is piped")
        .write_all(request.to_string().as_bytes())
        .map_err(|e| format!("cannot write to node: {e}"))?;
    let out = child.wait_with_output().map_err(|e| format!("node: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "node {} failed: {}",
            script.display(),
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    serde_json::from_slice(&out.stdout).map_err(|e| format!("node: unreadable output: {e}"))
}

/// The error names of the vectors.
pub fn error_name(e: &DecodeError) -> String {
    match e {
        DecodeError::NotBitTorrent => "not_bittorrent",
        DecodeError::MessageTooLong { .. } => "too_long",
        DecodeError::WrongLength { .. } => "wrong_length",
        _ => "malformed",
    }
    .to_owned()
}

/// A handshake as JSON.
pub fn handshake_json(h: &Handshake) -> Value {
    json!({
        "type": "handshake",
        "reserved": hex::encode(h.reserved.0),
        "info_hash": hex::encode(h.info_hash.0),
        "peer_id": hex::encode(h.peer_id.0),
    })
}

/// A message as JSON.
pub fn message_json(m: &Message) -> Value {
    let block = |t: &str, b: &BlockRef| json!({"type": t, "piece": b.piece.0, "offset": b.offset, "length": b.len});
    let hash = |t: &str, r: &HashRequest| {
        json!({"type": t, "pieces_root": hex::encode(r.pieces_root), "base_layer": r.base_layer,
               "index": r.index, "length": r.length, "proof_layers": r.proof_layers})
    };
    match m {
        Message::KeepAlive => json!({"type": "keep_alive"}),
        Message::Choke => json!({"type": "choke"}),
        Message::Unchoke => json!({"type": "unchoke"}),
        Message::Interested => json!({"type": "interested"}),
        Message::NotInterested => json!({"type": "not_interested"}),
        Message::Have(p) => json!({"type": "have", "piece": p.0}),
        Message::Bitfield(bits) => json!({"type": "bitfield", "bits": hex::encode(bits)}),
        Message::Request(b) => block("request", b),
        Message::Piece {
            piece,
            offset,
            data,
        } => {
            json!({"type": "piece", "piece": piece.0, "offset": offset, "data": hex::encode(data)})
        }
        Message::Cancel(b) => block("cancel", b),
        Message::Port(port) => json!({"type": "port", "port": port}),
        Message::Suggest(p) => json!({"type": "suggest", "piece": p.0}),
        Message::HaveAll => json!({"type": "have_all"}),
        Message::HaveNone => json!({"type": "have_none"}),
        Message::Reject(b) => block("reject", b),
        Message::AllowedFast(p) => json!({"type": "allowed_fast", "piece": p.0}),
        Message::Extended { id, payload } => {
            json!({"type": "extended", "id": id, "payload": hex::encode(payload)})
        }
        Message::HashRequest(r) => hash("hash_request", r),
        Message::Hashes { request, hashes } => {
            let mut v = hash("hashes", request);
            v["hashes"] = json!(hex::encode(hashes));
            v
        }
        Message::HashReject(r) => hash("hash_reject", r),
        Message::Unknown { id, payload } => {
            json!({"type": "unknown", "id": id, "payload": hex::encode(payload)})
        }
    }
}

fn handshake_from_json(v: &Value) -> anyhow::Result<Handshake> {
    Ok(Handshake {
        reserved: peer_wire::Reserved(array(v, "reserved")?),
        info_hash: peer_wire::InfoHash(array(v, "info_hash")?),
        peer_id: peer_wire::PeerId(array(v, "peer_id")?),
    })
}

/// A message from JSON.
pub fn message_from_json(v: &Value) -> anyhow::Result<Message> {
    let n = |k: &str| -> anyhow::Result<u32> {
        v[k].as_u64()
            .and_then(|n| u32::try_from(n).ok())
            .ok_or_else(|| anyhow::anyhow!("{k} missing in {v}"))
    };
    let bytes = |k: &str| -> anyhow::Result<Bytes> {
        Ok(Bytes::from(hex::decode(v[k].as_str().unwrap_or_default())?))
    };
    let block = || -> anyhow::Result<BlockRef> {
        Ok(BlockRef {
            piece: PieceIndex(n("piece")?),
            offset: n("offset")?,
            len: n("length")?,
        })
    };
    let hash = || -> anyhow::Result<HashRequest> {
        Ok(HashRequest {
            pieces_root: array(v, "pieces_root")?,
            base_layer: n("base_layer")?,
            index: n("index")?,
            length: n("length")?,
            proof_layers: n("proof_layers")?,
        })
    };
    let byte = |k: &str| -> anyhow::Result<u8> { Ok(u8::try_from(n(k)?)?) };
    Ok(match v["type"].as_str().unwrap_or_default() {
        "keep_alive" => Message::KeepAlive,
        "choke" => Message::Choke,
        "unchoke" => Message::Unchoke,
        "interested" => Message::Interested,
        "not_interested" => Message::NotInterested,
        "have" => Message::Have(PieceIndex(n("piece")?)),
        "bitfield" => Message::Bitfield(bytes("bits")?),
        "request" => Message::Request(block()?),
        "piece" => Message::Piece {
            piece: PieceIndex(n("piece")?),
            offset: n("offset")?,
            data: bytes("data")?,
        },
        "cancel" => Message::Cancel(block()?),
        "port" => Message::Port(u16::try_from(n("port")?)?),
        "suggest" => Message::Suggest(PieceIndex(n("piece")?)),
        "have_all" => Message::HaveAll,
        "have_none" => Message::HaveNone,
        "reject" => Message::Reject(block()?),
        "allowed_fast" => Message::AllowedFast(PieceIndex(n("piece")?)),
        "extended" => Message::Extended {
            id: byte("id")?,
            payload: bytes("payload")?,
        },
        "hash_request" => Message::HashRequest(hash()?),
        "hashes" => Message::Hashes {
            request: hash()?,
            hashes: bytes("hashes")?,
        },
        "hash_reject" => Message::HashReject(hash()?),
        "unknown" => Message::Unknown {
            id: byte("id")?,
            payload: bytes("payload")?,
        },
        other => anyhow::bail!("unknown message type {other:?}"),
    })
}

fn array<const N: usize>(v: &Value, key: &str) -> anyhow::Result<[u8; N]> {
    let bytes = hex::decode(v[key].as_str().unwrap_or_default())?;
    <[u8; N]>::try_from(bytes.as_slice()).map_err(|_| anyhow::anyhow!("{key}: not {N} bytes"))
}
