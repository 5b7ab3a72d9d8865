//! Two processes writing to the same ledger at once: one waits for the other's transaction
//! (never "database is locked"), nothing posts twice, and the hash chain stays whole.

use closebook_tests::{Ledger, balanced_journal, closebook_binary};
use std::process::{Command, Stdio};

#[test]
fn concurrent_imports_wait_for_each_other_and_never_post_twice() {
    // Proves concurrency safety: three imports at once (two different files, and the first
    // file twice) all succeed; the repeated file is reported as already imported.
    let ledger = Ledger::with_demo_journals();
    let first = ledger.write("first.csv", &balanced_journal("A", 1500));
    let second = ledger.write("second.csv", &balanced_journal("B", 1500));
    let before = ledger.entry_count("ACME-US");
    let spawn = |file: &str| {
        Command::new(closebook_binary())
            .args([
                "--db",
                &ledger.db().display().to_string(),
                "--as",
                "alice",
                "import",
                "journals",
                file,
                "--entity",
                "ACME-US",
                "--post",
            ])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    };
    let children = vec![spawn(&first), spawn(&second), spawn(&first)];
    let outputs: Vec<std::process::Output> = children
        .into_iter()
        .map(|child| child.wait_with_output().unwrap())
        .collect();
    for output in &outputs {
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(output.status.success(), "an import failed: {stderr}");
        assert!(!stderr.contains("locked"), "{stderr}");
    }
    let reports: Vec<String> = outputs
        .iter()
        .map(|output| String::from_utf8_lossy(&output.stdout).into_owned())
        .collect();
    let repeated = reports
        .iter()
        .filter(|report| report.contains("1500 already imported (unchanged)"))
        .count();
    assert_eq!(
        repeated, 1,
        "one of the two imports of first.csv found it already posted: {reports:?}"
    );
    assert_eq!(ledger.entry_count("ACME-US"), before + 3000);
    ledger.run(&["verify"]).success();
}
