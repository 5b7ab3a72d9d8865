//! `closebook verify`: the ledger's self-check; non-zero exit on any finding. An entity with a
//! verification checkpoint is checked from it on unless `--full`; `--checkpoint` records one
//! after a clean check.

use super::Context;
use crate::cli::VerifyArgs;
use crate::diagnostics::progress::{self, Progress};
use crate::output::print;
use closebook_ledger::ids::EntityId;
use closebook_ledger::verify::{VerifyReport, VerifyScope, verify_entity_with_progress};

pub fn run(context: &Context, arguments: VerifyArgs) -> anyhow::Result<()> {
    let mut ledger = context.open_ledger()?;
    let entities: Vec<EntityId> = match arguments.entity.clone() {
        Some(entity) => vec![EntityId::new(entity)],
        None => ledger.entities()?.into_iter().map(|entity| entity.id).collect(),
    };
    let scope = if arguments.full {
        VerifyScope::Full
    } else {
        VerifyScope::SinceCheckpoint
    };
    // The entries to check: each entity's ledger head (its last sequence) less what its latest
    // checkpoint covers, read up front so the progress can say how far the check has got.
    let mut entries_total = 0;
    for entity in &entities {
        let (head, checkpointed) = ledger.read(|db| {
            let head = db.ledger_head(entity)?.0.max(0);
            let checkpointed = match scope {
                VerifyScope::Full => 0,
                VerifyScope::SinceCheckpoint => db
                    .verify_checkpoints(entity)?
                    .last()
                    .map_or(0, |checkpoint| checkpoint.sequence),
            };
            Ok((head, checkpointed))
        })?;
        entries_total += (head - checkpointed).max(0) as u64;
    }
    let progress = Progress::start("verify", Some(entries_total), true);
    let mut entries_before = 0;
    let mut findings_total = 0;
    for entity in &entities {
        let report = ledger.read(|db| {
            verify_entity_with_progress(db, entity, scope, &mut |checked| {
                progress.update(
                    entries_before + checked,
                    format!("{entity}: {} entries checked", progress::count(checked)),
                );
            })
        })?;
        entries_before += report.entries_checked;
        let mut text = describe(entity, &report);
        if arguments.checkpoint && report.findings.is_empty() {
            text.push_str(&match ledger.record_verify_checkpoint(entity, &report)? {
                Some(recorded) => format!(
                    "  checkpoint {} recorded at entry {}: the next check of {entity} starts after it\n",
                    recorded.id, recorded.sequence
                ),
                None => format!(
                    "  no checkpoint recorded: the latest already covers entry {}\n",
                    report.last_sequence
                ),
            });
        }
        // Each entity's result as soon as it is known, with the bar lifted out of the way.
        progress::suspend(|| print(&text))?;
        findings_total += report.findings.len();
    }
    drop(progress);
    if arguments.entity.is_none() {
        // The controls' own chains: audit records, close events and the sign-offs they left.
        let findings = ledger.read(|db| db.control_log_findings())?;
        let mut text = String::from("audit trail and close sign-offs: ");
        if findings.is_empty() {
            text.push_str("hash chains intact, every sign-off matches its last recorded event\n");
        } else {
            text.push_str(&format!("{} findings:\n", findings.len()));
            for finding in &findings {
                text.push_str(&format!("  {finding}\n"));
            }
        }
        print(&text)?;
        findings_total += findings.len();
    }
    if arguments.checkpoint && findings_total > 0 {
        eprintln!("no checkpoint recorded for an entity with findings: a checkpoint vouches for a clean ledger");
    }
    anyhow::ensure!(
        findings_total == 0,
        "verify found {findings_total} problems in the ledger {}",
        super::shown(&context.db)
    );
    Ok(())
}

/// One entity's result: what was checked (from which checkpoint) and what was found.
fn describe(entity: &EntityId, report: &VerifyReport) -> String {
    let mut text = format!("{entity}: {} entries checked", report.entries_checked);
    if let Some(checkpoint) = &report.since {
        text.push_str(&format!(
            " since checkpoint {} (entry {}, recorded {} by {})",
            checkpoint.id, checkpoint.sequence, checkpoint.created_at, checkpoint.created_by
        ));
    }
    if report.findings.is_empty() {
        text.push_str(", hash chain intact, every entry balances, balances match the lines\n");
        if report.since.is_some() {
            text.push_str(
                "  entries before the checkpoint were not read again: `closebook verify --full` reads them\n",
            );
        }
    } else {
        text.push_str(&format!(", {} findings:\n", report.findings.len()));
        for finding in &report.findings {
            text.push_str(&format!("  {finding}\n"));
        }
    }
    text
}
