//! Running one close step: check its configuration against the schema it declares, take a
//! snapshot of the ledger, run the plugin in its sandbox, and — when asked — post its proposals
//! with the ledger's `post_proposals` (every posting rule, all or nothing, with the run record)
//! in one transaction. The transaction first checks that no entity the step read has moved on
//! since the snapshot: a stale proposal is never posted. This module only converts: the step's
//! output to a proposal batch, the ledger's refusals to errors.

pub mod snapshot;

mod record;

use crate::plugin::types::{EntityAccess, StepInfo, StepInput};
use crate::plugin::{Limits, LoadedPlugin, SandboxEnvironment, StepRun};
use anyhow::Context as _;
use chrono::{NaiveDate, TimeZone};
use closebook_ledger::calendar::EntityPeriods;
use closebook_ledger::close_task::{EntityRead, TaskReads};
use closebook_ledger::ids::{EntityId, PeriodName, UserId};
use closebook_ledger::proposal::{post_proposals, validate_proposals};
use closebook_ledger::settlement::KnownLines;
use closebook_ledger::store::{Db, Store};
use closebook_ledger::{Ledger, LedgerError};
use sha2::{Digest, Sha256};
use snapshot::SnapshotReader;
use std::collections::BTreeMap;
use std::path::Path;
use std::str::FromStr;
use std::sync::{Arc, Mutex};

pub use record::{STEP_RECORD_FORMAT, StepRecord, record_format};

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

/// What posting a step wrote: the run id it was recorded under, its entries and settlements.
pub type PostOutcome = closebook_ledger::proposal::Posted;

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
    // The plugin's declared name and version are known once it has described itself, the run id
    // once the snapshot is taken; the span has them from then on.
    let span = tracing::info_span!(
        "plugin.run",
        file = plugin.name(),
        plugin = tracing::field::Empty,
        version = tracing::field::Empty,
        sha256 = %hex::encode(plugin.sha256()),
        entity = %request.entity,
        period = %request.period,
        task = request.task.as_deref(),
        run_id = tracing::field::Empty,
    )
    .entered();
    let started_at = closebook_ledger::now_text();
    let info = plugin.describe(&request.limits)?;
    span.record("plugin", info.name.as_str());
    span.record("version", info.version.as_str());
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
    let entities = record::entity_access(&request.entity, &request.other_entities);
    let sequence = sequences.get(&request.entity).copied().unwrap_or(0);
    let seed_hex = run_seed_hex(plugin, request, &config, &sequences, as_of);
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
    span.record("run_id", run_id.as_str());
    let input = StepInput {
        entity: request.entity.to_string(),
        period,
        entities,
        as_of: as_of.to_string(),
        config,
    };
    let run = plugin.run(&input, Box::new(reader), &request.limits, &environment);
    tracing::info!(
        succeeded = run.output.is_ok(),
        entries_proposed = run.output.as_ref().map_or(0, |output| output.entries.len()),
        fuel_consumed = run.usage.fuel_consumed,
        rows_read = run.usage.rows_read,
        memory_peak_bytes = run.usage.memory_peak_bytes,
        duration_ms = run.usage.duration.as_millis() as u64,
        "plugin ran"
    );
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

/// The hash of everything that makes a run, as hex: a rerun on the same ledger sees the same
/// random bytes, and a run after any posting in an entity it reads gets another run id.
fn run_seed_hex(
    plugin: &LoadedPlugin,
    request: &StepRequest,
    config: &str,
    sequences: &BTreeMap<EntityId, i64>,
    as_of: NaiveDate,
) -> String {
    let sequences_text = serde_json::to_string(sequences).unwrap_or_default();
    sha256_hex(&[
        &plugin.sha256(),
        config.as_bytes(),
        request.entity.as_str().as_bytes(),
        request.period.as_str().as_bytes(),
        sequences_text.as_bytes(),
        as_of.to_string().as_bytes(),
        request.task.as_deref().unwrap_or("").as_bytes(),
    ])
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

impl StepPreview {
    /// The run as a record to post, or the plugin's failure.
    pub fn record(&self, plugin: &LoadedPlugin) -> anyhow::Result<StepRecord> {
        let output = match &self.run.output {
            Ok(output) => output.clone(),
            Err(error) => anyhow::bail!("plugin {} failed, nothing to post: {error}", plugin.name()),
        };
        Ok(StepRecord {
            format: record::record_format(&output),
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

/// Checks a step's proposals against the ledger in `db_path` as it is now, writing nothing.
pub fn check_proposals(db_path: &Path, record: &StepRecord, user: &UserId) -> anyhow::Result<()> {
    let mut store = Store::open(db_path)?;
    store
        .read(|db| {
            validate_proposals(db, &record.scope(), &record.output.entries, user, &record.run_id)?;
            closebook_ledger::proposal::check_reconciliation_proposals(
                db,
                &mut Default::default(),
                &record.scope(),
                &record.output.reconciling_items,
                &record.output.cleared_items,
            )
            .map_err(|refusal| LedgerError::Invalid(refusal.to_string()))?;
            Ok(())
        })
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
    let _post = tracing::info_span!(
        "step.post",
        plugin = %record.plugin_name,
        entity = %record.input.entity,
        period = %record.input.period.name,
        run_id = %record.run_id,
    )
    .entered();
    let actor = ledger.actor().clone();
    let mut moved = None;
    let mut refused = None;
    let outcome = ledger.store().write(|db| {
        if let Some(snapshot_moved) = snapshot_moved(db, record)? {
            tracing::info!(
                moved_entity = %snapshot_moved.entity,
                from = snapshot_moved.from,
                to = snapshot_moved.to,
                "not posted: the ledger moved after the step's snapshot"
            );
            let message = snapshot_moved.to_string();
            moved = Some(snapshot_moved);
            return Err(LedgerError::Invalid(message));
        }
        // The typed refusal is kept for the caller; the error returned only rolls back.
        let outcome = match post_proposals(db, &actor, record.batch()) {
            Ok(outcome) => outcome,
            Err(refusal) => {
                let message = refusal.to_string();
                refused = Some(refusal);
                return Err(LedgerError::Invalid(message));
            }
        };
        on_commit(db, &outcome)?;
        tracing::info!(
            run_id = %outcome.run_id,
            entries = outcome.entries.len(),
            settlements = outcome.settlements.len(),
            "proposals posted"
        );
        Ok(outcome)
    });
    if let Some(snapshot_moved) = moved {
        return Err(PostError::SnapshotMoved(snapshot_moved));
    }
    let context = || {
        format!(
            "posting the proposals of plugin {} for {} {}",
            record.plugin_name, record.input.entity, record.input.period.name
        )
    };
    if let Some(refusal) = refused {
        return Err(PostError::Refused(anyhow::Error::new(refusal).context(context())));
    }
    outcome.map_err(|error| PostError::Refused(anyhow::Error::new(error).context(context())))
}

/// Why a step's output was not posted.
#[derive(Debug, thiserror::Error)]
pub enum PostError {
    /// An entity the step read posted after its snapshot, on an account and in a period it
    /// read: its figures are out of date, so it must run again. Nothing was posted.
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

/// The first entity whose postings since the step's snapshot change what the step read, if
/// any: an entry on an account it read, in a period it read. That is the rule that makes a
/// finished task stale (`close::stale::late_reads`), so a step is refused exactly when posting
/// it would leave a task stale at once; postings it did not read (a February journal while a
/// January step ran) leave its figures as they were, and its output is posted. A read not known
/// query by query (no periods recorded, or no record of the entity at all) counts every
/// posting, as before reads were recorded.
fn snapshot_moved(db: &Db<'_>, record: &StepRecord) -> Result<Option<SnapshotMoved>, LedgerError> {
    for (entity, sequence) in &record.sequences {
        let now = db.ledger_head(entity)?.0;
        if now == *sequence {
            continue;
        }
        let changed = match record.reads.get(entity) {
            Some(read) if read.periods.is_some() => {
                let periods = read.periods.as_ref().expect("matched as some");
                !read.is_empty()
                    && db
                        .entries_after_in_periods(entity, *sequence, periods.iter().map(PeriodName::as_str))?
                        .iter()
                        .any(|entry| entry.accounts.iter().any(|account| read.covers_account(account)))
            }
            _ => true,
        };
        if changed {
            return Ok(Some(SnapshotMoved {
                entity: entity.clone(),
                from: *sequence,
                to: now,
            }));
        }
        tracing::debug!(
            entity = %entity,
            from = sequence,
            to = now,
            "the ledger moved since the snapshot, outside what the step read"
        );
    }
    Ok(None)
}
