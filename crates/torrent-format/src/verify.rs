//! Checking data on disk against a torrent: which pieces are good.
//!
//! Like [`create`](crate::create), this reads files (the rest of the crate does no I/O).
//! Pieces are hashed in parallel on all cores. v1 and hybrid torrents are checked with their
//! SHA-1 piece hashes; v2-only torrents with the merkle trees of BEP 52 (each piece against
//! its file's piece layer, or, for a file of at most one piece or without a layer, the whole
//! file against its `pieces root`). A missing or short file makes its pieces bad, never an
//! error; pad files are zeros whatever is on disk.
//!
//! ```no_run
//! use torrent_format::{Metainfo, verify::verify};
//!
//! let meta = Metainfo::from_bytes(&std::fs::read("x.torrent")?)?;
//! let report = verify(&meta, "./x".as_ref(), &|_progress| {})?;
//! println!("{} of {} pieces good", report.good_pieces(), report.pieces.len());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use rayon::prelude::*;

use crate::hash::{sha1, sha256};
use crate::layout::{Layout, PieceIndex};
use crate::merkle;
use crate::metainfo::{Metainfo, Version};

/// Progress of a check, reported from worker threads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Progress {
    /// Bytes hashed so far.
    pub bytes_checked: u64,
    /// Bytes to hash in all.
    pub total_bytes: u64,
}

/// The outcome of a check.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Report {
    /// One entry per piece: whether it matched.
    pub pieces: Vec<bool>,
    /// Indices of files that do not exist on disk.
    pub missing_files: Vec<usize>,
    /// Indices of files whose size on disk differs from the torrent's.
    pub wrong_size_files: Vec<usize>,
}

impl Report {
    /// Number of good pieces.
    pub fn good_pieces(&self) -> usize {
        self.pieces.iter().filter(|&&g| g).count()
    }

    /// Whether everything matched.
    pub fn is_complete(&self) -> bool {
        self.pieces.iter().all(|&g| g)
    }
}

/// A check that could not run at all (a missing or unreadable file only makes pieces bad).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum VerifyError {
    /// The content path does not exist.
    #[error("{}: no such file or folder", .0.display())]
    NotFound(PathBuf),
}

/// Checks the torrent's data at `content`: the file itself for a single-file torrent, the
/// torrent's folder for a multi-file one (whatever that folder is called on disk).
pub fn verify(
    meta: &Metainfo,
    content: &Path,
    progress: &(dyn Fn(Progress) + Sync),
) -> Result<Report, VerifyError> {
    if !content.exists() {
        return Err(VerifyError::NotFound(content.to_path_buf()));
    }
    let layout = Layout::new(meta);
    let mut missing_files = Vec::new();
    let mut wrong_size_files = Vec::new();
    let handles: Vec<Option<File>> = meta
        .files()
        .enumerate()
        .map(|(i, f)| {
            if f.attributes.pad || f.attributes.symlink || f.size == 0 {
                return None;
            }
            let path = disk_path(meta, f.path, content);
            match File::open(&path).and_then(|file| Ok((file.metadata()?.len(), file))) {
                Ok((len, file)) => {
                    if len != f.size {
                        wrong_size_files.push(i);
                    }
                    Some(file)
                }
                Err(_) => {
                    missing_files.push(i);
                    None
                }
            }
        })
        .collect();

    let done = AtomicU64::new(0);
    let total = layout.total_size();
    let report = |n: u64| {
        let bytes_checked = done.fetch_add(n, Ordering::Relaxed) + n;
        progress(Progress {
            bytes_checked,
            total_bytes: total,
        });
    };
    let reader = Reader {
        layout: &layout,
        handles: &handles,
    };

    let pieces = if meta.version() == Version::V2 {
        verify_v2(meta, &reader, &report)
    } else {
        (0..layout.num_pieces())
            .into_par_iter()
            .map_init(Vec::new, |buf, p| {
                let piece = PieceIndex(p);
                let ok =
                    reader.read_piece(piece, buf) && meta.piece_hash_v1(piece) == Some(sha1(buf));
                report(layout.piece_size(piece));
                ok
            })
            .collect()
    };
    Ok(Report {
        pieces,
        missing_files,
        wrong_size_files,
    })
}

/// Where a torrent file lives when the torrent's content is at `content`.
fn disk_path(meta: &Metainfo, path: &str, content: &Path) -> PathBuf {
    match path
        .strip_prefix(meta.name())
        .and_then(|r| r.strip_prefix('/'))
    {
        Some(rest) => {
            let mut p = content.to_path_buf();
            p.extend(rest.split('/'));
            p
        }
        // The single file of a single-file torrent (or a file outside the torrent's folder,
        // which only pad files are: never read).
        None => content.to_path_buf(),
    }
}

struct Reader<'a> {
    layout: &'a Layout,
    handles: &'a [Option<File>],
}

impl Reader<'_> {
    /// Reads a piece into `buf`; false if any byte of it is missing on disk.
    fn read_piece(&self, piece: PieceIndex, buf: &mut Vec<u8>) -> bool {
        let range = self.layout.piece_range(piece);
        self.read(range.start, range.end - range.start, buf)
    }

    /// Reads `len` bytes of the torrent stream at `offset` into `buf`.
    fn read(&self, offset: u64, len: u64, buf: &mut Vec<u8>) -> bool {
        buf.clear();
        buf.resize(len as usize, 0);
        let mut at = 0usize;
        for span in self.layout.spans(offset, len) {
            let out = &mut buf[at..at + span.len as usize];
            at += span.len as usize;
            if span.pad {
                continue; // already zeros
            }
            let Some(Some(file)) = self.handles.get(span.file) else {
                return false;
            };
            if file.read_exact_at(out, span.file_offset).is_err() {
                return false;
            }
        }
        true
    }
}

/// BEP 52: hash each piece of each file as a merkle subtree of 16 KiB leaves.
fn verify_v2(meta: &Metainfo, reader: &Reader<'_>, report: &(dyn Fn(u64) + Sync)) -> Vec<bool> {
    let layout = reader.layout;
    let piece_length = layout.piece_length();
    let mut pieces = vec![false; layout.num_pieces() as usize];
    // Pad files are good by definition (zeros); their pieces belong to the file before them.
    for (index, file) in meta.files().enumerate() {
        if file.size == 0 || file.attributes.pad {
            continue;
        }
        let Some(root) = file.pieces_root else {
            continue;
        };
        let range = layout.file_pieces(index);
        let leaves_of = |piece: u32, buf: &mut Vec<u8>| -> Option<Vec<[u8; 32]>> {
            let start = u64::from(piece - range.start) * piece_length;
            let len = (file.size - start).min(piece_length);
            reader.read(file.offset + start, len, buf).then(|| {
                buf.chunks(merkle::BLOCK_SIZE as usize)
                    .map(sha256)
                    .collect()
            })
        };
        let results: Vec<bool> = match meta.piece_layer(index) {
            Some(layer) if file.size > piece_length => range
                .clone()
                .into_par_iter()
                .map_init(Vec::new, |buf, p| {
                    let ok = leaves_of(p, buf).is_some_and(|leaves| {
                        merkle::piece_hash(&leaves, piece_length)
                            == layer[(p - range.start) as usize]
                    });
                    report(layout.piece_size(PieceIndex(p)));
                    ok
                })
                .collect(),
            _ => {
                // No layer to check pieces one by one: the whole file against its root.
                let mut buf = Vec::new();
                let mut leaves = Vec::new();
                let mut ok = true;
                for p in range.clone() {
                    match leaves_of(p, &mut buf) {
                        Some(l) => leaves.extend(l),
                        None => ok = false,
                    }
                    report(layout.piece_size(PieceIndex(p)));
                }
                let ok = ok && merkle::root_from_leaves(&leaves) == root;
                vec![ok; range.len()]
            }
        };
        for (p, ok) in range.zip(results) {
            pieces[p as usize] = ok;
        }
    }
    pieces
}
