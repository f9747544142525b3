//! Progress for long hashing jobs: a bar on a terminal (indicatif), plain
//! lines every few seconds otherwise, so logs from systemd or CI stay readable.

use std::io::IsTerminal;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};

/// A byte counter shared by the hashing threads.
pub struct Progress {
    bar: Option<ProgressBar>,
    label: &'static str,
    /// Plain lines are printed (no terminal, not quiet).
    lines: bool,
    total: u64,
    done: AtomicU64,
    last_line: Mutex<Instant>,
    started: Instant,
}

/// How often the plain-line mode prints.
const LINE_EVERY: Duration = Duration::from_secs(5);

impl Progress {
    /// A progress report for `total` bytes of work labelled `label`.
    /// `quiet` suppresses all output.
    pub fn new(label: &'static str, total: u64, quiet: bool) -> Self {
        let bar = (!quiet && std::io::stderr().is_terminal()).then(|| {
            let bar = ProgressBar::new(total);
            let style = ProgressStyle::with_template(
                "{msg:>8} [{bar:40}] {bytes}/{total_bytes} {bytes_per_sec} eta {eta}",
            )
            .map(|s| s.progress_chars("=> "))
            .unwrap_or_else(|_| ProgressStyle::default_bar());
            bar.set_style(style);
            bar.set_message(label);
            bar
        });
        let now = Instant::now();
        Self {
            lines: !quiet && bar.is_none(),
            bar,
            label,
            total,
            done: AtomicU64::new(0),
            last_line: Mutex::new(now),
            started: now,
        }
    }

    /// Adds `bytes` of finished work. Called from many threads.
    pub fn add(&self, bytes: u64) {
        let done = self.done.fetch_add(bytes, Ordering::Relaxed) + bytes;
        if let Some(bar) = &self.bar {
            bar.set_position(done);
            return;
        }
        if !self.lines {
            return;
        }
        let Ok(mut last) = self.last_line.try_lock() else {
            return;
        };
        if last.elapsed() >= LINE_EVERY {
            *last = Instant::now();
            let pct = done.saturating_mul(100) / self.total.max(1);
            eprintln!(
                "{}: {pct}% ({} of {} MiB)",
                self.label,
                done >> 20,
                self.total >> 20
            );
        }
    }

    /// Ends the bar and returns the elapsed time.
    pub fn finish(&self) -> Duration {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
        self.started.elapsed()
    }
}
