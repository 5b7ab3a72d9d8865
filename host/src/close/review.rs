//! What a reviewer sees: a step's proposed (or posted) entries with every line, the account's
//! name, dimensions, currency, amount and the accounting amount as debit and credit, with
//! totals. One view serves `close show`, `close run --dry-run` and the review sign-off, so a
//! reviewer approves exactly what they were shown.

use super::CloseContext;
use super::config::TaskKind;
use crate::output::{Table, grouped};
use crate::step::StepRecord;
use anyhow::Context as _;
use closebook_ledger::LedgerError;
use closebook_ledger::close_task::TaskStatus;
use closebook_ledger::ids::{AccountNumber, EntityId};
use closebook_ledger::journal::PostedEntry;
use closebook_ledger::money::parse_decimal;
use closebook_ledger::proposal::{Dimension, ProposedClearing, ProposedReconcilingItem};
use closebook_ledger::store::{CloseTaskRecord, Db, TaskEvent};
use rust_decimal::Decimal;
use serde::Serialize;
use std::collections::BTreeMap;

/// One entry as a reviewer reads it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ProposedEntryView {
    pub entity: EntityId,
    /// The key it posts (or posted) under, when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    pub date: String,
    /// The period it names; its date's operating period when none.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub period: Option<String>,
    pub description: String,
    /// The date its automatic reversal posts on.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reversal_date: Option<String>,
    pub lines: Vec<LineView>,
}

/// One line of an entry, amounts as decimal strings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LineView {
    pub account: String,
    /// The account's name in the entity's chart; empty for an account the chart lacks (such a
    /// proposal is refused when it is checked).
    pub account_name: String,
    /// `name=value` pairs, in name order.
    pub dimensions: Vec<String>,
    pub currency: String,
    pub amount: String,
    /// The amount in the entity's accounting currency: given, equal to `amount` in the
    /// accounting currency, or none when posting converts it at the day's rate.
    pub accounting_amount: Option<String>,
    pub description: String,
}

impl LineView {
    fn accounting(&self) -> Option<Decimal> {
        self.accounting_amount
            .as_deref()
            .and_then(|text| parse_decimal(text).ok())
    }
}

/// The account names and accounting currency of each entity, read once per view.
struct Charts<'db, 'connection> {
    db: &'db Db<'connection>,
    entities: BTreeMap<EntityId, (String, BTreeMap<AccountNumber, String>)>,
}

impl Charts<'_, '_> {
    fn of(&mut self, entity: &EntityId) -> Result<&(String, BTreeMap<AccountNumber, String>), LedgerError> {
        if !self.entities.contains_key(entity) {
            let found = match self.db.entity(entity)? {
                Some(record) => (
                    record.currency.to_string(),
                    self.db
                        .accounts(&record.chart)?
                        .into_iter()
                        .map(|account| (account.number, account.name))
                        .collect(),
                ),
                None => (String::new(), BTreeMap::new()),
            };
            self.entities.insert(entity.clone(), found);
        }
        Ok(&self.entities[entity])
    }
}

/// The entries a step's output proposes, as they would post: keys as the run would give them.
pub fn proposed_entries(db: &Db<'_>, record: &StepRecord) -> Result<Vec<ProposedEntryView>, LedgerError> {
    let mut charts = Charts {
        db,
        entities: BTreeMap::new(),
    };
    let mut views = Vec::with_capacity(record.output.entries.len());
    for (index, entry) in record.output.entries.iter().enumerate() {
        let entity = EntityId::new(entry.entity.clone());
        let (currency, names) = charts.of(&entity)?;
        let lines = entry
            .lines
            .iter()
            .map(|line| {
                let line_currency = line.currency.clone().unwrap_or_else(|| currency.clone());
                let mut dimensions: Vec<String> = line.dimensions.iter().map(Dimension::pair).collect();
                dimensions.sort();
                LineView {
                    account_name: names
                        .get(&AccountNumber::new(line.account.clone()))
                        .cloned()
                        .unwrap_or_default(),
                    account: line.account.clone(),
                    dimensions,
                    accounting_amount: line
                        .accounting_amount
                        .clone()
                        .or_else(|| (&line_currency == currency).then(|| line.amount.clone())),
                    currency: line_currency,
                    amount: line.amount.clone(),
                    description: line.description.clone().unwrap_or_default(),
                }
            })
            .collect();
        views.push(ProposedEntryView {
            entity,
            key: Some(format!("{}/{}", record.run_id, index + 1)),
            date: entry.date.clone(),
            period: entry.period.clone(),
            description: entry.description.clone(),
            reversal_date: entry.reversal_date.clone(),
            lines,
        });
    }
    Ok(views)
}

/// The entries a run posted and that are still in effect (not cancelled by a rerun), as a
/// reviewer reads them.
pub fn posted_entries(db: &Db<'_>, run_id: &str) -> Result<Vec<ProposedEntryView>, LedgerError> {
    let mut charts = Charts {
        db,
        entities: BTreeMap::new(),
    };
    let mut views = Vec::new();
    for (entity, key) in db.entries_to_negate_for_rerun(run_id)? {
        let Some(entry) = db.entry_by_key(&entity, &key)? else {
            continue;
        };
        let (_, names) = charts.of(&entity)?;
        views.push(posted_view(entry, names));
    }
    Ok(views)
}

fn posted_view(entry: PostedEntry, names: &BTreeMap<AccountNumber, String>) -> ProposedEntryView {
    ProposedEntryView {
        entity: entry.entity,
        key: Some(entry.key.to_string()),
        date: entry.date.to_string(),
        period: Some(entry.period.to_string()),
        description: entry.description.clone(),
        reversal_date: None,
        lines: entry
            .lines
            .into_iter()
            .map(|line| LineView {
                account_name: names.get(&line.account).cloned().unwrap_or_default(),
                account: line.account.to_string(),
                dimensions: line
                    .dimensions
                    .split(';')
                    .filter(|pair| !pair.is_empty())
                    .map(str::to_owned)
                    .collect(),
                currency: line.currency.to_string(),
                amount: line.amount.to_string(),
                accounting_amount: Some(line.accounting_amount.to_string()),
                description: if line.description == entry.description {
                    String::new()
                } else {
                    line.description
                },
            })
            .collect(),
    }
}

/// The entries as one table, a row per line, with the accounting amount split into debit and
/// credit and totals per entity and accounting currency in the footer.
pub fn entries_table(entries: &[ProposedEntryView]) -> Table {
    let mut table = Table::new(&[
        ("#", true),
        ("Entity", false),
        ("Date", false),
        ("Account", false),
        ("Name", false),
        ("Dimensions", false),
        ("Currency", false),
        ("Amount", true),
        ("Debit", true),
        ("Credit", true),
        ("Description", false),
    ]);
    let mut totals: BTreeMap<&EntityId, (Decimal, Decimal, bool)> = BTreeMap::new();
    for (index, entry) in entries.iter().enumerate() {
        for (line_index, line) in entry.lines.iter().enumerate() {
            let first = line_index == 0;
            let accounting = line.accounting();
            let total = totals
                .entry(&entry.entity)
                .or_insert((Decimal::ZERO, Decimal::ZERO, true));
            let (debit, credit) = match accounting {
                Some(amount) if amount >= Decimal::ZERO => {
                    total.0 += amount;
                    (grouped(amount), String::new())
                }
                Some(amount) => {
                    total.1 -= amount;
                    (String::new(), grouped(-amount))
                }
                None => {
                    // Converted when it posts: the totals cannot be shown before then.
                    total.2 = false;
                    ("(converted)".to_owned(), String::new())
                }
            };
            let description = if !line.description.is_empty() {
                line.description.clone()
            } else if first {
                match &entry.reversal_date {
                    Some(date) => format!("{} (reversed on {date})", entry.description),
                    None => entry.description.clone(),
                }
            } else {
                String::new()
            };
            table.row(vec![
                if first { (index + 1).to_string() } else { String::new() },
                if first { entry.entity.to_string() } else { String::new() },
                if first { entry.date.clone() } else { String::new() },
                line.account.clone(),
                line.account_name.clone(),
                line.dimensions.join(";"),
                line.currency.clone(),
                parse_decimal(&line.amount)
                    .map(grouped)
                    .unwrap_or_else(|_| format!("{} (not a decimal)", line.amount)),
                debit,
                credit,
                description,
            ]);
        }
    }
    for (entity, (debit, credit, known)) in totals {
        let (debit, credit) = if known {
            (grouped(debit), grouped(credit))
        } else {
            ("(after conversion)".to_owned(), String::new())
        };
        table.footer(vec![
            String::new(),
            entity.to_string(),
            String::new(),
            "Total".to_owned(),
            String::new(),
            String::new(),
            String::new(),
            String::new(),
            debit,
            credit,
            String::new(),
        ]);
    }
    table
}

/// One task as its reviewer sees it (`closebook close show`).
#[derive(Debug, Clone, Serialize)]
pub struct TaskView {
    pub close: String,
    pub entity: EntityId,
    pub period: String,
    pub task: String,
    pub name: String,
    pub step: String,
    pub owner: String,
    pub reviewer: Option<String>,
    pub status: super::ShownStatus,
    pub ran_by: Option<String>,
    pub prepared_by: Option<String>,
    pub reviewed_by: Option<String>,
    /// Of the preparer and reviewer, those whose sign-off was declared, not verified.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub unverified: Vec<String>,
    /// Each dependency as `entity:task` with its status.
    pub after: Vec<(String, TaskStatus)>,
    pub message: Option<String>,
    /// The task's history: when, who, what.
    pub events: Vec<TaskEvent>,
    /// The step log of the proposal awaiting review, one line per record.
    pub step_log: Vec<String>,
    /// `proposed` (awaiting review), `posted` (done) or none.
    pub entries_are: Option<&'static str>,
    pub entries: Vec<ProposedEntryView>,
    /// The findings of the task's last run (flux variances…) with their explanations: what
    /// the reviewer signs off with the entries.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub findings: Vec<super::finding::FindingView>,
    /// The reconciling items and clearings a proposal awaiting review records when it posts
    /// (interface 0.2): the reviewer approves them with the entries.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub proposed_items: Vec<ProposedReconcilingItem>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub proposed_clearings: Vec<ProposedClearing>,
    /// The run whose entries, findings and proposals the view shows (`CloseTaskRecord::held_run`):
    /// a sign-off from the workspace names it, and is refused when the task holds another.
    #[serde(skip)]
    pub run: Option<String>,
}

/// The task as its reader may see it: `ledger` is opened for the reader (permissions checked),
/// who must be able to read `entity`; dependencies on tasks of entities the reader may not read
/// are counted in one line, without their names, and shown as done only when all of them are.
pub fn readable_task_view(
    context: &CloseContext<'_>,
    ledger: &mut closebook_ledger::Ledger,
    entity: &EntityId,
    task_id: &str,
) -> anyhow::Result<TaskView> {
    ledger.authorize(closebook_ledger::access::Permission::LedgerRead, Some(entity))?;
    let mut view = task_view(context, entity, task_id)?;
    let readable = ledger.readable_entities()?;
    let (shown, hidden) = super::split_readable(std::mem::take(&mut view.after), |(name, _)| name.as_str(), &readable);
    view.after = shown;
    if !hidden.is_empty() {
        let status = hidden
            .iter()
            .map(|(_, status)| *status)
            .find(|status| !status.is_complete())
            .unwrap_or(TaskStatus::Done);
        view.after.push((super::hidden_dependencies(hidden.len()), status));
    }
    Ok(view)
}

/// Reads what `closebook close show` prints for `task_id` of `entity`, for any reader: use
/// [`readable_task_view`] for one whose permissions are checked.
pub fn task_view(context: &CloseContext<'_>, entity: &EntityId, task_id: &str) -> anyhow::Result<TaskView> {
    let task = context
        .config
        .task(task_id)
        .with_context(|| format!("close {} has no task {task_id}", context.config.name))?;
    let entities = context.entities()?;
    anyhow::ensure!(
        entities.contains(entity),
        "entity {entity} is not part of close {}",
        context.config.name
    );
    super::ensure_runs_in(task, entity)?;
    let all_entities = context.close_entities()?;
    super::stale::mark_stale(context, &all_entities)?;
    let mut ledger = context.ledger()?;
    let store = ledger.store();
    let (state, waiting) = super::task_state(store, context, &all_entities, entity, task)?;
    let status = state.as_ref().map_or(TaskStatus::Pending, |record| record.status);
    let view = store.read(|db| {
        let mut after = Vec::new();
        for dependency in &task.after {
            for target in super::dependency_entities(context, &all_entities, entity, dependency) {
                let status = db
                    .close_task(&context.config.name, target, &context.period, &dependency.task)?
                    .map_or(TaskStatus::Pending, |record| record.status);
                after.push((format!("{target}:{}", dependency.task), status));
            }
        }
        let events = db.task_events(&context.config.name, entity, &context.period, task_id)?;
        let stored: Option<StepRecord> = state
            .as_ref()
            .and_then(|record| record.proposal.as_deref())
            .and_then(|proposal| serde_json::from_str(proposal).ok());
        let (entries_are, entries, step_log) = match (&stored, state.as_ref()) {
            (Some(record), _) => (
                Some("proposed"),
                proposed_entries(db, record)?,
                log_lines(&record.log_json),
            ),
            // A step that posted and waits for its preparer's or reviewer's sign-off of its
            // findings shows what it posted too.
            (None, Some(done))
                if (done.status.is_complete()
                    || matches!(done.status, TaskStatus::AwaitingSignoff | TaskStatus::Prepared))
                    && done.run_id.is_some() =>
            {
                (
                    Some("posted"),
                    posted_entries(db, done.run_id.as_deref().unwrap_or_default())?,
                    Vec::new(),
                )
            }
            _ => (None, Vec::new(), Vec::new()),
        };
        let findings = match state.as_ref() {
            Some(record) if record.status != TaskStatus::Stale => super::finding::finding_views(db, record)?,
            _ => Vec::new(),
        };
        let (proposed_items, proposed_clearings) = match &stored {
            Some(record) => (
                record.output.reconciling_items.clone(),
                record.output.cleared_items.clone(),
            ),
            None => (Vec::new(), Vec::new()),
        };
        Ok((
            (after, events, entries_are, entries, step_log, findings),
            (proposed_items, proposed_clearings),
        ))
    })?;
    let ((after, events, entries_are, entries, step_log, findings), (proposed_items, proposed_clearings)) = view;
    let step = match &task.kind {
        TaskKind::Manual { .. } => "manual".to_owned(),
        TaskKind::Builtin(builtin) => format!("builtin:{}", builtin.name()),
        TaskKind::Plugin { plugin } => format!("plugin:{plugin}"),
    };
    let message = super::with_note(
        super::config_changed_note(task, state.as_ref()),
        state.as_ref().and_then(|record| record.message.clone()),
    );
    Ok(TaskView {
        close: context.config.name.clone(),
        entity: entity.clone(),
        period: context.period.to_string(),
        task: task.id.clone(),
        name: task.name.clone(),
        step,
        owner: task.owner.clone(),
        reviewer: task.reviewer.clone(),
        status: super::ShownStatus::of(status, &waiting),
        run: state.as_ref().and_then(|record| record.held_run().map(str::to_owned)),
        ran_by: state.as_ref().and_then(|record| record.ran_by.clone()),
        prepared_by: state.as_ref().and_then(|record| record.prepared_by.clone()),
        reviewed_by: state.as_ref().and_then(|record| record.reviewed_by.clone()),
        unverified: match &state {
            Some(record) => store.read(|db| unverified_signers(db, record))?,
            None => Vec::new(),
        },
        after,
        message,
        events,
        step_log,
        entries_are,
        entries,
        findings,
        proposed_items,
        proposed_clearings,
    })
}

/// A stored step log as lines a person reads: `level: message`, then stdout and stderr.
fn log_lines(log_json: &str) -> Vec<String> {
    let Ok(log) = serde_json::from_str::<serde_json::Value>(log_json) else {
        return Vec::new();
    };
    let mut lines: Vec<String> = log["records"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|record| {
            format!(
                "{}: {}",
                record["level"].as_str().unwrap_or("log").to_lowercase(),
                record["message"].as_str().unwrap_or_default()
            )
        })
        .collect();
    for stream in ["stdout", "stderr"] {
        for line in log[stream].as_str().unwrap_or_default().lines() {
            lines.push(format!("{stream}: {line}"));
        }
    }
    if log["truncated"].as_bool() == Some(true) {
        lines.push("(the log was truncated at its size limit)".to_owned());
    }
    lines
}

/// The task view as text for the terminal.
pub fn render_task_view(view: &TaskView) -> String {
    let or_dash = |value: &Option<String>| value.clone().unwrap_or_else(|| "-".to_owned());
    let mut text = format!(
        "Task {} of {}, close {}, period {}\n{}\n\n",
        view.task, view.entity, view.close, view.period, view.name
    );
    let mut facts = vec![
        ("Status", view.status.to_string()),
        ("Step", view.step.clone()),
        ("Owner", view.owner.clone()),
        ("Reviewer", or_dash(&view.reviewer)),
        ("Ran by", or_dash(&view.ran_by)),
        ("Prepared by", signer(&view.prepared_by, &view.unverified)),
        ("Reviewed by", signer(&view.reviewed_by, &view.unverified)),
    ];
    if !view.after.is_empty() {
        facts.push((
            "After",
            view.after
                .iter()
                .map(|(task, status)| format!("{task} ({status})"))
                .collect::<Vec<_>>()
                .join(", "),
        ));
    }
    if let Some(message) = &view.message {
        facts.push(("Message", message.clone()));
    }
    for (label, value) in facts {
        text.push_str(&format!("  {label:<12} {value}\n"));
    }
    if !view.events.is_empty() {
        text.push_str("\nHistory\n");
        for event in &view.events {
            let unverified = if event.is_unverified() { " (unverified)" } else { "" };
            text.push_str(&format!(
                "  {}  {:<10} {}{unverified}\n",
                event.at, event.user, event.event
            ));
        }
    }
    if !view.step_log.is_empty() {
        text.push_str("\nStep log\n");
        for line in &view.step_log {
            text.push_str(&format!("  {line}\n"));
        }
    }
    if !view.findings.is_empty() {
        let count = view.findings.len();
        text.push_str(&format!("\n{count} finding{}\n", if count == 1 { "" } else { "s" }));
        text.push_str(&findings_table(&view.findings).render());
    }
    if !view.proposed_items.is_empty() || !view.proposed_clearings.is_empty() {
        text.push_str(&format!(
            "\n{} proposed reconciling items, {} clearings\n",
            view.proposed_items.len(),
            view.proposed_clearings.len()
        ));
        text.push_str(&reconciliation_proposals_table(view).render());
    }
    match view.entries_are {
        Some(what) => {
            text.push_str(&format!("\n{} {what} entries\n\n", view.entries.len()));
            if !view.entries.is_empty() {
                text.push_str(&entries_table(&view.entries).render());
            }
        }
        None => text.push_str("\nNo entries proposed or posted.\n"),
    }
    text
}

/// The reconciling items a proposal opens and the items it clears, one row each.
pub fn reconciliation_proposals_table(view: &TaskView) -> Table {
    let mut table = Table::new(&[
        ("proposal", false),
        ("entity", false),
        ("account", false),
        ("period", false),
        ("amount", true),
        ("explanation or note", false),
        ("expected clear", false),
        ("reference", false),
    ]);
    for item in &view.proposed_items {
        let dimensions: Vec<String> = item.dimensions.iter().map(Dimension::pair).collect();
        table.row(vec![
            "open item".to_owned(),
            item.entity.clone(),
            if dimensions.is_empty() {
                item.account.clone()
            } else {
                format!("{} ({})", item.account, dimensions.join(";"))
            },
            item.period.clone(),
            item.amount.clone(),
            item.explanation.clone(),
            item.expected_clear.clone(),
            item.reference.clone(),
        ]);
    }
    for clearing in &view.proposed_clearings {
        table.row(vec![
            format!("clear item {}", clearing.item_id),
            clearing.entity.clone(),
            String::new(),
            clearing.period.clone(),
            String::new(),
            clearing.note.clone(),
            String::new(),
            String::new(),
        ]);
    }
    table
}

/// A task's findings for the terminal: the figures compared, where each stands, and its
/// explanation (or, for a reopened one, the explanation given for the figures it had).
pub fn findings_table(findings: &[super::finding::FindingView]) -> Table {
    let mut table = Table::new(&[
        ("account", false),
        ("dimensions", false),
        ("measure", false),
        ("current", true),
        ("baseline", true),
        ("change", true),
        ("threshold", false),
        ("status", false),
        ("explanation", false),
    ]);
    for view in findings {
        let key = &view.finding.key;
        let explanation = match (&view.explanation, &view.earlier) {
            (Some(explanation), _) => format!("{} ({})", explanation.text, explanation.explained_by),
            (None, Some(earlier)) => format!(
                "was: {} ({}, for {} against {})",
                earlier.text, earlier.explained_by, earlier.key.current, earlier.key.baseline
            ),
            (None, None) => String::new(),
        };
        table.row(vec![
            key.account.to_string(),
            key.dimensions.clone(),
            key.measure.clone(),
            grouped(key.current),
            grouped(key.baseline),
            grouped(key.current - key.baseline),
            view.finding.threshold.clone(),
            view.status.as_str().to_owned(),
            explanation,
        ]);
    }
    table
}

/// Of a task's preparer and reviewer, those whose latest sign-off of it was declared with
/// `--as` on a ledger that trusts declared users, rather than verified.
pub fn unverified_signers(db: &Db<'_>, record: &CloseTaskRecord) -> Result<Vec<String>, LedgerError> {
    let signers: Vec<&String> = [&record.prepared_by, &record.reviewed_by]
        .into_iter()
        .flatten()
        .collect();
    if signers.is_empty() {
        return Ok(Vec::new());
    }
    let mut latest: BTreeMap<String, bool> = BTreeMap::new();
    for event in db.task_events(&record.close, &record.entity, &record.period, &record.task)? {
        if matches!(event.event.as_str(), "signed-off" | "reviewed") {
            latest.insert(event.user.clone(), event.is_unverified());
        }
    }
    let mut unverified: Vec<String> = Vec::new();
    for signer in signers {
        if latest.get(signer.as_str()).copied().unwrap_or(false) && !unverified.contains(signer) {
            unverified.push(signer.clone());
        }
    }
    Ok(unverified)
}

/// A signer's name for the task view: a dash when none, marked when unverified.
fn signer(name: &Option<String>, unverified: &[String]) -> String {
    match name {
        Some(name) if unverified.contains(name) => format!("{name} (declared with --as, unverified)"),
        Some(name) => name.clone(),
        None => "-".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(account: &str, accounting: Option<&str>) -> LineView {
        LineView {
            account: account.to_owned(),
            account_name: format!("Account {account}"),
            dimensions: vec!["department=100".to_owned()],
            currency: "USD".to_owned(),
            amount: accounting.unwrap_or("10.00").to_owned(),
            accounting_amount: accounting.map(str::to_owned),
            description: String::new(),
        }
    }

    #[test]
    fn the_table_splits_accounting_amounts_into_debit_and_credit_with_totals() {
        // Proves a reviewer sees debit and credit columns and totals that balance.
        let entries = vec![ProposedEntryView {
            entity: EntityId::new("ACME-US"),
            key: None,
            date: "2026-01-31".to_owned(),
            period: None,
            description: "Fee".to_owned(),
            reversal_date: Some("2026-02-01".to_owned()),
            lines: vec![line("6900", Some("1234.50")), line("2100", Some("-1234.50"))],
        }];
        let text = entries_table(&entries).render();
        assert!(text.contains("Fee (reversed on 2026-02-01)"), "{text}");
        let total = text.lines().last().unwrap();
        assert!(total.contains("Total"), "{text}");
        assert_eq!(total.matches("1,234.50").count(), 2, "{text}");
    }

    #[test]
    fn a_line_converted_at_posting_leaves_the_totals_open() {
        // Proves no total is shown as if it were known when posting will convert a line.
        let entries = vec![ProposedEntryView {
            entity: EntityId::new("ACME-US"),
            key: None,
            date: "2026-01-31".to_owned(),
            period: None,
            description: "FX".to_owned(),
            reversal_date: None,
            lines: vec![line("1200", None), line("2100", Some("-10.00"))],
        }];
        let text = entries_table(&entries).render();
        assert!(text.contains("(after conversion)"), "{text}");
    }
}
