//! Metainfo parsing: any bytes give a `Metainfo` or a `MetainfoError`, never a panic; and an
//! accepted torrent satisfies the invariants documented on `torrent_format::metainfo` — files laid
//! end to end, every path component safe to join under a download folder, the piece count
//! derived from the size, and layout spans that cover each piece exactly.

#![no_main]

use libfuzzer_sys::fuzz_target;
use torrent_format::layout::{Layout, PieceIndex};
use torrent_format::metainfo::Metainfo;

fuzz_target!(|data: &[u8]| {
    let Ok(meta) = Metainfo::from_bytes(data) else {
        return;
    };
    let mut offset = 0u64;
    for file in meta.files() {
        assert_eq!(file.offset, offset, "files are contiguous");
        offset += file.size;
        for component in file.components() {
            assert!(!component.is_empty() && component != "." && component != "..");
            assert!(!component.contains(['/', '\\', '\0']));
        }
    }
    assert_eq!(offset, meta.total_size());
    assert!(meta.total_size() > 0);
    assert_eq!(
        u64::from(meta.num_pieces()),
        meta.total_size().div_ceil(meta.piece_length())
    );
    let layout = Layout::new(&meta);
    // Every piece is covered exactly by its spans (bounded, to keep each run fast).
    for p in 0..meta.num_pieces().min(64) {
        let piece = PieceIndex(p);
        let covered: u64 = layout.piece_spans(piece).map(|s| s.len).sum();
        assert_eq!(covered, layout.piece_size(piece));
    }
    std::hint::black_box(meta.info_hashes());
});
