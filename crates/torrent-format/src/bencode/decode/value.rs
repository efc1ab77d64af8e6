//! The values of a decoded [`Document`]: cheap handles into its tape.

use std::fmt;
use std::ops::Range;

use super::{DecodeError, DecodeErrorKind, Node, Tag};

/// The type of a bencoded value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Type {
    /// `i42e`
    Int,
    /// `4:spam`
    Bytes,
    /// `l...e`
    List,
    /// `d...e`
    Dict,
}

impl fmt::Display for Type {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Int => "integer",
            Self::Bytes => "string",
            Self::List => "list",
            Self::Dict => "dictionary",
        })
    }
}

/// A decoded document: the input it borrows and the tape of its values.
#[derive(Clone, Debug)]
pub struct Document<'a> {
    pub(super) input: &'a [u8],
    pub(super) nodes: Vec<Node>,
}

/// One value of a [`Document`]: a cheap handle that borrows the document.
#[derive(Clone, Copy)]
pub struct Value<'a> {
    doc: &'a Document<'a>,
    idx: u32,
}

/// A value's contents, for matching on.
#[derive(Clone, Copy, Debug)]
pub enum Kind<'a> {
    /// An integer.
    Int(i64),
    /// A byte string (not necessarily UTF-8).
    Bytes(&'a [u8]),
    /// A list.
    List(List<'a>),
    /// A dictionary.
    Dict(Dict<'a>),
}

/// A list value.
#[derive(Clone, Copy)]
pub struct List<'a> {
    value: Value<'a>,
}

/// A dictionary value. Lookups scan the entries and return the first match.
#[derive(Clone, Copy)]
pub struct Dict<'a> {
    value: Value<'a>,
}

impl<'a> Document<'a> {
    /// The top-level value.
    pub fn root(&self) -> Value<'_> {
        Value { doc: self, idx: 0 }
    }

    /// The input the document borrows.
    pub fn input(&self) -> &'a [u8] {
        self.input
    }

    /// How many values the document holds (keys count as values).
    pub fn item_count(&self) -> usize {
        self.nodes.len()
    }
}

impl<'a> Value<'a> {
    fn node(&self) -> &'a Node {
        // The index came from the tape itself (root or a child walk), so it is in bounds.
        &self.doc.nodes[self.idx as usize]
    }

    /// The value's type.
    pub fn ty(&self) -> Type {
        match self.node().tag {
            Tag::Int => Type::Int,
            Tag::Bytes => Type::Bytes,
            Tag::List => Type::List,
            Tag::Dict => Type::Dict,
        }
    }

    /// The value's contents.
    pub fn kind(&self) -> Kind<'a> {
        let node = self.node();
        match node.tag {
            Tag::Int => Kind::Int(node.data as i64),
            Tag::Bytes => Kind::Bytes(&self.doc.input[node.data as usize..node.end as usize]),
            Tag::List => Kind::List(List { value: *self }),
            Tag::Dict => Kind::Dict(Dict { value: *self }),
        }
    }

    /// The integer, if this is one.
    pub fn as_int(&self) -> Option<i64> {
        match self.kind() {
            Kind::Int(i) => Some(i),
            _ => None,
        }
    }

    /// The byte string, if this is one.
    pub fn as_bytes(&self) -> Option<&'a [u8]> {
        match self.kind() {
            Kind::Bytes(b) => Some(b),
            _ => None,
        }
    }

    /// The byte string as UTF-8, if this is a string and valid UTF-8.
    pub fn as_str(&self) -> Option<&'a str> {
        self.as_bytes().and_then(|b| std::str::from_utf8(b).ok())
    }

    /// The list, if this is one.
    pub fn as_list(&self) -> Option<List<'a>> {
        match self.kind() {
            Kind::List(l) => Some(l),
            _ => None,
        }
    }

    /// The dictionary, if this is one.
    pub fn as_dict(&self) -> Option<Dict<'a>> {
        match self.kind() {
            Kind::Dict(d) => Some(d),
            _ => None,
        }
    }

    /// The value's exact encoding as it appears in the input.
    pub fn raw(&self) -> &'a [u8] {
        let node = self.node();
        &self.doc.input[node.start as usize..node.end as usize]
    }

    /// The byte range of the value's encoding in the input.
    pub fn span(&self) -> Range<usize> {
        let node = self.node();
        node.start as usize..node.end as usize
    }

    /// Whether the value's encoding is canonical — what [`Mode::Strict`](super::Mode::Strict)
    /// accepts: sorted unique keys, no leading zeros, no `-0`. On failure, the error strict
    /// decoding of [`Value::raw`] would give (its offset counts from the value's first byte).
    ///
    /// Walks the tape already decoded instead of decoding again: a lenient decode followed by
    /// this check costs one pass over the bytes, not two.
    pub fn check_canonical(&self) -> Result<(), DecodeError> {
        let base = self.node().start as usize;
        let fail = |kind, at: &Self| DecodeError {
            kind,
            offset: at.node().start as usize - base,
        };
        self.first_non_canonical()
            .map_or(Ok(()), |(kind, at)| Err(fail(kind, &at)))
    }

    /// The first non-canonical node in document order (the one strict decoding stops at).
    fn first_non_canonical(&self) -> Option<(DecodeErrorKind, Self)> {
        match self.kind() {
            Kind::Int(_) => {
                // `i[-]<digits>e`
                let raw = self.raw();
                let negative = raw.get(1) == Some(&b'-');
                let digits = &raw[1 + usize::from(negative)..raw.len() - 1];
                if digits.len() > 1 && digits[0] == b'0' {
                    Some((DecodeErrorKind::LeadingZero, *self))
                } else if negative && digits == b"0" {
                    Some((DecodeErrorKind::NegativeZero, *self))
                } else {
                    None
                }
            }
            // `<len>:<bytes>`: the length has a leading zero unless it is the single digit 0.
            Kind::Bytes(_) => {
                let raw = self.raw();
                (raw[0] == b'0' && raw.get(1) != Some(&b':'))
                    .then_some((DecodeErrorKind::LeadingZero, *self))
            }
            Kind::List(l) => l.iter().find_map(|v| v.first_non_canonical()),
            Kind::Dict(_) => {
                let mut previous: Option<&[u8]> = None;
                let mut children = self.children();
                while let (Some(key), Some(value)) = (children.next(), children.next()) {
                    if let Some(found) = key.first_non_canonical() {
                        return Some(found);
                    }
                    let bytes = key.as_bytes().unwrap_or_default();
                    match previous.map(|p| p.cmp(bytes)) {
                        Some(std::cmp::Ordering::Equal) => {
                            return Some((DecodeErrorKind::DuplicateKey, key));
                        }
                        Some(std::cmp::Ordering::Greater) => {
                            return Some((DecodeErrorKind::UnsortedKeys, key));
                        }
                        _ => {}
                    }
                    previous = Some(bytes);
                    if let Some(found) = value.first_non_canonical() {
                        return Some(found);
                    }
                }
                None
            }
        }
    }

    /// Copies the value into an [`OwnedValue`](crate::bencode::OwnedValue). Repeated keys keep the
    /// first occurrence, as lookups do.
    pub fn to_owned_value(&self) -> crate::bencode::OwnedValue {
        use crate::bencode::OwnedValue;
        match self.kind() {
            Kind::Int(i) => OwnedValue::Int(i),
            Kind::Bytes(b) => OwnedValue::Bytes(b.to_vec()),
            Kind::List(l) => OwnedValue::List(l.iter().map(|v| v.to_owned_value()).collect()),
            Kind::Dict(d) => {
                let mut map = std::collections::BTreeMap::new();
                for (k, v) in d.iter() {
                    map.entry(k.to_vec()).or_insert_with(|| v.to_owned_value());
                }
                OwnedValue::Dict(map)
            }
        }
    }

    fn children(&self) -> Children<'a> {
        let node = self.node();
        Children {
            doc: self.doc,
            idx: self.idx + 1,
            end: node.next,
            remaining: node.data as u32,
        }
    }
}

impl fmt::Debug for Value<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.kind() {
            Kind::Int(i) => write!(f, "{i}"),
            Kind::Bytes(b) => match std::str::from_utf8(b) {
                Ok(s) => write!(f, "{s:?}"),
                Err(_) => write!(f, "<{} bytes>", b.len()),
            },
            Kind::List(l) => f.debug_list().entries(l.iter()).finish(),
            Kind::Dict(d) => f
                .debug_map()
                .entries(d.iter().map(|(k, v)| (String::from_utf8_lossy(k), v)))
                .finish(),
        }
    }
}

impl<'a> List<'a> {
    /// Number of items.
    pub fn len(&self) -> usize {
        self.value.node().data as usize
    }

    /// Whether the list is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The items in order.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = Value<'a>> + 'a {
        self.value.children()
    }

    /// The item at `index` (a linear walk).
    pub fn get(&self, index: usize) -> Option<Value<'a>> {
        self.iter().nth(index)
    }

    /// The list as a value.
    pub fn as_value(&self) -> Value<'a> {
        self.value
    }
}

impl fmt::Debug for List<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.value.fmt(f)
    }
}

impl<'a> Dict<'a> {
    /// Number of entries (repeated keys counted each time).
    pub fn len(&self) -> usize {
        self.value.node().data as usize / 2
    }

    /// Whether the dictionary is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The entries in input order (sorted, in strict mode).
    pub fn iter(&self) -> impl ExactSizeIterator<Item = (&'a [u8], Value<'a>)> + 'a {
        Entries {
            children: self.value.children(),
        }
    }

    /// The value of the first entry with this key.
    pub fn get(&self, key: &[u8]) -> Option<Value<'a>> {
        self.iter().find(|(k, _)| *k == key).map(|(_, v)| v)
    }

    /// The dictionary as a value.
    pub fn as_value(&self) -> Value<'a> {
        self.value
    }
}

impl fmt::Debug for Dict<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.value.fmt(f)
    }
}

struct Children<'a> {
    doc: &'a Document<'a>,
    idx: u32,
    end: u32,
    remaining: u32,
}

impl<'a> Iterator for Children<'a> {
    type Item = Value<'a>;

    fn next(&mut self) -> Option<Value<'a>> {
        if self.idx >= self.end {
            return None;
        }
        let value = Value {
            doc: self.doc,
            idx: self.idx,
        };
        self.idx = value.node().next;
        self.remaining -= 1;
        Some(value)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.remaining as usize, Some(self.remaining as usize))
    }
}

impl ExactSizeIterator for Children<'_> {}

struct Entries<'a> {
    children: Children<'a>,
}

impl<'a> Iterator for Entries<'a> {
    type Item = (&'a [u8], Value<'a>);

    fn next(&mut self) -> Option<Self::Item> {
        let key = self.children.next()?;
        // The decoder guarantees keys are strings and every key has a value.
        let value = self.children.next()?;
        Some((key.as_bytes().unwrap_or_default(), value))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let n = self.children.remaining as usize / 2;
        (n, Some(n))
    }
}

impl ExactSizeIterator for Entries<'_> {}
