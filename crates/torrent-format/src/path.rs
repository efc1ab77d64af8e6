//! Turning path elements from a torrent into safe on-disk path components.
//!
//! A torrent names its files with lists of byte strings. Nothing stops a hostile torrent from
//! using `..`, `/`, `\`, absolute paths, control characters, invalid UTF-8 or names longer than
//! any filesystem allows. We sanitize each element the way libtorrent 2.0 does on POSIX
//! (`sanitize_append_path_element`), so that the same torrent lands in the same place with us
//! as with libtorrent, and so that **no element can name a parent or a root**:
//!
//! - `/`, `\` and NUL are removed, as are the bidirectional-override characters U+200E, U+200F and
//!   U+202A–U+202E (they make `exe.avi` display as `ivа.exe`);
//! - invalid UTF-8 and control characters (below U+0020) become `_`;
//! - an element that is `.`, `..`, or becomes empty or only one or two dots after filtering is
//!   dropped; an element that is empty in the torrent becomes `_`;
//! - an element longer than 240 bytes is cut at 240 bytes, keeping an extension of up to nine
//!   bytes (`0123…xyz.mkv`).
//!
//! Invariant of every component this module produces: non-empty, not `.` or `..`, no `/`,
//! `\` or NUL byte, valid UTF-8. Joining such components under a directory can only name
//! something inside it.

/// Longest element, in bytes, before the name is cut (libtorrent's limit; filesystems allow 255).
const MAX_ELEMENT_LEN: usize = 240;

/// Sanitizes one path element and, unless it is dropped, appends it to the path that starts at
/// byte `path_start` of `buf`, after a `/` unless that path is still empty. Returns whether
/// anything was appended. (Many paths share one buffer: see `metainfo::files`.)
///
/// Invariant: everything appended is valid UTF-8, so a buffer built only by this function is
/// valid UTF-8 and can be turned into a `String` with one check at the end.
pub(crate) fn append_element(buf: &mut Vec<u8>, path_start: usize, element: &[u8]) -> bool {
    // libtorrent: a lone "." is skipped without a trace.
    if element == b"." {
        return false;
    }
    let path = buf;
    let before = path.len();
    if before > path_start {
        path.push(b'/');
    }
    if element.is_empty() {
        path.push(b'_');
        return true;
    }
    // Fast path, taken by nearly every real name: valid UTF-8 shorter than the cut, with no
    // control character, separator or bidi override, and not only one or two dots. Such an
    // element is kept as it is, exactly as the character loop below would keep it.
    if element.len() < MAX_ELEMENT_LEN
        && (element.is_ascii() || std::str::from_utf8(element).is_ok())
    {
        let suspect = has_suspect_byte(element);
        let unsafe_byte = suspect && element.iter().any(|&b| b < 0x20 || b == b'/' || b == b'\\');
        let bidi = suspect && has_bidi_override(element);
        // One or two dots alone are dropped (below); three or more are an ordinary name.
        let dots_only = element.len() <= 2 && element.iter().all(|&b| b == b'.');
        if !unsafe_byte && !bidi && !dots_only {
            path.extend_from_slice(element);
            return true;
        }
    }
    append_characters(path, path_start, before, element)
}

/// Whether any byte is a control character, `/`, `\` or 0xE2 (the lead byte of the bidi
/// overrides): a quick screen, eight bytes a step, before looking closer.
fn has_suspect_byte(element: &[u8]) -> bool {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    // Whether a byte of `w` is zero (exact as a yes/no).
    let has_zero = |w: u64| w.wrapping_sub(ONES) & !w & HIGH != 0;
    let suspect = |w: u64| {
        // A byte below 0x20: subtracting 0x20 borrows into its high bit.
        (w.wrapping_sub(ONES * 0x20) & !w & HIGH != 0)
            || has_zero(w ^ (ONES * u64::from(b'/')))
            || has_zero(w ^ (ONES * u64::from(b'\\')))
            || has_zero(w ^ (ONES * 0xe2))
    };
    let mut chunks = element.chunks_exact(8);
    let found = chunks.any(|c| suspect(u64::from_le_bytes(c.try_into().expect("8 bytes"))));
    found || (!chunks.remainder().is_empty() && suspect(last_word(element)))
}

/// The last (up to) eight bytes of a non-empty slice as one word, read without a copy through
/// memory. Every lane holds one of those bytes (some may repeat), so a per-lane test sees
/// exactly them, and together with the length the word tells them apart.
pub(crate) fn last_word(bytes: &[u8]) -> u64 {
    let len = bytes.len();
    let word = |at: usize| u64::from_le_bytes(bytes[at..at + 8].try_into().expect("8 bytes"));
    let half = |at: usize| u32::from_le_bytes(bytes[at..at + 4].try_into().expect("4 bytes"));
    match len {
        8.. => word(len - 8),
        4..=7 => u64::from(half(0)) | u64::from(half(len - 4)) << 32,
        _ => {
            let (a, b, c) = (bytes[0], bytes[len / 2], bytes[len - 1]);
            u64::from_le_bytes([a, b, c, a, a, a, a, a])
        }
    }
}

/// The general case of [`append_element`], character by character; `before` is where the
/// element's separator (if any) starts, so that dropping the element removes it too.
fn append_characters(path: &mut Vec<u8>, path_start: usize, before: usize, element: &[u8]) -> bool {
    path.reserve(element.len());

    let mut added = 0usize;
    let mut dots = 0usize;
    let mut found_extension = false;
    let mut i = 0usize;
    while i < element.len() {
        let (code_point, len) = decode_utf8(&element[i..]);
        match code_point {
            Some(c) if is_filtered(c) => {}
            Some(c) if c >= 0x20 => {
                // Valid UTF-8: copy the original bytes. The slice is one whole code point.
                // `decode_utf8` returned a code point: these bytes are one valid sequence.
                path.extend_from_slice(&element[i..i + len]);
                if c == u32::from(b'.') {
                    dots += 1;
                }
                added += len;
            }
            _ => {
                // Invalid UTF-8 or a control character.
                path.push(b'_');
                added += 1;
            }
        }
        let current = i;
        i += len;
        if added >= MAX_ELEMENT_LEN && !found_extension {
            // Keep a short extension: look for a dot among the last nine bytes.
            let lower = element.len().saturating_sub(10).max(current);
            match (lower + 1..element.len())
                .rev()
                .find(|&j| element[j] == b'.')
            {
                Some(dot) => {
                    found_extension = true;
                    i = dot;
                }
                None => break,
            }
        }
    }

    if added == dots && added <= 2 {
        // Nothing left, ".", or "..": drop the element and its separator.
        path.truncate(before);
        return false;
    }
    if path.len() == path_start {
        path.push(b'_');
    }
    true
}

/// Whether UTF-8 text holds U+200E, U+200F or U+202A–U+202E (all encoded `E2 80 xx`).
fn has_bidi_override(bytes: &[u8]) -> bool {
    bytes
        .windows(3)
        .any(|w| w[0] == 0xe2 && w[1] == 0x80 && matches!(w[2], 0x8e | 0x8f | 0xaa..=0xae))
}

/// Whether a code point is removed outright.
fn is_filtered(c: u32) -> bool {
    matches!(c, 0 | 0x2f | 0x5c | 0x200e | 0x200f | 0x202a..=0x202e)
}

/// Decodes one UTF-8 code point at the start of `bytes`: `(Some(c), len)` or `(None, len)` for
/// an invalid sequence, where `len` (≥ 1) is how many bytes to skip.
fn decode_utf8(bytes: &[u8]) -> (Option<u32>, usize) {
    let first = bytes[0];
    let len = match first {
        0x00..=0x7f => return (Some(u32::from(first)), 1),
        0xc2..=0xdf => 2,
        0xe0..=0xef => 3,
        0xf0..=0xf4 => 4,
        _ => return (None, 1),
    };
    match bytes.get(..len).map(std::str::from_utf8) {
        Some(Ok(s)) => (s.chars().next().map(u32::from), len),
        _ => {
            // Skip the lead byte and any continuation bytes that follow it, as one bad sequence.
            let skip = 1 + bytes[1..]
                .iter()
                .take(len - 1)
                .take_while(|&&b| b & 0xc0 == 0x80)
                .count();
            (None, skip)
        }
    }
}

/// Replaces invalid UTF-8 with `_`, as libtorrent's `verify_encoding` does for comments.
pub(crate) fn lossy_utf8(bytes: &[u8]) -> String {
    match std::str::from_utf8(bytes) {
        Ok(s) => s.to_owned(),
        Err(_) => {
            let mut out = String::with_capacity(bytes.len());
            let mut i = 0;
            while i < bytes.len() {
                let (c, len) = decode_utf8(&bytes[i..]);
                match c.and_then(char::from_u32) {
                    Some(c) => out.push(c),
                    None => out.push('_'),
                }
                i += len;
            }
            out
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sanitize(elements: &[&[u8]]) -> String {
        let mut path = Vec::new();
        for e in elements {
            append_element(&mut path, 0, e);
        }
        String::from_utf8(path).expect("append_element appends UTF-8 only")
    }

    #[test]
    fn parent_and_current_directory_elements_are_dropped() {
        assert_eq!(sanitize(&[b"temp", b"..", b"bar"]), "temp/bar");
        assert_eq!(sanitize(&[b"temp", b".", b"bar"]), "temp/bar");
        assert_eq!(sanitize(&[b"..", b".."]), "");
    }

    #[test]
    fn separators_inside_elements_are_removed() {
        // libtorrent's slash_path2.torrent and hidden_parent_path.torrent.
        assert_eq!(
            sanitize(&[b"temp", b"abc/../../def", b"/", b"bar"]),
            "temp/abc....def/bar"
        );
        assert_eq!(
            sanitize(&[b"temp", b"foo/../../../bar", b"bar"]),
            "temp/foo......bar/bar"
        );
        assert_eq!(sanitize(&[b"\\est2"]), "est2");
    }

    #[test]
    fn empty_elements_and_bad_bytes_become_underscores() {
        assert_eq!(sanitize(&[b"temp", b"", b""]), "temp/_/_");
        assert_eq!(sanitize(&[b"\x82est/MB"]), "_estMB");
        assert_eq!(sanitize(&[b"a\x01b"]), "a_b");
        assert_eq!(sanitize(&[b"a\x00b"]), "ab");
        assert_eq!(sanitize(&[b"\x00\x00"]), "");
    }

    use proptest::strategy::Strategy as _;

    /// The element as the character loop alone would append it.
    fn slow(element: &[u8]) -> (Vec<u8>, bool) {
        let mut path = b"root".to_vec();
        let before = path.len();
        path.push(b'/');
        let kept = if element.is_empty() {
            path.push(b'_');
            true
        } else {
            append_characters(&mut path, 0, before, element)
        };
        (path, kept)
    }

    proptest::proptest! {
        /// The whole-element fast path keeps exactly what the character loop keeps.
        #[test]
        fn fast_path_agrees_with_the_character_loop(
            element in proptest::prop_oneof![
                proptest::collection::vec(proptest::prelude::any::<u8>(), 0..300),
                ".{0,250}".prop_map(String::into_bytes),
                proptest::collection::vec(
                    proptest::sample::select(vec![".", "/", "\\", "\u{202e}", "\u{200e}", "é", "😀", "a"]),
                    0..8,
                )
                .prop_map(|parts| parts.concat().into_bytes()),
            ]
        ) {
            if element != b"." {
                let mut fast = b"root".to_vec();
                let kept = append_element(&mut fast, 0, &element);
                proptest::prop_assert!(std::str::from_utf8(&fast).is_ok());
                proptest::prop_assert_eq!((fast, kept), slow(&element));
            }
        }
    }

    #[test]
    fn the_screen_flags_exactly_the_bytes_that_need_a_closer_look() {
        for len in 1..=17 {
            for at in 0..len {
                for b in 0..=255u8 {
                    let mut element = vec![b'x'; len];
                    element[at] = b;
                    let expected = b < 0x20 || b == b'/' || b == b'\\' || b == 0xe2;
                    assert_eq!(
                        has_suspect_byte(&element),
                        expected,
                        "{b:#x} at {at} of {len}"
                    );
                }
            }
        }
    }

    #[test]
    fn direction_overrides_are_removed() {
        assert_eq!(sanitize(&["exe\u{202e}iva.exe".as_bytes()]), "exeiva.exe");
    }

    #[test]
    fn overlong_elements_keep_their_extension() {
        let long = format!("{}.mkv", "a".repeat(300));
        let out = sanitize(&[long.as_bytes()]);
        assert_eq!(out.len(), 240 + 4);
        assert!(out.ends_with("a.mkv"));
        let no_ext = "b".repeat(300);
        assert_eq!(sanitize(&[no_ext.as_bytes()]).len(), 240);
    }

    #[test]
    fn every_output_component_is_safe_for_all_short_inputs() {
        // Exhaustive over every element of up to two bytes from an alphabet of tricky bytes.
        let alphabet = [b'.', b'/', b'\\', b'a', 0u8, 0x82, 0xc3, 0xa9, b' '];
        let mut elements: Vec<Vec<u8>> = vec![vec![]];
        for &a in &alphabet {
            elements.push(vec![a]);
            for &b in &alphabet {
                elements.push(vec![a, b]);
                for &c in &alphabet {
                    elements.push(vec![a, b, c]);
                }
            }
        }
        for e in &elements {
            let mut buf = b"root".to_vec();
            append_element(&mut buf, 0, e);
            let path = String::from_utf8(buf).expect("append_element appends UTF-8 only");
            for component in path.split('/') {
                assert!(!component.is_empty(), "{e:?} -> {path:?}");
                assert!(component != "." && component != "..", "{e:?} -> {path:?}");
                assert!(
                    !component.contains('\\') && !component.contains('\0'),
                    "{e:?}"
                );
            }
        }
    }
}
