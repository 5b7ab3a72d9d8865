//! Account reconciliations (issue 20, DOMAIN.md section 13), through the real binary on the demo
//! organization.
//!
//! Worked figures (DOMAIN.md §13): GL cash 1000 at 31 January = 52,340.00; the bank statement
//! closes at 51,090.00 (opening 50,000.00, +3,000.00, −1,910.00). Reconciling items: cheque 402
//! of 1,500.00 not yet presented (−1,500.00) and a deposit in transit of 2,750.00 (+2,750.00):
//! 51,090.00 − 1,500.00 + 2,750.00 = 52,340.00, unexplained 0.00. Entered as 2,700.00 by
//! mistake, 50.00 is unexplained, above the materiality of 10.00, and the sign-off is refused.
//! In February both items clear on the statement (opening 51,090.00, +2,750.00, −1,500.00,
//! −120.00 bank charges, closing 52,220.00) against a GL balance of 52,220.00.

use closebook_tests::Ledger;
use serde_json::Value;

const SETUP: &str = r#"
[[reconciliation]]
entity = "ACME-US"
account = "1000"
materiality = "10.00"
"#;

const CASH: &str = "entry,date,account,amount,description
CASH-01,2026-01-05,1000,52340.00,Cash contributed
CASH-01,2026-01-05,3000,-52340.00,Cash contributed
";

const JANUARY: &str = "date,amount,reference,description
2026-01-05,3000.00,DEP-1,Deposit
2026-01-20,-1910.00,CHQ-398,Cheque 398
";

const FEBRUARY: &str = "date,amount,reference,description
2026-02-02,2750.00,DEP-2,Deposit
2026-02-03,-1500.00,CHQ-402,Cheque 402
2026-02-15,-120.00,FEE,Bank charges
";

fn ledger() -> Ledger {
    let ledger = Ledger::with_demo_setup();
    ledger
        .run(&["setup", "apply", &ledger.write("reconcile.toml", SETUP)])
        .success();
    ledger
        .run(&[
            "import",
            "journals",
            &ledger.write("cash.csv", CASH),
            "--entity",
            "ACME-US",
            "--post",
        ])
        .success();
    ledger
}

fn target(period: &str) -> Vec<String> {
    ["--entity", "ACME-US", "--account", "1000", "--period", period]
        .map(str::to_owned)
        .to_vec()
}

/// `closebook reconcile <command> --entity ACME-US --account 1000 --period PERIOD <rest>`.
fn reconcile(ledger: &Ledger, user: &str, command: &[&str], period: &str, rest: &[&str]) -> closebook_tests::Run {
    let mut arguments: Vec<String> = vec!["reconcile".to_owned()];
    arguments.extend(command.iter().map(|part| (*part).to_owned()));
    arguments.extend(target(period));
    arguments.extend(rest.iter().map(|part| (*part).to_owned()));
    let arguments: Vec<&str> = arguments.iter().map(String::as_str).collect();
    ledger.run_as(user, &arguments)
}

fn show(ledger: &Ledger, period: &str) -> Value {
    reconcile(ledger, "carol", &["show"], period, &["--format", "json"])
        .success()
        .json()
}

fn count(ledger: &Ledger, table: &str) -> i64 {
    ledger.query_i64(&format!("SELECT count(*) FROM {table}"))
}

fn post(ledger: &Ledger, name: &str, journal: &str) {
    ledger
        .run(&[
            "import",
            "journals",
            &ledger.write(name, journal),
            "--entity",
            "ACME-US",
            "--post",
        ])
        .success();
}

fn close(ledger: &Ledger) -> String {
    ledger.write(
        "close.toml",
        "[close]\nname = \"bank\"\nentities = [\"ACME-US\"]\n\n[[task]]\nid = \"bank-reconciliation\"\nname = \"Bank reconciliation\"\nowner = \"bob\"\nstep = \"builtin:reconcile\"\nconfig = { accounts = [\"1000\"] }\n",
    )
}

#[test]
fn a_bank_reconciliation_ties_out_is_reviewed_by_another_user_carries_items_forward_and_is_withdrawn_by_a_late_entry() {
    let ledger = ledger();
    let statement = ledger.write("bank-2026-01.csv", JANUARY);
    let imported = reconcile(
        &ledger,
        "bob",
        &["import-statement"],
        "2026-01",
        &["--opening", "50000.00", "--closing", "51090.00", &statement],
    )
    .success();
    assert!(
        imported.stdout.contains("2 lines, opening 50000.00, closing 51090.00")
            && imported.stdout.contains("unexplained: 1,250.00"),
        "{}",
        imported.stdout
    );
    // The same file again changes nothing.
    let again = reconcile(
        &ledger,
        "bob",
        &["import-statement"],
        "2026-01",
        &["--opening", "50000.00", "--closing", "51090.00", &statement],
    )
    .success();
    assert!(again.stdout.contains("is imported already"), "{}", again.stdout);
    assert_eq!(count(&ledger, "reconciliation_balances"), 1);

    // The cheque and a deposit entered as 2,700.00: 50.00 unexplained, above 10.00.
    reconcile(
        &ledger,
        "bob",
        &["item", "add"],
        "2026-01",
        &[
            "--amount",
            "-1500.00",
            "--explanation",
            "Cheque 402 not yet presented",
            "--expected-clear",
            "2026-02-05",
            "--reference",
            "402",
        ],
    )
    .success();
    let typo = reconcile(
        &ledger,
        "bob",
        &["item", "add"],
        "2026-01",
        &[
            "--amount",
            "2700.00",
            "--explanation",
            "Deposit in transit",
            "--expected-clear",
            "2026-02-02",
        ],
    )
    .success();
    assert!(
        typo.stdout
            .contains("unexplained: 50.00 (materiality 10.00: blocks the sign-off)"),
        "{}",
        typo.stdout
    );
    let refused = reconcile(&ledger, "bob", &["prepare"], "2026-01", &[]).failure();
    assert!(
        refused.contains(
            "has an unexplained difference of 50.00 (GL 52340.00 − independent 51090.00 − reconciling items 1200.00), above its materiality of 10.00"
        ),
        "{refused}"
    );
    assert_eq!(
        count(&ledger, "reconciliation_signoffs"),
        0,
        "a refused sign-off writes nothing"
    );

    // The wrong item is cleared in January (it never belonged there) and the right one added.
    let items = show(&ledger, "2026-01")["items"].clone();
    let wrong = items
        .as_array()
        .unwrap()
        .iter()
        .find(|item| item["amount"] == "2700.00")
        .unwrap()["id"]
        .as_i64()
        .unwrap()
        .to_string();
    ledger
        .run_as(
            "bob",
            &[
                "reconcile",
                "item",
                "clear",
                "--entity",
                "ACME-US",
                "--period",
                "2026-01",
                &wrong,
                "--note",
                "entered as 2,700.00 by mistake",
            ],
        )
        .success();
    reconcile(
        &ledger,
        "bob",
        &["item", "add"],
        "2026-01",
        &[
            "--amount",
            "2750.00",
            "--explanation",
            "Deposit in transit",
            "--expected-clear",
            "2026-02-02",
            "--reference",
            "DEP-2",
        ],
    )
    .success();
    let january = show(&ledger, "2026-01");
    assert_eq!(january["gl_balance"], "52340.00");
    assert_eq!(january["independent"]["closing"], "51090.00");
    assert_eq!(january["items_total"], "1250.00");
    assert_eq!(january["unexplained"], "0.00");

    // Evidence: kept with its SHA-256, over the cap refused with nothing written.
    let evidence = ledger.write("statement.pdf", "%PDF-1.4 the bank's January statement");
    reconcile(&ledger, "bob", &["attach"], "2026-01", &[&evidence]).success();
    let huge = ledger.write("huge.pdf", &"x".repeat(10 * 1024 * 1024 + 1));
    let refused = reconcile(&ledger, "bob", &["attach"], "2026-01", &[&huge]).failure();
    assert!(
        refused.contains("is 10485761 bytes, over the limit of 10485760 bytes (EVIDENCE_BYTES_MAX, 10 MiB)"),
        "{refused}"
    );
    assert_eq!(count(&ledger, "reconciliation_evidence"), 1);
    let saved = ledger.dir.path().join("saved.pdf");
    ledger
        .run_as(
            "carol",
            &[
                "reconcile",
                "evidence",
                "--entity",
                "ACME-US",
                "1",
                "--output",
                &saved.display().to_string(),
            ],
        )
        .success();
    assert_eq!(
        std::fs::read_to_string(&saved).unwrap(),
        "%PDF-1.4 the bank's January statement"
    );

    // The close waits for the review; the preparer may not review.
    let close = close(&ledger);
    reconcile(
        &ledger,
        "bob",
        &["prepare"],
        "2026-01",
        &["--note", "ties to the statement"],
    )
    .success();
    let waiting = ledger
        .run_as("alice", &["close", "run", "--config", &close, "--period", "2026-01"])
        .failure();
    assert!(
        waiting.contains("1 of 1 accounts of ACME-US are not reviewed for 2026-01: 1000 is prepared by bob"),
        "{waiting}"
    );
    let own = reconcile(&ledger, "bob", &["review"], "2026-01", &[]).failure();
    assert!(
        own.contains("bob prepared account 1000 of ACME-US for 2026-01: another user with close.review must review it"),
        "{own}"
    );
    let auditor = reconcile(&ledger, "carol", &["prepare"], "2026-01", &[]).failure();
    assert!(auditor.contains("close.prepare"), "{auditor}");
    reconcile(&ledger, "alice", &["review"], "2026-01", &[]).success();
    let run = ledger
        .run_as("alice", &["close", "run", "--config", &close, "--period", "2026-01"])
        .success();
    assert!(
        run.stdout.contains("1 accounts reconciled and reviewed"),
        "{}",
        run.stdout
    );
    assert_eq!(show(&ledger, "2026-01")["status"], "reviewed");

    // A February entry does not touch January's reconciliation.
    post(
        &ledger,
        "fee.csv",
        "entry,date,account,amount,description\nFEE-02,2026-02-15,1000,-120.00,Bank charges\nFEE-02,2026-02-15,6900,120.00,Bank charges\n",
    );
    assert_eq!(show(&ledger, "2026-01")["status"], "reviewed");

    // February: the opening balance must be January's closing; both items carry forward open.
    let february = ledger.write("bank-2026-02.csv", FEBRUARY);
    let gap = reconcile(
        &ledger,
        "bob",
        &["import-statement"],
        "2026-02",
        &["--opening", "51000.00", "--closing", "52130.00", &february],
    )
    .failure();
    assert!(
        gap.contains("opening balance 51000.00 is not the closing balance 51090.00 of the account's 2026-01 statement (bank-2026-01.csv)"),
        "{gap}"
    );
    reconcile(
        &ledger,
        "bob",
        &["import-statement"],
        "2026-02",
        &["--opening", "51090.00", "--closing", "52220.00", &february],
    )
    .success();
    let open = show(&ledger, "2026-02");
    assert_eq!(open["items_total"], "1250.00");
    assert_eq!(open["unexplained"], "-1250.00");
    for item in open["items"].as_array().unwrap() {
        let id = item["id"].as_i64().unwrap().to_string();
        ledger
            .run_as(
                "bob",
                &[
                    "reconcile",
                    "item",
                    "clear",
                    "--entity",
                    "ACME-US",
                    "--period",
                    "2026-02",
                    &id,
                ],
            )
            .success();
    }
    let cleared = show(&ledger, "2026-02");
    assert_eq!(cleared["gl_balance"], "52220.00");
    assert_eq!(cleared["items"].as_array().unwrap().len(), 0);
    assert_eq!(cleared["cleared"].as_array().unwrap().len(), 2);
    assert_eq!(cleared["unexplained"], "0.00");
    reconcile(&ledger, "bob", &["prepare"], "2026-02", &[]).success();
    // January still shows the items open at its end.
    assert_eq!(show(&ledger, "2026-01")["items_total"], "1250.00");

    // A late January entry to 1000 withdraws January's review and February's preparation.
    post(
        &ledger,
        "late.csv",
        "entry,date,account,amount,description\nLATE-01,2026-01-31,1000,-35.00,Card fee\nLATE-01,2026-01-31,6900,35.00,Card fee\n",
    );
    let january = show(&ledger, "2026-01");
    assert_eq!(january["status"], "unreconciled");
    let reason = january["withdrawn"].as_str().unwrap();
    assert!(
        reason.contains("entries posted to account 1000 after it was reviewed by alice: LATE-01; the GL balance was 52340.00, is 52305.00"),
        "{reason}"
    );
    assert_eq!(show(&ledger, "2026-02")["status"], "unreconciled");
    let report = ledger
        .run_as(
            "carol",
            &["reconcile", "report", "--entity", "ACME-US", "--period", "2026-01"],
        )
        .success()
        .stdout;
    assert!(
        report.contains("0 of 1 reviewed") && report.contains("unreconciled (withdrawn)") && report.contains("LATE-01"),
        "{report}"
    );
    // The close finds it, and writes nothing; the next change to the reconciliation records
    // the withdrawal in its history.
    let signoffs = count(&ledger, "reconciliation_signoffs");
    let stale = ledger
        .run_as("alice", &["close", "run", "--config", &close, "--period", "2026-01"])
        .failure();
    assert!(stale.contains("1000 is unreconciled: sign-off withdrawn"), "{stale}");
    assert_eq!(count(&ledger, "reconciliation_signoffs"), signoffs);

    // The report as CSV and HTML; a hostile explanation is escaped.
    reconcile(
        &ledger,
        "bob",
        &["item", "add"],
        "2026-01",
        &[
            "--amount",
            "-35.00",
            "--explanation",
            "<script>alert(1)</script>",
            "--expected-clear",
            "2026-02-28",
        ],
    )
    .success();
    let history = show(&ledger, "2026-01")["history"].clone();
    assert_eq!(history.as_array().unwrap().last().unwrap()["action"], "withdrawn");
    let csv = ledger
        .run(&[
            "reconcile",
            "report",
            "--entity",
            "ACME-US",
            "--period",
            "2026-01",
            "--format",
            "csv",
        ])
        .success()
        .stdout;
    assert!(
        csv.starts_with("account,name,dimensions,gl_balance,independent,source,items,unexplained,materiality,status,prepared_by,reviewed_by\n1000,Cash at bank,,52305.00,51090.00,statement: bank-2026-01.csv,1215.00,0.00,10.00,unreconciled (withdrawn),,"),
        "{csv}"
    );
    let html = ledger
        .run(&[
            "reconcile",
            "report",
            "--entity",
            "ACME-US",
            "--period",
            "2026-01",
            "--format",
            "html",
        ])
        .success()
        .stdout;
    assert!(
        html.contains("&lt;script&gt;alert(1)&lt;/script&gt;") && !html.contains("<script>"),
        "{html}"
    );
    let verified = ledger.run(&["verify"]).success().stdout;
    assert!(verified.contains("hash chain intact"), "{verified}");
}

#[test]
fn statement_and_figure_refusals_name_the_problem_and_write_nothing() {
    let ledger = ledger();
    let cases = [
        (
            "date,amount\n2026-02-01,10.00\n",
            "50000.00",
            "50010.00",
            "line 2: 2026-02-01 is outside period 2026-01 (2026-01-01 to 2026-01-31)",
        ),
        (
            "date,amount\n2026-01-10,10.00\n",
            "50000.00",
            "50020.00",
            "opening balance 50000.00 plus the 1 lines (10.00) is 50010.00, not the closing balance 50020.00",
        ),
        (
            "date,amount\n2026-01-10,10.001\n",
            "0",
            "10.00",
            "line 2: amount 10.001 has more decimals than USD's 2",
        ),
        (
            "day,value\n2026-01-10,10.00\n",
            "0",
            "10.00",
            "a statement needs a header row with date and amount columns",
        ),
        (
            "date,amount\n31/01/2026,10.00\n",
            "0",
            "10.00",
            "line 2: date `31/01/2026` is not a date like 2026-01-31",
        ),
        (
            "date,amount\n2026-01-10,10.00\n",
            "-9999999999999999999999999999",
            "0",
            "the opening balance: amount -9999999999999999999999999999 is beyond 1000000000000000, the most one journal line carries",
        ),
    ];
    for (index, (csv, opening, closing, expected)) in cases.into_iter().enumerate() {
        let file = ledger.write(&format!("bad-{index}.csv"), csv);
        let refused = reconcile(
            &ledger,
            "bob",
            &["import-statement"],
            "2026-01",
            &["--opening", opening, "--closing", closing, &file],
        )
        .failure();
        assert!(refused.contains(expected), "{csv}: {refused}");
    }
    assert_eq!(count(&ledger, "reconciliation_balances"), 0);

    // A subledger figure needs its source; with one it reconciles within 0.5 % materiality.
    ledger
        .run(&[
            "setup",
            "apply",
            &ledger.write(
                "percent.toml",
                "[[reconciliation]]\nentity = \"ACME-US\"\naccount = \"1000\"\nmateriality_percent = \"0.5\"\n",
            ),
        ])
        .success();
    let blank = reconcile(
        &ledger,
        "bob",
        &["subledger"],
        "2026-01",
        &["--balance", "52300.00", "--source", " "],
    )
    .failure();
    assert!(blank.contains("a subledger figure needs its source"), "{blank}");
    let unknown = ledger
        .run_as(
            "bob",
            &[
                "reconcile",
                "show",
                "--entity",
                "ACME-US",
                "--account",
                "1999",
                "--period",
                "2026-01",
            ],
        )
        .failure();
    assert!(
        unknown.contains("account 1999 is not in the chart of entity ACME-US"),
        "{unknown}"
    );
    let misspelt = reconcile(&ledger, "bob", &["show"], "2026-01", &["--dimension", "depratment=100"]).failure();
    assert!(
        misspelt.contains("dimension `depratment` does not exist (the dimensions are department, partner)"),
        "{misspelt}"
    );
    assert_eq!(count(&ledger, "reconciliation_balances"), 0);
    // 52,340.00 − 52,300.00 = 40.00, within 0.5 % of 52,340.00 (261.70).
    reconcile(
        &ledger,
        "bob",
        &["subledger"],
        "2026-01",
        &["--balance", "52300.00", "--source", "Treasury system balance 31 Jan"],
    )
    .success();
    let prepared = reconcile(&ledger, "bob", &["prepare"], "2026-01", &[]).success();
    assert!(
        prepared
            .stdout
            .contains("unexplained: 40.00 (materiality 0.5 % of the GL balance: 261.70)"),
        "{}",
        prepared.stdout
    );
    // Whoever entered the figure may not review it either.
    let contributor = reconcile(&ledger, "bob", &["review"], "2026-01", &[]).failure();
    assert!(
        contributor.contains("another user with close.review must review it"),
        "{contributor}"
    );
    // A changed figure withdraws the preparation.
    reconcile(
        &ledger,
        "alice",
        &["subledger"],
        "2026-01",
        &["--balance", "52340.00", "--source", "Treasury system, corrected"],
    )
    .success();
    let withdrawn = show(&ledger, "2026-01");
    assert_eq!(withdrawn["status"], "unreconciled");
    assert!(
        withdrawn["withdrawn"]
            .as_str()
            .unwrap()
            .contains("its statement, subledger figure or reconciling items changed after it was prepared by bob"),
        "{withdrawn}"
    );
}

#[test]
fn a_statement_opens_at_the_previous_statements_close_even_when_a_figure_replaced_it_and_a_clearer_does_not_review() {
    let ledger = ledger();
    let january = ledger.write("bank-2026-01.csv", JANUARY);
    reconcile(
        &ledger,
        "bob",
        &["import-statement"],
        "2026-01",
        &["--opening", "50000.00", "--closing", "51090.00", &january],
    )
    .success();
    // A subledger figure replaces January's statement as the independent balance; February's
    // statement still opens at the statement's closing balance.
    reconcile(
        &ledger,
        "bob",
        &["subledger"],
        "2026-01",
        &["--balance", "51090.00", "--source", "treasury"],
    )
    .success();
    let again = reconcile(
        &ledger,
        "bob",
        &["subledger"],
        "2026-01",
        &["--balance", "51090.00", "--source", "treasury"],
    )
    .success();
    assert!(
        again.stdout.contains("is entered already: nothing changed"),
        "{}",
        again.stdout
    );
    let february = ledger.write("bank-2026-02.csv", FEBRUARY);
    reconcile(
        &ledger,
        "bob",
        &["import-statement"],
        "2026-02",
        &["--opening", "51090.00", "--closing", "52220.00", &february],
    )
    .success();

    // alice clears January's item in January; bob prepares; alice, who changed the figures, may
    // not review.
    reconcile(
        &ledger,
        "bob",
        &["item", "add"],
        "2026-01",
        &[
            "--amount",
            "1250.00",
            "--explanation",
            "Difference under investigation",
            "--expected-clear",
            "2026-02-28",
        ],
    )
    .success();
    let id = show(&ledger, "2026-01")["items"][0]["id"].as_i64().unwrap().to_string();
    ledger
        .run_as(
            "alice",
            &[
                "reconcile",
                "item",
                "clear",
                "--entity",
                "ACME-US",
                "--period",
                "2026-01",
                &id,
            ],
        )
        .success();
    reconcile(
        &ledger,
        "bob",
        &["subledger"],
        "2026-01",
        &["--balance", "52340.00", "--source", "treasury, corrected"],
    )
    .success();
    reconcile(&ledger, "bob", &["prepare"], "2026-01", &[]).success();
    let refused = reconcile(&ledger, "alice", &["review"], "2026-01", &[]).failure();
    assert!(
        refused.contains("alice cleared reconciling item 1 of account 1000 of ACME-US for 2026-01 in 2026-01: another user with close.review must review it"),
        "{refused}"
    );
}

#[test]
fn a_v0_2_step_reads_the_statement_and_proposes_reconciling_items_and_findings() {
    // The demo's January: GL 1000 has +25,000.00, −30,000.00 and the rent cheque −4,500.00;
    // the statement has the first two and a bank fee of −35.00. The step proposes −4,500.00
    // (in the ledger only) and +35.00 (on the statement only), which explain the difference:
    // 244,965.00 − 4,465.00 = 240,500.00.
    let ledger = Ledger::with_demo_journals();
    let statement = ledger.write(
        "bank.csv",
        "date,amount,reference,description\n2026-01-12,25000.00,TRF-1,Contoso\n2026-01-26,-30000.00,PAY-1,Salaries\n2026-01-31,-35.00,FEE,Bank fee\n",
    );
    reconcile(
        &ledger,
        "bob",
        &["import-statement"],
        "2026-01",
        &["--opening", "250000.00", "--closing", "244965.00", &statement],
    )
    .success();
    let step = closebook_tests::plugin_wasm("guest_statement_items")
        .display()
        .to_string();
    let inspected = ledger.run(&["plugin", "inspect", &step]).success().stdout;
    assert!(inspected.contains("interface version: 0.2.0"), "{inspected}");
    let arguments = [
        "plugin",
        "run",
        &step,
        "--entity",
        "ACME-US",
        "--period",
        "2026-01",
        "--config",
        r#"{"account": "1000"}"#,
    ];
    let dry = ledger.run_as("bob", &arguments).success().stdout;
    assert!(
        dry.contains("reconciling item in ACME-US account 1000 for 2026-01: -4,500.00, in the ledger, not on the statement: US-GL-002 January rent")
            && dry.contains("reconciling item in ACME-US account 1000 for 2026-01: 35.00, on the statement, not in the ledger: Bank fee")
            && dry.contains("finding in ACME-US account 1000: statement line without a ledger line -35.00 against 0, any amount, to be explained: statement line 4 (FEE) has no ledger line"),
        "{dry}"
    );
    assert_eq!(count(&ledger, "reconciling_items"), 0, "a dry run records nothing");
    let posted = ledger
        .run_as("bob", &[&arguments[..], &["--post"]].concat())
        .success()
        .stdout;
    assert!(
        posted.contains("and recorded 2 reconciling items as run statement-items-ACME-US-2026-01"),
        "{posted}"
    );
    let january = show(&ledger, "2026-01");
    assert_eq!(january["unexplained"], "0.00", "{january}");
    let items = january["items"].as_array().unwrap();
    assert_eq!(items.len(), 2);
    assert!(items.iter().all(|item| {
        item["run_id"]
            .as_str()
            .unwrap()
            .starts_with("statement-items-ACME-US-2026-01")
    }));

    // A step may only read what the reconciliation commands accept: an unknown account is a
    // query error it reports, and nothing is recorded.
    let refused = ledger
        .run_as(
            "bob",
            &[
                "plugin",
                "run",
                &step,
                "--entity",
                "ACME-US",
                "--period",
                "2026-01",
                "--config",
                r#"{"account": "1999"}"#,
                "--post",
            ],
        )
        .failure();
    assert!(
        refused.contains("account 1999 is not in the chart of entity ACME-US"),
        "{refused}"
    );
    assert_eq!(count(&ledger, "reconciling_items"), 2);
}

#[test]
fn bank_match_explains_january_and_clears_the_cheque_on_februarys_statement() {
    // The demo's bank account 1000. January: the statement has +25,000.00 (the 12th) and
    // −30,000.00 (the 26th); the ledger also has rent cheque US-GL-002, −4,500.00 on the 28th.
    // February: the statement shows the cheque on the 4th, −12,000.00, +30,000.00, −30,000.00
    // and a bank fee of −35.00 the ledger lacks; the ledger's February rent cheque (−4,500.00,
    // the 26th) is not on it. GL 224,000.00 = statement 228,465.00 + 35.00 − 4,500.00.
    let ledger = Ledger::with_demo_journals();
    let demo = closebook_tests::demo_dir();
    let january = demo.join("bank-us-2026-01.csv").display().to_string();
    reconcile(
        &ledger,
        "bob",
        &["import-statement"],
        "2026-01",
        &["--opening", "250000.00", "--closing", "245000.00", &january],
    )
    .success();
    let step = closebook_tests::plugin_wasm("bank_match").display().to_string();
    let run = |period: &str| {
        ledger
            .run_as(
                "bob",
                &[
                    "plugin",
                    "run",
                    &step,
                    "--entity",
                    "ACME-US",
                    "--period",
                    period,
                    "--config",
                    r#"{"account": "1000"}"#,
                    "--post",
                ],
            )
            .success()
            .stdout
    };
    let posted = run("2026-01");
    assert!(
        posted.contains("reconciling item in ACME-US account 1000 for 2026-01: -4,500.00, in the ledger, not on the statement: US-GL-002 January rent (2026-01-28, line ")
            && posted.contains("account 1000: 2 of 2 statement lines matched (0 by reference), 0 carried items cleared, 1 reconciling items proposed")
            && posted.contains("and recorded 1 reconciling items"),
        "{posted}"
    );
    assert_eq!(show(&ledger, "2026-01")["unexplained"], "0.00");
    // Run again, it records nothing twice.
    run("2026-01");
    assert_eq!(count(&ledger, "reconciling_items"), 1);

    let february = ledger.write(
        "bank-2026-02.csv",
        "date,amount,reference,description\n2026-02-04,-4500.00,CHQ-1187,Cheque 1187\n2026-02-11,-12000.00,PO-501,Supplier\n2026-02-13,30000.00,TRF-9,Northwind\n2026-02-25,-30000.00,PAYROLL,Salaries\n2026-02-27,-35.00,FEE,Account fee\n",
    );
    reconcile(
        &ledger,
        "bob",
        &["import-statement"],
        "2026-02",
        &["--opening", "245000.00", "--closing", "228465.00", &february],
    )
    .success();
    let posted = run("2026-02");
    assert!(
        posted.contains("clear reconciling item 1 of ACME-US in 2026-02: statement line 2 (2026-02-04, CHQ-1187)")
            && posted.contains("finding in ACME-US account 1000: statement line 6 without a ledger line -35.00 against 0")
            && posted.contains("account 1000: 3 of 5 statement lines matched (1 by reference), 1 carried items cleared, 2 reconciling items proposed")
            && posted.contains("recorded 2 reconciling items and cleared 1"),
        "{posted}"
    );
    let reconciled = show(&ledger, "2026-02");
    assert_eq!(reconciled["gl_balance"], "224000.00");
    assert_eq!(reconciled["items_total"], "-4465.00");
    assert_eq!(reconciled["unexplained"], "0.00", "{reconciled}");
    assert_eq!(reconciled["cleared"][0]["reference"], "US-GL-002");
    // Run again (a rerun of the close), February records and clears nothing more.
    let again = run("2026-02");
    assert!(again.contains("posted 0 entries and 0 settlements as run"), "{again}");
    assert_eq!(count(&ledger, "reconciling_items"), 3);
    assert_eq!(count(&ledger, "reconciling_item_clearings"), 1);
    assert_eq!(show(&ledger, "2026-02")["unexplained"], "0.00");
    // January keeps its cheque open at its end.
    assert_eq!(show(&ledger, "2026-01")["items_total"], "-4500.00");
}

#[test]
fn the_other_reconciliation_refusals_name_the_fix_and_write_nothing() {
    let ledger = ledger();
    let tables = [
        "reconciliation_balances",
        "reconciling_items",
        "reconciling_item_clearings",
        "reconciliation_evidence",
        "reconciliation_signoffs",
    ];
    let counts = |ledger: &Ledger| tables.map(|table| count(ledger, table));
    let refused = |run: closebook_tests::Run, expected: &str, before: [i64; 5]| {
        let message = run.failure();
        assert!(message.contains(expected), "expected {expected:?} in: {message}");
        assert_eq!(counts(&ledger), before, "{expected}: something was written");
    };
    let before = counts(&ledger);
    refused(
        reconcile(&ledger, "bob", &["prepare"], "2026-01", &[]),
        "account 1000 of ACME-US for 2026-01 has no independent balance to reconcile with: import the bank statement (`closebook reconcile import-statement --entity ACME-US --account 1000 --period 2026-01 FILE`)",
        before,
    );
    refused(
        reconcile(&ledger, "alice", &["review"], "2026-01", &[]),
        "has no independent balance to reconcile with",
        before,
    );
    let item = |amount: &str, explanation: &str| {
        reconcile(
            &ledger,
            "bob",
            &["item", "add"],
            "2026-01",
            &[
                "--amount",
                amount,
                "--explanation",
                explanation,
                "--expected-clear",
                "2026-02-10",
            ],
        )
    };
    refused(
        item("0.00", "nothing"),
        "a reconciling item of 0 explains nothing",
        before,
    );
    refused(
        item("10.00", "  "),
        "a reconciling item needs an explanation: give --explanation",
        before,
    );
    refused(
        ledger.run_as(
            "bob",
            &[
                "reconcile",
                "item",
                "clear",
                "--entity",
                "ACME-US",
                "--period",
                "2026-01",
                "99",
            ],
        ),
        "entity ACME-US has no reconciling item 99: `closebook reconcile show` lists an account's items with their ids",
        before,
    );
    let empty = ledger.write("empty.pdf", "");
    refused(
        reconcile(&ledger, "bob", &["attach"], "2026-01", &[&empty]),
        "evidence file empty.pdf is empty: attach the file that supports the reconciliation",
        before,
    );
    let latin1 = ledger.dir.path().join("latin1.csv");
    std::fs::write(&latin1, b"date,amount,description\n2026-01-10,10.00,Caf\xe9\n").unwrap();
    refused(
        reconcile(
            &ledger,
            "bob",
            &["import-statement"],
            "2026-01",
            &["--opening", "0", "--closing", "10.00", &latin1.display().to_string()],
        ),
        "the statement is not UTF-8 text: export it as CSV in UTF-8",
        before,
    );
    let big = ledger.write("big.csv", &"x".repeat(16 * 1024 * 1024 + 1));
    refused(
        reconcile(
            &ledger,
            "bob",
            &["import-statement"],
            "2026-01",
            &["--opening", "0", "--closing", "0", &big],
        ),
        "the statement is 16777217 bytes, over the limit of 16777216 (STATEMENT_BYTES_MAX): split it by period",
        before,
    );
    let many = ledger.write(
        "many.csv",
        &format!("date,amount\n{}", "2026-01-10,0.01\n".repeat(200_001)),
    );
    refused(
        reconcile(
            &ledger,
            "bob",
            &["import-statement"],
            "2026-01",
            &["--opening", "0", "--closing", "2000.01", &many],
        ),
        "the statement has more than 200000 lines (STATEMENT_LINES_MAX): split it by period",
        before,
    );

    // With a statement and an item: a second preparation, a review before preparation, a
    // clearing in an earlier period or twice, and an evidence download over an existing file.
    let statement = ledger.write("bank-2026-01.csv", JANUARY);
    reconcile(
        &ledger,
        "bob",
        &["import-statement"],
        "2026-01",
        &["--opening", "50000.00", "--closing", "51090.00", &statement],
    )
    .success();
    item("1250.00", "Deposits in transit").success();
    refused(
        reconcile(&ledger, "alice", &["review"], "2026-01", &[]),
        "is unreconciled: only a prepared reconciliation is reviewed; its preparer signs it off with `closebook reconcile prepare --entity ACME-US --account 1000 --period 2026-01`",
        counts(&ledger),
    );
    reconcile(&ledger, "bob", &["prepare"], "2026-01", &[]).success();
    refused(
        reconcile(&ledger, "bob", &["prepare"], "2026-01", &[]),
        "account 1000 of ACME-US for 2026-01 is prepared by bob (identity declared, unverified) already: nothing to prepare",
        counts(&ledger),
    );
    reconcile(
        &ledger,
        "bob",
        &["item", "add"],
        "2026-02",
        &[
            "--amount",
            "5.00",
            "--explanation",
            "February item",
            "--expected-clear",
            "2026-03-10",
        ],
    )
    .success();
    let february_item = show(&ledger, "2026-02")["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|item| item["period"] == "2026-02")
        .unwrap()["id"]
        .as_i64()
        .unwrap()
        .to_string();
    refused(
        ledger.run_as(
            "bob",
            &[
                "reconcile",
                "item",
                "clear",
                "--entity",
                "ACME-US",
                "--period",
                "2026-01",
                &february_item,
            ],
        ),
        &format!(
            "reconciling item {february_item} was opened in 2026-02, so it cannot clear in the earlier period 2026-01"
        ),
        counts(&ledger),
    );
    ledger
        .run_as(
            "bob",
            &[
                "reconcile",
                "item",
                "clear",
                "--entity",
                "ACME-US",
                "--period",
                "2026-02",
                &february_item,
            ],
        )
        .success();
    refused(
        ledger.run_as(
            "bob",
            &[
                "reconcile",
                "item",
                "clear",
                "--entity",
                "ACME-US",
                "--period",
                "2026-03",
                &february_item,
            ],
        ),
        &format!("reconciling item {february_item} cleared in 2026-02 already"),
        counts(&ledger),
    );
    let evidence = ledger.write("statement.pdf", "the statement");
    reconcile(&ledger, "bob", &["attach"], "2026-01", &[&evidence]).success();
    let existing = ledger.write("existing.pdf", "keep me");
    let message = ledger
        .run_as(
            "carol",
            &[
                "reconcile",
                "evidence",
                "--entity",
                "ACME-US",
                "1",
                "--output",
                &existing,
            ],
        )
        .failure();
    assert!(
        message.contains("an existing file is not overwritten: choose another path or remove it"),
        "{message}"
    );
    assert_eq!(std::fs::read_to_string(&existing).unwrap(), "keep me");
}

#[test]
fn bank_match_as_a_reviewed_close_task_shows_its_items_before_they_are_recorded() {
    // A reviewer approves what they can see: bank-match run by the close with `review = true`
    // records January's outstanding rent cheque (−4,500.00) only when alice reviews it, and
    // `close show` lists the item first.
    use sha2::{Digest, Sha256};
    let ledger = Ledger::with_demo_journals();
    let january = closebook_tests::demo_dir()
        .join("bank-us-2026-01.csv")
        .display()
        .to_string();
    reconcile(
        &ledger,
        "bob",
        &["import-statement"],
        "2026-01",
        &["--opening", "250000.00", "--closing", "245000.00", &january],
    )
    .success();
    let wasm = closebook_tests::plugin_wasm("bank_match");
    let hash = hex::encode(Sha256::digest(std::fs::read(&wasm).unwrap()));
    let config = ledger.write(
        "bank.toml",
        &format!(
            r#"[close]
name = "bank"
entities = ["ACME-US"]
[plugins]
bank-match = {{ path = "{}", sha256 = "{hash}" }}
[[task]]
id = "bank-match"
name = "Match the bank statement"
owner = "bob"
reviewer = "alice"
step = "plugin:bank-match"
review = true
config = {{ account = "1000" }}
"#,
            wasm.display()
        ),
    );
    let close = |user: &str, command: &str, rest: &[&str]| {
        let mut arguments = vec!["close", command, "--config", &config, "--period", "2026-01"];
        if command != "run" {
            arguments.extend(["--entity", "ACME-US", "--task", "bank-match"]);
        }
        arguments.extend(rest);
        ledger.run_as(user, &arguments)
    };
    close("bob", "run", &[]).success();
    let view = close("alice", "show", &["--format", "json"]).success().json();
    assert_eq!(view["status"], "awaiting-review");
    assert_eq!(view["proposed_items"][0]["amount"], "-4500.00", "{view}");
    assert_eq!(view["proposed_items"][0]["account"], "1000");
    let table = close("alice", "show", &[]).success().stdout;
    assert!(
        table.contains("1 proposed reconciling items, 0 clearings") && table.contains("US-GL-002 January rent"),
        "{table}"
    );
    assert_eq!(
        count(&ledger, "reconciling_items"),
        0,
        "nothing is recorded before the review"
    );
    close("alice", "signoff", &["--review"]).success();
    assert_eq!(count(&ledger, "reconciling_items"), 1);
    assert_eq!(show(&ledger, "2026-01")["unexplained"], "0.00");
}
