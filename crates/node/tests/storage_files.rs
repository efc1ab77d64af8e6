//! Storage on real files: blocks through the piece ↔ file spans, pad files, sparse files,
//! hash checks (v1, hybrid, v2), path safety, seed mode and the handle limit.

mod storage_support;

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use peer_wire::PieceIndex;
use peercdn::storage::{Limits, Mode, Storage, StorageError};
use storage_support::{TempDir, all_pieces, blocks, copy_piece, data, seed, torrent};
use torrent_format::Metainfo;
use torrent_format::bencode::OwnedValue;
use torrent_format::create::Version;
use torrent_format::hash::sha1;

const KIB: u64 = 1024;

#[test]
fn storage_is_send_and_sync() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Storage>();
}

#[test]
fn single_file_blocks_written_in_any_order_verify() {
    let tmp = TempDir::new("single");
    let content = data(100_000, 1);
    let (meta, src) = torrent(
        tmp.path(),
        "one.bin",
        &[("", content.clone())],
        Version::V1,
        16 * KIB,
    );
    let dl = tmp.path().join("dl");
    let from = seed(&meta, &src);
    let to = Storage::open(&meta, &dl, Mode::Download).unwrap();
    assert!(!to.is_complete());
    // Pieces last to first, each block last to first.
    for piece in all_pieces(&meta).collect::<Vec<_>>().into_iter().rev() {
        assert!(
            !to.hash_piece(piece).unwrap(),
            "{piece:?} before its blocks"
        );
        copy_piece(&from, &to, piece, 4096);
        assert!(to.hash_piece(piece).unwrap(), "{piece:?}");
    }
    assert!(to.is_complete());
    assert_eq!(std::fs::read(dl.join("one.bin")).unwrap(), content);
}

#[test]
fn multi_file_blocks_across_file_boundaries_verify() {
    let tmp = TempDir::new("multi");
    let files = [
        ("a.txt", data(5000, 2)),
        ("empty", Vec::new()),
        ("sub/b.bin", data(20_000, 3)),
        ("sub/c", data(1, 4)),
        ("z/d.bin", data(40_000, 5)),
    ];
    let (meta, src) = torrent(tmp.path(), "multi", &files, Version::V1, 16 * KIB);
    let dl = tmp.path().join("dl");
    let from = seed(&meta, &src);
    let to = Storage::open(&meta, &dl, Mode::Download).unwrap();
    // 3000-byte blocks cross every file boundary; interleave pieces: even pieces first.
    let order: Vec<PieceIndex> = all_pieces(&meta)
        .filter(|p| p.0 % 2 == 0)
        .chain(all_pieces(&meta).filter(|p| p.0 % 2 == 1))
        .collect();
    for &piece in &order {
        let blocks = blocks(&from, piece, 3000);
        // All but the first block: not yet verifiable.
        for &(offset, len) in blocks.iter().skip(1) {
            to.write_block(piece, offset, &from.read_block(piece, offset, len).unwrap())
                .unwrap();
        }
        assert!(!to.hash_piece(piece).unwrap());
        let (offset, len) = blocks[0];
        to.write_block(piece, offset, &from.read_block(piece, offset, len).unwrap())
            .unwrap();
        assert!(to.hash_piece(piece).unwrap(), "{piece:?}");
    }
    assert!(to.is_complete());
    for (path, bytes) in &files {
        assert_eq!(
            &std::fs::read(dl.join("multi").join(path)).unwrap(),
            bytes,
            "{path}"
        );
    }
}

#[test]
fn hybrid_pad_files_are_never_created_and_read_as_zeros() {
    let tmp = TempDir::new("pad");
    let files = [("a", data(10_000, 6)), ("b", data(30_000, 7))];
    let (meta, src) = torrent(tmp.path(), "padded", &files, Version::Hybrid, 16 * KIB);
    assert!(
        meta.files().any(|f| f.attributes.pad),
        "the hybrid has pad files"
    );
    let dl = tmp.path().join("dl");
    let from = seed(&meta, &src);
    let to = Storage::open(&meta, &dl, Mode::Download).unwrap();
    for piece in all_pieces(&meta) {
        copy_piece(&from, &to, piece, 16 * 1024);
    }
    assert_eq!(
        to.check_pieces(all_pieces(&meta), 2).count(),
        meta.num_pieces()
    );
    assert!(to.is_complete());
    // Piece 0 is all of `a` (10,000 bytes) then 6,384 bytes of padding.
    let piece0 = to.read_block(PieceIndex(0), 0, 16 * 1024).unwrap();
    assert_eq!(&piece0[..10_000], &files[0].1[..]);
    assert!(piece0[10_000..].iter().all(|&b| b == 0));
    assert!(!dl.join("padded/.pad").exists());
    assert_eq!(files_under(&dl).len(), 2, "{:?}", files_under(&dl));
}

#[test]
fn v2_only_pieces_verify_against_piece_layers_and_roots() {
    let tmp = TempDir::new("v2");
    // `big` spans three pieces (checked against its piece layer), `small` one (its root).
    let files = [("big", data(40_000, 8)), ("small", data(3000, 9))];
    let (meta, src) = torrent(tmp.path(), "v2", &files, Version::V2, 16 * KIB);
    let dl = tmp.path().join("dl");
    let from = seed(&meta, &src);
    let to = Storage::open(&meta, &dl, Mode::Download).unwrap();
    for piece in all_pieces(&meta) {
        copy_piece(&from, &to, piece, 5000);
        assert!(to.hash_piece(piece).unwrap(), "{piece:?}");
    }
    assert!(to.is_complete());
    // One wrong byte in each file fails exactly its piece.
    for (path, at, piece) in [("big", 20_000u64, 1), ("small", 10, 3)] {
        flip_byte(&dl.join("v2").join(path), at);
        assert!(!to.hash_piece(PieceIndex(piece)).unwrap(), "{path}");
    }
    assert_eq!(to.verified().count(), meta.num_pieces() - 2);
}

#[test]
fn a_corrupted_byte_fails_its_piece_and_unverifies_it() {
    let tmp = TempDir::new("corrupt");
    let (meta, src) = torrent(
        tmp.path(),
        "c.bin",
        &[("", data(50_000, 10))],
        Version::V1,
        16 * KIB,
    );
    let dl = tmp.path().join("dl");
    let from = seed(&meta, &src);
    let to = Storage::open(&meta, &dl, Mode::Download).unwrap();
    for piece in all_pieces(&meta) {
        copy_piece(&from, &to, piece, 16 * 1024);
        assert!(to.hash_piece(piece).unwrap());
    }
    flip_byte(&dl.join("c.bin"), 16 * 1024 + 7);
    assert!(!to.hash_piece(PieceIndex(1)).unwrap());
    assert!(!to.verified().has(PieceIndex(1)) && !to.is_complete());
    assert!(to.hash_piece(PieceIndex(0)).unwrap() && to.hash_piece(PieceIndex(2)).unwrap());
}

/// Blocks written in order are hashed as they are written; what the check then trusts must
/// still be what the file holds, whatever arrives after.
#[test]
fn a_block_written_again_after_it_was_hashed_is_what_the_check_sees() {
    let tmp = TempDir::new("in-order");
    let (meta, src) = torrent(
        tmp.path(),
        "o.bin",
        &[("", data(64 * 1024, 11))],
        Version::V1,
        32 * KIB,
    );
    let dl = tmp.path().join("dl");
    let from = seed(&meta, &src);
    let to = Storage::open(&meta, &dl, Mode::Download).unwrap();
    let piece = PieceIndex(0);
    let in_order = |to: &Storage| {
        for (offset, len) in blocks(&from, piece, 4096) {
            to.write_block(piece, offset, &from.read_block(piece, offset, len).unwrap())
                .unwrap();
        }
    };
    // In order, then a block of the hashed prefix sent again with other bytes (a liar's
    // duplicate in endgame): the piece fails.
    in_order(&to);
    to.write_block(piece, 8192, &[0xAA; 4096]).unwrap();
    assert!(
        !to.hash_piece(piece).unwrap(),
        "the bad duplicate is on disk"
    );
    // The good block again, out of order: the check reads it and the piece passes.
    to.write_block(piece, 8192, &from.read_block(piece, 8192, 4096).unwrap())
        .unwrap();
    assert!(to.hash_piece(piece).unwrap());
    // Downloaded anew from offset 0 after a bad first copy: hashed anew.
    let mut bad = from.read_block(piece, 0, 4096).unwrap();
    bad[100] ^= 1;
    to.write_block(piece, 0, &bad).unwrap();
    assert!(!to.hash_piece(piece).unwrap());
    in_order(&to);
    assert!(to.hash_piece(piece).unwrap());
    // Half in order, the rest in reverse: the check reads the rest.
    let second = PieceIndex(1);
    let list = blocks(&from, second, 4096);
    let (head, tail) = list.split_at(3);
    for &(offset, len) in head.iter().chain(tail.iter().rev()) {
        to.write_block(
            second,
            offset,
            &from.read_block(second, offset, len).unwrap(),
        )
        .unwrap();
    }
    assert!(to.hash_piece(second).unwrap());
    assert_eq!(
        std::fs::read(dl.join("o.bin")).unwrap(),
        data(64 * 1024, 11)
    );
}

/// Pad bytes are never stored: whatever a peer sent for them, they read back as zeros, and a
/// piece that holds padding is checked against the zeros.
#[test]
fn pad_bytes_a_peer_sent_do_not_count() {
    let tmp = TempDir::new("pad-sent");
    let files = [("a", data(10_000, 6)), ("b", data(30_000, 7))];
    let (meta, src) = torrent(tmp.path(), "padded", &files, Version::Hybrid, 16 * KIB);
    let dl = tmp.path().join("dl");
    let from = seed(&meta, &src);
    let to = Storage::open(&meta, &dl, Mode::Download).unwrap();
    // Piece 0: `a`'s 10,000 bytes, then 6,384 of padding, sent here as 0xFF, in order.
    let mut piece0 = from.read_block(PieceIndex(0), 0, 16 * 1024).unwrap();
    piece0[10_000..].fill(0xFF);
    for (i, block) in piece0.chunks(4096).enumerate() {
        to.write_block(PieceIndex(0), (i * 4096) as u32, block)
            .unwrap();
    }
    assert!(to.hash_piece(PieceIndex(0)).unwrap());
}

/// A read that must not wait for the disk gives the same bytes as a plain read, or nothing.
#[test]
fn a_cached_read_gives_the_bytes_of_a_plain_read_or_none() {
    let tmp = TempDir::new("cached");
    let files = [("a", data(10_000, 12)), ("b", data(30_000, 13))];
    let (meta, src) = torrent(tmp.path(), "padded", &files, Version::Hybrid, 16 * KIB);
    let from = seed(&meta, &src);
    let mut served = 0;
    for piece in all_pieces(&meta) {
        for (offset, len) in blocks(&from, piece, 5000) {
            let plain = from.read_block(piece, offset, len).unwrap();
            // The plain read opened the files and brought the bytes into the page cache.
            if let Some(cached) = from.read_block_cached(piece, offset, len) {
                assert_eq!(cached, plain, "{piece:?} at {offset}");
                served += 1;
            }
        }
    }
    eprintln!("{served} blocks served from the page cache");
    let last = PieceIndex(meta.num_pieces() - 1);
    assert_eq!(
        from.read_block_cached(last, 0, 1 << 20),
        None,
        "out of range"
    );
}

#[test]
fn untouched_files_stay_sparse() {
    let tmp = TempDir::new("sparse");
    const GIB: u64 = 1 << 30;
    let meta = raw_torrent(
        OwnedValue::dict()
            .with("length", OwnedValue::Int(GIB as i64))
            .with("name", OwnedValue::bytes("big.iso")),
        1 << 20,
        vec![0; 20 * 1024],
    );
    let dl = tmp.path().join("dl");
    let to = Storage::open(&meta, &dl, Mode::Download).unwrap();
    let file = dl.join("big.iso");
    let m = std::fs::metadata(&file).unwrap();
    assert_eq!(m.len(), GIB);
    assert!(
        m.blocks() * 512 < (1 << 20),
        "{} blocks allocated",
        m.blocks()
    );
    to.write_block(PieceIndex(512), 0, &data(16 * 1024, 11))
        .unwrap();
    to.flush().unwrap();
    let m = std::fs::metadata(&file).unwrap();
    assert!(
        m.blocks() * 512 < (1 << 20),
        "{} blocks allocated",
        m.blocks()
    );
    // Reopening neither truncates nor fills.
    drop(to);
    let again = Storage::open(&meta, &dl, Mode::Download).unwrap();
    assert_eq!(
        again.read_block(PieceIndex(512), 0, 16 * 1024).unwrap(),
        data(16 * 1024, 11)
    );
    assert!(std::fs::metadata(&file).unwrap().blocks() * 512 < (1 << 20));
}

#[test]
fn hostile_paths_stay_inside_the_download_folder() {
    let tmp = TempDir::new("paths");
    let path = |elements: &[&str]| {
        OwnedValue::List(elements.iter().map(|e| OwnedValue::bytes(*e)).collect())
    };
    let entries = [
        path(&["..", "..", "evil"]),
        path(&["/etc", "passwd"]),
        path(&["a", "..", "..", "b"]),
        path(&["c/../../d"]),
        path(&[".."]),
    ];
    let content = data(10 * entries.len(), 12);
    let files = entries
        .iter()
        .map(|p| {
            OwnedValue::dict()
                .with("length", OwnedValue::Int(10))
                .with("path", p.clone())
        })
        .collect();
    let meta = raw_torrent(
        OwnedValue::dict()
            .with("files", OwnedValue::List(files))
            .with("name", OwnedValue::bytes("../t")),
        16 * KIB,
        sha1(&content).to_vec(),
    );
    let dl = tmp.path().join("deep/dl");
    let to = Storage::open(&meta, &dl, Mode::Download).unwrap();
    to.write_block(PieceIndex(0), 0, &content).unwrap();
    assert!(to.hash_piece(PieceIndex(0)).unwrap());
    let all = files_under(tmp.path());
    assert_eq!(all.len(), entries.len(), "{all:?}");
    for f in &all {
        assert!(f.starts_with(&dl), "{} escaped", f.display());
        assert!(
            !f.strip_prefix(&dl)
                .unwrap()
                .components()
                .any(|c| c.as_os_str() == "..")
        );
    }
}

#[test]
fn a_torrent_cannot_write_into_the_resume_folder() {
    let tmp = TempDir::new("reserved");
    let meta = raw_torrent(
        OwnedValue::dict()
            .with("length", OwnedValue::Int(10))
            .with("name", OwnedValue::bytes(".peercdn")),
        16 * KIB,
        vec![0; 20],
    );
    let err = Storage::open(&meta, tmp.path(), Mode::Download).unwrap_err();
    assert!(matches!(err, StorageError::ReservedPath { .. }), "{err}");
}

#[test]
fn seeding_needs_every_file_at_its_size() {
    let tmp = TempDir::new("seed");
    let files = [("a", data(1000, 13)), ("b", data(2000, 14))];
    let (meta, src) = torrent(tmp.path(), "s", &files, Version::V1, 16 * KIB);
    let storage = seed(&meta, &src);
    assert_eq!(storage.check_pieces(all_pieces(&meta), 1).count(), 1);
    assert!(matches!(
        storage.write_block(PieceIndex(0), 0, b"x"),
        Err(StorageError::ReadOnly)
    ));
    drop(storage);

    let b = src.join("s/b");
    std::fs::write(&b, b"short").unwrap();
    match Storage::open(&meta, &src, Mode::Seed) {
        Err(e @ StorageError::ShortFile { .. }) => {
            assert_eq!(
                e.to_string(),
                format!("{}: 5 bytes on disk, the torrent says 2000", b.display())
            );
        }
        other => panic!("{other:?}"),
    }
    std::fs::remove_file(&b).unwrap();
    match Storage::open(&meta, &src, Mode::Seed) {
        Err(e @ StorageError::MissingFile { .. }) => {
            assert!(
                e.to_string()
                    .starts_with(&format!("{}: no such file", b.display()))
            );
        }
        other => panic!("{other:?}"),
    }
    assert!(!b.exists(), "seed mode creates nothing");
}

#[test]
fn many_files_use_a_bounded_number_of_handles() {
    let tmp = TempDir::new("handles");
    let files: Vec<(String, Vec<u8>)> = (0..300)
        .map(|i| (format!("f{i:03}"), data(100 + i, i as u64)))
        .collect();
    let refs: Vec<(&str, Vec<u8>)> = files.iter().map(|(n, d)| (n.as_str(), d.clone())).collect();
    let (meta, src) = torrent(tmp.path(), "many", &refs, Version::V1, 16 * KIB);
    let limits = Limits { max_open_files: 4 };
    let dl = tmp.path().join("dl");
    let from = Storage::open_with_limits(&meta, &src, Mode::Seed, limits).unwrap();
    let to = Storage::open_with_limits(&meta, &dl, Mode::Download, limits).unwrap();
    for piece in all_pieces(&meta) {
        copy_piece(&from, &to, piece, 1000);
    }
    assert_eq!(
        to.check_pieces(all_pieces(&meta), 3).count(),
        meta.num_pieces()
    );
    to.flush().unwrap();
    assert!(to.is_complete());
    // Each storage holds at most 4 handles into its folder.
    for dir in [&src, &dl] {
        let open = open_fds_under(dir);
        assert!(open <= 4, "{open} handles open under {}", dir.display());
    }
}

#[test]
fn blocks_outside_their_piece_are_refused() {
    let tmp = TempDir::new("range");
    let (meta, _) = torrent(
        tmp.path(),
        "r",
        &[("", data(20_000, 15))],
        Version::V1,
        16 * KIB,
    );
    let to = Storage::open(&meta, &tmp.path().join("dl"), Mode::Download).unwrap();
    // Piece 1 is 3616 bytes long.
    for (piece, offset, len) in [(2, 0, 1), (1, 3000, 617), (1, 3616, 1), (0, u32::MAX, 2)] {
        let out_of_range =
            |r: Result<_, StorageError>| matches!(r, Err(StorageError::OutOfRange { .. }));
        assert!(out_of_range(
            to.read_block(PieceIndex(piece), offset, len).map(drop)
        ));
        let bytes = vec![0; len as usize];
        assert!(out_of_range(to.write_block(
            PieceIndex(piece),
            offset,
            &bytes
        )));
    }
    assert!(matches!(
        to.hash_piece(PieceIndex(2)),
        Err(StorageError::OutOfRange { .. })
    ));
    assert!(to.read_block(PieceIndex(1), 3000, 616).is_ok());
}

#[test]
fn check_pieces_finds_exactly_the_good_pieces() {
    let tmp = TempDir::new("check");
    let files = [("a", data(40_000, 16)), ("b", data(40_000, 17))];
    let (meta, src) = torrent(tmp.path(), "k", &files, Version::V1, 16 * KIB);
    let dl = tmp.path().join("dl");
    let from = seed(&meta, &src);
    let to = Storage::open(&meta, &dl, Mode::Download).unwrap();
    let written = [0u32, 2, 3];
    for &p in &written {
        copy_piece(&from, &to, PieceIndex(p), 16 * 1024);
    }
    let good = to.check_pieces(all_pieces(&meta), 4);
    assert_eq!(good.iter().map(|p| p.0).collect::<Vec<_>>(), written);
    assert_eq!(to.verified(), good);
    // A file cut short: the pieces it no longer holds are simply not verified. (Piece 2 needs
    // `b` up to byte 8768, piece 3 up to byte 25152.)
    let b = std::fs::OpenOptions::new()
        .write(true)
        .open(dl.join("k/b"))
        .unwrap();
    b.set_len(10_000).unwrap();
    let good = to.check_pieces(all_pieces(&meta), 2);
    assert_eq!(good.iter().map(|p| p.0).collect::<Vec<_>>(), [0, 2]);
    assert_eq!(to.verified(), good);
}

/// Parses a torrent built from an `info` dictionary (plus `piece length` and `pieces`).
fn raw_torrent(info: OwnedValue, piece_length: u64, pieces: Vec<u8>) -> Metainfo {
    let info = info
        .with("piece length", OwnedValue::Int(piece_length as i64))
        .with("pieces", OwnedValue::Bytes(pieces));
    Metainfo::from_bytes(&OwnedValue::dict().with("info", info).to_bytes()).unwrap()
}

fn flip_byte(path: &Path, at: u64) {
    use std::os::unix::fs::FileExt;
    let f = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
        .unwrap();
    let mut b = [0u8];
    f.read_exact_at(&mut b, at).unwrap();
    f.write_all_at(&[b[0] ^ 0x40], at).unwrap();
}

/// Every regular file below `dir`.
fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else {
                out.push(path);
            }
        }
    }
    out.sort();
    out
}

/// Open descriptors of this process on files below `dir`.
fn open_fds_under(dir: &Path) -> usize {
    std::fs::read_dir("/proc/self/fd")
        .unwrap()
        .filter_map(|e| std::fs::read_link(e.ok()?.path()).ok())
        .filter(|target| target.starts_with(dir))
        .count()
}

#[test]
fn pieces_in_holes_read_as_zeros_and_verify_against_the_zero_hash() {
    let tmp = TempDir::new("holes");
    let mut content = vec![0; 64 * 1024];
    content.extend(data(32 * 1024, 18));
    let (meta, src) = torrent(tmp.path(), "h.bin", &[("", content)], Version::V1, 16 * KIB);
    let dl = tmp.path().join("dl");
    let to = Storage::open(&meta, &dl, Mode::Download).unwrap();
    // A new, sparse file: pieces 0-3 should be zeros and are; 4 and 5 are not.
    let good = to.check_pieces(all_pieces(&meta), 2);
    assert_eq!(good.iter().map(|p| p.0).collect::<Vec<_>>(), [0, 1, 2, 3]);
    let from = seed(&meta, &src);
    for p in [4, 5] {
        copy_piece(&from, &to, PieceIndex(p), 16 * 1024);
    }
    assert!(to.check_pieces(all_pieces(&meta), 2).is_full());
}

#[test]
fn concurrent_writers_and_checkers_verify_every_piece() {
    let tmp = TempDir::new("threads");
    let files = [("a", data(150_000, 19)), ("b", data(90_000, 20))];
    let (meta, src) = torrent(tmp.path(), "t", &files, Version::Hybrid, 16 * KIB);
    let from = seed(&meta, &src);
    let to = Storage::open(&meta, &tmp.path().join("dl"), Mode::Download).unwrap();
    let n = meta.num_pieces();
    std::thread::scope(|s| {
        for t in 0..4 {
            let (from, to) = (&from, &to);
            s.spawn(move || {
                for p in (t..n).step_by(4).map(PieceIndex) {
                    copy_piece(from, to, p, 5000);
                    assert!(to.hash_piece(p).unwrap(), "{p:?}");
                    to.flush().unwrap();
                }
            });
        }
        // A checker racing the writers never verifies a piece that is not good.
        s.spawn(|| {
            for _ in 0..3 {
                let good = to.check_pieces(all_pieces(&meta), 1);
                for p in good.iter() {
                    assert_eq!(
                        to.read_block(p, 0, to.layout().piece_size(p) as u32)
                            .unwrap(),
                        from.read_block(p, 0, to.layout().piece_size(p) as u32)
                            .unwrap()
                    );
                }
            }
        });
    });
    assert!(to.is_complete());
}
