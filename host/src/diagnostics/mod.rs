//! Diagnostics: what a command is doing and where its time goes, for an operator. Three parts,
//! all on stderr so that stdout (reports, `--format json`) stays clean:
//!
//! - the trace: `tracing` spans (command, close run, task, plugin run, host query, posting
//!   transaction, import batch…) and events at the decisions (a refusal, a retry, a stale mark, a
//!   limit reached, the compile cache), filtered by `--log-level` or `RUST_LOG` and written as text
//!   or JSON lines (`--log-format`); by default only warnings, so a command says what it said
//!   before this existed;
//! - progress (`progress.rs`): a bar on a terminal, a plain line every so often otherwise, nothing
//!   with `--quiet`;
//! - `--timings` (`timings.rs`): after the command, each phase's calls and time, summed from the
//!   same spans.
//!
//! The plugin step log and the audit trail are records, not diagnostics: they stay in the ledger.
//! A plugin run's span carries its `run_id`, which joins the trace to both.

pub mod progress;
mod timings;

pub use progress::Progress;

use crate::cli::{LogFormat, LogLevel};
use clap::ArgMatches;
use std::io::IsTerminal as _;
use std::sync::Arc;
use std::time::Instant;
use tracing_subscriber::Layer as _;
use tracing_subscriber::filter::EnvFilter;
use tracing_subscriber::fmt::format::FmtSpan;
use tracing_subscriber::layer::SubscriberExt as _;

/// The trace filter when neither `--log-level` nor `RUST_LOG` names one: warnings and errors.
const DEFAULT_TRACE_FILTER: &str = "warn";

/// The crates whose spans and events `--log-level` sets the level of (and `--timings` sums);
/// every other crate (wasmtime, cranelift…) stays at warnings, which a person debugging a close
/// rarely wants to read.
const OWN_TARGETS: [&str; 2] = ["closebook", "closebook_ledger"];

/// What the global flags asked for.
#[derive(Debug, Clone, Copy)]
pub struct Options {
    pub level: Option<LogLevel>,
    pub format: LogFormat,
    pub quiet: bool,
    /// `--timings` on the command that runs.
    pub timings: bool,
}

impl Options {
    /// The options of a parsed command line: `--timings` is read from the subcommand that has it
    /// (`close run`, `import journals`), so a new command with the flag needs nothing here.
    pub fn of(cli: &crate::cli::Cli, matches: &ArgMatches) -> Self {
        Self {
            level: cli.log_level,
            format: cli.log_format,
            quiet: cli.quiet,
            timings: leaf(matches)
                .try_get_one::<bool>("timings")
                .ok()
                .flatten()
                .copied()
                .unwrap_or(false),
        }
    }
}

/// The innermost subcommand's matches (`close run` in `closebook close run …`).
fn leaf(matches: &ArgMatches) -> &ArgMatches {
    let mut current = matches;
    while let Some((_, next)) = current.subcommand() {
        current = next;
    }
    current
}

/// The command's name as typed, e.g. `close run`: the `command` field of the outermost span.
pub fn command_name(matches: &ArgMatches) -> String {
    let mut names = Vec::new();
    let mut current = matches;
    while let Some((name, next)) = current.subcommand() {
        names.push(name);
        current = next;
    }
    names.join(" ")
}

/// The process's diagnostics, from [`Diagnostics::start`] to [`Diagnostics::finish`].
pub struct Diagnostics {
    timings: Option<Arc<timings::Timings>>,
    started: Instant,
}

impl Diagnostics {
    /// Installs the trace subscriber and chooses how progress shows. Call once, before the
    /// command runs. A `RUST_LOG` that is not a filter is reported and the default used, rather
    /// than refusing a command over its diagnostics.
    pub fn start(options: Options) -> Self {
        let stderr_is_terminal = std::io::stderr().is_terminal();
        progress::set_mode(progress::ProgressMode::choose(
            options.quiet,
            stderr_is_terminal,
            options.format == LogFormat::Json,
        ));
        let (filter, filter_problem) = trace_filter(options.level);
        // Colours only for a person at a terminal who has not asked for none.
        let ansi = stderr_is_terminal && std::env::var_os("NO_COLOR").is_none_or(|value| value.is_empty());
        let text = tracing_subscriber::fmt::layer()
            .with_writer(progress::LogWriter)
            .with_ansi(ansi)
            .with_span_events(FmtSpan::CLOSE);
        let trace = match options.format {
            LogFormat::Text => text.with_filter(filter).boxed(),
            LogFormat::Json => text
                .json()
                .with_current_span(true)
                .with_span_list(true)
                .with_filter(filter)
                .boxed(),
        };
        let timings = options.timings.then(|| Arc::new(timings::Timings::default()));
        let timings_layer = timings
            .clone()
            .map(|timings| timings::TimingsLayer::new(timings).with_filter(timings::own_spans()));
        let subscriber = tracing_subscriber::registry().with(trace).with(timings_layer);
        // Only fails when a subscriber was set before, which would be this function called twice.
        let _ = tracing::subscriber::set_global_default(subscriber);
        if let Some(problem) = filter_problem {
            tracing::warn!("{problem}");
        }
        if matches!(
            progress::mode(),
            progress::ProgressMode::Lines { .. } | progress::ProgressMode::Events { .. }
        ) && let Err(problem) = progress::line_interval()
        {
            tracing::warn!("{problem}");
        }
        Self {
            timings,
            started: Instant::now(),
        }
    }

    /// After the command: the timing table, when `--timings` asked for it.
    pub fn finish(self) {
        if let Some(timings) = self.timings {
            let table = timings.render(self.started.elapsed());
            progress::suspend(|| eprint!("{table}"));
        }
    }
}

/// The trace filter: `--log-level` for closebook's own crates, else `RUST_LOG`, else warnings;
/// with a problem to report when `RUST_LOG` could not be read.
fn trace_filter(level: Option<LogLevel>) -> (EnvFilter, Option<String>) {
    if let Some(level) = level {
        let level = level_name(level);
        let directives: Vec<String> = OWN_TARGETS.iter().map(|target| format!("{target}={level}")).collect();
        let filter = format!("{DEFAULT_TRACE_FILTER},{}", directives.join(","));
        return (EnvFilter::new(filter), None);
    }
    match std::env::var("RUST_LOG") {
        Ok(value) if !value.trim().is_empty() => match EnvFilter::try_new(&value) {
            Ok(filter) => (filter, None),
            Err(error) => (
                EnvFilter::new(DEFAULT_TRACE_FILTER),
                Some(format!(
                    "RUST_LOG={value:?} is not a trace filter ({error}); showing warnings only. Write e.g. RUST_LOG=closebook=debug, or use --log-level debug"
                )),
            ),
        },
        _ => (EnvFilter::new(DEFAULT_TRACE_FILTER), None),
    }
}

fn level_name(level: LogLevel) -> &'static str {
    match level {
        LogLevel::Error => "error",
        LogLevel::Warn => "warn",
        LogLevel::Info => "info",
        LogLevel::Debug => "debug",
        LogLevel::Trace => "trace",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::{CommandFactory, FromArgMatches};

    fn parse(arguments: &[&str]) -> (crate::cli::Cli, ArgMatches) {
        let matches = crate::cli::Cli::command()
            .try_get_matches_from(arguments)
            .expect("the arguments parse");
        let cli = crate::cli::Cli::from_arg_matches(&matches).expect("the matches convert");
        (cli, matches)
    }

    #[test]
    fn timings_are_read_from_the_subcommand_that_has_the_flag() {
        // Proves `--timings` is found on `close run` and `import journals`, and that a command
        // without the flag reads as no timings.
        let (cli, matches) = parse(&[
            "closebook",
            "close",
            "run",
            "--config",
            "c.toml",
            "--period",
            "2026-01",
            "--timings",
        ]);
        assert!(Options::of(&cli, &matches).timings);
        assert_eq!(command_name(&matches), "close run");
        let (cli, matches) = parse(&[
            "closebook",
            "--quiet",
            "import",
            "journals",
            "j.csv",
            "--entity",
            "E",
            "--timings",
        ]);
        let options = Options::of(&cli, &matches);
        assert!(options.timings);
        assert!(options.quiet);
        let (cli, matches) = parse(&["closebook", "verify", "--log-level", "debug"]);
        let options = Options::of(&cli, &matches);
        assert!(!options.timings);
        assert_eq!(options.level, Some(LogLevel::Debug));
        assert_eq!(command_name(&matches), "verify");
    }

    #[test]
    fn the_log_level_sets_closebooks_own_crates_only() {
        // Proves `--log-level debug` raises closebook's crates and leaves the others at warn.
        let (filter, problem) = trace_filter(Some(LogLevel::Debug));
        assert!(problem.is_none());
        let text = filter.to_string();
        assert!(text.contains("closebook=debug"), "{text}");
        assert!(text.contains("closebook_ledger=debug"), "{text}");
        assert!(text.contains("warn"), "{text}");
    }
}
