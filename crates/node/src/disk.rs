//! Disk work off the async threads: a few worker threads, each owning a share of the pieces,
//! so that the writes of a piece, then its hash check, happen in order on one thread while
//! other pieces proceed on the others.
//!
//! The torrent's actor hands jobs to [`DiskPool::submit`], and sends what it submitted with
//! [`DiskPool::flush`] once per pass over its events: each worker gets the jobs of a pass as
//! one message and answers with one message, so a thread wakes once per batch (a read of the
//! sockets brings about 16 blocks), not once per block. Results come back on the channel given
//! to [`DiskPool::new`]. The bytes of writes not yet done are counted
//! ([`DiskPool::pending_bytes`]) so that the actor can stop reading from peers while the disk
//! is behind, and memory stays bounded.
//!
//! A block a peer asked for can often be had without a worker: [`Disk::read_cached`] reads it
//! only if the page cache holds it (`RWF_NOWAIT`), never waiting for the disk.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;

use bytes::Bytes;
use peer_wire::{BlockRef, PieceIndex};
use swarm::PeerKey;

/// What the pool needs of the storage: positional block I/O and piece hash checks.
pub trait Disk: Send + Sync + 'static {
    /// Writes a received block.
    fn write(&self, piece: PieceIndex, offset: u32, data: &[u8]) -> Result<(), DiskError>;
    /// Reads a block to serve.
    fn read(&self, block: BlockRef) -> Result<Bytes, DiskError>;
    /// Hashes a complete piece against the torrent: `true` if it matches.
    fn verify(&self, piece: PieceIndex) -> Result<bool, DiskError>;
    /// Reads a block to serve if that cannot block (its bytes are in memory); `None`: ask a
    /// worker ([`Disk::read`]).
    fn read_cached(&self, block: BlockRef) -> Option<Bytes> {
        let _ = block;
        None
    }
}

/// A failed disk operation.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DiskError {
    /// The disk (or the user's quota) is full: the caller pauses and tries again later.
    #[error("disk full: {0}")]
    Full(String),
    /// Any other I/O failure.
    #[error("{0}")]
    Io(String),
}

/// A job for the pool.
#[derive(Debug)]
pub enum Job {
    /// Write a received block.
    Write {
        /// The piece.
        piece: PieceIndex,
        /// Offset in the piece.
        offset: u32,
        /// The bytes.
        data: Bytes,
    },
    /// Hash a piece whose blocks are all written.
    Verify(PieceIndex),
    /// Read a block a peer asked for.
    Read {
        /// For whom.
        peer: PeerKey,
        /// Which.
        block: BlockRef,
    },
    /// Read blocks back and digest each (SHA-1), for smart banning.
    Digest {
        /// The piece.
        piece: PieceIndex,
        /// Its blocks.
        blocks: Vec<BlockRef>,
    },
}

/// A finished job.
#[derive(Debug)]
pub enum Done {
    /// A write failed (successful writes are not reported).
    WriteFailed {
        /// The piece whose block was lost.
        piece: PieceIndex,
        /// Why.
        error: DiskError,
    },
    /// A hash check.
    Verified {
        /// The piece.
        piece: PieceIndex,
        /// Whether it matched (`Err`: it could not be read).
        result: Result<bool, DiskError>,
    },
    /// A block read for a peer.
    Read {
        /// For whom.
        peer: PeerKey,
        /// Which.
        block: BlockRef,
        /// The bytes.
        result: Result<Bytes, DiskError>,
    },
    /// Block digests (blocks that could not be read are left out).
    Digests {
        /// The piece.
        piece: PieceIndex,
        /// Each block's SHA-1.
        digests: Vec<(BlockRef, [u8; 20])>,
    },
}

/// Worker threads doing [`Job`]s on a [`Disk`].
pub struct DiskPool {
    workers: Vec<mpsc::Sender<Vec<Job>>>,
    /// Jobs submitted and not yet flushed, by worker.
    queued: Vec<Vec<Job>>,
    pending: Arc<AtomicUsize>,
}

impl DiskPool {
    /// `threads` workers (at least one) on `disk`; results go to `done`, a batch at a time.
    pub fn new(
        disk: Arc<dyn Disk>,
        threads: usize,
        done: tokio::sync::mpsc::UnboundedSender<Vec<Done>>,
    ) -> std::io::Result<Self> {
        let pending = Arc::new(AtomicUsize::new(0));
        let mut workers = Vec::new();
        for i in 0..threads.max(1) {
            let (tx, rx) = mpsc::channel::<Vec<Job>>();
            let disk = Arc::clone(&disk);
            let done = done.clone();
            let pending = Arc::clone(&pending);
            std::thread::Builder::new()
                .name(format!("peercdn-disk-{i}"))
                .spawn(move || work(&*disk, &rx, &done, &pending))?;
            workers.push(tx);
        }
        let queued = workers.iter().map(|_| Vec::new()).collect();
        Ok(Self {
            workers,
            queued,
            pending,
        })
    }

    /// Queues a job for the worker that owns its piece, until the next [`DiskPool::flush`].
    pub fn submit(&mut self, job: Job) {
        let piece = match &job {
            Job::Write { piece, data, .. } => {
                self.pending.fetch_add(data.len(), Ordering::Relaxed);
                *piece
            }
            Job::Verify(piece) | Job::Digest { piece, .. } => *piece,
            Job::Read { block, .. } => block.piece,
        };
        let worker = piece.0 as usize % self.workers.len();
        self.queued[worker].push(job);
    }

    /// Hands the queued jobs to the workers, one message each. Jobs after the pool's receiver
    /// is gone are dropped.
    pub fn flush(&mut self) {
        for (worker, queued) in self.workers.iter().zip(&mut self.queued) {
            if queued.is_empty() {
                continue;
            }
            let jobs = std::mem::take(queued);
            if let Err(mpsc::SendError(jobs)) = worker.send(jobs) {
                for job in jobs {
                    if let Job::Write { data, .. } = job {
                        self.pending.fetch_sub(data.len(), Ordering::Relaxed);
                    }
                }
            }
        }
    }

    /// Bytes of writes queued and not yet done.
    pub fn pending_bytes(&self) -> usize {
        self.pending.load(Ordering::Relaxed)
    }
}

fn work(
    disk: &dyn Disk,
    batches: &mpsc::Receiver<Vec<Job>>,
    done: &tokio::sync::mpsc::UnboundedSender<Vec<Done>>,
    pending: &AtomicUsize,
) {
    while let Ok(jobs) = batches.recv() {
        let mut out = Vec::new();
        for job in jobs {
            out.extend(run(disk, job, pending));
        }
        if !out.is_empty() && done.send(out).is_err() {
            return;
        }
    }
}

/// Does one job; `None` for a write that succeeded (not reported).
fn run(disk: &dyn Disk, job: Job, pending: &AtomicUsize) -> Option<Done> {
    Some(match job {
        Job::Write {
            piece,
            offset,
            data,
        } => {
            let result = disk.write(piece, offset, &data);
            pending.fetch_sub(data.len(), Ordering::Relaxed);
            Done::WriteFailed {
                piece,
                error: result.err()?,
            }
        }
        Job::Verify(piece) => Done::Verified {
            piece,
            result: disk.verify(piece),
        },
        Job::Read { peer, block } => Done::Read {
            peer,
            block,
            result: disk.read(block),
        },
        Job::Digest { piece, blocks } => Done::Digests {
            piece,
            digests: blocks
                .into_iter()
                .filter_map(|b| {
                    let data = disk.read(b).ok()?;
                    Some((b, torrent_format::hash::sha1(&data)))
                })
                .collect(),
        },
    })
}
