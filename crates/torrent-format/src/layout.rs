//! Where the bytes of a piece live on disk: the mapping between the torrent's byte stream
//! (pieces, blocks) and its files.
//!
//! A torrent is one stream of bytes, cut into pieces of [`Layout::piece_length`] bytes, that is
//! also the concatenation of its files in order (pad files included). A read or write of a
//! block becomes one [`FileSpan`] per file it touches. Pad files are part of the stream (their
//! bytes are zeros) but are never written; empty files take no bytes and never appear in spans.
//!
//! ```
//! use torrent_format::{Metainfo, layout::{Layout, PieceIndex}};
//!
//! let bytes = b"d4:infod5:filesld6:lengthi3e4:pathl1:aeed6:lengthi5e4:pathl1:beee\
//!               4:name1:t12:piece lengthi4e6:pieces40:aaaaaaaaaaaaaaaaaaaabbbbbbbbbbbbbbbbbbbbee";
//! let layout = Layout::new(&Metainfo::from_bytes(bytes).unwrap());
//! // Piece 0 is bytes 0..4: all 3 bytes of t/a, then the first byte of t/b.
//! let spans: Vec<_> = layout.piece_spans(PieceIndex(0)).collect();
//! assert_eq!((spans[0].file, spans[0].file_offset, spans[0].len), (0, 0, 3));
//! assert_eq!((spans[1].file, spans[1].file_offset, spans[1].len), (1, 0, 1));
//! ```

use std::ops::Range;

use crate::metainfo::Metainfo;

/// Index of a piece.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PieceIndex(pub u32);

/// A run of bytes inside one file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FileSpan {
    /// Index of the file in [`Metainfo::files`].
    pub file: usize,
    /// Offset in that file.
    pub file_offset: u64,
    /// Number of bytes.
    pub len: u64,
    /// The file is padding: read zeros, write nothing.
    pub pad: bool,
}

/// The piece ↔ file mapping of one torrent. Cheap to build; holds one entry per file.
#[derive(Clone, Debug)]
pub struct Layout {
    piece_length: u64,
    total_size: u64,
    num_pieces: u32,
    /// Offset, size and pad flag of each file, in torrent order.
    files: Vec<(u64, u64, bool)>,
}

impl Layout {
    /// The layout of a parsed torrent.
    pub fn new(meta: &Metainfo) -> Self {
        Self {
            piece_length: meta.piece_length(),
            total_size: meta.total_size(),
            num_pieces: meta.num_pieces(),
            files: meta
                .files()
                .map(|f| (f.offset, f.size, f.attributes.pad))
                .collect(),
        }
    }

    /// Bytes per piece.
    pub fn piece_length(&self) -> u64 {
        self.piece_length
    }

    /// Bytes in the whole torrent.
    pub fn total_size(&self) -> u64 {
        self.total_size
    }

    /// Number of pieces.
    pub fn num_pieces(&self) -> u32 {
        self.num_pieces
    }

    /// Size of a piece (the last one may be short); 0 past the end.
    pub fn piece_size(&self, piece: PieceIndex) -> u64 {
        let start = u64::from(piece.0) * self.piece_length;
        self.total_size.saturating_sub(start).min(self.piece_length)
    }

    /// The torrent byte range of a piece (empty past the end).
    pub fn piece_range(&self, piece: PieceIndex) -> Range<u64> {
        let start = (u64::from(piece.0) * self.piece_length).min(self.total_size);
        start..start + self.piece_size(piece)
    }

    /// The spans of a whole piece.
    pub fn piece_spans(&self, piece: PieceIndex) -> Spans<'_> {
        let range = self.piece_range(piece);
        self.spans(range.start, range.end - range.start)
    }

    /// The spans of `len` bytes at `offset` into `piece` (a block). Clipped to the piece.
    pub fn block_spans(&self, piece: PieceIndex, offset: u64, len: u64) -> Spans<'_> {
        let range = self.piece_range(piece);
        let start = range.start.saturating_add(offset).min(range.end);
        let end = start.saturating_add(len).min(range.end);
        self.spans(start, end - start)
    }

    /// The spans of `len` bytes at `offset` of the torrent stream. Clipped to the stream.
    pub fn spans(&self, offset: u64, len: u64) -> Spans<'_> {
        let start = offset.min(self.total_size);
        let end = start.saturating_add(len).min(self.total_size);
        // The first file that ends after `start`; empty files end where they start and are
        // skipped.
        let file = self.files.partition_point(|&(o, s, _)| o + s <= start);
        Spans {
            layout: self,
            file,
            pos: start,
            end,
        }
    }

    /// The pieces that hold bytes of `file` (empty for empty files).
    pub fn file_pieces(&self, file: usize) -> Range<u32> {
        let Some(&(offset, size, _)) = self.files.get(file) else {
            return 0..0;
        };
        if size == 0 {
            return 0..0;
        }
        let first = offset / self.piece_length;
        let last = (offset + size - 1) / self.piece_length;
        // Offsets are below total_size, and num_pieces fits in u32.
        first as u32..last as u32 + 1
    }
}

/// Iterator over the [`FileSpan`]s of a byte range, in order.
#[derive(Clone, Debug)]
pub struct Spans<'a> {
    layout: &'a Layout,
    file: usize,
    pos: u64,
    end: u64,
}

impl Iterator for Spans<'_> {
    type Item = FileSpan;

    fn next(&mut self) -> Option<FileSpan> {
        while self.pos < self.end {
            let &(offset, size, pad) = self.layout.files.get(self.file)?;
            let file_end = offset + size;
            if file_end <= self.pos {
                self.file += 1;
                continue;
            }
            let len = file_end.min(self.end) - self.pos;
            let span = FileSpan {
                file: self.file,
                file_offset: self.pos - offset,
                len,
                pad,
            };
            self.pos += len;
            self.file += 1;
            return Some(span);
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layout(sizes: &[u64], piece_length: u64) -> Layout {
        let mut files = Vec::new();
        let mut offset = 0;
        for &s in sizes {
            files.push((offset, s, false));
            offset += s;
        }
        Layout {
            piece_length,
            total_size: offset,
            num_pieces: offset.div_ceil(piece_length) as u32,
            files,
        }
    }

    #[test]
    fn spans_of_every_range_cover_it_exactly_once() {
        // Exhaustive over small layouts: every (offset, len) maps to consecutive file spans
        // whose lengths add up, in file order, skipping empty files.
        let l = layout(&[3, 0, 5, 1, 0, 7], 4);
        for offset in 0..=l.total_size() {
            for len in 0..=(l.total_size() - offset) {
                let spans: Vec<_> = l.spans(offset, len).collect();
                assert_eq!(spans.iter().map(|s| s.len).sum::<u64>(), len);
                let mut at = offset;
                for s in &spans {
                    let (o, size, _) = l.files[s.file];
                    assert!(size > 0 && s.len > 0);
                    assert_eq!(o + s.file_offset, at);
                    assert!(s.file_offset + s.len <= size);
                    at += s.len;
                }
            }
        }
    }

    #[test]
    fn last_piece_is_short_and_pieces_past_the_end_are_empty() {
        let l = layout(&[10], 4);
        assert_eq!(l.num_pieces(), 3);
        assert_eq!(l.piece_size(PieceIndex(2)), 2);
        assert_eq!(l.piece_size(PieceIndex(3)), 0);
        assert_eq!(l.piece_spans(PieceIndex(9)).count(), 0);
    }

    #[test]
    fn block_spans_are_clipped_to_the_piece() {
        let l = layout(&[3, 5], 4);
        let spans: Vec<_> = l.block_spans(PieceIndex(0), 2, 100).collect();
        assert_eq!(spans.len(), 2);
        assert_eq!(
            spans[0],
            FileSpan {
                file: 0,
                file_offset: 2,
                len: 1,
                pad: false
            }
        );
        assert_eq!(
            spans[1],
            FileSpan {
                file: 1,
                file_offset: 0,
                len: 1,
                pad: false
            }
        );
    }

    #[test]
    fn file_pieces_cover_the_files_bytes() {
        let l = layout(&[3, 0, 5, 8], 4);
        assert_eq!(l.file_pieces(0), 0..1);
        assert_eq!(l.file_pieces(1), 0..0);
        assert_eq!(l.file_pieces(2), 0..2);
        assert_eq!(l.file_pieces(3), 2..4);
        assert_eq!(l.file_pieces(9), 0..0);
    }
}
