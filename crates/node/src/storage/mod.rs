//! One torrent's data on disk: its files, block reads and writes, piece hash checks, and the
//! resume state that lets a restart keep what was verified.
//!
//! [`Storage`] is synchronous and thread-safe (`&self` methods, `Send + Sync`): the runtime
//! calls it from `tokio::task::spawn_blocking` or its own worker threads; this module knows
//! nothing of async. Files are created under the download folder from the metainfo's
//! sanitized paths (checked again here: nothing can land outside the folder), **sparse**
//! (`set_len`, never zero-filled); pad files are never created. Blocks go to disk through the
//! layout's piece ↔ file spans with positional I/O (`pwrite`/`pread`), so threads never share
//! a file offset. At most [`Limits::max_open_files`] handles stay open, least recently used
//! evicted first, so a torrent of 10,000 files does not exhaust descriptors.
//!
//! # Verified pieces
//!
//! The storage keeps the set of verified pieces ([`Storage::verified`]); a download is
//! complete when it holds every piece ([`Storage::is_complete`]). A piece is in the set only
//! if
//! - a hash check of its bytes *as read back from the files* passed ([`Storage::hash_piece`],
//!   [`Storage::check_pieces`]), and no write to that piece started between the moment the
//!   check began and the moment it ended; or
//! - a valid resume state listed it, and every file it touches was on disk, at least as long
//!   as the state recorded, when the storage was opened ([`resume::restore`]).
//!
//! Every write removes its piece from the set *before* touching the disk, so a failed write
//! (a full disk included) never leaves its piece verified.
//!
//! v1 and hybrid torrents are checked with their SHA-1 piece hashes; v2-only torrents with
//! BEP 52's merkle trees (a piece against its file's piece layer, a file of at most one piece
//! against its `pieces root`).
//!
//! # Crash safety: why a piece in the resume state is on disk
//!
//! [`Storage::save_resume`] is the one safe way to write resume state ("data before state"):
//! 1. It takes a snapshot `S` of the verified set, then flushes: `fdatasync` on every file
//!    written since the previous flush or holding a piece verified since then, and `fsync` on
//!    every folder in which an entry was created. Flushes are serialized, so an earlier flush
//!    that took some of those files has *finished* before this one starts.
//! 2. Every piece in `S` had all of its writes completed before its check ended (a check that
//!    overlaps a write cannot verify), and a write marks its files for the next flush only
//!    once it has completed; the piece was verified before the snapshot. So every byte of
//!    every piece in `S` was written before this flush (or an earlier, finished one) synced
//!    its file. If any sync fails, no state is written (and the pieces written since the last
//!    flush leave the verified set: their data may be lost).
//! 3. Only then is the state written: to a temporary file in the same folder, `fsync`ed,
//!    renamed over the old state, and the folder `fsync`ed. After a crash the path holds the
//!    old state or the new one, whole. A torn or altered file fails its SHA-256 check and is
//!    ignored, never trusted.
//! 4. While a state on disk lists a piece, nothing writes to that piece: from the snapshot
//!    until the new state is on disk, writes to the pieces of both the old and the new state
//!    are refused ([`StorageError::ListedInResumeState`]); afterwards, those of the new one.
//!    [`resume::restore`] starts with the pieces of the state it was given. So the bytes a
//!    state vouches for never change under it, even for a piece it lists whose file was
//!    later deleted (that piece is re-downloaded only after a state without it is saved).
//!
//! So at every instant the state on disk lists only pieces whose data is already on stable
//! storage, and after a crash or `kill -9`, [`resume::restore`] trusts exactly those (if their
//! files are still there), re-hashes every other piece that has bytes on disk, and reports no
//! piece that was neither listed by a valid state nor re-hashed good. A caller that drives
//! the steps itself must keep the same order: [`Storage::flush`], then
//! [`ResumeState::save`](resume::ResumeState::save) of a state listing only pieces verified
//! *before* the flush began, and it must not write to the pieces a state on disk lists.
//!
//! Like libtorrent, resume trusts that nothing but this storage wrote to the files between
//! two runs; a caller that cannot assume that restores without a state (a full re-check).
//!
//! # A full disk
//!
//! `ENOSPC` and `EDQUOT` become [`StorageError::DiskFull`]: the block was not (entirely)
//! written, its piece is not verified, nothing else changed. The caller pauses and writes the
//! block again once there is space.
//!
//! # Not done
//!
//! BEP 47 symlink entries are not created (their target would need the same checks as file
//! paths); their files hold no bytes of the torrent, so no piece depends on them. In hybrid
//! torrents only the SHA-1 hashes are checked, not the v2 merkle trees as well.

mod error;
mod files;
mod hashing;
mod in_order;
mod pieces;
pub mod resume;

use std::collections::BTreeSet;
use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use peer_wire::{Bitfield, PieceIndex};
use torrent_format::Metainfo;
use torrent_format::layout::Layout;
use torrent_format::metainfo::Version;

pub use error::{Op, StorageError};
pub use resume::ResumeState;

use crate::lock;
use files::{Found, Handles};
use in_order::Claim;
use pieces::PieceTable;

/// How the files are opened.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Downloading: missing folders and files are created (sparse, at their full size);
    /// existing files are opened as they are, never truncated.
    Download,
    /// Seeding: every file must already exist at least at its size in the torrent
    /// ([`StorageError::MissingFile`], [`StorageError::ShortFile`] otherwise). Files are
    /// opened read-only and writes are refused.
    Seed,
}

/// Limits on what one torrent's storage may hold.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Most file handles kept open at once (at least 1). Default 64.
    pub max_open_files: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self { max_open_files: 64 }
    }
}

/// One torrent's files on disk. See the [module docs](self) for what "verified" means and
/// the crash-safety argument.
#[derive(Debug)]
pub struct Storage {
    meta: Metainfo,
    layout: Layout,
    root: PathBuf,
    /// On-disk path of every file, in torrent order (pad files too, never created).
    paths: Vec<PathBuf>,
    mode: Mode,
    /// What was at each file's path before `open` touched anything.
    found: Vec<Found>,
    handles: Mutex<Handles>,
    table: Mutex<PieceTable>,
    /// Folders in which an entry was created and that no flush has synced yet.
    unsynced_dirs: Mutex<BTreeSet<PathBuf>>,
    /// Serializes flushes (see the crash-safety argument, step 1).
    flush_lock: Mutex<()>,
    /// SHA-1 of an all-zero piece, by size (at most two sizes: full and last).
    zero_hashes: Mutex<Vec<(u64, [u8; 20])>>,
}

impl Storage {
    /// Opens the torrent's files under `download_dir` with the default [`Limits`]. In
    /// [`Mode::Download`], creates `download_dir`, the folders and the files that are missing.
    /// No piece is verified yet: call [`resume::restore`] next.
    pub fn open(meta: &Metainfo, download_dir: &Path, mode: Mode) -> Result<Self, StorageError> {
        Self::open_with_limits(meta, download_dir, mode, Limits::default())
    }

    /// [`Storage::open`] with explicit [`Limits`].
    pub fn open_with_limits(
        meta: &Metainfo,
        download_dir: &Path,
        mode: Mode,
        limits: Limits,
    ) -> Result<Self, StorageError> {
        let root = download_dir.to_path_buf();
        let paths = files::file_paths(meta, &root)?;
        let mut created_in = BTreeSet::new();
        let found = files::prepare(meta, &root, &paths, mode, &mut created_in)?;
        let layout = Layout::new(meta);
        Ok(Self {
            table: Mutex::new(PieceTable::new(layout.num_pieces())),
            meta: meta.clone(),
            layout,
            root,
            paths,
            mode,
            found,
            handles: Mutex::new(Handles::new(limits.max_open_files)),
            unsynced_dirs: Mutex::new(created_in),
            flush_lock: Mutex::new(()),
            zero_hashes: Mutex::new(Vec::new()),
        })
    }

    /// The torrent.
    pub fn metainfo(&self) -> &Metainfo {
        &self.meta
    }

    /// The torrent's piece ↔ file layout.
    pub fn layout(&self) -> &Layout {
        &self.layout
    }

    /// The download folder.
    pub fn download_dir(&self) -> &Path {
        &self.root
    }

    /// How the files were opened.
    pub fn mode(&self) -> Mode {
        self.mode
    }

    /// Where file `index` (in [`Metainfo::files`] order) lives on disk.
    pub fn file_path(&self, index: usize) -> Option<&Path> {
        self.paths.get(index).map(PathBuf::as_path)
    }

    /// Writes `data` at `offset` of `piece` (it may cross file boundaries; bytes that fall in
    /// pad files are dropped). The piece stops being verified, whatever the outcome.
    ///
    /// Errors: [`StorageError::DiskFull`] (pause and retry later), [`StorageError::Io`],
    /// [`StorageError::OutOfRange`] if the block does not fit in the piece,
    /// [`StorageError::ReadOnly`] in [`Mode::Seed`], [`StorageError::ListedInResumeState`] if
    /// the resume state on disk lists the piece (save it again first; see the module docs).
    pub fn write_block(
        &self,
        piece: PieceIndex,
        offset: u32,
        data: &[u8],
    ) -> Result<(), StorageError> {
        if self.mode == Mode::Seed {
            return Err(StorageError::ReadOnly);
        }
        let len = u32::try_from(data.len()).map_err(|_| StorageError::OutOfRange {
            piece: piece.0,
            offset,
            len: u32::MAX,
        })?;
        self.check_range(piece, offset, len)?;
        // Only v1 piece hashes (v1 and hybrid torrents) are computed as written; blocks that
        // touch pad files are read back (see `in_order`).
        let hashable = self.meta.version() != Version::V2
            && !self
                .layout
                .block_spans(piece, u64::from(offset), u64::from(len))
                .any(|s| s.pad);
        let claim = {
            let mut table = lock(&self.table);
            let alone = hashable && !table.is_writing(piece);
            if !table.begin_write(piece) {
                return Err(StorageError::ListedInResumeState { piece: piece.0 });
            }
            table.in_order.begin_write(piece.0, offset, alone)
        };
        let mut touched = Vec::new();
        let result = self.write_spans(piece, offset, data, &mut touched);
        let fed = match claim {
            Claim::Hash(mut running) if result.is_ok() => {
                running.update(data);
                Some(Some(running))
            }
            Claim::Hash(_) => Some(None),
            Claim::None => None,
        };
        // Files are marked for the next flush only now that the write is over (crash-safety
        // argument, step 2); a failed write marks them too, in case it wrote some bytes.
        let mut table = lock(&self.table);
        table.end_write(piece, touched);
        if let Some(fed) = fed {
            table.in_order.release(piece.0, fed);
        }
        result
    }

    /// Reads `len` bytes at `offset` of `piece` (pad bytes read as zeros). Does not check
    /// that the piece is verified: serving only verified pieces is the caller's policy.
    pub fn read_block(
        &self,
        piece: PieceIndex,
        offset: u32,
        len: u32,
    ) -> Result<Vec<u8>, StorageError> {
        self.check_range(piece, offset, len)?;
        let mut buf = vec![0; len as usize];
        self.read_into(
            self.layout
                .block_spans(piece, u64::from(offset), u64::from(len)),
            &mut buf,
        )?;
        Ok(buf)
    }

    /// [`Storage::read_block`] without waiting for the disk: `None` unless every byte is in
    /// the page cache (`preadv2` with `RWF_NOWAIT`) and every file it touches is open already.
    /// For serving from the async threads; a `None` goes to a disk worker.
    pub fn read_block_cached(&self, piece: PieceIndex, offset: u32, len: u32) -> Option<Vec<u8>> {
        self.check_range(piece, offset, len).ok()?;
        let mut buf = vec![0; len as usize];
        let mut at = 0usize;
        for span in self
            .layout
            .block_spans(piece, u64::from(offset), u64::from(len))
        {
            let end = at + span.len as usize;
            let out = buf.get_mut(at..end)?;
            at = end;
            if span.pad {
                continue; // zeros
            }
            let handle = lock(&self.handles).get(span.file)?;
            let read = rustix::io::preadv2(
                &*handle,
                &mut [std::io::IoSliceMut::new(out)],
                span.file_offset,
                rustix::io::ReadWriteFlags::NOWAIT,
            );
            // EAGAIN (not cached), a short read (partly cached, or the file shrank), or a
            // kernel without RWF_NOWAIT (EOPNOTSUPP): the worker reads it.
            if read.ok()? != span.len as usize {
                return None;
            }
        }
        Some(buf)
    }

    /// Reads `piece` back from the files and checks it against the torrent's hash. `Ok(true)`:
    /// the piece is now verified. `Ok(false)`: it is not (its bytes do not match, or a write to
    /// it overlapped the check). An error (a missing or short file, a failed read) leaves it
    /// not verified too.
    pub fn hash_piece(&self, piece: PieceIndex) -> Result<bool, StorageError> {
        self.check_range(piece, 0, 0)?;
        let mut buf = Vec::new();
        self.check_written(piece, &mut buf)
    }

    /// A copy of the verified set.
    pub fn verified(&self) -> Bitfield {
        lock(&self.table).verified().clone()
    }

    /// Whether every piece is verified: the download is complete.
    pub fn is_complete(&self) -> bool {
        lock(&self.table).verified().is_full()
    }

    /// Makes every write so far durable: `fdatasync` on each file written (or holding a piece
    /// verified) since the last flush, `fsync` on each folder where this storage created an
    /// entry. Flushes run one at a time.
    ///
    /// On failure the pieces written since the previous flush to a file that failed to sync
    /// leave the verified set (their data may be lost even if the page cache still shows it;
    /// that file's cached pages are dropped so that a later check reads the disk), and the
    /// file stays due for the next flush. Check [`Storage::verified`] afterwards.
    pub fn flush(&self) -> Result<(), StorageError> {
        let _serial = lock(&self.flush_lock);
        self.flush_locked()
    }

    /// Checks that a block lies inside its piece.
    fn check_range(&self, piece: PieceIndex, offset: u32, len: u32) -> Result<(), StorageError> {
        let fits = piece.0 < self.layout.num_pieces()
            && u64::from(offset) + u64::from(len) <= self.layout.piece_size(piece);
        if fits {
            Ok(())
        } else {
            Err(StorageError::OutOfRange {
                piece: piece.0,
                offset,
                len,
            })
        }
    }

    fn write_spans(
        &self,
        piece: PieceIndex,
        offset: u32,
        data: &[u8],
        touched: &mut Vec<usize>,
    ) -> Result<(), StorageError> {
        let mut at = 0usize;
        for span in self
            .layout
            .block_spans(piece, u64::from(offset), data.len() as u64)
        {
            // Spans add up to the block, which `check_range` fitted in the piece.
            let end = at + span.len as usize;
            let chunk = data.get(at..end).ok_or(StorageError::OutOfRange {
                piece: piece.0,
                offset,
                len: data.len() as u32,
            })?;
            at = end;
            if span.pad {
                continue;
            }
            let handle = self.handle(span.file)?;
            touched.push(span.file);
            handle
                .write_all_at(chunk, span.file_offset)
                .map_err(|e| StorageError::io(Op::Write, &self.paths[span.file], e))?;
        }
        Ok(())
    }

    /// Reads the bytes of `spans`, back to back, into `buf` (exactly their total length);
    /// pad spans are left as they are in `buf` (callers pass zeros).
    fn read_into(
        &self,
        spans: torrent_format::layout::Spans<'_>,
        buf: &mut [u8],
    ) -> Result<(), StorageError> {
        let mut at = 0usize;
        for span in spans {
            let end = at + span.len as usize;
            let Some(out) = buf.get_mut(at..end) else {
                break;
            };
            at = end;
            if span.pad {
                out.fill(0);
                continue;
            }
            let path = &self.paths[span.file];
            let handle = self.handle(span.file)?;
            handle
                .read_exact_at(out, span.file_offset)
                .map_err(|e| StorageError::io(Op::Read, path, short_file(e)))?;
        }
        Ok(())
    }

    /// The open handle of file `index`, opening it if it is not cached.
    fn handle(&self, index: usize) -> Result<Arc<File>, StorageError> {
        if let Some(handle) = lock(&self.handles).get(index) {
            return Ok(handle);
        }
        // Opened without the lock: another thread may open the same file meanwhile; the
        // cache keeps one of the two.
        let file = files::open_existing(&self.paths[index], self.mode)?;
        Ok(lock(&self.handles).insert(index, file))
    }

    fn flush_locked(&self) -> Result<(), StorageError> {
        let (pieces, files) = lock(&self.table).take_dirty();
        let dirs = std::mem::take(&mut *lock(&self.unsynced_dirs));
        let mut first_error = None;
        for file in files {
            let path = &self.paths[file];
            let synced = self.handle(file).and_then(|h| {
                h.sync_data().map_err(|e| {
                    // Best effort: drop the cached pages so that a later check reads what
                    // actually reached the disk (after a failed writeback Linux may keep
                    // showing data it has lost).
                    let _ = rustix::fs::fadvise(&*h, 0, None, rustix::fs::Advice::DontNeed);
                    StorageError::io(Op::Sync, path, e)
                })
            });
            if let Err(e) = synced {
                let range = self.layout.file_pieces(file);
                let lost: Vec<u32> = pieces.range(range.start..range.end).copied().collect();
                // A file deleted behind our back has nothing left to sync: retrying would
                // fail every flush from now on.
                let gone = matches!(&e, StorageError::Io { op: Op::Open, source, .. }
                    if source.kind() == std::io::ErrorKind::NotFound);
                lock(&self.table).sync_failed(file, &lost, !gone);
                first_error.get_or_insert(e);
            }
        }
        let mut failed_dirs = BTreeSet::new();
        for dir in dirs {
            if let Err(e) = File::open(&dir).and_then(|d| d.sync_all()) {
                first_error.get_or_insert(StorageError::io(Op::Sync, &dir, e));
                failed_dirs.insert(dir);
            }
        }
        lock(&self.unsynced_dirs).extend(failed_dirs);
        first_error.map_or(Ok(()), Err)
    }
}

/// `read_exact_at`'s end-of-file error, with a message a user can act on.
fn short_file(e: std::io::Error) -> std::io::Error {
    if e.kind() == std::io::ErrorKind::UnexpectedEof {
        std::io::Error::new(e.kind(), "the file is shorter than the torrent says")
    } else {
        e
    }
}
