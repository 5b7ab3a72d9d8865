//! The ledger's errors. Each variant carries the offending value so that the message says what
//! was refused and why; the CLI adds the file, entity or task with `anyhow::Context`.

use crate::journal::EntryRefusal;

/// How many refusals one error lists before it summarises the rest.
pub const REFUSALS_LISTED_MAX: usize = 50;

#[derive(Debug, thiserror::Error)]
pub enum LedgerError {
    #[error("cannot open the ledger file {path}: {source}")]
    Open { path: String, source: rusqlite::Error },
    #[error(
        "cannot connect to the PostgreSQL database {url}: {}: check the URL given with --db (or CLOSEBOOK_DB), and that the server runs and lets this user in",
        describe_postgres(.source)
    )]
    OpenPostgres { url: String, source: postgres::Error },
    #[error(
        "the PostgreSQL database {url} has closebook schema version {found}, but this closebook needs version {needed}: run `closebook db migrate --db {url}` first"
    )]
    UnmigratedPostgres { url: String, found: i64, needed: i64 },
    #[error("database error: interrupted: the query ran past its run's time limit")]
    Interrupted,
    #[error("database error: {0}")]
    Sqlite(rusqlite::Error),
    #[error("database error: {}", describe_postgres(.0))]
    Postgres(postgres::Error),
    #[error(
        "the ledger file is not a closebook database or is damaged ({detail}): check that --db names the right file, or restore it from a backup"
    )]
    Damaged { detail: String },
    /// A stored value this build cannot read (a date, a decimal, an account type…): the file
    /// was changed behind closebook's back. Never replaced by a default.
    #[error(
        "the ledger file holds unreadable data: {table} row {row}, column {column}, holds {value}: {problem}; the file was changed outside closebook: restore it from a backup"
    )]
    Corrupt {
        table: &'static str,
        row: String,
        column: String,
        value: String,
        problem: String,
    },
    #[error(
        "the ledger file is read-only, so nothing was written: make it writable (chmod u+w) or work on a copy; reports and verify still work on it"
    )]
    ReadOnly,
    #[error(
        "the disk is full or the ledger file reached its size limit, so nothing was written: free some space and run the command again"
    )]
    Full,
    #[error(
        "another closebook process is writing to this ledger and did not finish in time; try again when it is done"
    )]
    Busy,
    #[error(
        "this ledger was written by a newer closebook (schema version {found}; this build knows up to {supported}): upgrade closebook"
    )]
    NewerSchema { found: i64, supported: i64 },
    #[error(
        "the ledger file {path} is read-only and has schema version {found}, but this closebook needs version {needed}: open it once writable to upgrade it (chmod u+w {path}, then run any command, e.g. `closebook verify`), or work on a writable copy"
    )]
    OlderSchemaReadOnly { path: String, found: i64, needed: i64 },
    #[error(
        "the ledger file {path} does not exist: run `closebook setup apply SETUP.toml` first to create it, or check --db (or CLOSEBOOK_DB)"
    )]
    MissingLedger { path: String },
    #[error(
        "the ledger file {path} is empty (0 bytes), so it holds no ledger: run `closebook setup apply SETUP.toml` first to create the ledger in it, or check --db (or CLOSEBOOK_DB)"
    )]
    EmptyLedger { path: String },
    #[error("{what} {id} does not exist")]
    NotFound { what: &'static str, id: String },
    #[error("{0}")]
    Invalid(String),
    #[error("{}", describe_refusals(.0))]
    Refused(Vec<EntryRefusal>),
    #[error("amounts overflow when summed")]
    Overflow,
    #[error("{path}: {message}")]
    Input { path: String, message: String },
    #[error("{path}: {source}")]
    Io { path: String, source: std::io::Error },
    #[error(transparent)]
    Access(#[from] crate::access::AccessError),
}

/// SQLite failures a user can act on get their own message; the rest stay database errors.
impl From<rusqlite::Error> for LedgerError {
    fn from(error: rusqlite::Error) -> Self {
        match error.sqlite_error_code() {
            Some(rusqlite::ErrorCode::DatabaseCorrupt) | Some(rusqlite::ErrorCode::NotADatabase) => {
                LedgerError::Damaged {
                    detail: error.to_string(),
                }
            }
            Some(rusqlite::ErrorCode::ReadOnly) => LedgerError::ReadOnly,
            Some(rusqlite::ErrorCode::DiskFull) => LedgerError::Full,
            _ => LedgerError::Sqlite(error),
        }
    }
}

/// PostgreSQL failures a user can act on get the same messages as SQLite's; the rest stay
/// database errors.
impl From<postgres::Error> for LedgerError {
    fn from(error: postgres::Error) -> Self {
        use postgres::error::SqlState;
        match error.code() {
            Some(code)
                if *code == SqlState::T_R_SERIALIZATION_FAILURE
                    || *code == SqlState::T_R_DEADLOCK_DETECTED
                    || *code == SqlState::LOCK_NOT_AVAILABLE =>
            {
                LedgerError::Busy
            }
            Some(code) if *code == SqlState::READ_ONLY_SQL_TRANSACTION => LedgerError::ReadOnly,
            Some(code) if *code == SqlState::DISK_FULL => LedgerError::Full,
            // `statement_timeout`: a plugin run's deadline.
            Some(code) if *code == SqlState::QUERY_CANCELED => LedgerError::Interrupted,
            _ => LedgerError::Postgres(error),
        }
    }
}

/// A PostgreSQL error with the server's message and detail, which `postgres::Error`'s own text
/// leaves out ("db error").
fn describe_postgres(error: &postgres::Error) -> String {
    match error.as_db_error() {
        Some(db) => match db.detail() {
            Some(detail) => format!("{} ({detail})", db.message()),
            None => db.message().to_owned(),
        },
        None => error.to_string(),
    }
}

impl LedgerError {
    /// Whether the error is the storage's (the file, the disk, another process) rather than
    /// a refusal of what was asked.
    pub fn is_storage_failure(&self) -> bool {
        matches!(
            self,
            LedgerError::Sqlite(_)
                | LedgerError::Postgres(_)
                | LedgerError::Open { .. }
                | LedgerError::OpenPostgres { .. }
                | LedgerError::UnmigratedPostgres { .. }
                | LedgerError::Busy
                | LedgerError::Io { .. }
                | LedgerError::Damaged { .. }
                | LedgerError::Corrupt { .. }
                | LedgerError::ReadOnly
                | LedgerError::OlderSchemaReadOnly { .. }
                | LedgerError::Full
        )
    }

    pub fn not_found(what: &'static str, id: impl Into<String>) -> Self {
        LedgerError::NotFound { what, id: id.into() }
    }

    pub fn input(path: impl Into<String>, message: impl Into<String>) -> Self {
        LedgerError::Input {
            path: path.into(),
            message: message.into(),
        }
    }
}

fn describe_refusals(refusals: &[EntryRefusal]) -> String {
    let mut text = format!(
        "{} {} refused; nothing was written:",
        refusals.len(),
        if refusals.len() == 1 { "problem" } else { "problems" }
    );
    for refusal in refusals.iter().take(REFUSALS_LISTED_MAX) {
        text.push_str("\n  ");
        text.push_str(&refusal.to_string());
    }
    if refusals.len() > REFUSALS_LISTED_MAX {
        text.push_str(&format!("\n  … and {} more", refusals.len() - REFUSALS_LISTED_MAX));
    }
    text
}
