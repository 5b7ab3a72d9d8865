//! Keeping the maintained balance tables: adding a posting batch's summed changes to
//! `balances` (per dimension set) and `account_balances` (per account), filling
//! `account_balances` once when migration 4 adds it, and the check that a period's rows still
//! net to zero. What reads them is in `balance.rs`.

use super::row::{Fields, all, first};
use super::sql::{Arg, Conn, Row, Value, args};
use crate::error::LedgerError;
use crate::ids::{AccountNumber, CurrencyCode, EntityId, PeriodName};
use rust_decimal::Decimal;
use std::collections::BTreeMap;

/// The columns that name a balance row in an error.
const BALANCE_KEY: &[&str] = &["entity_id", "period", "account", "dimension_set_id", "currency"];

/// A change to one balance row, summed in memory over a batch's lines.
#[derive(Default, Clone, Copy)]
pub(super) struct BalanceDelta {
    pub(super) amount: Decimal,
    pub(super) accounting_amount: Decimal,
    pub(super) debit: Decimal,
    pub(super) credit: Decimal,
}

impl BalanceDelta {
    /// The amounts of a `balances` or `account_balances` row.
    fn from_row(row: &Row<'_>, table: &'static str) -> Result<Self, LedgerError> {
        let fields = Fields::new(row, table, BALANCE_KEY);
        Ok(Self {
            amount: fields.decimal("amount")?,
            accounting_amount: fields.decimal("accounting_amount")?,
            debit: fields.decimal("debit")?,
            credit: fields.decimal("credit")?,
        })
    }

    pub(super) fn plus(self, other: Self) -> Result<Self, LedgerError> {
        let add = |left: Decimal, right: Decimal| left.checked_add(right).ok_or(LedgerError::Overflow);
        Ok(Self {
            amount: add(self.amount, other.amount)?,
            accounting_amount: add(self.accounting_amount, other.accounting_amount)?,
            debit: add(self.debit, other.debit)?,
            credit: add(self.credit, other.credit)?,
        })
    }
}

/// A row of `account_balances`: period, account, currency.
pub(super) type AccountBalanceKey = (PeriodName, AccountNumber, CurrencyCode);

/// Adds `delta` to the `account_balances` row of `key` in `entity`, creating it if missing.
pub(super) fn add_to_account_balance(
    connection: Conn<'_>,
    entity: &str,
    (period, account, currency): &AccountBalanceKey,
    delta: BalanceDelta,
) -> Result<(), LedgerError> {
    let mut statement = connection.prepare(
        "SELECT entity_id, period, account, currency, amount, accounting_amount, debit, credit FROM account_balances
         WHERE entity_id = ?1 AND period = ?2 AND account = ?3 AND currency = ?4",
    )?;
    let existing = first(
        &mut statement,
        args![entity, period.as_str(), account.as_str(), currency.as_str()],
        |row| BalanceDelta::from_row(row, "account_balances"),
    )?
    .unwrap_or_default();
    let total = existing.plus(delta)?;
    connection
        .prepare(
            "INSERT INTO account_balances (entity_id, period, account, currency, amount, accounting_amount, debit, credit)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
             ON CONFLICT (entity_id, period, account, currency) DO UPDATE SET amount = excluded.amount,
                accounting_amount = excluded.accounting_amount, debit = excluded.debit, credit = excluded.credit",
        )?
        .execute(args![
            entity,
            period.as_str(),
            account.as_str(),
            currency.as_str(),
            total.amount.to_string(),
            total.accounting_amount.to_string(),
            total.debit.to_string(),
            total.credit.to_string()
        ])?;
    Ok(())
}

/// Adds `delta` to the `balances` row of `key` in `entity`. A row new to the ledger (every row
/// of a first import) is written by one insert; only a row that exists is read, summed in
/// `Decimal` and updated.
pub(super) fn add_to_balance(
    connection: Conn<'_>,
    entity: &str,
    (period, account, dimension_set_id, currency): (&PeriodName, &AccountNumber, i64, &CurrencyCode),
    delta: BalanceDelta,
) -> Result<(), LedgerError> {
    let inserted = connection
        .prepare(
            "INSERT INTO balances (entity_id, period, account, dimension_set_id, currency, amount, accounting_amount, debit, credit)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9) ON CONFLICT DO NOTHING",
        )?
        .execute(args![
            entity,
            period.as_str(),
            account.as_str(),
            dimension_set_id,
            currency.as_str(),
            delta.amount.to_string(),
            delta.accounting_amount.to_string(),
            delta.debit.to_string(),
            delta.credit.to_string()
        ])?;
    if inserted == 1 {
        return Ok(());
    }
    let key = args![
        entity,
        period.as_str(),
        account.as_str(),
        dimension_set_id,
        currency.as_str()
    ];
    let mut statement = connection.prepare(
        "SELECT entity_id, period, account, dimension_set_id, currency, amount, accounting_amount, debit, credit FROM balances
         WHERE entity_id = ?1 AND period = ?2 AND account = ?3 AND dimension_set_id = ?4 AND currency = ?5",
    )?;
    let existing = super::row::one(&mut statement, key, |row| BalanceDelta::from_row(row, "balances"))?;
    let total = existing.plus(delta)?;
    connection
        .prepare(
            "UPDATE balances SET amount = ?6, accounting_amount = ?7, debit = ?8, credit = ?9
             WHERE entity_id = ?1 AND period = ?2 AND account = ?3 AND dimension_set_id = ?4 AND currency = ?5",
        )?
        .execute(args![
            entity,
            period.as_str(),
            account.as_str(),
            dimension_set_id,
            currency.as_str(),
            total.amount.to_string(),
            total.accounting_amount.to_string(),
            total.debit.to_string(),
            total.credit.to_string()
        ])?;
    Ok(())
}

/// A maintained balance table, as [`add_to_balances_in_bulk`] writes it: its name, and the
/// columns after `entity_id` that key a row, each with its PostgreSQL type.
pub(super) struct BalanceTable {
    pub(super) name: &'static str,
    pub(super) key: &'static [(&'static str, &'static str)],
}

pub(super) const BALANCES: BalanceTable = BalanceTable {
    name: "balances",
    key: &[
        ("period", "text"),
        ("account", "text"),
        ("dimension_set_id", "bigint"),
        ("currency", "text"),
    ],
};

pub(super) const ACCOUNT_BALANCES: BalanceTable = BalanceTable {
    name: "account_balances",
    key: &[("period", "text"), ("account", "text"), ("currency", "text")],
};

/// The rows one statement of [`add_to_balances_in_bulk`] reads or writes: at 9 parameters a
/// row, well under the protocol's 65,535.
const BULK_ROWS: usize = 1_000;

/// Adds each change to its row of `table` in `entity` (PostgreSQL): a thousand rows at a time,
/// one query reads those that exist, and one insert writes every row's new totals (summed in
/// `Decimal`, as `add_to_balance` sums them). Two round trips a thousand rows, where the row at a
/// time path takes one or three a row: a first import of 200,000 entries changes 190,000.
/// Each change's key holds `table.key`'s values in order.
pub(super) fn add_to_balances_in_bulk<'v>(
    connection: Conn<'_>,
    table: &BalanceTable,
    entity: &str,
    changes: impl IntoIterator<Item = (Vec<Value<'v>>, BalanceDelta)>,
) -> Result<(), LedgerError> {
    let columns: Vec<&str> = table.key.iter().map(|(column, _)| *column).collect();
    let record: Vec<String> = table
        .key
        .iter()
        .map(|(column, kind)| format!("{column} {kind}"))
        .collect();
    let matches: Vec<String> = columns
        .iter()
        .map(|column| format!("b.{column} = k.{column}"))
        .collect();
    // Each key looked up by itself, through the primary key (a LATERAL subquery that LIMIT keeps
    // from being flattened into a join): joined, the planner scanned the table whole for each
    // thousand keys while an import filled it (measured: 19 ms a statement at 190,000 rows).
    let existing_sql = format!(
        "SELECT k.i, b.entity_id, b.{}, b.amount, b.accounting_amount, b.debit, b.credit
         FROM json_to_recordset(CAST(?2 AS json)) AS k(i bigint, {})
         CROSS JOIN LATERAL (SELECT * FROM {} b WHERE b.entity_id = ?1 AND {} LIMIT 1) b",
        columns.join(", b."),
        record.join(", "),
        table.name,
        matches.join(" AND ")
    );
    let width = columns.len() + 4;
    // A thousand changes in memory at a time: a first import of a million entries changes
    // 600,000 rows.
    let mut changes = changes.into_iter();
    let mut chunk = Vec::with_capacity(BULK_ROWS);
    loop {
        chunk.clear();
        chunk.extend(changes.by_ref().take(BULK_ROWS));
        if chunk.is_empty() {
            return Ok(());
        }
        let keys: Vec<serde_json::Value> = chunk
            .iter()
            .enumerate()
            .map(|(index, (key, _))| {
                let mut record = serde_json::Map::new();
                record.insert("i".to_owned(), index.into());
                for ((column, _), value) in table.key.iter().zip(key) {
                    let value = match *value {
                        Value::Integer(number) => number.into(),
                        Value::Text(text) => text.into(),
                        Value::Null | Value::Blob(_) => unreachable!("balance keys are texts and numbers"),
                    };
                    record.insert((*column).to_owned(), value);
                }
                serde_json::Value::Object(record)
            })
            .collect();
        let keys = serde_json::Value::Array(keys).to_string();
        let mut totals: Vec<BalanceDelta> = chunk.iter().map(|(_, delta)| *delta).collect();
        connection
            .prepare_once(&existing_sql)?
            .for_each(args![entity, keys], &mut |row| {
                let index = Fields::new(row, table.name, BALANCE_KEY).integer(0)?;
                let total = usize::try_from(index)
                    .ok()
                    .and_then(|index| totals.get_mut(index))
                    .ok_or_else(|| LedgerError::Invalid(format!("{} returned an unknown row {index}", table.name)))?;
                *total = BalanceDelta::from_row(row, table.name)?.plus(*total)?;
                Ok(())
            })?;
        let texts: Vec<[String; 4]> = totals
            .iter()
            .map(|total| {
                [
                    total.amount.to_string(),
                    total.accounting_amount.to_string(),
                    total.debit.to_string(),
                    total.credit.to_string(),
                ]
            })
            .collect();
        let mut arguments: Vec<&dyn Arg> = Vec::with_capacity(1 + chunk.len() * width);
        arguments.push(&entity);
        let mut rows = Vec::with_capacity(chunk.len());
        for ((key, _), amounts) in chunk.iter().zip(&texts) {
            let first = arguments.len();
            arguments.extend(key.iter().map(|value| value as &dyn Arg));
            arguments.extend(amounts.iter().map(|text| text as &dyn Arg));
            let placeholders: Vec<String> = (first + 1..=first + width).map(|number| format!("?{number}")).collect();
            rows.push(format!("(?1, {})", placeholders.join(", ")));
        }
        connection
            .prepare_once(&format!(
                "INSERT INTO {table} (entity_id, {columns}, amount, accounting_amount, debit, credit) VALUES {rows}
             ON CONFLICT (entity_id, {columns}) DO UPDATE SET amount = excluded.amount,
                accounting_amount = excluded.accounting_amount, debit = excluded.debit, credit = excluded.credit",
                table = table.name,
                columns = columns.join(", "),
                rows = rows.join(", "),
            ))?
            .execute(&arguments)?;
    }
}

/// Fills `account_balances` from `balances` (the migration that adds the table runs this once,
/// in its transaction, so that a ledger posted to before it reads the same totals).
pub(super) fn fill_account_balances(connection: Conn<'_>) -> Result<(), LedgerError> {
    let mut sums: BTreeMap<(String, AccountBalanceKey), BalanceDelta> = BTreeMap::new();
    let mut statement = connection.prepare_once(
        "SELECT entity_id, period, account, dimension_set_id, currency, amount, accounting_amount, debit, credit FROM balances",
    )?;
    let rows = all(&mut statement, args![], |row| {
        let fields = Fields::new(row, "balances", BALANCE_KEY);
        Ok((
            (
                fields.text("entity_id")?,
                (
                    PeriodName(fields.text("period")?),
                    AccountNumber(fields.text("account")?),
                    CurrencyCode(fields.text("currency")?),
                ),
            ),
            BalanceDelta::from_row(row, "balances")?,
        ))
    })?;
    for (key, delta) in rows {
        let sum = sums.entry(key).or_default();
        *sum = sum.plus(delta)?;
    }
    for ((entity, key), delta) in sums {
        add_to_account_balance(connection, &entity, &key, delta)?;
    }
    Ok(())
}

/// The sum of the accounting amounts of one maintained balance table's rows of an entity's
/// period: zero in a balanced ledger.
pub(super) fn accounting_total(
    connection: Conn<'_>,
    table: &'static str,
    entity: &EntityId,
    period: &PeriodName,
) -> Result<Decimal, LedgerError> {
    let mut statement = connection.prepare(&format!(
        "SELECT entity_id, period, account, currency, accounting_amount FROM {table} WHERE entity_id = ?1 AND period = ?2"
    ))?;
    let accounting_amount = super::row::column_index(&statement, "accounting_amount")?;
    let mut total = Decimal::ZERO;
    statement.for_each(args![entity.as_str(), period.as_str()], &mut |row| {
        let amount = Fields::new(row, table, BALANCE_KEY).decimal(accounting_amount)?;
        total = total.checked_add(amount).ok_or(LedgerError::Overflow)?;
        Ok(())
    })?;
    Ok(total)
}
