//! Reports built from the maintained balances (never by rescanning lines): trial balance,
//! balance sheet, income statement, and the ledger journal report.
//!
//! Rules (DOMAIN.md sections 3 and 9):
//! - Trial balance columns: opening (the year's balance before the period, opening period
//!   included), debit and credit turnovers of the period (both >= 0), closing = opening + debit
//!   - credit, in accounting currency. The last month excludes the closing period unless asked.
//! - A balance-sheet account's balance = the year's opening period + the year's movements;
//!   profit and loss accounts start every year at zero. Until year-end close has run, the
//!   balance sheet shows the year's net profit as "current-year earnings" in equity.

use crate::account::{Account, AccountType};
use crate::calendar::{Period, PeriodKind};
use crate::dimension::{self, DimensionValues};
use crate::error::LedgerError;
use crate::ids::{AccountNumber, CurrencyCode, EntityId, PeriodName};
use crate::journal::PostedEntry;
use crate::store::{BalanceRecord, Db};
use rust_decimal::Decimal;
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};

#[derive(Debug, Clone, Serialize)]
pub struct TrialBalanceRow {
    pub account: AccountNumber,
    pub name: String,
    #[serde(rename = "type")]
    pub account_type: AccountType,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub dimensions: DimensionValues,
    pub opening: Decimal,
    pub debit: Decimal,
    pub credit: Decimal,
    pub closing: Decimal,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct TrialBalanceTotals {
    pub opening: Decimal,
    pub debit: Decimal,
    pub credit: Decimal,
    pub closing: Decimal,
}

#[derive(Debug, Clone, Serialize)]
pub struct TrialBalance {
    pub entity: EntityId,
    pub period: PeriodName,
    pub currency: CurrencyCode,
    pub include_closing: bool,
    pub rows: Vec<TrialBalanceRow>,
    pub totals: TrialBalanceTotals,
}

/// The periods of an entity's fiscal year around a target period.
struct YearContext {
    target: Period,
    year: Vec<Period>,
    accounts: HashMap<AccountNumber, Account>,
    currency: CurrencyCode,
    minor_units: u32,
}

fn year_context(db: &Db<'_>, entity_id: &EntityId, period: &PeriodName) -> Result<YearContext, LedgerError> {
    let entity = db.require_entity(entity_id)?;
    let all = db.periods(&entity.calendar, None)?;
    let target = all
        .iter()
        .find(|candidate| &candidate.name == period)
        .cloned()
        .ok_or_else(|| {
            LedgerError::Invalid(format!(
                "period {period} does not exist in calendar {} of entity {entity_id}",
                entity.calendar
            ))
        })?;
    let year = all
        .into_iter()
        .filter(|candidate| candidate.fiscal_year == target.fiscal_year)
        .collect();
    let minor_units = db.currencies()?.get(&entity.currency).copied().unwrap_or(2);
    Ok(YearContext {
        target,
        year,
        accounts: db
            .accounts(&entity.chart)?
            .into_iter()
            .map(|account| (account.number.clone(), account))
            .collect(),
        currency: entity.currency,
        minor_units,
    })
}

impl YearContext {
    fn names(&self, keep: impl Fn(&Period) -> bool) -> Vec<PeriodName> {
        self.year
            .iter()
            .filter(|period| keep(period))
            .map(|period| period.name.clone())
            .collect()
    }

    /// Periods whose movements make up the balance at the end of the target period: the year
    /// up to and including it, leaving out the closing period unless it is the target.
    fn year_to_date(&self) -> Vec<PeriodName> {
        let target = &self.target;
        self.names(|period| {
            period.ordinal <= target.ordinal
                && (period.kind != PeriodKind::Closing || target.kind == PeriodKind::Closing)
        })
    }

    fn fixed(&self, amount: Decimal) -> Decimal {
        let mut amount = amount;
        amount.rescale(self.minor_units.max(amount.scale()));
        amount
    }

    fn account(&self, number: &AccountNumber) -> (String, AccountType, Option<String>) {
        match self.accounts.get(number) {
            Some(account) => (account.name.clone(), account.account_type, account.category.clone()),
            None => (format!("(unknown account {number})"), AccountType::Asset, None),
        }
    }
}

fn add(total: &mut Decimal, amount: Decimal) -> Result<(), LedgerError> {
    *total = total.checked_add(amount).ok_or(LedgerError::Overflow)?;
    Ok(())
}

/// The trial balance of one period, per account (and per the named dimensions).
pub fn trial_balance(
    db: &Db<'_>,
    entity: &EntityId,
    period: &PeriodName,
    dimensions: &[String],
    include_closing: bool,
) -> Result<TrialBalance, LedgerError> {
    let context = year_context(db, entity, period)?;
    let target = &context.target;
    let opening_periods = context.names(|candidate| candidate.ordinal < target.ordinal);
    let last_operating = context
        .year
        .iter()
        .filter(|candidate| candidate.kind == PeriodKind::Operating)
        .map(|candidate| candidate.ordinal)
        .max();
    let movement_periods = context.names(|candidate| {
        candidate.ordinal == target.ordinal
            || (include_closing && Some(target.ordinal) == last_operating && candidate.kind == PeriodKind::Closing)
    });
    let mut grouped: BTreeMap<(AccountNumber, String), TrialBalanceTotals> = BTreeMap::new();
    let key = |record: &BalanceRecord| {
        (
            record.account.clone(),
            dimension::canonical(&dimension::project(
                &dimension::parse_canonical(&record.dimensions),
                dimensions,
            )),
        )
    };
    // Without dimensions, the few per-account rows hold the same totals as the per-dimension rows.
    let read = |periods: &[PeriodName]| {
        if dimensions.is_empty() {
            db.account_balances(entity, periods)
        } else {
            db.balances(entity, periods)
        }
    };
    for record in read(&opening_periods)? {
        add(
            &mut grouped.entry(key(&record)).or_default().opening,
            record.accounting_amount,
        )?;
    }
    for record in read(&movement_periods)? {
        let row = grouped.entry(key(&record)).or_default();
        add(&mut row.debit, record.debit)?;
        add(&mut row.credit, record.credit)?;
    }
    let mut totals = TrialBalanceTotals::default();
    let mut rows = Vec::with_capacity(grouped.len());
    for ((account, dimension_text), amounts) in grouped {
        let closing = amounts
            .opening
            .checked_add(amounts.debit)
            .and_then(|sum| sum.checked_sub(amounts.credit))
            .ok_or(LedgerError::Overflow)?;
        if amounts.opening.is_zero() && amounts.debit.is_zero() && amounts.credit.is_zero() {
            continue;
        }
        add(&mut totals.opening, amounts.opening)?;
        add(&mut totals.debit, amounts.debit)?;
        add(&mut totals.credit, amounts.credit)?;
        add(&mut totals.closing, closing)?;
        let (name, account_type, _) = context.account(&account);
        rows.push(TrialBalanceRow {
            name,
            account_type,
            dimensions: dimension::parse_canonical(&dimension_text),
            opening: context.fixed(amounts.opening),
            debit: context.fixed(amounts.debit),
            credit: context.fixed(amounts.credit),
            closing: context.fixed(closing),
            account,
        });
    }
    let totals = TrialBalanceTotals {
        opening: context.fixed(totals.opening),
        debit: context.fixed(totals.debit),
        credit: context.fixed(totals.credit),
        closing: context.fixed(totals.closing),
    };
    Ok(TrialBalance {
        entity: entity.clone(),
        period: period.clone(),
        currency: context.currency.clone(),
        include_closing,
        rows,
        totals,
    })
}

#[derive(Debug, Clone, Serialize)]
pub struct StatementLine {
    pub account: AccountNumber,
    pub name: String,
    pub category: String,
    pub amount: Decimal,
}

#[derive(Debug, Clone, Serialize)]
pub struct StatementSection {
    pub title: String,
    pub lines: Vec<StatementLine>,
    pub total: Decimal,
}

/// Orders statement lines the way a chart reads: categories by their lowest account number,
/// then accounts within each category.
fn sort_by_category<T>(lines: &mut [T], key: impl Fn(&T) -> (&String, &AccountNumber)) {
    let mut first_account: HashMap<String, AccountNumber> = HashMap::new();
    for line in lines.iter() {
        let (category, account) = key(line);
        let first = first_account.entry(category.clone()).or_insert_with(|| account.clone());
        if account < first {
            *first = account.clone();
        }
    }
    lines.sort_by(|left, right| {
        let (left_category, left_account) = key(left);
        let (right_category, right_account) = key(right);
        (&first_account[left_category], left_category, left_account).cmp(&(
            &first_account[right_category],
            right_category,
            right_account,
        ))
    });
}

#[derive(Debug, Clone, Serialize)]
pub struct BalanceSheet {
    pub entity: EntityId,
    pub period: PeriodName,
    pub as_of: chrono::NaiveDate,
    pub currency: CurrencyCode,
    pub assets: StatementSection,
    pub liabilities: StatementSection,
    /// Equity accounts plus the current-year earnings line.
    pub equity: StatementSection,
    pub current_year_earnings: Decimal,
    pub total_liabilities_and_equity: Decimal,
    /// Assets = liabilities + equity.
    pub balanced: bool,
}

/// Sums accounting amounts per account over the given periods.
fn account_totals(
    db: &Db<'_>,
    entity: &EntityId,
    periods: &[PeriodName],
) -> Result<BTreeMap<AccountNumber, Decimal>, LedgerError> {
    let mut totals: BTreeMap<AccountNumber, Decimal> = BTreeMap::new();
    for record in db.account_balances(entity, periods)? {
        add(totals.entry(record.account).or_default(), record.accounting_amount)?;
    }
    Ok(totals)
}

fn section(
    context: &YearContext,
    title: &str,
    totals: &BTreeMap<AccountNumber, Decimal>,
    types: &[AccountType],
    sign: Decimal,
) -> Result<StatementSection, LedgerError> {
    let mut lines = Vec::new();
    let mut total = Decimal::ZERO;
    for (account, amount) in totals {
        let (name, account_type, category) = context.account(account);
        if !types.contains(&account_type) || amount.is_zero() {
            continue;
        }
        let amount = amount * sign;
        add(&mut total, amount)?;
        lines.push(StatementLine {
            account: account.clone(),
            name,
            category: category.unwrap_or_else(|| title.to_owned()),
            amount: context.fixed(amount),
        });
    }
    sort_by_category(&mut lines, |line| (&line.category, &line.account));
    Ok(StatementSection {
        title: title.to_owned(),
        lines,
        total: context.fixed(total),
    })
}

/// The balance sheet at the end of a period.
pub fn balance_sheet(db: &Db<'_>, entity: &EntityId, period: &PeriodName) -> Result<BalanceSheet, LedgerError> {
    let context = year_context(db, entity, period)?;
    let totals = account_totals(db, entity, &context.year_to_date())?;
    let assets = section(&context, "Assets", &totals, &[AccountType::Asset], Decimal::ONE)?;
    let liabilities = section(
        &context,
        "Liabilities",
        &totals,
        &[AccountType::Liability],
        Decimal::NEGATIVE_ONE,
    )?;
    let mut equity = section(
        &context,
        "Equity",
        &totals,
        &[AccountType::Equity],
        Decimal::NEGATIVE_ONE,
    )?;
    let mut profit_and_loss = Decimal::ZERO;
    for (account, amount) in &totals {
        if !context.account(account).1.is_balance_sheet() {
            add(&mut profit_and_loss, *amount)?;
        }
    }
    let current_year_earnings = context.fixed(-profit_and_loss);
    if !current_year_earnings.is_zero() {
        equity.lines.push(StatementLine {
            account: AccountNumber::new(""),
            name: "Current-year earnings".to_owned(),
            category: "Current-year earnings".to_owned(),
            amount: current_year_earnings,
        });
        equity.total = context.fixed(equity.total + current_year_earnings);
    }
    let total_liabilities_and_equity = context.fixed(liabilities.total + equity.total);
    Ok(BalanceSheet {
        entity: entity.clone(),
        period: period.clone(),
        as_of: context.target.end,
        currency: context.currency.clone(),
        balanced: assets.total == total_liabilities_and_equity,
        assets,
        liabilities,
        equity,
        current_year_earnings,
        total_liabilities_and_equity,
    })
}

#[derive(Debug, Clone, Serialize)]
pub struct IncomeLine {
    pub account: AccountNumber,
    pub name: String,
    pub category: String,
    pub period: Decimal,
    pub year_to_date: Decimal,
}

#[derive(Debug, Clone, Serialize)]
pub struct IncomeSection {
    pub title: String,
    pub lines: Vec<IncomeLine>,
    pub period: Decimal,
    pub year_to_date: Decimal,
}

#[derive(Debug, Clone, Serialize)]
pub struct IncomeStatement {
    pub entity: EntityId,
    pub period: PeriodName,
    pub currency: CurrencyCode,
    /// Shown as positive numbers (credits).
    pub revenue: IncomeSection,
    /// Shown as positive numbers (debits).
    pub expenses: IncomeSection,
    pub net_income_period: Decimal,
    pub net_income_year_to_date: Decimal,
}

fn income_section(
    context: &YearContext,
    title: &str,
    account_type: AccountType,
    period: &BTreeMap<AccountNumber, Decimal>,
    year: &BTreeMap<AccountNumber, Decimal>,
    sign: Decimal,
) -> Result<IncomeSection, LedgerError> {
    let mut section = IncomeSection {
        title: title.to_owned(),
        lines: Vec::new(),
        period: Decimal::ZERO,
        year_to_date: Decimal::ZERO,
    };
    for (account, year_amount) in year {
        let (name, kind, category) = context.account(account);
        let period_amount = period.get(account).copied().unwrap_or_default();
        if kind != account_type || (year_amount.is_zero() && period_amount.is_zero()) {
            continue;
        }
        add(&mut section.period, period_amount * sign)?;
        add(&mut section.year_to_date, *year_amount * sign)?;
        section.lines.push(IncomeLine {
            account: account.clone(),
            name,
            category: category.unwrap_or_else(|| title.to_owned()),
            period: context.fixed(period_amount * sign),
            year_to_date: context.fixed(*year_amount * sign),
        });
    }
    sort_by_category(&mut section.lines, |line| (&line.category, &line.account));
    section.period = context.fixed(section.period);
    section.year_to_date = context.fixed(section.year_to_date);
    Ok(section)
}

/// The income statement of a period and of the year to its end.
pub fn income_statement(db: &Db<'_>, entity: &EntityId, period: &PeriodName) -> Result<IncomeStatement, LedgerError> {
    let context = year_context(db, entity, period)?;
    let period_totals = account_totals(db, entity, std::slice::from_ref(&context.target.name))?;
    let year_totals = account_totals(db, entity, &context.year_to_date())?;
    let revenue = income_section(
        &context,
        "Revenue",
        AccountType::Revenue,
        &period_totals,
        &year_totals,
        Decimal::NEGATIVE_ONE,
    )?;
    let expenses = income_section(
        &context,
        "Expenses",
        AccountType::Expense,
        &period_totals,
        &year_totals,
        Decimal::ONE,
    )?;
    Ok(IncomeStatement {
        entity: entity.clone(),
        period: period.clone(),
        currency: context.currency.clone(),
        net_income_period: context.fixed(revenue.period - expenses.period),
        net_income_year_to_date: context.fixed(revenue.year_to_date - expenses.year_to_date),
        revenue,
        expenses,
    })
}

#[derive(Debug, Clone, Serialize)]
pub struct JournalReport {
    pub entity: EntityId,
    pub period: PeriodName,
    pub entries: Vec<PostedEntry>,
}

/// The ledger journal report: posted entries of a period with their lines and provenance.
pub fn journal(db: &Db<'_>, entity: &EntityId, period: &PeriodName) -> Result<JournalReport, LedgerError> {
    year_context(db, entity, period)?;
    Ok(JournalReport {
        entity: entity.clone(),
        period: period.clone(),
        entries: db.entries(entity, Some(period))?,
    })
}
