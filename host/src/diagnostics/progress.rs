//! Progress a person can follow, on stderr: an import (entries read and posted, the rate, the
//! time left), a verify (entries checked), a close run (tasks done of the total, the task
//! running and for how long). How it shows is chosen once per process ([`ProgressMode`]):
//!
//! - a bar redrawn in place (`indicatif`) when stderr is a terminal;
//! - a plain line every [`PROGRESS_LINE_INTERVAL_MS`] otherwise, for CI, cron and server logs,
//!   which keep every line and cannot redraw one (the close also prints a line per task);
//! - nothing with `--quiet`.
//!
//! Trace records written while a bar shows go through [`LogWriter`], which lifts the bar out of
//! the way first, so a record is never drawn into the middle of a bar.

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressState, ProgressStyle};
use std::io::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, OnceLock, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// How often a plain progress line is written when stderr is not a terminal: often enough that
/// a log shows a long import or close is alive, rarely enough that it does not fill the log.
pub const PROGRESS_LINE_INTERVAL_MS: u64 = 10_000;

/// Sets the interval of the plain progress lines for one process, in milliseconds (at least
/// [`PROGRESS_LINE_INTERVAL_MS_MIN`]): a server's log may want one a minute, a test one now.
pub const PROGRESS_LINE_INTERVAL_VARIABLE: &str = "CLOSEBOOK_PROGRESS_INTERVAL_MS";

/// The shortest interval the variable may set: shorter would write lines faster than anyone reads
/// them and cost the work it reports on.
pub const PROGRESS_LINE_INTERVAL_MS_MIN: u64 = 10;

/// How often a bar is redrawn, so the elapsed time moves while nothing else does.
const BAR_TICK_MS: u64 = 200;

/// Width of a bar, in characters: what the old hand-drawn close bar had.
const BAR_WIDTH_CHARS: usize = 24;

/// The fewest characters of status a bar shows, however narrow the terminal: less says nothing.
const BAR_STATUS_CHARS_MIN: usize = 20;

/// How progress shows in this process.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProgressMode {
    /// A bar redrawn in place: stderr is a terminal.
    Bar,
    /// A plain line every `interval`: stderr is a file or a pipe.
    Lines { interval: Duration },
    /// A trace event every `interval` (target `closebook::progress`, level info): stderr is a
    /// file or a pipe that takes JSON records only (`--log-format json`), so progress is shown
    /// when the trace shows info.
    Events { interval: Duration },
    /// Nothing: `--quiet`, or a library caller that chose no mode.
    Off,
}

impl ProgressMode {
    /// The mode for a process: none when quiet, a bar on a terminal (unless `TERM=dumb`, which
    /// cannot redraw), plain lines otherwise, or trace events when the trace is JSON.
    pub fn choose(quiet: bool, stderr_is_terminal: bool, json_trace: bool) -> Self {
        if quiet {
            return ProgressMode::Off;
        }
        let dumb = std::env::var_os("TERM").is_some_and(|term| term == "dumb");
        if stderr_is_terminal && !dumb {
            return ProgressMode::Bar;
        }
        let interval = line_interval().unwrap_or(Duration::from_millis(PROGRESS_LINE_INTERVAL_MS));
        if json_trace {
            ProgressMode::Events { interval }
        } else {
            ProgressMode::Lines { interval }
        }
    }
}

/// The interval of plain lines from [`PROGRESS_LINE_INTERVAL_VARIABLE`], or why it cannot be
/// used; the default when it is not set.
pub fn line_interval() -> Result<Duration, String> {
    let Some(value) = std::env::var_os(PROGRESS_LINE_INTERVAL_VARIABLE) else {
        return Ok(Duration::from_millis(PROGRESS_LINE_INTERVAL_MS));
    };
    let text = value.to_string_lossy();
    match text.trim().parse::<u64>() {
        Ok(milliseconds) if milliseconds >= PROGRESS_LINE_INTERVAL_MS_MIN => Ok(Duration::from_millis(milliseconds)),
        _ => Err(format!(
            "{PROGRESS_LINE_INTERVAL_VARIABLE}={text:?} is not a number of milliseconds of at least {PROGRESS_LINE_INTERVAL_MS_MIN}; progress lines come every {PROGRESS_LINE_INTERVAL_MS} ms"
        )),
    }
}

static MODE: OnceLock<ProgressMode> = OnceLock::new();

/// The bar on screen, if any: trace records lift it out of the way ([`suspend`]).
static ACTIVE_BAR: Mutex<Option<ProgressBar>> = Mutex::new(None);

/// Sets the process's mode; only the first call counts (the binary makes it at start).
pub fn set_mode(mode: ProgressMode) {
    let _ = MODE.set(mode);
}

/// The process's mode: off until the binary chose one, so a library caller prints nothing.
pub fn mode() -> ProgressMode {
    MODE.get().copied().unwrap_or(ProgressMode::Off)
}

/// Runs `work` (which writes to stderr) with the bar, if one shows, lifted out of the way.
pub fn suspend<R>(work: impl FnOnce() -> R) -> R {
    let bar = ACTIVE_BAR.lock().unwrap_or_else(PoisonError::into_inner).clone();
    match bar {
        Some(bar) => bar.suspend(work),
        None => work(),
    }
}

/// Where the trace writes: stderr, past the bar.
#[derive(Debug, Clone, Copy, Default)]
pub struct LogWriter;

impl<'writer> tracing_subscriber::fmt::MakeWriter<'writer> for LogWriter {
    type Writer = LogWriter;

    fn make_writer(&'writer self) -> LogWriter {
        LogWriter
    }
}

impl std::io::Write for LogWriter {
    fn write(&mut self, buffer: &[u8]) -> std::io::Result<usize> {
        // The formatter writes a whole record in one call, so a record is never split by a bar.
        suspend(|| std::io::stderr().lock().write_all(buffer))?;
        Ok(buffer.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        std::io::stderr().flush()
    }
}

/// One piece of work being watched: an import, a verify, a close run. Dropping it takes the bar
/// away, or stops the plain lines.
pub struct Progress {
    shared: Arc<Shared>,
    display: Display,
}

/// What the bar's redraws, the line thread and the caller share.
struct Shared {
    /// What is being done, e.g. `import jan.csv`.
    what: String,
    started: Instant,
    /// Whether the time left is estimated from the share done (not for a close, whose tasks
    /// take very different times).
    estimate: bool,
    state: Mutex<State>,
    /// A counter of units done that moves on its own (bytes a reading thread has read), read
    /// whenever the progress is shown; the caller's `update` sets the rest.
    live_done: OnceLock<Arc<AtomicU64>>,
}

#[derive(Debug, Default)]
struct State {
    done: u64,
    total: Option<u64>,
    /// What the caller says of the work so far, e.g. `240,000 entries read, 238,000 posted`.
    detail: String,
    /// When the current step (a close task) started, if the caller counts steps.
    step_started: Option<Instant>,
}

enum Display {
    Off,
    Bar(ProgressBar),
    Lines(LineThread),
}

/// The thread that writes a plain line (or a trace event) every interval until it is stopped.
struct LineThread {
    stop: Arc<(Mutex<bool>, Condvar)>,
    thread: Option<JoinHandle<()>>,
    events: bool,
}

impl Progress {
    /// Starts watching `what`, of `total` units when known (bytes of a file, entries, tasks);
    /// `estimate`: show the time left, estimated from the share done.
    pub fn start(what: impl Into<String>, total: Option<u64>, estimate: bool) -> Self {
        let shared = Arc::new(Shared {
            what: what.into(),
            started: Instant::now(),
            estimate,
            state: Mutex::new(State {
                total,
                detail: "starting".to_owned(),
                ..State::default()
            }),
            live_done: OnceLock::new(),
        });
        let display = match mode() {
            ProgressMode::Off => Display::Off,
            ProgressMode::Bar => Display::Bar(start_bar(&shared, total)),
            ProgressMode::Lines { interval } => Display::Lines(start_lines(&shared, interval, false)),
            ProgressMode::Events { interval } => Display::Lines(start_lines(&shared, interval, true)),
        };
        Self { shared, display }
    }

    /// Whether anything shows: a caller may skip composing details nobody reads.
    pub fn is_shown(&self) -> bool {
        !matches!(self.display, Display::Off)
    }

    /// The work so far: `done` units, and what to say of it.
    pub fn update(&self, done: u64, detail: impl Into<String>) {
        if !self.is_shown() {
            return;
        }
        {
            let mut state = self.shared.lock();
            state.done = done;
            state.detail = detail.into();
        }
        if let Display::Bar(bar) = &self.display {
            bar.set_position(done);
        }
    }

    /// Takes the units done from `counter` whenever the progress is shown, between updates too
    /// (the bytes an import's reading thread has read of its file).
    pub fn follow(&self, counter: Arc<AtomicU64>) {
        let _ = self.shared.live_done.set(counter);
    }

    /// A new step starts now (a close task): its time is shown from now on.
    pub fn step(&self, done: u64, detail: impl Into<String>) {
        if !self.is_shown() {
            return;
        }
        self.shared.lock().step_started = Some(Instant::now());
        self.update(done, detail);
    }

    /// The total, once it is known or when it changes.
    pub fn set_total(&self, total: u64) {
        if !self.is_shown() {
            return;
        }
        self.shared.lock().total = Some(total);
        if let Display::Bar(bar) = &self.display {
            bar.set_length(total);
        }
    }

    /// A line to keep (a close task's outcome): above the bar on a terminal, as it is in a log,
    /// nothing when quiet.
    pub fn println(&self, line: &str) {
        match &self.display {
            Display::Off => {}
            Display::Bar(bar) => bar.println(line),
            Display::Lines(lines) => write_line(lines.events, line),
        }
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        match &mut self.display {
            Display::Off => {}
            Display::Bar(bar) => {
                bar.finish_and_clear();
                *ACTIVE_BAR.lock().unwrap_or_else(PoisonError::into_inner) = None;
            }
            Display::Lines(lines) => {
                let (stopped, wake) = &*lines.stop;
                *stopped.lock().unwrap_or_else(PoisonError::into_inner) = true;
                wake.notify_all();
                if let Some(thread) = lines.thread.take() {
                    let _ = thread.join();
                }
            }
        }
    }
}

impl Shared {
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The progress in words, e.g. `240,000 entries read, 238,000 posted, 52,000 entries/s; 35 %,
    /// 4.6 s elapsed, about 9 s left`.
    fn status(&self) -> String {
        let state = self.lock();
        let elapsed = self.started.elapsed();
        let mut text = state.detail.clone();
        if let Some(step_started) = state.step_started {
            text.push_str(&format!(" for {}", human_duration(step_started.elapsed())));
        }
        text.push_str("; ");
        if let Some(total) = state.total.filter(|total| *total > 0) {
            let live = self
                .live_done
                .get()
                .map_or(0, |counter| counter.load(Ordering::Relaxed));
            let done = state.done.max(live).min(total);
            text.push_str(&format!("{} %, ", done * 100 / total));
            if self.estimate
                && done > 0
                && done < total
                && let Some(left) = time_left(elapsed, done, total)
            {
                text.push_str(&format!(
                    "{} elapsed, about {} left",
                    human_duration(elapsed),
                    human_duration(left)
                ));
                return text;
            }
        }
        text.push_str(&format!("{} elapsed", human_duration(elapsed)));
        text
    }
}

/// `text` cut to `chars` characters, the last of them `…` when it was cut.
fn cut(text: &str, chars: usize) -> std::borrow::Cow<'_, str> {
    if text.chars().count() <= chars {
        return std::borrow::Cow::Borrowed(text);
    }
    let mut shown: String = text.chars().take(chars.saturating_sub(1)).collect();
    shown.push('…');
    std::borrow::Cow::Owned(shown)
}

/// The time the rest takes at the rate so far.
fn time_left(elapsed: Duration, done: u64, total: u64) -> Option<Duration> {
    let rate = done as f64 / elapsed.as_secs_f64();
    (rate.is_finite() && rate > 0.0).then(|| Duration::from_secs_f64((total - done) as f64 / rate))
}

/// A duration as a person reads it: `0.4 s`, `4.6 s`, `12 s`, `3 min 5 s`, `1 h 2 min`.
pub fn human_duration(duration: Duration) -> String {
    let seconds = duration.as_secs_f64();
    if seconds < 10.0 {
        return format!("{seconds:.1} s");
    }
    let whole = duration.as_secs();
    match whole {
        0..60 => format!("{whole} s"),
        60..3_600 => format!("{} min {} s", whole / 60, whole % 60),
        _ => format!("{} h {} min", whole / 3_600, whole % 3_600 / 60),
    }
}

/// A count as a person reads it: `1,234,567`.
pub fn count(value: u64) -> String {
    crate::output::grouped(rust_decimal::Decimal::from(value))
}

/// A rate per second of `count` things over `elapsed`, grouped, e.g. `52,000`.
pub fn per_second(things: u64, elapsed: Duration) -> String {
    let seconds = elapsed.as_secs_f64();
    if seconds <= 0.0 {
        return "0".to_owned();
    }
    count((things as f64 / seconds).round() as u64)
}

fn start_bar(shared: &Arc<Shared>, total: Option<u64>) -> ProgressBar {
    // The status is cut to what the terminal's line leaves after the name and the bar: a line
    // that wraps is redrawn as two and leaves copies of itself behind.
    // (The width indicatif draws to: the terminal's, or 80 columns when it does not say.)
    let (_rows, width) = console::Term::stderr().size();
    let room_chars = usize::from(width)
        .saturating_sub(shared.what.chars().count() + BAR_WIDTH_CHARS + 5)
        .max(BAR_STATUS_CHARS_MIN);
    let bar = ProgressBar::with_draw_target(total, ProgressDrawTarget::stderr());
    let status = {
        let shared = Arc::clone(shared);
        move |_: &ProgressState, out: &mut dyn std::fmt::Write| {
            let _ = out.write_str(&cut(&shared.status(), room_chars));
        }
    };
    let template = if total.is_some() {
        format!("{{prefix}} [{{bar:{BAR_WIDTH_CHARS}}}] {{status}}")
    } else {
        "{spinner} {prefix} {status}".to_owned()
    };
    let style = ProgressStyle::with_template(&template)
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("#>-")
        .with_key("status", status);
    bar.set_style(style);
    bar.set_prefix(shared.what.clone());
    bar.enable_steady_tick(Duration::from_millis(BAR_TICK_MS));
    *ACTIVE_BAR.lock().unwrap_or_else(PoisonError::into_inner) = Some(bar.clone());
    bar
}

fn start_lines(shared: &Arc<Shared>, interval: Duration, events: bool) -> LineThread {
    let stop = Arc::new((Mutex::new(false), Condvar::new()));
    let thread = {
        let shared = Arc::clone(shared);
        let stop = Arc::clone(&stop);
        std::thread::Builder::new()
            .name("closebook-progress".to_owned())
            .spawn(move || write_lines(&shared, &stop, interval, events))
            // Without the thread there are no periodic lines; the work goes on.
            .ok()
    };
    LineThread { stop, thread, events }
}

/// One line of progress: on stderr, or as a trace event.
fn write_line(event: bool, line: &str) {
    if event {
        tracing::info!(target: "closebook::progress", "{line}");
    } else {
        let _ = writeln!(std::io::stderr().lock(), "{line}");
    }
}

/// Writes the status every `interval` until stopped.
fn write_lines(shared: &Shared, stop: &(Mutex<bool>, Condvar), interval: Duration, events: bool) {
    let (stopped, wake) = stop;
    let mut guard = stopped.lock().unwrap_or_else(PoisonError::into_inner);
    loop {
        let deadline = Instant::now() + interval;
        // Woken early only to stop; a spurious wake waits out the rest of the interval.
        while !*guard {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            guard = wake.wait_timeout(guard, left).unwrap_or_else(PoisonError::into_inner).0;
        }
        if *guard {
            return;
        }
        write_line(events, &format!("{}: {}", shared.what, shared.status()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shared(total: Option<u64>, estimate: bool) -> Shared {
        Shared {
            what: "import x.csv".to_owned(),
            started: Instant::now() - Duration::from_secs(4),
            estimate,
            state: Mutex::new(State {
                total,
                detail: "starting".to_owned(),
                ..State::default()
            }),
            live_done: OnceLock::new(),
        }
    }

    #[test]
    fn the_status_says_the_share_done_and_the_time_left() {
        // Proves the words of a progress line: the caller's detail, the share done, the time so
        // far and, when estimated, the time left at the rate so far.
        let shared = shared(Some(100), true);
        {
            let mut state = shared.lock();
            state.done = 25;
            state.detail = "25 entries read".to_owned();
        }
        let status = shared.status();
        assert!(
            status.starts_with("25 entries read; 25 %, 4.0 s elapsed, about "),
            "{status}"
        );
        assert!(status.ends_with(" s left"), "{status}");
    }

    #[test]
    fn a_step_shows_its_own_time_and_no_estimate_unless_asked() {
        // Proves a close's line: the task running for how long, and no time left.
        let shared = shared(Some(4), false);
        {
            let mut state = shared.lock();
            state.done = 1;
            state.detail = "1 of 4 tasks done, running ACME-US accrue".to_owned();
            state.step_started = Some(Instant::now());
        }
        let status = shared.status();
        assert!(
            status.starts_with("1 of 4 tasks done, running ACME-US accrue for 0.0 s; 25 %, 4.0 s elapsed"),
            "{status}"
        );
        assert!(!status.contains("left"), "{status}");
    }

    #[test]
    fn a_status_too_long_for_the_line_is_cut() {
        // Proves the cut keeps short text whole and ends cut text with an ellipsis, in width.
        assert_eq!(cut("short", 10), "short");
        assert_eq!(cut("a longer status", 8), "a longe…");
        assert_eq!(cut("a longer status", 8).chars().count(), 8);
    }

    #[test]
    fn durations_read_as_a_person_says_them() {
        // Proves each range of `human_duration`.
        assert_eq!(human_duration(Duration::from_millis(400)), "0.4 s");
        assert_eq!(human_duration(Duration::from_millis(12_700)), "12 s");
        assert_eq!(human_duration(Duration::from_secs(185)), "3 min 5 s");
        assert_eq!(human_duration(Duration::from_secs(3_720)), "1 h 2 min");
    }

    #[test]
    fn quiet_shows_nothing_and_a_pipe_gets_lines() {
        // Proves the choice of mode: quiet wins over a terminal, and a pipe gets plain lines.
        assert_eq!(ProgressMode::choose(true, true, false), ProgressMode::Off);
        assert_eq!(ProgressMode::choose(true, false, true), ProgressMode::Off);
        assert!(matches!(
            ProgressMode::choose(false, false, false),
            ProgressMode::Lines { .. }
        ));
        assert!(matches!(
            ProgressMode::choose(false, false, true),
            ProgressMode::Events { .. }
        ));
    }
}
