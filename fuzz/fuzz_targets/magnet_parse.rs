//! Magnet link parsing: any string gives a `Magnet` or an error, never a panic; an accepted link
//! prints to a string that parses back to an equal value.

#![no_main]

use libfuzzer_sys::fuzz_target;
use torrent_format::magnet::Magnet;

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(magnet) = Magnet::parse(s) {
        let printed = magnet.to_string();
        let reparsed = Magnet::parse(&printed)
            .unwrap_or_else(|e| panic!("printed magnet {printed:?} does not parse: {e:?}"));
        assert_eq!(
            reparsed, magnet,
            "printed magnet {printed:?} parses to a different value"
        );
    }
});
