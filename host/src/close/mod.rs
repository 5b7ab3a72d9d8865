//! The close engine: runs a configured close (`close.toml`) for a period over its entities,
//! task by task in dependency order, each step in its own transaction with its completion
//! record, so a crash leaves the ledger consistent and the next run resumes where this one
//! stopped. Stops a chain at a failure, a manual task waiting for sign-off or a proposal
//! waiting for review, finishes what does not depend on it, and reports what waits on whom.

pub mod board;
pub mod builtin;
pub mod config;
pub mod finding;
mod memo;
pub mod review;
mod signoff;
mod stale;

pub(crate) use memo::ContextMemo;
pub use memo::{LateEntryChecks, PeriodsCache};

pub use signoff::signoff;

use crate::plugin::{Limits, LoadedPlugin, PluginRuntime};
use crate::step::{PostError, StepRequest, post_record, run_step};
use anyhow::Context as _;
use closebook_ledger::Ledger;
use closebook_ledger::access::{Actor, Identity, Permission};
use closebook_ledger::close_task::{EntityRead, TaskStatus};
use closebook_ledger::ids::{EntityId, PeriodName};
use closebook_ledger::store::{CloseTaskRecord, Db, Store};
use config::{CloseConfig, Task, TaskKind};
use serde_json::json;
use std::cell::{RefCell, RefMut};
use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// What the board and a run's report show for a task: its status, or `blocked` while a
/// pending or failed task waits on unfinished tasks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ShownStatus {
    Task(TaskStatus),
    Blocked,
}

impl ShownStatus {
    pub fn of(status: TaskStatus, waiting: &[String]) -> Self {
        if matches!(status, TaskStatus::Pending | TaskStatus::Failed) && !waiting.is_empty() {
            ShownStatus::Blocked
        } else {
            ShownStatus::Task(status)
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            ShownStatus::Task(status) => status.as_str(),
            ShownStatus::Blocked => "blocked",
        }
    }

    pub fn is_complete(self) -> bool {
        matches!(self, ShownStatus::Task(status) if status.is_complete())
    }
}

impl std::fmt::Display for ShownStatus {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.write_str(self.as_str())
    }
}

impl serde::Serialize for ShownStatus {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

/// How many times one `close run` may run the same task. A task runs again in the same
/// invocation only when a later task's posting made it stale (an adjustment posted after the
/// allocation read its account); two tasks that keep changing each other's inputs would
/// otherwise loop for ever.
pub const TASK_RUNS_PER_CLOSE_RUN_MAX: usize = 3;

/// What a close run tells whoever watches it, task by task. The CLI shows a bar or plain lines
/// (`commands/close.rs`, over [`crate::diagnostics::Progress`]); [`Progress`] writes to any
/// writer (a server's event stream, a test).
pub trait CloseProgress {
    /// A task is about to run; `done` of `total` have run so far. `what` is `ENTITY TASK`.
    fn starting(&mut self, done: usize, total: usize, what: &str);
    /// A task finished: `[3/12] ACME-US accrue: done (2 entries posted, 14 ms)`.
    fn finished(&mut self, line: &str);
}

/// Progress written to a writer: one line per task as it finishes; when `terminal`, a bar
/// redrawn in place while a task runs, then the task's line.
pub struct Progress<'a> {
    pub out: &'a mut dyn Write,
    pub terminal: bool,
}

/// Width of the bar `Progress` draws on a terminal, in characters.
const PROGRESS_BAR_WIDTH_CHARS: usize = 24;

impl CloseProgress for Progress<'_> {
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

    fn finished(&mut self, line: &str) {
        // Progress is best effort: a closed writer must not stop the close.
        if self.terminal {
            let _ = write!(self.out, "\r\x1b[2K");
        }
        let _ = writeln!(self.out, "{line}");
    }
}

/// What one task did in this run.
#[derive(Debug, Clone, serde::Serialize)]
pub struct TaskOutcome {
    pub entity: EntityId,
    pub task: String,
    pub status: ShownStatus,
    pub entries_posted: i64,
    pub duration_ms: u64,
    pub fuel_consumed: u64,
    pub message: Option<String>,
    /// The entries the step proposed in this run, as the ledger would post them (dry runs and
    /// reviews show them).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub proposals: Vec<review::ProposedEntryView>,
}

/// Everything a close run needs.
pub struct CloseContext<'a> {
    pub config: &'a CloseConfig,
    pub db: PathBuf,
    pub cache: PathBuf,
    /// Who runs or signs, with how their identity was established.
    pub actor: Actor,
    /// How the caller established who is acting, when permissions are checked (None: the
    /// caller checked them, as tests do).
    pub identity: Option<Identity>,
    pub period: PeriodName,
    /// Only these entities (all of the close when empty).
    pub entity_filter: Vec<EntityId>,
    /// A dry run works on a copy of the ledger and writes no files.
    pub dry_run: bool,
    /// The ledger the run works on: opened once (for `db`) and lent to every task and check in
    /// turn, rather than opened again for each.
    pub(crate) open_ledger: RefCell<Option<(PathBuf, Ledger)>>,
    /// What the context reads once and reuses, for a request or a run.
    pub(crate) memo: ContextMemo,
}

/// The run's open ledger, lent out; or, when it is already lent (a check nested inside a
/// transaction of the same run), a ledger opened for this use alone.
pub(crate) enum LentLedger<'a> {
    Shared(RefMut<'a, Ledger>),
    Own(Box<Ledger>),
}

impl std::ops::Deref for LentLedger<'_> {
    type Target = Ledger;

    fn deref(&self) -> &Ledger {
        match self {
            LentLedger::Shared(ledger) => ledger,
            LentLedger::Own(ledger) => ledger,
        }
    }
}

impl std::ops::DerefMut for LentLedger<'_> {
    fn deref_mut(&mut self) -> &mut Ledger {
        match self {
            LentLedger::Shared(ledger) => ledger,
            LentLedger::Own(ledger) => ledger,
        }
    }
}

impl CloseContext<'_> {
    /// The run's ledger, opened on first use (permissions were checked by the command).
    pub(crate) fn ledger(&self) -> anyhow::Result<LentLedger<'_>> {
        let Ok(mut slot) = self.open_ledger.try_borrow_mut() else {
            return Ok(LentLedger::Own(Box::new(Ledger::open(&self.db, self.actor.clone())?)));
        };
        if slot.as_ref().is_none_or(|(path, _)| path != &self.db) {
            *slot = Some((self.db.clone(), Ledger::open(&self.db, self.actor.clone())?));
        }
        Ok(LentLedger::Shared(RefMut::map(slot, |slot| {
            &mut slot.as_mut().expect("the ledger was opened just above").1
        })))
    }

    /// Every entity of the close, whatever `--entity` narrows the run to: `*:task`
    /// dependencies wait on all of them.
    pub fn close_entities(&self) -> anyhow::Result<Vec<EntityId>> {
        self.entities_narrowed_to(&[])
    }

    /// The close's entities for this run, checked to exist, with the period.
    pub fn entities(&self) -> anyhow::Result<Vec<EntityId>> {
        self.entities_narrowed_to(&self.entity_filter)
    }

    /// The close's entities narrowed to `filter` (all when it is empty), through the context's
    /// one ledger connection.
    fn entities_narrowed_to(&self, filter: &[EntityId]) -> anyhow::Result<Vec<EntityId>> {
        let all = self.ledger_entities()?;
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
        if !filter.is_empty() {
            for entity in filter {
                anyhow::ensure!(
                    entities.contains(entity),
                    "entity {entity} is not part of close {}",
                    self.config.name
                );
            }
            entities.retain(|entity| filter.contains(entity));
        }
        let mut ledger = self.ledger()?;
        ledger.store().read(|db| {
            for entity in &entities {
                self.periods_of(db, entity)?.named(&self.period)?;
            }
            Ok(())
        })?;
        Ok(entities)
    }

    /// Checks close.toml against the ledger: its owners and reviewers must be users, and a
    /// reviewer not the owner. Every close command calls it once, before anything runs.
    pub fn check_config(&self) -> anyhow::Result<()> {
        let (users, groups) = self
            .ledger()?
            .store()
            .read(|db| Ok((db.user_ids()?, db.group_ids()?)))?;
        self.config.check_people(&users, &groups)
    }

    /// The one permission check, for the acting user in `entity`, when the close was opened for
    /// a claimed identity (the CLI, the server); a refusal is audited.
    pub fn authorize(&self, permission: Permission, entity: &EntityId) -> anyhow::Result<()> {
        let Some(identity) = &self.identity else {
            return Ok(());
        };
        // Through the context's own connection when it is open and not lent out (a check
        // inside one of the run's transactions opens its own).
        let lent = match self.open_ledger.try_borrow_mut() {
            Ok(mut slot) if slot.as_ref().is_some_and(|(path, _)| path == &self.db) => slot.take(),
            _ => None,
        };
        let Some((path, ledger)) = lent else {
            Ledger::open_for(&self.db, identity)?.authorize(permission, Some(entity))?;
            return Ok(());
        };
        let mut checked = Ledger::from_store_for(ledger.into_store(), identity)?;
        let outcome = checked.authorize(permission, Some(entity));
        *self.open_ledger.borrow_mut() = Some((path, Ledger::from_store(checked.into_store(), self.actor.clone())));
        Ok(outcome?)
    }

    /// Whether the acting user is one of `names` (users or groups).
    pub fn acting_user_is_one_of(&self, names: &[String]) -> anyhow::Result<bool> {
        let user = self.actor.user.as_str();
        if names.iter().any(|name| name == user) {
            return Ok(true);
        }
        let groups = self.ledger()?.store().read(|db| db.groups_of(&self.actor.user))?;
        Ok(names.iter().any(|name| groups.contains(name)))
    }

    /// A warning when the close of the period before this one was started and is not complete
    /// in some entity: closes go in sequence, but a late task there is not a reason to stop this
    /// one. None when it is complete, or was never run with closebook.
    pub fn previous_close_incomplete(&self) -> anyhow::Result<Option<String>> {
        let entities = self.entities()?;
        let mut ledger = self.ledger()?;
        let store = ledger.store();
        let mut incomplete = Vec::new();
        store.read(|db| {
            for entity in &entities {
                let periods = self.periods_of(db, entity)?;
                let Some(position) = periods.position(&self.period) else {
                    continue;
                };
                let Some(previous) = position.checked_sub(1).map(|index| &periods.periods[index].name) else {
                    continue;
                };
                let mut started = false;
                let mut complete = 0;
                let mut total = 0;
                for task in self.config.tasks.iter().filter(|task| task.runs_in(entity)) {
                    let state = db.close_task(&self.config.name, entity, previous, &task.id)?;
                    started |= state.is_some();
                    total += 1;
                    complete += usize::from(state.is_some_and(|state| state.status.is_complete()));
                }
                if started && complete < total {
                    incomplete.push(format!("{entity} {previous} ({complete} of {total} tasks complete)"));
                }
            }
            Ok(())
        })?;
        Ok((!incomplete.is_empty()).then(|| {
            format!(
                "the previous close is incomplete: {}; closes normally go in sequence (`closebook close status --period …` shows what is left)",
                incomplete.join(", ")
            )
        }))
    }

    fn record(&self, entity: &EntityId, task: &str) -> CloseTaskRecord {
        CloseTaskRecord {
            close: self.config.name.clone(),
            entity: entity.clone(),
            period: self.period.clone(),
            task: task.to_owned(),
            status: TaskStatus::Pending,
            ..CloseTaskRecord::default()
        }
    }
}

/// Loads every plugin the close pins (refusing a changed file) and checks each plugin task's
/// configuration against the schema the plugin declares.
pub fn load_plugins(context: &CloseContext<'_>) -> anyhow::Result<(PluginRuntime, BTreeMap<String, LoadedPlugin>)> {
    // Every plugin is read and checked (pin, signature, trust, package) before the runtime
    // compiles any of them, so a refused plugin leaves nothing in the compile cache.
    let mut checked = Vec::with_capacity(context.config.plugins.len());
    for name in context.config.plugins.keys() {
        let (wasm, _package) = context.config.read_plugin(name)?;
        checked.push((name, wasm));
    }
    let runtime = PluginRuntime::new(&context.cache)?;
    let mut plugins = BTreeMap::new();
    for (name, wasm) in checked {
        let pin = &context.config.plugins[name];
        // Named after the file, as `PluginRuntime::load_file` names it.
        let file_name = pin
            .path
            .file_stem()
            .map(|stem| stem.to_string_lossy().into_owned())
            .unwrap_or_else(|| name.clone());
        let plugin = runtime
            .load(&file_name, &wasm)
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

/// The entities whose `dependency` task the task of `entity` waits on: its own, or every entity
/// of the close for `*:task`; a task limited to some entities is waited on only where it runs.
pub(crate) fn dependency_entities<'a>(
    context: &CloseContext<'_>,
    all_entities: &'a [EntityId],
    entity: &'a EntityId,
    dependency: &config::Dependency,
) -> Vec<&'a EntityId> {
    let targets: Vec<&EntityId> = if dependency.every_entity {
        all_entities.iter().collect()
    } else {
        vec![entity]
    };
    let runs_in = |target: &&EntityId| {
        context
            .config
            .task(&dependency.task)
            .is_some_and(|dependency| dependency.runs_in(target))
    };
    targets.into_iter().filter(runs_in).collect()
}

/// Splits dependency names (`ENTITY:task …`) into those of entities the reader may read and
/// those of others, whose names and statuses the reader is not shown.
pub(crate) fn split_readable<T>(items: Vec<T>, name: impl Fn(&T) -> &str, readable: &[EntityId]) -> (Vec<T>, Vec<T>) {
    items.into_iter().partition(|item| {
        let entity = name(item).split_once(':').map_or("", |(entity, _)| entity);
        readable.iter().any(|readable| readable.as_str() == entity)
    })
}

/// What the reader is told about dependencies they may not see.
pub(crate) fn hidden_dependencies(count: usize) -> String {
    if count == 1 {
        "1 task of an entity you may not read".to_owned()
    } else {
        format!("{count} tasks of entities you may not read")
    }
}

fn waiting_on(
    db: &Db<'_>,
    context: &CloseContext<'_>,
    entities: &[EntityId],
    entity: &EntityId,
    task: &Task,
) -> Result<Vec<String>, closebook_ledger::LedgerError> {
    waiting_for(context, entities, entity, task, |target, dependency| {
        Ok(db
            .close_task(&context.config.name, target, &context.period, dependency)?
            .map_or(TaskStatus::Pending, |record| record.status))
    })
}

/// [`waiting_on`] with the dependencies' statuses from `status_of(entity, task)`: the ledger,
/// or the records a board read at once.
pub(crate) fn waiting_for(
    context: &CloseContext<'_>,
    entities: &[EntityId],
    entity: &EntityId,
    task: &Task,
    mut status_of: impl FnMut(&EntityId, &str) -> Result<TaskStatus, closebook_ledger::LedgerError>,
) -> Result<Vec<String>, closebook_ledger::LedgerError> {
    let mut waiting = Vec::new();
    for dependency in &task.after {
        for target in dependency_entities(context, entities, entity, dependency) {
            let status = status_of(target, &dependency.task)?;
            if !status.is_complete() {
                waiting.push(format!("{target}:{} ({status})", dependency.task));
            }
        }
    }
    Ok(waiting)
}

/// Runs the close: resumes from the recorded state, runs every task whose dependencies are
/// complete, and repeats until nothing more can run. After every task, the tasks whose inputs
/// its postings changed are marked stale and run again (at most
/// [`TASK_RUNS_PER_CLOSE_RUN_MAX`] times each), so the order in which independent tasks run
/// does not change the figures.
pub fn run_close(
    context: &CloseContext<'_>,
    rerun: Option<&str>,
    progress: &mut dyn CloseProgress,
) -> anyhow::Result<Vec<TaskOutcome>> {
    let _run = tracing::info_span!(
        "close.run",
        close = %context.config.name,
        period = %context.period,
        close_run = %close_run_id(),
        dry_run = context.dry_run,
    )
    .entered();
    // One run of a close and period at a time, across processes (two servers, a server and a
    // terminal): a second one waits for the first, then finds done what it did. The server
    // also refuses a second run in its own process, naming who started the first.
    let _one_run = if context.dry_run {
        None
    } else {
        let name = format!("close run {} {}", context.config.name, context.period);
        Some(closebook_ledger::store::NamedLock::acquire(&context.db, &name, || {
            tracing::warn!(
                close = %context.config.name,
                period = %context.period,
                "this close is running for the period in another closebook process; waiting for it to finish"
            );
        })?)
    };
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
    stale::mark_stale(context, &all_entities)?;
    let total: usize = entities
        .iter()
        .map(|entity| context.config.tasks.iter().filter(|task| task.runs_in(entity)).count())
        .sum();
    let mut runs: BTreeMap<(EntityId, String), usize> = BTreeMap::new();
    let mut outcomes: BTreeMap<(EntityId, String), TaskOutcome> = BTreeMap::new();
    // Each round runs every task that became ready; cross-entity dependencies (`*:task`) and
    // tasks made stale by a later task need more rounds. A task runs at most
    // TASK_RUNS_PER_CLOSE_RUN_MAX times, so the loop ends.
    for _round in 0..=total * TASK_RUNS_PER_CLOSE_RUN_MAX {
        let mut ran_any = false;
        for entity in &entities {
            for task in context.config.tasks.iter().filter(|task| task.runs_in(entity)) {
                let key = (entity.clone(), task.id.clone());
                // The run's ledger is lent for the lookup only: the task borrows it next.
                let (state, waiting) = task_state(context.ledger()?.store(), context, &all_entities, entity, task)?;
                let status = state.as_ref().map_or(TaskStatus::Pending, |record| record.status);
                let runs_so_far = runs.get(&key).copied().unwrap_or(0);
                // A task this invocation already ran runs again only when it became stale.
                let may_run = if runs_so_far == 0 {
                    !status.is_complete() && !status.waits_for_a_person()
                } else {
                    status == TaskStatus::Stale && runs_so_far < TASK_RUNS_PER_CLOSE_RUN_MAX
                };
                if !may_run || !waiting.is_empty() {
                    continue;
                }
                runs.insert(key.clone(), runs_so_far + 1);
                ran_any = true;
                let done = runs.values().filter(|count| **count > 0).count();
                progress.starting(done - 1, total, &format!("{entity} {}", task.id));
                let task_span = tracing::info_span!(
                    "close.task",
                    entity = %entity,
                    task = %task.id,
                    kind = task.kind.name(),
                    attempt = runs_so_far + 1,
                )
                .entered();
                if runs_so_far > 0 {
                    tracing::info!(previous_status = %status, "running the task again: its inputs changed");
                }
                let outcome = run_ready_task(context, &plugins, entity, task, status)?;
                tracing::info!(
                    status = %outcome.status,
                    entries_posted = outcome.entries_posted,
                    duration_ms = outcome.duration_ms,
                    fuel_consumed = outcome.fuel_consumed,
                    message = outcome.message.as_deref(),
                    "task finished"
                );
                drop(task_span);
                let again = if runs_so_far > 0 {
                    " (again: its inputs changed)"
                } else {
                    ""
                };
                progress.finished(&format!(
                    "[{done}/{total}] {entity} {}{again}: {}{}",
                    task.id,
                    outcome.status,
                    describe_outcome(&outcome, context.dry_run)
                ));
                outcomes.insert(key, outcome);
                // What this task posted may change what a finished task read.
                stale::mark_stale(context, &all_entities)?;
            }
        }
        if !ran_any {
            break;
        }
    }
    close_report(context, &entities, &all_entities, outcomes, &runs)
}

/// An id for one invocation of the close run, `UNIX-MILLISECONDS-PROCESS`: every record of the
/// trace of one run carries it (`close_run`), so a log with several runs (a server's) can be cut
/// into runs. Step runs keep their own `run_id`, which joins the trace to the step log and the
/// audit trail.
fn close_run_id() -> String {
    let milliseconds = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |since| since.as_millis());
    format!("{milliseconds}-{}", std::process::id())
}

/// Every task gets a line: what ran now (as it stands after the tasks that ran later), and the
/// state (or the wait) of the others.
fn close_report(
    context: &CloseContext<'_>,
    entities: &[EntityId],
    all_entities: &[EntityId],
    mut outcomes: BTreeMap<(EntityId, String), TaskOutcome>,
    runs: &BTreeMap<(EntityId, String), usize>,
) -> anyhow::Result<Vec<TaskOutcome>> {
    let mut report = Vec::new();
    let mut ledger = context.ledger()?;
    let store = ledger.store();
    for entity in entities {
        for task in context.config.tasks.iter().filter(|task| task.runs_in(entity)) {
            let key = (entity.clone(), task.id.clone());
            let (state, waiting) = task_state(store, context, all_entities, entity, task)?;
            let status = state.as_ref().map_or(TaskStatus::Pending, |record| record.status);
            let mut outcome = match outcomes.remove(&key) {
                Some(mut outcome) => {
                    // A task made stale after it ran in this invocation shows as stale.
                    if status == TaskStatus::Stale {
                        outcome.status = ShownStatus::Task(status);
                        outcome.message = state.as_ref().and_then(|record| record.message.clone());
                    }
                    outcome
                }
                None => TaskOutcome {
                    entity: entity.clone(),
                    task: task.id.clone(),
                    status: ShownStatus::of(status, &waiting),
                    entries_posted: state.as_ref().map_or(0, |record| record.entries_posted),
                    duration_ms: state.as_ref().map_or(0, |record| record.duration_ms),
                    fuel_consumed: state.as_ref().map_or(0, |record| record.fuel_consumed),
                    message: if ShownStatus::of(status, &waiting) == ShownStatus::Blocked {
                        Some(format!("waits on {}", waiting.join(", ")))
                    } else {
                        state.as_ref().and_then(|record| record.message.clone())
                    },
                    proposals: Vec::new(),
                },
            };
            if status == TaskStatus::Stale && runs.get(&key).copied().unwrap_or(0) >= TASK_RUNS_PER_CLOSE_RUN_MAX {
                outcome.message = Some(format!(
                    "ran {TASK_RUNS_PER_CLOSE_RUN_MAX} times in this close run and its inputs changed again each time: tasks that change each other's inputs need a dependency (`after`) between them; {}",
                    outcome.message.unwrap_or_default()
                ));
            }
            outcome.message = with_note(config_changed_note(task, state.as_ref()), outcome.message);
            report.push(outcome);
        }
    }
    Ok(report)
}

/// Refuses a task limited to other entities (`entities = [...]` in close.toml).
pub(crate) fn ensure_runs_in(task: &Task, entity: &EntityId) -> anyhow::Result<()> {
    anyhow::ensure!(
        task.runs_in(entity),
        "task {} does not run in entity {entity}: close.toml limits it to {}",
        task.id,
        task.entities.iter().flatten().cloned().collect::<Vec<_>>().join(", ")
    );
    Ok(())
}

/// The SHA-256 of a task's configuration (its canonical JSON), recorded with each run.
pub fn config_sha256(task: &Task) -> String {
    crate::close::config::text_sha256(&task.config.to_string())
}

/// A note when a completed task ran with another configuration than close.toml's now: its
/// figures are those of the old one, and only `--rerun` replaces them.
pub fn config_changed_note(task: &Task, state: Option<&CloseTaskRecord>) -> Option<String> {
    let state = state?;
    let ran_with = state.config_sha256.as_deref()?;
    (state.status.is_complete() && ran_with != config_sha256(task)).then(|| {
        format!(
            "config of {} changed since it ran; run with --rerun {}",
            task.id, task.id
        )
    })
}

/// A task's message with a note before it (`note; message`), either of them alone, or none.
pub fn with_note(note: Option<String>, message: Option<String>) -> Option<String> {
    match (note, message) {
        (Some(note), Some(message)) => Some(format!("{note}; {message}")),
        (note, message) => note.or(message),
    }
}

fn describe_outcome(outcome: &TaskOutcome, dry_run: bool) -> String {
    let mut parts = Vec::new();
    if outcome.entries_posted > 0 {
        let verb = if dry_run { "would post" } else { "posted" };
        parts.push(format!("{} entries {verb}", outcome.entries_posted));
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

/// Runs a task the close found ready. A plugin step whose last run still has entries in effect
/// (it is stale, or an earlier attempt to cancel them failed) first cancels them, so its effect
/// is never counted twice; where that is refused (a period no longer open, a settled line), the
/// task fails with the refusal and its entries stay recorded, so the next run tries again.
fn run_ready_task(
    context: &CloseContext<'_>,
    plugins: &BTreeMap<String, LoadedPlugin>,
    entity: &EntityId,
    task: &Task,
    status: TaskStatus,
) -> anyhow::Result<TaskOutcome> {
    if matches!(task.kind, TaskKind::Plugin { .. })
        && matches!(status, TaskStatus::Stale | TaskStatus::Failed)
        && has_entries_in_effect(context, entity, task)?
        && let Err(error) = reset_for_rerun(context, entity, task)
    {
        let message = format!(
            "its inputs changed, and the entries its last run posted cannot be cancelled: {error:#}; fix that (for a period that no longer accepts postings: reopen it for module close with `closebook period set-status`, or post a correction in the next period), then run the close again"
        );
        let mut ledger = context.ledger()?;
        let state = ledger
            .store()
            .read(|db| db.close_task(&context.config.name, entity, &context.period, &task.id))?;
        // The run id stays: the next run finds the entries still in effect and cancels them.
        let failed = CloseTaskRecord {
            status: TaskStatus::Failed,
            message: Some(message.clone()),
            proposal: None,
            ..state.unwrap_or_else(|| context.record(entity, &task.id))
        };
        ledger
            .store()
            .write(|db| db.save_close_task(&failed, &context.actor, "failed", &json!({ "error": message })))?;
        return Ok(TaskOutcome {
            entity: entity.clone(),
            task: task.id.clone(),
            status: ShownStatus::Task(TaskStatus::Failed),
            entries_posted: 0,
            duration_ms: 0,
            fuel_consumed: 0,
            message: Some(message),
            proposals: Vec::new(),
        });
    }
    run_task(context, plugins, entity, task)
}

/// Whether the task's last recorded run still has entries no rerun has cancelled.
fn has_entries_in_effect(context: &CloseContext<'_>, entity: &EntityId, task: &Task) -> anyhow::Result<bool> {
    let mut ledger = context.ledger()?;
    let store = ledger.store();
    Ok(store.read(|db| {
        let Some(state) = db.close_task(&context.config.name, entity, &context.period, &task.id)? else {
            return Ok(false);
        };
        match &state.run_id {
            Some(run_id) => Ok(!db.entries_to_negate_for_rerun(run_id)?.is_empty()),
            None => Ok(false),
        }
    })?)
}

/// What running one task ended in, before it is saved.
struct TaskResult {
    status: TaskStatus,
    proposals: Vec<review::ProposedEntryView>,
    /// What waits for a person beyond the status, e.g. findings to explain.
    note: Option<String>,
}

/// Runs one task and records its state: one place saves a failure; each kind saves its own
/// success in the transaction that does its work.
fn run_task(
    context: &CloseContext<'_>,
    plugins: &BTreeMap<String, LoadedPlugin>,
    entity: &EntityId,
    task: &Task,
) -> anyhow::Result<TaskOutcome> {
    let started = Instant::now();
    let mut record = context.record(entity, &task.id);
    record.ran_by = Some(context.actor.user.to_string());
    record.config_sha256 = Some(config_sha256(task));
    let result: anyhow::Result<TaskResult> = match &task.kind {
        TaskKind::Manual { instructions } => {
            record.status = TaskStatus::AwaitingSignoff;
            record.message = Some(instructions.clone());
            record.config_sha256 = None;
            let mut ledger = context.ledger()?;
            ledger
                .store()
                .write(|db| db.save_close_task(&record, &context.actor, "awaiting-signoff", &json!({})))?;
            Ok(TaskResult {
                status: TaskStatus::AwaitingSignoff,
                proposals: Vec::new(),
                note: None,
            })
        }
        TaskKind::Builtin(builtin) => {
            // A built-in step checks its own entity as it is now: the position a sign-off of a
            // task after it compares with, and what a later posting makes stale.
            let head = context.ledger()?.read(|db| db.ledger_head(entity))?.0;
            record.run_sequences = BTreeMap::from([(entity.clone(), head)]);
            if builtin.reads_the_ledger() {
                record.run_reads = BTreeMap::from([(entity.clone(), EntityRead::everything(head))]);
            }
            builtin::run(context, entity, builtin, &mut record).map(|()| TaskResult {
                status: TaskStatus::Done,
                proposals: Vec::new(),
                note: None,
            })
        }
        TaskKind::Plugin { plugin } => run_plugin_task(context, &plugins[plugin], (entity, task, started), &mut record),
    };
    record.duration_ms = record.duration_ms.max(started.elapsed().as_millis() as u64);
    let mut note = None;
    let proposals = match result {
        Ok(result) => {
            record.status = result.status;
            note = result.note;
            result.proposals
        }
        Err(error) => {
            record.status = TaskStatus::Failed;
            record.proposal = None;
            record.message = Some(format!("{error:#}"));
            let mut ledger = context.ledger()?;
            ledger.store().write(|db| {
                db.save_close_task(
                    &record,
                    &context.actor,
                    "failed",
                    &json!({ "error": format!("{error:#}") }),
                )
            })?;
            Vec::new()
        }
    };
    Ok(TaskOutcome {
        entity: entity.clone(),
        task: task.id.clone(),
        status: ShownStatus::Task(record.status),
        entries_posted: record.entries_posted,
        duration_ms: record.duration_ms,
        fuel_consumed: record.fuel_consumed,
        message: with_note(record.message.clone(), note),
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
        allow_next_year_opening: task.year_end,
    })
}

/// Runs a plugin task that started at `started`: its board time runs from then to the posting
/// of the step's output, not only the step. A proposal that waits for review is checked against
/// every posting rule first, so a reviewer is never handed one that cannot post.
fn run_plugin_task(
    context: &CloseContext<'_>,
    plugin: &LoadedPlugin,
    (entity, task, started): (&EntityId, &Task, Instant),
    record: &mut CloseTaskRecord,
) -> anyhow::Result<TaskResult> {
    let request = request_for(context, entity, task)?;
    // A snapshot made stale by a concurrent posting is run again once, never posted stale.
    for attempt in 0..2 {
        let preview = run_step(&context.db, plugin, &request)?;
        let step_record = preview.record(plugin)?;
        record.run_id = Some(step_record.run_id.clone());
        // The snapshot the step read: what a sign-off of it, or of a task after it, approves,
        // and what a later posting makes stale.
        record.run_sequences = step_record.sequences.clone();
        record.run_reads = step_record.reads.clone();
        record.fuel_consumed = step_record.fuel_consumed;
        record.duration_ms = step_record.duration_ms;
        // What a reviewer sees of the proposal, and its findings checked, in one read.
        let (proposals, reported) = {
            let mut ledger = context.ledger()?;
            let store = ledger.store();
            store.read(|db| {
                Ok((
                    review::proposed_entries(db, &step_record)?,
                    finding::checked_findings(db, entity, &step_record.output.findings),
                ))
            })?
        };
        let reported = reported?;
        let findings = step_findings(&step_record.output.messages);
        if task.review {
            crate::step::check_proposals(&context.db, &step_record, &context.actor.user)?;
            record.proposal = Some(serde_json::to_string(&step_record)?);
            let waiting = match step_record.output.entries.len() {
                0 if !reported.is_empty() => format!(
                    "its findings wait for review (`closebook close show --task {}`)",
                    task.id
                ),
                0 => format!(
                    "it proposes no entries; its review completes it (`closebook close show --task {}`)",
                    task.id
                ),
                count => format!(
                    "{count} proposed entries wait for review (`closebook close show --task {}`)",
                    task.id
                ),
            };
            record.message = Some(match &findings {
                Some(findings) => format!("{waiting}; {findings}"),
                None => waiting,
            });
            record.status = TaskStatus::AwaitingReview;
            let mut ledger = context.ledger()?;
            let note = ledger.store().write(|db| {
                db.insert_findings(&finding::finding_task(record), &step_record.run_id, &reported)?;
                db.save_close_task(
                    record,
                    &context.actor,
                    "proposed",
                    &json!({ "run_id": step_record.run_id, "findings": reported.len() }),
                )?;
                Ok(finding::findings_note(&finding::finding_views(db, record)?))
            })?;
            return Ok(TaskResult {
                status: TaskStatus::AwaitingReview,
                proposals,
                note,
            });
        }
        let mut ledger = context.ledger()?;
        record.message = findings;
        let done = CloseTaskRecord {
            status: TaskStatus::Done,
            entries_posted: (step_record.output.entries.len()) as i64,
            ..record.clone()
        };
        let (mut note, mut held, mut message) = (None, false, None);
        let posted = post_record(&mut ledger, &step_record, |db, outcome| {
            let mut done = CloseTaskRecord {
                entries_posted: outcome.entries.len() as i64,
                // The id the run was posted under: a rerun of a step that posted no entry (only
                // settlements) proposes the same id again and posts it with a suffix, and
                // `--rerun` must cancel this run, not the earlier one.
                run_id: Some(outcome.run_id.clone()),
                // Up to the commit of what the step proposed, which is part of the task.
                duration_ms: done.duration_ms.max(started.elapsed().as_millis() as u64),
                ..done.clone()
            };
            db.insert_findings(&finding::finding_task(&done), &outcome.run_id, &reported)?;
            // Findings that need explaining hold the task for its preparer's sign-off (and then
            // its reviewer's), even when an earlier run's explanations fit them already: a
            // rerun never signs them off on its own.
            if reported.iter().any(|finding| finding.explanation_required) {
                done.status = TaskStatus::AwaitingSignoff;
                done.message = Some(format!(
                    "its findings wait for its preparer's sign-off (`closebook close show --task {}`)",
                    task.id
                ));
                note = Some(
                    finding::findings_note(&finding::finding_views(db, &done)?)
                        .unwrap_or_else(|| "its findings are explained".to_owned()),
                );
            }
            let details = json!({
                "run_id": outcome.run_id,
                "entries": outcome.entries.len(),
                "settlements": outcome.settlements.len(),
                "findings": reported.len(),
            });
            db.save_close_task(
                &done,
                &context.actor,
                if done.status == TaskStatus::AwaitingSignoff {
                    "awaiting-signoff"
                } else {
                    "done"
                },
                &details,
            )?;
            held = done.status == TaskStatus::AwaitingSignoff;
            message = done.message.clone();
            Ok(())
        });
        match posted {
            Ok(outcome) => {
                record.entries_posted = outcome.entries.len() as i64;
                record.run_id = Some(outcome.run_id);
                if held {
                    record.message = message;
                }
                return Ok(TaskResult {
                    status: if held {
                        TaskStatus::AwaitingSignoff
                    } else {
                        TaskStatus::Done
                    },
                    proposals,
                    note,
                });
            }
            Err(PostError::SnapshotMoved(moved)) if attempt == 0 => {
                tracing::info!(
                    moved_entity = %moved.entity,
                    from = moved.from,
                    to = moved.to,
                    "retrying the step: the ledger moved while it ran"
                );
                continue;
            }
            Err(error) => return Err(error.into()),
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
fn step_findings(messages: &[crate::plugin::types::Message]) -> Option<String> {
    use crate::plugin::types::Level;
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
    let user = context.actor.clone();
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
            reversed = closebook_ledger::ledger::cancel_run(db, run_id, &user.user, &provenance)?
                .into_iter()
                .map(|key| key.to_string())
                .collect();
        }
        let reset = CloseTaskRecord {
            status: TaskStatus::Pending,
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

/// The copy of the ledger a dry run posts into, so that the ledger itself is not touched.
pub enum DryRunLedger {
    /// A copy of the SQLite file (`VACUUM INTO`), in the dry run's temporary folder.
    File(PathBuf),
    /// A copy of the PostgreSQL ledger in a schema of its own, dropped with this value.
    Postgres(closebook_ledger::store::postgres::DryRunCopy),
}

impl DryRunLedger {
    /// The copy's `--db`.
    pub fn location(&self) -> PathBuf {
        match self {
            DryRunLedger::File(path) => path.clone(),
            DryRunLedger::Postgres(copy) => PathBuf::from(copy.url()),
        }
    }
}

/// A copy of the ledger for a dry run: of a SQLite file, into `directory`.
pub fn dry_run_copy(db: &Path, directory: &Path) -> anyhow::Result<DryRunLedger> {
    if let Some(url) = closebook_ledger::store::postgres::url_of(db) {
        return Ok(DryRunLedger::Postgres(
            closebook_ledger::store::postgres::DryRunCopy::create(url)?,
        ));
    }
    let copy = directory.join("dry-run.db");
    anyhow::ensure!(db.exists(), "the ledger file {} does not exist", db.display());
    closebook_ledger::store::copy_database(db, &copy)?;
    Ok(DryRunLedger::File(copy))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plugin::types::{Level, Message};

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
