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

/// The URL of a `--db` that names a PostgreSQL database; `None` for a SQLite file.
pub fn url_of(location: &std::path::Path) -> Option<&str> {
    location.to_str().filter(|text| is_postgres_location(text))
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

/// What `grant_application_role` granted: the tables the role may change, and those it may
/// only read and add to.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Grants {
    pub changeable: Vec<String>,
    pub append_only: Vec<String>,
}

/// Grants `role` (which must exist: the database administrator creates it, with its password
/// or certificate) what closebook needs and no more, in the schema of the database at `url`:
/// SELECT and INSERT on every table and its identity sequences; UPDATE and DELETE only on the
/// tables closebook changes (drafts, close tasks, maintained balances, sessions…); on the
/// append-only ones (entries, lines, settlements, the audit trail, the close's history,
/// checkpoints, reconciliation records) UPDATE, DELETE and TRUNCATE are revoked. The role owns
/// nothing, so it cannot drop or disable the triggers either: posted data is append-only for it
/// twice over. Run again after a migration that adds tables.
/// Creates the login role `role` (no password) unless it exists; says whether it created it.
pub fn create_role(url: &str, role: &str) -> Result<bool, LedgerError> {
    let mut client = connect(url)?.client;
    let exists = client
        .query_one("SELECT EXISTS (SELECT FROM pg_roles WHERE rolname = $1)", &[&role])?
        .get::<_, bool>(0);
    if exists {
        return Ok(false);
    }
    let quoted_role = format!("\"{}\"", role.replace('"', "\"\""));
    client
        .batch_execute(&format!("CREATE ROLE {quoted_role} LOGIN"))
        .map_err(|error| match error.as_db_error() {
            Some(db) if db.code() == &postgres::error::SqlState::INSUFFICIENT_PRIVILEGE => LedgerError::Invalid(format!(
                "{} may not create roles: run db init as a role with CREATEROLE, or have your DBA run CREATE ROLE {role} LOGIN and then `closebook db migrate --app-role {role}`",
                connected_user(url)
            )),
            _ => error.into(),
        })?;
    Ok(true)
}

/// The user a URL connects as, for messages.
fn connected_user(url: &str) -> String {
    url.split_once("://")
        .and_then(|(_, rest)| rest.split_once('@'))
        .map(|(credentials, _)| credentials.split(':').next().unwrap_or(credentials).to_owned())
        .filter(|user| !user.is_empty())
        .unwrap_or_else(|| "this user".to_owned())
}

pub fn grant_application_role(url: &str, role: &str) -> Result<Grants, LedgerError> {
    let mut client = connect(url)?.client;
    let mut transaction = client.transaction()?;
    let exists = transaction
        .query_one("SELECT EXISTS (SELECT FROM pg_roles WHERE rolname = $1)", &[&role])?
        .get::<_, bool>(0);
    if !exists {
        return Err(LedgerError::Invalid(format!(
            "there is no PostgreSQL role {role}: create it first (CREATE ROLE {role} LOGIN PASSWORD '…'), then grant it"
        )));
    }
    let schema: String = transaction.query_one("SELECT current_schema()::text", &[])?.get(0);
    let append_only: std::collections::BTreeSet<String> = transaction
        .query(
            "SELECT DISTINCT event_object_table::text FROM information_schema.triggers
             WHERE trigger_schema = $1 AND trigger_name LIKE '%\\_no\\_update'",
            &[&schema],
        )?
        .iter()
        .map(|row| row.get(0))
        .collect();
    let quoted_role = format!("\"{}\"", role.replace('"', "\"\""));
    // UPDATE on the sequences is `setval`: a large import or a close's settlements reserve
    // their ids with one call (`Conn::reserve_ids`). Moving a sequence can only make gaps or
    // make inserts fail on the primary key, never change a row.
    transaction.batch_execute(&format!(
        "GRANT USAGE ON SCHEMA \"{schema}\" TO {quoted_role};
         GRANT SELECT, INSERT ON ALL TABLES IN SCHEMA \"{schema}\" TO {quoted_role};
         GRANT USAGE, SELECT, UPDATE ON ALL SEQUENCES IN SCHEMA \"{schema}\" TO {quoted_role};"
    ))?;
    let mut grants = Grants::default();
    for table in tables().into_iter().chain(["schema_migrations"]) {
        if append_only.contains(table) {
            transaction.batch_execute(&format!(
                "REVOKE UPDATE, DELETE, TRUNCATE ON \"{schema}\".{table} FROM {quoted_role}"
            ))?;
            grants.append_only.push(table.to_owned());
        } else if table == "schema_migrations" {
            // Only `closebook db migrate`, as the owner, changes the schema's version.
            transaction.batch_execute(&format!(
                "REVOKE INSERT, UPDATE, DELETE, TRUNCATE ON \"{schema}\".{table} FROM {quoted_role}"
            ))?;
        } else {
            transaction.batch_execute(&format!(
                "GRANT UPDATE, DELETE ON \"{schema}\".{table} TO {quoted_role}"
            ))?;
            grants.changeable.push(table.to_owned());
        }
    }
    transaction.commit()?;
    Ok(grants)
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

/// A copy of a PostgreSQL ledger for a dry run: a schema of its own in the same database, made
/// by this build's migrations and filled with the ledger's rows, which a dry run posts into so
/// that the ledger itself is left as it was. Dropped (with everything in it) when this is.
pub struct DryRunCopy {
    /// The URL of the copy: the ledger's, with the copy's schema as its search path.
    url: String,
    /// The ledger's URL, through which the copy is dropped.
    ledger: String,
    schema: String,
}

impl DryRunCopy {
    /// Copies the ledger at `url` (its current schema, `public` unless the URL says otherwise).
    /// The copy is one consistent snapshot (REPEATABLE READ) of the ledger.
    pub fn create(url: &str) -> Result<Self, LedgerError> {
        let mut client = connect(url)?.client;
        let schema = format!(
            "closebook_dry_run_{}_{}",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |elapsed| elapsed.as_nanos())
        );
        let mut transaction = client
            .build_transaction()
            .isolation_level(postgres::IsolationLevel::RepeatableRead)
            .start()?;
        let source: String = transaction.query_one("SELECT current_schema()", &[])?.get(0);
        transaction.batch_execute(&format!(
            "CREATE SCHEMA {schema}; SET LOCAL search_path TO {schema};
             CREATE TABLE schema_migrations (version BIGINT PRIMARY KEY, applied_at TEXT NOT NULL)"
        ))?;
        for migration in schema_postgres::MIGRATIONS {
            transaction.batch_execute(migration)?;
        }
        for table in tables() {
            let columns: Vec<String> = transaction
                .query(
                    "SELECT column_name::text FROM information_schema.columns
                     WHERE table_schema = $1 AND table_name = $2 ORDER BY ordinal_position",
                    &[&schema, &table],
                )?
                .iter()
                .map(|row| format!("\"{}\"", row.get::<_, String>(0)))
                .collect();
            let columns = columns.join(", ");
            // ON CONFLICT: rows the migrations seed (the empty dimension set) are there already.
            transaction.batch_execute(&format!(
                "INSERT INTO {schema}.{table} ({columns}) OVERRIDING SYSTEM VALUE
                 SELECT {columns} FROM \"{source}\".{table} ON CONFLICT DO NOTHING"
            ))?;
        }
        reset_identities(&mut transaction, Some(&schema))?;
        transaction.execute(
            "INSERT INTO schema_migrations (version, applied_at) VALUES ($1, $2)",
            &[&(schema_postgres::MIGRATIONS.len() as i64), &crate::now_text()],
        )?;
        transaction.commit()?;
        Ok(Self {
            url: with_search_path(url, &schema),
            ledger: url.to_owned(),
            schema,
        })
    }

    /// The copy's URL, for `--db`.
    pub fn url(&self) -> &str {
        &self.url
    }
}

impl Drop for DryRunCopy {
    fn drop(&mut self) {
        // The schema's triggers refuse DELETE and TRUNCATE, not DROP.
        let dropped = connect(&self.ledger).and_then(|mut client| {
            Ok(client
                .client
                .batch_execute(&format!("DROP SCHEMA {} CASCADE", self.schema))?)
        });
        if let Err(error) = dropped {
            tracing::warn!(schema = %self.schema, error = %error, "the dry run's copy could not be dropped; drop it by hand");
        }
    }
}

/// Sets each identity column of `schema` (the session's current one when `None`) to go on from
/// its table's largest value: after rows were copied in with their ids.
pub(super) fn reset_identities(
    client: &mut impl postgres::GenericClient,
    schema: Option<&str>,
) -> Result<(), LedgerError> {
    let schema = match schema {
        Some(schema) => schema.to_owned(),
        None => client.query_one("SELECT current_schema()::text", &[])?.get(0),
    };
    for row in client.query(
        "SELECT table_name::text, column_name::text FROM information_schema.columns
         WHERE table_schema = $1 AND is_identity = 'YES'",
        &[&schema],
    )? {
        let (table, column): (String, String) = (row.get(0), row.get(1));
        client.batch_execute(&format!(
            "SELECT setval(pg_get_serial_sequence('{schema}.{table}', '{column}'),
                           COALESCE((SELECT MAX({column}) FROM {schema}.{table}), 0) + 1, false)"
        ))?;
    }
    Ok(())
}

/// `url` with `schema` as its sessions' search path (`options=-c search_path=…`).
fn with_search_path(url: &str, schema: &str) -> String {
    let separator = if url.contains('?') { '&' } else { '?' };
    format!("{url}{separator}options=-c%20search_path%3D{schema}")
}

/// The schema's tables in the order its migrations create them: each after the tables its
/// foreign keys name.
pub(super) fn tables() -> Vec<&'static str> {
    schema_postgres::MIGRATIONS
        .iter()
        .flat_map(|migration| migration.split("CREATE TABLE ").skip(1))
        .filter_map(|rest| rest.split([' ', '(']).next())
        .filter(|name| !name.is_empty())
        .collect()
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
            let _commit = tracing::debug_span!("ledger.commit").entered();
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

/// Ends every statement of this session that would run past `deadline` (see
/// `PgClient::set_deadline`).
pub(super) fn interrupt_at(client: &RefCell<PgClient>, deadline: std::time::Instant) -> Result<(), LedgerError> {
    client.borrow_mut().set_deadline(deadline);
    Ok(())
}

/// The advisory lock keys' first half for [`hold_named_lock`]: a key space of its own, apart
/// from the write lock's single-number key.
const NAMED_LOCK_CLASS: i32 = 0x636c_6f73; // "clos"

/// Takes the session-level advisory lock named `name` on a connection of its own, which holds
/// it until it is closed: when the holder drops it, or when its process dies (the server sees
/// the connection go). Calls `waiting` once first when another session holds it, then waits
/// without limit.
pub(super) fn hold_named_lock(url: &str, name: &str, waiting: impl FnOnce()) -> Result<postgres::Client, LedgerError> {
    let mut client = connect(url)?.client;
    client.batch_execute("SET lock_timeout = 0")?;
    let taken: bool = client
        .query_one(
            "SELECT pg_try_advisory_lock($1, hashtext($2))",
            &[&NAMED_LOCK_CLASS, &name],
        )?
        .get(0);
    if !taken {
        waiting();
        client.execute("SELECT pg_advisory_lock($1, hashtext($2))", &[&NAMED_LOCK_CLASS, &name])?;
    }
    Ok(client)
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
