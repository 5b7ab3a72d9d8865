//! Staleness: a completed task whose figures a later posting changed is undone, with the tasks
//! after it, so a close shows 100 % only when nothing it relied on changed.
//!
//! Two records say what a task relied on. A plugin or built-in step records what it read when it
//! ran (its [`TaskReads`]: entities, ledger positions, accounts and periods); a later entry on one
//! of those accounts, in one of those periods, not posted by the task itself or a task after it,
//! makes it stale, and the next `close run` computes it again. A sign-off records the ledger
//! positions it approved; a later entry in its scope withdraws it.

use super::CloseContext;
use super::config::Task;
use super::config::{Builtin, TaskKind};
use closebook_ledger::LedgerError;
use closebook_ledger::close_task::{EntityRead, TaskStatus};
use closebook_ledger::ids::{EntityId, PeriodName};
use closebook_ledger::period::PeriodStatus;
use closebook_ledger::store::{CloseTaskRecord, Db};
use serde_json::json;
use std::collections::{BTreeMap, BTreeSet};

/// The names of the periods a sign-off in the close period covers for `entity`: that period and
/// the earlier periods of its fiscal year. None when the entity's calendar has no such period.
pub(super) fn periods_in_scope(
    db: &Db<'_>,
    context: &CloseContext<'_>,
    entity: &EntityId,
) -> Result<Option<BTreeSet<String>>, LedgerError> {
    let periods = context.periods_of(db, entity)?;
    let Some(target) = periods.find(&context.period) else {
        return Ok(None);
    };
    Ok(Some(
        periods
            .periods
            .iter()
            .filter(|candidate| candidate.fiscal_year == target.fiscal_year && candidate.ordinal <= target.ordinal)
            .map(|candidate| candidate.name.to_string())
            .collect(),
    ))
}

/// Entry keys by entity: journals posted to the entities a sign-off covers after the ledger
/// positions it compares with.
pub(super) type LateEntries = BTreeMap<EntityId, Vec<String>>;

/// The ledger sequence at which a sign-off of `task` approves each other entity it covers (see
/// [`config::CloseConfig::entities_read_for_signoff`]): the earliest at which the task or a
/// task before it read that entity when it ran, since the figures the reviewer sees were
/// computed from it as it was then. A consolidation that read ACME-DE at sequence 40 feeds the
/// elimination signed off later: a journal ACME-DE got at 41 is not in what was reviewed. The
/// ledger as it is now stands in for a reader with no recorded run (a run from before
/// migration 6, or a manual task: its preparer works on the ledger as it is).
pub(super) fn reviewed_sequences(
    db: &Db<'_>,
    context: &CloseContext<'_>,
    entity: &EntityId,
    task: &str,
) -> Result<BTreeMap<EntityId, i64>, LedgerError> {
    let mut reviewed = BTreeMap::new();
    for (other, readers) in context.config.entities_read_for_signoff(task, entity) {
        let mut earliest: Option<i64> = None;
        for reader in &readers {
            let Some(state) = db.close_task(&context.config.name, entity, &context.period, reader)? else {
                continue;
            };
            if let Some(sequence) = state.run_sequences.get(&other) {
                earliest = Some(earliest.map_or(*sequence, |found| found.min(*sequence)));
            }
        }
        let sequence = match earliest {
            Some(sequence) => sequence,
            None => db.ledger_head(&other)?.0,
        };
        reviewed.insert(other, sequence);
    }
    Ok(reviewed)
}

/// The entries posted, after the sequences a sign-off of `task` holds, in the other entities it
/// covers, by entity (entities without any left out). Entries of the tasks that read the entity
/// (a step with `:post` access writes into it), of `task` itself and of the tasks after it are
/// part of the close, not changes to what was reviewed.
pub(super) fn late_entries_elsewhere(
    db: &Db<'_>,
    context: &CloseContext<'_>,
    entity: &EntityId,
    task: &str,
    sequences: &BTreeMap<EntityId, i64>,
) -> Result<LateEntries, LedgerError> {
    let readers = context.config.entities_read_for_signoff(task, entity);
    let mut late_elsewhere = BTreeMap::new();
    for (other, sequence) in sequences {
        let Some(scope) = periods_in_scope(db, context, other)? else {
            continue;
        };
        let mut part_of_close = context.config.downstream_of(task);
        part_of_close.insert(task.to_owned());
        part_of_close.extend(readers.get(other).into_iter().flatten().cloned());
        let late = late_entries(db, context, other, *sequence, &scope, &part_of_close)?;
        if !late.is_empty() {
            late_elsewhere.insert(other.clone(), late);
        }
    }
    Ok(late_elsewhere)
}

/// What a sign-off of `task` would approve, checked against what the task computed: the
/// sequences of the other entities it covers (see [`reviewed_sequences`]) and the entries
/// posted since in its scope, by entity. A step awaiting review is checked against what it read
/// (see [`late_reads`]) by its review; a manual task's preparer works on its own entity as it
/// is, and a later change there makes the preparer's sign-off stale.
pub(super) fn changes_since_run(
    db: &Db<'_>,
    context: &CloseContext<'_>,
    record: &CloseTaskRecord,
) -> Result<(BTreeMap<EntityId, i64>, LateEntries), LedgerError> {
    let entity = &record.entity;
    let reviewed = reviewed_sequences(db, context, entity, &record.task)?;
    let changes = late_entries_elsewhere(db, context, entity, &record.task, &reviewed)?;
    Ok((reviewed, changes))
}

/// The changes that refuse a sign-off, as `ACME-DE: entries DE-LATE-1, DE-LATE-2`.
pub(super) fn describe_changes(changes: &LateEntries) -> String {
    changes
        .iter()
        .map(|(other, keys)| format!("{other}: entries {}", quoted_keys(keys)))
        .collect::<Vec<_>>()
        .join("; ")
}

/// How many entry keys a staleness message quotes; the rest are counted (the close history's
/// details keep them all). A late import of 50,000 entries must not make the board unreadable.
const LATE_KEYS_QUOTED_MAX: usize = 5;

/// `K1, K2, K3` or `K1, …, K5 and 49,995 more`.
fn quoted_keys(keys: &[String]) -> String {
    let quoted = keys[..keys.len().min(LATE_KEYS_QUOTED_MAX)].join(", ");
    match keys.len().checked_sub(LATE_KEYS_QUOTED_MAX) {
        Some(more) if more > 0 => format!("{quoted} and {more} more"),
        _ => quoted,
    }
}

/// Refuses a sign-off whose task computed from a ledger that has changed since: the task, and
/// the tasks before it that read a changed entity (with the complete tasks after those), are
/// recorded stale, so the board says why and the next `closebook close run` computes them
/// again. Returns the refusal.
///
/// Refused rather than recorded stale at once: a reviewer approves figures, and approving
/// figures known to leave out a posted journal is what a review exists to prevent; for a step
/// awaiting review the sign-off would also post a proposal computed without it. The accountant
/// expects to be told now, not to find a sign-off that was never valid.
pub(super) fn refuse_changed_signoff(
    db: &Db<'_>,
    context: &CloseContext<'_>,
    all_entities: &[EntityId],
    record: &CloseTaskRecord,
    changes: &LateEntries,
) -> Result<String, LedgerError> {
    let entity = &record.entity;
    let described = describe_changes(changes);
    let stale = CloseTaskRecord {
        status: TaskStatus::Stale,
        proposal: None,
        message: Some(format!(
            "stale: changed after the task ran, before its sign-off: {described}; run the close again, then sign off"
        )),
        ..record.clone()
    };
    let changes_json: BTreeMap<&str, &Vec<String>> =
        changes.iter().map(|(other, keys)| (other.as_str(), keys)).collect();
    tracing::info!(entity = %entity, task = %record.task, reason = stale.message.as_deref(), "task marked stale: its sign-off is refused");
    db.save_close_task(
        &stale,
        &context.actor,
        "signoff-refused",
        &json!({ "late_entries": changes_json }),
    )?;
    let readers = context.config.entities_read_for_signoff(&record.task, entity);
    let mut undone_tasks: BTreeSet<String> = BTreeSet::new();
    for (other, keys) in changes {
        for reader in readers.get(other).into_iter().flatten() {
            if reader == &record.task {
                continue;
            }
            let message = format!(
                "stale: {other}, which it reads, changed after it ran: entries {}; task {} was not signed off",
                quoted_keys(keys),
                record.task
            );
            let details = json!({ "because": record.task, "entity": other.as_str(), "late_entries": keys });
            if mark_stale_if_holding_figures(db, context, entity, reader, message, &details)? {
                undone_tasks.insert(reader.clone());
            }
        }
    }
    // Every task after them, in this entity and (through `*:`) in the others; the refused task
    // itself is stale already.
    for undone in &undone_tasks {
        mark_after_stale(db, context, all_entities, entity, undone, &described)?;
    }
    Ok(format!(
        "task {} of {entity} cannot be signed off: the ledger changed after the task ran, so the figures reviewed leave out {described}; run the close again (`closebook close run`), then sign off",
        record.task
    ))
}

/// Marks task `task_id` of `entity` stale with `message` when it holds figures (complete,
/// prepared, or a proposal awaiting review; a task not yet done has nothing to undo); returns
/// whether it did.
pub(super) fn mark_stale_if_holding_figures(
    db: &Db<'_>,
    context: &CloseContext<'_>,
    entity: &EntityId,
    task_id: &str,
    message: String,
    details: &serde_json::Value,
) -> Result<bool, LedgerError> {
    let Some(state) = db.close_task(&context.config.name, entity, &context.period, task_id)? else {
        return Ok(false);
    };
    // A step waiting for its preparer's sign-off (findings to explain) holds what it ran on;
    // a manual task waiting for one (no run) does not.
    if !state.status.holds_figures() && state.held_run().is_none() {
        return Ok(false);
    }
    let undone = CloseTaskRecord {
        status: TaskStatus::Stale,
        proposal: None,
        message: Some(message),
        ..state
    };
    tracing::info!(entity = %entity, task = task_id, reason = undone.message.as_deref(), "task marked stale");
    db.save_close_task(&undone, &context.actor, "stale", details)?;
    Ok(true)
}

/// The entries of `entity` posted after `sequence` in the periods a sign-off covers, leaving
/// out those posted by the tasks downstream of the signed-off one (they are part of the close).
pub(super) fn late_entries(
    db: &Db<'_>,
    context: &CloseContext<'_>,
    entity: &EntityId,
    sequence: i64,
    in_scope: &BTreeSet<String>,
    downstream: &BTreeSet<String>,
) -> Result<Vec<String>, LedgerError> {
    let filter = format!("any account; close {downstream:?}");
    Ok(context
        .late_checks()
        .late_entries(db, entity, sequence, in_scope, &filter, |entry| {
            !entry.task.as_ref().is_some_and(|task| downstream.contains(task))
        })?
        .into_iter()
        .map(|entry| entry.key.to_string())
        .collect())
}

/// A sign-off covers the ledger as it was: any later posting in its scope (the close period and
/// earlier periods of its year) that is not made by a task downstream of it makes it stale, and
/// undoes it and the tasks after it. Its scope is its own entity and the other entities its
/// step and the steps before it read (a consolidation's members): a late journal in a member
/// also undoes the steps that read that member, so the next run computes them again. A
/// reviewed step whose reads were recorded approved entries computed from those reads: it is
/// checked by what it read instead (see [`mark_stale_reads`]).
pub(super) fn mark_stale_signoffs(
    db: &Db<'_>,
    context: &CloseContext<'_>,
    entities: &[EntityId],
    records: &TaskRecords,
) -> Result<(), LedgerError> {
    for entity in entities {
        let Some(in_scope) = periods_in_scope(db, context, entity)? else {
            continue;
        };
        for task in &context.config.tasks {
            let Some(state) = records.get(&(entity.clone(), task.id.clone())) else {
                continue;
            };
            mark_signoff_stale_if_late(db, context, entities, (entity, task, state.clone()), &in_scope)?;
        }
    }
    Ok(())
}

/// The close's task records of the period, by entity and task, read once per staleness pass
/// (one query, where each check read its task's record again).
pub(super) type TaskRecords = BTreeMap<(EntityId, String), CloseTaskRecord>;

fn task_records(db: &Db<'_>, context: &CloseContext<'_>) -> Result<TaskRecords, LedgerError> {
    Ok(db
        .close_tasks(&context.config.name, &context.period)?
        .into_iter()
        .map(|record| ((record.entity.clone(), record.task.clone()), record))
        .collect())
}

/// Whether this pass changed the record of `seen`'s task since [`task_records`] read it. The
/// pass only marks tasks stale, and every check skips a stale task, so a check that found
/// something on a record read before it was marked does nothing.
fn changed_in_this_pass(db: &Db<'_>, context: &CloseContext<'_>, seen: &CloseTaskRecord) -> Result<bool, LedgerError> {
    Ok(db
        .close_task(&context.config.name, &seen.entity, &context.period, &seen.task)?
        .as_ref()
        != Some(seen))
}

/// Withdraws one task's sign-off in `entity` when entries were posted after it in the periods
/// it covers (`in_scope`), or in other entities it covers; then undoes the steps that read a
/// changed entity and every task after them.
fn mark_signoff_stale_if_late(
    db: &Db<'_>,
    context: &CloseContext<'_>,
    entities: &[EntityId],
    (entity, task, state): (&EntityId, &Task, CloseTaskRecord),
    in_scope: &BTreeSet<String>,
) -> Result<(), LedgerError> {
    let Some(sequence) = state.signoff_sequence else {
        return Ok(());
    };
    // A reviewed step approved entries computed from what it read: it goes stale
    // when that changes (`mark_stale_reads`), not at any posting in its entity.
    if matches!(task.kind, TaskKind::Plugin { .. }) && !state.run_reads.is_empty() {
        return Ok(());
    }
    if !state.status.is_complete() && state.status != TaskStatus::Prepared {
        return Ok(());
    }
    let downstream = context.config.downstream_of(&task.id);
    let late = late_entries(db, context, entity, sequence, in_scope, &downstream)?;
    // Other entities the sign-off covers, with their late entries.
    let late_elsewhere = late_entries_elsewhere(db, context, entity, &task.id, &state.signoff_sequences)?;
    if (late.is_empty() && late_elsewhere.is_empty()) || changed_in_this_pass(db, context, &state)? {
        return Ok(());
    }
    let mut changes = Vec::new();
    if !late.is_empty() {
        changes.push(format!("entries {} posted after the sign-off", quoted_keys(&late)));
    }
    for (other, keys) in &late_elsewhere {
        changes.push(format!(
            "{other}, which the sign-off covers, changed after it: entries {}",
            quoted_keys(keys)
        ));
    }
    let message = if late_elsewhere.is_empty() {
        format!("stale: {}; sign off again", changes.join("; "))
    } else {
        format!("stale: {}; run the close again and sign off again", changes.join("; "))
    };
    let stale = CloseTaskRecord {
        status: TaskStatus::Stale,
        message: Some(message),
        ..state
    };
    tracing::info!(entity = %entity, task = %task.id, reason = stale.message.as_deref(), "sign-off marked stale");
    let late_elsewhere_json: BTreeMap<String, &Vec<String>> = late_elsewhere
        .iter()
        .map(|(other, keys)| (other.to_string(), keys))
        .collect();
    db.save_close_task(
        &stale,
        &context.actor,
        "stale",
        &json!({ "late_entries": late, "late_entries_elsewhere": late_elsewhere_json }),
    )?;
    let undone_tasks = undo_readers_of_changed_entities(db, context, entity, &task.id, &late_elsewhere)?;
    // Every task after them, in this entity and (through `*:`) in the others.
    let cause = changes.join("; ");
    mark_after_stale(db, context, entities, entity, &task.id, &cause)?;
    for undone in &undone_tasks {
        mark_after_stale(db, context, entities, entity, undone, &cause)?;
    }
    Ok(())
}

/// The steps before a withdrawn sign-off that read a changed entity computed from the old
/// ledger: they are undone too, and run again (their entries cancelled) by the next run.
/// Returns their task ids.
fn undo_readers_of_changed_entities(
    db: &Db<'_>,
    context: &CloseContext<'_>,
    entity: &EntityId,
    signoff_task: &str,
    late_elsewhere: &LateEntries,
) -> Result<BTreeSet<String>, LedgerError> {
    let readers = context.config.entities_read_for_signoff(signoff_task, entity);
    let mut undone_tasks: BTreeSet<String> = BTreeSet::new();
    for (other, keys) in late_elsewhere {
        for reader in readers.get(other).into_iter().flatten() {
            if reader == signoff_task {
                continue;
            }
            let message = format!(
                "stale: {other}, which it reads, changed after task {signoff_task} was signed off: entries {}",
                quoted_keys(keys)
            );
            let details = json!({ "because": signoff_task, "entity": other.as_str(), "late_entries": keys });
            mark_stale_if_holding_figures(db, context, entity, reader, message, &details)?;
            undone_tasks.insert(reader.clone());
        }
    }
    Ok(undone_tasks)
}

/// Brings every task of the close's entities up to date with the ledger, in one transaction:
/// sign-offs a later posting withdrew, and steps whose inputs changed after they ran, are marked
/// stale with the tasks after them. `all_entities`: every entity of the close, which the caller
/// has read once (the close run calls this after every task).
pub(crate) fn mark_stale(context: &CloseContext<'_>, all_entities: &[EntityId]) -> anyhow::Result<()> {
    let _check = tracing::debug_span!("close.stale_check").entered();
    let mut ledger = context.ledger()?;
    // Usually nothing is stale: a board read then takes no write lock (see
    // `Store::write_when_needed`).
    ledger.store().write_when_needed(|db| {
        let records = task_records(db, context)?;
        mark_stale_signoffs(db, context, all_entities, &records)?;
        mark_stale_reads(db, context, all_entities, &records)
    })?;
    Ok(())
}

/// The entries posted after a task ran that change what it read, by entity: on an account it
/// read, in a period it read, and not posted by the task itself or a task after it (those are
/// the close's own work).
pub(super) fn late_reads(
    db: &Db<'_>,
    context: &CloseContext<'_>,
    record: &CloseTaskRecord,
) -> Result<LateEntries, LedgerError> {
    let mut part_of_close = context.config.downstream_of(&record.task);
    part_of_close.insert(record.task.clone());
    let mut changes = LateEntries::new();
    for (entity, read) in &record.run_reads {
        if read.is_empty() {
            continue;
        }
        let periods: BTreeSet<String> = periods_read(db, context, entity, read)?
            .into_iter()
            .map(|period| period.to_string())
            .collect();
        let filter = format!(
            "reads {:?} {:?}; close {part_of_close:?}",
            read.accounts, read.account_ranges
        );
        let late: Vec<String> = context
            .late_checks()
            .late_entries(db, entity, read.sequence, &periods, &filter, |entry| {
                !entry.task.as_ref().is_some_and(|task| part_of_close.contains(task))
                    && entry.accounts.iter().any(|account| read.covers_account(account))
            })?
            .into_iter()
            .map(|entry| entry.key.to_string())
            .collect();
        if !late.is_empty() {
            changes.insert(entity.clone(), late);
        }
    }
    Ok(changes)
}

/// The periods a read covers: those its queries named, or the close period and the earlier
/// periods of its fiscal year for a read recorded as a whole entity.
fn periods_read(
    db: &Db<'_>,
    context: &CloseContext<'_>,
    entity: &EntityId,
    read: &EntityRead,
) -> Result<BTreeSet<PeriodName>, LedgerError> {
    Ok(match &read.periods {
        Some(periods) => periods.clone(),
        None => periods_in_scope(db, context, entity)?
            .unwrap_or_default()
            .into_iter()
            .map(PeriodName::new)
            .collect(),
    })
}

/// How the period a `builtin:period-status` task set differs from the period now: reopened or
/// closed outside the close after the task ran. None when it is as the task left it.
fn period_status_changed(
    db: &Db<'_>,
    context: &CloseContext<'_>,
    task: &Task,
    record: &CloseTaskRecord,
) -> Result<Option<String>, LedgerError> {
    let TaskKind::Builtin(Builtin::PeriodStatus { status: wanted }) = &task.kind else {
        return Ok(None);
    };
    let wanted = *wanted;
    if record.status != TaskStatus::Done {
        return Ok(None);
    }
    let now = db
        .period_statuses(&record.entity)?
        .get(&context.period)
        .copied()
        .unwrap_or(PeriodStatus::Open);
    Ok((now != wanted).then(|| {
        format!(
            "stale: period {} of {} is {} again, not {} as this task left it; the next `closebook close run` sets it again",
            context.period,
            record.entity,
            now.as_str(),
            wanted.as_str()
        )
    }))
}

/// Marks stale every step whose inputs changed after it ran (see [`late_reads`]), and every
/// period-status task whose period was reopened or closed outside the close, with the tasks
/// after them. Returns how many tasks it marked.
pub(super) fn mark_stale_reads(
    db: &Db<'_>,
    context: &CloseContext<'_>,
    entities: &[EntityId],
    records: &TaskRecords,
) -> Result<usize, LedgerError> {
    let mut marked = 0;
    for entity in entities {
        for task in &context.config.tasks {
            let Some(state) = records.get(&(entity.clone(), task.id.clone())) else {
                continue;
            };
            // A step holds what it read while its proposal waits, once it posted, and while
            // its findings wait for their preparer and reviewer.
            let step_holds_a_run = matches!(task.kind, TaskKind::Plugin { .. }) && state.held_run().is_some();
            if !matches!(state.status, TaskStatus::Done | TaskStatus::AwaitingReview) && !step_holds_a_run {
                continue;
            }
            let (message, details, cause) = if let Some(message) = period_status_changed(db, context, task, state)? {
                let cause = format!("period {} of {entity} changed status", context.period);
                (message, json!({ "period_status_changed": true }), cause)
            } else {
                let late = late_reads(db, context, state)?;
                if late.is_empty() {
                    continue;
                }
                let message = format!(
                    "stale: {} posted after it ran changed what it read; the next `closebook close run` runs it again",
                    describe_changes(&late)
                );
                let late_json: BTreeMap<&str, &Vec<String>> =
                    late.iter().map(|(other, keys)| (other.as_str(), keys)).collect();
                (message, json!({ "late_entries": late_json }), describe_changes(&late))
            };
            if changed_in_this_pass(db, context, state)? {
                continue;
            }
            marked += usize::from(mark_stale_if_holding_figures(
                db, context, entity, &task.id, message, &details,
            )?);
            marked += mark_after_stale(db, context, entities, entity, &task.id, &cause)?;
        }
    }
    Ok(marked)
}

/// Marks stale the tasks after `task_id` that hold figures: in the same entity, and in every
/// entity of the close for those that wait on it (or on a task after it) in every entity
/// (`*:task`). Returns how many it marked.
pub(super) fn mark_after_stale(
    db: &Db<'_>,
    context: &CloseContext<'_>,
    all_entities: &[EntityId],
    entity: &EntityId,
    task_id: &str,
    cause: &str,
) -> Result<usize, LedgerError> {
    let (same_entity, every_entity) = tasks_after(context, task_id);
    let message = format!("stale: task {task_id} it depends on is stale ({cause})");
    let details = json!({ "because": task_id, "entity": entity.as_str(), "cause": cause });
    let mut marked = 0;
    for after in &same_entity {
        marked += usize::from(mark_stale_if_holding_figures(
            db,
            context,
            entity,
            after,
            message.clone(),
            &details,
        )?);
    }
    for after in &every_entity {
        for other in all_entities {
            marked += usize::from(mark_stale_if_holding_figures(
                db,
                context,
                other,
                after,
                message.clone(),
                &details,
            )?);
        }
    }
    Ok(marked)
}

/// The tasks after `task_id`: those reached through same-entity dependencies only, and those
/// reached through at least one every-entity (`*:`) dependency.
fn tasks_after(context: &CloseContext<'_>, task_id: &str) -> (BTreeSet<String>, BTreeSet<String>) {
    let mut same_entity = BTreeSet::new();
    let mut every_entity = BTreeSet::new();
    let mut frontier = vec![(task_id.to_owned(), false)];
    // Each task enters each set at most once, so the walk ends.
    while let Some((current, crossed)) = frontier.pop() {
        for candidate in &context.config.tasks {
            for dependency in candidate.after.iter().filter(|dependency| dependency.task == current) {
                let crosses = crossed || dependency.every_entity;
                let set = if crosses { &mut every_entity } else { &mut same_entity };
                if set.insert(candidate.id.clone()) {
                    frontier.push((candidate.id.clone(), crosses));
                }
            }
        }
    }
    (same_entity, every_entity)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_long_list_of_late_entries_is_quoted_in_part_and_counted() {
        // Proves a stale message stays readable however many entries a late import posted.
        let keys: Vec<String> = (1..=8).map(|number| format!("K{number}")).collect();
        assert_eq!(quoted_keys(&keys[..2]), "K1, K2");
        assert_eq!(quoted_keys(&keys[..5]), "K1, K2, K3, K4, K5");
        assert_eq!(quoted_keys(&keys), "K1, K2, K3, K4, K5 and 3 more");
    }
}
