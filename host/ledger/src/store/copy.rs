//! Copying a whole ledger from one database to another (`closebook db copy`): SQLite to
//! PostgreSQL, PostgreSQL to SQLite, or either to a database of its own kind. Every row of every
//! table goes across as it is stored (entries with their hashes, lines, balances, the audit
//! trail, the close's history), so the hash chains hold in the copy, `verify` passes on it, and
//! its reports are the source's.
//!
//! The source is read in one read transaction (one snapshot); the copy is written in one write
//! transaction, so it lands whole or not at all. The destination must hold no ledger yet (no
//! entity): a copy never merges into another ledger.

use super::sql::{Arg, Row, Value, ValueRef};
use super::{Db, Store};
use crate::error::LedgerError;

/// Rows between two calls of the progress callback.
const PROGRESS_EVERY_ROWS: u64 = 10_000;

/// What a copy copied.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CopySummary {
    /// (table, rows), in the order they were copied.
    pub tables: Vec<(String, u64)>,
}

impl CopySummary {
    pub fn rows(&self) -> u64 {
        self.tables.iter().map(|(_, rows)| rows).sum()
    }
}

/// A value read from one database, held until it is written to the other.
#[derive(Clone, Debug, PartialEq)]
enum Owned {
    Null,
    Integer(i64),
    Text(String),
    Blob(Vec<u8>),
}

impl Arg for Owned {
    fn value(&self) -> Result<Value<'_>, LedgerError> {
        Ok(match self {
            Owned::Null => Value::Null,
            Owned::Integer(number) => Value::Integer(*number),
            Owned::Text(text) => Value::Text(text),
            Owned::Blob(bytes) => Value::Blob(bytes),
        })
    }
}

fn owned(table: &str, column: &str, value: ValueRef<'_>) -> Result<Owned, LedgerError> {
    Ok(match value {
        ValueRef::Null => Owned::Null,
        ValueRef::Integer(number) => Owned::Integer(number),
        ValueRef::Text(bytes) => Owned::Text(String::from_utf8(bytes.to_vec()).map_err(|_| {
            LedgerError::Invalid(format!(
                "{table}.{column} holds text that is not UTF-8: the copy stopped"
            ))
        })?),
        ValueRef::Blob(bytes) => Owned::Blob(bytes.to_vec()),
        ValueRef::Real(number) => {
            return Err(LedgerError::Invalid(format!(
                "{table}.{column} holds a floating-point number ({number}), which no closebook column stores: the copy stopped"
            )));
        }
    })
}

/// Copies every row of the ledger in `from` into `to`, which must hold this build's schema and
/// no ledger. `progress` hears the table being copied and the rows copied so far.
pub fn copy_ledger(
    from: &mut Store,
    to: &mut Store,
    progress: &mut dyn FnMut(&str, u64),
) -> Result<CopySummary, LedgerError> {
    from.read(|source| {
        to.write(|destination| {
            let entities = destination.entities()?;
            if let Some(entity) = entities.first() {
                return Err(LedgerError::Invalid(format!(
                    "the destination holds a ledger already (entity {}), and a copy never merges into another ledger: copy into a new, empty database",
                    entity.id
                )));
            }
            let mut summary = CopySummary::default();
            let mut copied = 0;
            let source_tables = source.table_names()?;
            let destination_tables = destination.table_names()?;
            for table in &destination_tables {
                if table == "schema_migrations" {
                    continue;
                }
                if !source_tables.contains(table) {
                    return Err(LedgerError::Invalid(format!(
                        "the source has no table {table}: it is not a ledger of this closebook's schema (open it once with this closebook to migrate it)"
                    )));
                }
                let rows = copy_table(source, destination, table, &mut |rows| {
                    progress(table, copied + rows);
                })?;
                copied += rows;
                summary.tables.push((table.clone(), rows));
            }
            destination.after_copy()?;
            Ok(summary)
        })
    })
    .inspect(|_| {
        if let Err(error) = to.refresh_statistics() {
            tracing::warn!(error = %error, "the copy's statistics could not be refreshed");
        }
    })
}

/// Copies one table's rows, in the source's insertion order where it has one.
fn copy_table(
    source: &Db<'_>,
    destination: &Db<'_>,
    table: &str,
    progress: &mut dyn FnMut(u64),
) -> Result<u64, LedgerError> {
    // The columns both have: PostgreSQL's `rowid` columns stand for SQLite's hidden rowid,
    // which is not a column, and are made again by the destination.
    let source_columns = source.column_names(table)?;
    let columns: Vec<String> = destination
        .column_names(table)?
        .into_iter()
        .filter(|column| column != "rowid" && source_columns.contains(column))
        .collect();
    let list = columns.join(", ");
    let placeholders: Vec<String> = (1..=columns.len()).map(|index| format!("?{index}")).collect();
    let order = source.insertion_order(table)?;
    let mut insert = destination.connection.prepare(&format!(
        "INSERT INTO {table} ({list}) VALUES ({}) ON CONFLICT DO NOTHING",
        placeholders.join(", ")
    ))?;
    let mut select = source
        .connection
        .prepare_once(&format!("SELECT {list} FROM {table}{order}"))?;
    let mut rows = 0u64;
    let mut values: Vec<Owned> = Vec::with_capacity(columns.len());
    select.for_each(&[], &mut |row: &Row<'_>| {
        values.clear();
        for (index, column) in columns.iter().enumerate() {
            values.push(owned(table, column, row.value(index)?)?);
        }
        let arguments: Vec<&dyn Arg> = values.iter().map(|value| value as &dyn Arg).collect();
        insert.execute(&arguments)?;
        rows += 1;
        if rows.is_multiple_of(PROGRESS_EVERY_ROWS) {
            progress(rows);
        }
        Ok(())
    })?;
    progress(rows);
    // Every row landed: none was taken for a row the destination had (only the rows its
    // migrations seed, the same in every ledger, are there before the copy).
    let count = |db: &Db<'_>| -> Result<i64, LedgerError> {
        db.connection.one(&format!("SELECT COUNT(*) FROM {table}"), &[], |row| {
            match row.value(0)? {
                ValueRef::Integer(count) => Ok(count),
                other => Err(LedgerError::Invalid(format!("COUNT(*) of {table} read as {other:?}"))),
            }
        })
    };
    let (read, written) = (count(source)?, count(destination)?);
    if read != written {
        return Err(LedgerError::Invalid(format!(
            "{table}: {read} rows in the source, {written} in the copy: the destination held rows of its own; copy into a new, empty database"
        )));
    }
    Ok(rows)
}

impl Db<'_> {
    /// The ledger's tables, each after the tables its foreign keys name (the order the
    /// migrations create them in).
    fn table_names(&self) -> Result<Vec<String>, LedgerError> {
        if self.connection.is_postgres() {
            return Ok(super::postgres::tables().into_iter().map(str::to_owned).collect());
        }
        super::row::all(
            &mut self.connection.prepare_once(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY rowid",
            )?,
            &[],
            |row| row.get::<String>(0),
        )
    }

    /// A table's columns, in order.
    fn column_names(&self, table: &str) -> Result<Vec<String>, LedgerError> {
        Ok(self
            .connection
            .prepare_once(&format!("SELECT * FROM {table} LIMIT 0"))?
            .column_names())
    }

    /// The `ORDER BY` that reads a table in the order its rows were written, where that is
    /// kept: SQLite's rowid, PostgreSQL's `rowid` column or identity `id`. Other tables are keyed
    /// by what they hold, and any order will do.
    fn insertion_order(&self, table: &str) -> Result<&'static str, LedgerError> {
        let columns = self.column_names(table)?;
        let has = |name: &str| columns.iter().any(|column| column == name);
        if self.connection.is_postgres() {
            return Ok(if has("rowid") {
                " ORDER BY rowid"
            } else if has("id") {
                " ORDER BY id"
            } else {
                ""
            });
        }
        // A WITHOUT ROWID table (the maintained balances) has no rowid to order by.
        let with_rowid = self
            .connection
            .prepare_once(&format!("SELECT rowid FROM {table} LIMIT 0"))
            .is_ok();
        Ok(if with_rowid { " ORDER BY rowid" } else { "" })
    }

    /// After a copy into PostgreSQL, each identity column goes on from the copied rows' largest
    /// value (SQLite's rowids do by themselves).
    fn after_copy(&self) -> Result<(), LedgerError> {
        let super::sql::Conn::Postgres(client) = self.connection else {
            return Ok(());
        };
        super::postgres::reset_identities(&mut client.borrow_mut().client, None)
    }
}
