//! Writing posted entries: the per-entity sequence and hash chain, the lines, and the maintained
//! balances. A `PostingBatch` lives inside one write transaction; balance changes are summed in
//! memory and written once at `finish`, so posting a million entries touches each balance row
//! once, not once per line. `finish` writes both maintained tables: `balances` (per dimension
//! set) and `account_balances` (the same without dimensions, what the statements read).

use super::{Db, decimal};
use crate::error::LedgerError;
use crate::ids::{AccountNumber, CurrencyCode, EntityId, PeriodName, UserId};
use crate::journal::{PostedEntry, Provenance, ValidEntry, assert_balanced};
use rusqlite::{OptionalExtension, params};
use rust_decimal::Decimal;
use std::collections::{BTreeMap, BTreeSet, HashMap};

#[derive(Default, Clone, Copy)]
struct BalanceDelta {
    amount: Decimal,
    accounting_amount: Decimal,
    debit: Decimal,
    credit: Decimal,
}

impl BalanceDelta {
    fn plus(self, other: Self) -> Result<Self, LedgerError> {
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
type AccountBalanceKey = (PeriodName, AccountNumber, CurrencyCode);

/// Adds `delta` to the `account_balances` row of `key` in `entity`, creating it if missing.
fn add_to_account_balance(
    connection: &rusqlite::Connection,
    entity: &str,
    (period, account, currency): &AccountBalanceKey,
    delta: BalanceDelta,
) -> Result<(), LedgerError> {
    let existing = connection
        .prepare_cached(
            "SELECT amount, accounting_amount, debit, credit FROM account_balances
             WHERE entity_id = ?1 AND period = ?2 AND account = ?3 AND currency = ?4",
        )?
        .query_row(
            params![entity, period.as_str(), account.as_str(), currency.as_str()],
            |row| {
                Ok(BalanceDelta {
                    amount: decimal(row, 0)?,
                    accounting_amount: decimal(row, 1)?,
                    debit: decimal(row, 2)?,
                    credit: decimal(row, 3)?,
                })
            },
        )
        .optional()?
        .unwrap_or_default();
    let total = existing.plus(delta)?;
    connection
        .prepare_cached(
            "INSERT OR REPLACE INTO account_balances (entity_id, period, account, currency, amount, accounting_amount, debit, credit)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        )?
        .execute(params![
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
fn add_to_balance(
    connection: &rusqlite::Connection,
    entity: &str,
    (period, account, dimension_set_id, currency): (&PeriodName, &AccountNumber, i64, &CurrencyCode),
    delta: BalanceDelta,
) -> Result<(), LedgerError> {
    let inserted = connection
        .prepare_cached(
            "INSERT INTO balances (entity_id, period, account, dimension_set_id, currency, amount, accounting_amount, debit, credit)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9) ON CONFLICT DO NOTHING",
        )?
        .execute(params![
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
    let key = params![
        entity,
        period.as_str(),
        account.as_str(),
        dimension_set_id,
        currency.as_str()
    ];
    let existing = connection
        .prepare_cached(
            "SELECT amount, accounting_amount, debit, credit FROM balances
             WHERE entity_id = ?1 AND period = ?2 AND account = ?3 AND dimension_set_id = ?4 AND currency = ?5",
        )?
        .query_row(key, |row| {
            Ok(BalanceDelta {
                amount: decimal(row, 0)?,
                accounting_amount: decimal(row, 1)?,
                debit: decimal(row, 2)?,
                credit: decimal(row, 3)?,
            })
        })?;
    let total = existing.plus(delta)?;
    connection
        .prepare_cached(
            "UPDATE balances SET amount = ?6, accounting_amount = ?7, debit = ?8, credit = ?9
             WHERE entity_id = ?1 AND period = ?2 AND account = ?3 AND dimension_set_id = ?4 AND currency = ?5",
        )?
        .execute(params![
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

/// Fills `account_balances` from `balances` (the migration that adds the table runs this once,
/// in its transaction, so that a ledger posted to before it reads the same totals).
pub(super) fn fill_account_balances(connection: &rusqlite::Connection) -> Result<(), LedgerError> {
    let mut sums: BTreeMap<(String, AccountBalanceKey), BalanceDelta> = BTreeMap::new();
    let mut statement = connection.prepare(
        "SELECT entity_id, period, account, currency, amount, accounting_amount, debit, credit FROM balances",
    )?;
    let rows = statement.query_map([], |row| {
        Ok((
            (
                row.get::<_, String>(0)?,
                (
                    PeriodName::from(row.get::<_, String>(1)?.as_str()),
                    AccountNumber::new(row.get::<_, String>(2)?),
                    CurrencyCode::from(row.get::<_, String>(3)?.as_str()),
                ),
            ),
            BalanceDelta {
                amount: decimal(row, 4)?,
                accounting_amount: decimal(row, 5)?,
                debit: decimal(row, 6)?,
                credit: decimal(row, 7)?,
            },
        ))
    })?;
    for row in rows {
        let (key, delta) = row?;
        let sum = sums.entry(key).or_default();
        *sum = sum.plus(delta)?;
    }
    for ((entity, key), delta) in sums {
        add_to_account_balance(connection, &entity, &key, delta)?;
    }
    Ok(())
}

type BalanceKey = (PeriodName, AccountNumber, i64, CurrencyCode);

pub struct PostingBatch {
    entity: EntityId,
    sequence: i64,
    hash: String,
    posted_by: UserId,
    posted_at: String,
    dimension_sets: HashMap<String, i64>,
    deltas: HashMap<BalanceKey, BalanceDelta>,
    posted_count: usize,
}

impl PostingBatch {
    /// Starts a batch at the entity's current chain head. Call inside `Store::write`.
    pub fn begin(db: &Db<'_>, entity: &EntityId, posted_by: &UserId) -> Result<Self, LedgerError> {
        let (sequence, hash) = db.ledger_head(entity)?;
        let mut dimension_sets = HashMap::new();
        let mut statement = db
            .connection
            .prepare_cached("SELECT canonical, id FROM dimension_sets")?;
        for row in statement.query_map([], |row| Ok((row.get::<_, String>(0)?, row.get::<_, i64>(1)?)))? {
            let (canonical, id) = row?;
            dimension_sets.insert(canonical, id);
        }
        Ok(Self {
            entity: entity.clone(),
            sequence,
            hash,
            posted_by: posted_by.clone(),
            posted_at: crate::now_text(),
            dimension_sets,
            deltas: HashMap::new(),
            posted_count: 0,
        })
    }

    /// The entity's sequence number after the entries posted so far.
    pub fn sequence(&self) -> i64 {
        self.sequence
    }

    pub fn posted_count(&self) -> usize {
        self.posted_count
    }

    fn dimension_set_id(&mut self, db: &Db<'_>, canonical: &str) -> Result<i64, LedgerError> {
        if let Some(id) = self.dimension_sets.get(canonical) {
            return Ok(*id);
        }
        db.connection
            .prepare_cached("INSERT INTO dimension_sets (canonical) VALUES (?1)")?
            .execute([canonical])?;
        let id = db.connection.last_insert_rowid();
        self.dimension_sets.insert(canonical.to_owned(), id);
        Ok(id)
    }

    /// Appends one validated entry to the entity's chain and stages its balance changes.
    pub fn post(
        &mut self,
        db: &Db<'_>,
        valid: ValidEntry,
        provenance: &Provenance,
    ) -> Result<PostedEntry, LedgerError> {
        assert_balanced(&self.entity, &valid.key, &valid.lines);
        let mut entry = PostedEntry {
            id: 0,
            entity: self.entity.clone(),
            sequence: self.sequence + 1,
            key: valid.key,
            fingerprint: valid.fingerprint,
            date: valid.date,
            period: valid.period,
            fiscal_year: valid.fiscal_year,
            module: valid.module,
            description: valid.description,
            reverses_entry_id: valid.reverses_entry_id,
            posted_by: self.posted_by.clone(),
            posted_at: self.posted_at.clone(),
            provenance: provenance.clone(),
            lines: valid.lines,
            previous_hash: self.hash.clone(),
            hash: String::new(),
        };
        entry.hash = entry.compute_hash();
        db.connection
            .prepare_cached(
                "INSERT INTO entries (entity_id, sequence, entry_key, fingerprint, date, period, fiscal_year, module, description,
                    reverses_entry_id, posted_by, posted_at, source, run_id, task, plugin_name, plugin_version, plugin_sha256, previous_hash, hash)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20)",
            )?
            .execute(params![
                entry.entity.as_str(),
                entry.sequence,
                entry.key.as_str(),
                entry.fingerprint,
                entry.date.to_string(),
                entry.period.as_str(),
                entry.fiscal_year.as_str(),
                entry.module.as_str(),
                entry.description,
                entry.reverses_entry_id,
                entry.posted_by.as_str(),
                entry.posted_at,
                entry.provenance.source,
                entry.provenance.run_id,
                entry.provenance.task,
                entry.provenance.plugin_name,
                entry.provenance.plugin_version,
                entry.provenance.plugin_sha256,
                entry.previous_hash,
                entry.hash
            ])?;
        entry.id = db.connection.last_insert_rowid();
        for index in 0..entry.lines.len() {
            let dimension_set_id = self.dimension_set_id(db, &entry.lines[index].dimensions)?;
            let line = &entry.lines[index];
            db.connection
                .prepare_cached(
                    "INSERT INTO lines (entry_id, entity_id, period, line_no, account, dimension_set_id, currency, amount, accounting_amount, description)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
                )?
                .execute(params![
                    entry.id,
                    entry.entity.as_str(),
                    entry.period.as_str(),
                    line.line_no,
                    line.account.as_str(),
                    dimension_set_id,
                    line.currency.as_str(),
                    line.amount.to_string(),
                    line.accounting_amount.to_string(),
                    line.description
                ])?;
            let delta = self
                .deltas
                .entry((
                    entry.period.clone(),
                    line.account.clone(),
                    dimension_set_id,
                    line.currency.clone(),
                ))
                .or_default();
            delta.amount = delta.amount.checked_add(line.amount).ok_or(LedgerError::Overflow)?;
            delta.accounting_amount = delta
                .accounting_amount
                .checked_add(line.accounting_amount)
                .ok_or(LedgerError::Overflow)?;
            if line.accounting_amount.is_sign_positive() {
                delta.debit = delta
                    .debit
                    .checked_add(line.accounting_amount)
                    .ok_or(LedgerError::Overflow)?;
            } else {
                delta.credit = delta
                    .credit
                    .checked_sub(line.accounting_amount)
                    .ok_or(LedgerError::Overflow)?;
            }
        }
        self.sequence = entry.sequence;
        self.hash.clone_from(&entry.hash);
        self.posted_count += 1;
        Ok(entry)
    }

    /// Writes the staged balance changes and the new chain head, then reads the touched
    /// periods back and asserts that each still nets to zero in accounting currency.
    pub fn finish(self, db: &Db<'_>) -> Result<usize, LedgerError> {
        if self.posted_count == 0 {
            return Ok(0);
        }
        let mut touched_periods = BTreeSet::new();
        let mut account_deltas: BTreeMap<AccountBalanceKey, BalanceDelta> = BTreeMap::new();
        // In key order, so that the inserts into the `balances` B-tree land next to each other
        // instead of on random pages.
        let mut deltas: Vec<(&BalanceKey, &BalanceDelta)> = self.deltas.iter().collect();
        deltas.sort_unstable_by(|left, right| left.0.cmp(right.0));
        for ((period, account, dimension_set_id, currency), delta) in deltas {
            let account_delta = account_deltas
                .entry((period.clone(), account.clone(), currency.clone()))
                .or_default();
            *account_delta = account_delta.plus(*delta)?;
            add_to_balance(
                db.connection,
                self.entity.as_str(),
                (period, account, *dimension_set_id, currency),
                *delta,
            )?;
            touched_periods.insert(period.clone());
        }
        for (key, delta) in &account_deltas {
            add_to_account_balance(db.connection, self.entity.as_str(), key, *delta)?;
        }
        db.connection.execute(
            "INSERT INTO ledger_heads (entity_id, sequence, hash) VALUES (?1, ?2, ?3)
             ON CONFLICT (entity_id) DO UPDATE SET sequence = excluded.sequence, hash = excluded.hash",
            params![self.entity.as_str(), self.sequence, self.hash],
        )?;
        let touched: Vec<PeriodName> = touched_periods.into_iter().collect();
        for period in &touched {
            let records = db.balances(&self.entity, std::slice::from_ref(period))?;
            let mut total = Decimal::ZERO;
            for record in &records {
                total = total
                    .checked_add(record.accounting_amount)
                    .ok_or(LedgerError::Overflow)?;
            }
            assert!(
                total.is_zero(),
                "balances of {} in {period} net to {total} after posting",
                self.entity
            );
            let mut account_total = Decimal::ZERO;
            for record in db.account_balances(&self.entity, std::slice::from_ref(period))? {
                account_total = account_total
                    .checked_add(record.accounting_amount)
                    .ok_or(LedgerError::Overflow)?;
            }
            assert!(
                account_total.is_zero(),
                "account balances of {} in {period} net to {account_total} after posting",
                self.entity
            );
        }
        Ok(self.posted_count)
    }
}
