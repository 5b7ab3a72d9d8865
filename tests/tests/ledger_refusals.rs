//! Every refusal of the ledger core, through the binary: each test proves the message a user
//! sees and that nothing was written (trial balances, entry and draft counts unchanged).

use closebook_tests::{Ledger, demo_dir};
use rust_decimal::Decimal;
use serde_json::Value;
use std::str::FromStr;

const HEADER: &str = "entry,date,account,amount,currency,accounting_amount,description,dim.department\n";

/// What a refusal must leave untouched.
#[derive(Debug, PartialEq)]
struct Snapshot {
    trial_balances: Vec<Value>,
    entries: (i64, i64),
    drafts: (i64, i64),
}

fn snapshot(ledger: &Ledger) -> Snapshot {
    let mut trial_balances = Vec::new();
    for entity in ["ACME-US", "ACME-DE"] {
        for period in [
            "FY2025-opening",
            "2025-06",
            "FY2026-opening",
            "2026-01",
            "2026-02",
            "2026-03",
        ] {
            trial_balances.push(ledger.trial_balance(entity, period));
        }
    }
    Snapshot {
        trial_balances,
        entries: (ledger.entry_count("ACME-US"), ledger.entry_count("ACME-DE")),
        drafts: (ledger.draft_count("ACME-US"), ledger.draft_count("ACME-DE")),
    }
}

/// Imports `body` (after the header) for ACME-US with --post, expects a refusal containing
/// every `expected` text, and checks that nothing changed.
#[track_caller]
fn refused_import(ledger: &Ledger, body: &str, expected: &[&str]) -> String {
    let before = snapshot(ledger);
    let file = ledger.write("journal.csv", &format!("{HEADER}{body}"));
    let stderr = ledger
        .run(&["import", "journals", &file, "--entity", "ACME-US", "--post"])
        .failure();
    for text in expected {
        assert!(stderr.contains(text), "expected {text:?} in:\n{stderr}");
    }
    assert!(stderr.contains("nothing was written"), "{stderr}");
    assert_eq!(snapshot(ledger), before, "a refused import changed the ledger");
    stderr
}

const GOOD_ENTRY: &str = "OK-1,2026-01-15,1000,100.00,,,Good,\nOK-1,2026-01-15,4000,-100.00,,,Good,100\n";

#[test]
fn unbalanced_entry_is_refused_with_its_line_and_the_good_entry_is_not_written() {
    // Proves all-or-nothing per file: the balanced entry before the bad one is not posted.
    let ledger = Ledger::with_demo_journals();
    refused_import(
        &ledger,
        &format!("{GOOD_ENTRY}BAD-1,2026-01-16,1000,100.00,,,Bad,\nBAD-1,2026-01-16,4000,-99.00,,,Bad,100\n"),
        &["line 4: entry BAD-1: the entry does not balance: debits 100.00, credits 99.00, difference 1.00 USD"],
    );
}

#[test]
fn unknown_account_is_refused() {
    // Proves an account missing from the entity's chart is named with the file line.
    let ledger = Ledger::with_demo_journals();
    refused_import(
        &ledger,
        "X-1,2026-01-15,9999,5.00,,,,\nX-1,2026-01-15,4000,-5.00,,,,100\n",
        &["line 2: entry X-1: account 9999 does not exist in entity ACME-US"],
    );
}

#[test]
fn unknown_and_blocked_dimension_values_are_refused() {
    // Proves dimension values are checked against setup, blocked ones included.
    let ledger = Ledger::with_demo_journals();
    refused_import(
        &ledger,
        "X-1,2026-01-15,1000,5.00,,,,555\nX-1,2026-01-15,4000,-5.00,,,,100\n",
        &["line 2: entry X-1: dimension department has no value 555"],
    );
    refused_import(
        &ledger,
        "X-2,2026-01-15,1000,5.00,,,,900\nX-2,2026-01-15,4000,-5.00,,,,100\n",
        &["dimension value department=900 is blocked for posting"],
    );
}

#[test]
fn more_decimals_than_the_currency_allows_is_refused() {
    // Proves USD takes two decimals and JPY none.
    let ledger = Ledger::with_demo_journals();
    refused_import(
        &ledger,
        "X-1,2026-01-15,1000,5.001,,,,\nX-1,2026-01-15,4000,-5.001,,,,100\n",
        &["amount 5.001 has more decimals than USD allows (2)"],
    );
    refused_import(
        &ledger,
        "X-2,2026-01-15,1000,100.5,JPY,0.67,,\nX-2,2026-01-15,4000,-0.67,,,,100\n",
        &["amount 100.5 has more decimals than JPY allows (0)"],
    );
}

#[test]
fn missing_rate_is_refused() {
    // Proves a foreign line without an accounting amount needs a rate on or before its date.
    let ledger = Ledger::with_demo_journals();
    refused_import(
        &ledger,
        "X-1,2025-06-15,1000,5.00,GBP,,,\nX-1,2025-06-15,4000,-6.00,,,,100\n",
        &["line 2: entry X-1: no spot rate from GBP to USD on or before 2025-06-15"],
    );
}

#[test]
fn dates_outside_the_calendar_are_refused() {
    // Proves a date in no fiscal year of the calendar says how to fix it.
    let ledger = Ledger::with_demo_journals();
    refused_import(
        &ledger,
        "X-1,2030-01-15,1000,5.00,,,,\nX-1,2030-01-15,4000,-5.00,,,,100\n",
        &["no fiscal period of calendar standard contains 2030-01-15"],
    );
}

#[test]
fn amounts_that_overflow_when_summed_are_refused_not_panicking() {
    // Proves amounts are bounded so that no sum can round: a 28-digit amount is refused, and
    // so is a foreign amount whose accounting amount has the opposite sign.
    let ledger = Ledger::with_demo_journals();
    let big = "9999999999999999999999999999";
    let mut body = String::new();
    for _ in 0..8 {
        body.push_str(&format!("X-1,2026-01-15,1000,{big},,,,\n"));
    }
    for _ in 0..8 {
        body.push_str(&format!("X-1,2026-01-15,4000,-{big},,,,100\n"));
    }
    refused_import(
        &ledger,
        &body,
        &["entry X-1: amount 9999999999999999999999999999 is beyond the largest amount a line may carry"],
    );
    refused_import(
        &ledger,
        "X-3,2026-01-15,1200,100.00,EUR,-108.00,,\nX-3,2026-01-15,4000,108.00,,,,100\n",
        &["accounting amount -108.00 has the opposite sign of amount 100.00"],
    );
    refused_import(
        &ledger,
        "X-2,2026-01-15,1000,1e3,,,,\nX-2,2026-01-15,4000,-1000,,,,100\n",
        &["line 2: entry X-2: `1e3` is not a decimal number"],
    );
}

#[test]
fn posting_into_a_period_on_hold_is_refused_until_it_is_reopened() {
    // Proves status beats every other right, and that On hold can be reopened.
    let ledger = Ledger::with_demo_journals();
    ledger
        .run(&[
            "period",
            "set-status",
            "--entity",
            "ACME-US",
            "--period",
            "2026-01",
            "--status",
            "on-hold",
        ])
        .success();
    refused_import(
        &ledger,
        GOOD_ENTRY,
        &[
            "line 2: entry OK-1: period 2026-01 of entity ACME-US is on-hold: posting refused; date the entry in an open period",
        ],
    );
    ledger
        .run(&[
            "period",
            "set-status",
            "--entity",
            "ACME-US",
            "--period",
            "2026-01",
            "--status",
            "open",
        ])
        .success();
    let file = ledger.write("good.csv", &format!("{HEADER}{GOOD_ENTRY}"));
    ledger
        .run(&["import", "journals", &file, "--entity", "ACME-US", "--post"])
        .success();
}

#[test]
fn module_access_restricted_to_a_group_refuses_other_users() {
    // Proves posting needs module access for the acting user's module.
    let ledger = Ledger::with_demo_journals();
    // dave may import and post (an accountant) but is not one of the closers.
    let dave = ledger.write(
        "dave.toml",
        "[[user]]\nid = \"dave\"\n\n[[grant]]\nrole = \"accountant\"\nuser = \"dave\"\n",
    );
    ledger.run(&["setup", "apply", &dave]).success();
    ledger
        .run(&[
            "period",
            "access",
            "--all",
            "--period",
            "2026-01",
            "--module",
            "ledger",
            "--level",
            "group:closers",
        ])
        .success();
    let before = snapshot(&ledger);
    let file = ledger.write("good.csv", &format!("{HEADER}{GOOD_ENTRY}"));
    let stderr = ledger
        .run_as("dave", &["import", "journals", &file, "--entity", "ACME-US", "--post"])
        .failure();
    assert!(
        stderr.contains("user dave may not post ledger entries in period 2026-01 (module access: group:closers)"),
        "{stderr}"
    );
    assert_eq!(snapshot(&ledger), before);
    // Other modules keep access All; a member of the group may post ledger entries.
    ledger
        .run_as(
            "dave",
            &[
                "import",
                "journals",
                &file,
                "--entity",
                "ACME-US",
                "--module",
                "receivables",
                "--post",
            ],
        )
        .success();
    ledger
        .run(&[
            "period", "access", "--entity", "ACME-US", "--period", "2026-01", "--module", "payables", "--level", "none",
        ])
        .success();
    let other = ledger.write(
        "other.csv",
        &format!("{HEADER}OK-2,2026-01-15,1000,1.00,,,,\nOK-2,2026-01-15,4000,-1.00,,,,100\n"),
    );
    let stderr = ledger
        .run(&[
            "import", "journals", &other, "--entity", "ACME-US", "--module", "payables", "--post",
        ])
        .failure();
    assert!(
        stderr.contains("user alice may not post payables entries in period 2026-01 (module access: none)"),
        "{stderr}"
    );
    ledger
        .run(&["import", "journals", &other, "--entity", "ACME-US", "--post"])
        .success();
    let stderr = ledger
        .run(&[
            "period",
            "access",
            "--all",
            "--period",
            "2026-01",
            "--module",
            "ledger",
            "--level",
            "group:nobody",
        ])
        .failure();
    assert!(stderr.contains("group nobody does not exist"), "{stderr}");
}

#[test]
fn reimporting_is_a_no_op_and_a_changed_entry_under_the_same_key_is_refused() {
    // Proves idempotency keys: identical data is reported and skipped, different data refused.
    let ledger = Ledger::with_demo_journals();
    let before = snapshot(&ledger);
    let file = demo_dir().join("us-ledger.csv").display().to_string();
    let run = ledger
        .run(&["import", "journals", &file, "--entity", "ACME-US", "--post"])
        .success();
    assert!(
        run.stdout
            .contains("13 entries (33 lines) read, 0 posted, 13 already imported (unchanged)"),
        "{}",
        run.stdout
    );
    assert_eq!(snapshot(&ledger), before);
    refused_import(
        &ledger,
        "US-GL-002,2026-01-28,6100,4600.00,,,January rent,300\nUS-GL-002,2026-01-28,1000,-4600.00,,,January rent,\n",
        &["line 2: entry US-GL-002: entry US-GL-002 was already imported with different data"],
    );
}

#[test]
fn drafts_post_later_and_then_count_in_the_trial_balance() {
    // Proves import without --post keeps drafts out of balances until `journal post`.
    let ledger = Ledger::with_demo_journals();
    let before = ledger.trial_balance("ACME-US", "2026-01");
    let file = ledger.write("draft.csv", &format!("{HEADER}{GOOD_ENTRY}"));
    let run = ledger
        .run(&["import", "journals", &file, "--entity", "ACME-US"])
        .success();
    assert!(run.stdout.contains("1 kept as drafts"), "{}", run.stdout);
    assert_eq!(ledger.trial_balance("ACME-US", "2026-01"), before);
    assert_eq!(ledger.draft_count("ACME-US"), 1);
    ledger.run(&["journal", "post", "--entity", "ACME-US"]).success();
    assert_eq!(ledger.draft_count("ACME-US"), 0);
    let after = ledger.trial_balance("ACME-US", "2026-01");
    let debit = |trial_balance: &Value| Decimal::from_str(trial_balance["totals"]["debit"].as_str().unwrap()).unwrap();
    assert_eq!(
        debit(&after) - debit(&before),
        Decimal::new(10000, 2),
        "the posted draft adds its 100.00 debit"
    );
    let stderr = ledger
        .run(&["journal", "post", "--entity", "ACME-US", "NOPE"])
        .failure();
    assert!(stderr.contains("entity ACME-US has no draft entry NOPE"), "{stderr}");
}

#[test]
fn reversal_posts_negated_lines_once_and_only_into_an_open_period() {
    // Proves corrections are new reversing entries and the original stays as posted.
    let ledger = Ledger::with_demo_journals();
    let count = ledger.entry_count("ACME-US");
    ledger
        .run(&[
            "period",
            "set-status",
            "--entity",
            "ACME-US",
            "--period",
            "2026-02",
            "--status",
            "on-hold",
        ])
        .success();
    let before = snapshot(&ledger);
    let stderr = ledger
        .run(&[
            "journal",
            "reverse",
            "--entity",
            "ACME-US",
            "US-GL-002",
            "--date",
            "2026-02-05",
        ])
        .failure();
    assert!(
        stderr.contains("period 2026-02 of entity ACME-US is on-hold: posting refused"),
        "{stderr}"
    );
    assert_eq!(snapshot(&ledger), before);
    let run = ledger
        .run(&[
            "journal",
            "reverse",
            "--entity",
            "ACME-US",
            "US-GL-002",
            "--date",
            "2026-03-05",
        ])
        .success();
    assert!(
        run.stdout
            .contains("posted reversal-of-US-GL-002 on 2026-03-05 in period 2026-03"),
        "{}",
        run.stdout
    );
    assert_eq!(ledger.entry_count("ACME-US"), count + 1);
    let march = ledger.trial_balance("ACME-US", "2026-03");
    let rent = march["rows"]
        .as_array()
        .unwrap()
        .iter()
        .find(|row| row["account"] == "6100")
        .unwrap()
        .clone();
    // Rent: 9,000 before March, 4,500 posted in March, the 4,500 January rent reversed.
    assert_eq!(
        (
            rent["opening"].as_str(),
            rent["debit"].as_str(),
            rent["credit"].as_str(),
            rent["closing"].as_str()
        ),
        (Some("9000.00"), Some("4500.00"), Some("4500.00"), Some("9000.00"))
    );
    let stderr = ledger
        .run(&[
            "journal",
            "reverse",
            "--entity",
            "ACME-US",
            "US-GL-002",
            "--date",
            "2026-03-06",
        ])
        .failure();
    assert!(
        stderr.contains("entry US-GL-002 is already reversed by entry reversal-of-US-GL-002"),
        "{stderr}"
    );
    let stderr = ledger
        .run(&[
            "journal",
            "reverse",
            "--entity",
            "ACME-US",
            "NOPE",
            "--date",
            "2026-03-06",
        ])
        .failure();
    assert!(stderr.contains("entity ACME-US has no posted entry NOPE"), "{stderr}");
}

#[test]
fn periods_close_permanently_only_in_sequence_and_never_reopen() {
    // Proves the closing sequence rule and that Permanently closed is final.
    let ledger = Ledger::with_demo_journals();
    let stderr = ledger
        .run(&[
            "period",
            "set-status",
            "--entity",
            "ACME-US",
            "--period",
            "2026-01",
            "--status",
            "permanently-closed",
        ])
        .failure();
    assert!(stderr.contains("period 2026-01 of entity ACME-US cannot be permanently closed: earlier period FY2025-opening is open; close periods in sequence"), "{stderr}");
    let periods = ledger
        .run(&["period", "list", "--entity", "ACME-US", "--format", "json"])
        .success()
        .json();
    for period in periods.as_array().unwrap() {
        let name = period["name"].as_str().unwrap();
        ledger
            .run(&[
                "period",
                "set-status",
                "--all",
                "--period",
                name,
                "--status",
                "permanently-closed",
            ])
            .success();
        if name == "2026-01" {
            break;
        }
    }
    let stderr = ledger
        .run(&[
            "period",
            "set-status",
            "--entity",
            "ACME-US",
            "--period",
            "2026-01",
            "--status",
            "open",
        ])
        .failure();
    assert!(
        stderr.contains("period 2026-01 of entity ACME-US: a permanently closed period can never be reopened"),
        "{stderr}"
    );
    refused_import(
        &ledger,
        GOOD_ENTRY,
        &["period 2026-01 of entity ACME-US is permanently-closed: posting refused"],
    );
    let listed = ledger
        .run(&[
            "period", "list", "--entity", "ACME-DE", "--year", "FY2026", "--format", "json",
        ])
        .success()
        .json();
    let statuses: Vec<(&str, &str)> = listed
        .as_array()
        .unwrap()
        .iter()
        .take(3)
        .map(|period| (period["name"].as_str().unwrap(), period["status"].as_str().unwrap()))
        .collect();
    assert_eq!(
        statuses,
        [
            ("FY2026-opening", "permanently-closed"),
            ("2026-01", "permanently-closed"),
            ("2026-02", "open")
        ]
    );
}

#[test]
fn tampering_with_the_sqlite_file_is_found_by_verify() {
    // Proves the hash chain: a changed line amount and a deleted entry are each named.
    let ledger = Ledger::with_demo_journals();
    ledger.run(&["verify"]).success();
    ledger.tamper(
        "UPDATE lines SET accounting_amount = '4600.00', amount = '4600.00'
         WHERE entry_id = (SELECT id FROM entries WHERE entry_key = 'US-GL-002') AND account = '6100';",
    );
    let run = ledger.run(&["verify", "--entity", "ACME-US"]);
    assert_ne!(run.status, 0);
    assert!(
        run.stdout
            .contains("(US-GL-002) does not match its hash: it or its lines were changed after posting"),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains("(US-GL-002) does not balance"), "{}", run.stdout);
    let ledger = Ledger::with_demo_journals();
    ledger.tamper(
        "DELETE FROM lines WHERE entry_id = (SELECT id FROM entries WHERE entity_id = 'ACME-DE' AND sequence = 5);
         DELETE FROM entries WHERE entity_id = 'ACME-DE' AND sequence = 5;",
    );
    let run = ledger.run(&["verify"]);
    assert_ne!(run.status, 0);
    assert!(
        run.stdout.contains("sequence gap: expected entry 5, found 6"),
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
fn verify_from_a_checkpoint_reads_what_was_posted_since_and_full_reads_everything() {
    // Issue 23: a checkpoint needs audit.read and a clean check; the routine check then reads
    // only the entries after it, and --full reads every entry again.
    let ledger = Ledger::with_demo_journals();
    let count = |sql: &str| ledger.query_i64(sql);
    let stderr = ledger.run_as("bob", &["verify", "--checkpoint"]).failure();
    assert!(stderr.contains("audit.read"), "{stderr}");
    assert_eq!(count("SELECT count(*) FROM verify_checkpoints"), 0, "nothing written");

    let run = ledger.run_as("carol", &["verify", "--checkpoint"]).success();
    let us_entries = ledger.entry_count("ACME-US");
    let us_checkpoint = count("SELECT id FROM verify_checkpoints WHERE entity_id = 'ACME-US'");
    assert!(
        run.stdout.contains(&format!(
            "checkpoint {us_checkpoint} recorded at entry {us_entries}: the next check of ACME-US starts after it"
        )),
        "{}",
        run.stdout
    );
    assert_eq!(count("SELECT count(*) FROM verify_checkpoints"), 2, "one per entity");
    assert_eq!(
        count("SELECT count(*) FROM audit_log WHERE action = 'verify.checkpoint'"),
        2
    );
    let again = ledger.run_as("carol", &["verify", "--checkpoint"]).success();
    assert!(
        again
            .stdout
            .contains("no checkpoint recorded: the latest already covers"),
        "{}",
        again.stdout
    );

    let file = ledger.write("march.csv", &closebook_tests::balanced_journal("CP", 5));
    ledger
        .run(&["import", "journals", &file, "--entity", "ACME-US", "--post"])
        .success();
    let run = ledger.run(&["verify", "--entity", "ACME-US"]).success();
    assert!(
        run.stdout.contains(&format!(
            "ACME-US: 5 entries checked since checkpoint {us_checkpoint} (entry {us_entries}"
        )),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("`closebook verify --full` reads them"),
        "{}",
        run.stdout
    );

    // An older entry changed without touching its balances: outside what the routine check
    // reads (its documented limit), found by the full one.
    ledger.tamper("UPDATE entries SET description = 'rewritten' WHERE entry_key = 'US-GL-002';");
    ledger.run(&["verify", "--entity", "ACME-US"]).success();
    let run = ledger.run(&["verify", "--entity", "ACME-US", "--full"]);
    assert_ne!(run.status, 0);
    assert!(
        run.stdout
            .contains(&format!("ACME-US: {} entries checked, 1 findings", us_entries + 5)),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("(US-GL-002) does not match its hash"),
        "{}",
        run.stdout
    );
}

#[test]
fn setup_is_idempotent_and_refuses_rewriting_posted_history() {
    // Proves applying setup twice changes nothing and an entity's currency is fixed once posted.
    let ledger = Ledger::with_demo_journals();
    let before = snapshot(&ledger);
    ledger
        .run(&["setup", "apply", &demo_dir().join("setup.toml").display().to_string()])
        .success();
    assert_eq!(snapshot(&ledger), before);
    let setup = std::fs::read_to_string(demo_dir().join("setup.toml")).unwrap().replace(
        "name = \"Acme GmbH\"\ncurrency = \"EUR\"",
        "name = \"Acme GmbH\"\ncurrency = \"USD\"",
    );
    let file = ledger.write("setup.toml", &setup);
    let stderr = ledger.run(&["setup", "apply", &file]).failure();
    assert!(
        stderr.contains("entity ACME-DE: accounting currency cannot change from EUR to USD once entries are posted"),
        "{stderr}"
    );
    assert_eq!(snapshot(&ledger), before);
    let typo = ledger.write("typo.toml", "[[currency]]\ncode = \"CHF\"\nminor_unit = 2\n");
    let stderr = ledger.run(&["setup", "apply", &typo]).failure();
    assert!(stderr.contains("unknown field `minor_unit`"), "{stderr}");
}

#[test]
fn unknown_entity_is_named() {
    // Proves commands about an entity that does not exist say so.
    let ledger = Ledger::with_demo_setup();
    let file = ledger.write("good.csv", &format!("{HEADER}{GOOD_ENTRY}"));
    let stderr = ledger
        .run(&["import", "journals", &file, "--entity", "NOPE", "--post"])
        .failure();
    assert!(stderr.contains("entity NOPE does not exist"), "{stderr}");
    let stderr = ledger
        .run(&["report", "trial-balance", "--entity", "ACME-US", "--period", "2031-01"])
        .failure();
    assert!(
        stderr.contains("period 2031-01 does not exist in calendar standard of entity ACME-US"),
        "{stderr}"
    );
}
