use super::*;
use crate::import::CsvJournalReader;
use crate::report::trial_balance;
use crate::test_fixtures::{ONE_ENTITY_SETUP, one_entity_ledger};
use rust_decimal::Decimal;
use std::collections::BTreeMap;

fn ledger_with(journal: &str) -> Ledger {
    let mut ledger = one_entity_ledger("test");
    import(&mut ledger, journal).unwrap();
    ledger
}

fn closing(ledger: &mut Ledger, period: &str, account: &str) -> Option<String> {
    let report = ledger
        .read(|db| trial_balance(db, &EntityId::new("E"), &PeriodName::new(period), &[], false))
        .unwrap();
    report
        .rows
        .iter()
        .find(|row| row.account.as_str() == account)
        .map(|row| row.closing.to_string())
}

fn import(ledger: &mut Ledger, journal: &str) -> Result<ImportSummary, LedgerError> {
    crate::test_fixtures::import_csv(ledger, journal)
}

fn verify_findings(ledger: &mut Ledger) -> usize {
    ledger
        .read(|db| crate::verify::verify_entity(db, &EntityId::new("E")))
        .unwrap()
        .findings
        .len()
}

#[test]
fn repeats_among_new_entries_keep_the_hash_chain_whole() {
    // The reading thread stamps each entry as if all before it post; entries posted before
    // are skipped by the writer, which re-stamps the entries after them: the chain verifies
    // and the sequence has no gap. (A key repeated within one file is refused by the reader
    // since issue 15; see `pipeline`.)
    let mut ledger = ledger_with(
        "entry,date,account,amount\nA,2026-01-05,1000,1.00\nA,2026-01-05,4000,-1.00\n\
             B,2026-01-06,1000,2.00\nB,2026-01-06,4000,-2.00\n",
    );
    let summary = import(
        &mut ledger,
        "entry,date,account,amount\nA,2026-01-05,1000,1.00\nA,2026-01-05,4000,-1.00\n\
             C,2026-01-07,1000,3.00\nC,2026-01-07,4000,-3.00\n\
             B,2026-01-06,1000,2.00\nB,2026-01-06,4000,-2.00\n\
             D,2026-01-08,1000,4.00\nD,2026-01-08,4000,-4.00\n\
             E,2026-01-09,1000,5.00\nE,2026-01-09,4000,-5.00\n",
    )
    .unwrap();
    assert_eq!(
        (summary.entries_read, summary.posted, summary.repeated, summary.sequence),
        (5, 3, 2, 5)
    );
    assert_eq!(verify_findings(&mut ledger), 0);
    assert_eq!(closing(&mut ledger, "2026-01", "1000").as_deref(), Some("15.00"));
}

#[test]
fn verify_and_the_period_check_read_every_entry_of_a_ledger_larger_than_a_page() {
    // On PostgreSQL both read a page of entries at a time (seven in these tests); every
    // entry must be read once, whatever the page boundaries.
    let mut journal = String::from("entry,date,account,amount\n");
    for index in 0..20 {
        let day = 5 + index % 2 * 20;
        journal.push_str(&format!(
            "P{index:02},2026-01-{day:02},1000,1.00\nP{index:02},2026-01-{day:02},4000,-1.00\n"
        ));
    }
    let mut ledger = ledger_with(&journal);
    let whole = ledger
        .read(|db| crate::verify::verify_entity(db, &EntityId::new("E")))
        .unwrap();
    assert_eq!(
        (whole.entries_checked, whole.findings.len(), whole.last_sequence),
        (20, 0, 20)
    );
    let period = ledger
        .read(|db| crate::verify::verify_period(db, &EntityId::new("E"), &PeriodName::new("2026-01")))
        .unwrap();
    assert_eq!((period.entries_checked, period.findings.len()), (20, 0));
}

#[test]
fn entries_after_a_sequence_are_found_in_the_periods_named_and_no_others() {
    // What a staleness check asks on every board read: the query seeks each period from the
    // id of the entry at the sequence, so it must still return every later entry of the
    // periods named, in sequence order, and nothing at or before the sequence.
    let mut journal = String::from("entry,date,account,amount\n");
    for index in 1..=12 {
        let month = 1 + index % 2;
        journal.push_str(&format!(
            "Q{index:02},2026-{month:02}-10,1000,1.00\nQ{index:02},2026-{month:02}-10,4000,-1.00\n"
        ));
    }
    let mut ledger = ledger_with(&journal);
    let mut after = |sequence: i64, periods: &[&str]| -> Vec<String> {
        ledger
            .read(|db| db.entries_after_in_periods(&EntityId::new("E"), sequence, periods.iter().copied()))
            .unwrap()
            .into_iter()
            .map(|entry| entry.key.to_string())
            .collect()
    };
    // Q01 is sequence 1 (February), Q02 sequence 2 (January), and so on.
    assert_eq!(after(0, &["2026-01"]), ["Q02", "Q04", "Q06", "Q08", "Q10", "Q12"]);
    assert_eq!(after(6, &["2026-01"]), ["Q08", "Q10", "Q12"]);
    assert_eq!(after(7, &["2026-02"]), ["Q09", "Q11"]);
    assert_eq!(after(9, &["2026-01", "2026-02"]), ["Q10", "Q11", "Q12"]);
    assert_eq!(after(12, &["2026-01", "2026-02"]), Vec::<String>::new());
    assert_eq!(after(0, &["2026-03"]), Vec::<String>::new());
}

#[test]
fn descriptions_with_tabs_newlines_and_backslashes_are_stored_as_written() {
    // Proves the escaping of PostgreSQL's COPY text format (`PostingBatch::post_many`), and
    // SQLite's binding alike: each of these characters means something to COPY.
    let description = "tab\there\nnew line \\ backslash \\N null\r\\.";
    let journal = format!(
        "entry,date,account,amount,description\nT,2026-01-05,1000,1.00,\"{}\"\nT,2026-01-05,4000,-1.00,\\N\n",
        description.replace('"', "\"\"")
    );
    let mut ledger = ledger_with(&journal);
    let entry = ledger
        .read(|db| db.entry_by_key(&EntityId::new("E"), &EntryKey::new("T")))
        .unwrap()
        .expect("T is posted");
    assert_eq!(entry.description, description);
    assert_eq!(entry.lines[0].description, description);
    assert_eq!(entry.lines[1].description, "\\N");
    assert_eq!(verify_findings(&mut ledger), 0);
}

#[test]
fn a_key_reused_later_in_the_same_file_with_other_data_refuses_the_file() {
    // Proves the insert-time key check: A, posted before, comes again later in the file with
    // other data, so nothing of the file is written, not even the entries before it. (The
    // same key twice within one file is refused by the reader since issue 15.)
    let mut ledger = ledger_with("entry,date,account,amount\nA,2026-01-05,1000,1.00\nA,2026-01-05,4000,-1.00\n");
    let error = import(
        &mut ledger,
        "entry,date,account,amount\nF,2026-01-05,1000,7.00\nF,2026-01-05,4000,-7.00\n\
             G,2026-01-06,1000,1.00\nG,2026-01-06,4000,-1.00\n\
             A,2026-01-05,1000,8.00\nA,2026-01-05,4000,-8.00\n",
    )
    .unwrap_err();
    let LedgerError::Refused(refusals) = error else {
        panic!("expected refusals, got {error}");
    };
    assert_eq!(refusals.len(), 1);
    assert_eq!(
        refusals[0].reason,
        Refusal::KeyConflict {
            key: EntryKey::new("A")
        }
    );
    assert_eq!(refusals[0].source_line, Some(6));
    assert_eq!(closing(&mut ledger, "2026-01", "1000").as_deref(), Some("1.00"));
    assert_eq!(ledger.read(|db| db.ledger_head(&EntityId::new("E"))).unwrap().0, 1);
}

#[test]
fn drafts_repeat_and_a_posting_import_of_the_same_file_posts_them() {
    // Proves both writers of an import (#16): without `post` the entries are kept as drafts
    // and a second draft import repeats them; a posting import of the same file posts the
    // drafts and removes them; a draft import then finds them posted, and one with other
    // data under the same key is refused.
    let mut ledger = ledger_with("entry,date,account,amount\n");
    let entity = EntityId::new("E");
    let journal = "entry,date,account,amount\nA,2026-01-05,1000,1.00\nA,2026-01-05,4000,-1.00\n";
    let draft = |ledger: &mut Ledger, journal: &str| {
        let reader = CsvJournalReader::new(journal.as_bytes(), "j.csv", Module::Ledger).unwrap();
        ledger.import_journals(&entity, reader, false, "j.csv")
    };
    let counts = |summary: ImportSummary| (summary.drafted, summary.posted, summary.repeated, summary.sequence);
    assert_eq!(counts(draft(&mut ledger, journal).unwrap()), (1, 0, 0, 0));
    assert_eq!(counts(draft(&mut ledger, journal).unwrap()), (0, 0, 1, 0));
    assert_eq!(counts(import(&mut ledger, journal).unwrap()), (0, 1, 0, 1));
    assert_eq!(ledger.read(|db| db.draft_count(&entity)).unwrap(), 0);
    assert_eq!(counts(draft(&mut ledger, journal).unwrap()), (0, 0, 1, 1));
    let changed = journal.replace("1.00", "2.00");
    let LedgerError::Refused(refusals) = draft(&mut ledger, &changed).unwrap_err() else {
        panic!("expected refusals");
    };
    assert_eq!(
        refusals[0].reason,
        Refusal::KeyConflict {
            key: EntryKey::new("A")
        }
    );
    assert_eq!(closing(&mut ledger, "2026-01", "1000").as_deref(), Some("1.00"));
}

#[test]
fn a_file_of_endless_refusals_stops_at_the_collection_limit() {
    // The writer stops at REFUSALS_COLLECTED_MAX and hangs up; the reading thread must stop
    // too (the import returns instead of waiting for it) and nothing is written.
    let mut ledger = ledger_with("entry,date,account,amount\nA,2026-01-05,1000,1.00\nA,2026-01-05,4000,-1.00\n");
    let mut journal = String::from("entry,date,account,amount\n");
    for index in 0..(REFUSALS_COLLECTED_MAX * 3) {
        journal.push_str(&format!(
            "X{index},2026-01-05,9999,1.00\nX{index},2026-01-05,4000,-1.00\n"
        ));
    }
    let LedgerError::Refused(refusals) = import(&mut ledger, &journal).unwrap_err() else {
        panic!("expected refusals");
    };
    assert_eq!(refusals.len(), REFUSALS_COLLECTED_MAX);
    assert_eq!(ledger.read(|db| db.ledger_head(&EntityId::new("E"))).unwrap().0, 1);
}

#[test]
fn a_long_import_reports_its_progress_every_so_many_entries() {
    // The CLI shows this as its progress; the summaries passed are the running counts, with
    // the entry just read already written, so entries read and posted agree.
    let mut ledger = ledger_with("entry,date,account,amount\n");
    let entries = IMPORT_PROGRESS_ENTRIES * 2 + 7;
    let mut journal = String::from("entry,date,account,amount\n");
    for index in 0..entries {
        journal.push_str(&format!(
            "P{index},2026-01-05,1000,1.00\nP{index},2026-01-05,4000,-1.00\n"
        ));
    }
    let reader = CsvJournalReader::new(journal.as_bytes(), "p.csv", Module::Ledger).unwrap();
    let mut reported = Vec::new();
    let summary = ledger
        .import_journals_with_progress(&EntityId::new("E"), reader, true, "p.csv", &mut |summary| {
            reported.push((summary.entries_read, summary.lines_read, summary.posted));
        })
        .unwrap();
    assert_eq!(summary.posted, entries);
    assert_eq!(
        reported,
        [
            (
                IMPORT_PROGRESS_ENTRIES,
                2 * IMPORT_PROGRESS_ENTRIES,
                IMPORT_PROGRESS_ENTRIES
            ),
            (
                2 * IMPORT_PROGRESS_ENTRIES,
                4 * IMPORT_PROGRESS_ENTRIES,
                2 * IMPORT_PROGRESS_ENTRIES
            )
        ]
    );
}

#[test]
fn balances_start_each_fiscal_year_from_its_opening_period() {
    // Balance-sheet accounts carry into a new year only through its opening period (which
    // year-end close fills); profit and loss starts every year at zero.
    let mut ledger = ledger_with(
        "entry,date,period,account,amount\n\
             A,2025-12-15,,1000,100.00\nA,2025-12-15,,4000,-100.00\n\
             B,2026-01-01,FY2026-opening,1000,100.00\nB,2026-01-01,FY2026-opening,3900,-100.00\n\
             C,2026-01-10,,1000,5.00\nC,2026-01-10,,4000,-5.00\n",
    );
    assert_eq!(closing(&mut ledger, "2025-12", "1000").as_deref(), Some("100.00"));
    assert_eq!(closing(&mut ledger, "2025-12", "4000").as_deref(), Some("-100.00"));
    assert_eq!(
        closing(&mut ledger, "FY2026-opening", "1000").as_deref(),
        Some("100.00")
    );
    assert_eq!(closing(&mut ledger, "2026-01", "1000").as_deref(), Some("105.00"));
    assert_eq!(
        closing(&mut ledger, "2026-01", "4000").as_deref(),
        Some("-5.00"),
        "revenue restarts at zero"
    );
    assert_eq!(closing(&mut ledger, "2026-01", "3900").as_deref(), Some("-100.00"));
}

#[test]
fn closing_period_is_kept_apart_from_the_last_month_unless_asked() {
    // The trial balance of December excludes closing entries unless --include-closing.
    let mut ledger = ledger_with(
        "entry,date,period,account,amount\n\
             A,2025-12-15,,1000,100.00\nA,2025-12-15,,4000,-100.00\n\
             Z,2025-12-31,FY2025-closing,4000,100.00\nZ,2025-12-31,FY2025-closing,3900,-100.00\n",
    );
    assert_eq!(closing(&mut ledger, "2025-12", "4000").as_deref(), Some("-100.00"));
    let with_closing = ledger
        .read(|db| trial_balance(db, &EntityId::new("E"), &PeriodName::new("2025-12"), &[], true))
        .unwrap();
    let revenue = with_closing
        .rows
        .iter()
        .find(|row| row.account.as_str() == "4000")
        .map(|row| row.closing.to_string());
    assert_eq!(
        revenue.as_deref(),
        Some("0.00"),
        "revenue is zeroed by the closing entry"
    );
    assert_eq!(
        closing(&mut ledger, "FY2025-closing", "3900").as_deref(),
        Some("-100.00")
    );
}

#[test]
fn maintained_balances_match_a_recomputation_after_posting_and_reversal() {
    let mut ledger = ledger_with("entry,date,account,amount\nA,2026-02-15,1000,7.50\nA,2026-02-15,4000,-7.50\n");
    ledger
        .reverse(
            &EntityId::new("E"),
            &EntryKey::new("A"),
            NaiveDate::from_ymd_opt(2026, 3, 1).unwrap(),
            None,
        )
        .unwrap();
    let report = ledger
        .read(|db| crate::verify::verify_entity(db, &EntityId::new("E")))
        .unwrap();
    assert_eq!(report.entries_checked, 2);
    assert!(report.findings.is_empty(), "{:?}", report.findings);
    assert_eq!(closing(&mut ledger, "2026-03", "1000").as_deref(), Some("0.00"));
}

#[test]
fn the_period_check_names_a_changed_hash_a_broken_link_and_an_entry_whose_lines_were_deleted() {
    // Issue #7: verify_period reads the period's entries with their lines in one query and
    // takes the previous hash from the entry it visited last; it still finds what it found.
    let mut ledger = ledger_with(
        "entry,date,account,amount\n\
             A,2026-02-27,1000,1.00\nA,2026-02-27,4000,-1.00\n\
             B,2026-03-01,1000,2.00\nB,2026-03-01,4000,-2.00\n\
             C,2026-03-02,1000,3.00\nC,2026-03-02,4000,-3.00\n\
             D,2026-03-03,1000,4.00\nD,2026-03-03,4000,-4.00\n",
    );
    let check = |ledger: &mut Ledger| {
        ledger
            .read(|db| crate::verify::verify_period(db, &EntityId::new("E"), &PeriodName::new("2026-03")))
            .unwrap()
    };
    let clean = check(&mut ledger);
    assert_eq!(clean.entries_checked, 3);
    assert!(clean.findings.is_empty(), "{:?}", clean.findings);
    ledger
        .store()
        .tamper(
            "UPDATE entries SET hash = 'changed' WHERE entry_key IN ('A', 'C');
                 DELETE FROM lines WHERE entry_id = (SELECT id FROM entries WHERE entry_key = 'D');",
        )
        .unwrap();
    let findings: Vec<String> = check(&mut ledger)
        .findings
        .iter()
        .map(|finding| finding.to_string())
        .collect();
    let expected = [
        "entry 2 (B) does not link to the hash of the entry before it",
        "entry 3 (C) does not match its hash",
        "entry 4 (D) does not link to the hash of the entry before it",
        "entry 4 (D) does not match its hash",
        "entry 4 (D) does not balance",
        "balance of account 1000 [] USD in 2026-03",
        "balance of account 4000 [] USD in 2026-03",
    ];
    for text in expected {
        assert!(
            findings.iter().any(|finding| finding.starts_with(text)),
            "{text} is missing from {findings:?}"
        );
    }
}

#[test]
fn the_period_check_names_a_stored_balance_without_lines_and_lines_without_a_stored_balance() {
    // verify_period compares the stored balances with the recomputed ones row by row and
    // goes to the ordered comparison only when they differ: both directions must still be
    // found, and a matching ledger stays clean.
    let mut ledger = ledger_with(
        "entry,date,account,amount\n\
             B,2026-03-01,1000,2.00\nB,2026-03-01,4000,-2.00\n",
    );
    let check = |ledger: &mut Ledger| -> Vec<String> {
        ledger
            .read(|db| crate::verify::verify_period(db, &EntityId::new("E"), &PeriodName::new("2026-03")))
            .unwrap()
            .findings
            .iter()
            .map(|finding| finding.to_string())
            .collect()
    };
    assert!(check(&mut ledger).is_empty());
    ledger
            .store()
            .tamper(
                "INSERT INTO balances (entity_id, period, account, dimension_set_id, currency, amount, accounting_amount, debit, credit)
                 VALUES ('E', '2026-03', '1200', 0, 'USD', '9.00', '9.00', '9.00', '0');
                 DELETE FROM balances WHERE account = '4000';",
            )
            .unwrap();
    let findings = check(&mut ledger);
    for text in [
        "balance of account 1200 [] USD in 2026-03",
        "balance of account 4000 [] USD in 2026-03",
    ] {
        assert!(
            findings.iter().any(|finding| finding.starts_with(text)),
            "{text} is missing from {findings:?}"
        );
    }
}

/// Sums `balances` over dimensions, the way `account_balances` must hold them.
fn summed_dimension_balances(ledger: &mut Ledger) -> Vec<(String, String, String, Decimal, Decimal)> {
    let mut sums: BTreeMap<(String, String, String), (Decimal, Decimal)> = BTreeMap::new();
    ledger
        .read(|db| {
            for record in db.all_balances(&EntityId::new("E"))? {
                let sum = sums
                    .entry((
                        record.period.to_string(),
                        record.account.to_string(),
                        record.currency.to_string(),
                    ))
                    .or_default();
                sum.0 += record.amount;
                sum.1 += record.debit - record.credit;
            }
            Ok(())
        })
        .unwrap();
    sums.into_iter()
        .map(|((period, account, currency), (amount, net))| (period, account, currency, amount, net))
        .collect()
}

fn account_balance_rows(ledger: &mut Ledger) -> Vec<(String, String, String, Decimal, Decimal)> {
    ledger
        .read(|db| db.all_account_balances(&EntityId::new("E")))
        .unwrap()
        .into_iter()
        .map(|record| {
            (
                record.period.to_string(),
                record.account.to_string(),
                record.currency.to_string(),
                record.amount,
                record.debit - record.credit,
            )
        })
        .collect()
}

#[test]
fn account_balances_are_the_dimension_balances_summed_and_verify_checks_them() {
    // Issue #7: the statements read account_balances; they must equal balances summed over
    // dimensions after several batches, and verify must catch a tampered row.
    let mut ledger = ledger_with(
        "entry,date,account,amount
A,2026-01-10,1000,100.00
A,2026-01-10,4000,-100.00
             B,2026-02-10,1000,-30.00
B,2026-02-10,4000,30.00
",
    );
    import(
        &mut ledger,
        "entry,date,account,amount\nC,2026-01-20,1000,7.00\nC,2026-01-20,4000,-7.00\n",
    )
    .unwrap();
    let expected = summed_dimension_balances(&mut ledger);
    assert_eq!(expected.len(), 4, "{expected:?}");
    assert_eq!(account_balance_rows(&mut ledger), expected);
    assert_eq!(closing(&mut ledger, "2026-02", "1000").as_deref(), Some("77.00"));
    ledger
        .store()
        .tamper("UPDATE account_balances SET accounting_amount = '1' WHERE period = '2026-01' AND account = '1000'")
        .unwrap();
    let report = ledger
        .read(|db| crate::verify::verify_entity(db, &EntityId::new("E")))
        .unwrap();
    assert_eq!(report.findings.len(), 1, "{:?}", report.findings);
    assert!(matches!(
        report.findings[0],
        crate::verify::Finding::BalanceMismatch { .. }
    ));
}

#[test]
fn the_account_balances_migration_fills_the_table_from_existing_balances() {
    // Issue #7: a ledger posted to before account_balances existed reads the same totals
    // once the migration has run.
    let path = std::env::temp_dir().join(format!("closebook-migration-4-{}.db", std::process::id()));
    let _ = std::fs::remove_file(&path);
    {
        let mut ledger = Ledger::open(&path, UserId::new("test")).unwrap();
        ledger
            .apply_setup(&SetupFile::parse(ONE_ENTITY_SETUP, "setup.toml").unwrap(), "setup.toml")
            .unwrap();
        import(
            &mut ledger,
            "entry,date,account,amount\nA,2026-01-10,1000,100.00\nA,2026-01-10,4000,-100.00\n",
        )
        .unwrap();
        // Back to the schema before the migration (and the migrations after it).
        ledger
            .store()
            .connection()
            .execute_batch(crate::store::REWIND_TO_VERSION_3)
            .unwrap();
    }
    let mut ledger = Ledger::open(&path, UserId::new("test")).unwrap();
    let expected = summed_dimension_balances(&mut ledger);
    assert_eq!(expected.len(), 2);
    assert_eq!(account_balance_rows(&mut ledger), expected);
    assert_eq!(closing(&mut ledger, "2026-01", "4000").as_deref(), Some("-100.00"));
    drop(ledger);
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
    }
}

fn kept_policy(ledger: &mut Ledger, cache: &crate::access::PolicyCache) -> std::sync::Arc<AccessPolicy> {
    ledger.store().read(|db| cache.policy(db)).unwrap()
}

#[test]
fn a_kept_access_policy_is_read_again_after_every_kind_of_change_to_it() {
    use crate::access::{Grant, Permission, Principal};
    use std::collections::BTreeSet;
    use std::sync::Arc;
    let mut ledger = one_entity_ledger("test");
    let cache = crate::access::PolicyCache::default();
    let first = kept_policy(&mut ledger, &cache);
    import(
        &mut ledger,
        "entry,date,account,amount\nA,2026-01-10,1000,1.00\nA,2026-01-10,4000,-1.00\n",
    )
    .unwrap();
    assert!(
        Arc::ptr_eq(&first, &kept_policy(&mut ledger, &cache)),
        "a posting changes nothing the policy holds: the kept one serves"
    );
    type Change = fn(&Db<'_>) -> Result<(), LedgerError>;
    let changes: [(&str, Change); 7] = [
        ("a new user", |db| db.upsert_user("bob", "Bob")),
        ("a user blocked", |db| db.set_user_access("bob", true, None)),
        ("a group membership", |db| {
            db.upsert_group("closers", "Closers")?;
            db.set_user_groups("bob", &["closers".to_owned()])
        }),
        ("a role's permissions", |db| {
            db.upsert_role("clerk", "Clerk", &BTreeSet::from([Permission::LedgerRead]))
        }),
        ("a grant in an entity", |db| {
            let bob = Principal::User("bob".to_owned());
            db.replace_grants(
                &BTreeSet::from([bob.clone()]),
                &[Grant {
                    role: "clerk".to_owned(),
                    principal: bob,
                    entities: Some(BTreeSet::from([EntityId::new("E")])),
                }],
            )
        }),
        ("a grant revoked", |db| {
            db.replace_grants(&BTreeSet::from([Principal::User("bob".to_owned())]), &[])
        }),
        ("the administrator", |db| db.set_security("bob", false)),
    ];
    for (change, write) in changes {
        let before = kept_policy(&mut ledger, &cache);
        ledger.store().write(write).unwrap();
        let after = kept_policy(&mut ledger, &cache);
        assert!(!Arc::ptr_eq(&before, &after), "{change}: the policy must be read again");
        let read_now = ledger.store().read(|db| db.access_policy()).unwrap();
        assert_eq!(format!("{:?}", *after), format!("{read_now:?}"), "{change}");
        assert!(
            Arc::ptr_eq(&after, &kept_policy(&mut ledger, &cache)),
            "{change}: then kept"
        );
    }
}
