//! Crash safety of imports: `closebook import journals` killed with SIGKILL at several moments
//! leaves a ledger that verifies, holding all of the file or none of it; importing the file
//! again finishes the job, and the ledger ends exactly as after an uninterrupted import.
//! (A close killed mid-run is tested in close.rs; `scripts/soak` runs both at random moments,
//! a hundred times.)

use closebook_tests::{Ledger, closebook_binary, kill_while_running};
use serde_json::Value;
use std::process::{Command, Stdio};

/// Entries in the journal: enough that the import takes a while and a kill can land inside it.
const ENTRIES: i64 = 3_000;

/// Balanced two-line entries over March 2026 for ACME-US.
fn journal() -> String {
    let mut text = String::from("entry,date,account,amount,dim.department\n");
    for index in 0..ENTRIES {
        let day = 1 + index % 28;
        let amount = 10 + index % 90;
        text.push_str(&format!("KILL-{index},2026-03-{day:02},1000,{amount}.00,\n"));
        text.push_str(&format!("KILL-{index},2026-03-{day:02},4000,-{amount}.00,100\n"));
    }
    text
}

fn march_trial_balances(ledger: &Ledger) -> (Value, Value) {
    (
        ledger.trial_balance("ACME-US", "2026-03"),
        ledger.trial_balance("ACME-DE", "2026-03"),
    )
}

#[test]
fn an_import_killed_at_any_moment_posts_all_or_nothing_and_resumes_to_the_same_ledger() {
    // Proves crash safety of imports: after SIGKILL at 0–800 ms the ledger verifies and holds
    // all of the file or none of it; the same import then completes (skipping what was
    // posted) and the trial balances equal those of an uninterrupted import.
    let reference = Ledger::with_demo_journals();
    let file = reference.write("march.csv", &journal());
    let base_entries = reference.entry_count("ACME-US");
    reference
        .run(&["import", "journals", &file, "--entity", "ACME-US", "--post"])
        .success();
    let expected = march_trial_balances(&reference);
    for planned_ms in [0u64, 40, 150, 400, 800] {
        // Killed while it runs: a run that finished first is retried with a shorter delay.
        let ((ledger, file), delay_ms) = kill_while_running(
            || {
                let ledger = Ledger::with_demo_journals();
                let file = ledger.write("march.csv", &journal());
                let child = Command::new(closebook_binary())
                    .arg("--db")
                    .arg(ledger.db())
                    .args([
                        "--as", "alice", "import", "journals", &file, "--entity", "ACME-US", "--post",
                    ])
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .spawn()
                    .unwrap();
                ((ledger, file), child)
            },
            planned_ms,
        );
        ledger.run(&["verify"]).success();
        let posted = ledger.entry_count("ACME-US") - base_entries;
        assert!(
            posted == 0 || posted == ENTRIES,
            "killed after {delay_ms} ms: {posted} of {ENTRIES} entries posted, not all or nothing"
        );
        let resumed = ledger
            .run(&["import", "journals", &file, "--entity", "ACME-US", "--post"])
            .success();
        let already = if posted == ENTRIES { ENTRIES } else { 0 };
        assert!(
            resumed
                .stdout
                .contains(&format!("{} posted, {already} already imported", ENTRIES - already)),
            "killed after {delay_ms} ms: {}",
            resumed.stdout
        );
        ledger.run(&["verify"]).success();
        assert_eq!(
            ledger.entry_count("ACME-US"),
            base_entries + ENTRIES,
            "killed after {delay_ms} ms"
        );
        assert_eq!(march_trial_balances(&ledger), expected, "killed after {delay_ms} ms");
    }
}
