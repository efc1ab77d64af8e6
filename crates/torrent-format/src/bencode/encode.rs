//! The encoder: an owned value tree whose dictionaries are always sorted, so what it writes is
//! canonical bencode.

use std::collections::BTreeMap;

/// An owned bencode value. Dictionaries are `BTreeMap`s keyed by raw bytes, so encoding always
/// produces sorted, unique keys (the canonical form [`Mode::Strict`](super::Mode::Strict)
/// accepts).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum OwnedValue {
    /// An integer.
    Int(i64),
    /// A byte string.
    Bytes(Vec<u8>),
    /// A list.
    List(Vec<Self>),
    /// A dictionary.
    Dict(BTreeMap<Vec<u8>, Self>),
}

impl OwnedValue {
    /// A byte string from anything byte-like.
    pub fn bytes(b: impl Into<Vec<u8>>) -> Self {
        Self::Bytes(b.into())
    }

    /// An empty dictionary.
    pub fn dict() -> Self {
        Self::Dict(BTreeMap::new())
    }

    /// Inserts into a dictionary (does nothing to other types); returns `self` for chaining.
    pub fn with(mut self, key: impl Into<Vec<u8>>, value: Self) -> Self {
        if let Self::Dict(map) = &mut self {
            map.insert(key.into(), value);
        }
        self
    }

    /// Appends the encoding to `out`.
    pub fn encode(&self, out: &mut Vec<u8>) {
        match self {
            Self::Int(i) => encode_int(*i, out),
            Self::Bytes(b) => encode_bytes(b, out),
            Self::List(items) => {
                out.push(b'l');
                for item in items {
                    item.encode(out);
                }
                out.push(b'e');
            }
            Self::Dict(map) => {
                out.push(b'd');
                for (k, v) in map {
                    encode_bytes(k, out);
                    v.encode(out);
                }
                out.push(b'e');
            }
        }
    }

    /// The encoding as a new buffer.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.encoded_len());
        self.encode(&mut out);
        out
    }

    /// Length of the encoding in bytes.
    pub fn encoded_len(&self) -> usize {
        match self {
            Self::Int(i) => 2 + int_len(*i),
            Self::Bytes(b) => bytes_len(b),
            Self::List(items) => 2 + items.iter().map(Self::encoded_len).sum::<usize>(),
            Self::Dict(map) => {
                2 + map
                    .iter()
                    .map(|(k, v)| bytes_len(k) + v.encoded_len())
                    .sum::<usize>()
            }
        }
    }
}

impl From<i64> for OwnedValue {
    fn from(i: i64) -> Self {
        Self::Int(i)
    }
}

impl From<&str> for OwnedValue {
    fn from(s: &str) -> Self {
        Self::Bytes(s.as_bytes().to_vec())
    }
}

impl From<String> for OwnedValue {
    fn from(s: String) -> Self {
        Self::Bytes(s.into_bytes())
    }
}

impl From<Vec<u8>> for OwnedValue {
    fn from(b: Vec<u8>) -> Self {
        Self::Bytes(b)
    }
}

/// Appends `i<n>e`.
pub fn encode_int(i: i64, out: &mut Vec<u8>) {
    out.push(b'i');
    push_decimal(i, out);
    out.push(b'e');
}

/// Appends `<len>:<bytes>`.
pub fn encode_bytes(b: &[u8], out: &mut Vec<u8>) {
    push_decimal(b.len() as i64, out);
    out.push(b':');
    out.extend_from_slice(b);
}

fn push_decimal(i: i64, out: &mut Vec<u8>) {
    let mut buf = [0u8; 20];
    let mut n = i.unsigned_abs();
    let mut at = buf.len();
    loop {
        at -= 1;
        buf[at] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    if i < 0 {
        out.push(b'-');
    }
    out.extend_from_slice(&buf[at..]);
}

fn int_len(i: i64) -> usize {
    let digits = i
        .unsigned_abs()
        .checked_ilog10()
        .map_or(1, |l| l as usize + 1);
    digits + usize::from(i < 0)
}

fn bytes_len(b: &[u8]) -> usize {
    int_len(b.len() as i64) + 1 + b.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn int_bytes(i: i64) -> Vec<u8> {
        let mut out = Vec::new();
        encode_int(i, &mut out);
        out
    }

    /// Every power of ten and its neighbours, both signs, and the ends of `i64`.
    fn boundary_ints() -> Vec<i64> {
        let mut v = vec![i64::MIN, i64::MIN + 1, i64::MAX - 1, i64::MAX];
        let mut p: i64 = 1;
        loop {
            for d in [-1, 0, 1] {
                v.push(p + d);
                v.push(-(p + d));
            }
            match p.checked_mul(10) {
                Some(next) => p = next,
                None => break,
            }
        }
        v
    }

    // BEP 3: "i3e corresponds to 3 and i-3e corresponds to -3"; "4:spam corresponds to 'spam'".
    #[test]
    fn bep3_examples_encode() {
        assert_eq!(OwnedValue::Int(3).to_bytes(), b"i3e");
        assert_eq!(OwnedValue::Int(-3).to_bytes(), b"i-3e");
        assert_eq!(OwnedValue::Int(0).to_bytes(), b"i0e");
        assert_eq!(OwnedValue::from("spam").to_bytes(), b"4:spam");
        assert_eq!(OwnedValue::bytes("").to_bytes(), b"0:");
        assert_eq!(
            OwnedValue::List(vec!["spam".into(), "eggs".into()]).to_bytes(),
            b"l4:spam4:eggse"
        );
        assert_eq!(
            OwnedValue::dict()
                .with("spam", "eggs".into())
                .with("cow", "moo".into())
                .to_bytes(),
            b"d3:cow3:moo4:spam4:eggse"
        );
        assert_eq!(
            OwnedValue::dict()
                .with("spam", OwnedValue::List(vec!["a".into(), "b".into()]))
                .to_bytes(),
            b"d4:spaml1:a1:bee"
        );
        assert_eq!(OwnedValue::List(vec![]).to_bytes(), b"le");
        assert_eq!(OwnedValue::dict().to_bytes(), b"de");
    }

    #[test]
    fn integers_match_std_formatting() {
        for i in (-1000..1000).chain(boundary_ints()) {
            assert_eq!(int_bytes(i), format!("i{i}e").into_bytes(), "{i}");
        }
    }

    #[test]
    fn encoded_len_matches_output_for_small_and_boundary_ints() {
        for i in (-1000..1000).chain(boundary_ints()) {
            let v = OwnedValue::Int(i);
            assert_eq!(v.encoded_len(), v.to_bytes().len(), "{i}");
        }
    }

    #[test]
    fn encoded_len_matches_output_for_string_lengths() {
        // Length prefixes change width at 10, 100 and 1000 bytes.
        for n in (0..1100).chain([9_999, 10_000, 10_001]) {
            let v = OwnedValue::Bytes(vec![b'x'; n]);
            let bytes = v.to_bytes();
            assert_eq!(v.encoded_len(), bytes.len(), "{n}");
            assert!(bytes.starts_with(format!("{n}:").as_bytes()));
        }
    }

    #[test]
    fn encoded_len_matches_output_for_containers() {
        let v = OwnedValue::dict()
            .with(
                "a",
                OwnedValue::List(vec![1.into(), (-10).into(), "xyz".into()]),
            )
            .with("", OwnedValue::dict().with("k", OwnedValue::List(vec![])))
            .with(vec![0xff; 12], i64::MIN.into());
        assert_eq!(v.encoded_len(), v.to_bytes().len());
        assert_eq!(v.to_bytes(), b"d0:d1:klee1:ali1ei-10e3:xyze12:\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xffi-9223372036854775808ee");
    }

    #[test]
    fn dict_keys_are_written_sorted_and_unique() {
        let v = OwnedValue::dict()
            .with("b", 1.into())
            .with("a", 2.into())
            .with("B", 3.into())
            .with("b", 4.into());
        assert_eq!(v.to_bytes(), b"d1:Bi3e1:ai2e1:bi4ee");
    }

    #[test]
    fn with_ignores_non_dicts() {
        assert_eq!(OwnedValue::Int(1).with("a", 2.into()), OwnedValue::Int(1));
        assert_eq!(
            OwnedValue::List(vec![]).with("a", 2.into()),
            OwnedValue::List(vec![])
        );
    }

    #[test]
    fn encode_appends_to_existing_buffer() {
        let mut out = b"prefix".to_vec();
        OwnedValue::from("x").encode(&mut out);
        encode_bytes(b"yz", &mut out);
        encode_int(-7, &mut out);
        assert_eq!(out, b"prefix1:x2:yzi-7e");
    }

    #[test]
    fn conversions_build_the_expected_variants() {
        assert_eq!(OwnedValue::from(5i64), OwnedValue::Int(5));
        assert_eq!(OwnedValue::from("s"), OwnedValue::Bytes(b"s".to_vec()));
        assert_eq!(
            OwnedValue::from(String::from("s")),
            OwnedValue::Bytes(b"s".to_vec())
        );
        assert_eq!(
            OwnedValue::from(vec![1u8, 2]),
            OwnedValue::Bytes(vec![1, 2])
        );
        assert_eq!(OwnedValue::bytes(&b"\x00"[..]), OwnedValue::Bytes(vec![0]));
    }
}
