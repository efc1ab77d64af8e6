//! The fast half of the duplicate-name check: case-insensitive hashes of every file path and
//! every folder, gathered while the paths are built, so that a torrent whose names are all
//! distinct (nearly every torrent) is cleared without looking at its paths a second time.
//!
//! Soundness does not depend on the hash: equal paths (ignoring ASCII case) have equal hashes,
//! so if no file's hash equals another file's or any folder's, no two names collide. A hash
//! collision, accidental or crafted, only sends the list to the exact string comparison in
//! `FileList::resolve_duplicates`.
//!
//! Every proper prefix of a file's path counts as a folder here, the torrent's own folder
//! included: a superset of the folders the exact check uses, which again can only cost a
//! false alarm, never a missed collision.

use std::collections::HashSet;

use crate::path::last_word;

/// Hashes of the paths seen so far.
#[derive(Debug, Default)]
pub(super) struct NameHashes {
    /// Every folder, by hash.
    folders: HashSet<u64, PassThrough>,
    /// Each file's hash, in file order.
    files: Vec<u64>,
    /// The previous file's path, whose folders are in `folders` already.
    previous: Vec<u8>,
}

impl NameHashes {
    pub(super) fn with_capacity(files: usize) -> Self {
        Self {
            // Room for the folders and, in `all_distinct`, the files: no growing on the way.
            folders: HashSet::with_capacity_and_hasher(2 * files + 16, PassThrough::default()),
            files: Vec::with_capacity(files),
            previous: Vec::new(),
        }
    }

    /// Records the next file's path (`/`-separated).
    pub(super) fn add(&mut self, path: &[u8]) {
        // The folders the previous file shares with this one are in the set already: skip
        // hashing into them as long as the two paths agree byte for byte (not by hash, so a
        // crafted hash cannot hide a folder).
        let mut h = SEED;
        let mut shared = true;
        let mut start = 0;
        while let Some(end) = find_slash(path, start) {
            h = chain(h, &path[start..end]);
            shared = shared
                && self.previous.get(end) == Some(&b'/')
                && self.previous[start..end] == path[start..end];
            if !shared {
                self.folders.insert(h);
            }
            start = end + 1;
        }
        self.files.push(chain(h, &path[start..]));
        self.previous.clear();
        self.previous.extend_from_slice(path);
    }

    /// Forgets the file at `index` (its folders stay: a superset is still sound).
    pub(super) fn remove(&mut self, index: usize) {
        if index < self.files.len() {
            self.files.remove(index);
        }
    }

    /// Whether every file's hash is distinct from every other file's and from every folder's.
    /// `false` means that two names may collide.
    pub(super) fn all_distinct(self) -> bool {
        let mut taken = self.folders;
        taken.reserve(self.files.len());
        self.files.into_iter().all(|h| taken.insert(h))
    }
}

const SEED: u64 = 0x243f_6a88_85a3_08d3;

/// The hash of a path extended by one more element.
fn chain(h: u64, element: &[u8]) -> u64 {
    (h.rotate_left(23) ^ lowercase_hash(element)).wrapping_mul(0xff51_afd7_ed55_8ccd)
}

/// A hash of the ASCII-lower-cased bytes (case-insensitive, as libtorrent compares names),
/// eight bytes a step.
pub(super) fn lowercase_hash(bytes: &[u8]) -> u64 {
    const K: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut h = bytes.len() as u64;
    let mut chunks = bytes.chunks_exact(8);
    for chunk in &mut chunks {
        let word = u64::from_le_bytes(chunk.try_into().expect("chunks_exact(8)"));
        h = (h.rotate_left(5) ^ ascii_lowercase_word(word)).wrapping_mul(K);
    }
    let tail = if chunks.remainder().is_empty() {
        0
    } else {
        last_word(bytes)
    };
    h = (h.rotate_left(5) ^ ascii_lowercase_word(tail)).wrapping_mul(K);
    h ^ (h >> 29)
}

/// The index of the first `/` at or after `from`, eight bytes a step.
fn find_slash(bytes: &[u8], from: usize) -> Option<usize> {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let mut at = from;
    while let Some(chunk) = bytes.get(at..at + 8) {
        let w = u64::from_le_bytes(chunk.try_into().expect("8 bytes")) ^ (ONES * u64::from(b'/'));
        // The lowest byte of `w` that is zero (the classic has-zero-byte test; bits above the
        // first zero byte may be wrong, the lowest one never is).
        let zero = w.wrapping_sub(ONES) & !w & HIGH;
        if zero != 0 {
            return Some(at + zero.trailing_zeros() as usize / 8);
        }
        at += 8;
    }
    bytes[at..].iter().position(|&b| b == b'/').map(|i| at + i)
}

/// `to_ascii_lowercase` on eight bytes at once: adds 0x20 to each byte in `A..=Z`.
fn ascii_lowercase_word(w: u64) -> u64 {
    const LOW7: u64 = 0x7f7f_7f7f_7f7f_7f7f;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let low = w & LOW7;
    // High bit of each byte: (byte & 0x7f) >= 'A', and (byte & 0x7f) > 'Z'.
    let at_least_a = low + 0x3f3f_3f3f_3f3f_3f3f;
    let above_z = low + 0x2525_2525_2525_2525;
    let upper = at_least_a & !above_z & !w & HIGH;
    w | (upper >> 2)
}

/// A hasher for keys that are already hashes.
#[derive(Clone, Copy, Debug, Default)]
struct PassThrough(u64);

impl std::hash::Hasher for PassThrough {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(b);
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

impl std::hash::BuildHasher for PassThrough {
    type Hasher = Self;
    fn build_hasher(&self) -> Self {
        Self(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::strategy::Strategy as _;

    fn distinct(paths: &[&str]) -> bool {
        let mut names = NameHashes::default();
        for p in paths {
            names.add(p.as_bytes());
        }
        names.all_distinct()
    }

    #[test]
    fn distinct_names_pass_and_collisions_are_flagged() {
        assert!(distinct(&["t/a/x", "t/a/y", "t/b/x", "t/A.txt"]));
        // Same file twice, in any case.
        assert!(!distinct(&["t/a/x", "t/b/y", "t/A/X"]));
        // A file named like a folder, before or after the folder's files.
        assert!(!distinct(&["t/a/b", "t/a/b/c"]));
        assert!(!distinct(&["t/a/b/c", "t/d", "t/A/B"]));
        // The torrent's own folder is a folder.
        assert!(!distinct(&["t/a", "t"]));
    }

    #[test]
    fn folders_shared_with_the_previous_file_are_still_known() {
        // "t/a" is inserted for the first file only; the third file must still hit it.
        assert!(!distinct(&["t/a/x", "t/a/y", "t/a"]));
        // Same bytes up to a different separator position: "t/ab" is not "t/a".
        assert!(!distinct(&["t/ab/x", "t/a/y", "t/a"]));
    }

    /// The exact answer: some file equals (ignoring ASCII case) another file or a folder.
    fn collide(paths: &[String]) -> bool {
        let lower: Vec<String> = paths.iter().map(|p| p.to_ascii_lowercase()).collect();
        let mut folders = HashSet::new();
        for p in &lower {
            for (i, _) in p.match_indices('/') {
                folders.insert(&p[..i]);
            }
        }
        let mut files = HashSet::new();
        lower
            .iter()
            .any(|p| folders.contains(p.as_str()) || !files.insert(p.as_str()))
    }

    proptest::proptest! {
        /// On names from a tiny alphabet (so that collisions are common), the hashed check
        /// flags exactly the lists that collide.
        #[test]
        fn hashed_check_agrees_with_exact_comparison(
            paths in proptest::collection::vec(
                proptest::collection::vec(proptest::sample::select(vec!["a", "A", "b", "ab"]), 1..4)
                    .prop_map(|parts| format!("t/{}", parts.join("/"))),
                1..8,
            )
        ) {
            proptest::prop_assert_eq!(distinct(&paths.iter().map(String::as_str).collect::<Vec<_>>()), !collide(&paths));
        }
    }

    #[test]
    fn slashes_are_found_where_a_byte_search_finds_them() {
        let path = b"ab/cdefghijk/l/mnopqrstuvwxyz0123/4//\xff/";
        for from in 0..=path.len() {
            let expected = path[from..]
                .iter()
                .position(|&b| b == b'/')
                .map(|i| from + i);
            assert_eq!(find_slash(path, from), expected, "from {from}");
        }
    }

    #[test]
    fn short_tails_hash_every_byte() {
        let words = [
            "a", "b", "ab", "ba", "abc", "acb", "abcd", "abce", "abcdefg", "abcdefh",
        ];
        for (i, a) in words.iter().enumerate() {
            for b in &words[i + 1..] {
                assert_ne!(
                    lowercase_hash(a.as_bytes()),
                    lowercase_hash(b.as_bytes()),
                    "{a} {b}"
                );
            }
        }
        assert_eq!(lowercase_hash(b"ABCDEFGHIJ"), lowercase_hash(b"abcdefghij"));
    }

    #[test]
    fn word_lowercasing_matches_byte_lowercasing() {
        for b in 0..=255u8 {
            let w = u64::from_le_bytes([b, b'Z', b'@', b'[', 0xc1, b'a', b'A', b]);
            let expected: Vec<u8> = w.to_le_bytes().iter().map(u8::to_ascii_lowercase).collect();
            assert_eq!(
                ascii_lowercase_word(w).to_le_bytes().to_vec(),
                expected,
                "byte {b}"
            );
        }
        assert_eq!(
            lowercase_hash(b"Foo/BAR.txt"),
            lowercase_hash(b"foo/bar.TXT")
        );
        assert_ne!(lowercase_hash(b"foo/bar"), lowercase_hash(b"foo/bar\0"));
    }
}
