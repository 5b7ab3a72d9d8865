//! `closebook-bench verify`: `closebook verify` of the benchmark ledger as an auditor runs it,
//! through the real binary (wall time and peak memory of each run): the whole ledger
//! (`--full`), recording a checkpoint (`--checkpoint`), the routine check from that checkpoint
//! with nothing posted since, then after a month of entries imported on top (the import's own
//! time and peak memory are reported too). With `--before`, an earlier binary's `verify` (which
//! read the whole ledger every time) runs on its own copy, alternating with the whole-ledger runs.

use crate::generate::ENTITY;
use crate::measure::{self, ChildRun, Options};
use anyhow::{Context as _, bail};
use std::path::Path;
use std::time::Duration;

/// One figure: the median wall time and the largest peak memory of its runs.
#[derive(Debug, Clone, Copy)]
pub struct Figure {
    pub wall: Duration,
    pub max_rss_bytes: u64,
}

impl Figure {
    pub(crate) fn of(runs: &[ChildRun]) -> Self {
        Self {
            wall: measure::median(runs.iter().map(|run| run.wall).collect()),
            max_rss_bytes: runs.iter().map(|run| run.max_rss_bytes).max().unwrap_or(0),
        }
    }
}

/// Every figure of one run.
#[derive(Debug, Clone)]
pub struct VerifyFigures {
    pub entries: u64,
    pub runs: usize,
    /// The earlier binary's `verify` (the whole ledger), when one was given.
    pub before_full: Option<Figure>,
    pub full: Figure,
    pub checkpoint: Figure,
    pub routine_unchanged: Figure,
    /// Entries imported on top of the ledger (a month's worth).
    pub month_entries: u64,
    pub month_import: Figure,
    pub routine_after_month: Figure,
}

/// Runs the measurements on fresh copies of the benchmark ledger (built once by
/// `measure::ledger_template`, with the earlier binary when given, so both can open it).
pub fn run(options: &Options, before: Option<&Path>, runs: usize) -> anyhow::Result<VerifyFigures> {
    if runs == 0 {
        bail!("--runs 0 measures nothing: give at least 1");
    }
    let before_options = before.map(|binary| Options {
        closebook: binary.to_path_buf(),
        ..options.clone()
    });
    let (template, _) = measure::ledger_template(before_options.as_ref().unwrap_or(options))?;
    let month_entries = options.entries / 12;
    let month = measure::write_renamed_journal(options, month_entries, 'M')?;

    let after_db = options.work.join("verify-after.db");
    measure::copy_database(&template, &after_db)?;
    let before_db = options.work.join("verify-before.db");
    let mut before_runs = Vec::new();
    let mut full_runs = Vec::new();
    for round in 1..=runs {
        if let Some(before_options) = &before_options {
            crate::phase!("round {round} of {runs}: the earlier binary's verify (whole ledger)");
            measure::copy_database(&template, &before_db)?;
            before_runs.push(verify(
                before_options,
                &before_db,
                &[],
                "entries checked, hash chain intact",
            )?);
        }
        crate::phase!("round {round} of {runs}: verify --full");
        full_runs.push(verify(
            options,
            &after_db,
            &["--full"],
            "entries checked, hash chain intact",
        )?);
    }
    crate::phase!("verify --checkpoint (whole ledger, then the checkpoint recorded)");
    let checkpoint = verify(options, &after_db, &["--checkpoint"], "recorded at entry")?;
    let mut unchanged = Vec::new();
    for round in 1..=runs {
        crate::phase!("round {round} of {runs}: verify from the checkpoint, nothing posted since");
        unchanged.push(verify(
            options,
            &after_db,
            &[],
            &format!("{ENTITY}: 0 entries checked since checkpoint"),
        )?);
    }
    crate::phase!("importing a month's entries ({month_entries}) on top");
    let month_text = month.to_str().context("a path that is not UTF-8")?;
    let month_import = measure::closebook(
        options,
        &after_db,
        &["import", "journals", month_text, "--entity", ENTITY, "--post"],
    )?;
    let mut after_month = Vec::new();
    for round in 1..=runs {
        crate::phase!("round {round} of {runs}: verify from the checkpoint after the month");
        after_month.push(verify(
            options,
            &after_db,
            &[],
            &format!("{ENTITY}: {month_entries} entries checked since checkpoint"),
        )?);
    }
    Ok(VerifyFigures {
        entries: options.entries,
        runs,
        before_full: before_options.map(|_| Figure::of(&before_runs)),
        full: Figure::of(&full_runs),
        checkpoint: Figure::of(&[checkpoint]),
        routine_unchanged: Figure::of(&unchanged),
        month_entries,
        month_import: Figure::of(&[month_import]),
        routine_after_month: Figure::of(&after_month),
    })
}

/// Runs `closebook verify` with `arguments` and refuses a run whose output lacks `expected`,
/// so that each figure is of the check it names.
fn verify(options: &Options, database: &Path, arguments: &[&str], expected: &str) -> anyhow::Result<ChildRun> {
    let output = options.work.join("verify.out");
    let stdout = std::fs::File::create(&output).with_context(|| format!("creating {}", output.display()))?;
    let command: Vec<&str> = ["verify"].into_iter().chain(arguments.iter().copied()).collect();
    let run = measure::closebook_printing_to(options, database, &command, stdout.into())?;
    let printed = std::fs::read_to_string(&output)?;
    if !printed.contains(expected) {
        bail!(
            "closebook verify {} printed no \"{expected}\":\n{printed}",
            arguments.join(" ")
        );
    }
    Ok(run)
}

/// The figures as a Markdown table.
pub fn table(figures: &VerifyFigures, before: Option<&Path>, after: &Path) -> String {
    let show = |figure: &Figure| {
        format!(
            "{:.2} s, {} MiB",
            figure.wall.as_secs_f64(),
            figure.max_rss_bytes / (1024 * 1024)
        )
    };
    let mut text = format!(
        "`closebook verify` of the {} -entry benchmark ledger, median of {} runs (peak memory: the largest of them); before: {}, after: {}\n\n| measure | before | after | target |\n|---|---:|---:|---|\n",
        figures.entries,
        figures.runs,
        before.map_or_else(|| "not run".to_owned(), |path| format!("`{}`", path.display())),
        format_args!("`{}`", after.display()),
    );
    text.push_str(&format!(
        "| the whole ledger (before: `verify`; after: `verify --full`) | {} | {} | measured |\n",
        figures.before_full.as_ref().map_or_else(|| "not run".to_owned(), show),
        show(&figures.full)
    ));
    text.push_str(&format!(
        "| `verify --checkpoint`: the whole ledger, then a checkpoint recorded (1 run) | | {} | |\n",
        show(&figures.checkpoint)
    ));
    text.push_str(&format!(
        "| `verify` from the checkpoint, nothing posted since | | {} | < 2 s |\n",
        show(&figures.routine_unchanged)
    ));
    text.push_str(&format!(
        "| import of a month's entries ({}) into the ledger (1 run) | | {} | |\n",
        figures.month_entries,
        show(&figures.month_import)
    ));
    text.push_str(&format!(
        "| `verify` from the checkpoint after that month | | {} | < 2 s |\n",
        show(&figures.routine_after_month)
    ));
    text
}
