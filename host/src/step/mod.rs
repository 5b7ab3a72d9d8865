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
use closebook_ledger::dimension::DimensionValues;
use closebook_ledger::ids::{AccountNumber, CurrencyCode, EntityId, EntryKey, PeriodName};
use closebook_ledger::journal::{
    EntryRefusal, NewEntry, NewLine, PostedLine, PostingOptions, PostingRules, Provenance, Refusal, ValidEntry,
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
    /// The lines the step's reader served.
    pub known_lines: Arc<Mutex<KnownLines>>,
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
            periods
                .into_iter()
                .find(|period| period.name == request.period.as_str())
                .ok_or_else(|| {
                    LedgerError::Invalid(format!(
                        "period {} does not exist for entity {}",
                        request.period, request.entity
                    ))
                })
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
    Ok(StepPreview {
        run_id,
        info,
        input,
        run,
        sequences,
        started_at,
        task: request.task.clone(),
        allow_revaluation_lines: request.allow_revaluation_lines,
        known_lines,
    })
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
    Ok(ValidEntry {
        key: EntryKey::new(format!("{}/reversal", valid.key)),
        fingerprint: format!("reversal:{}", valid.fingerprint),
        date,
        period: period.name,
        fiscal_year: period.fiscal_year,
        module: valid.module,
        description: format!("Reversal of {}", valid.description),
        lines: valid
            .lines
            .iter()
            .map(|line| PostedLine {
                amount: closebook_ledger::money::negate(line.amount),
                accounting_amount: closebook_ledger::money::negate(line.accounting_amount),
                ..line.clone()
            })
            .collect(),
        reverses_entry_id: None,
    })
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
    post_record(ledger, &preview.record(plugin)?, |_, _| Ok(()))
}

/// Posts a recorded step output; `on_commit` runs in the same transaction (the close engine
/// records the task's completion there, so a crash leaves both or neither).
pub fn post_record(
    ledger: &mut Ledger,
    record: &StepRecord,
    on_commit: impl FnOnce(&Db<'_>, &PostOutcome) -> Result<(), LedgerError>,
) -> anyhow::Result<PostOutcome> {
    let output = &record.output;
    let user = ledger.user().clone();
    let run_entity = EntityId::new(record.input.entity.clone());
    let may_post: HashMap<String, bool> = record
        .input
        .entities
        .iter()
        .map(|access| (access.entity.clone(), access.post))
        .collect();
    let provenance_template = Provenance {
        source: "plugin".to_owned(),
        run_id: None,
        task: record.task.clone(),
        plugin_name: Some(record.plugin_name.clone()),
        plugin_version: Some(record.plugin_version.clone()),
        plugin_sha256: Some(record.plugin_sha256.clone()),
    };
    let outcome = ledger.store().write(|db| {
        check_not_stale(db, &record.sequences)?;
        let run_id = db.unused_run_id(&record.run_id)?;
        let provenance = Provenance { run_id: Some(run_id.clone()), ..provenance_template.clone() };
        let mut rules: BTreeMap<EntityId, PostingRules> = BTreeMap::new();
        let mut valid_entries: Vec<(EntityId, ValidEntry, Option<ValidEntry>)> = Vec::new();
        let run_year = closebook_ledger::calendar::parse_fiscal_year_name(&record.input.period.fiscal_year)
            .map_err(|error| LedgerError::Invalid(error.to_string()))?;
        let next_opening = format!("FY{}-opening", run_year + 1);
        let mut refusals = Vec::new();
        for (index, proposal) in output.entries.iter().enumerate() {
            let entity = EntityId::new(proposal.entity.clone());
            let entry = match proposed_entry(&run_id, index, proposal) {
                Ok(entry) => entry,
                Err(refusal) => {
                    refusals.push(refusal);
                    continue;
                }
            };
            if may_post.get(entity.as_str()) != Some(&true) {
                refusals.push(EntryRefusal { key: entry.key.clone(), source_line: None, reason: Refusal::Malformed { message: format!("the step may not post into entity {entity}") } });
                continue;
            }
            if !rules.contains_key(&entity) {
                let options = PostingOptions { allow_revaluation_lines: record.allow_revaluation_lines };
                rules.insert(entity.clone(), posting_rules(db, &entity, &user, options)?);
            }
            let entity_rules = &rules[&entity];
            match entity_rules.validate(&entry) {
                Err(entry_refusals) => refusals.extend(entry_refusals),
                Ok(valid) => {
                    // A step proposes into the fiscal year it runs for, or into the next
                    // year's opening period (year-end close carries balances there).
                    if valid.fiscal_year.as_str() != record.input.period.fiscal_year && valid.period.as_str() != next_opening {
                        refusals.push(EntryRefusal {
                            key: valid.key.clone(),
                            source_line: None,
                            reason: Refusal::Malformed {
                                message: format!(
                                    "the step runs for {} {} but proposes an entry in period {}; a step posts in its own fiscal year or the next year's opening period",
                                    record.input.period.fiscal_year, record.input.period.name, valid.period
                                ),
                            },
                        });
                        continue;
                    }
                    if let Some(reversal_date) = &proposal.reversal_date {
                        match NaiveDate::from_str(reversal_date).map_err(|_| Refusal::Malformed { message: format!("reversal date `{reversal_date}` is not a date") }).and_then(|date| reversal_of(entity_rules, &valid, date)) {
                            Ok(reversal) => valid_entries.push((entity, valid, Some(reversal))),
                            Err(reason) => refusals.push(EntryRefusal { key: valid.key.clone(), source_line: None, reason }),
                        }
                    } else {
                        valid_entries.push((entity, valid, None));
                    }
                }
            }
        }
        if !refusals.is_empty() {
            return Err(LedgerError::Refused(refusals));
        }
        let mut batches: BTreeMap<EntityId, PostingBatch> = BTreeMap::new();
        let mut posted = Vec::new();
        for (entity, valid, reversal) in valid_entries {
            for key in std::iter::once(&valid.key).chain(reversal.as_ref().map(|reversal| &reversal.key)) {
                if db.existing_key(&entity, key)?.is_some() {
                    return Err(LedgerError::Invalid(format!("entry key {key} is already used in entity {entity}; run the step again")));
                }
            }
            if !batches.contains_key(&entity) {
                batches.insert(entity.clone(), PostingBatch::begin(db, &entity, &user)?);
            }
            let batch = batches.get_mut(&entity).expect("the batch was just inserted");
            let entry = batch.post(db, valid, &provenance)?;
            posted.push((entity.clone(), entry.key, entry.sequence));
            if let Some(mut reversal) = reversal {
                // Linked to its original, so the original cannot be reversed a second time.
                reversal.reverses_entry_id = Some(entry.id);
                let reversal_entry = batch.post(db, reversal, &provenance)?;
                posted.push((entity, reversal_entry.key, reversal_entry.sequence));
            }
        }
        for batch in batches.into_values() {
            batch.finish(db)?;
        }
        let mut settlements = Vec::new();
        let mut known_lines = record.known_lines.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut settlement_batch = closebook_ledger::settlement::SettlementBatch::new(&mut known_lines);
        settlement_batch.read_lines(
            db,
            output
                .settlements
                .iter()
                .flat_map(|proposal| proposal.line_ids.iter().map(|id| i64::try_from(*id).unwrap_or(i64::MAX))),
        )?;
        for proposal in &output.settlements {
            let entity = EntityId::new(proposal.entity.clone());
            if may_post.get(entity.as_str()) != Some(&true) {
                return Err(LedgerError::Invalid(format!("the step may not settle lines of entity {entity}")));
            }
            let line_ids: Vec<i64> = proposal.line_ids.iter().map(|id| i64::try_from(*id).unwrap_or(i64::MAX)).collect();
            let settlement = settlement_batch
                .settle(db, &entity, &line_ids, &user, Some(&run_id))
                .map_err(|error| LedgerError::Invalid(format!("settlement of lines {:?} refused: {error}", proposal.line_ids)))?;
            settlements.push(settlement);
        }
        settlement_batch.finish(db)?;
        let log = record.log_json.clone();
        db.insert_step_run(&StepRunRecord {
            run_id: run_id.clone(),
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
            log,
        })?;
        db.append_audit(
            &user,
            "plugin.post",
            Some(&run_entity),
            &json!({ "run_id": run_id, "plugin": record.plugin_name, "version": record.plugin_version, "sha256": record.plugin_sha256.clone(), "entries": posted.len(), "settlements": settlements.len() }),
        )?;
        let outcome = PostOutcome { run_id: run_id.clone(), entries: posted, settlements };
        on_commit(db, &outcome)?;
        Ok(outcome)
    });
    outcome.with_context(|| {
        format!(
            "posting the proposals of plugin {} for {} {}",
            record.plugin_name, record.input.entity, record.input.period.name
        )
    })
}

/// Refuses to post when any entity the step read has posted since its snapshot.
fn check_not_stale(db: &Db<'_>, sequences: &BTreeMap<EntityId, i64>) -> Result<(), LedgerError> {
    for (entity, sequence) in sequences {
        let now = db.ledger_head(entity)?.0;
        if now != *sequence {
            return Err(LedgerError::Invalid(format!(
                "the ledger of {entity} moved from sequence {sequence} to {now} while the step ran; nothing was posted: run the step again on the current ledger"
            )));
        }
    }
    Ok(())
}
