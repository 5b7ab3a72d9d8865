//! Reports built from the maintained balances (never by rescanning lines): trial balance and
//! the ledger journal report here; the balance sheet and income statement live in `statement`
//! and are reachable from here for one entity.
//!
//! Rules (DOMAIN.md sections 3 and 9):
//! - Trial balance columns: opening (the year's balance before the period, opening period
//!   included), debit and credit turnovers of the period (both >= 0), closing = opening + debit
//!   - credit, in accounting currency. The last month excludes the closing period unless asked.
//! - A balance-sheet account's balance = the year's opening period + the year's movements;
//!   profit and loss accounts start every year at zero. Until year-end close has run, the
//!   balance sheet shows the year's net profit as "current-year earnings" in equity.

use crate::account::{Account, AccountType};
use crate::calendar::{EntityPeriods, Period, PeriodKind};
use crate::dimension::{self, DimensionValues};
use crate::error::LedgerError;
use crate::ids::{AccountNumber, CurrencyCode, EntityId, PeriodName};
use crate::journal::PostedEntry;
use crate::statement::{self, Statement};
use crate::store::{AccountRows, Db};
use rust_decimal::Decimal;
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, PoisonError};

#[derive(Debug, Clone, Serialize)]
pub struct TrialBalanceRow {
    pub account: AccountNumber,
    pub name: String,
    #[serde(rename = "type")]
    pub account_type: AccountType,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub dimensions: DimensionValues,
    pub opening: Decimal,
    pub debit: Decimal,
    pub credit: Decimal,
    pub closing: Decimal,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct TrialBalanceTotals {
    pub opening: Decimal,
    pub debit: Decimal,
    pub credit: Decimal,
    pub closing: Decimal,
}

#[derive(Debug, Clone, Serialize)]
pub struct TrialBalance {
    pub entity: EntityId,
    pub period: PeriodName,
    pub currency: CurrencyCode,
    pub include_closing: bool,
    pub rows: Vec<TrialBalanceRow>,
    pub totals: TrialBalanceTotals,
}

/// The periods of an entity's fiscal year around a target period.
struct YearContext {
    target: Period,
    year: Vec<Period>,
    accounts: HashMap<AccountNumber, Account>,
    currency: CurrencyCode,
    minor_units: u32,
}

fn year_context(db: &Db<'_>, entity_id: &EntityId, period: &PeriodName) -> Result<YearContext, LedgerError> {
    let entity = db.require_entity(entity_id)?;
    let all = EntityPeriods::of(db, &entity)?;
    let target = all.named(period)?.clone();
    let year = all
        .periods
        .into_iter()
        .filter(|candidate| candidate.fiscal_year == target.fiscal_year)
        .collect();
    let minor_units = db.minor_units(&entity.currency)?;
    Ok(YearContext {
        target,
        year,
        accounts: db
            .accounts(&entity.chart)?
            .into_iter()
            .map(|account| (account.number.clone(), account))
            .collect(),
        currency: entity.currency,
        minor_units,
    })
}

impl YearContext {
    fn names(&self, keep: impl Fn(&Period) -> bool) -> Vec<PeriodName> {
        self.year
            .iter()
            .filter(|period| keep(period))
            .map(|period| period.name.clone())
            .collect()
    }

    fn fixed(&self, amount: Decimal) -> Decimal {
        crate::money::at_least_minor_units(amount, self.minor_units)
    }

    fn account(&self, number: &AccountNumber) -> (String, AccountType, Option<String>) {
        match self.accounts.get(number) {
            Some(account) => (account.name.clone(), account.account_type, account.category.clone()),
            None => (format!("(unknown account {number})"), AccountType::Asset, None),
        }
    }
}

fn add(total: &mut Decimal, amount: Decimal) -> Result<(), LedgerError> {
    *total = total.checked_add(amount).ok_or(LedgerError::Overflow)?;
    Ok(())
}

/// The trial balance of one period, per account (and per the named dimensions).
pub fn trial_balance(
    db: &Db<'_>,
    entity: &EntityId,
    period: &PeriodName,
    dimensions: &[String],
    include_closing: bool,
) -> Result<TrialBalance, LedgerError> {
    trial_balance_of(db, entity, period, dimensions, include_closing, None)
}

/// The trial balance of one period, its opening column taken from `openings` while the
/// periods before it are as they were when it was kept: what a server that answers the same
/// report again and again calls. The figures are those of [`trial_balance`].
pub fn trial_balance_keeping_openings(
    db: &Db<'_>,
    entity: &EntityId,
    period: &PeriodName,
    dimensions: &[String],
    include_closing: bool,
    openings: &OpeningCache,
) -> Result<TrialBalance, LedgerError> {
    trial_balance_of(db, entity, period, dimensions, include_closing, Some(openings))
}

/// A trial balance's opening column before it is grouped: the year's balance before the
/// period, opening period included, per account and dimension set (0 without dimensions).
#[derive(Debug)]
struct OpeningRow {
    account: String,
    dimension_set: i64,
    dimensions: String,
    accounting_amount: Decimal,
}

/// Which opening column a kept one is: an entity, the periods it sums, and whether it is per
/// dimension set or per account.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct OpeningKey {
    entity: EntityId,
    periods: Vec<PeriodName>,
    with_dimensions: bool,
}

impl OpeningKey {
    /// The opening column of a trial balance of `context`'s period: the year's periods before it
    /// (the opening period included), per dimension set when it shows `dimensions`.
    fn of(context: &YearContext, entity: &EntityId, dimensions: &[String]) -> Self {
        Self {
            entity: entity.clone(),
            periods: context.names(|candidate| candidate.ordinal < context.target.ordinal),
            with_dimensions: !dimensions.is_empty(),
        }
    }
}

/// Opening columns kept between trial balances, each with the hash of the last entry of every
/// period it sums (`Db::last_entry_hashes`): a trial balance late in the year reads every
/// earlier period's balance rows for its opening column (eleven periods' worth in December),
/// and the server answers it again and again while those periods do not change. A kept column
/// is used only while those hashes are the same, and each use reads them again (one index seek
/// per period), so a posting into an earlier period, by this process or another, is seen at
/// once.
#[derive(Default)]
pub struct OpeningCache(Mutex<HashMap<OpeningKey, KeptOpening>>);

/// An opening column as kept: the last entry hashes of its periods when it was read, and its rows.
type KeptOpening = (Vec<Option<String>>, Arc<[OpeningRow]>);

/// Opening columns an [`OpeningCache`] keeps; when full, it starts again empty.
const OPENINGS_KEPT: usize = 64;

/// The most rows an [`OpeningCache`] keeps in all its columns (about 100 bytes each, so some
/// 10 MiB): a column that would take it past this starts it again empty, and a column larger
/// than this alone is read from the balances every time.
const OPENING_ROWS_KEPT: usize = 100_000;

impl OpeningCache {
    /// The opening column of `key`, kept or read now (and kept).
    fn opening(&self, db: &Db<'_>, key: OpeningKey) -> Result<Arc<[OpeningRow]>, LedgerError> {
        // The hashes are read before the rows: a posting between the two leaves rows newer than
        // the hashes they are kept with, which the next use finds changed and reads again.
        let hashes = db.last_entry_hashes(&key.entity, &key.periods)?;
        let lock = || self.0.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some((kept_hashes, rows)) = lock().get(&key)
            && *kept_hashes == hashes
        {
            return Ok(Arc::clone(rows));
        }
        let rows = read_opening(db, &key)?;
        if rows.len() <= OPENING_ROWS_KEPT {
            let mut kept = lock();
            kept.remove(&key);
            let rows_kept: usize = kept.values().map(|(_, kept_rows)| kept_rows.len()).sum();
            if kept.len() >= OPENINGS_KEPT || rows_kept + rows.len() > OPENING_ROWS_KEPT {
                kept.clear();
            }
            kept.insert(key, (hashes, Arc::clone(&rows)));
        }
        Ok(rows)
    }
}

/// The opening column of `key` read from the maintained balances, summed per account and
/// dimension set.
fn read_opening(db: &Db<'_>, key: &OpeningKey) -> Result<Arc<[OpeningRow]>, LedgerError> {
    // Where each account's and dimension set's row is in `rows`.
    let mut index: HashMap<String, HashMap<i64, usize>> = HashMap::new();
    let mut rows: Vec<OpeningRow> = Vec::new();
    db.balances_of_accounts(
        &key.entity,
        &key.periods,
        AccountRows::All,
        key.with_dimensions,
        &mut |view| {
            let by_set = match index.get_mut(view.account) {
                Some(by_set) => by_set,
                None => index.entry(view.account.to_owned()).or_default(),
            };
            let row = *by_set.entry(view.dimension_set).or_insert_with(|| {
                rows.push(OpeningRow {
                    account: view.account.to_owned(),
                    dimension_set: view.dimension_set,
                    dimensions: view.dimensions.to_owned(),
                    accounting_amount: Decimal::ZERO,
                });
                rows.len() - 1
            });
            add(&mut rows[row].accounting_amount, view.accounting_amount)
        },
    )?;
    Ok(rows.into())
}

/// A trial balance's rows summed under the account's and the projected dimensions' texts,
/// allocated once each.
struct Grouping<'d> {
    /// The dimensions the rows are projected on; none for per-account rows.
    dimensions: &'d [String],
    grouped: HashMap<String, HashMap<String, TrialBalanceTotals>>,
    /// Each dimension set's projection, computed once.
    projected: HashMap<i64, String>,
}

impl Grouping<'_> {
    fn add(
        &mut self,
        account: &str,
        dimension_set: i64,
        dimension_text: &str,
        add_row: impl FnOnce(&mut TrialBalanceTotals) -> Result<(), LedgerError>,
    ) -> Result<(), LedgerError> {
        let dimensions = self.dimensions;
        let dimension_text: &str = if dimensions.is_empty() {
            ""
        } else {
            self.projected.entry(dimension_set).or_insert_with(|| {
                dimension::canonical(&dimension::project(
                    &dimension::parse_canonical(dimension_text),
                    dimensions,
                ))
            })
        };
        let by_dimensions = match self.grouped.get_mut(account) {
            Some(by_dimensions) => by_dimensions,
            None => self.grouped.entry(account.to_owned()).or_default(),
        };
        let totals = match by_dimensions.get_mut(dimension_text) {
            Some(totals) => totals,
            None => by_dimensions.entry(dimension_text.to_owned()).or_default(),
        };
        add_row(totals)
    }
}

fn trial_balance_of(
    db: &Db<'_>,
    entity: &EntityId,
    period: &PeriodName,
    dimensions: &[String],
    include_closing: bool,
    openings: Option<&OpeningCache>,
) -> Result<TrialBalance, LedgerError> {
    let context = year_context(db, entity, period)?;
    let target = &context.target;
    let last_operating = context
        .year
        .iter()
        .filter(|candidate| candidate.kind == PeriodKind::Operating)
        .map(|candidate| candidate.ordinal)
        .max();
    let movement_periods = context.names(|candidate| {
        candidate.ordinal == target.ordinal
            || (include_closing && Some(target.ordinal) == last_operating && candidate.kind == PeriodKind::Closing)
    });
    // Without dimensions, the few per-account rows hold the same totals as the per-dimension rows.
    let with_dimensions = !dimensions.is_empty();
    let opening = OpeningKey::of(&context, entity, dimensions);
    let opening = match openings {
        Some(openings) => openings.opening(db, opening)?,
        None => read_opening(db, &opening)?,
    };
    let mut grouping = Grouping {
        dimensions,
        grouped: HashMap::new(),
        projected: HashMap::new(),
    };
    for row in opening.iter() {
        grouping.add(&row.account, row.dimension_set, &row.dimensions, |totals| {
            add(&mut totals.opening, row.accounting_amount)
        })?;
    }
    db.balances_of_accounts(
        entity,
        &movement_periods,
        AccountRows::All,
        with_dimensions,
        &mut |view| {
            grouping.add(view.account, view.dimension_set, view.dimensions, |totals| {
                add(&mut totals.debit, view.debit)?;
                add(&mut totals.credit, view.credit)
            })
        },
    )?;
    let mut grouped: Vec<((String, String), TrialBalanceTotals)> = grouping
        .grouped
        .into_iter()
        .flat_map(|(account, by_dimensions)| {
            by_dimensions
                .into_iter()
                .map(move |(dimension_text, amounts)| ((account.clone(), dimension_text), amounts))
        })
        .collect();
    grouped.sort_unstable_by(|left, right| left.0.cmp(&right.0));
    let mut totals = TrialBalanceTotals::default();
    let mut rows = Vec::with_capacity(grouped.len());
    for ((account, dimension_text), amounts) in grouped {
        let account = AccountNumber::new(account);
        let closing = amounts
            .opening
            .checked_add(amounts.debit)
            .and_then(|sum| sum.checked_sub(amounts.credit))
            .ok_or(LedgerError::Overflow)?;
        if amounts.opening.is_zero() && amounts.debit.is_zero() && amounts.credit.is_zero() {
            continue;
        }
        add(&mut totals.opening, amounts.opening)?;
        add(&mut totals.debit, amounts.debit)?;
        add(&mut totals.credit, amounts.credit)?;
        add(&mut totals.closing, closing)?;
        let (name, account_type, _) = context.account(&account);
        rows.push(TrialBalanceRow {
            name,
            account_type,
            dimensions: dimension::parse_canonical(&dimension_text),
            opening: context.fixed(amounts.opening),
            debit: context.fixed(amounts.debit),
            credit: context.fixed(amounts.credit),
            closing: context.fixed(closing),
            account,
        });
    }
    let totals = TrialBalanceTotals {
        opening: context.fixed(totals.opening),
        debit: context.fixed(totals.debit),
        credit: context.fixed(totals.credit),
        closing: context.fixed(totals.closing),
    };
    Ok(TrialBalance {
        entity: entity.clone(),
        period: period.clone(),
        currency: context.currency.clone(),
        include_closing,
        rows,
        totals,
    })
}

/// The balance sheet of one entity at the end of a period (see `statement::balance_sheet`).
pub fn balance_sheet(db: &Db<'_>, entity: &EntityId, period: &PeriodName) -> Result<Statement, LedgerError> {
    Ok(statement::balance_sheet(db, std::slice::from_ref(entity), period)?)
}

/// The income statement of one entity for a period (see `statement::income_statement`).
pub fn income_statement(db: &Db<'_>, entity: &EntityId, period: &PeriodName) -> Result<Statement, LedgerError> {
    Ok(statement::income_statement(db, std::slice::from_ref(entity), period)?)
}

#[derive(Debug, Clone, Serialize)]
pub struct JournalReport {
    pub entity: EntityId,
    pub period: PeriodName,
    pub entries: Vec<PostedEntry>,
}

/// The ledger journal report: posted entries of a period with their lines and provenance.
pub fn journal(db: &Db<'_>, entity: &EntityId, period: &PeriodName) -> Result<JournalReport, LedgerError> {
    year_context(db, entity, period)?;
    Ok(JournalReport {
        entity: entity.clone(),
        period: period.clone(),
        entries: db.entries(entity, Some(period))?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::UserId;
    use crate::ledger::Ledger;
    use crate::setup::SetupFile;
    use crate::store::Store;
    use crate::test_fixtures::{ONE_ENTITY_SETUP, import_csv};

    fn ledger_with_departments() -> Ledger {
        let mut ledger = Ledger::from_store(Store::open_in_memory().unwrap(), UserId::new("test"));
        let setup = format!("{ONE_ENTITY_SETUP}\n[[dimension]]\nname = \"dept\"\nvalues = [\"ops\", \"sales\"]\n");
        ledger
            .apply_setup(&SetupFile::parse(&setup, "setup.toml").unwrap(), "setup.toml")
            .unwrap();
        ledger
    }

    /// The trial balance of `period` with and without the cache, as JSON, and the opening
    /// column the cache keeps for it afterwards.
    fn both(
        ledger: &mut Ledger,
        cache: &OpeningCache,
        period: &str,
        dimensions: &[String],
    ) -> (serde_json::Value, serde_json::Value, Arc<[OpeningRow]>) {
        let (entity, period) = (EntityId::new("E"), PeriodName::new(period));
        let fresh = ledger
            .read(|db| trial_balance(db, &entity, &period, dimensions, false))
            .unwrap();
        let kept = ledger
            .read(|db| trial_balance_keeping_openings(db, &entity, &period, dimensions, false, cache))
            .unwrap();
        let key = ledger
            .read(|db| {
                Ok(OpeningKey::of(
                    &year_context(db, &entity, &period)?,
                    &entity,
                    dimensions,
                ))
            })
            .unwrap();
        let rows = Arc::clone(&cache.0.lock().unwrap()[&key].1);
        (
            serde_json::to_value(fresh).unwrap(),
            serde_json::to_value(kept).unwrap(),
            rows,
        )
    }

    #[test]
    fn a_kept_opening_column_serves_while_the_earlier_periods_are_unchanged_and_is_read_again_after_a_posting_into_one()
    {
        let mut ledger = ledger_with_departments();
        import_csv(
            &mut ledger,
            "entry,date,account,amount,dim.dept\n\
             A,2026-01-10,1000,100.00,ops\nA,2026-01-10,4000,-100.00,sales\n\
             B,2026-02-10,1000,30.00,sales\nB,2026-02-10,4000,-30.00,ops\n\
             C,2026-03-10,1000,5.00,ops\nC,2026-03-10,4000,-5.00,ops\n",
        )
        .unwrap();
        let cache = OpeningCache::default();
        let by_department = ["dept".to_owned()];
        for dimensions in [&[][..], &by_department[..]] {
            let (fresh, kept, first_rows) = both(&mut ledger, &cache, "2026-03", dimensions);
            assert_eq!(kept, fresh);
            assert_eq!(fresh["totals"]["opening"], "0.00", "{fresh}");
            let cash: Vec<_> = fresh["rows"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|row| row["account"] == "1000")
                .collect();
            assert_eq!(cash.len(), if dimensions.is_empty() { 1 } else { 2 }, "{fresh}");
            // Unchanged periods: the same kept column, not a second read.
            let (_, again, rows) = both(&mut ledger, &cache, "2026-03", dimensions);
            assert_eq!(again, fresh);
            assert!(Arc::ptr_eq(&rows, &first_rows));
        }
        // A posting into the report's own period changes its turnovers, not its opening.
        import_csv(
            &mut ledger,
            "entry,date,account,amount,dim.dept\nD,2026-03-20,1000,1.00,ops\nD,2026-03-20,4000,-1.00,ops\n",
        )
        .unwrap();
        let (_, _, kept_rows) = both(&mut ledger, &cache, "2026-03", &[]);
        let (fresh, kept, rows) = both(&mut ledger, &cache, "2026-03", &[]);
        assert_eq!(kept, fresh);
        assert!(Arc::ptr_eq(&rows, &kept_rows));
        // A posting into an earlier period: the opening columns are read again.
        import_csv(
            &mut ledger,
            "entry,date,account,amount,dim.dept\nE,2026-02-20,1000,7.00,ops\nE,2026-02-20,4000,-7.00,ops\n",
        )
        .unwrap();
        for dimensions in [&[][..], &by_department[..]] {
            let (fresh, kept, rows) = both(&mut ledger, &cache, "2026-03", dimensions);
            assert_eq!(kept, fresh);
            assert!(!Arc::ptr_eq(&rows, &kept_rows));
            let cash_opening: Vec<&str> = fresh["rows"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|row| row["account"] == "1000")
                .map(|row| row["opening"].as_str().unwrap())
                .collect();
            let expected: &[&str] = if dimensions.is_empty() {
                &["137.00"]
            } else {
                &["107.00", "30.00"]
            };
            assert_eq!(cash_opening, expected, "{fresh}");
        }
        let hashes = ledger
            .read(|db| {
                db.last_entry_hashes(
                    &EntityId::new("E"),
                    &[PeriodName::new("2026-02"), PeriodName::new("2026-04")],
                )
            })
            .unwrap();
        assert!(matches!(&hashes[..], [Some(_), None]), "{hashes:?}");
    }
}
