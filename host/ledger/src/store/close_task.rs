//! The close engine's persistent state: each task's record per close, entity and period, and
//! the append-only history of events that changed it.

use super::row::{Fields, all, at_most, first};
use super::sql::{Row, args};
use super::{Db, QUERY_ROWS_MAX};
use crate::close_task::{TaskReads, TaskStatus};
use crate::error::LedgerError;
use crate::ids::{EntityId, PeriodName};
use std::collections::BTreeMap;
use std::str::FromStr;

/// The columns that name a close task in an error.
const CLOSE_TASK_KEY: &[&str] = &["close_name", "entity_id", "period", "task_id"];

/// One event in a task's history.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct TaskEvent {
    pub at: String,
    pub user: String,
    /// `done`, `failed`, `proposed`, `reviewed`, `signed-off`, `stale`, `rerun`…
    pub event: String,
    pub details: serde_json::Value,
    /// How the user's identity was established (`os-user`, `declared`); None before
    /// identities were recorded.
    pub identity: Option<String>,
}

impl TaskEvent {
    /// Whether the user acting was only declared (`--as` on a trusting ledger), not verified.
    pub fn is_unverified(&self) -> bool {
        self.identity.as_deref() == Some("declared")
    }
}

/// The close engine's state of one task for one entity and period.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct CloseTaskRecord {
    pub close: String,
    pub entity: EntityId,
    pub period: PeriodName,
    pub task: String,
    pub status: TaskStatus,
    pub run_id: Option<String>,
    pub ran_by: Option<String>,
    pub prepared_by: Option<String>,
    pub reviewed_by: Option<String>,
    /// The entity's ledger sequence when the task was signed off: its fingerprint.
    pub signoff_sequence: Option<i64>,
    /// The ledger sequences of the other entities the sign-off covers (those its step and the
    /// steps before it read) at which it approved them: the earliest at which a task read each
    /// when it ran, not the ledger at sign-off time. Empty when it covers its own entity alone.
    pub signoff_sequences: BTreeMap<EntityId, i64>,
    /// The ledger sequences the task's last run read: a plugin step's snapshot (its own entity
    /// and the entities it may read), a built-in step's own entity when it checked it. Empty
    /// for a manual task and for a run recorded before migration 6.
    pub run_sequences: BTreeMap<EntityId, i64>,
    /// What the task's last run read, by entity: the accounts and periods its figures come
    /// from. A posting there after the run makes the task stale. Empty for a manual task and
    /// for a run recorded before migration 7.
    pub run_reads: TaskReads,
    /// SHA-256 of the task's configuration when it last ran, to report a configuration changed
    /// since. None for a manual task and for a run recorded before migration 7.
    pub config_sha256: Option<String>,
    pub entries_posted: i64,
    pub fuel_consumed: u64,
    pub duration_ms: u64,
    /// A step's proposal awaiting review, as JSON.
    #[serde(skip)]
    pub proposal: Option<String>,
    pub message: Option<String>,
}

/// The columns a [`CloseTaskRecord`] is read from, as a macro so that each query's text is one
/// constant (`concat!`) rather than formatted on every call.
macro_rules! close_task_columns {
    () => {
        "close_name, entity_id, period, task_id, status, run_id, ran_by, prepared_by, reviewed_by, signoff_sequence, entries_posted, fuel_consumed, duration_ms, proposal, message, signoff_sequences, run_sequences, run_reads, config_sha256"
    };
}

impl CloseTaskRecord {
    /// The run whose figures the task holds: a step's, while its proposal waits for review,
    /// once it posted, and while its findings wait for their sign-offs. None for a task without
    /// a run, and for a pending, failed or stale one (a failed task may keep the id of a run it
    /// could not cancel).
    pub fn held_run(&self) -> Option<&str> {
        self.run_id.as_deref().filter(|_| {
            matches!(
                self.status,
                TaskStatus::AwaitingReview
                    | TaskStatus::AwaitingSignoff
                    | TaskStatus::Prepared
                    | TaskStatus::Done
                    | TaskStatus::SignedOff
            )
        })
    }

    fn from_row(row: &Row<'_>) -> Result<Self, LedgerError> {
        let fields = Fields::new(row, "close_tasks", CLOSE_TASK_KEY);
        Ok(CloseTaskRecord {
            close: fields.text("close_name")?,
            entity: EntityId(fields.text("entity_id")?),
            period: PeriodName(fields.text("period")?),
            task: fields.text("task_id")?,
            status: fields.parsed("status", "a task status", |text| TaskStatus::from_str(text).ok())?,
            run_id: fields.optional_text("run_id")?,
            ran_by: fields.optional_text("ran_by")?,
            prepared_by: fields.optional_text("prepared_by")?,
            reviewed_by: fields.optional_text("reviewed_by")?,
            signoff_sequence: fields.optional_integer("signoff_sequence")?,
            entries_posted: fields.integer("entries_posted")?,
            fuel_consumed: fields.whole("fuel_consumed")?,
            duration_ms: fields.whole("duration_ms")?,
            proposal: fields.optional_text("proposal")?,
            message: fields.optional_text("message")?,
            signoff_sequences: fields.json("signoff_sequences")?,
            run_sequences: fields.json("run_sequences")?,
            run_reads: fields.json("run_reads")?,
            config_sha256: fields.optional_text("config_sha256")?,
        })
    }
}

impl Db<'_> {
    pub fn close_task(
        &self,
        close: &str,
        entity: &EntityId,
        period: &PeriodName,
        task: &str,
    ) -> Result<Option<CloseTaskRecord>, LedgerError> {
        let mut statement = self.connection.prepare(concat!(
            "SELECT ",
            close_task_columns!(),
            " FROM close_tasks WHERE close_name = ?1 AND entity_id = ?2 AND period = ?3 AND task_id = ?4"
        ))?;
        first(
            &mut statement,
            args![close, entity.as_str(), period.as_str(), task],
            CloseTaskRecord::from_row,
        )
    }

    pub fn close_tasks(&self, close: &str, period: &PeriodName) -> Result<Vec<CloseTaskRecord>, LedgerError> {
        let mut statement = self.connection.prepare(concat!(
            "SELECT ",
            close_task_columns!(),
            " FROM close_tasks WHERE close_name = ?1 AND period = ?2 ORDER BY entity_id, task_id"
        ))?;
        all(&mut statement, args![close, period.as_str()], CloseTaskRecord::from_row)
    }

    /// Writes a task's state and appends the event that changed it.
    pub fn save_close_task(
        &self,
        record: &CloseTaskRecord,
        actor: &crate::access::Actor,
        event: &str,
        details: &serde_json::Value,
    ) -> Result<(), LedgerError> {
        self.connection.execute(
            "INSERT INTO close_tasks (close_name, entity_id, period, task_id, status, run_id, ran_by, prepared_by, reviewed_by,
                signoff_sequence, entries_posted, fuel_consumed, duration_ms, proposal, message, updated_at, signoff_sequences, run_sequences,
                run_reads, config_sha256)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20)
             ON CONFLICT (close_name, entity_id, period, task_id) DO UPDATE SET status = excluded.status, run_id = excluded.run_id,
                ran_by = excluded.ran_by, prepared_by = excluded.prepared_by, reviewed_by = excluded.reviewed_by,
                signoff_sequence = excluded.signoff_sequence, entries_posted = excluded.entries_posted,
                fuel_consumed = excluded.fuel_consumed, duration_ms = excluded.duration_ms, proposal = excluded.proposal,
                message = excluded.message, updated_at = excluded.updated_at, signoff_sequences = excluded.signoff_sequences,
                run_sequences = excluded.run_sequences, run_reads = excluded.run_reads, config_sha256 = excluded.config_sha256",
            args![
                record.close,
                record.entity.as_str(),
                record.period.as_str(),
                record.task,
                record.status.as_str(),
                record.run_id,
                record.ran_by,
                record.prepared_by,
                record.reviewed_by,
                record.signoff_sequence,
                record.entries_posted,
                record.fuel_consumed as i64,
                record.duration_ms as i64,
                record.proposal,
                record.message,
                crate::now_text(),
                (!record.signoff_sequences.is_empty())
                    .then(|| serde_json::to_string(&record.signoff_sequences).unwrap_or_default()),
                (!record.run_sequences.is_empty())
                    .then(|| serde_json::to_string(&record.run_sequences).unwrap_or_default()),
                (!record.run_reads.is_empty()).then(|| serde_json::to_string(&record.run_reads).unwrap_or_default()),
                record.config_sha256
            ],
        )?;
        self.connection.execute(
            "INSERT INTO close_events (at, user_id, close_name, entity_id, period, task_id, event, details, identity, record, hash)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
            &super::control_log::close_event_row(self, actor, record, event, details)?.params(),
        )?;
        Ok(())
    }

    pub fn close_events(&self, close: &str, limit: usize) -> Result<Vec<serde_json::Value>, LedgerError> {
        let mut statement = self.connection.prepare(
            "SELECT id, at, user_id, entity_id, period, task_id, event, details FROM (
                SELECT * FROM close_events WHERE close_name = ?1 ORDER BY id DESC LIMIT ?2) AS recent ORDER BY id",
        )?;
        all(&mut statement, args![close, limit as i64], |row| {
            let fields = Fields::new(row, "close_events", &["id"]);
            Ok(serde_json::json!({
                "at": fields.text("at")?, "user": fields.text("user_id")?, "entity": fields.text("entity_id")?,
                "period": fields.text("period")?, "task": fields.text("task_id")?, "event": fields.text("event")?,
                "details": fields.json::<_, serde_json::Value>("details")?,
            }))
        })
    }

    /// The history of one task (close x entity x period x task), oldest first: when, who, what.
    pub fn task_events(
        &self,
        close: &str,
        entity: &EntityId,
        period: &PeriodName,
        task: &str,
    ) -> Result<Vec<TaskEvent>, LedgerError> {
        let mut statement = self.connection.prepare(
            "SELECT id, at, user_id, event, details, identity FROM close_events
             WHERE close_name = ?1 AND entity_id = ?2 AND period = ?3 AND task_id = ?4 ORDER BY id",
        )?;
        at_most(
            &mut statement,
            args![close, entity.as_str(), period.as_str(), task],
            QUERY_ROWS_MAX,
            |row| {
                let fields = Fields::new(row, "close_events", &["id"]);
                Ok(TaskEvent {
                    at: fields.text("at")?,
                    user: fields.text("user_id")?,
                    event: fields.text("event")?,
                    details: fields.json("details")?,
                    identity: fields.optional_text("identity")?,
                })
            },
        )
    }
}
