//! Unit tests of the decoder: BEP 3's examples, every error kind at its offset, strict vs
//! lenient, limits.

use super::*;
use crate::bencode::OwnedValue;

fn strict(input: &[u8]) -> Result<Document<'_>, DecodeError> {
    decode(input, &DecodeOptions::strict())
}

fn lenient(input: &[u8]) -> Result<Document<'_>, DecodeError> {
    decode(input, &DecodeOptions::lenient())
}

fn with_limits(limits: Limits) -> DecodeOptions {
    DecodeOptions {
        mode: Mode::Strict,
        limits,
    }
}

/// Asserts that both modes fail with `kind` at `offset`.
fn fails_both(input: &[u8], kind: DecodeErrorKind, offset: usize) {
    let want = DecodeError { kind, offset };
    assert_eq!(
        strict(input).err(),
        Some(want),
        "strict, input {}",
        input.escape_ascii()
    );
    assert_eq!(
        lenient(input).err(),
        Some(want),
        "lenient, input {}",
        input.escape_ascii()
    );
}

/// Asserts strict fails with `kind` at `offset` and lenient decodes to `value`.
fn strict_only(input: &[u8], kind: DecodeErrorKind, offset: usize, value: OwnedValue) {
    assert_eq!(
        strict(input).err(),
        Some(DecodeError { kind, offset }),
        "strict, input {:?}",
        input.escape_ascii()
    );
    let doc = lenient(input).unwrap();
    assert_eq!(
        doc.root().to_owned_value(),
        value,
        "lenient, input {}",
        input.escape_ascii()
    );
}

fn owned(input: &[u8]) -> OwnedValue {
    strict(input).unwrap().root().to_owned_value()
}

fn list(items: Vec<OwnedValue>) -> OwnedValue {
    OwnedValue::List(items)
}

// BEP 3: "Strings are length-prefixed base ten followed by a colon and the string. For
// example 4:spam corresponds to 'spam'."
#[test]
fn bep3_string_example() {
    let doc = strict(b"4:spam").unwrap();
    assert_eq!(doc.root().as_bytes(), Some(&b"spam"[..]));
    assert_eq!(doc.root().as_str(), Some("spam"));
    assert_eq!(doc.root().ty(), Type::Bytes);
    assert_eq!(owned(b"0:"), OwnedValue::bytes(""));
}

// BEP 3: "Integers are represented by an 'i' followed by the number in base 10 followed by
// an 'e'. For example i3e corresponds to 3 and i-3e corresponds to -3. [...] i-0e is
// invalid. All encodings with a leading zero, such as i03e, are invalid, other than i0e,
// which of course corresponds to 0."
#[test]
fn bep3_integer_examples() {
    assert_eq!(strict(b"i3e").unwrap().root().as_int(), Some(3));
    assert_eq!(strict(b"i-3e").unwrap().root().as_int(), Some(-3));
    assert_eq!(strict(b"i0e").unwrap().root().as_int(), Some(0));
    assert_eq!(strict(b"i0e").unwrap().root().ty(), Type::Int);
    strict_only(
        b"i-0e",
        DecodeErrorKind::NegativeZero,
        0,
        OwnedValue::Int(0),
    );
    strict_only(b"i03e", DecodeErrorKind::LeadingZero, 0, OwnedValue::Int(3));
}

// BEP 3: "Lists are encoded as an 'l' followed by their elements (also bencoded) followed
// by an 'e'. For example l4:spam4:eggse corresponds to ['spam', 'eggs']."
#[test]
fn bep3_list_example() {
    let doc = strict(b"l4:spam4:eggse").unwrap();
    let l = doc.root().as_list().unwrap();
    assert_eq!(l.len(), 2);
    assert_eq!(l.iter().len(), 2);
    let items: Vec<_> = l.iter().map(|v| v.as_str().unwrap()).collect();
    assert_eq!(items, ["spam", "eggs"]);
    assert_eq!(l.get(1).unwrap().as_str(), Some("eggs"));
    assert!(l.get(2).is_none());
    assert!(strict(b"le").unwrap().root().as_list().unwrap().is_empty());
}

// BEP 3: "Dictionaries are encoded as a 'd' followed by a list of alternating keys and their
// corresponding values followed by an 'e'. For example, d3:cow3:moo4:spam4:eggse corresponds
// to {'cow': 'moo', 'spam': 'eggs'} and d4:spaml1:a1:bee corresponds to
// {'spam': ['a', 'b']}. Keys must be strings and appear in sorted order (sorted as raw
// strings, not alphanumerics)."
#[test]
fn bep3_dict_examples() {
    let doc = strict(b"d3:cow3:moo4:spam4:eggse").unwrap();
    let d = doc.root().as_dict().unwrap();
    assert_eq!(d.len(), 2);
    assert_eq!(d.iter().len(), 2);
    assert_eq!(d.get(b"cow").unwrap().as_str(), Some("moo"));
    assert_eq!(d.get(b"spam").unwrap().as_str(), Some("eggs"));
    assert!(d.get(b"moo").is_none());
    let keys: Vec<_> = d.iter().map(|(k, _)| k).collect();
    assert_eq!(keys, [&b"cow"[..], b"spam"]);

    assert_eq!(
        owned(b"d4:spaml1:a1:bee"),
        OwnedValue::dict().with("spam", list(vec!["a".into(), "b".into()]))
    );
    assert!(strict(b"de").unwrap().root().as_dict().unwrap().is_empty());
}

#[test]
fn keys_sort_as_raw_bytes_not_text() {
    // "Z" (0x5a) < "a" (0x61) < "\xff"; "a" < "aa" (a prefix sorts first).
    assert!(strict(b"d1:Zi0e1:ai0e2:aai0e1:\xffi0ee").is_ok());
    strict_only(
        b"d1:ai0e1:Zi0ee",
        DecodeErrorKind::UnsortedKeys,
        7,
        OwnedValue::dict().with("a", 0.into()).with("Z", 0.into()),
    );
    strict_only(
        b"d2:aai0e1:ai0ee",
        DecodeErrorKind::UnsortedKeys,
        8,
        OwnedValue::dict().with("aa", 0.into()).with("a", 0.into()),
    );
}

#[test]
fn every_error_kind_reports_its_offset() {
    use DecodeErrorKind::*;
    fails_both(b"", UnexpectedEof, 0);
    fails_both(b"e", UnexpectedByte(b'e'), 0);
    fails_both(b"x", UnexpectedByte(b'x'), 0);
    fails_both(b"-1", UnexpectedByte(b'-'), 0);
    fails_both(b"l-1e", UnexpectedByte(b'-'), 1);
    fails_both(b"lxe", UnexpectedByte(b'x'), 1);
    fails_both(b"d1:axe", UnexpectedByte(b'x'), 4);
    fails_both(b"i", UnexpectedEof, 1);
    fails_both(b"i-", UnexpectedEof, 2);
    fails_both(b"i12", UnexpectedEof, 3);
    fails_both(b"ie", InvalidInteger, 1);
    fails_both(b"i e", InvalidInteger, 1);
    fails_both(b"i-e", InvalidInteger, 2);
    fails_both(b"i--1e", InvalidInteger, 2);
    fails_both(b"i+1e", InvalidInteger, 1);
    fails_both(b"i1.5e", InvalidInteger, 2);
    fails_both(b"i12x", InvalidInteger, 3);
    fails_both(b"li1xe", InvalidInteger, 3);
    fails_both(b"i9223372036854775808e", IntegerOverflow, 0);
    fails_both(b"i-9223372036854775809e", IntegerOverflow, 0);
    fails_both(b"i99999999999999999999999e", IntegerOverflow, 0);
    fails_both(b"l0:i18446744073709551616ee", IntegerOverflow, 3);
    fails_both(b"1", UnexpectedEof, 1);
    fails_both(b"12", UnexpectedEof, 2);
    fails_both(b"1x", InvalidStringLength, 1);
    fails_both(b"1-:", InvalidStringLength, 1);
    fails_both(b"l3e", InvalidStringLength, 2);
    fails_both(b"5:abc", UnexpectedEof, 5);
    fails_both(b"l5:abce", UnexpectedEof, 7);
    fails_both(b"99999999999999999999:", StringTooLong, 0);
    fails_both(b"l18446744073709551616:e", StringTooLong, 1);
    fails_both(b"di1ei2ee", NonStringKey, 1);
    fails_both(b"d1:a0:lei1ee", NonStringKey, 6);
    fails_both(b"dlei1ee", NonStringKey, 1);
    fails_both(b"ddei1ee", NonStringKey, 1);
    fails_both(b"d1:ae", MissingValue, 4);
    fails_both(b"d1:a0:1:be", MissingValue, 9);
    fails_both(b"d1:a", UnexpectedEof, 4);
    fails_both(b"l", UnexpectedEof, 1);
    fails_both(b"d", UnexpectedEof, 1);
    fails_both(b"li1e", UnexpectedEof, 4);
    fails_both(b"lli1ee", UnexpectedEof, 6);
    assert_eq!(
        strict(b"d1:b0:1:a0:e").err(),
        Some(DecodeError {
            kind: UnsortedKeys,
            offset: 6
        })
    );
    assert_eq!(
        strict(b"d1:a0:1:a0:e").err(),
        Some(DecodeError {
            kind: DuplicateKey,
            offset: 6
        })
    );
    assert_eq!(
        strict(b"i1ei2e").err(),
        Some(DecodeError {
            kind: TrailingBytes,
            offset: 3
        })
    );
    assert_eq!(
        strict(b"00:").err(),
        Some(DecodeError {
            kind: LeadingZero,
            offset: 0
        })
    );
    assert_eq!(
        strict(b"i-0e").err(),
        Some(DecodeError {
            kind: NegativeZero,
            offset: 0
        })
    );
    let deep = with_limits(Limits {
        max_depth: 1,
        ..Limits::default()
    });
    assert_eq!(
        decode(b"lle", &deep).err(),
        Some(DecodeError {
            kind: TooDeep,
            offset: 1
        })
    );
    let few = with_limits(Limits {
        max_items: 1,
        ..Limits::default()
    });
    assert_eq!(
        decode(b"li1ee", &few).err(),
        Some(DecodeError {
            kind: TooManyItems,
            offset: 1
        })
    );
    // InputTooLarge needs a 4 GiB input; it is a plain length check in `decode_prefix`.
}

#[test]
fn lenient_accepts_what_strict_rejects() {
    use DecodeErrorKind::*;
    strict_only(b"i00e", LeadingZero, 0, OwnedValue::Int(0));
    strict_only(b"i-00e", LeadingZero, 0, OwnedValue::Int(0));
    strict_only(b"i007e", LeadingZero, 0, OwnedValue::Int(7));
    strict_only(b"i-012e", LeadingZero, 0, OwnedValue::Int(-12));
    strict_only(b"i-0e", NegativeZero, 0, OwnedValue::Int(0));
    strict_only(b"01:a", LeadingZero, 0, OwnedValue::bytes("a"));
    strict_only(b"00:", LeadingZero, 0, OwnedValue::bytes(""));
    strict_only(b"l002:abe", LeadingZero, 1, list(vec!["ab".into()]));
    strict_only(b"i1ei2e", TrailingBytes, 3, OwnedValue::Int(1));
    strict_only(b"0:x", TrailingBytes, 2, OwnedValue::bytes(""));
    strict_only(b"lee", TrailingBytes, 2, list(vec![]));
    // Leading zeros do not make an otherwise overflowing number fit or the reverse.
    strict_only(
        b"i-000009223372036854775808e",
        LeadingZero,
        0,
        OwnedValue::Int(i64::MIN),
    );
    assert_eq!(
        lenient(b"i000009223372036854775808e").err(),
        Some(DecodeError {
            kind: IntegerOverflow,
            offset: 0
        })
    );
}

#[test]
fn lenient_keeps_unsorted_and_repeated_keys_in_input_order() {
    let input = b"d1:bi1e1:ai2e1:bi3ee";
    assert_eq!(
        strict(input).err(),
        Some(DecodeError {
            kind: DecodeErrorKind::UnsortedKeys,
            offset: 7
        })
    );
    let doc = lenient(input).unwrap();
    let d = doc.root().as_dict().unwrap();
    assert_eq!(d.len(), 3, "repeated keys are counted each time");
    let entries: Vec<_> = d.iter().map(|(k, v)| (k, v.as_int().unwrap())).collect();
    assert_eq!(entries, [(&b"b"[..], 1), (b"a", 2), (b"b", 3)]);
    // The first occurrence wins, in lookups and in the owned copy.
    assert_eq!(d.get(b"b").unwrap().as_int(), Some(1));
    assert_eq!(
        doc.root().to_owned_value(),
        OwnedValue::dict().with("a", 2.into()).with("b", 1.into())
    );

    let dup = b"d1:ai1e1:ai2ee";
    assert_eq!(
        strict(dup).err(),
        Some(DecodeError {
            kind: DecodeErrorKind::DuplicateKey,
            offset: 7
        })
    );
    let doc = lenient(dup).unwrap();
    assert_eq!(
        doc.root().as_dict().unwrap().get(b"a").unwrap().as_int(),
        Some(1)
    );
}

#[test]
fn key_order_is_checked_per_dictionary() {
    // An inner dictionary's keys do not take part in the outer one's order.
    assert!(strict(b"d1:bd1:zi0ee1:ci0ee").is_ok());
    assert!(strict(b"d1:ad1:ai0ee1:bd1:ai0eee").is_ok());
    // A list of dictionaries: each starts afresh.
    assert!(strict(b"ld1:bi0eed1:ai0eee").is_ok());
    assert_eq!(
        strict(b"d1:bd1:zi0ee1:ai0ee").err(),
        Some(DecodeError {
            kind: DecodeErrorKind::UnsortedKeys,
            offset: 12
        })
    );
}

#[test]
fn i64_bounds_decode_and_one_past_them_overflow() {
    assert_eq!(
        strict(b"i9223372036854775807e").unwrap().root().as_int(),
        Some(i64::MAX)
    );
    assert_eq!(
        strict(b"i-9223372036854775808e").unwrap().root().as_int(),
        Some(i64::MIN)
    );
    fails_both(
        b"i9223372036854775808e",
        DecodeErrorKind::IntegerOverflow,
        0,
    );
    fails_both(
        b"i-9223372036854775809e",
        DecodeErrorKind::IntegerOverflow,
        0,
    );
    fails_both(
        b"i18446744073709551615e",
        DecodeErrorKind::IntegerOverflow,
        0,
    );
    fails_both(
        b"i-18446744073709551616e",
        DecodeErrorKind::IntegerOverflow,
        0,
    );
    for i in [i64::MIN, i64::MIN + 1, -1, 0, 1, i64::MAX - 1, i64::MAX] {
        let bytes = OwnedValue::Int(i).to_bytes();
        assert_eq!(strict(&bytes).unwrap().root().as_int(), Some(i));
    }
}

#[test]
fn depth_limit_is_inclusive() {
    for max_depth in [0, 1, 2, 5, 100] {
        let options = with_limits(Limits {
            max_depth,
            ..Limits::default()
        });
        for open in [b'l', b'd'] {
            // l l .. i0e e e, or d1:a d1:a .. i0e e e: `depth` containers around a leaf.
            let nested = |depth: usize| {
                let mut v = Vec::new();
                for _ in 0..depth {
                    v.push(open);
                    if open == b'd' {
                        v.extend_from_slice(b"1:a");
                    }
                }
                // A leaf at the bottom (and the innermost dictionary's value).
                v.extend_from_slice(b"i0e");
                v.extend(std::iter::repeat_n(b'e', depth));
                v
            };
            let at = nested(max_depth);
            assert!(
                decode(&at, &options).is_ok(),
                "depth {max_depth} of {}",
                open as char
            );
            let over = nested(max_depth + 1);
            let offset = if open == b'l' {
                max_depth
            } else {
                max_depth * 4
            };
            assert_eq!(
                decode(&over, &options).err(),
                Some(DecodeError {
                    kind: DecodeErrorKind::TooDeep,
                    offset
                }),
                "depth {} of {}",
                max_depth + 1,
                open as char
            );
        }
    }
    // The default is 100, libtorrent's.
    let ok = [vec![b'l'; 100], vec![b'e'; 100]].concat();
    assert!(strict(&ok).is_ok());
    let too_deep = [vec![b'l'; 101], vec![b'e'; 101]].concat();
    assert_eq!(
        strict(&too_deep).err(),
        Some(DecodeError {
            kind: DecodeErrorKind::TooDeep,
            offset: 100
        })
    );
}

#[test]
fn item_limit_counts_keys_and_containers() {
    let options = |max_items| {
        with_limits(Limits {
            max_items,
            ..Limits::default()
        })
    };
    // l i1e i2e e: three items.
    assert!(decode(b"li1ei2ee", &options(3)).is_ok());
    assert_eq!(
        decode(b"li1ei2ee", &options(2)).err(),
        Some(DecodeError {
            kind: DecodeErrorKind::TooManyItems,
            offset: 4
        })
    );
    // d 1:a i1e e: the key counts.
    assert!(decode(b"d1:ai1ee", &options(3)).is_ok());
    assert_eq!(
        decode(b"d1:ai1ee", &options(2)).err(),
        Some(DecodeError {
            kind: DecodeErrorKind::TooManyItems,
            offset: 4
        })
    );
    assert_eq!(
        decode(b"i1e", &options(0)).err(),
        Some(DecodeError {
            kind: DecodeErrorKind::TooManyItems,
            offset: 0
        })
    );
    assert_eq!(decode(b"d1:ai1ee", &options(3)).unwrap().item_count(), 3);
}

#[test]
fn string_length_limit_is_inclusive() {
    let options = with_limits(Limits {
        max_string_len: 3,
        ..Limits::default()
    });
    assert!(decode(b"3:abc", &options).is_ok());
    assert_eq!(
        decode(b"4:abcd", &options).err(),
        Some(DecodeError {
            kind: DecodeErrorKind::StringTooLong,
            offset: 0
        })
    );
    // Checked before looking for the body: a hostile length never waits for its bytes.
    assert_eq!(
        decode(b"l4:", &options).err(),
        Some(DecodeError {
            kind: DecodeErrorKind::StringTooLong,
            offset: 1
        })
    );
    let zero = with_limits(Limits {
        max_string_len: 0,
        ..Limits::default()
    });
    assert!(decode(b"0:", &zero).is_ok());
    assert_eq!(
        decode(b"d1:ai0ee", &zero).err(),
        Some(DecodeError {
            kind: DecodeErrorKind::StringTooLong,
            offset: 1
        })
    );
}

#[test]
fn raw_and_span_of_nested_values() {
    let input = b"d1:ald1:bi1eee1:ci-5e1:d4:spame";
    let doc = strict(input).unwrap();
    let root = doc.root();
    assert_eq!(root.raw(), input);
    assert_eq!(root.span(), 0..input.len());
    let d = root.as_dict().unwrap();
    let a = d.get(b"a").unwrap();
    assert_eq!(a.raw(), b"ld1:bi1eee");
    assert_eq!(a.span(), 4..14);
    let inner = a.as_list().unwrap().get(0).unwrap();
    assert_eq!(inner.raw(), b"d1:bi1ee");
    assert_eq!(inner.span(), 5..13);
    let b = inner.as_dict().unwrap().get(b"b").unwrap();
    assert_eq!(b.raw(), b"i1e");
    assert_eq!(b.span(), 9..12);
    let c = d.get(b"c").unwrap();
    assert_eq!((c.raw(), c.span()), (&b"i-5e"[..], 17..21));
    let s = d.get(b"d").unwrap();
    assert_eq!((s.raw(), s.span()), (&b"4:spam"[..], 24..30));
    assert_eq!(s.as_bytes(), Some(&b"spam"[..]));
    // Every span indexes the input to give raw().
    fn walk(v: Value<'_>, input: &[u8]) {
        assert_eq!(&input[v.span()], v.raw());
        match v.kind() {
            Kind::List(l) => l.iter().for_each(|c| walk(c, input)),
            Kind::Dict(d) => d.iter().for_each(|(_, c)| walk(c, input)),
            Kind::Int(_) | Kind::Bytes(_) => {}
        }
    }
    walk(root, input);
}

#[test]
fn raw_keeps_non_canonical_bytes_in_lenient_mode() {
    // The info-hash is taken over the bytes as sent, not a re-encoding.
    let input = b"d4:infod1:bi01e1:ai-0eee";
    let doc = lenient(input).unwrap();
    let info = doc.root().as_dict().unwrap().get(b"info").unwrap();
    assert_eq!(info.raw(), b"d1:bi01e1:ai-0ee");
    assert_ne!(info.to_owned_value().to_bytes(), info.raw());
}

#[test]
fn decode_prefix_reports_consumed_length() {
    for (input, used) in [
        (&b"i1ei2e"[..], 3),
        (b"4:spamXYZ", 6),
        (b"0:0:", 2),
        (b"lei0e", 2),
        (b"d1:ai1eetrailing", 8),
        (b"d1:ai1ee", 8),
    ] {
        for options in [DecodeOptions::strict(), DecodeOptions::lenient()] {
            let (doc, n) = decode_prefix(input, &options).unwrap();
            assert_eq!(n, used, "input {}", input.escape_ascii());
            assert_eq!(doc.root().span(), 0..used);
            assert_eq!(doc.input(), input);
        }
    }
    // Errors inside the prefix are still errors, and strict rules still apply to it.
    assert_eq!(
        decode_prefix(b"i01ei2e", &DecodeOptions::strict()).err(),
        Some(DecodeError {
            kind: DecodeErrorKind::LeadingZero,
            offset: 0
        })
    );
    assert_eq!(
        decode_prefix(b"i1", &DecodeOptions::lenient()).err(),
        Some(DecodeError {
            kind: DecodeErrorKind::UnexpectedEof,
            offset: 2
        })
    );
}

#[test]
fn binary_strings_and_nul_bytes() {
    let doc = strict(b"3:\x00\xff\x00").unwrap();
    assert_eq!(doc.root().as_bytes(), Some(&b"\x00\xff\x00"[..]));
    assert_eq!(doc.root().as_str(), None);
    // A length counts bytes, not characters: "é" is two bytes.
    assert_eq!(strict("2:é".as_bytes()).unwrap().root().as_str(), Some("é"));
    assert!(strict(b"d1:\x00i0e1:\x01i0ee").is_ok());
}

#[test]
fn accessors_return_none_for_other_types() {
    let doc = strict(b"li1e1:aledee").unwrap();
    let items: Vec<_> = doc.root().as_list().unwrap().iter().collect();
    let types: Vec<_> = items.iter().map(Value::ty).collect();
    assert_eq!(types, [Type::Int, Type::Bytes, Type::List, Type::Dict]);
    for (i, v) in items.iter().enumerate() {
        assert_eq!(v.as_int().is_some(), i == 0);
        assert_eq!(v.as_bytes().is_some(), i == 1);
        assert_eq!(v.as_str().is_some(), i == 1);
        assert_eq!(v.as_list().is_some(), i == 2);
        assert_eq!(v.as_dict().is_some(), i == 3);
    }
    assert_eq!(items[2].as_list().unwrap().as_value().span(), 7..9);
    assert_eq!(items[3].as_dict().unwrap().as_value().span(), 9..11);
    assert_eq!(doc.item_count(), 5);
}

#[test]
fn debug_renders_a_readable_tree() {
    let doc = strict(b"d1:ali1e2:\xff\xffee").unwrap();
    assert_eq!(format!("{:?}", doc.root()), r#"{"a": [1, <2 bytes>]}"#);
}

#[test]
fn error_display_names_kind_and_offset() {
    let e = strict(b"i1x").unwrap_err();
    assert_eq!(e.to_string(), "malformed integer at byte 2");
    let e = strict(b"q").unwrap_err();
    assert_eq!(
        e.to_string(),
        "unexpected byte 0x71 (a value starts with i, l, d or a digit) at byte 0"
    );
}
