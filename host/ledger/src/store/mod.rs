//! The SQLite store: the only place with SQL. One file, WAL mode, versioned migrations applied
//! on open. Every change runs in an IMMEDIATE transaction (`Store::write`) so that a writer
//! takes the lock before it reads what it will change, and a crash leaves either all of a
//! change or none of it.

mod control_log;
mod identity;
mod posting;
mod schema;

pub use posting::{PostingBatch, PostingStatements, StagedEntry, Stager};

use crate::account::{Account, AccountType};
use crate::calendar::{FiscalCalendar, FiscalYear, Period, PeriodKind};
use crate::close_task::{TaskReads, TaskStatus};
use crate::entity::Entity;
use crate::error::LedgerError;
use crate::ids::{
    AccountNumber, CalendarId, ChartId, CurrencyCode, EntityId, EntryKey, FiscalYearName, PeriodName, RateType, UserId,
};
use crate::journal::{PostedEntry, PostedLine, Provenance};
use crate::money::from_store_text;
use crate::period::{Module, ModuleAccess, PeriodStatus};
use crate::rate::ExchangeRate;
use chrono::NaiveDate;
use rusqlite::{Connection, OpenFlags, OptionalExtension, Row, TransactionBehavior, params};
use rust_decimal::Decimal;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

/// How long a writer waits for another process's transaction before giving up with a clear
/// message instead of "database is locked".
pub const BUSY_TIMEOUT_MS: u64 = 30_000;

/// The most lines a page of [`Db::account_lines`] reserves room for before reading.
const LINE_PAGE_CAPACITY_MAX: usize = 10_001;

/// Rows one report query may return: a bound on memory for a runaway query.
pub const QUERY_ROWS_MAX: usize = 5_000_000;

pub struct Store {
    connection: Connection,
}

/// A connection inside a transaction (or a plain read): all queries hang off it.
pub struct Db<'a> {
    connection: &'a Connection,
}

/// What the store knows about an entry key already used in an entity.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExistingKey {
    pub fingerprint: String,
    pub posted_entry_id: Option<i64>,
    pub draft_id: Option<i64>,
}

/// One maintained balance row.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BalanceRecord {
    pub period: PeriodName,
    pub account: AccountNumber,
    pub dimensions: String,
    pub currency: CurrencyCode,
    pub amount: Decimal,
    pub accounting_amount: Decimal,
    pub debit: Decimal,
    pub credit: Decimal,
}

#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct AuditRecord {
    pub id: i64,
    pub at: String,
    pub user: String,
    pub action: String,
    pub entity: Option<String>,
    pub details: serde_json::Value,
    /// How the user's identity was established (`os-user`, `declared`); None for records
    /// written before identities were recorded.
    pub identity: Option<String>,
}

/// A posted line as settlement sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SettlementLine {
    pub entity: EntityId,
    pub account: AccountNumber,
    /// The line's period; its entity's calendar says which fiscal year that is.
    pub period: PeriodName,
    pub accounting_amount: Decimal,
    pub active_settlement: Option<i64>,
}

/// The completion record of one plugin step run that posted.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct StepRunRecord {
    pub run_id: String,
    pub entity: EntityId,
    pub period: PeriodName,
    pub task: Option<String>,
    pub plugin_name: String,
    pub plugin_version: String,
    pub plugin_sha256: String,
    pub config: String,
    pub run_by: UserId,
    pub started_at: String,
    pub finished_at: String,
    pub sequence_before: i64,
    pub sequence_after: i64,
    pub entries_posted: i64,
    pub settlements_posted: i64,
    pub fuel_consumed: u64,
    pub duration_ms: u64,
    pub log: String,
}

/// An entry posted after some point, as staleness checks see it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LaterEntry {
    pub key: EntryKey,
    pub period: PeriodName,
    /// The close task that posted it, if any.
    pub task: Option<String>,
    /// The accounts its lines post to.
    pub accounts: BTreeSet<AccountNumber>,
}

/// One event in a task's history.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct TaskEvent {
    pub at: String,
    pub user: String,
    /// `done`, `failed`, `proposed`, `reviewed`, `signed-off`, `stale`, `rerun`…
    pub event: String,
    pub details: serde_json::Value,
    /// How the user's identity was established (`os-user`, `declared`); None before
    /// identities were recorded.
    pub identity: Option<String>,
}

impl TaskEvent {
    /// Whether the user acting was only declared (`--as` on a trusting ledger), not verified.
    pub fn is_unverified(&self) -> bool {
        self.identity.as_deref() == Some("declared")
    }
}

/// How many runs may share one natural run id (a step that posts nothing keeps the ledger
/// sequence its id is made of): far more than reruns of one step on an unchanged ledger, and a
/// bound on the search for a free suffix.
pub const RUN_ID_SUFFIX_MAX: usize = 10_000;

const STEP_RUN_COLUMNS: &str = "run_id, entity_id, period, task, plugin_name, plugin_version, plugin_sha256, config, run_by, started_at, finished_at, sequence_before, sequence_after, entries_posted, settlements_posted, fuel_consumed, duration_ms, log";

fn step_run_from_row(row: &Row<'_>) -> rusqlite::Result<StepRunRecord> {
    Ok(StepRunRecord {
        run_id: row.get("run_id")?,
        entity: EntityId(row.get("entity_id")?),
        period: PeriodName(row.get("period")?),
        task: row.get("task")?,
        plugin_name: row.get("plugin_name")?,
        plugin_version: row.get("plugin_version")?,
        plugin_sha256: row.get("plugin_sha256")?,
        config: row.get("config")?,
        run_by: UserId(row.get("run_by")?),
        started_at: row.get("started_at")?,
        finished_at: row.get("finished_at")?,
        sequence_before: row.get("sequence_before")?,
        sequence_after: row.get("sequence_after")?,
        entries_posted: row.get("entries_posted")?,
        settlements_posted: row.get("settlements_posted")?,
        fuel_consumed: row.get::<_, i64>("fuel_consumed")? as u64,
        duration_ms: row.get::<_, i64>("duration_ms")? as u64,
        log: row.get("log")?,
    })
}

/// The close engine's state of one task for one entity and period.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct CloseTaskRecord {
    pub close: String,
    pub entity: EntityId,
    pub period: PeriodName,
    pub task: String,
    pub status: TaskStatus,
    pub run_id: Option<String>,
    pub ran_by: Option<String>,
    pub prepared_by: Option<String>,
    pub reviewed_by: Option<String>,
    /// The entity's ledger sequence when the task was signed off: its fingerprint.
    pub signoff_sequence: Option<i64>,
    /// The ledger sequences of the other entities the sign-off covers (those its step and the
    /// steps before it read) at which it approved them: the earliest at which a task read each
    /// when it ran, not the ledger at sign-off time. Empty when it covers its own entity alone.
    pub signoff_sequences: BTreeMap<EntityId, i64>,
    /// The ledger sequences the task's last run read: a plugin step's snapshot (its own entity
    /// and the entities it may read), a built-in step's own entity when it checked it. Empty
    /// for a manual task and for a run recorded before migration 6.
    pub run_sequences: BTreeMap<EntityId, i64>,
    /// What the task's last run read, by entity: the accounts and periods its figures come
    /// from. A posting there after the run makes the task stale. Empty for a manual task and
    /// for a run recorded before migration 7.
    pub run_reads: TaskReads,
    /// SHA-256 of the task's configuration when it last ran, to report a configuration changed
    /// since. None for a manual task and for a run recorded before migration 7.
    pub config_sha256: Option<String>,
    pub entries_posted: i64,
    pub fuel_consumed: u64,
    pub duration_ms: u64,
    /// A step's proposal awaiting review, as JSON.
    #[serde(skip)]
    pub proposal: Option<String>,
    pub message: Option<String>,
}

const CLOSE_TASK_COLUMNS: &str = "close_name, entity_id, period, task_id, status, run_id, ran_by, prepared_by, reviewed_by, signoff_sequence, entries_posted, fuel_consumed, duration_ms, proposal, message, signoff_sequences, run_sequences, run_reads, config_sha256";

fn close_task_from_row(row: &Row<'_>) -> rusqlite::Result<CloseTaskRecord> {
    let status: String = row.get("status")?;
    Ok(CloseTaskRecord {
        close: row.get("close_name")?,
        entity: EntityId(row.get("entity_id")?),
        period: PeriodName(row.get("period")?),
        task: row.get("task_id")?,
        status: status
            .parse()
            .map_err(|error| corrupt_column("close_tasks", "status", error))?,
        run_id: row.get("run_id")?,
        ran_by: row.get("ran_by")?,
        prepared_by: row.get("prepared_by")?,
        reviewed_by: row.get("reviewed_by")?,
        signoff_sequence: row.get("signoff_sequence")?,
        entries_posted: row.get("entries_posted")?,
        fuel_consumed: row.get::<_, i64>("fuel_consumed")? as u64,
        duration_ms: row.get::<_, i64>("duration_ms")? as u64,
        proposal: row.get("proposal")?,
        message: row.get("message")?,
        signoff_sequences: json_column(row, "close_tasks", "signoff_sequences")?,
        run_sequences: json_column(row, "close_tasks", "run_sequences")?,
        run_reads: json_column(row, "close_tasks", "run_reads")?,
        config_sha256: row.get("config_sha256")?,
    })
}

/// A column that holds unreadable data: an error naming the table, the column and the value's
/// fault, never a default standing in for it.
fn corrupt_column(table: &str, column: &str, error: impl std::fmt::Display) -> rusqlite::Error {
    rusqlite::Error::FromSqlConversionFailure(
        0,
        rusqlite::types::Type::Text,
        format!("{table}.{column} holds unreadable data: {error}").into(),
    )
}

/// A JSON column written by this program from a map: NULL is empty, unreadable JSON an error.
fn json_column<T: serde::de::DeserializeOwned + Default>(
    row: &Row<'_>,
    table: &str,
    column: &str,
) -> rusqlite::Result<T> {
    match row.get::<_, Option<String>>(column)? {
        None => Ok(T::default()),
        Some(text) => serde_json::from_str(&text).map_err(|error| corrupt_column(table, column, error)),
    }
}

/// A read transaction held open for as long as a close step runs: every query through it sees
/// the ledger as it was when the snapshot was taken, whatever other processes post meanwhile.
pub struct Snapshot {
    connection: Connection,
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
            connection: &self.connection,
        }
    }

    /// Interrupts every query on this snapshot that is still running at `deadline`, and refuses
    /// every query started after it: such a query fails with SQLite's "interrupted" error. This
    /// is how a plugin run's wall-time limit reaches into a long ledger query.
    pub fn interrupt_at(&self, deadline: std::time::Instant) {
        self.connection.progress_handler(
            SNAPSHOT_DEADLINE_CHECK_INSTRUCTIONS,
            Some(move || std::time::Instant::now() >= deadline),
        );
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Draft {
    pub id: i64,
    pub key: EntryKey,
    pub body: String,
    pub source: String,
}

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

impl Store {
    /// Opens (or creates) the ledger file and brings its schema up to date.
    ///
    /// A file whose permissions allow nobody to write (`chmod a-w`) is opened read-only by
    /// SQLite itself: reports and `verify` work, and every write is refused with
    /// [`LedgerError::ReadOnly`] — for root too, whom file permissions alone would not stop.
    pub fn open(path: &Path) -> Result<Self, LedgerError> {
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

    /// An in-memory store, for tests.
    pub fn open_in_memory() -> Result<Self, LedgerError> {
        Self::configure(Connection::open_in_memory()?, None)
    }

    /// Configures a fresh connection: migrates it, or, for a file opened read-only
    /// (`read_only_path`), checks that it already has this build's schema.
    fn configure(mut connection: Connection, read_only_path: Option<&Path>) -> Result<Self, LedgerError> {
        connection.busy_timeout(Duration::from_millis(BUSY_TIMEOUT_MS))?;
        if let Some(pages) = max_pages_from_environment()? {
            // SQLite never lowers the limit below the file's current size.
            let _limit: i64 =
                connection.query_row(&format!("PRAGMA max_page_count = {pages}"), [], |row| row.get(0))?;
        }
        if let Some(path) = read_only_path {
            connection.execute_batch("PRAGMA foreign_keys = ON;")?;
            check_schema_read_only(&connection, path)?;
            return Ok(Self { connection });
        }
        // WAL lets readers (reports, plugin snapshots) run while one writer posts.
        let _mode: String = connection.query_row("PRAGMA journal_mode = WAL", [], |row| row.get(0))?;
        connection.execute_batch("PRAGMA foreign_keys = ON; PRAGMA synchronous = NORMAL;")?;
        migrate(&mut connection)?;
        Ok(Self { connection })
    }

    /// Runs `work` in an IMMEDIATE transaction, committed only when it returns Ok.
    pub fn write<T>(&mut self, work: impl FnOnce(&Db<'_>) -> Result<T, LedgerError>) -> Result<T, LedgerError> {
        let transaction = self
            .connection
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(busy_error)?;
        let value = work(&Db {
            connection: &transaction,
        })?;
        transaction.commit().map_err(busy_error)?;
        Ok(value)
    }

    /// Runs `work` in a read transaction: every query inside sees one consistent snapshot.
    pub fn read<T>(&mut self, work: impl FnOnce(&Db<'_>) -> Result<T, LedgerError>) -> Result<T, LedgerError> {
        let transaction = self
            .connection
            .transaction_with_behavior(TransactionBehavior::Deferred)?;
        let value = work(&Db {
            connection: &transaction,
        })?;
        transaction.commit()?;
        Ok(value)
    }

    /// The raw connection, for callers that manage their own transaction (the close engine's
    /// dry run, plugin snapshots).
    pub fn connection(&mut self) -> &mut Connection {
        &mut self.connection
    }

    /// Turns this store into a snapshot: a read transaction that starts now and lasts until
    /// the snapshot is dropped. (WAL mode lets writers go on meanwhile.)
    pub fn into_snapshot(self) -> Result<Snapshot, LedgerError> {
        self.connection.execute_batch("BEGIN DEFERRED")?;
        // The snapshot is fixed at the first read, so read now.
        let _heads: i64 = self
            .connection
            .query_row("SELECT COUNT(*) FROM ledger_heads", [], |row| row.get(0))?;
        Ok(Snapshot {
            connection: self.connection,
        })
    }

    /// Wraps a connection the caller already holds in a transaction.
    pub fn db(connection: &Connection) -> Db<'_> {
        Db { connection }
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

/// The schema version this build writes and needs: the number of its migrations.
pub const SCHEMA_VERSION: usize = schema::MIGRATIONS.len();

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
            posting::fill_account_balances(&transaction)?;
        }
        transaction.execute(
            "INSERT INTO schema_migrations (version, applied_at) VALUES (?1, ?2)",
            params![index as i64 + 1, crate::now_text()],
        )?;
    }
    transaction.commit()?;
    Ok(())
}

fn parse_date(text: &str) -> NaiveDate {
    // Dates in the store were all written by this program from a NaiveDate.
    NaiveDate::from_str(text).unwrap_or(NaiveDate::MIN)
}

fn decimal(row: &Row<'_>, index: usize) -> rusqlite::Result<Decimal> {
    Ok(from_store_text(&row.get::<_, String>(index)?))
}

fn account_from_row(row: &Row<'_>) -> rusqlite::Result<Account> {
    let account_type: String = row.get(2)?;
    Ok(Account {
        number: AccountNumber(row.get(0)?),
        name: row.get(1)?,
        account_type: AccountType::parse(&account_type).unwrap_or(AccountType::Asset),
        revalue: row.get(3)?,
        settle: row.get(4)?,
        rate_type: row.get::<_, Option<String>>(5)?.map(RateType),
        fixed_currency: row.get::<_, Option<String>>(6)?.map(CurrencyCode),
        category: row.get(7)?,
        blocked: row.get(8)?,
    })
}

const ENTITY_COLUMNS: &str = "id, name, currency, calendar_id, chart_id, retained_earnings_account, default_rate_type, penny_rounding_account, penny_tolerance";

fn entity_from_row(row: &Row<'_>) -> rusqlite::Result<Entity> {
    Ok(Entity {
        id: EntityId(row.get(0)?),
        name: row.get(1)?,
        currency: CurrencyCode(row.get(2)?),
        calendar: CalendarId(row.get(3)?),
        chart: ChartId(row.get(4)?),
        retained_earnings_account: AccountNumber(row.get(5)?),
        default_rate_type: RateType(row.get(6)?),
        penny_rounding_account: row.get::<_, Option<String>>(7)?.map(AccountNumber),
        penny_tolerance: decimal(row, 8)?,
    })
}

const ENTRY_COLUMNS: &str = "id, entity_id, sequence, entry_key, fingerprint, date, period, fiscal_year, module, description, reverses_entry_id, posted_by, posted_at, source, run_id, task, plugin_name, plugin_version, plugin_sha256, previous_hash, hash";

fn entry_from_row(row: &Row<'_>) -> rusqlite::Result<PostedEntry> {
    let module: String = row.get(8)?;
    Ok(PostedEntry {
        id: row.get(0)?,
        entity: EntityId(row.get(1)?),
        sequence: row.get(2)?,
        key: EntryKey(row.get(3)?),
        fingerprint: row.get(4)?,
        date: parse_date(&row.get::<_, String>(5)?),
        period: PeriodName(row.get(6)?),
        fiscal_year: FiscalYearName(row.get(7)?),
        module: Module::parse(&module).unwrap_or(Module::Ledger),
        description: row.get(9)?,
        reverses_entry_id: row.get(10)?,
        posted_by: UserId(row.get(11)?),
        posted_at: row.get(12)?,
        provenance: Provenance {
            source: row.get(13)?,
            run_id: row.get(14)?,
            task: row.get(15)?,
            plugin_name: row.get(16)?,
            plugin_version: row.get(17)?,
            plugin_sha256: row.get(18)?,
        },
        lines: Vec::new(),
        previous_hash: row.get(19)?,
        hash: row.get(20)?,
    })
}

fn line_from_row(row: &Row<'_>, offset: usize) -> rusqlite::Result<PostedLine> {
    Ok(PostedLine {
        line_no: row.get(offset)?,
        account: AccountNumber(row.get(offset + 1)?),
        dimensions: row.get(offset + 2)?,
        currency: CurrencyCode(row.get(offset + 3)?),
        amount: decimal(row, offset + 4)?,
        accounting_amount: decimal(row, offset + 5)?,
        description: row.get(offset + 6)?,
    })
}

impl Db<'_> {
    pub fn connection(&self) -> &Connection {
        self.connection
    }

    // ----- setup -----------------------------------------------------------------------------

    pub fn upsert_currency(&self, code: &str, name: &str, minor_units: u32) -> Result<(), LedgerError> {
        self.connection.execute(
            "INSERT INTO currencies (code, name, minor_units) VALUES (?1, ?2, ?3)
             ON CONFLICT (code) DO UPDATE SET name = excluded.name, minor_units = excluded.minor_units",
            params![code, name, minor_units],
        )?;
        Ok(())
    }

    pub fn currencies(&self) -> Result<HashMap<CurrencyCode, u32>, LedgerError> {
        let mut statement = self
            .connection
            .prepare_cached("SELECT code, minor_units FROM currencies")?;
        let rows = statement.query_map([], |row| Ok((CurrencyCode(row.get(0)?), row.get(1)?)))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    pub fn currency_list(&self) -> Result<Vec<(CurrencyCode, String, u32)>, LedgerError> {
        let mut statement = self
            .connection
            .prepare_cached("SELECT code, name, minor_units FROM currencies ORDER BY code")?;
        let rows = statement.query_map([], |row| Ok((CurrencyCode(row.get(0)?), row.get(1)?, row.get(2)?)))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    pub fn calendar_start_month(&self, calendar: &CalendarId) -> Result<Option<u32>, LedgerError> {
        Ok(self
            .connection
            .query_row(
                "SELECT start_month FROM calendars WHERE id = ?1",
                [calendar.as_str()],
                |row| row.get(0),
            )
            .optional()?)
    }

    pub fn insert_calendar(&self, calendar: &CalendarId, start_month: u32) -> Result<(), LedgerError> {
        self.connection.execute(
            "INSERT INTO calendars (id, start_month) VALUES (?1, ?2)",
            params![calendar.as_str(), start_month],
        )?;
        Ok(())
    }

    pub fn calendar(&self, calendar: &CalendarId) -> Result<FiscalCalendar, LedgerError> {
        let start_month = self
            .calendar_start_month(calendar)?
            .ok_or_else(|| LedgerError::not_found("calendar", calendar.as_str()))?;
        FiscalCalendar::new(start_month).map_err(|error| LedgerError::Invalid(error.to_string()))
    }

    /// Adds a fiscal year and its periods; a year that exists is left as it is.
    pub fn insert_fiscal_year(
        &self,
        calendar: &CalendarId,
        year: &FiscalYear,
        periods: &[Period],
    ) -> Result<bool, LedgerError> {
        let inserted = self.connection.execute(
            "INSERT OR IGNORE INTO fiscal_years (calendar_id, name, start_date, end_date) VALUES (?1, ?2, ?3, ?4)",
            params![
                calendar.as_str(),
                year.name.as_str(),
                year.start.to_string(),
                year.end.to_string()
            ],
        )?;
        let mut statement = self.connection.prepare_cached(
            "INSERT OR IGNORE INTO periods (calendar_id, name, fiscal_year, kind, ordinal, start_date, end_date) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        )?;
        for period in periods {
            statement.execute(params![
                calendar.as_str(),
                period.name.as_str(),
                period.fiscal_year.as_str(),
                period.kind.as_str(),
                period.ordinal,
                period.start.to_string(),
                period.end.to_string()
            ])?;
        }
        Ok(inserted > 0)
    }

    pub fn fiscal_years(&self, calendar: &CalendarId) -> Result<Vec<FiscalYearName>, LedgerError> {
        let mut statement = self
            .connection
            .prepare_cached("SELECT name FROM fiscal_years WHERE calendar_id = ?1 ORDER BY start_date")?;
        let rows = statement.query_map([calendar.as_str()], |row| Ok(FiscalYearName(row.get(0)?)))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Periods of a calendar in order, optionally of one fiscal year.
    pub fn periods(
        &self,
        calendar: &CalendarId,
        fiscal_year: Option<&FiscalYearName>,
    ) -> Result<Vec<Period>, LedgerError> {
        let mut statement = self.connection.prepare_cached(
            "SELECT name, kind, fiscal_year, start_date, end_date, ordinal FROM periods
             WHERE calendar_id = ?1 AND (?2 IS NULL OR fiscal_year = ?2) ORDER BY ordinal",
        )?;
        let rows = statement.query_map(
            params![calendar.as_str(), fiscal_year.map(|year| year.as_str())],
            |row| {
                let kind: String = row.get(1)?;
                Ok(Period {
                    name: PeriodName(row.get(0)?),
                    kind: PeriodKind::parse(&kind).unwrap_or(PeriodKind::Operating),
                    fiscal_year: FiscalYearName(row.get(2)?),
                    start: parse_date(&row.get::<_, String>(3)?),
                    end: parse_date(&row.get::<_, String>(4)?),
                    ordinal: row.get(5)?,
                })
            },
        )?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    pub fn upsert_chart(&self, chart: &ChartId, name: &str) -> Result<(), LedgerError> {
        self.connection.execute(
            "INSERT INTO charts (id, name) VALUES (?1, ?2) ON CONFLICT (id) DO UPDATE SET name = excluded.name",
            params![chart.as_str(), name],
        )?;
        Ok(())
    }

    pub fn chart_exists(&self, chart: &ChartId) -> Result<bool, LedgerError> {
        Ok(self
            .connection
            .query_row("SELECT 1 FROM charts WHERE id = ?1", [chart.as_str()], |_| Ok(()))
            .optional()?
            .is_some())
    }

    pub fn account(&self, chart: &ChartId, number: &AccountNumber) -> Result<Option<Account>, LedgerError> {
        Ok(self
            .connection
            .query_row(
                "SELECT number, name, account_type, revalue, settle, rate_type, fixed_currency, category, blocked FROM accounts WHERE chart_id = ?1 AND number = ?2",
                [chart.as_str(), number.as_str()],
                account_from_row,
            )
            .optional()?)
    }

    pub fn upsert_account(&self, chart: &ChartId, account: &Account) -> Result<(), LedgerError> {
        self.connection.prepare_cached(
            "INSERT INTO accounts (chart_id, number, name, account_type, revalue, settle, rate_type, fixed_currency, category, blocked)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)
             ON CONFLICT (chart_id, number) DO UPDATE SET name = excluded.name, account_type = excluded.account_type,
                revalue = excluded.revalue, settle = excluded.settle, rate_type = excluded.rate_type,
                fixed_currency = excluded.fixed_currency, category = excluded.category, blocked = excluded.blocked",
        )?
        .execute(params![
            chart.as_str(),
            account.number.as_str(),
            account.name,
            account.account_type.as_str(),
            account.revalue,
            account.settle,
            account.rate_type.as_ref().map(|rate_type| rate_type.as_str()),
            account.fixed_currency.as_ref().map(|currency| currency.as_str()),
            account.category,
            account.blocked
        ])?;
        Ok(())
    }

    /// Whether any entity on this chart has posted lines on the account.
    pub fn account_has_lines(&self, chart: &ChartId, number: &AccountNumber) -> Result<bool, LedgerError> {
        Ok(self
            .connection
            .query_row(
                "SELECT 1 FROM lines l JOIN entities e ON e.id = l.entity_id WHERE e.chart_id = ?1 AND l.account = ?2 LIMIT 1",
                [chart.as_str(), number.as_str()],
                |_| Ok(()),
            )
            .optional()?
            .is_some())
    }

    pub fn accounts(&self, chart: &ChartId) -> Result<Vec<Account>, LedgerError> {
        let mut statement = self.connection.prepare_cached(
            "SELECT number, name, account_type, revalue, settle, rate_type, fixed_currency, category, blocked FROM accounts WHERE chart_id = ?1 ORDER BY number",
        )?;
        let rows = statement.query_map([chart.as_str()], account_from_row)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    pub fn upsert_dimension(&self, name: &str, description: &str) -> Result<(), LedgerError> {
        self.connection.execute(
            "INSERT INTO dimensions (name, description) VALUES (?1, ?2) ON CONFLICT (name) DO UPDATE SET description = excluded.description",
            params![name, description],
        )?;
        Ok(())
    }

    pub fn upsert_dimension_value(
        &self,
        dimension: &str,
        value: &str,
        description: &str,
        blocked: bool,
    ) -> Result<(), LedgerError> {
        self.connection.execute(
            "INSERT INTO dimension_values (dimension, value, description, blocked) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT (dimension, value) DO UPDATE SET description = excluded.description, blocked = excluded.blocked",
            params![dimension, value, description, blocked],
        )?;
        Ok(())
    }

    /// Dimension name -> value -> blocked.
    pub fn dimensions(&self) -> Result<HashMap<String, HashMap<String, bool>>, LedgerError> {
        let mut dimensions: HashMap<String, HashMap<String, bool>> = HashMap::new();
        let mut statement = self.connection.prepare_cached("SELECT name FROM dimensions")?;
        for name in statement.query_map([], |row| row.get::<_, String>(0))? {
            dimensions.entry(name?).or_default();
        }
        let mut statement = self
            .connection
            .prepare_cached("SELECT dimension, value, blocked FROM dimension_values")?;
        let rows = statement.query_map([], |row| {
            Ok((
                row.get::<_, String>(0)?,
                row.get::<_, String>(1)?,
                row.get::<_, bool>(2)?,
            ))
        })?;
        for row in rows {
            let (dimension, value, blocked) = row?;
            dimensions.entry(dimension).or_default().insert(value, blocked);
        }
        Ok(dimensions)
    }

    pub fn upsert_user(&self, user: &str, name: &str) -> Result<(), LedgerError> {
        self.connection.execute(
            "INSERT INTO users (id, name) VALUES (?1, ?2) ON CONFLICT (id) DO UPDATE SET name = excluded.name",
            params![user, name],
        )?;
        Ok(())
    }

    pub fn upsert_group(&self, group: &str, name: &str) -> Result<(), LedgerError> {
        self.connection.execute(
            "INSERT INTO user_groups (id, name) VALUES (?1, ?2) ON CONFLICT (id) DO UPDATE SET name = excluded.name",
            params![group, name],
        )?;
        Ok(())
    }

    /// Makes the user a member of exactly these groups.
    pub fn set_user_groups(&self, user: &str, groups: &[String]) -> Result<(), LedgerError> {
        self.connection
            .execute("DELETE FROM group_members WHERE user_id = ?1", [user])?;
        for group in groups {
            self.connection.execute(
                "INSERT INTO group_members (group_id, user_id) VALUES (?1, ?2)",
                params![group, user],
            )?;
        }
        Ok(())
    }

    /// Every user declared in setup.
    pub fn user_ids(&self) -> Result<BTreeSet<String>, LedgerError> {
        let mut statement = self.connection.prepare_cached("SELECT id FROM users ORDER BY id")?;
        let rows = statement.query_map([], |row| row.get::<_, String>("id"))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    pub fn group_exists(&self, group: &str) -> Result<bool, LedgerError> {
        Ok(self
            .connection
            .query_row("SELECT 1 FROM user_groups WHERE id = ?1", [group], |_| Ok(()))
            .optional()?
            .is_some())
    }

    pub fn groups_of(&self, user: &UserId) -> Result<Vec<String>, LedgerError> {
        let mut statement = self
            .connection
            .prepare_cached("SELECT group_id FROM group_members WHERE user_id = ?1 ORDER BY group_id")?;
        let rows = statement.query_map([user.as_str()], |row| row.get(0))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    pub fn upsert_entity(&self, entity: &Entity) -> Result<(), LedgerError> {
        self.connection.execute(
            "INSERT INTO entities (id, name, currency, calendar_id, chart_id, retained_earnings_account, default_rate_type, penny_rounding_account, penny_tolerance)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)
             ON CONFLICT (id) DO UPDATE SET name = excluded.name, currency = excluded.currency, calendar_id = excluded.calendar_id,
                chart_id = excluded.chart_id, retained_earnings_account = excluded.retained_earnings_account,
                default_rate_type = excluded.default_rate_type, penny_rounding_account = excluded.penny_rounding_account,
                penny_tolerance = excluded.penny_tolerance",
            params![
                entity.id.as_str(),
                entity.name,
                entity.currency.as_str(),
                entity.calendar.as_str(),
                entity.chart.as_str(),
                entity.retained_earnings_account.as_str(),
                entity.default_rate_type.as_str(),
                entity.penny_rounding_account.as_ref().map(|account| account.as_str()),
                entity.penny_tolerance.to_string()
            ],
        )?;
        Ok(())
    }

    pub fn entity(&self, id: &EntityId) -> Result<Option<Entity>, LedgerError> {
        Ok(self
            .connection
            .query_row(
                &format!("SELECT {ENTITY_COLUMNS} FROM entities WHERE id = ?1"),
                [id.as_str()],
                entity_from_row,
            )
            .optional()?)
    }

    /// The entity, or an error naming it.
    pub fn require_entity(&self, id: &EntityId) -> Result<Entity, LedgerError> {
        self.entity(id)?
            .ok_or_else(|| LedgerError::not_found("entity", id.as_str()))
    }

    pub fn entities(&self) -> Result<Vec<Entity>, LedgerError> {
        let mut statement = self
            .connection
            .prepare_cached(&format!("SELECT {ENTITY_COLUMNS} FROM entities ORDER BY id"))?;
        let rows = statement.query_map([], entity_from_row)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    pub fn upsert_rate(&self, rate: &ExchangeRate) -> Result<(), LedgerError> {
        self.connection
            .prepare_cached(
                "INSERT INTO rates (from_currency, to_currency, rate_type, effective_date, rate) VALUES (?1, ?2, ?3, ?4, ?5)
                 ON CONFLICT (from_currency, to_currency, rate_type, effective_date) DO UPDATE SET rate = excluded.rate",
            )?
            .execute(params![rate.from.as_str(), rate.to.as_str(), rate.rate_type.as_str(), rate.effective.to_string(), rate.rate.to_string()])?;
        Ok(())
    }

    /// Rates into or out of `currency` (all rates when none), ordered.
    pub fn rates(&self, currency: Option<&CurrencyCode>) -> Result<Vec<ExchangeRate>, LedgerError> {
        let mut statement = self.connection.prepare_cached(
            "SELECT from_currency, to_currency, rate_type, effective_date, rate FROM rates
             WHERE ?1 IS NULL OR from_currency = ?1 OR to_currency = ?1
             ORDER BY from_currency, to_currency, rate_type, effective_date",
        )?;
        let rows = statement.query_map([currency.map(|currency| currency.as_str())], |row| {
            Ok(ExchangeRate {
                from: CurrencyCode(row.get(0)?),
                to: CurrencyCode(row.get(1)?),
                rate_type: RateType(row.get(2)?),
                effective: parse_date(&row.get::<_, String>(3)?),
                rate: decimal(row, 4)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    // ----- period control --------------------------------------------------------------------

    pub fn period_statuses(&self, entity: &EntityId) -> Result<HashMap<PeriodName, PeriodStatus>, LedgerError> {
        let mut statement = self
            .connection
            .prepare_cached("SELECT period, status FROM period_status WHERE entity_id = ?1")?;
        let rows = statement.query_map([entity.as_str()], |row| {
            Ok((PeriodName(row.get(0)?), row.get::<_, String>(1)?))
        })?;
        let mut statuses = HashMap::new();
        for row in rows {
            let (period, status) = row?;
            statuses.insert(period, PeriodStatus::parse(&status).unwrap_or(PeriodStatus::OnHold));
        }
        Ok(statuses)
    }

    pub fn set_period_status(
        &self,
        entity: &EntityId,
        period: &PeriodName,
        status: PeriodStatus,
    ) -> Result<(), LedgerError> {
        self.connection.execute(
            "INSERT INTO period_status (entity_id, period, status) VALUES (?1, ?2, ?3)
             ON CONFLICT (entity_id, period) DO UPDATE SET status = excluded.status",
            params![entity.as_str(), period.as_str(), status.as_str()],
        )?;
        Ok(())
    }

    pub fn module_access(&self, entity: &EntityId) -> Result<HashMap<(PeriodName, Module), ModuleAccess>, LedgerError> {
        let mut statement = self
            .connection
            .prepare_cached("SELECT period, module, level FROM module_access WHERE entity_id = ?1")?;
        let rows = statement.query_map([entity.as_str()], |row| {
            Ok((
                row.get::<_, String>(0)?,
                row.get::<_, String>(1)?,
                row.get::<_, String>(2)?,
            ))
        })?;
        let mut access = HashMap::new();
        for row in rows {
            let (period, module, level) = row?;
            if let Some(module) = Module::parse(&module) {
                access.insert(
                    (PeriodName(period), module),
                    ModuleAccess::parse(&level).unwrap_or(ModuleAccess::None),
                );
            }
        }
        Ok(access)
    }

    pub fn set_module_access(
        &self,
        entity: &EntityId,
        period: &PeriodName,
        module: Module,
        level: &ModuleAccess,
    ) -> Result<(), LedgerError> {
        self.connection.execute(
            "INSERT INTO module_access (entity_id, period, module, level) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT (entity_id, period, module) DO UPDATE SET level = excluded.level",
            params![entity.as_str(), period.as_str(), module.as_str(), level.to_text()],
        )?;
        Ok(())
    }

    // ----- entries ---------------------------------------------------------------------------

    pub fn existing_key(&self, entity: &EntityId, key: &EntryKey) -> Result<Option<ExistingKey>, LedgerError> {
        if let Some(posted) = self.existing_posted_key(entity, key)? {
            return Ok(Some(posted));
        }
        let draft = self
            .connection
            .prepare_cached("SELECT id, fingerprint FROM drafts WHERE entity_id = ?1 AND entry_key = ?2")?
            .query_row([entity.as_str(), key.as_str()], |row| {
                Ok((row.get::<_, i64>(0)?, row.get::<_, String>(1)?))
            })
            .optional()?;
        Ok(draft.map(|(id, fingerprint)| ExistingKey {
            fingerprint,
            posted_entry_id: None,
            draft_id: Some(id),
        }))
    }

    /// The posted entry of `key`, if any; drafts are not looked at (see `existing_key`).
    pub fn existing_posted_key(&self, entity: &EntityId, key: &EntryKey) -> Result<Option<ExistingKey>, LedgerError> {
        let posted = self
            .connection
            .prepare_cached("SELECT id, fingerprint FROM entries WHERE entity_id = ?1 AND entry_key = ?2")?
            .query_row([entity.as_str(), key.as_str()], |row| {
                Ok((row.get::<_, i64>(0)?, row.get::<_, String>(1)?))
            })
            .optional()?;
        Ok(posted.map(|(id, fingerprint)| ExistingKey {
            fingerprint,
            posted_entry_id: Some(id),
            draft_id: None,
        }))
    }

    pub fn insert_draft(
        &self,
        entity: &EntityId,
        key: &EntryKey,
        fingerprint: &str,
        body: &str,
        source: &str,
        user: &UserId,
    ) -> Result<(), LedgerError> {
        self.connection
            .prepare_cached("INSERT INTO drafts (entity_id, entry_key, fingerprint, body, source, created_by, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)")?
            .execute(params![entity.as_str(), key.as_str(), fingerprint, body, source, user.as_str(), crate::now_text()])?;
        Ok(())
    }

    pub fn drafts(&self, entity: &EntityId) -> Result<Vec<Draft>, LedgerError> {
        let mut statement = self
            .connection
            .prepare_cached("SELECT id, entry_key, body, source FROM drafts WHERE entity_id = ?1 ORDER BY id")?;
        let rows = statement.query_map([entity.as_str()], |row| {
            Ok(Draft {
                id: row.get(0)?,
                key: EntryKey(row.get(1)?),
                body: row.get(2)?,
                source: row.get(3)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Drafts dated in a period, by module: what "are the subledgers' journals posted" checks.
    pub fn draft_count(&self, entity: &EntityId) -> Result<i64, LedgerError> {
        Ok(self.connection.query_row(
            "SELECT COUNT(*) FROM drafts WHERE entity_id = ?1",
            [entity.as_str()],
            |row| row.get(0),
        )?)
    }

    pub fn delete_draft(&self, draft_id: i64) -> Result<(), LedgerError> {
        self.connection
            .prepare_cached("DELETE FROM drafts WHERE id = ?1")?
            .execute([draft_id])?;
        Ok(())
    }

    /// The last sequence number and hash of the entity's chain.
    pub fn ledger_head(&self, entity: &EntityId) -> Result<(i64, String), LedgerError> {
        Ok(self
            .connection
            .query_row(
                "SELECT sequence, hash FROM ledger_heads WHERE entity_id = ?1",
                [entity.as_str()],
                |row| Ok((row.get(0)?, row.get(1)?)),
            )
            .optional()?
            .unwrap_or((0, crate::journal::GENESIS_HASH.to_owned())))
    }

    pub fn entry_count(&self, entity: Option<&EntityId>) -> Result<i64, LedgerError> {
        Ok(self.connection.query_row(
            "SELECT COUNT(*) FROM entries WHERE ?1 IS NULL OR entity_id = ?1",
            [entity.map(|entity| entity.as_str())],
            |row| row.get(0),
        )?)
    }

    fn lines_of(&self, entry_id: i64) -> Result<Vec<PostedLine>, LedgerError> {
        let mut statement = self.connection.prepare_cached(
            "SELECT l.line_no, l.account, s.canonical, l.currency, l.amount, l.accounting_amount, l.description
             FROM lines l JOIN dimension_sets s ON s.id = l.dimension_set_id WHERE l.entry_id = ?1 ORDER BY l.line_no",
        )?;
        let rows = statement.query_map([entry_id], |row| line_from_row(row, 0))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn with_lines(&self, entries: Vec<PostedEntry>) -> Result<Vec<PostedEntry>, LedgerError> {
        entries
            .into_iter()
            .map(|mut entry| {
                entry.lines = self.lines_of(entry.id)?;
                Ok(entry)
            })
            .collect()
    }

    pub fn entry_by_key(&self, entity: &EntityId, key: &EntryKey) -> Result<Option<PostedEntry>, LedgerError> {
        let entry = self
            .connection
            .query_row(
                &format!("SELECT {ENTRY_COLUMNS} FROM entries WHERE entity_id = ?1 AND entry_key = ?2"),
                [entity.as_str(), key.as_str()],
                entry_from_row,
            )
            .optional()?;
        Ok(self.with_lines(entry.into_iter().collect())?.pop())
    }

    pub fn entry_by_id(&self, id: i64) -> Result<Option<PostedEntry>, LedgerError> {
        let entry = self
            .connection
            .query_row(
                &format!("SELECT {ENTRY_COLUMNS} FROM entries WHERE id = ?1"),
                [id],
                entry_from_row,
            )
            .optional()?;
        Ok(self.with_lines(entry.into_iter().collect())?.pop())
    }

    /// The entry that reverses `entry_id`, if any.
    pub fn reversal_of(&self, entry_id: i64) -> Result<Option<EntryKey>, LedgerError> {
        Ok(self
            .connection
            .query_row(
                "SELECT entry_key FROM entries WHERE reverses_entry_id = ?1",
                [entry_id],
                |row| Ok(EntryKey(row.get(0)?)),
            )
            .optional()?)
    }

    /// Entries of a period (all periods when none) in posting order, with their lines.
    pub fn entries(&self, entity: &EntityId, period: Option<&PeriodName>) -> Result<Vec<PostedEntry>, LedgerError> {
        let mut statement = self.connection.prepare_cached(&format!(
            "SELECT {ENTRY_COLUMNS} FROM entries WHERE entity_id = ?1 AND (?2 IS NULL OR period = ?2) ORDER BY sequence"
        ))?;
        let rows = statement.query_map(
            params![entity.as_str(), period.map(|period| period.as_str())],
            entry_from_row,
        )?;
        let entries: Vec<PostedEntry> = rows.take(QUERY_ROWS_MAX).collect::<Result<_, _>>()?;
        self.with_lines(entries)
    }

    /// Calls `visit` with each of the entity's entries in sequence order, lines included,
    /// without holding them all in memory (for `verify`).
    pub fn for_each_entry(
        &self,
        entity: &EntityId,
        visit: impl FnMut(PostedEntry) -> Result<(), LedgerError>,
    ) -> Result<(), LedgerError> {
        self.visit_entries_with_lines(
            "entries e",
            "e.entity_id = ?1",
            "e.sequence",
            &[&entity.as_str()],
            visit,
        )
    }

    /// Visits the entries an entity posted in one period, with their lines, in posting (id)
    /// order: the order of the period index, so that no sort of the whole period is needed. It
    /// is the sequence order unless the file was tampered with; a caller that reports in
    /// sequence order sorts what it found.
    pub fn for_each_entry_in_period(
        &self,
        entity: &EntityId,
        period: &PeriodName,
        visit: impl FnMut(PostedEntry) -> Result<(), LedgerError>,
    ) -> Result<(), LedgerError> {
        // Through the period index: the cost follows the period, not the whole chain (SQLite
        // would otherwise walk every entry of the entity in sequence order and filter).
        self.visit_entries_with_lines(
            "entries e INDEXED BY entries_by_period",
            "e.entity_id = ?1 AND e.period = ?2",
            "e.id",
            &[&entity.as_str(), &period.as_str()],
            visit,
        )
    }

    /// The entries of `source` matching `condition` (fixed SQL texts over `e`, never input) in
    /// `order` (`e.sequence` or `e.id`), each with its lines in line order, read in one query
    /// rather than one per entry.
    fn visit_entries_with_lines(
        &self,
        source: &'static str,
        condition: &'static str,
        order: &'static str,
        parameters: &[&dyn rusqlite::ToSql],
        mut visit: impl FnMut(PostedEntry) -> Result<(), LedgerError>,
    ) -> Result<(), LedgerError> {
        let entry_columns = ENTRY_COLUMNS
            .split(", ")
            .map(|column| format!("e.{column}"))
            .collect::<Vec<_>>()
            .join(", ");
        let mut statement = self.connection.prepare(&format!(
            "SELECT {entry_columns}, l.line_no, l.account, s.canonical, l.currency, l.amount, l.accounting_amount, l.description
             FROM {source} LEFT JOIN lines l ON l.entry_id = e.id LEFT JOIN dimension_sets s ON s.id = l.dimension_set_id
             WHERE {condition} ORDER BY {order}, l.line_no"
        ))?;
        let line_offset = ENTRY_COLUMNS.split(", ").count();
        let mut rows = statement.query(parameters)?;
        let mut current: Option<PostedEntry> = None;
        while let Some(row) = rows.next()? {
            let id: i64 = row.get(0)?;
            if current.as_ref().is_none_or(|entry| entry.id != id) {
                if let Some(done) = current.take() {
                    visit(done)?;
                }
                current = Some(entry_from_row(row)?);
            }
            // An entry without lines comes once, with NULL line columns; a line whose dimension
            // set is missing is left out, as the inner join of `lines_of` leaves it out (the
            // entry's hash then shows it).
            if row.get::<_, Option<i64>>(line_offset)?.is_some()
                && row.get::<_, Option<String>>(line_offset + 2)?.is_some()
            {
                let entry = current.as_mut().expect("the entry of this row was just read");
                entry.lines.push(line_from_row(row, line_offset)?);
            }
        }
        if let Some(done) = current {
            visit(done)?;
        }
        Ok(())
    }

    /// The stored hash of an entity's entry with this sequence number, none when there is no such
    /// entry (the genesis hash stands before sequence 1).
    pub fn entry_hash_at(&self, entity: &EntityId, sequence: i64) -> Result<Option<String>, LedgerError> {
        if sequence == 0 {
            return Ok(Some(crate::journal::GENESIS_HASH.to_owned()));
        }
        Ok(self
            .connection
            .prepare_cached("SELECT hash FROM entries WHERE entity_id = ?1 AND sequence = ?2")?
            .query_row(params![entity.as_str(), sequence], |row| row.get(0))
            .optional()?)
    }

    /// Lines of an entry that belong to a settlement not reversed.
    pub fn settled_line_count(&self, entry_id: i64) -> Result<i64, LedgerError> {
        Ok(self.connection.query_row(
            "SELECT COUNT(*) FROM lines l JOIN settlement_lines sl ON sl.line_id = l.id
             LEFT JOIN settlement_reversals r ON r.settlement_id = sl.settlement_id
             WHERE l.entry_id = ?1 AND r.settlement_id IS NULL",
            [entry_id],
            |row| row.get(0),
        )?)
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
        let mut statement = self.connection.prepare_cached(if include_settled {
            "SELECT l.id, l.entry_id, e.entry_key, e.date, l.period, l.line_no, l.account, s.canonical, l.currency, l.amount, l.accounting_amount, l.description,
                (SELECT sl.settlement_id FROM settlement_lines sl LEFT JOIN settlement_reversals r ON r.settlement_id = sl.settlement_id
                 WHERE sl.line_id = l.id AND r.settlement_id IS NULL LIMIT 1)
             FROM lines l JOIN entries e ON e.id = l.entry_id JOIN dimension_sets s ON s.id = l.dimension_set_id
             WHERE l.entity_id = ?1 AND l.account = ?2 AND l.id > ?3 AND l.period IN (SELECT value FROM json_each(?4))
             ORDER BY l.id LIMIT ?5"
        } else {
            "SELECT l.id, l.entry_id, e.entry_key, e.date, l.period, l.line_no, l.account, s.canonical, l.currency, l.amount, l.accounting_amount, l.description, NULL
             FROM lines l JOIN entries e ON e.id = l.entry_id JOIN dimension_sets s ON s.id = l.dimension_set_id
             WHERE l.entity_id = ?1 AND l.account = ?2 AND l.id > ?3 AND l.period IN (SELECT value FROM json_each(?4))
                AND NOT EXISTS (SELECT 1 FROM settlement_lines sl LEFT JOIN settlement_reversals r ON r.settlement_id = sl.settlement_id
                                WHERE sl.line_id = l.id AND r.settlement_id IS NULL)
             ORDER BY l.id LIMIT ?5"
        })?;
        let rows = statement.query_map(
            params![entity.as_str(), account.as_str(), after, period_list, limit as i64],
            |row| {
                Ok(LineRecord {
                    id: row.get(0)?,
                    entry_id: row.get(1)?,
                    entry_key: EntryKey(row.get(2)?),
                    date: parse_date(&row.get::<_, String>(3)?),
                    period: PeriodName(row.get(4)?),
                    line: line_from_row(row, 5)?,
                    settlement_id: row.get(12)?,
                })
            },
        )?;
        // Sized for a full page up front: a page is read per call, and growing it by copying
        // costs more than the rows it moves.
        let mut records = Vec::with_capacity(limit.min(LINE_PAGE_CAPACITY_MAX));
        for row in rows {
            records.push(row?);
        }
        Ok(records)
    }

    // ----- balances --------------------------------------------------------------------------

    /// Maintained balances of an entity in the given periods.
    pub fn balances(&self, entity: &EntityId, periods: &[PeriodName]) -> Result<Vec<BalanceRecord>, LedgerError> {
        let mut statement = self.connection.prepare_cached(
            "SELECT b.period, b.account, s.canonical, b.currency, b.amount, b.accounting_amount, b.debit, b.credit
             FROM balances b JOIN dimension_sets s ON s.id = b.dimension_set_id
             WHERE b.entity_id = ?1 AND b.period = ?2 ORDER BY b.account, s.canonical, b.currency",
        )?;
        balance_records(&mut statement, entity, periods, &[])
    }

    /// The balances of the given periods without their dimensions: one record per period,
    /// account and currency, with `dimensions` empty. Reads the maintained `account_balances`,
    /// whose size depends on the chart, not on the number of entries.
    pub fn account_balances(
        &self,
        entity: &EntityId,
        periods: &[PeriodName],
    ) -> Result<Vec<BalanceRecord>, LedgerError> {
        let mut statement = self.connection.prepare_cached(
            "SELECT period, account, '', currency, amount, accounting_amount, debit, credit
             FROM account_balances WHERE entity_id = ?1 AND period = ?2 ORDER BY account, currency",
        )?;
        balance_records(&mut statement, entity, periods, &[])
    }

    /// The maintained balances of some accounts in the given periods: the rows `balances`
    /// (`with_dimensions`) or `account_balances` would return for those accounts, read through
    /// the tables' primary key (entity, period, account, …) instead of the whole period.
    ///
    /// The rows go to `visit` as they are read, so a query over a year of a large ledger holds
    /// no more than one row at a time.
    pub fn balances_of_accounts(
        &self,
        entity: &EntityId,
        periods: &[PeriodName],
        accounts: AccountRows<'_>,
        with_dimensions: bool,
        visit: &mut dyn FnMut(BalanceRecord) -> Result<(), LedgerError>,
    ) -> Result<(), LedgerError> {
        let select = if with_dimensions {
            "SELECT b.period, b.account, s.canonical, b.currency, b.amount, b.accounting_amount, b.debit, b.credit
             FROM balances b JOIN dimension_sets s ON s.id = b.dimension_set_id
             WHERE b.entity_id = ?1 AND b.period = ?2"
        } else {
            "SELECT b.period, b.account, '', b.currency, b.amount, b.accounting_amount, b.debit, b.credit
             FROM account_balances b WHERE b.entity_id = ?1 AND b.period = ?2"
        };
        // One count over every period and account: a query reads at most QUERY_ROWS_MAX rows.
        let mut rows = 0usize;
        let mut counted = |record: BalanceRecord| {
            rows += 1;
            if rows > QUERY_ROWS_MAX {
                return Err(too_many_balance_rows());
            }
            visit(record)
        };
        match accounts {
            AccountRows::All => {
                let mut statement = self.connection.prepare_cached(select)?;
                for_each_balance_record(&mut statement, entity, periods, &[], &mut counted)
            }
            AccountRows::List(accounts) => {
                let mut statement = self
                    .connection
                    .prepare_cached(&format!("{select} AND b.account = ?3"))?;
                // Each account once, however often the list names it.
                let unique: std::collections::BTreeSet<&AccountNumber> = accounts.iter().collect();
                for account in unique {
                    for_each_balance_record(&mut statement, entity, periods, &[&account.as_str()], &mut counted)?;
                }
                Ok(())
            }
            AccountRows::Range(first, last) => {
                let mut statement = self
                    .connection
                    .prepare_cached(&format!("{select} AND b.account BETWEEN ?3 AND ?4"))?;
                for_each_balance_record(
                    &mut statement,
                    entity,
                    periods,
                    &[&first.as_str(), &last.as_str()],
                    &mut counted,
                )
            }
        }
    }

    /// Every row of an entity's `account_balances`, for `verify`.
    pub fn all_account_balances(&self, entity: &EntityId) -> Result<Vec<BalanceRecord>, LedgerError> {
        let periods = self.periods_with_balances("account_balances", entity)?;
        self.account_balances(entity, &periods)
    }

    /// Every balance row of an entity, for `verify` to compare with a recomputation.
    pub fn all_balances(&self, entity: &EntityId) -> Result<Vec<BalanceRecord>, LedgerError> {
        let periods = self.periods_with_balances("balances", entity)?;
        self.balances(entity, &periods)
    }

    /// The periods in which an entity has rows in a maintained balance table (`balances` or
    /// `account_balances`: a fixed name, never input).
    fn periods_with_balances(&self, table: &'static str, entity: &EntityId) -> Result<Vec<PeriodName>, LedgerError> {
        let mut statement = self
            .connection
            .prepare(&format!("SELECT DISTINCT period FROM {table} WHERE entity_id = ?1"))?;
        let rows = statement.query_map([entity.as_str()], |row| Ok(PeriodName(row.get(0)?)))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    // ----- settlements ---------------------------------------------------------------------

    /// A posted line with what settlement needs to know about it.
    pub fn line_for_settlement(&self, line_id: i64) -> Result<Option<SettlementLine>, LedgerError> {
        Ok(self
            .connection
            .prepare_cached(
                "SELECT l.entity_id, l.account, l.period, l.accounting_amount,
                    (SELECT sl.settlement_id FROM settlement_lines sl LEFT JOIN settlement_reversals r ON r.settlement_id = sl.settlement_id
                     WHERE sl.line_id = l.id AND r.settlement_id IS NULL LIMIT 1)
                 FROM lines l WHERE l.id = ?1",
            )?
            .query_row([line_id], |row| {
                Ok(SettlementLine {
                    entity: EntityId(row.get(0)?),
                    account: AccountNumber(row.get(1)?),
                    period: PeriodName(row.get(2)?),
                    accounting_amount: decimal(row, 3)?,
                    active_settlement: row.get(4)?,
                })
            })
            .optional()?)
    }

    /// [`Db::line_for_settlement`] of many lines in one query, read in line order: the lines a
    /// batch of settlements marks, without a random seek per line. Lines that do not exist are
    /// absent from the answer.
    pub fn lines_for_settlement(&self, line_ids: &[i64]) -> Result<Vec<(i64, SettlementLine)>, LedgerError> {
        let ids = serde_json::to_string(line_ids).unwrap_or_default();
        let mut statement = self.connection.prepare_cached(
            "SELECT l.id, l.entity_id, l.account, l.period, l.accounting_amount,
                (SELECT sl.settlement_id FROM settlement_lines sl LEFT JOIN settlement_reversals r ON r.settlement_id = sl.settlement_id
                 WHERE sl.line_id = l.id AND r.settlement_id IS NULL LIMIT 1)
             FROM lines l WHERE l.id IN (SELECT value FROM json_each(?1)) ORDER BY l.id",
        )?;
        let rows = statement.query_map([ids], |row| {
            Ok((
                row.get(0)?,
                SettlementLine {
                    entity: EntityId(row.get(1)?),
                    account: AccountNumber(row.get(2)?),
                    period: PeriodName(row.get(3)?),
                    accounting_amount: decimal(row, 4)?,
                    active_settlement: row.get(5)?,
                },
            ))
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// The active settlement of each of the given lines that has one: (line id, settlement id).
    pub fn active_settlements(&self, line_ids: &[i64]) -> Result<Vec<(i64, i64)>, LedgerError> {
        let ids = serde_json::to_string(line_ids).unwrap_or_default();
        let mut statement = self.connection.prepare_cached(
            "SELECT sl.line_id, sl.settlement_id FROM settlement_lines sl LEFT JOIN settlement_reversals r ON r.settlement_id = sl.settlement_id
             WHERE sl.line_id IN (SELECT value FROM json_each(?1)) AND r.settlement_id IS NULL",
        )?;
        let rows = statement.query_map([ids], |row| Ok((row.get(0)?, row.get(1)?)))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Records a settlement; its lines are written by [`Db::insert_settlement_lines`].
    pub fn insert_settlement(
        &self,
        entity: &EntityId,
        account: &AccountNumber,
        fiscal_year: &FiscalYearName,
        (user, created_at): (&UserId, &str),
        run_id: Option<&str>,
    ) -> Result<i64, LedgerError> {
        self.connection.prepare_cached(
            "INSERT INTO settlements (entity_id, account, fiscal_year, created_by, created_at, run_id) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        )?.execute(
            params![entity.as_str(), account.as_str(), fiscal_year.as_str(), user.as_str(), created_at, run_id],
        )?;
        Ok(self.connection.last_insert_rowid())
    }

    /// Marks lines with their settlements: (settlement id, line id) pairs.
    pub fn insert_settlement_lines(&self, marks: impl IntoIterator<Item = (i64, i64)>) -> Result<(), LedgerError> {
        let mut statement = self
            .connection
            .prepare_cached("INSERT INTO settlement_lines (settlement_id, line_id) VALUES (?1, ?2)")?;
        for (settlement_id, line_id) in marks {
            statement.execute([settlement_id, line_id])?;
        }
        Ok(())
    }

    /// The entity a settlement belongs to and whether it was reversed.
    pub fn settlement_state(&self, settlement_id: i64) -> Result<Option<(EntityId, bool)>, LedgerError> {
        Ok(self
            .connection
            .query_row(
                "SELECT s.entity_id, r.settlement_id IS NOT NULL FROM settlements s LEFT JOIN settlement_reversals r ON r.settlement_id = s.id WHERE s.id = ?1",
                [settlement_id],
                |row| Ok((EntityId(row.get(0)?), row.get(1)?)),
            )
            .optional()?)
    }

    pub fn settlement_fiscal_year(&self, settlement_id: i64) -> Result<FiscalYearName, LedgerError> {
        Ok(FiscalYearName(self.connection.query_row(
            "SELECT fiscal_year FROM settlements WHERE id = ?1",
            [settlement_id],
            |row| row.get(0),
        )?))
    }

    /// Active settlements of an entity's account, with their lines, for reports.
    pub fn open_items(
        &self,
        entity: &EntityId,
        account: &AccountNumber,
        limit: usize,
    ) -> Result<Vec<LineRecord>, LedgerError> {
        let periods: Vec<PeriodName> = {
            let mut statement = self
                .connection
                .prepare_cached("SELECT DISTINCT period FROM lines WHERE entity_id = ?1 AND account = ?2")?;
            let rows = statement.query_map([entity.as_str(), account.as_str()], |row| Ok(PeriodName(row.get(0)?)))?;
            rows.collect::<Result<_, _>>()?
        };
        self.account_lines(entity, account, &periods, 0, limit, false)
    }

    pub fn insert_settlement_reversal(&self, settlement_id: i64, user: &UserId) -> Result<(), LedgerError> {
        self.connection.execute(
            "INSERT INTO settlement_reversals (settlement_id, reversed_by, reversed_at) VALUES (?1, ?2, ?3)",
            params![settlement_id, user.as_str(), crate::now_text()],
        )?;
        Ok(())
    }

    // ----- step runs -------------------------------------------------------------------------

    pub fn insert_step_run(&self, run: &StepRunRecord) -> Result<(), LedgerError> {
        self.connection.execute(
            "INSERT INTO step_runs (run_id, entity_id, period, task, plugin_name, plugin_version, plugin_sha256, config, run_by,
                started_at, finished_at, sequence_before, sequence_after, entries_posted, settlements_posted, fuel_consumed, duration_ms, log)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18)",
            params![
                run.run_id,
                run.entity.as_str(),
                run.period.as_str(),
                run.task,
                run.plugin_name,
                run.plugin_version,
                run.plugin_sha256,
                run.config,
                run.run_by.as_str(),
                run.started_at,
                run.finished_at,
                run.sequence_before,
                run.sequence_after,
                run.entries_posted,
                run.settlements_posted,
                run.fuel_consumed as i64,
                run.duration_ms as i64,
                run.log
            ],
        )?;
        Ok(())
    }

    /// `run_id`, or `run_id-2`, `-3`… : the first one no recorded run uses (up to
    /// [`RUN_ID_SUFFIX_MAX`]). A step that posted
    /// nothing leaves the ledger sequence (and so its natural run id) where it was.
    pub fn unused_run_id(&self, run_id: &str) -> Result<String, LedgerError> {
        let mut candidate = run_id.to_owned();
        for suffix in 2..=RUN_ID_SUFFIX_MAX {
            let taken = self
                .connection
                .query_row("SELECT 1 FROM step_runs WHERE run_id = ?1", [&candidate], |_| Ok(()))
                .optional()?
                .is_some();
            if !taken {
                return Ok(candidate);
            }
            candidate = format!("{run_id}-{suffix}");
        }
        Err(LedgerError::Invalid(format!(
            "run id {run_id} is used more than {RUN_ID_SUFFIX_MAX} times"
        )))
    }

    pub fn step_runs(&self, entity: Option<&EntityId>, limit: usize) -> Result<Vec<StepRunRecord>, LedgerError> {
        let mut statement = self.connection.prepare_cached(&format!(
            "SELECT {STEP_RUN_COLUMNS}
             FROM (SELECT rowid AS position, * FROM step_runs WHERE ?1 IS NULL OR entity_id = ?1 ORDER BY rowid DESC LIMIT ?2) ORDER BY position"
        ))?;
        let rows = statement.query_map(
            params![entity.map(|entity| entity.as_str()), limit as i64],
            step_run_from_row,
        )?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Every run of a close task in an entity, oldest first, however many runs the entity has:
    /// what cancelling a task's work (year-end close reversed or rerun) must find in full.
    pub fn step_runs_of_task(&self, entity: &EntityId, task: &str) -> Result<Vec<StepRunRecord>, LedgerError> {
        let mut statement = self.connection.prepare_cached(&format!(
            "SELECT {STEP_RUN_COLUMNS} FROM step_runs WHERE entity_id = ?1 AND task = ?2 ORDER BY rowid"
        ))?;
        let rows = statement.query_map(params![entity.as_str(), task], step_run_from_row)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    // ----- close engine state ----------------------------------------------------------------

    pub fn close_task(
        &self,
        close: &str,
        entity: &EntityId,
        period: &PeriodName,
        task: &str,
    ) -> Result<Option<CloseTaskRecord>, LedgerError> {
        Ok(self
            .connection
            .prepare_cached(&format!("SELECT {CLOSE_TASK_COLUMNS} FROM close_tasks WHERE close_name = ?1 AND entity_id = ?2 AND period = ?3 AND task_id = ?4"))?
            .query_row(params![close, entity.as_str(), period.as_str(), task], close_task_from_row)
            .optional()?)
    }

    pub fn close_tasks(&self, close: &str, period: &PeriodName) -> Result<Vec<CloseTaskRecord>, LedgerError> {
        let mut statement = self
            .connection
            .prepare_cached(&format!("SELECT {CLOSE_TASK_COLUMNS} FROM close_tasks WHERE close_name = ?1 AND period = ?2 ORDER BY entity_id, task_id"))?;
        let rows = statement.query_map(params![close, period.as_str()], close_task_from_row)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Writes a task's state and appends the event that changed it.
    pub fn save_close_task(
        &self,
        record: &CloseTaskRecord,
        actor: &crate::access::Actor,
        event: &str,
        details: &serde_json::Value,
    ) -> Result<(), LedgerError> {
        self.connection.execute(
            "INSERT OR REPLACE INTO close_tasks (close_name, entity_id, period, task_id, status, run_id, ran_by, prepared_by, reviewed_by,
                signoff_sequence, entries_posted, fuel_consumed, duration_ms, proposal, message, updated_at, signoff_sequences, run_sequences,
                run_reads, config_sha256)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20)",
            params![
                record.close,
                record.entity.as_str(),
                record.period.as_str(),
                record.task,
                record.status.as_str(),
                record.run_id,
                record.ran_by,
                record.prepared_by,
                record.reviewed_by,
                record.signoff_sequence,
                record.entries_posted,
                record.fuel_consumed as i64,
                record.duration_ms as i64,
                record.proposal,
                record.message,
                crate::now_text(),
                (!record.signoff_sequences.is_empty())
                    .then(|| serde_json::to_string(&record.signoff_sequences).unwrap_or_default()),
                (!record.run_sequences.is_empty())
                    .then(|| serde_json::to_string(&record.run_sequences).unwrap_or_default()),
                (!record.run_reads.is_empty()).then(|| serde_json::to_string(&record.run_reads).unwrap_or_default()),
                record.config_sha256
            ],
        )?;
        self.connection.execute(
            "INSERT INTO close_events (at, user_id, close_name, entity_id, period, task_id, event, details, identity, record, hash)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
            control_log::close_event_row(self, actor, record, event, details)?.params(),
        )?;
        Ok(())
    }

    pub fn close_events(&self, close: &str, limit: usize) -> Result<Vec<serde_json::Value>, LedgerError> {
        let mut statement = self.connection.prepare_cached(
            "SELECT at, user_id, entity_id, period, task_id, event, details FROM (
                SELECT * FROM close_events WHERE close_name = ?1 ORDER BY id DESC LIMIT ?2) ORDER BY id",
        )?;
        let rows = statement.query_map(params![close, limit as i64], |row| {
            let details: String = row.get(6)?;
            Ok(serde_json::json!({
                "at": row.get::<_, String>(0)?, "user": row.get::<_, String>(1)?, "entity": row.get::<_, String>(2)?,
                "period": row.get::<_, String>(3)?, "task": row.get::<_, String>(4)?, "event": row.get::<_, String>(5)?,
                "details": serde_json::from_str::<serde_json::Value>(&details).unwrap_or(serde_json::Value::String(details)),
            }))
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// The history of one task (close x entity x period x task), oldest first: when, who, what.
    pub fn task_events(
        &self,
        close: &str,
        entity: &EntityId,
        period: &PeriodName,
        task: &str,
    ) -> Result<Vec<TaskEvent>, LedgerError> {
        let mut statement = self.connection.prepare_cached(
            "SELECT at, user_id, event, details, identity FROM close_events
             WHERE close_name = ?1 AND entity_id = ?2 AND period = ?3 AND task_id = ?4 ORDER BY id",
        )?;
        let rows = statement.query_map(params![close, entity.as_str(), period.as_str(), task], |row| {
            let details: String = row.get("details")?;
            Ok(TaskEvent {
                at: row.get("at")?,
                user: row.get("user_id")?,
                event: row.get("event")?,
                details: serde_json::from_str(&details)
                    .map_err(|error| corrupt_column("close_events", "details", error))?,
                identity: row.get("identity")?,
            })
        })?;
        Ok(rows.take(QUERY_ROWS_MAX).collect::<Result<_, _>>()?)
    }

    /// Entries of an entity after a sequence number, oldest first.
    pub fn entries_after(&self, entity: &EntityId, sequence: i64) -> Result<Vec<LaterEntry>, LedgerError> {
        let mut statement = self.connection.prepare_cached(
            "SELECT e.entry_key, e.period, e.task,
                    (SELECT group_concat(account, char(31)) FROM (SELECT DISTINCT account FROM lines WHERE entry_id = e.id))
             FROM entries e WHERE e.entity_id = ?1 AND e.sequence > ?2 ORDER BY e.sequence",
        )?;
        let rows = statement.query_map(params![entity.as_str(), sequence], |row| {
            Ok(LaterEntry {
                key: EntryKey(row.get(0)?),
                period: PeriodName(row.get(1)?),
                task: row.get(2)?,
                accounts: row
                    .get::<_, Option<String>>(3)?
                    .unwrap_or_default()
                    .split('\u{1f}')
                    .filter(|account| !account.is_empty())
                    .map(AccountNumber::new)
                    .collect(),
            })
        })?;
        Ok(rows.take(QUERY_ROWS_MAX).collect::<Result<_, _>>()?)
    }

    /// The entries a run posted, in every entity it posted to (its automatic reversals
    /// included), that a rerun has not cancelled yet, in posting order.
    pub fn entries_to_negate_for_rerun(&self, run_id: &str) -> Result<Vec<(EntityId, EntryKey)>, LedgerError> {
        let mut statement = self.connection.prepare_cached(
            "SELECT e.entity_id, e.entry_key FROM entries e WHERE e.run_id = ?1
               AND NOT EXISTS (SELECT 1 FROM entries r WHERE r.entity_id = e.entity_id AND r.entry_key = 'rerun-of-' || e.entry_key)
             ORDER BY e.id",
        )?;
        let rows = statement.query_map(params![run_id], |row| {
            Ok((EntityId(row.get(0)?), EntryKey(row.get(1)?)))
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Draft entries of an entity as (key, body JSON).
    pub fn draft_bodies(&self, entity: &EntityId) -> Result<Vec<(EntryKey, String)>, LedgerError> {
        Ok(self
            .drafts(entity)?
            .into_iter()
            .map(|draft| (draft.key, draft.body))
            .collect())
    }

    // ----- audit trail -----------------------------------------------------------------------

    /// Appends an audit record by `actor`, with how its identity was established.
    pub fn append_audit(
        &self,
        actor: &crate::access::Actor,
        action: &str,
        entity: Option<&EntityId>,
        details: &serde_json::Value,
    ) -> Result<(), LedgerError> {
        self.connection
            .prepare_cached(
                "INSERT INTO audit_log (at, user_id, action, entity_id, details, identity, hash) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            )?
            .execute(control_log::audit_row(self, actor, action, entity, details)?.params())?;
        Ok(())
    }

    /// The newest `limit` audit records, oldest first.
    pub fn audit(&self, entity: Option<&EntityId>, limit: usize) -> Result<Vec<AuditRecord>, LedgerError> {
        let mut statement = self.connection.prepare_cached(
            "SELECT id, at, user_id, action, entity_id, details, identity FROM (
                SELECT * FROM audit_log WHERE ?1 IS NULL OR entity_id = ?1 ORDER BY id DESC LIMIT ?2
             ) ORDER BY id",
        )?;
        let rows = statement.query_map(params![entity.map(|entity| entity.as_str()), limit as i64], |row| {
            let details: String = row.get(5)?;
            Ok(AuditRecord {
                id: row.get(0)?,
                at: row.get(1)?,
                user: row.get(2)?,
                action: row.get(3)?,
                entity: row.get(4)?,
                details: serde_json::from_str(&details).unwrap_or(serde_json::Value::String(details)),
                identity: row.get(6)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }
}

/// Which accounts a balance read returns. Account numbers compare as text, in SQLite as in Rust
/// (byte by byte).
#[derive(Clone, Copy, Debug)]
pub enum AccountRows<'a> {
    All,
    List(&'a [AccountNumber]),
    /// Inclusive.
    Range(&'a AccountNumber, &'a AccountNumber),
}

fn too_many_balance_rows() -> LedgerError {
    LedgerError::Invalid(format!("more than {QUERY_ROWS_MAX} balance rows; narrow the query"))
}

/// Runs a balance query (columns: period, account, dimensions, currency, amount, accounting
/// amount, debit, credit; parameters: entity, period, then `extra`) once per period, up to
/// `QUERY_ROWS_MAX` rows.
fn balance_records(
    statement: &mut rusqlite::CachedStatement<'_>,
    entity: &EntityId,
    periods: &[PeriodName],
    extra: &[&dyn rusqlite::ToSql],
) -> Result<Vec<BalanceRecord>, LedgerError> {
    let mut records = Vec::new();
    for_each_balance_record(statement, entity, periods, extra, &mut |record| {
        records.push(record);
        if records.len() > QUERY_ROWS_MAX {
            return Err(too_many_balance_rows());
        }
        Ok(())
    })?;
    Ok(records)
}

/// Runs a balance statement for each period, handing each row to `visit` as it is read.
fn for_each_balance_record(
    statement: &mut rusqlite::CachedStatement<'_>,
    entity: &EntityId,
    periods: &[PeriodName],
    extra: &[&dyn rusqlite::ToSql],
    visit: &mut dyn FnMut(BalanceRecord) -> Result<(), LedgerError>,
) -> Result<(), LedgerError> {
    for period in periods {
        let (entity, period) = (entity.as_str(), period.as_str());
        let mut parameters: Vec<&dyn rusqlite::ToSql> = vec![&entity, &period];
        parameters.extend_from_slice(extra);
        let rows = statement.query_map(parameters.as_slice(), |row| {
            Ok(BalanceRecord {
                period: PeriodName(row.get(0)?),
                account: AccountNumber(row.get(1)?),
                dimensions: row.get(2)?,
                currency: CurrencyCode(row.get(3)?),
                amount: decimal(row, 4)?,
                accounting_amount: decimal(row, 5)?,
                debit: decimal(row, 6)?,
                credit: decimal(row, 7)?,
            })
        })?;
        for row in rows {
            visit(row?)?;
        }
    }
    Ok(())
}
