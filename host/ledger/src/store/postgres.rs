//! The store on PostgreSQL: connecting, the schema's version and its migrations, and the
//! transactions `Store` runs its work in. The queries are the same as on SQLite (`sql.rs`).
//!
//! - **Writers are serialised ledger-wide** by a transaction-scoped advisory lock
//!   (`pg_advisory_xact_lock`), taken first in every write. That is SQLite's one writer at a
//!   time, kept on purpose: a posting reads the chain head and the balances it then changes, an
//!   audit record the hash before it, and ids must be assigned in commit order for the chains'
//!   `ORDER BY id` walks. A lock taken by every writer makes each write see all the writes
//!   before it, whichever server process it runs in. Readers take no lock.
//! - **Reads and plugin snapshots** are `REPEATABLE READ READ ONLY` transactions: one snapshot
//!   for all their queries, as a SQLite read transaction.
//! - **Migrations run only when asked** (`migrate`, from `closebook db migrate`), under the same
//!   lock. Opening a database whose schema is older is refused with that instruction.

use super::sql::{Conn, PgClient};
use super::{Db, schema_postgres};
use crate::error::LedgerError;
use std::cell::RefCell;

/// The advisory lock every writer holds for the length of its transaction ("closebk" in ASCII).
const WRITE_LOCK: i64 = 0x0063_6c6f_7365_626b;

/// How long a writer waits for the write lock before it gives up with [`LedgerError::Busy`].
const LOCK_TIMEOUT: &str = "30s";

/// Whether `location` (a `--db` value) names a PostgreSQL database rather than a SQLite file.
pub fn is_postgres_location(location: &str) -> bool {
    location.starts_with("postgres://") || location.starts_with("postgresql://")
}

/// The URL as messages show it: without its password.
pub fn redacted(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    match authority.rsplit_once('@') {
        Some((credentials, host)) => match credentials.split_once(':') {
            Some((user, _password)) => format!("{scheme}://{user}:***@{host}{path}"),
            None => url.to_owned(),
        },
        None => url.to_owned(),
    }
}

/// Connects to `url` and sets the session up: the lock timeout, and (for tests) a search path.
fn connect(url: &str) -> Result<PgClient, LedgerError> {
    let mut client = postgres::Client::connect(url, postgres::NoTls).map_err(|source| LedgerError::OpenPostgres {
        url: redacted(url),
        source,
    })?;
    client.batch_execute(&format!("SET lock_timeout = '{LOCK_TIMEOUT}'"))?;
    Ok(PgClient::new(client))
}

/// The schema version the database holds: 0 when it holds no closebook schema.
fn schema_version(client: &mut impl postgres::GenericClient) -> Result<i64, LedgerError> {
    let row = client.query_one("SELECT to_regclass('schema_migrations') IS NOT NULL", &[])?;
    if !row.get::<_, bool>(0) {
        return Ok(0);
    }
    let row = client.query_one("SELECT COALESCE(MAX(version), 0) FROM schema_migrations", &[])?;
    Ok(row.get::<_, i64>(0))
}

/// Opens the database at `url`, which must hold this build's schema.
pub(super) fn open(url: &str) -> Result<RefCell<PgClient>, LedgerError> {
    let mut client = connect(url)?;
    let found = schema_version(&mut client.client)?;
    let needed = schema_postgres::MIGRATIONS.len() as i64;
    if found > needed {
        return Err(LedgerError::NewerSchema {
            found,
            supported: needed,
        });
    }
    if found < needed {
        return Err(LedgerError::UnmigratedPostgres {
            url: redacted(url),
            found,
            needed,
        });
    }
    Ok(RefCell::new(client))
}

/// Brings the database at `url` to this build's schema, in one transaction under the write
/// lock. Returns the versions before and after.
pub fn migrate(url: &str) -> Result<(i64, i64), LedgerError> {
    let mut client = connect(url)?;
    migrate_client(&mut client.client)
}

fn migrate_client(client: &mut postgres::Client) -> Result<(i64, i64), LedgerError> {
    let mut transaction = client.transaction()?;
    transaction.execute("SELECT pg_advisory_xact_lock($1)", &[&WRITE_LOCK])?;
    transaction.batch_execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations (version BIGINT PRIMARY KEY, applied_at TEXT NOT NULL)",
    )?;
    let applied = schema_version(&mut transaction)?;
    let known = schema_postgres::MIGRATIONS.len() as i64;
    if applied > known {
        return Err(LedgerError::NewerSchema {
            found: applied,
            supported: known,
        });
    }
    for (index, migration) in schema_postgres::MIGRATIONS.iter().enumerate().skip(applied as usize) {
        transaction.batch_execute(migration)?;
        transaction.execute(
            "INSERT INTO schema_migrations (version, applied_at) VALUES ($1, $2)",
            &[&(index as i64 + 1), &crate::now_text()],
        )?;
    }
    transaction.commit()?;
    Ok((applied, known))
}

/// A store of its own for one test: a new PostgreSQL schema in the database at `url`, migrated,
/// and made the connection's search path. Tests run side by side, each in its own schema.
pub(super) fn open_test_schema(url: &str) -> Result<RefCell<PgClient>, LedgerError> {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let mut client = connect(url)?;
    let schema = format!(
        "closebook_test_{}_{}",
        std::process::id(),
        NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    );
    client.client.batch_execute(&format!(
        "DROP SCHEMA IF EXISTS {schema} CASCADE; CREATE SCHEMA {schema}; SET search_path TO {schema}"
    ))?;
    migrate_client(&mut client.client)?;
    Ok(RefCell::new(client))
}

/// How a transaction begins.
#[derive(Clone, Copy)]
pub(super) enum Begin {
    /// A write: the ledger's write lock, then each statement sees every write committed before.
    Write,
    /// A read: one snapshot for all its statements; a write in it is refused.
    Read,
}

impl Begin {
    fn sql(self) -> String {
        match self {
            Begin::Write => format!("BEGIN ISOLATION LEVEL READ COMMITTED; SELECT pg_advisory_xact_lock({WRITE_LOCK})"),
            Begin::Read => "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY".to_owned(),
        }
    }
}

/// Runs `work` in a transaction, committed only when it returns Ok and rolled back otherwise.
pub(super) fn transaction<T>(
    client: &RefCell<PgClient>,
    begin: Begin,
    work: impl FnOnce(&Db<'_>) -> Result<T, LedgerError>,
) -> Result<T, LedgerError> {
    client.borrow_mut().client.batch_execute(&begin.sql())?;
    let value = work(&Db {
        connection: Conn::Postgres(client),
    });
    match value {
        Ok(value) => {
            client.borrow_mut().client.batch_execute("COMMIT")?;
            Ok(value)
        }
        Err(error) => {
            tracing::debug!(error = %error, "transaction rolled back");
            // A failed rollback leaves the connection unusable; the caller's error says why.
            let _ = client.borrow_mut().client.batch_execute("ROLLBACK");
            Err(error)
        }
    }
}

/// Begins the read transaction a snapshot holds until it is dropped, fixing its snapshot with a
/// first read.
pub(super) fn begin_snapshot(client: &RefCell<PgClient>) -> Result<(), LedgerError> {
    let mut client = client.borrow_mut();
    client.client.batch_execute(&Begin::Read.sql())?;
    client.client.query_one("SELECT COUNT(*) FROM ledger_heads", &[])?;
    Ok(())
}

/// Ends every statement of this session that runs past `deadline`: PostgreSQL's
/// `statement_timeout`, set to the time left. (SQLite's progress handler ends the whole run at
/// the deadline; here each statement is bounded by the time left when it starts.)
pub(super) fn interrupt_at(client: &RefCell<PgClient>, deadline: std::time::Instant) -> Result<(), LedgerError> {
    let left = deadline.saturating_duration_since(std::time::Instant::now());
    let milliseconds = left.as_millis().max(1);
    client
        .borrow_mut()
        .client
        .batch_execute(&format!("SET statement_timeout = {milliseconds}"))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::redacted;

    #[test]
    fn a_url_is_shown_without_its_password() {
        assert_eq!(
            redacted("postgres://alice:s3cret@db.example:5432/ledger"),
            "postgres://alice:***@db.example:5432/ledger"
        );
        assert_eq!(redacted("postgres://alice@db/ledger"), "postgres://alice@db/ledger");
        assert_eq!(
            redacted("postgresql://closebook@%2Ftmp%2Fpg:5432/closebook"),
            "postgresql://closebook@%2Ftmp%2Fpg:5432/closebook"
        );
    }
}
