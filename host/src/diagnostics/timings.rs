//! `--timings`: where a command's time went, summed from its spans. A layer of the trace
//! subscriber times every span of closebook's crates (at debug level and above, whatever the
//! trace shows) while it is entered, and adds it, when it closes, to its phase: the path of span
//! names from the command down (`command > close.run > close.task > plugin.run`). After the
//! command the phases print as a tree with their calls, their total time and their own time (the
//! total less the phases under it on the same thread), so the own times add up to the command's
//! time and the largest one is where to look.
//!
//! A span that runs on another thread than its parent (the import's reading thread) is counted
//! in its own row, marked `(own thread)`, but not taken off its parent's own time: the two ran
//! side by side.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::ThreadId;
use std::time::{Duration, Instant};
use tracing::span::{Attributes, Id};
use tracing::{Level, Metadata, Subscriber};
use tracing_subscriber::filter::FilterFn;
use tracing_subscriber::layer::{Context, Layer};
use tracing_subscriber::registry::LookupSpan;

/// Phases one command may have: a bound on the table's memory whatever the spans. The deepest
/// close has a handful of levels with a few names each; more means a bug, and the phases beyond
/// it are counted in one row.
const PHASES_MAX: usize = 1_000;

/// The summed phases of one command.
#[derive(Default)]
pub(super) struct Timings {
    phases: Mutex<Phases>,
}

#[derive(Default)]
struct Phases {
    /// By path of span names from the outermost span.
    by_path: BTreeMap<Vec<&'static str>, Phase>,
    /// Spans that closed after `PHASES_MAX` phases were known.
    dropped: u64,
    /// The order in which paths were first seen, for the table's order.
    seen: u64,
}

#[derive(Debug, Default, Clone, Copy)]
struct Phase {
    calls: u64,
    total: Duration,
    own: Duration,
    first_seen: u64,
    /// Ran on another thread than its parent, beside it rather than inside its time.
    beside_parent: bool,
}

/// What the layer keeps in one open span.
struct SpanTiming {
    path: Vec<&'static str>,
    thread: ThreadId,
    beside_parent: bool,
    /// How many times the span is entered now (a span can be entered again inside itself).
    depth: u32,
    entered_at: Option<Instant>,
    busy: Duration,
    /// The busy time of the closed spans under it on the same thread.
    children_busy: Duration,
}

/// Only the spans of closebook's crates, at debug level and above: trace-level spans are too
/// many to time cheaply, and other crates' spans are not phases of closebook.
pub(super) fn own_spans() -> FilterFn<impl Fn(&Metadata<'_>) -> bool> {
    FilterFn::new(|metadata: &Metadata<'_>| {
        metadata.is_span()
            && *metadata.level() <= Level::DEBUG
            && super::OWN_TARGETS
                .iter()
                .any(|target| is_target_or_module(metadata.target(), target))
    })
}

/// Whether `target` is the crate `name` or one of its modules (`closebook::close`, not
/// `closebook_ledger` for `closebook`).
fn is_target_or_module(target: &str, name: &str) -> bool {
    target == name || target.strip_prefix(name).is_some_and(|rest| rest.starts_with("::"))
}

pub(super) struct TimingsLayer {
    timings: Arc<Timings>,
}

impl TimingsLayer {
    pub(super) fn new(timings: Arc<Timings>) -> Self {
        Self { timings }
    }
}

impl<S> Layer<S> for TimingsLayer
where
    S: Subscriber + for<'lookup> LookupSpan<'lookup>,
{
    fn on_new_span(&self, attributes: &Attributes<'_>, id: &Id, context: Context<'_, S>) {
        let Some(span) = context.span(id) else {
            return;
        };
        let thread = std::thread::current().id();
        let (mut path, beside_parent) = span
            .parent()
            .and_then(|parent| {
                parent
                    .extensions()
                    .get::<SpanTiming>()
                    .map(|timing| (timing.path.clone(), timing.thread != thread))
            })
            .unwrap_or_default();
        path.push(attributes.metadata().name());
        span.extensions_mut().insert(SpanTiming {
            path,
            thread,
            beside_parent,
            depth: 0,
            entered_at: None,
            busy: Duration::ZERO,
            children_busy: Duration::ZERO,
        });
    }

    fn on_enter(&self, id: &Id, context: Context<'_, S>) {
        let Some(span) = context.span(id) else {
            return;
        };
        if let Some(timing) = span.extensions_mut().get_mut::<SpanTiming>() {
            if timing.depth == 0 {
                timing.entered_at = Some(Instant::now());
            }
            timing.depth += 1;
        }
    }

    fn on_exit(&self, id: &Id, context: Context<'_, S>) {
        let Some(span) = context.span(id) else {
            return;
        };
        if let Some(timing) = span.extensions_mut().get_mut::<SpanTiming>() {
            timing.depth = timing.depth.saturating_sub(1);
            if timing.depth == 0
                && let Some(entered_at) = timing.entered_at.take()
            {
                timing.busy += entered_at.elapsed();
            }
        }
    }

    fn on_close(&self, id: Id, context: Context<'_, S>) {
        let Some(span) = context.span(&id) else {
            return;
        };
        let Some(timing) = span.extensions_mut().remove::<SpanTiming>() else {
            return;
        };
        if let Some(parent) = span.parent()
            && let Some(parent_timing) = parent.extensions_mut().get_mut::<SpanTiming>()
            && parent_timing.thread == timing.thread
        {
            parent_timing.children_busy += timing.busy;
        }
        self.timings.add(timing);
    }
}

impl Timings {
    fn add(&self, timing: SpanTiming) {
        let mut phases = self.phases.lock().unwrap_or_else(PoisonError::into_inner);
        let Phases { by_path, dropped, seen } = &mut *phases;
        if !by_path.contains_key(&timing.path) && by_path.len() >= PHASES_MAX {
            *dropped += 1;
            return;
        }
        let phase = by_path.entry(timing.path).or_insert_with(|| {
            *seen += 1;
            Phase {
                first_seen: *seen,
                ..Phase::default()
            }
        });
        phase.calls += 1;
        phase.beside_parent |= timing.beside_parent;
        phase.total += timing.busy;
        phase.own += timing.busy.saturating_sub(timing.children_busy);
    }

    /// The table: phases as a tree in the order they first ran, each under its parent.
    pub(super) fn render(&self, wall: Duration) -> String {
        let phases = self.phases.lock().unwrap_or_else(PoisonError::into_inner);
        render(&phases, wall)
    }
}

fn render(phases: &Phases, wall: Duration) -> String {
    // Sorting by the first-seen numbers of every prefix of the path puts each phase under its
    // parent, parents in the order they first ran.
    let mut rows: Vec<(Vec<u64>, &Vec<&'static str>, &Phase)> = phases
        .by_path
        .iter()
        .map(|(path, phase)| {
            let order = (1..=path.len())
                .map(|length| {
                    phases
                        .by_path
                        .get(&path[..length])
                        .map_or(u64::MAX, |prefix| prefix.first_seen)
                })
                .collect();
            (order, path, phase)
        })
        .collect();
    rows.sort_by(|left, right| left.0.cmp(&right.0));
    let mut table = crate::output::Table::new(&[
        ("Phase", false),
        ("Calls", true),
        ("Total ms", true),
        ("Own ms", true),
        ("Own %", true),
    ]);
    let wall_ms = milliseconds(wall);
    for (_, path, phase) in rows {
        let beside = if phase.beside_parent { " (own thread)" } else { "" };
        let name = format!(
            "{}{}{beside}",
            "  ".repeat(path.len() - 1),
            path.last().copied().unwrap_or("")
        );
        let own_ms = milliseconds(phase.own);
        let share = if wall_ms > 0.0 { 100.0 * own_ms / wall_ms } else { 0.0 };
        table.row(vec![
            name,
            phase.calls.to_string(),
            format!("{:.1}", milliseconds(phase.total)),
            format!("{own_ms:.1}"),
            format!("{share:.1}"),
        ]);
    }
    let mut text = format!(
        "\ntimings: {wall_ms:.1} ms in all; a phase's own time leaves out the phases under it, except those on their own thread, which run beside it\n"
    );
    if table.is_empty() {
        text.push_str("no phase was timed\n");
    } else {
        text.push_str(&table.render());
    }
    if phases.dropped > 0 {
        let _ = writeln!(
            text,
            "{} spans were left out: the table holds at most {PHASES_MAX} phases",
            phases.dropped
        );
    }
    text
}

fn milliseconds(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1_000.0
}

#[cfg(test)]
mod tests {
    use super::*;
    use tracing_subscriber::layer::SubscriberExt as _;

    #[test]
    fn phases_nest_and_own_time_leaves_out_the_phases_under_it() {
        // Proves a parent's own time is its time less its children's on the same thread, that
        // calls are counted per path, and that the table lists children under their parent.
        let timings = Arc::new(Timings::default());
        let subscriber =
            tracing_subscriber::registry().with(TimingsLayer::new(Arc::clone(&timings)).with_filter(own_spans()));
        tracing::subscriber::with_default(subscriber, || {
            let outer = tracing::info_span!(target: "closebook::test", "outer").entered();
            for _ in 0..3 {
                let _inner = tracing::debug_span!(target: "closebook::test", "inner").entered();
                std::thread::sleep(Duration::from_millis(5));
            }
            let _other = tracing::info_span!(target: "closebook::test", "second").entered();
            // Not closebook's: not a phase.
            let _foreign = tracing::info_span!(target: "wasmtime::x", "foreign").entered();
            drop(_foreign);
            drop(_other);
            drop(outer);
        });
        let phases = timings.phases.lock().unwrap();
        let outer = phases.by_path[&vec!["outer"]];
        let inner = phases.by_path[&vec!["outer", "inner"]];
        assert_eq!(outer.calls, 1);
        assert_eq!(inner.calls, 3);
        assert!(inner.total >= Duration::from_millis(15), "{inner:?}");
        assert!(outer.own < outer.total, "{outer:?}");
        assert_eq!(
            outer.own,
            outer.total - inner.total - phases.by_path[&vec!["outer", "second"]].total
        );
        assert!(!phases.by_path.keys().any(|path| path.contains(&"foreign")));
        let table = render(&phases, Duration::from_millis(20));
        let lines: Vec<&str> = table.lines().collect();
        let position = |name: &str| lines.iter().position(|line| line.starts_with(name)).unwrap();
        assert!(position("outer") < position("  inner"), "{table}");
        assert!(position("  inner") < position("  second"), "{table}");
    }

    #[test]
    fn a_crate_name_matches_its_modules_only() {
        // Proves `closebook` does not also match `closebook_ledger` (each is listed on its own).
        assert!(is_target_or_module("closebook", "closebook"));
        assert!(is_target_or_module("closebook::close", "closebook"));
        assert!(!is_target_or_module("closebook_ledger::store", "closebook"));
    }
}
