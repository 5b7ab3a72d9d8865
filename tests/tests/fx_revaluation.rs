//! The foreign currency revaluation step end to end: the real `fx_revaluation.wasm` (built by
//! `scripts/build-plugins fx-revaluation`) run by the real binary on a small USD ledger holding
//! 500 EUR carried at 1,000.00 USD. Proves DOMAIN.md §4's worked example month after month —
//! the difference posts in the revalued account's EUR bucket, so February revalues from
//! 833.33 and gains 416.67, not 250 — that a rerun proposes nothing, and that the host takes
//! revaluation lines only from a run marked as a revaluation.

use closebook_tests::{Ledger, plugin_wasm};
use serde_json::Value;

const SETUP: &str = r#"
[[currency]]
code = "USD"
minor_units = 2

[[currency]]
code = "EUR"
minor_units = 2

[[calendar]]
id = "standard"
start_month = 1
first_year = "FY2026"
last_year = "FY2026"

[[chart]]
id = "MAIN"
accounts = [
  { number = "1200", name = "Bank account EUR", type = "asset", revalue = true, fixed_currency = "EUR" },
  { number = "3000", name = "Share capital", type = "equity" },
  { number = "3900", name = "Retained earnings", type = "equity" },
  { number = "7100", name = "Unrealized exchange gain", type = "revenue" },
  { number = "7200", name = "Unrealized exchange loss", type = "expense" },
]

[[entity]]
id = "E"
name = "Revaluation test entity"
currency = "USD"
calendar = "standard"
chart = "MAIN"
retained_earnings_account = "3900"
default_rate_type = "spot"

[[rate]]
from = "EUR"
to = "USD"
type = "spot"
date = "2026-01-31"
rate = "1.666667"

[[rate]]
from = "EUR"
to = "USD"
type = "spot"
date = "2026-02-28"
rate = "2.5"
"#;

const OPENING: &str = "\
entry,date,period,account,amount,currency,accounting_amount,description
OB-2026,2026-01-01,FY2026-opening,1200,500.00,EUR,1000.00,Opening balance
OB-2026,2026-01-01,FY2026-opening,3000,-1000.00,,,Opening balance
";

const CONFIG: &str = r#"{"gain_account":"7100","loss_account":"7200"}"#;

/// The ledger of the worked example: 500 EUR on the bank account at 1,000.00 USD.
fn ledger() -> Ledger {
    let ledger = Ledger::new();
    let setup = ledger.write("setup.toml", &closebook_tests::with_test_users(SETUP));
    ledger.run(&["setup", "apply", &setup]).success();
    let opening = ledger.write("opening.csv", OPENING);
    ledger
        .run(&["import", "journals", &opening, "--entity", "E", "--post"])
        .success();
    ledger
}

/// Runs the step for `period`; `extra` adds `--post`, `--format json`…
fn revalue(ledger: &Ledger, period: &str, extra: &[&str]) -> closebook_tests::Run {
    let wasm = plugin_wasm("fx_revaluation").display().to_string();
    let mut arguments = vec![
        "plugin",
        "run",
        wasm.as_str(),
        "--entity",
        "E",
        "--period",
        period,
        "--config",
        CONFIG,
    ];
    arguments.extend_from_slice(extra);
    ledger.run(&arguments)
}

/// Closing balances of the trial balance by account, as text.
fn closing(ledger: &Ledger, period: &str) -> Vec<(String, String)> {
    let trial_balance = ledger.trial_balance("E", period);
    assert_eq!(
        trial_balance["totals"]["closing"], "0.00",
        "the trial balance must net to zero"
    );
    trial_balance["rows"]
        .as_array()
        .expect("trial balance rows")
        .iter()
        .map(|row| (text(&row["account"]), text(&row["closing"])))
        .collect()
}

fn text(value: &Value) -> String {
    value.as_str().expect("a text value").to_owned()
}

fn rows(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(account, amount)| ((*account).to_owned(), (*amount).to_owned()))
        .collect()
}

#[test]
fn worked_example_posts_a_loss_then_a_gain_from_the_carried_amount() {
    // January: 500 × 1.666667 = 833.3335 → 833.33, an unrealized loss of 166.67.
    // February: 500 × 2.5 = 1,250.00 against 833.33 carried, a gain of 416.67 (not 250).
    let ledger = ledger();

    let january = revalue(&ledger, "2026-01", &["--revaluation", "--format", "json"])
        .success()
        .json();
    let lines = &january["output"]["Ok"]["entries"][0]["lines"];
    assert_eq!(lines[0]["account"], "1200");
    assert_eq!(lines[0]["currency"], "EUR");
    assert_eq!(lines[0]["amount"], "0");
    assert_eq!(lines[0]["accounting_amount"], "-166.67");
    assert_eq!(lines[1]["account"], "7200");
    assert_eq!(lines[1]["amount"], "166.67");
    assert_eq!(
        closing(&ledger, "2026-01"),
        rows(&[("1200", "1000.00"), ("3000", "-1000.00")]),
        "a dry run wrote to the ledger"
    );

    revalue(&ledger, "2026-01", &["--revaluation", "--post"]).success();
    assert_eq!(
        closing(&ledger, "2026-01"),
        rows(&[("1200", "833.33"), ("3000", "-1000.00"), ("7200", "166.67")])
    );

    revalue(&ledger, "2026-02", &["--revaluation", "--post"]).success();
    assert_eq!(
        closing(&ledger, "2026-02"),
        rows(&[
            ("1200", "1250.00"),
            ("3000", "-1000.00"),
            ("7100", "-416.67"),
            ("7200", "166.67"),
        ])
    );

    // The posted gain sits in the account's EUR bucket with amount 0: the bucket still holds
    // 500 EUR, only its USD value moved. The entry carries the plugin's provenance.
    let journal = ledger
        .run(&[
            "report", "journal", "--entity", "E", "--period", "2026-02", "--format", "json",
        ])
        .success()
        .json();
    let entry = &journal["entries"][0];
    assert_eq!(entry["module"], "close");
    assert_eq!(entry["provenance"]["plugin_name"], "fx-revaluation");
    assert_eq!(entry["lines"][0]["account"], "1200");
    assert_eq!(entry["lines"][0]["currency"], "EUR");
    assert_eq!(entry["lines"][0]["amount"], "0");
    assert_eq!(entry["lines"][0]["accounting_amount"], "416.67");
    assert_eq!(entry["lines"][1]["account"], "7100");
    assert_eq!(entry["lines"][1]["accounting_amount"], "-416.67");

    // A second run in February finds the bucket at its new value and proposes nothing.
    let entries = ledger.entry_count("E");
    let again = revalue(&ledger, "2026-02", &["--revaluation", "--format", "json"])
        .success()
        .json();
    assert_eq!(again["output"]["Ok"]["entries"], serde_json::json!([]));
    assert_eq!(
        again["output"]["Ok"]["messages"][1]["text"],
        "nothing to revalue in E for 2026-02: no entry proposed"
    );
    revalue(&ledger, "2026-02", &["--revaluation", "--post"]).success();
    assert_eq!(ledger.entry_count("E"), entries, "a rerun posted something");
}

#[test]
fn revaluation_lines_are_refused_unless_the_run_is_a_revaluation() {
    // Amount 0 with an accounting amount is a revaluation line: the host refuses it from a run
    // not marked `--revaluation`, and nothing is written.
    let ledger = ledger();
    let entries = ledger.entry_count("E");
    let error = revalue(&ledger, "2026-01", &["--post"]).failure();
    assert!(
        error.contains("amount 0 with accounting amount -166.67 is only allowed for foreign currency revaluation"),
        "{error}"
    );
    assert_eq!(ledger.entry_count("E"), entries);
    assert_eq!(
        closing(&ledger, "2026-01"),
        rows(&[("1200", "1000.00"), ("3000", "-1000.00")])
    );
}
