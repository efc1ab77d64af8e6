//! What can go wrong on disk, and how a caller tells a full disk from everything else.

use std::fmt;
use std::io;
use std::path::PathBuf;

/// A failed storage operation.
///
/// [`StorageError::DiskFull`] is kept apart from [`StorageError::Io`] so that a caller can
/// pause the download and try again once space is back: nothing is lost or corrupted by it
/// (the piece being written is simply not verified).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StorageError {
    /// The file system (or the user's quota) is full: `ENOSPC` or `EDQUOT`.
    #[error(
        "disk full: cannot {op} {}: {source} (free some space, then resume)",
        path.display()
    )]
    DiskFull {
        /// What was being done.
        op: Op,
        /// The file or folder.
        path: PathBuf,
        /// What the OS said.
        source: io::Error,
    },
    /// Any other I/O failure.
    #[error("cannot {op} {}: {source}", path.display())]
    Io {
        /// What was being done.
        op: Op,
        /// The file or folder.
        path: PathBuf,
        /// What the OS said.
        source: io::Error,
    },
    /// Seeding needs every file of the torrent, and this one does not exist.
    #[error("{}: no such file (seeding needs every file of the torrent)", path.display())]
    MissingFile {
        /// The file.
        path: PathBuf,
    },
    /// Seeding needs every file of the torrent at its full size, and this one is shorter.
    #[error("{}: {actual} bytes on disk, the torrent says {expected}", path.display())]
    ShortFile {
        /// The file.
        path: PathBuf,
        /// Its size in the torrent.
        expected: u64,
        /// Its size on disk.
        actual: u64,
    },
    /// A file path of the torrent that would not stay inside the download folder. The
    /// metainfo parser sanitizes paths, so this is a second line of defence that should never
    /// be reached.
    #[error("refusing unsafe file path {path:?} from the torrent")]
    UnsafePath {
        /// The path as the torrent gives it.
        path: String,
    },
    /// A file path of the torrent inside the folder where resume state is kept
    /// ([`RESUME_DIR`](super::resume::RESUME_DIR)): a torrent could otherwise forge another
    /// torrent's resume state.
    #[error(
        "refusing file path {path:?}: {} is reserved for resume state",
        super::resume::RESUME_DIR
    )]
    ReservedPath {
        /// The path as the torrent gives it.
        path: String,
    },
    /// A block outside its piece, or a piece outside the torrent (a caller bug).
    #[error("block at offset {offset} (length {len}) of piece {piece} is out of range")]
    OutOfRange {
        /// The piece.
        piece: u32,
        /// Offset in the piece.
        offset: u32,
        /// Length.
        len: u32,
    },
    /// A write to a piece that the resume state on disk lists (or may list, while one is
    /// being saved). A crash during the write would leave a state that trusts a half-written
    /// piece, so the state must first be saved again without it: [`save_resume`] lists only
    /// verified pieces, and a piece that failed a check is no longer verified.
    ///
    /// [`save_resume`]: super::Storage::save_resume
    #[error(
        "piece {piece} is listed in the saved resume state: save the state again before \
         writing to it"
    )]
    ListedInResumeState {
        /// The piece.
        piece: u32,
    },
    /// A write to a storage opened with [`Mode::Seed`](super::Mode::Seed) (a caller bug).
    #[error("cannot write: the storage was opened read-only, for seeding")]
    ReadOnly,
    /// A v2-only torrent without the piece layer of a file longer than one piece (a torrent
    /// from a magnet link before its piece layers arrived): its pieces cannot be checked one
    /// by one.
    #[error("piece {piece} cannot be checked: the torrent has no piece layer for its file")]
    NoPieceHash {
        /// The piece.
        piece: u32,
    },
}

impl StorageError {
    /// Whether this is [`StorageError::DiskFull`]: pause, and retry once space is back.
    pub fn is_disk_full(&self) -> bool {
        matches!(self, Self::DiskFull { .. })
    }

    /// Wraps an OS error, telling a full disk apart.
    pub(crate) fn io(op: Op, path: impl Into<PathBuf>, source: io::Error) -> Self {
        let path = path.into();
        if is_disk_full(&source) {
            Self::DiskFull { op, path, source }
        } else {
            Self::Io { op, path, source }
        }
    }
}

/// The operation that failed, for error messages ("cannot write /x/y: ...").
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Op {
    /// Creating a folder.
    CreateDir,
    /// Creating or opening a file.
    Open,
    /// Reading a file's size or type.
    Stat,
    /// Growing a file to its size in the torrent (sparse).
    Resize,
    /// Reading.
    Read,
    /// Writing.
    Write,
    /// `fsync`.
    Sync,
    /// Replacing a file by renaming another over it.
    Rename,
}

impl fmt::Display for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::CreateDir => "create folder",
            Self::Open => "open",
            Self::Stat => "read metadata of",
            Self::Resize => "resize",
            Self::Read => "read",
            Self::Write => "write",
            Self::Sync => "sync",
            Self::Rename => "rename",
        })
    }
}

/// `ENOSPC` or `EDQUOT`, by kind or, for errors built from a raw code, by number.
fn is_disk_full(e: &io::Error) -> bool {
    const ENOSPC: i32 = 28;
    const EDQUOT: i32 = 122;
    matches!(
        e.kind(),
        io::ErrorKind::StorageFull | io::ErrorKind::QuotaExceeded
    ) || matches!(e.raw_os_error(), Some(ENOSPC | EDQUOT))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn enospc_and_edquot_are_disk_full_and_other_errors_are_not() {
        for code in [28, 122] {
            let e = StorageError::io(Op::Write, "/x", io::Error::from_raw_os_error(code));
            assert!(e.is_disk_full(), "{e}");
            assert!(e.to_string().starts_with("disk full: cannot write /x: "));
        }
        let e = StorageError::io(Op::Read, "/x", io::Error::from_raw_os_error(5));
        assert!(!e.is_disk_full());
        assert!(e.to_string().starts_with("cannot read /x: "), "{e}");
    }
}
