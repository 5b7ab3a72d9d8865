//! `closebook verify`: the ledger's self-check; non-zero exit on any finding.

use super::Context;
use crate::cli::VerifyArgs;
use crate::diagnostics::progress::{self, Progress};
use crate::output::print;
use closebook_ledger::ids::EntityId;
use closebook_ledger::verify::verify_entity_with_progress;

pub fn run(context: &Context, arguments: VerifyArgs) -> anyhow::Result<()> {
    let mut ledger = context.open_ledger()?;
    let entities: Vec<EntityId> = match arguments.entity.clone() {
        Some(entity) => vec![EntityId::new(entity)],
        None => ledger.entities()?.into_iter().map(|entity| entity.id).collect(),
    };
    // The entries to check: each entity's ledger head (its last sequence), read up front so the
    // progress can say how far the check has got.
    let mut entries_total = 0;
    for entity in &entities {
        entries_total += ledger.read(|db| db.ledger_head(entity))?.0.max(0) as u64;
    }
    let progress = Progress::start("verify", Some(entries_total), true);
    let mut entries_before = 0;
    let mut findings_total = 0;
    for entity in &entities {
        let report = ledger.read(|db| {
            verify_entity_with_progress(db, entity, &mut |checked| {
                progress.update(
                    entries_before + checked,
                    format!("{entity}: {} entries checked", progress::count(checked)),
                );
            })
        })?;
        entries_before += report.entries_checked;
        let mut text = format!("{entity}: {} entries checked", report.entries_checked);
        if report.findings.is_empty() {
            text.push_str(", hash chain intact, every entry balances, balances match the lines\n");
        } else {
            text.push_str(&format!(", {} findings:\n", report.findings.len()));
            for finding in &report.findings {
                text.push_str(&format!("  {finding}\n"));
            }
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
    anyhow::ensure!(
        findings_total == 0,
        "verify found {findings_total} problems in the ledger {}",
        context.db.display()
    );
    Ok(())
}
