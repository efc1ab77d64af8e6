//! Property tests for the bencode decoder and encoder (BEP 3).
//!
//! Oracles, strongest first:
//! - our own encoder: `decode(encode(v)) == v` for arbitrary [`OwnedValue`]s;
//! - a [`Raw`] tree that can write non-canonical bencode on purpose (unsorted and repeated keys,
//!   leading zeros, `-0`) and so knows in advance what strict mode must reject and what lenient
//!   mode must return;
//! - `bendy` 0.6, an independent strict decoder, on every input both accept.
//!
//! Disagreements with bendy (strict mode, found by `strict_mode_agrees_with_bendy` and pinned in
//! `known_disagreements_with_bendy`):
//! - integers outside `i64`: bendy hands integers out as unparsed text and accepts any length;
//!   we reject them with `IntegerOverflow`. BEP 3 says "integers have no size limitation", so
//!   here bendy is the literal reading and we deviate on purpose, as libtorrent does (its
//!   `bdecode` also stops at 64 bits): no BitTorrent field needs more.
//! - empty input: bendy's `next_object` answers `Ok(None)` (end of stream); we answer
//!   `UnexpectedEof`. Not a disagreement about bencode, only about streams.
//! - a string length longer than the input: bendy reports end of input, as we do; a length that
//!   overflows `usize` is a syntax error for bendy and `StringTooLong` for us. Both reject.

use bendy::decoding::{Decoder as BendyDecoder, Object};
use proptest::prelude::*;
use proptest::test_runner::FileFailurePersistence;
use torrent_format::bencode::{
    DecodeError, DecodeErrorKind, DecodeOptions, Kind, Limits, Mode, OwnedValue, Value, decode,
    decode_prefix,
};

/// Depth limit given to both decoders when comparing them (ours by default is 100 as well).
const DEPTH: usize = 100;

/// A decoded value in a form both decoders can produce: dictionaries keep input order and
/// integers are kept as text so bendy's arbitrary-size integers can be compared.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Tree {
    Int(String),
    Bytes(Vec<u8>),
    List(Vec<Self>),
    Dict(Vec<(Vec<u8>, Self)>),
}

impl Tree {
    fn from_value(v: Value<'_>) -> Self {
        match v.kind() {
            Kind::Int(i) => Self::Int(i.to_string()),
            Kind::Bytes(b) => Self::Bytes(b.to_vec()),
            Kind::List(l) => Self::List(l.iter().map(Self::from_value).collect()),
            Kind::Dict(d) => Self::Dict(
                d.iter()
                    .map(|(k, v)| (k.to_vec(), Self::from_value(v)))
                    .collect(),
            ),
        }
    }

    /// Whether some integer in the tree does not fit in `i64`.
    fn has_wide_int(&self) -> bool {
        match self {
            Self::Int(s) => s.parse::<i64>().is_err(),
            Self::Bytes(_) => false,
            Self::List(items) => items.iter().any(Self::has_wide_int),
            Self::Dict(entries) => entries.iter().any(|(_, v)| v.has_wide_int()),
        }
    }
}

/// bendy's verdict on a whole input: one value and nothing after it.
fn bendy_decode(input: &[u8]) -> Result<Tree, String> {
    fn object(obj: Object<'_, '_>) -> Result<Tree, bendy::decoding::Error> {
        Ok(match obj {
            Object::Integer(s) => Tree::Int(s.to_owned()),
            Object::Bytes(b) => Tree::Bytes(b.to_vec()),
            Object::List(mut l) => {
                let mut items = Vec::new();
                while let Some(item) = l.next_object()? {
                    items.push(object(item)?);
                }
                Tree::List(items)
            }
            Object::Dict(mut d) => {
                let mut entries = Vec::new();
                while let Some((k, v)) = d.next_pair()? {
                    entries.push((k.to_vec(), object(v)?));
                }
                Tree::Dict(entries)
            }
        })
    }
    let mut decoder = BendyDecoder::new(input).with_max_depth(DEPTH);
    let tree = match decoder.next_object() {
        Ok(Some(obj)) => object(obj).map_err(|e| e.to_string())?,
        Ok(None) => return Err("no value".into()),
        Err(e) => return Err(e.to_string()),
    };
    match decoder.next_object() {
        Ok(None) => Ok(tree),
        Ok(Some(_)) => Err("trailing value".into()),
        Err(e) => Err(e.to_string()),
    }
}

fn ours_strict(input: &[u8]) -> Result<Tree, DecodeError> {
    decode(input, &DecodeOptions::strict()).map(|doc| Tree::from_value(doc.root()))
}

fn ours_lenient(input: &[u8]) -> Result<Tree, DecodeError> {
    decode(input, &DecodeOptions::lenient()).map(|doc| Tree::from_value(doc.root()))
}

/// A value that can be written non-canonically on purpose.
#[derive(Clone, Debug)]
enum Raw {
    /// `zeros` extra leading zeros; `minus` writes `-0` for zero (ignored otherwise).
    Int {
        value: i64,
        zeros: usize,
        minus: bool,
    },
    /// `zeros` extra leading zeros on the length.
    Bytes {
        data: Vec<u8>,
        zeros: usize,
    },
    List(Vec<Self>),
    /// Entries in the order written, repeats allowed.
    Dict(Vec<(Vec<u8>, usize, Self)>),
}

impl Raw {
    fn encode(&self, out: &mut Vec<u8>) {
        fn zeros(out: &mut Vec<u8>, n: usize) {
            out.extend(std::iter::repeat_n(b'0', n));
        }
        match self {
            Self::Int {
                value,
                zeros: z,
                minus,
            } => {
                out.push(b'i');
                if *value < 0 || (*minus && *value == 0) {
                    out.push(b'-');
                }
                zeros(out, *z);
                out.extend_from_slice(value.unsigned_abs().to_string().as_bytes());
                out.push(b'e');
            }
            Self::Bytes { data, zeros: z } => {
                zeros(out, *z);
                out.extend_from_slice(format!("{}:", data.len()).as_bytes());
                out.extend_from_slice(data);
            }
            Self::List(items) => {
                out.push(b'l');
                items.iter().for_each(|i| i.encode(out));
                out.push(b'e');
            }
            Self::Dict(entries) => {
                out.push(b'd');
                for (k, z, v) in entries {
                    Self::Bytes {
                        data: k.clone(),
                        zeros: *z,
                    }
                    .encode(out);
                    v.encode(out);
                }
                out.push(b'e');
            }
        }
    }

    fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::new();
        self.encode(&mut out);
        out
    }

    /// BEP 3's canonical form: sorted unique keys, no leading zeros, no `-0`.
    fn is_canonical(&self) -> bool {
        match self {
            Self::Int {
                value,
                zeros,
                minus,
            } => *zeros == 0 && !(*minus && *value == 0),
            Self::Bytes { zeros, .. } => *zeros == 0,
            Self::List(items) => items.iter().all(Self::is_canonical),
            Self::Dict(entries) => {
                entries.windows(2).all(|w| w[0].0 < w[1].0)
                    && entries.iter().all(|(_, z, v)| *z == 0 && v.is_canonical())
            }
        }
    }

    /// What lenient mode must return.
    fn tree(&self) -> Tree {
        match self {
            Self::Int { value, .. } => Tree::Int(value.to_string()),
            Self::Bytes { data, .. } => Tree::Bytes(data.clone()),
            Self::List(items) => Tree::List(items.iter().map(Self::tree).collect()),
            Self::Dict(entries) => Tree::Dict(
                entries
                    .iter()
                    .map(|(k, _, v)| (k.clone(), v.tree()))
                    .collect(),
            ),
        }
    }
}

/// Integers biased towards the interesting ones.
fn arb_int() -> impl Strategy<Value = i64> {
    prop_oneof![
        4 => -20i64..20,
        2 => any::<i64>(),
        1 => prop::sample::select(vec![i64::MIN, i64::MIN + 1, i64::MAX, -10, 10, 100, -100]),
    ]
}

/// Short byte strings over a small alphabet, so keys repeat and order matters.
fn arb_key() -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(
        prop::sample::select(vec![b'a', b'b', b'0', b'e', 0x00, 0xff]),
        0..3,
    )
}

fn arb_bytes() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![3 => arb_key(), 1 => prop::collection::vec(any::<u8>(), 0..40)]
}

fn arb_owned() -> impl Strategy<Value = OwnedValue> {
    let leaf = prop_oneof![
        arb_int().prop_map(OwnedValue::Int),
        arb_bytes().prop_map(OwnedValue::Bytes)
    ];
    leaf.prop_recursive(6, 64, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(OwnedValue::List),
            prop::collection::btree_map(arb_bytes(), inner, 0..6).prop_map(OwnedValue::Dict),
        ]
    })
}

fn arb_zeros() -> impl Strategy<Value = usize> {
    prop_oneof![12 => Just(0usize), 1 => 1usize..3]
}

fn arb_raw() -> impl Strategy<Value = Raw> {
    let leaf = prop_oneof![
        (arb_int(), arb_zeros(), prop::bool::weighted(0.05)).prop_map(|(value, zeros, minus)| {
            Raw::Int {
                value,
                zeros,
                minus,
            }
        }),
        (arb_bytes(), arb_zeros()).prop_map(|(data, zeros)| Raw::Bytes { data, zeros }),
    ];
    leaf.prop_recursive(5, 48, 5, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5).prop_map(Raw::List),
            // Mostly sorted (what real encoders write), sometimes in generated order.
            (
                prop::collection::vec((arb_key(), arb_zeros(), inner), 0..5),
                prop::bool::weighted(0.7)
            )
                .prop_map(|(mut entries, sort)| {
                    if sort {
                        entries.sort_by(|a, b| a.0.cmp(&b.0));
                        entries.dedup_by(|a, b| a.0 == b.0);
                    }
                    Raw::Dict(entries)
                }),
        ]
    })
}

/// Fragments that make near-valid bencode when strung together.
fn arb_token_soup() -> impl Strategy<Value = Vec<u8>> {
    let tokens: Vec<&'static [u8]> = vec![
        b"i",
        b"e",
        b"l",
        b"d",
        b"0",
        b"1",
        b"9",
        b"-",
        b":",
        b"1:a",
        b"1:b",
        b"0:",
        b"i0e",
        b"i-1e",
        b"i-0e",
        b"i01e",
        b"01:a",
        b"le",
        b"de",
        b"x",
        b" ",
        b"\x00",
        b"2:",
        b"i9223372036854775808e",
        b"i-9223372036854775808e",
    ];
    prop::collection::vec(prop::sample::select(tokens), 0..16).prop_map(|t| t.concat())
}

#[derive(Clone, Debug)]
enum Mutation {
    Flip(usize, u8),
    Insert(usize, u8),
    Delete(usize),
    Truncate(usize),
}

fn arb_mutated() -> impl Strategy<Value = Vec<u8>> {
    let byte = prop_oneof![
        3 => prop::sample::select(b"ilde0123456789-:".to_vec()),
        1 => any::<u8>(),
    ];
    let mutation = prop_oneof![
        (any::<usize>(), byte.clone()).prop_map(|(i, b)| Mutation::Flip(i, b)),
        (any::<usize>(), byte).prop_map(|(i, b)| Mutation::Insert(i, b)),
        any::<usize>().prop_map(Mutation::Delete),
        any::<usize>().prop_map(Mutation::Truncate),
    ];
    let base = prop_oneof![
        arb_owned().prop_map(|v| v.to_bytes()),
        arb_raw().prop_map(|r| r.to_bytes())
    ];
    (base, prop::collection::vec(mutation, 1..4)).prop_map(|(mut bytes, mutations)| {
        for m in mutations {
            let n = bytes.len();
            match m {
                Mutation::Flip(i, b) if n > 0 => bytes[i % n] = b,
                Mutation::Insert(i, b) => bytes.insert(i % (n + 1), b),
                Mutation::Delete(i) if n > 0 => {
                    bytes.remove(i % n);
                }
                Mutation::Truncate(i) => bytes.truncate(i % (n + 1)),
                _ => {}
            }
        }
        bytes
    })
}

/// Everything that must hold of any input, valid or not, in both modes.
fn check_any_input(input: &[u8]) -> Result<(), TestCaseError> {
    for options in [DecodeOptions::strict(), DecodeOptions::lenient()] {
        match decode_prefix(input, &options) {
            Ok((doc, used)) => {
                prop_assert!(used <= input.len());
                prop_assert_eq!(doc.root().span(), 0..used);
                prop_assert_eq!(doc.root().raw(), &input[..used]);
                check_spans(doc.root(), input)?;
            }
            Err(e) => prop_assert!(e.offset <= input.len(), "{:?} past the input", e),
        }
        match decode(input, &options) {
            Ok(doc) => {
                prop_assert!(doc.root().span().end <= input.len());
                if options.mode == Mode::Strict {
                    // Strict success means the input is the canonical encoding of its value.
                    prop_assert_eq!(doc.root().span(), 0..input.len());
                    prop_assert_eq!(doc.root().to_owned_value().to_bytes(), input);
                }
            }
            Err(e) => prop_assert!(e.offset <= input.len(), "{:?} past the input", e),
        }
    }
    // Whatever strict accepts, lenient accepts as the same tree.
    if let Ok(tree) = ours_strict(input) {
        prop_assert_eq!(ours_lenient(input).ok(), Some(tree));
    }
    Ok(())
}

/// Children lie inside their parent, in order, without overlap.
fn check_spans(v: Value<'_>, input: &[u8]) -> Result<(), TestCaseError> {
    let span = v.span();
    prop_assert!(span.start < span.end && span.end <= input.len());
    prop_assert_eq!(&input[span.clone()], v.raw());
    let children: Vec<Value<'_>> = match v.kind() {
        Kind::List(l) => l.iter().collect(),
        Kind::Dict(d) => d.iter().map(|(_, v)| v).collect(),
        Kind::Int(_) | Kind::Bytes(_) => return Ok(()),
    };
    let mut at = span.start + 1;
    for c in children {
        prop_assert!(c.span().start >= at && c.span().end < span.end);
        at = c.span().end;
        check_spans(c, input)?;
    }
    Ok(())
}

/// Compares strict mode with bendy on one input; fails on a disagreement not listed in the
/// module docs.
fn check_against_bendy(input: &[u8]) -> Result<(), TestCaseError> {
    let ours = ours_strict(input);
    let theirs = bendy_decode(input);
    match (&ours, &theirs) {
        (Ok(a), Ok(b)) => prop_assert_eq!(a, b),
        (Err(_), Err(_)) => {}
        // Known: bendy takes integers of any size, we stop at i64.
        (Err(e), Ok(tree)) if tree.has_wide_int() => {
            prop_assert_eq!(e.kind, DecodeErrorKind::IntegerOverflow);
        }
        _ => prop_assert!(
            false,
            "strict and bendy disagree on {:?}: ours {:?}, bendy {:?}",
            input.escape_ascii().to_string(),
            ours,
            theirs
        ),
    }
    Ok(())
}

/// `Value::check_canonical` on a lenient decode gives exactly what strict decoding of the same
/// bytes gives: the same verdict, error kind and offset.
fn check_canonical_matches_strict(input: &[u8]) -> Result<(), TestCaseError> {
    if let Ok((doc, used)) = decode_prefix(input, &DecodeOptions::lenient()) {
        let strict = decode(&input[..used], &DecodeOptions::strict()).map(|_| ());
        prop_assert_eq!(doc.root().check_canonical(), strict);
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig {
        // 1024 by default; PROPTEST_CASES=100000 for a long hunt.
        cases: std::env::var("PROPTEST_CASES").ok().and_then(|n| n.parse().ok()).unwrap_or(1024),
        // Integration tests default to a file beside the source; keep the crate's one folder.
        failure_persistence: Some(Box::new(FileFailurePersistence::Direct(
            "proptest-regressions/bencode_props.txt",
        ))),
        ..ProptestConfig::default()
    })]

    /// (a) What we encode, strict mode decodes to the same value, and the root's raw bytes are
    /// the whole encoding.
    #[test]
    fn encode_then_strict_decode_round_trips(v in arb_owned()) {
        let bytes = v.to_bytes();
        prop_assert_eq!(v.encoded_len(), bytes.len());
        let doc = decode(&bytes, &DecodeOptions::strict()).unwrap();
        prop_assert_eq!(doc.root().to_owned_value(), v);
        prop_assert_eq!(doc.root().raw(), &bytes[..]);
        check_spans(doc.root(), &bytes)?;
    }

    /// Non-canonical writing: strict accepts exactly the canonical encodings, lenient accepts
    /// all of them and keeps entries in input order.
    #[test]
    fn raw_encodings_strict_iff_canonical_and_lenient_keeps_order(r in arb_raw()) {
        let bytes = r.to_bytes();
        let strict = ours_strict(&bytes);
        prop_assert_eq!(strict.is_ok(), r.is_canonical(), "strict gave {:?}", strict);
        if let Err(e) = strict {
            prop_assert!(matches!(
                e.kind,
                DecodeErrorKind::LeadingZero
                    | DecodeErrorKind::NegativeZero
                    | DecodeErrorKind::UnsortedKeys
                    | DecodeErrorKind::DuplicateKey
            ), "{:?}", e);
        }
        prop_assert_eq!(ours_lenient(&bytes), Ok(r.tree()));
    }

    /// (b) Arbitrary bytes never panic, and success is well-formed.
    #[test]
    fn arbitrary_bytes_never_panic(input in prop::collection::vec(any::<u8>(), 0..64)) {
        check_any_input(&input)?;
    }

    /// (b) Nor do near-valid inputs built from bencode fragments.
    #[test]
    fn token_soup_never_panics(input in arb_token_soup()) {
        check_any_input(&input)?;
    }

    /// (b) Nor do valid encodings with a few bytes flipped, inserted, deleted or cut off.
    #[test]
    fn mutated_encodings_never_panic(input in arb_mutated()) {
        check_any_input(&input)?;
    }

    /// (c) Strict mode and bendy agree on valid, non-canonical and broken inputs.
    #[test]
    fn strict_mode_agrees_with_bendy_on_encodings(v in arb_owned()) {
        check_against_bendy(&v.to_bytes())?;
    }

    #[test]
    fn strict_mode_agrees_with_bendy_on_raw_encodings(r in arb_raw()) {
        check_against_bendy(&r.to_bytes())?;
    }

    #[test]
    fn strict_mode_agrees_with_bendy_on_token_soup(input in arb_token_soup()) {
        check_against_bendy(&input)?;
    }

    #[test]
    fn strict_mode_agrees_with_bendy_on_mutations(input in arb_mutated()) {
        check_against_bendy(&input)?;
    }

    /// (d) Every proper prefix of an encoding ends inside a value: `UnexpectedEof` at the cut,
    /// never a partial value.
    #[test]
    fn canonical_check_agrees_with_strict_decoding_on_raw_encodings(r in arb_raw()) {
        check_canonical_matches_strict(&r.to_bytes())?;
    }

    #[test]
    fn canonical_check_agrees_with_strict_decoding_on_token_soup(input in arb_token_soup()) {
        check_canonical_matches_strict(&input)?;
    }

    #[test]
    fn canonical_check_agrees_with_strict_decoding_on_mutations(input in arb_mutated()) {
        check_canonical_matches_strict(&input)?;
    }

    #[test]
    fn truncated_encodings_are_unexpected_eof(v in arb_owned()) {
        let bytes = v.to_bytes();
        for cut in 0..bytes.len() {
            for options in [DecodeOptions::strict(), DecodeOptions::lenient()] {
                let got = decode_prefix(&bytes[..cut], &options).map(|(_, used)| used);
                prop_assert_eq!(
                    got,
                    Err(DecodeError { kind: DecodeErrorKind::UnexpectedEof, offset: cut }),
                    "cut at {} of {:?}", cut, bytes.escape_ascii().to_string()
                );
            }
        }
    }

    /// (d) A stream of two values splits where the first ends, wherever that is.
    #[test]
    fn decode_prefix_splits_concatenated_values(a in arb_owned(), b in arb_owned()) {
        let (ab, bb) = (a.to_bytes(), b.to_bytes());
        let stream = [ab.clone(), bb.clone()].concat();
        let (doc, used) = decode_prefix(&stream, &DecodeOptions::strict()).unwrap();
        prop_assert_eq!(used, ab.len());
        prop_assert_eq!(doc.root().to_owned_value(), a);
        let (doc, used) = decode_prefix(&stream[used..], &DecodeOptions::strict()).unwrap();
        prop_assert_eq!(used, bb.len());
        prop_assert_eq!(doc.root().to_owned_value(), b);
        prop_assert_eq!(
            decode(&stream, &DecodeOptions::strict()).err(),
            Some(DecodeError { kind: DecodeErrorKind::TrailingBytes, offset: ab.len() })
        );
    }

    /// Limits never let through what they should stop, and never stop what fits.
    #[test]
    fn limits_bound_depth_items_and_strings(
        v in arb_owned(),
        max_depth in 0usize..6,
        max_items in 0usize..40,
        max_string_len in 0usize..8,
    ) {
        let bytes = v.to_bytes();
        let limits = Limits { max_depth, max_items, max_string_len };
        let options = DecodeOptions { mode: Mode::Strict, limits };
        let (depth, items, longest) = measure(&v);
        let within = depth <= max_depth && items <= max_items && longest <= max_string_len;
        match decode(&bytes, &options) {
            Ok(doc) => {
                prop_assert!(within, "accepted {:?} under {:?}", (depth, items, longest), limits);
                prop_assert_eq!(doc.item_count(), items);
            }
            Err(e) => {
                prop_assert!(!within, "rejected within limits: {:?}", e);
                prop_assert!(matches!(
                    e.kind,
                    DecodeErrorKind::TooDeep
                        | DecodeErrorKind::TooManyItems
                        | DecodeErrorKind::StringTooLong
                ), "{:?}", e);
            }
        }
    }
}

/// Depth of containers, number of items (keys included) and longest string of a value.
fn measure(v: &OwnedValue) -> (usize, usize, usize) {
    match v {
        OwnedValue::Int(_) => (0, 1, 0),
        OwnedValue::Bytes(b) => (0, 1, b.len()),
        OwnedValue::List(items) => items.iter().map(measure).fold((1, 1, 0), |acc, m| {
            (acc.0.max(m.0 + 1), acc.1 + m.1, acc.2.max(m.2))
        }),
        OwnedValue::Dict(map) => map.iter().fold((1, 1, 0), |acc, (k, v)| {
            let m = measure(v);
            (
                acc.0.max(m.0 + 1),
                acc.1 + 1 + m.1,
                acc.2.max(m.2).max(k.len()),
            )
        }),
    }
}

/// The inputs where bendy and strict mode give different verdicts, each with who is right.
#[test]
fn known_disagreements_with_bendy() {
    // BEP 3: "Integers have no size limitation." bendy follows the letter; we stop at i64
    // deliberately (libtorrent does too), and say so with a typed error.
    for input in [
        &b"i9223372036854775808e"[..],
        b"i-9223372036854775809e",
        b"li123456789012345678901234567890ee",
    ] {
        assert!(bendy_decode(input).is_ok(), "{}", input.escape_ascii());
        assert_eq!(
            ours_strict(input).unwrap_err().kind,
            DecodeErrorKind::IntegerOverflow
        );
    }
    // Empty input: end of stream to bendy, a missing value to us.
    assert_eq!(bendy_decode(b""), Err("no value".to_owned()));
    assert_eq!(
        ours_strict(b"").unwrap_err().kind,
        DecodeErrorKind::UnexpectedEof
    );
    // Both reject every non-canonical form BEP 3 names.
    for input in [
        &b"i-0e"[..],
        b"i03e",
        b"03:abc",
        b"d1:bi0e1:ai0ee",
        b"d1:ai0e1:ai0ee",
        b"i1ei2e",
        b"di1ei2ee",
        b"d1:ae",
        b"18446744073709551616:",
        b"ie",
        b"i-e",
        b"e",
    ] {
        assert!(
            bendy_decode(input).is_err(),
            "bendy accepted {}",
            input.escape_ascii()
        );
        assert!(
            ours_strict(input).is_err(),
            "we accepted {}",
            input.escape_ascii()
        );
    }
    // The depth limits line up: 100 nested lists pass both, 101 fail both.
    let at = [vec![b'l'; DEPTH], vec![b'e'; DEPTH]].concat();
    let over = [vec![b'l'; DEPTH + 1], vec![b'e'; DEPTH + 1]].concat();
    assert!(bendy_decode(&at).is_ok() && ours_strict(&at).is_ok());
    assert!(bendy_decode(&over).is_err());
    assert_eq!(
        ours_strict(&over).unwrap_err().kind,
        DecodeErrorKind::TooDeep
    );
}

/// Lenient mode never rejects what strict accepts, on a few hand-picked canonical inputs too.
#[test]
fn canonical_inputs_decode_alike_in_both_modes() {
    for input in [
        &b"d3:cow3:moo4:spam4:eggse"[..],
        b"d4:spaml1:a1:bee",
        b"l4:spam4:eggse",
        b"i-3e",
    ] {
        assert_eq!(ours_strict(input), ours_lenient(input));
    }
}

#[test]
fn owned_value_round_trip_of_a_torrent_like_dict() {
    let v = OwnedValue::dict()
        .with("announce", "http://tracker.example/announce".into())
        .with(
            "info",
            OwnedValue::dict()
                .with("length", (1i64 << 40).into())
                .with("name", "file.bin".into())
                .with("piece length", 262_144.into())
                .with("pieces", OwnedValue::Bytes(vec![0xab; 40])),
        );
    let bytes = v.to_bytes();
    let doc = decode(&bytes, &DecodeOptions::strict()).unwrap();
    let info = doc.root().as_dict().unwrap().get(b"info").unwrap();
    assert!(bytes.windows(info.raw().len()).any(|w| w == info.raw()));
    assert_eq!(info.to_owned_value().to_bytes(), info.raw());
    assert_eq!(doc.root().to_owned_value(), v);
}
