//! Creating `.torrent` files (v1, v2 and hybrid) from a file or a folder on disk.
//!
//! **This module does I/O.** The rest of the crate is sans-IO; creating a torrent means reading
//! every byte of the content, so [`create_torrent`] walks the file system, opens and reads files
//! (positioned reads in 1 MiB chunks) and hashes them on a rayon thread pool. It reads no clock:
//! `creation date` is written only if the caller passes one, so the same input tree and the same
//! [`CreateOptions`] always give byte-identical output.
//!
//! Implements BEP 3 (v1 `info`), BEP 12 (`announce-list`), BEP 19 (`url-list`), BEP 27
//! (`private`), BEP 47 (pad files) and BEP 52 (v2 `file tree`, `piece layers` and hybrids).
//!
//! # Layout rules
//!
//! - A file input gives a single-file torrent (`length` in `info`); a folder gives a multi-file
//!   torrent named after the folder, with every regular file below it (hidden ones included).
//!   Symlinks inside the folder are not followed and, like FIFOs, sockets and devices, are left
//!   out and listed in [`Created::skipped`]. Empty directories cannot be expressed and vanish.
//! - Files are ordered by their path components compared bytewise: the order of a v2 file tree
//!   (nested dictionaries with sorted keys), used for the v1 `files` list too.
//! - v1 pieces run across file boundaries. v2 pieces never do: each non-empty file starts on a
//!   piece boundary. A hybrid makes both agree by inserting a BEP 47 pad file (`attr: "p"`,
//!   path `.pad/<length>`) after every non-empty file that does not end on a piece boundary,
//!   *the last file included* (tail padding, as libtorrent and BEP 52's reference creator do).
//!   Single-file hybrids are never padded.
//! - BEP 52 cannot express a folder holding exactly one file directly: a v2 file tree whose
//!   root is one file is a single-file torrent. So a v2-only torrent of such a folder is the
//!   single-file torrent of that file (named after it); v1 and hybrid torrents keep the folder,
//!   since their `files` list marks them multi-file.
//! - A folder with no regular files is [`CreateError::EmptyInput`]; content whose files are all
//!   empty is [`CreateError::ZeroLength`] (a torrent needs at least one piece; libtorrent
//!   refuses it too).
//!
//! # Example
//!
//! ```
//! use torrent_format::create::{create_torrent, CreateOptions, Version};
//!
//! let dir = std::env::temp_dir().join(format!("tf-create-doctest-{}", std::process::id()));
//! std::fs::create_dir_all(dir.join("sub"))?;
//! std::fs::write(dir.join("a.txt"), b"hello")?;
//! std::fs::write(dir.join("sub/b.bin"), vec![7u8; 40_000])?;
//!
//! let options = CreateOptions {
//!     version: Version::Hybrid,
//!     trackers: vec![vec!["http://tracker.example/announce".into()]],
//!     ..CreateOptions::default()
//! };
//! let created = create_torrent(&dir, &options, &|p| {
//!     assert!(p.bytes_hashed <= p.total_bytes);
//! })?;
//! assert_eq!(created.content_size, 40_005);
//! assert_eq!(created.piece_length, 16 * 1024); // automatic
//! assert_eq!(created.num_pieces, 1 + 3); // a.txt, then b.bin from a piece boundary
//! assert!(created.info_hashes.v1.is_some() && created.info_hashes.v2.is_some());
//! std::fs::write(dir.with_extension("torrent"), &created.bytes)?;
//! # std::fs::remove_dir_all(&dir)?;
//! # std::fs::remove_file(dir.with_extension("torrent"))?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod hasher;
mod layout;
mod metainfo;
mod walk;

use std::io;
use std::path::{Path, PathBuf};

use crate::hash::{InfoHashV1, InfoHashV2, InfoHashes, sha1, sha256};

/// Which kind of torrent to create.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Version {
    /// BEP 3: SHA-1 pieces over the concatenated files.
    V1,
    /// BEP 52 only: per-file SHA-256 merkle trees.
    V2,
    /// Both in one `info` dictionary (BEP 52 "upgrade path"), with pad files so that v1 and v2
    /// pieces coincide. Readable by v1-only clients.
    Hybrid,
}

/// What to put in the torrent besides the content.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CreateOptions {
    /// v1, v2 or hybrid. Default: hybrid (as libtorrent and qBittorrent).
    pub version: Version,
    /// Bytes per piece; `None` picks one from the total size (libtorrent's rule: 16 KiB to
    /// 16 MiB, so the v1 piece list is about `2 * sqrt(total size)` bytes). A given value must
    /// be a power of two of at least 16 KiB for v2 and hybrid (BEP 52), a multiple of 16 KiB
    /// for v1.
    pub piece_length: Option<u64>,
    /// Tracker tiers (BEP 12). `announce` is the first URL of the first non-empty tier;
    /// `announce-list` is written when there is more than one URL in all.
    pub trackers: Vec<Vec<String>>,
    /// Web seeds (BEP 19 `url-list`).
    pub web_seeds: Vec<String>,
    /// Sets `private: 1` in `info` (BEP 27).
    pub private: bool,
    /// `comment`.
    pub comment: Option<String>,
    /// `created by`.
    pub created_by: Option<String>,
    /// `creation date` in seconds since the Unix epoch; `None` leaves it out, which keeps the
    /// output deterministic.
    pub creation_date: Option<i64>,
    /// The torrent's `name`; default: the file or folder name. For a single file it is also
    /// the file name peers save under.
    pub name: Option<String>,
    /// Hashing threads: `None` uses rayon's global pool (all cores, or `RAYON_NUM_THREADS`),
    /// `Some(1)` hashes on the calling thread, `Some(n)` builds a pool of `n` threads
    /// (`Some(0)` means `None`).
    pub threads: Option<usize>,
}

impl Default for CreateOptions {
    fn default() -> Self {
        Self {
            version: Version::Hybrid,
            piece_length: None,
            trackers: Vec::new(),
            web_seeds: Vec::new(),
            private: false,
            comment: None,
            created_by: None,
            creation_date: None,
            name: None,
            threads: None,
        }
    }
}

/// A created torrent.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Created {
    /// The `.torrent` file.
    pub bytes: Vec<u8>,
    /// SHA-1 and/or SHA-256 of the encoded `info` dictionary inside `bytes`.
    pub info_hashes: InfoHashes,
    /// Bytes per piece.
    pub piece_length: u64,
    /// Pieces in the torrent (for v2 and hybrid, each file's pieces counted separately).
    pub num_pieces: u64,
    /// Sum of the file sizes, pad files not included (unlike
    /// [`Metainfo::total_size`](crate::Metainfo::total_size), which counts them).
    pub content_size: u64,
    /// Entries found in the folder but left out: symlinks and special files, sorted.
    pub skipped: Vec<PathBuf>,
}

/// Hashing progress, reported at least once per MiB hashed, from whichever thread hashed it.
/// Reports from different threads may arrive slightly out of order; the last call always has
/// `bytes_hashed == total_bytes`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Progress {
    /// File bytes hashed so far (pad bytes not counted).
    pub bytes_hashed: u64,
    /// File bytes to hash in all.
    pub total_bytes: u64,
}

/// Why a torrent could not be created.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CreateError {
    /// Reading the file system failed.
    #[error("cannot read {}: {error}", path.display())]
    Io {
        /// The file or folder.
        path: PathBuf,
        /// What the OS said.
        error: io::Error,
    },
    /// A file was shorter when read than when the folder was walked.
    #[error("{} changed while it was being hashed", path.display())]
    FileChanged {
        /// The file.
        path: PathBuf,
    },
    /// The input is a folder without regular files (or neither a file nor a folder).
    #[error("nothing to share in {}: no regular files", path.display())]
    EmptyInput {
        /// The input.
        path: PathBuf,
    },
    /// Every file is empty, so there would be no pieces.
    #[error("nothing to share in {}: all files are empty", path.display())]
    ZeroLength {
        /// The input.
        path: PathBuf,
    },
    /// The piece length given is not allowed for this version.
    #[error(
        "invalid piece length {piece_length} for {version:?}: must be {}",
        if *version == Version::V1 { "a multiple of 16 KiB" } else { "a power of two >= 16 KiB" }
    )]
    InvalidPieceLength {
        /// The piece length given.
        piece_length: u64,
        /// The version asked for.
        version: Version,
    },
    /// A file or folder name is not UTF-8 (BEP 3 and BEP 52 paths are UTF-8).
    #[error("file name is not valid UTF-8: {}", path.display())]
    NonUtf8Path {
        /// The offending path.
        path: PathBuf,
    },
    /// The torrent name is empty, `.`, `..`, or contains `/` or NUL.
    #[error("invalid torrent name {name:?}")]
    InvalidName {
        /// The name.
        name: String,
    },
    /// More pieces than a 32-bit piece index can address; choose a larger piece length.
    #[error("{num_pieces} pieces is more than 2^32 - 1; choose a larger piece length")]
    TooManyPieces {
        /// Pieces the content would need.
        num_pieces: u64,
    },
    /// The hashing thread pool could not be started.
    #[error("cannot start hashing threads: {message}")]
    ThreadPool {
        /// rayon's message.
        message: String,
    },
}

impl CreateError {
    fn io(path: &Path, error: io::Error) -> Self {
        Self::Io {
            path: path.to_path_buf(),
            error,
        }
    }
}

/// The name [`create_torrent`] gives a torrent of `path` when [`CreateOptions::name`] is not
/// set: the file or folder name (`.` and `..` resolved through the file system). Cheap: it
/// reads at most the path's metadata, so a caller can choose an output file before hashing.
pub fn default_name(path: &Path) -> Result<String, CreateError> {
    walk::input_name(path)
}

/// Creates a torrent of the file or folder at `path`, calling `progress` as data is hashed.
///
/// See the [module docs](self) for the layout rules. This reads every byte under `path`.
pub fn create_torrent(
    path: &Path,
    options: &CreateOptions,
    progress: &(dyn Fn(Progress) + Sync),
) -> Result<Created, CreateError> {
    let mut input = walk::walk(path)?;
    if options.version == Version::V2
        && input.files.len() == 1
        && input.files[0].components.len() == 1
    {
        // BEP 52 cannot say "a folder holding one file": a file tree whose root is a single
        // file *is* a single-file torrent (libtorrent reads it so, whatever `name` says). Say
        // plainly what every reader will see: the single-file torrent of that file.
        input.single_file = true;
        input.name = input.files[0].components[0].clone();
    }
    let name = match &options.name {
        Some(n) => n.clone(),
        None => input.name.clone(),
    };
    if name.is_empty() || name == "." || name == ".." || name.contains(['/', '\0']) {
        return Err(CreateError::InvalidName { name });
    }
    let total_size: u64 = input.files.iter().map(|f| f.length).sum();
    if total_size == 0 {
        return Err(CreateError::ZeroLength {
            path: path.to_path_buf(),
        });
    }
    let piece_length = match options.piece_length {
        Some(pl) => {
            layout::check_piece_length(pl, options.version)?;
            pl
        }
        None => layout::auto_piece_length(total_size),
    };
    let lengths: Vec<u64> = input.files.iter().map(|f| f.length).collect();
    let aligned = options.version != Version::V1;
    let layout = layout::Layout::new(&lengths, piece_length, aligned);
    if layout.num_pieces > u64::from(u32::MAX) {
        return Err(CreateError::TooManyPieces {
            num_pieces: layout.num_pieces,
        });
    }

    let hashes = hasher::Task {
        layout: &layout,
        files: &input.files,
        v1: options.version != Version::V2,
        v2: aligned,
        threads: options.threads,
        progress,
    }
    .run()?;

    let parts = metainfo::Parts {
        options,
        name: &name,
        single_file: input.single_file,
        files: &input.files,
        layout: &layout,
        hashes: &hashes,
    };
    let (info, piece_layers) = parts.info();
    let info_bytes = info.to_bytes();
    let info_hashes = InfoHashes {
        v1: (options.version != Version::V2).then(|| InfoHashV1(sha1(&info_bytes))),
        v2: aligned.then(|| InfoHashV2(sha256(&info_bytes))),
    };
    let bytes = metainfo::torrent(options, info, piece_layers).to_bytes();
    Ok(Created {
        bytes,
        info_hashes,
        piece_length,
        num_pieces: layout.num_pieces,
        content_size: total_size,
        skipped: input.skipped,
    })
}
