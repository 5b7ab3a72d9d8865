//! The fuzzing harness: one function per fuzz target, each feeding arbitrary bytes through the
//! same code a user's file or a plugin's proposal goes through. The `cargo fuzz` targets in
//! `fuzz_targets/` call these, and so does the stable test `tests/tests/fuzz_corpus.rs`, which
//! replays every seed and corpus file in CI without nightly. A function may return any refusal;
//! the only failures are a panic or a hang. `close_toml` lives in `close.rs`, which only the
//! close.toml target and the corpus test include: it needs the host crate (see Cargo.toml).

use closebook_ledger::Ledger;
use closebook_ledger::ids::{EntityId, UserId};
use closebook_ledger::import::{CsvJournalReader, read_json_journal, read_rates_csv};
use closebook_ledger::journal::{NewEntry, PostingOptions, PostingRules};
use closebook_ledger::period::Module;
use closebook_ledger::setup::SetupFile;
use closebook_ledger::store::Store;

/// Entries one journal input may yield before the harness stops reading: the importer streams,
/// so this only bounds the fuzzer's time per input, not the importer.
pub const JOURNAL_ENTRIES_MAX: usize = 10_000;

/// The demo organization's setup and rates, compiled in so that the harness needs no files.
const DEMO_SETUP: &str = include_str!("../../examples/demo/setup.toml");
const DEMO_RATES: &str = include_str!("../../examples/demo/rates.csv");

/// The demo's entities, whose posting rules every parsed entry is validated against.
const DEMO_ENTITIES: [&str; 2] = ["ACME-US", "ACME-DE"];

/// A ledger holding the demo setup and rates, in memory.
fn demo_ledger() -> Ledger {
    let store = Store::open_in_memory().expect("an in-memory ledger opens");
    let mut ledger = Ledger::from_store(store, UserId::new("fuzz".to_owned()));
    let setup = SetupFile::parse(DEMO_SETUP, "setup.toml").expect("the demo setup parses");
    ledger
        .apply_setup(&setup, "setup.toml")
        .expect("the demo setup applies");
    let rates = read_rates_csv(DEMO_RATES.as_bytes(), "rates.csv").expect("the demo rates parse");
    ledger.import_rates(&rates, "rates.csv").expect("the demo rates import");
    ledger
}

thread_local! {
    /// The demo's posting rules (plain and allowing revaluation lines), loaded once per thread:
    /// building them per input would spend the fuzzer's time in SQLite.
    static DEMO_RULES: Vec<PostingRules> = {
        let mut ledger = demo_ledger();
        let user = UserId::new("alice".to_owned());
        let mut rules = Vec::new();
        for entity in DEMO_ENTITIES {
            for allow_revaluation_lines in [false, true] {
                let options = PostingOptions { allow_revaluation_lines };
                let entity = EntityId::new(entity.to_owned());
                rules.push(
                    ledger
                        .read(|db| closebook_ledger::ledger::posting_rules(db, &entity, &user, options))
                        .expect("the demo posting rules load"),
                );
            }
        }
        rules
    };
}

/// Applies every posting rule of every demo entity to `entry`; refusals are expected.
fn validate_everywhere(entry: &NewEntry) {
    DEMO_RULES.with(|all_rules| {
        for rules in all_rules {
            let _outcome = rules.validate(entry);
        }
    });
}

/// A journal CSV, streamed as `closebook import journals` streams it, each entry validated.
pub fn journal_csv(data: &[u8]) {
    let Ok(reader) = CsvJournalReader::new(data, "fuzz.csv", Module::Ledger) else {
        return;
    };
    for entry in reader.take(JOURNAL_ENTRIES_MAX).flatten() {
        validate_everywhere(&entry);
    }
}

/// A JSON journal, read as `closebook import journals file.json` reads it, each entry validated.
pub fn journal_json(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(items) = read_json_journal(text, "fuzz.json", Module::Receivables) else {
        return;
    };
    for entry in items.iter().take(JOURNAL_ENTRIES_MAX).flatten() {
        validate_everywhere(entry);
    }
}

/// A setup file, parsed and applied to an empty ledger in memory (all of `closebook setup
/// apply` but the file read).
pub fn setup_toml(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(setup) = SetupFile::parse(text, "setup.toml") else {
        return;
    };
    let store = Store::open_in_memory().expect("an in-memory ledger opens");
    let mut ledger = Ledger::from_store(store, UserId::new("fuzz".to_owned()));
    let _outcome = ledger.apply_setup(&setup, "setup.toml");
}

/// A plugin's proposed entry, as JSON of the host's `NewEntry` (what a proposal is converted
/// to), validated by the posting rules the host applies to every proposal.
pub fn proposal(data: &[u8]) {
    let Ok(entry) = serde_json::from_slice::<NewEntry>(data) else {
        return;
    };
    validate_everywhere(&entry);
}
