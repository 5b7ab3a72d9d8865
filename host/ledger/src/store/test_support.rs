//! Queries only tests ask: what a settlement wrote, and a line's id by its entry and account.
//! Compiled for the crate's tests alone, so that their SQL stays in the store too.

use super::Db;
use super::row::{Fields, all, first};
use super::sql::args;
use crate::error::LedgerError;

impl Db<'_> {
    /// Every settlement mark as (settlement id, line id), in the order they were written.
    pub fn settlement_marks(&self) -> Result<Vec<(i64, i64)>, LedgerError> {
        let mut statement = self
            .connection
            .prepare_once("SELECT settlement_id, line_id FROM settlement_lines ORDER BY rowid")?;
        all(&mut statement, args![], |row| {
            let fields = Fields::new(row, "settlement_lines", &["settlement_id", "line_id"]);
            Ok((fields.integer("settlement_id")?, fields.integer("line_id")?))
        })
    }

    /// How many settlements were recorded, reversed or not.
    pub fn settlement_count(&self) -> Result<i64, LedgerError> {
        self.connection
            .one("SELECT COUNT(*) FROM settlements", args![], |row| row.get(0))
    }

    /// The id of the line of entry `key` (in any entity) on `account`.
    pub fn line_id_of(&self, key: &str, account: &str) -> Result<Option<i64>, LedgerError> {
        let mut statement = self.connection.prepare_once(
            "SELECT l.id AS line_id FROM lines l JOIN entries e ON e.id = l.entry_id WHERE e.entry_key = ?1 AND l.account = ?2",
        )?;
        first(&mut statement, args![key, account], |row| {
            Fields::new(row, "lines", super::line::LINE_KEY).integer("line_id")
        })
    }
}
