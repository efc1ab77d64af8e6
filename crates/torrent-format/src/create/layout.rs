//! Piece length and the byte stream that pieces are cut from.
//!
//! v1 pieces are cut from the files concatenated in order; a piece may span files. v2 and hybrid
//! pieces are cut from the *aligned* stream: every non-empty file starts at a piece boundary
//! (BEP 52: "Files are mapped into this piece address space so that each non-empty file is
//! aligned to a piece boundary"), and in a hybrid the gaps become BEP 47 pad files in the v1
//! `files` list, so v1 piece `i` and v2 piece `i` cover the same bytes.

use super::{CreateError, Version};
use crate::merkle::BLOCK_SIZE;

/// A run of the piece stream: file data or zeros.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Segment {
    /// Offset in the stream.
    pub(super) start: u64,
    /// Length in bytes; never 0.
    pub(super) len: u64,
    /// Index into the file list, or `None` for padding (zeros).
    pub(super) file: Option<usize>,
}

impl Segment {
    pub(super) fn end(&self) -> u64 {
        self.start + self.len
    }
}

/// The piece stream of a torrent being created.
#[derive(Debug)]
pub(super) struct Layout {
    pub(super) piece_length: u64,
    /// Non-empty runs in stream order, covering `0..stream_len` without gaps.
    pub(super) segments: Vec<Segment>,
    /// Bytes in the stream, padding included.
    pub(super) stream_len: u64,
    /// `ceil(stream_len / piece_length)`.
    pub(super) num_pieces: u64,
    /// For each file, the index of its segment (`None` for empty files).
    file_segments: Vec<Option<usize>>,
}

impl Layout {
    /// `lengths` are the file sizes in torrent order. With `aligned`, each non-empty file is
    /// followed by padding up to the next piece boundary when the torrent has more than one
    /// file -- the last file included ("tail padding"). That is what libtorrent has done since
    /// 2.0.4 (arvidn/libtorrent#6153: "It's what the reference implementation does") and what
    /// BEP 52's reference creator does; libtorrent still accepts hybrids without the tail pad.
    /// A single-file torrent is never padded, so its v1 part can keep the single-file form.
    pub(super) fn new(lengths: &[u64], piece_length: u64, aligned: bool) -> Self {
        let pad_files = aligned && lengths.len() > 1;
        let mut segments = Vec::with_capacity(lengths.len() * 2);
        let mut file_segments = vec![None; lengths.len()];
        let mut at = 0u64;
        for (i, &len) in lengths.iter().enumerate() {
            if len == 0 {
                continue;
            }
            file_segments[i] = Some(segments.len());
            segments.push(Segment {
                start: at,
                len,
                file: Some(i),
            });
            at += len;
            let gap = pad_len(at, piece_length);
            if pad_files && gap > 0 {
                segments.push(Segment {
                    start: at,
                    len: gap,
                    file: None,
                });
                at += gap;
            }
        }
        let num_pieces = at.div_ceil(piece_length);
        Self {
            piece_length,
            segments,
            stream_len: at,
            num_pieces,
            file_segments,
        }
    }

    /// The segment holding file `index`, `None` if the file is empty.
    pub(super) fn file_segment(&self, index: usize) -> Option<&Segment> {
        self.file_segments
            .get(index)
            .copied()
            .flatten()
            .map(|s| &self.segments[s])
    }

    /// The pad file after file `index`, if any (its length).
    pub(super) fn pad_after(&self, index: usize) -> Option<u64> {
        let pos = self.file_segments.get(index).copied().flatten()?;
        self.segments
            .get(pos + 1)
            .filter(|s| s.file.is_none())
            .map(|s| s.len)
    }

    /// The index of the segment containing stream offset `at` (`at < stream_len`).
    pub(super) fn segment_at(&self, at: u64) -> usize {
        self.segments.partition_point(|s| s.end() <= at)
    }
}

/// Bytes from `at` to the next multiple of `piece_length`.
fn pad_len(at: u64, piece_length: u64) -> u64 {
    (piece_length - at % piece_length) % piece_length
}

/// libtorrent's automatic piece size (`create_torrent.cpp`), from the total size of the files:
/// the piece list (20 bytes per piece) should be about `2 * sqrt(total_size)` bytes, rounded to
/// a power of two between 16 KiB and 16 MiB. libtorrent precomputes the size at which each
/// piece length starts: `size_table[i] = (2 * (16 KiB << i) / 20)^2`.
pub(super) fn auto_piece_length(total_size: u64) -> u64 {
    const SIZE_TABLE: [u64; 10] = [
        2_684_355,       // up to this: 16 KiB
        10_737_418,      // 32 KiB
        42_949_673,      // 64 KiB
        171_798_692,     // 128 KiB
        687_194_767,     // 256 KiB
        2_748_779_069,   // 512 KiB
        10_995_116_278,  // 1 MiB
        43_980_465_111,  // 2 MiB
        175_921_860_444, // 4 MiB
        703_687_441_777, // 8 MiB; larger: 16 MiB
    ];
    let i = SIZE_TABLE.iter().take_while(|&&s| s < total_size).count();
    BLOCK_SIZE << i
}

/// Checks a caller-chosen piece length. BEP 52: "It must be a power of two and at least 16KiB."
/// BEP 3 itself accepts any length, but we ask v1 for a multiple of 16 KiB so that requests
/// (16 KiB blocks) never straddle a piece.
pub(super) fn check_piece_length(piece_length: u64, version: Version) -> Result<(), CreateError> {
    let ok = match version {
        Version::V1 => piece_length >= BLOCK_SIZE && piece_length.is_multiple_of(BLOCK_SIZE),
        Version::V2 | Version::Hybrid => {
            piece_length >= BLOCK_SIZE && piece_length.is_power_of_two()
        }
    };
    if ok {
        Ok(())
    } else {
        Err(CreateError::InvalidPieceLength {
            piece_length,
            version,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KIB: u64 = 1024;
    const MIB: u64 = 1024 * KIB;

    #[test]
    fn auto_piece_length_follows_libtorrent_table() {
        assert_eq!(auto_piece_length(1), 16 * KIB);
        assert_eq!(auto_piece_length(2_684_355), 16 * KIB);
        assert_eq!(auto_piece_length(2_684_356), 32 * KIB);
        assert_eq!(auto_piece_length(512 * MIB), 256 * KIB);
        assert_eq!(auto_piece_length(4096 * MIB), MIB);
        assert_eq!(auto_piece_length(u64::MAX), 16 * MIB);
    }

    #[test]
    fn piece_length_rules() {
        assert!(check_piece_length(48 * KIB, Version::V1).is_ok());
        assert!(check_piece_length(48 * KIB, Version::V2).is_err());
        assert!(check_piece_length(48 * KIB, Version::Hybrid).is_err());
        assert!(check_piece_length(8 * KIB, Version::V1).is_err());
        assert!(check_piece_length(0, Version::V1).is_err());
        assert!(check_piece_length(20_000, Version::V1).is_err());
        assert!(check_piece_length(64 * KIB, Version::Hybrid).is_ok());
    }

    #[test]
    fn aligned_layout_pads_every_unaligned_file_including_the_last() {
        let l = Layout::new(&[10, 0, 16 * KIB, 5], 16 * KIB, true);
        let segs: Vec<_> = l
            .segments
            .iter()
            .map(|s| (s.start, s.len, s.file))
            .collect();
        assert_eq!(
            segs,
            vec![
                (0, 10, Some(0)),
                (10, 16 * KIB - 10, None),
                (16 * KIB, 16 * KIB, Some(2)),
                (32 * KIB, 5, Some(3)),
                (32 * KIB + 5, 16 * KIB - 5, None),
            ]
        );
        assert_eq!(l.num_pieces, 3);
        assert_eq!(l.pad_after(0), Some(16 * KIB - 10));
        assert_eq!(l.pad_after(1), None);
        assert_eq!(l.pad_after(2), None);
        assert_eq!(l.pad_after(3), Some(16 * KIB - 5));
        assert_eq!(l.segment_at(0), 0);
        assert_eq!(l.segment_at(10), 1);
        assert_eq!(l.segment_at(32 * KIB + 4), 3);
    }

    #[test]
    fn single_file_and_v1_layouts_have_no_padding() {
        let one = Layout::new(&[16 * KIB + 1], 16 * KIB, true);
        assert_eq!(one.segments.len(), 1);
        assert_eq!((one.stream_len, one.num_pieces), (16 * KIB + 1, 2));
        let v1 = Layout::new(&[10, 20], 16 * KIB, false);
        assert_eq!(v1.segments.len(), 2);
        assert_eq!((v1.stream_len, v1.num_pieces), (30, 1));
    }
}
