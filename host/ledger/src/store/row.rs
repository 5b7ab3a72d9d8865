//! Reading stored rows into records: columns by name, and every conversion checked. A value this
//! build cannot read (a date that is not a date, an unknown account type, a decimal that does
//! not parse, a NULL where a value belongs) is a [`LedgerError::Corrupt`] naming the table, the
//! row's key, the column and the value, never a default standing in for it.
//!
//! Records read a few rows at a time look their columns up by name on each read (a linear scan
//! of a handful of names). The streams that read millions of rows (lines, balances, entries
//! with their lines) resolve their columns' indexes once per statement instead
//! (`column_index`), and read each row through those indexes.

use super::sql::{Arg, Row, Statement, ValueRef};
use crate::error::LedgerError;
use chrono::NaiveDate;
use rust_decimal::Decimal;
use std::fmt::Display;
use std::str::FromStr;

/// The most characters of a corrupt value an error message repeats.
const CORRUPT_VALUE_CHARS_MAX: usize = 80;

/// A column of a row: its name, or its index resolved once per statement.
pub(super) trait Column: Copy {
    fn index(self, row: Row<'_>) -> Result<usize, LedgerError>;
}

impl Column for &str {
    fn index(self, row: Row<'_>) -> Result<usize, LedgerError> {
        row.column_index(self)
    }
}

impl Column for usize {
    fn index(self, _row: Row<'_>) -> Result<usize, LedgerError> {
        Ok(self)
    }
}

/// The index of a column in a statement's result, by name: resolved once, before the rows.
pub(super) fn column_index(statement: &Statement<'_>, name: &str) -> Result<usize, LedgerError> {
    statement.column_index(name)
}

/// A date as the store writes it (`NaiveDate::to_string`): `YYYY-MM-DD` read directly, which is
/// most of the cost of reading a period or a line otherwise; any other form (a year beyond 9999
/// is written `+10000-01-01`) through chrono's parser.
fn stored_date(text: &str) -> Option<NaiveDate> {
    let bytes = text.as_bytes();
    let digits = |range: std::ops::Range<usize>| -> Option<u32> {
        bytes[range].iter().try_fold(0u32, |value, byte| {
            byte.is_ascii_digit().then(|| value * 10 + u32::from(byte - b'0'))
        })
    };
    if bytes.len() == 10 && bytes[4] == b'-' && bytes[7] == b'-' {
        let year = i32::try_from(digits(0..4)?).ok()?;
        return NaiveDate::from_ymd_opt(year, digits(5..7)?, digits(8..10)?);
    }
    NaiveDate::from_str(text).ok()
}

/// One row read as a record of `table`: every read converts and checks its value.
pub(super) struct Fields<'a> {
    row: Row<'a>,
    table: &'static str,
    /// The columns that name the row in an error message; read only when one is reported.
    key: &'static [&'static str],
}

impl<'a> Fields<'a> {
    pub(super) fn new(row: &Row<'a>, table: &'static str, key: &'static [&'static str]) -> Self {
        Self { row: *row, table, key }
    }

    pub(super) fn value<C: Column>(&self, column: C) -> Result<(usize, ValueRef<'a>), LedgerError> {
        let index = column.index(self.row)?;
        Ok((index, self.row.value(index)?))
    }

    /// The error for a value of this row's `index`th column that cannot be read.
    pub(super) fn corrupt(&self, index: usize, problem: impl Display) -> LedgerError {
        let value = self.row.value(index).map(describe).unwrap_or_else(|_| "?".to_owned());
        let column = self
            .row
            .column_name(index)
            .map(str::to_owned)
            .unwrap_or_else(|| format!("#{index}"));
        corrupt_column(self.table, self.describe_key(), column, value, problem)
    }

    /// The row's key as `column value, column value`, from the key columns the query selected.
    fn describe_key(&self) -> String {
        let parts: Vec<String> = self
            .key
            .iter()
            .filter_map(|name| {
                let index = self.row.column_index(name).ok()?;
                let value = self.row.value(index).ok()?;
                Some(format!("{name} {}", describe(value)))
            })
            .collect();
        if parts.is_empty() {
            "(key not read)".to_owned()
        } else {
            parts.join(", ")
        }
    }

    fn text_at(&self, index: usize, value: ValueRef<'a>) -> Result<&'a str, LedgerError> {
        match value {
            ValueRef::Text(bytes) => std::str::from_utf8(bytes).map_err(|_| self.corrupt(index, "not UTF-8 text")),
            _ => Err(self.corrupt(index, "not text")),
        }
    }

    /// A text column that holds a value, borrowed from the row: for a caller that reads many
    /// rows and keeps few of their texts.
    pub(super) fn str<C: Column>(&self, column: C) -> Result<&'a str, LedgerError> {
        let (index, value) = self.value(column)?;
        self.text_at(index, value)
    }

    /// A text column that holds a value.
    pub(super) fn text<C: Column>(&self, column: C) -> Result<String, LedgerError> {
        let (index, value) = self.value(column)?;
        Ok(self.text_at(index, value)?.to_owned())
    }

    /// A text column that may be NULL.
    pub(super) fn optional_text<C: Column>(&self, column: C) -> Result<Option<String>, LedgerError> {
        let (index, value) = self.value(column)?;
        match value {
            ValueRef::Null => Ok(None),
            value => Ok(Some(self.text_at(index, value)?.to_owned())),
        }
    }

    /// A text column converted by `parse`, which names what it expected (`an account type`).
    pub(super) fn parsed<C: Column, T>(
        &self,
        column: C,
        expected: &str,
        parse: impl FnOnce(&str) -> Option<T>,
    ) -> Result<T, LedgerError> {
        let (index, value) = self.value(column)?;
        let text = self.text_at(index, value)?;
        parse(text).ok_or_else(|| self.corrupt(index, format!("not {expected}")))
    }

    /// A date written as `YYYY-MM-DD`.
    pub(super) fn date<C: Column>(&self, column: C) -> Result<NaiveDate, LedgerError> {
        self.parsed(column, "a date (YYYY-MM-DD)", stored_date)
    }

    /// A decimal amount in the text `Decimal::to_string` writes.
    pub(super) fn decimal<C: Column>(&self, column: C) -> Result<Decimal, LedgerError> {
        let (index, value) = self.value(column)?;
        let text = self.text_at(index, value)?;
        stored_amount(text).map_err(|error| self.corrupt(index, format!("not a decimal ({error})")))
    }

    /// A decimal column that may be NULL.
    pub(super) fn optional_decimal<C: Column>(&self, column: C) -> Result<Option<Decimal>, LedgerError> {
        match self.optional_text(column)? {
            Some(_) => self.decimal(column).map(Some),
            None => Ok(None),
        }
    }

    /// An integer column that holds a value.
    pub(super) fn integer<C: Column>(&self, column: C) -> Result<i64, LedgerError> {
        let (index, value) = self.value(column)?;
        match value {
            ValueRef::Integer(number) => Ok(number),
            _ => Err(self.corrupt(index, "not a whole number")),
        }
    }

    /// An integer column that may be NULL.
    pub(super) fn optional_integer<C: Column>(&self, column: C) -> Result<Option<i64>, LedgerError> {
        let (index, value) = self.value(column)?;
        match value {
            ValueRef::Null => Ok(None),
            ValueRef::Integer(number) => Ok(Some(number)),
            _ => Err(self.corrupt(index, "not a whole number")),
        }
    }

    /// An integer column converted to a narrower or unsigned type (a count, a month, a
    /// duration): a value outside that type's range is corrupt, never wrapped.
    pub(super) fn whole<C: Column, T: TryFrom<i64>>(&self, column: C) -> Result<T, LedgerError> {
        let (index, value) = self.value(column)?;
        match value {
            ValueRef::Integer(number) => {
                T::try_from(number).map_err(|_| self.corrupt(index, "out of range for this column"))
            }
            _ => Err(self.corrupt(index, "not a whole number")),
        }
    }

    /// A flag stored as 0 or 1.
    pub(super) fn flag<C: Column>(&self, column: C) -> Result<bool, LedgerError> {
        let (index, value) = self.value(column)?;
        match value {
            ValueRef::Integer(0) => Ok(false),
            ValueRef::Integer(1) => Ok(true),
            _ => Err(self.corrupt(index, "not 0 or 1")),
        }
    }

    /// A JSON column this program wrote: NULL is the type's default (an empty map), unreadable
    /// JSON an error.
    pub(super) fn json<C: Column, T: serde::de::DeserializeOwned + Default>(
        &self,
        column: C,
    ) -> Result<T, LedgerError> {
        let (index, value) = self.value(column)?;
        match value {
            ValueRef::Null => Ok(T::default()),
            value => {
                let text = self.text_at(index, value)?;
                serde_json::from_str(text)
                    .map_err(|error| self.corrupt(index, format!("not the JSON expected ({error})")))
            }
        }
    }
}

/// The error for a column that holds unreadable data: it names the table, the row (its key), the
/// column and the value, never a default standing in for it.
pub(super) fn corrupt_column(
    table: &'static str,
    row: String,
    column: impl Into<String>,
    value: String,
    problem: impl Display,
) -> LedgerError {
    LedgerError::Corrupt {
        table,
        row,
        column: column.into(),
        value,
        problem: problem.to_string(),
    }
}

/// A stored value as an error message shows it: text quoted, escaped and shortened.
fn describe(value: ValueRef<'_>) -> String {
    match value {
        ValueRef::Null => "NULL".to_owned(),
        ValueRef::Integer(number) => number.to_string(),
        ValueRef::Real(number) => number.to_string(),
        ValueRef::Text(bytes) => {
            let text = String::from_utf8_lossy(bytes);
            let mut shown: String = text.chars().take(CORRUPT_VALUE_CHARS_MAX).collect();
            if text.chars().count() > CORRUPT_VALUE_CHARS_MAX {
                shown.push('…');
            }
            format!("'{}'", shown.escape_debug())
        }
        ValueRef::Blob(bytes) => format!("a blob of {} bytes", bytes.len()),
    }
}

/// Every row of a query, each read by `read`.
pub(super) fn all<T>(
    statement: &mut Statement<'_>,
    arguments: &[&dyn Arg],
    read: impl FnMut(&Row<'_>) -> Result<T, LedgerError>,
) -> Result<Vec<T>, LedgerError> {
    at_most(statement, arguments, usize::MAX, read)
}

/// The first `limit` rows of a query, each read by `read`.
pub(super) fn at_most<T>(
    statement: &mut Statement<'_>,
    arguments: &[&dyn Arg],
    limit: usize,
    mut read: impl FnMut(&Row<'_>) -> Result<T, LedgerError>,
) -> Result<Vec<T>, LedgerError> {
    let mut records = Vec::new();
    if limit == 0 {
        return Ok(records);
    }
    statement.for_each_while(arguments, &mut |row| {
        records.push(read(row)?);
        Ok(records.len() < limit)
    })?;
    Ok(records)
}

/// The first row of a query, if any, read by `read`.
pub(super) fn first<T>(
    statement: &mut Statement<'_>,
    arguments: &[&dyn Arg],
    read: impl FnOnce(&Row<'_>) -> Result<T, LedgerError>,
) -> Result<Option<T>, LedgerError> {
    let mut read = Some(read);
    let mut found = None;
    statement.for_each_while(arguments, &mut |row| {
        if let Some(read) = read.take() {
            found = Some(read(row)?);
        }
        Ok(false)
    })?;
    Ok(found)
}

/// The one row a query returns (a count, a sum), read by `read`: a query that returns none is
/// an error, as SQLite's `query_row` makes it.
pub(super) fn one<T>(
    statement: &mut Statement<'_>,
    arguments: &[&dyn Arg],
    read: impl FnOnce(&Row<'_>) -> Result<T, LedgerError>,
) -> Result<T, LedgerError> {
    first(statement, arguments, read)?.ok_or(LedgerError::Sqlite(rusqlite::Error::QueryReturnedNoRows))
}

/// A stored decimal, read to the same value and scale as `Decimal::from_str` reads it: built
/// from its digits when the text is in the boundary's grammar, as `Decimal::to_string` writes
/// nearly every value (several times cheaper, for reads of hundreds of thousands of amounts), by
/// the general parser otherwise (a negative zero keeps its sign, a 29-digit value its digits).
fn stored_amount(text: &str) -> Result<Decimal, rust_decimal::Error> {
    match closebook_wire::decimal::parse_decimal(text) {
        Ok(amount) if !(amount.is_zero() && text.starts_with('-')) => Ok(amount),
        _ => Decimal::from_str(text),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn stored_amounts_read_as_the_general_parser_reads_them() {
        use rust_decimal::Decimal;
        use std::str::FromStr;
        let mut texts: Vec<String> = [
            "0",
            "0.00",
            "-0.00",
            "-0",
            "1",
            "-1",
            "1250.00",
            "-1250.00",
            "0.0000000001",
            "123456789.123456789",
            "9999999999999999999",
            "10000000000000000000",
            "-12345678901234567890.12345678",
            "79228162514264337593543950335",
            "-79228162514264337593543950335",
            "0.0000000000000000000000000001",
            "7.9228162514264337593543950335",
            "x",
            "",
            "1.",
            ".5",
            "+1",
            "1e5",
        ]
        .map(str::to_owned)
        .to_vec();
        // Sums and products as the ledger's arithmetic writes them.
        let mut value = Decimal::from_str("-0.01").unwrap();
        for step in 0..150 {
            value = (value * Decimal::from_str("-1.37").unwrap() + Decimal::new(step, 2)).round_dp(6);
            texts.push(value.round_dp(2).to_string());
            texts.push((value - value).to_string());
        }
        for text in &texts {
            let general = Decimal::from_str(text);
            let stored = super::stored_amount(text);
            assert_eq!(stored.is_ok(), general.is_ok(), "{text}");
            if let (Ok(stored), Ok(general)) = (stored, general) {
                assert_eq!((stored, stored.to_string()), (general, general.to_string()), "{text}");
            }
        }
    }

    #[test]
    fn stored_dates_read_as_chrono_reads_them() {
        let mut day = NaiveDate::from_ymd_opt(1999, 12, 25).unwrap();
        while day < NaiveDate::from_ymd_opt(2029, 1, 10).unwrap() {
            assert_eq!(super::stored_date(&day.to_string()), Some(day));
            day = day.succ_opt().unwrap();
        }
        let far = NaiveDate::from_ymd_opt(10000, 3, 1).unwrap();
        assert_eq!(super::stored_date(&far.to_string()), Some(far));
        for wrong in [
            "2026-02-29",
            "2026-13-01",
            "2026-00-10",
            "2026-01-32",
            "2026-1-011",
            "20a6-01-01",
            "2026/01/01",
            "",
            "2026-01-01x",
        ] {
            assert_eq!(super::stored_date(wrong), None, "{wrong}");
        }
    }

    use crate::Ledger;
    use crate::LedgerError;
    use crate::close_task::TaskStatus;
    use crate::ids::{CalendarId, ChartId, CurrencyCode, EntityId, EntryKey, PeriodName, RateType, UserId};
    use crate::import::CsvJournalReader;
    use crate::period::{Module, ModuleAccess, PeriodStatus};
    use crate::rate::ExchangeRate;
    use crate::setup::SetupFile;
    use crate::store::{CloseTaskRecord, Db, StepRunRecord, Store};
    use chrono::NaiveDate;
    use rust_decimal::Decimal;

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
        first_year = "FY2026"
        last_year = "FY2026"
        [[chart]]
        id = "C"
        accounts = [
          { number = "1000", name = "Cash", type = "asset" },
          { number = "3900", name = "Retained earnings", type = "equity" },
          { number = "4000", name = "Revenue", type = "revenue" },
        ]
        [[entity]]
        id = "E"
        name = "E"
        currency = "USD"
        calendar = "standard"
        chart = "C"
        retained_earnings_account = "3900"
    "#;

    /// A ledger with one row in each table the cases corrupt: an entry with its lines and
    /// balances, a rate, a period status and module access, a close task, a step run, an
    /// audit event.
    fn ledger() -> Ledger {
        let mut ledger = Ledger::from_store(Store::open_in_memory().unwrap(), UserId::new("test"));
        ledger
            .apply_setup(&SetupFile::parse(SETUP, "setup.toml").unwrap(), "setup.toml")
            .unwrap();
        let journal = "entry,date,account,amount\nA,2026-01-15,1000,100.00\nA,2026-01-15,4000,-100.00\n";
        let reader = CsvJournalReader::new(journal.as_bytes(), "j.csv", Module::Ledger).unwrap();
        ledger
            .import_journals(&EntityId::new("E"), reader, true, "j.csv")
            .unwrap();
        let (entity, period, user) = (EntityId::new("E"), PeriodName::new("2026-01"), UserId::new("test"));
        ledger
            .store()
            .write(|db| {
                db.upsert_rate(&ExchangeRate {
                    from: CurrencyCode::new("EUR"),
                    to: CurrencyCode::new("USD"),
                    rate_type: RateType::new("spot"),
                    effective: NaiveDate::from_ymd_opt(2026, 1, 1).unwrap(),
                    rate: Decimal::new(108, 2),
                })?;
                db.set_period_status(&entity, &period, PeriodStatus::Open)?;
                db.set_module_access(&entity, &period, Module::Ledger, &ModuleAccess::All)?;
                let task = CloseTaskRecord {
                    close: "month-end".to_owned(),
                    entity: entity.clone(),
                    period: period.clone(),
                    task: "check".to_owned(),
                    status: TaskStatus::Done,
                    ..CloseTaskRecord::default()
                };
                db.save_close_task(&task, &user.clone().into(), "done", &serde_json::json!({}))?;
                db.insert_step_run(&StepRunRecord {
                    run_id: "run-1".to_owned(),
                    entity: entity.clone(),
                    period: period.clone(),
                    task: Some("check".to_owned()),
                    plugin_name: "p".to_owned(),
                    plugin_version: "1".to_owned(),
                    plugin_sha256: "0".repeat(64),
                    config: "{}".to_owned(),
                    run_by: user.clone(),
                    started_at: crate::now_text(),
                    finished_at: crate::now_text(),
                    sequence_before: 1,
                    sequence_after: 1,
                    entries_posted: 0,
                    settlements_posted: 0,
                    fuel_consumed: 10,
                    duration_ms: 1,
                    log: String::new(),
                })?;
                db.append_audit(
                    &user.clone().into(),
                    "test",
                    Some(&entity),
                    &serde_json::json!({"ok": true}),
                )
            })
            .unwrap();
        ledger
    }

    /// Writes `sql` behind the store's back (triggers and CHECK constraints off), then runs
    /// `read` and returns its error's message.
    fn corrupted(sql: &str, read: impl FnOnce(&Db<'_>) -> Result<(), LedgerError>) -> String {
        let mut ledger = ledger();
        ledger
            .store()
            .connection()
            .execute_batch(&format!(
                "PRAGMA ignore_check_constraints = ON;
                 DROP TRIGGER entries_no_update; DROP TRIGGER lines_no_update; DROP TRIGGER step_runs_no_update;
                 DROP TRIGGER audit_no_update;
                 {sql}"
            ))
            .unwrap();
        let error = ledger
            .read(read)
            .expect_err("the corrupt value was read without an error");
        assert!(
            matches!(error, LedgerError::Corrupt { .. }),
            "not a corrupt-data error: {error}"
        );
        assert!(error.is_storage_failure());
        error.to_string()
    }

    fn assert_names(message: &str, expected: &[&str]) {
        for part in expected {
            assert!(message.contains(part), "{message:?} does not name {part:?}");
        }
    }

    #[test]
    fn every_kind_of_corrupt_column_is_an_error_naming_table_row_column_and_value() {
        // Proves issue 16: a stored value that cannot be read is refused with its table, row
        // key, column and value, never replaced by a default (NaiveDate::MIN, Asset, Ledger,
        // OnHold, zero).
        if std::env::var(crate::store::TEST_POSTGRES_ENV).is_ok() {
            // Written as SQLite stores them: PostgreSQL's column types and CHECKs, which no
            // session can switch off, refuse most of these values (a blob or a word in an
            // integer column, a flag of 7).
            return;
        }
        let (entity, period, key) = (EntityId::new("E"), PeriodName::new("2026-01"), EntryKey::new("A"));
        let entries = |db: &Db<'_>| db.entries(&entity, None).map(drop);
        // A date.
        let message = corrupted("UPDATE entries SET date = '2026-13-45'", entries);
        assert_names(
            &message,
            &[
                "entries row",
                "entry_key 'A'",
                "column date",
                "'2026-13-45'",
                "not a date",
            ],
        );
        // A date, in the line stream plugins read.
        let message = corrupted("UPDATE entries SET date = 'soon'", |db| {
            db.account_lines(&entity, &"1000".into(), std::slice::from_ref(&period), 0, 10, true)
                .map(drop)
        });
        assert_names(&message, &["entries row", "column date", "'soon'"]);
        // A decimal, in an entry's lines and in the whole-chain stream `verify` reads.
        let sql = "UPDATE lines SET amount = 'ten' WHERE account = '1000'";
        assert_names(
            &corrupted(sql, entries),
            &["lines row line_id 1", "column amount", "'ten'", "not a decimal"],
        );
        assert_names(
            &corrupted(sql, |db| db.for_each_entry(&entity, |_| Ok(()))),
            &["lines row line_id 1", "column amount", "'ten'"],
        );
        // A decimal in the maintained balances.
        let message = corrupted("UPDATE balances SET debit = '1.2.3' WHERE account = '1000'", |db| {
            db.balances(&entity, std::slice::from_ref(&period)).map(drop)
        });
        assert_names(
            &message,
            &[
                "balances row",
                "period '2026-01'",
                "account '1000'",
                "column debit",
                "'1.2.3'",
            ],
        );
        let message = corrupted(
            "UPDATE account_balances SET accounting_amount = '' WHERE account = '4000'",
            |db| db.all_account_balances(&entity).map(drop),
        );
        assert_names(
            &message,
            &[
                "account_balances row",
                "account '4000'",
                "column accounting_amount",
                "''",
            ],
        );
        // An account type and a flag.
        let chart = ChartId::new("C");
        let accounts = |db: &Db<'_>| db.accounts(&chart).map(drop);
        let message = corrupted(
            "UPDATE accounts SET account_type = 'bogus' WHERE number = '4000'",
            accounts,
        );
        assert_names(
            &message,
            &[
                "accounts row",
                "number '4000'",
                "column account_type",
                "'bogus'",
                "not an account type",
            ],
        );
        let message = corrupted("UPDATE accounts SET blocked = 7 WHERE number = '1000'", accounts);
        assert_names(
            &message,
            &["accounts row", "number '1000'", "column blocked", "7", "not 0 or 1"],
        );
        // A module.
        let message = corrupted("UPDATE entries SET module = 'sales'", |db| {
            db.entry_by_key(&entity, &key).map(drop)
        });
        assert_names(
            &message,
            &[
                "entries row",
                "entry_key 'A'",
                "column module",
                "'sales'",
                "not a module",
            ],
        );
        // A period status, a module access level, a period kind.
        let message = corrupted("UPDATE period_status SET status = 'shut'", |db| {
            db.period_statuses(&entity).map(drop)
        });
        assert_names(
            &message,
            &[
                "period_status row",
                "period '2026-01'",
                "column status",
                "'shut'",
                "not a period status",
            ],
        );
        let message = corrupted("UPDATE module_access SET level = 'group:'", |db| {
            db.module_access(&entity).map(drop)
        });
        assert_names(
            &message,
            &["module_access row", "module 'ledger'", "column level", "'group:'"],
        );
        let message = corrupted("UPDATE periods SET kind = 'extra' WHERE name = '2026-03'", |db| {
            db.periods(&CalendarId::new("standard"), None).map(drop)
        });
        assert_names(&message, &["periods row", "name '2026-03'", "column kind", "'extra'"]);
        // A rate's date and decimal.
        let rates = |db: &Db<'_>| db.rates(None).map(drop);
        assert_names(
            &corrupted("UPDATE rates SET effective_date = '2026-02-30'", rates),
            &[
                "rates row",
                "from_currency 'EUR'",
                "column effective_date",
                "'2026-02-30'",
            ],
        );
        assert_names(
            &corrupted("UPDATE rates SET rate = x'00ff'", rates),
            &["rates row", "column rate", "a blob of 2 bytes", "not text"],
        );
        // A task status and a JSON column of the close engine.
        let tasks = |db: &Db<'_>| db.close_tasks("month-end", &period).map(drop);
        let message = corrupted("UPDATE close_tasks SET status = 'half-done'", tasks);
        assert_names(
            &message,
            &[
                "close_tasks row",
                "task_id 'check'",
                "column status",
                "'half-done'",
                "not a task status",
            ],
        );
        let message = corrupted("UPDATE close_tasks SET run_reads = '{not json'", tasks);
        assert_names(
            &message,
            &[
                "close_tasks row",
                "column run_reads",
                "'{not json'",
                "not the JSON expected",
            ],
        );
        // An unsigned count, and an id of the wrong type.
        let runs = |db: &Db<'_>| db.step_runs(None, 10).map(drop);
        let message = corrupted("UPDATE step_runs SET fuel_consumed = -5", runs);
        assert_names(
            &message,
            &[
                "step_runs row",
                "run_id 'run-1'",
                "column fuel_consumed",
                "-5",
                "out of range",
            ],
        );
        let message = corrupted("UPDATE step_runs SET sequence_after = 'late'", runs);
        assert_names(
            &message,
            &["step_runs row", "column sequence_after", "'late'", "not a whole number"],
        );
        // The audit trail's JSON, once shown as a string instead of refused.
        let message = corrupted("UPDATE audit_log SET details = 'not json'", |db| {
            db.audit(None, 10).map(drop)
        });
        assert_names(&message, &["audit_log row", "column details", "'not json'"]);
        // Who may do what: an unknown permission or a blocked flag that is not 0 or 1 would
        // grant or deny silently if read as a default.
        let policy = |db: &Db<'_>| db.access_policy().map(drop);
        let message = corrupted(
            "INSERT INTO roles (id, name) VALUES ('clerk', 'Clerk');
             INSERT INTO role_permissions (role_id, permission) VALUES ('clerk', 'ledger.write');",
            policy,
        );
        assert_names(
            &message,
            &[
                "role_permissions row",
                "role_id 'clerk'",
                "column permission",
                "'ledger.write'",
                "not a permission",
            ],
        );
        let message = corrupted("INSERT INTO users (id, name, blocked) VALUES ('zed', 'Zed', 7)", policy);
        assert_names(&message, &["users row", "column blocked", "7"]);
        // The whole message, once.
        let message = corrupted("UPDATE entries SET date = '2026-13-45'", entries);
        assert_eq!(
            message,
            "the ledger file holds unreadable data: entries row id 1, entity_id 'E', entry_key 'A', column date, \
             holds '2026-13-45': not a date (YYYY-MM-DD); the file was changed outside closebook: restore it from a backup"
        );
    }
}
