//! What users of the other crates write to read a torrent: a `#[derive(Deserialize)]` struct
//! for serde_bencode (the shape of its README example) and a hand-written `FromBencode` impl for
//! bendy (the shape of its `decode_torrent` example, extended to multi-file torrents and to
//! skipping unknown keys, as any real reader must).

use std::fmt;

use bendy::decoding::{Error as BendyError, FromBencode, Object, ResultExt};
use bendy::encoding::AsString;
use serde::Deserialize;
use serde::de::{Deserializer, Visitor};

/// A torrent as serde_bencode users declare it.
#[derive(Debug, Deserialize)]
#[expect(dead_code, reason = "fields are read by black_box, not by name")]
pub(crate) struct SerdeTorrent {
    announce: Option<String>,
    #[serde(rename = "announce-list")]
    announce_list: Option<Vec<Vec<String>>>,
    comment: Option<String>,
    #[serde(rename = "created by")]
    created_by: Option<String>,
    #[serde(rename = "creation date")]
    creation_date: Option<i64>,
    info: SerdeInfo,
}

#[derive(Debug, Deserialize)]
#[expect(dead_code, reason = "fields are read by black_box, not by name")]
struct SerdeInfo {
    name: String,
    #[serde(rename = "piece length")]
    piece_length: i64,
    pieces: ByteBuf,
    length: Option<i64>,
    files: Option<Vec<SerdeFile>>,
    private: Option<u8>,
}

#[derive(Debug, Deserialize)]
#[expect(dead_code, reason = "fields are read by black_box, not by name")]
struct SerdeFile {
    length: i64,
    path: Vec<String>,
}

/// `serde_bytes::ByteBuf`, which serde users put on `pieces`; written out here because
/// serde_bytes is not one of our dev-dependencies. Same visitor, same single copy.
#[derive(Debug)]
struct ByteBuf(#[expect(dead_code, reason = "read by black_box")] Vec<u8>);

impl<'de> Deserialize<'de> for ByteBuf {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = ByteBuf;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a byte string")
            }
            fn visit_bytes<E>(self, v: &[u8]) -> Result<ByteBuf, E> {
                Ok(ByteBuf(v.to_vec()))
            }
            fn visit_byte_buf<E>(self, v: Vec<u8>) -> Result<ByteBuf, E> {
                Ok(ByteBuf(v))
            }
        }
        d.deserialize_byte_buf(V)
    }
}

/// A torrent as bendy users write it by hand.
#[derive(Debug)]
#[expect(dead_code, reason = "fields are read by black_box, not by name")]
pub(crate) struct BendyTorrent {
    announce: Option<String>,
    announce_list: Option<Vec<Vec<String>>>,
    comment: Option<String>,
    created_by: Option<String>,
    creation_date: Option<i64>,
    info: BendyInfo,
}

#[derive(Debug)]
#[expect(dead_code, reason = "fields are read by black_box, not by name")]
struct BendyInfo {
    name: String,
    piece_length: u64,
    pieces: Vec<u8>,
    length: Option<u64>,
    files: Option<Vec<BendyFile>>,
}

#[derive(Debug)]
#[expect(dead_code, reason = "fields are read by black_box, not by name")]
struct BendyFile {
    length: u64,
    path: Vec<String>,
}

impl FromBencode for BendyTorrent {
    const EXPECTED_RECURSION_DEPTH: usize = BendyInfo::EXPECTED_RECURSION_DEPTH + 1;

    fn decode_bencode_object(object: Object<'_, '_>) -> Result<Self, BendyError> {
        let (mut announce, mut announce_list, mut comment) = (None, None, None);
        let (mut created_by, mut creation_date, mut info) = (None, None, None);
        let mut dict = object.try_into_dictionary()?;
        while let Some(pair) = dict.next_pair()? {
            match pair {
                (b"announce", v) => {
                    announce = Some(String::decode_bencode_object(v).context("announce")?);
                }
                (b"announce-list", v) => {
                    announce_list = Some(
                        Vec::<Vec<String>>::decode_bencode_object(v).context("announce-list")?,
                    );
                }
                (b"comment", v) => {
                    comment = Some(String::decode_bencode_object(v).context("comment")?);
                }
                (b"created by", v) => {
                    created_by = Some(String::decode_bencode_object(v).context("created by")?);
                }
                (b"creation date", v) => {
                    creation_date = Some(i64::decode_bencode_object(v).context("creation date")?);
                }
                (b"info", v) => info = Some(BendyInfo::decode_bencode_object(v).context("info")?),
                // Dropping an unread value makes bendy skip it.
                _ => {}
            }
        }
        Ok(Self {
            announce,
            announce_list,
            comment,
            created_by,
            creation_date,
            info: info.ok_or_else(|| BendyError::missing_field("info"))?,
        })
    }
}

impl FromBencode for BendyInfo {
    const EXPECTED_RECURSION_DEPTH: usize = Vec::<BendyFile>::EXPECTED_RECURSION_DEPTH + 1;

    fn decode_bencode_object(object: Object<'_, '_>) -> Result<Self, BendyError> {
        let (mut name, mut piece_length, mut pieces) = (None, None, None);
        let (mut length, mut files) = (None, None);
        let mut dict = object.try_into_dictionary()?;
        while let Some(pair) = dict.next_pair()? {
            match pair {
                (b"name", v) => name = Some(String::decode_bencode_object(v).context("name")?),
                (b"piece length", v) => {
                    piece_length = Some(u64::decode_bencode_object(v).context("piece length")?);
                }
                (b"pieces", v) => {
                    pieces = Some(
                        AsString::<Vec<u8>>::decode_bencode_object(v)
                            .context("pieces")?
                            .0,
                    );
                }
                (b"length", v) => length = Some(u64::decode_bencode_object(v).context("length")?),
                (b"files", v) => {
                    files = Some(Vec::<BendyFile>::decode_bencode_object(v).context("files")?);
                }
                _ => {}
            }
        }
        Ok(Self {
            name: name.ok_or_else(|| BendyError::missing_field("name"))?,
            piece_length: piece_length.ok_or_else(|| BendyError::missing_field("piece length"))?,
            pieces: pieces.ok_or_else(|| BendyError::missing_field("pieces"))?,
            length,
            files,
        })
    }
}

impl FromBencode for BendyFile {
    const EXPECTED_RECURSION_DEPTH: usize = Vec::<String>::EXPECTED_RECURSION_DEPTH + 1;

    fn decode_bencode_object(object: Object<'_, '_>) -> Result<Self, BendyError> {
        let (mut length, mut path) = (None, None);
        let mut dict = object.try_into_dictionary()?;
        while let Some(pair) = dict.next_pair()? {
            match pair {
                (b"length", v) => length = Some(u64::decode_bencode_object(v).context("length")?),
                (b"path", v) => {
                    path = Some(Vec::<String>::decode_bencode_object(v).context("path")?)
                }
                _ => {}
            }
        }
        Ok(Self {
            length: length.ok_or_else(|| BendyError::missing_field("length"))?,
            path: path.ok_or_else(|| BendyError::missing_field("path"))?,
        })
    }
}

/// Pulls every token out of bendy's decoder without building anything (integers are parsed,
/// as every decoder here does): bendy's cheapest way to see the whole input.
pub(crate) fn bendy_walk(input: &[u8]) -> Result<u64, BendyError> {
    let mut decoder = bendy::decoding::Decoder::new(input);
    let object = decoder
        .next_object()?
        .ok_or_else(|| BendyError::missing_field("root"))?;
    walk(object)
}

fn walk(object: Object<'_, '_>) -> Result<u64, BendyError> {
    Ok(match object {
        Object::Integer(text) => text.parse::<i64>()? as u64,
        Object::Bytes(b) => b.len() as u64,
        Object::List(mut list) => {
            let mut n = 0u64;
            while let Some(item) = list.next_object()? {
                n = n.wrapping_add(walk(item)?);
            }
            n
        }
        Object::Dict(mut dict) => {
            let mut n = 0u64;
            while let Some((key, value)) = dict.next_pair()? {
                n = n.wrapping_add(key.len() as u64).wrapping_add(walk(value)?);
            }
            n
        }
    })
}

/// bendy's owned tree (`bendy::value::Value`), built from the decoder with its default depth
/// limit (`Value::from_bencode` would use `EXPECTED_RECURSION_DEPTH = 0`, meaning "unknown").
pub(crate) fn bendy_tree(input: &[u8]) -> Result<bendy::value::Value<'_>, BendyError> {
    let mut decoder = bendy::decoding::Decoder::new(input);
    let object = decoder
        .next_object()?
        .ok_or_else(|| BendyError::missing_field("root"))?;
    bendy::value::Value::decode_bencode_object(object)
}
