//! Writing results and errors: plain text for people, one JSON object for scripts.
//!
//! Every failure that reaches `main` is an [`anyhow::Error`]; when it carries a [`Failure`]
//! (anywhere in its chain), that gives the stable `kind` printed by `--json`. Output goes out
//! in one write and a closed pipe (`peercdn inspect x.torrent | head`) is not an error: Rust
//! ignores `SIGPIPE`, so `println!` would panic there.

use std::fmt;
use std::io::{self, Write};
use std::path::Path;
use std::process::ExitCode;

use serde::Serialize;

/// A failure with a stable, snake_case kind for `--json` (`io_error`, a `MetainfoError` code,
/// `invalid_magnet`, ...). Its message is what a user reads.
#[derive(Debug)]
pub(crate) struct Failure {
    /// Stable name of the kind of failure.
    pub(crate) kind: &'static str,
    /// One line saying what went wrong and where.
    pub(crate) message: String,
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Failure {}

/// A [`Failure`] as an [`anyhow::Error`].
pub(crate) fn failure(kind: &'static str, message: impl Into<String>) -> anyhow::Error {
    Failure {
        kind,
        message: message.into(),
    }
    .into()
}

/// An `io_error` failure: "cannot read ./x.torrent: No such file or directory".
pub(crate) fn io_failure(action: &str, path: &Path, error: &io::Error) -> anyhow::Error {
    failure(
        "io_error",
        format!("{action} {}: {}", path.display(), io_message(error)),
    )
}

/// What the OS said, without Rust's " (os error 2)" suffix.
pub(crate) fn io_message(error: &io::Error) -> String {
    let text = error.to_string();
    match text.find(" (os error ") {
        Some(at) => text[..at].to_owned(),
        None => text,
    }
}

/// Writes `text` to stdout in one go; a closed pipe is ignored.
pub(crate) fn emit(text: &str) {
    let mut out = io::stdout().lock();
    // Nothing useful can be done when stdout is gone (closed pipe, full disk): the exit code
    // still tells the caller how the command went.
    let _ = out.write_all(text.as_bytes()).and_then(|()| out.flush());
}

/// Writes `value` as one pretty-printed JSON object and a newline.
pub(crate) fn emit_json(value: &impl Serialize) {
    // Serializing plain structs of strings and numbers into a String cannot fail.
    let mut text = serde_json::to_string_pretty(value).unwrap_or_else(|e| {
        serde_json::json!({"error": "internal", "message": e.to_string()}).to_string()
    });
    text.push('\n');
    emit(&text);
}

/// Reports a failure (JSON on stdout, or one `error:` line on stderr) and gives exit code 1.
pub(crate) fn report_error(error: &anyhow::Error, json: bool) -> ExitCode {
    let kind = error
        .chain()
        .find_map(|e| e.downcast_ref::<Failure>())
        .map_or("error", |f| f.kind);
    let message = format!("{error:#}");
    if json {
        emit_json(&ErrorJson {
            error: kind,
            message: &message,
        });
    } else {
        eprintln!("error: {message}");
    }
    ExitCode::FAILURE
}

/// The `--json` form of a failure.
#[derive(Serialize)]
struct ErrorJson<'a> {
    error: &'a str,
    message: &'a str,
}
