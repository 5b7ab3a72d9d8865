//! `closebook report trial-balance|journal|balance-sheet|income-statement|open-items`; the
//! financial statements render through `crate::statements`.

use super::{Context, wrap_last_column};
use crate::cli::{Format, ReportCommand, StatementOutput, StatementScope};
use crate::output::{Table, cell, print, print_json, print_table};
use crate::statements;
use anyhow::Context as _;
use closebook_ledger::ids::{CurrencyCode, EntityId, PeriodName};
use closebook_ledger::journal::PostedEntry;
use closebook_ledger::report::{self, JournalReport, TrialBalance};
use closebook_ledger::statement::{self, Statement};

/// Lines one open-items report lists: enough for any account a person reads line by line.
const OPEN_ITEMS_ROWS_MAX: usize = 100_000;

pub fn run(context: &Context, command: ReportCommand) -> anyhow::Result<()> {
    let mut ledger = context.open_ledger()?;
    match command {
        ReportCommand::TrialBalance {
            scope,
            dimensions,
            include_closing,
            format,
        } => {
            let (entity, period) = (EntityId::new(scope.entity), PeriodName::new(scope.period));
            let trial_balance =
                ledger.read(|db| report::trial_balance(db, &entity, &period, &dimensions, include_closing))?;
            match format.format {
                Format::Json => print_json(&trial_balance),
                other => {
                    if other == Format::Table {
                        print(&format!(
                            "Trial balance of {} for {} ({})\n\n",
                            trial_balance.entity, trial_balance.period, trial_balance.currency
                        ))?;
                    }
                    print_table(&trial_balance_table(&trial_balance, &dimensions, other), other)
                }
            }
        }
        ReportCommand::Journal { scope, format } => {
            let (entity, period) = (EntityId::new(scope.entity), PeriodName::new(scope.period));
            let (journal, currency) = ledger.read(|db| {
                let currency = db.require_entity(&entity)?.currency;
                Ok((report::journal(db, &entity, &period)?, currency))
            })?;
            match format.format {
                Format::Json => print_json(&journal),
                Format::Csv => print_table(&journal_csv(&journal, &currency), Format::Csv),
                Format::Table => {
                    print(&format!(
                        "Ledger journal of {} for {} ({currency}): {} entries\n\n",
                        journal.entity,
                        journal.period,
                        journal.entries.len()
                    ))?;
                    print_table(&journal_table(&journal), Format::Table)
                }
            }
        }
        ReportCommand::BalanceSheet { scope, output } => {
            let (entities, period) = statement_scope(&scope);
            let sheet = ledger
                .read(|db| Ok(statement::balance_sheet(db, &entities, &period)?))
                .with_context(|| format!("balance sheet of {} for {period}", scope.entities.join(" + ")))?;
            write_statement(&sheet, &output)
        }
        ReportCommand::OpenItems {
            entity,
            account,
            format,
        } => {
            let (entity, account) = (
                EntityId::new(entity),
                closebook_ledger::ids::AccountNumber::new(account),
            );
            let lines = ledger.read(|db| db.open_items(&entity, &account, OPEN_ITEMS_ROWS_MAX))?;
            if format.format == Format::Json {
                let rows: Vec<serde_json::Value> = lines
                    .iter()
                    .map(|record| {
                        serde_json::json!({
                            "line": record.id, "entry": record.entry_key, "date": record.date.to_string(), "period": record.period,
                            "dimensions": record.line.dimensions, "currency": record.line.currency, "amount": record.line.amount,
                            "accounting_amount": record.line.accounting_amount, "description": record.line.description,
                        })
                    })
                    .collect();
                return print_json(&rows);
            }
            let mut table = Table::new(&[
                ("Line", true),
                ("Entry", false),
                ("Date", false),
                ("Dimensions", false),
                ("Currency", false),
                ("Amount", true),
                ("Accounting", true),
                ("Description", false),
            ]);
            for record in &lines {
                table.row(vec![
                    record.id.to_string(),
                    record.entry_key.to_string(),
                    record.date.to_string(),
                    record.line.dimensions.clone(),
                    record.line.currency.to_string(),
                    cell(record.line.amount, format.format),
                    cell(record.line.accounting_amount, format.format),
                    record.line.description.clone(),
                ]);
            }
            if format.format == Format::Table {
                print(&format!(
                    "Open items of account {account} in {entity}: {} lines\n\n",
                    lines.len()
                ))?;
            }
            print_table(&table, format.format)
        }
        ReportCommand::IncomeStatement { scope, output } => {
            let (entities, period) = statement_scope(&scope);
            let income = ledger
                .read(|db| Ok(statement::income_statement(db, &entities, &period)?))
                .with_context(|| format!("income statement of {} for {period}", scope.entities.join(" + ")))?;
            write_statement(&income, &output)
        }
    }
}

fn statement_scope(scope: &StatementScope) -> (Vec<EntityId>, PeriodName) {
    (
        scope
            .entities
            .iter()
            .map(|entity| EntityId::new(entity.clone()))
            .collect(),
        PeriodName::new(scope.period.clone()),
    )
}

/// Renders a statement and prints it, or writes it to `--output` once it is complete (a refused
/// statement creates no file).
fn write_statement(statement: &Statement, output: &StatementOutput) -> anyhow::Result<()> {
    let text = statements::render(statement, output.format)?;
    match &output.output {
        None => print(&text),
        Some(path) => {
            std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))?;
            print(&format!(
                "wrote the {} of {} for {} to {}\n",
                statement.title.to_lowercase(),
                statement
                    .entities
                    .iter()
                    .map(|entity| entity.id.to_string())
                    .collect::<Vec<_>>()
                    .join(" + "),
                statement.period,
                path.display()
            ))
        }
    }
}

/// The trial balance as a table; in CSV every row starts with the entity and the currency, so
/// that rows of several exports pasted together stay apart (the table says both in its title).
pub(crate) fn trial_balance_table(trial_balance: &TrialBalance, dimensions: &[String], format: Format) -> Table {
    let with_dimensions = !dimensions.is_empty();
    let with_scope = format == Format::Csv;
    let mut columns = Vec::new();
    if with_scope {
        columns.extend([("Entity", false), ("Currency", false)]);
    }
    columns.extend([("Account", false), ("Name", false)]);
    if with_dimensions {
        columns.push(("Dimensions", false));
    }
    columns.extend([("Opening", true), ("Debit", true), ("Credit", true), ("Closing", true)]);
    let mut table = Table::new(&columns);
    for row in &trial_balance.rows {
        let mut cells = Vec::new();
        if with_scope {
            cells.extend([trial_balance.entity.to_string(), trial_balance.currency.to_string()]);
        }
        cells.extend([row.account.to_string(), row.name.clone()]);
        if with_dimensions {
            cells.push(closebook_ledger::dimension::canonical(&row.dimensions));
        }
        cells.extend([
            cell(row.opening, format),
            cell(row.debit, format),
            cell(row.credit, format),
            cell(row.closing, format),
        ]);
        table.row(cells);
    }
    let totals = &trial_balance.totals;
    let mut cells = Vec::new();
    if with_scope {
        cells.extend([String::new(), String::new()]);
    }
    cells.extend(["Total".to_owned(), String::new()]);
    if with_dimensions {
        cells.push(String::new());
    }
    cells.extend([
        cell(totals.opening, format),
        cell(totals.debit, format),
        cell(totals.credit, format),
        cell(totals.closing, format),
    ]);
    table.footer(cells);
    table
}

/// Where an entry came from, for people: `import:us-ledger.csv by alice`, or the close task and
/// plugin that posted it.
fn entry_source(entry: &PostedEntry) -> String {
    let provenance = &entry.provenance;
    let source = match (&provenance.plugin_name, &provenance.task) {
        (Some(plugin), Some(task)) => format!(
            "{task} ({plugin} {})",
            provenance.plugin_version.clone().unwrap_or_default()
        ),
        _ => provenance.source.clone(),
    };
    format!("{source} by {}", entry.posted_by)
}

/// The journal for a terminal: an entry's sequence, key and date on its first line; each line's
/// description followed by its dimensions, and after the lines a note of where the entry came
/// from, in the last column, which wraps so that the table fits
/// `TERMINAL_TABLE_WIDTH_CHARS_MAX` (dimension sets such as `department=100;partner=ACME-DE`
/// would not fit in a column of their own).
fn journal_table(journal: &JournalReport) -> Table {
    let columns = [
        ("Seq", true),
        ("Entry", false),
        ("Date", false),
        ("Account", false),
        ("Cur", false),
        ("Amount", true),
        ("Accounting", true),
        ("Description [dimensions]", false),
    ];
    let mut rows = Vec::new();
    for entry in &journal.entries {
        for (index, line) in entry.lines.iter().enumerate() {
            let first = index == 0;
            let on_first = |text: String| if first { text } else { String::new() };
            let description = match (line.description.is_empty(), line.dimensions.is_empty()) {
                (_, true) => line.description.clone(),
                (true, false) => format!("[{}]", line.dimensions),
                (false, false) => format!("{} [{}]", line.description, line.dimensions),
            };
            rows.push(vec![
                on_first(entry.sequence.to_string()),
                on_first(entry.key.to_string()),
                on_first(entry.date.to_string()),
                line.account.to_string(),
                line.currency.to_string(),
                cell(line.amount, Format::Table),
                cell(line.accounting_amount, Format::Table),
                description,
            ]);
        }
        let mut note = vec![String::new(); columns.len() - 1];
        note.push(format!("(from {})", entry_source(entry)));
        rows.push(note);
    }
    let headers: Vec<&str> = columns.iter().map(|(header, _)| *header).collect();
    let mut table = Table::new(&columns);
    for row in wrap_last_column(&headers, rows) {
        table.row(row);
    }
    table
}

/// The journal as CSV: one row per line, each with its entity, accounting currency, entry
/// sequence, key, date, period and source, so that any row read alone (filtered, sorted) says
/// which entry it belongs to.
fn journal_csv(journal: &JournalReport, currency: &CurrencyCode) -> Table {
    let mut table = Table::new(&[
        ("Entity", false),
        ("Accounting currency", false),
        ("Seq", true),
        ("Entry", false),
        ("Date", false),
        ("Period", false),
        ("Account", false),
        ("Dimensions", false),
        ("Currency", false),
        ("Amount", true),
        ("Accounting", true),
        ("Description", false),
        ("Source", false),
    ]);
    for entry in &journal.entries {
        let source = entry_source(entry);
        for line in &entry.lines {
            table.row(vec![
                journal.entity.to_string(),
                currency.to_string(),
                entry.sequence.to_string(),
                entry.key.to_string(),
                entry.date.to_string(),
                entry.period.to_string(),
                line.account.to_string(),
                line.dimensions.clone(),
                line.currency.to_string(),
                cell(line.amount, Format::Csv),
                cell(line.accounting_amount, Format::Csv),
                line.description.clone(),
                source.clone(),
            ]);
        }
    }
    table
}
