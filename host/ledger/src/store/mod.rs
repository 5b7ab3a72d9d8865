//! The SQLite store: the only place with SQL. One file, WAL mode, versioned migrations applied
//! on open. Every change runs in an IMMEDIATE transaction (`Store::write`) so that a writer
//! takes the lock before it reads what it will change, and a crash leaves either all of a
//! change or none of it.
//!
//! This file holds the plumbing: opening and migrating the file, transactions, snapshots. The
//! queries live with their concept, each file one `impl Db` block with its SQL and its row
//! mapping (`row.rs` reads columns by name and refuses corrupt values): `entity`, `account`,
//! `calendar`, `period` (status and module access), `currency`, `dimension`, `user`, `rate`,
//! `draft`, `entry`, `line`, `balance`, `settlement`, `step_run`, `close_task`, `audit`, and
//! `posting` (writing entries with their hash chain) with `balance_update` (the maintained
//! balances it changes).

mod account;
mod approval;
mod audit;
mod balance;
mod balance_update;
mod calendar;
mod checkpoint;
mod close_task;
mod control_log;
pub mod copy;
mod credential;
mod currency;
mod dimension;
mod draft;
mod entity;
mod entry;
mod finding;
mod identity;
mod line;
mod period;
pub mod postgres;
mod posting;
mod rate;
mod reconcile;
mod recurring;
mod row;
mod schema;
mod schema_postgres;
mod settlement;
pub(crate) mod sql;
mod step_run;
#[cfg(test)]
mod test_support;
mod user;

pub use approval::{ApprovalAction, ApprovalEvent, ApprovalRule};
pub use audit::AuditRecord;
pub use balance::{AccountRows, BalanceRecord, BalanceView};
pub use calendar::PeriodsVersion;
pub use checkpoint::{CheckpointScope, NewCheckpoint, VerifyCheckpoint};
pub use close_task::{CloseTaskRecord, TaskEvent};
pub use credential::{ApiToken, WebSession};
pub use draft::{Draft, ExistingKey};
pub use entry::LaterEntry;
pub use finding::{FindingExplanation, FindingKey, FindingRecord, FindingTask};
pub use line::LineRecord;
pub use posting::{Posted, PostingBatch, PostingStatements, StagedEntry, Stager};
pub use reconcile::{
    Evidence, IndependentBalance, IndependentKind, ItemClearing, NewIndependentBalance, NewReconcilingItem,
    ReconcileScope, ReconciliationRule, ReconciliationSignoff, ReconcilingItem, SignoffAction, StatementLine,
};
pub use schema::REWIND_TO_VERSION_3;
pub use settlement::{NewSettlement, SettlementLine};
pub use step_run::{RUN_ID_SUFFIX_MAX, StepRunRecord};

use crate::error::LedgerError;
use rusqlite::{Connection, OpenFlags, TransactionBehavior, params};
use std::path::Path;
use std::time::Duration;

/// How long a writer waits for another process's transaction before giving up with a clear
/// message instead of "database is locked".
pub const BUSY_TIMEOUT_MS: u64 = 30_000;

/// Rows one report query may return: a bound on memory for a runaway query.
pub const QUERY_ROWS_MAX: usize = 5_000_000;

/// A lock on a name within one ledger, held across processes while it lives and let go when
/// it is dropped or its process ends (a killed process never leaves it taken): an OS file lock
/// on a file beside a SQLite ledger, a session-level advisory lock on a connection of its own
/// for PostgreSQL. What it guards is the caller's; `closebook close run` takes one per close
/// and period, so that two runs of the same close never run a step twice.
pub struct NamedLock {
    _holder: NamedLockHolder,
}

/// Held for its `Drop` only: closing the file or the connection lets the lock go.
#[expect(dead_code, reason = "the holders are never read, only dropped")]
enum NamedLockHolder {
    File(std::fs::File),
    Postgres(Box<::postgres::Client>),
}

impl NamedLock {
    /// Takes the lock `name` of the ledger at `location`; when another process holds it, calls
    /// `waiting` once and waits for it.
    pub fn acquire(location: &Path, name: &str, waiting: impl FnOnce()) -> Result<Self, LedgerError> {
        if let Some(url) = postgres::url_of(location) {
            let client = postgres::hold_named_lock(url, name, waiting)?;
            return Ok(Self {
                _holder: NamedLockHolder::Postgres(Box::new(client)),
            });
        }
        use sha2::Digest as _;
        let digest = hex::encode(sha2::Sha256::digest(name.as_bytes()));
        let mut file_name = location.file_name().unwrap_or_default().to_os_string();
        file_name.push(format!(".lock-{}", &digest[..16]));
        let path = location.with_file_name(file_name);
        let io = |source| LedgerError::Io {
            path: path.display().to_string(),
            source,
        };
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(io)?;
        match file.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => {
                waiting();
                file.lock().map_err(io)?;
            }
            Err(std::fs::TryLockError::Error(error)) => return Err(io(error)),
        }
        Ok(Self {
            _holder: NamedLockHolder::File(file),
        })
    }
}

/// A ledger's database: a SQLite file (the default), or a PostgreSQL database (issue 22).
pub struct Store {
    backend: Backend,
}

enum Backend {
    Sqlite(Connection),
    Postgres(std::cell::RefCell<sql::PgClient>),
}

impl Backend {
    fn conn(&self) -> sql::Conn<'_> {
        match self {
            Backend::Sqlite(connection) => sql::Conn::Sqlite(connection),
            Backend::Postgres(client) => sql::Conn::Postgres(client),
        }
    }
}

/// A connection inside a transaction (or a plain read): all queries hang off it.
pub struct Db<'a> {
    connection: sql::Conn<'a>,
}

/// A read transaction held open for as long as a close step runs: every query through it sees
/// the ledger as it was when the snapshot was taken, whatever other processes post meanwhile.
pub struct Snapshot {
    backend: Backend,
}

/// SQLite virtual-machine instructions between two checks of a snapshot's deadline. A check
/// reads the clock (tens of nanoseconds) and an instruction takes about as long, so checks cost
/// a few percent at most; a thousand instructions run in well under a millisecond. SQLite counts
/// a prepared statement's instructions over all its executions, so a loop of many short
/// statements is checked as often as one long statement.
const SNAPSHOT_DEADLINE_CHECK_INSTRUCTIONS: i32 = 1_000;

impl Snapshot {
    pub fn db(&self) -> Db<'_> {
        Db {
            connection: self.backend.conn(),
        }
    }

    /// Interrupts every query on this snapshot that is still running at `deadline`, and refuses
    /// every query started after it: such a query fails with SQLite's "interrupted" error. This
    /// is how a plugin run's wall-time limit reaches into a long ledger query. (On PostgreSQL,
    /// each statement is bounded by the time left when this is called: `statement_timeout`.)
    pub fn interrupt_at(&self, deadline: std::time::Instant) -> Result<(), LedgerError> {
        match &self.backend {
            Backend::Sqlite(connection) => {
                connection.progress_handler(
                    SNAPSHOT_DEADLINE_CHECK_INSTRUCTIONS,
                    Some(move || std::time::Instant::now() >= deadline),
                );
                Ok(())
            }
            Backend::Postgres(client) => postgres::interrupt_at(client, deadline),
        }
    }
}

impl Store {
    /// Opens (or creates) the ledger file and brings its schema up to date.
    ///
    /// A file whose permissions allow nobody to write (`chmod a-w`) is opened read-only by
    /// SQLite itself: reports and `verify` work, and every write is refused with
    /// [`LedgerError::ReadOnly`] — for root too, whom file permissions alone would not stop.
    ///
    /// A `path` that is a `postgres://` or `postgresql://` URL opens that PostgreSQL database
    /// instead, which must already hold this build's schema (`closebook db migrate`).
    pub fn open(path: &Path) -> Result<Self, LedgerError> {
        if let Some(url) = postgres::url_of(path) {
            return Ok(Self {
                backend: Backend::Postgres(postgres::open(url)?),
            });
        }
        let read_only = std::fs::metadata(path).is_ok_and(|metadata| metadata.permissions().readonly());
        let flags = if read_only {
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_URI | OpenFlags::SQLITE_OPEN_NO_MUTEX
        } else {
            OpenFlags::default()
        };
        let connection = Connection::open_with_flags(path, flags).map_err(|source| LedgerError::Open {
            path: path.display().to_string(),
            source,
        })?;
        let store = Self::configure(connection, read_only.then_some(path))?;
        Ok(store)
    }

    /// An in-memory store, for tests: or, when [`TEST_POSTGRES_ENV`] names a PostgreSQL
    /// database, a new schema of its own in that database, so that the same tests run on both.
    pub fn open_in_memory() -> Result<Self, LedgerError> {
        if let Ok(url) = std::env::var(TEST_POSTGRES_ENV) {
            return Ok(Self {
                backend: Backend::Postgres(postgres::open_test_schema(&url)?),
            });
        }
        Self::configure(Connection::open_in_memory()?, None)
    }

    /// Configures a fresh connection: migrates it, or, for a file opened read-only
    /// (`read_only_path`), checks that it already has this build's schema.
    fn configure(mut connection: Connection, read_only_path: Option<&Path>) -> Result<Self, LedgerError> {
        connection.busy_timeout(Duration::from_millis(BUSY_TIMEOUT_MS))?;
        connection.set_prepared_statement_cache_capacity(PREPARED_STATEMENTS_CACHED);
        if let Some(pages) = max_pages_from_environment()? {
            // SQLite never lowers the limit below the file's current size.
            let _limit: i64 =
                connection.query_row(&format!("PRAGMA max_page_count = {pages}"), [], |row| row.get(0))?;
        }
        if let Some(path) = read_only_path {
            connection.execute_batch("PRAGMA foreign_keys = ON;")?;
            check_schema_read_only(&connection, path)?;
            return Ok(Self {
                backend: Backend::Sqlite(connection),
            });
        }
        // WAL lets readers (reports, plugin snapshots) run while one writer posts.
        let _mode: String = connection.query_row("PRAGMA journal_mode = WAL", [], |row| row.get(0))?;
        connection.execute_batch("PRAGMA foreign_keys = ON; PRAGMA synchronous = NORMAL;")?;
        migrate(&mut connection)?;
        Ok(Self {
            backend: Backend::Sqlite(connection),
        })
    }

    /// Runs `work` in an IMMEDIATE transaction, committed only when it returns Ok.
    pub fn write<T>(&mut self, work: impl FnOnce(&Db<'_>) -> Result<T, LedgerError>) -> Result<T, LedgerError> {
        let _write = tracing::debug_span!("ledger.write").entered();
        let connection = match &mut self.backend {
            Backend::Sqlite(connection) => connection,
            Backend::Postgres(client) => return postgres::transaction(client, postgres::Begin::Write, work),
        };
        let transaction = connection
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(busy_error)?;
        let value = work(&Db {
            connection: sql::Conn::Sqlite(&transaction),
        })
        .inspect_err(|error| tracing::debug!(error = %error, "transaction rolled back"))?;
        let _commit = tracing::debug_span!("ledger.commit").entered();
        transaction.commit().map_err(busy_error)?;
        Ok(value)
    }

    /// Runs `work` in a read transaction: every query inside sees one consistent snapshot.
    pub fn read<T>(&mut self, work: impl FnOnce(&Db<'_>) -> Result<T, LedgerError>) -> Result<T, LedgerError> {
        let _read = tracing::trace_span!("ledger.read").entered();
        let connection = match &mut self.backend {
            Backend::Sqlite(connection) => connection,
            Backend::Postgres(client) => return postgres::transaction(client, postgres::Begin::Read, work),
        };
        let transaction = connection.transaction_with_behavior(TransactionBehavior::Deferred)?;
        let value = work(&Db {
            connection: sql::Conn::Sqlite(&transaction),
        })?;
        transaction.commit()?;
        Ok(value)
    }

    /// Runs `work`, which usually only reads but sometimes writes (the close's stale marks when
    /// a board is read), without taking the write lock when it only reads: first in a deferred
    /// transaction, which takes the lock only at its first write; when that upgrade cannot be
    /// had (another writer holds the lock, or committed since this snapshot began), `work` runs
    /// again from the start in an IMMEDIATE transaction, as [`Store::write`]. So readers never
    /// queue behind one another or behind a long writer just to find nothing to write.
    pub fn write_when_needed<T>(&mut self, work: impl Fn(&Db<'_>) -> Result<T, LedgerError>) -> Result<T, LedgerError> {
        let postgres = matches!(self.backend, Backend::Postgres(_));
        match self.read(&work) {
            // PostgreSQL refuses a write in a read-only transaction.
            Err(LedgerError::ReadOnly) if postgres => {
                tracing::debug!("the read found something to write and waits for the write lock");
                self.write(work)
            }
            Err(LedgerError::Sqlite(error))
                if matches!(
                    error.sqlite_error_code(),
                    Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked)
                ) =>
            {
                tracing::debug!("the read found something to write and waits for the write lock");
                self.write(work)
            }
            other => other,
        }
    }

    /// The raw connection, for tests that manage their own transaction or change the file
    /// behind the store's back.
    #[cfg(test)]
    pub fn connection(&mut self) -> &mut Connection {
        match &mut self.backend {
            Backend::Sqlite(connection) => connection,
            Backend::Postgres(_) => panic!("a test asked for the SQLite connection of a PostgreSQL store"),
        }
    }

    /// Runs `sql` on the database as someone with `sqlite3` or `psql` would: behind closebook's
    /// back, with the append-only triggers gone (dropped on SQLite, disabled on PostgreSQL).
    /// For the tests that prove `verify` finds such changes.
    #[cfg(test)]
    pub fn tamper(&mut self, sql: &str) -> Result<(), LedgerError> {
        match &mut self.backend {
            Backend::Sqlite(connection) => {
                let triggers: Vec<String> = connection
                    .prepare("SELECT name FROM sqlite_master WHERE type = 'trigger'")?
                    .query_map([], |row| row.get(0))?
                    .collect::<Result<_, _>>()?;
                for trigger in triggers {
                    connection.execute_batch(&format!("DROP TRIGGER \"{trigger}\""))?;
                }
                connection.execute_batch(sql)?;
            }
            Backend::Postgres(client) => client.get_mut().client.batch_execute(&format!(
                "DO $$ DECLARE t record; BEGIN
                     FOR t IN SELECT DISTINCT event_object_table AS name FROM information_schema.triggers
                              WHERE trigger_schema = current_schema() LOOP
                         EXECUTE format('ALTER TABLE %I DISABLE TRIGGER USER', t.name);
                     END LOOP;
                 END $$; {sql}"
            ))?,
        }
        Ok(())
    }

    /// PostgreSQL: refreshes the planner's statistics of the tables that grow with the ledger,
    /// after a write that grew them a lot (a large import, a copy). Without them, the first
    /// close after an import of 200,000 entries took 16 s instead of 1 s: the planner, still
    /// believing the tables small, scanned them whole (measured by `closebook-bench
    /// postgres`). Autovacuum would do the same, but only some time later. A role that does not
    /// own the tables (an application role) is skipped by PostgreSQL with a warning, and
    /// autovacuum's statistics are what it has. Nothing to do on SQLite, whose planner does
    /// not depend on gathered statistics here.
    pub fn refresh_statistics(&mut self) -> Result<(), LedgerError> {
        let Backend::Postgres(client) = &self.backend else {
            return Ok(());
        };
        let _analyze = tracing::info_span!("ledger.analyze").entered();
        client.borrow_mut().client.batch_execute(
            "ANALYZE entries, lines, balances, account_balances, dimension_sets, settlements, settlement_lines",
        )?;
        Ok(())
    }

    /// Whether this store is a PostgreSQL database (for tests that reach behind the store).
    pub fn is_postgres(&self) -> bool {
        matches!(self.backend, Backend::Postgres(_))
    }

    /// Turns this store into a snapshot: a read transaction that starts now and lasts until
    /// the snapshot is dropped. (WAL mode lets writers go on meanwhile.)
    pub fn into_snapshot(self) -> Result<Snapshot, LedgerError> {
        match &self.backend {
            Backend::Sqlite(connection) => {
                connection.execute_batch("BEGIN DEFERRED")?;
                // The snapshot is fixed at the first read, so read now.
                let _heads: i64 = connection.query_row("SELECT COUNT(*) FROM ledger_heads", [], |row| row.get(0))?;
            }
            Backend::Postgres(client) => postgres::begin_snapshot(client)?,
        }
        Ok(Snapshot { backend: self.backend })
    }

    /// Wraps a connection the caller already holds in a transaction (tests that read outside
    /// `read` and `write`).
    #[cfg(test)]
    pub fn db(connection: &Connection) -> Db<'_> {
        Db {
            connection: sql::Conn::Sqlite(connection),
        }
    }
}

/// Copies a ledger file, consistently, to a new file (`VACUUM INTO`): the copy a dry run works
/// on, so that the real file is left byte for byte as it was.
pub fn copy_database(from: &Path, to: &Path) -> Result<(), LedgerError> {
    let connection =
        Connection::open_with_flags(from, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY).map_err(|source| {
            LedgerError::Open {
                path: from.display().to_string(),
                source,
            }
        })?;
    connection.execute("VACUUM INTO ?1", [to.display().to_string()])?;
    Ok(())
}

fn busy_error(error: rusqlite::Error) -> LedgerError {
    match error.sqlite_error_code() {
        Some(rusqlite::ErrorCode::DatabaseBusy) | Some(rusqlite::ErrorCode::DatabaseLocked) => LedgerError::Busy,
        _ => LedgerError::from(error),
    }
}

/// Refuses a ledger file that does not exist or is empty (0 bytes), for the commands that need
/// an existing ledger. SQLite would take either as a new, empty database and create the schema
/// in it, so a mistyped `--db` or a file truncated to nothing would read as a ledger with no
/// entities, and a write would start a second ledger beside the real one. Only the command
/// that creates a ledger (`setup apply`) opens such a file. Other errors reading the file's
/// metadata are left to the open, which names them.
pub fn require_ledger_file(path: &Path) -> Result<(), LedgerError> {
    // A PostgreSQL database is checked when it is opened: its schema must be there.
    if postgres::url_of(path).is_some() {
        return Ok(());
    }
    match std::fs::metadata(path) {
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Err(LedgerError::MissingLedger {
            path: path.display().to_string(),
        }),
        Ok(metadata) if metadata.is_file() && metadata.len() == 0 => Err(LedgerError::EmptyLedger {
            path: path.display().to_string(),
        }),
        _ => Ok(()),
    }
}

/// Prepared statements each connection keeps. The store prepares about eighty distinct queries
/// (`prepare_cached`); with rusqlite's default of 16, a connection that imports, reads boards
/// and signs off in turn (a pooled server connection) evicts and parses them again all the
/// time: a fifth of the server's time under the mixed load, in SQLite's parser.
const PREPARED_STATEMENTS_CACHED: usize = 256;

/// The environment variable that makes the tests' stores (`Store::open_in_memory`) PostgreSQL
/// schemas in the database it names, instead of in-memory SQLite databases.
pub const TEST_POSTGRES_ENV: &str = "CLOSEBOOK_TEST_POSTGRES";

/// The schema version this build writes and needs: the number of its migrations.
pub const SCHEMA_VERSION: usize = schema::MIGRATIONS.len();

/// The schema version this closebook migrates a PostgreSQL database to (`closebook db migrate`).
pub const POSTGRES_SCHEMA_VERSION: usize = schema_postgres::MIGRATIONS.len();

/// The environment variable that caps the ledger file's size, in database pages (SQLite's
/// `max_page_count`). It exists to simulate a full disk: the bad-input tests set it to just
/// above the file's size and prove that a write which outgrows it is refused whole.
pub const MAX_PAGES_ENV: &str = "CLOSEBOOK_MAX_PAGES";

fn max_pages_from_environment() -> Result<Option<u64>, LedgerError> {
    let Ok(text) = std::env::var(MAX_PAGES_ENV) else {
        return Ok(None);
    };
    text.trim().parse::<u64>().map(Some).map_err(|_| {
        LedgerError::Invalid(format!(
            "{MAX_PAGES_ENV} is `{text}`: give a whole number of database pages, or unset it"
        ))
    })
}

/// A read-only store cannot migrate: it must already have this build's schema.
///
/// A file of an older schema is refused whole, naming its version and the fix, rather than
/// served: this build's queries assume its schema (reports read `account_balances`, migration
/// 4; the close board reads `close_tasks.signoff_sequences`, migration 5, and `run_sequences`, 6), so serving some
/// reads and failing others with a missing table would leave a user guessing which command
/// works. One writable open migrates the file in a single transaction, after which every
/// read works on it read-only again. A file with no schema at all (an empty file, version 0)
/// gets the same refusal.
fn check_schema_read_only(connection: &Connection, path: &Path) -> Result<(), LedgerError> {
    let has_migrations_table: bool = connection.query_row(
        "SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations')",
        [],
        |row| row.get(0),
    )?;
    let applied: i64 = if has_migrations_table {
        connection.query_row("SELECT COALESCE(MAX(version), 0) FROM schema_migrations", [], |row| {
            row.get(0)
        })?
    } else {
        0
    };
    let known = schema::MIGRATIONS.len() as i64;
    if applied > known {
        return Err(LedgerError::NewerSchema {
            found: applied,
            supported: known,
        });
    }
    if applied < known {
        return Err(LedgerError::OlderSchemaReadOnly {
            path: path.display().to_string(),
            found: applied,
            needed: known,
        });
    }
    Ok(())
}

fn migrate(connection: &mut Connection) -> Result<(), LedgerError> {
    // A ledger already at this build's schema (every open but the first after an upgrade) is
    // only read: no write lock is taken, so opening never waits behind another writer.
    let current: Option<i64> = connection
        .query_row("SELECT MAX(version) FROM schema_migrations", [], |row| {
            row.get::<_, Option<i64>>(0)
        })
        .ok()
        .flatten();
    if current == Some(schema::MIGRATIONS.len() as i64) {
        return Ok(());
    }
    let transaction = connection
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(busy_error)?;
    transaction.execute_batch(
        "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied_at TEXT NOT NULL)",
    )?;
    let applied: i64 = transaction.query_row("SELECT COALESCE(MAX(version), 0) FROM schema_migrations", [], |row| {
        row.get(0)
    })?;
    let known = schema::MIGRATIONS.len() as i64;
    if applied > known {
        return Err(LedgerError::NewerSchema {
            found: applied,
            supported: known,
        });
    }
    for (index, migration) in schema::MIGRATIONS.iter().enumerate().skip(applied as usize) {
        transaction.execute_batch(migration)?;
        if index + 1 == schema::MIGRATION_4_VERSION {
            balance_update::fill_account_balances(sql::Conn::Sqlite(&transaction))?;
        }
        transaction.execute(
            "INSERT INTO schema_migrations (version, applied_at) VALUES (?1, ?2)",
            params![index as i64 + 1, crate::now_text()],
        )?;
    }
    transaction.commit()?;
    Ok(())
}

impl Db<'_> {
    /// The raw connection, for tests that change the file behind the store's back.
    #[cfg(test)]
    pub fn connection(&self) -> &Connection {
        match self.connection {
            sql::Conn::Sqlite(connection) => connection,
            sql::Conn::Postgres(_) => panic!("a test asked for the SQLite connection of a PostgreSQL store"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_read_that_may_write_takes_no_lock_unless_it_writes() {
        let folder = tempfile::tempdir().unwrap();
        let path = folder.path().join("ledger.db");
        let mut reader = Store::open(&path).unwrap();
        let writer = Connection::open(&path).unwrap();
        writer
            .execute_batch("CREATE TABLE notes (text TEXT); BEGIN IMMEDIATE; INSERT INTO notes VALUES ('held');")
            .unwrap();
        // Another connection holds the write lock: a read answers at once, without waiting for it.
        let started = std::time::Instant::now();
        let count = reader.write_when_needed(|db| Ok(db.entities()?.len())).unwrap();
        assert_eq!(count, 0);
        assert!(started.elapsed() < std::time::Duration::from_secs(BUSY_TIMEOUT_MS / 1000));
        writer.execute_batch("COMMIT").unwrap();
        // A write that finds its snapshot outdated (another writer committed since it began)
        // runs again under the write lock and lands once.
        let attempts = std::cell::Cell::new(0);
        reader
            .write_when_needed(|db| {
                attempts.set(attempts.get() + 1);
                let seen: i64 = db
                    .connection()
                    .query_row("SELECT count(*) FROM notes", [], |row| row.get(0))?;
                if attempts.get() == 1 {
                    writer.execute_batch("INSERT INTO notes VALUES ('meanwhile')").unwrap();
                }
                db.connection()
                    .execute("INSERT INTO notes VALUES (?1)", [format!("after {seen}")])?;
                Ok(())
            })
            .unwrap();
        assert_eq!(attempts.get(), 2);
        let rows: Vec<String> = {
            let mut statement = writer.prepare("SELECT text FROM notes ORDER BY rowid").unwrap();
            statement
                .query_map([], |row| row.get(0))
                .unwrap()
                .map(Result::unwrap)
                .collect()
        };
        assert_eq!(rows, ["held", "meanwhile", "after 2"]);
    }
}
