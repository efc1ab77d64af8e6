//! From file priorities to piece priorities.

use torrent_format::layout::{Layout, PieceIndex};

use crate::Priority;

/// Piece priorities from file priorities, for
/// [`Picker::set_piece_priorities`](crate::Picker::set_piece_priorities).
///
/// `files[i]` is the priority of file `i` in torrent order (`Metainfo::files`, pad files
/// included); files past the end of the slice keep [`Priority::NORMAL`]. Each piece gets the
/// highest priority among the files with bytes in it, as in libtorrent: a piece shared by a
/// skipped file and a wanted one must be downloaded whole to be verified. Pad files (BEP 47)
/// count for nothing, so a piece of padding only is skipped. O(pieces + files).
///
/// ```
/// use piece_picker::{Priority, piece_priorities};
/// use torrent_format::{Metainfo, layout::Layout};
///
/// // Files t/a (3 bytes) and t/b (5 bytes) in pieces of 4: piece 0 holds a and the first
/// // byte of b.
/// let bytes = b"d4:infod5:filesld6:lengthi3e4:pathl1:aeed6:lengthi5e4:pathl1:beee\
///               4:name1:t12:piece lengthi4e6:pieces40:aaaaaaaaaaaaaaaaaaaabbbbbbbbbbbbbbbbbbbbee";
/// let layout = Layout::new(&Metainfo::from_bytes(bytes).unwrap());
/// let pieces = piece_priorities(&layout, &[Priority::HIGH, Priority::SKIP]);
/// assert_eq!(pieces, [Priority::HIGH, Priority::SKIP]);
/// ```
pub fn piece_priorities(layout: &Layout, files: &[Priority]) -> Vec<Priority> {
    let mut out = vec![Priority::SKIP; layout.num_pieces() as usize];
    let total = layout.total_size();
    // The layout does not say how many files there are; the one holding the last byte is the
    // last with pieces (any after it are empty).
    let Some(last) = total
        .checked_sub(1)
        .and_then(|end| layout.spans(end, 1).next())
    else {
        return out;
    };
    for file in 0..=last.file {
        let pieces = layout.file_pieces(file);
        if pieces.is_empty() {
            continue;
        }
        let pad = layout
            .piece_spans(PieceIndex(pieces.start))
            .find(|s| s.file == file)
            .is_some_and(|s| s.pad);
        if pad {
            continue;
        }
        let priority = files.get(file).copied().unwrap_or(Priority::NORMAL);
        for p in pieces {
            let slot = &mut out[p as usize];
            *slot = (*slot).max(priority);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use torrent_format::Metainfo;

    use super::*;

    /// t/a (3 bytes), a pad file (1 byte), t/b (9 bytes), t/c (0 bytes), t/d (3 bytes), in
    /// pieces of 4: piece 0 = a + pad, 1 and 2 = b, 3 = b + d[0..3].
    fn layout() -> Layout {
        let info = "d5:filesl\
             d6:lengthi3e4:pathl1:aee\
             d4:attr1:p6:lengthi1e4:pathl4:.pad1:1ee\
             d6:lengthi9e4:pathl1:bee\
             d6:lengthi0e4:pathl1:cee\
             d6:lengthi3e4:pathl1:dee\
             e4:name1:t12:piece lengthi4e6:pieces80:";
        let mut bytes = format!("d4:info{info}").into_bytes();
        bytes.extend_from_slice(&[7u8; 80]);
        bytes.extend_from_slice(b"ee");
        Layout::new(&Metainfo::from_bytes(&bytes).expect("valid test torrent"))
    }

    #[test]
    fn a_piece_takes_the_highest_priority_of_its_files() {
        let l = layout();
        assert_eq!(l.num_pieces(), 4);
        let p = |v: u8| Priority::new(v).unwrap();
        let got = piece_priorities(&l, &[p(1), p(7), p(3), p(7), p(5)]);
        assert_eq!(got, [p(1), p(3), p(3), p(5)]);
    }

    #[test]
    fn pad_files_count_for_nothing_and_missing_files_are_normal() {
        let l = layout();
        let got = piece_priorities(&l, &[Priority::SKIP, Priority::HIGH]);
        // a skipped, the pad file ignored: piece 0 is skipped; b and d default to NORMAL.
        assert_eq!(
            got,
            [
                Priority::SKIP,
                Priority::NORMAL,
                Priority::NORMAL,
                Priority::NORMAL
            ]
        );
    }
}
