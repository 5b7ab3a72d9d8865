//! Reading stored rows into records: columns by name, and every conversion checked. A value this
//! build cannot read (a date that is not a date, an unknown account type, a decimal that does
//! not parse, a NULL where a value belongs) is a [`LedgerError::Corrupt`] naming the table, the
//! row's key, the column and the value, never a default standing in for it.
//!
//! Records read a few rows at a time look their columns up by name on each read (a linear scan
//! of a handful of names). The streams that read millions of rows (lines, balances, entries
//! with their lines) resolve their columns' indexes once per statement instead
//! (`column_index`), and read each row through those indexes.

use crate::error::LedgerError;
use chrono::NaiveDate;
use rusqlite::types::ValueRef;
use rusqlite::{Params, Row, Statement};
use rust_decimal::Decimal;
use std::fmt::Display;
use std::str::FromStr;

/// The most characters of a corrupt value an error message repeats.
const CORRUPT_VALUE_CHARS_MAX: usize = 80;

/// A column of a row: its name, or its index resolved once per statement.
pub(super) trait Column: Copy {
    fn index(self, statement: &Statement<'_>) -> Result<usize, LedgerError>;
}

impl Column for &str {
    fn index(self, statement: &Statement<'_>) -> Result<usize, LedgerError> {
        Ok(statement.column_index(self)?)
    }
}

impl Column for usize {
    fn index(self, _statement: &Statement<'_>) -> Result<usize, LedgerError> {
        Ok(self)
    }
}

/// The index of a column in a statement's result, by name: resolved once, before the rows.
pub(super) fn column_index(statement: &Statement<'_>, name: &str) -> Result<usize, LedgerError> {
    Ok(statement.column_index(name)?)
}

/// One row read as a record of `table`: every read converts and checks its value.
pub(super) struct Fields<'a, 'r> {
    row: &'a Row<'r>,
    table: &'static str,
    /// The columns that name the row in an error message; read only when one is reported.
    key: &'static [&'static str],
}

impl<'a, 'r> Fields<'a, 'r> {
    pub(super) fn new(row: &'a Row<'r>, table: &'static str, key: &'static [&'static str]) -> Self {
        Self { row, table, key }
    }

    fn value<C: Column>(&self, column: C) -> Result<(usize, ValueRef<'a>), LedgerError> {
        let index = column.index(self.row.as_ref())?;
        Ok((index, self.row.get_ref(index)?))
    }

    /// The error for a value of this row's `index`th column that cannot be read.
    pub(super) fn corrupt(&self, index: usize, problem: impl Display) -> LedgerError {
        let value = self.row.get_ref(index).map(describe).unwrap_or_else(|_| "?".to_owned());
        let column = self
            .row
            .as_ref()
            .column_name(index)
            .map(str::to_owned)
            .unwrap_or_else(|_| format!("#{index}"));
        corrupt_column(self.table, self.describe_key(), column, value, problem)
    }

    /// The row's key as `column value, column value`, from the key columns the query selected.
    fn describe_key(&self) -> String {
        let statement = self.row.as_ref();
        let parts: Vec<String> = self
            .key
            .iter()
            .filter_map(|name| {
                let index = statement.column_index(name).ok()?;
                let value = self.row.get_ref(index).ok()?;
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
        self.parsed(column, "a date (YYYY-MM-DD)", |text| NaiveDate::from_str(text).ok())
    }

    /// A decimal amount in the text `Decimal::to_string` writes.
    pub(super) fn decimal<C: Column>(&self, column: C) -> Result<Decimal, LedgerError> {
        let (index, value) = self.value(column)?;
        let text = self.text_at(index, value)?;
        Decimal::from_str(text).map_err(|error| self.corrupt(index, format!("not a decimal ({error})")))
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
    parameters: impl Params,
    read: impl FnMut(&Row<'_>) -> Result<T, LedgerError>,
) -> Result<Vec<T>, LedgerError> {
    at_most(statement, parameters, usize::MAX, read)
}

/// The first `limit` rows of a query, each read by `read`.
pub(super) fn at_most<T>(
    statement: &mut Statement<'_>,
    parameters: impl Params,
    limit: usize,
    mut read: impl FnMut(&Row<'_>) -> Result<T, LedgerError>,
) -> Result<Vec<T>, LedgerError> {
    let mut rows = statement.query(parameters)?;
    let mut records = Vec::new();
    while records.len() < limit {
        let Some(row) = rows.next()? else { break };
        records.push(read(row)?);
    }
    Ok(records)
}

/// The first row of a query, if any, read by `read`.
pub(super) fn first<T>(
    statement: &mut Statement<'_>,
    parameters: impl Params,
    read: impl FnOnce(&Row<'_>) -> Result<T, LedgerError>,
) -> Result<Option<T>, LedgerError> {
    let mut rows = statement.query(parameters)?;
    match rows.next()? {
        Some(row) => Ok(Some(read(row)?)),
        None => Ok(None),
    }
}
