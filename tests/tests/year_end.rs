//! The year-end close step end to end: the real `year_end.wasm` (built by
//! `scripts/build-plugins year-end`) run by the real binary on the demo organization, whose
//! FY2026 has January to March activity and whose calendar runs FY2025 to FY2027. The expected
//! opening balances are computed independently from the FY2026 trial balance and journal
//! reports: balance-sheet accounts carried, profit and loss moved to retained earnings, foreign
//! balances still in their currency. Also proves that closing entries lead to the same new year
//! and that a run without a next fiscal year, or in a mid-year period, is refused and writes
//! nothing.

use std::collections::BTreeMap;
use std::str::FromStr;

use closebook_tests::{Ledger, plugin_wasm};
use rust_decimal::Decimal;
use serde_json::Value;

const ENTITY: &str = "ACME-US";
const RETAINED_EARNINGS: &str = "3900";

/// Runs the step for ACME-US in `period` with `config`; `extra` adds `--post`, `--format json`…
fn year_end(ledger: &Ledger, period: &str, config: &str, extra: &[&str]) -> closebook_tests::Run {
    let wasm = plugin_wasm("year_end").display().to_string();
    let mut arguments = vec![
        "plugin",
        "run",
        wasm.as_str(),
        "--entity",
        ENTITY,
        "--period",
        period,
        "--config",
        config,
        "--year-end",
    ];
    arguments.extend_from_slice(extra);
    ledger.run(&arguments)
}

fn decimal(value: &Value) -> Decimal {
    Decimal::from_str(value.as_str().expect("a decimal as text")).expect("a decimal")
}

fn text(value: &Value) -> &str {
    value.as_str().expect("a text value")
}

fn rows(trial_balance: &Value) -> &Vec<Value> {
    trial_balance["rows"].as_array().expect("trial balance rows")
}

fn is_balance_sheet(row: &Value) -> bool {
    matches!(text(&row["type"]), "asset" | "liability" | "equity")
}

/// What the new year must open with, from the old year's trial balance alone: every
/// balance-sheet account at its closing balance, retained earnings plus the year's profit and
/// loss (debit positive, so minus the net income). Also returns the net income.
fn expected_opening(trial_balance: &Value) -> (BTreeMap<String, Decimal>, Decimal) {
    let mut expected = BTreeMap::new();
    let mut profit_and_loss = Decimal::ZERO;
    for row in rows(trial_balance) {
        let closing = decimal(&row["closing"]);
        if is_balance_sheet(row) {
            expected.insert(text(&row["account"]).to_owned(), closing);
        } else {
            profit_and_loss += closing;
        }
    }
    *expected.entry(RETAINED_EARNINGS.to_owned()).or_default() += profit_and_loss;
    expected.retain(|_, amount| !amount.is_zero());
    (expected, -profit_and_loss)
}

/// Closing balance per account of a trial balance, zero rows left out.
fn closing_balances(trial_balance: &Value) -> BTreeMap<String, Decimal> {
    rows(trial_balance)
        .iter()
        .map(|row| (text(&row["account"]).to_owned(), decimal(&row["closing"])))
        .filter(|(_, amount)| !amount.is_zero())
        .collect()
}

/// Per account and transaction currency, the sum of the amounts of the posted lines of the
/// journal report for each of these periods.
fn journal_amounts(ledger: &Ledger, periods: &[String]) -> BTreeMap<(String, String), Decimal> {
    let mut sums = BTreeMap::new();
    for period in periods {
        let journal = ledger
            .run(&[
                "report", "journal", "--entity", ENTITY, "--period", period, "--format", "json",
            ])
            .success()
            .json();
        for entry in journal["entries"].as_array().expect("journal entries") {
            for line in entry["lines"].as_array().expect("entry lines") {
                let key = (text(&line["account"]).to_owned(), text(&line["currency"]).to_owned());
                *sums.entry(key).or_default() += decimal(&line["amount"]);
            }
        }
    }
    sums
}

/// The periods of FY2026 in calendar order.
fn fiscal_year_2026() -> Vec<String> {
    let mut periods = vec!["FY2026-opening".to_owned()];
    periods.extend((1..=12).map(|month| format!("2026-{month:02}")));
    periods.push("FY2026-closing".to_owned());
    periods
}

#[test]
fn the_new_year_opens_with_the_balance_sheet_and_retained_earnings_absorbs_net_income() {
    // Expected figures come from the FY2026 trial balance (through its closing period) and the
    // journal reports, not from the step: the FY2027 opening trial balance holds balance-sheet
    // accounts only, retained earnings = old retained earnings − net income, and it nets to
    // zero; the EUR bank account and the GBP loan keep their currencies.
    let ledger = Ledger::with_demo_journals();
    let before = ledger.trial_balance(ENTITY, "FY2026-closing");
    assert_eq!(before["totals"]["closing"], "0.00");
    let (expected, net_income) = expected_opening(&before);
    let old_retained_earnings = closing_balances(&before)[RETAINED_EARNINGS];
    assert_eq!(expected[RETAINED_EARNINGS], old_retained_earnings - net_income);
    let foreign_before = journal_amounts(&ledger, &fiscal_year_2026());

    let run = year_end(&ledger, "2026-12", "{}", &["--post"]).success();
    let printed = format!("{}{}", run.stdout, run.stderr);
    assert!(
        printed.contains(&format!("net income FY2026: {net_income} USD")),
        "{printed}"
    );

    let opening = ledger.trial_balance(ENTITY, "FY2027-opening");
    assert_eq!(
        opening["totals"]["closing"], "0.00",
        "the opening trial balance must net to zero"
    );
    assert!(
        rows(&opening).iter().all(is_balance_sheet),
        "profit-and-loss accounts in the opening period: {opening}"
    );
    assert_eq!(closing_balances(&opening), expected);

    // The opening entry keeps transaction currencies: per account and currency, it holds what
    // FY2026's lines sum to (1200 in EUR, 2300 in GBP, 1300 in EUR).
    let carried = journal_amounts(&ledger, &["FY2027-opening".to_owned()]);
    for (account, currency) in [("1200", "EUR"), ("1300", "EUR"), ("2300", "GBP")] {
        let key = (account.to_owned(), currency.to_owned());
        assert!(
            !foreign_before[&key].is_zero(),
            "the demo holds {currency} on {account}"
        );
        assert_eq!(carried[&key], foreign_before[&key], "{account} {currency}");
        assert!(
            !carried.contains_key(&(account.to_owned(), "USD".to_owned())),
            "{account} was carried in USD"
        );
    }

    // FY2027 has no next year: refused, naming it, and nothing is written.
    let entries = ledger.entry_count(ENTITY);
    let error = year_end(&ledger, "2027-12", "{}", &["--post"]).failure();
    assert!(
        error.contains("fiscal year FY2028 does not exist for entity ACME-US"),
        "{error}"
    );
    // Running FY2026 again would double the opening balances: refused.
    let error = year_end(&ledger, "2026-12", "{}", &["--post"]).failure();
    assert!(
        error.contains("FY2027-opening of entity ACME-US already holds balances"),
        "{error}"
    );
    assert_eq!(ledger.entry_count(ENTITY), entries, "a refused run wrote to the ledger");
}

#[test]
fn closing_entries_zero_profit_and_loss_in_the_closing_period_and_open_the_same_year() {
    // With closing entries, FY2026's profit and loss is zero through its closing period and
    // retained earnings already holds the net income in FY2026; FY2027 opens exactly as
    // without them.
    let ledger = Ledger::with_demo_journals();
    let before = ledger.trial_balance(ENTITY, "FY2026-closing");
    let (expected, net_income) = expected_opening(&before);
    assert!(!net_income.is_zero(), "the demo has profit and loss");

    year_end(&ledger, "FY2026-closing", r#"{"closing_entries":true}"#, &["--post"]).success();

    let after = ledger.trial_balance(ENTITY, "FY2026-closing");
    assert_eq!(after["totals"]["closing"], "0.00");
    for row in rows(&after) {
        if !is_balance_sheet(row) {
            assert_eq!(decimal(&row["closing"]), Decimal::ZERO, "{row}");
        }
    }
    assert_eq!(closing_balances(&after)[RETAINED_EARNINGS], expected[RETAINED_EARNINGS]);
    // December itself, without the closing period, still shows the year's profit and loss.
    let december = ledger.trial_balance(ENTITY, "2026-12");
    assert!(
        rows(&december)
            .iter()
            .any(|row| !is_balance_sheet(row) && !decimal(&row["closing"]).is_zero())
    );
    assert_eq!(
        closing_balances(&ledger.trial_balance(ENTITY, "FY2027-opening")),
        expected
    );
}

#[test]
fn a_mid_year_period_is_refused_and_nothing_is_written() {
    // Year-end close belongs to the end of the year.
    let ledger = Ledger::with_demo_journals();
    let entries = ledger.entry_count(ENTITY);
    let error = year_end(&ledger, "2026-06", "{}", &["--post"]).failure();
    assert!(
        error.contains("year-end close runs in the last operating period or the closing period"),
        "{error}"
    );
    assert_eq!(ledger.entry_count(ENTITY), entries);
}

#[test]
fn year_end_command_replaces_an_earlier_run_reverses_and_keeps_history() {
    // Proves `closebook year-end run|reverse|history`: a second run replaces the first (the new
    // year opens with the same balances, not twice them), reverse removes it, and FY2027 is
    // refused because FY2028 does not exist.
    let ledger = Ledger::with_demo_journals();
    let plugin = plugin_wasm("year_end").display().to_string();
    let run = |arguments: &[&str]| ledger.run(arguments);
    run(&["year-end", "run", "--all", "--year", "FY2026", "--plugin", &plugin]).success();
    let first = closing_balances(&ledger.trial_balance("ACME-US", "FY2027-opening"));
    assert!(first.get("3900").is_some_and(|amount| !amount.is_zero()), "{first:?}");
    let again = run(&[
        "year-end", "run", "--entity", "ACME-US", "--year", "FY2026", "--plugin", &plugin,
    ])
    .success()
    .stdout;
    assert!(again.contains("cancelled 1 entries of the earlier year-end"), "{again}");
    assert_eq!(
        closing_balances(&ledger.trial_balance("ACME-US", "FY2027-opening")),
        first
    );
    let history = run(&["year-end", "history", "--format", "json"]).success().json();
    assert_eq!(
        history.as_array().map(Vec::len),
        Some(3),
        "two runs for ACME-US, one for ACME-DE"
    );
    run(&["year-end", "reverse", "--entity", "ACME-US", "--year", "FY2026"]).success();
    let reversed = closing_balances(&ledger.trial_balance("ACME-US", "FY2027-opening"));
    assert!(reversed.values().all(Decimal::is_zero), "{reversed:?}");
    let stderr = run(&["year-end", "reverse", "--entity", "ACME-US", "--year", "FY2026"]).failure();
    assert!(
        stderr.contains("entity ACME-US has no year-end close of FY2026 to reverse"),
        "{stderr}"
    );
    let stderr = run(&[
        "year-end", "run", "--entity", "ACME-US", "--year", "FY2027", "--plugin", &plugin,
    ])
    .failure();
    assert!(stderr.contains("fiscal year FY2028 does not exist"), "{stderr}");
    run(&["verify"]).success();
}

#[test]
fn year_end_reverse_finds_a_run_behind_more_than_ten_thousand_newer_runs() {
    // Regression (#16): `year-end reverse` (and a rerun) looked for the entity's year-end runs
    // among its newest 10,000 step runs only, so a year-end with more runs after it was silently
    // left uncancelled. Now every run of the task is found, however many runs follow it.
    let ledger = Ledger::with_demo_journals();
    let plugin = plugin_wasm("year_end").display().to_string();
    ledger
        .run(&[
            "year-end", "run", "--entity", ENTITY, "--year", "FY2026", "--plugin", &plugin,
        ])
        .success();
    let opened = closing_balances(&ledger.trial_balance(ENTITY, "FY2027-opening"));
    assert!(opened.values().any(|amount| !amount.is_zero()), "{opened:?}");
    // Runs of another task after it, each a copy of the year-end's run record under its own id.
    let newer_runs = 10_001;
    // One statement makes them all, numbered by a recursive count both databases know.
    ledger.execute_sql(&format!(
        "INSERT INTO step_runs (run_id, entity_id, period, task, plugin_name, plugin_version, plugin_sha256,
             config, run_by, started_at, finished_at, sequence_before, sequence_after, entries_posted,
             settlements_posted, fuel_consumed, duration_ms, log)
         WITH RECURSIVE counter (n) AS (SELECT 0 UNION ALL SELECT n + 1 FROM counter WHERE n + 1 < {newer_runs})
         SELECT 'other-step-' || CAST(counter.n AS TEXT), entity_id, period, 'other-step', plugin_name, plugin_version,
             plugin_sha256, config, run_by, started_at, finished_at, sequence_before, sequence_after,
             entries_posted, settlements_posted, fuel_consumed, duration_ms, log
         FROM counter, (SELECT * FROM step_runs WHERE task = 'year-end' LIMIT 1) AS year_end
         ORDER BY counter.n"
    ));
    assert_eq!(
        ledger.query_i64("SELECT count(*) FROM step_runs WHERE task = 'other-step'"),
        newer_runs
    );
    let reversed = ledger
        .run(&["year-end", "reverse", "--entity", ENTITY, "--year", "FY2026"])
        .success()
        .stdout;
    assert_eq!(reversed, "ACME-US FY2026: cancelled 1 year-end entries\n");
    let after = closing_balances(&ledger.trial_balance(ENTITY, "FY2027-opening"));
    assert!(after.values().all(Decimal::is_zero), "{after:?}");
}
