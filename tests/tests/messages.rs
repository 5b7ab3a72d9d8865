//! Issue 15's config and message fixes, through the real binary: each test proves the exact
//! message a user now reads and, for a refusal, that nothing was written.

use closebook_tests::{Ledger, Run};
use serde_json::Value;

/// The audit records of an action, in the order `closebook audit --format json` lists them.
fn audit_records(ledger: &Ledger, action: &str) -> Vec<Value> {
    let records = ledger
        .run(&["audit", "--limit", "1000", "--format", "json"])
        .success()
        .json();
    records
        .as_array()
        .expect("the audit trail is a JSON array")
        .iter()
        .filter(|record| record["action"] == action)
        .cloned()
        .collect()
}

/// Imports a journal file into ACME-US with --post, plus `extra` arguments.
fn import_journal(ledger: &Ledger, name: &str, contents: &str, extra: &[&str]) -> (String, Run) {
    let file = ledger.write(name, contents);
    let mut arguments = vec!["import", "journals", &file, "--entity", "ACME-US", "--post"];
    arguments.extend_from_slice(extra);
    let run = ledger.run(&arguments);
    (file, run)
}

/// Runs a refused import and checks its exact error and that no entry, draft or audit record
/// was written.
#[track_caller]
fn refused_import(ledger: &Ledger, name: &str, contents: &str, extra: &[&str], expected: &str) {
    let entries = ledger.entry_count("ACME-US");
    let drafts = ledger.draft_count("ACME-US");
    let audit = audit_records(ledger, "import.journals.post").len();
    let (file, run) = import_journal(ledger, name, contents, extra);
    let stderr = run.failure();
    assert_eq!(stderr, expected.replace("{file}", &file));
    assert_eq!(
        ledger.entry_count("ACME-US"),
        entries,
        "a refused import posted entries"
    );
    assert_eq!(ledger.draft_count("ACME-US"), drafts, "a refused import kept drafts");
    assert_eq!(audit_records(ledger, "import.journals.post").len(), audit);
}

#[test]
fn an_entry_key_twice_in_one_file_is_refused_naming_both_lines() {
    // Issue 15: the same key twice in one file is refused as such, not counted as "already
    // imported", for identical copies (CSV) and for different entries under one key (JSON).
    let ledger = Ledger::with_demo_setup();
    let csv = "entry,date,account,amount,description
SE-400,2026-01-10,1000,100.00,Cash sale
SE-400,2026-01-10,4000,-100.00,Cash sale
SE-401,2026-01-11,1000,50.00,Cash sale
SE-401,2026-01-11,4000,-50.00,Cash sale
SE-402,2026-01-12,1000,20.00,Cash sale
SE-402,2026-01-12,4000,-20.00,Cash sale
SE-401,2026-01-11,1000,50.00,Cash sale
SE-401,2026-01-11,4000,-50.00,Cash sale
";
    refused_import(
        &ledger,
        "sales.csv",
        csv,
        &[],
        "error: importing {file} into entity ACME-US: 1 problem refused; nothing was written:
  line 8: entry SE-401: entry SE-401 appears twice in this file (lines 4 and 8); give each entry its own key
",
    );
    let json = r#"[
  {"entry": "SE-401", "date": "2026-01-11", "lines": [{"account": "1000", "amount": "50.00"}, {"account": "4000", "amount": "-50.00"}]},
  {"entry": "SE-402", "date": "2026-01-12", "lines": [{"account": "1000", "amount": "20.00"}, {"account": "4000", "amount": "-20.00"}]},
  {"entry": "SE-401", "date": "2026-01-13", "lines": [{"account": "1000", "amount": "70.00"}, {"account": "4000", "amount": "-70.00"}]}
]"#;
    refused_import(
        &ledger,
        "sales.json",
        json,
        &[],
        "error: importing {file} into entity ACME-US: 1 problem refused; nothing was written:
  entry SE-401: entry SE-401 appears twice in this file (entries 1 and 3); give each entry its own key
",
    );
    // Once imported, the same file again is still a reported no-op.
    let (_, run) = import_journal(
        &ledger,
        "sales.csv",
        &csv.lines().take(7).collect::<Vec<_>>().join("\n"),
        &[],
    );
    run.success();
    let (_, again) = import_journal(
        &ledger,
        "sales.csv",
        &csv.lines().take(7).collect::<Vec<_>>().join("\n"),
        &[],
    );
    assert!(
        again
            .success()
            .stdout
            .contains("0 posted, 3 already imported (unchanged)")
    );
}
