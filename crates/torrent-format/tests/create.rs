//! Torrent creation from real folders in the temp dir.
//!
//! Oracles:
//! - two torrents from libtorrent's test suite (`v2.torrent`, `v2_multipiece_file.torrent`,
//!   zero-filled files) reproduced byte for byte, pinned by the SHA-256 of the file and
//!   libtorrent 2.0.8's info-hashes (`EXPECTED.json` of the shared corpus);
//! - SHA-1 piece hashes recomputed here over the concatenated (for hybrids: padded) file data;
//! - BEP 52 roots and piece layers recomputed here with a naive merkle tree that materialises
//!   every padding leaf (independent of `torrent_format::merkle`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use proptest::prelude::Just;
use sha1::Digest;
use torrent_format::bencode::{DecodeOptions, OwnedValue, decode};
use torrent_format::create::{CreateError, CreateOptions, Created, Version, create_torrent};

const KIB: u64 = 1024;

/// A fresh directory under the system temp dir, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> Self {
        static N: AtomicUsize = AtomicUsize::new(0);
        let n = N.fetch_add(1, Ordering::Relaxed);
        let p = std::env::temp_dir()
            .join(format!("tf-create-{}-{n}-{tag}", std::process::id()))
            .join("content");
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).unwrap();
        Self(p)
    }

    fn path(&self) -> &Path {
        &self.0
    }

    /// Writes `data` at relative path `rel`, creating folders.
    fn write(&self, rel: &str, data: &[u8]) -> PathBuf {
        let p = self.0.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, data).unwrap();
        p
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(self.0.parent().unwrap());
    }
}

/// Deterministic, incompressible-looking bytes (xorshift64*).
fn data(seed: u64, len: u64) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            x ^= x >> 12;
            x ^= x << 25;
            x ^= x >> 27;
            (x.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 56) as u8
        })
        .collect()
}

fn create(path: &Path, options: &CreateOptions) -> Created {
    create_torrent(path, options, &|_| {}).unwrap()
}

fn opts(version: Version, piece_length: Option<u64>) -> CreateOptions {
    CreateOptions {
        version,
        piece_length,
        ..CreateOptions::default()
    }
}

/// The torrent as an owned tree; decoding in strict mode also checks the output is canonical.
fn parse(bytes: &[u8]) -> BTreeMap<Vec<u8>, OwnedValue> {
    let doc = decode(bytes, &DecodeOptions::strict()).expect("canonical bencode");
    match doc.root().to_owned_value() {
        OwnedValue::Dict(d) => d,
        other => panic!("not a dict: {other:?}"),
    }
}

fn dict<'a>(v: &'a OwnedValue, key: &str) -> &'a BTreeMap<Vec<u8>, OwnedValue> {
    match v {
        OwnedValue::Dict(d) => match d.get(key.as_bytes()) {
            Some(OwnedValue::Dict(d)) => d,
            other => panic!("{key}: {other:?}"),
        },
        other => panic!("not a dict: {other:?}"),
    }
}

fn info(t: &BTreeMap<Vec<u8>, OwnedValue>) -> &BTreeMap<Vec<u8>, OwnedValue> {
    match t.get(&b"info"[..]) {
        Some(OwnedValue::Dict(d)) => d,
        other => panic!("info: {other:?}"),
    }
}

fn bytes_of<'a>(d: &'a BTreeMap<Vec<u8>, OwnedValue>, key: &str) -> &'a [u8] {
    match d.get(key.as_bytes()) {
        Some(OwnedValue::Bytes(b)) => b,
        other => panic!("{key}: {other:?}"),
    }
}

fn int_of(d: &BTreeMap<Vec<u8>, OwnedValue>, key: &str) -> i64 {
    match d.get(key.as_bytes()) {
        Some(OwnedValue::Int(i)) => *i,
        other => panic!("{key}: {other:?}"),
    }
}

/// `(length, path, is_pad)` of each v1 `files` entry.
fn v1_files(info: &BTreeMap<Vec<u8>, OwnedValue>) -> Vec<(u64, String, bool)> {
    let Some(OwnedValue::List(list)) = info.get(&b"files"[..]) else {
        panic!("no files")
    };
    list.iter()
        .map(|f| {
            let OwnedValue::Dict(f) = f else { panic!() };
            let Some(OwnedValue::List(path)) = f.get(&b"path"[..]) else {
                panic!()
            };
            let path: Vec<String> = path
                .iter()
                .map(|c| match c {
                    OwnedValue::Bytes(b) => String::from_utf8(b.clone()).unwrap(),
                    _ => panic!(),
                })
                .collect();
            let pad =
                matches!(f.get(&b"attr"[..]), Some(OwnedValue::Bytes(a)) if a.contains(&b'p'));
            (int_of(f, "length") as u64, path.join("/"), pad)
        })
        .collect()
}

/// The `""` leaf of `rel` in a v2 file tree.
fn tree_leaf<'a>(
    info: &'a BTreeMap<Vec<u8>, OwnedValue>,
    rel: &str,
) -> &'a BTreeMap<Vec<u8>, OwnedValue> {
    let mut node = info.get(&b"file tree"[..]).expect("file tree");
    for c in rel.split('/') {
        node = match node {
            OwnedValue::Dict(d) => d.get(c.as_bytes()).unwrap_or_else(|| panic!("{rel}: {c}")),
            _ => panic!(),
        };
    }
    dict(node, "")
}

fn sha1(b: &[u8]) -> [u8; 20] {
    sha1::Sha1::digest(b).into()
}

fn sha256(b: &[u8]) -> [u8; 32] {
    sha2::Sha256::digest(b).into()
}

/// Every layer of a BEP 52 tree over `content`, leaves first, padding leaves materialised.
fn naive_layers(content: &[u8]) -> Vec<Vec<[u8; 32]>> {
    let mut leaves: Vec<[u8; 32]> = content.chunks(16384).map(sha256).collect();
    leaves.resize(leaves.len().next_power_of_two(), [0; 32]);
    let mut layers = vec![leaves];
    while layers.last().unwrap().len() > 1 {
        let next = layers
            .last()
            .unwrap()
            .chunks(2)
            .map(|p| sha256(&[p[0], p[1]].concat()))
            .collect();
        layers.push(next);
    }
    layers
}

/// `(pieces root, piece layer if longer than one piece)` the naive way.
fn naive_v2(content: &[u8], piece_length: u64) -> ([u8; 32], Option<Vec<u8>>) {
    let layers = naive_layers(content);
    let root = layers.last().unwrap()[0];
    if content.len() as u64 <= piece_length {
        return (root, None);
    }
    let height = (piece_length / 16384).trailing_zeros() as usize;
    let pieces = (content.len() as u64).div_ceil(piece_length) as usize;
    (root, Some(layers[height][..pieces].concat()))
}

fn hex(b: &[u8]) -> String {
    hex::encode(b)
}

// --- libtorrent vectors ---------------------------------------------------------------------

#[test]
fn reproduces_libtorrent_v2_torrent_byte_for_byte() {
    // libtorrent test/test_torrents/v2.torrent: a hybrid of one 64 KiB file of zeros.
    let dir = TempDir::new("lt-v2");
    let file = dir.write("test64K", &[0; 65536]);
    let options = CreateOptions {
        version: Version::Hybrid,
        piece_length: Some(65536),
        trackers: vec![vec!["http://example.com/announce".into()]],
        ..CreateOptions::default()
    };
    let c = create(&file, &options);
    assert_eq!(c.bytes.len(), 260);
    assert_eq!(
        hex(&sha256(&c.bytes)),
        "75e497f99d9235cf5a6f659f4a78762667972350466e9851eb582110bb83ea45"
    );
    assert_eq!(
        c.info_hashes.v1.unwrap().to_hex(),
        "c14199bbec64d0e9e439aa3b6b7639e666b86eca"
    );
    assert_eq!(
        c.info_hashes.v2.unwrap().to_hex(),
        "597b180c1a170a585dfc5e85d834d69013ceda174b8f357d5bb1a0ca509faf0a"
    );
    assert_eq!((c.num_pieces, c.content_size), (1, 65536));
}

#[test]
fn reproduces_libtorrent_v2_multipiece_file_byte_for_byte() {
    // libtorrent test/test_torrents/v2_multipiece_file.torrent: a hybrid of 1 MiB of zeros in
    // 64 KiB pieces, so it has a piece layer of 16 hashes.
    let dir = TempDir::new("lt-multipiece");
    let file = dir.write("test1MB", &vec![0; 1 << 20]);
    let options = CreateOptions {
        version: Version::Hybrid,
        piece_length: Some(65536),
        trackers: vec![vec!["http://example.com/announce".into()]],
        threads: Some(2),
        ..CreateOptions::default()
    };
    let c = create(&file, &options);
    assert_eq!(c.bytes.len(), 1116);
    assert_eq!(
        hex(&sha256(&c.bytes)),
        "29f5e1d408330ba062e93ff236eb755989b85f1dd9a9f7a7b07866e724078658"
    );
    assert_eq!(
        c.info_hashes.v1.unwrap().to_hex(),
        "6c68c1bcc24c65b6fef4724d8234b67e0e9ac6a4"
    );
    assert_eq!(
        c.info_hashes.v2.unwrap().to_hex(),
        "108ac2c3718ce722e6896edc56c4afa98f1d711ecaace7aad74fca418ebd03de"
    );
    assert_eq!(c.num_pieces, 16);
}

// --- v1 ----------------------------------------------------------------------------------------

/// A folder exercising ordering, nesting, hidden and empty files, and sizes around 16 KiB.
fn sample_tree(tag: &str) -> (TempDir, Vec<(&'static str, Vec<u8>)>) {
    let dir = TempDir::new(tag);
    // Listed in the order the torrent must use: bytewise by path component. Note "a/..." before
    // "a.txt" although '/' > '.', because the directory "a" is a key that sorts first.
    let files: Vec<(&'static str, Vec<u8>)> = vec![
        (".hidden", data(1, 100)),
        ("B.bin", data(2, 16384)),
        ("a/deep/x", data(3, 1)),
        ("a/empty", Vec::new()),
        ("a.txt", data(4, 40_000)),
        ("b", data(5, 100_001)),
        ("z/one-piece", data(6, 32768)),
    ];
    // Written in a different order, so directory order cannot be what sorts them.
    for (rel, content) in files.iter().rev() {
        dir.write(rel, content);
    }
    std::fs::create_dir_all(dir.path().join("empty-dir/inner")).unwrap();
    (dir, files)
}

#[test]
fn v1_pieces_are_sha1_of_the_concatenated_files() {
    let (dir, files) = sample_tree("v1");
    let c = create(dir.path(), &opts(Version::V1, Some(32 * KIB)));
    let t = parse(&c.bytes);
    let info = info(&t);
    assert_eq!(bytes_of(info, "name"), b"content");
    assert_eq!(int_of(info, "piece length"), 32768);
    assert!(!info.contains_key(&b"meta version"[..]) && !info.contains_key(&b"file tree"[..]));
    assert!(!t.contains_key(&b"piece layers"[..]));

    let listed = v1_files(info);
    let expected: Vec<_> = files
        .iter()
        .map(|(rel, d)| (d.len() as u64, rel.to_string(), false))
        .collect();
    assert_eq!(listed, expected);

    let stream: Vec<u8> = files.iter().flat_map(|(_, d)| d.clone()).collect();
    let pieces: Vec<u8> = stream.chunks(32768).flat_map(sha1).collect();
    assert_eq!(bytes_of(info, "pieces"), &pieces[..]);
    assert_eq!(c.num_pieces, stream.len().div_ceil(32768) as u64);
    assert_eq!(c.content_size, stream.len() as u64);
    assert_eq!(c.info_hashes.v2, None);
}

#[test]
fn v1_accepts_non_power_of_two_multiples_of_16k() {
    let (dir, files) = sample_tree("v1-48k");
    let c = create(dir.path(), &opts(Version::V1, Some(48 * KIB)));
    let stream: Vec<u8> = files.iter().flat_map(|(_, d)| d.clone()).collect();
    let pieces: Vec<u8> = stream.chunks(48 * 1024).flat_map(sha1).collect();
    assert_eq!(bytes_of(info(&parse(&c.bytes)), "pieces"), &pieces[..]);
}

#[test]
fn info_hashes_are_of_the_info_bytes_in_the_file() {
    let (dir, _) = sample_tree("ih");
    let c = create(dir.path(), &opts(Version::Hybrid, None));
    let doc = decode(&c.bytes, &DecodeOptions::strict()).unwrap();
    let raw = doc.root().as_dict().unwrap().get(b"info").unwrap().raw();
    assert_eq!(c.info_hashes.v1.unwrap().0, sha1(raw));
    assert_eq!(c.info_hashes.v2.unwrap().0, sha256(raw));
}

// --- v2 and hybrid -----------------------------------------------------------------------------

/// Checks a multi-file torrent of `files` (in torrent order) against the independent oracles:
/// the v1 `files` list and pieces over the concatenated (hybrid: padded) data, and for v2 and
/// hybrid every file's root and piece layer from the naive merkle tree.
fn check_against_oracles(files: &[(String, Vec<u8>)], version: Version, pl: u64, c: &Created) {
    let t = parse(&c.bytes);
    let info = info(&t);
    let (v1, v2) = (version != Version::V2, version != Version::V1);
    assert_eq!(int_of(info, "piece length"), pl as i64);
    assert_eq!(
        c.content_size,
        files.iter().map(|f| f.1.len() as u64).sum::<u64>()
    );

    // The v1 stream. In a hybrid (with more than one file): a pad after each non-empty file
    // that does not end on a piece boundary, the last file included.
    let mut listed = Vec::new();
    let mut stream = Vec::new();
    for (rel, d) in files {
        listed.push((d.len() as u64, rel.clone(), false));
        stream.extend_from_slice(d);
        let gap = (pl - stream.len() as u64 % pl) % pl;
        if v2 && files.len() > 1 && !d.is_empty() && gap > 0 {
            listed.push((gap, format!(".pad/{gap}"), true));
            stream.resize(stream.len() + gap as usize, 0);
        }
    }
    assert_eq!(c.num_pieces, (stream.len() as u64).div_ceil(pl));
    if v1 {
        assert_eq!(v1_files(info), listed);
        let pieces: Vec<u8> = stream.chunks(pl as usize).flat_map(sha1).collect();
        assert_eq!(bytes_of(info, "pieces"), &pieces[..]);
    } else {
        assert!(!info.contains_key(&b"pieces"[..]) && !info.contains_key(&b"files"[..]));
    }

    if !v2 {
        assert!(!info.contains_key(&b"file tree"[..]) && !t.contains_key(&b"piece layers"[..]));
        return;
    }
    assert_eq!(int_of(info, "meta version"), 2);
    let mut expected_layers = BTreeMap::new();
    for (rel, d) in files {
        let leaf = tree_leaf(info, rel);
        assert_eq!(int_of(leaf, "length"), d.len() as i64, "{rel}");
        if d.is_empty() {
            assert!(
                !leaf.contains_key(&b"pieces root"[..]),
                "{rel}: empty files have no root"
            );
            continue;
        }
        let (root, layer) = naive_v2(d, pl);
        assert_eq!(bytes_of(leaf, "pieces root"), root, "{rel}");
        if let Some(layer) = layer {
            expected_layers.insert(root.to_vec(), OwnedValue::Bytes(layer));
        }
    }
    assert_eq!(
        dict(&OwnedValue::Dict(t.clone()), "piece layers"),
        &expected_layers
    );
}

#[test]
fn hybrid_pads_every_unaligned_file_and_agrees_with_naive_merkle() {
    let (dir, files) = sample_tree("hybrid");
    let files: Vec<(String, Vec<u8>)> = files.into_iter().map(|(r, d)| (r.into(), d)).collect();
    let pl = 32 * KIB;
    let c = create(dir.path(), &opts(Version::Hybrid, Some(pl)));
    check_against_oracles(&files, Version::Hybrid, pl, &c);
    let t = parse(&c.bytes);
    // No pad after the empty file or after "z/one-piece" (exactly one piece).
    assert_eq!(v1_files(info(&t)).iter().filter(|f| f.2).count(), 5);
    // Only "a.txt" and "b" are longer than a piece.
    assert_eq!(dict(&OwnedValue::Dict(t), "piece layers").len(), 2);
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig {
        cases: 24,
        failure_persistence: None,
        ..Default::default()
    })]

    /// Random folders (sizes around piece and block boundaries, some nested, some empty) in all
    /// three versions agree with the oracles.
    #[test]
    fn random_folders_agree_with_the_oracles(
        sizes in proptest::collection::vec(
            proptest::prop_oneof![
                Just(0u64), 1u64..100, 16_380u64..16_390, 32_760u64..32_780, 1u64..140_000
            ],
            1..7,
        ),
        pl_shift in 0u32..3,
        version in proptest::prop_oneof![Just(Version::V1), Just(Version::V2), Just(Version::Hybrid)],
    ) {
        let pl = (16 * KIB) << pl_shift;
        let dir = TempDir::new("prop");
        let mut files: Vec<(String, Vec<u8>)> = sizes
            .iter()
            .enumerate()
            .map(|(i, &n)| {
                let rel = if i % 3 == 1 { format!("d{}/f{i}", i % 2) } else { format!("f{i}") };
                (rel, data(100 + i as u64, n))
            })
            .collect();
        for (rel, d) in &files {
            dir.write(rel, d);
        }
        files.sort_by(|a, b| a.0.split('/').cmp(b.0.split('/')));
        match create_torrent(dir.path(), &opts(version, Some(pl)), &|_| {}) {
            Ok(c) => check_against_oracles(&files, version, pl, &c),
            Err(CreateError::ZeroLength { .. }) => proptest::prop_assert!(sizes.iter().all(|&n| n == 0)),
            Err(e) => panic!("{e}"),
        }
    }
}

#[test]
fn v2_has_the_same_tree_as_hybrid_and_no_v1_keys() {
    let (dir, _) = sample_tree("v2");
    let v2 = create(dir.path(), &opts(Version::V2, Some(16 * KIB)));
    let hy = create(dir.path(), &opts(Version::Hybrid, Some(16 * KIB)));
    let (t2, th) = (parse(&v2.bytes), parse(&hy.bytes));
    let (i2, ih) = (info(&t2), info(&th));
    for k in ["pieces", "files", "length"] {
        assert!(!i2.contains_key(k.as_bytes()), "{k}");
    }
    assert_eq!(i2.get(&b"file tree"[..]), ih.get(&b"file tree"[..]));
    assert_eq!(t2.get(&b"piece layers"[..]), th.get(&b"piece layers"[..]));
    assert_eq!(v2.num_pieces, hy.num_pieces);
    assert_eq!(v2.info_hashes.v1, None);
    assert_ne!(v2.info_hashes.v2, hy.info_hashes.v2);
}

#[test]
fn small_files_have_an_empty_piece_layers_dict() {
    let dir = TempDir::new("small");
    dir.write("one-byte", b"x");
    dir.write("one-piece", &data(9, 16384));
    let c = create(dir.path(), &opts(Version::V2, Some(16 * KIB)));
    let t = parse(&c.bytes);
    // BEP 52: "A torrent is not valid if this field is absent".
    assert_eq!(
        t.get(&b"piece layers"[..]),
        Some(&OwnedValue::Dict(BTreeMap::new()))
    );
    let info = info(&t);
    // One leaf: the root is the leaf hash itself.
    assert_eq!(
        bytes_of(tree_leaf(info, "one-byte"), "pieces root"),
        sha256(b"x")
    );
    assert_eq!(
        bytes_of(tree_leaf(info, "one-piece"), "pieces root"),
        sha256(&data(9, 16384))
    );
    assert_eq!(c.num_pieces, 2);
}

// --- forms and options ------------------------------------------------------------------------

#[test]
fn single_file_input_uses_the_single_file_form() {
    let dir = TempDir::new("single");
    let file = dir.write("movie.bin", &data(7, 70_000));
    for version in [Version::V1, Version::Hybrid] {
        let c = create(&file, &opts(version, Some(16 * KIB)));
        let t = parse(&c.bytes);
        let info = info(&t);
        assert_eq!(bytes_of(info, "name"), b"movie.bin");
        assert_eq!(int_of(info, "length"), 70_000);
        assert!(!info.contains_key(&b"files"[..]));
        // Never padded: the v1 pieces are over the file alone, last one short.
        let pieces: Vec<u8> = data(7, 70_000).chunks(16384).flat_map(sha1).collect();
        assert_eq!(bytes_of(info, "pieces"), &pieces[..]);
    }
    let c = create(&file, &opts(Version::V2, Some(16 * KIB)));
    let t = parse(&c.bytes);
    assert!(!info(&t).contains_key(&b"length"[..]));
    assert_eq!(int_of(tree_leaf(info(&t), "movie.bin"), "length"), 70_000);

    // A v2-only torrent of a folder holding one file is that file's single-file torrent: BEP 52
    // reads a file tree whose root is one file as single-file, whatever `name` says.
    let from_folder = create(dir.path(), &opts(Version::V2, Some(16 * KIB)));
    assert_eq!(from_folder.bytes, c.bytes);
    let nested = TempDir::new("single-nested");
    nested.write("sub/movie.bin", &data(7, 70_000));
    let t = parse(&create(nested.path(), &opts(Version::V2, Some(16 * KIB))).bytes);
    assert_eq!(bytes_of(info(&t), "name"), b"content");
    assert_eq!(
        int_of(tree_leaf(info(&t), "sub/movie.bin"), "length"),
        70_000
    );

    // In v1 and hybrid a folder holding one file stays a multi-file torrent, and (as libtorrent
    // does) gets no pad file since it has only one file.
    let c = create(dir.path(), &opts(Version::Hybrid, Some(16 * KIB)));
    let t = parse(&c.bytes);
    assert_eq!(
        v1_files(info(&t)),
        vec![(70_000, "movie.bin".into(), false)]
    );
    assert!(tree_leaf(info(&t), "movie.bin").contains_key(&b"pieces root"[..]));
}

#[test]
fn name_option_renames_the_torrent_and_a_single_file() {
    let dir = TempDir::new("name");
    let file = dir.write("f", b"abc");
    let options = CreateOptions {
        name: Some("renamed.txt".into()),
        ..opts(Version::Hybrid, None)
    };
    let t = parse(&create(&file, &options).bytes);
    assert_eq!(bytes_of(info(&t), "name"), b"renamed.txt");
    assert_eq!(int_of(tree_leaf(info(&t), "renamed.txt"), "length"), 3);
    for bad in ["", ".", "..", "a/b"] {
        let options = CreateOptions {
            name: Some(bad.into()),
            ..CreateOptions::default()
        };
        let err = create_torrent(&file, &options, &|_| {}).unwrap_err();
        assert!(
            matches!(err, CreateError::InvalidName { .. }),
            "{bad:?}: {err}"
        );
    }
}

#[test]
fn top_level_keys_follow_the_options() {
    let dir = TempDir::new("keys");
    let file = dir.write("f", b"abc");
    let options = CreateOptions {
        version: Version::V1,
        trackers: vec![
            vec![],
            vec!["udp://a/1".into(), "udp://b/2".into()],
            vec!["udp://c".into()],
        ],
        web_seeds: vec!["https://seed/".into()],
        private: true,
        comment: Some("hi".into()),
        created_by: Some("peercdn".into()),
        creation_date: Some(1_700_000_000),
        ..CreateOptions::default()
    };
    let t = parse(&create(&file, &options).bytes);
    assert_eq!(bytes_of(&t, "announce"), b"udp://a/1");
    let list = |v: &[&str]| OwnedValue::List(v.iter().map(|s| (*s).into()).collect());
    assert_eq!(
        t.get(&b"announce-list"[..]),
        Some(&OwnedValue::List(vec![
            list(&["udp://a/1", "udp://b/2"]),
            list(&["udp://c"])
        ]))
    );
    assert_eq!(t.get(&b"url-list"[..]), Some(&list(&["https://seed/"])));
    assert_eq!(bytes_of(&t, "comment"), b"hi");
    assert_eq!(bytes_of(&t, "created by"), b"peercdn");
    assert_eq!(int_of(&t, "creation date"), 1_700_000_000);
    assert_eq!(int_of(info(&t), "private"), 1);

    // Defaults: nothing but info.
    let t = parse(&create(&file, &opts(Version::V1, None)).bytes);
    assert_eq!(t.keys().collect::<Vec<_>>(), vec![&b"info".to_vec()]);
    assert!(!info(&t).contains_key(&b"private"[..]));

    // One tracker: no announce-list.
    let one = CreateOptions {
        trackers: vec![vec!["udp://a".into()]],
        ..opts(Version::V1, None)
    };
    let t = parse(&create(&file, &one).bytes);
    assert!(t.contains_key(&b"announce"[..]) && !t.contains_key(&b"announce-list"[..]));
}

#[test]
fn automatic_piece_length_follows_the_total_size() {
    let dir = TempDir::new("auto");
    dir.write("f", &data(8, 3_000_000));
    let c = create(dir.path(), &opts(Version::Hybrid, None));
    // 3,000,000 > 2,684,355 (libtorrent's 16 KiB limit) -> 32 KiB.
    assert_eq!(c.piece_length, 32 * KIB);
}

// --- determinism and threads ---------------------------------------------------------------

#[test]
fn output_is_deterministic_and_independent_of_threads() {
    let dir = TempDir::new("threads");
    // Enough data for many jobs (jobs are 4 MiB) with files straddling job boundaries.
    dir.write("a", &data(10, 4_500_001));
    dir.write("b/c", &data(11, 1_333_333));
    dir.write("b/d", &data(12, 17));
    dir.write("e", &data(13, 3_000_000));
    for version in [Version::V1, Version::V2, Version::Hybrid] {
        for pl in [Some(16 * KIB), Some(1 << 20)] {
            let single = create(
                dir.path(),
                &CreateOptions {
                    threads: Some(1),
                    ..opts(version, pl)
                },
            );
            let again = create(
                dir.path(),
                &CreateOptions {
                    threads: Some(1),
                    ..opts(version, pl)
                },
            );
            assert_eq!(single, again, "{version:?} {pl:?}: not deterministic");
            for threads in [Some(2), Some(3), None] {
                let multi = create(
                    dir.path(),
                    &CreateOptions {
                        threads,
                        ..opts(version, pl)
                    },
                );
                assert_eq!(single, multi, "{version:?} {pl:?} {threads:?}");
            }
        }
    }
}

#[test]
fn progress_reaches_the_total_and_is_reported_often() {
    let dir = TempDir::new("progress");
    dir.write("a", &data(14, 6 << 20));
    dir.write("b", &data(15, 12345));
    let seen = Mutex::new(Vec::new());
    let c = create_torrent(dir.path(), &CreateOptions::default(), &|p| {
        seen.lock().unwrap().push((p.bytes_hashed, p.total_bytes));
    })
    .unwrap();
    let seen = seen.into_inner().unwrap();
    let total = (6 << 20) + 12345;
    assert_eq!(c.content_size, total);
    assert!(seen.iter().all(|&(done, t)| t == total && done <= total));
    assert_eq!(seen.last(), Some(&(total, total)));
    assert!(seen.len() >= 6, "at least once per MiB: {}", seen.len());
}

// --- edge cases and errors ---------------------------------------------------------------------

#[test]
fn only_empty_files_is_an_error() {
    let dir = TempDir::new("zero");
    dir.write("a", b"");
    dir.write("b/c", b"");
    let err = create_torrent(dir.path(), &CreateOptions::default(), &|_| {}).unwrap_err();
    assert!(matches!(err, CreateError::ZeroLength { .. }), "{err}");
    let single = create_torrent(&dir.path().join("a"), &CreateOptions::default(), &|_| {});
    assert!(matches!(single, Err(CreateError::ZeroLength { .. })));
}

#[test]
fn folder_without_files_is_an_error() {
    let dir = TempDir::new("empty");
    std::fs::create_dir_all(dir.path().join("x/y")).unwrap();
    let err = create_torrent(dir.path(), &CreateOptions::default(), &|_| {}).unwrap_err();
    assert!(matches!(err, CreateError::EmptyInput { .. }), "{err}");
}

#[test]
fn invalid_piece_lengths_are_rejected() {
    let dir = TempDir::new("pl");
    let file = dir.write("f", b"abc");
    for (version, pl) in [
        (Version::V2, 48 * KIB),
        (Version::Hybrid, 48 * KIB),
        (Version::Hybrid, 8 * KIB),
        (Version::V1, 8 * KIB),
        (Version::V1, 20_000),
        (Version::V1, 0),
    ] {
        let err = create_torrent(&file, &opts(version, Some(pl)), &|_| {}).unwrap_err();
        assert!(
            matches!(err, CreateError::InvalidPieceLength { .. }),
            "{version:?} {pl}"
        );
    }
}

#[test]
fn missing_input_names_the_path() {
    let dir = TempDir::new("missing");
    let p = dir.path().join("nope");
    let err = create_torrent(&p, &CreateOptions::default(), &|_| {}).unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.starts_with(&format!("cannot read {}: ", p.display())),
        "{msg}"
    );
}

#[cfg(unix)]
#[test]
fn symlinks_are_skipped_and_reported() {
    let dir = TempDir::new("symlink");
    dir.write("real", b"data");
    std::os::unix::fs::symlink(dir.path().join("real"), dir.path().join("link")).unwrap();
    std::os::unix::fs::symlink(dir.path(), dir.path().join("loop")).unwrap();
    let c = create(dir.path(), &opts(Version::V1, None));
    assert_eq!(
        c.skipped,
        vec![dir.path().join("link"), dir.path().join("loop")]
    );
    assert_eq!(
        v1_files(info(&parse(&c.bytes))),
        vec![(4, "real".into(), false)]
    );
}

#[cfg(unix)]
#[test]
fn non_utf8_names_are_an_error_naming_the_path() {
    use std::os::unix::ffi::OsStrExt;
    let dir = TempDir::new("utf8");
    let bad = dir.path().join(std::ffi::OsStr::from_bytes(b"bad\xff"));
    std::fs::write(&bad, b"x").unwrap();
    match create_torrent(dir.path(), &CreateOptions::default(), &|_| {}) {
        Err(CreateError::NonUtf8Path { path }) => assert_eq!(path, bad),
        other => panic!("{other:?}"),
    }
}

#[cfg(unix)]
#[test]
fn unreadable_file_names_the_path() {
    use std::os::unix::fs::PermissionsExt;
    let dir = TempDir::new("perm");
    let f = dir.write("secret", b"x");
    std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o000)).unwrap();
    if std::fs::read(&f).is_ok() {
        return; // running as root: permissions are not enforced
    }
    let err = create_torrent(dir.path(), &CreateOptions::default(), &|_| {}).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "cannot read {}: Permission denied (os error 13)",
            f.display()
        )
    );
}
