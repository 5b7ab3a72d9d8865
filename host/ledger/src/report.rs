//! Reports built from the maintained balances (never by rescanning lines): trial balance and
//! the ledger journal report here; the balance sheet and income statement live in `statement`
//! and are reachable from here for one entity.
//!
//! Rules (DOMAIN.md sections 3 and 9):
//! - Trial balance columns: opening (the year's balance before the period, opening period
//!   included), debit and credit turnovers of the period (both >= 0), closing = opening + debit
//!   - credit, in accounting currency. The last month excludes the closing period unless asked.
//! - A balance-sheet account's balance = the year's opening period + the year's movements;
//!   profit and loss accounts start every year at zero. Until year-end close has run, the
//!   balance sheet shows the year's net profit as "current-year earnings" in equity.

use crate::account::{Account, AccountType};
use crate::calendar::{EntityPeriods, Period, PeriodKind};
use crate::dimension::{self, DimensionValues};
use crate::error::LedgerError;
use crate::ids::{AccountNumber, CurrencyCode, EntityId, PeriodName};
use crate::journal::PostedEntry;
use crate::statement::{self, Statement};
use crate::store::{AccountRows, BalanceView, Db};
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
    let all = EntityPeriods::of(db, &entity)?;
    let target = all.named(period)?.clone();
    let year = all
        .periods
        .into_iter()
        .filter(|candidate| candidate.fiscal_year == target.fiscal_year)
        .collect();
    let minor_units = db.minor_units(&entity.currency)?;
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

    fn fixed(&self, amount: Decimal) -> Decimal {
        crate::money::at_least_minor_units(amount, self.minor_units)
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
    // Rows are read as borrowed views and summed under the account's and the projected
    // dimensions' texts, allocated once each: a trial balance late in the year reads every
    // earlier period's rows for its opening column.
    let mut grouped: HashMap<String, HashMap<String, TrialBalanceTotals>> = HashMap::new();
    let mut projected: HashMap<i64, String> = HashMap::new();
    // Without dimensions, the few per-account rows hold the same totals as the per-dimension rows.
    let with_dimensions = !dimensions.is_empty();
    let mut read =
        |periods: &[PeriodName], add_row: fn(&mut TrialBalanceTotals, &BalanceView<'_>) -> Result<(), LedgerError>| {
            db.balances_of_accounts(entity, periods, AccountRows::All, with_dimensions, &mut |view| {
                let dimension_text: &str = if with_dimensions {
                    projected.entry(view.dimension_set).or_insert_with(|| {
                        dimension::canonical(&dimension::project(
                            &dimension::parse_canonical(view.dimensions),
                            dimensions,
                        ))
                    })
                } else {
                    ""
                };
                let by_dimensions = match grouped.get_mut(view.account) {
                    Some(by_dimensions) => by_dimensions,
                    None => grouped.entry(view.account.to_owned()).or_default(),
                };
                let totals = match by_dimensions.get_mut(dimension_text) {
                    Some(totals) => totals,
                    None => by_dimensions.entry(dimension_text.to_owned()).or_default(),
                };
                add_row(totals, &view)
            })
        };
    read(&opening_periods, |totals, view| {
        add(&mut totals.opening, view.accounting_amount)
    })?;
    read(&movement_periods, |totals, view| {
        add(&mut totals.debit, view.debit)?;
        add(&mut totals.credit, view.credit)
    })?;
    let mut grouped: Vec<((String, String), TrialBalanceTotals)> = grouped
        .into_iter()
        .flat_map(|(account, by_dimensions)| {
            by_dimensions
                .into_iter()
                .map(move |(dimension_text, amounts)| ((account.clone(), dimension_text), amounts))
        })
        .collect();
    grouped.sort_unstable_by(|left, right| left.0.cmp(&right.0));
    let mut totals = TrialBalanceTotals::default();
    let mut rows = Vec::with_capacity(grouped.len());
    for ((account, dimension_text), amounts) in grouped {
        let account = AccountNumber::new(account);
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

/// The balance sheet of one entity at the end of a period (see `statement::balance_sheet`).
pub fn balance_sheet(db: &Db<'_>, entity: &EntityId, period: &PeriodName) -> Result<Statement, LedgerError> {
    Ok(statement::balance_sheet(db, std::slice::from_ref(entity), period)?)
}

/// The income statement of one entity for a period (see `statement::income_statement`).
pub fn income_statement(db: &Db<'_>, entity: &EntityId, period: &PeriodName) -> Result<Statement, LedgerError> {
    Ok(statement::income_statement(db, std::slice::from_ref(entity), period)?)
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
