//! `closebook journal post|submit|approve|reject|reverse|list`.

use super::Context;
use crate::cli::{Format, JournalCommand};
use crate::output::{Table, print, print_json, print_table};
use anyhow::Context as _;
use closebook_ledger::approval::{DraftApproval, draft_approvals};
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
                "posted {} entries ({} lines) in {entity}; ledger sequence is now {}{}\n",
                summary.posted,
                summary.lines_read,
                summary.sequence,
                super::import::awaiting_approval_note(&entity, &summary)
            ))
        }
        JournalCommand::Submit { entity, keys } => {
            let keys: Vec<EntryKey> = keys.into_iter().map(EntryKey::new).collect();
            context
                .open_ledger()?
                .submit_drafts(&EntityId::new(entity.clone()), &keys)
                .with_context(|| format!("submitting drafts of entity {entity}"))?;
            print(&format!(
                "submitted {} for approval in {entity}: another user with journal.approve approves them with `closebook journal approve --entity {entity} KEY...`\n",
                list(&keys)
            ))
        }
        JournalCommand::Approve { entity, keys, note } => {
            let keys: Vec<EntryKey> = keys.into_iter().map(EntryKey::new).collect();
            context
                .open_ledger()?
                .approve_drafts(&EntityId::new(entity.clone()), &keys, &note)
                .with_context(|| format!("approving drafts of entity {entity}"))?;
            print(&format!(
                "approved {} in {entity}: post them with `closebook journal post --entity {entity} KEY...`\n",
                list(&keys)
            ))
        }
        JournalCommand::Discard { entity, key, reason } => {
            let key = EntryKey::new(key);
            context
                .open_ledger()?
                .discard_draft(&EntityId::new(entity.clone()), &key, &reason)
                .with_context(|| format!("discarding draft {key} of entity {entity}"))?;
            print(&format!(
                "discarded draft {key} of {entity}; its content is in the audit trail (journal.discard), and the key may be imported again\n"
            ))
        }
        JournalCommand::Reject { entity, key, reason } => {
            let key = EntryKey::new(key);
            context
                .open_ledger()?
                .reject_draft(&EntityId::new(entity.clone()), &key, &reason)
                .with_context(|| format!("rejecting draft {key} of entity {entity}"))?;
            print(&format!(
                "rejected {key} in {entity}; its preparer may submit it again\n"
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
                let user = ledger.user().clone();
                let drafts = ledger.read(|db| draft_approvals(db, &entity_id, &user))?;
                let approval = DraftApproval::describe;
                let mut table = Table::new(&[
                    ("Entry", false),
                    ("Source", false),
                    ("Debits", true),
                    ("Prepared by", false),
                    ("Approval", false),
                ]);
                for found in &drafts {
                    table.row(vec![
                        found.draft.key.to_string(),
                        found.draft.source.clone(),
                        found.debits_text(),
                        found.draft.created_by.to_string(),
                        approval(found),
                    ]);
                }
                return match format.format {
                    Format::Json => print_json(
                        &drafts
                            .iter()
                            .map(|found| {
                                let entry: Option<serde_json::Value> = serde_json::from_str(&found.draft.body).ok();
                                serde_json::json!({
                                    "entry": found.draft.key,
                                    "source": found.draft.source,
                                    "debits": found.debits.map(|debits| debits.to_string()),
                                    "lines": entry.as_ref().map(|entry| entry["lines"].clone()),
                                    "prepared_by": found.draft.created_by,
                                    "approval_needed": found.reason,
                                    "approval": approval(found),
                                })
                            })
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

/// Entry keys as a list for a sentence.
fn list(keys: &[EntryKey]) -> String {
    keys.iter().map(EntryKey::as_str).collect::<Vec<_>>().join(", ")
}
