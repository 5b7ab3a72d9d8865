//! Balance queries for close steps: balances of an account selection over a period range,
//! filtered by currency and dimension values, grouped by the dimensions a step asks to keep.
//! Read from the maintained balances, ordered deterministically (account, dimensions,
//! currency) so that the same ledger always gives a step the same rows.

use crate::account::AccountType;
use crate::calendar::Period;
use crate::dimension::{self, DimensionValues};
use crate::error::LedgerError;
use crate::ids::{AccountNumber, CurrencyCode, EntityId, PeriodName};
use crate::store::Db;
use rust_decimal::Decimal;
use std::collections::{BTreeMap, HashMap};

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AccountSelection {
    All,
    List(Vec<AccountNumber>),
    /// Inclusive range of account numbers, compared as text.
    Range(AccountNumber, AccountNumber),
    Types(Vec<AccountType>),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BalanceSelection {
    pub accounts: AccountSelection,
    pub from_period: PeriodName,
    pub to_period: PeriodName,
    pub currency: Option<CurrencyCode>,
    /// Only balances carrying every one of these dimension values.
    pub dimension_filter: DimensionValues,
    /// Dimensions kept in the result (`*` for all); the others are summed over.
    pub group_by: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BalanceSum {
    pub account: AccountNumber,
    pub dimensions: DimensionValues,
    pub currency: CurrencyCode,
    pub amount: Decimal,
    pub accounting_amount: Decimal,
    pub debit: Decimal,
    pub credit: Decimal,
}

/// The periods from `from` to `to` inclusive, in calendar order; refused when either does not
/// exist in the entity's calendar or the range runs backwards.
pub fn period_range(
    db: &Db<'_>,
    entity: &EntityId,
    from: &PeriodName,
    to: &PeriodName,
) -> Result<Vec<Period>, LedgerError> {
    let record = db.require_entity(entity)?;
    let periods = db.periods(&record.calendar, None)?;
    let find = |name: &PeriodName| {
        periods
            .iter()
            .find(|period| &period.name == name)
            .map(|period| period.ordinal)
            .ok_or_else(|| {
                LedgerError::Invalid(format!(
                    "period {name} does not exist in calendar {} of entity {entity}",
                    record.calendar
                ))
            })
    };
    let (first, last) = (find(from)?, find(to)?);
    if first > last {
        return Err(LedgerError::Invalid(format!(
            "period range {from}..{to} runs backwards"
        )));
    }
    Ok(periods
        .into_iter()
        .filter(|period| (first..=last).contains(&period.ordinal))
        .collect())
}

/// Balances of the selection, one row per account × kept dimensions × currency.
pub fn balances(db: &Db<'_>, entity: &EntityId, selection: &BalanceSelection) -> Result<Vec<BalanceSum>, LedgerError> {
    let record = db.require_entity(entity)?;
    let periods: Vec<PeriodName> = period_range(db, entity, &selection.from_period, &selection.to_period)?
        .into_iter()
        .map(|period| period.name)
        .collect();
    let types: HashMap<AccountNumber, AccountType> = db
        .accounts(&record.chart)?
        .into_iter()
        .map(|account| (account.number, account.account_type))
        .collect();
    let selected = |account: &AccountNumber| match &selection.accounts {
        AccountSelection::All => true,
        AccountSelection::List(accounts) => accounts.contains(account),
        AccountSelection::Range(first, last) => first <= account && account <= last,
        AccountSelection::Types(kinds) => types.get(account).is_some_and(|kind| kinds.contains(kind)),
    };
    let mut grouped: BTreeMap<(AccountNumber, String, CurrencyCode), [Decimal; 4]> = BTreeMap::new();
    for balance in db.balances(entity, &periods)? {
        if !selected(&balance.account)
            || selection
                .currency
                .as_ref()
                .is_some_and(|currency| currency != &balance.currency)
        {
            continue;
        }
        let values = dimension::parse_canonical(&balance.dimensions);
        if selection
            .dimension_filter
            .iter()
            .any(|(name, value)| values.get(name) != Some(value))
        {
            continue;
        }
        let kept = dimension::canonical(&dimension::project(&values, &selection.group_by));
        let sums = grouped.entry((balance.account, kept, balance.currency)).or_default();
        for (sum, amount) in
            sums.iter_mut()
                .zip([balance.amount, balance.accounting_amount, balance.debit, balance.credit])
        {
            *sum = sum.checked_add(amount).ok_or(LedgerError::Overflow)?;
        }
    }
    Ok(grouped
        .into_iter()
        .map(
            |((account, dimensions, currency), [amount, accounting_amount, debit, credit])| BalanceSum {
                account,
                dimensions: dimension::parse_canonical(&dimensions),
                currency,
                amount,
                accounting_amount,
                debit,
                credit,
            },
        )
        .collect())
}
