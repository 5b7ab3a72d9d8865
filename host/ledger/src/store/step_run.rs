//! The completion records of plugin step runs: who ran which plugin build, on what ledger
//! position, what it posted and what it cost. A rerun finds here what to cancel.

use super::Db;
use super::row::{Fields, all, first};
use super::sql::{Row, args};
use crate::error::LedgerError;
use crate::ids::{EntityId, PeriodName, UserId};

/// The completion record of one plugin step run that posted.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct StepRunRecord {
    pub run_id: String,
    pub entity: EntityId,
    pub period: PeriodName,
    pub task: Option<String>,
    pub plugin_name: String,
    pub plugin_version: String,
    pub plugin_sha256: String,
    pub config: String,
    pub run_by: UserId,
    pub started_at: String,
    pub finished_at: String,
    pub sequence_before: i64,
    pub sequence_after: i64,
    pub entries_posted: i64,
    pub settlements_posted: i64,
    pub fuel_consumed: u64,
    pub duration_ms: u64,
    pub log: String,
}

/// How many runs may share one natural run id (a step that posts nothing keeps the ledger
/// sequence its id is made of): far more than reruns of one step on an unchanged ledger, and a
/// bound on the search for a free suffix.
pub const RUN_ID_SUFFIX_MAX: usize = 10_000;

const STEP_RUN_COLUMNS: &str = "run_id, entity_id, period, task, plugin_name, plugin_version, plugin_sha256, config, run_by, started_at, finished_at, sequence_before, sequence_after, entries_posted, settlements_posted, fuel_consumed, duration_ms, log";

impl StepRunRecord {
    fn from_row(row: &Row<'_>) -> Result<Self, LedgerError> {
        let fields = Fields::new(row, "step_runs", &["run_id"]);
        Ok(StepRunRecord {
            run_id: fields.text("run_id")?,
            entity: EntityId(fields.text("entity_id")?),
            period: PeriodName(fields.text("period")?),
            task: fields.optional_text("task")?,
            plugin_name: fields.text("plugin_name")?,
            plugin_version: fields.text("plugin_version")?,
            plugin_sha256: fields.text("plugin_sha256")?,
            config: fields.text("config")?,
            run_by: UserId(fields.text("run_by")?),
            started_at: fields.text("started_at")?,
            finished_at: fields.text("finished_at")?,
            sequence_before: fields.integer("sequence_before")?,
            sequence_after: fields.integer("sequence_after")?,
            entries_posted: fields.integer("entries_posted")?,
            settlements_posted: fields.integer("settlements_posted")?,
            fuel_consumed: fields.whole("fuel_consumed")?,
            duration_ms: fields.whole("duration_ms")?,
            log: fields.text("log")?,
        })
    }
}

impl Db<'_> {
    pub fn insert_step_run(&self, run: &StepRunRecord) -> Result<(), LedgerError> {
        self.connection.execute(
            "INSERT INTO step_runs (run_id, entity_id, period, task, plugin_name, plugin_version, plugin_sha256, config, run_by,
                started_at, finished_at, sequence_before, sequence_after, entries_posted, settlements_posted, fuel_consumed, duration_ms, log)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18)",
            args![
                run.run_id,
                run.entity.as_str(),
                run.period.as_str(),
                run.task,
                run.plugin_name,
                run.plugin_version,
                run.plugin_sha256,
                run.config,
                run.run_by.as_str(),
                run.started_at,
                run.finished_at,
                run.sequence_before,
                run.sequence_after,
                run.entries_posted,
                run.settlements_posted,
                run.fuel_consumed as i64,
                run.duration_ms as i64,
                run.log
            ],
        )?;
        Ok(())
    }

    /// `run_id`, or `run_id-2`, `-3`… : the first one no recorded run uses (up to
    /// [`RUN_ID_SUFFIX_MAX`]). A step that posted
    /// nothing leaves the ledger sequence (and so its natural run id) where it was.
    pub fn unused_run_id(&self, run_id: &str) -> Result<String, LedgerError> {
        let mut candidate = run_id.to_owned();
        for suffix in 2..=RUN_ID_SUFFIX_MAX {
            let mut statement = self.connection.prepare("SELECT 1 FROM step_runs WHERE run_id = ?1")?;
            let taken = first(&mut statement, args![&candidate], |_| Ok(()))?.is_some();
            if !taken {
                return Ok(candidate);
            }
            candidate = format!("{run_id}-{suffix}");
        }
        Err(LedgerError::Invalid(format!(
            "run id {run_id} is used more than {RUN_ID_SUFFIX_MAX} times"
        )))
    }

    pub fn step_runs(&self, entity: Option<&EntityId>, limit: usize) -> Result<Vec<StepRunRecord>, LedgerError> {
        let mut statement = self.connection.prepare(&format!(
            "SELECT {STEP_RUN_COLUMNS}
             FROM (SELECT rowid AS position, {STEP_RUN_COLUMNS} FROM step_runs
                   WHERE CAST(?1 AS TEXT) IS NULL OR entity_id = ?1 ORDER BY rowid DESC LIMIT ?2) AS recent
             ORDER BY position"
        ))?;
        all(
            &mut statement,
            args![entity.map(|entity| entity.as_str()), limit as i64],
            StepRunRecord::from_row,
        )
    }

    /// Every run of a close task in an entity, oldest first, however many runs the entity has:
    /// what cancelling a task's work (year-end close reversed or rerun) must find in full.
    pub fn step_runs_of_task(&self, entity: &EntityId, task: &str) -> Result<Vec<StepRunRecord>, LedgerError> {
        let mut statement = self.connection.prepare(&format!(
            "SELECT {STEP_RUN_COLUMNS} FROM step_runs WHERE entity_id = ?1 AND task = ?2 ORDER BY rowid"
        ))?;
        all(&mut statement, args![entity.as_str(), task], StepRunRecord::from_row)
    }
}
