//! The fuzz targets' inputs replayed as ordinary tests, so that CI (stable, no sanitizers)
//! keeps the harness compiling and proves that every seed, every corpus file a fuzzing run
//! kept, and every input that once crashed (fuzz/regressions/) still runs without a panic.

#[path = "../../fuzz/src/close.rs"]
mod close_harness;
#[path = "../../fuzz/src/lib.rs"]
mod harness;

use closebook_tests::workspace_root;
use std::path::PathBuf;

/// The folders holding inputs for one target: the committed seeds and regressions, and the
/// corpus a local `scripts/fuzz` run grew (not committed; replayed when present).
fn inputs(target: &str) -> Vec<PathBuf> {
    let fuzz = workspace_root().join("fuzz");
    let mut files = Vec::new();
    for folder in ["seeds", "regressions", "corpus"] {
        let Ok(listing) = std::fs::read_dir(fuzz.join(folder).join(target)) else {
            continue;
        };
        for item in listing {
            let path = item.expect("a readable folder entry").path();
            if path.is_file() {
                files.push(path);
            }
        }
    }
    files.sort();
    files
}

#[track_caller]
fn replay(target: &str, run: fn(&[u8])) {
    let files = inputs(target);
    assert!(!files.is_empty(), "no seed inputs for fuzz target {target}");
    for file in files {
        let data = std::fs::read(&file).expect("a readable input");
        // A panic here fails the test; the file name says which input to look at.
        eprintln!("{target}: {}", file.display());
        run(&data);
    }
}

#[test]
fn journal_csv_inputs_run_without_panic() {
    // Proves every journal CSV seed, corpus file and regression goes through import and
    // validation without a panic.
    replay("journal_csv", harness::journal_csv);
}

#[test]
fn journal_json_inputs_run_without_panic() {
    // Proves the same for JSON journals.
    replay("journal_json", harness::journal_json);
}

#[test]
fn setup_toml_inputs_run_without_panic() {
    // Proves the same for setup files, parsed and applied to an empty ledger.
    replay("setup_toml", harness::setup_toml);
}

#[test]
fn close_toml_inputs_run_without_panic() {
    // Proves the same for close.toml files, loaded and walked.
    replay("close_toml", close_harness::close_toml);
}

#[test]
fn proposal_inputs_run_without_panic() {
    // Proves the same for plugin proposals through the host's posting rules.
    replay("proposal", harness::proposal);
}

#[test]
fn the_demo_seeds_are_accepted_not_just_survived() {
    // Proves the harness reaches the validator: the demo's own setup and journals parse, so
    // the seeds exercise the deep code paths rather than stopping at the first refusal.
    let setup = std::fs::read_to_string(workspace_root().join("fuzz/seeds/setup_toml/setup.toml")).unwrap();
    assert!(closebook_ledger::setup::SetupFile::parse(&setup, "setup.toml").is_ok());
    let csv = std::fs::read(workspace_root().join("fuzz/seeds/journal_csv/us-ledger.csv")).unwrap();
    let reader = closebook_ledger::import::CsvJournalReader::new(
        csv.as_slice(),
        "us-ledger.csv",
        closebook_ledger::period::Module::Ledger,
    )
    .unwrap();
    let entries: Vec<_> = reader.collect();
    assert!(!entries.is_empty());
    assert!(entries.iter().all(Result::is_ok));
    let proposal = std::fs::read(workspace_root().join("fuzz/seeds/proposal/accrual.json")).unwrap();
    assert!(serde_json::from_slice::<closebook_ledger::journal::NewEntry>(&proposal).is_ok());
}
