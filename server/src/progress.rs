//! Progress of long work (reading a file, training, scoring users), on stderr.
//!
//! On a terminal a step is an indicatif bar. Anywhere else (a pipe, a log file, CI) it is one
//! plain line every [`INTERVAL_ENV`] seconds (default 3) while the step runs and one when it
//! ends, never one per row:
//!
//! ```text
//! train lightfm: epoch 12/30, 14.2s elapsed, ~21s left
//! train lightfm: epoch 30/30, done in 35.1s
//! ```
//!
//! `reco --quiet` turns both off. Results and errors are printed whatever the mode.
use std::borrow::Cow;
use std::io::IsTerminal;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use indicatif::{BinaryBytes, ProgressBar, ProgressStyle};

use crate::error::{Result, ServerError};

/// The environment variable holding the seconds between two plain progress lines.
pub const INTERVAL_ENV: &str = "RECO_PROGRESS_INTERVAL";
/// Seconds between two plain progress lines when [`INTERVAL_ENV`] is not set.
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(3);
/// The `--help` paragraph of the commands that show progress.
pub const HELP: &str = "Progress goes to stderr: a bar on a terminal, otherwise one line every \
RECO_PROGRESS_INTERVAL seconds (default 3) with the step, i/N, elapsed and remaining time, and \
one when the step ends. --quiet turns it off.";

static QUIET: AtomicBool = AtomicBool::new(false);
/// Set while [`muted`] runs: steps started meanwhile show nothing.
static MUTED: AtomicBool = AtomicBool::new(false);

/// Runs `f` with the progress of the steps it starts hidden (a step already running, such as
/// `reco tune`'s, keeps showing).
pub fn muted<T>(f: impl FnOnce() -> T) -> T {
    struct Restore(bool);
    impl Drop for Restore {
        fn drop(&mut self) {
            MUTED.store(self.0, Ordering::Relaxed);
        }
    }
    let _restore = Restore(MUTED.swap(true, Ordering::Relaxed));
    f()
}

/// Applies `--quiet` and checks [`INTERVAL_ENV`]; `main` calls it once before any command.
pub fn configure(quiet: bool) -> Result<()> {
    QUIET.store(quiet, Ordering::Relaxed);
    interval().map(|_| ())
}

/// The interval between plain progress lines: [`INTERVAL_ENV`] seconds, else
/// [`DEFAULT_INTERVAL`]. Fails when the variable is not a number of seconds > 0.
pub fn interval() -> Result<Duration> {
    let Some(raw) = std::env::var_os(INTERVAL_ENV) else {
        return Ok(DEFAULT_INTERVAL);
    };
    let text = raw.to_string_lossy();
    text.trim()
        .parse::<f64>()
        .ok()
        .filter(|s| s.is_finite() && *s > 0.0 && *s <= 86_400.0)
        .map(Duration::from_secs_f64)
        .ok_or_else(|| {
            ServerError::Usage(format!(
                "{INTERVAL_ENV}={text:?}: expected the seconds between progress lines, a number \
                 above 0 such as 3 or 0.5 (unset it for the default of 3)"
            ))
        })
}

/// True when log lines written to stdout should carry ANSI colours: stdout is a terminal and
/// `NO_COLOR` is unset or empty (<https://no-color.org>).
pub fn ansi_logs() -> bool {
    std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
}

/// What a step counts.
#[derive(Debug, Clone, Copy)]
enum Unit {
    /// Whole things: `epoch 3/30`, `users 1200/4338`.
    Count(&'static str),
    /// Bytes of a file: `12.00 MiB/22.62 MiB`.
    Bytes,
    /// Nothing countable: only the elapsed time is shown.
    None,
}

/// One long step. Clones share it; it ends with [`Progress::finish`] (or silently when the
/// last clone is dropped, e.g. on an error).
#[derive(Clone)]
pub struct Progress(Arc<Inner>);

enum Inner {
    Hidden,
    Bar(ProgressBar),
    Lines {
        state: Arc<State>,
        ticker: Mutex<Option<JoinHandle<()>>>,
    },
}

/// What the plain-line ticker thread reads.
struct State {
    label: String,
    unit: Unit,
    total: Option<u64>,
    pos: AtomicU64,
    start: Instant,
    /// A periodic line was printed.
    printed: AtomicBool,
    stopped: Mutex<bool>,
    wake: Condvar,
}

impl Progress {
    /// A step of `total` `what`s (`"epoch"`, `"iteration"`, `"users"`), shown as `what i/N`.
    pub fn count(label: impl Into<String>, what: &'static str, total: u64) -> Self {
        Self::start(label.into(), Unit::Count(what), Some(total))
    }

    /// Reading `total` bytes (of a file).
    pub fn bytes(label: impl Into<String>, total: u64) -> Self {
        Self::start(label.into(), Unit::Bytes, Some(total))
    }

    /// A step with nothing to count: shows the elapsed time.
    pub fn spinner(label: impl Into<String>) -> Self {
        Self::start(label.into(), Unit::None, None)
    }

    /// A progress that shows nothing (for callers that asked for no progress).
    pub fn hidden() -> Self {
        Progress(Arc::new(Inner::Hidden))
    }

    fn start(label: String, unit: Unit, total: Option<u64>) -> Self {
        if QUIET.load(Ordering::Relaxed) || MUTED.load(Ordering::Relaxed) {
            return Self::hidden();
        }
        if std::io::stderr().is_terminal() {
            return Progress(Arc::new(Inner::Bar(bar(label, unit, total))));
        }
        let state = Arc::new(State {
            label,
            unit,
            total,
            pos: AtomicU64::new(0),
            start: Instant::now(),
            printed: AtomicBool::new(false),
            stopped: Mutex::new(false),
            wake: Condvar::new(),
        });
        let every = interval().unwrap_or(DEFAULT_INTERVAL);
        let shared = Arc::clone(&state);
        // No thread, no periodic lines: the step still runs and its closing line is printed.
        let ticker = std::thread::Builder::new()
            .name("reco-progress".into())
            .spawn(move || loop {
                let stopped = shared.stopped.lock().unwrap_or_else(PoisonError::into_inner);
                let (stopped, _) = shared
                    .wake
                    .wait_timeout_while(stopped, every, |s| !*s)
                    .unwrap_or_else(PoisonError::into_inner);
                if *stopped {
                    return;
                }
                drop(stopped);
                eprintln!("{}", shared.line(false));
                shared.printed.store(true, Ordering::Relaxed);
            })
            .ok();
        Progress(Arc::new(Inner::Lines {
            state,
            ticker: Mutex::new(ticker),
        }))
    }

    /// Advances by `n` (from any thread).
    pub fn inc(&self, n: u64) {
        match &*self.0 {
            Inner::Hidden => {}
            Inner::Bar(bar) => bar.inc(n),
            Inner::Lines { state, .. } => {
                state.pos.fetch_add(n, Ordering::Relaxed);
            }
        }
    }

    /// A detail shown next to the bar on a terminal (plain lines leave it out).
    pub fn set_message(&self, msg: impl Into<Cow<'static, str>>) {
        if let Inner::Bar(bar) = &*self.0 {
            bar.set_message(msg);
        }
    }

    /// Prints `line` on stderr without breaking the bar (also when progress is hidden).
    pub fn println(&self, line: impl AsRef<str>) {
        match &*self.0 {
            Inner::Bar(bar) => bar.println(line),
            _ => eprintln!("{}", line.as_ref()),
        }
    }

    /// True when a terminal bar shows the step (so its message is seen).
    pub fn is_bar(&self) -> bool {
        matches!(&*self.0, Inner::Bar(_))
    }

    /// Ends the step: the bar stays on a terminal; otherwise the closing line
    /// (`…, done in 12.3s`) is printed.
    pub fn finish(&self) {
        match &*self.0 {
            Inner::Hidden => {}
            Inner::Bar(bar) => bar.finish(),
            Inner::Lines { state, ticker } => {
                if stop(state, ticker) {
                    eprintln!("{}", state.line(true));
                }
            }
        }
    }

    /// Ends the step and removes the bar from a terminal; otherwise the closing line is
    /// printed only when periodic lines were (a short step leaves no trace).
    pub fn finish_and_clear(&self) {
        match &*self.0 {
            Inner::Hidden => {}
            Inner::Bar(bar) => bar.finish_and_clear(),
            Inner::Lines { state, ticker } => {
                if stop(state, ticker) && state.printed.load(Ordering::Relaxed) {
                    eprintln!("{}", state.line(true));
                }
            }
        }
    }
}

/// Stops the ticker thread; true the first time (so the closing line is printed once).
fn stop(state: &State, ticker: &Mutex<Option<JoinHandle<()>>>) -> bool {
    {
        let mut stopped = state.stopped.lock().unwrap_or_else(PoisonError::into_inner);
        if *stopped {
            return false;
        }
        *stopped = true;
    }
    state.wake.notify_all();
    let handle = ticker.lock().unwrap_or_else(PoisonError::into_inner).take();
    if let Some(handle) = handle {
        let _ = handle.join();
    }
    true
}

impl Drop for Inner {
    fn drop(&mut self) {
        if let Inner::Lines { state, ticker } = self {
            stop(state, ticker);
        }
    }
}

impl State {
    /// `label: what i/N, 3.2s elapsed, ~10s left` (or `…, done in 13.2s` when `done`).
    fn line(&self, done: bool) -> String {
        let elapsed = self.start.elapsed().as_secs_f64();
        let pos = self.pos.load(Ordering::Relaxed);
        let mut line = self.label.clone();
        let counted = match (self.unit, self.total) {
            (Unit::Count(what), Some(total)) => Some(format!("{what} {pos}/{total}")),
            (Unit::Bytes, Some(total)) => Some(format!(
                "{}/{} ({:.0}%)",
                BinaryBytes(pos),
                BinaryBytes(total),
                100.0 * pos as f64 / total.max(1) as f64
            )),
            _ => None,
        };
        line.push_str(": ");
        if let Some(c) = &counted {
            line.push_str(c);
            line.push_str(", ");
        }
        if done {
            line.push_str(&format!("done in {}", seconds(elapsed)));
            return line;
        }
        line.push_str(&format!("{} elapsed", seconds(elapsed)));
        match self.total {
            Some(total) if pos >= total => line.push_str(", finishing"),
            Some(total) if pos > 0 => {
                let left = elapsed / pos as f64 * (total - pos) as f64;
                line.push_str(&format!(", ~{} left", seconds(left)));
            }
            Some(_) => line.push_str(", remaining time not known yet"),
            None => {}
        }
        line
    }
}

/// `0.4s`, `12s`, `3m05s`, `1h02m`.
fn seconds(s: f64) -> String {
    if s < 10.0 {
        format!("{s:.1}s")
    } else if s < 60.0 {
        format!("{s:.0}s")
    } else if s < 3600.0 {
        let s = s.round() as u64;
        format!("{}m{:02}s", s / 60, s % 60)
    } else {
        let m = (s / 60.0).round() as u64;
        format!("{}h{:02}m", m / 60, m % 60)
    }
}

fn bar(label: String, unit: Unit, total: Option<u64>) -> ProgressBar {
    let template = match unit {
        Unit::Count(what) => {
            format!("{{prefix}} [{{bar:30}}] {what} {{pos}}/{{len}} {{elapsed}}, ~{{eta}} left {{msg}}")
        }
        Unit::Bytes => {
            "{prefix} [{bar:30}] {binary_bytes}/{binary_total_bytes} {elapsed}, ~{eta} left {msg}".into()
        }
        Unit::None => "{spinner} {prefix} {elapsed} {msg}".into(),
    };
    let bar = match total {
        Some(n) => ProgressBar::new(n),
        None => ProgressBar::new_spinner(),
    };
    if let Ok(style) = ProgressStyle::with_template(&template) {
        bar.set_style(style.progress_chars("=> "));
    }
    bar.set_prefix(label);
    bar.enable_steady_tick(Duration::from_millis(250));
    bar
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state(unit: Unit, total: Option<u64>, pos: u64) -> State {
        State {
            label: "train lightfm".into(),
            unit,
            total,
            pos: AtomicU64::new(pos),
            start: Instant::now() - Duration::from_secs(4),
            printed: AtomicBool::new(false),
            stopped: Mutex::new(false),
            wake: Condvar::new(),
        }
    }

    #[test]
    fn lines_show_the_step_i_of_n_elapsed_and_remaining_time() {
        let line = state(Unit::Count("epoch"), Some(30), 10).line(false);
        assert!(
            line.starts_with("train lightfm: epoch 10/30, 4.0s elapsed, ~8.0s left"),
            "{line}"
        );
        let line = state(Unit::Count("epoch"), Some(30), 30).line(true);
        assert!(
            line.starts_with("train lightfm: epoch 30/30, done in 4.0s"),
            "{line}"
        );
        let line = state(Unit::Count("epoch"), Some(30), 0).line(false);
        assert!(line.ends_with("elapsed, remaining time not known yet"), "{line}");
        let line = state(Unit::Bytes, Some(4 << 20), 1 << 20).line(false);
        assert!(
            line.contains("1.00 MiB/4.00 MiB (25%), 4.0s elapsed, ~12s left"),
            "{line}"
        );
        let line = state(Unit::None, None, 0).line(false);
        assert_eq!(line, "train lightfm: 4.0s elapsed");
    }

    #[test]
    fn durations_read_like_a_person_writes_them() {
        assert_eq!(seconds(0.42), "0.4s");
        assert_eq!(seconds(12.4), "12s");
        assert_eq!(seconds(185.0), "3m05s");
        assert_eq!(seconds(3720.0), "1h02m");
    }
}
