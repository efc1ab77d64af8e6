//! Bencode (BEP 3): a zero-copy decoder with strict and lenient modes, and an encoder.
//!
//! ```
//! use torrent_format::bencode::{self, DecodeOptions, OwnedValue};
//!
//! let doc = bencode::decode(b"d3:cow3:moo4:spaml1:a1:bee", &DecodeOptions::strict()).unwrap();
//! let root = doc.root().as_dict().unwrap();
//! assert_eq!(root.get(b"cow").unwrap().as_str(), Some("moo"));
//! assert_eq!(root.get(b"spam").unwrap().raw(), b"l1:a1:be");
//!
//! let value = OwnedValue::dict().with("cow", "moo".into()).with("n", 42.into());
//! assert_eq!(value.to_bytes(), b"d3:cow3:moo1:ni42ee");
//! ```

mod decode;
mod encode;

pub use decode::{
    DecodeError, DecodeErrorKind, DecodeOptions, Dict, Document, Kind, Limits, List, Mode, Type,
    Value, decode, decode_prefix,
};
pub use encode::{OwnedValue, encode_bytes, encode_int};
