//! Properties of the metainfo parser on hostile input: no path escapes the download folder, no
//! two files share a place on disk, and nothing panics — whatever the torrent says.

use std::collections::HashSet;
use std::path::{Component, Path};

use proptest::prelude::*;
use torrent_format::Metainfo;
use torrent_format::bencode::OwnedValue;

/// Path elements built from the bytes that make paths dangerous.
fn hostile_element() -> impl Strategy<Value = Vec<u8>> {
    let byte = prop_oneof![
        Just(b'.'),
        Just(b'/'),
        Just(b'\\'),
        Just(0u8),
        Just(b'a'),
        Just(b'A'),
        Just(b' '),
        Just(0x82u8),
        Just(0xe2u8),
        Just(0x80u8),
        Just(0xaeu8),
        any::<u8>(),
    ];
    prop_oneof![
        prop::collection::vec(byte, 0..6),
        Just(b"..".to_vec()),
        Just(b"/etc/passwd".to_vec()),
        Just(b"C:\\Windows".to_vec()),
        Just(vec![b'x'; 300]),
    ]
}

fn v1_torrent(name: Vec<u8>, files: Vec<(Vec<Vec<u8>>, i64, bool)>) -> Vec<u8> {
    let total: i64 = files.iter().map(|f| f.1).sum();
    let pieces = (total.max(1) as u64).div_ceil(16384) as usize;
    let list = files
        .into_iter()
        .map(|(path, len, pad)| {
            let mut f = OwnedValue::dict().with("length", len.into()).with(
                "path",
                OwnedValue::List(path.into_iter().map(OwnedValue::Bytes).collect()),
            );
            if pad {
                f = f.with("attr", "p".into());
            }
            f
        })
        .collect();
    let info = OwnedValue::dict()
        .with("name", OwnedValue::Bytes(name))
        .with("piece length", 16384.into())
        .with("pieces", OwnedValue::Bytes(vec![7; pieces * 20]))
        .with("files", OwnedValue::List(list));
    OwnedValue::dict().with("info", info).to_bytes()
}

fn v2_torrent(name: Vec<u8>, files: Vec<(Vec<Vec<u8>>, i64)>) -> Vec<u8> {
    let mut tree = OwnedValue::dict();
    for (path, len) in files {
        let leaf = OwnedValue::dict().with(
            "",
            OwnedValue::dict()
                .with("length", len.into())
                .with("pieces root", OwnedValue::Bytes(vec![1; 32])),
        );
        insert(&mut tree, &path, leaf);
    }
    let info = OwnedValue::dict()
        .with("name", OwnedValue::Bytes(name))
        .with("piece length", 16384.into())
        .with("meta version", 2.into())
        .with("file tree", tree);
    OwnedValue::dict().with("info", info).to_bytes()
}

fn insert(tree: &mut OwnedValue, path: &[Vec<u8>], leaf: OwnedValue) {
    let OwnedValue::Dict(map) = tree else { return };
    match path {
        [] => {}
        [last] => {
            map.entry(last.clone()).or_insert(leaf);
        }
        [first, rest @ ..] => {
            let child = map.entry(first.clone()).or_insert_with(OwnedValue::dict);
            insert(child, rest, leaf);
        }
    }
}

/// What every accepted torrent must satisfy.
fn check_layout(meta: &Metainfo) -> Result<(), TestCaseError> {
    let dir = Path::new("/downloads");
    let mut seen = HashSet::new();
    let mut offset = 0;
    for f in meta.files() {
        let p = f.path_in(dir);
        prop_assert!(p.starts_with(dir), "{:?} escapes", f.path);
        for c in Path::new(&f.path).components() {
            prop_assert!(
                matches!(c, Component::Normal(_)),
                "{:?} has {:?}",
                f.path,
                c
            );
        }
        prop_assert!(!f.path.contains('\\') && !f.path.contains('\0'));
        if !f.attributes.pad {
            prop_assert!(
                seen.insert(f.path.to_ascii_lowercase()),
                "two files at {:?}",
                f.path
            );
        }
        prop_assert_eq!(f.offset, offset);
        offset += f.size;
    }
    prop_assert_eq!(offset, meta.total_size());
    // No file where another file's folder is: "t/a" and "t/A/b" cannot both be written.
    for f in meta.files().filter(|f| !f.attributes.pad) {
        let lower = f.path.to_ascii_lowercase();
        for (i, _) in lower.match_indices('/') {
            prop_assert!(
                !seen.contains(&lower[..i]),
                "{:?} is a folder and a file",
                &lower[..i]
            );
        }
    }
    prop_assert_eq!(
        u64::from(meta.num_pieces()),
        meta.total_size().div_ceil(meta.piece_length())
    );
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn v1_paths_stay_inside_the_download_folder(
        name in hostile_element(),
        files in prop::collection::vec(
            (prop::collection::vec(hostile_element(), 0..4), 0i64..40_000, prop::bool::weighted(0.1)),
            1..6,
        ),
    ) {
        if let Ok(meta) = Metainfo::from_bytes(&v1_torrent(name, files)) {
            check_layout(&meta)?;
        }
    }

    #[test]
    fn v2_paths_stay_inside_the_download_folder(
        name in hostile_element(),
        files in prop::collection::vec((prop::collection::vec(hostile_element(), 1..4), 0i64..40_000), 1..6),
    ) {
        if let Ok(meta) = Metainfo::from_bytes(&v2_torrent(name, files)) {
            check_layout(&meta)?;
            // BEP 52: every file starts on a piece boundary.
            for f in meta.files().filter(|f| !f.attributes.pad) {
                prop_assert_eq!(f.offset % meta.piece_length(), 0, "{:?}", f.path);
            }
        }
    }
}

/// Mutations of libtorrent's own test torrents: flips, truncations and insertions never make
/// the parser panic, and whatever it accepts satisfies the layout invariants.
#[test]
fn mutated_corpus_torrents_never_panic() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/corpus/libtorrent-test-torrents");
    let Ok(entries) = std::fs::read_dir(&dir) else {
        panic!("corpus not found at {}", dir.display());
    };
    let mut seed = 0x2545_f491_4f6c_dd1du64;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let mut runs = 0;
    for entry in entries.flatten() {
        let original = std::fs::read(entry.path()).unwrap();
        if original.is_empty() || entry.path().extension().is_none_or(|e| e != "torrent") {
            continue;
        }
        for _ in 0..200 {
            let mut bytes = original.clone();
            let at = (next() % bytes.len() as u64) as usize;
            match next() % 4 {
                0 => bytes[at] ^= 1 << (next() % 8),
                1 => bytes.truncate(at),
                2 => bytes.insert(at, next() as u8),
                _ => bytes[at] = b"0123456789ield:e-"[(next() % 17) as usize],
            }
            if let Ok(meta) = Metainfo::from_bytes(&bytes) {
                let _ = meta.info_hashes();
                check_layout(&meta).unwrap();
            }
            runs += 1;
        }
    }
    assert!(runs > 10_000, "only {runs} mutations ran");
}
