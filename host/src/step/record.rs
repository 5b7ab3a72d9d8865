//! A step's run as it is posted, at once or after a review: its output and where it came from.
//! A proposal awaiting review is stored as this record's JSON in `close_tasks.proposal`, in the
//! host's own types (never an interface version's), with a `format` number so that a stored
//! proposal keeps loading when the types change.

use super::{EntityAccess, StepInput};
use crate::plugin::types::StepOutput;
use closebook_ledger::close_task::TaskReads;
use closebook_ledger::ids::{EntityId, PeriodName, UserId};
use closebook_ledger::proposal::{ProposalBatch, ProposalScope};
use closebook_ledger::settlement::KnownLines;
use closebook_ledger::store::StepRunRecord;
use serde::{Deserialize, Deserializer};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

/// The format of a stored [`StepRecord`] this build writes.
///
/// - 0 (no `format` field): written before the field existed, as the JSON of the v0.1 WIT
///   records. The host's types keep their field names and variants, so it loads as they are
///   (`legacy_record_without_format_loads` holds it to a record of that shape).
/// - 1: the host's types (`plugin::types`, `closebook_ledger::proposal`).
/// - 2: the same, with reconciling items, clearings or findings (interface 0.2), which a build
///   that reads only format 1 would drop. A record without them is still written as format 1.
pub const STEP_RECORD_FORMAT: u32 = 2;

/// The format a record of `output` is written in: the oldest that holds all of it.
pub fn record_format(output: &crate::plugin::types::StepOutput) -> u32 {
    if output.reconciling_items.is_empty() && output.cleared_items.is_empty() && output.findings.is_empty() {
        1
    } else {
        STEP_RECORD_FORMAT
    }
}

/// Everything needed to post a step's output later (at once, or after a review): the output
/// and the run it came from. Kept as JSON with a proposal awaiting review.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct StepRecord {
    /// See [`STEP_RECORD_FORMAT`]; a record from a newer build is refused, not misread.
    #[serde(default, deserialize_with = "known_format")]
    pub format: u32,
    pub run_id: String,
    pub plugin_name: String,
    pub plugin_version: String,
    pub plugin_sha256: String,
    pub input: StepInput,
    pub sequences: BTreeMap<EntityId, i64>,
    pub started_at: String,
    pub task: Option<String>,
    pub allow_revaluation_lines: bool,
    /// Absent from proposals stored before it existed: they were never year-end steps' (the
    /// year-end command posts at once), so false is what they were allowed.
    #[serde(default)]
    pub allow_next_year_opening: bool,
    /// What the step read; absent from proposals stored before it was recorded.
    #[serde(default)]
    pub reads: TaskReads,
    pub output: StepOutput,
    pub fuel_consumed: u64,
    pub duration_ms: u64,
    pub log_json: String,
    /// The lines the step's reader served, when the record comes straight from the run: their
    /// settlements are checked without reading them again. Not kept with a saved proposal.
    #[serde(skip)]
    pub known_lines: Arc<Mutex<KnownLines>>,
}

/// Accepts the formats this build reads (up to [`STEP_RECORD_FORMAT`]).
fn known_format<'de, D: Deserializer<'de>>(deserializer: D) -> Result<u32, D::Error> {
    let format = u32::deserialize(deserializer)?;
    if format > STEP_RECORD_FORMAT {
        return Err(serde::de::Error::custom(format!(
            "it has format {format}, written by a newer closebook (this build reads up to {STEP_RECORD_FORMAT})"
        )));
    }
    Ok(format)
}

impl StepRecord {
    /// What the step's proposals may do: post where its task may, in its own fiscal year.
    pub fn scope(&self) -> ProposalScope<'_> {
        ProposalScope {
            entities: &self.input.entities,
            period: &self.input.period.name,
            fiscal_year: &self.input.period.fiscal_year,
            allow_revaluation_lines: self.allow_revaluation_lines,
            allow_next_year_opening: self.allow_next_year_opening,
        }
    }

    /// The step's output as a batch for the ledger's `post_proposals`, with its run record.
    pub fn batch(&self) -> ProposalBatch<'_> {
        let entity = EntityId::new(self.input.entity.clone());
        ProposalBatch {
            scope: self.scope(),
            entries: &self.output.entries,
            settlements: &self.output.settlements,
            reconciling_items: &self.output.reconciling_items,
            cleared_items: &self.output.cleared_items,
            known_lines: &self.known_lines,
            run: StepRunRecord {
                run_id: self.run_id.clone(),
                sequence_before: self.sequences.get(&entity).copied().unwrap_or(0),
                entity,
                period: PeriodName::new(self.input.period.name.clone()),
                task: self.task.clone(),
                plugin_name: self.plugin_name.clone(),
                plugin_version: self.plugin_version.clone(),
                plugin_sha256: self.plugin_sha256.clone(),
                config: self.input.config.clone(),
                // Filled in by `post_proposals` when it posts.
                run_by: UserId::default(),
                started_at: self.started_at.clone(),
                finished_at: String::new(),
                sequence_after: 0,
                entries_posted: 0,
                settlements_posted: 0,
                fuel_consumed: self.fuel_consumed,
                duration_ms: self.duration_ms,
                log: self.log_json.clone(),
            },
        }
    }
}

/// Entity access as a step gets it: the run entity (always with posting) first, then the others.
pub(super) fn entity_access(run_entity: &EntityId, others: &[(EntityId, bool)]) -> Vec<EntityAccess> {
    std::iter::once((run_entity, true))
        .chain(others.iter().map(|(entity, post)| (entity, *post)))
        .map(|(entity, post)| EntityAccess {
            entity: entity.to_string(),
            post,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plugin::types::{Level, PeriodKind, PeriodStatus};

    /// A proposal as closebook stored it before records had a format: the JSON of the v0.1 WIT
    /// records (`serde_json::to_string` of the record the run made), trimmed to one entry.
    const LEGACY_RECORD: &str = r#"{"run_id":"fee-ACME-US-2026-01-s12-1a2b3c4d","plugin_name":"fee","plugin_version":"0.1.0","plugin_sha256":"00ff","input":{"entity":"ACME-US","period":{"name":"2026-01","kind":"Operating","start":"2026-01-01","end":"2026-01-31","fiscal_year":"FY2026","status":"OnHold"},"entities":[{"entity":"ACME-US","post":true},{"entity":"ACME-FR","post":false}],"as_of":"2026-01-31","config":"{}"},"sequences":{"ACME-US":12},"started_at":"2026-02-01T09:00:00Z","task":"fee","allow_revaluation_lines":false,"reads":{},"output":{"entries":[{"entity":"ACME-US","period":null,"date":"2026-01-31","description":"Management fee","lines":[{"account":"6100","dimensions":[{"name":"department","value":"100"}],"currency":null,"amount":"250.00","accounting_amount":null,"description":null},{"account":"2100","dimensions":[],"currency":"USD","amount":"-250.00","accounting_amount":"-250.00","description":"fee payable"}],"reversal_date":"2026-02-01"}],"settlements":[{"entity":"ACME-US","line_ids":[3,4]}],"messages":[{"level":"Warning","text":"fees differ by 50.00"}]},"fuel_consumed":1000,"duration_ms":5,"log_json":"{}"}"#;

    // Proves a proposal stored before the format field (WIT-shaped JSON) still loads, whole.
    #[test]
    fn legacy_record_without_format_loads() {
        let record: StepRecord = serde_json::from_str(LEGACY_RECORD).expect("a legacy record loads");
        assert_eq!(record.format, 0);
        assert_eq!(record.input.period.kind, PeriodKind::Operating);
        assert_eq!(record.input.period.status, PeriodStatus::OnHold);
        assert_eq!(record.input.entities[1].entity, "ACME-FR");
        assert!(!record.input.entities[1].post);
        assert!(!record.allow_next_year_opening);
        let entry = &record.output.entries[0];
        assert_eq!(entry.reversal_date.as_deref(), Some("2026-02-01"));
        assert_eq!(entry.lines[0].dimensions[0].name, "department");
        assert_eq!(entry.lines[1].accounting_amount.as_deref(), Some("-250.00"));
        assert_eq!(record.output.settlements[0].line_ids, vec![3, 4]);
        assert_eq!(record.output.messages[0].level, Level::Warning);
    }

    // Proves a record is stored with its format and reads back the same.
    #[test]
    fn record_round_trips_with_its_format() {
        let mut record: StepRecord = serde_json::from_str(LEGACY_RECORD).expect("a legacy record loads");
        record.format = STEP_RECORD_FORMAT;
        let text = serde_json::to_string(&record).expect("a record serializes");
        assert!(text.starts_with(r#"{"format":2,"#), "{text}");
        let again: StepRecord = serde_json::from_str(&text).expect("a stored record loads");
        assert_eq!(again.format, STEP_RECORD_FORMAT);
        assert_eq!(again.input, record.input);
        assert_eq!(again.output, record.output);
    }

    // Proves a record holds the oldest format that keeps all of its output: 1 without
    // reconciliation proposals (older builds read it), 2 with them (older builds refuse it).
    #[test]
    fn a_record_with_reconciliation_proposals_is_written_in_format_2() {
        let record: StepRecord = serde_json::from_str(LEGACY_RECORD).expect("a legacy record loads");
        assert_eq!(record_format(&record.output), 1);
        let mut output = record.output.clone();
        output.cleared_items.push(crate::plugin::types::ProposedClearing {
            entity: "ACME-US".to_owned(),
            item_id: 7,
            period: "2026-01".to_owned(),
            note: String::new(),
        });
        assert_eq!(record_format(&output), 2);
    }

    // Proves a record from a newer build is refused rather than misread.
    #[test]
    fn record_of_a_newer_format_is_refused() {
        let text = LEGACY_RECORD.replacen('{', r#"{"format":3,"#, 1);
        let error = serde_json::from_str::<StepRecord>(&text).expect_err("format 3 is unknown");
        assert!(error.to_string().contains("written by a newer closebook"), "{error}");
    }
}
