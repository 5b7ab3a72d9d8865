//! `closebook close run|signoff|status|history`.

use super::Context;
use crate::cli::{CloseCommand, Format, FormatArg};
use crate::close::config::CloseConfig;
use crate::close::finding::{ExplainTarget, explain};
use crate::close::review::{entries_table, readable_task_view, render_task_view};
use crate::close::{CloseContext, CloseProgress, ShownStatus, TaskOutcome, board, dry_run_copy, run_close, signoff};
use crate::diagnostics::Progress;
use crate::output::{Table, grouped, print, print_json, print_table};
use anyhow::Context as _;
use closebook_ledger::close_task::TaskStatus;
use closebook_ledger::ids::{EntityId, PeriodName};
use closebook_ledger::store::Store;
use std::path::Path;

fn close_context<'a>(
    context: &Context,
    config: &'a CloseConfig,
    period: &str,
    entities: &[String],
) -> CloseContext<'a> {
    CloseContext {
        config,
        db: context.db.clone(),
        cache: super::plugin::cache_directory(&context.db),
        actor: context.actor.clone(),
        identity: Some(context.identity.clone()),
        period: PeriodName::new(period),
        entity_filter: entities.iter().map(|entity| EntityId::new(entity.clone())).collect(),
        dry_run: false,
        open_ledger: std::cell::RefCell::new(None),
        memo: Default::default(),
    }
}

/// Checks close.toml against the ledger (its owners and reviewers are users), then that the
/// acting user holds what the command needs in each entity it covers.
fn checked(context: &Context, close_context: &CloseContext<'_>) -> anyhow::Result<()> {
    close_context.check_config()?;
    if let Some(permission) = context.close_permission {
        let mut ledger = context.open_ledger()?;
        for entity in close_context.entities()? {
            ledger.authorize(permission, Some(&entity))?;
        }
    }
    Ok(())
}

pub fn run(context: &Context, command: CloseCommand) -> anyhow::Result<()> {
    match command {
        CloseCommand::Run {
            config,
            period,
            entities,
            dry_run,
            rerun,
            format,
            timings: _,
        } => run_command(context, &config, &period, entities, dry_run, rerun, format),
        CloseCommand::Signoff {
            config,
            period,
            entity,
            task,
            review,
            note,
        } => {
            let close = CloseConfig::load(&config)?;
            let close_context = close_context(context, &close, &period, &[]);
            checked(context, &close_context)?;
            let signed = signoff(
                &close_context,
                &EntityId::new(entity.clone()),
                &task,
                review,
                note.as_deref(),
                None,
            )
            .with_context(|| format!("signing off task {task} of {entity} for {period}"))?;
            let mut text = format!("{} (by {})\n", signed.summary, context.actor.describe());
            if !signed.posted.is_empty() {
                text.push('\n');
                text.push_str(&entries_table(&signed.posted).render());
            }
            print(&text)
        }
        CloseCommand::Explain {
            config,
            period,
            entity,
            task,
            account,
            dimensions,
            whole_account,
            measure,
            text,
        } => {
            let close = CloseConfig::load(&config)?;
            let close_context = close_context(context, &close, &period, &[]);
            checked(context, &close_context)?;
            let target = ExplainTarget {
                account: &account,
                dimensions: (whole_account || !dimensions.is_empty()).then_some(dimensions.as_slice()),
                measure: measure.as_deref(),
            };
            let explained = explain(&close_context, &EntityId::new(entity.clone()), &task, &target, &text)
                .with_context(|| format!("explaining a finding of task {task} of {entity} for {period}"))?;
            let mut lines = String::new();
            for line in explained {
                lines.push_str(&format!("{line} (by {})\n", context.actor.describe()));
            }
            print(&lines)
        }
        CloseCommand::Show {
            config,
            period,
            entity,
            task,
            format,
        } => {
            let close = CloseConfig::load(&config)?;
            let close_context = close_context(context, &close, &period, &[]);
            checked(context, &close_context)?;
            let view = readable_task_view(
                &close_context,
                &mut context.open_ledger()?,
                &EntityId::new(entity.clone()),
                &task,
            )
            .with_context(|| format!("showing task {task} of {entity} for {period}"))?;
            match format.format {
                Format::Json => print_json(&view),
                Format::Csv => print_table(&entries_table(&view.entries), Format::Csv),
                Format::Table => print(&render_task_view(&view)),
            }
        }
        CloseCommand::Status {
            config,
            period,
            today,
            format,
        } => status_command(context, &config, &period, today, format),
        CloseCommand::History { config, limit, format } => history_command(context, &config, limit, format),
    }
}

/// `close run`: runs every ready task of the close, or (dry run) the whole chain on a copy.
#[allow(clippy::too_many_arguments)]
fn run_command(
    context: &Context,
    config: &Path,
    period: &str,
    entities: Vec<String>,
    dry_run: bool,
    rerun: Option<String>,
    format: FormatArg,
) -> anyhow::Result<()> {
    let close = CloseConfig::load(config)?;
    checked(context, &close_context(context, &close, period, &entities))?;
    if let Some(warning) = close_context(context, &close, period, &entities).previous_close_incomplete()? {
        eprintln!("warning: {warning}");
    }
    // On the server (remote command line) the progress goes to the close's boards; here, to
    // stderr.
    let mut remote_out = context.close_progress.borrow_mut().take();
    let mut local_progress: Option<TaskProgress> = None;
    let mut remote_progress;
    let progress: &mut dyn CloseProgress = if let Some(out) = remote_out.as_deref_mut() {
        remote_progress = crate::close::Progress { out, terminal: false };
        &mut remote_progress
    } else {
        let bar = Progress::start(format!("close {} {period}", close.name), None, false);
        // Until the first task starts: the plugins load (compiled on their first run) and the
        // close's state is brought up to date.
        bar.update(0, "loading plugins, checking what changed since the last run");
        local_progress = Some(TaskProgress(bar));
        local_progress.as_mut().expect("set just above")
    };
    let outcomes = if dry_run {
        // A SQLite ledger's copy goes into a folder beside it; a PostgreSQL one's into its database.
        let directory = match closebook_ledger::store::postgres::url_of(&context.db) {
            Some(_) => None,
            None => Some(tempfile_directory(&context.db)?),
        };
        let copy = dry_run_copy(&context.db, directory.as_deref().unwrap_or(Path::new(".")))?;
        let mut close_context = close_context(context, &close, period, &entities);
        close_context.db = copy.location();
        close_context.dry_run = true;
        let outcomes = run_close(&close_context, rerun.as_deref(), progress);
        drop(copy);
        if let Some(directory) = directory {
            let _ = std::fs::remove_dir_all(&directory);
        }
        outcomes?
    } else {
        run_close(
            &close_context(context, &close, period, &entities),
            rerun.as_deref(),
            progress,
        )?
    };
    // The bar goes before the report is printed under it; the boards learn the run ended.
    drop(remote_out);
    drop(local_progress.take());
    report(&close, period, &outcomes, dry_run, format.format)?;
    let failed = outcomes
        .iter()
        .filter(|outcome| outcome.status == ShownStatus::Task(TaskStatus::Failed))
        .count();
    anyhow::ensure!(
        failed == 0,
        "{failed} tasks failed; fix the cause and run `closebook close run` again to resume"
    );
    Ok(())
}

/// A close run's progress on stderr: a bar with the task running and for how long on a terminal,
/// a line per task and a line every so often otherwise, nothing with `--quiet`.
struct TaskProgress(Progress);

impl CloseProgress for TaskProgress {
    fn starting(&mut self, done: usize, total: usize, what: &str) {
        self.0.set_total(total as u64);
        self.0
            .step(done as u64, format!("{done} of {total} tasks done, running {what}"));
    }

    fn finished(&mut self, line: &str) {
        self.0.println(line);
    }
}

/// `close status`: the board of the entities the acting user may read.
fn status_command(
    context: &Context,
    config: &Path,
    period: &str,
    today: Option<chrono::NaiveDate>,
    format: FormatArg,
) -> anyhow::Result<()> {
    let close = CloseConfig::load(config)?;
    let mut close_context = close_context(context, &close, period, &[]);
    let today = today.unwrap_or_else(|| chrono::Local::now().date_naive());
    let board = board::readable_board(&mut close_context, &mut context.open_ledger()?, today)?;
    if format.format == Format::Json {
        return print_json(&board);
    }
    // The terminal shows each row's notes on the lines under it; CSV keeps them as a
    // column of the same rows.
    let csv = format.format == Format::Csv;
    let mut columns = vec![
        ("Entity", false),
        ("Area", false),
        ("Task", false),
        ("Owner", false),
        ("Due", false),
        ("Status", false),
        ("Prepared", false),
        ("Reviewed", false),
    ];
    if csv {
        columns.push(("Notes", false));
    }
    let mut table = Table::new(&columns);
    let mut notes_by_row = Vec::with_capacity(board.rows.len());
    for row in &board.rows {
        let mut notes = Vec::new();
        if row.overdue {
            notes.push("OVERDUE".to_owned());
        }
        if !row.blocked_by.is_empty() {
            notes.push(format!("waits on {}", row.blocked_by.join(", ")));
        }
        if let Some(message) = &row.message {
            notes.push(message.clone());
        }
        if !row.unverified.is_empty() {
            notes.push(format!(
                "UNVERIFIED sign-off by {} (named with --as, not verified)",
                row.unverified.join(", ")
            ));
        }
        let mut cells = vec![
            row.entity.clone(),
            row.area.clone(),
            row.task.clone(),
            row.owner.clone(),
            row.due.to_string(),
            row.status.to_string(),
            row.prepared_by.clone().unwrap_or_default(),
            row.reviewed_by.clone().unwrap_or_default(),
        ];
        if csv {
            cells.push(notes.join("; "));
        } else {
            notes_by_row.push(notes.join("; "));
        }
        table.row(cells);
    }
    if csv {
        return print_table(&table, Format::Csv);
    }
    let mut text = format!(
        "Close {} for {} (as of {})\n\n{}",
        board.close,
        board.period,
        board.today,
        with_notes(&table.render(), &notes_by_row)
    );
    let share = |map: &std::collections::BTreeMap<String, u32>| {
        map.iter()
            .map(|(key, value)| format!("{key} {value}%"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    text.push_str(&format!(
        "\ncomplete by entity: {}\ncomplete by area:   {}\ncomplete by owner:  {}\n",
        share(&board.complete_by_entity),
        share(&board.complete_by_area),
        share(&board.complete_by_owner)
    ));
    print(&text)
}

/// The most rows `close history` shows, whatever --limit asks.
const HISTORY_ROWS_MAX: usize = 100_000;

/// `close history`: the close's events and the step runs, newest last.
fn history_command(context: &Context, config: &Path, limit: usize, format: FormatArg) -> anyhow::Result<()> {
    let close = CloseConfig::load(config)?;
    let mut ledger = context.open_ledger()?;
    let entities: Vec<EntityId> = match &close.entities {
        crate::close::config::EntityScope::All => ledger.entities()?.into_iter().map(|entity| entity.id).collect(),
        crate::close::config::EntityScope::List(list) => {
            list.iter().map(|entity| EntityId::new(entity.clone())).collect()
        }
    };
    for entity in &entities {
        ledger.authorize(closebook_ledger::access::Permission::LedgerRead, Some(entity))?;
    }
    // Only the step runs of the close's entities (all of which the reader may read), the
    // newest `limit` of them.
    let limit = limit.min(HISTORY_ROWS_MAX);
    let mut store = Store::open(&context.db)?;
    let (events, runs) = store.read(|db| {
        let mut runs = Vec::new();
        for entity in &entities {
            runs.extend(db.step_runs(Some(entity), limit)?);
        }
        runs.sort_by(|left, right| left.started_at.cmp(&right.started_at));
        let skip = runs.len().saturating_sub(limit);
        runs.drain(..skip);
        Ok((db.close_events(&close.name, limit)?, runs))
    })?;
    if format.format == Format::Json {
        return print_json(&serde_json::json!({ "events": events, "step_runs": runs }));
    }
    let mut table = Table::new(&[
        ("When", false),
        ("User", false),
        ("Entity", false),
        ("Period", false),
        ("Task", false),
        ("Event", false),
        ("Details", false),
    ]);
    for event in &events {
        let text = |key: &str| event[key].as_str().unwrap_or_default().to_owned();
        table.row(vec![
            text("at"),
            text("user"),
            text("entity"),
            text("period"),
            text("task"),
            text("event"),
            event["details"].to_string(),
        ]);
    }
    let mut runs_table = Table::new(&[
        ("Run", false),
        ("Entity", false),
        ("Period", false),
        ("Task", false),
        ("Plugin", false),
        ("SHA-256", false),
        ("By", false),
        ("Entries", true),
        ("Fuel", true),
        ("ms", true),
    ]);
    for run in &runs {
        runs_table.row(vec![
            run.run_id.clone(),
            run.entity.to_string(),
            run.period.to_string(),
            run.task.clone().unwrap_or_default(),
            format!("{} {}", run.plugin_name, run.plugin_version),
            run.plugin_sha256.chars().take(12).collect(),
            run.run_by.to_string(),
            run.entries_posted.to_string(),
            grouped(run.fuel_consumed.into()),
            run.duration_ms.to_string(),
        ]);
    }
    print(&format!(
        "Close {}: task events\n\n{}\nPlugin step runs that posted\n\n{}",
        close.name,
        table.render(),
        runs_table.render()
    ))
}

/// Indent of a board row's notes, on the lines under the row.
const BOARD_NOTES_INDENT: &str = "    ";

/// The board's table with each row's notes wrapped on the lines under it, so every line fits
/// the terminal width however long a stale or failure message is.
fn with_notes(rendered: &str, notes: &[String]) -> String {
    let width = super::TERMINAL_TABLE_WIDTH_CHARS_MAX - BOARD_NOTES_INDENT.len();
    let mut text = String::new();
    // The rendered table is the header, its rule, then one line per row.
    for (index, line) in rendered.lines().enumerate() {
        text.push_str(line);
        text.push('\n');
        let Some(note) = index
            .checked_sub(2)
            .and_then(|row| notes.get(row))
            .filter(|note| !note.is_empty())
        else {
            continue;
        };
        // Notes quote plugin messages: escaped like every table cell.
        for piece in super::wrap_text(&crate::output::visible(note), width) {
            text.push_str(BOARD_NOTES_INDENT);
            text.push_str(piece.trim_end());
            text.push('\n');
        }
    }
    text
}

/// A private folder for the dry-run copy, beside the ledger so it is on the same disk.
fn tempfile_directory(db: &Path) -> anyhow::Result<std::path::PathBuf> {
    let parent = db
        .parent()
        .filter(|parent| !parent.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    // Unique per run (the server runs several dry runs in one process), and readable by this
    // account only: the copy holds the whole ledger.
    let directory = parent.join(format!(
        ".closebook-dry-run-{}-{}",
        std::process::id(),
        crate::credentials::random_hex(8)?
    ));
    let mut builder = std::fs::DirBuilder::new();
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder
        .create(&directory)
        .with_context(|| format!("creating {}", directory.display()))?;
    Ok(directory)
}

fn report(
    close: &CloseConfig,
    period: &str,
    outcomes: &[TaskOutcome],
    dry_run: bool,
    format: Format,
) -> anyhow::Result<()> {
    if format == Format::Json {
        return print_json(
            &serde_json::json!({ "close": close.name, "period": period, "dry_run": dry_run, "tasks": outcomes }),
        );
    }
    let mut table = Table::new(&[
        ("Entity", false),
        ("Task", false),
        ("Status", false),
        ("Entries", true),
        ("ms", true),
        ("Fuel", true),
        ("Notes", false),
    ]);
    for outcome in outcomes {
        table.row(vec![
            outcome.entity.to_string(),
            outcome.task.clone(),
            outcome.status.to_string(),
            outcome.entries_posted.to_string(),
            outcome.duration_ms.to_string(),
            if outcome.fuel_consumed > 0 {
                grouped(outcome.fuel_consumed.into())
            } else {
                String::new()
            },
            outcome.message.clone().unwrap_or_default(),
        ]);
    }
    if format == Format::Csv {
        return print_table(&table, Format::Csv);
    }
    let mut text = format!(
        "Close {} for {period}{}\n\n{}",
        close.name,
        if dry_run { " (dry run: nothing was written)" } else { "" },
        table.render()
    );
    for outcome in outcomes.iter().filter(|outcome| !outcome.proposals.is_empty()) {
        let for_review = outcome.status == ShownStatus::Task(TaskStatus::AwaitingReview);
        let verb = match (dry_run, for_review) {
            (true, true) => "would propose, for review,",
            (true, false) => "would post",
            (false, true) => "proposes, for review,",
            (false, false) => continue,
        };
        text.push_str(&format!(
            "\n{} {} {verb} {} entries:\n\n{}",
            outcome.entity,
            outcome.task,
            outcome.proposals.len(),
            entries_table(&outcome.proposals).render()
        ));
    }
    print(&text)
}
