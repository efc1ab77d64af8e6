//! Resume state: which pieces were verified, saved so that a restart (after a clean exit, a
//! crash or `kill -9`) keeps them without re-hashing, and never trusts anything else.
//!
//! The file is `PCDNRSM1` (8 bytes), a canonical bencode dictionary, then the SHA-256 of
//! everything before it (32 bytes). The dictionary holds `version` (1), `info hash v1` and/or
//! `info hash v2`, `num pieces`, `pieces` (the verified set, as a BEP 3 bitfield) and
//! `file sizes` (each file's length on disk when the state was saved, 0 when absent). A file
//! that is truncated, altered, too large, or for another torrent is rejected: the caller then
//! restores as if there were no state, re-hashing what is on disk.
//!
//! The order that makes the state trustworthy, and why, is in the
//! [storage module docs](super#crash-safety-why-a-piece-in-the-resume-state-is-on-disk):
//! [`Storage::save_resume`] follows it.
//!
//! ```no_run
//! use peercdn::storage::{Mode, Storage, resume};
//! use torrent_format::Metainfo;
//!
//! let meta = Metainfo::from_bytes(&std::fs::read("x.torrent")?)?;
//! let dir = std::path::Path::new("downloads");
//! let state_path = resume::default_path(dir, &meta.info_hashes());
//! let state = resume::load(&state_path, &meta);
//! let storage = Storage::open(&meta, dir, Mode::Download)?;
//! let restored = resume::restore(&storage, state.as_ref(), 2);
//! println!("{} pieces trusted, {} re-hashed", restored.trusted, restored.rechecked);
//! // Saved again at once: pieces the old state listed but that were not trusted can then be
//! // written.
//! storage.save_resume(&state_path)?;
//! // ... write blocks, hash pieces, `save_resume` now and then and at exit ...
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use peer_wire::{Bitfield, PieceIndex};
use torrent_format::bencode::{self, DecodeOptions, OwnedValue};
use torrent_format::hash::sha256;
use torrent_format::{InfoHashV1, InfoHashV2, InfoHashes, Metainfo};

use super::Storage;
use super::error::{Op, StorageError};
use super::files::Found;
use crate::lock;

/// The folder, directly under a download folder, that [`default_path`] puts resume state in.
/// [`Storage::open`] refuses torrents whose files would land in it, so that a torrent cannot
/// forge another one's state.
pub const RESUME_DIR: &str = ".peercdn";

/// Largest resume file read, in bytes (a torrent at the metainfo limit of 2^21 pieces needs
/// 256 KiB of bitfield; the rest is about 12 bytes per file).
pub const MAX_RESUME_LEN: u64 = 64 << 20;

const MAGIC: &[u8; 8] = b"PCDNRSM1";
const FORMAT_VERSION: i64 = 1;
const CHECKSUM_LEN: usize = 32;

/// What a resume file holds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResumeState {
    /// The torrent's info-hashes.
    pub info_hashes: InfoHashes,
    /// The pieces verified, and on disk, when the state was saved.
    pub pieces: Bitfield,
    /// Each file's length on disk when the state was saved (in [`Metainfo::files`] order; 0
    /// for pad files and missing files).
    pub file_sizes: Vec<u64>,
}

/// Why a resume file was not used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ResumeError {
    /// It could not be read (a missing file is [`io::ErrorKind::NotFound`]).
    #[error("cannot read resume state {}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// What the OS said.
        source: io::Error,
    },
    /// It is truncated, altered, or not a resume file.
    #[error("resume state is corrupt: {0}")]
    Corrupt(&'static str),
    /// It is valid, but for another torrent.
    #[error("resume state is for another torrent")]
    OtherTorrent,
}

/// The outcome of [`restore`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Restored {
    /// The verified pieces: the starting bitfield.
    pub have: Bitfield,
    /// Pieces taken from the resume state without hashing.
    pub trusted: u32,
    /// Pieces re-hashed (good or bad).
    pub rechecked: u32,
}

/// Where the state of the torrent with `hashes` goes under `download_dir`:
/// `<download_dir>/.peercdn/<info-hash>.resume` (the v1 info-hash in hex, or the v2 one for
/// v2-only torrents).
pub fn default_path(download_dir: &Path, hashes: &InfoHashes) -> PathBuf {
    let name = match (hashes.v1, hashes.v2) {
        (Some(v1), _) => v1.to_hex(),
        (None, Some(v2)) => v2.to_hex(),
        (None, None) => "unknown".to_owned(),
    };
    download_dir.join(RESUME_DIR).join(format!("{name}.resume"))
}

/// The state saved at `path` for `meta`, or `None` if there is none or it cannot be trusted
/// (see [`try_load`] for the reason).
pub fn load(path: &Path, meta: &Metainfo) -> Option<ResumeState> {
    try_load(path, meta).ok()
}

/// The state saved at `path` for `meta`, or why it cannot be used.
pub fn try_load(path: &Path, meta: &Metainfo) -> Result<ResumeState, ResumeError> {
    let io_error = |source| ResumeError::Io {
        path: path.to_path_buf(),
        source,
    };
    let mut bytes = Vec::new();
    File::open(path)
        .and_then(|f| f.take(MAX_RESUME_LEN + 1).read_to_end(&mut bytes))
        .map_err(io_error)?;
    if bytes.len() as u64 > MAX_RESUME_LEN {
        return Err(ResumeError::Corrupt("file too large"));
    }
    let state = ResumeState::decode(&bytes)?;
    if !state.matches(meta) {
        return Err(ResumeError::OtherTorrent);
    }
    Ok(state)
}

/// Decides the starting set of verified pieces of a storage just opened, and records it in
/// the storage. Call it right after [`Storage::open`]: it judges files by what `open` found
/// before it created anything.
///
/// - A piece listed in `state` (if the state matches the torrent) is trusted without hashing
///   when every file it touches existed with at least the length the state recorded.
/// - Every other piece whose bytes all exist on disk (files present and long enough) is
///   re-hashed on `threads` threads.
/// - The rest (files missing or short) is not verified.
///
/// Without a state this is a full re-check of what exists, as for a new seed.
///
/// Until the state is saved again ([`Storage::save_resume`]), writes to every piece that
/// `state` lists are refused ([`StorageError::ListedInResumeState`]): a piece it lists but
/// that was not trusted (its file was deleted or cut) must not be rewritten while a crash
/// would bring the old state back. Save once after restoring, then download.
pub fn restore(storage: &Storage, state: Option<&ResumeState>, threads: usize) -> Restored {
    let state = state.filter(|s| s.matches(&storage.meta));
    let layout = &storage.layout;
    let found = |file: usize| match storage.found.get(file) {
        Some(&Found::Len(len)) => Some(len),
        _ => None,
    };
    let mut trusted = Vec::new();
    let mut recheck = Vec::new();
    for piece in (0..layout.num_pieces()).map(PieceIndex) {
        let spans = || layout.piece_spans(piece).filter(|s| !s.pad);
        let listed = state.filter(|s| s.pieces.has(piece));
        let trustable = listed.is_some_and(|s| {
            spans().all(|span| {
                let recorded = s.file_sizes.get(span.file).copied().unwrap_or(0);
                found(span.file).is_some_and(|len| len >= recorded)
                    && recorded >= span.file_offset + span.len
            })
        });
        if trustable {
            trusted.push(piece);
        } else if spans()
            .all(|span| found(span.file).is_some_and(|len| len >= span.file_offset + span.len))
        {
            recheck.push(piece);
        }
    }
    let trusted = {
        let mut table = lock(&storage.table);
        if let Some(s) = state {
            table.listed_exactly(s.pieces.clone());
        }
        trusted.into_iter().filter(|&p| table.trust(p)).count() as u32
    };
    let rechecked = recheck.len() as u32;
    storage.check_pieces(recheck, threads);
    Restored {
        have: storage.verified(),
        trusted,
        rechecked,
    }
}

impl Storage {
    /// Saves resume state to `path` safely: snapshots the verified set, [flushes](Self::flush)
    /// every file, and only then writes the state (temporary file, `fsync`, rename, `fsync`
    /// of the folder). See the module docs for why every piece it lists is on disk. Returns
    /// the state written. If the flush fails, nothing is written and the previous state stays.
    pub fn save_resume(&self, path: &Path) -> Result<ResumeState, StorageError> {
        let _serial = lock(&self.flush_lock);
        let (pieces, listed_before) = {
            let mut table = lock(&self.table);
            let pieces = table.verified().clone();
            let before = table.listed().clone();
            // From now until the new state is on disk, either state may be there: writes to
            // the pieces of both are refused.
            table.listing(&pieces);
            (pieces, before)
        };
        if let Err(e) = self.flush_locked() {
            // No state was written: the old one is still the one on disk.
            lock(&self.table).listed_exactly(listed_before);
            return Err(e);
        }
        let file_sizes = self
            .meta
            .files()
            .zip(&self.paths)
            .map(|(f, path)| {
                if f.attributes.pad {
                    0
                } else {
                    fs::metadata(path).map_or(0, |m| m.len())
                }
            })
            .collect();
        let state = ResumeState {
            info_hashes: self.meta.info_hashes(),
            pieces,
            file_sizes,
        };
        state.save(path)?;
        lock(&self.table).listed_exactly(state.pieces.clone());
        Ok(state)
    }
}

impl ResumeState {
    /// Every piece of `meta` verified, every file as long as `meta` says: for data that the
    /// caller has just hashed into `meta` itself (a torrent it created from the files), which
    /// [`restore`] then takes without hashing it again. A file shorter than `meta` says is
    /// still not trusted.
    pub fn complete(meta: &Metainfo) -> Self {
        Self {
            info_hashes: meta.info_hashes(),
            pieces: Bitfield::full(meta.num_pieces()),
            file_sizes: meta
                .files()
                .map(|f| if f.attributes.pad { 0 } else { f.size })
                .collect(),
        }
    }

    /// Whether this state describes `meta`: same info-hashes, piece count and file count.
    pub fn matches(&self, meta: &Metainfo) -> bool {
        self.info_hashes == meta.info_hashes()
            && self.pieces.len() == meta.num_pieces()
            && self.file_sizes.len() == meta.num_files()
    }

    /// The file's bytes.
    pub fn encode(&self) -> Vec<u8> {
        let mut dict = OwnedValue::dict()
            .with("version", OwnedValue::Int(FORMAT_VERSION))
            .with("num pieces", OwnedValue::Int(i64::from(self.pieces.len())))
            .with("pieces", OwnedValue::bytes(self.pieces.as_bytes()))
            .with(
                "file sizes",
                OwnedValue::List(
                    self.file_sizes
                        .iter()
                        // File sizes are below 2^48 (metainfo limit) or read from disk (< 2^63).
                        .map(|&s| OwnedValue::Int(i64::try_from(s).unwrap_or(i64::MAX)))
                        .collect(),
                ),
            );
        if let Some(v1) = self.info_hashes.v1 {
            dict = dict.with("info hash v1", OwnedValue::bytes(v1.0));
        }
        if let Some(v2) = self.info_hashes.v2 {
            dict = dict.with("info hash v2", OwnedValue::bytes(v2.0));
        }
        let mut out = MAGIC.to_vec();
        dict.encode(&mut out);
        let checksum = sha256(&out);
        out.extend_from_slice(&checksum);
        out
    }

    /// Reads a resume file's bytes, checking the magic, the checksum and every field.
    pub fn decode(bytes: &[u8]) -> Result<Self, ResumeError> {
        use ResumeError::Corrupt;
        let body_end = bytes
            .len()
            .checked_sub(CHECKSUM_LEN)
            .filter(|&end| end >= MAGIC.len())
            .ok_or(Corrupt("too short"))?;
        let (signed, checksum) = bytes.split_at(body_end);
        if !signed.starts_with(MAGIC) {
            return Err(Corrupt("not a peercdn resume file"));
        }
        if sha256(signed) != checksum {
            return Err(Corrupt("checksum mismatch (truncated or altered)"));
        }
        let doc = bencode::decode(&signed[MAGIC.len()..], &DecodeOptions::strict())
            .map_err(|_| Corrupt("invalid bencode"))?;
        let dict = doc.root().as_dict().ok_or(Corrupt("not a dictionary"))?;
        let int = |key: &[u8]| dict.get(key).and_then(|v| v.as_int());
        if int(b"version") != Some(FORMAT_VERSION) {
            return Err(Corrupt("unknown version"));
        }
        let num_pieces = int(b"num pieces")
            .and_then(|n| u32::try_from(n).ok())
            .ok_or(Corrupt("bad 'num pieces'"))?;
        let pieces = dict
            .get(b"pieces")
            .and_then(|v| v.as_bytes())
            .and_then(|b| Bitfield::from_wire(b, num_pieces).ok())
            .ok_or(Corrupt("bad 'pieces'"))?;
        let file_sizes = dict
            .get(b"file sizes")
            .and_then(|v| v.as_list())
            .ok_or(Corrupt("bad 'file sizes'"))?
            .iter()
            .map(|v| v.as_int().and_then(|n| u64::try_from(n).ok()))
            .collect::<Option<Vec<u64>>>()
            .ok_or(Corrupt("bad 'file sizes'"))?;
        let hash = |key: &[u8]| match dict.get(key) {
            None => Ok(None),
            Some(v) => v.as_bytes().map(Some).ok_or(Corrupt("bad info-hash")),
        };
        let v1 = match hash(b"info hash v1")? {
            None => None,
            Some(b) => Some(InfoHashV1(
                b.try_into().map_err(|_| Corrupt("bad info-hash"))?,
            )),
        };
        let v2 = match hash(b"info hash v2")? {
            None => None,
            Some(b) => Some(InfoHashV2(
                b.try_into().map_err(|_| Corrupt("bad info-hash"))?,
            )),
        };
        if v1.is_none() && v2.is_none() {
            return Err(Corrupt("no info-hash"));
        }
        Ok(Self {
            info_hashes: InfoHashes { v1, v2 },
            pieces,
            file_sizes,
        })
    }

    /// Writes the state to `path` atomically: to `<path>.tmp` in the same folder (created if
    /// missing), `fsync`, rename over `path`, `fsync` of the folder. After a crash `path`
    /// holds the old state or this one, whole.
    ///
    /// This writes the state only; to save one that is safe to trust, use
    /// [`Storage::save_resume`] (or flush the storage first and list only pieces verified
    /// before the flush began).
    pub fn save(&self, path: &Path) -> Result<(), StorageError> {
        let dir = match path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d,
            _ => Path::new("."),
        };
        if !dir.is_dir() {
            fs::create_dir_all(dir).map_err(|e| StorageError::io(Op::CreateDir, dir, e))?;
            if let Some(parent) = dir.parent().filter(|p| !p.as_os_str().is_empty()) {
                sync_dir(parent)?;
            }
        }
        let mut tmp_name = path.file_name().unwrap_or_default().to_os_string();
        tmp_name.push(".tmp");
        let tmp = dir.join(tmp_name);
        let written = File::create(&tmp)
            .and_then(|mut f| {
                f.write_all(&self.encode())?;
                f.sync_all()
            })
            .map_err(|e| StorageError::io(Op::Write, &tmp, e));
        if let Err(e) = written {
            let _ = fs::remove_file(&tmp);
            return Err(e);
        }
        fs::rename(&tmp, path).map_err(|e| StorageError::io(Op::Rename, path, e))?;
        sync_dir(dir)
    }
}

fn sync_dir(dir: &Path) -> Result<(), StorageError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| StorageError::io(Op::Sync, dir, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state() -> ResumeState {
        let mut pieces = Bitfield::new(11);
        pieces.insert(PieceIndex(0));
        pieces.insert(PieceIndex(10));
        ResumeState {
            info_hashes: InfoHashes {
                v1: Some(InfoHashV1([7; 20])),
                v2: Some(InfoHashV2([9; 32])),
            },
            pieces,
            file_sizes: vec![0, 5, 1 << 40],
        }
    }

    #[test]
    fn encode_decode_round_trips() {
        let s = state();
        assert_eq!(ResumeState::decode(&s.encode()).unwrap(), s);
    }

    #[test]
    fn every_truncation_and_every_flipped_bit_is_rejected() {
        let bytes = state().encode();
        for len in 0..bytes.len() {
            assert!(ResumeState::decode(&bytes[..len]).is_err(), "len {len}");
        }
        for i in 0..bytes.len() {
            for bit in 0..8 {
                let mut b = bytes.clone();
                b[i] ^= 1 << bit;
                assert!(ResumeState::decode(&b).is_err(), "byte {i} bit {bit}");
            }
        }
    }

    #[test]
    fn a_well_signed_but_malformed_body_is_rejected() {
        let sign = |body: &[u8]| {
            let mut out = MAGIC.to_vec();
            out.extend_from_slice(body);
            let c = sha256(&out);
            out.extend_from_slice(&c);
            out
        };
        for body in [
            &b"le"[..],
            b"d7:versioni2ee",
            b"d10:file sizesle10:num piecesi9e6:pieces2:\x80\x007:versioni1ee", // no info-hash
            b"d10:file sizesli-1ee12:info hash v120:aaaaaaaaaaaaaaaaaaaa\
               10:num piecesi9e6:pieces2:\x80\x007:versioni1ee",
            // A spare bit set past piece 9.
            b"d10:file sizesle12:info hash v120:aaaaaaaaaaaaaaaaaaaa\
               10:num piecesi9e6:pieces2:\x80\x017:versioni1ee",
        ] {
            assert!(
                matches!(
                    ResumeState::decode(&sign(body)),
                    Err(ResumeError::Corrupt(_))
                ),
                "{}",
                String::from_utf8_lossy(body)
            );
        }
        let good = b"d10:file sizesle12:info hash v120:aaaaaaaaaaaaaaaaaaaa\
                     10:num piecesi9e6:pieces2:\x80\x007:versioni1ee";
        assert!(ResumeState::decode(&sign(good)).is_ok());
    }
}
