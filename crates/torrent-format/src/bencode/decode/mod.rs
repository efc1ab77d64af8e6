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

use nom::IResult;
use nom::Parser;
use nom::bytes::complete::tag;
use nom::character::complete::{char, digit1};
use nom::combinator::opt;
use nom::sequence::{delimited, pair, terminated};

mod value;

pub use value::{Dict, Document, Kind, List, Type, Value};

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
        if !matches!(first, b'l' | b'd') {
            // A top-level leaf is the whole document.
            let (tag, data, end) = self.leaf(pos, first)?;
            self.push_leaf(pos, end, tag, data);
            self.pos = end;
            return Ok(());
        }
        if self.limits.max_depth == 0 {
            return Err(self.err(DecodeErrorKind::TooDeep, pos));
        }
        let mut cur = self.open(pos, first);
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
            if expecting_key && !byte.is_ascii_digit() {
                return Err(self.err(DecodeErrorKind::NonStringKey, pos));
            }
            cur.children += 1;
            if matches!(byte, b'l' | b'd') {
                // Open containers: the parents on the stack, `cur`, and this one.
                if self.stack.len() + 1 >= self.limits.max_depth {
                    return Err(self.err(DecodeErrorKind::TooDeep, pos));
                }
                let child = self.open(pos, byte);
                self.stack.push(std::mem::replace(&mut cur, child));
                pos += 1;
            } else {
                let (tag, data, end) = self.leaf(pos, byte)?;
                if expecting_key && self.strict {
                    // A key is a string: `data` is where its contents start.
                    check_key_order(input, &mut cur, pos, data as usize, end)?;
                }
                self.push_leaf(pos, end, tag, data);
                pos = end;
            }
        }
    }

    /// Pushes the node of a list or dictionary (`byte` is `l` or `d`) opened at `pos`; returns
    /// its frame. The node's end, next and child count are filled in when it closes.
    fn open(&mut self, pos: usize, byte: u8) -> Frame {
        let is_dict = byte == b'd';
        let node = self.nodes.len() as u32;
        let tag = if is_dict { Tag::Dict } else { Tag::List };
        self.nodes.push(Node {
            start: pos as u32,
            end: 0,
            next: 0,
            tag,
            data: 0,
        });
        Frame {
            node,
            children: 0,
            is_dict,
            last_key: None,
        }
    }

    /// Pushes a finished integer or string node spanning `start..end`.
    fn push_leaf(&mut self, start: usize, end: usize, tag: Tag, data: u64) {
        let next = self.nodes.len() as u32 + 1;
        self.nodes.push(Node {
            start: start as u32,
            end: end as u32,
            next,
            tag,
            data,
        });
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
        let (after, digits) = string_length(rest)
            .map_err(|e| lex_error(e, start, rest, DecodeErrorKind::InvalidStringLength))?;
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
        let (after, (minus, digits)) = integer(rest)
            .map_err(|e| lex_error(e, start, rest, DecodeErrorKind::InvalidInteger))?;
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

/// Where and why a nom lexer stopped: at the end of the input (`UnexpectedEof`) or on a byte
/// that does not fit (`malformed`). `rest` is the input from `start` on.
fn lex_error(
    err: nom::Err<nom::error::Error<&[u8]>>,
    start: usize,
    rest: &[u8],
    malformed: DecodeErrorKind,
) -> DecodeError {
    // Complete parsers never report `Incomplete`; treat it as the input running out.
    let remaining = match err {
        nom::Err::Error(e) | nom::Err::Failure(e) => e.input.len(),
        nom::Err::Incomplete(_) => 0,
    };
    let kind = if remaining == 0 {
        DecodeErrorKind::UnexpectedEof
    } else {
        malformed
    };
    DecodeError {
        kind,
        offset: start + (rest.len() - remaining),
    }
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
mod tests;
