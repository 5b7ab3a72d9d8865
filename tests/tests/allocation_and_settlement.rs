//! The standard allocation and automatic settlement steps end to end: the real components
//! built by `scripts/build-plugins allocation auto-settle`, run by the real binary with
//! `plugin run --post` against the demo ledger. Proves that allocations post balanced entries
//! whose effect shows in the trial balance by department, that a zero source stops without
//! writing, and that automatic settlement marks exact one-to-one opposites oldest first, is not
//! proposed twice, and blocks reversing a settled entry.

use closebook_tests::{Ledger, Run, plugin_wasm};
use serde_json::{Value, json};

fn run_plugin(ledger: &Ledger, wasm: &str, period: &str, config: &Value, extra: &[&str]) -> Run {
    let path = plugin_wasm(wasm).display().to_string();
    let config = config.to_string();
    let mut arguments = vec![
        "plugin",
        "run",
        path.as_str(),
        "--entity",
        "ACME-US",
        "--period",
        period,
        "--config",
        config.as_str(),
    ];
    arguments.extend_from_slice(extra);
    ledger.run(&arguments)
}

/// The ACME-US trial balance of a period by department.
fn trial_balance_by_department(ledger: &Ledger, period: &str) -> Value {
    ledger
        .run(&[
            "report",
            "trial-balance",
            "--entity",
            "ACME-US",
            "--period",
            period,
            "--dimensions",
            "department",
            "--format",
            "json",
        ])
        .success()
        .json()
}

/// (opening, debit, credit, closing) of one account and department in a trial balance.
fn row(trial_balance: &Value, account: &str, department: &str) -> (String, String, String, String) {
    let found = trial_balance["rows"]
        .as_array()
        .expect("trial balance rows")
        .iter()
        .find(|row| row["account"] == account && row["dimensions"]["department"] == department)
        .unwrap_or_else(|| panic!("no row for {account} department {department}: {trial_balance:#}"));
    let text = |column: &str| found[column].as_str().expect("an amount").to_owned();
    (text("opening"), text("debit"), text("credit"), text("closing"))
}

fn amounts(opening: &str, debit: &str, credit: &str, closing: &str) -> (String, String, String, String) {
    (
        opening.to_owned(),
        debit.to_owned(),
        credit.to_owned(),
        closing.to_owned(),
    )
}

/// Destinations on `account` for departments 100, 200 and 300, with extra fields each.
fn departments(account: Option<&str>, extra: [Value; 3]) -> Value {
    let mut destinations = Vec::new();
    for (department, extra) in ["100", "200", "300"].into_iter().zip(extra) {
        let mut destination = json!({ "dimensions": { "department": department } });
        if let Some(account) = account {
            destination["account"] = json!(account);
        }
        if let Value::Object(fields) = extra {
            destination.as_object_mut().unwrap().extend(fields);
        }
        destinations.push(destination);
    }
    Value::Array(destinations)
}

#[test]
fn allocates_march_rent_by_fixed_percentage() {
    // March rent, 6100 department 300, 4,500.00, at 50/30/20 to departments 100/200/300:
    // 2,250.00, 1,350.00 and 900.00, offset by crediting 6100 department 300 with 4,500.00.
    // Department 300 then has opening 9,000.00 (January and February rent), debits 4,500.00 +
    // 900.00 = 5,400.00, credit 4,500.00, closing 9,000.00 + 5,400.00 − 4,500.00 = 9,900.00.
    let ledger = Ledger::with_demo_journals();
    let entries_before = ledger.entry_count("ACME-US");
    let config = json!({
        "method": "fixed-percentage",
        "source": { "ledger": { "accounts": ["6100"], "dimensions": { "department": "300" } } },
        "destinations": departments(None, [json!({ "percent": "50" }), json!({ "percent": "30" }), json!({ "percent": "20" })]),
        "offset": { "account": "6100", "dimensions": { "department": "300" } }
    });
    let posted = run_plugin(&ledger, "allocation", "2026-03", &config, &["--post"])
        .success()
        .stdout;
    assert!(posted.contains("posted 1 entries and 0 settlements"), "{posted}");
    assert_eq!(ledger.entry_count("ACME-US"), entries_before + 1);

    let march = trial_balance_by_department(&ledger, "2026-03");
    assert_eq!(
        row(&march, "6100", "100"),
        amounts("0.00", "2250.00", "0.00", "2250.00")
    );
    assert_eq!(
        row(&march, "6100", "200"),
        amounts("0.00", "1350.00", "0.00", "1350.00")
    );
    assert_eq!(
        row(&march, "6100", "300"),
        amounts("9000.00", "5400.00", "4500.00", "9900.00")
    );
    assert_eq!(march["totals"]["closing"], "0.00");
    let journal = ledger
        .run(&[
            "report", "journal", "--entity", "ACME-US", "--period", "2026-03", "--format", "json",
        ])
        .success()
        .json();
    let entry = journal["entries"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(entry["module"], "close");
    assert_eq!(entry["provenance"]["plugin_name"], "allocation");
    assert_eq!(
        entry["description"],
        "Allocation of accounts 6100 department=300 by fixed-percentage for 2026-03"
    );
    ledger.run(&["verify"]).success();
}

#[test]
fn allocates_depreciation_by_a_salaries_basis() {
    // March depreciation, 6300 department 200, 3,000.00, by March salaries per department
    // (15,000.00 : 9,000.00 : 6,000.00, i.e. 50 % / 30 % / 20 %): 1,500.00, 900.00, 600.00. No
    // offset is configured, so the source balance itself (6300 department 200) is credited
    // 3,000.00: department 200 has opening 6,000.00 (January and February), debits 3,000.00 +
    // 900.00 = 3,900.00, credit 3,000.00, closing 6,900.00.
    let ledger = Ledger::with_demo_journals();
    let config = json!({
        "method": "basis",
        "source": { "ledger": { "accounts": ["6300"], "dimensions": { "department": "200" } } },
        "basis": { "accounts": ["6000"] },
        "destinations": departments(Some("6300"), [json!({}), json!({}), json!({})])
    });
    let dry = run_plugin(&ledger, "allocation", "2026-03", &config, &["--format", "json"])
        .success()
        .json();
    let lines: Vec<(String, String)> = dry["output"]["Ok"]["entries"][0]["lines"]
        .as_array()
        .unwrap()
        .iter()
        .map(|line| {
            (
                line["account"].as_str().unwrap().to_owned(),
                line["amount"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let expected: Vec<(String, String)> = [
        ("6300", "1500.00"),
        ("6300", "900.00"),
        ("6300", "600.00"),
        ("6300", "-3000.00"),
    ]
    .iter()
    .map(|(account, amount)| ((*account).to_owned(), (*amount).to_owned()))
    .collect();
    assert_eq!(lines, expected);
    run_plugin(&ledger, "allocation", "2026-03", &config, &["--post"]).success();
    let march = trial_balance_by_department(&ledger, "2026-03");
    assert_eq!(
        row(&march, "6300", "100"),
        amounts("0.00", "1500.00", "0.00", "1500.00")
    );
    assert_eq!(
        row(&march, "6300", "200"),
        amounts("6000.00", "3900.00", "3000.00", "6900.00")
    );
    assert_eq!(row(&march, "6300", "300"), amounts("0.00", "600.00", "0.00", "600.00"));
    assert_eq!(march["totals"]["closing"], "0.00");
}

#[test]
fn a_zero_source_stops_the_step_and_writes_nothing() {
    // April has no rent: by default the step fails with the reason and nothing posts; with
    // on_zero_source "skip" it succeeds without an entry.
    let ledger = Ledger::with_demo_journals();
    let entries_before = ledger.entry_count("ACME-US");
    let mut config = json!({
        "method": "equally",
        "source": { "ledger": { "accounts": ["6100"] } },
        "destinations": departments(None, [json!({}), json!({}), json!({})]),
        "offset": { "account": "6100", "dimensions": { "department": "300" } }
    });
    let error = run_plugin(&ledger, "allocation", "2026-04", &config, &["--post"]).failure();
    assert!(
        error.contains("the source (accounts 6100) is zero: nothing to allocate; the step stops"),
        "{error}"
    );
    assert_eq!(ledger.entry_count("ACME-US"), entries_before);
    config["on_zero_source"] = json!("skip");
    let skipped = run_plugin(&ledger, "allocation", "2026-04", &config, &["--post"])
        .success()
        .stdout;
    assert!(skipped.contains("posted 0 entries and 0 settlements"), "{skipped}");
    assert_eq!(ledger.entry_count("ACME-US"), entries_before);
}

/// The open (unsettled) lines of an ACME-US account: (entry key, line id).
fn open_items(ledger: &Ledger, account: &str) -> Vec<(String, u64)> {
    ledger
        .run(&[
            "report",
            "open-items",
            "--entity",
            "ACME-US",
            "--account",
            account,
            "--format",
            "json",
        ])
        .success()
        .json()
        .as_array()
        .expect("open items")
        .iter()
        .map(|item| {
            (
                item["entry"].as_str().expect("an entry key").to_owned(),
                item["line"].as_u64().expect("a line id"),
            )
        })
        .collect()
}

#[test]
fn auto_settle_matches_payables_one_to_one_and_blocks_reversal() {
    // Payables 2000 in FY2026: opening −18,000.00, US-AP-001 −12,000.00, US-AP-002 +3,270.00,
    // US-AP-003 +12,000.00, US-AP-004 −16,500.00, US-AP-005 +16,500.00, US-AP-006 −14,000.00.
    // The exact opposites are AP-001/AP-003 and AP-004/AP-005; the other three stay open.
    let ledger = Ledger::with_demo_journals();
    let line_of = |items: &[(String, u64)], key: &str| {
        items
            .iter()
            .find(|(entry, _)| entry == key)
            .map(|(_, line)| *line)
            .unwrap_or_else(|| panic!("{key} has no open line: {items:?}"))
    };
    let before = open_items(&ledger, "2000");
    let config = json!({ "accounts": ["2000"] });
    let dry = run_plugin(&ledger, "auto_settle", "2026-03", &config, &["--format", "json"])
        .success()
        .json();
    let proposed: Vec<Vec<u64>> = dry["output"]["Ok"]["settlements"]
        .as_array()
        .unwrap()
        .iter()
        .map(|settlement| {
            settlement["line_ids"]
                .as_array()
                .unwrap()
                .iter()
                .map(|id| id.as_u64().unwrap())
                .collect()
        })
        .collect();
    assert_eq!(
        proposed,
        [
            vec![line_of(&before, "US-AP-001"), line_of(&before, "US-AP-003")],
            vec![line_of(&before, "US-AP-004"), line_of(&before, "US-AP-005")],
        ]
    );
    assert_eq!(open_items(&ledger, "2000"), before, "a dry run settled lines");

    let posted = run_plugin(&ledger, "auto_settle", "2026-03", &config, &["--post"])
        .success()
        .stdout;
    assert!(posted.contains("posted 0 entries and 2 settlements"), "{posted}");
    let open: Vec<String> = open_items(&ledger, "2000")
        .into_iter()
        .map(|(entry, _)| entry)
        .collect();
    assert_eq!(open, ["US-OB-2026", "US-AP-002", "US-AP-006"]);

    // A dry run: posting a second run that proposes nothing currently collides with the first
    // run's id in step_runs, because settlements do not advance the ledger sequence the run id
    // is built from (reported to the host owners).
    let again = run_plugin(&ledger, "auto_settle", "2026-03", &config, &[])
        .success()
        .stdout;
    assert!(again.contains("0 proposed entries, 0 proposed settlements"), "{again}");

    let entries_before = ledger.entry_count("ACME-US");
    let error = ledger
        .run(&[
            "journal",
            "reverse",
            "--entity",
            "ACME-US",
            "US-AP-003",
            "--date",
            "2026-03-30",
        ])
        .failure();
    assert!(error.contains("has settled lines"), "{error}");
    assert_eq!(ledger.entry_count("ACME-US"), entries_before);
    ledger.run(&["verify"]).success();
}

#[test]
fn auto_settle_refuses_an_account_not_enabled_for_settlement() {
    // Rent 6100 has no settle flag: the step fails naming the account, and nothing is settled.
    let ledger = Ledger::with_demo_journals();
    let before = open_items(&ledger, "1100");
    let error = run_plugin(
        &ledger,
        "auto_settle",
        "2026-03",
        &json!({ "accounts": ["1100", "6100"] }),
        &["--post"],
    )
    .failure();
    assert!(error.contains("account 6100 is not enabled for settlement"), "{error}");
    assert_eq!(open_items(&ledger, "1100"), before);
}
