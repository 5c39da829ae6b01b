//! A progress bar on stderr (indicatif) for passes over a file: bytes read, pass number.
//!
//! Shown only when stderr is a terminal, `--quiet` is off, and the work has run for more than a
//! second (short runs print nothing).

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::IsTerminal;
use std::time::{Duration, Instant};

/// Progress of the passes over one input.
pub struct Progress {
    bar: ProgressBar,
    enabled: bool,
    shown: bool,
    start: Instant,
}

impl Progress {
    /// A bar over `total` bytes, hidden when `quiet` or stderr is not a terminal.
    pub fn new(total: u64, quiet: bool) -> Self {
        let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::hidden());
        if let Ok(style) = ProgressStyle::with_template(
            "{msg:>10} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} eta {eta}",
        ) {
            bar.set_style(style.progress_chars("=> "));
        }
        Self {
            bar,
            enabled: !quiet && std::io::stderr().is_terminal(),
            shown: false,
            start: Instant::now(),
        }
    }

    /// Starts pass `i` (of `of`, when known).
    pub fn pass(&self, i: usize, of: Option<usize>) {
        self.bar.set_position(0);
        self.bar.set_message(match of {
            Some(n) => format!("pass {i}/{n}"),
            None => format!("pass {i}"),
        });
    }

    /// `bytes` more read.
    pub fn inc(&mut self, bytes: u64) {
        if self.enabled && !self.shown && self.start.elapsed() > Duration::from_secs(1) {
            self.bar.set_draw_target(ProgressDrawTarget::stderr());
            self.shown = true;
        }
        self.bar.inc(bytes);
    }

    /// Clears the bar.
    pub fn finish(&self) {
        self.bar.finish_and_clear();
    }
}
