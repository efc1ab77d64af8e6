//! Metainfo (`.torrent` files): BEP 3 (v1), BEP 52 (v2 and hybrid), and the extensions real
//! torrents carry: announce-list tiers (BEP 12), web seeds (BEP 19 `url-list`, BEP 17
//! `httpseeds`), private torrents (BEP 27), pad files and file attributes (BEP 47), similar
//! torrents and collections (BEP 38), DHT nodes (BEP 5).
//!
//! [`Metainfo::from_bytes`] gives the same verdict as libtorrent on libtorrent's own test
//! torrents, and lays files out the way libtorrent does (sanitized paths, `.pad/N` pad files,
//! the implied padding of v2 torrents, `name.1.ext` for duplicate names), so a torrent
//! downloaded by us and by libtorrent ends up in the same files. `conformance/` checks this
//! against libtorrent itself.
//!
//! ```
//! use torrent_format::Metainfo;
//!
//! let bytes = b"d4:infod6:lengthi5e4:name5:hello12:piece lengthi16384e\
//!               6:pieces20:aaaaaaaaaaaaaaaaaaaaee";
//! let torrent = Metainfo::from_bytes(bytes).unwrap();
//! assert_eq!(torrent.name(), "hello");
//! assert_eq!(torrent.total_size(), 5);
//! for file in torrent.files() {
//!     println!("{} ({} bytes)", file.path, file.size);
//! }
//! assert!(torrent.info_hashes().v1.is_some());
//! ```
//!
//! Invariants of a parsed [`Metainfo`] (everything downstream relies on them):
//! - files are laid end to end: `files[i].offset` is the sum of the sizes before it, and the
//!   sizes add up to [`Metainfo::total_size`], which is at least 1;
//! - `num_pieces == ceil(total_size / piece_length)`, at most [`Limits::max_pieces`];
//! - every path component is non-empty, valid UTF-8, not `.` or `..`, and holds no `/` or `\`;
//! - v1: `pieces` holds exactly `num_pieces` SHA-1 hashes;
//! - v2: every non-pad file larger than 0 bytes has a non-zero `pieces root`, every file
//!   starts on a piece boundary, and every piece layer present hashes up to its file's root.

mod files;
mod names;
mod parse;

use std::sync::OnceLock;

use crate::bencode::DecodeError;
use crate::hash::{InfoHashV1, InfoHashV2, InfoHashes};
use crate::layout::PieceIndex;

/// A parsed, validated torrent.
#[derive(Clone, Debug)]
pub struct Metainfo {
    info_bytes: Vec<u8>,
    version: Version,
    piece_length: u64,
    total_size: u64,
    num_pieces: u32,
    /// Every file's path and symlink target, back to back; `files` holds spans of it.
    paths: String,
    files: Vec<files::FileRecord>,
    /// Where the v1 piece hashes (20 bytes each) lie in `info_bytes` (empty for v2-only).
    pieces: std::ops::Range<usize>,
    /// v2 piece layers by file index (`None`: the file has none — a file of at most one
    /// piece, a pad file, or a layer the torrent did not include). Empty when no file has one.
    piece_layers: Vec<Option<Vec<[u8; 32]>>>,
    private: bool,
    trackers: Vec<Vec<String>>,
    web_seeds: Vec<String>,
    http_seeds: Vec<String>,
    comment: Option<String>,
    created_by: Option<String>,
    creation_date: Option<i64>,
    similar: Vec<InfoHashV1>,
    collections: Vec<String>,
    dht_nodes: Vec<(String, u16)>,
    info_hashes: OnceLock<InfoHashes>,
}

/// Which metadata a torrent carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Version {
    /// BEP 3 only: `pieces` and `length` or `files`.
    V1,
    /// BEP 52 only: `file tree` and `meta version` 2.
    V2,
    /// Both, describing the same files (BEP 52, "upgrade path").
    Hybrid,
}

/// One file of a torrent, as it will be laid out on disk (a view into its [`Metainfo`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FileEntry<'a> {
    /// Path relative to the download folder, components separated by `/`, sanitized (see the
    /// crate's `path` rules): for a multi-file torrent it starts with the torrent's name.
    pub path: &'a str,
    /// Size in bytes (0 for symlinks).
    pub size: u64,
    /// Offset of the file's first byte in the torrent's byte stream.
    pub offset: u64,
    /// BEP 47 attributes.
    pub attributes: FileAttributes,
    /// For symlinks: the target, relative to the download folder, sanitized.
    pub symlink_target: Option<&'a str>,
    /// Modification time (seconds since the epoch), when the torrent gives one.
    pub mtime: Option<i64>,
    /// v2: root of the file's merkle tree (BEP 52 `pieces root`).
    pub pieces_root: Option<[u8; 32]>,
}

/// BEP 47 file attributes (`attr`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FileAttributes {
    /// `p`: padding, never written to disk; its contents are zeros.
    pub pad: bool,
    /// `x`: executable.
    pub executable: bool,
    /// `h`: hidden.
    pub hidden: bool,
    /// `l`: symbolic link (see [`FileEntry::symlink_target`]).
    pub symlink: bool,
}

/// Limits on what a torrent may make us hold. The defaults are libtorrent's
/// (`load_torrent_limits`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Largest `.torrent` accepted, in bytes.
    pub max_size: usize,
    /// Most pieces.
    pub max_pieces: u32,
    /// Deepest bencode nesting.
    pub max_decode_depth: usize,
    /// Most bencode values.
    pub max_decode_items: usize,
    /// Most directory levels in a file path.
    pub max_directory_depth: usize,
    /// Most renames needed to make file names unique before the torrent is judged hostile.
    pub max_duplicate_filenames: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_size: 100 << 20,
            max_pieces: 0x20_0000,
            max_decode_depth: 100,
            max_decode_items: 3_000_000,
            max_directory_depth: 100,
            max_duplicate_filenames: 500,
        }
    }
}

/// Why a torrent was rejected. [`MetainfoError::code`] gives a stable name for scripts; where
/// libtorrent has the same failure, it is libtorrent's `errors::` name.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MetainfoError {
    /// The file is larger than [`Limits::max_size`].
    #[error("torrent file of {size} bytes is larger than the limit of {limit} bytes")]
    TooLarge {
        /// Size of the input.
        size: usize,
        /// The limit.
        limit: usize,
    },
    /// Not bencode.
    #[error("invalid bencoding: {0}")]
    Bencode(DecodeError),
    /// A v2 `info` dictionary that is not canonical bencode (BEP 52 requires it).
    #[error("v2 info dictionary is not canonical bencode: {0}")]
    NotCanonical(DecodeError),
    /// The top level is not a dictionary.
    #[error("torrent file is not a dictionary")]
    NotADictionary,
    /// No `info` dictionary.
    #[error("missing or invalid 'info' dictionary")]
    MissingInfo,
    /// `meta version` greater than 2.
    #[error("unknown meta version {0}")]
    UnknownVersion(i64),
    /// `piece length` missing, not positive, too large, or (v2) not a power of two ≥ 16 KiB.
    #[error("invalid or missing 'piece length'")]
    InvalidPieceLength,
    /// No usable `name` (or file path).
    #[error("missing name in torrent")]
    MissingName,
    /// A path element that is not a string.
    #[error("invalid file path in torrent (not a list of strings)")]
    InvalidPath,
    /// A file size that is missing, negative or too large, or a total size of zero.
    #[error("invalid file length in torrent")]
    InvalidLength,
    /// v1: no `pieces`.
    #[error("missing 'pieces' in torrent")]
    MissingPieces,
    /// v1: `pieces` is not 20 bytes per piece.
    #[error("'pieces' has {actual} bytes, expected {expected} (20 per piece)")]
    InvalidPieceHashes {
        /// Bytes present.
        actual: usize,
        /// Bytes expected.
        expected: u64,
    },
    /// No files.
    #[error("no files in torrent")]
    NoFiles,
    /// More pieces than [`Limits::max_pieces`].
    #[error("too many pieces in torrent")]
    TooManyPieces,
    /// A path deeper than [`Limits::max_directory_depth`].
    #[error("file path nested too deeply")]
    DirectoryTooDeep,
    /// v2: a malformed `file tree`.
    #[error("invalid 'file tree': {0}")]
    InvalidFileTree(&'static str),
    /// v2: `meta version` 2 without a `file tree`.
    #[error("v2 torrent without a 'file tree'")]
    MissingFileTree,
    /// A `file tree` without `meta version` 2.
    #[error("'file tree' without 'meta version' 2")]
    MissingMetaVersion,
    /// v2: a file with the pad attribute (pad files are implied in v2).
    #[error("a file in the v2 file tree has the pad attribute")]
    InvalidPadFile,
    /// v2: a non-empty file without a (non-zero) `pieces root`.
    #[error("a v2 file has no valid 'pieces root'")]
    MissingPiecesRoot,
    /// Hybrid: the v1 and v2 metadata describe different files.
    #[error("the v1 and v2 file lists of this hybrid torrent do not match")]
    InconsistentFiles,
    /// v2: a malformed piece layer, one for no file, or one that does not hash to its root.
    #[error("invalid piece layer: {0}")]
    InvalidPieceLayer(&'static str),
    /// Too many files with the same name.
    #[error("too many files with the same name")]
    TooManyDuplicateFilenames,
}

impl MetainfoError {
    /// A stable name for this kind of error (libtorrent's where it has one).
    pub fn code(&self) -> &'static str {
        match self {
            Self::TooLarge { .. } => "metadata_too_large",
            Self::Bencode(e) if e.kind == crate::bencode::DecodeErrorKind::TooDeep => {
                "depth_exceeded"
            }
            Self::Bencode(_) | Self::NotCanonical(_) => "invalid_bencoding",
            Self::NotADictionary => "torrent_is_no_dict",
            Self::MissingInfo => "torrent_missing_info",
            Self::UnknownVersion(_) => "torrent_unknown_version",
            Self::InvalidPieceLength => "torrent_missing_piece_length",
            Self::MissingName => "torrent_missing_name",
            Self::InvalidPath => "torrent_invalid_name",
            Self::InvalidLength => "torrent_invalid_length",
            Self::MissingPieces => "torrent_missing_pieces",
            Self::InvalidPieceHashes { .. } => "torrent_invalid_hashes",
            Self::NoFiles => "no_files_in_torrent",
            Self::TooManyPieces => "too_many_pieces_in_torrent",
            Self::DirectoryTooDeep => "torrent_directory_too_deep",
            Self::InvalidFileTree(_) => "torrent_file_parse_failed",
            Self::MissingFileTree => "torrent_missing_file_tree",
            Self::MissingMetaVersion => "torrent_missing_meta_version",
            Self::InvalidPadFile => "torrent_invalid_pad_file",
            Self::MissingPiecesRoot => "torrent_missing_pieces_root",
            Self::InconsistentFiles => "torrent_inconsistent_files",
            Self::InvalidPieceLayer(_) => "torrent_invalid_piece_layer",
            Self::TooManyDuplicateFilenames => "too_many_duplicate_filenames",
        }
    }
}

impl<'a> FileEntry<'a> {
    /// The path's components (never empty, `.` or `..`; no separators).
    pub fn components(&self) -> impl Iterator<Item = &'a str> + 'a {
        self.path.split('/')
    }

    /// Where the file lives under a download folder. Always inside `download_dir`: the path's
    /// components are sanitized.
    pub fn path_in(&self, download_dir: &std::path::Path) -> std::path::PathBuf {
        let mut p = download_dir.to_path_buf();
        p.extend(self.components());
        p
    }
}

impl Metainfo {
    /// Parses a `.torrent` file with the default [`Limits`].
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, MetainfoError> {
        Self::from_bytes_with_limits(bytes, &Limits::default())
    }

    /// Parses a `.torrent` file.
    pub fn from_bytes_with_limits(bytes: &[u8], limits: &Limits) -> Result<Self, MetainfoError> {
        parse::parse(bytes, limits)
    }

    /// Parses a bare `info` dictionary, as received from peers with ut_metadata (BEP 9). Only
    /// v1 torrents and v2 torrents without piece layers can be complete this way.
    pub fn from_info_bytes(info: &[u8], limits: &Limits) -> Result<Self, MetainfoError> {
        parse::parse_info_only(info, limits)
    }

    /// The info-hashes: SHA-1 (v1, hybrid) and SHA-256 (v2, hybrid) of the exact `info` bytes
    /// of the file. Computed on first use.
    pub fn info_hashes(&self) -> InfoHashes {
        *self.info_hashes.get_or_init(|| {
            let v1 = (self.version != Version::V2)
                .then(|| InfoHashV1(crate::hash::sha1(&self.info_bytes)));
            let v2 = (self.version != Version::V1)
                .then(|| InfoHashV2(crate::hash::sha256(&self.info_bytes)));
            InfoHashes { v1, v2 }
        })
    }

    /// The exact bytes of the `info` dictionary (what ut_metadata serves).
    pub fn info_bytes(&self) -> &[u8] {
        &self.info_bytes
    }

    /// v1, v2 or hybrid.
    pub fn version(&self) -> Version {
        self.version
    }

    /// The torrent's name as it will appear on disk (sanitized): the file name of a
    /// single-file torrent, the top folder of a multi-file one.
    pub fn name(&self) -> &str {
        // Derived, as libtorrent does: the first file's top component (there is always a file).
        self.file(0).map_or("", |f| files::name_of(f.path))
    }

    /// Bytes per piece (the last piece may be shorter).
    pub fn piece_length(&self) -> u64 {
        self.piece_length
    }

    /// Sum of all file sizes, pad files included.
    pub fn total_size(&self) -> u64 {
        self.total_size
    }

    /// Number of pieces.
    pub fn num_pieces(&self) -> u32 {
        self.num_pieces
    }

    /// Size of a piece (the last one may be short), or `None` past the end.
    pub fn piece_size(&self, index: PieceIndex) -> Option<u64> {
        if index.0 >= self.num_pieces {
            return None;
        }
        let start = u64::from(index.0) * self.piece_length;
        Some((self.total_size - start).min(self.piece_length))
    }

    /// The files in torrent order, pad files included.
    pub fn files(&self) -> impl ExactSizeIterator<Item = FileEntry<'_>> + '_ {
        self.files.iter().map(|f| self.entry(f))
    }

    /// File `index`, in torrent order.
    pub fn file(&self, index: usize) -> Option<FileEntry<'_>> {
        self.files.get(index).map(|f| self.entry(f))
    }

    /// Number of files, pad files included.
    pub fn num_files(&self) -> usize {
        self.files.len()
    }

    /// Whether the torrent has more than one file (or a folder as its root).
    pub fn is_multi_file(&self) -> bool {
        self.file(0).is_some_and(|f| f.path.contains('/'))
    }

    fn entry(&self, f: &files::FileRecord) -> FileEntry<'_> {
        let text = |span: files::Span| &self.paths[span.start..span.end];
        FileEntry {
            path: text(f.path),
            size: f.size,
            offset: f.offset,
            attributes: f.attributes,
            symlink_target: f.symlink_target.map(text),
            mtime: f.mtime,
            pieces_root: f.pieces_root,
        }
    }

    /// v1 SHA-1 of a piece.
    pub fn piece_hash_v1(&self, index: PieceIndex) -> Option<[u8; 20]> {
        let at = usize::try_from(index.0).ok()?.checked_mul(20)?;
        let pieces = &self.info_bytes[self.pieces.clone()];
        pieces.get(at..at + 20).and_then(|h| h.try_into().ok())
    }

    /// v2 piece layer of file `index` (hashes of its pieces), if the torrent carried one.
    pub fn piece_layer(&self, index: usize) -> Option<&[[u8; 32]]> {
        self.piece_layers.get(index).and_then(|l| l.as_deref())
    }

    /// Whether the torrent is private (BEP 27: no DHT, PEX or LSD).
    pub fn is_private(&self) -> bool {
        self.private
    }

    /// Tracker tiers (BEP 12): from `announce-list`, else `announce` as one tier.
    pub fn trackers(&self) -> &[Vec<String>] {
        &self.trackers
    }

    /// BEP 19 web seeds (`url-list`), percent-encoded where needed; multi-file URLs end in `/`.
    pub fn web_seeds(&self) -> &[String] {
        &self.web_seeds
    }

    /// BEP 17 HTTP seeds (`httpseeds`).
    pub fn http_seeds(&self) -> &[String] {
        &self.http_seeds
    }

    /// `comment` (`comment.utf-8` preferred).
    pub fn comment(&self) -> Option<&str> {
        self.comment.as_deref()
    }

    /// `created by`.
    pub fn created_by(&self) -> Option<&str> {
        self.created_by.as_deref()
    }

    /// `creation date`, seconds since the epoch.
    pub fn creation_date(&self) -> Option<i64> {
        self.creation_date
    }

    /// BEP 38 `similar`: info-hashes of torrents sharing files with this one.
    pub fn similar(&self) -> &[InfoHashV1] {
        &self.similar
    }

    /// BEP 38 `collections`.
    pub fn collections(&self) -> &[String] {
        &self.collections
    }

    /// BEP 5 `nodes`: DHT bootstrap nodes as (host, port).
    pub fn dht_nodes(&self) -> &[(String, u16)] {
        &self.dht_nodes
    }
}
