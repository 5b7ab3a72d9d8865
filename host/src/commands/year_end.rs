//! `closebook year-end run|reverse|history`: the year-end close outside a close.toml. The
//! step itself is the year-end plugin; this command finds the year's last period, replaces an
//! earlier year-end of the same year, and keeps the history (the plugin's step runs).

use super::Context;
use crate::cli::{Format, YearEndCommand};
use crate::output::{Table, print, print_json, print_table};
use crate::plugin::{Limits, LoadedPlugin};
use crate::step::{StepRequest, post_record, run_step};
use anyhow::Context as _;
use closebook_ledger::calendar::PeriodKind;
use closebook_ledger::ids::{EntityId, FiscalYearName, PeriodName};
use closebook_ledger::journal::Provenance;
use closebook_ledger::store::Db;
use closebook_ledger::{Ledger, LedgerError};
use serde_json::json;

/// The task name year-end runs are recorded under.
const YEAR_END_TASK: &str = "year-end";

pub fn run(context: &Context, command: YearEndCommand) -> anyhow::Result<()> {
    match command {
        YearEndCommand::Run {
            entities,
            year,
            plugin,
            config,
        } => {
            let mut ledger = context.open_ledger()?;
            let entity_ids = context.entities(&mut ledger, &entities)?;
            let (_runtime, loaded, _package) = super::plugin::load_plugin(&context.db, &plugin)?;
            let mut text = String::new();
            for entity in &entity_ids {
                text.push_str(&run_year_end(context, &mut ledger, &loaded, entity, &year, &config)?);
            }
            print(&text)
        }
        YearEndCommand::Reverse { entities, year } => {
            let mut ledger = context.open_ledger()?;
            let entity_ids = context.entities(&mut ledger, &entities)?;
            let mut text = String::new();
            for entity in &entity_ids {
                ledger.read(|db| last_operating_period(db, entity, &year))?;
                let cancelled = cancel_year_end(&mut ledger, entity, &year, "year-end.reverse")?;
                anyhow::ensure!(
                    cancelled > 0,
                    "entity {entity} has no year-end close of {year} to reverse"
                );
                text.push_str(&format!("{entity} {year}: cancelled {cancelled} year-end entries\n"));
            }
            print(&text)
        }
        YearEndCommand::History { entity, format } => {
            let entity = entity.map(EntityId::new);
            let runs = context.open_ledger()?.read(|db| {
                let entities = match &entity {
                    Some(entity) => vec![entity.clone()],
                    None => db.entities()?.into_iter().map(|entity| entity.id).collect(),
                };
                let mut runs = Vec::new();
                for entity in &entities {
                    runs.extend(db.step_runs_of_task(entity, YEAR_END_TASK)?);
                }
                Ok(runs)
            })?;
            if format.format == Format::Json {
                return print_json(&runs);
            }
            let mut table = Table::new(&[
                ("Entity", false),
                ("Period", false),
                ("Run", false),
                ("By", false),
                ("Finished", false),
                ("Entries", true),
                ("Plugin", false),
            ]);
            for run in &runs {
                table.row(vec![
                    run.entity.to_string(),
                    run.period.to_string(),
                    run.run_id.clone(),
                    run.run_by.to_string(),
                    run.finished_at.clone(),
                    run.entries_posted.to_string(),
                    format!(
                        "{} {} {}",
                        run.plugin_name,
                        run.plugin_version,
                        &run.plugin_sha256[..run.plugin_sha256.len().min(12)]
                    ),
                ]);
            }
            print_table(&table, format.format)
        }
    }
}

/// Runs the year-end close of `year` for one entity and posts it, replacing an earlier one;
/// returns the line that reports it.
fn run_year_end(
    context: &Context,
    ledger: &mut Ledger,
    loaded: &LoadedPlugin,
    entity: &EntityId,
    year: &str,
    config: &str,
) -> anyhow::Result<String> {
    let last_period = ledger.read(|db| last_operating_period(db, entity, year))?;
    let cancelled = cancel_year_end(ledger, entity, year, "year-end.replace")?;
    // Every error after the cancellation says so: the year is then without a year-end.
    let replaced = replaced_note(cancelled);
    let request = StepRequest {
        entity: entity.clone(),
        period: last_period,
        as_of: None,
        config: config.to_owned(),
        other_entities: Vec::new(),
        task: Some(YEAR_END_TASK.to_owned()),
        limits: Limits::default(),
        allow_revaluation_lines: false,
        allow_next_year_opening: true,
    };
    let record = run_step(&context.db, loaded, &request)
        .and_then(|preview| preview.record(loaded))
        .with_context(|| format!("year-end close of {entity} for {year}{replaced}"))?;
    let user = context.actor.clone();
    let outcome = post_record(ledger, &record, |db, outcome| {
        let details = json!({
            "year": year,
            "run_id": outcome.run_id,
            "entries": outcome.entries.len(),
            "replaced": cancelled,
        });
        db.append_audit(&user, "year-end.run", Some(entity), &details)
    })
    .with_context(|| format!("posting the year-end close of {entity} for {year}{replaced}"))?;
    let replaced_entries = if cancelled > 0 {
        format!("; cancelled {cancelled} entries of the earlier year-end")
    } else {
        String::new()
    };
    Ok(format!(
        "{entity} {year}: posted {} entries (run {}){replaced_entries}\n",
        outcome.entries.len(),
        outcome.run_id,
    ))
}

/// Says, in an error, that the earlier year-end is already cancelled (its cancellation is
/// committed before the new run), so the user knows the year is now without one.
fn replaced_note(cancelled: usize) -> String {
    if cancelled == 0 {
        String::new()
    } else {
        format!(" (the earlier year-end's {cancelled} entries were cancelled; run again to post a new one)")
    }
}

/// The last operating period of a fiscal year of an entity's calendar.
fn last_operating_period(db: &Db<'_>, entity: &EntityId, year: &str) -> Result<PeriodName, LedgerError> {
    let record = db.require_entity(entity)?;
    db.periods(&record.calendar, Some(&FiscalYearName::new(year)))?
        .into_iter()
        .filter(|period| period.kind == PeriodKind::Operating)
        .map(|period| period.name)
        .next_back()
        .ok_or_else(|| {
            LedgerError::Invalid(format!(
                "fiscal year {year} does not exist in calendar {} of entity {entity}",
                record.calendar
            ))
        })
}

/// Cancels, in one transaction, every entry of the entity's earlier year-end runs of `year`;
/// returns how many entries were cancelled.
fn cancel_year_end(ledger: &mut Ledger, entity: &EntityId, year: &str, action: &str) -> anyhow::Result<usize> {
    let user = ledger.actor().clone();
    let cancelled = ledger.store().write(|db| {
        let record = db.require_entity(entity)?;
        let periods: Vec<PeriodName> = db
            .periods(&record.calendar, Some(&FiscalYearName::new(year)))?
            .into_iter()
            .map(|period| period.name)
            .collect();
        let runs = db.step_runs_of_task(entity, YEAR_END_TASK)?;
        let mut cancelled = Vec::new();
        for run in runs
            .iter()
            .filter(|run| run.task.as_deref() == Some(YEAR_END_TASK) && periods.contains(&run.period))
        {
            let provenance = Provenance {
                source: format!("{action}:{}", run.run_id),
                task: Some(YEAR_END_TASK.to_owned()),
                ..Provenance::default()
            };
            let keys = closebook_ledger::ledger::cancel_run(db, &run.run_id, &user.user, &provenance)?;
            cancelled.extend(keys.into_iter().map(|key| key.to_string()));
        }
        if !cancelled.is_empty() {
            db.append_audit(
                &user,
                action,
                Some(entity),
                &json!({ "year": year, "cancelled": cancelled }),
            )?;
        }
        Ok(cancelled.len())
    })?;
    Ok(cancelled)
}
