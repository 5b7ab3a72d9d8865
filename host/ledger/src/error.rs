//! The ledger's errors. Each variant carries the offending value so that the message says what
//! was refused and why; the CLI adds the file, entity or task with `anyhow::Context`.

use crate::journal::EntryRefusal;

/// How many refusals one error lists before it summarises the rest.
pub const REFUSALS_LISTED_MAX: usize = 50;

#[derive(Debug, thiserror::Error)]
pub enum LedgerError {
    #[error("cannot open the ledger file {path}: {source}")]
    Open { path: String, source: rusqlite::Error },
    #[error("database error: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error(
        "another closebook process is writing to this ledger and did not finish in time; try again when it is done"
    )]
    Busy,
    #[error(
        "this ledger was written by a newer closebook (schema version {found}; this build knows up to {supported}): upgrade closebook"
    )]
    NewerSchema { found: i64, supported: i64 },
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
}

impl LedgerError {
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
