//! Percent-encoding of raw bytes in URL query strings (RFC 3986), as BEP 3 wants `info_hash` and
//! `peer_id`: every byte outside the unreserved set becomes `%XX`.

use std::fmt::Write as _;

/// Appends `bytes` to `out`, percent-encoded: RFC 3986's unreserved characters (`A-Z a-z 0-9 - .
/// _ ~`) as they are, every other byte as `%XX` with uppercase hex.
pub(crate) fn encode_into(bytes: &[u8], out: &mut String) {
    for &b in bytes {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            // Writing to a String cannot fail.
            let _ = write!(out, "%{b:02X}");
        }
    }
}

/// Why a query component is not valid percent-encoding.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct BadEscape {
    /// Offset of the `%` in the component.
    pub(crate) offset: usize,
}

/// Decodes `%XX` escapes (either case of hex). Every other byte stands for itself, `+`
/// included: BitTorrent clients escape a `+` byte of an info-hash, and reading `+` as a space
/// (form encoding) would corrupt hashes from the few that do not. Writes at most
/// `input.len()` bytes; fails on a `%` not followed by two hex digits.
pub(crate) fn decode_into(input: &[u8], out: &mut Vec<u8>) -> Result<(), BadEscape> {
    let mut i = 0;
    while i < input.len() {
        let b = input[i];
        if b == b'%' {
            let hi = input.get(i + 1).and_then(|&c| hex_value(c));
            let lo = input.get(i + 2).and_then(|&c| hex_value(c));
            match (hi, lo) {
                (Some(hi), Some(lo)) => out.push(hi << 4 | lo),
                _ => return Err(BadEscape { offset: i }),
            }
            i += 3;
        } else {
            out.push(b);
            i += 1;
        }
    }
    Ok(())
}

fn hex_value(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_byte_round_trips() {
        let all: Vec<u8> = (0..=255).collect();
        let mut encoded = String::new();
        encode_into(&all, &mut encoded);
        assert!(encoded.is_ascii());
        let mut decoded = Vec::new();
        decode_into(encoded.as_bytes(), &mut decoded).unwrap();
        assert_eq!(decoded, all);
    }

    #[test]
    fn unreserved_stay_and_the_rest_escape_uppercase() {
        let mut s = String::new();
        encode_into(b"aZ9-._~ /+%\x00\xff", &mut s);
        assert_eq!(s, "aZ9-._~%20%2F%2B%25%00%FF");
    }

    #[test]
    fn decoding_accepts_lowercase_and_keeps_plus() {
        let mut out = Vec::new();
        decode_into(b"%ab%CDx+y", &mut out).unwrap();
        assert_eq!(out, b"\xab\xcdx+y");
    }

    #[test]
    fn broken_escapes_are_errors_with_their_offset() {
        for (input, offset) in [(&b"ab%"[..], 2), (b"%4", 0), (b"x%zz", 1), (b"%%41", 0)] {
            assert_eq!(
                decode_into(input, &mut Vec::new()),
                Err(BadEscape { offset }),
                "{input:?}"
            );
        }
    }
}
