//! create → parse → verify, on random folders: what we create parses back to the same files and
//! hashes, verifies as complete, and a flipped byte is found in exactly the piece that holds it.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use proptest::prelude::*;
use torrent_format::create::{CreateOptions, Version, create_torrent};
use torrent_format::layout::{Layout, PieceIndex};
use torrent_format::metainfo::Version as MetaVersion;
use torrent_format::verify::verify;
use torrent_format::{Metainfo, bencode};

/// A fresh, empty folder under the system temp dir, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> Self {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("tf-roundtrip-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Self(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Deterministic file contents from a seed (no two files alike).
fn contents(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

fn write_tree(root: &Path, files: &[(Vec<String>, usize)]) -> Vec<(String, usize)> {
    let mut written = Vec::new();
    for (i, (components, len)) in files.iter().enumerate() {
        let mut path = root.to_path_buf();
        path.extend(components);
        // Skip names that collide with a folder made for another file (a/b vs a/b/c).
        if path.exists() || path.ancestors().skip(1).any(|a| a.is_file()) {
            continue;
        }
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, contents(i as u64, *len)).unwrap();
        written.push((components.join("/"), *len));
    }
    written.sort();
    written
}

fn version() -> impl Strategy<Value = Version> {
    prop_oneof![Just(Version::V1), Just(Version::V2), Just(Version::Hybrid)]
}

fn tree() -> impl Strategy<Value = Vec<(Vec<String>, usize)>> {
    let component = "[a-e]{1,3}";
    let path = prop::collection::vec(component, 1..4);
    // Sizes around block and piece boundaries matter most.
    let size = prop_oneof![
        Just(0usize),
        1usize..100,
        Just(16 * 1024usize),
        16 * 1024 - 1usize..16 * 1024 + 2,
        1usize..200_000,
    ];
    prop::collection::vec((path, size), 1..6)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn created_torrents_parse_and_verify(files in tree(), version in version(), shift in 0u32..3, flip in any::<u64>()) {
        let dir = TempDir::new();
        let content = dir.0.join("content");
        std::fs::create_dir_all(&content).unwrap();
        let written = write_tree(&content, &files);
        let total: usize = written.iter().map(|(_, l)| l).sum();
        prop_assume!(total > 0);

        let options = CreateOptions {
            version,
            piece_length: Some((16 * 1024) << shift),
            trackers: vec![vec!["http://127.0.0.1:6969/announce".into()]],
            ..CreateOptions::default()
        };
        let created = create_torrent(&content, &options, &|_| {}).unwrap();
        // Our encoder writes canonical bencode.
        prop_assert!(bencode::decode(&created.bytes, &bencode::DecodeOptions::strict()).is_ok());

        let meta = Metainfo::from_bytes(&created.bytes).unwrap();
        prop_assert_eq!(meta.info_hashes(), created.info_hashes);
        prop_assert_eq!(meta.version(), match version {
            Version::V1 => MetaVersion::V1,
            Version::V2 => MetaVersion::V2,
            Version::Hybrid => MetaVersion::Hybrid,
        });
        prop_assert_eq!(meta.trackers(), &[vec!["http://127.0.0.1:6969/announce".to_owned()]][..]);
        // BEP 52 cannot say "a folder holding one file": a v2 torrent of such a folder is that
        // file's single-file torrent, whose data is the file itself.
        let single = meta.name() != "content";
        let data_path = if single { content.join(meta.name()) } else { content.clone() };
        let relative = |path: &str| path.strip_prefix("content/").unwrap_or(path).to_owned();
        let mut parsed: Vec<(String, usize)> = meta
            .files()
            .filter(|f| !f.attributes.pad)
            .map(|f| (relative(f.path), f.size as usize))
            .collect();
        parsed.sort();
        prop_assert_eq!(&parsed, &written);

        let report = verify(&meta, &data_path, &|_| {}).unwrap();
        prop_assert!(report.is_complete(), "fresh data must verify: {:?}", report);

        // Flip one byte of one non-empty file: exactly the piece holding it goes bad.
        let (victim_index, victim) = meta
            .files()
            .enumerate()
            .filter(|(_, f)| !f.attributes.pad && f.size > 0)
            .nth((flip % 7) as usize % written.iter().filter(|(_, l)| *l > 0).count())
            .unwrap();
        let at = flip % victim.size;
        let disk = content.join(relative(victim.path));
        let mut data = std::fs::read(&disk).unwrap();
        data[at as usize] ^= 0x40;
        std::fs::write(&disk, data).unwrap();
        let report = verify(&meta, &data_path, &|_| {}).unwrap();
        let layout = Layout::new(&meta);
        let bad_piece = ((victim.offset + at) / meta.piece_length()) as usize;
        if meta.version() == MetaVersion::V2
            && (meta.piece_layer(victim_index).is_none() || victim.size <= meta.piece_length())
        {
            // Without a piece layer a v2 file is checked as a whole: all its pieces go bad.
            let pieces = layout.file_pieces(victim_index);
            for p in 0..meta.num_pieces() {
                prop_assert_eq!(report.pieces[p as usize], !pieces.contains(&p));
            }
        } else {
            for p in 0..meta.num_pieces() {
                prop_assert_eq!(report.pieces[p as usize], p as usize != bad_piece, "piece {}", p);
            }
        }
        prop_assert!(layout.piece_size(PieceIndex(bad_piece as u32)) > 0);
    }
}

#[test]
fn verify_reports_missing_and_short_files() {
    let dir = TempDir::new();
    let content = dir.0.join("c");
    std::fs::create_dir_all(&content).unwrap();
    std::fs::write(content.join("a"), contents(1, 40_000)).unwrap();
    std::fs::write(content.join("b"), contents(2, 40_000)).unwrap();
    let options = CreateOptions {
        version: Version::V1,
        piece_length: Some(16384),
        ..Default::default()
    };
    let meta =
        Metainfo::from_bytes(&create_torrent(&content, &options, &|_| {}).unwrap().bytes).unwrap();

    std::fs::remove_file(content.join("b")).unwrap();
    std::fs::write(content.join("a"), contents(1, 30_000)).unwrap();
    let report = verify(&meta, &content, &|_| {}).unwrap();
    assert_eq!(report.missing_files, [1]);
    assert_eq!(report.wrong_size_files, [0]);
    // 80,000 bytes in 16 KiB pieces: 0 and 1 lie wholly in the first 30,000 bytes of a... only
    // piece 0 (0..16384) does; piece 1 (16384..32768) runs past the truncated end.
    assert_eq!(report.pieces, [true, false, false, false, false]);
    assert!(verify(&meta, &dir.0.join("nowhere"), &|_| {}).is_err());
}
