//! Posted lines read back: an entry's lines, and one account's lines page by page (what plugins
//! stream). Lines are written by `posting.rs`.

use super::Db;
use super::row::{Fields, all, column_index};
use super::sql::{Row, Statement, ValueRef, args};
use crate::error::LedgerError;
use crate::ids::{AccountNumber, CurrencyCode, EntityId, EntryKey, PeriodName};
use crate::journal::PostedLine;
use chrono::NaiveDate;

/// The most lines a page of [`Db::account_lines`] reserves room for before reading.
const LINE_PAGE_CAPACITY_MAX: usize = 10_001;

/// The columns that name a line in an error: every query that reads lines selects `l.id AS
/// line_id`.
pub(super) const LINE_KEY: &[&str] = &["line_id"];

/// A posted line read back with its entry's context, for line queries.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LineRecord {
    pub id: i64,
    pub entry_id: i64,
    pub entry_key: EntryKey,
    pub date: NaiveDate,
    pub period: PeriodName,
    pub line: PostedLine,
    pub settlement_id: Option<i64>,
}

/// Where a line's columns are in a statement's result: resolved once per statement, so that a
/// stream of lines does not look each column up by name on every row.
pub(super) struct LineColumns {
    line_id: usize,
    line_no: usize,
    account: usize,
    dimensions: usize,
    currency: usize,
    amount: usize,
    accounting_amount: usize,
    description: usize,
}

impl LineColumns {
    pub(super) fn resolve(statement: &Statement<'_>) -> Result<Self, LedgerError> {
        Ok(Self {
            line_id: column_index(statement, "line_id")?,
            line_no: column_index(statement, "line_no")?,
            account: column_index(statement, "account")?,
            dimensions: column_index(statement, "dimensions")?,
            currency: column_index(statement, "currency")?,
            amount: column_index(statement, "amount")?,
            accounting_amount: column_index(statement, "accounting_amount")?,
            description: column_index(statement, "line_description")?,
        })
    }

    /// Whether the row holds a line: an outer join gives an entry without lines one row with
    /// NULL line columns, and a line whose dimension set is missing a NULL dimensions column.
    pub(super) fn present(&self, row: &Row<'_>) -> Result<bool, LedgerError> {
        Ok(row.value(self.line_id)? != ValueRef::Null && row.value(self.dimensions)? != ValueRef::Null)
    }

    pub(super) fn read(&self, row: &Row<'_>) -> Result<PostedLine, LedgerError> {
        let fields = Fields::new(row, "lines", LINE_KEY);
        Ok(PostedLine {
            line_no: fields.whole(self.line_no)?,
            account: AccountNumber(fields.text(self.account)?),
            dimensions: fields.text(self.dimensions)?,
            currency: CurrencyCode(fields.text(self.currency)?),
            amount: fields.decimal(self.amount)?,
            accounting_amount: fields.decimal(self.accounting_amount)?,
            description: fields.text(self.description)?,
        })
    }
}

/// Where a [`LineRecord`]'s columns are, beyond its line's.
struct LineRecordColumns {
    line: LineColumns,
    entry_id: usize,
    entry_key: usize,
    date: usize,
    period: usize,
    settlement_id: usize,
}

impl LineRecordColumns {
    fn resolve(statement: &Statement<'_>) -> Result<Self, LedgerError> {
        Ok(Self {
            line: LineColumns::resolve(statement)?,
            entry_id: column_index(statement, "entry_id")?,
            entry_key: column_index(statement, "entry_key")?,
            date: column_index(statement, "date")?,
            period: column_index(statement, "period")?,
            settlement_id: column_index(statement, "settlement_id")?,
        })
    }

    fn read(&self, row: &Row<'_>) -> Result<LineRecord, LedgerError> {
        let line = Fields::new(row, "lines", LINE_KEY);
        let entry = Fields::new(row, "entries", &["entry_id"]);
        Ok(LineRecord {
            id: line.integer(self.line.line_id)?,
            entry_id: line.integer(self.entry_id)?,
            entry_key: EntryKey(entry.text(self.entry_key)?),
            date: entry.date(self.date)?,
            period: PeriodName(line.text(self.period)?),
            line: self.line.read(row)?,
            settlement_id: line.optional_integer(self.settlement_id)?,
        })
    }
}

impl Db<'_> {
    pub(super) fn lines_of(&self, entry_id: i64) -> Result<Vec<PostedLine>, LedgerError> {
        let mut statement = self.connection.prepare(
            "SELECT l.id AS line_id, l.line_no, l.account, s.canonical AS dimensions, l.currency, l.amount, l.accounting_amount, l.description AS line_description
             FROM lines l JOIN dimension_sets s ON s.id = l.dimension_set_id WHERE l.entry_id = ?1 ORDER BY l.line_no",
        )?;
        let columns = LineColumns::resolve(&statement)?;
        all(&mut statement, args![entry_id], |row| columns.read(row))
    }

    /// Posted lines of one account in a period range, after a line id, at most `limit`.
    pub fn account_lines(
        &self,
        entity: &EntityId,
        account: &AccountNumber,
        periods: &[PeriodName],
        after: i64,
        limit: usize,
        include_settled: bool,
    ) -> Result<Vec<LineRecord>, LedgerError> {
        let period_list = serde_json::to_string(&periods.iter().map(|period| period.as_str()).collect::<Vec<_>>())
            .unwrap_or_default();
        // Settled lines are filtered in SQL, so that a page is short only at the end of the
        // account: a step that stops at a short page never misses lines.
        // With settled lines, each line carries its active settlement; without, a line passes
        // only when it has none, so its settlement is NULL and is looked up once, not twice.
        // `sl.line_id > ?3` says again what `sl.line_id = l.id` implies: PostgreSQL merges the
        // settled lines in line order, and without it read them from the account's first line
        // on every page (61 ms a page instead of 4 on the 1M-entry ledger: most of its
        // month-end close's open-items reads).
        let mut statement = self.connection.prepare(if include_settled {
            "SELECT l.id AS line_id, l.entry_id, e.entry_key, e.date, l.period, l.line_no, l.account, s.canonical AS dimensions, l.currency, l.amount, l.accounting_amount, l.description AS line_description,
                (SELECT sl.settlement_id FROM settlement_lines sl LEFT JOIN settlement_reversals r ON r.settlement_id = sl.settlement_id
                 WHERE sl.line_id = l.id AND r.settlement_id IS NULL LIMIT 1) AS settlement_id
             FROM lines l JOIN entries e ON e.id = l.entry_id JOIN dimension_sets s ON s.id = l.dimension_set_id
             WHERE l.entity_id = ?1 AND l.account = ?2 AND l.id > ?3 AND l.period IN (SELECT value FROM json_each(?4))
             ORDER BY l.id LIMIT ?5"
        } else {
            "SELECT l.id AS line_id, l.entry_id, e.entry_key, e.date, l.period, l.line_no, l.account, s.canonical AS dimensions, l.currency, l.amount, l.accounting_amount, l.description AS line_description,
                CAST(NULL AS BIGINT) AS settlement_id
             FROM lines l JOIN entries e ON e.id = l.entry_id JOIN dimension_sets s ON s.id = l.dimension_set_id
             WHERE l.entity_id = ?1 AND l.account = ?2 AND l.id > ?3 AND l.period IN (SELECT value FROM json_each(?4))
                AND NOT EXISTS (SELECT 1 FROM settlement_lines sl LEFT JOIN settlement_reversals r ON r.settlement_id = sl.settlement_id
                                WHERE sl.line_id = l.id AND sl.line_id > ?3 AND r.settlement_id IS NULL)
             ORDER BY l.id LIMIT ?5"
        })?;
        let columns = LineRecordColumns::resolve(&statement)?;
        // Sized for a full page up front: a page is read per call, and growing it by copying
        // costs more than the rows it moves.
        let mut records = Vec::with_capacity(limit.min(LINE_PAGE_CAPACITY_MAX));
        statement.for_each(
            args![entity.as_str(), account.as_str(), after, period_list, limit as i64],
            &mut |row| {
                records.push(columns.read(row)?);
                Ok(())
            },
        )?;
        Ok(records)
    }
}
