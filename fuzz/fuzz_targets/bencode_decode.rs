//! Bencode decoding in both modes: never panics; every value of a decoded tree can be walked;
//! in strict mode, re-encoding the decoded tree gives back the input byte for byte (strict
//! accepts canonical bencode only, and the encoder writes canonical bencode).

#![no_main]

use libfuzzer_sys::fuzz_target;
use torrent_format::bencode::{self, DecodeOptions, Kind, Value};

fuzz_target!(|data: &[u8]| {
    if let Ok(doc) = bencode::decode(data, &DecodeOptions::strict()) {
        walk(doc.root(), data);
        let owned = doc.root().to_owned_value();
        assert_eq!(
            owned.encoded_len(),
            data.len(),
            "strict: encoded_len differs from input"
        );
        assert_eq!(
            owned.to_bytes(),
            data,
            "strict: re-encoding is not the identity"
        );
        assert_eq!(
            doc.root().raw(),
            data,
            "strict: root raw() is not the whole input"
        );
    }
    if let Ok(doc) = bencode::decode(data, &DecodeOptions::lenient()) {
        walk(doc.root(), data);
        let owned = doc.root().to_owned_value();
        // The lenient tree re-encodes canonically; strict mode must accept that encoding.
        let canonical = owned.to_bytes();
        let again = bencode::decode(&canonical, &DecodeOptions::strict())
            .expect("canonical re-encoding of a lenient document must decode strictly");
        assert_eq!(again.root().to_owned_value().to_bytes(), canonical);
    }
});

/// Visits every value, checking that each one's raw bytes lie within the input at its span.
fn walk(value: Value<'_>, input: &[u8]) {
    let raw = value.raw();
    let span = value.span();
    assert_eq!(&input[span], raw, "raw() disagrees with span()");
    let _ = value.ty();
    match value.kind() {
        Kind::Int(i) => assert_eq!(value.as_int(), Some(i)),
        Kind::Bytes(b) => {
            assert_eq!(value.as_bytes(), Some(b));
            let _ = value.as_str();
        }
        Kind::List(list) => {
            assert_eq!(list.iter().count(), list.len());
            for (i, item) in list.iter().enumerate() {
                assert!(list.get(i).is_some());
                walk(item, input);
            }
            assert!(list.get(list.len()).is_none());
        }
        Kind::Dict(dict) => {
            assert_eq!(dict.iter().count(), dict.len());
            for (key, item) in dict.iter() {
                assert!(dict.get(key).is_some());
                walk(item, input);
            }
        }
    }
}
