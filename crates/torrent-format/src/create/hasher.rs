//! Reading the files and hashing every piece, spread over a rayon pool.
//!
//! The piece range is cut into jobs of about [`JOB_BYTES`]; jobs are independent, so any thread
//! may take any job and results are put back in piece order. A job reads its bytes of the stream
//! in [`CHUNK_BYTES`] chunks (one positioned read per file per chunk, so small pieces do not mean
//! small reads) and hashes each chunk while it is still in cache: SHA-1 per piece for v1,
//! SHA-256 per 16 KiB block for v2, folded into one merkle hash per piece.

use std::fs::File;
use std::io;
use std::ops::Range;
use std::sync::atomic::{AtomicU64, Ordering};

use rayon::prelude::*;
use sha1::{Digest, Sha1};

use super::layout::Layout;
use super::walk::InputFile;
use super::{CreateError, Progress};
use crate::hash::sha256;
use crate::merkle::{self, BLOCK_SIZE};

/// Per-piece hashes, in piece order.
#[derive(Debug, Default)]
pub(super) struct PieceHashes {
    /// SHA-1 of each piece of the stream (empty unless v1 was asked for).
    pub(super) v1: Vec<[u8; 20]>,
    /// For each piece: its merkle hash if its file is longer than one piece, else the file's
    /// `pieces root` (empty unless v2 was asked for).
    pub(super) v2: Vec<[u8; 32]>,
}

/// What to compute.
pub(super) struct Task<'a> {
    pub(super) layout: &'a Layout,
    pub(super) files: &'a [InputFile],
    pub(super) v1: bool,
    pub(super) v2: bool,
    pub(super) threads: Option<usize>,
    pub(super) progress: &'a (dyn Fn(Progress) + Sync),
}

impl Task<'_> {
    pub(super) fn run(&self) -> Result<PieceHashes, CreateError> {
        let total_bytes: u64 = self.files.iter().map(|f| f.length).sum();
        let done = AtomicU64::new(0);
        let per_job = (JOB_BYTES / self.layout.piece_length).max(1);
        let jobs: Vec<Range<u64>> = (0..self.layout.num_pieces.div_ceil(per_job))
            .map(|j| j * per_job..((j + 1) * per_job).min(self.layout.num_pieces))
            .collect();
        let buf_len = usize::try_from(CHUNK_BYTES.min(self.layout.stream_len))
            .expect("CHUNK_BYTES fits in usize");
        let run = |buf: &mut Vec<u8>, job: &Range<u64>| {
            self.hash_job(job.clone(), buf, &done, total_bytes)
        };
        let results: Vec<PieceHashes> = match self.threads {
            Some(1) => {
                let mut buf = vec![0u8; buf_len];
                jobs.iter()
                    .map(|job| run(&mut buf, job))
                    .collect::<Result<_, _>>()?
            }
            Some(n) if n > 1 => {
                let pool = rayon::ThreadPoolBuilder::new()
                    .num_threads(n)
                    .build()
                    .map_err(|e| CreateError::ThreadPool {
                        message: e.to_string(),
                    })?;
                pool.install(|| {
                    jobs.par_iter()
                        .map_init(|| vec![0u8; buf_len], run)
                        .collect::<Result<_, _>>()
                })?
            }
            _ => jobs
                .par_iter()
                .map_init(|| vec![0u8; buf_len], run)
                .collect::<Result<_, _>>()?,
        };
        // A last call from the caller's thread, so the final report is always complete even
        // though earlier calls from different threads may arrive out of order.
        (self.progress)(Progress {
            bytes_hashed: total_bytes,
            total_bytes,
        });
        let mut out = PieceHashes::default();
        for r in results {
            out.v1.extend(r.v1);
            out.v2.extend(r.v2);
        }
        Ok(out)
    }

    /// Hashes pieces `pieces` of the stream.
    fn hash_job(
        &self,
        pieces: Range<u64>,
        buf: &mut [u8],
        done: &AtomicU64,
        total_bytes: u64,
    ) -> Result<PieceHashes, CreateError> {
        let layout = self.layout;
        let pl = layout.piece_length;
        let segs = &layout.segments;
        let start = pieces.start * pl;
        let end = (pieces.end * pl).min(layout.stream_len);
        let n = usize::try_from(pieces.end - pieces.start).unwrap_or(0);
        let mut out = PieceHashes {
            v1: Vec::with_capacity(if self.v1 { n } else { 0 }),
            v2: Vec::with_capacity(if self.v2 { n } else { 0 }),
        };
        let mut sha1 = Sha1::new();
        let mut leaves: Vec<[u8; 32]> = Vec::new();
        // Length of the file the current piece's data comes from (v2 pieces hold one file).
        let mut piece_file_len = 0u64;
        let mut open: Option<(usize, File)> = None;
        let mut seg = layout.segment_at(start);
        let mut pos = start;
        while pos < end {
            let chunk_end = (pos + CHUNK_BYTES).min(end);
            let chunk = &mut buf[..to_usize(chunk_end - pos)];

            // Fill: one read per file per chunk; padding is zeros (only hashed by v1).
            let mut file_bytes = 0u64;
            let mut i = seg;
            while i < segs.len() && segs[i].start < chunk_end {
                let s = segs[i];
                let a = s.start.max(pos);
                let b = s.end().min(chunk_end);
                let dst = &mut chunk[to_usize(a - pos)..to_usize(b - pos)];
                match s.file {
                    Some(f) => {
                        self.read(&mut open, f, a - s.start, dst)?;
                        file_bytes += b - a;
                    }
                    None if self.v1 => dst.fill(0),
                    None => {}
                }
                i += 1;
            }

            // Hash: walk the runs where segment, piece and chunk all stay the same.
            let mut p = pos;
            while p < chunk_end {
                while segs[seg].end() <= p {
                    seg += 1;
                }
                let s = segs[seg];
                let piece_end = ((p / pl + 1) * pl).min(layout.stream_len);
                let q = s.end().min(piece_end).min(chunk_end);
                let data = &chunk[to_usize(p - pos)..to_usize(q - pos)];
                if self.v1 {
                    sha1.update(data);
                }
                if self.v2
                    && let Some(f) = s.file
                {
                    // `p` is 16 KiB-aligned within the file: files start on piece boundaries
                    // in the aligned stream, and chunks and pieces are multiples of 16 KiB.
                    // So only a file's last block is short.
                    piece_file_len = self.files[f].length;
                    leaves.extend(data.chunks(BLOCK_SIZE as usize).map(sha256));
                }
                p = q;
                if p == piece_end {
                    if self.v1 {
                        out.v1.push(sha1.finalize_reset().into());
                    }
                    if self.v2 {
                        out.v2.push(if piece_file_len <= pl {
                            merkle::root_from_leaves(&leaves)
                        } else {
                            merkle::piece_hash(&leaves, pl)
                        });
                        leaves.clear();
                    }
                }
            }

            let so_far = done.fetch_add(file_bytes, Ordering::Relaxed) + file_bytes;
            (self.progress)(Progress {
                bytes_hashed: so_far,
                total_bytes,
            });
            pos = chunk_end;
        }
        Ok(out)
    }

    /// Reads `dst.len()` bytes of file `f` at `offset`, reusing the job's open handle.
    fn read(
        &self,
        open: &mut Option<(usize, File)>,
        f: usize,
        offset: u64,
        dst: &mut [u8],
    ) -> Result<(), CreateError> {
        let path = &self.files[f].disk_path;
        if open.as_ref().is_none_or(|(i, _)| *i != f) {
            *open = Some((f, File::open(path).map_err(|e| CreateError::io(path, e))?));
        }
        let (_, file) = open.as_ref().expect("set just above");
        read_exact_at(file, dst, offset).map_err(|e| {
            if e.kind() == io::ErrorKind::UnexpectedEof {
                CreateError::FileChanged { path: path.clone() }
            } else {
                CreateError::io(path, e)
            }
        })
    }
}

/// Positioned read where the platform has one; each job owns its handles, so a seek + read
/// is equally correct elsewhere.
fn read_exact_at(file: &File, buf: &mut [u8], offset: u64) -> io::Result<()> {
    #[cfg(unix)]
    {
        std::os::unix::fs::FileExt::read_exact_at(file, buf, offset)
    }
    #[cfg(not(unix))]
    {
        use std::io::{Read, Seek, SeekFrom};
        let mut f = file;
        f.seek(SeekFrom::Start(offset))?;
        f.read_exact(buf)
    }
}

/// Chunk-relative offsets are below [`CHUNK_BYTES`].
fn to_usize(n: u64) -> usize {
    usize::try_from(n).expect("chunk offsets are below CHUNK_BYTES")
}

/// Bytes of the stream per job: small enough to balance well across threads, large enough that
/// per-job costs (opening a file, allocating result vectors) vanish.
const JOB_BYTES: u64 = 4 << 20;

/// Bytes read per system call: large, but small enough to stay in L2 cache until hashed.
const CHUNK_BYTES: u64 = 1 << 20;
