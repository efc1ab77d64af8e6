//! The zero-copy decoder.
//!
//! Decoding produces a [`Document`]: the input slice plus one flat `Vec` of nodes in document
//! order (a "tape"), each knowing its byte span and where its subtree ends. Values are cheap
//! `Copy` handles into it, so a torrent with ten thousand files costs one allocation, and every
//! value can hand back the exact bytes it was decoded from ([`Value::raw`]) — which is what the
//! info-hash is computed over.
//!
//! Invariants of the tape (checked by the decoder, relied on by the accessors):
//! - node 0 is the root; a node's children follow it directly, in input order;
//! - `next` of a node is the index just past its subtree, so siblings are reached by jumping;
//! - a dict's children alternate key (always a byte string) and value;
//! - `start..end` of a node lies inside the input and is the node's whole encoding.

use std::fmt;
use std::ops::Range;

use nom::IResult;
use nom::Parser;
use nom::bytes::complete::tag;
use nom::character::complete::{char, digit1};
use nom::combinator::opt;
use nom::sequence::{delimited, pair, terminated};

/// How forgiving the decoder is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Mode {
    /// Canonical bencode only (BEP 3): dictionary keys sorted and unique, no leading zeros in
    /// integers or string lengths, no `-0`, nothing after the top-level value.
    Strict,
    /// What real torrents need, as libtorrent's `bdecode` accepts it: keys in any order and
    /// repeated (lookups see the first), leading zeros, `-0`, and trailing bytes after the
    /// top-level value (ignored).
    #[default]
    Lenient,
}

/// Limits that bound the work and memory an input can cause. The defaults are libtorrent's
/// (`load_torrent_limits`): depth 100, three million items.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Deepest nesting of lists and dictionaries.
    pub max_depth: usize,
    /// Most values (integers, strings, lists, dictionaries, keys included) in one document.
    pub max_items: usize,
    /// Longest byte string, in bytes.
    pub max_string_len: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_depth: 100,
            max_items: 3_000_000,
            max_string_len: 256 << 20,
        }
    }
}

/// Decoder options: a [`Mode`] and [`Limits`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DecodeOptions {
    /// Strict or lenient.
    pub mode: Mode,
    /// Resource limits.
    pub limits: Limits,
}

impl DecodeOptions {
    /// Strict mode with default limits.
    pub fn strict() -> Self {
        Self {
            mode: Mode::Strict,
            limits: Limits::default(),
        }
    }

    /// Lenient mode with default limits.
    pub fn lenient() -> Self {
        Self {
            mode: Mode::Lenient,
            limits: Limits::default(),
        }
    }
}

/// Why an input is not bencode (or not acceptable under the [`Mode`] and [`Limits`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum DecodeErrorKind {
    /// The input ended inside a value.
    UnexpectedEof,
    /// A byte that cannot start a value here (values start with `i`, `l`, `d` or a digit).
    UnexpectedByte(u8),
    /// An integer that is not `i`, an optional `-`, digits, `e`.
    InvalidInteger,
    /// An integer outside the signed 64-bit range.
    IntegerOverflow,
    /// Strict mode: an integer or string length with a leading zero.
    LeadingZero,
    /// Strict mode: `i-0e`.
    NegativeZero,
    /// A string length that is not digits followed by `:`.
    InvalidStringLength,
    /// A string length above [`Limits::max_string_len`] (or too large for any number), found
    /// before waiting for the body. A length within the limit but past the end of the input is
    /// [`UnexpectedEof`](Self::UnexpectedEof): more bytes could complete it.
    StringTooLong,
    /// A dictionary key that is not a byte string.
    NonStringKey,
    /// Strict mode: dictionary keys not in ascending byte order.
    UnsortedKeys,
    /// Strict mode: the same dictionary key twice.
    DuplicateKey,
    /// A dictionary ended after a key, before its value.
    MissingValue,
    /// Nesting deeper than [`Limits::max_depth`].
    TooDeep,
    /// More values than [`Limits::max_items`].
    TooManyItems,
    /// Strict mode: bytes after the top-level value.
    TrailingBytes,
    /// An input of 4 GiB or more.
    InputTooLarge,
}

/// A decode failure: what went wrong and at which byte offset of the input.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{kind} at byte {offset}")]
pub struct DecodeError {
    /// What went wrong.
    pub kind: DecodeErrorKind,
    /// Offset of the offending byte in the input.
    pub offset: usize,
}

impl fmt::Display for DecodeErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::UnexpectedEof => f.write_str("input ends inside a value"),
            Self::UnexpectedByte(b) => {
                write!(
                    f,
                    "unexpected byte 0x{b:02x} (a value starts with i, l, d or a digit)"
                )
            }
            Self::InvalidInteger => f.write_str("malformed integer"),
            Self::IntegerOverflow => f.write_str("integer does not fit in 64 bits"),
            Self::LeadingZero => f.write_str("number with a leading zero"),
            Self::NegativeZero => f.write_str("negative zero"),
            Self::InvalidStringLength => f.write_str("malformed string length"),
            Self::StringTooLong => f.write_str("string longer than the limit"),
            Self::NonStringKey => f.write_str("dictionary key is not a string"),
            Self::UnsortedKeys => f.write_str("dictionary keys out of order"),
            Self::DuplicateKey => f.write_str("duplicate dictionary key"),
            Self::MissingValue => f.write_str("dictionary key without a value"),
            Self::TooDeep => f.write_str("nesting deeper than the limit"),
            Self::TooManyItems => f.write_str("more values than the limit"),
            Self::TrailingBytes => f.write_str("bytes after the end of the value"),
            Self::InputTooLarge => f.write_str("input of 4 GiB or more"),
        }
    }
}

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
    input: &'a [u8],
    nodes: Vec<Node>,
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

/// Decodes exactly one value that must fill the whole input in [`Mode::Strict`]; in
/// [`Mode::Lenient`] bytes after the value are ignored.
pub fn decode<'a>(input: &'a [u8], options: &DecodeOptions) -> Result<Document<'a>, DecodeError> {
    let (doc, used) = decode_prefix(input, options)?;
    if options.mode == Mode::Strict && used != input.len() {
        return Err(DecodeError {
            kind: DecodeErrorKind::TrailingBytes,
            offset: used,
        });
    }
    Ok(doc)
}

/// Decodes one value from the start of `input` and returns it with the number of bytes it
/// took, whatever the mode. For a stream of concatenated values (ut_metadata messages carry a
/// dictionary followed by raw bytes).
pub fn decode_prefix<'a>(
    input: &'a [u8],
    options: &DecodeOptions,
) -> Result<(Document<'a>, usize), DecodeError> {
    if u32::try_from(input.len()).is_err() {
        return Err(DecodeError {
            kind: DecodeErrorKind::InputTooLarge,
            offset: 0,
        });
    }
    let mut decoder = Decoder {
        input,
        pos: 0,
        strict: options.mode == Mode::Strict,
        limits: options.limits,
        // A value takes at least two bytes except single-digit lengths of empty strings;
        // a quarter of the input is a good first guess that rarely reallocates.
        nodes: Vec::with_capacity((input.len() / 8).clamp(1, 1 << 18)),
        stack: Vec::new(),
    };
    decoder.run()?;
    let used = decoder.pos;
    Ok((
        Document {
            input,
            nodes: decoder.nodes,
        },
        used,
    ))
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

    /// Copies the value into an [`OwnedValue`](super::OwnedValue). Repeated keys keep the
    /// first occurrence, as lookups do.
    pub fn to_owned_value(&self) -> super::OwnedValue {
        use super::OwnedValue;
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

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Tag {
    Int,
    Bytes,
    List,
    Dict,
}

/// One tape entry. `data` is the integer's bits, the offset where a string's contents start,
/// or a container's child count (keys and values both count for dicts).
#[derive(Clone, Copy, Debug)]
struct Node {
    start: u32,
    end: u32,
    next: u32,
    tag: Tag,
    data: u64,
}

struct Frame {
    node: u32,
    children: u32,
    is_dict: bool,
    /// Span of the previous key, for the strict-mode order check.
    last_key: Option<(u32, u32)>,
}

struct Decoder<'a> {
    input: &'a [u8],
    pos: usize,
    strict: bool,
    limits: Limits,
    nodes: Vec<Node>,
    stack: Vec<Frame>,
}

impl Decoder<'_> {
    fn err(&self, kind: DecodeErrorKind, offset: usize) -> DecodeError {
        DecodeError { kind, offset }
    }

    /// Decodes one value at `self.pos`. The open container is kept in a local (`cur`) and only
    /// its parents on `self.stack`, so the loop touches the stack once per container, not once
    /// per value.
    fn run(&mut self) -> Result<(), DecodeError> {
        let input = self.input;
        let mut pos = self.pos;
        let Some(&first) = input.get(pos) else {
            return Err(self.err(DecodeErrorKind::UnexpectedEof, pos));
        };
        if self.limits.max_items == 0 {
            return Err(self.err(DecodeErrorKind::TooManyItems, pos));
        }
        // A top-level leaf is the whole document.
        let (tag, is_dict) = match first {
            b'l' => (Tag::List, false),
            b'd' => (Tag::Dict, true),
            _ => {
                let (tag, data, end) = self.leaf(pos, first)?;
                self.nodes.push(Node {
                    start: pos as u32,
                    end: end as u32,
                    next: 1,
                    tag,
                    data,
                });
                self.pos = end;
                return Ok(());
            }
        };
        if self.limits.max_depth == 0 {
            return Err(self.err(DecodeErrorKind::TooDeep, pos));
        }
        self.nodes.push(Node {
            start: pos as u32,
            end: 0,
            next: 0,
            tag,
            data: 0,
        });
        let mut cur = Frame {
            node: 0,
            children: 0,
            is_dict,
            last_key: None,
        };
        pos += 1;
        loop {
            let Some(&byte) = input.get(pos) else {
                return Err(self.err(DecodeErrorKind::UnexpectedEof, pos));
            };
            if byte == b'e' {
                if cur.is_dict && !cur.children.is_multiple_of(2) {
                    return Err(self.err(DecodeErrorKind::MissingValue, pos));
                }
                pos += 1;
                let next = self.nodes.len() as u32;
                let node = &mut self.nodes[cur.node as usize];
                node.end = pos as u32;
                node.next = next;
                node.data = u64::from(cur.children);
                match self.stack.pop() {
                    Some(parent) => {
                        cur = parent;
                        continue;
                    }
                    None => {
                        self.pos = pos;
                        return Ok(());
                    }
                }
            }
            if self.nodes.len() >= self.limits.max_items {
                return Err(self.err(DecodeErrorKind::TooManyItems, pos));
            }
            let expecting_key = cur.is_dict && cur.children.is_multiple_of(2);
            match byte {
                b'l' | b'd' if !expecting_key => {
                    // Open containers: the parents on the stack, `cur`, and this one.
                    if self.stack.len() + 1 >= self.limits.max_depth {
                        return Err(self.err(DecodeErrorKind::TooDeep, pos));
                    }
                    cur.children += 1;
                    let is_dict = byte == b'd';
                    let tag = if is_dict { Tag::Dict } else { Tag::List };
                    let node = self.nodes.len() as u32;
                    let parent = std::mem::replace(
                        &mut cur,
                        Frame {
                            node,
                            children: 0,
                            is_dict,
                            last_key: None,
                        },
                    );
                    self.stack.push(parent);
                    self.nodes.push(Node {
                        start: pos as u32,
                        end: 0,
                        next: 0,
                        tag,
                        data: 0,
                    });
                    pos += 1;
                }
                b'0'..=b'9' => {
                    let (content, end) = self.bytes(pos)?;
                    if expecting_key && self.strict {
                        check_key_order(input, &mut cur, pos, content, end)?;
                    }
                    cur.children += 1;
                    let next = self.nodes.len() as u32 + 1;
                    self.nodes.push(Node {
                        start: pos as u32,
                        end: end as u32,
                        next,
                        tag: Tag::Bytes,
                        data: content as u64,
                    });
                    pos = end;
                }
                _ if expecting_key => {
                    return Err(self.err(DecodeErrorKind::NonStringKey, pos));
                }
                _ => {
                    let (tag, data, end) = self.leaf(pos, byte)?;
                    cur.children += 1;
                    let next = self.nodes.len() as u32 + 1;
                    self.nodes.push(Node {
                        start: pos as u32,
                        end: end as u32,
                        next,
                        tag,
                        data,
                    });
                    pos = end;
                }
            }
        }
    }

    /// An integer or a string at `pos` (starting with `byte`): its tag, data and end.
    fn leaf(&mut self, pos: usize, byte: u8) -> Result<(Tag, u64, usize), DecodeError> {
        match byte {
            b'0'..=b'9' => {
                let (content, end) = self.bytes(pos)?;
                Ok((Tag::Bytes, content as u64, end))
            }
            b'i' => {
                if let Some((value, end)) = self.fast_integer(pos) {
                    return Ok((Tag::Int, value as u64, end));
                }
                self.pos = pos;
                let value = self.integer()?;
                Ok((Tag::Int, value as u64, self.pos))
            }
            other => Err(self.err(DecodeErrorKind::UnexpectedByte(other), pos)),
        }
    }

    /// `i[-]<digits>e` at `pos` in one pass of nom's `u64`, when it is well-formed in the
    /// current mode; `None` sends the caller to [`Self::integer`] for the precise error.
    fn fast_integer(&self, pos: usize) -> Option<(i64, usize)> {
        let mut at = pos + 1;
        let negative = self.input.get(at) == Some(&b'-');
        at += usize::from(negative);
        let rest = self.input.get(at..)?;
        let (after, magnitude) =
            nom::character::complete::u64::<_, nom::error::Error<&[u8]>>(rest).ok()?;
        let digits = rest.len() - after.len();
        if after.first() != Some(&b'e')
            || (self.strict && ((digits > 1 && rest[0] == b'0') || (negative && magnitude == 0)))
        {
            return None;
        }
        let value = if negative {
            0i64.checked_sub_unsigned(magnitude)?
        } else {
            i64::try_from(magnitude).ok()?
        };
        Some((value, at + digits + 1))
    }

    /// `<len>:<bytes>` at `pos`: where the contents start and end. The common case takes one
    /// pass of nom's `u64`; anything unusual goes to [`Self::string`] for the precise error.
    fn bytes(&mut self, pos: usize) -> Result<(usize, usize), DecodeError> {
        let rest = &self.input[pos..];
        if let Ok((after, len)) = nom::character::complete::u64::<_, nom::error::Error<&[u8]>>(rest)
        {
            let digits = rest.len() - after.len();
            let leading_zero = self.strict && digits > 1 && rest[0] == b'0';
            if after.first() == Some(&b':') && !leading_zero {
                let content = pos + digits + 1;
                if len <= self.limits.max_string_len as u64
                    && len <= (self.input.len() - content) as u64
                {
                    return Ok((content, content + len as usize));
                }
            }
        }
        self.pos = pos;
        let content = self.string()?;
        Ok((content, self.pos))
    }

    /// Parses `<len>:<bytes>` at `self.pos`; returns where the contents start.
    fn string(&mut self) -> Result<usize, DecodeError> {
        let start = self.pos;
        let rest = &self.input[start..];
        let (after, digits) = match string_length(rest) {
            Ok(ok) => ok,
            Err(nom::Err::Incomplete(_)) => unreachable!("complete parsers never ask for more"),
            Err(nom::Err::Error(e) | nom::Err::Failure(e)) => {
                let offset = start + (rest.len() - e.input.len());
                let kind = if e.input.is_empty() {
                    DecodeErrorKind::UnexpectedEof
                } else {
                    DecodeErrorKind::InvalidStringLength
                };
                return Err(self.err(kind, offset));
            }
        };
        if self.strict && digits.len() > 1 && digits[0] == b'0' {
            return Err(self.err(DecodeErrorKind::LeadingZero, start));
        }
        let content = start + (rest.len() - after.len());
        let len =
            digits_to_u64(digits).ok_or_else(|| self.err(DecodeErrorKind::StringTooLong, start))?;
        let available = (self.input.len() - content) as u64;
        if len > self.limits.max_string_len as u64 {
            return Err(self.err(DecodeErrorKind::StringTooLong, start));
        }
        if len > available {
            return Err(self.err(DecodeErrorKind::UnexpectedEof, self.input.len()));
        }
        self.pos = content + len as usize;
        Ok(content)
    }

    /// Parses `i<digits>e` at `self.pos`.
    fn integer(&mut self) -> Result<i64, DecodeError> {
        let start = self.pos;
        let rest = &self.input[start..];
        let (after, (minus, digits)) = match integer(rest) {
            Ok(ok) => ok,
            Err(nom::Err::Incomplete(_)) => unreachable!("complete parsers never ask for more"),
            Err(nom::Err::Error(e) | nom::Err::Failure(e)) => {
                let offset = start + (rest.len() - e.input.len());
                let kind = if e.input.is_empty() {
                    DecodeErrorKind::UnexpectedEof
                } else {
                    DecodeErrorKind::InvalidInteger
                };
                return Err(self.err(kind, offset));
            }
        };
        let negative = minus.is_some();
        if self.strict {
            if digits.len() > 1 && digits[0] == b'0' {
                return Err(self.err(DecodeErrorKind::LeadingZero, start));
            }
            if negative && digits == b"0" {
                return Err(self.err(DecodeErrorKind::NegativeZero, start));
            }
        }
        let magnitude = digits_to_u64(digits)
            .ok_or_else(|| self.err(DecodeErrorKind::IntegerOverflow, start))?;
        let value = if negative {
            // i64::MIN's magnitude is one more than i64::MAX.
            if magnitude > i64::MAX as u64 + 1 {
                return Err(self.err(DecodeErrorKind::IntegerOverflow, start));
            }
            (magnitude as i64).wrapping_neg()
        } else {
            i64::try_from(magnitude)
                .map_err(|_| self.err(DecodeErrorKind::IntegerOverflow, start))?
        };
        self.pos = start + (rest.len() - after.len());
        Ok(value)
    }
}

/// Strict mode: a key must sort after the previous key of its dictionary.
fn check_key_order(
    input: &[u8],
    frame: &mut Frame,
    start: usize,
    content: usize,
    end: usize,
) -> Result<(), DecodeError> {
    let key = (content as u32, end as u32);
    if let Some((s, e)) = frame.last_key.replace(key) {
        let prev = &input[s as usize..e as usize];
        let kind = match prev.cmp(&input[content..end]) {
            std::cmp::Ordering::Less => return Ok(()),
            std::cmp::Ordering::Equal => DecodeErrorKind::DuplicateKey,
            std::cmp::Ordering::Greater => DecodeErrorKind::UnsortedKeys,
        };
        return Err(DecodeError {
            kind,
            offset: start,
        });
    }
    Ok(())
}

/// `<digits>:` — returns the digits.
fn string_length(input: &[u8]) -> IResult<&[u8], &[u8]> {
    terminated(digit1, char(':')).parse(input)
}

/// `i[-]<digits>e` — returns the sign and the digits.
fn integer(input: &[u8]) -> IResult<&[u8], (Option<char>, &[u8])> {
    delimited(tag(&b"i"[..]), pair(opt(char('-')), digit1), char('e')).parse(input)
}

/// ASCII digits to a number, `None` on overflow.
fn digits_to_u64(digits: &[u8]) -> Option<u64> {
    let mut n: u64 = 0;
    for &d in digits {
        n = n.checked_mul(10)?.checked_add(u64::from(d - b'0'))?;
    }
    Some(n)
}

#[cfg(test)]
mod tests {
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
}
