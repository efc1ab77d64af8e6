//! Metainfo parsing: any bytes give a `Metainfo` or a `MetainfoError`, never a panic; an accepted
//! torrent's file list and info-hashes can be read.

#![no_main]

use libfuzzer_sys::fuzz_target;
use torrent_format::metainfo::Metainfo;

fuzz_target!(|data: &[u8]| {
    if let Ok(metainfo) = Metainfo::from_bytes(data) {
        for file in metainfo.files() {
            std::hint::black_box(file);
        }
        std::hint::black_box(metainfo.info_hashes());
    }
});
