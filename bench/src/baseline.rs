//! The raw-SQLite ceiling for import: the same journal CSV read with the same CSV reader and its
//! rows inserted with prepared statements in one transaction, into tables with the columns,
//! unique constraints and indexes of closebook's `entries` and `lines`, under the same PRAGMAs
//! (WAL, synchronous NORMAL). No validation, conversion, hash chain or balances: what closebook
//! does on top of this is what its import costs.

use anyhow::Context as _;
use rusqlite::{Connection, params};
use std::path::Path;

/// The placeholder written where closebook writes a SHA-256 in hex: same length, same storage.
const HASH_PLACEHOLDER: &str = "0000000000000000000000000000000000000000000000000000000000000000";

const SCHEMA: &str = "
CREATE TABLE entries (
    id INTEGER PRIMARY KEY,
    entity_id TEXT NOT NULL,
    sequence INTEGER NOT NULL,
    entry_key TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    date TEXT NOT NULL,
    period TEXT NOT NULL,
    description TEXT NOT NULL,
    hash TEXT NOT NULL,
    UNIQUE (entity_id, sequence),
    UNIQUE (entity_id, entry_key)
);
CREATE INDEX entries_by_period ON entries (entity_id, period, id);
CREATE TABLE lines (
    id INTEGER PRIMARY KEY,
    entry_id INTEGER NOT NULL,
    entity_id TEXT NOT NULL,
    period TEXT NOT NULL,
    line_no INTEGER NOT NULL,
    account TEXT NOT NULL,
    currency TEXT NOT NULL,
    amount TEXT NOT NULL,
    accounting_amount TEXT NOT NULL,
    description TEXT NOT NULL
);
CREATE INDEX lines_by_entry ON lines (entry_id);
CREATE INDEX lines_by_account ON lines (entity_id, account, id);
";

/// Inserts every line of `journal` into a new database at `database`; returns the lines
/// inserted. The file at `database` is replaced.
pub fn insert_raw(journal: &Path, database: &Path) -> anyhow::Result<u64> {
    for suffix in ["", "-wal", "-shm"] {
        let path = database.with_file_name(format!(
            "{}{suffix}",
            database.file_name().and_then(|name| name.to_str()).unwrap_or("raw.db")
        ));
        if path.exists() {
            std::fs::remove_file(&path).with_context(|| format!("removing {}", path.display()))?;
        }
    }
    let mut connection = Connection::open(database).with_context(|| format!("creating {}", database.display()))?;
    let _mode: String = connection.query_row("PRAGMA journal_mode = WAL", [], |row| row.get(0))?;
    connection.execute_batch("PRAGMA synchronous = NORMAL;")?;
    connection.execute_batch(SCHEMA)?;
    let file = std::fs::File::open(journal).with_context(|| format!("opening {}", journal.display()))?;
    let mut reader = csv::ReaderBuilder::new()
        .trim(csv::Trim::Fields)
        .from_reader(std::io::BufReader::with_capacity(1 << 20, file));
    let transaction = connection.transaction()?;
    let mut line_count = 0_u64;
    {
        let mut insert_entry = transaction.prepare(
            "INSERT INTO entries (entity_id, sequence, entry_key, fingerprint, date, period, description, hash)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        )?;
        let mut insert_line = transaction.prepare(
            "INSERT INTO lines (entry_id, entity_id, period, line_no, account, currency, amount, accounting_amount, description)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
        )?;
        let mut current_key = String::new();
        let (mut entry_id, mut sequence, mut line_no) = (0_i64, 0_i64, 0_i64);
        for record in reader.records() {
            let record = record.context("reading the journal")?;
            let field = |index: usize| record.get(index).unwrap_or("");
            let (key, date) = (field(0), field(1));
            let period = date.get(..7).unwrap_or(date);
            if key != current_key {
                sequence += 1;
                line_no = 0;
                insert_entry.execute(params![
                    crate::generate::ENTITY,
                    sequence,
                    key,
                    HASH_PLACEHOLDER,
                    date,
                    period,
                    field(6),
                    HASH_PLACEHOLDER
                ])?;
                entry_id = transaction.last_insert_rowid();
                key.clone_into(&mut current_key);
            }
            line_no += 1;
            let currency = if field(4).is_empty() { "USD" } else { field(4) };
            let accounting = if field(5).is_empty() { field(3) } else { field(5) };
            insert_line.execute(params![
                entry_id,
                crate::generate::ENTITY,
                period,
                line_no,
                field(2),
                currency,
                field(3),
                accounting,
                field(6)
            ])?;
            line_count += 1;
        }
    }
    transaction.commit()?;
    Ok(line_count)
}
