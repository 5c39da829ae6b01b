//! Progress on stderr (indicatif): a bar for passes over a file (bytes read, pass number), and a
//! spinner with the stage name and the elapsed time for in-memory work, whose library calls
//! report nothing while they run.
//!
//! Both show only when stderr is a terminal, `--quiet` is off, and the work has run for more than
//! a second (short runs print nothing). The spinner is drawn by its own thread while the calling
//! thread computes, and cleared when its stage ends.

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::IsTerminal;
use std::sync::mpsc::{self, RecvTimeoutError, Sender};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// How long work runs before its progress shows: one second, or `LINOPS_PROGRESS_DELAY_MS`
/// milliseconds (the tests' knob for drawing on a pseudo-terminal at once).
pub fn delay() -> Duration {
    std::env::var("LINOPS_PROGRESS_DELAY_MS")
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .map_or(Duration::from_secs(1), Duration::from_millis)
}

/// Whether progress may be drawn: not `--quiet`, and stderr is a terminal.
pub fn enabled(quiet: bool) -> bool {
    !quiet && std::io::stderr().is_terminal()
}

/// A spinner for one in-memory stage (`randomized SVD of a.npy`, …): after `after` it shows
/// `⠋ stage 3s` and keeps turning until dropped, when it is cleared.
pub struct Spinner {
    stop: Option<Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl Spinner {
    /// A spinner on stderr for `stage`, shown after [`delay`] (one second) when [`enabled`]
    /// (else nothing: no thread is started).
    pub fn start(stage: impl Into<String>, quiet: bool) -> Self {
        if enabled(quiet) {
            Self::with_target(stage, delay(), ProgressDrawTarget::stderr)
        } else {
            Self {
                stop: None,
                thread: None,
            }
        }
    }

    /// A spinner drawn to `target()` once `after` has passed (the target is built on the
    /// spinner's thread, when it is first drawn).
    pub fn with_target(
        stage: impl Into<String>,
        after: Duration,
        target: impl FnOnce() -> ProgressDrawTarget + Send + 'static,
    ) -> Self {
        let stage = stage.into();
        let (tx, rx) = mpsc::channel::<()>();
        let start = Instant::now();
        let thread = std::thread::spawn(move || {
            // Dropping the sender (the stage ended) disconnects the channel and ends the wait.
            if rx.recv_timeout(after) != Err(RecvTimeoutError::Timeout) {
                return;
            }
            // The elapsed time counts from the stage's start, not from the first draw.
            let bar = ProgressBar::with_draw_target(None, target()).with_elapsed(start.elapsed());
            if let Ok(style) = ProgressStyle::with_template("{spinner} {msg} {elapsed}") {
                bar.set_style(style);
            }
            bar.set_message(stage);
            while rx.recv_timeout(Duration::from_millis(100)) == Err(RecvTimeoutError::Timeout) {
                bar.tick();
            }
            bar.finish_and_clear();
        });
        Self {
            stop: Some(tx),
            thread: Some(thread),
        }
    }
}

impl Drop for Spinner {
    fn drop(&mut self) {
        drop(self.stop.take());
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Progress of the passes over one input.
pub struct Progress {
    bar: ProgressBar,
    enabled: bool,
    shown: bool,
    start: Instant,
    delay: Duration,
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
            enabled: enabled(quiet),
            shown: false,
            start: Instant::now(),
            delay: delay(),
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
        if self.enabled && !self.shown && self.start.elapsed() >= self.delay {
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    /// A terminal that records what is written to it.
    #[derive(Debug, Clone, Default)]
    struct Recorder(Arc<Mutex<String>>);

    impl indicatif::TermLike for Recorder {
        fn width(&self) -> u16 {
            80
        }
        fn move_cursor_up(&self, _: usize) -> std::io::Result<()> {
            Ok(())
        }
        fn move_cursor_down(&self, _: usize) -> std::io::Result<()> {
            Ok(())
        }
        fn move_cursor_right(&self, _: usize) -> std::io::Result<()> {
            Ok(())
        }
        fn move_cursor_left(&self, _: usize) -> std::io::Result<()> {
            Ok(())
        }
        fn write_line(&self, s: &str) -> std::io::Result<()> {
            self.write_str(s)
        }
        fn write_str(&self, s: &str) -> std::io::Result<()> {
            self.0.lock().unwrap().push_str(s);
            Ok(())
        }
        fn clear_line(&self) -> std::io::Result<()> {
            Ok(())
        }
        fn flush(&self) -> std::io::Result<()> {
            Ok(())
        }
    }

    fn spinner(after: Duration) -> (Spinner, Recorder) {
        let rec = Recorder::default();
        let r = rec.clone();
        let sp = Spinner::with_target("randomized SVD of a.npy", after, move || {
            ProgressDrawTarget::term_like(Box::new(r))
        });
        (sp, rec)
    }

    #[test]
    fn a_long_stage_shows_its_name_and_elapsed_time() {
        let (sp, rec) = spinner(Duration::from_millis(50));
        std::thread::sleep(Duration::from_millis(400));
        let shown = rec.0.lock().unwrap().clone();
        drop(sp);
        assert!(
            shown.contains("randomized SVD of a.npy") && shown.contains("0s"),
            "drawn: {shown:?}"
        );
    }

    #[test]
    fn a_short_stage_draws_nothing() {
        let (sp, rec) = spinner(Duration::from_secs(5));
        std::thread::sleep(Duration::from_millis(20));
        let t = Instant::now();
        drop(sp);
        // Dropping wakes the thread at once (no wait for the threshold).
        assert!(t.elapsed() < Duration::from_secs(1));
        assert_eq!(rec.0.lock().unwrap().as_str(), "");
    }

    #[test]
    fn quiet_starts_no_thread() {
        let sp = Spinner::start("x", true);
        assert!(sp.thread.is_none());
    }
}
