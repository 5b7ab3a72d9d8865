//! The closebook general ledger: entities, chart of accounts, dimensions, fiscal calendars and
//! period control, journals with posting rules, exchange rates, maintained balances, reports and
//! an append-only audit trail, kept in one SQLite file.
//!
//! This crate does not depend on the plugin runtime, so that its tests, property tests and
//! fuzzing build fast. The `closebook` crate builds the CLI, plugins and close engine on it.

// Refusals carry the offending values so that messages can name them; they are built only on
// the error path, where their size costs nothing worth boxing for.
#![allow(clippy::result_large_err)]

pub mod access;
pub mod account;
pub mod approval;
pub mod calendar;
pub mod close_task;
pub mod credential;
pub mod dimension;
pub mod entity;
pub mod error;
pub mod ids;
pub mod import;
pub mod journal;
pub mod ledger;
pub mod money;
pub mod period;
mod pipeline;
pub mod proposal;
pub mod query;
pub mod rate;
pub mod reconcile;
pub mod recurring;
pub mod report;
pub mod settlement;
pub mod setup;
pub mod statement;
pub mod store;
#[cfg(test)]
mod test_fixtures;
pub mod verify;

pub use error::LedgerError;
pub use ledger::Ledger;

/// The current time as stored in the audit trail and on posted entries: UTC, RFC 3339, seconds.
pub fn now_text() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}
