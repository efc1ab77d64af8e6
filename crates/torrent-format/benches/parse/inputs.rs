//! Deterministic benchmark inputs, encoded with our own `OwnedValue` (canonical bencode, so the
//! strict decoder accepts them too). No files are checked in: the same seed always gives the
//! same bytes.

use torrent_format::bencode::OwnedValue;

/// A multi-file v1 torrent shaped like a large real one: 10,000 files under nested folders
/// (2 to 4 path components below the torrent name), sizes spread over five orders of magnitude,
/// 256 KiB pieces and exactly 40,000 of them (800,000 bytes of `pieces`).
///
/// Files are listed in generation order, so consecutive files rarely share a folder: a
/// pessimistic shape for per-folder bookkeeping. [`large_v1_sorted`] lists them as creators do.
pub(crate) fn large_v1() -> Vec<u8> {
    large_v1_ordered(false)
}

/// [`large_v1`] with its files listed in path order, as libtorrent, qBittorrent, mktorrent and
/// our own `create` write them (files of one folder next to each other).
pub(crate) fn large_v1_sorted() -> Vec<u8> {
    large_v1_ordered(true)
}

fn large_v1_ordered(sorted: bool) -> Vec<u8> {
    let mut rng = Rng(0x5eed_1a26_e000_0001);
    let sizes = file_sizes(
        &mut rng,
        LARGE_FILES,
        LARGE_PIECES * LARGE_PIECE_LENGTH - 100_000,
    );
    let mut entries: Vec<(Vec<OwnedValue>, u64)> = sizes
        .iter()
        .enumerate()
        .map(|(i, &size)| (path(&mut rng, i), size))
        .collect();
    if sorted {
        // OwnedValue orders byte strings bytewise, which is path order component by component.
        entries.sort_by(|a, b| a.0.cmp(&b.0));
    }
    let files = entries
        .into_iter()
        .map(|(path, size)| {
            OwnedValue::dict()
                .with("length", int(size))
                .with("path", OwnedValue::List(path))
        })
        .collect();
    let info = OwnedValue::dict()
        .with("files", OwnedValue::List(files))
        .with("name", "Big Archive Collection (1998-2024) [mixed]".into())
        .with("piece length", int(LARGE_PIECE_LENGTH))
        .with(
            "pieces",
            OwnedValue::Bytes(rng.bytes(20 * LARGE_PIECES as usize)),
        );
    wrap(info)
}

/// A single-file torrent: a file just under 1 MiB in 64 pieces of 16 KiB.
pub(crate) fn small_single() -> Vec<u8> {
    let mut rng = Rng(0x5eed_5a11_0000_0002);
    let info = OwnedValue::dict()
        .with("length", int(64 * 16_384 - 1_000))
        .with("name", "ubuntu-mini-remix-24.04-amd64.iso".into())
        .with("piece length", int(16_384))
        .with("pieces", OwnedValue::Bytes(rng.bytes(20 * 64)));
    wrap(info)
}

/// The usual top level around `info`: trackers in tiers, a comment, a client and a date.
fn wrap(info: OwnedValue) -> Vec<u8> {
    let tiers = [
        &["udp://tracker.example.org:1337/announce"][..],
        &[
            "http://tracker.example.net:6969/announce",
            "https://tracker.example.com:443/announce",
        ],
        &["udp://open.example.io:6969/announce"],
    ];
    let announce_list = tiers
        .iter()
        .map(|tier| OwnedValue::List(tier.iter().map(|&u| u.into()).collect()))
        .collect();
    OwnedValue::dict()
        .with("announce", tiers[0][0].into())
        .with("announce-list", OwnedValue::List(announce_list))
        .with("comment", "Generated for torrent-format benchmarks".into())
        .with("created by", "mktorrent 1.1".into())
        .with("creation date", OwnedValue::Int(1_700_000_000))
        .with("info", info)
        .to_bytes()
}

/// `n` sizes adding up to exactly `total`, log-uniform between ~1 and ~100,000 units so that
/// most files are small and a few are large, as in real collections.
fn file_sizes(rng: &mut Rng, n: usize, total: u64) -> Vec<u64> {
    let weights: Vec<f64> = (0..n)
        .map(|_| (rng.unit() * 100_000f64.ln()).exp())
        .collect();
    let sum: f64 = weights.iter().sum();
    let mut sizes: Vec<u64> = weights
        .iter()
        .map(|w| ((w / sum * total as f64) as u64).max(1))
        .collect();
    let assigned: u64 = sizes[..n - 1].iter().sum();
    sizes[n - 1] = total
        .checked_sub(assigned)
        .filter(|&rest| rest > 0)
        .expect("flooring leaves the last file a positive remainder");
    sizes
}

/// A path of 2 to 4 components: folders from a fixed vocabulary, then a file name made unique
/// by its index (duplicate names would be renamed, which is not what we are measuring).
fn path(rng: &mut Rng, index: usize) -> Vec<OwnedValue> {
    let depth = 2 + rng.below(3);
    let mut parts: Vec<OwnedValue> = (0..depth - 1)
        .map(|level| {
            let word = FOLDERS[rng.below(FOLDERS.len())];
            match level {
                0 => word.into(),
                _ => format!("{word} {:02}", rng.below(40)).into(),
            }
        })
        .collect();
    let stem = STEMS[rng.below(STEMS.len())];
    let ext = EXTENSIONS[rng.below(EXTENSIONS.len())];
    parts.push(format!("{stem} - {index:05}.{ext}").into());
    parts
}

fn int(n: u64) -> OwnedValue {
    OwnedValue::Int(i64::try_from(n).expect("benchmark sizes fit in i64"))
}

/// splitmix64: tiny, deterministic, good enough for shaping test data.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }

    fn bytes(&mut self, n: usize) -> Vec<u8> {
        let mut out = Vec::with_capacity(n + 8);
        while out.len() < n {
            out.extend_from_slice(&self.next().to_le_bytes());
        }
        out.truncate(n);
        out
    }
}

const LARGE_FILES: usize = 10_000;
const LARGE_PIECES: u64 = 40_000;
const LARGE_PIECE_LENGTH: u64 = 256 * 1024;

const FOLDERS: &[&str] = &[
    "Season",
    "Extras",
    "Disc",
    "CD",
    "Artwork",
    "Subtitles",
    "Sample",
    "Soundtrack",
    "Behind the Scenes",
    "Documentation",
    "assets",
    "textures",
    "maps",
    "Live at Montreux",
    "Bonus Material",
    "Scans",
    "Концерт",
    "Éditions spéciales",
    "ライブ",
    "Featurettes",
];

const STEMS: &[&str] = &[
    "The Long Road Home",
    "Interview",
    "track",
    "Chapter",
    "Opening Credits",
    "cover_front",
    "readme",
    "Deleted Scene",
    "Overture in D minor",
    "IMG",
    "level",
    "Episode",
    "Café del Mar",
    "Naïve Melody",
    "小さな恋のうた",
    "commentary",
];

const EXTENSIONS: &[&str] = &[
    "mkv", "flac", "mp3", "jpg", "png", "srt", "nfo", "txt", "pdf", "iso", "bin", "cue", "m4a",
];
