//! The close engine end to end: the demo's month-end close through `closebook close`, with
//! reviews and sign-offs, resumption after a failure, reruns, dry runs, staleness after a late
//! journal, refusals at load, and a close killed mid-run that resumes to the same result.

use closebook_tests::{Ledger, closebook_binary, demo_dir, plugin_wasm};
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;

fn pinned_close(ledger: &Ledger) -> String {
    ledger.pinned_demo_close()
}

fn close(ledger: &Ledger, user: &str, config: &str, arguments: &[&str]) -> closebook_tests::Run {
    let mut all = vec!["close", arguments[0], "--config", config, "--period", "2026-01"];
    all.extend_from_slice(&arguments[1..]);
    ledger.run_as(user, &all)
}

fn statuses(ledger: &Ledger, config: &str) -> BTreeMap<String, String> {
    let board = close(ledger, "alice", config, &["status", "--format", "json"])
        .success()
        .json();
    board["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|row| {
            (
                format!("{}:{}", row["entity"].as_str().unwrap(), row["task"].as_str().unwrap()),
                row["status"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

/// ACME-US January rent (6100) by department, as the trial balance closes it.
fn rent_by_department(ledger: &Ledger) -> BTreeMap<String, String> {
    let by_department = ledger
        .run(&[
            "report",
            "trial-balance",
            "--entity",
            "ACME-US",
            "--period",
            "2026-01",
            "--dimensions",
            "department",
            "--format",
            "json",
        ])
        .success()
        .json();
    by_department["rows"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|row| row["account"] == "6100")
        .map(|row| {
            (
                row["dimensions"]["department"].as_str().unwrap_or("").to_owned(),
                row["closing"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

/// The demo's January rent of department 300 (4,500.00 imported + 1,500.00 adjusted) allocated
/// 50/30/20, worked by hand: department 300 keeps its 20 % after crediting the whole 6,000.00.
fn demo_rent_allocated_in_full() -> BTreeMap<String, String> {
    BTreeMap::from([
        ("100".to_owned(), "3000.00".to_owned()),
        ("200".to_owned(), "1800.00".to_owned()),
        ("300".to_owned(), "1200.00".to_owned()),
    ])
}

/// Every board row's status and notes (its message, what it waits on), one line per task, from
/// the board's JSON: the table wraps notes to fit the terminal, so phrases are looked up here.
fn board_notes(ledger: &Ledger, config: &str) -> String {
    let board = close(ledger, "alice", config, &["status", "--format", "json"])
        .success()
        .json();
    board["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|row| {
            format!(
                "{} {} {}: {} {}\n",
                row["entity"].as_str().unwrap(),
                row["task"].as_str().unwrap(),
                row["status"].as_str().unwrap(),
                row["message"].as_str().unwrap_or_default(),
                row["blocked_by"]
            )
        })
        .collect()
}

fn closing(trial_balance: &Value, account: &str) -> String {
    trial_balance["rows"]
        .as_array()
        .unwrap()
        .iter()
        .find(|row| row["account"] == account)
        .map(|row| row["closing"].as_str().unwrap().to_owned())
        .unwrap_or_default()
}

/// Runs the reviews and sign-offs a person makes in the demo close.
fn sign_everything(ledger: &Ledger, config: &str) {
    for entity in ["ACME-US", "ACME-DE"] {
        close(
            ledger,
            "alice",
            config,
            &["signoff", "--entity", entity, "--task", "management-fee", "--review"],
        )
        .success();
        close(
            ledger,
            "bob",
            config,
            &["signoff", "--entity", entity, "--task", "review-accruals"],
        )
        .success();
        close(
            ledger,
            "alice",
            config,
            &["signoff", "--entity", entity, "--task", "review-accruals", "--review"],
        )
        .success();
    }
}

#[test]
fn demo_month_end_close_runs_to_the_end_with_reviews_and_signoffs() {
    // Proves the full close: figures worked out by hand for January 2026.
    let ledger = Ledger::with_demo_journals();
    let config = pinned_close(&ledger);
    let first = close(&ledger, "bob", &config, &["run"]).success().stdout;
    assert!(first.contains("awaiting-review"), "{first}");
    let board = statuses(&ledger, &config);
    assert_eq!(board["ACME-US:fx-revaluation"], "done");
    assert_eq!(board["ACME-US:management-fee"], "awaiting-review");
    assert_eq!(board["ACME-US:review-accruals"], "blocked");
    sign_everything(&ledger, &config);
    close(&ledger, "bob", &config, &["run"]).success();
    let board = statuses(&ledger, &config);
    assert!(
        board.values().all(|status| status == "done" || status == "signed-off"),
        "{board:?}"
    );
    let us = ledger.trial_balance("ACME-US", "2026-01");
    // Management fee: 2.5 % of January sales of department 100, 30,000.00 + 8,640.00 = 966.00.
    assert_eq!(closing(&us, "6900"), "966.00");
    // Revaluation at Jan 31: 45,000 EUR at 1.10 = 49,500.00 against 48,570.00 carried: gain 930.00;
    // the GBP loan, 50,000 at 1.27 = 63,500.00 against 62,500.00: loss 1,000.00.
    assert_eq!(closing(&us, "7100"), "-930.00");
    assert_eq!(closing(&us, "7200"), "1000.00");
    assert_eq!(closing(&us, "1200"), "49500.00");
    assert_eq!(
        closing(&us, "2100"),
        "-3666.00",
        "1,200.00 utilities, the 966.00 fee and the 1,500.00 storage rent adjustment"
    );
    // Rent allocation (issue 15): January administration rent of department 300 is 4,500.00
    // imported plus the 1,500.00 storage rent the adjustments task posts, 6,000.00, at 50/30/20
    // to departments 100/200/300: 3,000.00, 1,800.00 and 1,200.00. The allocation ran before the
    // adjustment, was made stale by it and ran again in the same close run.
    assert_eq!(rent_by_department(&ledger), demo_rent_allocated_in_full());
    // Auto-settle matched the January receipt of 25,000.00 against the opening receivable.
    let open = ledger
        .run(&[
            "report",
            "open-items",
            "--entity",
            "ACME-US",
            "--account",
            "1100",
            "--format",
            "json",
        ])
        .success()
        .json();
    assert!(
        !open.as_array().unwrap().iter().any(|item| item["entry"] == "US-AR-002"),
        "{open}"
    );
    assert_eq!(us["totals"]["closing"], "0.00");
    let de = ledger.trial_balance("ACME-DE", "2026-01");
    assert_eq!(closing(&de, "6900"), "500.00", "2.5 % of 20,000.00");
    let periods = ledger
        .run(&[
            "period", "list", "--entity", "ACME-DE", "--year", "FY2026", "--format", "json",
        ])
        .success()
        .json();
    assert_eq!(
        periods[1]["status"], "on-hold",
        "the close ends by putting January on hold"
    );
    assert!(
        ledger
            .dir
            .path()
            .join("reports/ACME-US-2026-01-balance-sheet.json")
            .exists()
    );
    // The reports step also writes the printable statements, self-contained HTML pages.
    let page = std::fs::read_to_string(ledger.dir.path().join("reports/ACME-DE-2026-01-income-statement.html"))
        .expect("the reports step writes the income statement page");
    assert!(page.starts_with("<!DOCTYPE html>"), "{page}");
    assert!(page.contains("Acme GmbH"), "{page}");
    // Running the finished close again posts nothing.
    let count = ledger.entry_count("ACME-US");
    close(&ledger, "bob", &config, &["run"]).success();
    assert_eq!(ledger.entry_count("ACME-US"), count);
    let history = ledger
        .run(&["close", "history", "--config", &config, "--format", "json"])
        .success()
        .json();
    assert!(
        history["step_runs"]
            .as_array()
            .unwrap()
            .iter()
            .any(|run| run["plugin_name"] == "fx-revaluation" && run["task"] == "fx-revaluation")
    );
}

#[test]
fn a_failing_step_stops_its_chain_others_finish_and_the_next_run_resumes() {
    // Proves the chain stops at a failure (ACME-US January on hold refuses the revaluation),
    // independent work goes on (ACME-DE), and a second run resumes without posting twice.
    let ledger = Ledger::with_demo_journals();
    let config = pinned_close(&ledger);
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
    let stderr = close(&ledger, "bob", &config, &["run"]).failure();
    assert!(stderr.contains("1 tasks failed"), "{stderr}");
    let board = statuses(&ledger, &config);
    assert_eq!(board["ACME-US:fx-revaluation"], "failed");
    assert_eq!(board["ACME-US:management-fee"], "blocked");
    assert_eq!(board["ACME-DE:management-fee"], "awaiting-review");
    let status = board_notes(&ledger, &config);
    assert!(
        status.contains("period 2026-01 of entity ACME-US is on-hold"),
        "{status}"
    );
    let de_entries = ledger.entry_count("ACME-DE");
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
    close(&ledger, "bob", &config, &["run"]).success();
    let board = statuses(&ledger, &config);
    assert_eq!(board["ACME-US:fx-revaluation"], "done");
    assert_eq!(board["ACME-US:management-fee"], "awaiting-review");
    assert_eq!(
        ledger.entry_count("ACME-DE"),
        de_entries,
        "ACME-DE's finished steps did not run again"
    );
}

#[test]
fn the_trial_balance_check_finds_a_changed_line_of_the_close_period() {
    // Proves builtin:trial-balance-check checks the close period's entries against their hashes
    // and the period's maintained balances against its lines (not only that the balances net to
    // zero), and that on an untouched ledger it passes naming how many entries it checked.
    let ledger = Ledger::with_demo_journals();
    let config = ledger.write(
        "check.toml",
        r#"[close]
name = "check"
entities = ["ACME-US"]

[calendar]
weekend = ["sat", "sun"]

[[task]]
id = "check"
name = "Trial balance check"
area = "GL"
owner = "bob"
due = 1
step = "builtin:trial-balance-check"
"#,
    );
    let check = |ledger: &Ledger| {
        ledger.run_as(
            "bob",
            &[
                "close", "run", "--config", &config, "--period", "2026-01", "--rerun", "check",
            ],
        )
    };
    let clean = check(&ledger).success();
    // ACME-US posts 9 entries in January: 4 journals, 2 payables and 3 receivables (its opening
    // balances are in FY2026-opening).
    assert!(
        clean
            .stdout
            .contains("trial balance nets to zero; 9 entries of 2026-01 verified"),
        "{}",
        clean.stdout
    );
    // A line of January's rent (US-GL-002) changed behind the ledger's back, and its
    // counter-line too, so that the entry still balances and the trial balance still nets to zero.
    ledger.tamper(
        "UPDATE lines SET accounting_amount = '4600.00', amount = '4600.00'
         WHERE entry_id = (SELECT id FROM entries WHERE entry_key = 'US-GL-002') AND account = '6100';
         UPDATE lines SET accounting_amount = '-4600.00', amount = '-4600.00'
         WHERE entry_id = (SELECT id FROM entries WHERE entry_key = 'US-GL-002') AND account = '1000';",
    );
    let stderr = check(&ledger).failure();
    assert!(
        stderr.contains("the check of ACME-US's 2026-01 entries found 5 problems, the first: entry"),
        "{stderr}"
    );
    assert!(stderr.contains("(US-GL-002) does not match its hash"), "{stderr}");
}

#[test]
fn rerun_reverses_the_previous_entries_and_posts_new_ones() {
    // Proves --rerun: the revaluation's two entries are reversed and two new ones posted, and
    // the balances end where they were.
    let ledger = Ledger::with_demo_journals();
    let config = pinned_close(&ledger);
    close(&ledger, "bob", &config, &["run"]).success();
    let before = ledger.trial_balance("ACME-US", "2026-01");
    let count = ledger.entry_count("ACME-US");
    close(&ledger, "bob", &config, &["run", "--rerun", "fx-revaluation"]).success();
    assert_eq!(
        ledger.entry_count("ACME-US"),
        count + 4,
        "two reversals and two new revaluation entries"
    );
    let after = ledger.trial_balance("ACME-US", "2026-01");
    for account in ["1200", "2300", "7100", "7200"] {
        assert_eq!(closing(&after, account), closing(&before, account), "account {account}");
    }
    ledger.run(&["verify"]).success();
}

#[test]
fn a_rerun_of_a_settlement_step_records_and_later_cancels_the_run_it_posted() {
    // A step that posts only settlements leaves the ledger sequence as it was, so its rerun
    // proposes the same run id again and posts under a suffixed one. The task must record the
    // id it posted under: a second --rerun then cancels that run, not the first (reversed) one.
    let ledger = Ledger::with_demo_journals();
    let config = pinned_close(&ledger);
    close(&ledger, "bob", &config, &["run"]).success();
    let query = |sql: &str| ledger.query_text(sql);
    let task_run = "SELECT run_id FROM close_tasks WHERE entity_id = 'ACME-US' AND task_id = 'settle-open-items'";
    let latest_run = "SELECT run_id FROM step_runs WHERE entity_id = 'ACME-US' AND task = 'settle-open-items'
                      ORDER BY rowid DESC LIMIT 1";
    let active = "SELECT CAST(COUNT(*) AS TEXT) FROM settlements s WHERE s.entity_id = 'ACME-US'
                  AND NOT EXISTS (SELECT 1 FROM settlement_reversals r WHERE r.settlement_id = s.id)";
    let first_run = query(task_run);
    assert_eq!(first_run, query(latest_run));
    let settled = query(active);
    assert_ne!(settled, "0", "the demo settles receivables");
    let mut recorded = Vec::new();
    for rerun in 1..=3 {
        close(&ledger, "bob", &config, &["run", "--rerun", "settle-open-items"]).success();
        assert_eq!(query(task_run), query(latest_run), "rerun {rerun}");
        assert_eq!(query(active), settled, "rerun {rerun} settles the same lines again");
        recorded.push(query(task_run));
    }
    // The first rerun ran after later tasks had posted (a new id); the next ones found the
    // ledger where the one before left it, so they proposed its id again.
    assert_ne!(recorded[0], first_run);
    assert_eq!(recorded[1], format!("{}-2", recorded[0]));
    assert_eq!(recorded[2], format!("{}-3", recorded[0]));
    ledger.run(&["verify"]).success();
}

#[test]
fn dry_run_leaves_the_ledger_file_byte_for_byte_unchanged() {
    // Proves --dry-run works on a copy: later steps see earlier proposals, the file is untouched.
    let ledger = Ledger::with_demo_journals();
    let config = pinned_close(&ledger);
    let before = ledger.stored();
    let run = close(&ledger, "bob", &config, &["run", "--dry-run"]).success().stdout;
    assert!(run.contains("(dry run: nothing was written)"), "{run}");
    assert!(run.contains("ACME-US management-fee would propose"), "{run}");
    assert_eq!(ledger.stored(), before);
    if !closebook_tests::on_postgres() {
        let wal = ledger.db().with_extension("db-wal");
        assert!(!wal.exists() || std::fs::metadata(&wal).unwrap().len() == 0);
    }
    assert_eq!(
        statuses(&ledger, &config)["ACME-US:subledgers-posted"],
        "pending",
        "no close state was written"
    );
}

#[test]
fn signoffs_follow_dependencies_separate_duties_and_go_stale_after_a_late_journal() {
    // Proves sign-off ordering, reviewer separation and staleness.
    let ledger = Ledger::with_demo_journals();
    let config = pinned_close(&ledger);
    let stderr = close(
        &ledger,
        "bob",
        &config,
        &["signoff", "--entity", "ACME-US", "--task", "review-accruals"],
    )
    .failure();
    assert!(
        stderr.contains("cannot be signed off: it waits on ACME-US:management-fee"),
        "{stderr}"
    );
    close(&ledger, "bob", &config, &["run"]).success();
    let stderr = close(
        &ledger,
        "bob",
        &config,
        &["signoff", "--entity", "ACME-US", "--task", "management-fee", "--review"],
    )
    .failure();
    assert!(
        stderr.contains("task management-fee is reviewed by alice, not bob"),
        "{stderr}"
    );
    close(
        &ledger,
        "alice",
        &config,
        &["signoff", "--entity", "ACME-US", "--task", "management-fee", "--review"],
    )
    .success();
    // One fee in January, reversed on February 1.
    assert_eq!(closing(&ledger.trial_balance("ACME-US", "2026-01"), "6900"), "966.00");
    assert_eq!(closing(&ledger.trial_balance("ACME-US", "2026-02"), "6900"), "0.00");
    // The named reviewer cannot prepare the task she reviews, and a preparer cannot review
    // his own preparation.
    let stderr = close(
        &ledger,
        "alice",
        &config,
        &["signoff", "--entity", "ACME-US", "--task", "review-accruals"],
    )
    .failure();
    assert!(
        stderr.contains("alice is the reviewer of task review-accruals; someone else prepares it"),
        "{stderr}"
    );
    // carol, the auditor, reads: she may neither prepare nor review.
    let stderr = close(
        &ledger,
        "carol",
        &config,
        &["signoff", "--entity", "ACME-US", "--task", "review-accruals"],
    )
    .failure();
    assert!(
        stderr.contains("carol may not prepare close tasks of ACME-US (needs close.prepare)"),
        "{stderr}"
    );
    let stderr = close(
        &ledger,
        "carol",
        &config,
        &[
            "signoff",
            "--entity",
            "ACME-US",
            "--task",
            "review-accruals",
            "--review",
        ],
    )
    .failure();
    assert!(
        stderr.contains("carol may not review close tasks of ACME-US (needs close.review)"),
        "{stderr}"
    );
    // Start over with bob as preparer so alice can review.
    let ledger = Ledger::with_demo_journals();
    let config = pinned_close(&ledger);
    close(&ledger, "bob", &config, &["run"]).success();
    close(
        &ledger,
        "alice",
        &config,
        &["signoff", "--entity", "ACME-US", "--task", "management-fee", "--review"],
    )
    .success();
    // One fee in January, reversed on February 1.
    assert_eq!(closing(&ledger.trial_balance("ACME-US", "2026-01"), "6900"), "966.00");
    assert_eq!(closing(&ledger.trial_balance("ACME-US", "2026-02"), "6900"), "0.00");
    close(
        &ledger,
        "bob",
        &config,
        &["signoff", "--entity", "ACME-US", "--task", "review-accruals"],
    )
    .success();
    close(
        &ledger,
        "alice",
        &config,
        &[
            "signoff",
            "--entity",
            "ACME-US",
            "--task",
            "review-accruals",
            "--review",
        ],
    )
    .success();
    assert_eq!(statuses(&ledger, &config)["ACME-US:review-accruals"], "signed-off");
    let late = ledger.write(
        "late.csv",
        "entry,date,account,amount\nLATE-1,2026-01-30,6200,250.00\nLATE-1,2026-01-30,2100,-250.00\n",
    );
    ledger
        .run(&["import", "journals", &late, "--entity", "ACME-US", "--post"])
        .success();
    // The late journal changes January revenue and accruals: the reviewed fee and the accrual
    // review after it are both undone.
    let board = statuses(&ledger, &config);
    assert_eq!(board["ACME-US:management-fee"], "stale", "{board:?}");
    assert_eq!(board["ACME-US:review-accruals"], "stale", "{board:?}");
    assert_eq!(
        board["ACME-DE:review-accruals"], "blocked",
        "ACME-DE is not affected by ACME-US's journal"
    );
    let status = board_notes(&ledger, &config);
    assert!(
        status.contains("stale: entries LATE-1 posted after the sign-off"),
        "{status}"
    );
    let stderr = close(
        &ledger,
        "bob",
        &config,
        &["signoff", "--entity", "ACME-US", "--task", "review-accruals"],
    )
    .failure();
    assert!(stderr.contains("waits on ACME-US:management-fee (stale)"), "{stderr}");
    close(&ledger, "bob", &config, &["run", "--rerun", "management-fee"]).success();
    close(
        &ledger,
        "alice",
        &config,
        &["signoff", "--entity", "ACME-US", "--task", "management-fee", "--review"],
    )
    .success();
    // The rerun cancelled the first accrual and its February reversal: one fee in January.
    assert_eq!(closing(&ledger.trial_balance("ACME-US", "2026-01"), "6900"), "966.00");
    assert_eq!(closing(&ledger.trial_balance("ACME-US", "2026-02"), "6900"), "0.00");
    close(
        &ledger,
        "bob",
        &config,
        &["signoff", "--entity", "ACME-US", "--task", "review-accruals"],
    )
    .success();
}

#[test]
fn a_journal_posted_after_a_step_proposed_refuses_its_review_and_the_next_run_proposes_again() {
    // Proves a review approves what the step computed: a sales journal posted to ACME-US after
    // the management fee (2.5 % of sales) was proposed refuses the review by entity and entry,
    // posts nothing and leaves the task stale on the board; the next run proposes again and that
    // review passes.
    let ledger = Ledger::with_demo_journals();
    let config = pinned_close(&ledger);
    close(&ledger, "bob", &config, &["run"]).success();
    assert_eq!(statuses(&ledger, &config)["ACME-US:management-fee"], "awaiting-review");
    let late = ledger.write(
        "late.csv",
        "entry,date,account,amount,dim.department\nLATE-1,2026-01-30,1100,250.00,\nLATE-1,2026-01-30,4000,-250.00,100\n",
    );
    ledger
        .run(&["import", "journals", &late, "--entity", "ACME-US", "--post"])
        .success();
    let entries_before = ledger.entry_count("ACME-US");
    let review = || {
        close(
            &ledger,
            "alice",
            &config,
            &["signoff", "--entity", "ACME-US", "--task", "management-fee", "--review"],
        )
    };
    let refused = review().failure();
    assert!(
        refused.contains("task management-fee of ACME-US cannot be signed off"),
        "{refused}"
    );
    assert!(refused.contains("ACME-US: entries LATE-1"), "{refused}");
    assert!(refused.contains("then sign off"), "{refused}");
    assert_eq!(
        ledger.entry_count("ACME-US"),
        entries_before,
        "a refused review posts nothing"
    );
    assert_eq!(closing(&ledger.trial_balance("ACME-US", "2026-01"), "6900"), "");
    assert_eq!(statuses(&ledger, &config)["ACME-US:management-fee"], "stale");
    let status = board_notes(&ledger, &config);
    assert!(
        status.contains("stale: ACME-US: entries LATE-1 posted after it ran changed what it read"),
        "{status}"
    );

    close(&ledger, "bob", &config, &["run"]).success();
    assert_eq!(statuses(&ledger, &config)["ACME-US:management-fee"], "awaiting-review");
    review().success();
    // One fee in January, on the late sale too (2.5 % of 38,890.00), reversed on February 1:
    // the refused proposal was never posted.
    assert_eq!(closing(&ledger.trial_balance("ACME-US", "2026-01"), "6900"), "972.25");
    assert_eq!(closing(&ledger.trial_balance("ACME-US", "2026-02"), "6900"), "0.00");
}

#[test]
fn bad_close_configurations_are_refused_at_load() {
    // Proves a cycle, an unknown task and a plugin whose file no longer matches its pin are
    // refused before anything runs, each naming what is wrong.
    let ledger = Ledger::with_demo_journals();
    let config = std::fs::read_to_string(pinned_close(&ledger)).unwrap();
    let cycle = ledger.write(
        "cycle.toml",
        &config.replace(
            "after = [\"subledgers-posted\"]",
            "after = [\"subledgers-posted\", \"reports\"]",
        ),
    );
    let stderr = close(&ledger, "bob", &cycle, &["run"]).failure();
    assert!(stderr.contains("wait for each other in a cycle"), "{stderr}");
    let unknown = ledger.write(
        "unknown.toml",
        &config.replace("after = [\"subledgers-posted\"]", "after = [\"subledger-posted\"]"),
    );
    let stderr = close(&ledger, "bob", &unknown, &["run"]).failure();
    assert!(
        stderr.contains("task settle-open-items: `after` names task subledger-posted, which does not exist"),
        "{stderr}"
    );
    let start = config.find("management-fee = {").unwrap();
    let sha = start + config[start..].find("sha256 = \"").unwrap() + 10;
    let mut tampered = config.clone();
    tampered.replace_range(sha..sha + 4, "0000");
    let tampered = ledger.write("tampered.toml", &tampered);
    let count = ledger.entry_count("ACME-US");
    let stderr = close(&ledger, "bob", &tampered, &["run"]).failure();
    assert!(
        stderr.contains("plugin management-fee:")
            && stderr.contains(&format!("but {tampered} pins 0000"))
            && stderr.contains("the file changed since it was reviewed"),
        "{stderr}"
    );
    assert_eq!(ledger.entry_count("ACME-US"), count);
    // A hash that is not one is refused as malformed, not as a changed file (issue 15).
    let mut malformed = config.clone();
    malformed.replace_range(sha..sha + 64, "abc123");
    let malformed = ledger.write("malformed.toml", &malformed);
    let stderr = close(&ledger, "bob", &malformed, &["run"]).failure();
    assert!(
        stderr.contains("plugin management-fee: sha256 `abc123` is not a SHA-256 (64 hexadecimal characters)"),
        "{stderr}"
    );
    assert_eq!(ledger.entry_count("ACME-US"), count);
    let bad_config = ledger.write("bad-config.toml", &config.replace("percent = \"2.5\"", "percent = 2.5"));
    let stderr = close(&ledger, "bob", &bad_config, &["run"]).failure();
    assert!(
        stderr.contains("task management-fee") && stderr.contains("does not match the schema of plugin management-fee"),
        "{stderr}"
    );
}

#[test]
fn a_close_killed_mid_run_resumes_to_the_same_trial_balance() {
    // Proves crash safety: SIGKILL at several moments of a close run, then a second run; the
    // ledger verifies and ends with the trial balance of an uninterrupted run.
    let reference = Ledger::with_demo_journals();
    let config = pinned_close(&reference);
    close(&reference, "bob", &config, &["run"]).success();
    let expected = (
        reference.trial_balance("ACME-US", "2026-01"),
        reference.trial_balance("ACME-DE", "2026-01"),
    );
    for planned_ms in [20u64, 60, 120, 250] {
        // Killed while it runs: a run that finished first is retried with a shorter delay.
        let ((ledger, config), delay_ms) = closebook_tests::kill_while_running(
            || {
                let ledger = Ledger::with_demo_journals();
                let config = pinned_close(&ledger);
                let child = std::process::Command::new(closebook_binary())
                    .args([
                        "--db",
                        &ledger.db().display().to_string(),
                        "--as",
                        "bob",
                        "close",
                        "run",
                        "--config",
                        &config,
                        "--period",
                        "2026-01",
                    ])
                    .stdout(std::process::Stdio::null())
                    .stderr(std::process::Stdio::null())
                    .spawn()
                    .unwrap();
                ((ledger, config), child)
            },
            planned_ms,
        );
        ledger.run(&["verify"]).success();
        close(&ledger, "bob", &config, &["run"]).success();
        ledger.run(&["verify"]).success();
        assert_eq!(
            (
                ledger.trial_balance("ACME-US", "2026-01"),
                ledger.trial_balance("ACME-DE", "2026-01")
            ),
            expected,
            "killed after {delay_ms} ms"
        );
    }
}

#[test]
fn rerun_cancels_entries_a_step_posted_into_another_entity() {
    // Proves --rerun covers every entity a run posted to: a step for ACME-US that also posts
    // into ACME-DE, rerun, leaves ACME-DE with one posting's effect, not two.
    let ledger = Ledger::with_demo_journals();
    let wasm = plugin_wasm("guest_propose");
    let hash = hex::encode(Sha256::digest(std::fs::read(&wasm).unwrap()));
    let config = ledger.write(
        "cross.toml",
        &format!(
            r#"[close]
name = "cross"
entities = ["ACME-US"]
[plugins]
propose = {{ path = "{}", sha256 = "{hash}" }}
[[task]]
id = "intercompany"
name = "Intercompany charge"
step = "plugin:propose"
allow = ["ACME-DE:post"]
config = {{ entries = [{{ entity = "ACME-DE", date = "2026-01-31", description = "charge", lines = [{{ account = "6900", amount = "100.00" }}, {{ account = "2400", amount = "-100.00" }}] }}] }}
"#,
            wasm.display()
        ),
    );
    close(&ledger, "bob", &config, &["run"]).success();
    let once = ledger.trial_balance("ACME-DE", "2026-01");
    assert_eq!(closing(&once, "6900"), "100.00");
    close(&ledger, "bob", &config, &["run", "--rerun", "intercompany"]).success();
    let after = ledger.trial_balance("ACME-DE", "2026-01");
    assert_eq!(
        closing(&after, "6900"),
        "100.00",
        "the first charge was cancelled in ACME-DE before the new one"
    );
    ledger.run(&["verify"]).success();
}

#[test]
fn the_demo_year_end_close_carries_fy2026_into_fy2027_after_review() {
    // Proves year-end runs in a close.toml: proposed, reviewed by bob (not the runner alice),
    // posted into FY2027's opening period, which then holds balance-sheet accounts only.
    let ledger = Ledger::with_demo_journals();
    let wasm = plugin_wasm("year_end");
    let hash = hex::encode(Sha256::digest(std::fs::read(&wasm).unwrap()));
    let mut text = std::fs::read_to_string(demo_dir().join("year-end.toml")).unwrap();
    text = text.replace(
        "../../target/wasm32-wasip2/release/year_end.wasm",
        &wasm.display().to_string(),
    );
    text = text.replace(
        "../../target/demo/reports",
        &ledger.dir.path().join("reports").display().to_string(),
    );
    let start = text.find("sha256 = \"").unwrap() + 10;
    text.replace_range(start..start + 64, &hash);
    let config = ledger.write("year-end.toml", &text);
    let run = |user: &str, arguments: &[&str]| {
        let mut all = vec![
            "close",
            arguments[0],
            "--config",
            config.as_str(),
            "--period",
            "2026-12",
        ];
        all.extend_from_slice(&arguments[1..]);
        ledger.run_as(user, &all)
    };
    run("alice", &["run"]).success();
    assert!(
        ledger.trial_balance("ACME-US", "FY2027-opening")["rows"]
            .as_array()
            .unwrap()
            .is_empty(),
        "nothing posts before the review"
    );
    for entity in ["ACME-US", "ACME-DE"] {
        let stderr = run(
            "alice",
            &["signoff", "--entity", entity, "--task", "year-end", "--review"],
        )
        .failure();
        assert!(stderr.contains("reviewed by bob, not alice"), "{stderr}");
        run(
            "bob",
            &["signoff", "--entity", entity, "--task", "year-end", "--review"],
        )
        .success();
    }
    run("alice", &["run"]).success();
    let opening = ledger.trial_balance("ACME-US", "FY2027-opening");
    let accounts: Vec<&str> = opening["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|row| row["account"].as_str().unwrap())
        .collect();
    assert!(
        accounts.iter().all(|account| account.starts_with(['1', '2', '3'])),
        "only balance-sheet accounts open the year: {accounts:?}"
    );
    // Retained earnings: -181,700.00 brought forward plus the FY2026 loss of 18,977.95.
    assert_eq!(closing(&opening, "3900"), "-162722.05");
    assert_eq!(opening["totals"]["closing"], "0.00");
    ledger.run(&["verify"]).success();
}

/// The demo close.toml with the adjustments task moved before the allocation.
fn adjustments_first(ledger: &Ledger) -> String {
    let text = std::fs::read_to_string(pinned_close(ledger)).unwrap();
    let block = |id: &str| {
        let start = text.find(&format!("[[task]]\nid = \"{id}\"")).unwrap();
        let end = start + 8 + text[start + 8..].find("[[task]]").unwrap();
        (start, end)
    };
    let (allocation_start, allocation_end) = block("allocate-rent");
    let (adjustments_start, adjustments_end) = block("adjustments");
    assert_eq!(
        allocation_end, adjustments_start,
        "the demo lists the allocation right before the adjustments"
    );
    let swapped = format!(
        "{}{}{}{}",
        &text[..allocation_start],
        &text[adjustments_start..adjustments_end],
        &text[allocation_start..allocation_end],
        &text[adjustments_end..]
    );
    ledger.write("adjustments-first.toml", &swapped)
}

#[test]
fn the_allocation_takes_the_adjustment_whichever_order_the_two_tasks_run_in() {
    // Proves issue 15's correctness rule: allocate-rent and adjustments are independent tasks;
    // run in the demo's order the adjustment makes the finished allocation stale and it runs
    // again in the same close run, run the other way round it reads the adjustment at once.
    // Both allocate the full 6,000.00, and the board is at 100 % only after.
    for order in ["allocation first", "adjustments first"] {
        let ledger = Ledger::with_demo_journals();
        let config = if order == "allocation first" {
            pinned_close(&ledger)
        } else {
            adjustments_first(&ledger)
        };
        let run = close(&ledger, "bob", &config, &["run"]).success();
        if order == "allocation first" {
            assert!(
                run.stderr
                    .contains("ACME-US allocate-rent (again: its inputs changed): done"),
                "{order}: {}",
                run.stderr
            );
        }
        sign_everything(&ledger, &config);
        close(&ledger, "bob", &config, &["run"]).success();
        let board = statuses(&ledger, &config);
        assert!(
            board.values().all(|status| status == "done" || status == "signed-off"),
            "{order}: {board:?}"
        );
        assert_eq!(rent_by_department(&ledger), demo_rent_allocated_in_full(), "{order}");
        ledger.run(&["verify"]).success();
    }
}

/// The close's completion for an entity, as the board's JSON gives it.
fn complete_percent(ledger: &Ledger, config: &str, entity: &str) -> u64 {
    let board = close(ledger, "alice", config, &["status", "--format", "json"])
        .success()
        .json();
    board["complete_by_entity"][entity].as_u64().unwrap()
}

/// The demo's January closed to 100 %, then reopened in ACME-US for a late rent invoice of
/// 500.00 to department 300 (paid from cash, which no step reads), posted.
fn closed_january_with_late_rent() -> (Ledger, String) {
    let ledger = Ledger::with_demo_journals();
    let config = pinned_close(&ledger);
    close(&ledger, "bob", &config, &["run"]).success();
    sign_everything(&ledger, &config);
    close(&ledger, "bob", &config, &["run"]).success();
    assert_eq!(complete_percent(&ledger, &config, "ACME-US"), 100);
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
    let late = ledger.write(
        "late-rent.csv",
        "entry,date,account,amount,description,dim.department\n\
         LATE-RENT,2026-01-30,6100,500.00,Late rent invoice,300\n\
         LATE-RENT,2026-01-30,1000,-500.00,Late rent invoice,\n",
    );
    ledger
        .run(&["import", "journals", &late, "--entity", "ACME-US", "--post"])
        .success();
    (ledger, config)
}

#[test]
fn a_late_journal_after_the_close_makes_the_allocation_stale_and_the_next_run_reallocates() {
    // Proves a close at 100 % drops below it when a late journal changes what a finished step
    // read (issue 15): 500.00 more rent for department 300, posted after January was closed and
    // reopened for it, makes allocate-rent stale (and every task after it, and the period-status
    // task, since the period was reopened); the next run reallocates 6,500.00.
    let (ledger, config) = closed_january_with_late_rent();
    let board = statuses(&ledger, &config);
    assert_eq!(board["ACME-US:allocate-rent"], "stale");
    assert_eq!(
        board["ACME-US:review-accruals"], "stale",
        "signed off on the old figures"
    );
    assert_eq!(board["ACME-US:period-on-hold"], "stale", "the period was reopened");
    assert_eq!(
        board["ACME-US:management-fee"],
        "done",
        "it read sales and accruals, which did not change: {}",
        board_notes(&ledger, &config)
    );
    assert_eq!(board["ACME-DE:allocate-rent"], "done", "ACME-DE did not change");
    assert!(complete_percent(&ledger, &config, "ACME-US") < 100);
    let status = board_notes(&ledger, &config);
    assert!(
        status.contains("ACME-US: entries LATE-RENT posted after it ran changed what it read"),
        "{status}"
    );

    close(&ledger, "bob", &config, &["run"]).success();
    // 4,500.00 + 1,500.00 + 500.00 = 6,500.00 at 50/30/20: 3,250.00, 1,950.00, 1,300.00.
    assert_eq!(
        rent_by_department(&ledger),
        BTreeMap::from([
            ("100".to_owned(), "3250.00".to_owned()),
            ("200".to_owned(), "1950.00".to_owned()),
            ("300".to_owned(), "1300.00".to_owned()),
        ])
    );
    let board = statuses(&ledger, &config);
    assert_eq!(board["ACME-US:allocate-rent"], "done");
    assert_eq!(
        board["ACME-US:review-accruals"], "awaiting-signoff",
        "signed again on the new figures"
    );
    assert!(complete_percent(&ledger, &config, "ACME-US") < 100);
    for (user, review) in [("bob", false), ("alice", true)] {
        let mut arguments = vec!["signoff", "--entity", "ACME-US", "--task", "review-accruals"];
        if review {
            arguments.push("--review");
        }
        close(&ledger, user, &config, &arguments).success();
    }
    close(&ledger, "bob", &config, &["run"]).success();
    assert_eq!(complete_percent(&ledger, &config, "ACME-US"), 100);
    let periods = ledger
        .run(&[
            "period", "list", "--entity", "ACME-US", "--year", "FY2026", "--format", "json",
        ])
        .success()
        .json();
    assert_eq!(periods[1]["status"], "on-hold", "the close put January on hold again");
    ledger.run(&["verify"]).success();
}

#[test]
fn a_stale_step_in_a_period_on_hold_fails_with_the_fix() {
    // Proves a stale step whose earlier entries cannot be cancelled (its period is on hold)
    // fails and says how to go on, instead of posting into a closed period or staying done.
    let (ledger, config) = closed_january_with_late_rent();
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
    let count = ledger.entry_count("ACME-US");
    let stderr = close(&ledger, "bob", &config, &["run"]).failure();
    assert!(stderr.contains("tasks failed"), "{stderr}");
    let status = board_notes(&ledger, &config);
    assert!(
        status.contains("the entries its last run posted cannot be cancelled")
            && status.contains("period 2026-01 of entity ACME-US is on-hold")
            && status.contains("reopen it for module close"),
        "{status}"
    );
    assert_eq!(ledger.entry_count("ACME-US"), count, "nothing was posted");
    // Reopened as told, the next run cancels the earlier allocation once and allocates again:
    // 6,500.00 at 50/30/20, not twice.
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
    close(&ledger, "bob", &config, &["run"]).success();
    assert_eq!(
        rent_by_department(&ledger),
        BTreeMap::from([
            ("100".to_owned(), "3250.00".to_owned()),
            ("200".to_owned(), "1950.00".to_owned()),
            ("300".to_owned(), "1300.00".to_owned()),
        ])
    );
    ledger.run(&["verify"]).success();
}

#[test]
fn close_show_lists_every_proposed_line_before_the_review() {
    // Proves a reviewer sees what they approve (issue 15): the management fee waiting for
    // alice's review shows each proposed line with its account name, dimensions, debit and
    // credit, and totals of 966.00; the sign-off prints the same entries as it posts them.
    let ledger = Ledger::with_demo_journals();
    let config = pinned_close(&ledger);
    let run = close(&ledger, "bob", &config, &["run"]).success();
    assert!(
        run.stdout.contains("ACME-US management-fee proposes, for review, "),
        "{}",
        run.stdout
    );
    let shown = close(
        &ledger,
        "alice",
        &config,
        &["show", "--entity", "ACME-US", "--task", "management-fee"],
    )
    .success()
    .stdout;
    let mut settings = insta::Settings::clone_current();
    settings.add_filter(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", "[time]");
    settings.add_filter(r"-s\d+-[0-9a-f]{8}", "-s[seq]-[seed]");
    settings.bind(|| insta::assert_snapshot!("management_fee_awaiting_review", shown));
    let json = close(
        &ledger,
        "alice",
        &config,
        &[
            "show",
            "--entity",
            "ACME-US",
            "--task",
            "management-fee",
            "--format",
            "json",
        ],
    )
    .success()
    .json();
    assert_eq!(json["status"], "awaiting-review");
    assert_eq!(json["entries_are"], "proposed");
    assert_eq!(json["ran_by"], "bob");
    let debits: f64 = json["entries"][0]["lines"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|line| line["accounting_amount"].as_str())
        .filter(|amount| !amount.starts_with('-'))
        .map(|amount| amount.parse::<f64>().unwrap())
        .sum();
    assert_eq!(format!("{debits:.2}"), "966.00");
    let signed = close(
        &ledger,
        "alice",
        &config,
        &["signoff", "--entity", "ACME-US", "--task", "management-fee", "--review"],
    )
    .success()
    .stdout;
    assert!(
        signed.contains("reviewed task management-fee of ACME-US: posted 2 entries"),
        "the fee and its reversal: {signed}"
    );
    assert!(signed.contains("Debit") && signed.contains("966.00"), "{signed}");
}

#[test]
fn a_dry_run_shows_what_it_would_post_as_tables_and_writes_nothing() {
    // Proves `close run --dry-run` prints proposals as the reviewer's table and its progress
    // says "would post", never "posted"; the ledger is unchanged.
    let ledger = Ledger::with_demo_journals();
    let config = pinned_close(&ledger);
    let count = ledger.entry_count("ACME-US");
    let run = close(&ledger, "bob", &config, &["run", "--dry-run"]).success();
    assert!(run.stdout.contains("dry run: nothing was written"), "{}", run.stdout);
    assert!(
        run.stdout.contains("ACME-US fx-revaluation would post"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("Debit") && run.stdout.contains("Credit"),
        "{}",
        run.stdout
    );
    assert!(!run.stdout.contains("{\""), "no raw JSON: {}", run.stdout);
    assert!(run.stderr.contains("would post"), "{}", run.stderr);
    assert!(!run.stderr.contains("entries posted"), "{}", run.stderr);
    assert_eq!(ledger.entry_count("ACME-US"), count);
}

/// A close of one task that proposes `entries` through the test guest `propose`, with review
/// by alice when `review`, and `extra` settings on the task.
fn propose_close(ledger: &Ledger, entries: &str, review: bool, extra: &str) -> String {
    let wasm = plugin_wasm("guest_propose");
    let hash = hex::encode(Sha256::digest(std::fs::read(&wasm).unwrap()));
    let review = if review {
        "review = true\nreviewer = \"alice\"\n"
    } else {
        ""
    };
    ledger.write(
        "propose.toml",
        &format!(
            r#"[close]
name = "propose"
entities = ["ACME-US"]
[plugins]
propose = {{ path = "{}", sha256 = "{hash}" }}
[[task]]
id = "adjust"
name = "Adjust"
owner = "bob"
step = "plugin:propose"
{review}{extra}
config = {{ entries = [{entries}] }}
"#,
            wasm.display()
        ),
    )
}

#[test]
fn a_proposal_that_breaks_a_posting_rule_fails_its_task_when_it_runs() {
    // Proves proposals are checked when they are made (issue 15), not at the reviewer's
    // sign-off: the task fails with the rule and the line, saying whether the entry or its
    // reversal broke it, and nothing is written.
    let cases = [
        (
            r#"{ date = "2026-01-31", description = "x", lines = [{ account = "9999", amount = "1.00" }, { account = "2100", amount = "-1.00" }] }"#,
            "account 9999 does not exist in entity ACME-US",
        ),
        (
            r#"{ date = "2026-01-31", reversal_date = "2026-02-01", description = "x", lines = [{ account = "6100", amount = "1.00" }, { account = "2100", amount = "-1.00" }] }"#,
            "its reversal: period 2026-02 of entity ACME-US is on-hold",
        ),
        (
            r#"{ date = "2026-01-31", reversal_date = "2027-01-05", description = "x", lines = [{ account = "6100", amount = "1.00" }, { account = "2100", amount = "-1.00" }] }"#,
            "its reversal: the step runs for FY2026 2026-01 but proposes an entry in period 2027-01",
        ),
        (
            r#"{ date = "2027-01-01", period = "FY2027-opening", description = "x", lines = [{ account = "1000", amount = "1.00" }, { account = "2100", amount = "-1.00" }] }"#,
            "period FY2027-opening is the next year's opening period, which only a year-end step may post to (`year_end = true` on the task)",
        ),
    ];
    for (entries, refusal) in cases {
        let ledger = Ledger::with_demo_journals();
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
        let config = propose_close(&ledger, entries, true, "");
        let count = ledger.entry_count("ACME-US");
        let run = ledger.run_as("bob", &["close", "run", "--config", &config, "--period", "2026-01"]);
        assert_eq!(run.status, 1, "{refusal}: {}", run.stderr);
        assert!(run.stderr.contains("1 tasks failed"), "{}", run.stderr);
        let board = statuses(&ledger, &config);
        assert_eq!(board["ACME-US:adjust"], "failed", "{refusal}");
        let status = board_notes(&ledger, &config);
        assert!(status.contains(refusal), "{refusal}:\n{status}");
        assert_eq!(ledger.entry_count("ACME-US"), count, "{refusal}: nothing was written");
    }
}

#[test]
fn only_a_year_end_task_posts_into_the_next_years_opening_period() {
    // Proves the next year's opening period is a declared capability (issue 17): the same
    // proposal posts once the task says `year_end = true`.
    let ledger = Ledger::with_demo_journals();
    let entry = r#"{ date = "2027-01-01", period = "FY2027-opening", description = "carry", lines = [{ account = "1000", amount = "1.00" }, { account = "2100", amount = "-1.00" }] }"#;
    let config = propose_close(&ledger, entry, false, "year_end = true\n");
    ledger
        .run_as("bob", &["close", "run", "--config", &config, "--period", "2026-01"])
        .success();
    assert_eq!(
        closing(&ledger.trial_balance("ACME-US", "FY2027-opening"), "1000"),
        "1.00"
    );
}

#[test]
fn signoff_refusals_say_the_true_reason() {
    // Proves each refused sign-off names its real cause and the fix (issue 15).
    let ledger = Ledger::with_demo_journals();
    let config = pinned_close(&ledger);
    close(&ledger, "bob", &config, &["run"]).success();
    let refusal = |user: &str, arguments: &[&str]| close(&ledger, user, &config, arguments).failure();
    let built_in = refusal(
        "bob",
        &["signoff", "--entity", "ACME-US", "--task", "subledgers-posted"],
    );
    assert!(
        built_in.contains("task subledgers-posted is the built-in step builtin:verify-journals-posted: it completes when `closebook close run` runs it; there is nothing to sign off"),
        "{built_in}"
    );
    let forgot = refusal("alice", &["signoff", "--entity", "ACME-US", "--task", "management-fee"]);
    assert!(
        forgot.contains("task management-fee of ACME-US waits for the review of its proposal: add --review"),
        "{forgot}"
    );
    let no_review = refusal("bob", &["signoff", "--entity", "ACME-US", "--task", "allocate-rent"]);
    assert!(
        no_review.contains("task allocate-rent is a plugin step without review"),
        "{no_review}"
    );
    close(
        &ledger,
        "alice",
        &config,
        &["signoff", "--entity", "ACME-US", "--task", "management-fee", "--review"],
    )
    .success();
    let again = refusal(
        "alice",
        &["signoff", "--entity", "ACME-US", "--task", "management-fee", "--review"],
    );
    assert!(
        again.contains("task management-fee of ACME-US is already reviewed (by alice) and posted; nothing to sign off"),
        "{again}"
    );
}

#[test]
fn the_board_fits_100_columns_with_its_notes_wrapped_under_each_task() {
    // Proves the board table fits a 100-column terminal (issue 15) even with long stale
    // messages: the notes wrap on indented lines under their task.
    let ledger = Ledger::with_demo_journals();
    let config = pinned_close(&ledger);
    close(&ledger, "bob", &config, &["run"]).success();
    let late = ledger.write(
        "late.csv",
        "entry,date,account,amount,dim.department\nLATE-1,2026-01-30,1100,250.00,\nLATE-1,2026-01-30,4000,-250.00,100\n",
    );
    ledger
        .run(&["import", "journals", &late, "--entity", "ACME-US", "--post"])
        .success();
    let board = close(&ledger, "alice", &config, &["status", "--today", "2026-02-09"])
        .success()
        .stdout;
    for line in board.lines() {
        assert!(
            line.chars().count() <= 100,
            "{} characters: {line}",
            line.chars().count()
        );
    }
    assert!(board.contains("\n    OVERDUE; stale: "), "{board}");
}

#[test]
fn the_board_table_shows_who_prepared_and_who_reviewed() {
    // Proves the board's table (not only its JSON) names the preparer and the reviewer.
    let ledger = Ledger::with_demo_journals();
    let config = pinned_close(&ledger);
    close(&ledger, "bob", &config, &["run"]).success();
    sign_everything(&ledger, &config);
    let board = close(&ledger, "alice", &config, &["status", "--today", "2026-02-02"])
        .success()
        .stdout;
    let header = board.lines().find(|line| line.starts_with("Entity")).unwrap();
    assert!(header.contains("Prepared") && header.contains("Reviewed"), "{board}");
    let row = board
        .lines()
        .find(|line| line.starts_with("ACME-US") && line.contains("review-accruals"))
        .unwrap();
    assert!(row.contains("bob") && row.contains("alice"), "{row}");
}

#[test]
fn a_changed_task_config_is_reported_not_ignored() {
    // Proves a completed task whose configuration changed in close.toml says so on the board
    // and in the run's report, with the command that applies it.
    let ledger = Ledger::with_demo_journals();
    let config = pinned_close(&ledger);
    close(&ledger, "bob", &config, &["run"]).success();
    let text = std::fs::read_to_string(&config).unwrap().replace(
        "percent = \"50\" }, { dimensions = { department = \"200\" }, percent = \"30\" }",
        "percent = \"40\" }, { dimensions = { department = \"200\" }, percent = \"40\" }",
    );
    std::fs::write(&config, text).unwrap();
    let note = "config of allocate-rent changed since it ran; run with --rerun allocate-rent";
    let status = board_notes(&ledger, &config);
    assert!(status.contains(note), "{status}");
    let run = close(&ledger, "bob", &config, &["run"]).success().stdout;
    assert!(run.contains(note), "{run}");
    close(&ledger, "bob", &config, &["run", "--rerun", "allocate-rent"]).success();
    let status = board_notes(&ledger, &config);
    assert!(!status.contains(note), "{status}");
}

#[test]
fn close_toml_names_only_users_of_the_ledger_and_a_reviewer_who_is_not_the_owner() {
    // Proves close.toml's people are checked against the ledger before anything runs (issue
    // 15), naming the file, the task and the fix, and that nothing is written.
    let ledger = Ledger::with_demo_journals();
    let config = std::fs::read_to_string(pinned_close(&ledger)).unwrap();
    let cases = [
        (
            config.replacen("owner = \"bob\"", "owner = \"mallory\"", 1),
            "task subledgers-posted: owner mallory is not a user of the ledger (users: alice, bob, carol); add them under [[user]] in the setup file",
        ),
        (
            config.replacen("reviewer = \"alice\"", "reviewer = \"bob\"", 1),
            "task management-fee: the reviewer bob is also its owner; a reviewer must be someone other than the preparer",
        ),
    ];
    for (text, refusal) in cases {
        let file = ledger.write("people.toml", &text);
        let count = ledger.entry_count("ACME-US");
        for command in ["run", "status"] {
            let stderr = close(&ledger, "bob", &file, &[command]).failure();
            assert!(stderr.contains(&format!("{file}: {refusal}")), "{command}: {stderr}");
        }
        assert_eq!(ledger.entry_count("ACME-US"), count);
        assert!(
            ledger
                .run(&["close", "history", "--config", &file, "--format", "json"])
                .success()
                .json()["events"]
                .as_array()
                .unwrap()
                .is_empty(),
            "no task state was written"
        );
    }
}

#[test]
fn a_task_limited_to_some_entities_runs_and_is_waited_on_only_there() {
    // Proves `entities = [...]` on a task: a group-level check signed once in ACME-US has no
    // row in ACME-DE, ACME-DE's tasks do not wait on it, and signing it off there is refused.
    let ledger = Ledger::with_demo_journals();
    let text = std::fs::read_to_string(pinned_close(&ledger)).unwrap().replace(
        "id = \"review-accruals\"\n",
        "id = \"review-accruals\"\nentities = [\"ACME-US\"]\n",
    );
    let config = ledger.write("limited.toml", &text);
    close(&ledger, "bob", &config, &["run"]).success();
    let board = statuses(&ledger, &config);
    assert!(!board.contains_key("ACME-DE:review-accruals"), "{board:?}");
    assert_eq!(board["ACME-US:review-accruals"], "blocked");
    let stderr = close(
        &ledger,
        "bob",
        &config,
        &["signoff", "--entity", "ACME-DE", "--task", "review-accruals"],
    )
    .failure();
    assert!(
        stderr.contains("task review-accruals does not run in entity ACME-DE: close.toml limits it to ACME-US"),
        "{stderr}"
    );
    close(
        &ledger,
        "alice",
        &config,
        &["signoff", "--entity", "ACME-DE", "--task", "management-fee", "--review"],
    )
    .success();
    close(&ledger, "bob", &config, &["run"]).success();
    let board = statuses(&ledger, &config);
    assert_eq!(
        board["ACME-DE:trial-balance-check"], "done",
        "ACME-DE did not wait on a task it does not run"
    );
    let unknown = ledger.write(
        "unknown-entity.toml",
        &text.replace("entities = [\"ACME-US\"]\n", "entities = [\"ACME-FR\"]\n"),
    );
    let stderr = close(&ledger, "bob", &unknown, &["status"]).failure();
    assert!(
        stderr.contains(
            "`entities` names ACME-FR, which is not an entity of this close (its entities: ACME-US, ACME-DE)"
        ),
        "{stderr}"
    );
    let nowhere = ledger.write(
        "nowhere.toml",
        &text.replace("entities = [\"ACME-US\"]\n", "entities = []\n"),
    );
    let stderr = close(&ledger, "bob", &nowhere, &["status"]).failure();
    assert!(
        stderr.contains("`entities = []` runs the task nowhere; name at least one entity or leave `entities` out"),
        "{stderr}"
    );
}

#[test]
fn running_a_close_warns_when_the_previous_periods_close_is_incomplete() {
    // Proves `close run` for February warns, and still runs, while January's close is started
    // but not complete; with January complete it does not warn.
    let ledger = Ledger::with_demo_journals();
    let config = pinned_close(&ledger);
    close(&ledger, "bob", &config, &["run"]).success();
    let february = |ledger: &Ledger| {
        ledger.run_as(
            "bob",
            &["close", "run", "--config", &config, "--period", "2026-02", "--dry-run"],
        )
    };
    let warned = february(&ledger).success().stderr;
    assert!(
        warned.contains("warning: the previous close is incomplete: ACME-US 2026-01 ("),
        "{warned}"
    );
    sign_everything(&ledger, &config);
    close(&ledger, "bob", &config, &["run"]).success();
    let quiet = february(&ledger).success().stderr;
    assert!(!quiet.contains("previous close is incomplete"), "{quiet}");
}

#[test]
fn a_proposal_made_under_another_config_cannot_be_reviewed() {
    // Proves a reviewer never approves figures of a configuration close.toml no longer has:
    // the fee proposed at 2.5 % is refused once the file says 3.0 %; rerun, the new proposal
    // (3 % of 38,640.00 = 1,159.20) passes.
    let ledger = Ledger::with_demo_journals();
    let config = pinned_close(&ledger);
    close(&ledger, "bob", &config, &["run"]).success();
    let text = std::fs::read_to_string(&config)
        .unwrap()
        .replace("percent = \"2.5\"", "percent = \"3.0\"");
    std::fs::write(&config, text).unwrap();
    let count = ledger.entry_count("ACME-US");
    let review = || {
        close(
            &ledger,
            "alice",
            &config,
            &["signoff", "--entity", "ACME-US", "--task", "management-fee", "--review"],
        )
    };
    let refused = review().failure();
    assert!(
        refused.contains("the config of task management-fee in close.toml changed since it proposed these entries; run `closebook close run --rerun management-fee`"),
        "{refused}"
    );
    assert_eq!(ledger.entry_count("ACME-US"), count, "nothing was posted");
    close(
        &ledger,
        "bob",
        &config,
        &["run", "--rerun", "management-fee", "--entity", "ACME-US"],
    )
    .success();
    review().success();
    assert_eq!(closing(&ledger.trial_balance("ACME-US", "2026-01"), "6900"), "1159.20");
}
