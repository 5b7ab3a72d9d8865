//! The raw-SQLite ceiling for import: the same journal CSV read with the same CSV reader, and the
//! same rows closebook stores inserted with prepared statements in one transaction.
//!
//! `insert_raw` is the ceiling the import target is measured against. It writes into a copy of
//! the benchmark's set-up closebook ledger, so into closebook's own `entries` and `lines` tables
//! with their columns, constraints, foreign keys and indexes, under the connection settings
//! closebook uses (WAL, synchronous NORMAL, foreign keys on). Every entry row carries all 20
//! columns (placeholders where closebook writes a SHA-256) and every line row all 11, with its
//! dimension set. No validation, conversion, hash chain, idempotency check or balances: what
//! closebook does on top of this is what its import costs.
//!
//! `insert_minimal` is a reference only: the same entries and lines into two bare tables with the
//! old benchmark's 9 and 10 columns, the same indexes, no foreign keys and no dimension sets.

use crate::measure::remove_database;
use anyhow::Context as _;
use closebook_ledger::dimension::{DimensionValues, canonical};
use rusqlite::{Connection, params};
use std::collections::HashMap;
use std::path::Path;

/// The placeholder written where closebook writes a SHA-256 in hex: same length, same storage.
const HASH_PLACEHOLDER: &str = "0000000000000000000000000000000000000000000000000000000000000000";
/// The CSV columns of `generate`'s journal, by position.
const DIMENSION_COLUMNS: [(usize, &str); 2] = [(7, "department"), (8, "project")];

const MINIMAL_SCHEMA: &str = "
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

/// Opens `database` with the connection settings closebook's store uses for a ledger.
fn open_like_closebook(database: &Path) -> anyhow::Result<Connection> {
    let connection = Connection::open(database).with_context(|| format!("opening {}", database.display()))?;
    let _mode: String = connection.query_row("PRAGMA journal_mode = WAL", [], |row| row.get(0))?;
    connection.execute_batch("PRAGMA foreign_keys = ON; PRAGMA synchronous = NORMAL;")?;
    Ok(connection)
}

fn journal_reader(journal: &Path) -> anyhow::Result<csv::Reader<std::io::BufReader<std::fs::File>>> {
    let file = std::fs::File::open(journal).with_context(|| format!("opening {}", journal.display()))?;
    Ok(csv::ReaderBuilder::new()
        .trim(csv::Trim::Fields)
        .from_reader(std::io::BufReader::with_capacity(1 << 20, file)))
}

/// A journal line's columns as closebook stores them: its canonical dimension set, its
/// currency (USD when blank) and its accounting amount (the amount when blank). The ceilings
/// of both databases read the CSV with it.
pub(crate) struct JournalLine<'r> {
    pub dimensions: String,
    pub currency: &'r str,
    pub accounting: &'r str,
}

pub(crate) fn journal_line(record: &csv::StringRecord) -> JournalLine<'_> {
    let field = |index: usize| record.get(index).unwrap_or("");
    let mut dimensions = DimensionValues::new();
    for (index, name) in DIMENSION_COLUMNS {
        if !field(index).is_empty() {
            dimensions.insert(name.to_owned(), field(index).to_owned());
        }
    }
    JournalLine {
        dimensions: canonical(&dimensions),
        currency: if field(4).is_empty() { "USD" } else { field(4) },
        accounting: if field(5).is_empty() { field(3) } else { field(5) },
    }
}

/// The ceiling: inserts every line of `journal` as closebook stores it into a copy of the set-up
/// ledger `template` at `database` (replaced); returns the lines inserted.
pub fn insert_raw(journal: &Path, template: &Path, database: &Path) -> anyhow::Result<u64> {
    remove_database(database)?;
    std::fs::copy(template, database)
        .with_context(|| format!("copying {} to {}", template.display(), database.display()))?;
    let mut connection = open_like_closebook(database)?;
    let mut reader = journal_reader(journal)?;
    let posted_at = closebook_ledger::now_text();
    let source = format!("import:{}", journal.display());
    let transaction = connection.transaction()?;
    let mut line_count = 0_u64;
    {
        let mut insert_entry = transaction.prepare(
            "INSERT INTO entries (entity_id, sequence, entry_key, fingerprint, date, period, fiscal_year, module, description,
                reverses_entry_id, posted_by, posted_at, source, run_id, task, plugin_name, plugin_version, plugin_sha256, previous_hash, hash)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20)",
        )?;
        let mut insert_line = transaction.prepare(
            "INSERT INTO lines (entry_id, entity_id, period, line_no, account, dimension_set_id, currency, amount, accounting_amount, description)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
        )?;
        let mut insert_dimension_set = transaction.prepare("INSERT INTO dimension_sets (canonical) VALUES (?1)")?;
        let mut dimension_sets: HashMap<String, i64> = transaction
            .prepare("SELECT canonical, id FROM dimension_sets")?
            .query_map([], |row| Ok((row.get(0)?, row.get(1)?)))?
            .collect::<Result<_, _>>()?;
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
                    crate::generate::FISCAL_YEAR,
                    "ledger",
                    field(6),
                    None::<i64>,
                    crate::generate::USER,
                    posted_at,
                    source,
                    None::<&str>,
                    None::<&str>,
                    None::<&str>,
                    None::<&str>,
                    None::<&str>,
                    HASH_PLACEHOLDER,
                    HASH_PLACEHOLDER
                ])?;
                entry_id = transaction.last_insert_rowid();
                key.clone_into(&mut current_key);
            }
            line_no += 1;
            let JournalLine {
                dimensions,
                currency,
                accounting,
            } = journal_line(&record);
            let dimension_set_id = match dimension_sets.get(&dimensions) {
                Some(id) => *id,
                None => {
                    insert_dimension_set.execute([&dimensions])?;
                    let id = transaction.last_insert_rowid();
                    dimension_sets.insert(dimensions, id);
                    id
                }
            };
            insert_line.execute(params![
                entry_id,
                crate::generate::ENTITY,
                period,
                line_no,
                field(2),
                dimension_set_id,
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

/// The reference: inserts every line of `journal` into two bare tables (9 and 10 columns, no
/// foreign keys) in a new database at `database` (replaced); returns the lines inserted.
pub fn insert_minimal(journal: &Path, database: &Path) -> anyhow::Result<u64> {
    remove_database(database)?;
    let mut connection = open_like_closebook(database)?;
    connection.execute_batch(MINIMAL_SCHEMA)?;
    let mut reader = journal_reader(journal)?;
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
