//! `closebook verify`: the ledger's self-check; non-zero exit on any finding.

use super::Context;
use crate::cli::VerifyArgs;
use crate::output::print;
use closebook_ledger::ids::EntityId;

pub fn run(context: &Context, arguments: VerifyArgs) -> anyhow::Result<()> {
    let mut ledger = context.open_ledger()?;
    let entities: Vec<EntityId> = match arguments.entity.clone() {
        Some(entity) => vec![EntityId::new(entity)],
        None => ledger.entities()?.into_iter().map(|entity| entity.id).collect(),
    };
    let mut findings_total = 0;
    for entity in &entities {
        let report = ledger.read(|db| closebook_ledger::verify::verify_entity(db, entity))?;
        let mut text = format!("{entity}: {} entries checked", report.entries_checked);
        if report.findings.is_empty() {
            text.push_str(", hash chain intact, every entry balances, balances match the lines\n");
        } else {
            text.push_str(&format!(", {} findings:\n", report.findings.len()));
            for finding in &report.findings {
                text.push_str(&format!("  {finding}\n"));
            }
        }
        print(&text)?;
        findings_total += report.findings.len();
    }
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
