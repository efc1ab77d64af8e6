//! `peercdn inspect`: what a `.torrent` file or a magnet link contains, as text (like
//! `transmission-show`) or as one JSON object (schema: `docs/inspect-json.md`).

use std::ffi::OsString;
use std::fmt::Write as _;
use std::io::Read;
use std::path::Path;
use std::process::ExitCode;

use serde::Serialize;
use torrent_format::magnet::Magnet;
use torrent_format::metainfo::Version;
use torrent_format::{FileEntry, InfoHashes, Metainfo};

use crate::format::{human_size, ranges_text, size_with_bytes, utc_date};
use crate::output::{emit, emit_json, failure, io_failure};

/// Arguments of `peercdn inspect`.
#[derive(Debug, clap::Args)]
#[command(
    long_about = "Show what a .torrent file or magnet link contains: name, info-hashes, \
                  version (v1, v2 or hybrid), size, pieces, privacy, creator, comment, \
                  trackers by tier, web seeds and the file list (pad files marked).",
    after_long_help = "With --json, prints one JSON object on stdout, also on failure \
                       ({\"error\": KIND, \"message\": TEXT}, exit code 1). Every field, its \
                       type, when it is null, and every error kind are documented in \
                       docs/inspect-json.md in the peercdn repository.\n\n\
                       Examples:\n  \
                       peercdn inspect ubuntu.torrent\n  \
                       peercdn inspect --json ubuntu.torrent | jq .info_hash_v1\n  \
                       peercdn inspect 'magnet:?xt=urn:btih:c0fda1edafdbdbb96443424e0b3899af7159d10e&dn=temp'"
)]
pub(crate) struct Args {
    /// A .torrent file (`-` reads it from stdin), or a magnet link starting with `magnet:`
    #[arg(value_name = "FILE.torrent|MAGNET")]
    target: OsString,

    /// Print one JSON object instead of text (schema: docs/inspect-json.md)
    #[arg(long)]
    pub(crate) json: bool,
}

/// Runs `peercdn inspect`.
pub(crate) fn run(args: &Args) -> anyhow::Result<ExitCode> {
    if let Some(link) = args.target.to_str().filter(|t| {
        t.get(..7)
            .is_some_and(|s| s.eq_ignore_ascii_case("magnet:"))
    }) {
        let magnet = Magnet::parse(link)
            .map_err(|e| failure("invalid_magnet", format!("invalid magnet link: {e}")))?;
        if args.json {
            emit_json(&MagnetJson::new(&magnet));
        } else {
            emit(&magnet_text(&magnet));
        }
        return Ok(ExitCode::SUCCESS);
    }

    let path = Path::new(&args.target);
    let bytes = if path == Path::new("-") {
        let mut bytes = Vec::new();
        std::io::stdin()
            .lock()
            .read_to_end(&mut bytes)
            .map_err(|e| io_failure("cannot read", Path::new("stdin"), &e))?;
        bytes
    } else {
        std::fs::read(path).map_err(|e| io_failure("cannot read", path, &e))?
    };
    let label = if path == Path::new("-") {
        "stdin".into()
    } else {
        path.display().to_string()
    };
    let meta =
        Metainfo::from_bytes(&bytes).map_err(|e| failure(e.code(), format!("{label}: {e}")))?;
    if args.json {
        emit_json(&TorrentJson::new(&meta));
    } else {
        emit(&torrent_text(&meta));
    }
    Ok(ExitCode::SUCCESS)
}

/// `v1`, `v2` or `hybrid`.
pub(crate) fn version_name(version: Version) -> &'static str {
    match version {
        Version::V1 => "v1",
        Version::V2 => "v2",
        Version::Hybrid => "hybrid",
    }
}

/// The human-readable report of a torrent.
fn torrent_text(meta: &Metainfo) -> String {
    let mut out = String::new();
    let hashes = meta.info_hashes();
    let _ = writeln!(out, "Name: {}", meta.name());
    write_hashes(&mut out, &hashes);
    let _ = writeln!(
        out,
        "Version: {}",
        match meta.version() {
            Version::V1 => "v1 (BEP 3)",
            Version::V2 => "v2 (BEP 52)",
            Version::Hybrid => "hybrid (v1 + v2)",
        }
    );
    let _ = writeln!(out, "Size: {}", size_with_bytes(meta.total_size()));
    let _ = writeln!(
        out,
        "Pieces: {} x {} ({} bytes)",
        meta.num_pieces(),
        human_size(meta.piece_length()),
        meta.piece_length()
    );
    let _ = writeln!(
        out,
        "Private: {}",
        if meta.is_private() { "yes" } else { "no" }
    );
    if let Some(by) = meta.created_by() {
        let _ = writeln!(out, "Created by: {by}");
    }
    if let Some(date) = meta.creation_date() {
        let _ = writeln!(out, "Created on: {}", utc_date(date));
    }
    if let Some(comment) = meta.comment() {
        let _ = writeln!(out, "Comment: {comment}");
    }

    let _ = writeln!(out, "\nTRACKERS");
    if meta.trackers().is_empty() {
        let _ = writeln!(out, "  (none)");
    }
    for (i, tier) in meta.trackers().iter().enumerate() {
        let _ = writeln!(out, "  Tier {}:", i + 1);
        for url in tier {
            let _ = writeln!(out, "    {url}");
        }
    }

    if !meta.web_seeds().is_empty() || !meta.http_seeds().is_empty() {
        let _ = writeln!(out, "\nWEB SEEDS");
        for url in meta.web_seeds() {
            let _ = writeln!(out, "  {url}");
        }
        for url in meta.http_seeds() {
            let _ = writeln!(out, "  {url} (BEP 17 httpseed)");
        }
    }

    let _ = writeln!(out, "\nFILES ({})", meta.files().len());
    for file in meta.files() {
        let _ = writeln!(out, "  {}", file_line(&file));
    }
    out
}

/// `temp/a.txt (1.50 MiB)`, with `[pad]`, `[executable]`, `[hidden]` or `-> target`.
fn file_line(file: &FileEntry<'_>) -> String {
    let mut line = format!("{} ({})", file.path, human_size(file.size));
    let attrs = file.attributes;
    for (on, tag) in [
        (attrs.pad, " [pad]"),
        (attrs.executable, " [executable]"),
        (attrs.hidden, " [hidden]"),
    ] {
        if on {
            line.push_str(tag);
        }
    }
    if let Some(target) = &file.symlink_target {
        let _ = write!(line, " -> {target}");
    }
    line
}

fn write_hashes(out: &mut String, hashes: &InfoHashes) {
    if let Some(v1) = hashes.v1 {
        let _ = writeln!(out, "Info-hash v1: {v1}");
    }
    if let Some(v2) = hashes.v2 {
        let _ = writeln!(out, "Info-hash v2: {v2}");
    }
}

/// The human-readable report of a magnet link.
fn magnet_text(magnet: &Magnet) -> String {
    let mut out = String::from("Magnet link\n");
    let _ = writeln!(out, "Name: {}", magnet.name.as_deref().unwrap_or("(none)"));
    write_hashes(&mut out, &magnet.info_hashes);
    if let Some(len) = magnet.exact_length {
        let _ = writeln!(out, "Size: {}", size_with_bytes(len));
    }
    for (title, list) in [
        ("TRACKERS", &magnet.trackers),
        ("WEB SEEDS", &magnet.web_seeds),
    ] {
        if !list.is_empty() {
            let _ = writeln!(out, "\n{title}");
            for url in list {
                let _ = writeln!(out, "  {url}");
            }
        }
    }
    if !magnet.peers.is_empty() {
        let _ = writeln!(out, "\nPEERS");
        for peer in &magnet.peers {
            let _ = writeln!(out, "  {peer}");
        }
    }
    if !magnet.select_only.is_empty() {
        let ranges: Vec<[u32; 2]> = magnet
            .select_only
            .iter()
            .map(|r| [*r.start(), *r.end()])
            .collect();
        let _ = writeln!(
            out,
            "\nSelected files: {}",
            ranges_text(&ranges, usize::MAX)
        );
    }
    out
}

/// `peercdn inspect --json` of a torrent (see `docs/inspect-json.md`).
#[derive(Serialize)]
struct TorrentJson<'a> {
    magnet: bool,
    info_hash_v1: Option<String>,
    info_hash_v2: Option<String>,
    version: &'static str,
    name: &'a str,
    total_size: u64,
    piece_length: u64,
    num_pieces: u32,
    private: bool,
    files: Vec<FileJson<'a>>,
    trackers: &'a [Vec<String>],
    web_seeds: Vec<&'a str>,
    http_seeds: &'a [String],
    comment: Option<&'a str>,
    created_by: Option<&'a str>,
    creation_date: Option<i64>,
    similar: Vec<String>,
    collections: &'a [String],
    dht_nodes: Vec<DhtNodeJson<'a>>,
}

#[derive(Serialize)]
struct FileJson<'a> {
    path: &'a str,
    size: u64,
    offset: u64,
    pad: bool,
    executable: bool,
    hidden: bool,
    symlink_target: Option<&'a str>,
    mtime: Option<i64>,
    pieces_root: Option<String>,
}

#[derive(Serialize)]
struct DhtNodeJson<'a> {
    host: &'a str,
    port: u16,
}

impl<'a> TorrentJson<'a> {
    fn new(meta: &'a Metainfo) -> Self {
        let hashes = meta.info_hashes();
        Self {
            magnet: false,
            info_hash_v1: hashes.v1.map(|h| h.to_hex()),
            info_hash_v2: hashes.v2.map(|h| h.to_hex()),
            version: version_name(meta.version()),
            name: meta.name(),
            total_size: meta.total_size(),
            piece_length: meta.piece_length(),
            num_pieces: meta.num_pieces(),
            private: meta.is_private(),
            files: meta
                .files()
                .map(|f| FileJson {
                    path: f.path,
                    size: f.size,
                    offset: f.offset,
                    pad: f.attributes.pad,
                    executable: f.attributes.executable,
                    hidden: f.attributes.hidden,
                    symlink_target: f.symlink_target,
                    mtime: f.mtime,
                    pieces_root: f
                        .pieces_root
                        .map(|r| torrent_format::InfoHashV2(r).to_hex()),
                })
                .collect(),
            trackers: meta.trackers(),
            // libtorrent's `web_seeds()` lists both kinds; so do we, url-list first.
            web_seeds: meta
                .web_seeds()
                .iter()
                .chain(meta.http_seeds())
                .map(String::as_str)
                .collect(),
            http_seeds: meta.http_seeds(),
            comment: meta.comment(),
            created_by: meta.created_by(),
            creation_date: meta.creation_date(),
            similar: meta.similar().iter().map(|h| h.to_hex()).collect(),
            collections: meta.collections(),
            dht_nodes: meta
                .dht_nodes()
                .iter()
                .map(|(host, port)| DhtNodeJson { host, port: *port })
                .collect(),
        }
    }
}

/// `peercdn inspect --json` of a magnet link (see `docs/inspect-json.md`).
#[derive(Serialize)]
struct MagnetJson<'a> {
    magnet: bool,
    info_hash_v1: Option<String>,
    info_hash_v2: Option<String>,
    name: Option<&'a str>,
    trackers: &'a [String],
    web_seeds: &'a [String],
    exact_length: Option<u64>,
    peers: Vec<String>,
    select_only: Vec<[u32; 2]>,
}

impl<'a> MagnetJson<'a> {
    fn new(magnet: &'a Magnet) -> Self {
        Self {
            magnet: true,
            info_hash_v1: magnet.info_hashes.v1.map(|h| h.to_hex()),
            info_hash_v2: magnet.info_hashes.v2.map(|h| h.to_hex()),
            name: magnet.name.as_deref(),
            trackers: &magnet.trackers,
            web_seeds: &magnet.web_seeds,
            exact_length: magnet.exact_length,
            peers: magnet.peers.iter().map(ToString::to_string).collect(),
            select_only: magnet
                .select_only
                .iter()
                .map(|r| [*r.start(), *r.end()])
                .collect(),
        }
    }
}
