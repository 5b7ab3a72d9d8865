//! `closebook-bench import-on-top`: does an import slow down, or take more memory, as the ledger
//! grows? The same journal (the first entries of the benchmark journal under new keys) is
//! imported and posted into the full benchmark ledger and into the same organization with no
//! entries, alternating, each on a fresh copy, through the real binary. Each run's result is
//! checked: the ledger must hold exactly the entries it held before plus the journal's.

use crate::generate::ENTITY;
use crate::measure::{self, ChildRun, Options};
use crate::verify_load::Figure;
use anyhow::{Context as _, bail};
use std::path::Path;

/// The figures of one run.
#[derive(Debug, Clone)]
pub struct GrowFigures {
    /// Entries of the full ledger before the import.
    pub ledger_entries: u64,
    /// Entries and lines the journal imports.
    pub entries: u64,
    pub lines: u64,
    pub runs: usize,
    pub into_empty: Figure,
    pub into_full: Figure,
}

/// Imports `entries` new entries into copies of the empty and the full benchmark ledger (of
/// `options.entries` entries, built once by `measure::ledger_template`), `runs` times each.
pub fn run(options: &Options, entries: u64, runs: usize) -> anyhow::Result<GrowFigures> {
    if runs == 0 {
        bail!("--runs 0 measures nothing: give at least 1");
    }
    if entries == 0 || entries > options.entries {
        bail!(
            "--entries {entries}: give 1 to {} (the journal is the benchmark journal's first entries under new keys)",
            options.entries
        );
    }
    let (full_template, _) = measure::ledger_template(options)?;
    let empty_template = measure::setup_template(options, &options.data_folder())?;
    let journal = measure::write_renamed_journal(options, entries, 'G')?;
    let lines = journal_lines(&journal)?;
    let journal_text = journal.to_str().context("a path that is not UTF-8")?;
    let ledger = options.work.join("grow.db");
    let mut empty_runs = Vec::new();
    let mut full_runs = Vec::new();
    for round in 1..=runs {
        for (name, template, before, taken) in [
            ("an empty ledger", &empty_template, 0, &mut empty_runs),
            ("the full ledger", &full_template, options.entries, &mut full_runs),
        ] {
            crate::phase!("round {round} of {runs}: {entries} entries into {name}");
            measure::copy_database(template, &ledger)?;
            taken.push(import(options, &ledger, journal_text, before + entries)?);
        }
    }
    Ok(GrowFigures {
        ledger_entries: options.entries,
        entries,
        lines,
        runs,
        into_empty: Figure::of(&empty_runs),
        into_full: Figure::of(&full_runs),
    })
}

/// Imports and posts the journal, then refuses a ledger that does not hold `expected` entries.
fn import(options: &Options, ledger: &Path, journal: &str, expected: u64) -> anyhow::Result<ChildRun> {
    let run = measure::closebook(
        options,
        ledger,
        &["import", "journals", journal, "--entity", ENTITY, "--post"],
    )?;
    let held: u64 =
        rusqlite::Connection::open(ledger)?.query_row("SELECT count(*) FROM entries", [], |row| row.get(0))?;
    if held != expected {
        bail!("after the import the ledger holds {held} entries, not {expected}");
    }
    Ok(run)
}

/// The journal's lines (its CSV rows after the header).
fn journal_lines(journal: &Path) -> anyhow::Result<u64> {
    let text = std::fs::read_to_string(journal).with_context(|| format!("reading {}", journal.display()))?;
    Ok(text.lines().count().saturating_sub(1) as u64)
}

/// The figures as a Markdown table.
pub fn table(figures: &GrowFigures) -> String {
    let rate = |figure: &Figure| figures.lines as f64 / figure.wall.as_secs_f64();
    let row = |name: String, figure: &Figure| {
        format!(
            "| {name} | {:.2} s | {:.0} | {} MiB |\n",
            figure.wall.as_secs_f64(),
            rate(figure),
            figure.max_rss_bytes / (1024 * 1024)
        )
    };
    let mut text = format!(
        "`closebook import journals --post` of {} entries ({} lines, the benchmark journal's first entries under new keys), median of {} runs (peak memory: the largest of them)\n\n| into | time | lines/s | peak memory |\n|---|---:|---:|---:|\n",
        figures.entries, figures.lines, figures.runs
    );
    text.push_str(&row("the organization with no entries".to_owned(), &figures.into_empty));
    text.push_str(&row(
        format!("the benchmark ledger of {} entries", figures.ledger_entries),
        &figures.into_full,
    ));
    text.push_str(&format!(
        "\nInto the full ledger: {:.2}x the time and {:.2}x the peak memory of the import into the empty one.\n",
        figures.into_full.wall.as_secs_f64() / figures.into_empty.wall.as_secs_f64(),
        figures.into_full.max_rss_bytes as f64 / figures.into_empty.max_rss_bytes.max(1) as f64
    ));
    text
}
