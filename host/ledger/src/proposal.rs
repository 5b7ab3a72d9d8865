//! Proposals: journal entries and settlements that a close step proposes, and the ledger
//! operation that checks and posts them ([`post_proposals`]).
//!
//! A proposal comes from untrusted code, so it arrives as text (decimals and dates unparsed) and
//! is held to every rule an imported journal is: accounts, dimensions, decimals, balance, period
//! status and module access for the acting user. On top of those, a batch is held to its scope:
//! the entities the step may post into and the fiscal year it runs for, for each entry and for
//! the reversal it asks for alike. Posting writes the entries, their reversals, the
//! settlements, the run record and its audit event, or returns the refusals and writes nothing
//! (the caller's transaction is rolled back).
//!
//! These are the ledger's own types: the plugin runtime converts whatever its interface version
//! carries into them, and they are what a proposal awaiting review is stored as.

use crate::LedgerError;
use crate::access::Actor;
use crate::calendar::parse_fiscal_year_name;
use crate::dimension::DimensionValues;
use crate::ids::{AccountNumber, CurrencyCode, EntityId, EntryKey, PeriodName, UserId};
use crate::journal::{
    CounterEntry, EntryRefusal, NewEntry, NewLine, PostingOptions, PostingRules, Provenance, Refusal, ValidEntry,
};
use crate::ledger::posting_rules;
use crate::money::parse_decimal;
use crate::period::Module;
use crate::settlement::{KnownLines, SettlementBatch};
use crate::store::{Db, PostingBatch, StepRunRecord};
use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};
use std::str::FromStr;
use std::sync::Mutex;

/// One financial dimension value on a line, e.g. department = 100.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Dimension {
    pub name: String,
    pub value: String,
}

impl Dimension {
    /// `name=value`, as the command line and the reconciliation scopes take a dimension value.
    pub fn pair(&self) -> String {
        format!("{}={}", self.name, self.value)
    }
}

/// A proposed line. Amounts are decimal text, parsed strictly when the entry is checked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProposedLine {
    pub account: String,
    pub dimensions: Vec<Dimension>,
    /// The transaction currency; the entity's accounting currency when none.
    pub currency: Option<String>,
    pub amount: String,
    /// The accounting-currency amount; converted at the entity's default rate when none.
    pub accounting_amount: Option<String>,
    /// The line's description; the entry's when none.
    pub description: Option<String>,
}

/// A proposed journal entry. Dates are `YYYY-MM-DD` text, parsed strictly when it is checked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProposedEntry {
    pub entity: String,
    /// The period to post in; the operating period of `date` when none.
    pub period: Option<String>,
    pub date: String,
    pub description: String,
    pub lines: Vec<ProposedLine>,
    /// When given, the reversing entry is posted too, on this date.
    pub reversal_date: Option<String>,
}

/// A proposed settlement of posted lines of one entity.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProposedSettlement {
    pub entity: String,
    pub line_ids: Vec<u64>,
}

/// A proposed reconciling item (interface 0.2 and later): an amount that explains part of the
/// difference between an account's GL balance and its independent balance in a period
/// (`reconcile`). Amount and date are text, parsed strictly when it is checked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProposedReconcilingItem {
    pub entity: String,
    pub account: String,
    pub dimensions: Vec<Dimension>,
    /// The period it is opened in.
    pub period: String,
    pub amount: String,
    pub explanation: String,
    pub expected_clear: String,
    pub reference: String,
}

/// A proposed clearing (interface 0.2 and later) of open reconciling item `item_id` in `period`:
/// it matched a line of that period's statement.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProposedClearing {
    pub entity: String,
    pub item_id: u64,
    pub period: String,
    pub note: String,
}

/// An entity a step may read, and whether it may post proposals there.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EntityAccess {
    pub entity: String,
    pub post: bool,
}

/// What a batch of proposals may do: where it may post and in which fiscal year.
#[derive(Debug, Clone, Copy)]
pub struct ProposalScope<'a> {
    /// Every entity the step may read; only those with `post` take its entries and settlements.
    pub entities: &'a [EntityAccess],
    /// The period the step runs for, e.g. `2026-01`, named in refusals.
    pub period: &'a str,
    /// The fiscal year of that period, e.g. `FY2026`: the year every entry must post in.
    pub fiscal_year: &'a str,
    /// Lines with amount 0 and an accounting amount on revalued accounts (revaluation steps).
    pub allow_revaluation_lines: bool,
    /// Entries in the next fiscal year's opening period (year-end steps).
    pub allow_next_year_opening: bool,
}

/// A proposed entry that passed every posting rule, with its automatic reversal.
pub struct ValidProposal {
    pub entity: EntityId,
    pub entry: ValidEntry,
    pub reversal: Option<ValidEntry>,
}

/// Proposals to post in one transaction, with the run that proposed them.
pub struct ProposalBatch<'a> {
    pub scope: ProposalScope<'a>,
    pub entries: &'a [ProposedEntry],
    pub settlements: &'a [ProposedSettlement],
    pub reconciling_items: &'a [ProposedReconcilingItem],
    pub cleared_items: &'a [ProposedClearing],
    /// The lines the step's reader served: their settlements are checked without reading them
    /// again.
    pub known_lines: &'a Mutex<KnownLines>,
    /// The run to record. Its `run_id` is the one asked for (made unique when taken) and
    /// `post_proposals` fills in `run_by`, `finished_at`, `sequence_after` and the counts.
    pub run: StepRunRecord,
}

/// What posting a batch wrote.
#[derive(Debug, Clone, Serialize)]
pub struct Posted {
    /// The id the run was recorded under.
    pub run_id: String,
    /// Every entry written (reversals included): its entity, key and ledger sequence.
    pub entries: Vec<(EntityId, EntryKey, i64)>,
    /// The ids of the settlements written.
    pub settlements: Vec<i64>,
    /// The ids of the reconciling items written (an item the step proposed again, already
    /// open as proposed, is not written twice).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub reconciling_items: Vec<i64>,
    /// The ids of the reconciling items cleared.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub cleared_items: Vec<i64>,
}

/// Why a batch of proposals was not posted. Nothing was written.
#[derive(Debug, thiserror::Error)]
pub enum ProposalRefusal {
    /// Entries (or the reversals they ask for) break a posting rule or the batch's scope; the
    /// message lists them as an imported journal's refusals are listed.
    #[error("{}", LedgerError::Refused(.0.clone()))]
    Entries(Vec<EntryRefusal>),
    #[error("entry key {key} is already used in entity {entity}; run the step again")]
    KeyUsed { entity: EntityId, key: EntryKey },
    #[error("the step may not settle lines of entity {entity}")]
    SettlementNotAllowed { entity: EntityId },
    #[error("settlement of lines {line_ids:?} refused: {reason}")]
    Settlement { line_ids: Vec<u64>, reason: LedgerError },
    #[error("clearing {index} (reconciling item {item}) refused: {reason}")]
    Clearing {
        index: usize,
        item: u64,
        reason: LedgerError,
    },
    #[error("reconciling item {index} (account {account} of {entity}) refused: {reason}")]
    ReconcilingItem {
        index: usize,
        entity: String,
        account: String,
        reason: LedgerError,
    },
    /// The ledger failed or refused while checking or writing.
    #[error(transparent)]
    Ledger(#[from] LedgerError),
}

/// Checks and posts a batch of proposals in the transaction of `db`, as `user`: every entry and
/// its reversal, then the settlements, then the run record and its audit event. On a refusal
/// the caller must roll the transaction back (returning an error from `Store::write` does).
pub fn post_proposals(db: &Db<'_>, actor: &Actor, batch: ProposalBatch<'_>) -> Result<Posted, ProposalRefusal> {
    let user = &actor.user;
    let ProposalBatch {
        scope,
        entries,
        settlements,
        reconciling_items,
        cleared_items,
        known_lines,
        mut run,
    } = batch;
    let run_id = db.unused_run_id(&run.run_id)?;
    let _posting = tracing::info_span!(
        "ledger.post_proposals",
        run_id = %run_id,
        entries = entries.len(),
        settlements = settlements.len(),
    )
    .entered();
    let provenance = Provenance {
        source: "plugin".to_owned(),
        run_id: Some(run_id.clone()),
        task: run.task.clone(),
        plugin_name: Some(run.plugin_name.clone()),
        plugin_version: Some(run.plugin_version.clone()),
        plugin_sha256: Some(run.plugin_sha256.clone()),
    };
    let proposals = validate_proposals(db, &scope, entries, user, &run_id).map_err(|error| {
        tracing::info!(error = %error, "proposals refused; nothing is posted");
        match error {
            LedgerError::Refused(refusals) => ProposalRefusal::Entries(refusals),
            other => ProposalRefusal::Ledger(other),
        }
    })?;
    let posted = post_entries(db, user, &provenance, proposals)?;
    let mut known_lines = known_lines.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    let settled = post_settlements(db, &scope, settlements, &mut known_lines, user, &run_id)?;
    let (items, cleared) = post_reconciliation_proposals(db, &scope, reconciling_items, cleared_items, actor, &run_id)?;
    run.run_id = run_id;
    run.run_by = user.clone();
    run.finished_at = crate::now_text();
    run.sequence_after = db.ledger_head(&run.entity)?.0;
    run.entries_posted = posted.len() as i64;
    run.settlements_posted = settled.len() as i64;
    record_run(db, actor, &run, (items.len(), cleared.len()))?;
    Ok(Posted {
        run_id: run.run_id,
        entries: posted,
        settlements: settled,
        reconciling_items: items,
        cleared_items: cleared,
    })
}

/// Checks every proposed entry against the ledger as it is in `db`, with the rules of posting
/// (accounts, dimensions, decimals, balance, period status and module access for `user`) and
/// the batch's scope (the entities it may post to, the fiscal year it runs for), applied to each
/// entry and to its reversal alike. Entry keys are `{run_id}/{n}`. Writes nothing: a proposal is
/// checked before it waits for review or is shown in a dry run, and again when it posts.
pub fn validate_proposals(
    db: &Db<'_>,
    scope: &ProposalScope<'_>,
    entries: &[ProposedEntry],
    user: &UserId,
    run_id: &str,
) -> Result<Vec<ValidProposal>, LedgerError> {
    let may_post: HashMap<&str, bool> = scope
        .entities
        .iter()
        .map(|access| (access.entity.as_str(), access.post))
        .collect();
    let run_year =
        parse_fiscal_year_name(scope.fiscal_year).map_err(|error| LedgerError::Invalid(error.to_string()))?;
    let next_opening = format!("FY{}-opening", run_year + 1);
    let mut rules: BTreeMap<EntityId, PostingRules> = BTreeMap::new();
    let mut valid_proposals = Vec::new();
    let mut refusals = Vec::new();
    for (index, proposal) in entries.iter().enumerate() {
        let entity = EntityId::new(proposal.entity.clone());
        let entry = match new_entry(run_id, index, proposal) {
            Ok(entry) => entry,
            Err(refusal) => {
                refusals.push(refusal);
                continue;
            }
        };
        if may_post.get(entity.as_str()) != Some(&true) {
            let message = format!("the step may not post into entity {entity}");
            refusals.push(refusal_of(&entry.key, false, Refusal::Malformed { message }));
            continue;
        }
        if !rules.contains_key(&entity) {
            let options = PostingOptions {
                allow_revaluation_lines: scope.allow_revaluation_lines,
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
        if let Err(reason) = in_scope(scope, &next_opening, &valid) {
            refusals.push(refusal_of(&valid.key, false, reason));
            continue;
        }
        let reversal = match &proposal.reversal_date {
            None => None,
            Some(text) => match checked_reversal(scope, &next_opening, entity_rules, &valid, text) {
                Ok(reversal) => Some(reversal),
                Err(reason) => {
                    refusals.push(refusal_of(&valid.key, true, reason));
                    continue;
                }
            },
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

/// A step proposes into the fiscal year it runs for; only a year-end step may also propose into
/// the next year's opening period (`next_opening`), where year-end close carries balances.
fn in_scope(scope: &ProposalScope<'_>, next_opening: &str, valid: &ValidEntry) -> Result<(), Refusal> {
    if valid.fiscal_year.as_str() == scope.fiscal_year {
        return Ok(());
    }
    if valid.period.as_str() == next_opening {
        if scope.allow_next_year_opening {
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
            scope.fiscal_year, scope.period, valid.period
        ),
    })
}

/// The reversal a proposal asks for on the date `text`, held to the same rules and scope.
fn checked_reversal(
    scope: &ProposalScope<'_>,
    next_opening: &str,
    rules: &PostingRules,
    valid: &ValidEntry,
    text: &str,
) -> Result<ValidEntry, Refusal> {
    let date = NaiveDate::from_str(text).map_err(|_| Refusal::Malformed {
        message: format!("reversal date `{text}` is not a date (YYYY-MM-DD)"),
    })?;
    let reversal = reversal_of(rules, valid, date)?;
    in_scope(scope, next_opening, &reversal)?;
    Ok(reversal)
}

/// Converts one proposed entry into a journal entry keyed `{run_id}/{index + 1}`, parsing its
/// decimals and dates strictly.
fn new_entry(run_id: &str, index: usize, proposal: &ProposedEntry) -> Result<NewEntry, EntryRefusal> {
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
        let line = new_line(line, &proposal.description)
            .map_err(|message| malformed(format!("line {}: {message}", line_index + 1)))?;
        lines.push(line);
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

/// Converts one proposed line; a line without a description takes its entry's.
fn new_line(line: &ProposedLine, entry_description: &str) -> Result<NewLine, String> {
    let decimal = |text: &str| parse_decimal(text).map_err(|error| error.to_string());
    let amount = decimal(&line.amount)?;
    let accounting_amount = line.accounting_amount.as_deref().map(decimal).transpose()?;
    let mut dimensions = DimensionValues::new();
    for dimension in &line.dimensions {
        if dimensions
            .insert(dimension.name.clone(), dimension.value.clone())
            .is_some()
        {
            return Err(format!("dimension {} is given twice", dimension.name));
        }
    }
    Ok(NewLine {
        account: AccountNumber::new(line.account.clone()),
        dimensions,
        currency: line.currency.clone().map(CurrencyCode),
        amount,
        accounting_amount,
        description: line.description.clone().unwrap_or_else(|| entry_description.to_owned()),
        source_line: None,
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

/// Writes validated entries (each with its reversal, linked to it), one posting batch per entity.
fn post_entries(
    db: &Db<'_>,
    user: &UserId,
    provenance: &Provenance,
    proposals: Vec<ValidProposal>,
) -> Result<Vec<(EntityId, EntryKey, i64)>, ProposalRefusal> {
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
                return Err(ProposalRefusal::KeyUsed {
                    entity,
                    key: key.clone(),
                });
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

/// Checks and writes the proposed settlements, as one batch.
fn post_settlements(
    db: &Db<'_>,
    scope: &ProposalScope<'_>,
    proposals: &[ProposedSettlement],
    known_lines: &mut KnownLines,
    user: &UserId,
    run_id: &str,
) -> Result<Vec<i64>, ProposalRefusal> {
    let may_post = |entity: &EntityId| {
        scope
            .entities
            .iter()
            .any(|access| access.entity == entity.as_str() && access.post)
    };
    let line_id = |id: &u64| i64::try_from(*id).unwrap_or(i64::MAX);
    let mut settlements = Vec::new();
    let mut settlement_batch = SettlementBatch::new(known_lines);
    settlement_batch.reserve(db, proposals.len())?;
    settlement_batch.read_lines(
        db,
        proposals
            .iter()
            .flat_map(|proposal| proposal.line_ids.iter().map(line_id)),
    )?;
    for proposal in proposals {
        let entity = EntityId::new(proposal.entity.clone());
        if !may_post(&entity) {
            return Err(ProposalRefusal::SettlementNotAllowed { entity });
        }
        let line_ids: Vec<i64> = proposal.line_ids.iter().map(line_id).collect();
        let settlement = settlement_batch
            .settle(db, &entity, &line_ids, user, Some(run_id))
            .map_err(|reason| ProposalRefusal::Settlement {
                line_ids: proposal.line_ids.clone(),
                reason,
            })?;
        settlements.push(settlement);
    }
    settlement_batch.finish(db)?;
    Ok(settlements)
}

/// Checks the proposed reconciling items and clearings without writing: each into an entity
/// the step may post to, in the period the step runs for, held to the rules of `closebook
/// reconcile item add` and `item clear`. Returns the checked items.
pub fn check_reconciliation_proposals(
    db: &Db<'_>,
    checks: &mut crate::reconcile::ProposalChecks,
    scope: &ProposalScope<'_>,
    items: &[ProposedReconcilingItem],
    clearings: &[ProposedClearing],
) -> Result<Vec<crate::reconcile::CheckedItem>, ProposalRefusal> {
    let in_run_period = |period: &str| -> Result<(), LedgerError> {
        if period == scope.period {
            return Ok(());
        }
        Err(LedgerError::Invalid(format!(
            "a step running for {} proposes reconciling items and clearings for {} only, not {period}",
            scope.period, scope.period
        )))
    };
    for (index, proposal) in clearings.iter().enumerate() {
        let refused = |reason: LedgerError| ProposalRefusal::Clearing {
            index,
            item: proposal.item_id,
            reason,
        };
        require_post(scope, &proposal.entity).map_err(refused)?;
        in_run_period(&proposal.period).map_err(refused)?;
        let item = i64::try_from(proposal.item_id).unwrap_or(i64::MAX);
        checks
            .clearing(
                db,
                &EntityId::new(proposal.entity.clone()),
                item,
                &PeriodName::new(proposal.period.clone()),
            )
            .map_err(refused)?;
    }
    let mut checked = Vec::with_capacity(items.len());
    for (index, proposal) in items.iter().enumerate() {
        let refused = |reason: LedgerError| ProposalRefusal::ReconcilingItem {
            index,
            entity: proposal.entity.clone(),
            account: proposal.account.clone(),
            reason,
        };
        require_post(scope, &proposal.entity).map_err(refused)?;
        in_run_period(&proposal.period).map_err(refused)?;
        checked.push(checks.item(db, proposal).map_err(refused)?);
    }
    Ok(checked)
}

/// Refused unless the batch may post into `entity`.
fn require_post(scope: &ProposalScope<'_>, entity: &str) -> Result<(), LedgerError> {
    if scope
        .entities
        .iter()
        .any(|access| access.entity == entity && access.post)
    {
        return Ok(());
    }
    Err(LedgerError::Invalid(format!(
        "the step may not post to entity {entity}"
    )))
}

/// Checks and writes the proposed clearings, then the proposed reconciling items (an item the
/// statement shows cleared is no longer open when the new ones are compared with the open ones).
fn post_reconciliation_proposals(
    db: &Db<'_>,
    scope: &ProposalScope<'_>,
    items: &[ProposedReconcilingItem],
    clearings: &[ProposedClearing],
    actor: &Actor,
    run_id: &str,
) -> Result<(Vec<i64>, Vec<i64>), ProposalRefusal> {
    let mut checks = crate::reconcile::ProposalChecks::default();
    let checked = check_reconciliation_proposals(db, &mut checks, scope, items, clearings)?;
    let mut cleared = Vec::with_capacity(clearings.len());
    let mut changed = std::collections::BTreeSet::new();
    for (index, proposal) in clearings.iter().enumerate() {
        let item = i64::try_from(proposal.item_id).unwrap_or(i64::MAX);
        let cleared_in = checks
            .clear(
                db,
                &EntityId::new(proposal.entity.clone()),
                item,
                &PeriodName::new(proposal.period.clone()),
                &proposal.note,
                actor,
                run_id,
            )
            .map_err(|reason| ProposalRefusal::Clearing {
                index,
                item: proposal.item_id,
                reason,
            })?;
        changed.insert(cleared_in);
        cleared.push(item);
    }
    let (recorded, items_changed) = crate::reconcile::record_proposed_items(db, checked, actor, run_id)?;
    changed.extend(items_changed);
    crate::reconcile::record_withdrawals(db, &changed, actor)?;
    Ok((recorded, cleared))
}

/// Records the run (`step_runs`) and its audit event.
/// A run that recorded or cleared reconciling items says how many; one that did not reads as
/// before they existed.
fn record_run(
    db: &Db<'_>,
    actor: &Actor,
    run: &StepRunRecord,
    (recorded, cleared): (usize, usize),
) -> Result<(), LedgerError> {
    db.insert_step_run(run)?;
    let mut details = serde_json::json!({
        "run_id": run.run_id,
        "plugin": run.plugin_name,
        "version": run.plugin_version,
        "sha256": run.plugin_sha256,
        "entries": run.entries_posted,
        "settlements": run.settlements_posted,
    });
    if recorded + cleared > 0 {
        details["reconciling_items"] = recorded.into();
        details["cleared_items"] = cleared.into();
    }
    db.append_audit(actor, "plugin.post", Some(&run.entity), &details)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ledger::Ledger;
    use crate::setup::SetupFile;
    use crate::store::Store;

    const DEMO_SETUP: &str = include_str!("../../../examples/demo/setup.toml");

    fn demo_ledger() -> Ledger {
        let mut ledger = Ledger::from_store(Store::open_in_memory().unwrap(), UserId::new("test"));
        ledger
            .apply_setup(&SetupFile::parse(DEMO_SETUP, "setup.toml").unwrap(), "setup.toml")
            .unwrap();
        ledger
    }

    fn line(account: &str, amount: &str) -> ProposedLine {
        ProposedLine {
            account: account.to_owned(),
            dimensions: Vec::new(),
            currency: None,
            amount: amount.to_owned(),
            accounting_amount: None,
            description: None,
        }
    }

    fn fee(entity: &str, date: &str, reversal_date: Option<&str>) -> ProposedEntry {
        ProposedEntry {
            entity: entity.to_owned(),
            period: None,
            date: date.to_owned(),
            description: "Management fee".to_owned(),
            lines: vec![line("6900", "250.00"), line("2100", "-250.00")],
            reversal_date: reversal_date.map(str::to_owned),
        }
    }

    fn access() -> Vec<EntityAccess> {
        let access = |entity: &str, post| EntityAccess {
            entity: entity.to_owned(),
            post,
        };
        vec![access("ACME-US", true), access("ACME-DE", false)]
    }

    fn run() -> StepRunRecord {
        StepRunRecord {
            run_id: "fee-ACME-US-2026-01".to_owned(),
            entity: EntityId::new("ACME-US"),
            period: PeriodName::new("2026-01"),
            task: Some("fee".to_owned()),
            plugin_name: "fee".to_owned(),
            plugin_version: "0.1.0".to_owned(),
            plugin_sha256: "00".to_owned(),
            config: "{}".to_owned(),
            run_by: UserId::default(),
            started_at: crate::now_text(),
            finished_at: String::new(),
            sequence_before: 0,
            sequence_after: 0,
            entries_posted: 0,
            settlements_posted: 0,
            fuel_consumed: 0,
            duration_ms: 0,
            log: "{}".to_owned(),
        }
    }

    /// Posts in one transaction, rolled back on a refusal, as the host does.
    fn post(
        ledger: &mut Ledger,
        entries: &[ProposedEntry],
        settlements: &[ProposedSettlement],
    ) -> Result<Posted, ProposalRefusal> {
        post_with_items(ledger, entries, settlements, &[])
    }

    fn post_with_items(
        ledger: &mut Ledger,
        entries: &[ProposedEntry],
        settlements: &[ProposedSettlement],
        reconciling_items: &[ProposedReconcilingItem],
    ) -> Result<Posted, ProposalRefusal> {
        let entities = access();
        let known_lines = Mutex::new(KnownLines::default());
        let batch = ProposalBatch {
            scope: ProposalScope {
                entities: &entities,
                period: "2026-01",
                fiscal_year: "FY2026",
                allow_revaluation_lines: false,
                allow_next_year_opening: false,
            },
            entries,
            settlements,
            reconciling_items,
            cleared_items: &[],
            known_lines: &known_lines,
            run: run(),
        };
        let user = UserId::new("test");
        let mut refused = None;
        let posted = ledger.store().write(|db| {
            post_proposals(db, &user.clone().into(), batch).map_err(|refusal| {
                let message = refusal.to_string();
                refused = Some(refusal);
                LedgerError::Invalid(message)
            })
        });
        match refused {
            Some(refusal) => Err(refusal),
            None => Ok(posted.unwrap()),
        }
    }

    fn head(ledger: &mut Ledger) -> i64 {
        ledger
            .store()
            .read(|db| db.ledger_head(&EntityId::new("ACME-US")))
            .unwrap()
            .0
    }

    // Proves an entry and the reversal it asks for post under the run's keys, with the run.
    #[test]
    fn entry_and_its_reversal_post_with_the_run() {
        let mut ledger = demo_ledger();
        let posted = post(&mut ledger, &[fee("ACME-US", "2026-01-31", Some("2026-02-01"))], &[]).unwrap();
        assert_eq!(posted.run_id, "fee-ACME-US-2026-01");
        let keys: Vec<&str> = posted.entries.iter().map(|(_, key, _)| key.as_str()).collect();
        assert_eq!(keys, ["fee-ACME-US-2026-01/1", "fee-ACME-US-2026-01/1/reversal"]);
        assert_eq!(head(&mut ledger), 2);
        // The run id is taken now, so the same run posting again gets another one.
        let again = post(&mut ledger, &[fee("ACME-US", "2026-01-31", None)], &[]).unwrap();
        assert_ne!(again.run_id, posted.run_id);
    }

    // Proves entries outside the batch's scope are refused with their reasons, writing nothing.
    #[test]
    fn entries_outside_the_scope_are_refused_and_nothing_is_written() {
        let mut ledger = demo_ledger();
        let entries = [
            fee("ACME-US", "2026-01-31", None),
            fee("ACME-DE", "2026-01-31", None),
            fee("ACME-US", "2027-01-31", None),
            fee("ACME-US", "2026-01-31", Some("2026-01-01")),
        ];
        let refusal = post(&mut ledger, &entries, &[]).unwrap_err();
        assert!(matches!(refusal, ProposalRefusal::Entries(ref refusals) if refusals.len() == 3));
        let message = refusal.to_string();
        assert!(
            message.contains("the step may not post into entity ACME-DE"),
            "{message}"
        );
        assert!(
            message.contains("the step runs for FY2026 2026-01 but proposes an entry in period 2027-01; a step posts in its own fiscal year"),
            "{message}"
        );
        assert!(
            message.contains("its reversal: reversal date 2026-01-01 is not after the entry date 2026-01-31"),
            "{message}"
        );
        assert_eq!(head(&mut ledger), 0);
    }

    // Proves a settlement in an entity the step may only read is refused, and the entries
    // posted before it in the same batch are rolled back with it.
    #[test]
    fn settlement_outside_the_scope_is_refused() {
        let mut ledger = demo_ledger();
        let settlement = ProposedSettlement {
            entity: "ACME-DE".to_owned(),
            line_ids: vec![1, 2],
        };
        let refusal = post(&mut ledger, &[fee("ACME-US", "2026-01-31", None)], &[settlement]).unwrap_err();
        assert_eq!(refusal.to_string(), "the step may not settle lines of entity ACME-DE");
        assert_eq!(head(&mut ledger), 0);
    }

    // Proves a step's reconciling item for another period than the one it runs for is refused
    // with the batch's entries, and one for its own period is recorded with the run.
    #[test]
    fn a_reconciling_item_is_of_the_period_the_step_runs_for() {
        let mut ledger = demo_ledger();
        let item = |period: &str| ProposedReconcilingItem {
            entity: "ACME-US".to_owned(),
            account: "1000".to_owned(),
            dimensions: Vec::new(),
            period: period.to_owned(),
            amount: "-4500.00".to_owned(),
            explanation: "rent cheque".to_owned(),
            expected_clear: "2026-02-05".to_owned(),
            reference: "1187".to_owned(),
        };
        let fee = [fee("ACME-US", "2026-01-31", None)];
        let refused = post_with_items(&mut ledger, &fee, &[], &[item("2026-02")]).unwrap_err();
        assert_eq!(
            refused.to_string(),
            "reconciling item 0 (account 1000 of ACME-US) refused: a step running for 2026-01 proposes reconciling items and clearings for 2026-01 only, not 2026-02"
        );
        assert_eq!(ledger.read(|db| db.entry_count(None)).unwrap(), 0);
        let posted = post_with_items(&mut ledger, &fee, &[], &[item("2026-01"), item("2026-01")]).unwrap();
        assert_eq!(
            posted.reconciling_items.len(),
            1,
            "the same item twice is recorded once"
        );
    }
}
