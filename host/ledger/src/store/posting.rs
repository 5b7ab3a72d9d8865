//! Writing posted entries: the per-entity sequence and hash chain, the lines, and the maintained
//! balances. A `PostingBatch` lives inside one write transaction; balance changes are summed in
//! memory and written once at `finish` (through `balance_update.rs`), so posting a million
//! entries touches each balance row once, not once per line. `finish` writes both maintained
//! tables: `balances` (per dimension set) and `account_balances` (the same without dimensions,
//! what the statements read).

use super::Db;
use super::balance_update::{
    ACCOUNT_BALANCES, AccountBalanceKey, BALANCES, BalanceDelta, accounting_total, add_to_account_balance,
    add_to_balance, add_to_balances_in_bulk,
};
use super::row::Fields;
use super::sql::{Arg, Conn, CopyRows, Statement, Value, args};
use crate::error::LedgerError;
use crate::ids::{AccountNumber, CurrencyCode, EntityId, EntryKey, PeriodName, UserId};
use crate::journal::{EntryTexts, PostedEntry, Provenance, ValidEntry, assert_balanced};
use std::collections::{BTreeMap, BTreeSet, HashMap};

type BalanceKey = (PeriodName, AccountNumber, i64, CurrencyCode);

/// Balance keys as small integers while a batch sums its deltas, so that the per-line update of
/// the sums neither clones nor hashes three strings. Periods and currencies are few (looked up by
/// position); accounts are a map.
#[derive(Default)]
struct DeltaKeys {
    periods: Vec<PeriodName>,
    accounts: HashMap<AccountNumber, u32>,
    account_numbers: Vec<AccountNumber>,
    currencies: Vec<CurrencyCode>,
}

/// A `balances` key as `DeltaKeys` indexes: period, account, dimension set, currency.
type DeltaKey = (u32, u32, i64, u32);

fn index_in<T: PartialEq + Clone>(values: &mut Vec<T>, value: &T) -> u32 {
    let index = match values.iter().position(|known| known == value) {
        Some(index) => index,
        None => {
            values.push(value.clone());
            values.len() - 1
        }
    };
    u32::try_from(index).expect("fewer than 2^32 periods or currencies in one batch")
}

impl DeltaKeys {
    fn account(&mut self, account: &AccountNumber) -> u32 {
        if let Some(index) = self.accounts.get(account) {
            return *index;
        }
        let index = u32::try_from(self.account_numbers.len()).expect("fewer than 2^32 accounts in one batch");
        self.account_numbers.push(account.clone());
        self.accounts.insert(account.clone(), index);
        index
    }

    fn resolve(&self, (period, account, dimension_set_id, currency): DeltaKey) -> BalanceKey {
        (
            self.periods[period as usize].clone(),
            self.account_numbers[account as usize].clone(),
            dimension_set_id,
            self.currencies[currency as usize].clone(),
        )
    }
}

macro_rules! insert_entry {
    () => {
        "INSERT INTO entries (entity_id, sequence, entry_key, fingerprint, date, period, fiscal_year, module, description,
        reverses_entry_id, posted_by, posted_at, source, run_id, task, plugin_name, plugin_version, plugin_sha256, previous_hash, hash)
     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20)
     ON CONFLICT (entity_id, entry_key) DO NOTHING"
    };
}
const INSERT_ENTRY: &str = insert_entry!();
const INSERT_LINE: &str = "INSERT INTO lines (entry_id, entity_id, period, line_no, account, dimension_set_id, currency, amount, accounting_amount, description)
     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)";

/// The columns every entry of a batch shares: bound once, not per row (SQLite keeps a
/// statement's bindings from one execution to the next).
#[derive(PartialEq, Eq)]
struct SharedColumns {
    entity: EntityId,
    posted_by: UserId,
    posted_at: String,
    provenance: Provenance,
}

/// The two inserts of posting, prepared once and held for a whole batch.
///
/// On SQLite each parameter is bound by itself and the columns all entries of a batch share are
/// bound once (`bind_shared`): most of an import's time is spent here. On PostgreSQL each
/// insert is one round trip with all its arguments, and the entry's insert returns its id.
pub struct PostingStatements<'c> {
    connection: Conn<'c>,
    entry: Statement<'c>,
    line: Statement<'c>,
    /// What the shared columns are bound to now.
    shared: Option<SharedColumns>,
    /// PostgreSQL: the lines of the entry being posted, written together once it is done.
    pending_lines: Vec<PendingLine>,
}

/// A line kept for `write_pending_lines`.
struct PendingLine {
    line_no: i64,
    account: String,
    dimension_set_id: i64,
    currency: String,
    amount: String,
    accounting_amount: String,
    description: String,
}

/// The most lines one PostgreSQL statement writes: 10 parameters each, well under the
/// protocol's 65,535.
const LINES_PER_STATEMENT: usize = 1_000;

/// The start of a many-row insert of lines; the rows follow.
const INSERT_LINES: &str = "INSERT INTO lines (entry_id, entity_id, period, line_no, account, dimension_set_id, currency, amount, accounting_amount, description) VALUES";

/// The entry insert on PostgreSQL: the same, returning the new row's id (none on a conflict).
const INSERT_ENTRY_RETURNING_ID: &str = concat!(insert_entry!(), " RETURNING id");

impl<'c> PostingStatements<'c> {
    pub fn prepare(db: &Db<'c>) -> Result<Self, LedgerError> {
        let entry = if db.connection.is_postgres() {
            INSERT_ENTRY_RETURNING_ID
        } else {
            INSERT_ENTRY
        };
        Ok(Self {
            connection: db.connection,
            entry: db.connection.prepare(entry)?,
            line: db.connection.prepare(INSERT_LINE)?,
            shared: None,
            pending_lines: Vec::new(),
        })
    }

    /// Inserts `entry`'s row and returns its id, or `None` when the entity has an entry with its
    /// key already.
    fn insert_entry(&mut self, entry: &PostedEntry, texts: &EntryTexts) -> Result<Option<i64>, LedgerError> {
        let Conn::Sqlite(connection) = self.connection else {
            let provenance = &entry.provenance;
            let mut id = None;
            self.entry.for_each(
                args![
                    entry.entity.as_str(),
                    entry.sequence,
                    entry.key.as_str(),
                    entry.fingerprint,
                    texts.date,
                    entry.period.as_str(),
                    entry.fiscal_year.as_str(),
                    entry.module.as_str(),
                    entry.description,
                    entry.reverses_entry_id,
                    entry.posted_by.as_str(),
                    entry.posted_at,
                    provenance.source,
                    provenance.run_id,
                    provenance.task,
                    provenance.plugin_name,
                    provenance.plugin_version,
                    provenance.plugin_sha256,
                    entry.previous_hash,
                    entry.hash
                ],
                &mut |row| {
                    id = Some(Fields::new(row, "entries", &["id"]).integer(0)?);
                    Ok(())
                },
            )?;
            return Ok(id);
        };
        self.bind_shared(entry)?;
        let Some(statement) = self.entry.sqlite() else {
            unreachable!("a SQLite connection prepares SQLite statements")
        };
        statement.raw_bind_parameter(2, entry.sequence)?;
        statement.raw_bind_parameter(3, entry.key.as_str())?;
        statement.raw_bind_parameter(4, &entry.fingerprint)?;
        statement.raw_bind_parameter(5, &texts.date)?;
        statement.raw_bind_parameter(6, entry.period.as_str())?;
        statement.raw_bind_parameter(7, entry.fiscal_year.as_str())?;
        statement.raw_bind_parameter(8, entry.module.as_str())?;
        statement.raw_bind_parameter(9, &entry.description)?;
        statement.raw_bind_parameter(10, entry.reverses_entry_id)?;
        statement.raw_bind_parameter(19, &entry.previous_hash)?;
        statement.raw_bind_parameter(20, &entry.hash)?;
        if statement.raw_execute()? == 0 {
            return Ok(None);
        }
        Ok(Some(connection.last_insert_rowid()))
    }

    /// Inserts one line of the entry `entry_id`, whose entity and period the caller bound with
    /// [`Self::bind_line_entry`].
    fn insert_line(
        &mut self,
        line: &crate::journal::PostedLine,
        dimension_set_id: i64,
        amount: &str,
        accounting_amount: &str,
    ) -> Result<(), LedgerError> {
        let Some(statement) = self.line.sqlite() else {
            // Written with the entry's other lines, in one statement, by `write_pending_lines`.
            self.pending_lines.push(PendingLine {
                line_no: i64::from(line.line_no),
                account: line.account.as_str().to_owned(),
                dimension_set_id,
                currency: line.currency.as_str().to_owned(),
                amount: amount.to_owned(),
                accounting_amount: accounting_amount.to_owned(),
                description: line.description.clone(),
            });
            return Ok(());
        };
        statement.raw_bind_parameter(4, line.line_no)?;
        statement.raw_bind_parameter(5, line.account.as_str())?;
        statement.raw_bind_parameter(6, dimension_set_id)?;
        statement.raw_bind_parameter(7, line.currency.as_str())?;
        statement.raw_bind_parameter(8, amount)?;
        statement.raw_bind_parameter(9, accounting_amount)?;
        statement.raw_bind_parameter(10, &line.description)?;
        statement.raw_execute()?;
        Ok(())
    }

    /// Writes the lines of `entry` that `insert_line` kept (PostgreSQL): all of them in one
    /// statement of many rows (up to `LINES_PER_STATEMENT`), one round trip instead of one per
    /// line.
    fn write_pending_lines(&mut self, entry: &PostedEntry) -> Result<(), LedgerError> {
        let pending = std::mem::take(&mut self.pending_lines);
        for chunk in pending.chunks(LINES_PER_STATEMENT) {
            let rows: Vec<String> = (0..chunk.len())
                .map(|row| {
                    let first = row * 10;
                    let placeholders: Vec<String> = (1..=10).map(|column| format!("?{}", first + column)).collect();
                    format!("({})", placeholders.join(", "))
                })
                .collect();
            let sql = format!("{INSERT_LINES} {}", rows.join(", "));
            let (entity, period) = (entry.entity.as_str(), entry.period.as_str());
            let mut arguments: Vec<&dyn Arg> = Vec::with_capacity(chunk.len() * 10);
            for line in chunk {
                arguments.extend_from_slice(&[
                    &entry.id as &dyn Arg,
                    &entity,
                    &period,
                    &line.line_no,
                    &line.account,
                    &line.dimension_set_id,
                    &line.currency,
                    &line.amount,
                    &line.accounting_amount,
                    &line.description,
                ]);
            }
            self.connection.execute(&sql, &arguments)?;
        }
        Ok(())
    }

    /// Binds the columns every line of `entry` shares (SQLite only; PostgreSQL passes them
    /// with each line).
    fn bind_line_entry(&mut self, entry: &PostedEntry) -> Result<(), LedgerError> {
        if let Some(statement) = self.line.sqlite() {
            statement.raw_bind_parameter(1, entry.id)?;
            statement.raw_bind_parameter(3, entry.period.as_str())?;
        }
        Ok(())
    }

    /// Binds the shared columns of `entry`, unless they are bound already.
    fn bind_shared(&mut self, entry: &PostedEntry) -> Result<(), LedgerError> {
        let unchanged = self.shared.as_ref().is_some_and(|shared| {
            shared.entity == entry.entity
                && shared.posted_by == entry.posted_by
                && shared.posted_at == entry.posted_at
                && shared.provenance == entry.provenance
        });
        if unchanged {
            return Ok(());
        }
        let provenance = &entry.provenance;
        let Some(statement) = self.entry.sqlite() else {
            return Ok(());
        };
        statement.raw_bind_parameter(1, entry.entity.as_str())?;
        statement.raw_bind_parameter(11, entry.posted_by.as_str())?;
        statement.raw_bind_parameter(12, &entry.posted_at)?;
        statement.raw_bind_parameter(13, &provenance.source)?;
        statement.raw_bind_parameter(14, &provenance.run_id)?;
        statement.raw_bind_parameter(15, &provenance.task)?;
        statement.raw_bind_parameter(16, &provenance.plugin_name)?;
        statement.raw_bind_parameter(17, &provenance.plugin_version)?;
        statement.raw_bind_parameter(18, &provenance.plugin_sha256)?;
        if let Some(line) = self.line.sqlite() {
            line.raw_bind_parameter(2, entry.entity.as_str())?;
        }
        self.shared = Some(SharedColumns {
            entity: entry.entity.clone(),
            posted_by: entry.posted_by.clone(),
            posted_at: entry.posted_at.clone(),
            provenance: provenance.clone(),
        });
        Ok(())
    }
}

/// An entry made ready to post ahead of the writer (on another thread, for an import): its
/// hash-chain fields stamped on the assumption that every entry staged before it posts, and the
/// texts its row and hash share rendered once. `PostingBatch::post_staged` re-stamps it when the
/// assumption failed (an entry before it turned out to be posted already).
pub struct StagedEntry {
    entry: PostedEntry,
    texts: EntryTexts,
}

impl StagedEntry {
    pub fn key(&self) -> &EntryKey {
        &self.entry.key
    }
}

/// Stamps validated entries in chain order: the sequence and hash they will have if every entry
/// stamped before them posts.
pub struct Stager {
    entity: EntityId,
    sequence: i64,
    hash: String,
    posted_by: UserId,
    posted_at: String,
    provenance: Provenance,
}

impl Stager {
    pub fn stage(&mut self, valid: ValidEntry) -> StagedEntry {
        let mut entry = PostedEntry {
            id: 0,
            entity: self.entity.clone(),
            sequence: self.sequence + 1,
            key: valid.key,
            fingerprint: valid.fingerprint,
            date: valid.date,
            period: valid.period,
            fiscal_year: valid.fiscal_year,
            module: valid.module,
            description: valid.description,
            reverses_entry_id: valid.reverses_entry_id,
            posted_by: self.posted_by.clone(),
            posted_at: self.posted_at.clone(),
            provenance: self.provenance.clone(),
            lines: valid.lines,
            previous_hash: std::mem::take(&mut self.hash),
            hash: String::new(),
        };
        let texts = entry.texts();
        entry.hash = entry.compute_hash_with(&texts);
        self.sequence = entry.sequence;
        self.hash.clone_from(&entry.hash);
        StagedEntry { entry, texts }
    }
}

pub struct PostingBatch {
    entity: EntityId,
    sequence: i64,
    hash: String,
    posted_by: UserId,
    posted_at: String,
    dimension_sets: HashMap<String, i64>,
    keys: DeltaKeys,
    deltas: HashMap<DeltaKey, BalanceDelta>,
    posted_count: usize,
}

impl PostingBatch {
    /// Starts a batch at the entity's current chain head. Call inside `Store::write`.
    pub fn begin(db: &Db<'_>, entity: &EntityId, posted_by: &UserId) -> Result<Self, LedgerError> {
        let (sequence, hash) = db.ledger_head(entity)?;
        let mut dimension_sets = HashMap::new();
        let mut statement = db.connection.prepare("SELECT canonical, id FROM dimension_sets")?;
        statement.for_each(args![], &mut |row| {
            let fields = Fields::new(row, "dimension_sets", &["id"]);
            dimension_sets.insert(fields.text("canonical")?, fields.integer("id")?);
            Ok(())
        })?;
        Ok(Self {
            entity: entity.clone(),
            sequence,
            hash,
            posted_by: posted_by.clone(),
            posted_at: crate::now_text(),
            dimension_sets,
            keys: DeltaKeys::default(),
            deltas: HashMap::new(),
            posted_count: 0,
        })
    }

    /// The entity's sequence number after the entries posted so far.
    pub fn sequence(&self) -> i64 {
        self.sequence
    }

    pub fn posted_count(&self) -> usize {
        self.posted_count
    }

    /// A stager that continues this batch's chain as it stands, for entries of `provenance`.
    pub fn stager(&self, provenance: &Provenance) -> Stager {
        Stager {
            entity: self.entity.clone(),
            sequence: self.sequence,
            hash: self.hash.clone(),
            posted_by: self.posted_by.clone(),
            posted_at: self.posted_at.clone(),
            provenance: provenance.clone(),
        }
    }

    fn dimension_set_id(&mut self, connection: Conn<'_>, canonical: &str) -> Result<i64, LedgerError> {
        if let Some(id) = self.dimension_sets.get(canonical) {
            return Ok(*id);
        }
        let id =
            connection.insert_returning_id("INSERT INTO dimension_sets (canonical) VALUES (?1)", args![canonical])?;
        self.dimension_sets.insert(canonical.to_owned(), id);
        Ok(id)
    }

    /// Appends one validated entry to the entity's chain and stages its balance changes.
    /// Refuses an entry whose key the entity has posted already.
    pub fn post(
        &mut self,
        db: &Db<'_>,
        valid: ValidEntry,
        provenance: &Provenance,
    ) -> Result<PostedEntry, LedgerError> {
        let key = valid.key.clone();
        let staged = self.stager(provenance).stage(valid);
        self.post_staged(&mut PostingStatements::prepare(db)?, staged)?
            .ok_or_else(|| {
                LedgerError::Invalid(format!(
                    "entity {} has posted an entry {key} already: give the new entry another key",
                    self.entity
                ))
            })
    }

    /// Posts a staged entry: appends it to the chain (re-stamping it if the chain moved
    /// otherwise than its stager assumed), writes its rows and stages its balance changes.
    /// Returns `None`, having written nothing, when the entity has posted an entry with its key.
    pub fn post_staged(
        &mut self,
        statements: &mut PostingStatements<'_>,
        staged: StagedEntry,
    ) -> Result<Option<PostedEntry>, LedgerError> {
        let StagedEntry { mut entry, texts } = staged;
        self.chain(&mut entry, &texts);
        let Some(id) = statements.insert_entry(&entry, &texts)? else {
            return Ok(None);
        };
        entry.id = id;
        let period = index_in(&mut self.keys.periods, &entry.period);
        statements.bind_line_entry(&entry)?;
        for (line, (amount, accounting_amount)) in entry.lines.iter().zip(&texts.amounts) {
            let dimension_set_id = self.dimension_set_id(statements.connection, &line.dimensions)?;
            statements.insert_line(line, dimension_set_id, amount, accounting_amount)?;
            self.add_delta(period, line, dimension_set_id)?;
        }
        statements.write_pending_lines(&entry)?;
        self.sequence = entry.sequence;
        self.hash.clone_from(&entry.hash);
        self.posted_count += 1;
        Ok(Some(entry))
    }

    /// Checks a staged entry and re-stamps it onto the chain's head when the chain moved
    /// otherwise than its stager assumed (an entry before it was not posted).
    fn chain(&self, entry: &mut PostedEntry, texts: &EntryTexts) {
        assert_balanced(&self.entity, &entry.key, &entry.lines);
        assert_eq!(entry.entity, self.entity, "an entry staged for another entity");
        if entry.sequence != self.sequence + 1 || entry.previous_hash != self.hash {
            entry.sequence = self.sequence + 1;
            entry.previous_hash.clone_from(&self.hash);
            entry.hash = entry.compute_hash_with(texts);
        }
    }

    /// Adds `line`, of the period `period` indexes, to the balance changes staged.
    fn add_delta(
        &mut self,
        period: u32,
        line: &crate::journal::PostedLine,
        dimension_set_id: i64,
    ) -> Result<(), LedgerError> {
        let key = (
            period,
            self.keys.account(&line.account),
            dimension_set_id,
            index_in(&mut self.keys.currencies, &line.currency),
        );
        let delta = self.deltas.entry(key).or_default();
        delta.amount = delta.amount.checked_add(line.amount).ok_or(LedgerError::Overflow)?;
        delta.accounting_amount = delta
            .accounting_amount
            .checked_add(line.accounting_amount)
            .ok_or(LedgerError::Overflow)?;
        if line.accounting_amount.is_sign_positive() {
            delta.debit = delta
                .debit
                .checked_add(line.accounting_amount)
                .ok_or(LedgerError::Overflow)?;
        } else {
            delta.credit = delta
                .credit
                .checked_sub(line.accounting_amount)
                .ok_or(LedgerError::Overflow)?;
        }
        Ok(())
    }

    /// Posts staged entries, in order, as [`Self::post_staged`] posts each, and says what became
    /// of each: posted, or not written because its key was posted before (by an earlier entry of
    /// `staged`, too).
    ///
    /// On PostgreSQL the entries are written together: one query finds the keys posted before,
    /// one reserves the new entries' ids, and two `COPY`s write the entries and their lines. Four
    /// round trips for the lot instead of two per entry; the writer holds the ledger's write lock,
    /// so no other writer can post one of the keys in between.
    pub fn post_many(
        &mut self,
        statements: &mut PostingStatements<'_>,
        staged: Vec<StagedEntry>,
    ) -> Result<Vec<Posted>, LedgerError> {
        if statements.connection.is_postgres() {
            return self.post_many_by_copy(statements.connection, staged);
        }
        let mut outcomes = Vec::with_capacity(staged.len());
        for entry in staged {
            let key = entry.key().clone();
            if self.post_staged(statements, entry)?.is_some() {
                outcomes.push(Posted::New);
                continue;
            }
            let fingerprint = statements.connection.one(
                "SELECT fingerprint FROM entries WHERE entity_id = ?1 AND entry_key = ?2",
                args![self.entity.as_str(), key.as_str()],
                |row| Fields::new(row, "entries", &["fingerprint"]).text(0),
            )?;
            outcomes.push(Posted::KeyPostedBefore { fingerprint });
        }
        Ok(outcomes)
    }

    /// `post_many` on PostgreSQL.
    fn post_many_by_copy(
        &mut self,
        connection: Conn<'_>,
        staged: Vec<StagedEntry>,
    ) -> Result<Vec<Posted>, LedgerError> {
        let keys: Vec<&str> = staged.iter().map(|staged| staged.entry.key.as_str()).collect();
        let keys = serde_json::to_string(&keys).expect("a list of texts serializes");
        let mut posted_before: HashMap<String, String> = HashMap::new();
        // Each key looked up by itself through the (entity, key) index: a LATERAL subquery that
        // LIMIT keeps from being flattened into a join, planned for each call. Joined, or
        // planned once, PostgreSQL scanned the entity's entries for every chunk whenever its
        // statistics called the table small: a plan cached while `entries` was empty (30 ms a
        // chunk at 200,000 entries, half the import), or a table grown by an import rolled back.
        connection
            .prepare_once(
                "SELECT k.value AS entry_key, e.fingerprint FROM json_each(?2) k
                 CROSS JOIN LATERAL (SELECT fingerprint FROM entries e
                                     WHERE e.entity_id = ?1 AND e.entry_key = k.value LIMIT 1) e",
            )?
            .for_each(args![self.entity.as_str(), keys], &mut |row| {
                let fields = Fields::new(row, "entries", &["entry_key", "fingerprint"]);
                posted_before.insert(fields.text(0)?, fields.text(1)?);
                Ok(())
            })?;
        let mut outcomes = Vec::with_capacity(staged.len());
        let mut new = Vec::with_capacity(staged.len());
        for StagedEntry { mut entry, texts } in staged {
            if let Some(fingerprint) = posted_before.get(entry.key.as_str()) {
                outcomes.push(Posted::KeyPostedBefore {
                    fingerprint: fingerprint.clone(),
                });
                continue;
            }
            self.chain(&mut entry, &texts);
            self.sequence = entry.sequence;
            self.hash.clone_from(&entry.hash);
            posted_before.insert(entry.key.as_str().to_owned(), entry.fingerprint.clone());
            outcomes.push(Posted::New);
            new.push((entry, texts));
        }
        if new.is_empty() {
            return Ok(outcomes);
        }
        let ids = connection.reserve_ids("entries", new.len())?;
        let (mut entries, mut lines) = (CopyRows::default(), CopyRows::default());
        for ((entry, texts), id) in new.iter().zip(ids) {
            let provenance = &entry.provenance;
            entries
                .number(id)
                .text(entry.entity.as_str())
                .number(entry.sequence)
                .text(entry.key.as_str())
                .text(&entry.fingerprint)
                .text(&texts.date)
                .text(entry.period.as_str())
                .text(entry.fiscal_year.as_str())
                .text(entry.module.as_str())
                .text(&entry.description)
                .field(entry.reverses_entry_id.map(|id| id.to_string()).as_deref())
                .text(entry.posted_by.as_str())
                .text(&entry.posted_at)
                .text(&provenance.source)
                .field(provenance.run_id.as_deref())
                .field(provenance.task.as_deref())
                .field(provenance.plugin_name.as_deref())
                .field(provenance.plugin_version.as_deref())
                .field(provenance.plugin_sha256.as_deref())
                .text(&entry.previous_hash)
                .text(&entry.hash)
                .end_row();
            let period = index_in(&mut self.keys.periods, &entry.period);
            for (line, (amount, accounting_amount)) in entry.lines.iter().zip(&texts.amounts) {
                let dimension_set_id = self.dimension_set_id(connection, &line.dimensions)?;
                lines
                    .number(id)
                    .text(entry.entity.as_str())
                    .text(entry.period.as_str())
                    .number(i64::from(line.line_no))
                    .text(line.account.as_str())
                    .number(dimension_set_id)
                    .text(line.currency.as_str())
                    .text(amount)
                    .text(accounting_amount)
                    .text(&line.description)
                    .end_row();
                self.add_delta(period, line, dimension_set_id)?;
            }
        }
        connection.copy_in(COPY_ENTRIES, entries.text.as_bytes())?;
        connection.copy_in(COPY_LINES, lines.text.as_bytes())?;
        self.posted_count += new.len();
        Ok(outcomes)
    }

    /// Writes the staged balance changes and the new chain head, then reads the touched
    /// periods back and asserts that each still nets to zero in accounting currency.
    pub fn finish(self, db: &Db<'_>) -> Result<usize, LedgerError> {
        if self.posted_count == 0 {
            return Ok(0);
        }
        let _balances = tracing::debug_span!("ledger.balances", entries = self.posted_count).entered();
        let mut touched_periods = BTreeSet::new();
        let mut account_deltas: BTreeMap<AccountBalanceKey, BalanceDelta> = BTreeMap::new();
        // In key order, so that the inserts into the `balances` B-tree land next to each other
        // instead of on random pages.
        let mut deltas: Vec<(BalanceKey, BalanceDelta)> = self
            .deltas
            .iter()
            .map(|(key, delta)| (self.keys.resolve(*key), *delta))
            .collect();
        deltas.sort_unstable_by(|left, right| left.0.cmp(&right.0));
        let bulk = db.connection.is_postgres();
        for ((period, account, dimension_set_id, currency), delta) in &deltas {
            let account_delta = account_deltas
                .entry((period.clone(), account.clone(), currency.clone()))
                .or_default();
            *account_delta = account_delta.plus(*delta)?;
            if !bulk {
                add_to_balance(
                    db.connection,
                    self.entity.as_str(),
                    (period, account, *dimension_set_id, currency),
                    *delta,
                )?;
            }
            touched_periods.insert(period.clone());
        }
        if bulk {
            let changes = deltas
                .iter()
                .map(|((period, account, dimension_set_id, currency), delta)| {
                    let key = vec![
                        Value::Text(period.as_str()),
                        Value::Text(account.as_str()),
                        Value::Integer(*dimension_set_id),
                        Value::Text(currency.as_str()),
                    ];
                    (key, *delta)
                });
            add_to_balances_in_bulk(db.connection, &BALANCES, self.entity.as_str(), changes)?;
            let changes = account_deltas.iter().map(|((period, account, currency), delta)| {
                let key = vec![
                    Value::Text(period.as_str()),
                    Value::Text(account.as_str()),
                    Value::Text(currency.as_str()),
                ];
                (key, *delta)
            });
            add_to_balances_in_bulk(db.connection, &ACCOUNT_BALANCES, self.entity.as_str(), changes)?;
        } else {
            for (key, delta) in &account_deltas {
                add_to_account_balance(db.connection, self.entity.as_str(), key, *delta)?;
            }
        }
        drop(deltas);
        db.connection.execute(
            "INSERT INTO ledger_heads (entity_id, sequence, hash) VALUES (?1, ?2, ?3)
             ON CONFLICT (entity_id) DO UPDATE SET sequence = excluded.sequence, hash = excluded.hash",
            args![self.entity.as_str(), self.sequence, self.hash],
        )?;
        for period in &touched_periods {
            for table in ["balances", "account_balances"] {
                let total = accounting_total(db.connection, table, &self.entity, period)?;
                assert!(
                    total.is_zero(),
                    "{table} of {} in {period} net to {total} after posting",
                    self.entity
                );
            }
        }
        Ok(self.posted_count)
    }
}

/// What became of an entry handed to [`PostingBatch::post_many`].
#[derive(Debug, PartialEq, Eq)]
pub enum Posted {
    /// Appended to the chain.
    New,
    /// Not written: the entity has posted an entry with its key already, whose fingerprint
    /// this is (the same as the entry's for a repeat, another for a key conflict).
    KeyPostedBefore { fingerprint: String },
}

/// The columns `post_many` copies into `entries`, in the order it writes them.
const COPY_ENTRIES: &str = "COPY entries (id, entity_id, sequence, entry_key, fingerprint, date, period, fiscal_year, module,
    description, reverses_entry_id, posted_by, posted_at, source, run_id, task, plugin_name, plugin_version, plugin_sha256,
    previous_hash, hash) FROM STDIN";
/// The columns `post_many` copies into `lines` (their ids are the table's identity).
const COPY_LINES: &str =
    "COPY lines (entry_id, entity_id, period, line_no, account, dimension_set_id, currency, amount,
    accounting_amount, description) FROM STDIN";
