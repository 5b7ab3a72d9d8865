//! Manual ledger settlement through the binary: lines that net to zero settle, a settled
//! entry cannot be reversed until its settlement is reversed, and every refusal writes nothing.

use closebook_tests::Ledger;
use serde_json::Value;

/// The open items of an account as (line id, entry key, accounting amount).
fn open_items(ledger: &Ledger, account: &str) -> Vec<(i64, String, String)> {
    let items = ledger
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
        .json();
    items
        .as_array()
        .unwrap()
        .iter()
        .map(|item: &Value| {
            (
                item["line"].as_i64().unwrap(),
                item["entry"].as_str().unwrap().to_owned(),
                item["accounting_amount"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

fn line_of(items: &[(i64, String, String)], entry: &str) -> String {
    items
        .iter()
        .find(|(_, key, _)| key == entry)
        .map(|(id, _, _)| id.to_string())
        .unwrap_or_else(|| panic!("no open item of {entry}"))
}

#[test]
fn settled_lines_leave_the_open_items_and_block_reversal_until_unsettled() {
    // Proves the settlement rules of DOMAIN.md section 5 on the demo's payables account.
    let ledger = Ledger::with_demo_journals();
    let items = open_items(&ledger, "2000");
    assert_eq!(items.len(), 7, "the opening balance and six payables lines: {items:?}");
    // Purchase PO-501 (-12,000.00) and its payment (+12,000.00) net to zero.
    let purchase = line_of(&items, "US-AP-001");
    let payment = line_of(&items, "US-AP-003");
    let count = ledger.entry_count("ACME-US");
    let run = ledger
        .run(&["settle", "mark", "--entity", "ACME-US", &purchase, &payment])
        .success();
    assert!(run.stdout.contains("as settlement 1"), "{}", run.stdout);
    assert_eq!(ledger.entry_count("ACME-US"), count, "settling posts no entry");
    let remaining = open_items(&ledger, "2000");
    assert_eq!(remaining.len(), 5);
    let stderr = ledger
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
    assert!(
        stderr.contains("entry US-AP-003 has settled lines; reverse its settlement first"),
        "{stderr}"
    );
    let stderr = ledger
        .run(&[
            "settle",
            "mark",
            "--entity",
            "ACME-US",
            &purchase,
            &line_of(&remaining, "US-AP-004"),
        ])
        .failure();
    assert!(
        stderr.contains(&format!("line {purchase} is already settled by settlement 1")),
        "{stderr}"
    );
    ledger
        .run(&["settle", "unsettle", "--entity", "ACME-US", "1"])
        .success();
    let stderr = ledger
        .run(&["settle", "unsettle", "--entity", "ACME-US", "1"])
        .failure();
    assert!(stderr.contains("settlement 1 is already reversed"), "{stderr}");
    assert_eq!(open_items(&ledger, "2000").len(), 7);
    ledger
        .run(&[
            "journal",
            "reverse",
            "--entity",
            "ACME-US",
            "US-AP-003",
            "--date",
            "2026-03-30",
        ])
        .success();
    let audit = ledger
        .run(&["audit", "--entity", "ACME-US", "--format", "json"])
        .success()
        .json();
    let actions: Vec<&str> = audit
        .as_array()
        .unwrap()
        .iter()
        .map(|record| record["action"].as_str().unwrap())
        .collect();
    assert!(
        actions.ends_with(&["settle.mark", "settle.unsettle", "journal.reverse"]),
        "{actions:?}"
    );
}

#[test]
fn settlements_that_do_not_net_to_zero_or_leave_their_account_are_refused() {
    // Proves each settlement refusal names its reason and writes nothing.
    let ledger = Ledger::with_demo_journals();
    let items = open_items(&ledger, "2000");
    let purchase = line_of(&items, "US-AP-001");
    let other_purchase = line_of(&items, "US-AP-004");
    let stderr = ledger
        .run(&["settle", "mark", "--entity", "ACME-US", &purchase, &other_purchase])
        .failure();
    assert!(
        stderr.contains("the lines sum to -28500.00 in accounting currency, not zero"),
        "{stderr}"
    );
    let receivable = open_items(&ledger, "1100")[0].0.to_string();
    let stderr = ledger
        .run(&["settle", "mark", "--entity", "ACME-US", &purchase, &receivable])
        .failure();
    assert!(stderr.contains("a settlement stays on one account"), "{stderr}");
    let stderr = ledger
        .run(&["settle", "mark", "--entity", "ACME-DE", &purchase, &other_purchase])
        .failure();
    assert!(stderr.contains("belongs to entity ACME-US, not ACME-DE"), "{stderr}");
    assert_eq!(open_items(&ledger, "2000").len(), 7);
    let stderr = ledger
        .run(&[
            "report",
            "open-items",
            "--entity",
            "ACME-US",
            "--account",
            "1000",
            "--format",
            "json",
        ])
        .success()
        .stdout;
    assert!(stderr.starts_with('['));
}

#[test]
fn a_step_settles_lines_of_a_period_on_hold_which_keeps_its_balances() {
    // Proves the choice written in README's accounting rules (issue 17): settling marks posted
    // lines as matched and posts no amount, so a March step may settle January and February
    // lines while those periods are on hold; their balances do not change. Only a closed year
    // refuses settlement (DOMAIN.md section 5).
    let ledger = Ledger::with_demo_journals();
    let items = open_items(&ledger, "2000");
    let purchase: u64 = line_of(&items, "US-AP-001").parse().unwrap();
    let payment: u64 = line_of(&items, "US-AP-003").parse().unwrap();
    for period in ["2026-01", "2026-02"] {
        ledger
            .run(&[
                "period",
                "set-status",
                "--entity",
                "ACME-US",
                "--period",
                period,
                "--status",
                "on-hold",
            ])
            .success();
    }
    let january = ledger.trial_balance("ACME-US", "2026-01");
    let february = ledger.trial_balance("ACME-US", "2026-02");
    let propose = closebook_tests::plugin_wasm("guest_propose").display().to_string();
    let config = serde_json::json!({ "settlements": [{ "entity": "ACME-US", "line_ids": [purchase, payment] }] });
    ledger
        .run(&[
            "plugin",
            "run",
            &propose,
            "--entity",
            "ACME-US",
            "--period",
            "2026-03",
            "--config",
            &config.to_string(),
            "--post",
        ])
        .success();
    let remaining = open_items(&ledger, "2000");
    assert_eq!(remaining.len(), items.len() - 2, "{remaining:?}");
    assert_eq!(ledger.trial_balance("ACME-US", "2026-01"), january);
    assert_eq!(ledger.trial_balance("ACME-US", "2026-02"), february);
    ledger.run(&["verify"]).success();
}
