//! Piece hash checks: SHA-1 for v1 and hybrid torrents, BEP 52 merkle trees for v2-only ones,
//! one piece at a time or many in parallel on worker threads.

use std::io;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use peer_wire::{Bitfield, PieceIndex};
use torrent_format::hash::{sha1, sha256};
use torrent_format::merkle;
use torrent_format::metainfo::Version;

use super::error::{Op, StorageError};
use super::pieces::Ticket;
use super::{Storage, short_file};
use crate::lock;

impl Storage {
    /// Re-hashes `pieces` on `threads` worker threads (at least one: the calling thread
    /// works too) and returns those that are now verified. A piece whose files are missing
    /// or too short, or that cannot be read, is simply not verified. Pieces that lie entirely
    /// in holes of sparse files are not read: their bytes are zeros, compared with the hash
    /// of a zero piece.
    pub fn check_pieces(
        &self,
        pieces: impl IntoIterator<Item = PieceIndex>,
        threads: usize,
    ) -> Bitfield {
        let num_pieces = self.layout.num_pieces();
        let todo: Vec<PieceIndex> = pieces.into_iter().filter(|p| p.0 < num_pieces).collect();
        let next = AtomicUsize::new(0);
        let good = Mutex::new(Bitfield::new(num_pieces));
        let work = || {
            let mut buf = Vec::new();
            while let Some(&piece) = todo.get(next.fetch_add(1, Ordering::Relaxed)) {
                if self.check_one(piece, &mut buf, true).unwrap_or(false) {
                    lock(&good).insert(piece);
                }
            }
        };
        let work = &work;
        let threads = threads.clamp(1, todo.len().max(1));
        std::thread::scope(|scope| {
            for _ in 1..threads {
                let spawned = std::thread::Builder::new()
                    .name("peercdn-check".into())
                    .spawn_scoped(scope, work);
                if spawned.is_err() {
                    break; // the threads that did start, and this one, do the work
                }
            }
            work();
        });
        good.into_inner().unwrap_or_else(|e| e.into_inner())
    }

    /// Checks one piece and records the outcome in the verified set.
    pub(super) fn check_one(
        &self,
        piece: PieceIndex,
        buf: &mut Vec<u8>,
        skip_holes: bool,
    ) -> Result<bool, StorageError> {
        let ticket = lock(&self.table).begin_check(piece);
        let result = self.piece_matches(piece, buf, skip_holes);
        self.end_check(piece, ticket, result)
    }

    /// [`Storage::check_one`] for a piece just written: the prefix hashed as it was written
    /// (see `in_order`) is not read again.
    pub(super) fn check_written(
        &self,
        piece: PieceIndex,
        buf: &mut Vec<u8>,
    ) -> Result<bool, StorageError> {
        let (ticket, running) = {
            let mut table = lock(&self.table);
            let ticket = table.begin_check(piece);
            let running = if table.is_writing(piece) {
                None
            } else {
                table.in_order.take(piece.0)
            };
            (ticket, running)
        };
        let (Some(mut running), Some(expected)) = (running, self.meta.piece_hash_v1(piece)) else {
            return self.check_one(piece, buf, false);
        };
        let result = (|| {
            let size = self.layout.piece_size(piece);
            let next = u64::from(running.next()).min(size);
            buf.clear();
            buf.resize((size - next) as usize, 0);
            self.read_into(self.layout.block_spans(piece, next, size - next), buf)?;
            running.update(buf);
            Ok(running.finish() == expected)
        })();
        self.end_check(piece, ticket, result)
    }

    /// Records the outcome of a check of `piece` that began with `ticket`.
    fn end_check(
        &self,
        piece: PieceIndex,
        ticket: Ticket,
        result: Result<bool, StorageError>,
    ) -> Result<bool, StorageError> {
        let good = matches!(result, Ok(true));
        let files = self
            .layout
            .piece_spans(piece)
            .filter(|s| !s.pad)
            .map(|s| s.file);
        let verified = lock(&self.table).end_check(piece, ticket, good, files);
        result.map(|_| verified)
    }

    /// Whether the bytes of `piece` on disk match the torrent.
    fn piece_matches(
        &self,
        piece: PieceIndex,
        buf: &mut Vec<u8>,
        skip_holes: bool,
    ) -> Result<bool, StorageError> {
        if self.meta.version() == Version::V2 {
            return self.v2_piece_matches(piece, buf);
        }
        let Some(expected) = self.meta.piece_hash_v1(piece) else {
            return Ok(false);
        };
        let size = self.layout.piece_size(piece);
        if skip_holes && self.piece_is_hole(piece)? {
            return Ok(self.zero_hash(size) == expected);
        }
        buf.clear();
        buf.resize(size as usize, 0);
        self.read_into(self.layout.piece_spans(piece), buf)?;
        Ok(sha1(buf) == expected)
    }

    /// BEP 52: a piece of a v2 torrent holds bytes of one file only (files start on piece
    /// boundaries; the rest of a file's last piece is implied padding, not hashed).
    fn v2_piece_matches(&self, piece: PieceIndex, buf: &mut Vec<u8>) -> Result<bool, StorageError> {
        let Some(span) = self.layout.piece_spans(piece).find(|s| !s.pad) else {
            return Ok(false);
        };
        let Some(file) = self.meta.file(span.file) else {
            return Ok(false);
        };
        buf.clear();
        buf.resize(span.len as usize, 0);
        self.read_into(
            self.layout.spans(file.offset + span.file_offset, span.len),
            buf,
        )?;
        let leaves: Vec<[u8; 32]> = buf
            .chunks(merkle::BLOCK_SIZE as usize)
            .map(sha256)
            .collect();
        let piece_length = self.layout.piece_length();
        if file.size <= piece_length {
            // No piece layer: the file's only piece is checked against its root.
            return Ok(file
                .pieces_root
                .is_some_and(|root| merkle::root_from_leaves(&leaves) == root));
        }
        let layer = self
            .meta
            .piece_layer(span.file)
            .ok_or(StorageError::NoPieceHash { piece: piece.0 })?;
        let index = (piece.0 - self.layout.file_pieces(span.file).start) as usize;
        Ok(layer
            .get(index)
            .is_some_and(|h| merkle::piece_hash(&leaves, piece_length) == *h))
    }

    /// Whether every byte of `piece` outside pad files lies in a hole of its file (and so
    /// reads as zero). A file too short to hold its part of the piece is an error.
    fn piece_is_hole(&self, piece: PieceIndex) -> Result<bool, StorageError> {
        for span in self.layout.piece_spans(piece).filter(|s| !s.pad) {
            let path = &self.paths[span.file];
            let handle = self.handle(span.file)?;
            let len = handle
                .metadata()
                .map_err(|e| StorageError::io(Op::Stat, path, e))?
                .len();
            let end = span.file_offset + span.len;
            if len < end {
                let eof = io::Error::from(io::ErrorKind::UnexpectedEof);
                return Err(StorageError::io(Op::Read, path, short_file(eof)));
            }
            // `lseek(SEEK_DATA)`: the next byte of data at or after the offset. File systems
            // without hole support report the offset itself (all data), the safe answer.
            match rustix::fs::seek(&*handle, rustix::fs::SeekFrom::Data(span.file_offset)) {
                Ok(data) if data >= end => {}
                Err(rustix::io::Errno::NXIO) => {} // no data up to the end of the file
                Ok(_) | Err(_) => return Ok(false),
            }
        }
        Ok(true)
    }

    /// SHA-1 of `size` zero bytes, computed once per size.
    fn zero_hash(&self, size: u64) -> [u8; 20] {
        if let Some(&(_, h)) = lock(&self.zero_hashes).iter().find(|(s, _)| *s == size) {
            return h;
        }
        let h = sha1(&vec![0; size as usize]);
        lock(&self.zero_hashes).push((size, h));
        h
    }
}
