//! `peercdn verify`: which pieces of the data on disk match a torrent.

use std::fmt::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

use serde::Serialize;
use torrent_format::Metainfo;
use torrent_format::verify::{VerifyError, verify};

use crate::format::{ranges, ranges_text, size_with_bytes};
use crate::output::{emit, emit_json, failure, io_failure};
use crate::progress::Bar;

/// Arguments of `peercdn verify`.
#[derive(Debug, clap::Args)]
#[command(
    long_about = "Check data on disk against a .torrent file: hash every piece and report \
                  how many are good, which are bad (as ranges such as 0-3, 7, 9-12), and \
                  which files are missing or have the wrong size.\n\n\
                  Exit code 0 when every piece is good, 1 when any is bad (or the check \
                  could not run).",
    after_long_help = "With --json, prints one JSON object:\n  \
                       {\"complete\": bool, \"good_pieces\": int, \"num_pieces\": int,\n   \
                       \"bad_pieces\": [[first, last], ...], \"missing_files\": [path, ...],\n   \
                       \"wrong_size_files\": [path, ...]}\n\
                       bad_pieces are inclusive ranges of piece indices; file paths are as in \
                       `peercdn inspect --json`. On failure: {\"error\": KIND, \"message\": TEXT}.\n\n\
                       Examples:\n  \
                       peercdn verify site.torrent ./site\n  \
                       peercdn verify big.torrent ~/Downloads/big.iso"
)]
pub(crate) struct Args {
    /// The .torrent file
    #[arg(value_name = "FILE.torrent")]
    torrent: PathBuf,

    /// The data: the file of a single-file torrent, or the torrent's folder
    ///
    /// The folder may have any name on disk; its contents are matched against the torrent's
    /// file list.
    #[arg(value_name = "PATH")]
    path: PathBuf,

    /// Print one JSON object instead of text
    #[arg(long)]
    pub(crate) json: bool,
}

/// Runs `peercdn verify`.
pub(crate) fn run(args: &Args) -> anyhow::Result<ExitCode> {
    let bytes =
        std::fs::read(&args.torrent).map_err(|e| io_failure("cannot read", &args.torrent, &e))?;
    let meta = Metainfo::from_bytes(&bytes)
        .map_err(|e| failure(e.code(), format!("{}: {e}", args.torrent.display())))?;

    let bar = Bar::new("verifying");
    let report = verify(&meta, &args.path, &|p| {
        bar.update(p.bytes_checked, p.total_bytes);
    });
    bar.finish();
    let report = report.map_err(|e| match e {
        VerifyError::NotFound(path) => failure(
            "not_found",
            format!("cannot read {}: No such file or directory", path.display()),
        ),
        other => failure("verify_failed", other.to_string()),
    })?;

    let paths = |indices: &[usize]| -> Vec<&str> {
        indices
            .iter()
            .filter_map(|&i| meta.file(i))
            .map(|f| f.path)
            .collect()
    };
    let bad = ranges(
        report
            .pieces
            .iter()
            .zip(0u32..)
            .filter(|(good, _)| !**good)
            .map(|(_, i)| i),
    );
    let complete = report.is_complete();
    let summary = VerifyJson {
        complete,
        good_pieces: report.good_pieces(),
        num_pieces: report.pieces.len(),
        bad_pieces: bad,
        missing_files: paths(&report.missing_files),
        wrong_size_files: paths(&report.wrong_size_files),
    };

    if args.json {
        emit_json(&summary);
    } else {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "{}: {} of {} pieces good",
            meta.name(),
            summary.good_pieces,
            summary.num_pieces
        );
        if !summary.bad_pieces.is_empty() {
            let _ = writeln!(out, "Bad pieces: {}", ranges_text(&summary.bad_pieces, 50));
        }
        // "Missing: PATH (SIZE)" and "Wrong size: PATH (expected SIZE)".
        for (label, size_note, list) in [
            ("Missing", "", &report.missing_files),
            ("Wrong size", "expected ", &report.wrong_size_files),
        ] {
            for f in list.iter().filter_map(|&i| meta.file(i)) {
                let size = size_with_bytes(f.size);
                let _ = writeln!(out, "{label}: {} ({size_note}{size})", f.path);
            }
        }
        let _ = writeln!(out, "{}", if complete { "Complete" } else { "Incomplete" });
        emit(&out);
    }
    Ok(if complete {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// `peercdn verify --json`.
#[derive(Serialize)]
struct VerifyJson<'a> {
    complete: bool,
    good_pieces: usize,
    num_pieces: usize,
    bad_pieces: Vec<[u32; 2]>,
    missing_files: Vec<&'a str>,
    wrong_size_files: Vec<&'a str>,
}
