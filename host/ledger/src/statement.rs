//! Financial statements (DOMAIN.md section 9): the balance sheet and the income statement of one
//! entity or of several entities combined (e.g. a consolidation entity and its elimination
//! entity), with prior-year comparison, read from the maintained balances per account × period
//! (never by rescanning posted lines).
//!
//! Choices written down here:
//! - Sections come from the account type (assets, liabilities, equity; revenue, expenses) and are
//!   grouped by the chart's account `category`; categories are ordered by their lowest account
//!   number, accounts without a category fall into "Other …" of their section.
//! - Amounts are shown the way statements are read: assets and expenses as debits positive,
//!   liabilities, equity and revenue as credits positive. A contra account (accumulated
//!   depreciation among the assets) therefore shows as a negative amount in its section.
//! - The balance sheet compares the period end with the **prior fiscal year end** (the last
//!   audited balance sheet, as interim statements do under IAS 34) and, when that is a different
//!   date, with the **same period end of the prior year**. Balances follow section 3: a year's
//!   opening period plus its movements, the closing period left out unless it is the period
//!   asked for (closing entries would otherwise empty a year-end balance sheet).
//! - Until year-end close has carried a year's profit into retained earnings, equity shows the
//!   year's net income as "current-year earnings", so assets = liabilities + equity.
//! - The income statement shows the period, the same period of the prior year and the change,
//!   then the year to date, the prior year to date and the change.
//! - Several entities combine only when they share the accounting currency, the chart of
//!   accounts and the fiscal-year start month; anything else is refused, never converted.

use crate::account::{Account, AccountType};
use crate::calendar::{EntityPeriods, Period, PeriodKind, UnknownPeriod};
use crate::error::LedgerError;
use crate::ids::{AccountNumber, ChartId, CurrencyCode, EntityId, FiscalYearName, PeriodName};
use crate::store::Db;
use chrono::NaiveDate;
use rust_decimal::Decimal;
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};

/// The most entities one statement combines: a group with its consolidation and elimination
/// entities fits many times over, and the bound keeps one report's reads bounded.
pub const STATEMENT_ENTITIES_MAX: usize = 64;

/// How many known entities a refusal of an unknown one lists: enough to spot a typo.
const KNOWN_ENTITIES_LISTED_MAX: usize = 20;

#[derive(Debug, thiserror::Error)]
pub enum StatementError {
    #[error(transparent)]
    Ledger(#[from] LedgerError),
    #[error("name at least one entity, e.g. --entity ACME-US")]
    NoEntity,
    #[error("entity {entity} does not exist; the ledger has: {known}")]
    UnknownEntity { entity: EntityId, known: String },
    #[error("entity {0} is named more than once; name each entity once")]
    RepeatedEntity(EntityId),
    #[error("{count} entities named; a statement combines at most {STATEMENT_ENTITIES_MAX}")]
    TooManyEntities { count: usize },
    #[error(
        "entity {entity} keeps its books in {currency} but {first} keeps them in {first_currency}: a combined statement needs one accounting currency; report each entity on its own or consolidate them into one entity first"
    )]
    MixedCurrencies {
        entity: EntityId,
        currency: CurrencyCode,
        first: EntityId,
        first_currency: CurrencyCode,
    },
    #[error(
        "entity {entity} uses chart {chart} but {first} uses chart {first_chart}: a combined statement adds accounts by number, so its entities must share one chart of accounts"
    )]
    MixedCharts {
        entity: EntityId,
        chart: ChartId,
        first: EntityId,
        first_chart: ChartId,
    },
    #[error(
        "entity {entity}'s fiscal year starts in month {start_month} but {first}'s starts in month {first_start_month}: a combined statement needs entities whose periods cover the same dates"
    )]
    MixedCalendars {
        entity: EntityId,
        start_month: u32,
        first: EntityId,
        first_start_month: u32,
    },
    #[error(transparent)]
    UnknownPeriod(#[from] UnknownPeriod),
}

impl From<StatementError> for LedgerError {
    fn from(error: StatementError) -> Self {
        match error {
            StatementError::Ledger(error) => error,
            other => LedgerError::Invalid(other.to_string()),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum StatementKind {
    BalanceSheet,
    IncomeStatement,
}

impl StatementKind {
    pub fn title(self) -> &'static str {
        match self {
            StatementKind::BalanceSheet => "Balance sheet",
            StatementKind::IncomeStatement => "Income statement",
        }
    }
}

#[derive(Clone, Debug, Serialize)]
pub struct StatementEntity {
    pub id: EntityId,
    pub name: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ColumnKind {
    /// A balance at a date: the year's opening period plus its movements up to that date.
    Balance,
    /// The movements of a range of periods.
    Movement,
    /// One column minus another.
    Change,
}

/// One amount column. Every `amounts` list of the statement has one entry per column, in order.
#[derive(Clone, Debug, Serialize)]
pub struct Column {
    /// A stable name for programs (the CSV header), e.g. `period` or `prior_year_end`.
    pub key: &'static str,
    /// The heading people read, e.g. `2026-03` or `FY2026 YTD`.
    pub title: String,
    pub kind: ColumnKind,
    /// The heading of the columns that belong together, e.g. `Period` or `Year to date`;
    /// `As at` for every balance-sheet column.
    pub group: &'static str,
    /// The first and last day the column covers (a balance column: the fiscal year's start and
    /// the balance date). None when the prior year is not set up in the calendar.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub from: Option<NaiveDate>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub to: Option<NaiveDate>,
    /// The periods whose maintained balances make up the column (empty for a change column).
    pub periods: Vec<PeriodName>,
    /// For a change column: the indexes of the columns it subtracts (first minus second).
    #[serde(skip)]
    pub change_of: Option<(usize, usize)>,
}

#[derive(Clone, Debug, Serialize)]
pub struct StatementLine {
    /// None for a computed line such as current-year earnings.
    pub account: Option<AccountNumber>,
    pub name: String,
    pub amounts: Vec<Decimal>,
}

#[derive(Clone, Debug, Serialize)]
pub struct Category {
    pub name: String,
    pub lines: Vec<StatementLine>,
    pub total: Vec<Decimal>,
}

#[derive(Clone, Debug, Serialize)]
pub struct Section {
    /// `assets`, `liabilities`, `equity`, `revenue` or `expenses`.
    pub key: &'static str,
    pub title: &'static str,
    pub categories: Vec<Category>,
    pub total: Vec<Decimal>,
}

/// A total below the sections: net income, or total liabilities and equity.
#[derive(Clone, Debug, Serialize)]
pub struct TotalLine {
    pub key: &'static str,
    pub title: &'static str,
    pub amounts: Vec<Decimal>,
}

#[derive(Clone, Debug, Serialize)]
pub struct Statement {
    pub kind: StatementKind,
    pub title: &'static str,
    pub entities: Vec<StatementEntity>,
    pub currency: CurrencyCode,
    pub period: PeriodName,
    pub fiscal_year: FiscalYearName,
    pub period_start: NaiveDate,
    pub period_end: NaiveDate,
    pub columns: Vec<Column>,
    pub sections: Vec<Section>,
    pub totals: Vec<TotalLine>,
    /// Balance sheet: assets minus (liabilities + equity) per column, zero when it balances;
    /// all zero for an income statement.
    pub difference: Vec<Decimal>,
    pub balanced: bool,
}

impl Statement {
    pub fn section(&self, key: &str) -> Option<&Section> {
        self.sections.iter().find(|section| section.key == key)
    }

    pub fn total(&self, key: &str) -> Option<&TotalLine> {
        self.totals.iter().find(|total| total.key == key)
    }

    pub fn column(&self, key: &str) -> Option<usize> {
        self.columns.iter().position(|column| column.key == key)
    }

    /// The entities' names for a heading: `Acme Inc. (ACME-US)`, joined with ` + `.
    pub fn entity_heading(&self) -> String {
        self.entities
            .iter()
            .map(|entity| format!("{} ({})", entity.name, entity.id))
            .collect::<Vec<_>>()
            .join(" + ")
    }
}

/// What the entities of one statement share, checked once.
struct Scope {
    entities: Vec<StatementEntity>,
    currency: CurrencyCode,
    minor_units: u32,
    accounts: HashMap<AccountNumber, Account>,
    /// Every period of the first entity's calendar, in order.
    periods: Vec<Period>,
    target: Period,
}

fn scope(db: &Db<'_>, entity_ids: &[EntityId], period: &PeriodName) -> Result<Scope, StatementError> {
    let Some(first_id) = entity_ids.first() else {
        return Err(StatementError::NoEntity);
    };
    if entity_ids.len() > STATEMENT_ENTITIES_MAX {
        return Err(StatementError::TooManyEntities {
            count: entity_ids.len(),
        });
    }
    let first = require_entity(db, first_id)?;
    let first_start_month = db.calendar_start_month(&first.calendar)?.unwrap_or(1);
    let mut entities = Vec::with_capacity(entity_ids.len());
    let mut target = None;
    let mut first_periods = Vec::new();
    for (index, id) in entity_ids.iter().enumerate() {
        if entity_ids[..index].contains(id) {
            return Err(StatementError::RepeatedEntity(id.clone()));
        }
        let entity = require_entity(db, id)?;
        if entity.currency != first.currency {
            return Err(StatementError::MixedCurrencies {
                entity: entity.id,
                currency: entity.currency,
                first: first.id,
                first_currency: first.currency,
            });
        }
        if entity.chart != first.chart {
            return Err(StatementError::MixedCharts {
                entity: entity.id,
                chart: entity.chart,
                first: first.id,
                first_chart: first.chart,
            });
        }
        let start_month = db.calendar_start_month(&entity.calendar)?.unwrap_or(1);
        if start_month != first_start_month {
            return Err(StatementError::MixedCalendars {
                entity: entity.id,
                start_month,
                first: first.id,
                first_start_month,
            });
        }
        let periods = EntityPeriods::of(db, &entity)?;
        let found = periods.named(period)?.clone();
        if index == 0 {
            target = Some(found);
            first_periods = periods.periods;
        }
        entities.push(StatementEntity {
            id: entity.id,
            name: entity.name,
        });
    }
    let target = target.ok_or(StatementError::NoEntity)?;
    let minor_units = db.minor_units(&first.currency)?;
    let accounts = db
        .accounts(&first.chart)?
        .into_iter()
        .map(|account| (account.number.clone(), account))
        .collect();
    Ok(Scope {
        entities,
        currency: first.currency,
        minor_units,
        accounts,
        periods: first_periods,
        target,
    })
}

fn require_entity(db: &Db<'_>, id: &EntityId) -> Result<crate::entity::Entity, StatementError> {
    if let Some(entity) = db.entity(id)? {
        return Ok(entity);
    }
    let known: Vec<String> = db
        .entities()?
        .into_iter()
        .take(KNOWN_ENTITIES_LISTED_MAX)
        .map(|entity| entity.id.to_string())
        .collect();
    Err(StatementError::UnknownEntity {
        entity: id.clone(),
        known: if known.is_empty() {
            "no entities yet (run `closebook setup apply FILE.toml`)".to_owned()
        } else {
            known.join(", ")
        },
    })
}

impl Scope {
    fn period_by_ordinal(&self, ordinal: i64) -> Option<&Period> {
        self.periods.iter().find(|period| period.ordinal == ordinal)
    }

    /// The same period one fiscal year earlier, when that year is set up.
    fn prior_year_of(&self, period: &Period) -> Option<&Period> {
        self.period_by_ordinal(period.ordinal - 100)
    }

    /// The last operating period of the fiscal year before the target's.
    fn prior_year_end(&self) -> Option<&Period> {
        self.periods
            .iter()
            .filter(|period| {
                period.kind == PeriodKind::Operating && period.ordinal < self.target.ordinal - self.target.ordinal % 100
            })
            .max_by_key(|period| period.ordinal)
            .filter(|period| period.ordinal / 100 == self.target.ordinal / 100 - 1)
    }

    /// The periods whose movements make up a balance at the end of `period`: its fiscal year up
    /// to and including it, without the closing period unless `period` is the closing period.
    fn year_to_date(&self, period: &Period) -> Vec<PeriodName> {
        self.periods
            .iter()
            .filter(|candidate| {
                candidate.fiscal_year == period.fiscal_year
                    && candidate.ordinal <= period.ordinal
                    && (candidate.kind != PeriodKind::Closing || period.kind == PeriodKind::Closing)
            })
            .map(|candidate| candidate.name.clone())
            .collect()
    }

    fn year_start(&self, period: &Period) -> NaiveDate {
        self.periods
            .iter()
            .filter(|candidate| candidate.fiscal_year == period.fiscal_year)
            .map(|candidate| candidate.start)
            .min()
            .unwrap_or(period.start)
    }

    fn balance_column(&self, key: &'static str, period: Option<&Period>) -> Column {
        Column {
            key,
            title: match period {
                Some(period) => period.end.to_string(),
                None => "(prior year not set up)".to_owned(),
            },
            kind: ColumnKind::Balance,
            group: "As at",
            from: period.map(|period| self.year_start(period)),
            to: period.map(|period| period.end),
            periods: period.map(|period| self.year_to_date(period)).unwrap_or_default(),
            change_of: None,
        }
    }

    fn movement_column(&self, key: &'static str, period: Option<&Period>, year_to_date: bool) -> Column {
        let title = match (period, year_to_date) {
            (Some(period), false) => period.name.to_string(),
            (Some(period), true) => format!("{} YTD", period.fiscal_year),
            (None, _) => "(prior year not set up)".to_owned(),
        };
        Column {
            key,
            title,
            kind: ColumnKind::Movement,
            group: if year_to_date { "Year to date" } else { "Period" },
            from: period.map(|period| {
                if year_to_date {
                    self.year_start(period)
                } else {
                    period.start
                }
            }),
            to: period.map(|period| period.end),
            periods: match (period, year_to_date) {
                (Some(period), false) => vec![period.name.clone()],
                (Some(period), true) => self.year_to_date(period),
                (None, _) => Vec::new(),
            },
            change_of: None,
        }
    }

    /// The amount at the currency's minor units; a zero is always a plain zero (negating a
    /// credit-free balance must not print `-0.00`).
    fn fixed(&self, amount: Decimal) -> Decimal {
        let amount = if amount.is_zero() { Decimal::ZERO } else { amount };
        crate::money::at_least_minor_units(amount, self.minor_units)
    }

    fn fixed_all(&self, amounts: &[Decimal]) -> Vec<Decimal> {
        amounts.iter().map(|amount| self.fixed(*amount)).collect()
    }
}

fn change_column(key: &'static str, group: &'static str, current: usize, prior: usize) -> Column {
    Column {
        key,
        title: "Change".to_owned(),
        kind: ColumnKind::Change,
        group,
        from: None,
        to: None,
        periods: Vec::new(),
        change_of: Some((current, prior)),
    }
}

fn add(total: &mut Decimal, amount: Decimal) -> Result<(), LedgerError> {
    *total = total.checked_add(amount).ok_or(LedgerError::Overflow)?;
    Ok(())
}

fn add_all(totals: &mut [Decimal], amounts: &[Decimal]) -> Result<(), LedgerError> {
    for (total, amount) in totals.iter_mut().zip(amounts) {
        add(total, *amount)?;
    }
    Ok(())
}

/// Sums the maintained balances of every entity per account and data column; change columns
/// stay zero here.
fn account_amounts(
    db: &Db<'_>,
    scope: &Scope,
    columns: &[Column],
) -> Result<BTreeMap<AccountNumber, Vec<Decimal>>, LedgerError> {
    let mut amounts: BTreeMap<AccountNumber, Vec<Decimal>> = BTreeMap::new();
    for entity in &scope.entities {
        for (index, column) in columns.iter().enumerate() {
            if column.periods.is_empty() {
                continue;
            }
            for record in db.account_balances(&entity.id, &column.periods)? {
                let row = amounts
                    .entry(record.account)
                    .or_insert_with(|| vec![Decimal::ZERO; columns.len()]);
                add(&mut row[index], record.accounting_amount)?;
            }
        }
    }
    Ok(amounts)
}

/// Fills the change columns of one amounts list from the columns they compare.
fn fill_changes(columns: &[Column], amounts: &mut [Decimal]) -> Result<(), LedgerError> {
    for (index, column) in columns.iter().enumerate() {
        if let Some((current, prior)) = column.change_of {
            amounts[index] = amounts[current]
                .checked_sub(amounts[prior])
                .ok_or(LedgerError::Overflow)?;
        }
    }
    Ok(())
}

/// One section: the accounts of one type, signed for reading, grouped by category.
fn section(
    scope: &Scope,
    columns: &[Column],
    amounts: &BTreeMap<AccountNumber, Vec<Decimal>>,
    key: &'static str,
    title: &'static str,
    account_type: AccountType,
) -> Result<Section, LedgerError> {
    let sign = match account_type {
        AccountType::Asset | AccountType::Expense => Decimal::ONE,
        AccountType::Liability | AccountType::Equity | AccountType::Revenue => Decimal::NEGATIVE_ONE,
    };
    // Category name -> (lowest account number, lines); accounts arrive in number order.
    let mut categories: Vec<(AccountNumber, Category)> = Vec::new();
    for (account, balances) in amounts {
        let Some(found) = scope.accounts.get(account) else {
            // A balance on an account missing from the chart cannot be placed; verify reports it.
            continue;
        };
        if found.account_type != account_type || balances.iter().all(Decimal::is_zero) {
            continue;
        }
        let mut signed = balances
            .iter()
            .map(|amount| amount.checked_mul(sign).ok_or(LedgerError::Overflow))
            .collect::<Result<Vec<_>, _>>()?;
        fill_changes(columns, &mut signed)?;
        let category_name = found
            .category
            .clone()
            .unwrap_or_else(|| format!("Other {}", title.to_lowercase()));
        let position = match categories
            .iter()
            .position(|(_, category)| category.name == category_name)
        {
            Some(position) => position,
            None => {
                categories.push((
                    account.clone(),
                    Category {
                        name: category_name,
                        lines: Vec::new(),
                        total: vec![Decimal::ZERO; columns.len()],
                    },
                ));
                categories.len() - 1
            }
        };
        let category = &mut categories[position].1;
        add_all(&mut category.total, &signed)?;
        category.lines.push(StatementLine {
            account: Some(account.clone()),
            name: found.name.clone(),
            amounts: scope.fixed_all(&signed),
        });
    }
    categories.sort_by(|left, right| (&left.0, &left.1.name).cmp(&(&right.0, &right.1.name)));
    let mut total = vec![Decimal::ZERO; columns.len()];
    let mut finished = Vec::with_capacity(categories.len());
    for (_, mut category) in categories {
        add_all(&mut total, &category.total)?;
        category.total = scope.fixed_all(&category.total);
        finished.push(category);
    }
    Ok(Section {
        key,
        title,
        categories: finished,
        total: scope.fixed_all(&total),
    })
}

/// Net income per column (revenue minus expenses), from the unsigned balances: the negated sum
/// of every profit-and-loss account.
fn net_income(
    scope: &Scope,
    columns: &[Column],
    amounts: &BTreeMap<AccountNumber, Vec<Decimal>>,
) -> Result<Vec<Decimal>, LedgerError> {
    let mut total = vec![Decimal::ZERO; columns.len()];
    for (account, balances) in amounts {
        let is_profit_and_loss = scope
            .accounts
            .get(account)
            .is_some_and(|found| !found.account_type.is_balance_sheet());
        if is_profit_and_loss {
            let negated: Vec<Decimal> = balances.iter().map(|amount| -*amount).collect();
            add_all(&mut total, &negated)?;
        }
    }
    fill_changes(columns, &mut total)?;
    Ok(total)
}

/// What a net income row is called: "Net loss" when it is a loss in every amount column that
/// has one, "Net income (loss)" when the columns differ, else "Net income". Change columns do
/// not count: a smaller profit than last year is a negative change, not a loss. The amounts
/// keep their sign either way (a loss is negative), so programs read them alike.
pub fn net_income_title(columns: &[Column], amounts: &[Decimal]) -> &'static str {
    let results = || {
        columns
            .iter()
            .zip(amounts)
            .filter(|(column, _)| column.kind != ColumnKind::Change)
            .map(|(_, amount)| *amount)
    };
    let loss = results().any(|amount| amount.is_sign_negative() && !amount.is_zero());
    let income = results().any(|amount| amount.is_sign_positive() && !amount.is_zero());
    match (income, loss) {
        (false, true) => "Net loss",
        (true, true) => "Net income (loss)",
        _ => "Net income",
    }
}

fn statement(scope: Scope, kind: StatementKind, columns: Vec<Column>, sections: Vec<Section>) -> Statement {
    Statement {
        kind,
        title: kind.title(),
        entities: scope.entities,
        currency: scope.currency,
        period: scope.target.name.clone(),
        fiscal_year: scope.target.fiscal_year.clone(),
        period_start: scope.target.start,
        period_end: scope.target.end,
        difference: vec![Decimal::ZERO; columns.len()],
        columns,
        sections,
        totals: Vec::new(),
        balanced: true,
    }
}

/// The balance sheet at the end of a period for one entity or several combined, compared with
/// the prior fiscal year end and, when that is another date, the same period end a year before.
pub fn balance_sheet(db: &Db<'_>, entities: &[EntityId], period: &PeriodName) -> Result<Statement, StatementError> {
    let scope = scope(db, entities, period)?;
    let prior_year_end = scope.prior_year_end();
    let same_date_prior_year = scope.prior_year_of(&scope.target);
    let mut columns = vec![
        scope.balance_column("period_end", Some(&scope.target)),
        scope.balance_column("prior_year_end", prior_year_end),
    ];
    let same_date_differs = match (prior_year_end, same_date_prior_year) {
        (Some(year_end), Some(same)) => year_end.name != same.name,
        (None, Some(_)) => true,
        (_, None) => false,
    };
    if same_date_differs {
        columns.push(scope.balance_column("prior_year_period_end", same_date_prior_year));
    }
    let amounts = account_amounts(db, &scope, &columns)?;
    let assets = section(&scope, &columns, &amounts, "assets", "Assets", AccountType::Asset)?;
    let liabilities = section(
        &scope,
        &columns,
        &amounts,
        "liabilities",
        "Liabilities",
        AccountType::Liability,
    )?;
    let mut equity = section(&scope, &columns, &amounts, "equity", "Equity", AccountType::Equity)?;
    let earnings = net_income(&scope, &columns, &amounts)?;
    if earnings.iter().any(|amount| !amount.is_zero()) {
        let earnings = scope.fixed_all(&earnings);
        add_all(&mut equity.total, &earnings)?;
        let name = format!("{} of the year", net_income_title(&columns, &earnings));
        equity.categories.push(Category {
            name: "Current-year earnings".to_owned(),
            lines: vec![StatementLine {
                account: None,
                name,
                amounts: earnings.clone(),
            }],
            total: earnings,
        });
    }
    let mut liabilities_and_equity = liabilities.total.clone();
    add_all(&mut liabilities_and_equity, &equity.total)?;
    let difference = assets
        .total
        .iter()
        .zip(&liabilities_and_equity)
        .map(|(assets, other)| assets.checked_sub(*other).ok_or(LedgerError::Overflow))
        .collect::<Result<Vec<_>, _>>()?;
    let difference = scope.fixed_all(&difference);
    let liabilities_and_equity = scope.fixed_all(&liabilities_and_equity);
    let mut sheet = statement(
        scope,
        StatementKind::BalanceSheet,
        columns,
        vec![assets, liabilities, equity],
    );
    sheet.totals.push(TotalLine {
        key: "liabilities_and_equity",
        title: "Total liabilities and equity",
        amounts: liabilities_and_equity,
    });
    sheet.balanced = difference.iter().all(Decimal::is_zero);
    sheet.difference = difference;
    Ok(sheet)
}

/// The income statement of a period and of the year to its end for one entity or several
/// combined, each beside the same range of the prior year and the change.
pub fn income_statement(db: &Db<'_>, entities: &[EntityId], period: &PeriodName) -> Result<Statement, StatementError> {
    let scope = scope(db, entities, period)?;
    let prior = scope.prior_year_of(&scope.target);
    let columns = vec![
        scope.movement_column("period", Some(&scope.target), false),
        scope.movement_column("prior_year_period", prior, false),
        change_column("period_change", "Period", 0, 1),
        scope.movement_column("year_to_date", Some(&scope.target), true),
        scope.movement_column("prior_year_to_date", prior, true),
        change_column("year_to_date_change", "Year to date", 3, 4),
    ];
    let amounts = account_amounts(db, &scope, &columns)?;
    let revenue = section(&scope, &columns, &amounts, "revenue", "Revenue", AccountType::Revenue)?;
    let expenses = section(&scope, &columns, &amounts, "expenses", "Expenses", AccountType::Expense)?;
    let income = scope.fixed_all(&net_income(&scope, &columns, &amounts)?);
    let mut statement = statement(scope, StatementKind::IncomeStatement, columns, vec![revenue, expenses]);
    statement.totals.push(TotalLine {
        key: "net_income",
        title: net_income_title(&statement.columns, &income),
        amounts: income,
    });
    Ok(statement)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Ledger;
    use crate::ids::UserId;
    use crate::import::CsvJournalReader;
    use crate::period::Module;
    use crate::setup::SetupFile;
    use crate::store::Store;
    use std::str::FromStr;

    const SETUP: &str = r#"
[[currency]]
code = "USD"
minor_units = 2
[[currency]]
code = "EUR"
minor_units = 2
[[calendar]]
id = "standard"
start_month = 1
first_year = "FY2025"
last_year = "FY2026"
[[calendar]]
id = "july"
start_month = 7
first_year = "FY2026"
last_year = "FY2026"
[[chart]]
id = "C"
accounts = [
  { number = "1000", name = "Cash", type = "asset", category = "Cash" },
  { number = "1100", name = "Receivables", type = "asset", category = "Receivables" },
  { number = "2000", name = "Payables", type = "liability", category = "Payables" },
  { number = "3000", name = "Share capital", type = "equity", category = "Share capital" },
  { number = "3900", name = "Retained earnings", type = "equity", category = "Retained earnings" },
  { number = "4000", name = "Sales", type = "revenue", category = "Revenue" },
  { number = "4100", name = "Other income", type = "revenue" },
  { number = "6000", name = "Salaries", type = "expense", category = "Personnel" },
  { number = "6100", name = "Rent", type = "expense", category = "Premises" },
]
[[chart]]
id = "OTHER"
accounts = [{ number = "3900", name = "Retained earnings", type = "equity" }]
[[entity]]
id = "E"
name = "Example Ltd"
currency = "USD"
calendar = "standard"
chart = "C"
retained_earnings_account = "3900"
[[entity]]
id = "G"
name = "Group eliminations"
currency = "USD"
calendar = "standard"
chart = "C"
retained_earnings_account = "3900"
[[entity]]
id = "D"
name = "Example GmbH"
currency = "EUR"
calendar = "standard"
chart = "C"
retained_earnings_account = "3900"
[[entity]]
id = "O"
name = "Other chart"
currency = "USD"
calendar = "standard"
chart = "OTHER"
retained_earnings_account = "3900"
[[entity]]
id = "J"
name = "July year"
currency = "USD"
calendar = "july"
chart = "C"
retained_earnings_account = "3900"
"#;

    /// Two fiscal years of entity E, worked out by hand in the tests below. FY2025 makes a net
    /// income of 200.00 (sales 500, rent 200, salaries 100), which a closing-period entry moves
    /// to retained earnings and the FY2026 opening entry carries forward.
    const JOURNALS: &str = "entry,date,period,account,amount
OB25,2025-01-01,FY2025-opening,1000,1000.00
OB25,2025-01-01,FY2025-opening,3000,-1000.00
S1,2025-03-15,,1100,500.00
S1,2025-03-15,,4000,-500.00
R1,2025-03-20,,6100,200.00
R1,2025-03-20,,1000,-200.00
C1,2025-06-10,,1000,300.00
C1,2025-06-10,,1100,-300.00
W1,2025-11-05,,6000,100.00
W1,2025-11-05,,2000,-100.00
CL25,2025-12-31,FY2025-closing,4000,500.00
CL25,2025-12-31,FY2025-closing,6100,-200.00
CL25,2025-12-31,FY2025-closing,6000,-100.00
CL25,2025-12-31,FY2025-closing,3900,-200.00
OB26,2026-01-01,FY2026-opening,1000,1100.00
OB26,2026-01-01,FY2026-opening,1100,200.00
OB26,2026-01-01,FY2026-opening,2000,-100.00
OB26,2026-01-01,FY2026-opening,3000,-1000.00
OB26,2026-01-01,FY2026-opening,3900,-200.00
S2,2026-01-10,,1000,150.00
S2,2026-01-10,,4000,-150.00
S3,2026-03-05,,1100,800.00
S3,2026-03-05,,4000,-800.00
O1,2026-03-06,,1000,50.00
O1,2026-03-06,,4100,-50.00
R2,2026-03-25,,6100,250.00
R2,2026-03-25,,1000,-250.00
W2,2026-03-28,,6000,120.00
W2,2026-03-28,,2000,-120.00
";

    fn ledger() -> Ledger {
        let store = Store::open_in_memory().unwrap();
        let mut ledger = Ledger::from_store(store, UserId::new("tester"));
        ledger
            .apply_setup(&SetupFile::parse(SETUP, "setup.toml").unwrap(), "setup.toml")
            .unwrap();
        post(&mut ledger, "E", JOURNALS);
        ledger
    }

    fn post(ledger: &mut Ledger, entity: &str, csv: &str) {
        let reader = CsvJournalReader::new(csv.as_bytes(), "journals.csv", Module::Ledger).unwrap();
        ledger
            .import_journals(&EntityId::new(entity), reader, true, "journals.csv")
            .unwrap();
    }

    fn ids(names: &[&str]) -> Vec<EntityId> {
        names.iter().map(|name| EntityId::new(*name)).collect()
    }

    fn money(values: &[&str]) -> Vec<Decimal> {
        values.iter().map(|value| Decimal::from_str(value).unwrap()).collect()
    }

    /// The amounts of an account line, wherever it sits.
    fn line<'a>(statement: &'a Statement, account: &str) -> &'a [Decimal] {
        statement
            .sections
            .iter()
            .flat_map(|section| &section.categories)
            .flat_map(|category| &category.lines)
            .find(|line| line.account.as_ref().is_some_and(|number| number.as_str() == account))
            .map(|line| line.amounts.as_slice())
            .unwrap_or_else(|| panic!("no line for account {account}"))
    }

    fn sheet(ledger: &mut Ledger, entities: &[&str], period: &str) -> Result<Statement, StatementError> {
        let entities = ids(entities);
        ledger
            .store()
            .read(|db| Ok(balance_sheet(db, &entities, &PeriodName::new(period))))
            .unwrap()
    }

    fn income(ledger: &mut Ledger, entities: &[&str], period: &str) -> Result<Statement, StatementError> {
        let entities = ids(entities);
        ledger
            .store()
            .read(|db| Ok(income_statement(db, &entities, &PeriodName::new(period))))
            .unwrap()
    }

    #[test]
    fn balance_sheet_compares_with_prior_year_end_and_same_date_a_year_before() {
        // Proves the hand-worked March 2026 balance sheet: period end, FY2025 year end (closing
        // period left out) and March 2025, with current-year earnings making each column balance.
        let mut ledger = ledger();
        let sheet = sheet(&mut ledger, &["E"], "2026-03").unwrap();
        let keys: Vec<&str> = sheet.columns.iter().map(|column| column.key).collect();
        assert_eq!(keys, ["period_end", "prior_year_end", "prior_year_period_end"]);
        let titles: Vec<&str> = sheet.columns.iter().map(|column| column.title.as_str()).collect();
        assert_eq!(titles, ["2026-03-31", "2025-12-31", "2025-03-31"]);
        assert_eq!(line(&sheet, "1000"), money(&["1050.00", "1100.00", "800.00"]));
        assert_eq!(line(&sheet, "1100"), money(&["1000.00", "200.00", "500.00"]));
        assert_eq!(
            sheet.section("assets").unwrap().total,
            money(&["2050.00", "1300.00", "1300.00"])
        );
        // Liabilities and equity read as credits positive.
        assert_eq!(line(&sheet, "2000"), money(&["220.00", "100.00", "0.00"]));
        assert_eq!(line(&sheet, "3000"), money(&["1000.00", "1000.00", "1000.00"]));
        assert_eq!(line(&sheet, "3900"), money(&["200.00", "0.00", "0.00"]));
        let equity = sheet.section("equity").unwrap();
        let earnings = equity.categories.last().unwrap();
        assert_eq!(earnings.name, "Current-year earnings");
        assert_eq!(earnings.total, money(&["630.00", "200.00", "300.00"]));
        assert_eq!(equity.total, money(&["1830.00", "1200.00", "1300.00"]));
        assert_eq!(
            sheet.total("liabilities_and_equity").unwrap().amounts,
            money(&["2050.00", "1300.00", "1300.00"])
        );
        assert!(sheet.balanced);
        assert_eq!(sheet.difference, money(&["0.00", "0.00", "0.00"]));
        let categories: Vec<&str> = sheet.sections[0]
            .categories
            .iter()
            .map(|category| category.name.as_str())
            .collect();
        assert_eq!(categories, ["Cash", "Receivables"]);
    }

    #[test]
    fn year_end_balance_sheet_has_no_duplicate_comparison_column() {
        // Proves that for December the prior year end and the same date a year before are one
        // column, and that the closing period counts only when it is the period asked for.
        let mut ledger = ledger();
        let december = sheet(&mut ledger, &["E"], "2025-12").unwrap();
        assert_eq!(december.columns.len(), 2);
        assert_eq!(december.columns[1].title, "(prior year not set up)");
        let equity = december.section("equity").unwrap();
        assert!(
            equity
                .categories
                .iter()
                .all(|category| category.name != "Retained earnings"),
            "the FY2025 closing entry stays out of the December balance sheet"
        );
        assert_eq!(equity.categories.last().unwrap().total, money(&["200.00", "0.00"]));
        let closing = sheet(&mut ledger, &["E"], "FY2025-closing").unwrap();
        assert_eq!(line(&closing, "3900"), money(&["200.00", "0.00"]));
        assert!(
            closing
                .section("equity")
                .unwrap()
                .categories
                .iter()
                .all(|category| category.name != "Current-year earnings")
        );
        assert!(closing.balanced);
    }

    #[test]
    fn income_statement_shows_period_and_year_to_date_against_the_prior_year() {
        // Proves the hand-worked March 2026 income statement: March and the year to date beside
        // March 2025 and January to March 2025, with the changes and net income.
        let mut ledger = ledger();
        let statement = income(&mut ledger, &["E"], "2026-03").unwrap();
        let titles: Vec<&str> = statement.columns.iter().map(|column| column.title.as_str()).collect();
        assert_eq!(
            titles,
            ["2026-03", "2025-03", "Change", "FY2026 YTD", "FY2025 YTD", "Change"]
        );
        assert_eq!(
            line(&statement, "4000"),
            money(&["800.00", "500.00", "300.00", "950.00", "500.00", "450.00"])
        );
        assert_eq!(
            line(&statement, "4100"),
            money(&["50.00", "0.00", "50.00", "50.00", "0.00", "50.00"])
        );
        assert_eq!(
            statement.section("revenue").unwrap().total,
            money(&["850.00", "500.00", "350.00", "1000.00", "500.00", "500.00"])
        );
        assert_eq!(
            statement.section("expenses").unwrap().total,
            money(&["370.00", "200.00", "170.00", "370.00", "200.00", "170.00"])
        );
        assert_eq!(
            statement.total("net_income").unwrap().amounts,
            money(&["480.00", "300.00", "180.00", "630.00", "300.00", "330.00"])
        );
        let revenue: Vec<&str> = statement.sections[0]
            .categories
            .iter()
            .map(|category| category.name.as_str())
            .collect();
        assert_eq!(revenue, ["Revenue", "Other revenue"]);
        let expenses: Vec<&str> = statement.sections[1]
            .categories
            .iter()
            .map(|category| category.name.as_str())
            .collect();
        assert_eq!(expenses, ["Personnel", "Premises"]);
        // Year-to-date net income is what the balance sheet shows as current-year earnings.
        let sheet = sheet(&mut ledger, &["E"], "2026-03").unwrap();
        let earnings = &sheet.section("equity").unwrap().categories.last().unwrap().total;
        assert_eq!(earnings[0], statement.total("net_income").unwrap().amounts[3]);
    }

    #[test]
    fn entities_sharing_a_currency_combine_line_by_line() {
        // Proves a combined statement adds each entity's balances account by account.
        let mut ledger = ledger();
        post(
            &mut ledger,
            "G",
            "entry,date,account,amount\nX1,2026-03-10,4000,-100.00\nX1,2026-03-10,1000,100.00\n",
        );
        let statement = income(&mut ledger, &["E", "G"], "2026-03").unwrap();
        assert_eq!(statement.entities.len(), 2);
        assert_eq!(statement.entity_heading(), "Example Ltd (E) + Group eliminations (G)");
        assert_eq!(line(&statement, "4000")[0], Decimal::from_str("900.00").unwrap());
        assert_eq!(
            statement.total("net_income").unwrap().amounts[3],
            Decimal::from_str("730.00").unwrap()
        );
        let sheet = sheet(&mut ledger, &["E", "G"], "2026-03").unwrap();
        assert_eq!(line(&sheet, "1000")[0], Decimal::from_str("1150.00").unwrap());
        assert!(sheet.balanced);
    }

    #[test]
    fn combinations_that_cannot_be_added_are_refused() {
        // Proves mixed currencies, charts and fiscal years, repeated and unknown entities and
        // unknown periods are refused with messages naming the offending value.
        let mut ledger = ledger();
        let message = |result: Result<Statement, StatementError>| result.unwrap_err().to_string();
        let mixed = message(sheet(&mut ledger, &["E", "D"], "2026-03"));
        assert!(
            mixed.contains("entity D keeps its books in EUR but E keeps them in USD"),
            "{mixed}"
        );
        let charts = message(income(&mut ledger, &["E", "O"], "2026-03"));
        assert!(
            charts.contains("entity O uses chart OTHER but E uses chart C"),
            "{charts}"
        );
        let years = message(income(&mut ledger, &["E", "J"], "2026-03"));
        assert!(years.contains("starts in month 7"), "{years}");
        let repeated = message(income(&mut ledger, &["E", "E"], "2026-03"));
        assert!(repeated.contains("entity E is named more than once"), "{repeated}");
        let unknown = message(sheet(&mut ledger, &["E", "NOPE"], "2026-03"));
        assert!(
            unknown.contains("entity NOPE does not exist; the ledger has: D, E, G, J, O"),
            "{unknown}"
        );
        let period = message(income(&mut ledger, &["E"], "2027-01"));
        assert!(
            period.contains(
                "period 2027-01 does not exist in calendar standard of entity E, \
                 which has fiscal years FY2025 to FY2026"
            ),
            "{period}"
        );
        assert!(matches!(
            income(&mut ledger, &[], "2026-03"),
            Err(StatementError::NoEntity)
        ));
    }
}
