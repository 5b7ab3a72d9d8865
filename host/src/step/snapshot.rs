//! The ledger a close step reads: a `LedgerReader` over one SQLite read transaction taken when
//! the step starts, so every query of the run sees the same ledger whatever posts meanwhile.
//! It converts between the ledger's types and the plugin boundary's (`plugin::types`), and
//! nothing else: entity access, page caps and row budgets are enforced by the runtime's gate in
//! front of it.

use crate::plugin::types::{
    AccountFilter, AccountInfo, AccountType as PluginAccountType, BalanceQuery, BalanceRow, CurrencyInfo, Dimension,
    DimensionInfo, EntityInfo, LinePage, LineQuery, OpenItemInfo, PeriodInfo, PeriodKind as PluginPeriodKind,
    PeriodStatus as PluginPeriodStatus, PostedLine, StatementInfo, StatementLineInfo, StatementQuery,
};
use crate::plugin::{LedgerError as ReaderError, LedgerReader};
use closebook_ledger::LedgerError;
use closebook_ledger::account::AccountType;
use closebook_ledger::calendar::PeriodKind;
use closebook_ledger::close_task::{AccountsRead, EntityRead};
use closebook_ledger::dimension::{self, DimensionValues};
use closebook_ledger::ids::{AccountNumber, CurrencyCode, EntityId, FiscalYearName, PeriodName, RateType};
use closebook_ledger::period::PeriodStatus;
use closebook_ledger::query::{self, AccountSelection, BalanceSelection};
use closebook_ledger::rate::RateTable;
use closebook_ledger::settlement::KnownLines;
use closebook_ledger::store::{Db, Snapshot, Store};
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::str::FromStr;
use std::sync::{Arc, Mutex, mpsc};
use std::time::Instant;

pub struct SnapshotReader {
    /// Shared with the thread that reads line pages ahead.
    snapshot: Arc<Mutex<Snapshot>>,
    rates: Option<RateTable>,
    /// The pages after the last one the step read, when it read one with more to follow.
    pages: Option<PageStream>,
    /// Every line served, for the checks of the step's settlements.
    known_lines: Arc<Mutex<KnownLines>>,
    /// The accounts and periods of every balance and line query the step made, by entity.
    reads: Arc<Mutex<QueriesRead>>,
    /// Each queried entity's period names in calendar order, to expand a query's range.
    period_order: BTreeMap<EntityId, Vec<PeriodName>>,
}

/// The accounts one query selected.
enum AccountsSelected {
    Read(AccountsRead),
    /// Inclusive, compared as text.
    Range(AccountNumber, AccountNumber),
}

/// What the step's queries read, by entity: accounts (listed, in ranges or all) and the periods
/// of each query's range. Its sequences are the snapshot's, filled in when the run ends.
pub type QueriesRead = BTreeMap<EntityId, EntityRead>;

impl SnapshotReader {
    pub fn open(db_path: &Path) -> Result<Self, LedgerError> {
        Ok(Self {
            snapshot: Arc::new(Mutex::new(Store::open(db_path)?.into_snapshot()?)),
            rates: None,
            pages: None,
            known_lines: Arc::default(),
            reads: Arc::default(),
            period_order: BTreeMap::new(),
        })
    }

    /// What the step's queries have read so far (and will read): what makes it stale when a
    /// later posting changes it.
    pub fn reads(&self) -> Arc<Mutex<QueriesRead>> {
        Arc::clone(&self.reads)
    }

    /// Records that a query read `accounts` of `entity` from period `from` to period `to`. A
    /// range that names no period of the entity reads nothing (the query is refused anyway).
    fn record_read(&mut self, entity: &EntityId, accounts: AccountsSelected, from: &str, to: &str) {
        if !self.period_order.contains_key(entity) {
            // Read once per entity: the snapshot's calendar does not change. An entity it cannot
            // read has no periods (its queries are refused anyway).
            let order: Vec<PeriodName> = {
                let snapshot = lock(&self.snapshot);
                let db = snapshot.db();
                db.require_entity(entity)
                    .and_then(|record| db.periods(&record.calendar, None))
                    .map(|periods| periods.into_iter().map(|period| period.name).collect())
                    .unwrap_or_default()
            };
            self.period_order.insert(entity.clone(), order);
        }
        let order = &self.period_order[entity];
        let position = |name: &str| order.iter().position(|period| period.as_str() == name);
        let periods: BTreeSet<PeriodName> = match (position(from), position(to)) {
            (Some(first), Some(last)) if first <= last => order[first..=last].iter().cloned().collect(),
            _ => BTreeSet::new(),
        };
        let mut reads = self.reads.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let read = reads.entry(entity.clone()).or_insert_with(|| EntityRead::nothing(0));
        match accounts {
            AccountsSelected::Read(accounts) => read.add(accounts, periods),
            AccountsSelected::Range(first, last) => read.add_range(first, last, periods),
        }
    }

    /// The accounts a balance query's filter selects, as they are recorded: a list as listed,
    /// a range as a range (so an account created after the run inside it counts), and a filter
    /// by account type as every account (a superset: the chart may gain accounts of the type).
    fn accounts_selected(filter: &AccountFilter) -> AccountsSelected {
        match filter {
            AccountFilter::All | AccountFilter::Types(_) => AccountsSelected::Read(AccountsRead::All),
            AccountFilter::List(accounts) => AccountsSelected::Read(AccountsRead::Only(
                accounts
                    .iter()
                    .map(|account| AccountNumber::new(account.clone()))
                    .collect(),
            )),
            AccountFilter::Range((first, last)) => {
                AccountsSelected::Range(AccountNumber::new(first.clone()), AccountNumber::new(last.clone()))
            }
        }
    }

    /// What the reader has served of each line so far, and will serve: posting the step's
    /// settlements reads these lines no second time (see [`KnownLines`]).
    pub fn known_lines(&self) -> Arc<Mutex<KnownLines>> {
        Arc::clone(&self.known_lines)
    }

    /// The ledger sequence of each entity in this snapshot: what must still hold when the
    /// step's proposals post.
    pub fn sequences(&self, entities: &[EntityId]) -> Result<BTreeMap<EntityId, i64>, LedgerError> {
        let snapshot = lock(&self.snapshot);
        let db = snapshot.db();
        entities
            .iter()
            .map(|entity| Ok((entity.clone(), db.ledger_head(entity)?.0)))
            .collect()
    }
}

/// A refusal the step sees for a ledger error that is its own doing (unknown period…), or a
/// host failure for a database error.
fn convert(error: LedgerError) -> ReaderError {
    if error.is_storage_failure() {
        ReaderError::Failed(Box::new(error))
    } else {
        ReaderError::refused(error.to_string())
    }
}

fn account_type_for_plugin(kind: AccountType) -> PluginAccountType {
    match kind {
        AccountType::Asset => PluginAccountType::Asset,
        AccountType::Liability => PluginAccountType::Liability,
        AccountType::Equity => PluginAccountType::Equity,
        AccountType::Revenue => PluginAccountType::Revenue,
        AccountType::Expense => PluginAccountType::Expense,
    }
}

fn account_type_from_plugin(kind: PluginAccountType) -> AccountType {
    match kind {
        PluginAccountType::Asset => AccountType::Asset,
        PluginAccountType::Liability => AccountType::Liability,
        PluginAccountType::Equity => AccountType::Equity,
        PluginAccountType::Revenue => AccountType::Revenue,
        PluginAccountType::Expense => AccountType::Expense,
    }
}

fn dimensions_for_plugin(values: &DimensionValues) -> Vec<Dimension> {
    values
        .iter()
        .map(|(name, value)| Dimension {
            name: name.clone(),
            value: value.clone(),
        })
        .collect()
}

fn period_for_plugin(period: closebook_ledger::calendar::Period, status: PeriodStatus) -> PeriodInfo {
    PeriodInfo {
        name: period.name.to_string(),
        kind: match period.kind {
            PeriodKind::Opening => PluginPeriodKind::Opening,
            PeriodKind::Operating => PluginPeriodKind::Operating,
            PeriodKind::Closing => PluginPeriodKind::Closing,
        },
        start: period.start.to_string(),
        end: period.end.to_string(),
        fiscal_year: period.fiscal_year.to_string(),
        status: match status {
            PeriodStatus::Open => PluginPeriodStatus::Open,
            PeriodStatus::OnHold => PluginPeriodStatus::OnHold,
            PeriodStatus::PermanentlyClosed => PluginPeriodStatus::PermanentlyClosed,
        },
    }
}

/// Periods of an entity in the shape the plugin interface carries.
pub fn periods_of(
    db: &closebook_ledger::store::Db<'_>,
    entity: &EntityId,
    fiscal_year: Option<&FiscalYearName>,
) -> Result<Vec<PeriodInfo>, LedgerError> {
    let record = db.require_entity(entity)?;
    let statuses = db.period_statuses(entity)?;
    Ok(db
        .periods(&record.calendar, fiscal_year)?
        .into_iter()
        .map(|period| {
            let status = statuses.get(&period.name).copied().unwrap_or(PeriodStatus::Open);
            period_for_plugin(period, status)
        })
        .collect())
}

/// The reconciliation a statement or open-items query names, checked as the reconcile
/// commands check it.
fn reconcile_scope(
    db: &Db<'_>,
    query: &StatementQuery,
) -> Result<closebook_ledger::store::ReconcileScope, ReaderError> {
    let dimensions: Vec<String> = query.dimensions.iter().map(Dimension::pair).collect();
    closebook_ledger::reconcile::scope(
        db,
        &EntityId::new(query.entity.clone()),
        &AccountNumber::new(query.account.clone()),
        &dimensions,
        &PeriodName::new(query.period.clone()),
    )
    .map_err(convert)
}

impl LedgerReader for SnapshotReader {
    fn reconciling_items(&mut self, query: &StatementQuery) -> Result<Vec<OpenItemInfo>, ReaderError> {
        let snapshot = lock(&self.snapshot);
        let db = snapshot.db();
        let scope = reconcile_scope(&db, query)?;
        let reconciliation = closebook_ledger::reconcile::reconciliation(&db, &scope).map_err(convert)?;
        let cleared = reconciliation.cleared.into_iter().map(|item| (item, true));
        let mut items: Vec<_> = reconciliation
            .items
            .into_iter()
            .map(|item| (item, false))
            .chain(cleared)
            .collect();
        items.sort_by_key(|(item, _)| item.id);
        Ok(items
            .into_iter()
            .map(|(item, cleared)| OpenItemInfo {
                id: u64::try_from(item.id).unwrap_or_default(),
                period: item.period.to_string(),
                cleared,
                amount: item.amount.to_string(),
                explanation: item.explanation,
                expected_clear: item.expected_clear.to_string(),
                reference: item.reference,
            })
            .collect())
    }

    fn statement(&mut self, query: &StatementQuery) -> Result<Option<StatementInfo>, ReaderError> {
        let snapshot = lock(&self.snapshot);
        let db = snapshot.db();
        let scope = reconcile_scope(&db, query)?;
        let Some(balance) = db.independent_balances(&scope).map_err(convert)?.pop() else {
            return Ok(None);
        };
        let Some(opening) = balance
            .opening
            .filter(|_| balance.kind == closebook_ledger::store::IndependentKind::Statement)
        else {
            return Ok(None);
        };
        let lines = db.statement_lines(balance.id).map_err(convert)?;
        Ok(Some(StatementInfo {
            source: balance.source,
            opening: opening.to_string(),
            closing: balance.closing.to_string(),
            lines: lines
                .into_iter()
                .map(|line| StatementLineInfo {
                    line_no: u32::try_from(line.line_no).unwrap_or(u32::MAX),
                    date: line.date.to_string(),
                    amount: line.amount.to_string(),
                    reference: line.reference,
                    description: line.description,
                })
                .collect(),
        }))
    }

    fn entity(&mut self, entity: &str) -> Result<EntityInfo, ReaderError> {
        let record = lock(&self.snapshot)
            .db()
            .require_entity(&EntityId::new(entity))
            .map_err(convert)?;
        Ok(EntityInfo {
            id: record.id.to_string(),
            name: record.name,
            currency: record.currency.to_string(),
            retained_earnings_account: record.retained_earnings_account.to_string(),
            default_rate_type: record.default_rate_type.to_string(),
            penny_rounding_account: record.penny_rounding_account.map(|account| account.to_string()),
        })
    }

    fn currencies(&mut self) -> Result<Vec<CurrencyInfo>, ReaderError> {
        let currencies = lock(&self.snapshot).db().currency_list().map_err(convert)?;
        Ok(currencies
            .into_iter()
            .map(|(code, _, minor_units)| CurrencyInfo {
                code: code.to_string(),
                minor_units: minor_units as u8,
            })
            .collect())
    }

    fn accounts(&mut self, entity: &str) -> Result<Vec<AccountInfo>, ReaderError> {
        let snapshot = lock(&self.snapshot);
        let db = snapshot.db();
        let record = db.require_entity(&EntityId::new(entity)).map_err(convert)?;
        let accounts = db.accounts(&record.chart).map_err(convert)?;
        Ok(accounts
            .into_iter()
            .map(|account| AccountInfo {
                number: account.number.to_string(),
                name: account.name,
                account_type: account_type_for_plugin(account.account_type),
                revalue: account.revalue,
                settle: account.settle,
                rate_type: account.rate_type.map(|rate_type| rate_type.to_string()),
                fixed_currency: account.fixed_currency.map(|currency| currency.to_string()),
                category: account.category,
                blocked: account.blocked,
            })
            .collect())
    }

    fn dimensions(&mut self) -> Result<Vec<DimensionInfo>, ReaderError> {
        let dimensions = lock(&self.snapshot).db().dimensions().map_err(convert)?;
        let mut infos: Vec<DimensionInfo> = dimensions
            .into_iter()
            .map(|(name, values)| {
                let mut values: Vec<String> = values.into_keys().collect();
                values.sort();
                DimensionInfo { name, values }
            })
            .collect();
        infos.sort_by(|left, right| left.name.cmp(&right.name));
        Ok(infos)
    }

    fn periods(&mut self, entity: &str, fiscal_year: Option<&str>) -> Result<Vec<PeriodInfo>, ReaderError> {
        let year = fiscal_year.map(FiscalYearName::new);
        periods_of(&lock(&self.snapshot).db(), &EntityId::new(entity), year.as_ref()).map_err(convert)
    }

    fn balances(&mut self, query: &BalanceQuery) -> Result<Vec<BalanceRow>, ReaderError> {
        let entity = EntityId::new(query.entity.clone());
        let read = Self::accounts_selected(&query.accounts);
        self.record_read(&entity, read, &query.from_period, &query.to_period);
        let accounts = match &query.accounts {
            AccountFilter::All => AccountSelection::All,
            AccountFilter::List(accounts) => AccountSelection::List(
                accounts
                    .iter()
                    .map(|account| AccountNumber::new(account.clone()))
                    .collect(),
            ),
            AccountFilter::Range((first, last)) => {
                AccountSelection::Range(AccountNumber::new(first.clone()), AccountNumber::new(last.clone()))
            }
            AccountFilter::Types(kinds) => {
                AccountSelection::Types(kinds.iter().map(|kind| account_type_from_plugin(*kind)).collect())
            }
        };
        let selection = BalanceSelection {
            accounts,
            from_period: PeriodName::new(query.from_period.clone()),
            to_period: PeriodName::new(query.to_period.clone()),
            currency: query.currency.clone().map(CurrencyCode),
            dimension_filter: query
                .dimension_filter
                .iter()
                .map(|dimension| (dimension.name.clone(), dimension.value.clone()))
                .collect(),
            group_by: query.group_by_dimensions.clone(),
        };
        let sums = query::balances(
            &lock(&self.snapshot).db(),
            &EntityId::new(query.entity.clone()),
            &selection,
        )
        .map_err(convert)?;
        Ok(sums
            .into_iter()
            .map(|sum| BalanceRow {
                account: sum.account.to_string(),
                dimensions: dimensions_for_plugin(&sum.dimensions),
                currency: sum.currency.to_string(),
                amount: sum.amount.to_string(),
                accounting_amount: sum.accounting_amount.to_string(),
                debit: sum.debit.to_string(),
                credit: sum.credit.to_string(),
            })
            .collect())
    }

    fn lines(&mut self, query: &LineQuery) -> Result<LinePage, ReaderError> {
        let read = AccountsSelected::Read(AccountsRead::Only(BTreeSet::from([AccountNumber::new(
            query.account.clone(),
        )])));
        self.record_read(
            &EntityId::new(query.entity.clone()),
            read,
            &query.from_period,
            &query.to_period,
        );
        if let Some(page) = self.pages.as_mut().and_then(|stream| stream.take(query)) {
            // The stream ends with the query's last page, or with an error.
            if !page.as_ref().is_ok_and(|page| page.next.is_some()) {
                self.pages = None;
            }
            return page;
        }
        // Not the page a stream read ahead: stop that stream, answer now, and read on.
        self.pages = None;
        let page = line_page(&lock(&self.snapshot).db(), query, &self.known_lines)?;
        if let Some(after) = page.next {
            let next = LineQuery {
                after: Some(after),
                ..query.clone()
            };
            self.pages = Some(PageStream::start(
                Arc::clone(&self.snapshot),
                Arc::clone(&self.known_lines),
                next,
            ));
        }
        Ok(page)
    }

    fn rate(&mut self, from: &str, to: &str, rate_type: &str, on: &str) -> Result<Option<String>, ReaderError> {
        let date = chrono::NaiveDate::from_str(on)
            .map_err(|_| ReaderError::refused(format!("`{on}` is not a date (YYYY-MM-DD)")))?;
        if self.rates.is_none() {
            self.rates = Some(RateTable::new(lock(&self.snapshot).db().rates(None).map_err(convert)?));
        }
        let table = self.rates.as_ref().expect("the rate table was just loaded");
        Ok(table
            .rate_on(
                &CurrencyCode::new(from),
                &CurrencyCode::new(to),
                &RateType::new(rate_type),
                date,
            )
            .map(|rate| rate.to_string()))
    }

    /// Every query on the snapshot stops at the run's deadline: the step's own, and those of
    /// the thread reading line pages ahead, which shares the connection. So neither a long
    /// query nor the wait for that thread's page outlasts the run's wall-time limit.
    fn stop_at(&mut self, deadline: Instant) {
        // Fails only when the connection is gone, and then every query after it fails too.
        if let Err(error) = lock(&self.snapshot).interrupt_at(deadline) {
            tracing::warn!(error = %error, "the snapshot's deadline could not be set");
        }
    }
}

/// One page of lines of a line query, read in `db`; each line's settlement facts are recorded
/// in `known`.
fn line_page(db: &Db<'_>, query: &LineQuery, known: &Mutex<KnownLines>) -> Result<LinePage, ReaderError> {
    let entity = EntityId::new(query.entity.clone());
    let periods: Vec<PeriodName> = query::period_range(
        db,
        &entity,
        &PeriodName::new(query.from_period.clone()),
        &PeriodName::new(query.to_period.clone()),
    )
    .map_err(convert)?
    .into_iter()
    .map(|period| period.name)
    .collect();
    let limit = query.limit as usize;
    let after = i64::try_from(query.after.unwrap_or(0)).unwrap_or(i64::MAX);
    // One line more than the page tells whether another page follows.
    let mut records = db
        .account_lines(
            &entity,
            &AccountNumber::new(query.account.clone()),
            &periods,
            after,
            limit.saturating_add(1),
            query.include_settled,
        )
        .map_err(convert)?;
    let next = if records.len() > limit {
        records.truncate(limit);
        records.last().map(|record| record.id as u64)
    } else {
        None
    };
    {
        let mut known = known.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        for record in &records {
            known.record(
                record.id,
                entity.as_str(),
                record.line.account.as_str(),
                record.period.as_str(),
                record.line.accounting_amount,
            );
        }
    }
    Ok(LinePage {
        lines: records
            .into_iter()
            .map(|record| PostedLine {
                id: record.id as u64,
                entry_id: record.entry_id as u64,
                entry_key: record.entry_key.to_string(),
                date: record.date.to_string(),
                period: record.period.to_string(),
                account: record.line.account.to_string(),
                dimensions: dimensions_for_plugin(&dimension::parse_canonical(&record.line.dimensions)),
                currency: record.line.currency.to_string(),
                amount: record.line.amount.to_string(),
                accounting_amount: record.line.accounting_amount.to_string(),
                description: record.line.description,
                settlement_id: record.settlement_id.map(|id| id as u64),
            })
            .collect(),
        next,
    })
}

/// Pages a line stream reads ahead of the step: enough to keep the reading thread busy while
/// the step works on the page it has, few enough to bound memory (at most 4 × 10,000 lines).
const PAGES_AHEAD: usize = 4;

/// The pages that follow one a step read, read by a second thread while the step works on that
/// page: a step that reads an account page by page waits for SQLite only on its first page.
/// The thread reads through the same snapshot (so the pages are exactly those the step would
/// read itself), one page at a time under the snapshot's lock, so that the step's other queries
/// still get through between pages.
struct PageStream {
    /// The query of the page the stream delivers next.
    next: LineQuery,
    receiver: Option<mpsc::Receiver<Result<LinePage, ReaderError>>>,
    worker: Option<std::thread::JoinHandle<()>>,
}

impl PageStream {
    fn start(snapshot: Arc<Mutex<Snapshot>>, known: Arc<Mutex<KnownLines>>, first: LineQuery) -> Self {
        let (sender, receiver) = mpsc::sync_channel(PAGES_AHEAD);
        let mut query = first.clone();
        let worker = std::thread::Builder::new()
            .name("closebook-lines".to_owned())
            .spawn(move || {
                loop {
                    let page = line_page(&lock(&snapshot).db(), &query, &known);
                    let next = page.as_ref().ok().and_then(|page| page.next);
                    // A send fails once the step asked for another page and the stream was
                    // dropped: stop reading.
                    if sender.send(page).is_err() {
                        return;
                    }
                    match next {
                        Some(after) => query.after = Some(after),
                        None => return,
                    }
                }
            });
        match worker {
            Ok(worker) => Self {
                next: first,
                receiver: Some(receiver),
                worker: Some(worker),
            },
            // No thread: a stream that never matches, so every page is read on demand.
            Err(_) => Self {
                next: first,
                receiver: None,
                worker: None,
            },
        }
    }

    /// The page `query` asks for when it is the one this stream reads next.
    fn take(&mut self, query: &LineQuery) -> Option<Result<LinePage, ReaderError>> {
        if query != &self.next {
            return None;
        }
        let page = self.receiver.as_ref()?.recv().ok()?;
        if let Ok(LinePage { next: Some(after), .. }) = &page {
            self.next.after = Some(*after);
        }
        Some(page)
    }
}

impl Drop for PageStream {
    fn drop(&mut self) {
        // Dropping the receiver fails the worker's next send, which ends it.
        self.receiver = None;
        if let Some(worker) = self.worker.take() {
            let _ = worker.join();
        }
    }
}

/// The snapshot, even if a thread that held it panicked: the connection is still consistent,
/// because a read never leaves it half-changed.
fn lock(snapshot: &Mutex<Snapshot>) -> std::sync::MutexGuard<'_, Snapshot> {
    snapshot.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use super::*;
    use closebook_ledger::Ledger;
    use closebook_ledger::ids::UserId;
    use closebook_ledger::import::CsvJournalReader;
    use closebook_ledger::period::Module;
    use closebook_ledger::setup::SetupFile;

    const DEMO_SETUP: &str = include_str!("../../../examples/demo/setup.toml");

    /// The demo organization with `entries` entries on receivables (1100) in January 2026,
    /// in a ledger file.
    fn receivables_ledger(directory: &Path, entries: usize) -> std::path::PathBuf {
        let path = directory.join("ledger.db");
        let mut ledger = Ledger::open(&path, UserId::new("test")).unwrap();
        ledger
            .apply_setup(&SetupFile::parse(DEMO_SETUP, "setup.toml").unwrap(), "setup.toml")
            .unwrap();
        post(&mut ledger, "E", entries);
        path
    }

    fn post(ledger: &mut Ledger, prefix: &str, entries: usize) {
        let mut journal = String::from("entry,date,account,amount\n");
        for entry in 0..entries {
            let day = 1 + entry % 28;
            let cents = 100 + entry;
            journal.push_str(&format!(
                "{prefix}{entry},2026-01-{day:02},1100,{}.{:02}\n{prefix}{entry},2026-01-{day:02},4000,-{}.{:02}\n",
                cents / 100,
                cents % 100,
                cents / 100,
                cents % 100
            ));
        }
        let reader = CsvJournalReader::new(journal.as_bytes(), "j.csv", Module::Ledger).unwrap();
        ledger
            .import_journals(&EntityId::new("ACME-US"), reader, true, "j.csv")
            .unwrap();
    }

    fn query(account: &str, after: Option<u64>, limit: u32) -> LineQuery {
        LineQuery {
            entity: "ACME-US".to_owned(),
            account: account.to_owned(),
            from_period: "2026-01".to_owned(),
            to_period: "2026-01".to_owned(),
            after,
            limit,
            include_settled: false,
        }
    }

    /// Every page of `account`, following `next`, with `between` run before each page after
    /// the first.
    fn all_pages(
        reader: &mut SnapshotReader,
        account: &str,
        limit: u32,
        mut between: impl FnMut(&mut SnapshotReader),
    ) -> Vec<LinePage> {
        let mut pages = vec![reader.lines(&query(account, None, limit)).unwrap()];
        while let Some(after) = pages.last().unwrap().next {
            between(reader);
            pages.push(reader.lines(&query(account, Some(after), limit)).unwrap());
        }
        pages
    }

    #[test]
    fn pages_read_ahead_are_the_pages_read_on_demand() {
        // Issue #7: a second thread reads the pages after the one a step asked for. The step
        // gets exactly the pages a read of each page on its own gives, whatever it asks in
        // between, and the snapshot's ledger, not lines posted since.
        let directory = tempfile::tempdir().unwrap();
        let path = receivables_ledger(directory.path(), 95);
        let mut reader = SnapshotReader::open(&path).unwrap();
        let reference = Mutex::new(Store::open(&path).unwrap().into_snapshot().unwrap());
        // Lines posted after the snapshots were taken are not in them.
        post(&mut Ledger::open(&path, UserId::new("test")).unwrap(), "LATE", 10);
        let on_demand = |snapshot: &Mutex<Snapshot>| -> Vec<LinePage> {
            let unknown = Mutex::new(KnownLines::default());
            let mut pages = vec![line_page(&lock(snapshot).db(), &query("1100", None, 10), &unknown).unwrap()];
            while let Some(after) = pages.last().unwrap().next {
                pages.push(line_page(&lock(snapshot).db(), &query("1100", Some(after), 10), &unknown).unwrap());
            }
            pages
        };
        let now = on_demand(&Mutex::new(Store::open(&path).unwrap().into_snapshot().unwrap()));
        assert_eq!(now.iter().map(|page| page.lines.len()).sum::<usize>(), 105);
        let snapshot_pages = on_demand(&reference);
        assert_eq!(snapshot_pages.len(), 10);
        assert_eq!(snapshot_pages.iter().map(|page| page.lines.len()).sum::<usize>(), 95);

        // Straight through.
        let pages = all_pages(&mut reader, "1100", 10, |_| {});
        assert_eq!(pages, snapshot_pages);

        // With other queries between the pages, and another account read page by page.
        let pages = all_pages(&mut reader, "1100", 10, |reader| {
            assert_eq!(reader.accounts("ACME-US").unwrap().len(), 23);
            let revenue = all_pages(reader, "4000", 7, |_| {});
            assert_eq!(revenue.iter().map(|page| page.lines.len()).sum::<usize>(), 95);
        });
        assert_eq!(pages, snapshot_pages);

        // Jumping: a page out of order, then one the stream would have read next.
        let third = snapshot_pages[1].next;
        assert_eq!(reader.lines(&query("1100", third, 10)).unwrap(), snapshot_pages[2]);
        let first = reader.lines(&query("1100", None, 10)).unwrap();
        assert_eq!(first, snapshot_pages[0]);
        // Another page size for the same account is another query.
        let wide = reader.lines(&query("1100", first.next, 30)).unwrap();
        assert_eq!(
            wide.lines,
            [
                &snapshot_pages[1].lines[..],
                &snapshot_pages[2].lines[..],
                &snapshot_pages[3].lines[..]
            ]
            .concat()
        );
        // A step that stops early leaves a stream that reads no further and ends with the reader.
        drop(reader);
    }

    /// The demo organization on a calendar of 200 fiscal years (FY1900 to FY2099), the most a
    /// calendar may hold: a ledger where one balance query can list 10,000 accounts over 2,800
    /// periods, 28 million lookups.
    fn long_calendar_ledger(directory: &Path) -> std::path::PathBuf {
        let path = directory.join("ledger.db");
        let setup = DEMO_SETUP
            .replace(r#"first_year = "FY2025""#, r#"first_year = "FY1900""#)
            .replace(r#"last_year = "FY2027""#, r#"last_year = "FY2099""#);
        let mut ledger = Ledger::open(&path, UserId::new("test")).unwrap();
        ledger
            .apply_setup(&SetupFile::parse(&setup, "setup.toml").unwrap(), "setup.toml")
            .unwrap();
        post(&mut ledger, "E", 30);
        path
    }

    /// A balance query listing `accounts` made-up accounts over every period of the calendar.
    fn listing_query(reader: &mut SnapshotReader, accounts: usize) -> BalanceQuery {
        let periods = reader.periods("ACME-US", None).unwrap();
        BalanceQuery {
            entity: "ACME-US".to_owned(),
            accounts: AccountFilter::List((0..accounts).map(|number| format!("X{number}")).collect()),
            from_period: periods.first().unwrap().name.clone(),
            to_period: periods.last().unwrap().name.clone(),
            currency: None,
            dimension_filter: Vec::new(),
            group_by_dimensions: Vec::new(),
        }
    }

    #[test]
    fn queries_stop_at_the_deadline() {
        // Issue 17, weakness 8: a balance query that costs minutes of SQLite work (10,000
        // listed accounts over 2,800 periods, each one a short statement) stops at the run's
        // deadline, and every query after it is refused.
        let directory = tempfile::tempdir().unwrap();
        let path = long_calendar_ledger(directory.path());
        let mut reader = SnapshotReader::open(&path).unwrap();
        let listing = listing_query(&mut reader, 10_000);
        // The same query over the demo's three years answers, so the deadline is what stops it.
        let started = std::time::Instant::now();
        let small = BalanceQuery {
            from_period: "2026-01".to_owned(),
            to_period: "2026-03".to_owned(),
            accounts: AccountFilter::List(vec!["1100".to_owned()]),
            ..listing.clone()
        };
        assert_eq!(reader.balances(&small).unwrap().len(), 1);

        let limit = std::time::Duration::from_millis(200);
        reader.stop_at(started + limit);
        let error = reader.balances(&listing).unwrap_err();
        let elapsed = started.elapsed();
        assert!(error.to_string().contains("interrupted"), "{error}");
        // Generous: the machine is shared. Without the deadline the query runs for minutes.
        assert!(elapsed < limit * 10, "the query stopped after {elapsed:?}");
        // Past the deadline nothing is answered.
        assert!(reader.balances(&small).is_err());
        assert!(reader.lines(&query("1100", None, 10)).is_err());
    }

    #[test]
    fn a_reader_knows_every_line_it_served() {
        // Issue #7: posting a step's settlements takes the lines' facts from what the reader
        // served; they are those of the ledger.
        let directory = tempfile::tempdir().unwrap();
        let path = receivables_ledger(directory.path(), 25);
        let mut reader = SnapshotReader::open(&path).unwrap();
        let known = reader.known_lines();
        let pages = all_pages(&mut reader, "1100", 4, |_| {});
        let served: Vec<&PostedLine> = pages.iter().flat_map(|page| &page.lines).collect();
        assert_eq!(served.len(), 25);
        drop(reader);
        let mut known = known.lock().unwrap();
        assert_eq!(known.len(), 25);
        let mut store = Store::open(&path).unwrap();
        store
            .read(|db| {
                for line in &served {
                    let id = line.id as i64;
                    let stored = db.line_for_settlement(id)?.unwrap();
                    // The batch reads from `known` what the ledger holds.
                    let mut batch = closebook_ledger::settlement::SettlementBatch::new(&mut known);
                    batch.read_lines(db, [id])?;
                    assert_eq!(stored.account.as_str(), line.account);
                    assert_eq!(stored.period.as_str(), line.period);
                    assert_eq!(stored.accounting_amount.to_string(), line.accounting_amount);
                    batch.finish(db)?;
                }
                Ok(())
            })
            .unwrap();
    }
}
