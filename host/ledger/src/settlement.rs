//! Ledger settlement (open-item matching): posted lines of one settlement-enabled account, in
//! one fiscal year, whose accounting amounts sum to exactly zero are marked with a settlement
//! id. Reversing a settlement releases its lines. Settlements are append-only: a reversal is a
//! new record, never an update.

use crate::entity::Entity;
use crate::error::LedgerError;
use crate::ids::{AccountNumber, ChartId, EntityId, FiscalYearName, PeriodName, UserId};
use crate::period::PeriodStatus;
use crate::store::Db;
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
    /// The fiscal year of each period of the entity's calendar.
    fiscal_years: HashMap<PeriodName, FiscalYearName>,
}

/// What the checks of many settlements in one transaction share: each entity's record, period
/// statuses and periods' fiscal years, and whether each account is enabled for settlement.
/// Settling changes none of them, so a step that proposes thousands of settlements reads them
/// once, not per settlement. Valid for one transaction only.
#[derive(Default)]
pub struct SettleCache {
    entities: HashMap<EntityId, EntityFacts>,
    accounts: HashMap<(ChartId, AccountNumber), Option<bool>>,
    /// The time the settlements are recorded with: one transaction, one time.
    created_at: Option<String>,
}

/// Settles the given posted lines of an entity; returns the settlement id.
pub fn settle(
    db: &Db<'_>,
    entity: &EntityId,
    line_ids: &[i64],
    user: &UserId,
    run_id: Option<&str>,
) -> Result<i64, LedgerError> {
    settle_with(db, &mut SettleCache::default(), entity, line_ids, user, run_id)
}

/// [`settle`], one of many in the same transaction, with what they share in `cache`: the same
/// checks in the same order, with the same refusals.
pub fn settle_with(
    db: &Db<'_>,
    cache: &mut SettleCache,
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
    if !cache.entities.contains_key(entity) {
        let record = db.require_entity(entity)?;
        let statuses = db.period_statuses(entity)?;
        let fiscal_years = db
            .periods(&record.calendar, None)?
            .into_iter()
            .map(|period| (period.name, period.fiscal_year))
            .collect();
        cache.entities.insert(
            entity.clone(),
            EntityFacts {
                record,
                statuses,
                fiscal_years,
            },
        );
    }
    let EntityFacts {
        record,
        statuses,
        fiscal_years,
    } = &cache.entities[entity];
    let mut account = None;
    let mut fiscal_year = None;
    let mut total = Decimal::ZERO;
    for line_id in &unique {
        let line = db
            .line_for_settlement(*line_id)?
            .ok_or_else(|| refused(format!("line {line_id} does not exist")))?;
        if &line.entity != entity {
            return Err(refused(format!(
                "line {line_id} belongs to entity {}, not {entity}",
                line.entity
            )));
        }
        if let Some(settlement) = line.active_settlement {
            return Err(refused(format!(
                "line {line_id} is already settled by settlement {settlement}"
            )));
        }
        match &account {
            None => account = Some(line.account.clone()),
            Some(first) if first != &line.account => {
                return Err(refused(format!(
                    "lines {} are on accounts {first} and {}: a settlement stays on one account",
                    line_id, line.account
                )));
            }
            Some(_) => {}
        }
        // The period's fiscal year in the entity's calendar: what the entry was posted with,
        // read without a lookup of the entry.
        let line_year = fiscal_years.get(&line.period).ok_or_else(|| {
            LedgerError::Invalid(format!(
                "line {line_id} is in period {}, which the calendar of entity {entity} does not have",
                line.period
            ))
        })?;
        match &fiscal_year {
            None => fiscal_year = Some(line_year.clone()),
            Some(first) if first != line_year => {
                return Err(refused(format!(
                    "line {line_id} is in {line_year} and another in {first}: settlement never crosses fiscal years"
                )));
            }
            Some(_) => {}
        }
        total = total.checked_add(line.accounting_amount).ok_or(LedgerError::Overflow)?;
    }
    let account = account.expect("at least two lines were read");
    let fiscal_year = fiscal_year.expect("at least two lines were read");
    let settle_enabled = match cache.accounts.get(&(record.chart.clone(), account.clone())) {
        Some(known) => *known,
        None => {
            let known = db.account(&record.chart, &account)?.map(|found| found.settle);
            cache.accounts.insert((record.chart.clone(), account.clone()), known);
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
    let created_at = cache.created_at.get_or_insert_with(crate::now_text);
    db.insert_settlement(
        entity,
        &account,
        &fiscal_year,
        &unique.into_iter().collect::<Vec<_>>(),
        (user, created_at),
        run_id,
    )
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
        db.connection()
            .query_row(
                "SELECT l.id FROM lines l JOIN entries e ON e.id = l.entry_id WHERE e.entry_key = ?1 AND l.account = ?2",
                [key, account],
                |row| row.get(0),
            )
            .unwrap()
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
        let count: i64 = ledger
            .store()
            .read(|db| {
                Ok(db
                    .connection()
                    .query_row("SELECT COUNT(*) FROM settlements", [], |row| row.get(0))?)
            })
            .unwrap();
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
                let (a, b, c, d) = (
                    line(db, "A", "1100"),
                    line(db, "B", "1100"),
                    line(db, "C", "1100"),
                    line(db, "D", "1100"),
                );
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

    #[test]
    fn settlements_sharing_a_cache_refuse_what_single_settlements_refuse() {
        // Issue #7: a step's many settlements share one SettleCache; the checks behind it give
        // the refusals a settlement on its own gives, and a refused one writes nothing.
        let mut ledger = receivables_ledger();
        let user = UserId::new("test");
        let entity = EntityId::new("ACME-US");
        let refusals = ledger
            .store()
            .write(|db| {
                let mut cache = SettleCache::default();
                let (a, b, c, d) = (
                    line(db, "A", "1100"),
                    line(db, "B", "1100"),
                    line(db, "C", "1100"),
                    line(db, "D", "1100"),
                );
                let mut refusals = Vec::new();
                settle_with(db, &mut cache, &entity, &[a, b], &user, None)?;
                for lines in [
                    vec![a, c, d, b],
                    vec![c, line(db, "A", "4000")],
                    vec![line(db, "A", "4000"), line(db, "C", "4000")],
                    vec![c, c],
                    vec![c, line(db, "D", "1000")],
                ] {
                    let cached = settle_with(db, &mut cache, &entity, &lines, &user, None).unwrap_err();
                    let single = settle(db, &entity, &lines, &user, None).unwrap_err();
                    assert_eq!(cached.to_string(), single.to_string());
                    refusals.push(cached.to_string());
                }
                settle_with(db, &mut cache, &entity, &[c, d], &user, None)?;
                Ok(refusals)
            })
            .unwrap();
        assert!(refusals[0].contains("is already settled by settlement"), "{refusals:?}");
        assert!(
            refusals[1].contains("a settlement stays on one account"),
            "{refusals:?}"
        );
        assert!(
            refusals[2].contains("account 4000 is not enabled for settlement"),
            "{refusals:?}"
        );
        assert!(refusals[3].contains("at least two different lines"), "{refusals:?}");
        let settled: i64 = ledger
            .store()
            .connection()
            .query_row("SELECT COUNT(*) FROM settlement_lines", [], |row| row.get(0))
            .unwrap();
        assert_eq!(
            settled, 4,
            "the two accepted settlements marked two lines each, the refused ones none"
        );
    }
}
