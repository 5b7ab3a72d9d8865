//! What the crate's unit tests share: a one-entity setup (entity `E` in USD, a calendar over
//! FY2025–FY2026, cash, retained earnings and revenue), a ledger in memory set up with it, and
//! the import of a CSV journal into `E`.

use crate::error::LedgerError;
use crate::ids::{EntityId, UserId};
use crate::import::CsvJournalReader;
use crate::ledger::{ImportSummary, Ledger};
use crate::period::Module;
use crate::setup::SetupFile;
use crate::store::Store;

pub const ONE_ENTITY_SETUP: &str = r#"
    [[currency]]
    code = "USD"
    minor_units = 2
    [[calendar]]
    id = "standard"
    start_month = 1
    first_year = "FY2025"
    last_year = "FY2026"
    [[chart]]
    id = "C"
    accounts = [
      { number = "1000", name = "Cash", type = "asset" },
      { number = "3900", name = "Retained earnings", type = "equity" },
      { number = "4000", name = "Revenue", type = "revenue" },
    ]
    [[entity]]
    id = "E"
    name = "E"
    currency = "USD"
    calendar = "standard"
    chart = "C"
    retained_earnings_account = "3900"
"#;

/// A ledger in memory set up with [`ONE_ENTITY_SETUP`], acting as `user` without permission
/// checks.
pub fn one_entity_ledger(user: &str) -> Ledger {
    let mut ledger = Ledger::from_store(Store::open_in_memory().unwrap(), UserId::new(user));
    ledger
        .apply_setup(&SetupFile::parse(ONE_ENTITY_SETUP, "setup.toml").unwrap(), "setup.toml")
        .unwrap();
    ledger
}

/// Imports and posts a CSV journal (`entry,date,account,amount…`) into entity `E`.
pub fn import_csv(ledger: &mut Ledger, journal: &str) -> Result<ImportSummary, LedgerError> {
    let reader = CsvJournalReader::new(journal.as_bytes(), "j.csv", Module::Ledger).unwrap();
    ledger.import_journals(&EntityId::new("E"), reader, true, "j.csv")
}
