//! `closebook journal post|reverse|list`.

use super::Context;
use crate::cli::{Format, JournalCommand};
use crate::output::{Table, print, print_json, print_table};
use anyhow::Context as _;
use closebook_ledger::ids::{EntityId, EntryKey, PeriodName};

pub fn run(context: &Context, command: JournalCommand) -> anyhow::Result<()> {
    match command {
        JournalCommand::Post { entity, keys } => {
            let keys: Vec<EntryKey> = keys.into_iter().map(EntryKey::new).collect();
            let summary = context
                .open_ledger()?
                .post_drafts(&EntityId::new(entity.clone()), &keys)
                .with_context(|| format!("posting drafts of entity {entity}"))?;
            print(&format!(
                "posted {} entries ({} lines) in {entity}; ledger sequence is now {}\n",
                summary.posted, summary.lines_read, summary.sequence
            ))
        }
        JournalCommand::Reverse {
            entity,
            key,
            date,
            period,
        } => {
            let period = period.map(PeriodName::new);
            let posted = context
                .open_ledger()?
                .reverse(
                    &EntityId::new(entity.clone()),
                    &EntryKey::new(key.clone()),
                    date,
                    period.as_ref(),
                )
                .with_context(|| format!("reversing entry {key} of entity {entity}"))?;
            print(&format!(
                "posted {} on {} in period {} (sequence {})\n",
                posted.key, posted.date, posted.period, posted.sequence
            ))
        }
        JournalCommand::List {
            entity,
            period,
            drafts,
            format,
        } => {
            let entity_id = EntityId::new(entity.clone());
            let mut ledger = context.open_ledger()?;
            if drafts {
                let drafts = ledger.read(|db| db.drafts(&entity_id))?;
                let mut table = Table::new(&[("Entry", false), ("Source", false)]);
                for draft in &drafts {
                    table.row(vec![draft.key.to_string(), draft.source.clone()]);
                }
                return match format.format {
                    Format::Json => print_json(
                        &drafts
                            .iter()
                            .map(|draft| serde_json::json!({"entry": draft.key, "source": draft.source}))
                            .collect::<Vec<_>>(),
                    ),
                    other => print_table(&table, other),
                };
            }
            let period = PeriodName::new(period.unwrap_or_default());
            let entries = ledger.read(|db| db.entries(&entity_id, Some(&period)))?;
            let mut table = Table::new(&[
                ("Seq", true),
                ("Entry", false),
                ("Date", false),
                ("Module", false),
                ("Lines", true),
                ("Description", false),
            ]);
            for entry in &entries {
                table.row(vec![
                    entry.sequence.to_string(),
                    entry.key.to_string(),
                    entry.date.to_string(),
                    entry.module.as_str().to_owned(),
                    entry.lines.len().to_string(),
                    entry.description.clone(),
                ]);
            }
            match format.format {
                Format::Json => print_json(&entries),
                other => print_table(&table, other),
            }
        }
    }
}
