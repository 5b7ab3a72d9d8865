//! `closebook reconcile`: account reconciliations (statements, subledger figures, reconciling
//! items, evidence, preparation and review) and their report.

use super::Context;
use crate::cli::{Format, ReconcileCommand, ReconcileItemCommand, ReconcileReportFormat, ReconcileTarget};
use crate::output::{Table, cell, grouped, print, print_json, print_table, visible};
use anyhow::Context as _;
use closebook_ledger::Ledger;
use closebook_ledger::ids::{AccountNumber, EntityId, PeriodName};
use closebook_ledger::money::parse_amount_text;
use closebook_ledger::reconcile::{ReconcileStatus, Reconciliation, SubledgerEntry};
use closebook_ledger::store::ReconcileScope;
use rust_decimal::Decimal;
use std::io::Write as _;
use std::path::Path;

/// Whether the server runs this command for a remote command line: those that read or write a
/// file where the command runs (a statement, evidence, a report written to a file) run only
/// on a local ledger.
pub fn runs_remotely(command: &ReconcileCommand) -> bool {
    match command {
        ReconcileCommand::ImportStatement { .. }
        | ReconcileCommand::Attach { .. }
        | ReconcileCommand::Evidence { .. }
        | ReconcileCommand::Report { output: Some(_), .. } => false,
        ReconcileCommand::Subledger { .. }
        | ReconcileCommand::Item(_)
        | ReconcileCommand::Prepare { .. }
        | ReconcileCommand::Review { .. }
        | ReconcileCommand::Show { .. }
        | ReconcileCommand::Report { output: None, .. } => true,
    }
}

pub fn run(context: &Context, command: ReconcileCommand) -> anyhow::Result<()> {
    let mut ledger = context.open_ledger()?;
    match command {
        ReconcileCommand::ImportStatement {
            target,
            opening,
            closing,
            file,
        } => {
            let scope = scope(&mut ledger, &target)?;
            let (opening, closing) = (amount("--opening", &opening)?, amount("--closing", &closing)?);
            let content = std::fs::read(&file).with_context(|| format!("reading {}", file.display()))?;
            let source = file_name(&file);
            let imported = ledger
                .import_statement(&scope, &source, &content, opening, closing)
                .with_context(|| format!("importing statement {} for {}", file.display(), scope.describe()))?;
            let what = if imported.repeated {
                format!(
                    "statement {source} ({} lines) is imported already for {}: nothing changed",
                    imported.lines,
                    scope.describe()
                )
            } else {
                let replaced = imported
                    .replaced
                    .map(|id| format!(", replacing independent balance {id}"))
                    .unwrap_or_default();
                format!(
                    "imported statement {source} for {}: {} lines, opening {opening}, closing {closing}{replaced}",
                    scope.describe(),
                    imported.lines
                )
            };
            print(&format!("{what}\n"))?;
            summary(&mut ledger, &scope)
        }
        ReconcileCommand::Subledger {
            target,
            balance,
            source,
        } => {
            let scope = scope(&mut ledger, &target)?;
            let balance = amount("--balance", &balance)?;
            let entered = ledger
                .set_subledger_balance(&scope, balance, &source)
                .with_context(|| format!("entering the subledger figure of {}", scope.describe()))?;
            let what = match entered {
                SubledgerEntry::Unchanged => "is entered already: nothing changed".to_owned(),
                SubledgerEntry::Entered { replaced } => format!(
                    "entered{}",
                    replaced
                        .map(|id| format!(", replacing independent balance {id}"))
                        .unwrap_or_default()
                ),
            };
            print(&format!(
                "subledger figure {balance} ({}) of {} {what}\n",
                visible(source.trim()),
                scope.describe()
            ))?;
            summary(&mut ledger, &scope)
        }
        ReconcileCommand::Item(ReconcileItemCommand::Add {
            target,
            amount: text,
            explanation,
            expected_clear,
            reference,
        }) => {
            let scope = scope(&mut ledger, &target)?;
            let value = amount("--amount", &text)?;
            let id = ledger
                .add_reconciling_item(&scope, value, &explanation, expected_clear, &reference)
                .with_context(|| format!("adding a reconciling item to {}", scope.describe()))?;
            print(&format!(
                "reconciling item {id} added to {}: {value}, {}, expected to clear by {expected_clear}\n",
                scope.describe(),
                visible(explanation.trim())
            ))?;
            summary(&mut ledger, &scope)
        }
        ReconcileCommand::Item(ReconcileItemCommand::Clear {
            entity,
            period,
            id,
            note,
        }) => {
            let (entity, period) = (EntityId::new(entity), PeriodName::new(period));
            let scope = ledger
                .clear_reconciling_item(&entity, id, &period, &note)
                .with_context(|| format!("clearing reconciling item {id} of {entity} in {period}"))?;
            print(&format!(
                "reconciling item {id} of {} cleared in {period}: it is open before {period}, not from it on\n",
                scope.describe()
            ))?;
            summary(&mut ledger, &scope)
        }
        ReconcileCommand::Attach { target, file } => {
            let scope = scope(&mut ledger, &target)?;
            let content = std::fs::read(&file).with_context(|| format!("reading {}", file.display()))?;
            let name = file_name(&file);
            let (id, sha256) = ledger
                .attach_evidence(&scope, &name, &content)
                .with_context(|| format!("attaching {} to {}", file.display(), scope.describe()))?;
            print(&format!(
                "evidence {id} attached to {}: {}, {} bytes, SHA-256 {sha256}\n",
                scope.describe(),
                visible(&name),
                content.len()
            ))
        }
        ReconcileCommand::Evidence { entity, id, output } => {
            let entity = EntityId::new(entity);
            let (name, content) = ledger.evidence_file(&entity, id)?;
            let mut file = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&output)
                .with_context(|| {
                    format!(
                        "creating {} (an existing file is not overwritten: choose another path or remove it)",
                        output.display()
                    )
                })?;
            file.write_all(&content)
                .with_context(|| format!("writing {}", output.display()))?;
            print(&format!(
                "evidence {id} of {entity} ({}, {} bytes, SHA-256 checked) written to {}\n",
                visible(&name),
                content.len(),
                output.display()
            ))
        }
        ReconcileCommand::Prepare { target, note } => {
            let scope = scope(&mut ledger, &target)?;
            let signed = ledger
                .prepare_reconciliation(&scope, &note, None)
                .with_context(|| format!("preparing the reconciliation of {}", scope.describe()))?;
            print(&format!("{}: {}\n", scope.describe(), signed.status.describe()))?;
            print(&figures(&signed))
        }
        ReconcileCommand::Review { target, note } => {
            let scope = scope(&mut ledger, &target)?;
            let signed = ledger
                .review_reconciliation(&scope, &note, None)
                .with_context(|| format!("reviewing the reconciliation of {}", scope.describe()))?;
            print(&format!("{}: {}\n", scope.describe(), signed.status.describe()))?;
            print(&figures(&signed))
        }
        ReconcileCommand::Show { target, format } => {
            let scope = scope(&mut ledger, &target)?;
            let reconciliation = ledger.reconciliation(&scope)?;
            match format.format {
                Format::Json => print_json(&reconciliation),
                Format::Csv => print_table(&items_table(&reconciliation.items, Format::Csv), Format::Csv),
                Format::Table => {
                    let lines = ledger.statement_lines(&scope)?.len();
                    print(&show(&reconciliation, lines))
                }
            }
        }
        ReconcileCommand::Report {
            entity,
            period,
            format,
            output,
        } => {
            let (entity, period) = (EntityId::new(entity), PeriodName::new(period));
            let reconciliations = ledger.reconciliations(&entity, &period)?;
            let text = match format {
                ReconcileReportFormat::Json => {
                    let mut text = serde_json::to_string_pretty(&reconciliations)?;
                    text.push('\n');
                    text
                }
                ReconcileReportFormat::Csv => report_table(&reconciliations, Format::Csv, true).to_csv()?,
                ReconcileReportFormat::Table => report_text(&entity, &period, &reconciliations),
                ReconcileReportFormat::Html => report_html(&entity, &period, &reconciliations),
            };
            match output {
                Some(path) => {
                    std::fs::write(&path, &text).with_context(|| format!("writing {}", path.display()))?;
                    print(&format!(
                        "reconciliation report of {entity} for {period} ({} accounts) written to {}\n",
                        reconciliations.len(),
                        path.display()
                    ))
                }
                None => print(&text),
            }
        }
    }
}

fn scope(ledger: &mut Ledger, target: &ReconcileTarget) -> anyhow::Result<ReconcileScope> {
    let (entity, account, period) = (
        EntityId::new(target.entity.clone()),
        AccountNumber::new(target.account.clone()),
        PeriodName::new(target.period.clone()),
    );
    Ok(ledger.read(|db| closebook_ledger::reconcile::scope(db, &entity, &account, &target.dimensions, &period))?)
}

fn amount(flag: &str, text: &str) -> anyhow::Result<Decimal> {
    parse_amount_text(text).with_context(|| format!("{flag} {text}"))
}

/// A file's name without its folders: what the ledger keeps (a path says where it was on one
/// machine, which is nobody else's business).
fn file_name(path: &Path) -> String {
    path.file_name().map_or_else(
        || path.display().to_string(),
        |name| name.to_string_lossy().into_owned(),
    )
}

/// After a change, where the reconciliation stands now.
fn summary(ledger: &mut Ledger, scope: &ReconcileScope) -> anyhow::Result<()> {
    let reconciliation = ledger.reconciliation(scope)?;
    print(&figures(&reconciliation))?;
    print(&format!("  status: {}\n", visible(&reconciliation.status.describe())))
}

/// The figures in four lines: GL, independent, items, unexplained.
fn figures(reconciliation: &Reconciliation) -> String {
    let money = |amount: Decimal| grouped(reconciliation.fixed(amount));
    let independent = match &reconciliation.independent {
        Some(balance) => format!(
            "{} ({}: {})",
            money(balance.closing),
            balance.kind.as_str(),
            visible(&balance.source)
        ),
        None => "none yet".to_owned(),
    };
    let unexplained = match reconciliation.unexplained {
        Some(unexplained) => format!(
            "{} (materiality {}{})",
            money(unexplained),
            reconciliation.materiality_text(),
            if reconciliation.material() == Some(true) {
                ": blocks the sign-off"
            } else {
                ""
            }
        ),
        None => "-".to_owned(),
    };
    format!(
        "  GL balance: {}\n  independent balance: {independent}\n  reconciling items: {} ({} open)\n  unexplained: {unexplained}\n",
        money(reconciliation.gl_balance),
        money(reconciliation.items_total),
        reconciliation.items.len()
    )
}

fn items_table(items: &[closebook_ledger::store::ReconcilingItem], format: Format) -> Table {
    let mut table = Table::new(&[
        ("Id", true),
        ("Opened", false),
        ("Amount", true),
        ("Expected clear", false),
        ("Reference", false),
        ("Explanation", false),
        ("Added by", false),
        ("Cleared", false),
    ]);
    for item in items {
        table.row(vec![
            item.id.to_string(),
            item.period.to_string(),
            cell(item.amount, format),
            item.expected_clear.to_string(),
            item.reference.clone(),
            item.explanation.clone(),
            match &item.run_id {
                Some(_) => format!("{} (a step's run)", item.created_by),
                None => item.created_by.to_string(),
            },
            item.cleared
                .as_ref()
                .map_or_else(String::new, |cleared| format!("{} by {}", cleared.period, cleared.by)),
        ]);
    }
    table
}

fn show(reconciliation: &Reconciliation, statement_lines: usize) -> String {
    let scope = &reconciliation.scope;
    let dimensions = if scope.dimensions.is_empty() {
        String::new()
    } else {
        format!(" ({})", scope.dimensions)
    };
    let mut text = format!(
        "Reconciliation of account {} {}{dimensions} of {} for {} ({})\n\n",
        scope.account,
        visible(&reconciliation.account_name),
        scope.entity,
        scope.period,
        reconciliation.currency
    );
    text.push_str(&figures(reconciliation));
    if let Some(balance) = &reconciliation.independent {
        let opening = balance
            .opening
            .map(|opening| {
                format!(
                    ", opening {}, {statement_lines} lines",
                    grouped(reconciliation.fixed(opening))
                )
            })
            .unwrap_or_default();
        text.push_str(&format!(
            "  {} entered by {} at {}{opening}{}\n",
            balance.kind.as_str(),
            balance.created_by,
            balance.created_at,
            balance
                .sha256
                .as_ref()
                .map(|sha| format!(", SHA-256 {sha}"))
                .unwrap_or_default()
        ));
    }
    text.push_str(&format!("  status: {}\n", visible(&reconciliation.status.describe())));
    if !reconciliation.items.is_empty() {
        text.push_str(&format!("\nReconciling items open in {}\n", scope.period));
        text.push_str(&items_table(&reconciliation.items, Format::Table).render());
    }
    if !reconciliation.cleared.is_empty() {
        text.push_str(&format!("\nCleared in {}\n", scope.period));
        text.push_str(&items_table(&reconciliation.cleared, Format::Table).render());
    }
    if !reconciliation.evidence.is_empty() {
        text.push_str("\nEvidence (save one with `closebook reconcile evidence --entity E ID --output FILE`)\n");
        let mut table = Table::new(&[
            ("Id", true),
            ("File", false),
            ("Bytes", true),
            ("SHA-256", false),
            ("Added by", false),
            ("At", false),
        ]);
        for evidence in &reconciliation.evidence {
            table.row(vec![
                evidence.id.to_string(),
                evidence.file_name.clone(),
                evidence.bytes.to_string(),
                evidence.sha256.clone(),
                evidence.added_by.to_string(),
                evidence.added_at.clone(),
            ]);
        }
        text.push_str(&table.render());
    }
    if !reconciliation.history.is_empty() {
        text.push_str("\nHistory\n");
        let mut table = Table::new(&[
            ("At", false),
            ("Step", false),
            ("User", false),
            ("GL balance", true),
            ("Unexplained", true),
            ("Note", false),
        ]);
        for event in &reconciliation.history {
            let unverified = if event.identity == "declared" {
                " (unverified)"
            } else {
                ""
            };
            table.row(vec![
                event.at.clone(),
                event.action.as_str().to_owned(),
                format!("{}{unverified}", event.user),
                grouped(event.gl_balance),
                event.unexplained.map(grouped).unwrap_or_default(),
                event.note.clone(),
            ]);
        }
        text.push_str(&table.render());
    }
    text
}

/// Who prepared and who reviewed, for the report's columns.
fn signers(status: &ReconcileStatus) -> (String, String) {
    match status {
        ReconcileStatus::Unreconciled { .. } => (String::new(), String::new()),
        ReconcileStatus::Prepared { by, .. } => (by.to_string(), String::new()),
        ReconcileStatus::Reviewed { prepared_by, by, .. } => (prepared_by.to_string(), by.to_string()),
    }
}

fn report_table(reconciliations: &[Reconciliation], format: Format, wide: bool) -> Table {
    // A narrow (terminal) table leaves out what is empty or long: the dimensions when no
    // reconciliation has any, and the source (`reconcile show` has it).
    let dimensions = wide
        || reconciliations
            .iter()
            .any(|reconciliation| !reconciliation.scope.dimensions.is_empty());
    let source = wide;
    let mut columns = vec![("Account", false), ("Name", false)];
    if dimensions {
        columns.push(("Dimensions", false));
    }
    columns.extend([("GL balance", true), ("Independent", true)]);
    if source {
        columns.push(("Source", false));
    }
    columns.extend([
        ("Items", true),
        ("Unexplained", true),
        ("Materiality", true),
        ("Status", false),
        ("Prepared by", false),
        ("Reviewed by", false),
    ]);
    let mut table = Table::new(&columns);
    for reconciliation in reconciliations {
        let (prepared, reviewed) = signers(&reconciliation.status);
        let status = match &reconciliation.status {
            ReconcileStatus::Unreconciled { withdrawn: Some(_) } => "unreconciled (withdrawn)".to_owned(),
            status => status.as_str().to_owned(),
        };
        let mut row = vec![
            reconciliation.scope.account.to_string(),
            reconciliation.account_name.clone(),
        ];
        if dimensions {
            row.push(reconciliation.scope.dimensions.clone());
        }
        row.push(cell(reconciliation.gl_balance, format));
        row.push(
            reconciliation
                .independent
                .as_ref()
                .map_or_else(String::new, |balance| cell(balance.closing, format)),
        );
        if source {
            row.push(reconciliation.independent.as_ref().map_or_else(String::new, |balance| {
                format!("{}: {}", balance.kind.as_str(), balance.source)
            }));
        }
        row.extend([
            cell(reconciliation.items_total, format),
            reconciliation
                .unexplained
                .map_or_else(String::new, |unexplained| cell(unexplained, format)),
            cell(reconciliation.threshold, format),
            status,
            prepared,
            reviewed,
        ]);
        table.row(row);
    }
    table
}

fn report_text(entity: &EntityId, period: &PeriodName, reconciliations: &[Reconciliation]) -> String {
    let reviewed = reconciliations.iter().filter(|found| found.is_reviewed()).count();
    let mut text = format!(
        "Reconciliations of {entity} for {period}: {reviewed} of {} reviewed\n\n",
        reconciliations.len()
    );
    if reconciliations.is_empty() {
        text.push_str(
            "No account is reconciled yet: list accounts in setup's [[reconciliation]], or import a statement with `closebook reconcile import-statement`.\n",
        );
        return text;
    }
    text.push_str(&report_table(reconciliations, Format::Table, false).render());
    for reconciliation in reconciliations {
        if let ReconcileStatus::Unreconciled {
            withdrawn: Some(reason),
        } = &reconciliation.status
        {
            text.push_str(&format!(
                "\n{}: sign-off withdrawn: {}\n",
                reconciliation.scope.account,
                visible(reason)
            ));
        }
    }
    text
}

fn report_html(entity: &EntityId, period: &PeriodName, reconciliations: &[Reconciliation]) -> String {
    use maud::{DOCTYPE, html};
    let reviewed = reconciliations.iter().filter(|found| found.is_reviewed()).count();
    let title = format!("Reconciliations of {entity} for {period}");
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                title { (title) }
                style { "body { font-family: sans-serif; margin: 2em; } table { border-collapse: collapse; margin-bottom: 1.5em; } th, td { border-bottom: 1px solid #ccc; padding: 3px 8px; text-align: left; } td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; } .withdrawn { color: #a40; }" }
            }
            body {
                h1 { (title) }
                p { (reviewed) " of " (reconciliations.len()) " reviewed." }
                (report_body(reconciliations))
            }
        }
    }
    .into_string()
}

/// The report's tables as HTML, every value escaped: the accounts' figures and statuses, each
/// withdrawal's reason, and each account's open reconciling items. The workspace's
/// reconciliations page shows the same.
pub(crate) fn report_body(reconciliations: &[Reconciliation]) -> maud::Markup {
    maud::html! {
        (report_table(reconciliations, Format::Table, true).to_html())
        @for reconciliation in reconciliations {
            @if let ReconcileStatus::Unreconciled { withdrawn: Some(reason) } = &reconciliation.status {
                p.withdrawn { (reconciliation.scope.account) ": sign-off withdrawn: " (reason) }
            }
            @if !reconciliation.items.is_empty() {
                h2 { "Reconciling items of " (reconciliation.scope.account) " " (reconciliation.account_name) }
                (items_table(&reconciliation.items, Format::Table).to_html())
            }
        }
    }
}
