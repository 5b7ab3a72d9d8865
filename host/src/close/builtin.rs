//! The built-in steps of a close: checks and actions every close needs, run by the host
//! itself. Each is idempotent, so running one again after a crash does no harm.

use super::CloseContext;
use super::config::{AdjustmentFile, Builtin};
use anyhow::Context as _;
use closebook_ledger::Ledger;
use closebook_ledger::calendar::EntityPeriods;
use closebook_ledger::close_task::TaskStatus;
use closebook_ledger::ids::{EntityId, PeriodName};
use closebook_ledger::import::CsvJournalReader;
use closebook_ledger::journal::NewEntry;
use closebook_ledger::ledger::ImportSummary;
use closebook_ledger::period::Module;
use closebook_ledger::report;
use closebook_ledger::store::CloseTaskRecord;
use serde_json::json;
use std::path::Path;
use std::time::Instant;

pub fn run(
    context: &CloseContext<'_>,
    entity: &EntityId,
    builtin: &Builtin,
    record: &mut CloseTaskRecord,
) -> anyhow::Result<()> {
    // The task's own time goes into the record it saves, so the status board shows it.
    let started = Instant::now();
    let mut ledger = Ledger::open(&context.db, context.actor.clone())?;
    let period = &context.period;
    let message = match builtin {
        Builtin::VerifyJournalsPosted { modules } => verify_journals_posted(&mut ledger, entity, period, modules)?,
        Builtin::PeriodStatus { status } => {
            let changes = ledger.set_period_status(std::slice::from_ref(entity), period, *status)?;
            changes
                .iter()
                .map(|change| format!("{} {}: {} -> {}", change.entity, change.period, change.from, change.to))
                .collect::<Vec<_>>()
                .join("; ")
        }
        Builtin::TrialBalanceCheck => trial_balance_check(&mut ledger, entity, period)?,
        Builtin::PostAdjustments { files } => match files.for_entity(entity.as_str()) {
            None => format!("no adjustments for {entity}"),
            Some(pin) => {
                let summary = post_adjustments(context, &mut ledger, entity, pin)?;
                record.entries_posted = summary.posted as i64;
                let mut message = format!(
                    "{} adjustments posted, {} already posted",
                    summary.posted, summary.repeated
                );
                if let Some(keys) = summary.awaiting_approval_list() {
                    message.push_str(&format!(
                        "; {} need approval and wait as drafts: {keys} (`closebook journal submit`, then another user approves)",
                        summary.awaiting_approval.len()
                    ));
                }
                message
            }
        },
        Builtin::RecurringJournals { templates } => {
            let (message, posted) = post_recurring(context, &mut ledger, entity, templates.as_deref())?;
            record.entries_posted = posted as i64;
            message
        }
        Builtin::Reconcile { accounts } => {
            let reviewed = ledger
                .require_reconciled(entity, period, accounts)
                .with_context(|| format!("the reconciliations of {entity} for {period}"))?;
            let signed: Vec<String> = reviewed
                .iter()
                .map(|reconciliation| {
                    format!(
                        "{} ({}, unexplained {})",
                        reconciliation.scope.account,
                        reconciliation.status.describe(),
                        reconciliation
                            .unexplained
                            .map_or_else(|| "-".to_owned(), |amount| reconciliation.money(amount))
                    )
                })
                .collect();
            format!(
                "{} accounts reconciled and reviewed: {}",
                reviewed.len(),
                signed.join("; ")
            )
        }
        Builtin::Reports { folder } => {
            let folder = context.config.directory.join(folder);
            if context.dry_run {
                // A dry run writes no files: the real reports would show unposted proposals.
                format!("dry run: would write 5 reports to {}", folder.display())
            } else {
                write_reports(&mut ledger, entity, period, &folder)?
            }
        }
    };
    record.status = TaskStatus::Done;
    record.message = Some(message.clone());
    record.duration_ms = started.elapsed().as_millis() as u64;
    ledger
        .store()
        .write(|db| db.save_close_task(record, &context.actor, "done", &json!({ "message": message })))?;
    Ok(())
}

/// Refused when a draft of one of `modules` is dated in the period: those journals are not
/// posted yet.
fn verify_journals_posted(
    ledger: &mut Ledger,
    entity: &EntityId,
    period: &PeriodName,
    modules: &[Module],
) -> anyhow::Result<String> {
    let (start, end) = ledger.read(|db| {
        let target = EntityPeriods::of_entity(db, entity)?.named(period)?.clone();
        Ok((target.start, target.end))
    })?;
    let drafts = ledger.read(|db| db.draft_bodies(entity))?;
    let mut unposted = Vec::new();
    for (key, body) in drafts {
        let entry: NewEntry = serde_json::from_str(&body).with_context(|| format!("draft {key} is unreadable"))?;
        if modules.contains(&entry.module) && entry.date >= start && entry.date <= end {
            unposted.push(format!("{key} ({})", entry.module.as_str()));
        }
    }
    anyhow::ensure!(
        unposted.is_empty(),
        "{} draft entries dated in {period} are not posted: {}; post them with `closebook journal post --entity {entity}` (a draft that needs approval is submitted and approved first: `closebook journal list --entity {entity} --drafts` shows which)",
        unposted.len(),
        unposted.join(", ")
    );
    let modules: Vec<&str> = modules.iter().map(|module| module.as_str()).collect();
    Ok(format!("no unposted {} journals in {period}", modules.join("/")))
}

/// Refused when the period's trial balance does not net to zero or its entries and balances
/// do not verify.
fn trial_balance_check(ledger: &mut Ledger, entity: &EntityId, period: &PeriodName) -> anyhow::Result<String> {
    let trial_balance = ledger.read(|db| report::trial_balance(db, entity, period, &[], false))?;
    anyhow::ensure!(
        trial_balance.totals.closing.is_zero(),
        "the trial balance of {entity} for {period} nets to {}, not zero",
        trial_balance.totals.closing
    );
    anyhow::ensure!(
        trial_balance.totals.debit == trial_balance.totals.credit,
        "debits {} and credits {} differ",
        trial_balance.totals.debit,
        trial_balance.totals.credit
    );
    // The period's entries and balances, at a cost that follows the period, not the
    // ledger: `closebook verify` checks the whole chain.
    let verify = ledger.read(|db| closebook_ledger::verify::verify_period(db, entity, period))?;
    anyhow::ensure!(
        verify.findings.is_empty(),
        "the check of {entity}'s {period} entries found {} problems, the first: {}; run `closebook verify` for the whole ledger",
        verify.findings.len(),
        verify.findings[0]
    );
    Ok(format!(
        "trial balance nets to zero; {} entries of {period} verified",
        verify.entries_checked
    ))
}

/// Posts the reviewed adjustments file pinned for the entity; refused when it changed since.
fn post_adjustments(
    context: &CloseContext<'_>,
    ledger: &mut Ledger,
    entity: &EntityId,
    pin: &AdjustmentFile,
) -> anyhow::Result<ImportSummary> {
    let file = context.config.directory.join(&pin.file);
    let pinned = &pin.sha256;
    let actual = super::config::file_sha256(&file)?;
    anyhow::ensure!(
        &actual == pinned,
        "{} has sha256 {actual} but the task pins {pinned}: the file changed after it was reviewed",
        file.display()
    );
    let source = file.display().to_string();
    let reader = CsvJournalReader::new(
        std::io::BufReader::new(std::fs::File::open(&file).with_context(|| format!("opening {source}"))?),
        &source,
        Module::Ledger,
    )?;
    Ok(ledger.import_journals(entity, reader, true, &source)?)
}

/// Posts the entity's recurring journals due in the period; returns the task's message and the
/// entries posted. An entry already there for the period (posted, or a draft waiting for
/// approval) is left alone, so running the step again posts nothing twice.
fn post_recurring(
    context: &CloseContext<'_>,
    ledger: &mut Ledger,
    entity: &EntityId,
    named: Option<&[String]>,
) -> anyhow::Result<(String, usize)> {
    use closebook_ledger::recurring::{Generated, generate};
    let period = &context.period;
    let generated = ledger.read(|db| {
        let target = EntityPeriods::of_entity(db, entity)?.named(period)?.clone();
        let mut templates = db.recurring_templates(entity)?;
        if let Some(named) = named {
            for id in named {
                if !templates.iter().any(|template| &template.id == id) {
                    return Err(closebook_ledger::error::LedgerError::Invalid(format!(
                        "entity {entity} has no recurring journal {id}: declare it in setup with [[recurring_journal]] id = \"{id}\""
                    )));
                }
            }
            templates.retain(|template| named.contains(&template.id));
        }
        generate(db, entity, &target, &templates)
    })?;
    let mut entries = Vec::new();
    let mut existing = Vec::new();
    let mut not_due = 0;
    let mut zero = Vec::new();
    for (id, outcome) in generated {
        match outcome {
            Generated::Entry(entry) => entries.push(*entry),
            Generated::Exists(key) => existing.push(key.to_string()),
            Generated::NotDue => not_due += 1,
            Generated::Zero => zero.push(id),
        }
    }
    if context.dry_run {
        return Ok((
            format!(
                "dry run: would generate {} recurring journals (an approval rule may keep some as drafts)",
                entries.len()
            ),
            0,
        ));
    }
    let summary = if entries.is_empty() {
        ImportSummary::default()
    } else {
        ledger.import_journals(
            entity,
            entries.into_iter().map(Ok),
            true,
            &format!("recurring:{period}"),
        )?
    };
    let mut message = format!("{} recurring journals posted", summary.posted);
    if !existing.is_empty() {
        message.push_str(&format!(
            ", {} already there for {period} ({})",
            existing.len(),
            existing.join(", ")
        ));
    }
    if not_due > 0 {
        message.push_str(&format!(", {not_due} not due in {period}"));
    }
    if !zero.is_empty() {
        message.push_str(&format!(
            ", {} with nothing to post (amounts of zero): {}",
            zero.len(),
            zero.join(", ")
        ));
    }
    if let Some(keys) = summary.awaiting_approval_list() {
        message.push_str(&format!(
            "; {} need approval and wait as drafts: {keys}",
            summary.awaiting_approval.len()
        ));
    }
    Ok((message, summary.posted))
}

/// Writes the period's trial balance and statements as JSON, and the statements as printable
/// pages, into `folder`.
fn write_reports(ledger: &mut Ledger, entity: &EntityId, period: &PeriodName, folder: &Path) -> anyhow::Result<String> {
    std::fs::create_dir_all(folder).with_context(|| format!("creating {}", folder.display()))?;
    let (trial_balance, sheet, income) = ledger.read(|db| {
        Ok((
            report::trial_balance(db, entity, period, &[], false)?,
            report::balance_sheet(db, entity, period)?,
            report::income_statement(db, entity, period)?,
        ))
    })?;
    let mut written = Vec::new();
    for (name, value) in [
        ("trial-balance", json!(trial_balance)),
        ("balance-sheet", json!(sheet)),
        ("income-statement", json!(income)),
    ] {
        let path = folder.join(format!("{entity}-{period}-{name}.json"));
        std::fs::write(&path, serde_json::to_string_pretty(&value)? + "\n")
            .with_context(|| format!("writing {}", path.display()))?;
        written.push(path.display().to_string());
    }
    // The statements also as the printable pages a reviewer signs, next to the data.
    for (name, statement) in [("balance-sheet", &sheet), ("income-statement", &income)] {
        let path = folder.join(format!("{entity}-{period}-{name}.html"));
        let page = crate::statements::render(statement, crate::cli::StatementFormat::Html)?;
        std::fs::write(&path, page).with_context(|| format!("writing {}", path.display()))?;
        written.push(path.display().to_string());
    }
    Ok(format!("wrote {} reports to {}", written.len(), folder.display()))
}
