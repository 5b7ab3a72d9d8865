//! Refusals of the storage itself, listed in docs/bad-input.md with the refusals tested
//! elsewhere: a ledger file that is not a database or is damaged, one that is read-only, a
//! disk that fills up during a write, and a row inserted into the file behind closebook's
//! back. Each test proves the message a user sees, a non-zero exit, and that nothing was
//! written.

use closebook_ledger::store::MAX_PAGES_ENV;
use closebook_tests::{Ledger, Run, balanced_journal, closebook_binary, demo_dir, workspace_root};
use sha2::{Digest, Sha256};
use std::path::Path;
use std::process::Command;

/// SHA-256 of a file, to prove it was left byte for byte as it was.
fn file_digest(path: &Path) -> String {
    hex::encode(Sha256::digest(std::fs::read(path).expect("a readable file")))
}

/// Runs closebook on `database` with extra environment variables.
fn run_with_environment(database: &Path, environment: &[(&str, &str)], arguments: &[&str]) -> Run {
    let output = Command::new(closebook_binary())
        .arg("--db")
        .arg(database)
        .args(["--as", "alice"])
        .args(arguments)
        .current_dir(workspace_root())
        .env_remove("CLOSEBOOK_DB")
        .env_remove("CLOSEBOOK_USER")
        .envs(environment.iter().copied())
        .output()
        .expect("closebook runs");
    Run {
        status: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

#[track_caller]
fn assert_clean_failure(run: Run, expected: &str) {
    assert_eq!(run.status, 1, "stdout:\n{}\nstderr:\n{}", run.stdout, run.stderr);
    assert!(
        run.stderr.contains(expected),
        "expected {expected:?} in:\n{}",
        run.stderr
    );
    assert!(!run.stderr.contains("panicked"), "{}", run.stderr);
}

const DAMAGED: &str = "the ledger file is not a closebook database or is damaged";

#[test]
fn a_file_of_garbage_bytes_is_refused_as_not_a_database_and_left_alone() {
    // Proves a --db that is not an SQLite file gives a clear message, exit 1, no panic, and
    // is not overwritten.
    let directory = tempfile::tempdir().unwrap();
    let database = directory.path().join("garbage.db");
    let garbage: Vec<u8> = (0..16_384u32)
        .map(|index| (index.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    std::fs::write(&database, &garbage).unwrap();
    let setup = demo_dir().join("setup.toml").display().to_string();
    for arguments in [vec!["verify"], vec!["setup", "apply", setup.as_str()]] {
        let run = run_with_environment(&database, &[], &arguments);
        assert_clean_failure(
            run,
            &format!(
                "opening ledger {}: {DAMAGED} (file is not a database)",
                database.display()
            ),
        );
    }
    assert_eq!(std::fs::read(&database).unwrap(), garbage, "the file was written to");
}

#[test]
fn a_truncated_ledger_file_is_refused_as_damaged_and_left_alone() {
    if closebook_tests::on_postgres() {
        return; // about a damaged SQLite file
    }
    // Proves a ledger file cut in half (a bad copy, a full disk during a copy) is named as
    // damaged by every command, with exit 1 and no panic, and nothing is written to it.
    let ledger = Ledger::with_demo_journals();
    let length = std::fs::metadata(ledger.db()).unwrap().len();
    let file = std::fs::OpenOptions::new().write(true).open(ledger.db()).unwrap();
    file.set_len(length / 2).unwrap();
    drop(file);
    let digest = file_digest(&ledger.db());
    let journal = demo_dir().join("us-ledger.csv").display().to_string();
    for arguments in [
        vec!["verify"],
        vec!["report", "trial-balance", "--entity", "ACME-US", "--period", "2026-01"],
        vec!["import", "journals", journal.as_str(), "--entity", "ACME-US", "--post"],
    ] {
        let run = run_with_environment(&ledger.db(), &[], &arguments);
        assert_clean_failure(run, &format!("{DAMAGED} (database disk image is malformed)"));
    }
    assert_eq!(file_digest(&ledger.db()), digest, "the damaged file was written to");
}

#[test]
fn a_read_only_ledger_file_serves_reports_and_refuses_every_write() {
    if closebook_tests::on_postgres() {
        return; // about the SQLite file's permissions
    }
    // Proves chmod a-w makes the ledger read-only even for root (closebook then opens it with
    // SQLite's read-only flag): verify and reports work, an import and a period change are
    // refused with a clear message, and the file is unchanged.
    let ledger = Ledger::with_demo_journals();
    let entries_before = ledger.entry_count("ACME-US");
    let trial_balance_before = ledger.trial_balance("ACME-US", "2026-03");
    let mut permissions = std::fs::metadata(ledger.db()).unwrap().permissions();
    permissions.set_readonly(true);
    std::fs::set_permissions(ledger.db(), permissions).unwrap();
    let digest = file_digest(&ledger.db());
    ledger.run(&["verify"]).success();
    assert_eq!(ledger.trial_balance("ACME-US", "2026-03"), trial_balance_before);
    let file = ledger.write("march.csv", &balanced_journal("RO", 10));
    let expected =
        "the ledger file is read-only, so nothing was written: make it writable (chmod u+w) or work on a copy";
    assert_clean_failure(
        ledger.run(&["import", "journals", &file, "--entity", "ACME-US", "--post"]),
        expected,
    );
    assert_clean_failure(
        ledger.run(&[
            "period",
            "set-status",
            "--entity",
            "ACME-US",
            "--period",
            "2026-03",
            "--status",
            "on-hold",
        ]),
        expected,
    );
    assert_eq!(file_digest(&ledger.db()), digest, "the read-only file was written to");
    assert_eq!(ledger.entry_count("ACME-US"), entries_before);
    assert_eq!(ledger.trial_balance("ACME-US", "2026-03"), trial_balance_before);
}

#[test]
fn a_full_disk_during_an_import_refuses_the_whole_file_and_writes_nothing() {
    if closebook_tests::on_postgres() {
        return; // CLOSEBOOK_MAX_PAGES is SQLite's max_page_count
    }
    // Proves all-or-nothing when the disk fills mid-write (simulated with SQLite's
    // max_page_count through CLOSEBOOK_MAX_PAGES): a clear refusal, exit 1, no entry of the
    // file posted, the ledger verifies; and without the limit the same file imports.
    let ledger = Ledger::with_demo_journals();
    let entries_before = ledger.entry_count("ACME-US");
    let trial_balance_before = ledger.trial_balance("ACME-US", "2026-03");
    let pages = ledger.query_i64("PRAGMA page_count");
    let limit = (pages + 4).to_string();
    let file = ledger.write("march.csv", &balanced_journal("FULL", 2_000));
    let run = run_with_environment(
        &ledger.db(),
        &[(MAX_PAGES_ENV, &limit)],
        &["import", "journals", &file, "--entity", "ACME-US", "--post"],
    );
    assert_clean_failure(
        run,
        "the disk is full or the ledger file reached its size limit, so nothing was written: free some space and run the command again",
    );
    assert_eq!(ledger.entry_count("ACME-US"), entries_before);
    assert_eq!(ledger.draft_count("ACME-US"), 0);
    assert_eq!(ledger.trial_balance("ACME-US", "2026-03"), trial_balance_before);
    ledger.run(&["verify"]).success();
    ledger
        .run(&["import", "journals", &file, "--entity", "ACME-US", "--post"])
        .success();
    assert_eq!(ledger.entry_count("ACME-US"), entries_before + 2_000);
}

#[test]
fn a_size_limit_that_is_not_a_number_is_refused_before_opening() {
    if closebook_tests::on_postgres() {
        return; // CLOSEBOOK_MAX_PAGES is SQLite's max_page_count
    }
    // Proves a mistyped CLOSEBOOK_MAX_PAGES is named rather than ignored, and nothing is written.
    let ledger = Ledger::with_demo_journals();
    let digest = file_digest(&ledger.db());
    let run = run_with_environment(&ledger.db(), &[(MAX_PAGES_ENV, "lots")], &["verify"]);
    assert_clean_failure(
        run,
        "CLOSEBOOK_MAX_PAGES is `lots`: give a whole number of database pages, or unset it",
    );
    assert_eq!(file_digest(&ledger.db()), digest);
}

#[test]
fn rows_inserted_into_the_file_are_named_by_verify() {
    // Proves the hash chain catches insertion (the tamper tests cover changes and deletions):
    // a line added to a posted entry, and a forged entry appended after the last one, are
    // each named, and verify exits non-zero.
    let ledger = Ledger::with_demo_journals();
    ledger.execute_sql(
        "INSERT INTO lines (entry_id, entity_id, period, line_no, account, dimension_set_id, currency, amount, accounting_amount, description)
         SELECT entry_id, entity_id, period, line_no + 100, account, dimension_set_id, currency, amount, accounting_amount, 'forged'
         FROM lines WHERE entry_id = (SELECT id FROM entries WHERE entry_key = 'US-GL-002') ORDER BY line_no LIMIT 1;",
    );
    let run = ledger.run(&["verify", "--entity", "ACME-US"]);
    assert_eq!(run.status, 1, "{}", run.stdout);
    assert!(
        run.stdout
            .contains("(US-GL-002) does not match its hash: it or its lines were changed after posting"),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains("(US-GL-002) does not balance"), "{}", run.stdout);
    let ledger = Ledger::with_demo_journals();
    let last = ledger.entry_count("ACME-DE");
    ledger.execute_sql(&format!(
        "INSERT INTO entries (entity_id, sequence, entry_key, fingerprint, date, period, fiscal_year, module, description, posted_by, posted_at, source, previous_hash, hash)
         SELECT entity_id, sequence + 1, 'FORGED-1', fingerprint, date, period, fiscal_year, module, description, posted_by, posted_at, source, hash, hash
         FROM entries WHERE entity_id = 'ACME-DE' AND sequence = {last};"
    ));
    let run = ledger.run(&["verify"]);
    assert_eq!(run.status, 1, "{}", run.stdout);
    let forged = last + 1;
    assert!(
        run.stdout
            .contains(&format!("entry {forged} (FORGED-1) does not match its hash")),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains(&format!(
            "the ledger head says {last} entries but the chain ends at {forged}: entries were deleted or added at the end"
        )),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("ACME-US: 28 entries checked, hash chain intact"),
        "{}",
        run.stdout
    );
}

#[test]
fn a_ledger_from_a_newer_closebook_is_refused_untouched() {
    // Proves a schema version beyond this build's is refused by name before anything is
    // migrated or written.
    let ledger = Ledger::with_demo_journals();
    ledger.execute_sql("INSERT INTO schema_migrations (version, applied_at) VALUES (999, '2030-01-01T00:00:00Z')");
    let before = ledger.stored();
    let run = ledger.run(&["report", "trial-balance", "--entity", "ACME-US", "--period", "2026-01"]);
    let stderr = run.stderr.clone();
    assert_clean_failure(
        run,
        "this ledger was written by a newer closebook (schema version 999; this build knows up to",
    );
    assert!(stderr.contains("): upgrade closebook"), "{stderr}");
    assert_eq!(ledger.stored(), before);
}

/// Takes a ledger file back to schema version 3, as a closebook from before migration 4
/// (`account_balances`) left it: the tables and columns of later migrations dropped, their
/// versions forgotten.
fn rewind_to_schema_3(ledger: &Ledger) {
    ledger.execute_sql(closebook_ledger::store::REWIND_TO_VERSION_3);
}

fn set_read_only(database: &Path, read_only: bool) {
    let mut permissions = std::fs::metadata(database).unwrap().permissions();
    permissions.set_readonly(read_only);
    std::fs::set_permissions(database, permissions).unwrap();
}

#[test]
fn a_read_only_ledger_of_an_older_schema_is_refused_by_name_until_opened_writable_once() {
    if closebook_tests::on_postgres() {
        return; // the schema upgrade of an old, read-only SQLite file
    }
    // Proves a read-only file that would need a migration is refused with its path, its schema
    // version, the version needed and the fix, not a raw SQLite error, and is left unchanged;
    // and that the fix works: one writable open upgrades it and reports then work read-only.
    let ledger = Ledger::with_demo_journals();
    let trial_balance_before = ledger.trial_balance("ACME-US", "2026-03");
    rewind_to_schema_3(&ledger);
    set_read_only(&ledger.db(), true);
    let digest = file_digest(&ledger.db());
    let expected = format!(
        "the ledger file {} is read-only and has schema version 3, but this closebook needs version {}: open it once writable to upgrade it (chmod u+w {}",
        ledger.db().display(),
        closebook_ledger::store::SCHEMA_VERSION,
        ledger.db().display()
    );
    for arguments in [
        vec!["report", "trial-balance", "--entity", "ACME-US", "--period", "2026-03"],
        vec!["verify"],
    ] {
        let run = ledger.run(&arguments);
        let stderr = run.stderr.clone();
        assert_clean_failure(run, &expected);
        assert!(!stderr.contains("no such table"), "{stderr}");
    }
    assert_eq!(file_digest(&ledger.db()), digest, "the read-only file was written to");

    set_read_only(&ledger.db(), false);
    // A ledger from before permissions is upgraded by its first writable open, then names its
    // administrator before anything else is done.
    let stderr = ledger.run(&["verify"]).failure();
    assert!(
        stderr.contains("this ledger has no administrator yet (it was set up before closebook had permissions): apply a setup file with [security] administrator = \"USER\""),
        "{stderr}"
    );
    ledger
        .run(&["setup", "apply", &demo_dir().join("setup.toml").display().to_string()])
        .success();
    ledger.run(&["verify"]).success();
    set_read_only(&ledger.db(), true);
    assert_eq!(ledger.trial_balance("ACME-US", "2026-03"), trial_balance_before);
}

#[test]
fn a_journal_with_an_unknown_column_is_refused_before_reading_entries() {
    // Proves a misspelt header is named with the columns closebook knows, and nothing of the
    // file is written.
    let ledger = Ledger::with_demo_journals();
    let entries_before = ledger.entry_count("ACME-US");
    let file = ledger.write(
        "typo.csv",
        "entry,date,acount,amount\nT-1,2026-01-15,1000,5.00\nT-1,2026-01-15,4000,-5.00\n",
    );
    assert_clean_failure(
        ledger.run(&["import", "journals", &file, "--entity", "ACME-US", "--post"]),
        "typo.csv: unknown column `acount` (expected entry, date, account, amount, debit, credit, currency, accounting_amount, description, period or dim.<name>)",
    );
    assert_eq!(ledger.entry_count("ACME-US"), entries_before);
    assert_eq!(ledger.draft_count("ACME-US"), 0);
}

#[test]
fn a_missing_or_empty_ledger_file_is_refused_by_every_command_but_setup_apply() {
    // Proves a --db that does not exist or is 0 bytes is refused by the commands that need a
    // ledger, with the fix named, and neither created nor written; and that `setup apply`, the
    // command that creates a ledger, accepts the empty file and makes a ledger of it.
    let directory = tempfile::tempdir().unwrap();
    let empty = directory.path().join("empty.db");
    std::fs::write(&empty, b"").unwrap();
    let missing = directory.path().join("missing.db");
    let journal = demo_dir().join("us-ledger.csv").display().to_string();
    let close = demo_dir().join("close.toml").display().to_string();
    let commands = [
        vec!["verify"],
        vec!["report", "trial-balance", "--entity", "ACME-US", "--period", "2026-01"],
        vec!["import", "journals", journal.as_str(), "--entity", "ACME-US", "--post"],
        vec!["close", "status", "--config", close.as_str(), "--period", "2026-01"],
        vec!["audit"],
    ];
    for arguments in &commands {
        assert_clean_failure(
            run_with_environment(&empty, &[], arguments),
            &format!(
                "opening ledger {0}: the ledger file {0} is empty (0 bytes), so it holds no ledger: run `closebook setup apply SETUP.toml` first",
                empty.display()
            ),
        );
        assert_clean_failure(
            run_with_environment(&missing, &[], arguments),
            &format!(
                "opening ledger {0}: the ledger file {0} does not exist: run `closebook setup apply SETUP.toml` first to create it",
                missing.display()
            ),
        );
    }
    assert_eq!(
        std::fs::metadata(&empty).unwrap().len(),
        0,
        "the empty file was written to"
    );
    assert!(!missing.exists(), "the missing ledger file was created");
    let side_files: Vec<_> = std::fs::read_dir(directory.path())
        .unwrap()
        .map(|file| file.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name.ends_with("-wal") || name.ends_with("-shm") || name.ends_with("-journal"))
        .collect();
    assert!(side_files.is_empty(), "SQLite opened a refused file: {side_files:?}");

    let setup = demo_dir().join("setup.toml").display().to_string();
    let applied = run_with_environment(&empty, &[], &["setup", "apply", &setup]);
    assert_eq!(applied.status, 0, "{}", applied.stderr);
    assert!(std::fs::metadata(&empty).unwrap().len() > 0);
    let verified = run_with_environment(&empty, &[], &["verify"]);
    assert_eq!(verified.status, 0, "{}", verified.stderr);
}
