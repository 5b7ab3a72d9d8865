//! The close step itself: the [`CloseStep`] trait a plugin implements, what it is given
//! ([`StepInput`]), what it returns ([`StepOutput`] or [`StepError`]) and how it describes
//! itself ([`StepInfo`]). These are the Rust forms of the WIT world's exports; the SDK converts
//! them at the boundary so a step never sees strings where it means money or dates.

use chrono::NaiveDate;
use serde::de::DeserializeOwned;

use crate::ids::EntityId;
use crate::journal::{JournalError, ProposedEntry, ProposedSettlement};
use crate::ledger::{Ledger, PeriodInfo, QueryError};
use crate::money::SplitError;
use crate::reconcile::{Clearing, Finding, ReconcilingItem};
use crate::wire::WireError;

/// A close step. Implement it on a unit struct and register it with
/// [`export_step!`](crate::export_step):
///
/// ```
/// use closebook_plugin_sdk::{CloseStep, Ledger, StepError, StepInfo, StepInput, StepOutput};
///
/// struct Nothing;
///
/// impl CloseStep for Nothing {
///     fn describe() -> StepInfo {
///         StepInfo::new("nothing", "0.1.0", "Proposes nothing.")
///     }
///
///     fn run(input: StepInput, ledger: &dyn Ledger) -> Result<StepOutput, StepError> {
///         ledger.info(&format!("nothing to do for {}", input.entity));
///         Ok(StepOutput::new())
///     }
/// }
///
/// closebook_plugin_sdk::export_step!(Nothing);
/// ```
pub trait CloseStep {
    /// The step's name, version, summary and configuration schema. The host calls it to
    /// inspect a plugin and to validate configuration before any run.
    fn describe() -> StepInfo;

    /// Runs the step for one entity and period against a read-only ledger snapshot, and
    /// returns the entries and settlements it proposes. Nothing is posted by the step: the host
    /// validates every proposal and posts them all or none.
    fn run(input: StepInput, ledger: &dyn Ledger) -> Result<StepOutput, StepError>;
}

/// How a step describes itself.
#[derive(Clone, Debug, PartialEq)]
pub struct StepInfo {
    /// A short name, e.g. `management-fee`.
    pub name: String,
    /// The step's own version, e.g. `0.1.0`.
    pub version: String,
    /// One sentence on what the step proposes.
    pub summary: String,
    /// A JSON Schema (draft 2020-12, no remote `$ref`) for the step's configuration. The host
    /// validates configuration against it before calling [`CloseStep::run`].
    pub config_schema: serde_json::Value,
}

impl StepInfo {
    /// A description whose configuration schema accepts any JSON object; replace it with
    /// [`StepInfo::config_schema`].
    pub fn new(name: impl Into<String>, version: impl Into<String>, summary: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            version: version.into(),
            summary: summary.into(),
            config_schema: serde_json::json!({ "type": "object" }),
        }
    }

    /// Sets the configuration schema.
    pub fn config_schema(mut self, schema: serde_json::Value) -> Self {
        self.config_schema = schema;
        self
    }
}

/// Whether the task lets the step read and post into an entity.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EntityAccess {
    /// The entity.
    pub entity: EntityId,
    /// The step may post proposals into this entity.
    pub post: bool,
}

/// What a step is run with.
#[derive(Clone, Debug, PartialEq)]
pub struct StepInput {
    /// The entity the step runs for.
    pub entity: EntityId,
    /// The period the step runs for.
    pub period: PeriodInfo,
    /// Every entity the task may read (the run entity included), and whether it may post there.
    pub entities: Vec<EntityAccess>,
    /// Balances are read as of this date: the period end unless the task says otherwise.
    pub as_of: NaiveDate,
    /// The step's configuration, already validated by the host against
    /// [`StepInfo::config_schema`].
    pub config: serde_json::Value,
}

impl StepInput {
    /// Deserializes the configuration into the step's own type. Write decimals in the
    /// configuration as strings and read them with
    /// [`deserialize_decimal`](crate::wire::deserialize_decimal).
    pub fn parse_config<T: DeserializeOwned>(&self) -> Result<T, StepError> {
        T::deserialize(&self.config)
            .map_err(|error| StepError::new(format!("the step configuration is invalid: {error}")))
    }

    /// Whether the task lets the step post into `entity`.
    pub fn may_post(&self, entity: &EntityId) -> bool {
        self.entities
            .iter()
            .any(|access| &access.entity == entity && access.post)
    }

    /// Refuses a run whose task may not post into the run entity, with the message every
    /// standard step gives: `the task may not post into entity ACME-US: grant it posting access`.
    /// Call it before reading the ledger in a step that proposes entries for its own entity.
    pub fn require_post_access(&self) -> Result<(), StepError> {
        if self.may_post(&self.entity) {
            return Ok(());
        }
        Err(StepError::new(format!(
            "the task may not post into entity {}: grant it posting access",
            self.entity
        )))
    }
}

/// The severity of a log line or an output message.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Level {
    /// Detail for whoever debugs the step.
    Debug,
    /// What the step did.
    Info,
    /// Something a reviewer should look at.
    Warning,
    /// Something went wrong.
    Error,
}

/// A message the step returns with its proposals, shown to the reviewer with the run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Message {
    /// Its severity.
    pub level: Level,
    /// Its text.
    pub text: String,
}

/// What a step proposes: entries, settlements, reconciling items, findings and messages for
/// the reviewer.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StepOutput {
    /// Journal entries to post.
    pub entries: Vec<ProposedEntry>,
    /// Settlements to record.
    pub settlements: Vec<ProposedSettlement>,
    /// Messages for the reviewer.
    pub messages: Vec<Message>,
    /// Reconciling items to record (`closebook reconcile`).
    pub reconciling_items: Vec<ReconcilingItem>,
    /// Open reconciling items to clear.
    pub cleared_items: Vec<Clearing>,
    /// Findings for a person to look at.
    pub findings: Vec<Finding>,
}

impl StepOutput {
    /// An output that proposes nothing.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds an entry.
    pub fn push_entry(&mut self, entry: ProposedEntry) {
        self.entries.push(entry);
    }

    /// Adds a settlement.
    pub fn push_settlement(&mut self, settlement: ProposedSettlement) {
        self.settlements.push(settlement);
    }

    /// Adds a reconciling item.
    pub fn push_reconciling_item(&mut self, item: ReconcilingItem) {
        self.reconciling_items.push(item);
    }

    /// Clears an open reconciling item.
    pub fn push_clearing(&mut self, clearing: Clearing) {
        self.cleared_items.push(clearing);
    }

    /// Adds a finding.
    pub fn push_finding(&mut self, finding: Finding) {
        self.findings.push(finding);
    }

    /// Adds a message for the reviewer.
    pub fn push_message(&mut self, level: Level, text: impl Into<String>) {
        self.messages.push(Message {
            level,
            text: text.into(),
        });
    }
}

/// Why a step failed. The host records the message and posts nothing from the run.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct StepError {
    /// What went wrong, lower-case, with how to fix it when known.
    pub message: String,
}

impl StepError {
    /// A failure with the given message.
    pub fn new(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
        }
    }
}

impl From<QueryError> for StepError {
    fn from(error: QueryError) -> Self {
        Self::new(format!("ledger query refused: {error}"))
    }
}

impl From<WireError> for StepError {
    fn from(error: WireError) -> Self {
        Self::new(error.to_string())
    }
}

impl From<JournalError> for StepError {
    fn from(error: JournalError) -> Self {
        Self::new(error.to_string())
    }
}

impl From<SplitError> for StepError {
    fn from(error: SplitError) -> Self {
        Self::new(error.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ledger::{PeriodKind, PeriodStatus};

    fn input(config: serde_json::Value) -> StepInput {
        let date = NaiveDate::from_ymd_opt(2026, 1, 31).unwrap();
        StepInput {
            entity: EntityId::from("ACME"),
            period: PeriodInfo {
                name: "2026-01".into(),
                kind: PeriodKind::Operating,
                start: NaiveDate::from_ymd_opt(2026, 1, 1).unwrap(),
                end: date,
                fiscal_year: "FY2026".into(),
                status: PeriodStatus::Open,
            },
            entities: vec![
                EntityAccess {
                    entity: "ACME".into(),
                    post: true,
                },
                EntityAccess {
                    entity: "ACME-UK".into(),
                    post: false,
                },
            ],
            as_of: date,
            config,
        }
    }

    #[test]
    fn parse_config_names_the_problem() {
        // A configuration that does not fit the step's type is refused with serde's reason.
        #[derive(Debug, serde::Deserialize)]
        #[allow(dead_code)]
        struct Config {
            account: String,
        }
        let error = input(serde_json::json!({})).parse_config::<Config>().unwrap_err();
        assert_eq!(
            error.message,
            "the step configuration is invalid: missing field `account`"
        );
    }

    #[test]
    fn may_post_follows_entity_access() {
        // Readable is not postable.
        let input = input(serde_json::json!({}));
        assert!(input.may_post(&"ACME".into()));
        assert!(!input.may_post(&"ACME-UK".into()));
        assert!(!input.may_post(&"OTHER".into()));
    }

    #[test]
    fn require_post_access_names_the_entity() {
        // The run entity may post: allowed. Read-only there: refused with the standard message.
        let mut input = input(serde_json::json!({}));
        assert_eq!(input.require_post_access(), Ok(()));
        input.entity = "ACME-UK".into();
        assert_eq!(
            input.require_post_access().unwrap_err().message,
            "the task may not post into entity ACME-UK: grant it posting access"
        );
    }
}
