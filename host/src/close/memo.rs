//! What a close's context reads once and reuses: the ledger's entities and each entity's
//! periods, for one request or one run, and on the server each entity's periods between
//! requests as long as setup adds none.

use super::CloseContext;
use closebook_ledger::LedgerError;
use closebook_ledger::calendar::EntityPeriods;
use closebook_ledger::ids::EntityId;
use closebook_ledger::store::{Db, PeriodsVersion};
use std::cell::RefCell;
use std::collections::BTreeMap;
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
}

impl ContextMemo {
    /// A memo that takes periods from `shared`, and adds to it what it reads.
    pub(crate) fn sharing(shared: Arc<PeriodsCache>) -> Self {
        Self {
            shared: Some(shared),
            ..Self::default()
        }
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
}
