//! `closebook period list|set-status|access`.

use super::Context;
use crate::cli::{Format, PeriodCommand};
use crate::output::{Table, print, print_json, print_table};
use anyhow::Context as _;
use closebook_ledger::ids::{EntityId, PeriodName};
use closebook_ledger::period::ModuleAccess;

pub fn run(context: &Context, command: PeriodCommand) -> anyhow::Result<()> {
    match command {
        PeriodCommand::List { entity, year, format } => {
            let mut periods = context.open_ledger()?.periods(&EntityId::new(entity.clone()))?;
            if let Some(year) = &year {
                periods.retain(|view| view.period.fiscal_year.as_str() == year);
                anyhow::ensure!(!periods.is_empty(), "entity {entity} has no fiscal year {year}");
            }
            let mut table = Table::new(&[
                ("Period", false),
                ("Year", false),
                ("Kind", false),
                ("Start", false),
                ("End", false),
                ("Status", false),
                ("Restricted modules", false),
            ]);
            for view in &periods {
                table.row(vec![
                    view.period.name.to_string(),
                    view.period.fiscal_year.to_string(),
                    view.period.kind.as_str().to_owned(),
                    view.period.start.to_string(),
                    view.period.end.to_string(),
                    view.status.to_owned(),
                    view.restricted_modules.join(" "),
                ]);
            }
            match format.format {
                Format::Json => print_json(&periods),
                other => print_table(&table, other),
            }
        }
        PeriodCommand::SetStatus {
            entities,
            period,
            status,
        } => {
            let mut ledger = context.open_ledger()?;
            let entity_ids = context.entities(&mut ledger, &entities)?;
            let period_name = PeriodName::new(period.clone());
            let target = status.status();
            // A period already at the status asked for is left alone and reported, so the audit
            // trail records only real changes. A period that does not exist stays in the change,
            // which refuses it by name.
            let mut unchanged = Vec::new();
            for entity in &entity_ids {
                let current = ledger
                    .periods(entity)
                    .with_context(|| format!("setting the status of period {period}"))?
                    .into_iter()
                    .find(|view| view.period.name == period_name)
                    .map(|view| view.status);
                if current == Some(target.as_str()) {
                    unchanged.push(entity.clone());
                }
            }
            let to_change: Vec<EntityId> = entity_ids
                .iter()
                .filter(|entity| !unchanged.contains(entity))
                .cloned()
                .collect();
            let changes = if to_change.is_empty() {
                Vec::new()
            } else {
                ledger
                    .set_period_status(&to_change, &period_name, target)
                    .with_context(|| format!("setting the status of period {period}"))?
            };
            let mut text = String::new();
            for entity in &entity_ids {
                if unchanged.contains(entity) {
                    text.push_str(&format!(
                        "period {period} of entity {entity} is already {}; nothing changed\n",
                        target.as_str()
                    ));
                } else if let Some(change) = changes.iter().find(|change| &change.entity == entity) {
                    text.push_str(&format!(
                        "{} {}: {} -> {}\n",
                        change.entity, change.period, change.from, change.to
                    ));
                }
            }
            print(&text)
        }
        PeriodCommand::Access {
            entities,
            period,
            module,
            level,
        } => {
            let level_value = ModuleAccess::parse(&level)
                .with_context(|| format!("access level `{level}` is not all, none or group:NAME"))?;
            let mut ledger = context.open_ledger()?;
            let entity_ids = context.entities(&mut ledger, &entities)?;
            ledger
                .set_module_access(
                    &entity_ids,
                    &PeriodName::new(period.clone()),
                    module.module(),
                    &level_value,
                )
                .with_context(|| format!("setting module access of period {period}"))?;
            let names: Vec<String> = entity_ids.iter().map(ToString::to_string).collect();
            print(&format!(
                "{}: {} access in {period} is now {}\n",
                names.join(", "),
                module.module().as_str(),
                level_value.to_text()
            ))
        }
    }
}
