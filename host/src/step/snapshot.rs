//! The ledger a close step reads: a `LedgerReader` over one SQLite read transaction taken when
//! the step starts, so every query of the run sees the same ledger whatever posts meanwhile.
//! It converts between the ledger's types and the WIT records, and nothing else: entity access,
//! page caps and row budgets are enforced by the runtime's gate in front of it.

use crate::plugin::wit::{
    AccountFilter, AccountInfo, AccountType as WitAccountType, BalanceQuery, BalanceRow, CurrencyInfo, Dimension,
    DimensionInfo, EntityInfo, LinePage, LineQuery, PeriodInfo, PeriodKind as WitPeriodKind,
    PeriodStatus as WitPeriodStatus, PostedLine,
};
use crate::plugin::{LedgerError as ReaderError, LedgerReader};
use closebook_ledger::LedgerError;
use closebook_ledger::account::AccountType;
use closebook_ledger::calendar::PeriodKind;
use closebook_ledger::dimension::{self, DimensionValues};
use closebook_ledger::ids::{AccountNumber, CurrencyCode, EntityId, FiscalYearName, PeriodName, RateType};
use closebook_ledger::money::parse_decimal;
use closebook_ledger::period::PeriodStatus;
use closebook_ledger::query::{self, AccountSelection, BalanceSelection};
use closebook_ledger::rate::RateTable;
use closebook_ledger::store::{Snapshot, Store};
use std::collections::BTreeMap;
use std::path::Path;
use std::str::FromStr;

pub struct SnapshotReader {
    snapshot: Snapshot,
    rates: Option<RateTable>,
}

impl SnapshotReader {
    pub fn open(db_path: &Path) -> Result<Self, LedgerError> {
        Ok(Self {
            snapshot: Store::open(db_path)?.into_snapshot()?,
            rates: None,
        })
    }

    /// The ledger sequence of each entity in this snapshot: what must still hold when the
    /// step's proposals post.
    pub fn sequences(&self, entities: &[EntityId]) -> Result<BTreeMap<EntityId, i64>, LedgerError> {
        let db = self.snapshot.db();
        entities
            .iter()
            .map(|entity| Ok((entity.clone(), db.ledger_head(entity)?.0)))
            .collect()
    }
}

/// A refusal the step sees for a ledger error that is its own doing (unknown period…), or a
/// host failure for a database error.
fn convert(error: LedgerError) -> ReaderError {
    if error.is_storage_failure() {
        ReaderError::Failed(Box::new(error))
    } else {
        ReaderError::refused(error.to_string())
    }
}

fn account_type_to_wit(kind: AccountType) -> WitAccountType {
    match kind {
        AccountType::Asset => WitAccountType::Asset,
        AccountType::Liability => WitAccountType::Liability,
        AccountType::Equity => WitAccountType::Equity,
        AccountType::Revenue => WitAccountType::Revenue,
        AccountType::Expense => WitAccountType::Expense,
    }
}

fn account_type_from_wit(kind: WitAccountType) -> AccountType {
    match kind {
        WitAccountType::Asset => AccountType::Asset,
        WitAccountType::Liability => AccountType::Liability,
        WitAccountType::Equity => AccountType::Equity,
        WitAccountType::Revenue => AccountType::Revenue,
        WitAccountType::Expense => AccountType::Expense,
    }
}

fn dimensions_to_wit(values: &DimensionValues) -> Vec<Dimension> {
    values
        .iter()
        .map(|(name, value)| Dimension {
            name: name.clone(),
            value: value.clone(),
        })
        .collect()
}

fn period_to_wit(period: closebook_ledger::calendar::Period, status: PeriodStatus) -> PeriodInfo {
    PeriodInfo {
        name: period.name.to_string(),
        kind: match period.kind {
            PeriodKind::Opening => WitPeriodKind::Opening,
            PeriodKind::Operating => WitPeriodKind::Operating,
            PeriodKind::Closing => WitPeriodKind::Closing,
        },
        start: period.start.to_string(),
        end: period.end.to_string(),
        fiscal_year: period.fiscal_year.to_string(),
        status: match status {
            PeriodStatus::Open => WitPeriodStatus::Open,
            PeriodStatus::OnHold => WitPeriodStatus::OnHold,
            PeriodStatus::PermanentlyClosed => WitPeriodStatus::PermanentlyClosed,
        },
    }
}

/// Periods of an entity in the shape the plugin interface carries.
pub fn periods_of(
    db: &closebook_ledger::store::Db<'_>,
    entity: &EntityId,
    fiscal_year: Option<&FiscalYearName>,
) -> Result<Vec<PeriodInfo>, LedgerError> {
    let record = db.require_entity(entity)?;
    let statuses = db.period_statuses(entity)?;
    Ok(db
        .periods(&record.calendar, fiscal_year)?
        .into_iter()
        .map(|period| {
            let status = statuses.get(&period.name).copied().unwrap_or(PeriodStatus::Open);
            period_to_wit(period, status)
        })
        .collect())
}

impl LedgerReader for SnapshotReader {
    fn entity(&mut self, entity: &str) -> Result<EntityInfo, ReaderError> {
        let record = self
            .snapshot
            .db()
            .require_entity(&EntityId::new(entity))
            .map_err(convert)?;
        Ok(EntityInfo {
            id: record.id.to_string(),
            name: record.name,
            currency: record.currency.to_string(),
            retained_earnings_account: record.retained_earnings_account.to_string(),
            default_rate_type: record.default_rate_type.to_string(),
            penny_rounding_account: record.penny_rounding_account.map(|account| account.to_string()),
        })
    }

    fn currencies(&mut self) -> Result<Vec<CurrencyInfo>, ReaderError> {
        let currencies = self.snapshot.db().currency_list().map_err(convert)?;
        Ok(currencies
            .into_iter()
            .map(|(code, _, minor_units)| CurrencyInfo {
                code: code.to_string(),
                minor_units: minor_units as u8,
            })
            .collect())
    }

    fn accounts(&mut self, entity: &str) -> Result<Vec<AccountInfo>, ReaderError> {
        let db = self.snapshot.db();
        let record = db.require_entity(&EntityId::new(entity)).map_err(convert)?;
        let accounts = db.accounts(&record.chart).map_err(convert)?;
        Ok(accounts
            .into_iter()
            .map(|account| AccountInfo {
                number: account.number.to_string(),
                name: account.name,
                account_type: account_type_to_wit(account.account_type),
                revalue: account.revalue,
                settle: account.settle,
                rate_type: account.rate_type.map(|rate_type| rate_type.to_string()),
                fixed_currency: account.fixed_currency.map(|currency| currency.to_string()),
                category: account.category,
                blocked: account.blocked,
            })
            .collect())
    }

    fn dimensions(&mut self) -> Result<Vec<DimensionInfo>, ReaderError> {
        let dimensions = self.snapshot.db().dimensions().map_err(convert)?;
        let mut infos: Vec<DimensionInfo> = dimensions
            .into_iter()
            .map(|(name, values)| {
                let mut values: Vec<String> = values.into_keys().collect();
                values.sort();
                DimensionInfo { name, values }
            })
            .collect();
        infos.sort_by(|left, right| left.name.cmp(&right.name));
        Ok(infos)
    }

    fn periods(&mut self, entity: &str, fiscal_year: Option<&str>) -> Result<Vec<PeriodInfo>, ReaderError> {
        let year = fiscal_year.map(FiscalYearName::new);
        periods_of(&self.snapshot.db(), &EntityId::new(entity), year.as_ref()).map_err(convert)
    }

    fn balances(&mut self, query: &BalanceQuery) -> Result<Vec<BalanceRow>, ReaderError> {
        let accounts = match &query.accounts {
            AccountFilter::All => AccountSelection::All,
            AccountFilter::List(accounts) => AccountSelection::List(
                accounts
                    .iter()
                    .map(|account| AccountNumber::new(account.clone()))
                    .collect(),
            ),
            AccountFilter::Range((first, last)) => {
                AccountSelection::Range(AccountNumber::new(first.clone()), AccountNumber::new(last.clone()))
            }
            AccountFilter::Types(kinds) => {
                AccountSelection::Types(kinds.iter().map(|kind| account_type_from_wit(*kind)).collect())
            }
        };
        let selection = BalanceSelection {
            accounts,
            from_period: PeriodName::new(query.from_period.clone()),
            to_period: PeriodName::new(query.to_period.clone()),
            currency: query.currency.clone().map(CurrencyCode),
            dimension_filter: query
                .dimension_filter
                .iter()
                .map(|dimension| (dimension.name.clone(), dimension.value.clone()))
                .collect(),
            group_by: query.group_by_dimensions.clone(),
        };
        let sums =
            query::balances(&self.snapshot.db(), &EntityId::new(query.entity.clone()), &selection).map_err(convert)?;
        Ok(sums
            .into_iter()
            .map(|sum| BalanceRow {
                account: sum.account.to_string(),
                dimensions: dimensions_to_wit(&sum.dimensions),
                currency: sum.currency.to_string(),
                amount: sum.amount.to_string(),
                accounting_amount: sum.accounting_amount.to_string(),
                debit: sum.debit.to_string(),
                credit: sum.credit.to_string(),
            })
            .collect())
    }

    fn lines(&mut self, query: &LineQuery) -> Result<LinePage, ReaderError> {
        let db = self.snapshot.db();
        let entity = EntityId::new(query.entity.clone());
        let periods: Vec<PeriodName> = query::period_range(
            &db,
            &entity,
            &PeriodName::new(query.from_period.clone()),
            &PeriodName::new(query.to_period.clone()),
        )
        .map_err(convert)?
        .into_iter()
        .map(|period| period.name)
        .collect();
        let limit = query.limit as usize;
        let after = i64::try_from(query.after.unwrap_or(0)).unwrap_or(i64::MAX);
        // One line more than the page tells whether another page follows.
        let mut records = db
            .account_lines(
                &entity,
                &AccountNumber::new(query.account.clone()),
                &periods,
                after,
                limit.saturating_add(1),
                query.include_settled,
            )
            .map_err(convert)?;
        let next = if records.len() > limit {
            records.truncate(limit);
            records.last().map(|record| record.id as u64)
        } else {
            None
        };
        Ok(LinePage {
            lines: records
                .into_iter()
                .map(|record| PostedLine {
                    id: record.id as u64,
                    entry_id: record.entry_id as u64,
                    entry_key: record.entry_key.to_string(),
                    date: record.date.to_string(),
                    period: record.period.to_string(),
                    account: record.line.account.to_string(),
                    dimensions: dimensions_to_wit(&dimension::parse_canonical(&record.line.dimensions)),
                    currency: record.line.currency.to_string(),
                    amount: record.line.amount.to_string(),
                    accounting_amount: record.line.accounting_amount.to_string(),
                    description: record.line.description,
                    settlement_id: record.settlement_id.map(|id| id as u64),
                })
                .collect(),
            next,
        })
    }

    fn rate(&mut self, from: &str, to: &str, rate_type: &str, on: &str) -> Result<Option<String>, ReaderError> {
        let date = chrono::NaiveDate::from_str(on)
            .map_err(|_| ReaderError::refused(format!("`{on}` is not a date (YYYY-MM-DD)")))?;
        if self.rates.is_none() {
            self.rates = Some(RateTable::new(self.snapshot.db().rates(None).map_err(convert)?));
        }
        let table = self.rates.as_ref().expect("the rate table was just loaded");
        Ok(table
            .rate_on(
                &CurrencyCode::new(from),
                &CurrencyCode::new(to),
                &RateType::new(rate_type),
                date,
            )
            .map(|rate| rate.to_string()))
    }
}

/// Parses a decimal a plugin sent, with the interface's strict grammar.
pub fn plugin_decimal(text: &str) -> Result<rust_decimal::Decimal, String> {
    parse_decimal(text).map_err(|error| error.to_string())
}
