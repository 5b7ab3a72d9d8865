//! Findings of close steps (flux variances and the like) and the explanations preparers give
//! them. Findings are kept per run of a task; an explanation is kept per task and period, bound
//! to the figures it explains ([`FindingKey`]), so it holds for a rerun that finds the same
//! figures and not for one that finds others. Both are append-only.

use super::Db;
use super::row::{Fields, all};
use super::sql::args;
use crate::access::Actor;
use crate::error::LedgerError;
use crate::ids::{AccountNumber, EntityId, PeriodName, UserId};
use rust_decimal::Decimal;
use serde::Serialize;

/// The task a finding or explanation belongs to: a close's task for an entity and period.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FindingTask<'a> {
    pub close: &'a str,
    pub entity: &'a EntityId,
    pub period: &'a PeriodName,
    pub task: &'a str,
}

/// What an explanation is bound to: the account (and dimension values, canonical text), what
/// was measured, and both figures compared.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct FindingKey {
    pub account: AccountNumber,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub dimensions: String,
    pub measure: String,
    pub current: Decimal,
    pub baseline: Decimal,
}

impl FindingKey {
    /// Whether `other` is of the same account, dimension values and measure, whatever its
    /// figures.
    pub fn same_subject(&self, other: &FindingKey) -> bool {
        self.account == other.account && self.dimensions == other.dimensions && self.measure == other.measure
    }
}

/// One finding of a run, as the step reported it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct FindingRecord {
    #[serde(flatten)]
    pub key: FindingKey,
    pub threshold: String,
    pub explanation_required: bool,
    pub message: String,
}

/// A preparer's explanation of a finding.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct FindingExplanation {
    pub id: i64,
    #[serde(flatten)]
    pub key: FindingKey,
    pub text: String,
    pub explained_by: UserId,
    /// How the explainer's identity was established (`declared` is unverified).
    pub identity: String,
    pub explained_at: String,
    /// The run whose finding it explained.
    pub run_id: String,
}

const FINDING_COLUMNS: &str =
    "run_id, position, account, dimensions, measure, current, baseline, threshold, explanation_required, message";
const EXPLANATION_COLUMNS: &str =
    "id, account, dimensions, measure, current, baseline, text, explained_by, identity, explained_at, run_id";

fn read_key(fields: &Fields<'_>) -> Result<FindingKey, LedgerError> {
    Ok(FindingKey {
        account: AccountNumber::new(fields.text("account")?),
        dimensions: fields.text("dimensions")?,
        measure: fields.text("measure")?,
        current: fields.decimal("current")?,
        baseline: fields.decimal("baseline")?,
    })
}

impl Db<'_> {
    /// Records the findings of run `run_id` of `task`, in the order the step reported them. A
    /// run id names the plugin, its configuration and the ledger position it read, and steps
    /// are deterministic: a rerun under the same id found the same findings, which are kept
    /// once.
    pub fn insert_findings(
        &self,
        task: &FindingTask<'_>,
        run_id: &str,
        findings: &[FindingRecord],
    ) -> Result<(), LedgerError> {
        let mut statement = self.connection.prepare(
            "INSERT INTO close_findings (run_id, position, close_name, entity_id, period, task_id, account, dimensions, measure,
                current, baseline, threshold, explanation_required, message)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)
             ON CONFLICT (run_id, position) DO NOTHING",
        )?;
        for (position, finding) in findings.iter().enumerate() {
            statement.execute(args![
                run_id,
                position as i64,
                task.close,
                task.entity.as_str(),
                task.period.as_str(),
                task.task,
                finding.key.account.as_str(),
                finding.key.dimensions,
                finding.key.measure,
                finding.key.current.to_string(),
                finding.key.baseline.to_string(),
                finding.threshold,
                finding.explanation_required,
                finding.message,
            ])?;
        }
        Ok(())
    }

    /// The findings of run `run_id`, in the order the step reported them.
    pub fn findings(&self, run_id: &str) -> Result<Vec<FindingRecord>, LedgerError> {
        let mut statement = self.connection.prepare(&format!(
            "SELECT {FINDING_COLUMNS} FROM close_findings WHERE run_id = ?1 ORDER BY position"
        ))?;
        all(&mut statement, args![run_id], |row| {
            let fields = Fields::new(row, "close_findings", &["run_id", "position"]);
            Ok(FindingRecord {
                key: read_key(&fields)?,
                threshold: fields.text("threshold")?,
                explanation_required: fields.flag("explanation_required")?,
                message: fields.text("message")?,
            })
        })
    }

    /// Records `actor`'s explanation of the finding `key` of `task`, found by run `run_id`.
    pub fn insert_finding_explanation(
        &self,
        task: &FindingTask<'_>,
        key: &FindingKey,
        text: &str,
        run_id: &str,
        actor: &Actor,
    ) -> Result<i64, LedgerError> {
        let id = self.connection.insert_returning_id(
            "INSERT INTO close_finding_explanations (close_name, entity_id, period, task_id, account, dimensions, measure,
                    current, baseline, text, explained_by, identity, explained_at, run_id)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)",
            args![
                task.close,
                task.entity.as_str(),
                task.period.as_str(),
                task.task,
                key.account.as_str(),
                key.dimensions,
                key.measure,
                key.current.to_string(),
                key.baseline.to_string(),
                text,
                actor.user.as_str(),
                actor.method.as_str(),
                crate::now_text(),
                run_id,
            ],
        )?;
        Ok(id)
    }

    /// Every explanation given for findings of `task`, oldest first.
    pub fn finding_explanations(&self, task: &FindingTask<'_>) -> Result<Vec<FindingExplanation>, LedgerError> {
        let mut statement = self.connection.prepare(&format!(
            "SELECT {EXPLANATION_COLUMNS} FROM close_finding_explanations
             WHERE close_name = ?1 AND entity_id = ?2 AND period = ?3 AND task_id = ?4 ORDER BY id"
        ))?;
        all(
            &mut statement,
            args![task.close, task.entity.as_str(), task.period.as_str(), task.task],
            |row| {
                let fields = Fields::new(row, "close_finding_explanations", &["id"]);
                Ok(FindingExplanation {
                    id: fields.integer("id")?,
                    key: read_key(&fields)?,
                    text: fields.text("text")?,
                    explained_by: UserId::new(fields.text("explained_by")?),
                    identity: fields.text("identity")?,
                    explained_at: fields.text("explained_at")?,
                    run_id: fields.text("run_id")?,
                })
            },
        )
    }
}
