//! The store's one door to its database: every query is written once, in the SQL that SQLite and
//! PostgreSQL both read, and runs through [`Statement`] on either.
//!
//! - Parameters are `?1`, `?2`…; on PostgreSQL they are rewritten to `$1`, `$2`… once, when the
//!   statement is prepared (and cached).
//! - Arguments are [`Arg`]s (`args![a, b]`): integers, texts, blobs and NULL, the four types the
//!   schema stores. A flag is an integer 0 or 1 on both backends, a decimal its text.
//! - Rows are read through [`Row`], whose values are the same [`ValueRef`]s on both backends; the
//!   records read them with `row::Fields`, which checks every conversion.
//!
//! SQLite statements are cached by the connection (`prepare_cached`); PostgreSQL statements by the
//! [`PgClient`] that prepared them. A PostgreSQL query returns its rows whole, so the client is
//! free again before the first row is read and a row's reader may run queries of its own, as it
//! may on SQLite.

use crate::error::LedgerError;
use std::cell::RefCell;
use std::collections::HashMap;

/// A value a statement is given: one of the four types the schema stores.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Value<'a> {
    Null,
    Integer(i64),
    Text(&'a str),
    Blob(&'a [u8]),
}

/// What can be passed to a statement: `args![entity.as_str(), sequence, note]`.
pub trait Arg {
    fn value(&self) -> Result<Value<'_>, LedgerError>;
}

/// The arguments of a statement, each by reference, as `rusqlite::params!` takes them.
macro_rules! args {
    () => {
        &[] as &[&dyn $crate::store::sql::Arg]
    };
    ($($argument:expr),+ $(,)?) => {
        &[$(&$argument as &dyn $crate::store::sql::Arg),+] as &[&dyn $crate::store::sql::Arg]
    };
}
pub(crate) use args;

impl Arg for Value<'_> {
    fn value(&self) -> Result<Value<'_>, LedgerError> {
        Ok(*self)
    }
}

impl Arg for str {
    fn value(&self) -> Result<Value<'_>, LedgerError> {
        Ok(Value::Text(self))
    }
}

impl Arg for String {
    fn value(&self) -> Result<Value<'_>, LedgerError> {
        Ok(Value::Text(self))
    }
}

impl Arg for [u8] {
    fn value(&self) -> Result<Value<'_>, LedgerError> {
        Ok(Value::Blob(self))
    }
}

impl Arg for Vec<u8> {
    fn value(&self) -> Result<Value<'_>, LedgerError> {
        Ok(Value::Blob(self))
    }
}

impl<const N: usize> Arg for [u8; N] {
    fn value(&self) -> Result<Value<'_>, LedgerError> {
        Ok(Value::Blob(self))
    }
}

impl Arg for bool {
    fn value(&self) -> Result<Value<'_>, LedgerError> {
        Ok(Value::Integer(i64::from(*self)))
    }
}

macro_rules! integer_args {
    ($($integer:ty),+) => {$(
        impl Arg for $integer {
            fn value(&self) -> Result<Value<'_>, LedgerError> {
                i64::try_from(*self).map(Value::Integer).map_err(|_| {
                    LedgerError::Invalid(format!("{self} is too large to store (the limit is {})", i64::MAX))
                })
            }
        }
    )+};
}
integer_args!(i8, i16, i32, i64, u8, u16, u32, u64, usize, isize);

impl<T: Arg + ?Sized> Arg for &T {
    fn value(&self) -> Result<Value<'_>, LedgerError> {
        (**self).value()
    }
}

impl<T: Arg> Arg for Option<T> {
    fn value(&self) -> Result<Value<'_>, LedgerError> {
        match self {
            Some(value) => value.value(),
            None => Ok(Value::Null),
        }
    }
}

/// A value read from a row, borrowed from it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum ValueRef<'a> {
    Null,
    Integer(i64),
    Real(f64),
    Text(&'a [u8]),
    Blob(&'a [u8]),
}

impl<'a> From<rusqlite::types::ValueRef<'a>> for ValueRef<'a> {
    fn from(value: rusqlite::types::ValueRef<'a>) -> Self {
        match value {
            rusqlite::types::ValueRef::Null => ValueRef::Null,
            rusqlite::types::ValueRef::Integer(number) => ValueRef::Integer(number),
            rusqlite::types::ValueRef::Real(number) => ValueRef::Real(number),
            rusqlite::types::ValueRef::Text(bytes) => ValueRef::Text(bytes),
            rusqlite::types::ValueRef::Blob(bytes) => ValueRef::Blob(bytes),
        }
    }
}

impl rusqlite::ToSql for Value<'_> {
    fn to_sql(&self) -> rusqlite::Result<rusqlite::types::ToSqlOutput<'_>> {
        use rusqlite::types::{ToSqlOutput, ValueRef as SqliteValue};
        Ok(ToSqlOutput::Borrowed(match *self {
            Value::Null => SqliteValue::Null,
            Value::Integer(number) => SqliteValue::Integer(number),
            Value::Text(text) => SqliteValue::Text(text.as_bytes()),
            Value::Blob(bytes) => SqliteValue::Blob(bytes),
        }))
    }
}

impl postgres::types::ToSql for Value<'_> {
    fn to_sql(
        &self,
        ty: &postgres::types::Type,
        out: &mut postgres::types::private::BytesMut,
    ) -> Result<postgres::types::IsNull, Box<dyn std::error::Error + Sync + Send>> {
        use postgres::types::Type;
        match *self {
            Value::Null => Ok(postgres::types::IsNull::Yes),
            Value::Integer(number) => match *ty {
                Type::INT8 => number.to_sql(ty, out),
                Type::INT4 => i32::try_from(number)?.to_sql(ty, out),
                Type::INT2 => i16::try_from(number)?.to_sql(ty, out),
                Type::BOOL => (number != 0).to_sql(ty, out),
                _ => Err(format!("a whole number given for a parameter of type {ty}").into()),
            },
            Value::Text(text) => text.to_sql(ty, out),
            Value::Blob(bytes) => bytes.to_sql(ty, out),
        }
    }

    fn accepts(_ty: &postgres::types::Type) -> bool {
        true
    }

    postgres::types::to_sql_checked!();
}

/// A PostgreSQL connection with the statements it has prepared, by their SQL as written.
pub struct PgClient {
    pub(super) client: postgres::Client,
    statements: HashMap<String, postgres::Statement>,
    /// When every statement must have ended (a plugin run's wall-time limit), and the
    /// `statement_timeout` last set towards it.
    deadline: Option<(std::time::Instant, Option<std::time::Duration>)>,
}

impl PgClient {
    pub(super) fn new(client: postgres::Client) -> Self {
        Self {
            client,
            statements: HashMap::new(),
            deadline: None,
        }
    }

    /// From now on no statement runs past `deadline`: one started after it is refused, and one
    /// started before it is cancelled by the server (`statement_timeout`) at about that time.
    pub(super) fn set_deadline(&mut self, deadline: std::time::Instant) {
        self.deadline = Some((deadline, None));
    }

    /// Checks the deadline before a statement runs, tightening the server's timeout to the
    /// time left whenever that has halved since it was last set: so a loop of short
    /// statements ends at the deadline (as SQLite's progress handler ends it), and a long one
    /// is cancelled within twice the time that was left when it started.
    fn before_statement(&mut self) -> Result<(), LedgerError> {
        let Some((deadline, set)) = self.deadline else {
            return Ok(());
        };
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        if left.is_zero() {
            return Err(LedgerError::Interrupted);
        }
        if set.is_none_or(|set| left < set / 2) {
            self.client
                .batch_execute(&format!("SET statement_timeout = {}", left.as_millis().max(1)))?;
            self.deadline = Some((deadline, Some(left)));
        }
        Ok(())
    }

    fn prepare(&mut self, sql: &str) -> Result<postgres::Statement, LedgerError> {
        if let Some(statement) = self.statements.get(sql) {
            return Ok(statement.clone());
        }
        let statement = self.client.prepare(&postgres_placeholders(sql))?;
        self.statements.insert(sql.to_owned(), statement.clone());
        Ok(statement)
    }
}

/// `?1` → `$1`, outside quoted text and identifiers.
pub(super) fn postgres_placeholders(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len());
    let mut quote: Option<char> = None;
    for character in sql.chars() {
        match (quote, character) {
            (None, '\'' | '"') => quote = Some(character),
            (Some(open), _) if character == open => quote = None,
            (None, '?') => {
                out.push('$');
                continue;
            }
            _ => {}
        }
        out.push(character);
    }
    out
}

/// Rows in PostgreSQL's `COPY` text format: fields separated by tabs, rows ended by newlines,
/// `\N` for NULL, and a backslash, tab, newline or carriage return inside a value escaped.
#[derive(Default)]
pub(super) struct CopyRows {
    pub(super) text: String,
    /// Whether the row being written has a field already.
    in_row: bool,
}

impl CopyRows {
    pub(super) fn field(&mut self, value: Option<&str>) -> &mut Self {
        if std::mem::replace(&mut self.in_row, true) {
            self.text.push('\t');
        }
        let Some(value) = value else {
            self.text.push_str("\\N");
            return self;
        };
        for character in value.chars() {
            match character {
                '\\' => self.text.push_str("\\\\"),
                '\t' => self.text.push_str("\\t"),
                '\n' => self.text.push_str("\\n"),
                '\r' => self.text.push_str("\\r"),
                other => self.text.push(other),
            }
        }
        self
    }

    pub(super) fn text(&mut self, value: &str) -> &mut Self {
        self.field(Some(value))
    }

    pub(super) fn number(&mut self, value: i64) -> &mut Self {
        self.field(Some(&value.to_string()))
    }

    pub(super) fn end_row(&mut self) {
        self.text.push('\n');
        self.in_row = false;
    }
}

/// The connection a [`super::Db`] runs its queries on.
#[derive(Clone, Copy)]
pub(super) enum Conn<'a> {
    Sqlite(&'a rusqlite::Connection),
    Postgres(&'a RefCell<PgClient>),
}

impl<'a> Conn<'a> {
    /// A statement, prepared once per connection and reused.
    pub(super) fn prepare(self, sql: &str) -> Result<Statement<'a>, LedgerError> {
        Ok(match self {
            Conn::Sqlite(connection) => Statement::Sqlite(SqliteStatement::Cached(connection.prepare_cached(sql)?)),
            Conn::Postgres(client) => {
                let statement = client.borrow_mut().prepare(sql)?;
                Statement::Postgres { client, statement }
            }
        })
    }

    /// A statement used once (its text is built for one call, so caching it would only evict
    /// the statements that are reused).
    pub(super) fn prepare_once(self, sql: &str) -> Result<Statement<'a>, LedgerError> {
        Ok(match self {
            Conn::Sqlite(connection) => Statement::Sqlite(SqliteStatement::Once(connection.prepare(sql)?)),
            Conn::Postgres(client) => {
                let statement = client.borrow_mut().client.prepare(&postgres_placeholders(sql))?;
                Statement::Postgres { client, statement }
            }
        })
    }

    /// Runs one statement, returning the number of rows it changed.
    pub(super) fn execute(self, sql: &str, arguments: &[&dyn Arg]) -> Result<usize, LedgerError> {
        self.prepare(sql)?.execute(arguments)
    }

    /// The first row of a query, if any, read by `read`.
    pub(super) fn first<T>(
        self,
        sql: &str,
        arguments: &[&dyn Arg],
        read: impl FnOnce(&Row<'_>) -> Result<T, LedgerError>,
    ) -> Result<Option<T>, LedgerError> {
        super::row::first(&mut self.prepare(sql)?, arguments, read)
    }

    /// The one row a query returns (a count, a maximum), read by `read`.
    pub(super) fn one<T>(
        self,
        sql: &str,
        arguments: &[&dyn Arg],
        read: impl FnOnce(&Row<'_>) -> Result<T, LedgerError>,
    ) -> Result<T, LedgerError> {
        super::row::one(&mut self.prepare(sql)?, arguments, read)
    }

    /// Whether a query returns any row.
    pub(super) fn exists(self, sql: &str, arguments: &[&dyn Arg]) -> Result<bool, LedgerError> {
        Ok(self.first(sql, arguments, |_| Ok(()))?.is_some())
    }

    /// Runs an `INSERT` of one row and returns the id the database gave it: SQLite's
    /// `last_insert_rowid` (`RETURNING` costs SQLite a result row per insert: a tenth of a
    /// settlement's posting time, measured), PostgreSQL's `RETURNING id`.
    pub(super) fn insert_returning_id(self, sql: &str, arguments: &[&dyn Arg]) -> Result<i64, LedgerError> {
        match self {
            Conn::Sqlite(connection) => {
                self.prepare(sql)?.execute(arguments)?;
                Ok(connection.last_insert_rowid())
            }
            Conn::Postgres(_) => self.one(&format!("{sql} RETURNING id"), arguments, |row| match row.value(0)? {
                ValueRef::Integer(id) => Ok(id),
                other => Err(LedgerError::Invalid(format!("an insert returned {other:?} as its id"))),
            }),
        }
    }

    /// PostgreSQL: `count` new ids of `table`'s identity column `id`, ascending, for rows the
    /// caller writes with them (`COPY`). One statement moves the sequence past them all; that
    /// the ids are consecutive and follow every id before them holds because only a writer
    /// holding the ledger's write lock inserts into the tables this is used for. Calling it on
    /// SQLite is a bug.
    pub(super) fn reserve_ids(self, table: &str, count: usize) -> Result<std::ops::RangeInclusive<i64>, LedgerError> {
        assert!(self.is_postgres(), "ids are reserved on PostgreSQL only");
        let count = i64::try_from(count).map_err(|_| LedgerError::Invalid(format!("{count} ids at once")))?;
        let last = self.one(
            &format!(
                "SELECT setval(pg_get_serial_sequence('{table}', 'id'), nextval(pg_get_serial_sequence('{table}', 'id')) + ?1 - 1)"
            ),
            args![count],
            |row| match row.value(0)? {
                ValueRef::Integer(id) => Ok(id),
                other => Err(LedgerError::Invalid(format!("the {table} sequence gave {other:?}"))),
            },
        )?;
        Ok(last - count + 1..=last)
    }

    /// Runs a PostgreSQL `COPY … FROM STDIN` with `rows` (in its text format), returning the
    /// number of rows written. SQLite has no `COPY`; calling this on it is a bug.
    pub(super) fn copy_in(self, sql: &str, rows: &[u8]) -> Result<u64, LedgerError> {
        let Conn::Postgres(client) = self else {
            unreachable!("COPY is PostgreSQL's")
        };
        let mut client = client.borrow_mut();
        client.before_statement()?;
        let mut writer = client.client.copy_in(sql)?;
        if let Err(error) = std::io::Write::write_all(&mut writer, rows) {
            // The server's own error, when it refused the rows, comes with the copy's end.
            return Err(match writer.finish() {
                Err(refused) => refused.into(),
                Ok(_) => LedgerError::Invalid(format!("writing the rows of {sql}: {error}")),
            });
        }
        Ok(writer.finish()?)
    }

    pub(super) fn is_postgres(self) -> bool {
        matches!(self, Conn::Postgres(_))
    }
}

pub(super) enum SqliteStatement<'a> {
    Cached(rusqlite::CachedStatement<'a>),
    Once(rusqlite::Statement<'a>),
}

impl<'a> std::ops::Deref for SqliteStatement<'a> {
    type Target = rusqlite::Statement<'a>;
    fn deref(&self) -> &Self::Target {
        match self {
            SqliteStatement::Cached(statement) => statement,
            SqliteStatement::Once(statement) => statement,
        }
    }
}

impl std::ops::DerefMut for SqliteStatement<'_> {
    fn deref_mut(&mut self) -> &mut Self::Target {
        match self {
            SqliteStatement::Cached(statement) => statement,
            SqliteStatement::Once(statement) => statement,
        }
    }
}

/// A prepared statement of either backend.
pub(super) enum Statement<'a> {
    Sqlite(SqliteStatement<'a>),
    Postgres {
        client: &'a RefCell<PgClient>,
        statement: postgres::Statement,
    },
}

fn values<'v>(arguments: &'v [&dyn Arg]) -> Result<Vec<Value<'v>>, LedgerError> {
    arguments.iter().map(|argument| argument.value()).collect()
}

/// Binds `arguments` to a SQLite statement one by one, without collecting them first (an
/// import or a settlement runs hundreds of thousands of statements). Every parameter is bound,
/// so no value of an earlier execution is left in place.
fn bind_sqlite(statement: &mut rusqlite::Statement<'_>, arguments: &[&dyn Arg]) -> Result<(), LedgerError> {
    let expected = statement.parameter_count();
    if arguments.len() != expected {
        return Err(LedgerError::Sqlite(rusqlite::Error::InvalidParameterCount(
            arguments.len(),
            expected,
        )));
    }
    for (index, argument) in arguments.iter().enumerate() {
        statement.raw_bind_parameter(index + 1, argument.value()?)?;
    }
    Ok(())
}

impl<'a> Statement<'a> {
    /// The index of a result column, by name: resolved once, before the rows.
    pub(super) fn column_index(&self, name: &str) -> Result<usize, LedgerError> {
        match self {
            Statement::Sqlite(statement) => Ok(statement.column_index(name)?),
            Statement::Postgres { statement, .. } => postgres_column(statement.columns(), name),
        }
    }

    /// The names of the result's columns, in order.
    pub(super) fn column_names(&self) -> Vec<String> {
        match self {
            Statement::Sqlite(statement) => statement.column_names().into_iter().map(str::to_owned).collect(),
            Statement::Postgres { statement, .. } => statement
                .columns()
                .iter()
                .map(|column| column.name().to_owned())
                .collect(),
        }
    }

    /// Runs the statement, returning the number of rows it changed.
    pub(super) fn execute(&mut self, arguments: &[&dyn Arg]) -> Result<usize, LedgerError> {
        match self {
            Statement::Sqlite(statement) => {
                bind_sqlite(statement, arguments)?;
                Ok(statement.raw_execute()?)
            }
            Statement::Postgres { client, statement } => {
                let values = values(arguments)?;
                let parameters: Vec<&(dyn postgres::types::ToSql + Sync)> = values
                    .iter()
                    .map(|value| value as &(dyn postgres::types::ToSql + Sync))
                    .collect();
                let mut client = client.borrow_mut();
                client.before_statement()?;
                let changed = client.client.execute(statement, &parameters)?;
                Ok(changed as usize)
            }
        }
    }

    /// Runs the statement and hands its rows to `visit`, in order, until `visit` answers false.
    pub(super) fn for_each_while(
        &mut self,
        arguments: &[&dyn Arg],
        visit: &mut dyn FnMut(&Row<'_>) -> Result<bool, LedgerError>,
    ) -> Result<(), LedgerError> {
        match self {
            Statement::Sqlite(statement) => {
                bind_sqlite(statement, arguments)?;
                let mut rows = statement.raw_query();
                while let Some(row) = rows.next()? {
                    if !visit(&Row::Sqlite(row))? {
                        break;
                    }
                }
            }
            Statement::Postgres { client, statement } => {
                let values = values(arguments)?;
                let parameters: Vec<&(dyn postgres::types::ToSql + Sync)> = values
                    .iter()
                    .map(|value| value as &(dyn postgres::types::ToSql + Sync))
                    .collect();
                // The rows whole, so that the client is free while they are read.
                let rows = {
                    let mut client = client.borrow_mut();
                    client.before_statement()?;
                    client.client.query(statement, &parameters)?
                };
                for row in &rows {
                    if !visit(&Row::Postgres(row))? {
                        break;
                    }
                }
            }
        }
        Ok(())
    }

    /// Runs the statement and hands every row to `visit`, in order.
    pub(super) fn for_each(
        &mut self,
        arguments: &[&dyn Arg],
        visit: &mut dyn FnMut(&Row<'_>) -> Result<(), LedgerError>,
    ) -> Result<(), LedgerError> {
        self.for_each_while(arguments, &mut |row| visit(row).map(|()| true))
    }

    /// The SQLite statement underneath, for the posting loop that binds its parameters one by
    /// one; `None` on PostgreSQL.
    pub(super) fn sqlite(&mut self) -> Option<&mut rusqlite::Statement<'a>> {
        match self {
            Statement::Sqlite(statement) => Some(statement),
            Statement::Postgres { .. } => None,
        }
    }
}

/// One row of a result, on either backend.
#[derive(Clone, Copy)]
pub(super) enum Row<'a> {
    Sqlite(&'a rusqlite::Row<'a>),
    Postgres(&'a postgres::Row),
}

impl<'a> Row<'a> {
    /// A column's value converted to `T`, as `rusqlite::Row::get` converts it; a value of
    /// another type is an error naming the column. Records are read through `row::Fields`,
    /// which names the table and row too.
    pub(super) fn get<T: FromValue>(self, column: impl super::row::Column) -> Result<T, LedgerError> {
        let index = column.index(self)?;
        let value = self.value(index)?;
        T::from_value(value).ok_or_else(|| {
            LedgerError::Invalid(format!(
                "column {} holds {value:?}, not {}",
                self.column_name(index).unwrap_or("?"),
                T::EXPECTED
            ))
        })
    }

    /// The value of the `index`th column.
    pub(super) fn value(self, index: usize) -> Result<ValueRef<'a>, LedgerError> {
        match self {
            Row::Sqlite(row) => Ok(row.get_ref(index)?.into()),
            Row::Postgres(row) => postgres_value(row, index),
        }
    }

    /// The name of the `index`th column.
    pub(super) fn column_name(self, index: usize) -> Option<&'a str> {
        match self {
            Row::Sqlite(row) => row.as_ref().column_name(index).ok(),
            Row::Postgres(row) => row.columns().get(index).map(|column| column.name()),
        }
    }

    /// The index of a column, by name.
    pub(super) fn column_index(self, name: &str) -> Result<usize, LedgerError> {
        match self {
            Row::Sqlite(row) => Ok(row.as_ref().column_index(name)?),
            Row::Postgres(row) => postgres_column(row.columns(), name),
        }
    }
}

/// A type a column's value converts to with [`Row::get`].
pub(super) trait FromValue: Sized {
    const EXPECTED: &'static str;
    fn from_value(value: ValueRef<'_>) -> Option<Self>;
}

impl FromValue for i64 {
    const EXPECTED: &'static str = "a whole number";
    fn from_value(value: ValueRef<'_>) -> Option<Self> {
        match value {
            ValueRef::Integer(number) => Some(number),
            _ => None,
        }
    }
}

impl FromValue for String {
    const EXPECTED: &'static str = "text";
    fn from_value(value: ValueRef<'_>) -> Option<Self> {
        match value {
            ValueRef::Text(bytes) => String::from_utf8(bytes.to_vec()).ok(),
            _ => None,
        }
    }
}

impl FromValue for Vec<u8> {
    const EXPECTED: &'static str = "bytes";
    fn from_value(value: ValueRef<'_>) -> Option<Self> {
        match value {
            ValueRef::Blob(bytes) => Some(bytes.to_vec()),
            _ => None,
        }
    }
}

impl<T: FromValue> FromValue for Option<T> {
    const EXPECTED: &'static str = T::EXPECTED;
    fn from_value(value: ValueRef<'_>) -> Option<Self> {
        match value {
            ValueRef::Null => Some(None),
            value => T::from_value(value).map(Some),
        }
    }
}

/// The index of a PostgreSQL result column, by name.
fn postgres_column(columns: &[postgres::Column], name: &str) -> Result<usize, LedgerError> {
    columns
        .iter()
        .position(|column| column.name() == name)
        .ok_or_else(|| LedgerError::Invalid(format!("no column named {name} in the query's result")))
}

/// A PostgreSQL column's value as the store reads it: integers of any width and booleans as
/// integers, texts and blobs borrowed.
fn postgres_value(row: &postgres::Row, index: usize) -> Result<ValueRef<'_>, LedgerError> {
    use postgres::types::Type;
    let column = row
        .columns()
        .get(index)
        .ok_or_else(|| LedgerError::Invalid(format!("no column #{index} in the query's result")))?;
    let value = match *column.type_() {
        Type::INT8 => row.try_get::<_, Option<i64>>(index)?.map(ValueRef::Integer),
        Type::INT4 => row
            .try_get::<_, Option<i32>>(index)?
            .map(|n| ValueRef::Integer(n.into())),
        Type::INT2 => row
            .try_get::<_, Option<i16>>(index)?
            .map(|n| ValueRef::Integer(n.into())),
        Type::BOOL => row
            .try_get::<_, Option<bool>>(index)?
            .map(|b| ValueRef::Integer(b.into())),
        Type::FLOAT8 => row.try_get::<_, Option<f64>>(index)?.map(ValueRef::Real),
        Type::FLOAT4 => row.try_get::<_, Option<f32>>(index)?.map(|n| ValueRef::Real(n.into())),
        Type::BYTEA => row.try_get::<_, Option<&[u8]>>(index)?.map(ValueRef::Blob),
        Type::TEXT | Type::VARCHAR | Type::BPCHAR | Type::NAME | Type::UNKNOWN => row
            .try_get::<_, Option<&str>>(index)?
            .map(|text| ValueRef::Text(text.as_bytes())),
        ref other => {
            return Err(LedgerError::Invalid(format!(
                "column {} is of type {other}, which the store does not read (cast it in the query)",
                column.name()
            )));
        }
    };
    Ok(value.unwrap_or(ValueRef::Null))
}

#[cfg(test)]
mod tests {
    use super::postgres_placeholders;

    #[test]
    fn placeholders_are_rewritten_outside_quotes_only() {
        assert_eq!(
            postgres_placeholders("SELECT a FROM t WHERE b = ?1 AND c = '?2' AND \"d?\" = ?12"),
            "SELECT a FROM t WHERE b = $1 AND c = '?2' AND \"d?\" = $12"
        );
    }
}
