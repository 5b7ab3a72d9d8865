//! The close engine: runs a configured close (`close.toml`) for a period over its entities,
//! task by task in dependency order, each step in its own transaction with its completion
//! record, so a crash leaves the ledger consistent and the next run resumes where this one
//! stopped. Stops a chain at a failure, a manual task waiting for sign-off or a proposal
//! waiting for review, finishes what does not depend on it, and reports what waits on whom.

pub mod board;
pub mod builtin;
pub mod config;

use crate::plugin::{Limits, LoadedPlugin, PluginRuntime};
use crate::step::{StepRecord, StepRequest, post_record, run_step};
use anyhow::Context as _;
use closebook_ledger::Ledger;
use closebook_ledger::ids::{EntityId, PeriodName, UserId};
use closebook_ledger::store::{CloseTaskRecord, Db, Store};
use config::{CloseConfig, Task, TaskKind};
use serde_json::json;
use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// Statuses in which a task counts as complete for the tasks that wait on it.
pub fn is_complete(status: &str) -> bool {
    matches!(status, "done" | "signed-off")
}

/// How a run reports progress: one line per task as it finishes.
/// On a terminal, a bar redrawn in place while a task runs, then the task's line; in a pipe,
/// plain lines only.
pub struct Progress<'a> {
    pub out: &'a mut dyn Write,
    pub terminal: bool,
}

/// Width of the progress bar, in characters.
const PROGRESS_BAR_WIDTH_CHARS: usize = 24;

impl Progress<'_> {
    fn line(&mut self, text: &str) {
        // Progress is best effort: a closed stderr must not stop the close.
        if self.terminal {
            let _ = write!(self.out, "\r\x1b[2K");
        }
        let _ = writeln!(self.out, "{text}");
    }

    /// Shows the task about to run, on a terminal only.
    fn starting(&mut self, done: usize, total: usize, what: &str) {
        if !self.terminal || total == 0 {
            return;
        }
        let filled = (done * PROGRESS_BAR_WIDTH_CHARS)
            .checked_div(total)
            .unwrap_or(0)
            .min(PROGRESS_BAR_WIDTH_CHARS);
        let bar = format!(
            "{}{}",
            "#".repeat(filled),
            "-".repeat(PROGRESS_BAR_WIDTH_CHARS - filled)
        );
        let _ = write!(self.out, "\r\x1b[2K[{bar}] {done}/{total} running {what}");
        let _ = self.out.flush();
    }
}

/// What one task did in this run.
#[derive(Debug, Clone, serde::Serialize)]
pub struct TaskOutcome {
    pub entity: EntityId,
    pub task: String,
    pub status: String,
    pub entries_posted: i64,
    pub duration_ms: u64,
    pub fuel_consumed: u64,
    pub message: Option<String>,
    /// Proposed entries, kept for dry runs and reviews: (account, amount) per line.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub proposals: Vec<serde_json::Value>,
}

/// Everything a close run needs.
pub struct CloseContext<'a> {
    pub config: &'a CloseConfig,
    pub db: PathBuf,
    pub cache: PathBuf,
    pub user: UserId,
    pub period: PeriodName,
    /// Only these entities (all of the close when empty).
    pub entity_filter: Vec<EntityId>,
    /// A dry run works on a copy of the ledger and writes no files.
    pub dry_run: bool,
}

impl CloseContext<'_> {
    fn ledger(&self) -> anyhow::Result<Ledger> {
        Ok(Ledger::open(&self.db, self.user.clone())?)
    }

    /// Every entity of the close, whatever `--entity` narrows the run to: `*:task`
    /// dependencies wait on all of them.
    pub fn close_entities(&self) -> anyhow::Result<Vec<EntityId>> {
        let unfiltered = CloseContext {
            entity_filter: Vec::new(),
            ..self.clone_context()
        };
        unfiltered.entities()
    }

    fn clone_context(&self) -> CloseContext<'_> {
        CloseContext {
            config: self.config,
            db: self.db.clone(),
            cache: self.cache.clone(),
            user: self.user.clone(),
            period: self.period.clone(),
            entity_filter: self.entity_filter.clone(),
            dry_run: self.dry_run,
        }
    }

    /// The close's entities for this run, checked to exist, with the period.
    pub fn entities(&self) -> anyhow::Result<Vec<EntityId>> {
        let mut store = Store::open(&self.db)?;
        let all: Vec<EntityId> = store
            .read(|db| db.entities())?
            .into_iter()
            .map(|entity| entity.id)
            .collect();
        let mut entities: Vec<EntityId> = match &self.config.entities {
            config::EntityScope::All => all.clone(),
            config::EntityScope::List(list) => list.iter().map(|entity| EntityId::new(entity.clone())).collect(),
        };
        for entity in &entities {
            anyhow::ensure!(
                all.contains(entity),
                "close.toml names entity {entity}, which does not exist in the ledger"
            );
        }
        if !self.entity_filter.is_empty() {
            for entity in &self.entity_filter {
                anyhow::ensure!(
                    entities.contains(entity),
                    "entity {entity} is not part of close {}",
                    self.config.name
                );
            }
            entities.retain(|entity| self.entity_filter.contains(entity));
        }
        let period = self.period.clone();
        store.read(|db| {
            for entity in &entities {
                let record = db.require_entity(entity)?;
                if !db
                    .periods(&record.calendar, None)?
                    .iter()
                    .any(|candidate| candidate.name == period)
                {
                    return Err(closebook_ledger::LedgerError::Invalid(format!(
                        "period {period} does not exist for entity {entity}"
                    )));
                }
            }
            Ok(())
        })?;
        Ok(entities)
    }

    fn record(&self, entity: &EntityId, task: &str) -> CloseTaskRecord {
        CloseTaskRecord {
            close: self.config.name.clone(),
            entity: entity.clone(),
            period: self.period.clone(),
            task: task.to_owned(),
            status: "pending".to_owned(),
            ..CloseTaskRecord::default()
        }
    }
}

/// Loads every plugin the close pins (refusing a changed file) and checks each plugin task's
/// configuration against the schema the plugin declares.
pub fn load_plugins(context: &CloseContext<'_>) -> anyhow::Result<(PluginRuntime, BTreeMap<String, LoadedPlugin>)> {
    context.config.check_plugin_pins()?;
    let runtime = PluginRuntime::new(&context.cache)?;
    let mut plugins = BTreeMap::new();
    for (name, pin) in &context.config.plugins {
        let plugin = runtime
            .load_file(&pin.path)
            .with_context(|| format!("loading plugin {name} from {}", pin.path.display()))?;
        plugins.insert(name.clone(), plugin);
    }
    for task in &context.config.tasks {
        if let TaskKind::Plugin { plugin } = &task.kind {
            let loaded = &plugins[plugin];
            let info = loaded.describe(&Limits::default())?;
            crate::step::validate_config(&info, &task.config.to_string())
                .with_context(|| format!("task {}", task.id))?;
            Limits::default()
                .with_overrides(&task.limits)
                .with_context(|| format!("task {}: limits", task.id))?;
        }
    }
    Ok((runtime, plugins))
}

/// The tasks `task` waits on that are not complete yet, as `entity:task (status)`.
/// A task's recorded state (none before it first runs) and what it still waits on, read in one
/// snapshot.
pub(crate) fn task_state(
    store: &mut Store,
    context: &CloseContext<'_>,
    all_entities: &[EntityId],
    entity: &EntityId,
    task: &Task,
) -> anyhow::Result<(Option<CloseTaskRecord>, Vec<String>)> {
    Ok(store.read(|db| {
        let state = db.close_task(&context.config.name, entity, &context.period, &task.id)?;
        Ok((state, waiting_on(db, context, all_entities, entity, task)?))
    })?)
}

fn waiting_on(
    db: &Db<'_>,
    context: &CloseContext<'_>,
    entities: &[EntityId],
    entity: &EntityId,
    task: &Task,
) -> Result<Vec<String>, closebook_ledger::LedgerError> {
    let mut waiting = Vec::new();
    for dependency in &task.after {
        let targets: Vec<&EntityId> = if dependency.every_entity {
            entities.iter().collect()
        } else {
            vec![entity]
        };
        for target in targets {
            let status = db
                .close_task(&context.config.name, target, &context.period, &dependency.task)?
                .map(|record| record.status)
                .unwrap_or_else(|| "pending".to_owned());
            if !is_complete(&status) {
                waiting.push(format!("{target}:{} ({status})", dependency.task));
            }
        }
    }
    Ok(waiting)
}

/// Runs the close: resumes from the recorded state, runs every task whose dependencies are
/// complete, and repeats until nothing more can run.
pub fn run_close(
    context: &CloseContext<'_>,
    rerun: Option<&str>,
    progress: &mut Progress<'_>,
) -> anyhow::Result<Vec<TaskOutcome>> {
    let entities = context.entities()?;
    let all_entities = context.close_entities()?;
    let (_runtime, plugins) = load_plugins(context)?;
    if let Some(task_id) = rerun {
        let task = context
            .config
            .task(task_id)
            .with_context(|| format!("--rerun {task_id}: no such task in close {}", context.config.name))?;
        for entity in &entities {
            reset_for_rerun(context, entity, task)
                .with_context(|| format!("--rerun {task_id}: cancelling its entries in {entity}"))?;
        }
    }
    mark_stale_signoffs(context, &entities)?;
    let total = entities.len() * context.config.tasks.len();
    let mut attempted: BTreeSet<(EntityId, String)> = BTreeSet::new();
    let mut outcomes: BTreeMap<(EntityId, String), TaskOutcome> = BTreeMap::new();
    let mut store = Store::open(&context.db)?;
    // Each round runs every task that became ready; cross-entity dependencies (`*:task`) may need
    // several rounds. Each task runs at most once per invocation, so the loop ends.
    for _round in 0..=total {
        let mut ran_any = false;
        for entity in &entities {
            for task in &context.config.tasks {
                let key = (entity.clone(), task.id.clone());
                if attempted.contains(&key) {
                    continue;
                }
                let (state, waiting) = task_state(&mut store, context, &all_entities, entity, task)?;
                let status = state
                    .as_ref()
                    .map(|record| record.status.clone())
                    .unwrap_or_else(|| "pending".to_owned());
                if is_complete(&status) || status == "awaiting-review" || status == "prepared" || !waiting.is_empty() {
                    continue;
                }
                if matches!(task.kind, TaskKind::Manual { .. }) && status == "awaiting-signoff" {
                    continue;
                }
                attempted.insert(key.clone());
                ran_any = true;
                // A step undone by staleness cancels what it posted before it runs again, so
                // its effect is never counted twice.
                if status == "stale" && matches!(task.kind, TaskKind::Plugin { .. }) {
                    reset_for_rerun(context, entity, task).with_context(|| {
                        format!("task {} of {entity} is stale: cancelling its earlier entries", task.id)
                    })?;
                }
                progress.starting(attempted.len() - 1, total, &format!("{entity} {}", task.id));
                let outcome = run_task(context, &plugins, entity, task)?;
                progress.line(&format!(
                    "[{}/{total}] {entity} {}: {}{}",
                    attempted.len(),
                    task.id,
                    outcome.status,
                    describe_outcome(&outcome)
                ));
                outcomes.insert(key, outcome);
            }
        }
        if !ran_any {
            break;
        }
    }
    // Every task gets a line: what ran now, and the state (or the wait) of the others.
    let mut report = Vec::new();
    for entity in &entities {
        for task in &context.config.tasks {
            if let Some(outcome) = outcomes.remove(&(entity.clone(), task.id.clone())) {
                report.push(outcome);
                continue;
            }
            let (state, waiting) = task_state(&mut store, context, &all_entities, entity, task)?;
            let mut status = state
                .as_ref()
                .map(|record| record.status.clone())
                .unwrap_or_else(|| "pending".to_owned());
            let mut message = state.as_ref().and_then(|record| record.message.clone());
            if matches!(status.as_str(), "pending" | "failed") && !waiting.is_empty() {
                status = "blocked".to_owned();
                message = Some(format!("waits on {}", waiting.join(", ")));
            }
            report.push(TaskOutcome {
                entity: entity.clone(),
                task: task.id.clone(),
                status,
                entries_posted: state.as_ref().map_or(0, |record| record.entries_posted),
                duration_ms: state.as_ref().map_or(0, |record| record.duration_ms),
                fuel_consumed: state.as_ref().map_or(0, |record| record.fuel_consumed),
                message,
                proposals: Vec::new(),
            });
        }
    }
    Ok(report)
}

fn describe_outcome(outcome: &TaskOutcome) -> String {
    let mut parts = Vec::new();
    if outcome.entries_posted > 0 {
        parts.push(format!("{} entries posted", outcome.entries_posted));
    }
    if outcome.fuel_consumed > 0 {
        parts.push(format!("fuel {}", outcome.fuel_consumed));
    }
    parts.push(format!("{} ms", outcome.duration_ms));
    let mut text = format!(" ({})", parts.join(", "));
    if let Some(message) = &outcome.message {
        text.push_str(&format!(": {message}"));
    }
    text
}

/// Runs one task and records its state.
fn run_task(
    context: &CloseContext<'_>,
    plugins: &BTreeMap<String, LoadedPlugin>,
    entity: &EntityId,
    task: &Task,
) -> anyhow::Result<TaskOutcome> {
    let started = Instant::now();
    let mut record = context.record(entity, &task.id);
    record.ran_by = Some(context.user.to_string());
    let mut proposals = Vec::new();
    let result: anyhow::Result<&'static str> = match &task.kind {
        TaskKind::Manual { instructions } => {
            record.status = "awaiting-signoff".to_owned();
            record.message = Some(instructions.clone());
            let mut ledger = context.ledger()?;
            ledger
                .store()
                .write(|db| db.save_close_task(&record, &context.user, "awaiting-signoff", &json!({})))?;
            Ok("awaiting-signoff")
        }
        TaskKind::Builtin { name } => {
            // A built-in step checks its own entity as it is now: the position a sign-off of a
            // task after it compares with.
            let head = context.ledger()?.read(|db| db.ledger_head(entity))?.0;
            record.run_sequences = BTreeMap::from([(entity.clone(), head)]);
            builtin::run(context, entity, task, name, &mut record).map(|()| "done")
        }
        TaskKind::Plugin { plugin } => run_plugin_task(
            context,
            &plugins[plugin],
            (entity, task, started),
            &mut record,
            &mut proposals,
        ),
    };
    record.duration_ms = record.duration_ms.max(started.elapsed().as_millis() as u64);
    match result {
        Ok(status) => {
            record.status = status.to_owned();
        }
        Err(error) => {
            record.status = "failed".to_owned();
            record.message = Some(format!("{error:#}"));
            let mut ledger = context.ledger()?;
            ledger.store().write(|db| {
                db.save_close_task(
                    &record,
                    &context.user,
                    "failed",
                    &json!({ "error": format!("{error:#}") }),
                )
            })?;
        }
    }
    Ok(TaskOutcome {
        entity: entity.clone(),
        task: task.id.clone(),
        status: record.status.clone(),
        entries_posted: record.entries_posted,
        duration_ms: record.duration_ms,
        fuel_consumed: record.fuel_consumed,
        message: record.message.clone(),
        proposals,
    })
}

/// The step request of a plugin task.
fn request_for(context: &CloseContext<'_>, entity: &EntityId, task: &Task) -> anyhow::Result<StepRequest> {
    Ok(StepRequest {
        entity: entity.clone(),
        period: context.period.clone(),
        as_of: None,
        config: task.config.to_string(),
        other_entities: task
            .allow
            .iter()
            .filter(|(other, _)| other != entity.as_str())
            .map(|(other, post)| (EntityId::new(other.clone()), *post))
            .collect(),
        task: Some(task.id.clone()),
        limits: Limits::default().with_overrides(&task.limits)?,
        allow_revaluation_lines: task.revaluation,
    })
}

/// Runs a plugin task that started at `started`: its board time runs from then to the posting
/// of the step's output, not only the step.
fn run_plugin_task(
    context: &CloseContext<'_>,
    plugin: &LoadedPlugin,
    (entity, task, started): (&EntityId, &Task, Instant),
    record: &mut CloseTaskRecord,
    proposals: &mut Vec<serde_json::Value>,
) -> anyhow::Result<&'static str> {
    let request = request_for(context, entity, task)?;
    // A snapshot made stale by a concurrent posting is run again once, never posted stale.
    for attempt in 0..2 {
        let preview = run_step(&context.db, plugin, &request)?;
        let step_record = preview.record(plugin)?;
        record.run_id = Some(step_record.run_id.clone());
        // The snapshot the step read: what a sign-off of it, or of a task after it, approves.
        record.run_sequences = step_record.sequences.clone();
        record.fuel_consumed = step_record.fuel_consumed;
        record.duration_ms = step_record.duration_ms;
        proposals.extend(
            step_record
                .output
                .entries
                .iter()
                .map(|entry| serde_json::to_value(entry).unwrap_or_default()),
        );
        let findings = step_findings(&step_record.output.messages);
        if task.review {
            record.status = "awaiting-review".to_owned();
            record.proposal = Some(serde_json::to_string(&step_record)?);
            let waiting = format!("{} proposed entries wait for review", step_record.output.entries.len());
            record.message = Some(match &findings {
                Some(findings) => format!("{waiting}; {findings}"),
                None => waiting,
            });
            let mut ledger = context.ledger()?;
            ledger.store().write(|db| {
                db.save_close_task(
                    record,
                    &context.user,
                    "proposed",
                    &json!({ "run_id": step_record.run_id }),
                )
            })?;
            return Ok("awaiting-review");
        }
        let mut ledger = context.ledger()?;
        record.message = findings;
        let done = CloseTaskRecord {
            status: "done".to_owned(),
            entries_posted: (step_record.output.entries.len()) as i64,
            ..record.clone()
        };
        let posted = post_record(&mut ledger, &step_record, |db, outcome| {
            let done = CloseTaskRecord {
                entries_posted: outcome.entries.len() as i64,
                // The id the run was posted under: a rerun of a step that posted no entry (only
                // settlements) proposes the same id again and posts it with a suffix, and
                // `--rerun` must cancel this run, not the earlier one.
                run_id: Some(outcome.run_id.clone()),
                // Up to the commit of what the step proposed, which is part of the task.
                duration_ms: done.duration_ms.max(started.elapsed().as_millis() as u64),
                ..done.clone()
            };
            db.save_close_task(&done, &context.user, "done", &json!({ "run_id": outcome.run_id, "entries": outcome.entries.len(), "settlements": outcome.settlements.len() }))
        });
        match posted {
            Ok(outcome) => {
                record.entries_posted = outcome.entries.len() as i64;
                record.run_id = Some(outcome.run_id);
                return Ok("done");
            }
            Err(error) if attempt == 0 && format!("{error:#}").contains("while the step ran") => {
                proposals.clear();
                continue;
            }
            Err(error) => return Err(error),
        }
    }
    anyhow::bail!("the ledger kept moving while task {} ran; run the close again", task.id)
}

/// How many of a step's warnings and errors a task's note quotes; the rest are counted. The
/// step log (`closebook plugin run`, the audit trail) keeps them all.
const TASK_FINDINGS_QUOTED_MAX: usize = 5;

/// A step's warnings and errors as one note, e.g. `2 warnings: partner ACME-FR is not in the
/// consolidation; …`, or none when it had none. A reviewer reads them before signing off, so
/// the close shows them with the task rather than only in the plugin's own preview.
fn step_findings(messages: &[crate::plugin::wit::Message]) -> Option<String> {
    use crate::plugin::wit::Level;
    let findings: Vec<&str> = messages
        .iter()
        .filter(|message| matches!(message.level, Level::Warning | Level::Error))
        .map(|message| message.text.as_str())
        .collect();
    if findings.is_empty() {
        return None;
    }
    let errors = messages
        .iter()
        .filter(|message| matches!(message.level, Level::Error))
        .count();
    let warnings = findings.len() - errors;
    let mut counts = Vec::new();
    if warnings > 0 {
        counts.push(format!("{warnings} warning{}", if warnings == 1 { "" } else { "s" }));
    }
    if errors > 0 {
        counts.push(format!("{errors} error{}", if errors == 1 { "" } else { "s" }));
    }
    let mut quoted = findings[..findings.len().min(TASK_FINDINGS_QUOTED_MAX)].join("; ");
    if findings.len() > TASK_FINDINGS_QUOTED_MAX {
        quoted.push_str(&format!("; and {} more", findings.len() - TASK_FINDINGS_QUOTED_MAX));
    }
    Some(format!("{}: {quoted}", counts.join(", ")))
}

/// Prepares a task to run again: cancels every entry its last run posted (each on its own date,
/// automatic reversals included) and clears its state, in one transaction.
fn reset_for_rerun(context: &CloseContext<'_>, entity: &EntityId, task: &Task) -> anyhow::Result<()> {
    let mut ledger = context.ledger()?;
    let user = context.user.clone();
    let period = context.period.clone();
    ledger.store().write(|db| {
        let Some(state) = db.close_task(&context.config.name, entity, &period, &task.id)? else {
            return Ok(());
        };
        let mut reversed = Vec::new();
        if let Some(run_id) = &state.run_id {
            // Not tagged with the old run id: the cancellations are not part of that run.
            let provenance = closebook_ledger::journal::Provenance {
                source: format!("close-rerun:{run_id}"),
                task: Some(task.id.clone()),
                ..Default::default()
            };
            reversed = closebook_ledger::ledger::cancel_run(db, run_id, &user, &provenance)?
                .into_iter()
                .map(|key| key.to_string())
                .collect();
        }
        let reset = CloseTaskRecord {
            status: "pending".to_owned(),
            ..context.record(entity, &task.id)
        };
        db.save_close_task(
            &reset,
            &user,
            "rerun",
            &json!({ "reversed": reversed, "previous_run": state.run_id }),
        )
    })?;
    Ok(())
}

/// The names of the periods a sign-off in `period` covers for `entity`: that period and the
/// earlier periods of its fiscal year. None when the entity's calendar has no such period.
fn periods_in_scope(
    db: &Db<'_>,
    entity: &EntityId,
    period: &PeriodName,
) -> Result<Option<BTreeSet<String>>, closebook_ledger::LedgerError> {
    let record = db.require_entity(entity)?;
    let periods = db.periods(&record.calendar, None)?;
    let Some(target) = periods.iter().find(|candidate| &candidate.name == period) else {
        return Ok(None);
    };
    Ok(Some(
        periods
            .iter()
            .filter(|candidate| candidate.fiscal_year == target.fiscal_year && candidate.ordinal <= target.ordinal)
            .map(|candidate| candidate.name.to_string())
            .collect(),
    ))
}

/// Entry keys by entity: journals posted to the entities a sign-off covers after the ledger
/// positions it compares with.
type LateEntries = BTreeMap<EntityId, Vec<String>>;

/// The ledger sequence at which a sign-off of `task` approves each other entity it covers (see
/// [`config::CloseConfig::entities_read_for_signoff`]): the earliest at which the task or a
/// task before it read that entity when it ran, since the figures the reviewer sees were
/// computed from it as it was then. A consolidation that read ACME-DE at sequence 40 feeds the
/// elimination signed off later: a journal ACME-DE got at 41 is not in what was reviewed. The
/// ledger as it is now stands in for a reader with no recorded run (a run from before
/// migration 6, or a manual task: its preparer works on the ledger as it is).
fn reviewed_sequences(
    db: &Db<'_>,
    context: &CloseContext<'_>,
    entity: &EntityId,
    task: &str,
) -> Result<BTreeMap<EntityId, i64>, closebook_ledger::LedgerError> {
    let mut reviewed = BTreeMap::new();
    for (other, readers) in context.config.entities_read_for_signoff(task, entity) {
        let mut earliest: Option<i64> = None;
        for reader in &readers {
            let Some(state) = db.close_task(&context.config.name, entity, &context.period, reader)? else {
                continue;
            };
            if let Some(sequence) = state.run_sequences.get(&other) {
                earliest = Some(earliest.map_or(*sequence, |found| found.min(*sequence)));
            }
        }
        let sequence = match earliest {
            Some(sequence) => sequence,
            None => db.ledger_head(&other)?.0,
        };
        reviewed.insert(other, sequence);
    }
    Ok(reviewed)
}

/// The entries posted, after the sequences a sign-off of `task` holds, in the other entities it
/// covers, by entity (entities without any left out). Entries of the tasks that read the entity
/// (a step with `:post` access writes into it), of `task` itself and of the tasks after it are
/// part of the close, not changes to what was reviewed.
fn late_entries_elsewhere(
    db: &Db<'_>,
    context: &CloseContext<'_>,
    entity: &EntityId,
    task: &str,
    sequences: &BTreeMap<EntityId, i64>,
) -> Result<LateEntries, closebook_ledger::LedgerError> {
    let readers = context.config.entities_read_for_signoff(task, entity);
    let mut late_elsewhere = BTreeMap::new();
    for (other, sequence) in sequences {
        let Some(scope) = periods_in_scope(db, other, &context.period)? else {
            continue;
        };
        let mut part_of_close = context.config.downstream_of(task);
        part_of_close.insert(task.to_owned());
        part_of_close.extend(readers.get(other).into_iter().flatten().cloned());
        let late = late_entries(db, other, *sequence, &scope, &part_of_close)?;
        if !late.is_empty() {
            late_elsewhere.insert(other.clone(), late);
        }
    }
    Ok(late_elsewhere)
}

/// What a sign-off of `task` would approve, checked against what the task computed: the
/// sequences of the other entities it covers (see [`reviewed_sequences`]) and the entries
/// posted since in its scope, by entity. A step awaiting review is checked in its own entity
/// too, from the snapshot it proposed on; a manual task's preparer works on its own entity as
/// it is, and a later change there makes the preparer's sign-off stale.
fn changes_since_run(
    db: &Db<'_>,
    context: &CloseContext<'_>,
    record: &CloseTaskRecord,
) -> Result<(BTreeMap<EntityId, i64>, LateEntries), closebook_ledger::LedgerError> {
    let entity = &record.entity;
    let reviewed = reviewed_sequences(db, context, entity, &record.task)?;
    let mut changes = late_entries_elsewhere(db, context, entity, &record.task, &reviewed)?;
    if record.status == "awaiting-review"
        && let Some(sequence) = record.run_sequences.get(entity)
        && let Some(scope) = periods_in_scope(db, entity, &context.period)?
    {
        let mut part_of_close = context.config.downstream_of(&record.task);
        part_of_close.insert(record.task.clone());
        let late = late_entries(db, entity, *sequence, &scope, &part_of_close)?;
        if !late.is_empty() {
            changes.insert(entity.clone(), late);
        }
    }
    Ok((reviewed, changes))
}

/// The changes that refuse a sign-off, as `ACME-DE: entries DE-LATE-1, DE-LATE-2`.
fn describe_changes(changes: &LateEntries) -> String {
    changes
        .iter()
        .map(|(other, keys)| format!("{other}: entries {}", keys.join(", ")))
        .collect::<Vec<_>>()
        .join("; ")
}

/// Refuses a sign-off whose task computed from a ledger that has changed since: the task, and
/// the tasks before it that read a changed entity (with the complete tasks after those), are
/// recorded stale, so the board says why and the next `closebook close run` computes them
/// again. Returns the refusal.
///
/// Refused rather than recorded stale at once: a reviewer approves figures, and approving
/// figures known to leave out a posted journal is what a review exists to prevent; for a step
/// awaiting review the sign-off would also post a proposal computed without it. The accountant
/// expects to be told now, not to find a sign-off that was never valid.
fn refuse_changed_signoff(
    db: &Db<'_>,
    context: &CloseContext<'_>,
    record: &CloseTaskRecord,
    changes: &LateEntries,
) -> Result<String, closebook_ledger::LedgerError> {
    let entity = &record.entity;
    let described = describe_changes(changes);
    let stale = CloseTaskRecord {
        status: "stale".to_owned(),
        proposal: None,
        message: Some(format!(
            "stale: changed after the task ran, before its sign-off: {described}; run the close again, then sign off"
        )),
        ..record.clone()
    };
    let changes_json: BTreeMap<&str, &Vec<String>> =
        changes.iter().map(|(other, keys)| (other.as_str(), keys)).collect();
    db.save_close_task(
        &stale,
        &context.user,
        "signoff-refused",
        &json!({ "late_entries": changes_json }),
    )?;
    let readers = context.config.entities_read_for_signoff(&record.task, entity);
    let mut undone_tasks: BTreeSet<String> = BTreeSet::new();
    for (other, keys) in changes {
        for reader in readers.get(other).into_iter().flatten() {
            if reader == &record.task {
                continue;
            }
            let message = format!(
                "stale: {other}, which it reads, changed after it ran: entries {}; task {} was not signed off",
                keys.join(", "),
                record.task
            );
            let details = json!({ "because": record.task, "entity": other.as_str(), "late_entries": keys });
            if mark_stale_if_complete(db, context, entity, reader, message, &details)? {
                undone_tasks.insert(reader.clone());
            }
        }
    }
    let mut after_undone: BTreeSet<String> = BTreeSet::new();
    for undone in &undone_tasks {
        after_undone.extend(context.config.downstream_of(undone));
    }
    for after in after_undone.difference(&undone_tasks) {
        if after == &record.task {
            continue;
        }
        let message = format!("stale: a task it depends on read {described} before it changed");
        mark_stale_if_complete(db, context, entity, after, message, &json!({ "because": record.task }))?;
    }
    Ok(format!(
        "task {} of {entity} cannot be signed off: the ledger changed after the task ran, so the figures reviewed leave out {described}; run the close again (`closebook close run`), then sign off",
        record.task
    ))
}

/// Marks task `task_id` of `entity` stale with `message` when it is complete (a task not yet
/// done has nothing to undo); returns whether it did.
fn mark_stale_if_complete(
    db: &Db<'_>,
    context: &CloseContext<'_>,
    entity: &EntityId,
    task_id: &str,
    message: String,
    details: &serde_json::Value,
) -> Result<bool, closebook_ledger::LedgerError> {
    let Some(state) = db.close_task(&context.config.name, entity, &context.period, task_id)? else {
        return Ok(false);
    };
    if !is_complete(&state.status) {
        return Ok(false);
    }
    let undone = CloseTaskRecord {
        status: "stale".to_owned(),
        message: Some(message),
        ..state
    };
    db.save_close_task(&undone, &context.user, "stale", details)?;
    Ok(true)
}

/// The entries of `entity` posted after `sequence` in the periods a sign-off covers, leaving
/// out those posted by the tasks downstream of the signed-off one (they are part of the close).
fn late_entries(
    db: &Db<'_>,
    entity: &EntityId,
    sequence: i64,
    in_scope: &BTreeSet<String>,
    downstream: &BTreeSet<String>,
) -> Result<Vec<String>, closebook_ledger::LedgerError> {
    Ok(db
        .entries_after(entity, sequence)?
        .into_iter()
        .filter(|entry| {
            in_scope.contains(entry.period.as_str())
                && !entry.task.as_ref().is_some_and(|task| downstream.contains(task))
        })
        .map(|entry| entry.key.to_string())
        .collect())
}

/// A sign-off covers the ledger as it was: any later posting in its scope (the close period and
/// earlier periods of its year) that is not made by a task downstream of it makes it stale, and
/// undoes it and the tasks after it. Its scope is its own entity and the other entities its
/// step and the steps before it read (a consolidation's members): a late journal in a member
/// also undoes the steps that read that member, so the next run computes them again.
pub(crate) fn mark_stale_signoffs(context: &CloseContext<'_>, entities: &[EntityId]) -> anyhow::Result<()> {
    let mut ledger = context.ledger()?;
    let user = context.user.clone();
    ledger.store().write(|db| {
        for entity in entities {
            let Some(in_scope) = periods_in_scope(db, entity, &context.period)? else {
                continue;
            };
            for task in &context.config.tasks {
                let Some(state) = db.close_task(&context.config.name, entity, &context.period, &task.id)? else {
                    continue;
                };
                let Some(sequence) = state.signoff_sequence else {
                    continue;
                };
                if !is_complete(&state.status) && state.status != "prepared" {
                    continue;
                }
                let downstream = context.config.downstream_of(&task.id);
                let late = late_entries(db, entity, sequence, &in_scope, &downstream)?;
                // Other entities the sign-off covers, with their late entries.
                let late_elsewhere = late_entries_elsewhere(db, context, entity, &task.id, &state.signoff_sequences)?;
                if late.is_empty() && late_elsewhere.is_empty() {
                    continue;
                }
                let mut changes = Vec::new();
                if !late.is_empty() {
                    changes.push(format!("entries {} posted after the sign-off", late.join(", ")));
                }
                for (other, keys) in &late_elsewhere {
                    changes.push(format!(
                        "{other}, which the sign-off covers, changed after it: entries {}",
                        keys.join(", ")
                    ));
                }
                let message = if late_elsewhere.is_empty() {
                    format!("stale: {}; sign off again", changes.join("; "))
                } else {
                    format!("stale: {}; run the close again and sign off again", changes.join("; "))
                };
                let stale = CloseTaskRecord {
                    status: "stale".to_owned(),
                    message: Some(message.clone()),
                    ..state.clone()
                };
                let late_elsewhere_json: BTreeMap<String, &Vec<String>> = late_elsewhere
                    .iter()
                    .map(|(other, keys)| (other.to_string(), keys))
                    .collect();
                db.save_close_task(
                    &stale,
                    &user,
                    "stale",
                    &json!({ "late_entries": late, "late_entries_elsewhere": late_elsewhere_json }),
                )?;
                // The steps before it that read a changed entity computed from the old ledger:
                // they are undone too, and run again (their entries cancelled) by the next run.
                let readers = context.config.entities_read_for_signoff(&task.id, entity);
                let mut undone_tasks: BTreeSet<String> = BTreeSet::new();
                for (other, keys) in &late_elsewhere {
                    for reader in readers.get(other).into_iter().flatten() {
                        if reader == &task.id {
                            continue;
                        }
                        let message = format!(
                            "stale: {other}, which it reads, changed after task {} was signed off: entries {}",
                            task.id,
                            keys.join(", ")
                        );
                        let details = json!({ "because": task.id, "entity": other.as_str(), "late_entries": keys });
                        mark_stale_if_complete(db, context, entity, reader, message, &details)?;
                        undone_tasks.insert(reader.clone());
                    }
                }
                let mut after_undone = downstream.clone();
                for undone in &undone_tasks {
                    after_undone.extend(context.config.downstream_of(undone));
                }
                after_undone.remove(&task.id);
                for after in &after_undone {
                    if undone_tasks.contains(after) {
                        continue;
                    }
                    let message = format!("stale: task {} it depends on is stale", task.id);
                    mark_stale_if_complete(db, context, entity, after, message, &json!({ "because": task.id }))?;
                }
            }
        }
        Ok(())
    })?;
    Ok(())
}

/// Signs off a task: a manual task's preparer, then (when the task has a reviewer) its
/// reviewer; or the review of a step's proposal, which posts it.
pub fn signoff(
    context: &CloseContext<'_>,
    entity: &EntityId,
    task_id: &str,
    review: bool,
    note: Option<&str>,
) -> anyhow::Result<String> {
    let task = context
        .config
        .task(task_id)
        .with_context(|| format!("close {} has no task {task_id}", context.config.name))?;
    let entities = context.entities()?;
    let all_entities = context.close_entities()?;
    anyhow::ensure!(
        entities.contains(entity),
        "entity {entity} is not part of close {}",
        context.config.name
    );
    mark_stale_signoffs(context, &entities)?;
    let mut store = Store::open(&context.db)?;
    let (state, waiting) = task_state(&mut store, context, &all_entities, entity, task)?;
    anyhow::ensure!(
        waiting.is_empty(),
        "task {task_id} of {entity} cannot be signed off: it waits on {}",
        waiting.join(", ")
    );
    let user = context.user.to_string();
    let mut record = state.unwrap_or_else(|| context.record(entity, task_id));
    // The task as it was before this sign-off: what a refused sign-off leaves, marked stale.
    let before_signoff = record.clone();
    if let Some(reviewer) = &task.reviewer
        && review
    {
        anyhow::ensure!(
            reviewer == &user,
            "task {task_id} is reviewed by {reviewer}, not {user}"
        );
    }
    match (&task.kind, review) {
        (TaskKind::Manual { .. }, false) => {
            anyhow::ensure!(
                task.reviewer.as_deref() != Some(user.as_str()),
                "{user} is the reviewer of task {task_id}; someone else prepares it"
            );
            anyhow::ensure!(
                matches!(record.status.as_str(), "pending" | "awaiting-signoff" | "stale"),
                "task {task_id} of {entity} is {}; nothing to sign off",
                record.status
            );
            record.prepared_by = Some(user.clone());
            record.reviewed_by = None;
            record.message = note.map(str::to_owned);
            record.status = if task.reviewer.is_some() {
                "prepared".to_owned()
            } else {
                "signed-off".to_owned()
            };
        }
        (TaskKind::Manual { .. }, true) => {
            anyhow::ensure!(
                record.status == "prepared",
                "task {task_id} of {entity} is {}; the preparer signs off first",
                record.status
            );
            anyhow::ensure!(
                record.prepared_by.as_deref() != Some(user.as_str()),
                "the reviewer of task {task_id} must not be its preparer ({user})"
            );
            record.reviewed_by = Some(user.clone());
            record.status = "signed-off".to_owned();
        }
        (TaskKind::Plugin { .. }, true) if record.status == "awaiting-review" => {
            anyhow::ensure!(
                record.ran_by.as_deref() != Some(user.as_str()),
                "the reviewer of task {task_id} must not be the user who ran the step ({user})"
            );
            let proposal = record
                .proposal
                .clone()
                .context("the proposal of the task is missing; run the close again")?;
            let step_record: StepRecord = serde_json::from_str(&proposal)
                .context("the stored proposal is unreadable; run the close with --rerun")?;
            let mut ledger = context.ledger()?;
            let refused = ledger.store().write(|db| {
                let (_, changes) = changes_since_run(db, context, &record)?;
                if changes.is_empty() {
                    return Ok(None);
                }
                refuse_changed_signoff(db, context, &record, &changes).map(Some)
            })?;
            if let Some(refusal) = refused {
                anyhow::bail!(refusal);
            }
            let reviewed = CloseTaskRecord {
                status: "done".to_owned(),
                reviewed_by: Some(user.clone()),
                proposal: None,
                message: note.map(str::to_owned),
                ..record.clone()
            };
            let outcome = post_record(&mut ledger, &step_record, |db, outcome| {
                // Checked again with the posting: a journal that landed since the check above
                // undoes the posting rather than being approved unseen.
                let (reviewed_sequences, changes) = changes_since_run(db, context, &record)?;
                if !changes.is_empty() {
                    return Err(closebook_ledger::LedgerError::Invalid(format!(
                        "the ledger changed while task {task_id} was being signed off: {}; sign off again",
                        describe_changes(&changes)
                    )));
                }
                let sequence = db.ledger_head(entity)?.0;
                let done = CloseTaskRecord {
                    entries_posted: outcome.entries.len() as i64,
                    run_id: Some(outcome.run_id.clone()),
                    signoff_sequence: Some(sequence),
                    signoff_sequences: reviewed_sequences,
                    ..reviewed.clone()
                };
                db.save_close_task(&done, &context.user, "reviewed", &json!({ "note": note, "run_id": outcome.run_id }))
            })
            .with_context(|| format!("posting the reviewed proposal of task {task_id}; if the ledger moved, run `closebook close run --rerun {task_id}` to propose again"))?;
            return Ok(format!(
                "reviewed task {task_id} of {entity}: posted {} entries",
                outcome.entries.len()
            ));
        }
        (_, _) => anyhow::bail!(
            "task {task_id} of {entity} is {}: a step is signed off with --review once its proposal waits for review (`review = true`)",
            record.status
        ),
    }
    let mut ledger = context.ledger()?;
    let status = record.status.clone();
    let refused = ledger.store().write(|db| {
        let (reviewed_sequences, changes) = changes_since_run(db, context, &before_signoff)?;
        if !changes.is_empty() {
            return refuse_changed_signoff(db, context, &before_signoff, &changes).map(Some);
        }
        record.signoff_sequence = Some(db.ledger_head(entity)?.0);
        record.signoff_sequences = reviewed_sequences;
        db.save_close_task(
            &record,
            &context.user,
            if review { "reviewed" } else { "signed-off" },
            &json!({ "note": note }),
        )?;
        Ok(None)
    })?;
    if let Some(refusal) = refused {
        anyhow::bail!(refusal);
    }
    Ok(format!("task {task_id} of {entity} is {status}"))
}

/// A copy of the ledger for a dry run, made with `VACUUM INTO` so the real file is not touched.
pub fn dry_run_copy(db: &Path, directory: &Path) -> anyhow::Result<PathBuf> {
    let copy = directory.join("dry-run.db");
    anyhow::ensure!(db.exists(), "the ledger file {} does not exist", db.display());
    closebook_ledger::store::copy_database(db, &copy)?;
    Ok(copy)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plugin::wit::{Level, Message};

    fn message(level: Level, text: &str) -> Message {
        Message {
            level,
            text: text.to_owned(),
        }
    }

    #[test]
    fn a_task_note_quotes_warnings_and_errors_but_not_info() {
        // Proves the note a reviewer reads carries the step's warnings and errors, counted,
        // and leaves out debug and info messages.
        let messages = [
            message(Level::Info, "read 12 rows"),
            message(Level::Warning, "fees differ by 50.00"),
            message(Level::Error, "partner ACME-FR is unknown"),
            message(Level::Debug, "trace"),
        ];
        assert_eq!(
            step_findings(&messages).as_deref(),
            Some("1 warning, 1 error: fees differ by 50.00; partner ACME-FR is unknown")
        );
        assert_eq!(step_findings(&[message(Level::Info, "fine")]), None);
    }

    #[test]
    fn a_task_note_counts_the_findings_it_does_not_quote() {
        // Proves a long list of warnings is cut at the quoted maximum and the rest counted.
        let messages: Vec<Message> = (1..=7)
            .map(|number| message(Level::Warning, &format!("w{number}")))
            .collect();
        assert_eq!(
            step_findings(&messages).as_deref(),
            Some("7 warnings: w1; w2; w3; w4; w5; and 2 more")
        );
    }
}
