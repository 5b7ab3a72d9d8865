//! Ledger settlement (open-item matching): posted lines of one settlement-enabled account, in
//! one fiscal year, whose accounting amounts sum to exactly zero are marked with a settlement
//! id. Reversing a settlement releases its lines. Settlements are append-only: a reversal is a
//! new record, never an update.

use crate::entity::Entity;
use crate::error::LedgerError;
use crate::ids::{AccountNumber, ChartId, EntityId, FiscalYearName, PeriodName, UserId};
use crate::period::PeriodStatus;
use crate::store::{Db, NewSettlement, SettlementLine};
use rust_decimal::Decimal;
use std::collections::{BTreeSet, HashMap};

/// Lines one settlement may mark: a bound on one transaction's work.
pub const SETTLEMENT_LINES_MAX: usize = 10_000;

fn refused(message: String) -> LedgerError {
    LedgerError::Invalid(message)
}

/// What settling in one entity needs to know about it, read once per batch.
#[derive(Debug)]
struct EntityFacts {
    record: Entity,
    statuses: HashMap<PeriodName, PeriodStatus>,
    /// The fiscal year of each period of the entity's calendar, by period name.
    fiscal_years: HashMap<String, FiscalYearName>,
}

/// What settlement checks of a line that never changes: its entity, account, period and
/// accounting amount, for many lines, each name stored once.
///
/// A posted line never changes (the schema refuses updates and deletes of lines), so what a
/// read of a line showed still holds in any later transaction on the same ledger. Only whether
/// the line is settled can change, and a [`SettlementBatch`] reads that again. A close step's
/// reader records here the lines it serves, so that posting the step's settlements does not
/// read those lines a second time.
#[derive(Default)]
pub struct KnownLines {
    /// Entity ids, account numbers and period names, each stored once.
    names: Vec<String>,
    name_index: HashMap<String, u32>,
    /// The last name looked up for each of the three fields: lines come in runs of one entity,
    /// one account and one period, so most records find their names here without hashing.
    last: [u32; 3],
    /// Per line: its id, its entity, account and period (indexes into `names`) and its
    /// accounting amount. Appended as lines are read (a step's reader records hundreds of
    /// thousands, and appending is cheaper than hashing them); sorted by id before lookups.
    lines: Vec<(i64, [u32; 3], Decimal)>,
    /// Whether a line was recorded out of id order, or twice, since the last sort.
    unsorted: bool,
}

impl std::fmt::Debug for KnownLines {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(formatter, "KnownLines({} lines)", self.lines.len())
    }
}

/// A line as settlement checks it, borrowed from [`KnownLines`].
struct LineFacts<'a> {
    entity: &'a str,
    account: &'a str,
    period: &'a str,
    accounting_amount: Decimal,
}

impl KnownLines {
    /// Records what a read of the ledger showed of line `id`.
    pub fn record(&mut self, id: i64, entity: &str, account: &str, period: &str, accounting_amount: Decimal) {
        let mut names = [0u32; 3];
        for (field, name) in [entity, account, period].into_iter().enumerate() {
            names[field] = self.name(field, name);
        }
        if self.lines.last().is_some_and(|(last, _, _)| *last >= id) {
            self.unsorted = true;
        }
        self.lines.push((id, names, accounting_amount));
    }

    /// Puts the lines in id order, each once, as lookups need.
    fn sort(&mut self) {
        if self.unsorted {
            self.lines.sort_unstable_by_key(|(id, _, _)| *id);
            self.lines.dedup_by_key(|(id, _, _)| *id);
            self.unsorted = false;
        }
    }

    fn name(&mut self, field: usize, name: &str) -> u32 {
        let last = self.last[field];
        if self.names.get(last as usize).is_some_and(|known| known == name) {
            return last;
        }
        let index = match self.name_index.get(name) {
            Some(index) => *index,
            None => {
                let index =
                    u32::try_from(self.names.len()).expect("fewer than 4 billion entities, accounts and periods");
                self.names.push(name.to_owned());
                self.name_index.insert(name.to_owned(), index);
                index
            }
        };
        self.last[field] = index;
        index
    }

    /// How many lines were recorded (a line recorded twice counts twice until a
    /// [`SettlementBatch`] sorts them).
    pub fn len(&self) -> usize {
        self.lines.len()
    }

    pub fn is_empty(&self) -> bool {
        self.lines.is_empty()
    }

    fn position(&self, id: i64) -> Option<usize> {
        debug_assert!(!self.unsorted, "known lines are sorted before they are looked up");
        self.lines.binary_search_by_key(&id, |(line, _, _)| *line).ok()
    }

    fn contains(&self, id: i64) -> bool {
        self.position(id).is_some()
    }

    fn get(&self, id: i64) -> Option<LineFacts<'_>> {
        let (_, [entity, account, period], accounting_amount) = &self.lines[self.position(id)?];
        Some(LineFacts {
            entity: &self.names[*entity as usize],
            account: &self.names[*account as usize],
            period: &self.names[*period as usize],
            accounting_amount: *accounting_amount,
        })
    }
}

/// Many settlements in one transaction, each checked exactly as [`settle`] checks one, and
/// written in bulk.
///
/// - What the checks share is read once: each entity's record, period statuses and periods'
///   fiscal years, whether each account is enabled for settlement, and one timestamp.
/// - The lines are read once each: those the caller already knows (a [`KnownLines`] of the
///   same ledger) are not read at all, only whether they are settled; and
///   [`SettlementBatch::read_lines`] reads the coming settlements' lines in one pass, in line
///   order, instead of one random lookup per line.
/// - [`SettlementBatch::settle`] records a settlement at once (so it has its id) and keeps its
///   lines; [`SettlementBatch::finish`] writes every settlement's lines in line order, so that
///   the foreign-key check of each (its line must exist) reads the lines table in order too.
///
/// A line a settlement of the batch marks counts as settled for every later settlement of the
/// batch. Valid for one transaction only; a batch that is not finished leaves settlements
/// without lines, so the transaction must either fail or call `finish`.
#[must_use = "a settlement batch writes its lines only in `finish`"]
pub struct SettlementBatch<'k> {
    known: &'k KnownLines,
    /// Lines the batch read from the ledger itself.
    read: rustc_hash::FxHashMap<i64, SettlementLine>,
    /// The active settlement, if any, of every line checked or marked so far.
    settled: rustc_hash::FxHashMap<i64, Option<i64>>,
    entities: HashMap<EntityId, EntityFacts>,
    accounts: HashMap<(ChartId, AccountNumber), Option<bool>>,
    /// The time the settlements are recorded with: one transaction, one time.
    created_at: Option<String>,
    /// (line, settlement) of every settlement recorded, to write in `finish`.
    marks: Vec<(i64, i64)>,
    /// Ids reserved for the settlements to come, the next last (`reserve`; PostgreSQL).
    reserved: Vec<i64>,
    /// Settlements recorded with a reserved id, to write in `finish`.
    pending: Vec<NewSettlement>,
}

/// Lines read per query: bounds the size of the id list one query carries.
const READ_LINES_PER_QUERY: usize = 50_000;

/// No line known beforehand.
static NO_KNOWN_LINES: std::sync::LazyLock<KnownLines> = std::sync::LazyLock::new(KnownLines::default);

impl Default for SettlementBatch<'static> {
    fn default() -> Self {
        Self::with(&NO_KNOWN_LINES)
    }
}

impl<'k> SettlementBatch<'k> {
    /// A batch that takes what `known` says of a line instead of reading it. `known` must come
    /// from the same ledger.
    pub fn new(known: &'k mut KnownLines) -> Self {
        known.sort();
        Self::with(known)
    }

    /// A batch with `known`, sorted.
    fn with(known: &'k KnownLines) -> Self {
        Self {
            known,
            read: rustc_hash::FxHashMap::default(),
            settled: rustc_hash::FxHashMap::default(),
            entities: HashMap::new(),
            accounts: HashMap::new(),
            created_at: None,
            marks: Vec::new(),
            reserved: Vec::new(),
            pending: Vec::new(),
        }
    }

    /// Reserves ids for `count` settlements to come, so that they are written together in
    /// `finish` (PostgreSQL: one round trip for the ids, one `COPY`, where one insert a
    /// settlement took most of a month-end close's time). A settlement beyond `count` is
    /// inserted by itself.
    pub fn reserve(&mut self, db: &Db<'_>, count: usize) -> Result<(), LedgerError> {
        let mut ids = db.reserve_settlement_ids(count)?;
        ids.reverse();
        ids.extend(std::mem::take(&mut self.reserved));
        self.reserved = ids;
        Ok(())
    }

    /// Reads the lines the coming settlements mark in one pass, in line order: only whether
    /// each is settled for a known line, everything for another. A line that does not exist is
    /// looked up again, and refused, when a settlement names it.
    pub fn read_lines(&mut self, db: &Db<'_>, line_ids: impl IntoIterator<Item = i64>) -> Result<(), LedgerError> {
        let mut ids: Vec<i64> = line_ids
            .into_iter()
            .filter(|id| !self.settled.contains_key(id))
            .collect();
        ids.sort_unstable();
        ids.dedup();
        self.settled.reserve(ids.len());
        let (known, unknown): (Vec<i64>, Vec<i64>) = ids.into_iter().partition(|id| self.known.contains(*id));
        for chunk in known.chunks(READ_LINES_PER_QUERY) {
            let active: rustc_hash::FxHashMap<i64, i64> = db.active_settlements(chunk)?.into_iter().collect();
            self.settled
                .extend(chunk.iter().map(|id| (*id, active.get(id).copied())));
        }
        for chunk in unknown.chunks(READ_LINES_PER_QUERY) {
            for (id, line) in db.lines_for_settlement(chunk)? {
                self.remember(id, line);
            }
        }
        Ok(())
    }

    fn remember(&mut self, id: i64, line: SettlementLine) {
        self.settled.insert(id, line.active_settlement);
        self.read.insert(id, line);
    }

    /// Makes sure the batch knows line `id` and whether it is settled; false when the line
    /// does not exist.
    fn look_up(&mut self, db: &Db<'_>, id: i64) -> Result<bool, LedgerError> {
        if self.settled.contains_key(&id) {
            return Ok(true);
        }
        if self.known.contains(id) {
            let active = db.active_settlements(&[id])?.first().map(|(_, settlement)| *settlement);
            self.settled.insert(id, active);
            return Ok(true);
        }
        match db.line_for_settlement(id)? {
            Some(line) => {
                self.remember(id, line);
                Ok(true)
            }
            None => Ok(false),
        }
    }

    fn facts(&self, id: i64) -> LineFacts<'_> {
        self.known
            .get(id)
            .or_else(|| {
                self.read.get(&id).map(|line| LineFacts {
                    entity: line.entity.as_str(),
                    account: line.account.as_str(),
                    period: line.period.as_str(),
                    accounting_amount: line.accounting_amount,
                })
            })
            .expect("looked up before")
    }

    fn entity_facts(&mut self, db: &Db<'_>, entity: &EntityId) -> Result<(), LedgerError> {
        if !self.entities.contains_key(entity) {
            let record = db.require_entity(entity)?;
            let statuses = db.period_statuses(entity)?;
            let fiscal_years = db
                .periods(&record.calendar, None)?
                .into_iter()
                .map(|period| (period.name.0, period.fiscal_year))
                .collect();
            self.entities.insert(
                entity.clone(),
                EntityFacts {
                    record,
                    statuses,
                    fiscal_years,
                },
            );
        }
        Ok(())
    }

    /// Checks a settlement of the given posted lines of an entity, as [`settle`] does, and
    /// records it; returns its id. Its lines are written by [`SettlementBatch::finish`]. A
    /// refused settlement records nothing.
    pub fn settle(
        &mut self,
        db: &Db<'_>,
        entity: &EntityId,
        line_ids: &[i64],
        user: &UserId,
        run_id: Option<&str>,
    ) -> Result<i64, LedgerError> {
        let unique: BTreeSet<i64> = line_ids.iter().copied().collect();
        if unique.len() < 2 {
            return Err(refused("a settlement needs at least two different lines".to_owned()));
        }
        if unique.len() > SETTLEMENT_LINES_MAX {
            return Err(refused(format!(
                "a settlement may mark at most {SETTLEMENT_LINES_MAX} lines"
            )));
        }
        self.entity_facts(db, entity)?;
        for line_id in &unique {
            if !self.look_up(db, *line_id)? {
                return Err(refused(format!("line {line_id} does not exist")));
            }
        }
        let (account, fiscal_year, total) = self.common_account_and_year(entity, &unique)?;
        let EntityFacts { record, statuses, .. } = &self.entities[entity];
        let key = (record.chart.clone(), account.clone());
        let settle_enabled = match self.accounts.get(&key) {
            Some(known) => *known,
            None => {
                let known = db.account(&record.chart, &account)?.map(|found| found.settle);
                self.accounts.insert(key, known);
                known
            }
        };
        let settle_enabled = settle_enabled.ok_or_else(|| LedgerError::not_found("account", account.as_str()))?;
        if !settle_enabled {
            return Err(refused(format!(
                "account {account} is not enabled for settlement; set `settle = true` in setup"
            )));
        }
        if !total.is_zero() {
            return Err(refused(format!(
                "the lines sum to {total} in accounting currency, not zero: only lines that net to zero settle"
            )));
        }
        let closing = crate::ids::PeriodName::new(format!("{fiscal_year}-closing"));
        if statuses.get(&closing) == Some(&PeriodStatus::PermanentlyClosed) {
            return Err(refused(format!(
                "fiscal year {fiscal_year} of entity {entity} is closed: no settling in a closed year"
            )));
        }
        let created_at = self.created_at.get_or_insert_with(crate::now_text);
        let settlement_id = match self.reserved.pop() {
            Some(id) => {
                self.pending.push(NewSettlement {
                    id,
                    entity: entity.clone(),
                    account,
                    fiscal_year,
                    created_by: user.clone(),
                    created_at: created_at.clone(),
                    run_id: run_id.map(str::to_owned),
                });
                id
            }
            None => db.insert_settlement(entity, &account, &fiscal_year, (user, created_at), run_id)?,
        };
        for line_id in unique {
            self.marks.push((line_id, settlement_id));
            // A later settlement of the batch must find this line settled.
            self.settled.insert(line_id, Some(settlement_id));
        }
        Ok(settlement_id)
    }

    /// The one account and fiscal year of the lines to settle (looked up already), and their
    /// sum in accounting currency; refused when a line is of another entity, is settled
    /// already, or the lines span accounts or fiscal years.
    fn common_account_and_year(
        &self,
        entity: &EntityId,
        unique: &BTreeSet<i64>,
    ) -> Result<(AccountNumber, FiscalYearName, Decimal), LedgerError> {
        let mut account: Option<&str> = None;
        let mut fiscal_year: Option<&FiscalYearName> = None;
        let mut total = Decimal::ZERO;
        let fiscal_years = &self.entities[entity].fiscal_years;
        for line_id in unique {
            let line = self.facts(*line_id);
            if line.entity != entity.as_str() {
                return Err(refused(format!(
                    "line {line_id} belongs to entity {}, not {entity}",
                    line.entity
                )));
            }
            if let Some(settlement) = self.settled[line_id] {
                return Err(refused(format!(
                    "line {line_id} is already settled by settlement {settlement}"
                )));
            }
            match account {
                None => account = Some(line.account),
                Some(first) if first != line.account => {
                    return Err(refused(format!(
                        "lines {} are on accounts {first} and {}: a settlement stays on one account",
                        line_id, line.account
                    )));
                }
                Some(_) => {}
            }
            // The period's fiscal year in the entity's calendar: what the entry was posted
            // with, read without a lookup of the entry.
            let line_year = fiscal_years.get(line.period).ok_or_else(|| {
                LedgerError::Invalid(format!(
                    "line {line_id} is in period {}, which the calendar of entity {entity} does not have",
                    line.period
                ))
            })?;
            match fiscal_year {
                None => fiscal_year = Some(line_year),
                Some(first) if first != line_year => {
                    return Err(refused(format!(
                        "line {line_id} is in {line_year} and another in {first}: settlement never crosses fiscal years"
                    )));
                }
                Some(_) => {}
            }
            total = total.checked_add(line.accounting_amount).ok_or(LedgerError::Overflow)?;
        }
        let account = AccountNumber::new(account.expect("at least two lines were read"));
        let fiscal_year = fiscal_year.expect("at least two lines were read").clone();
        Ok((account, fiscal_year, total))
    }

    /// Writes the lines of every settlement of the batch, in line order.
    pub fn finish(mut self, db: &Db<'_>) -> Result<(), LedgerError> {
        db.insert_settlements(&self.pending)?;
        self.marks.sort_unstable();
        db.insert_settlement_lines(self.marks.iter().map(|(line, settlement)| (*settlement, *line)))
    }
}

/// Settles the given posted lines of an entity; returns the settlement id.
pub fn settle(
    db: &Db<'_>,
    entity: &EntityId,
    line_ids: &[i64],
    user: &UserId,
    run_id: Option<&str>,
) -> Result<i64, LedgerError> {
    let mut batch = SettlementBatch::default();
    let settlement_id = batch.settle(db, entity, line_ids, user, run_id)?;
    batch.finish(db)?;
    Ok(settlement_id)
}

/// Reverses a settlement, releasing its lines.
pub fn unsettle(db: &Db<'_>, entity: &EntityId, settlement_id: i64, user: &UserId) -> Result<(), LedgerError> {
    let (owner, reversed) = db
        .settlement_state(settlement_id)?
        .ok_or_else(|| LedgerError::not_found("settlement", settlement_id.to_string()))?;
    if &owner != entity {
        return Err(refused(format!(
            "settlement {settlement_id} belongs to entity {owner}, not {entity}"
        )));
    }
    if reversed {
        return Err(refused(format!("settlement {settlement_id} is already reversed")));
    }
    let fiscal_year = db.settlement_fiscal_year(settlement_id)?;
    let closing = crate::ids::PeriodName::new(format!("{fiscal_year}-closing"));
    if db.period_statuses(entity)?.get(&closing) == Some(&PeriodStatus::PermanentlyClosed) {
        return Err(refused(format!(
            "fiscal year {fiscal_year} of entity {entity} is closed: its settlements stay"
        )));
    }
    db.insert_settlement_reversal(settlement_id, user)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::import::CsvJournalReader;
    use crate::ledger::Ledger;
    use crate::period::Module;
    use crate::setup::SetupFile;
    use crate::store::Store;

    const DEMO_SETUP: &str = include_str!("../../../examples/demo/setup.toml");

    /// The demo organization with four lines on receivables (1100) that settle in pairs.
    fn receivables_ledger() -> Ledger {
        let mut ledger = Ledger::from_store(Store::open_in_memory().unwrap(), UserId::new("test"));
        ledger
            .apply_setup(&SetupFile::parse(DEMO_SETUP, "setup.toml").unwrap(), "setup.toml")
            .unwrap();
        let journal = "entry,date,account,amount\n\
            A,2026-01-10,1100,10.00\nA,2026-01-10,4000,-10.00\n\
            B,2026-01-20,1100,-10.00\nB,2026-01-20,1000,10.00\n\
            C,2026-01-21,1100,5.00\nC,2026-01-21,4000,-5.00\n\
            D,2026-01-22,1100,-5.00\nD,2026-01-22,1000,5.00\n";
        let reader = CsvJournalReader::new(journal.as_bytes(), "j.csv", Module::Ledger).unwrap();
        ledger
            .import_journals(&EntityId::new("ACME-US"), reader, true, "j.csv")
            .unwrap();
        ledger
    }

    fn line(db: &Db<'_>, key: &str, account: &str) -> i64 {
        db.line_id_of(key, account).unwrap().expect("the line exists")
    }

    /// The four receivables (1100) lines of entries A to D, in entry order.
    fn receivables_lines(db: &Db<'_>) -> [i64; 4] {
        ["A", "B", "C", "D"].map(|key| line(db, key, "1100"))
    }

    /// The receivables lines a line query returns: (id, settlement) per line.
    fn receivables(db: &Db<'_>, include_settled: bool) -> Vec<(i64, Option<i64>)> {
        let periods = [crate::ids::PeriodName::new("2026-01")];
        db.account_lines(
            &EntityId::new("ACME-US"),
            &AccountNumber::new("1100"),
            &periods,
            0,
            100,
            include_settled,
        )
        .unwrap()
        .into_iter()
        .map(|record| (record.id, record.settlement_id))
        .collect()
    }

    #[test]
    fn lines_of_two_fiscal_years_never_settle_together() {
        // The fiscal year comes from each line's period in the entity's calendar (not from its
        // entry): a pair across the year end is refused and nothing is written.
        let mut ledger = receivables_ledger();
        let journal = "entry,date,account,amount\n\
            Y,2025-12-30,1100,7.00\nY,2025-12-30,4000,-7.00\n\
            Z,2026-01-05,1100,-7.00\nZ,2026-01-05,1000,7.00\n";
        let reader = CsvJournalReader::new(journal.as_bytes(), "y.csv", Module::Ledger).unwrap();
        ledger
            .import_journals(&EntityId::new("ACME-US"), reader, true, "y.csv")
            .unwrap();
        let user = UserId::new("test");
        let error = ledger
            .store()
            .write(|db| {
                let lines = [line(db, "Y", "1100"), line(db, "Z", "1100")];
                settle(db, &EntityId::new("ACME-US"), &lines, &user, None)
            })
            .unwrap_err();
        assert!(
            error
                .to_string()
                .contains("is in FY2026 and another in FY2025: settlement never crosses fiscal years"),
            "{error}"
        );
        let count: i64 = ledger.store().read(|db| db.settlement_count()).unwrap();
        assert_eq!(count, 0);
    }

    #[test]
    fn the_open_lines_query_follows_settlements_and_their_reversals() {
        // Issue #7: the query without settled lines (auto-settle's) returns exactly the lines the
        // query with them shows without an active settlement, after settling and reversing.
        let mut ledger = receivables_ledger();
        let user = UserId::new("test");
        let entity = EntityId::new("ACME-US");
        ledger
            .store()
            .write(|db| {
                let [a, b, c, d] = receivables_lines(db);
                let open_of = |all: Vec<(i64, Option<i64>)>| -> Vec<(i64, Option<i64>)> {
                    all.into_iter().filter(|(_, settlement)| settlement.is_none()).collect()
                };
                assert_eq!(receivables(db, false), [(a, None), (b, None), (c, None), (d, None)]);
                let first = settle(db, &entity, &[a, b], &user, None)?;
                assert_eq!(
                    receivables(db, true),
                    [(a, Some(first)), (b, Some(first)), (c, None), (d, None)]
                );
                assert_eq!(receivables(db, false), [(c, None), (d, None)]);
                let second = settle(db, &entity, &[c, d], &user, None)?;
                assert_eq!(receivables(db, false), []);
                unsettle(db, &entity, first, &user)?;
                assert_eq!(
                    receivables(db, true),
                    [(a, None), (b, None), (c, Some(second)), (d, Some(second))]
                );
                assert_eq!(receivables(db, false), [(a, None), (b, None)]);
                // Settled again after the reversal: the new settlement counts, the reversed one not.
                let third = settle(db, &entity, &[a, b], &user, None)?;
                assert_eq!(
                    receivables(db, true),
                    [(a, Some(third)), (b, Some(third)), (c, Some(second)), (d, Some(second))]
                );
                assert_eq!(receivables(db, false), open_of(receivables(db, true)));
                unsettle(db, &entity, second, &user)?;
                assert_eq!(receivables(db, false), [(c, None), (d, None)]);
                assert_eq!(receivables(db, false), open_of(receivables(db, true)));
                Ok(())
            })
            .unwrap();
    }

    /// What a read of `ids` shows of them, as a step's reader records it.
    fn known(db: &Db<'_>, ids: &[i64]) -> KnownLines {
        let mut known = KnownLines::default();
        for id in ids {
            let line = db.line_for_settlement(*id).unwrap().unwrap();
            known.record(
                *id,
                line.entity.as_str(),
                line.account.as_str(),
                line.period.as_str(),
                line.accounting_amount,
            );
        }
        known
    }

    #[test]
    fn a_batch_refuses_what_single_settlements_refuse() {
        // Issue #7: a step's settlements are checked in one batch, with the lines its reader
        // served, read ahead or not; every way gives the refusals a settlement on its own
        // gives, and writes nothing for a refused one.
        for (known_lines, read_ahead) in [(false, false), (false, true), (true, false), (true, true)] {
            let mut ledger = receivables_ledger();
            let user = UserId::new("test");
            let entity = EntityId::new("ACME-US");
            let (refusals, singles) = ledger
                .store()
                .write(|db| {
                    let [a, b, c, d] = receivables_lines(db);
                    let (revenue_a, revenue_c, cash_d) =
                        (line(db, "A", "4000"), line(db, "C", "4000"), line(db, "D", "1000"));
                    let proposals = [
                        vec![a, c, d, b],
                        vec![c, revenue_a],
                        vec![revenue_a, revenue_c],
                        vec![c, c],
                        vec![c, cash_d],
                        vec![c, 999_999],
                        vec![revenue_a, cash_d],
                    ];
                    let mut known = if known_lines {
                        known(db, &[a, b, c, d, revenue_a, revenue_c, cash_d])
                    } else {
                        KnownLines::default()
                    };
                    let mut batch = SettlementBatch::new(&mut known);
                    if read_ahead {
                        batch.read_lines(db, proposals.iter().flatten().copied())?;
                    }
                    // Settled in the opposite of line order, to show `finish` writes in line order.
                    batch.settle(db, &entity, &[d, c], &user, None)?;
                    batch.settle(db, &entity, &[a, b], &user, None)?;
                    let unwritten = db.settlement_marks()?.len();
                    assert_eq!(unwritten, 0, "a batch writes its lines in finish");
                    let refusals: Vec<String> = proposals
                        .iter()
                        .map(|lines| batch.settle(db, &entity, lines, &user, None).unwrap_err().to_string())
                        .collect();
                    batch.finish(db)?;
                    // The same proposals on their own, now that the batch is written.
                    let singles: Vec<String> = proposals
                        .iter()
                        .map(|lines| settle(db, &entity, lines, &user, None).unwrap_err().to_string())
                        .collect();
                    Ok((refusals, singles))
                })
                .unwrap();
            let mode = format!("known lines {known_lines}, read ahead {read_ahead}");
            assert_eq!(refusals, singles, "{mode}");
            let expected = [
                "is already settled by settlement",
                "is already settled by settlement",
                "account 4000 is not enabled for settlement",
                "at least two different lines",
                "is already settled by settlement",
                "line 999999 does not exist",
                "a settlement stays on one account",
            ];
            assert_eq!(refusals.len(), expected.len());
            for (refusal, fragment) in refusals.iter().zip(expected) {
                assert!(
                    refusal.contains(fragment),
                    "{mode}: {refusal:?} should say {fragment:?}"
                );
            }
            let marks = ledger.store().read(|db| db.settlement_marks()).unwrap();
            assert_eq!(marks.len(), 4, "{mode}: the two accepted settlements, two lines each");
            assert!(
                marks.windows(2).all(|pair| pair[0].1 < pair[1].1),
                "{mode}: written in line order: {marks:?}"
            );
            assert_ne!(marks[0].0, marks[2].0, "{mode}: two settlements");
        }
    }

    #[test]
    fn a_known_line_settled_since_it_was_read_is_refused() {
        // Issue #7: known lines give a line's facts, never whether it is settled: a line that
        // was settled after the step read it is refused, read ahead or not.
        for read_ahead in [false, true] {
            let mut ledger = receivables_ledger();
            let user = UserId::new("test");
            let entity = EntityId::new("ACME-US");
            let refusal = ledger
                .store()
                .write(|db| {
                    let (a, b) = (line(db, "A", "1100"), line(db, "B", "1100"));
                    let mut known = known(db, &[a, b]);
                    // Someone settles the pair after the step read it.
                    let earlier = settle(db, &entity, &[a, b], &user, None)?;
                    let mut batch = SettlementBatch::new(&mut known);
                    if read_ahead {
                        batch.read_lines(db, [a, b])?;
                    }
                    let refusal = batch.settle(db, &entity, &[a, b], &user, None).unwrap_err();
                    batch.finish(db)?;
                    Ok((refusal.to_string(), earlier))
                })
                .unwrap();
            assert_eq!(
                refusal.0,
                format!(
                    "line {} is already settled by settlement {}",
                    {
                        let marks = ledger.store().read(|db| db.settlement_marks()).unwrap();
                        marks.iter().map(|(_, line)| *line).min().expect("a settled line")
                    },
                    refusal.1
                ),
                "read ahead {read_ahead}"
            );
        }
    }

    #[test]
    fn known_lines_store_each_name_once_and_find_lines_recorded_in_any_order() {
        let mut known = KnownLines::default();
        // Two queries' pages interleave, and a page read again records its lines twice.
        for id in (0..1000).rev().chain(400..450) {
            let period = if id < 500 { "2026-01" } else { "2026-02" };
            let account = if id % 2 == 0 { "1100" } else { "2000" };
            known.record(id, "ACME-US", account, period, Decimal::new(id, 2));
        }
        assert_eq!(known.len(), 1050);
        known.sort();
        assert_eq!(known.len(), 1000, "each line once after sorting");
        assert_eq!(known.names, ["ACME-US", "2000", "2026-02", "1100", "2026-01"]);
        for id in [0, 1, 449, 500, 501, 999] {
            let line = known.get(id).unwrap();
            assert_eq!(
                (line.entity, line.account, line.period, line.accounting_amount),
                (
                    "ACME-US",
                    if id % 2 == 0 { "1100" } else { "2000" },
                    if id < 500 { "2026-01" } else { "2026-02" },
                    Decimal::new(id, 2)
                )
            );
        }
        assert!(known.get(1000).is_none());
        assert!(known.get(-1).is_none());
    }
}
