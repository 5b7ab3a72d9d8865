//! Running one close step: check its configuration against the schema it declares, take a
//! snapshot of the ledger, run the plugin in its sandbox, and — when asked — validate every
//! proposal like an imported journal and post them all in one transaction that also records
//! the run. The transaction first checks that no entity the step read has moved on since the
//! snapshot: a stale proposal is never posted.

pub mod snapshot;

use crate::plugin::wit::{EntityAccess, StepInfo, StepInput, StepOutput};
use crate::plugin::{Limits, LoadedPlugin, SandboxEnvironment, StepRun};
use anyhow::Context as _;
use chrono::{NaiveDate, TimeZone};
use closebook_ledger::calendar::EntityPeriods;
use closebook_ledger::close_task::{EntityRead, TaskReads};
use closebook_ledger::dimension::DimensionValues;
use closebook_ledger::ids::{AccountNumber, CurrencyCode, EntityId, EntryKey, PeriodName};
use closebook_ledger::journal::{
    CounterEntry, EntryRefusal, NewEntry, NewLine, PostingOptions, PostingRules, Provenance, Refusal, ValidEntry,
};
use closebook_ledger::ledger::posting_rules;
use closebook_ledger::period::Module;
use closebook_ledger::settlement::KnownLines;
use closebook_ledger::store::{Db, PostingBatch, StepRunRecord, Store};
use closebook_ledger::{Ledger, LedgerError};
use serde_json::json;
use sha2::{Digest, Sha256};
use snapshot::{SnapshotReader, plugin_decimal};
use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::str::FromStr;
use std::sync::{Arc, Mutex};

/// What to run: the plugin's context apart from the plugin itself.
#[derive(Debug, Clone)]
pub struct StepRequest {
    pub entity: EntityId,
    pub period: PeriodName,
    /// Balances are read as of this date; the period end when none.
    pub as_of: Option<NaiveDate>,
    /// The step's configuration as JSON text.
    pub config: String,
    /// Other entities the step may read, and whether it may post there.
    pub other_entities: Vec<(EntityId, bool)>,
    /// The close task the step runs for, if any (provenance).
    pub task: Option<String>,
    pub limits: Limits,
    /// Lets the step post lines with amount 0 and an accounting amount on accounts flagged
    /// `revalue`: only a foreign currency revaluation step may, so the close configuration
    /// (or `plugin run --revaluation`) must say so.
    pub allow_revaluation_lines: bool,
    /// Lets the step post into the next fiscal year's opening period: only a year-end step
    /// carries balances there, so the task (`year_end = true`) or the command must say so.
    pub allow_next_year_opening: bool,
}

/// A finished run, not yet posted.
pub struct StepPreview {
    pub run_id: String,
    pub info: StepInfo,
    pub input: StepInput,
    pub run: StepRun,
    /// The ledger sequence of every readable entity when the snapshot was taken.
    pub sequences: BTreeMap<EntityId, i64>,
    pub started_at: String,
    pub task: Option<String>,
    pub allow_revaluation_lines: bool,
    pub allow_next_year_opening: bool,
    /// The lines the step's reader served.
    pub known_lines: Arc<Mutex<KnownLines>>,
    /// What the step read, by entity: its snapshot's positions and its queries' accounts and
    /// periods.
    pub reads: TaskReads,
}

/// What posting a step wrote.
#[derive(Debug, Clone, serde::Serialize)]
pub struct PostOutcome {
    pub run_id: String,
    pub entries: Vec<(EntityId, EntryKey, i64)>,
    pub settlements: Vec<i64>,
}

fn sha256_hex(parts: &[&[u8]]) -> String {
    let mut hasher = Sha256::new();
    for part in parts {
        hasher.update((part.len() as u64).to_le_bytes());
        hasher.update(part);
    }
    hex::encode(hasher.finalize())
}

/// Checks a configuration against the JSON Schema a step declares, within the bounds the plugin
/// runtime puts on schemas (see `plugin::validate_config`).
pub fn validate_config(info: &StepInfo, config: &str) -> anyhow::Result<serde_json::Value> {
    crate::plugin::validate_config(info, config)
}

/// Runs a step over a fresh snapshot of the ledger in `db_path`.
pub fn run_step(db_path: &Path, plugin: &LoadedPlugin, request: &StepRequest) -> anyhow::Result<StepPreview> {
    let started_at = closebook_ledger::now_text();
    let info = plugin.describe(&request.limits)?;
    let config_value = validate_config(&info, &request.config)?;
    let config = config_value.to_string();
    let reader = SnapshotReader::open(db_path)?;
    let known_lines = reader.known_lines();
    let queries_read = reader.reads();
    let mut readable = vec![request.entity.clone()];
    readable.extend(request.other_entities.iter().map(|(entity, _)| entity.clone()));
    let sequences = reader.sequences(&readable)?;
    let period = {
        let mut store = Store::open(db_path)?;
        store.read(|db| {
            for entity in &readable {
                db.require_entity(entity)?;
            }
            let periods = snapshot::periods_of(db, &request.entity, None)?;
            match periods
                .into_iter()
                .find(|period| period.name == request.period.as_str())
            {
                Some(period) => Ok(period),
                None => Err(EntityPeriods::of_entity(db, &request.entity)?
                    .unknown(&request.period)
                    .into()),
            }
        })?
    };
    let period_end = NaiveDate::from_str(&period.end).context("period end date")?;
    let as_of = request.as_of.unwrap_or(period_end);
    let mut entities = vec![EntityAccess {
        entity: request.entity.to_string(),
        post: true,
    }];
    entities.extend(request.other_entities.iter().map(|(entity, post)| EntityAccess {
        entity: entity.to_string(),
        post: *post,
    }));
    let sequence = sequences.get(&request.entity).copied().unwrap_or(0);
    // Everything that makes the run: a rerun on the same ledger sees the same random bytes,
    // and a run after any posting in an entity it reads gets another run id.
    let sequences_text = serde_json::to_string(&sequences).unwrap_or_default();
    let seed_hex = sha256_hex(&[
        &plugin.sha256(),
        config.as_bytes(),
        request.entity.as_str().as_bytes(),
        request.period.as_str().as_bytes(),
        sequences_text.as_bytes(),
        as_of.to_string().as_bytes(),
        request.task.as_deref().unwrap_or("").as_bytes(),
    ]);
    let mut seed = [0u8; 32];
    hex::decode_to_slice(&seed_hex, &mut seed).expect("a SHA-256 hex digest is 32 bytes");
    let environment = SandboxEnvironment {
        clock: chrono::Utc.from_utc_datetime(&as_of.and_hms_opt(0, 0, 0).expect("midnight exists")),
        seed,
    };
    let run_id = format!(
        "{}-{}-{}-s{sequence}-{}",
        info.name,
        request.entity,
        request.period,
        &seed_hex[..8]
    );
    let input = StepInput {
        entity: request.entity.to_string(),
        period,
        entities,
        as_of: as_of.to_string(),
        config,
    };
    let run = plugin.run(&input, Box::new(reader), &request.limits, &environment);
    let reads = task_reads(&sequences, &queries_read);
    Ok(StepPreview {
        run_id,
        info,
        input,
        run,
        sequences,
        started_at,
        task: request.task.clone(),
        allow_revaluation_lines: request.allow_revaluation_lines,
        allow_next_year_opening: request.allow_next_year_opening,
        known_lines,
        reads,
    })
}

/// What a run read, by entity: the snapshot's position of every entity it could read, with the
/// accounts and periods its queries covered there (nothing for an entity it did not query).
fn task_reads(sequences: &BTreeMap<EntityId, i64>, queries: &Mutex<snapshot::QueriesRead>) -> TaskReads {
    let queries = queries.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    sequences
        .iter()
        .map(|(entity, sequence)| {
            let read = EntityRead {
                sequence: *sequence,
                ..queries
                    .get(entity)
                    .cloned()
                    .unwrap_or_else(|| EntityRead::nothing(*sequence))
            };
            (entity.clone(), read)
        })
        .collect()
}

/// Converts one proposed entry into a journal entry, parsing its decimals strictly.
#[allow(clippy::result_large_err)] // a refusal names its values; see closebook-ledger's lib.rs
fn proposed_entry(
    run_id: &str,
    index: usize,
    proposal: &crate::plugin::wit::ProposedEntry,
) -> Result<NewEntry, EntryRefusal> {
    let key = EntryKey::new(format!("{run_id}/{}", index + 1));
    let malformed = |message: String| EntryRefusal {
        key: key.clone(),
        source_line: None,
        reason: Refusal::Malformed { message },
    };
    let date = NaiveDate::from_str(&proposal.date)
        .map_err(|_| malformed(format!("`{}` is not a date (YYYY-MM-DD)", proposal.date)))?;
    let mut lines = Vec::with_capacity(proposal.lines.len());
    for (line_index, line) in proposal.lines.iter().enumerate() {
        let at = |message: String| malformed(format!("line {}: {message}", line_index + 1));
        let amount = plugin_decimal(&line.amount).map_err(at)?;
        let accounting_amount = line
            .accounting_amount
            .as_deref()
            .map(plugin_decimal)
            .transpose()
            .map_err(at)?;
        let mut dimensions = DimensionValues::new();
        for dimension in &line.dimensions {
            if dimensions
                .insert(dimension.name.clone(), dimension.value.clone())
                .is_some()
            {
                return Err(at(format!("dimension {} is given twice", dimension.name)));
            }
        }
        lines.push(NewLine {
            account: AccountNumber::new(line.account.clone()),
            dimensions,
            currency: line.currency.clone().map(CurrencyCode),
            amount,
            accounting_amount,
            description: line.description.clone().unwrap_or_else(|| proposal.description.clone()),
            source_line: None,
        });
    }
    Ok(NewEntry {
        key,
        date,
        period: proposal.period.clone().map(PeriodName),
        description: proposal.description.clone(),
        module: Module::Close,
        lines,
    })
}

/// The reversing entry of a validated proposal, dated `date` in its own (open) period.
fn reversal_of(rules: &PostingRules, valid: &ValidEntry, date: NaiveDate) -> Result<ValidEntry, Refusal> {
    if date <= valid.date {
        return Err(Refusal::Malformed {
            message: format!("reversal date {date} is not after the entry date {}", valid.date),
        });
    }
    let period = rules.resolve_period(date, None)?;
    rules.check_can_post(&period.name, valid.module)?;
    let reversal = CounterEntry {
        key: EntryKey::new(format!("{}/reversal", valid.key)),
        fingerprint: format!("reversal:{}", valid.fingerprint),
        date,
        period: period.name,
        fiscal_year: period.fiscal_year,
        description: format!("Reversal of {}", valid.description),
        reverses_entry_id: None,
    };
    Ok(reversal.cancelling(valid.module, &valid.lines))
}

/// Everything needed to post a step's output later (at once, or after a review): the output
/// and the run it came from. Kept as JSON with a proposal awaiting review.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct StepRecord {
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

impl StepPreview {
    /// The run as a record to post, or the plugin's failure.
    pub fn record(&self, plugin: &LoadedPlugin) -> anyhow::Result<StepRecord> {
        let output = match &self.run.output {
            Ok(output) => output.clone(),
            Err(error) => anyhow::bail!("plugin {} failed, nothing to post: {error}", plugin.name()),
        };
        Ok(StepRecord {
            run_id: self.run_id.clone(),
            plugin_name: self.info.name.clone(),
            plugin_version: self.info.version.clone(),
            plugin_sha256: hex::encode(plugin.sha256()),
            input: self.input.clone(),
            sequences: self.sequences.clone(),
            started_at: self.started_at.clone(),
            task: self.task.clone(),
            allow_revaluation_lines: self.allow_revaluation_lines,
            allow_next_year_opening: self.allow_next_year_opening,
            reads: self.reads.clone(),
            output,
            fuel_consumed: self.run.usage.fuel_consumed,
            duration_ms: self.run.usage.duration.as_millis() as u64,
            log_json: serde_json::to_string(&self.run.log).unwrap_or_default(),
            known_lines: Arc::clone(&self.known_lines),
        })
    }
}

/// Validates a step's output and posts it, all or nothing, with the run's completion record.
pub fn post_step(ledger: &mut Ledger, plugin: &LoadedPlugin, preview: &StepPreview) -> anyhow::Result<PostOutcome> {
    Ok(post_record(ledger, &preview.record(plugin)?, |_, _| Ok(()))?)
}

/// A proposed entry that passed every posting rule, with its automatic reversal.
pub struct ValidProposal {
    pub entity: EntityId,
    pub entry: ValidEntry,
    pub reversal: Option<ValidEntry>,
}

/// A proposal refused as what it is: the entry itself, or the reversal it asks for.
fn refusal_of(key: &EntryKey, reversal: bool, reason: Refusal) -> EntryRefusal {
    let reason = if reversal {
        Refusal::Malformed {
            message: format!("its reversal: {reason}"),
        }
    } else {
        reason
    };
    EntryRefusal {
        key: key.clone(),
        source_line: None,
        reason,
    }
}

/// Checks every proposal of a step's output against the ledger as it is in `db`, with the rules
/// of posting (accounts, dimensions, decimals, balance, period status and module access for the
/// acting user, the entities the step may post to, the fiscal year it runs for) applied to each
/// entry and to its reversal alike. Writes nothing: a run calls it before a proposal waits for
/// review or is shown in a dry run, and posting calls it again inside its transaction.
pub fn validate_proposals(
    db: &Db<'_>,
    record: &StepRecord,
    user: &closebook_ledger::ids::UserId,
    run_id: &str,
) -> Result<Vec<ValidProposal>, LedgerError> {
    let may_post: HashMap<&str, bool> = record
        .input
        .entities
        .iter()
        .map(|access| (access.entity.as_str(), access.post))
        .collect();
    let mut rules: BTreeMap<EntityId, PostingRules> = BTreeMap::new();
    let run_year = closebook_ledger::calendar::parse_fiscal_year_name(&record.input.period.fiscal_year)
        .map_err(|error| LedgerError::Invalid(error.to_string()))?;
    let next_opening = format!("FY{}-opening", run_year + 1);
    // A step proposes into the fiscal year it runs for; only a year-end step may also propose
    // into the next year's opening period, where year-end close carries balances.
    let in_scope = |valid: &ValidEntry| -> Result<(), Refusal> {
        if valid.fiscal_year.as_str() == record.input.period.fiscal_year {
            return Ok(());
        }
        if valid.period.as_str() == next_opening {
            if record.allow_next_year_opening {
                return Ok(());
            }
            return Err(Refusal::Malformed {
                message: format!(
                    "period {} is the next year's opening period, which only a year-end step may post to (`year_end = true` on the task)",
                    valid.period
                ),
            });
        }
        Err(Refusal::Malformed {
            message: format!(
                "the step runs for {} {} but proposes an entry in period {}; a step posts in its own fiscal year",
                record.input.period.fiscal_year, record.input.period.name, valid.period
            ),
        })
    };
    let mut valid_proposals = Vec::new();
    let mut refusals = Vec::new();
    for (index, proposal) in record.output.entries.iter().enumerate() {
        let entity = EntityId::new(proposal.entity.clone());
        let entry = match proposed_entry(run_id, index, proposal) {
            Ok(entry) => entry,
            Err(refusal) => {
                refusals.push(refusal);
                continue;
            }
        };
        if may_post.get(entity.as_str()) != Some(&true) {
            refusals.push(refusal_of(
                &entry.key,
                false,
                Refusal::Malformed {
                    message: format!("the step may not post into entity {entity}"),
                },
            ));
            continue;
        }
        if !rules.contains_key(&entity) {
            let options = PostingOptions {
                allow_revaluation_lines: record.allow_revaluation_lines,
            };
            rules.insert(entity.clone(), posting_rules(db, &entity, user, options)?);
        }
        let entity_rules = &rules[&entity];
        let valid = match entity_rules.validate(&entry) {
            Ok(valid) => valid,
            Err(entry_refusals) => {
                refusals.extend(entry_refusals);
                continue;
            }
        };
        if let Err(reason) = in_scope(&valid) {
            refusals.push(refusal_of(&valid.key, false, reason));
            continue;
        }
        let reversal = match &proposal.reversal_date {
            None => None,
            Some(text) => {
                let reversal = NaiveDate::from_str(text)
                    .map_err(|_| Refusal::Malformed {
                        message: format!("reversal date `{text}` is not a date (YYYY-MM-DD)"),
                    })
                    .and_then(|date| reversal_of(entity_rules, &valid, date))
                    .and_then(|reversal| in_scope(&reversal).map(|()| reversal));
                match reversal {
                    Ok(reversal) => Some(reversal),
                    Err(reason) => {
                        refusals.push(refusal_of(&valid.key, true, reason));
                        continue;
                    }
                }
            }
        };
        valid_proposals.push(ValidProposal {
            entity,
            entry: valid,
            reversal,
        });
    }
    if !refusals.is_empty() {
        return Err(LedgerError::Refused(refusals));
    }
    Ok(valid_proposals)
}

/// Checks a step's proposals against the ledger in `db_path` as it is now, writing nothing.
pub fn check_proposals(
    db_path: &Path,
    record: &StepRecord,
    user: &closebook_ledger::ids::UserId,
) -> anyhow::Result<()> {
    let mut store = Store::open(db_path)?;
    store
        .read(|db| validate_proposals(db, record, user, &record.run_id).map(|_| ()))
        .with_context(|| {
            format!(
                "the proposals of plugin {} for {} {} break a posting rule",
                record.plugin_name, record.input.entity, record.input.period.name
            )
        })
}

/// Posts a recorded step output; `on_commit` runs in the same transaction (the close engine
/// records the task's completion there, so a crash leaves both or neither).
pub fn post_record(
    ledger: &mut Ledger,
    record: &StepRecord,
    on_commit: impl FnOnce(&Db<'_>, &PostOutcome) -> Result<(), LedgerError>,
) -> Result<PostOutcome, PostError> {
    let user = ledger.user().clone();
    let provenance_template = Provenance {
        source: "plugin".to_owned(),
        run_id: None,
        task: record.task.clone(),
        plugin_name: Some(record.plugin_name.clone()),
        plugin_version: Some(record.plugin_version.clone()),
        plugin_sha256: Some(record.plugin_sha256.clone()),
    };
    let mut moved = None;
    let outcome = ledger.store().write(|db| {
        if let Some(snapshot_moved) = snapshot_moved(db, &record.sequences)? {
            let message = snapshot_moved.to_string();
            moved = Some(snapshot_moved);
            return Err(LedgerError::Invalid(message));
        }
        let run_id = db.unused_run_id(&record.run_id)?;
        let provenance = Provenance {
            run_id: Some(run_id.clone()),
            ..provenance_template.clone()
        };
        let proposals = validate_proposals(db, record, &user, &run_id)?;
        let posted = post_entries(db, &user, &provenance, proposals)?;
        let settlements = post_settlements(db, record, &user, &run_id)?;
        record_run(db, record, &user, &run_id, &posted, &settlements)?;
        let outcome = PostOutcome {
            run_id,
            entries: posted,
            settlements,
        };
        on_commit(db, &outcome)?;
        Ok(outcome)
    });
    if let Some(snapshot_moved) = moved {
        return Err(PostError::SnapshotMoved(snapshot_moved));
    }
    outcome.map_err(|error| {
        PostError::Refused(anyhow::Error::new(error).context(format!(
            "posting the proposals of plugin {} for {} {}",
            record.plugin_name, record.input.entity, record.input.period.name
        )))
    })
}

/// Why a step's output was not posted.
#[derive(Debug, thiserror::Error)]
pub enum PostError {
    /// An entity the step read posted after its snapshot: its figures are out of date, so it
    /// must run again. Nothing was posted.
    #[error(transparent)]
    SnapshotMoved(SnapshotMoved),
    /// A posting rule, or the ledger, refused; nothing was posted.
    #[error("{0:#}")]
    Refused(anyhow::Error),
}

/// An entity a step read posted after the step's snapshot.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "the ledger of {entity} moved from sequence {from} to {to} while the step ran; nothing was posted: run the step again on the current ledger"
)]
pub struct SnapshotMoved {
    pub entity: EntityId,
    pub from: i64,
    pub to: i64,
}

/// Writes validated entries (each with its reversal, linked to it), one posting batch per entity.
fn post_entries(
    db: &Db<'_>,
    user: &closebook_ledger::ids::UserId,
    provenance: &Provenance,
    proposals: Vec<ValidProposal>,
) -> Result<Vec<(EntityId, EntryKey, i64)>, LedgerError> {
    let mut batches: BTreeMap<EntityId, PostingBatch> = BTreeMap::new();
    let mut posted = Vec::new();
    for ValidProposal {
        entity,
        entry,
        reversal,
    } in proposals
    {
        for key in std::iter::once(&entry.key).chain(reversal.as_ref().map(|reversal| &reversal.key)) {
            if db.existing_key(&entity, key)?.is_some() {
                return Err(LedgerError::Invalid(format!(
                    "entry key {key} is already used in entity {entity}; run the step again"
                )));
            }
        }
        if !batches.contains_key(&entity) {
            batches.insert(entity.clone(), PostingBatch::begin(db, &entity, user)?);
        }
        let batch = batches.get_mut(&entity).expect("the batch was just inserted");
        let posted_entry = batch.post(db, entry, provenance)?;
        posted.push((entity.clone(), posted_entry.key, posted_entry.sequence));
        if let Some(mut reversal) = reversal {
            // Linked to its original, so the original cannot be reversed a second time.
            reversal.reverses_entry_id = Some(posted_entry.id);
            let reversal_entry = batch.post(db, reversal, provenance)?;
            posted.push((entity, reversal_entry.key, reversal_entry.sequence));
        }
    }
    for batch in batches.into_values() {
        batch.finish(db)?;
    }
    Ok(posted)
}

/// Checks and writes the step's settlements, as one batch.
fn post_settlements(
    db: &Db<'_>,
    record: &StepRecord,
    user: &closebook_ledger::ids::UserId,
    run_id: &str,
) -> Result<Vec<i64>, LedgerError> {
    let output = &record.output;
    let may_post = |entity: &EntityId| {
        record
            .input
            .entities
            .iter()
            .any(|access| access.entity == entity.as_str() && access.post)
    };
    let line_id = |id: &u64| i64::try_from(*id).unwrap_or(i64::MAX);
    let mut settlements = Vec::new();
    let mut known_lines = record
        .known_lines
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let mut settlement_batch = closebook_ledger::settlement::SettlementBatch::new(&mut known_lines);
    settlement_batch.read_lines(
        db,
        output
            .settlements
            .iter()
            .flat_map(|proposal| proposal.line_ids.iter().map(line_id)),
    )?;
    for proposal in &output.settlements {
        let entity = EntityId::new(proposal.entity.clone());
        if !may_post(&entity) {
            return Err(LedgerError::Invalid(format!(
                "the step may not settle lines of entity {entity}"
            )));
        }
        let line_ids: Vec<i64> = proposal.line_ids.iter().map(line_id).collect();
        let settlement = settlement_batch
            .settle(db, &entity, &line_ids, user, Some(run_id))
            .map_err(|error| {
                LedgerError::Invalid(format!("settlement of lines {:?} refused: {error}", proposal.line_ids))
            })?;
        settlements.push(settlement);
    }
    settlement_batch.finish(db)?;
    Ok(settlements)
}

/// Records the run (`step_runs`) and its audit event.
fn record_run(
    db: &Db<'_>,
    record: &StepRecord,
    user: &closebook_ledger::ids::UserId,
    run_id: &str,
    posted: &[(EntityId, EntryKey, i64)],
    settlements: &[i64],
) -> Result<(), LedgerError> {
    let run_entity = EntityId::new(record.input.entity.clone());
    db.insert_step_run(&StepRunRecord {
        run_id: run_id.to_owned(),
        entity: run_entity.clone(),
        period: PeriodName::new(record.input.period.name.clone()),
        task: record.task.clone(),
        plugin_name: record.plugin_name.clone(),
        plugin_version: record.plugin_version.clone(),
        plugin_sha256: record.plugin_sha256.clone(),
        config: record.input.config.clone(),
        run_by: user.clone(),
        started_at: record.started_at.clone(),
        finished_at: closebook_ledger::now_text(),
        sequence_before: record.sequences.get(&run_entity).copied().unwrap_or(0),
        sequence_after: db.ledger_head(&run_entity)?.0,
        entries_posted: posted.len() as i64,
        settlements_posted: settlements.len() as i64,
        fuel_consumed: record.fuel_consumed,
        duration_ms: record.duration_ms,
        log: record.log_json.clone(),
    })?;
    db.append_audit(
        user,
        "plugin.post",
        Some(&run_entity),
        &json!({ "run_id": run_id, "plugin": record.plugin_name, "version": record.plugin_version, "sha256": record.plugin_sha256, "entries": posted.len(), "settlements": settlements.len() }),
    )?;
    Ok(())
}

/// The first entity the step read that has posted since its snapshot, if any.
fn snapshot_moved(db: &Db<'_>, sequences: &BTreeMap<EntityId, i64>) -> Result<Option<SnapshotMoved>, LedgerError> {
    for (entity, sequence) in sequences {
        let now = db.ledger_head(entity)?.0;
        if now != *sequence {
            return Ok(Some(SnapshotMoved {
                entity: entity.clone(),
                from: *sequence,
                to: now,
            }));
        }
    }
    Ok(None)
}
