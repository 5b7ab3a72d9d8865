//! What a close's context reads once and reuses: the ledger's entities and each entity's
//! periods, for one request or one run, and on the server each entity's periods between
//! requests as long as setup adds none, and how far the staleness checks found no late entry.

use super::CloseContext;
use closebook_ledger::LedgerError;
use closebook_ledger::calendar::EntityPeriods;
use closebook_ledger::ids::EntityId;
use closebook_ledger::store::{Db, LaterEntry, PeriodsVersion};
use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, Mutex, PoisonError};

/// The ledger facts a context reads at most once: the ledger's entities and each entity's
/// periods. Both only grow (setup adds entities and whole fiscal years; nothing removes or
/// changes them), and a context lives for one request or one run, so a board read asks for
/// them once rather than five times per entity.
#[derive(Default)]
pub(crate) struct ContextMemo {
    entities: RefCell<Option<Vec<EntityId>>>,
    periods: RefCell<BTreeMap<EntityId, Arc<EntityPeriods>>>,
    /// Periods kept between contexts (the server's requests), when there is such a cache.
    shared: Option<Arc<PeriodsCache>>,
    /// How far the staleness checks found nothing late: the context's own, or the server's
    /// kept between requests.
    late: Arc<LateEntryChecks>,
}

impl ContextMemo {
    /// A memo that takes periods from `shared` and the staleness checks' progress from `late`,
    /// and adds to them what it reads.
    pub(crate) fn sharing(shared: Arc<PeriodsCache>, late: Arc<LateEntryChecks>) -> Self {
        Self {
            shared: Some(shared),
            late,
            ..Self::default()
        }
    }
}

/// How far each staleness check found no late entry, kept between checks.
///
/// A check asks for the entries of an entity posted after a task ran (or was signed off), in
/// the periods it covers, that change what it relied on. Entries are append-only, and whether
/// one counts (its accounts, the task that posted it) is fixed when it is posted; so once a
/// check found nothing through the entity's ledger sequence N, the same check later reads only
/// the entries after N. Without it, a board of a closed month read, at every request, every
/// entry posted since in the periods its tasks read (a busy next month's imports, thousands).
///
/// Each kept sequence carries the hash of the entry at it, read again at every use: a ledger
/// file replaced by an older copy, whose sequence N is another entry, is checked in full.
#[derive(Default)]
pub struct LateEntryChecks(Mutex<HashMap<String, (i64, String)>>);

/// Checks kept at most; past it the kept ones are forgotten and checked in full once more.
const LATE_CHECKS_KEPT_MAX: usize = 10_000;

impl LateEntryChecks {
    /// The entries of `entity` posted after `sequence` in `periods` that `counts` keeps, in
    /// posting order. `filter` names everything `counts` decides by (two checks with the same
    /// entity, sequence, periods and filter must keep the same entries).
    pub fn late_entries(
        &self,
        db: &Db<'_>,
        entity: &EntityId,
        sequence: i64,
        periods: &BTreeSet<String>,
        filter: &str,
        counts: impl Fn(&LaterEntry) -> bool,
    ) -> Result<Vec<LaterEntry>, LedgerError> {
        // Kept by a digest: a filter names whole sets of accounts and tasks.
        let key = crate::credentials::sha256_hex(&format!("{entity:?} {sequence} {periods:?} {filter}"));
        let kept = self.0.lock().unwrap_or_else(PoisonError::into_inner).get(&key).cloned();
        let from = match kept {
            Some((through, hash)) if db.entry_hash_at(entity, through)?.as_deref() == Some(hash.as_str()) => through,
            _ => sequence,
        };
        // The head is read before the entries: every entry up to it is in what they return
        // (on PostgreSQL each statement sees what was committed when it started).
        let (head, head_hash) = db.ledger_head(entity)?;
        let read = db.entries_after_in_periods(entity, from, periods.iter().map(String::as_str))?;
        // A read cut off at the row limit did not see every entry up to the head.
        let complete = read.len() < closebook_ledger::store::QUERY_ROWS_MAX;
        let late: Vec<LaterEntry> = read.into_iter().filter(|entry| counts(entry)).collect();
        if late.is_empty() && complete && head > from {
            let mut kept = self.0.lock().unwrap_or_else(PoisonError::into_inner);
            if kept.len() >= LATE_CHECKS_KEPT_MAX {
                kept.clear();
            }
            kept.insert(key, (head, head_hash));
        }
        Ok(late)
    }
}

/// Entities' periods kept between contexts, each with the [`PeriodsVersion`] it was read at: a
/// context checks that version (one small query) instead of reading and parsing every period
/// of the calendar again, which was a fifth of a board read's time.
#[derive(Default)]
pub struct PeriodsCache(Mutex<BTreeMap<EntityId, (PeriodsVersion, Arc<EntityPeriods>)>>);

impl PeriodsCache {
    /// The periods of `entity`, from the cache while the ledger's periods and the entity's
    /// calendar are as they were when read; refused when the entity does not exist.
    pub fn periods_of(&self, db: &Db<'_>, entity: &EntityId) -> Result<Arc<EntityPeriods>, LedgerError> {
        let Some(version) = db.periods_version(entity)? else {
            return Ok(Arc::new(EntityPeriods::of_entity(db, entity)?));
        };
        let mut cached = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some((seen, periods)) = cached.get(entity)
            && *seen == version
        {
            return Ok(Arc::clone(periods));
        }
        let periods = Arc::new(EntityPeriods::of_entity(db, entity)?);
        cached.insert(entity.clone(), (version, Arc::clone(&periods)));
        Ok(periods)
    }
}

impl CloseContext<'_> {
    /// How far the staleness checks found nothing late (the server's, or this context's).
    pub(super) fn late_checks(&self) -> &LateEntryChecks {
        &self.memo.late
    }

    /// Every entity of the ledger, read once per context.
    pub(super) fn ledger_entities(&self) -> anyhow::Result<Vec<EntityId>> {
        if let Some(entities) = self.memo.entities.borrow().as_ref() {
            return Ok(entities.clone());
        }
        let entities: Vec<EntityId> = self
            .ledger()?
            .store()
            .read(|db| db.entities())?
            .into_iter()
            .map(|entity| entity.id)
            .collect();
        *self.memo.entities.borrow_mut() = Some(entities.clone());
        Ok(entities)
    }

    /// The periods of `entity`'s calendar, read once per context; refused when the entity does
    /// not exist.
    pub(crate) fn periods_of(&self, db: &Db<'_>, entity: &EntityId) -> Result<Arc<EntityPeriods>, LedgerError> {
        if let Some(periods) = self.memo.periods.borrow().get(entity) {
            return Ok(Arc::clone(periods));
        }
        let periods = match &self.memo.shared {
            Some(shared) => shared.periods_of(db, entity)?,
            None => Arc::new(EntityPeriods::of_entity(db, entity)?),
        };
        self.memo
            .periods
            .borrow_mut()
            .insert(entity.clone(), Arc::clone(&periods));
        Ok(periods)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use closebook_ledger::Ledger;
    use closebook_ledger::ids::{PeriodName, UserId};
    use closebook_ledger::setup::SetupFile;
    use closebook_ledger::store::Store;

    /// A calendar of fiscal years `FY2026` to `last_year`, and one entity on it.
    fn setup(last_year: &str) -> SetupFile {
        let text = format!(
            r#"
            [[currency]]
            code = "USD"
            minor_units = 2
            [[calendar]]
            id = "standard"
            start_month = 1
            first_year = "FY2026"
            last_year = "{last_year}"
            [[chart]]
            id = "C"
            accounts = [{{ number = "1000", name = "Cash", type = "asset" }}, {{ number = "3900", name = "Retained earnings", type = "equity" }}]
            [[entity]]
            id = "E"
            name = "E"
            currency = "USD"
            calendar = "standard"
            chart = "C"
            retained_earnings_account = "3900"
            "#
        );
        SetupFile::parse(&text, "setup.toml").unwrap()
    }

    #[test]
    fn cached_periods_are_read_again_once_a_fiscal_year_is_added() {
        // Proves the server's periods cache answers from memory while the periods are as they
        // were, and never hides a fiscal year setup added since.
        let mut ledger = Ledger::from_store(Store::open_in_memory().unwrap(), UserId::new("test"));
        ledger.apply_setup(&setup("FY2026"), "setup.toml").unwrap();
        let cache = PeriodsCache::default();
        let entity = EntityId::new("E");
        let first = ledger.read(|db| cache.periods_of(db, &entity)).unwrap();
        assert!(first.find(&PeriodName::new("2026-12")).is_some());
        assert!(first.find(&PeriodName::new("2027-01")).is_none());
        let again = ledger.read(|db| cache.periods_of(db, &entity)).unwrap();
        assert!(Arc::ptr_eq(&first, &again), "unchanged periods come from the cache");
        ledger.apply_setup(&setup("FY2027"), "setup.toml").unwrap();
        let after = ledger.read(|db| cache.periods_of(db, &entity)).unwrap();
        assert!(!Arc::ptr_eq(&first, &after));
        assert!(after.find(&PeriodName::new("2027-01")).is_some());
        let unknown = ledger.read(|db| cache.periods_of(db, &EntityId::new("NOPE")));
        assert!(unknown.unwrap_err().to_string().contains("NOPE"));
    }

    fn import(ledger: &mut Ledger, entries: &[(&str, &str)]) {
        let mut journal = "entry,date,account,amount\n".to_owned();
        for (key, account) in entries {
            journal.push_str(&format!(
                "{key},2026-01-15,{account},1.00\n{key},2026-01-15,3900,-1.00\n"
            ));
        }
        let reader = closebook_ledger::import::CsvJournalReader::new(
            journal.as_bytes(),
            "j.csv",
            closebook_ledger::period::Module::Ledger,
        )
        .unwrap();
        ledger
            .import_journals(&EntityId::new("E"), reader, true, "j.csv")
            .unwrap();
    }

    #[test]
    fn a_late_entry_check_reads_only_what_was_posted_since_it_last_found_nothing() {
        // Proves the staleness checks' kept progress never hides a late entry: a check reads
        // the entries after the sequence it last found clean, and everything again when the
        // entry at that sequence is not the one it saw (another ledger file).
        let open = |name: &str| {
            let mut ledger = Ledger::from_store(Store::open_in_memory().unwrap(), UserId::new("test"));
            ledger.apply_setup(&setup("FY2026"), "setup.toml").unwrap();
            import(&mut ledger, &[(&format!("{name}-1"), "1000")]);
            ledger
        };
        let mut ledger = open("A");
        let checks = LateEntryChecks::default();
        let entity = EntityId::new("E");
        let january: BTreeSet<String> = ["2026-01".to_owned()].into();
        // Late: an entry on account 1000. `seen` lists the entries the check was shown.
        let check = |ledger: &mut Ledger, filter: &str| {
            let seen = RefCell::new(Vec::new());
            let late = ledger
                .read(|db| {
                    checks.late_entries(db, &entity, 1, &january, filter, |entry| {
                        seen.borrow_mut().push(entry.key.to_string());
                        entry
                            .accounts
                            .contains(&closebook_ledger::ids::AccountNumber::new("1000"))
                    })
                })
                .unwrap();
            let late: Vec<String> = late.iter().map(|entry| entry.key.to_string()).collect();
            (late, seen.into_inner())
        };
        import(&mut ledger, &[("A-2", "3900"), ("A-3", "3900")]);
        assert_eq!(
            check(&mut ledger, "f"),
            (vec![], vec!["A-2".to_owned(), "A-3".to_owned()])
        );
        import(&mut ledger, &[("A-4", "3900")]);
        assert_eq!(
            check(&mut ledger, "f"),
            (vec![], vec!["A-4".to_owned()]),
            "only what was posted since"
        );
        // Another filter is checked from the task's own sequence.
        assert_eq!(check(&mut ledger, "g").1.len(), 3);
        import(&mut ledger, &[("A-5", "1000")]);
        assert_eq!(
            check(&mut ledger, "f"),
            (vec!["A-5".to_owned()], vec!["A-5".to_owned()])
        );
        // Found late, so nothing more is kept: the next check shows it again.
        assert_eq!(check(&mut ledger, "f").0, vec!["A-5".to_owned()]);

        // Another ledger at the same sequences (a file replaced by another): read in full.
        let mut other = open("B");
        import(
            &mut other,
            &[("B-2", "3900"), ("B-3", "3900"), ("B-4", "3900"), ("B-5", "1000")],
        );
        let (late, seen) = check(&mut other, "f");
        assert_eq!(late, vec!["B-5".to_owned()]);
        assert_eq!(seen.len(), 4, "{seen:?}");
    }
}
