//! Helpers shared by the `storage_*` tests: temporary folders, generated content, torrents
//! made from it with torrent-format's creation API, and copying a torrent block by block.

#![allow(dead_code, unreachable_pub)]

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};

use peer_wire::PieceIndex;
use peercdn::storage::{Mode, Storage};
use torrent_format::Metainfo;
use torrent_format::create::{CreateOptions, Version, create_torrent};

/// A temporary folder under `std::env::temp_dir()`, removed on drop.
pub struct TempDir(PathBuf);

impl TempDir {
    pub fn new(label: &str) -> Self {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!(
            "peercdn-storage-{label}-{}-{n}",
            std::process::id()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Self(dir)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// `len` pseudo-random bytes (xorshift, deterministic per `seed`).
pub fn data(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

/// A torrent made from content written under `<tmp>/src`: one file if `files` has a single
/// entry without `/` in its name, else a folder `name` holding `files`. Returns the parsed
/// torrent and the folder to seed it from (`<tmp>/src`).
pub fn torrent(
    tmp: &Path,
    name: &str,
    files: &[(&str, Vec<u8>)],
    version: Version,
    piece_length: u64,
) -> (Metainfo, PathBuf) {
    let src = tmp.join("src");
    let single = files.len() == 1 && files[0].0.is_empty();
    let input = src.join(name);
    if single {
        std::fs::create_dir_all(&src).unwrap();
        std::fs::write(&input, &files[0].1).unwrap();
    } else {
        for (path, bytes) in files {
            let p = input.join(path);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(&p, bytes).unwrap();
        }
    }
    let options = CreateOptions {
        version,
        piece_length: Some(piece_length),
        threads: Some(1),
        ..CreateOptions::default()
    };
    let created = create_torrent(&input, &options, &|_| {}).unwrap();
    (Metainfo::from_bytes(&created.bytes).unwrap(), src)
}

/// The blocks of `piece`, `block` bytes each (the last one shorter), as (offset, length).
pub fn blocks(storage: &Storage, piece: PieceIndex, block: u32) -> Vec<(u32, u32)> {
    let size = storage.layout().piece_size(piece) as u32;
    (0..size.div_ceil(block))
        .map(|i| (i * block, block.min(size - i * block)))
        .collect()
}

/// Copies `piece` from `seed` to `to`, in `block`-byte blocks, last block first.
pub fn copy_piece(seed: &Storage, to: &Storage, piece: PieceIndex, block: u32) {
    for (offset, len) in blocks(seed, piece, block).into_iter().rev() {
        let bytes = seed.read_block(piece, offset, len).unwrap();
        to.write_block(piece, offset, &bytes).unwrap();
    }
}

/// A seed of `meta` from `src`.
pub fn seed(meta: &Metainfo, src: &Path) -> Storage {
    Storage::open(meta, src, Mode::Seed).unwrap()
}

/// Every piece index of a torrent.
pub fn all_pieces(meta: &Metainfo) -> impl Iterator<Item = PieceIndex> {
    (0..meta.num_pieces()).map(PieceIndex)
}
