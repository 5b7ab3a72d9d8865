//! Maintained balances read back: per dimension set (`balances`) and per account
//! (`account_balances`), by period, for reports, statements, plugins and `verify`. Both tables
//! are written by `posting.rs`.

use super::row::{Fields, all, column_index};
use super::sql::{Arg, Row, Statement, args};
use super::{Db, QUERY_ROWS_MAX};
use crate::error::LedgerError;
use crate::ids::{AccountNumber, CurrencyCode, EntityId, PeriodName};
use rust_decimal::Decimal;

/// One maintained balance row.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BalanceRecord {
    pub period: PeriodName,
    pub account: AccountNumber,
    pub dimensions: String,
    pub currency: CurrencyCode,
    pub amount: Decimal,
    pub accounting_amount: Decimal,
    pub debit: Decimal,
    pub credit: Decimal,
}

/// One maintained balance row as a balance query reads it, its texts borrowed from the row: a
/// query that sums hundreds of thousands of rows into a few allocates only for the few.
#[derive(Clone, Copy, Debug)]
pub struct BalanceView<'a> {
    pub account: &'a str,
    /// The row's dimension set (`dimension_sets.id`; 0 for none, and for every
    /// `account_balances` row), which names `dimensions` in fewer bytes.
    pub dimension_set: i64,
    /// The set's canonical text, `name=value;…`.
    pub dimensions: &'a str,
    pub currency: &'a str,
    pub amount: Decimal,
    pub accounting_amount: Decimal,
    pub debit: Decimal,
    pub credit: Decimal,
}

/// Which accounts a balance read returns. Account numbers compare as text, in SQLite as in Rust
/// (byte by byte).
#[derive(Clone, Copy, Debug)]
pub enum AccountRows<'a> {
    All,
    List(&'a [AccountNumber]),
    /// Inclusive.
    Range(&'a AccountNumber, &'a AccountNumber),
}

fn too_many_balance_rows() -> LedgerError {
    LedgerError::Invalid(format!("more than {QUERY_ROWS_MAX} balance rows; narrow the query"))
}

/// The columns that name a balance row in an error.
const BALANCE_KEY: &[&str] = &["entity_id", "period", "account", "dimensions", "currency"];

/// Where a balance row's columns are in a statement's result: resolved once per statement, so
/// that a stream of balances does not look each column up by name on every row.
struct BalanceColumns {
    /// `balances` or `account_balances`.
    table: &'static str,
    period: usize,
    account: usize,
    dimensions: usize,
    currency: usize,
    amount: usize,
    accounting_amount: usize,
    debit: usize,
    credit: usize,
}

impl BalanceColumns {
    fn resolve(statement: &Statement<'_>, table: &'static str) -> Result<Self, LedgerError> {
        let index = |name| column_index(statement, name);
        Ok(Self {
            table,
            period: index("period")?,
            account: index("account")?,
            dimensions: index("dimensions")?,
            currency: index("currency")?,
            amount: index("amount")?,
            accounting_amount: index("accounting_amount")?,
            debit: index("debit")?,
            credit: index("credit")?,
        })
    }

    fn read(&self, row: &Row<'_>) -> Result<BalanceRecord, LedgerError> {
        let fields = Fields::new(row, self.table, BALANCE_KEY);
        Ok(BalanceRecord {
            period: PeriodName(fields.text(self.period)?),
            account: AccountNumber(fields.text(self.account)?),
            dimensions: fields.text(self.dimensions)?,
            currency: CurrencyCode(fields.text(self.currency)?),
            amount: fields.decimal(self.amount)?,
            accounting_amount: fields.decimal(self.accounting_amount)?,
            debit: fields.decimal(self.debit)?,
            credit: fields.decimal(self.credit)?,
        })
    }
}

/// Runs a balance query of `table` (columns: entity_id, period, account, dimensions, currency,
/// amount, accounting_amount, debit, credit; parameters: entity, period, then `extra`) once per
/// period, up to `QUERY_ROWS_MAX` rows.
fn balance_records(
    statement: &mut Statement<'_>,
    table: &'static str,
    entity: &EntityId,
    periods: &[PeriodName],
    extra: &[&dyn Arg],
) -> Result<Vec<BalanceRecord>, LedgerError> {
    let columns = BalanceColumns::resolve(statement, table)?;
    let mut records = Vec::new();
    for_each_row_of_periods(statement, entity, periods, extra, &mut |row| {
        records.push(columns.read(row)?);
        if records.len() > QUERY_ROWS_MAX {
            return Err(too_many_balance_rows());
        }
        Ok(())
    })?;
    Ok(records)
}

/// Runs a balance statement (columns as [`BalanceColumns`], plus `dimension_set_id`) for each
/// period, handing each row to `visit` as a view of the row.
fn for_each_balance_view(
    statement: &mut Statement<'_>,
    table: &'static str,
    entity: &EntityId,
    periods: &[PeriodName],
    extra: &[&dyn Arg],
    visit: &mut dyn FnMut(BalanceView<'_>) -> Result<(), LedgerError>,
) -> Result<(), LedgerError> {
    let columns = BalanceColumns::resolve(statement, table)?;
    let dimension_set = column_index(statement, "dimension_set_id")?;
    for_each_row_of_periods(statement, entity, periods, extra, &mut |row| {
        let fields = Fields::new(row, table, BALANCE_KEY);
        visit(BalanceView {
            account: fields.str(columns.account)?,
            dimension_set: fields.integer(dimension_set)?,
            dimensions: fields.str(columns.dimensions)?,
            currency: fields.str(columns.currency)?,
            amount: fields.decimal(columns.amount)?,
            accounting_amount: fields.decimal(columns.accounting_amount)?,
            debit: fields.decimal(columns.debit)?,
            credit: fields.decimal(columns.credit)?,
        })
    })
}

/// Runs a balance statement (parameters: entity, period, then `extra`) for each period, handing
/// each row to `visit` as it is read.
fn for_each_row_of_periods(
    statement: &mut Statement<'_>,
    entity: &EntityId,
    periods: &[PeriodName],
    extra: &[&dyn Arg],
    visit: &mut dyn FnMut(&Row<'_>) -> Result<(), LedgerError>,
) -> Result<(), LedgerError> {
    for period in periods {
        let (entity, period) = (entity.as_str(), period.as_str());
        let mut parameters: Vec<&dyn Arg> = vec![&entity, &period];
        parameters.extend_from_slice(extra);
        statement.for_each(&parameters, visit)?;
    }
    Ok(())
}

impl Db<'_> {
    /// Maintained balances of an entity in the given periods.
    pub fn balances(&self, entity: &EntityId, periods: &[PeriodName]) -> Result<Vec<BalanceRecord>, LedgerError> {
        let mut statement = self.connection.prepare(
            "SELECT b.entity_id, b.period, b.account, s.canonical AS dimensions, b.currency, b.amount, b.accounting_amount, b.debit, b.credit
             FROM balances b JOIN dimension_sets s ON s.id = b.dimension_set_id
             WHERE b.entity_id = ?1 AND b.period = ?2 ORDER BY b.account, s.canonical, b.currency",
        )?;
        balance_records(&mut statement, "balances", entity, periods, &[])
    }

    /// The balances of the given periods without their dimensions: one record per period,
    /// account and currency, with `dimensions` empty. Reads the maintained `account_balances`,
    /// whose size depends on the chart, not on the number of entries.
    pub fn account_balances(
        &self,
        entity: &EntityId,
        periods: &[PeriodName],
    ) -> Result<Vec<BalanceRecord>, LedgerError> {
        let mut statement = self.connection.prepare(
            "SELECT entity_id, period, account, '' AS dimensions, currency, amount, accounting_amount, debit, credit
             FROM account_balances WHERE entity_id = ?1 AND period = ?2 ORDER BY account, currency",
        )?;
        balance_records(&mut statement, "account_balances", entity, periods, &[])
    }

    /// The maintained balances of some accounts in the given periods: the rows `balances`
    /// (`with_dimensions`) or `account_balances` would return for those accounts, read through
    /// the tables' primary key (entity, period, account, …) instead of the whole period.
    ///
    /// The rows go to `visit` as they are read, so a query over a year of a large ledger holds
    /// no more than one row at a time.
    pub fn balances_of_accounts(
        &self,
        entity: &EntityId,
        periods: &[PeriodName],
        accounts: AccountRows<'_>,
        with_dimensions: bool,
        visit: &mut dyn FnMut(BalanceView<'_>) -> Result<(), LedgerError>,
    ) -> Result<(), LedgerError> {
        let (table, select) = if with_dimensions {
            (
                "balances",
                "SELECT b.entity_id, b.period, b.account, b.dimension_set_id, s.canonical AS dimensions, b.currency, b.amount, b.accounting_amount, b.debit, b.credit
                 FROM balances b JOIN dimension_sets s ON s.id = b.dimension_set_id
                 WHERE b.entity_id = ?1 AND b.period = ?2",
            )
        } else {
            (
                "account_balances",
                "SELECT b.entity_id, b.period, b.account, 0 AS dimension_set_id, '' AS dimensions, b.currency, b.amount, b.accounting_amount, b.debit, b.credit
                 FROM account_balances b WHERE b.entity_id = ?1 AND b.period = ?2",
            )
        };
        // One count over every period and account: a query reads at most QUERY_ROWS_MAX rows.
        let mut rows = 0usize;
        let mut counted = |record: BalanceView<'_>| {
            rows += 1;
            if rows > QUERY_ROWS_MAX {
                return Err(too_many_balance_rows());
            }
            visit(record)
        };
        match accounts {
            AccountRows::All => {
                let mut statement = self.connection.prepare(select)?;
                for_each_balance_view(&mut statement, table, entity, periods, &[], &mut counted)
            }
            AccountRows::List(accounts) => {
                let mut statement = self.connection.prepare(&format!("{select} AND b.account = ?3"))?;
                // Each account once, however often the list names it.
                let unique: std::collections::BTreeSet<&AccountNumber> = accounts.iter().collect();
                for account in unique {
                    for_each_balance_view(
                        &mut statement,
                        table,
                        entity,
                        periods,
                        &[&account.as_str()],
                        &mut counted,
                    )?;
                }
                Ok(())
            }
            AccountRows::Range(first, last) => {
                let mut statement = self
                    .connection
                    .prepare(&format!("{select} AND b.account BETWEEN ?3 AND ?4"))?;
                for_each_balance_view(
                    &mut statement,
                    table,
                    entity,
                    periods,
                    &[&first.as_str(), &last.as_str()],
                    &mut counted,
                )
            }
        }
    }

    /// Every row of an entity's `account_balances`, for `verify`.
    pub fn all_account_balances(&self, entity: &EntityId) -> Result<Vec<BalanceRecord>, LedgerError> {
        let periods = self.periods_with_balances("account_balances", entity)?;
        self.account_balances(entity, &periods)
    }

    /// Every balance row of an entity, for `verify` to compare with a recomputation.
    pub fn all_balances(&self, entity: &EntityId) -> Result<Vec<BalanceRecord>, LedgerError> {
        let periods = self.periods_with_balances("balances", entity)?;
        self.balances(entity, &periods)
    }

    /// The periods in which an entity has rows in a maintained balance table (`balances` or
    /// `account_balances`: a fixed name, never input).
    fn periods_with_balances(&self, table: &'static str, entity: &EntityId) -> Result<Vec<PeriodName>, LedgerError> {
        let mut statement = self.connection.prepare_once(&format!(
            "SELECT DISTINCT entity_id, period FROM {table} WHERE entity_id = ?1 ORDER BY period"
        ))?;
        all(&mut statement, args![entity.as_str()], |row| {
            Ok(PeriodName(
                Fields::new(row, table, &["entity_id", "period"]).text("period")?,
            ))
        })
    }
}
