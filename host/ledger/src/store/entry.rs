//! Posted entries read back: by key or id, by period, the whole chain for `verify`, the chain
//! head, and what staleness and reruns ask about entries posted after a point. Entries are
//! written by `posting.rs`.

use super::draft::ExistingKey;
use super::line::LineColumns;
use super::row::{Fields, all, at_most, column_index, first};
use super::sql::{Arg, Row, Statement, args};
use super::{Db, QUERY_ROWS_MAX};
use crate::error::LedgerError;
use crate::ids::{AccountNumber, EntityId, EntryKey, FiscalYearName, PeriodName, UserId};
use crate::journal::{PostedEntry, Provenance};
use crate::period::Module;
use std::collections::BTreeSet;

/// Entries one page of `visit_entries_with_lines` reads on PostgreSQL (about three lines each).
/// Seven in the crate's unit tests, so that their ledgers span pages.
const ENTRIES_PER_PAGE: usize = if cfg!(test) { 7 } else { 5_000 };

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

const ENTRY_COLUMNS: &str = "id, entity_id, sequence, entry_key, fingerprint, date, period, fiscal_year, module, description, reverses_entry_id, posted_by, posted_at, source, run_id, task, plugin_name, plugin_version, plugin_sha256, previous_hash, hash";

/// The columns that name an entry in an error.
const ENTRY_KEY: &[&str] = &["id", "entity_id", "entry_key"];

/// Where an entry's columns are in a statement's result: resolved once per statement, so that
/// reading a whole chain (`verify`) does not look each column up by name on every row.
struct EntryColumns {
    id: usize,
    entity: usize,
    sequence: usize,
    key: usize,
    fingerprint: usize,
    date: usize,
    period: usize,
    fiscal_year: usize,
    module: usize,
    description: usize,
    reverses_entry_id: usize,
    posted_by: usize,
    posted_at: usize,
    source: usize,
    run_id: usize,
    task: usize,
    plugin_name: usize,
    plugin_version: usize,
    plugin_sha256: usize,
    previous_hash: usize,
    hash: usize,
}

impl EntryColumns {
    fn resolve(statement: &Statement<'_>) -> Result<Self, LedgerError> {
        let index = |name| column_index(statement, name);
        Ok(Self {
            id: index("id")?,
            entity: index("entity_id")?,
            sequence: index("sequence")?,
            key: index("entry_key")?,
            fingerprint: index("fingerprint")?,
            date: index("date")?,
            period: index("period")?,
            fiscal_year: index("fiscal_year")?,
            module: index("module")?,
            description: index("description")?,
            reverses_entry_id: index("reverses_entry_id")?,
            posted_by: index("posted_by")?,
            posted_at: index("posted_at")?,
            source: index("source")?,
            run_id: index("run_id")?,
            task: index("task")?,
            plugin_name: index("plugin_name")?,
            plugin_version: index("plugin_version")?,
            plugin_sha256: index("plugin_sha256")?,
            previous_hash: index("previous_hash")?,
            hash: index("hash")?,
        })
    }

    /// The entry of this row, without its lines.
    fn read(&self, row: &Row<'_>) -> Result<PostedEntry, LedgerError> {
        let fields = Fields::new(row, "entries", ENTRY_KEY);
        Ok(PostedEntry {
            id: fields.integer(self.id)?,
            entity: EntityId(fields.text(self.entity)?),
            sequence: fields.integer(self.sequence)?,
            key: EntryKey(fields.text(self.key)?),
            fingerprint: fields.text(self.fingerprint)?,
            date: fields.date(self.date)?,
            period: PeriodName(fields.text(self.period)?),
            fiscal_year: FiscalYearName(fields.text(self.fiscal_year)?),
            module: fields.parsed(self.module, "a module", Module::parse)?,
            description: fields.text(self.description)?,
            reverses_entry_id: fields.optional_integer(self.reverses_entry_id)?,
            posted_by: UserId(fields.text(self.posted_by)?),
            posted_at: fields.text(self.posted_at)?,
            provenance: Provenance {
                source: fields.text(self.source)?,
                run_id: fields.optional_text(self.run_id)?,
                task: fields.optional_text(self.task)?,
                plugin_name: fields.optional_text(self.plugin_name)?,
                plugin_version: fields.optional_text(self.plugin_version)?,
                plugin_sha256: fields.optional_text(self.plugin_sha256)?,
            },
            lines: Vec::new(),
            previous_hash: fields.text(self.previous_hash)?,
            hash: fields.text(self.hash)?,
        })
    }
}

impl Db<'_> {
    /// The posted entry of `key`, if any; drafts are not looked at (see `existing_key`).
    pub fn existing_posted_key(&self, entity: &EntityId, key: &EntryKey) -> Result<Option<ExistingKey>, LedgerError> {
        let mut statement = self
            .connection
            .prepare("SELECT id, fingerprint FROM entries WHERE entity_id = ?1 AND entry_key = ?2")?;
        let posted = first(&mut statement, args![entity.as_str(), key.as_str()], |row| {
            let fields = Fields::new(row, "entries", ENTRY_KEY);
            Ok((fields.integer("id")?, fields.text("fingerprint")?))
        })?;
        Ok(posted.map(|(id, fingerprint)| ExistingKey {
            fingerprint,
            posted_entry_id: Some(id),
            draft_id: None,
        }))
    }

    /// The last sequence number and hash of the entity's chain.
    pub fn ledger_head(&self, entity: &EntityId) -> Result<(i64, String), LedgerError> {
        let mut statement = self
            .connection
            .prepare("SELECT entity_id, sequence, hash FROM ledger_heads WHERE entity_id = ?1")?;
        let head = first(&mut statement, args![entity.as_str()], |row| {
            let fields = Fields::new(row, "ledger_heads", &["entity_id"]);
            Ok((fields.integer("sequence")?, fields.text("hash")?))
        })?;
        Ok(head.unwrap_or((0, crate::journal::GENESIS_HASH.to_owned())))
    }

    pub fn entry_count(&self, entity: Option<&EntityId>) -> Result<i64, LedgerError> {
        self.connection.one(
            "SELECT COUNT(*) FROM entries WHERE CAST(?1 AS TEXT) IS NULL OR entity_id = ?1",
            args![entity.map(|entity| entity.as_str())],
            |row| row.get(0),
        )
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
        let mut statement = self.connection.prepare(&format!(
            "SELECT {ENTRY_COLUMNS} FROM entries WHERE entity_id = ?1 AND entry_key = ?2"
        ))?;
        let columns = EntryColumns::resolve(&statement)?;
        let entry = first(&mut statement, args![entity.as_str(), key.as_str()], |row| {
            columns.read(row)
        })?;
        Ok(self.with_lines(entry.into_iter().collect())?.pop())
    }

    pub fn entry_by_id(&self, id: i64) -> Result<Option<PostedEntry>, LedgerError> {
        let mut statement = self
            .connection
            .prepare(&format!("SELECT {ENTRY_COLUMNS} FROM entries WHERE id = ?1"))?;
        let columns = EntryColumns::resolve(&statement)?;
        let entry = first(&mut statement, args![id], |row| columns.read(row))?;
        Ok(self.with_lines(entry.into_iter().collect())?.pop())
    }

    /// The entry that reverses `entry_id`, if any.
    pub fn reversal_of(&self, entry_id: i64) -> Result<Option<EntryKey>, LedgerError> {
        let mut statement = self
            .connection
            .prepare("SELECT id, entity_id, entry_key FROM entries WHERE reverses_entry_id = ?1")?;
        first(&mut statement, args![entry_id], |row| {
            Ok(EntryKey(Fields::new(row, "entries", ENTRY_KEY).text("entry_key")?))
        })
    }

    /// Entries of a period (all periods when none) in posting order, with their lines.
    pub fn entries(&self, entity: &EntityId, period: Option<&PeriodName>) -> Result<Vec<PostedEntry>, LedgerError> {
        let mut statement = self.connection.prepare(&format!(
            "SELECT {ENTRY_COLUMNS} FROM entries WHERE entity_id = ?1 AND (CAST(?2 AS TEXT) IS NULL OR period = ?2) ORDER BY sequence"
        ))?;
        let columns = EntryColumns::resolve(&statement)?;
        let entries = at_most(
            &mut statement,
            args![entity.as_str(), period.map(|period| period.as_str())],
            QUERY_ROWS_MAX,
            |row| columns.read(row),
        )?;
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

    /// `for_each_entry` from the entry after `sequence` on: what a verify since a checkpoint
    /// reads.
    pub fn for_each_entry_after(
        &self,
        entity: &EntityId,
        sequence: i64,
        visit: impl FnMut(PostedEntry) -> Result<(), LedgerError>,
    ) -> Result<(), LedgerError> {
        self.visit_entries_with_lines(
            "entries e",
            "e.entity_id = ?1 AND e.sequence > ?2",
            "e.sequence",
            &[&entity.as_str(), &sequence],
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
            self.entries_through_period_index(),
            "e.entity_id = ?1 AND e.period = ?2",
            "e.id",
            &[&entity.as_str(), &period.as_str()],
            visit,
        )
    }

    /// `entries e`, read through the period index `entries_by_period`. `INDEXED BY` is
    /// SQLite's; PostgreSQL's planner picks the index by itself.
    fn entries_through_period_index(&self) -> &'static str {
        if self.connection.is_postgres() {
            "entries e"
        } else {
            "entries e INDEXED BY entries_by_period"
        }
    }

    /// The entries of `source` matching `condition` (fixed SQL texts over `e`, never input) in
    /// `order` (`e.sequence` or `e.id`), each with its lines in line order, read in one query
    /// rather than one per entry.
    fn visit_entries_with_lines(
        &self,
        source: &'static str,
        condition: &'static str,
        order: &'static str,
        parameters: &[&dyn Arg],
        mut visit: impl FnMut(PostedEntry) -> Result<(), LedgerError>,
    ) -> Result<(), LedgerError> {
        let entry_columns = ENTRY_COLUMNS
            .split(", ")
            .map(|column| format!("e.{column}"))
            .collect::<Vec<_>>()
            .join(", ");
        let line_columns_sql = "l.id AS line_id, l.line_no, l.account, s.canonical AS dimensions, l.currency, l.amount, l.accounting_amount, l.description AS line_description";
        let lines_joined =
            "LEFT JOIN lines l ON l.entry_id = e.id LEFT JOIN dimension_sets s ON s.id = l.dimension_set_id";
        if self.connection.is_postgres() {
            // PostgreSQL hands a query's rows over whole (`sql.rs`): read a page of entries at a
            // time, so that a whole-ledger verify or a period check holds one page, as SQLite,
            // which steps through the rows, holds one entry. A page is entries after the last
            // one read, in `order`, which is unique within an entity (sequence or id).
            let after = parameters.len() + 1;
            let sql = format!(
                "SELECT {entry_columns}, {line_columns_sql}
                 FROM (SELECT * FROM {source} WHERE {condition} AND {order} > ?{after} ORDER BY {order} LIMIT {ENTRIES_PER_PAGE}) e
                 {lines_joined} ORDER BY {order}, l.line_no"
            );
            let mut last = i64::MIN;
            loop {
                let mut arguments = parameters.to_vec();
                arguments.push(&last);
                let mut statement = self.connection.prepare_once(&sql)?;
                let mut read = 0;
                let mut next = last;
                self.visit_rows_as_entries(&mut statement, &arguments, &mut |entry| {
                    read += 1;
                    next = if order == "e.sequence" {
                        entry.sequence
                    } else {
                        entry.id
                    };
                    visit(entry)
                })?;
                if read < ENTRIES_PER_PAGE {
                    return Ok(());
                }
                last = next;
            }
        }
        let mut statement = self.connection.prepare_once(&format!(
            "SELECT {entry_columns}, {line_columns_sql}
             FROM {source} {lines_joined}
             WHERE {condition} ORDER BY {order}, l.line_no"
        ))?;
        self.visit_rows_as_entries(&mut statement, parameters, &mut visit)
    }

    /// Runs `statement` (entries joined with their lines, an entry's rows together) and calls
    /// `visit` with each entry, its lines included.
    fn visit_rows_as_entries(
        &self,
        statement: &mut Statement<'_>,
        parameters: &[&dyn Arg],
        visit: &mut dyn FnMut(PostedEntry) -> Result<(), LedgerError>,
    ) -> Result<(), LedgerError> {
        let entry_columns = EntryColumns::resolve(statement)?;
        let line_columns = LineColumns::resolve(statement)?;
        let mut current: Option<PostedEntry> = None;
        statement.for_each(parameters, &mut |row| {
            let id = Fields::new(row, "entries", ENTRY_KEY).integer(entry_columns.id)?;
            if current.as_ref().is_none_or(|entry| entry.id != id) {
                if let Some(done) = current.take() {
                    visit(done)?;
                }
                current = Some(entry_columns.read(row)?);
            }
            // An entry without lines comes once, with NULL line columns; a line whose dimension
            // set is missing is left out, as the inner join of `lines_of` leaves it out (the
            // entry's hash then shows it).
            if line_columns.present(row)? {
                let entry = current.as_mut().expect("the entry of this row was just read");
                entry.lines.push(line_columns.read(row)?);
            }
            Ok(())
        })?;
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
        let mut statement = self
            .connection
            .prepare("SELECT id, entity_id, entry_key, hash FROM entries WHERE entity_id = ?1 AND sequence = ?2")?;
        first(&mut statement, args![entity.as_str(), sequence], |row| {
            Fields::new(row, "entries", ENTRY_KEY).text("hash")
        })
    }

    /// The hash of the last entry an entity posted in each of `periods` (`None` for a period
    /// without entries), one seek of the period index each. What the maintained balances of
    /// those periods hold changes only when an entry is posted into them, and an entry's hash
    /// commits to every entry before it, so while these hashes are unchanged, so are the
    /// periods' balances: a cache of balances compares them instead of reading the rows again.
    pub fn last_entry_hashes(
        &self,
        entity: &EntityId,
        periods: &[PeriodName],
    ) -> Result<Vec<Option<String>>, LedgerError> {
        let source = self.entries_through_period_index();
        let mut statement = self.connection.prepare(&format!(
            "SELECT e.id, e.entity_id, e.entry_key, e.hash FROM {source}
             WHERE e.entity_id = ?1 AND e.period = ?2 ORDER BY e.id DESC LIMIT 1"
        ))?;
        periods
            .iter()
            .map(|period| {
                first(&mut statement, args![entity.as_str(), period.as_str()], |row| {
                    Fields::new(row, "entries", ENTRY_KEY).text("hash")
                })
            })
            .collect()
    }

    /// Entries of an entity after a sequence number in the periods named, oldest first: what a
    /// staleness check asks on every board read. The query seeks each named period in the period
    /// index from the id of the entry at `sequence`, so its cost follows the entries it returns:
    /// entries of other periods (a stream of imports into the next month) are never visited,
    /// however many there are. An entry's id is allocated with its sequence, by the one writer,
    /// so an entity's later sequences have larger ids; the sequence is compared too.
    pub fn entries_after_in_periods<'p>(
        &self,
        entity: &EntityId,
        sequence: i64,
        periods: impl IntoIterator<Item = &'p str>,
    ) -> Result<Vec<LaterEntry>, LedgerError> {
        let periods: Vec<&str> = periods.into_iter().collect();
        let source = self.entries_through_period_index();
        let mut statement = self.connection.prepare(&format!(
            "SELECT e.id, e.entity_id, e.entry_key, e.period, e.task,
                    (SELECT string_agg(account, ?4 ORDER BY account)
                     FROM (SELECT DISTINCT account FROM lines WHERE entry_id = e.id) AS entry_accounts) AS accounts
             FROM {source} WHERE e.entity_id = ?1 AND e.period IN (SELECT value FROM json_each(?3))
               AND e.id > COALESCE((SELECT f.id FROM entries f WHERE f.entity_id = ?1 AND f.sequence = ?2), 0)
               AND e.sequence > ?2 ORDER BY e.sequence",
        ))?;
        let periods = serde_json::to_string(&periods).map_err(|error| LedgerError::Invalid(error.to_string()))?;
        Self::later_entries(&mut statement, args![entity.as_str(), sequence, periods, "\u{1f}"])
    }

    fn later_entries(statement: &mut Statement<'_>, parameters: &[&dyn Arg]) -> Result<Vec<LaterEntry>, LedgerError> {
        at_most(statement, parameters, QUERY_ROWS_MAX, |row| {
            let fields = Fields::new(row, "entries", ENTRY_KEY);
            Ok(LaterEntry {
                key: EntryKey(fields.text("entry_key")?),
                period: PeriodName(fields.text("period")?),
                task: fields.optional_text("task")?,
                accounts: fields
                    .optional_text("accounts")?
                    .unwrap_or_default()
                    .split('\u{1f}')
                    .filter(|account| !account.is_empty())
                    .map(AccountNumber::new)
                    .collect(),
            })
        })
    }

    /// The entries a run posted, in every entity it posted to (its automatic reversals
    /// included), that a rerun has not cancelled yet, in posting order.
    pub fn entries_to_negate_for_rerun(&self, run_id: &str) -> Result<Vec<(EntityId, EntryKey)>, LedgerError> {
        let mut statement = self.connection.prepare(
            "SELECT e.id, e.entity_id, e.entry_key FROM entries e WHERE e.run_id = ?1
               AND NOT EXISTS (SELECT 1 FROM entries r WHERE r.entity_id = e.entity_id AND r.entry_key = 'rerun-of-' || e.entry_key)
             ORDER BY e.id",
        )?;
        all(&mut statement, args![run_id], |row| {
            let fields = Fields::new(row, "entries", ENTRY_KEY);
            Ok((EntityId(fields.text("entity_id")?), EntryKey(fields.text("entry_key")?)))
        })
    }
}
