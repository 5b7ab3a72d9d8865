//! The status board of a close: every task of every entity with its status, owner, due date,
//! overdue and blocked markers, and the share complete by entity, area and owner.

use super::config::CloseConfig;
use super::{CloseContext, ShownStatus, config_changed_note, with_note};
use chrono::NaiveDate;
use closebook_ledger::close_task::TaskStatus;
use closebook_ledger::ids::EntityId;
use closebook_ledger::store::CloseTaskRecord;
use serde::Serialize;
use std::collections::BTreeMap;

#[derive(Debug, Clone, Serialize)]
pub struct BoardRow {
    pub entity: String,
    pub task: String,
    pub name: String,
    pub area: String,
    pub owner: String,
    pub status: ShownStatus,
    pub due: NaiveDate,
    pub overdue: bool,
    pub blocked_by: Vec<String>,
    pub prepared_by: Option<String>,
    pub reviewed_by: Option<String>,
    /// Of the preparer and reviewer, those whose sign-off was declared with `--as` on a ledger
    /// that trusts declared users, not verified.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub unverified: Vec<String>,
    pub entries_posted: i64,
    pub message: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Board {
    pub close: String,
    pub period: String,
    pub today: NaiveDate,
    pub rows: Vec<BoardRow>,
    /// Percent complete, by entity, area and owner.
    pub complete_by_entity: BTreeMap<String, u32>,
    pub complete_by_area: BTreeMap<String, u32>,
    pub complete_by_owner: BTreeMap<String, u32>,
}

fn percent(counts: BTreeMap<String, (u32, u32)>) -> BTreeMap<String, u32> {
    counts
        .into_iter()
        .map(|(key, (done, total))| (key, (done * 100).checked_div(total).unwrap_or(0)))
        .collect()
}

/// The board as its reader may see it: the close's configuration checked, and only the
/// entities granted to the reader (refused when there are none). `ledger` is opened for the
/// reader, with permissions checked.
pub fn readable_board(
    context: &mut CloseContext<'_>,
    ledger: &mut closebook_ledger::Ledger,
    today: NaiveDate,
) -> anyhow::Result<Board> {
    context.check_config()?;
    context.entity_filter = ledger.readable_or_refuse(&context.entities()?)?;
    let mut board = board(context, today)?;
    // A task may wait on tasks of entities the reader is not granted: counted, not named.
    let readable = ledger.readable_entities()?;
    for row in &mut board.rows {
        let (shown, hidden) = super::split_readable(std::mem::take(&mut row.blocked_by), String::as_str, &readable);
        row.blocked_by = shown;
        if !hidden.is_empty() {
            row.blocked_by.push(super::hidden_dependencies(hidden.len()));
        }
    }
    Ok(board)
}

pub fn board(context: &CloseContext<'_>, today: NaiveDate) -> anyhow::Result<Board> {
    let config: &CloseConfig = context.config;
    let entities = context.entities()?;
    let all_entities = context.close_entities()?;
    // A posting since a sign-off, or since a step read its figures, shows on the board at once.
    super::stale::mark_stale(context, &all_entities)?;
    // Every task's record of the period, who signed unverified and the period's end, in one
    // read.
    let mut ledger = context.ledger()?;
    let (records, mut unverified_by_task, period_ends) = ledger.store().read(|db| {
        let records: BTreeMap<(EntityId, String), CloseTaskRecord> = db
            .close_tasks(&config.name, &context.period)?
            .into_iter()
            .map(|record| ((record.entity.clone(), record.task.clone()), record))
            .collect();
        let mut unverified = BTreeMap::new();
        for (key, record) in &records {
            if entities.contains(&key.0) {
                unverified.insert(key.clone(), super::review::unverified_signers(db, record)?);
            }
        }
        let mut period_ends = BTreeMap::new();
        for entity in &entities {
            let periods = context.periods_of(db, entity)?;
            period_ends.insert(entity.clone(), periods.find(&context.period).map(|period| period.end));
        }
        Ok((records, unverified, period_ends))
    })?;
    let status_of = |entity: &EntityId, task: &str| {
        Ok(records
            .get(&(entity.clone(), task.to_owned()))
            .map_or(TaskStatus::Pending, |record| record.status))
    };
    let mut rows = Vec::new();
    for entity in &entities {
        let period_end = period_ends.get(entity).copied().flatten().unwrap_or(today);
        for task in config.tasks.iter().filter(|task| task.runs_in(entity)) {
            let key = (entity.clone(), task.id.clone());
            let state = records.get(&key);
            let waiting = super::waiting_for(context, &all_entities, entity, task, status_of)?;
            let status = ShownStatus::of(state.map_or(TaskStatus::Pending, |record| record.status), &waiting);
            let message = with_note(
                config_changed_note(task, state),
                state.and_then(|record| record.message.clone()),
            );
            let due = config.due_date(period_end, task.due_working_days);
            rows.push(BoardRow {
                entity: entity.to_string(),
                task: task.id.clone(),
                name: task.name.clone(),
                area: task.area.clone(),
                owner: task.owner.clone(),
                overdue: !status.is_complete() && due < today,
                due,
                blocked_by: waiting,
                prepared_by: state.and_then(|record| record.prepared_by.clone()),
                reviewed_by: state.and_then(|record| record.reviewed_by.clone()),
                unverified: unverified_by_task.remove(&key).unwrap_or_default(),
                entries_posted: state.map_or(0, |record| record.entries_posted),
                message,
                status,
            });
        }
    }
    let mut by_entity: BTreeMap<String, (u32, u32)> = BTreeMap::new();
    let mut by_area: BTreeMap<String, (u32, u32)> = BTreeMap::new();
    let mut by_owner: BTreeMap<String, (u32, u32)> = BTreeMap::new();
    for row in &rows {
        let done = u32::from(row.status.is_complete());
        for (map, key) in [
            (&mut by_entity, &row.entity),
            (&mut by_area, &row.area),
            (&mut by_owner, &row.owner),
        ] {
            let slot = map.entry(key.clone()).or_default();
            slot.0 += done;
            slot.1 += 1;
        }
    }
    Ok(Board {
        close: config.name.clone(),
        period: context.period.to_string(),
        today,
        rows,
        complete_by_entity: percent(by_entity),
        complete_by_area: percent(by_area),
        complete_by_owner: percent(by_owner),
    })
}
