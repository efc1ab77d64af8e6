//! Reading torrents: our decoder and metainfo parser against the crates a user would pick
//! instead (bendy, serde_bencode, lava_torrent), on the same bytes in the same run.
//!
//! - `raw_decode`: bencode bytes to a complete tree (or, for bendy's pull decoder, a complete
//!   walk), no torrent semantics.
//! - `metainfo_parse`: bytes to a usable torrent. Ours validates everything and lays files out
//!   (`Metainfo::from_bytes`); the others fill the struct their users declare. Ours with
//!   `info_hashes()` is a separate line so that the SHA-1 over `info` shows.
//!
//! Inputs (generated, see `parse/inputs.rs`): a large v1 torrent of 10,000 files and 40,000
//! pieces, and a small single-file one of 64 pieces.

mod inputs;
mod rivals;

use std::hint::black_box;
use std::time::Duration;

use criterion::measurement::WallTime;
use criterion::{BenchmarkGroup, Criterion, Throughput, criterion_group, criterion_main};
use torrent_format::Metainfo;
use torrent_format::bencode::{self, DecodeOptions, Kind, Value};

fn raw_decode(c: &mut Criterion) {
    for (name, bytes) in torrents() {
        let mut g = group(c, "raw_decode", bytes.len());
        let lenient = DecodeOptions::lenient();
        let strict = DecodeOptions::strict();
        g.bench_function(format!("{name}/ours_lenient"), |b| {
            b.iter(|| bencode::decode(black_box(bytes), &lenient).expect("valid"));
        });
        g.bench_function(format!("{name}/ours_strict"), |b| {
            b.iter(|| bencode::decode(black_box(bytes), &strict).expect("valid"));
        });
        // The tape is the whole tree; walking it as well shows what visiting every value adds.
        g.bench_function(format!("{name}/ours_strict_walk"), |b| {
            b.iter(|| {
                let doc = bencode::decode(black_box(bytes), &strict).expect("valid");
                walk(doc.root())
            });
        });
        g.bench_function(format!("{name}/bendy_tree"), |b| {
            b.iter(|| rivals::bendy_tree(black_box(bytes)).expect("valid"));
        });
        g.bench_function(format!("{name}/bendy_walk"), |b| {
            b.iter(|| rivals::bendy_walk(black_box(bytes)).expect("valid"));
        });
        g.bench_function(format!("{name}/serde_bencode_value"), |b| {
            b.iter(|| {
                serde_bencode::from_bytes::<serde_bencode::value::Value>(black_box(bytes))
                    .expect("valid")
            });
        });
        g.finish();
    }
}

fn metainfo_parse(c: &mut Criterion) {
    for (name, bytes) in torrents() {
        let mut g = group(c, "metainfo_parse", bytes.len());
        g.bench_function(format!("{name}/ours"), |b| {
            b.iter(|| Metainfo::from_bytes(black_box(bytes)).expect("valid"));
        });
        g.bench_function(format!("{name}/ours_with_info_hashes"), |b| {
            b.iter(|| {
                let m = Metainfo::from_bytes(black_box(bytes)).expect("valid");
                (m.info_hashes(), m)
            });
        });
        g.bench_function(format!("{name}/lava_torrent"), |b| {
            b.iter(|| {
                lava_torrent::torrent::v1::Torrent::read_from_bytes(black_box(bytes))
                    .expect("valid")
            });
        });
        g.bench_function(format!("{name}/serde_bencode_derive"), |b| {
            b.iter(|| {
                serde_bencode::from_bytes::<rivals::SerdeTorrent>(black_box(bytes)).expect("valid")
            });
        });
        g.bench_function(format!("{name}/bendy_from_bencode"), |b| {
            use bendy::decoding::FromBencode;
            b.iter(|| rivals::BendyTorrent::from_bencode(black_box(bytes)).expect("valid"));
        });
        g.finish();
    }
}

/// The inputs, built once; their sizes are printed on first use.
fn torrents() -> [(&'static str, &'static [u8]); 3] {
    static INPUTS: std::sync::OnceLock<(Vec<u8>, Vec<u8>, Vec<u8>)> = std::sync::OnceLock::new();
    let (large, sorted, small) = INPUTS.get_or_init(|| {
        let large = inputs::large_v1();
        let sorted = inputs::large_v1_sorted();
        let small = inputs::small_single();
        for (name, bytes) in [
            ("large", &large),
            ("large_sorted", &sorted),
            ("small", &small),
        ] {
            let m = Metainfo::from_bytes(bytes).expect("generated torrents are valid");
            let doc = bencode::decode(bytes, &DecodeOptions::strict()).expect("canonical");
            println!(
                "input {name}: {} bytes, {} bencode values, {} files, {} pieces, info {} bytes",
                bytes.len(),
                doc.item_count(),
                m.files().len(),
                m.num_pieces(),
                m.info_bytes().len(),
            );
        }
        (large, sorted, small)
    });
    [("large", large), ("large_sorted", sorted), ("small", small)]
}

fn group<'c>(c: &'c mut Criterion, name: &str, bytes: usize) -> BenchmarkGroup<'c, WallTime> {
    let mut g = c.benchmark_group(name);
    g.throughput(Throughput::Bytes(bytes as u64))
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    g
}

/// Visits every value, summing something from each so that nothing is optimized away.
fn walk(v: Value<'_>) -> u64 {
    match v.kind() {
        Kind::Int(i) => i as u64,
        Kind::Bytes(b) => b.len() as u64,
        Kind::List(l) => l.iter().map(walk).fold(0, u64::wrapping_add),
        Kind::Dict(d) => d
            .iter()
            .map(|(k, v)| (k.len() as u64).wrapping_add(walk(v)))
            .fold(0, u64::wrapping_add),
    }
}

criterion_group!(benches, raw_decode, metainfo_parse);
criterion_main!(benches);
