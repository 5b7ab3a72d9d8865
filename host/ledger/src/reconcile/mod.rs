//! Account reconciliations (DOMAIN.md §13): for an account (optionally some of its dimension
//! values) and a period, the GL balance beside an independent balance (a bank statement's
//! closing balance or a subledger figure), and the reconciling items that explain the
//! difference. Unexplained = GL − (independent + open items). A preparer signs it off when the
//! unexplained difference is within the account's materiality; another user reviews it. A sign-off
//! holds for the figures signed: an entry posted to the account (dated up to the period's end)
//! after it, or a change to the statement or the items, withdraws it, naming what changed.
//! Items carry forward: opened in a period, an item stays open in every later one until cleared.

use crate::access::{Actor, IdentityMethod, Permission};
use crate::calendar::{EntityPeriods, Period};
use crate::dimension::{self, DimensionValues};
use crate::error::LedgerError;
use crate::ids::{AccountNumber, EntityId, PeriodName, UserId};
use crate::journal::LINE_AMOUNT_ABS_MAX_UNITS;
use crate::ledger::Ledger;
use crate::money::{decimals_used, parse_amount_text};
use crate::period::PeriodStatus;
use crate::report;
use crate::store::{
    Db, Evidence, IndependentBalance, IndependentKind, NewIndependentBalance, NewReconcilingItem, ReconcileScope,
    ReconciliationRule, ReconciliationSignoff, ReconcilingItem, SignoffAction, StatementLine,
};
use chrono::NaiveDate;
use rust_decimal::Decimal;
use serde::Serialize;
use serde_json::json;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;

mod operations;
mod proposals;

pub use proposals::{CheckedItem, ProposalChecks};
pub(crate) use proposals::{record_proposed_items, record_withdrawals};

/// The largest evidence file a reconciliation keeps: a scanned statement or a spreadsheet, not
/// an archive. Larger files are refused, naming this limit.
pub const EVIDENCE_BYTES_MAX: usize = 10 * 1024 * 1024;

/// The largest bank statement file imported.
pub const STATEMENT_BYTES_MAX: usize = 16 * 1024 * 1024;

/// The most lines one statement holds: a month of a busy account, with room to spare.
pub const STATEMENT_LINES_MAX: usize = 200_000;

/// How many entry keys a withdrawal names; the rest are counted.
const WITHDRAWAL_KEYS_SHOWN_MAX: usize = 10;

/// Where a reconciliation stands for its current figures.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "status", rename_all = "kebab-case")]
pub enum ReconcileStatus {
    /// Never signed off, or its sign-off was withdrawn (`withdrawn` says why).
    Unreconciled {
        #[serde(skip_serializing_if = "Option::is_none")]
        withdrawn: Option<String>,
    },
    Prepared {
        by: UserId,
        identity: String,
    },
    Reviewed {
        prepared_by: UserId,
        by: UserId,
        identity: String,
    },
}

impl ReconcileStatus {
    /// unreconciled, prepared or reviewed.
    pub fn as_str(&self) -> &'static str {
        match self {
            ReconcileStatus::Unreconciled { .. } => "unreconciled",
            ReconcileStatus::Prepared { .. } => "prepared",
            ReconcileStatus::Reviewed { .. } => "reviewed",
        }
    }

    /// The status in words, with who signed and why a sign-off was withdrawn.
    pub fn describe(&self) -> String {
        let declared = |identity: &str| {
            if identity == IdentityMethod::Declared.as_str() {
                " (identity declared, unverified)"
            } else {
                ""
            }
        };
        match self {
            ReconcileStatus::Unreconciled { withdrawn: None } => "unreconciled".to_owned(),
            ReconcileStatus::Unreconciled {
                withdrawn: Some(reason),
            } => {
                format!("unreconciled: sign-off withdrawn: {reason}")
            }
            ReconcileStatus::Prepared { by, identity } => format!("prepared by {by}{}", declared(identity)),
            ReconcileStatus::Reviewed {
                prepared_by,
                by,
                identity,
            } => format!("reviewed by {by}{} (prepared by {prepared_by})", declared(identity)),
        }
    }
}

/// Above what an unexplained difference blocks a sign-off: the lower of the thresholds given
/// (an amount, a percentage of the GL balance's magnitude); zero when none is given.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Materiality {
    pub absolute: Option<Decimal>,
    pub percent: Option<Decimal>,
}

impl Materiality {
    fn of(rule: Option<&ReconciliationRule>) -> Self {
        rule.map_or_else(Materiality::default, |rule| Materiality {
            absolute: rule.materiality,
            percent: rule.materiality_percent,
        })
    }

    /// The threshold for a GL balance of `gl`, rounded to `minor_units`.
    pub fn threshold(&self, gl: Decimal, minor_units: u32) -> Decimal {
        let of_balance = self
            .percent
            .map(|percent| crate::money::round_to_minor_units(gl.abs() * percent / Decimal::ONE_HUNDRED, minor_units));
        let threshold = match (self.absolute, of_balance) {
            (Some(absolute), Some(of_balance)) => absolute.min(of_balance),
            (Some(absolute), None) => absolute,
            (None, Some(of_balance)) => of_balance,
            (None, None) => Decimal::ZERO,
        };
        crate::money::at_least_minor_units(threshold, minor_units)
    }

    /// The thresholds in words, for a GL balance of `gl`.
    pub fn describe(&self, gl: Decimal, minor_units: u32) -> String {
        let threshold = self.threshold(gl, minor_units);
        match (self.absolute, self.percent) {
            (Some(absolute), Some(percent)) => {
                format!("{absolute} or {percent} % of the GL balance, the lower: {threshold}")
            }
            (Some(_), None) => threshold.to_string(),
            (None, Some(percent)) => format!("{percent} % of the GL balance: {threshold}"),
            (None, None) => format!("{threshold} (no materiality set: any unexplained difference blocks the sign-off)"),
        }
    }
}

/// A reconciliation as it stands: its figures, items, evidence, status and history.
#[derive(Clone, Debug, Serialize)]
pub struct Reconciliation {
    #[serde(flatten)]
    pub scope: ReconcileScope,
    pub account_name: String,
    pub currency: String,
    pub gl_balance: Decimal,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub independent: Option<IndependentBalance>,
    /// The reconciling items open in the period, oldest first.
    pub items: Vec<ReconcilingItem>,
    pub items_total: Decimal,
    /// Items opened earlier that cleared in this period.
    pub cleared: Vec<ReconcilingItem>,
    /// GL − (independent + items); `None` without an independent balance.
    pub unexplained: Option<Decimal>,
    pub materiality: Materiality,
    pub threshold: Decimal,
    /// Whether the entity's setup lists the account (`[[reconciliation]]`).
    pub configured: bool,
    #[serde(flatten)]
    pub status: ReconcileStatus,
    pub evidence: Vec<Evidence>,
    pub history: Vec<ReconciliationSignoff>,
    /// The SHA-256 of the figures a sign-off signs.
    #[serde(skip)]
    pub fingerprint: String,
    #[serde(skip)]
    minor_units: u32,
}

impl Reconciliation {
    /// Whether the unexplained difference blocks a sign-off (`None` without an independent
    /// balance).
    pub fn material(&self) -> Option<bool> {
        self.unexplained.map(|unexplained| unexplained.abs() > self.threshold)
    }

    /// The materiality in words.
    pub fn materiality_text(&self) -> String {
        self.materiality.describe(self.gl_balance, self.minor_units)
    }

    /// An amount with the entity currency's decimals.
    pub fn money(&self, amount: Decimal) -> String {
        crate::money::format_amount(amount, self.minor_units)
    }

    /// An amount with at least the entity currency's decimals, for a grouped display.
    pub fn fixed(&self, amount: Decimal) -> Decimal {
        crate::money::at_least_minor_units(amount, self.minor_units)
    }

    /// Whether it is reviewed for its current figures.
    pub fn is_reviewed(&self) -> bool {
        matches!(self.status, ReconcileStatus::Reviewed { .. })
    }
}

/// What importing a statement did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StatementImport {
    pub lines: usize,
    /// The same file with the same balances was the scope's latest statement: nothing written.
    pub repeated: bool,
    /// The statement or subledger figure it replaces.
    pub replaced: Option<i64>,
}

/// What entering a subledger figure did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SubledgerEntry {
    /// Recorded, replacing the independent balance `replaced` if there was one.
    Entered { replaced: Option<i64> },
    /// The latest figure is the same, from the same source: nothing written.
    Unchanged,
}

/// The GL balances reconciliations compare, read once per period and dimension names (a report
/// of many accounts reads the trial balance once).
struct GlBalances {
    by_dimensions: BTreeMap<Vec<String>, report::TrialBalance>,
}

impl GlBalances {
    fn new() -> Self {
        GlBalances {
            by_dimensions: BTreeMap::new(),
        }
    }

    /// The closing balance of the account in the period, over the lines carrying `dimensions`:
    /// the trial balance's closing figure, so a reconciliation and the trial balance agree.
    fn balance(
        &mut self,
        db: &Db<'_>,
        scope: &ReconcileScope,
        dimensions: &DimensionValues,
    ) -> Result<Decimal, LedgerError> {
        let names: Vec<String> = dimensions.keys().cloned().collect();
        if !self.by_dimensions.contains_key(&names) {
            let trial_balance = report::trial_balance(db, &scope.entity, &scope.period, &names, false)?;
            self.by_dimensions.insert(names.clone(), trial_balance);
        }
        let mut total = Decimal::ZERO;
        for row in &self.by_dimensions[&names].rows {
            if row.account == scope.account && &row.dimensions == dimensions {
                total = total.checked_add(row.closing).ok_or(LedgerError::Overflow)?;
            }
        }
        Ok(total)
    }
}

fn refused(message: String) -> LedgerError {
    LedgerError::Invalid(message)
}

/// The scope for `entity`, `account`, `dimensions` (name=value pairs) and `period`, checked:
/// the entity, period and account exist and the dimension values are well formed.
pub fn scope(
    db: &Db<'_>,
    entity: &EntityId,
    account: &AccountNumber,
    dimensions: &[String],
    period: &PeriodName,
) -> Result<ReconcileScope, LedgerError> {
    Loader::new(db, entity)?.scope(db, account, dimensions, period)
}

/// The reconciliation of `scope` as it stands.
pub fn reconciliation(db: &Db<'_>, scope: &ReconcileScope) -> Result<Reconciliation, LedgerError> {
    Loader::new(db, &scope.entity)?.load(db, scope)
}

/// The reconciliations of the entity's period: every account setup lists, and every scope
/// with a statement, figure, item, evidence or sign-off there, by account.
pub fn reconciliations(
    db: &Db<'_>,
    entity: &EntityId,
    period: &PeriodName,
) -> Result<Vec<Reconciliation>, LedgerError> {
    let mut loader = Loader::new(db, entity)?;
    loader.periods.named(period)?;
    let mut scopes: Vec<(AccountNumber, String)> = loader
        .rules
        .iter()
        .map(|rule| (rule.account.clone(), String::new()))
        .collect();
    scopes.extend(db.reconciliation_scopes(entity, period)?);
    scopes.sort();
    scopes.dedup();
    let mut reconciliations = Vec::with_capacity(scopes.len());
    for (account, dimensions) in scopes {
        let scope = ReconcileScope {
            entity: entity.clone(),
            account,
            dimensions,
            period: period.clone(),
        };
        let reconciliation = loader.load(db, &scope)?;
        // An item scope with nothing open or cleared in the period, and no other record there,
        // is not this period's business.
        if !reconciliation.configured
            && reconciliation.independent.is_none()
            && reconciliation.items.is_empty()
            && reconciliation.cleared.is_empty()
            && reconciliation.history.is_empty()
            && reconciliation.evidence.is_empty()
        {
            continue;
        }
        reconciliations.push(reconciliation);
    }
    Ok(reconciliations)
}

/// What loading reconciliations of one entity shares.
struct Loader {
    entity: EntityId,
    periods: EntityPeriods,
    statuses: std::collections::HashMap<PeriodName, PeriodStatus>,
    rules: Vec<ReconciliationRule>,
    accounts: BTreeMap<AccountNumber, String>,
    currency: String,
    minor_units: u32,
    gl: GlBalances,
}

impl Loader {
    fn new(db: &Db<'_>, entity: &EntityId) -> Result<Self, LedgerError> {
        let record = db.require_entity(entity)?;
        Ok(Loader {
            entity: entity.clone(),
            periods: EntityPeriods::of(db, &record)?,
            statuses: db.period_statuses(entity)?,
            rules: db.reconciliation_rules(entity)?,
            accounts: db
                .accounts(&record.chart)?
                .into_iter()
                .map(|account| (account.number, account.name))
                .collect(),
            minor_units: db.minor_units(&record.currency)?,
            currency: record.currency.to_string(),
            gl: GlBalances::new(),
        })
    }

    /// The scope of the entity for `account`, `dimensions` (name=value pairs) and `period`,
    /// checked: the period and account exist and the dimension values are well formed.
    fn scope(
        &self,
        db: &Db<'_>,
        account: &AccountNumber,
        dimensions: &[String],
        period: &PeriodName,
    ) -> Result<ReconcileScope, LedgerError> {
        let entity = &self.entity;
        self.periods.named(period)?;
        if !self.accounts.contains_key(account) {
            return Err(refused(format!(
                "account {account} is not in the chart of entity {entity}: check the number (`closebook report trial-balance` lists the accounts with balances)"
            )));
        }
        let mut values = DimensionValues::new();
        let defined = if dimensions.is_empty() {
            Default::default()
        } else {
            db.dimensions()?
        };
        for pair in dimensions {
            let Some((name, value)) = pair.split_once('=') else {
                return Err(refused(format!(
                    "dimension `{pair}` is not NAME=VALUE, like department=100"
                )));
            };
            if !dimension::is_valid_dimension_text(name) || !dimension::is_valid_dimension_text(value) {
                return Err(refused(format!(
                    "dimension `{pair}` is not NAME=VALUE without spaces around them or `;` in them, like department=100"
                )));
            }
            let Some(known) = defined.get(name) else {
                let mut names: Vec<&str> = defined.keys().map(String::as_str).collect();
                names.sort_unstable();
                return Err(refused(format!(
                    "dimension `{name}` does not exist (the dimensions are {})",
                    names.join(", ")
                )));
            };
            if !known.contains_key(value) {
                return Err(refused(format!("dimension {name} has no value {value}")));
            }
            if values.insert(name.to_owned(), value.to_owned()).is_some() {
                return Err(refused(format!("dimension {name} is given twice: give it once")));
            }
        }
        Ok(ReconcileScope {
            entity: entity.clone(),
            account: account.clone(),
            dimensions: dimension::canonical(&values),
            period: period.clone(),
        })
    }

    /// Refused when the scope's period is permanently closed: its reconciliation's figures are
    /// final.
    fn require_changeable(&self, scope: &ReconcileScope) -> Result<(), LedgerError> {
        if self.statuses.get(&scope.period) == Some(&PeriodStatus::PermanentlyClosed) {
            return Err(refused(format!(
                "period {} of {} is permanently closed: the figures of its reconciliations are final, so nothing was changed",
                scope.period, scope.entity
            )));
        }
        Ok(())
    }

    fn ordinal(&self, period: &PeriodName) -> Result<i64, LedgerError> {
        Ok(self.periods.named(period)?.ordinal)
    }

    fn load(&mut self, db: &Db<'_>, scope: &ReconcileScope) -> Result<Reconciliation, LedgerError> {
        let target = self.periods.named(&scope.period)?.clone();
        let dimensions = dimension::parse_canonical(&scope.dimensions);
        let gl_balance = self.gl.balance(db, scope, &dimensions)?;
        let independent = db.independent_balances(scope)?.pop();
        let mut items = Vec::new();
        let mut cleared = Vec::new();
        for (_, item) in db.reconciling_items(&scope.entity, Some(&scope.account), Some(&scope.dimensions))? {
            if self.ordinal(&item.period)? > target.ordinal {
                continue;
            }
            match &item.cleared {
                Some(clearing) if self.ordinal(&clearing.period)? <= target.ordinal => {
                    if clearing.period == target.name {
                        cleared.push(item);
                    }
                }
                _ => items.push(item),
            }
        }
        let mut items_total = Decimal::ZERO;
        for item in &items {
            items_total = items_total.checked_add(item.amount).ok_or(LedgerError::Overflow)?;
        }
        let unexplained = match &independent {
            Some(balance) => Some(
                balance
                    .closing
                    .checked_add(items_total)
                    .and_then(|adjusted| gl_balance.checked_sub(adjusted))
                    .ok_or(LedgerError::Overflow)?,
            ),
            None => None,
        };
        let fingerprint = fingerprint(gl_balance, independent.as_ref(), &items);
        let rule = self.rules.iter().find(|rule| rule.account == scope.account);
        let materiality = Materiality::of(rule);
        let threshold = materiality.threshold(gl_balance, self.minor_units);
        let history = db.reconciliation_signoffs(scope)?;
        let status = status(db, scope, &target, &self.periods, &history, &fingerprint, gl_balance)?;
        Ok(Reconciliation {
            scope: scope.clone(),
            account_name: self.accounts.get(&scope.account).cloned().unwrap_or_default(),
            currency: self.currency.clone(),
            gl_balance,
            independent,
            items,
            items_total,
            cleared,
            unexplained,
            // The rule is of the account as a whole, not of a dimension scope of it (whose
            // threshold it still sets).
            configured: rule.is_some() && scope.dimensions.is_empty(),
            materiality,
            threshold,
            status,
            evidence: db.evidence(scope)?,
            history,
            fingerprint,
            minor_units: self.minor_units,
        })
    }
}

/// The SHA-256 of what a sign-off signs: the GL balance, the independent balance (which
/// record, and its figure) and the open items (which, and their amounts).
fn fingerprint(gl: Decimal, independent: Option<&IndependentBalance>, items: &[ReconcilingItem]) -> String {
    let mut hasher = Sha256::new();
    hasher.update(format!("gl={}\n", gl.normalize()));
    if let Some(balance) = independent {
        hasher.update(format!("independent={}:{}\n", balance.id, balance.closing.normalize()));
    }
    for item in items {
        hasher.update(format!("item={}:{}\n", item.id, item.amount.normalize()));
    }
    hex::encode(hasher.finalize())
}

/// The status the history gives figures of `fingerprint`: the latest sign-off holds while
/// nothing it signed changed and no entry was posted to the account, dated in the period's
/// fiscal year up to its end, after it.
fn status(
    db: &Db<'_>,
    scope: &ReconcileScope,
    target: &Period,
    periods: &EntityPeriods,
    history: &[ReconciliationSignoff],
    fingerprint: &str,
    gl_balance: Decimal,
) -> Result<ReconcileStatus, LedgerError> {
    let Some(latest) = history.last() else {
        return Ok(ReconcileStatus::Unreconciled { withdrawn: None });
    };
    if latest.action == SignoffAction::Withdrawn {
        return Ok(ReconcileStatus::Unreconciled {
            withdrawn: Some(latest.note.clone()),
        });
    }
    let signed = format!("{} by {}", latest.action.as_str(), latest.user);
    let periods_to_end: Vec<&str> = periods
        .periods
        .iter()
        .filter(|period| period.fiscal_year == target.fiscal_year && period.ordinal <= target.ordinal)
        .map(|period| period.name.as_str())
        .collect();
    // Entries with a line on the account carrying the scope's dimension values (every line of
    // the account for a scope without dimensions), each named once.
    let filter = dimension::parse_canonical(&scope.dimensions);
    let mut later: Vec<String> = Vec::new();
    for (key, dimensions) in db.account_lines_after(&scope.entity, latest.sequence, &periods_to_end, &scope.account)? {
        let values = dimension::parse_canonical(&dimensions);
        if filter.iter().all(|(name, value)| values.get(name) == Some(value)) && !later.contains(&key) {
            later.push(key);
        }
    }
    if !later.is_empty() {
        let shown = later
            .iter()
            .take(WITHDRAWAL_KEYS_SHOWN_MAX)
            .cloned()
            .collect::<Vec<_>>()
            .join(", ");
        let more = later.len().saturating_sub(WITHDRAWAL_KEYS_SHOWN_MAX);
        let more = if more > 0 {
            format!(" and {more} more")
        } else {
            String::new()
        };
        let balance = if latest.gl_balance == gl_balance {
            format!("the GL balance is {gl_balance} again")
        } else {
            format!("the GL balance was {}, is {gl_balance}", latest.gl_balance)
        };
        return Ok(ReconcileStatus::Unreconciled {
            withdrawn: Some(format!(
                "entries posted to account {} after it was {signed}: {shown}{more}; {balance}",
                scope.account
            )),
        });
    }
    if latest.fingerprint != fingerprint {
        return Ok(ReconcileStatus::Unreconciled {
            withdrawn: Some(format!(
                "its statement, subledger figure or reconciling items changed after it was {signed}"
            )),
        });
    }
    Ok(match latest.action {
        SignoffAction::Prepared => ReconcileStatus::Prepared {
            by: latest.user.clone(),
            identity: latest.identity.clone(),
        },
        _ => ReconcileStatus::Reviewed {
            prepared_by: history
                .iter()
                .rev()
                .find(|event| event.action == SignoffAction::Prepared)
                .map_or_else(|| UserId::new(String::new()), |event| event.user.clone()),
            by: latest.user.clone(),
            identity: latest.identity.clone(),
        },
    })
}

/// Records the withdrawal of a sign-off the figures no longer support, once, so the history
/// shows when it was found and why. Returns whether it wrote one.
fn record_withdrawal(db: &Db<'_>, reconciliation: &Reconciliation, actor: &Actor) -> Result<bool, LedgerError> {
    let ReconcileStatus::Unreconciled {
        withdrawn: Some(reason),
    } = &reconciliation.status
    else {
        return Ok(false);
    };
    if reconciliation
        .history
        .last()
        .is_none_or(|latest| latest.action == SignoffAction::Withdrawn)
    {
        return Ok(false);
    }
    let scope = &reconciliation.scope;
    db.insert_reconciliation_signoff(
        scope,
        &signoff(db, reconciliation, SignoffAction::Withdrawn, actor, reason)?,
    )?;
    db.append_audit(
        actor,
        "reconcile.withdraw",
        Some(&scope.entity),
        &json!({ "scope": scope, "reason": reason }),
    )?;
    Ok(true)
}

fn signoff(
    db: &Db<'_>,
    reconciliation: &Reconciliation,
    action: SignoffAction,
    actor: &Actor,
    note: &str,
) -> Result<ReconciliationSignoff, LedgerError> {
    Ok(ReconciliationSignoff {
        action,
        user: actor.user.clone(),
        identity: actor.method.as_str().to_owned(),
        at: crate::now_text(),
        note: note.to_owned(),
        gl_balance: reconciliation.gl_balance,
        independent: reconciliation.independent.as_ref().map(|balance| balance.closing),
        items: reconciliation.items_total,
        unexplained: reconciliation.unexplained,
        fingerprint: reconciliation.fingerprint.clone(),
        sequence: db.ledger_head(&reconciliation.scope.entity)?.0,
    })
}

/// A bank statement read from CSV: columns `date`, `amount`, `reference`, `description` (the
/// last two optional), in any order, named in a header row.
pub fn parse_statement(
    text: &str,
    source: &str,
    target: &Period,
    minor_units: u32,
    currency: &str,
) -> Result<Vec<StatementLine>, LedgerError> {
    let invalid = |message: String| LedgerError::input(source, message);
    let mut reader = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .from_reader(text.as_bytes());
    let headers = reader
        .headers()
        .map_err(|error| invalid(format!("the header row is unreadable: {error}")))?
        .clone();
    let column = |name: &str| headers.iter().position(|header| header.eq_ignore_ascii_case(name));
    let (Some(date_column), Some(amount_column)) = (column("date"), column("amount")) else {
        return Err(invalid(
            "a statement needs a header row with date and amount columns (and optionally reference and description), like: date,amount,reference,description".to_owned(),
        ));
    };
    let (reference_column, description_column) = (column("reference"), column("description"));
    let mut lines = Vec::new();
    for record in reader.records() {
        let record = record.map_err(|error| invalid(format!("a line is unreadable: {error}")))?;
        // The file's line the record starts on (a quoted field may span lines).
        let line_no = record.position().map_or(0, csv::Position::line) as usize;
        if lines.len() == STATEMENT_LINES_MAX {
            return Err(invalid(format!(
                "the statement has more than {STATEMENT_LINES_MAX} lines (STATEMENT_LINES_MAX): split it by period"
            )));
        }
        let field = |column: Option<usize>| column.and_then(|column| record.get(column)).unwrap_or("");
        let date_text = field(Some(date_column));
        let date = NaiveDate::parse_from_str(date_text, "%Y-%m-%d").map_err(|_| {
            invalid(format!(
                "line {line_no}: date `{date_text}` is not a date like 2026-01-31"
            ))
        })?;
        if date < target.start || date > target.end {
            return Err(invalid(format!(
                "line {line_no}: {date} is outside period {} ({} to {}): import each period's statement for its period",
                target.name, target.start, target.end
            )));
        }
        let amount_text = field(Some(amount_column));
        let amount = parse_amount_text(amount_text).map_err(|error| invalid(format!("line {line_no}: {error}")))?;
        check_amount(amount, minor_units, currency).map_err(|problem| invalid(format!("line {line_no}: {problem}")))?;
        lines.push(StatementLine {
            line_no: line_no as i64,
            date,
            amount,
            reference: field(reference_column).to_owned(),
            description: field(description_column).to_owned(),
        });
    }
    Ok(lines)
}

/// Why `amount` cannot be a reconciliation figure in a currency of `minor_units` decimals:
/// more decimals than the currency has, or beyond what one journal line may carry (so sums
/// of figures stay exact).
fn check_amount(amount: Decimal, minor_units: u32, currency: &str) -> Result<(), String> {
    if decimals_used(amount) > minor_units {
        return Err(format!(
            "amount {amount} has more decimals than {currency}'s {minor_units}"
        ));
    }
    if amount.abs() > Decimal::from(LINE_AMOUNT_ABS_MAX_UNITS) {
        return Err(format!(
            "amount {amount} is beyond {LINE_AMOUNT_ABS_MAX_UNITS}, the most one journal line carries"
        ));
    }
    Ok(())
}

fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::setup::SetupFile;
    use crate::test_fixtures::{import_csv, one_entity_ledger};
    use std::str::FromStr;

    fn decimal(text: &str) -> Decimal {
        Decimal::from_str(text).unwrap()
    }

    fn cash(ledger: &mut Ledger, period: &str) -> ReconcileScope {
        ledger
            .read(|db| {
                scope(
                    db,
                    &EntityId::new("E"),
                    &AccountNumber::new("1000"),
                    &[],
                    &PeriodName::new(period),
                )
            })
            .unwrap()
    }

    #[test]
    fn the_lower_threshold_applies_and_none_means_zero() {
        let both = Materiality {
            absolute: Some(decimal("10.00")),
            percent: Some(decimal("0.5")),
        };
        // 0.5 % of 52,340.00 is 261.70: the absolute 10.00 is lower.
        assert_eq!(both.threshold(decimal("52340.00"), 2).to_string(), "10.00");
        // 0.5 % of 1,000.00 is 5.00: lower than 10.00. The GL balance's sign does not matter.
        assert_eq!(both.threshold(decimal("-1000.00"), 2).to_string(), "5.00");
        let percent = Materiality {
            absolute: None,
            percent: Some(decimal("0.5")),
        };
        // 0.5 % of 333.33 is 1.66665: rounded half away from zero to 1.67.
        assert_eq!(percent.threshold(decimal("333.33"), 2).to_string(), "1.67");
        assert_eq!(Materiality::default().threshold(decimal("1.00"), 2).to_string(), "0.00");
    }

    #[test]
    fn a_sign_off_holds_until_an_entry_dated_up_to_its_period_posts_to_the_account() {
        let mut ledger = one_entity_ledger("preparer");
        import_csv(
            &mut ledger,
            "entry,date,account,amount\nS1,2026-01-10,1000,100.00\nS1,2026-01-10,4000,-100.00\n",
        )
        .unwrap();
        let march = cash(&mut ledger, "2026-03");
        ledger
            .set_subledger_balance(&march, decimal("100.00"), "bank portal")
            .unwrap();
        ledger.prepare_reconciliation(&march, "", None).unwrap();
        // April's entry leaves March alone.
        import_csv(
            &mut ledger,
            "entry,date,account,amount\nA1,2026-04-02,1000,5.00\nA1,2026-04-02,4000,-5.00\n",
        )
        .unwrap();
        assert_eq!(ledger.reconciliation(&march).unwrap().status.as_str(), "prepared");
        // A January entry, and one that undoes it, withdraw March's sign-off though the balance
        // is back where it was.
        import_csv(
            &mut ledger,
            "entry,date,account,amount\nJ1,2026-01-20,1000,7.00\nJ1,2026-01-20,4000,-7.00\nJ2,2026-01-21,1000,-7.00\nJ2,2026-01-21,4000,7.00\n",
        )
        .unwrap();
        let status = ledger.reconciliation(&march).unwrap().status;
        assert_eq!(
            status.describe(),
            "unreconciled: sign-off withdrawn: entries posted to account 1000 after it was prepared by preparer: J1, J2; the GL balance is 100.00 again"
        );
    }

    #[test]
    fn a_sign_off_over_figures_shown_before_a_late_entry_is_refused_in_its_own_transaction() {
        // The fingerprint a signer was shown is compared inside the transaction that records the
        // sign-off: an entry posted after the figures were read refuses it, writing nothing.
        let mut ledger = one_entity_ledger("preparer");
        ledger
            .apply_setup(
                &SetupFile::parse(
                    "[[reconciliation]]\nentity = \"E\"\naccount = \"1000\"\nmateriality = \"10.00\"\n",
                    "reconciliation.toml",
                )
                .unwrap(),
                "reconciliation.toml",
            )
            .unwrap();
        import_csv(
            &mut ledger,
            "entry,date,account,amount\nS1,2026-01-10,1000,100.00\nS1,2026-01-10,4000,-100.00\n",
        )
        .unwrap();
        let january = cash(&mut ledger, "2026-01");
        ledger
            .set_subledger_balance(&january, decimal("100.00"), "bank portal")
            .unwrap();
        let shown = ledger.reconciliation(&january).unwrap().fingerprint;
        // A late entry within the materiality: the new figures could be signed, but not unseen.
        import_csv(
            &mut ledger,
            "entry,date,account,amount\nL1,2026-01-30,1000,-5.00\nL1,2026-01-30,4000,5.00\n",
        )
        .unwrap();
        let audit_before = ledger.read(|db| db.audit(None, 1000)).unwrap().len();
        let refused = ledger
            .prepare_reconciliation(&january, "", Some(&shown))
            .unwrap_err()
            .to_string();
        assert_eq!(
            refused,
            "the figures of account 1000 of E for 2026-01 changed since the page was shown, so nothing was signed: reload the page, check the figures again and sign off what it shows"
        );
        let after_refusal = ledger.reconciliation(&january).unwrap();
        assert!(after_refusal.history.is_empty(), "{:?}", after_refusal.history);
        assert_eq!(after_refusal.status.as_str(), "unreconciled");
        assert_eq!(ledger.read(|db| db.audit(None, 1000)).unwrap().len(), audit_before);
        // The same refusal for a review, whatever its own rules would say.
        assert!(
            ledger
                .review_reconciliation(&january, "", Some(&shown))
                .unwrap_err()
                .to_string()
                .contains("changed since the page was shown")
        );

        let current = after_refusal.fingerprint;
        assert_ne!(current, shown);
        let signed = ledger.prepare_reconciliation(&january, "", Some(&current)).unwrap();
        assert_eq!(signed.status.as_str(), "prepared");
        // What was recorded is what the signer was shown.
        assert_eq!(signed.history.len(), 1);
        assert_eq!(signed.history[0].fingerprint, current);
        assert_eq!(signed.history[0].gl_balance, decimal("95.00"));
    }

    #[test]
    fn a_permanently_closed_periods_figures_are_final() {
        let mut ledger = one_entity_ledger("preparer");
        let january = cash(&mut ledger, "2026-01");
        ledger
            .store()
            .write(|db| db.set_period_status(&EntityId::new("E"), &january.period, PeriodStatus::PermanentlyClosed))
            .unwrap();
        let refused = ledger
            .set_subledger_balance(&january, decimal("1.00"), "late")
            .unwrap_err()
            .to_string();
        assert!(
            refused.contains("period 2026-01 of E is permanently closed: the figures of its reconciliations are final"),
            "{refused}"
        );
        assert!(
            ledger
                .add_reconciling_item(
                    &january,
                    decimal("1.00"),
                    "x",
                    NaiveDate::from_ymd_opt(2026, 2, 1).unwrap(),
                    ""
                )
                .is_err()
        );
        assert!(ledger.reconciliation(&january).unwrap().independent.is_none());
    }
}
