//! `peercdn create`: a `.torrent` file from a file or folder.

use std::fmt::Write as _;
use std::fs::OpenOptions;
use std::io::{ErrorKind, Write as _};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use serde::Serialize;
use torrent_format::create::{CreateError, CreateOptions, Version, create_torrent};

use crate::format::{human_size, parse_size, size_with_bytes};
use crate::output::{emit, emit_json, failure, io_failure, io_message};
use crate::progress::Bar;

/// Arguments of `peercdn create`.
#[derive(Debug, clap::Args)]
#[command(
    long_about = "Create a .torrent file from a file (a single-file torrent) or a folder (a \
                  multi-file torrent named after the folder, with every regular file below \
                  it; symlinks and special files are skipped).\n\n\
                  The output is deterministic: the same content and options give the same \
                  bytes and info-hash (no creation date unless --date).",
    after_long_help = "Examples:\n  \
                       peercdn create ./site --tracker udp://tracker.example:6969/announce\n  \
                       peercdn create big.iso --hybrid --piece-size 4M -o big.torrent\n  \
                       peercdn create ./site --tracker 'http://a/announce,http://b/announce' \
                       --tracker http://backup/announce"
)]
pub(crate) struct Args {
    /// The file or folder to share
    path: PathBuf,

    /// Where to write the torrent [default: ./NAME.torrent]
    #[arg(short, long, value_name = "FILE")]
    output: Option<PathBuf>,

    /// Overwrite the output file if it exists
    #[arg(short, long)]
    force: bool,

    /// Tracker announce URL; repeat for backup tiers
    ///
    /// Each --tracker is its own tier (BEP 12): tiers are tried in order. Comma-separated
    /// URLs in one --tracker form one tier, whose URLs clients try in random order.
    #[arg(short, long = "tracker", value_name = "URL[,URL...]")]
    trackers: Vec<String>,

    /// A web seed URL (BEP 19 url-list); repeatable
    #[arg(short, long = "web-seed", value_name = "URL")]
    web_seeds: Vec<String>,

    /// Create a v1 torrent (BEP 3); the default
    ///
    /// The most compatible kind: every client reads it, WebTorrent and Transmission 3
    /// included, which cannot read v2.
    #[arg(long, conflicts_with_all = ["v2", "hybrid"])]
    v1: bool,

    /// Create a v2-only torrent (BEP 52)
    ///
    /// Per-file SHA-256 merkle trees; v1-only clients (WebTorrent, Transmission 3) cannot
    /// read it.
    #[arg(long, conflicts_with_all = ["v1", "hybrid"])]
    v2: bool,

    /// Create a hybrid v1 + v2 torrent (BEP 52)
    ///
    /// Both kinds of metadata in one torrent, with pad files after each file so v1 and v2
    /// pieces coincide. v1-only clients read it; it has both a v1 and a v2 info-hash.
    #[arg(long, conflicts_with_all = ["v1", "v2"])]
    hybrid: bool,

    /// Bytes per piece: 262144, 256K, 1M [default: from the total size]
    ///
    /// K, M and G are binary (1024). A multiple of 16K for v1; a power of two of at least
    /// 16K for v2 and hybrid. The default grows with the total size, from 16K to 16M, as
    /// libtorrent chooses it.
    #[arg(short, long, value_name = "SIZE", value_parser = parse_size)]
    piece_size: Option<u64>,

    /// Mark the torrent private (BEP 27): peers only from its trackers, no DHT or PEX
    #[arg(long)]
    private: bool,

    /// A comment stored in the torrent
    #[arg(short, long)]
    comment: Option<String>,

    /// The torrent's name [default: the file or folder name]
    #[arg(short, long)]
    name: Option<String>,

    /// Hashing threads [default: all cores]
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    threads: Option<u32>,

    /// Store a creation date: now, or --date=SECONDS since the Unix epoch
    ///
    /// Without it the torrent has none, so the same content and options always give the same
    /// bytes and info-hash.
    #[arg(long, value_name = "SECONDS", num_args = 0..=1, require_equals = true)]
    date: Option<Option<i64>>,

    /// Print one JSON object instead of text
    ///
    /// {"output", "name", "version", "info_hash_v1", "info_hash_v2" (hex or null),
    /// "content_size", "piece_length", "num_pieces", "skipped": list of paths}; on failure
    /// {"error": KIND, "message": TEXT}.
    #[arg(long)]
    pub(crate) json: bool,
}

/// Runs `peercdn create`.
pub(crate) fn run(args: &Args) -> anyhow::Result<ExitCode> {
    let version = if args.v2 {
        Version::V2
    } else if args.hybrid {
        Version::Hybrid
    } else {
        Version::V1
    };
    let name = match &args.name {
        Some(name) => name.clone(),
        None => input_name(&args.path)?,
    };
    let output = args
        .output
        .clone()
        .unwrap_or_else(|| PathBuf::from(format!("{name}.torrent")));
    // Refuse before hashing (which can take minutes), and again when writing.
    if !args.force && output.exists() {
        return Err(output_exists(&output));
    }

    let options = CreateOptions {
        version,
        piece_length: args.piece_size,
        trackers: args
            .trackers
            .iter()
            .map(|tier| {
                tier.split(',')
                    .map(str::trim)
                    .filter(|url| !url.is_empty())
                    .map(str::to_owned)
                    .collect::<Vec<_>>()
            })
            .filter(|tier| !tier.is_empty())
            .collect(),
        web_seeds: args.web_seeds.clone(),
        private: args.private,
        comment: args.comment.clone(),
        created_by: Some(format!("peercdn {}", env!("CARGO_PKG_VERSION"))),
        creation_date: args.date.map(|date| date.unwrap_or_else(now_unix)),
        name: args.name.clone(),
        threads: args.threads.map(|n| n as usize),
    };

    let bar = Bar::new("hashing");
    let created = create_torrent(&args.path, &options, &|p| {
        bar.update(p.bytes_hashed, p.total_bytes);
    });
    bar.finish();
    let created = created.map_err(create_failure)?;

    write_output(&output, &created.bytes, args.force)?;

    for skipped in &created.skipped {
        eprintln!(
            "warning: skipped {} (not a regular file)",
            skipped.display()
        );
    }
    let hashes = created.info_hashes;
    if args.json {
        emit_json(&CreatedJson {
            output: &output.to_string_lossy(),
            name: &name,
            version: match version {
                Version::V1 => "v1",
                Version::V2 => "v2",
                Version::Hybrid => "hybrid",
            },
            info_hash_v1: hashes.v1.map(|h| h.to_hex()),
            info_hash_v2: hashes.v2.map(|h| h.to_hex()),
            content_size: created.content_size,
            piece_length: created.piece_length,
            num_pieces: created.num_pieces,
            skipped: created
                .skipped
                .iter()
                .map(|p| p.to_string_lossy().into_owned())
                .collect(),
        });
    } else {
        let mut out = String::new();
        let _ = writeln!(out, "Created {}", output.display());
        let _ = writeln!(out, "Name: {name}");
        if let Some(v1) = hashes.v1 {
            let _ = writeln!(out, "Info-hash v1: {v1}");
        }
        if let Some(v2) = hashes.v2 {
            let _ = writeln!(out, "Info-hash v2: {v2}");
        }
        let _ = writeln!(out, "Size: {}", size_with_bytes(created.content_size));
        let _ = writeln!(
            out,
            "Pieces: {} x {}",
            created.num_pieces,
            human_size(created.piece_length)
        );
        emit(&out);
    }
    Ok(ExitCode::SUCCESS)
}

/// The name `create_torrent` will give the torrent (the library's own rule).
fn input_name(path: &Path) -> anyhow::Result<String> {
    torrent_format::create::default_name(path).map_err(|error| match error {
        // Only `/` has no name at all; say how to give it one.
        CreateError::InvalidName { .. } => failure(
            "invalid_name",
            format!("{} has no name; pass --name", path.display()),
        ),
        other => create_failure(other),
    })
}

/// Writes the torrent, refusing to replace an existing file unless `force`.
fn write_output(output: &Path, bytes: &[u8], force: bool) -> anyhow::Result<()> {
    let mut open = OpenOptions::new();
    open.write(true);
    if force {
        open.create(true).truncate(true);
    } else {
        open.create_new(true);
    }
    let mut file = open.open(output).map_err(|e| {
        if e.kind() == ErrorKind::AlreadyExists {
            output_exists(output)
        } else {
            io_failure("cannot write", output, &e)
        }
    })?;
    file.write_all(bytes)
        .and_then(|()| file.sync_all())
        .map_err(|e| io_failure("cannot write", output, &e))
}

fn output_exists(output: &Path) -> anyhow::Error {
    failure(
        "output_exists",
        format!(
            "{} already exists; pass --force to overwrite it, or -o to write elsewhere",
            output.display()
        ),
    )
}

/// A [`CreateError`] as a failure with a stable kind.
fn create_failure(error: CreateError) -> anyhow::Error {
    let kind = match &error {
        CreateError::Io { path, error } => {
            return failure(
                "io_error",
                format!("cannot read {}: {}", path.display(), io_message(error)),
            );
        }
        CreateError::FileChanged { .. } => "file_changed",
        CreateError::EmptyInput { .. } => "empty_input",
        CreateError::ZeroLength { .. } => "zero_length",
        CreateError::InvalidPieceLength { .. } => "invalid_piece_length",
        CreateError::NonUtf8Path { .. } => "non_utf8_path",
        CreateError::InvalidName { .. } => "invalid_name",
        CreateError::TooManyPieces { .. } => "too_many_pieces",
        CreateError::ThreadPool { .. } => "thread_pool",
        _ => "create_failed",
    };
    failure(kind, error.to_string())
}

/// Seconds since the Unix epoch, for `--date` without a value.
#[expect(
    clippy::disallowed_methods,
    reason = "the node crate is where wall-clock time enters; --date asks for it"
)]
fn now_unix() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

/// `peercdn create --json`.
#[derive(Serialize)]
struct CreatedJson<'a> {
    output: &'a str,
    name: &'a str,
    version: &'static str,
    info_hash_v1: Option<String>,
    info_hash_v2: Option<String>,
    content_size: u64,
    piece_length: u64,
    num_pieces: u64,
    skipped: Vec<String>,
}
