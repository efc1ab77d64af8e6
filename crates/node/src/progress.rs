//! A byte-count progress bar on stderr, drawn only when stderr is a terminal.

use std::io::IsTerminal;
use std::sync::atomic::{AtomicU64, Ordering};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// A progress bar for hashing, safe to update from the hashing threads.
///
/// Hashing threads report slightly out of order, so the bar shows the largest count seen and
/// never runs backwards.
pub(crate) struct Bar {
    bar: ProgressBar,
    done: AtomicU64,
}

impl Bar {
    /// A bar labelled `message`; hidden when stderr is not a terminal (scripts, CI, pipes).
    pub(crate) fn new(message: &'static str) -> Self {
        let target = if std::io::stderr().is_terminal() {
            ProgressDrawTarget::stderr()
        } else {
            ProgressDrawTarget::hidden()
        };
        let bar = ProgressBar::with_draw_target(None, target);
        let style = ProgressStyle::with_template(
            "{msg} [{wide_bar}] {binary_bytes}/{binary_total_bytes} {binary_bytes_per_sec} eta {eta}",
        )
        // The template is a constant; fall back to indicatif's default if it were invalid.
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> ");
        bar.set_style(style);
        bar.set_message(message);
        Self {
            bar,
            done: AtomicU64::new(0),
        }
    }

    /// Records that `done` of `total` bytes are hashed.
    pub(crate) fn update(&self, done: u64, total: u64) {
        let previous = self.done.fetch_max(done, Ordering::Relaxed);
        if self.bar.length() != Some(total) {
            self.bar.set_length(total);
        }
        self.bar.set_position(previous.max(done));
    }

    /// Removes the bar from the terminal.
    pub(crate) fn finish(&self) {
        self.bar.finish_and_clear();
    }
}
