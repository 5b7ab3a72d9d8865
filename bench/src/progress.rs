//! What a person sees while the benchmark runs: closebook's own progress display, a bar with the
//! current phase and the time so far on a terminal, and otherwise the phase lines (each kept)
//! with a plain line every interval during a long phase. `closebook-bench` starts it; the
//! measurements announce each phase with [`phase!`](crate::phase).

use closebook::diagnostics::Progress;
use closebook::diagnostics::progress::{ProgressMode, set_mode};
use std::io::IsTerminal as _;
use std::sync::Mutex;

/// The run's progress and the phases announced so far.
static CURRENT: Mutex<Option<(Progress, u64)>> = Mutex::new(None);

/// Starts showing the progress of `what` (a bar on a terminal, lines otherwise).
pub fn start(what: &str) {
    set_mode(ProgressMode::choose(false, std::io::stderr().is_terminal(), false));
    *CURRENT.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = Some((Progress::start(what, None, false), 0));
}

/// A phase begins: the line is kept (above the bar, or in the log), and the bar shows it.
pub fn phase(text: &str) {
    let mut current = CURRENT.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    match current.as_mut() {
        Some((progress, done)) => {
            *done += 1;
            progress.println(text);
            progress.step(*done, text);
        }
        None => eprintln!("{text}"),
    }
}

/// Ends the display.
pub fn finish() {
    CURRENT.lock().unwrap_or_else(std::sync::PoisonError::into_inner).take();
}

/// Announces a phase of the benchmark, `format!`-style.
#[macro_export]
macro_rules! phase {
    ($($argument:tt)*) => {
        $crate::progress::phase(&format!($($argument)*))
    };
}
