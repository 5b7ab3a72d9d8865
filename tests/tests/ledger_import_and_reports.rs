//! End to end through the binary: the demo organization (two entities, four currencies, two
//! dimensions) imports and posts, and its trial balances equal an independent computation
//! from the input files.

use chrono::NaiveDate;
use closebook_tests::{DEMO_JOURNALS, Ledger, demo_dir};
use rust_decimal::{Decimal, RoundingStrategy};
use serde_json::Value;
use std::collections::BTreeMap;
use std::str::FromStr;

/// (entity, period, account) -> (debit turnover, credit turnover), in accounting currency.
type Expected = BTreeMap<(String, String, String), (Decimal, Decimal)>;

fn decimal(text: &str) -> Decimal {
    Decimal::from_str(text.trim()).unwrap_or_else(|_| panic!("{text:?} is not a decimal"))
}

/// The demo's spot rates, looked up the way DOMAIN.md states the rule: latest on or before the
/// date, the inverse when only the opposite pair exists (12 decimals, as documented).
fn spot_rate(from: &str, to: &str, date: NaiveDate) -> Decimal {
    let mut reader = csv::Reader::from_path(demo_dir().join("rates.csv")).unwrap();
    let mut direct: Option<(NaiveDate, Decimal)> = None;
    let mut opposite: Option<(NaiveDate, Decimal)> = None;
    for record in reader.records() {
        let record = record.unwrap();
        let effective = NaiveDate::from_str(&record[3]).unwrap();
        if &record[2] != "spot" || effective > date {
            continue;
        }
        let slot = if &record[0] == from && &record[1] == to {
            &mut direct
        } else if &record[0] == to && &record[1] == from {
            &mut opposite
        } else {
            continue;
        };
        if slot.is_none_or(|(seen, _)| effective > seen) {
            *slot = Some((effective, decimal(&record[4])));
        }
    }
    match (direct, opposite) {
        (Some((_, rate)), _) => rate,
        (None, Some((_, rate))) => (Decimal::ONE / rate).round_dp(12),
        (None, None) => panic!("no rate {from}/{to} on {date}"),
    }
}

fn expected_turnovers() -> Expected {
    let currencies = [("ACME-US", "USD"), ("ACME-DE", "EUR")];
    let mut expected = Expected::new();
    for (entity, file, _) in DEMO_JOURNALS {
        let accounting_currency = currencies.iter().find(|(id, _)| *id == entity).unwrap().1;
        let mut reader = csv::Reader::from_path(demo_dir().join(file)).unwrap();
        let headers = reader.headers().unwrap().clone();
        let column = |name: &str| headers.iter().position(|header| header == name);
        let mut entries: BTreeMap<String, Vec<(String, String, Decimal, bool)>> = BTreeMap::new();
        for record in reader.records() {
            let record = record.unwrap();
            let field = |name: &str| column(name).map(|index| record[index].to_owned()).unwrap_or_default();
            let date = NaiveDate::from_str(&field("date")).unwrap();
            let period = if field("period").is_empty() {
                date.format("%Y-%m").to_string()
            } else {
                field("period")
            };
            let amount = if field("amount").is_empty() {
                let debit = if field("debit").is_empty() {
                    Decimal::ZERO
                } else {
                    decimal(&field("debit"))
                };
                let credit = if field("credit").is_empty() {
                    Decimal::ZERO
                } else {
                    decimal(&field("credit"))
                };
                debit - credit
            } else {
                decimal(&field("amount"))
            };
            let currency = if field("currency").is_empty() {
                accounting_currency.to_owned()
            } else {
                field("currency")
            };
            let (accounting, converted) = if !field("accounting_amount").is_empty() {
                (decimal(&field("accounting_amount")), false)
            } else if currency == accounting_currency {
                (amount, false)
            } else {
                let value = amount * spot_rate(&currency, accounting_currency, date);
                (
                    value.round_dp_with_strategy(2, RoundingStrategy::MidpointAwayFromZero),
                    true,
                )
            };
            entries
                .entry(field("entry"))
                .or_default()
                .push((period, field("account"), accounting, converted));
        }
        for (_, lines) in entries {
            let imbalance: Decimal = lines.iter().map(|line| line.2).sum();
            let period = lines[0].0.clone();
            let mut lines: Vec<(String, Decimal)> = lines
                .into_iter()
                .map(|(_, account, amount, _)| (account, amount))
                .collect();
            if !imbalance.is_zero() {
                assert!(
                    imbalance.abs() <= Decimal::new(2, 2),
                    "demo entry out of balance by {imbalance}"
                );
                lines.push(("7990".to_owned(), -imbalance));
            }
            for (account, amount) in lines {
                let slot = expected
                    .entry((entity.to_owned(), period.clone(), account))
                    .or_default();
                if amount.is_sign_positive() {
                    slot.0 += amount;
                } else {
                    slot.1 -= amount;
                }
            }
        }
    }
    expected
}

fn rows_by_account(trial_balance: &Value) -> BTreeMap<String, Value> {
    trial_balance["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|row| (row["account"].as_str().unwrap().to_owned(), row.clone()))
        .collect()
}

#[test]
fn demo_trial_balances_equal_an_independent_sum_of_the_input_files() {
    // Proves import, conversion, penny rounding, balance maintenance and the trial balance
    // columns agree with a computation that never touches closebook's code.
    let ledger = Ledger::with_demo_journals();
    let expected = expected_turnovers();
    let periods = ["FY2026-opening", "2026-01", "2026-02", "2026-03"];
    for entity in ["ACME-US", "ACME-DE"] {
        let mut running: BTreeMap<String, Decimal> = BTreeMap::new();
        for period in periods {
            let trial_balance = ledger.trial_balance(entity, period);
            let rows = rows_by_account(&trial_balance);
            let mut accounts: Vec<String> = running.keys().cloned().collect();
            accounts.extend(
                expected
                    .keys()
                    .filter(|(e, p, _)| e == entity && p == period)
                    .map(|(_, _, account)| account.clone()),
            );
            accounts.sort();
            accounts.dedup();
            for account in &accounts {
                let (debit, credit) = expected
                    .get(&(entity.to_owned(), period.to_owned(), account.clone()))
                    .copied()
                    .unwrap_or_default();
                let opening = running.get(account).copied().unwrap_or_default();
                let closing = opening + debit - credit;
                running.insert(account.clone(), closing);
                if opening.is_zero() && debit.is_zero() && credit.is_zero() {
                    assert!(
                        !rows.contains_key(account),
                        "{entity} {period} {account}: an empty row is shown"
                    );
                    continue;
                }
                let row = rows
                    .get(account)
                    .unwrap_or_else(|| panic!("{entity} {period}: account {account} missing from the trial balance"));
                let column = |name: &str| decimal(row[name].as_str().unwrap());
                assert_eq!(column("opening"), opening, "{entity} {period} {account} opening");
                assert_eq!(column("debit"), debit, "{entity} {period} {account} debit");
                assert_eq!(column("credit"), credit, "{entity} {period} {account} credit");
                assert_eq!(column("closing"), closing, "{entity} {period} {account} closing");
            }
            for account in rows.keys() {
                assert!(
                    accounts.contains(account),
                    "{entity} {period}: unexpected row for account {account}"
                );
            }
            let totals = &trial_balance["totals"];
            assert_eq!(
                decimal(totals["opening"].as_str().unwrap()),
                Decimal::ZERO,
                "{entity} {period}: opening nets to zero"
            );
            assert_eq!(
                decimal(totals["closing"].as_str().unwrap()),
                Decimal::ZERO,
                "{entity} {period}: closing nets to zero"
            );
            assert_eq!(
                totals["debit"], totals["credit"],
                "{entity} {period}: debits equal credits"
            );
        }
    }
    // Spot checks worked out by hand: US cash at the end of March, the penny rounding of the
    // EUR bank charges, and the inverse-rate conversion of DE's USD invoice (5,400 / 1.10).
    let us = rows_by_account(&ledger.trial_balance("ACME-US", "2026-03"));
    assert_eq!(us["1000"]["closing"], "206500.00");
    assert_eq!(us["7990"]["closing"], "-0.01");
    let de = rows_by_account(&ledger.trial_balance("ACME-DE", "2026-02"));
    assert_eq!(de["4000"]["credit"], "28909.09");
}

#[test]
fn trial_balance_by_dimension_splits_rows_and_still_nets_to_zero() {
    // Proves --dimensions breaks rows down by dimension value and keeps the totals.
    let ledger = Ledger::with_demo_journals();
    let run = ledger
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
        .success();
    let trial_balance = run.json();
    let salaries: Vec<&Value> = trial_balance["rows"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|row| row["account"] == "6000")
        .collect();
    let by_department: BTreeMap<String, String> = salaries
        .iter()
        .map(|row| {
            (
                row["dimensions"]["department"].as_str().unwrap().to_owned(),
                row["debit"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        by_department,
        BTreeMap::from([
            ("100".into(), "15000.00".into()),
            ("200".into(), "9000.00".into()),
            ("300".into(), "6000.00".into())
        ])
    );
    assert_eq!(trial_balance["totals"]["closing"], "0.00");
}

#[test]
fn statements_balance_with_current_year_earnings() {
    // Proves the balance sheet balances before year-end close by showing current-year
    // earnings, and that it equals the income statement's year-to-date net income.
    let ledger = Ledger::with_demo_journals();
    for entity in ["ACME-US", "ACME-DE"] {
        let sheet = ledger
            .run(&[
                "report",
                "balance-sheet",
                "--entity",
                entity,
                "--period",
                "2026-03",
                "--format",
                "json",
            ])
            .success()
            .json();
        assert_eq!(sheet["balanced"], true, "{entity}");
        assert_eq!(sheet["sections"][0]["total"][0], sheet["totals"][0]["amounts"][0]);
        let income = ledger
            .run(&[
                "report",
                "income-statement",
                "--entity",
                entity,
                "--period",
                "2026-03",
                "--format",
                "json",
            ])
            .success()
            .json();
        // The last equity category is current-year earnings; the fourth income column is the
        // year to date.
        let equity = sheet["sections"][2]["categories"].as_array().unwrap();
        let earnings = equity.last().unwrap();
        assert_eq!(earnings["name"], "Current-year earnings", "{entity}");
        assert_eq!(income["columns"][3]["key"], "year_to_date");
        assert_eq!(earnings["total"][0], income["totals"][0]["amounts"][3], "{entity}");
    }
    let income = ledger
        .run(&[
            "report",
            "income-statement",
            "--entity",
            "ACME-US",
            "--period",
            "2026-01",
            "--format",
            "json",
        ])
        .success()
        .json();
    // January: revenue 30,000 + 8,640; expenses 12,000 + 30,000 + 4,500 + 3,000 + 1,200.
    assert_eq!(income["sections"][0]["total"][0], "38640.00");
    assert_eq!(income["sections"][1]["total"][0], "50700.00");
    assert_eq!(income["totals"][0]["amounts"][0], "-12060.00");
}

#[test]
fn table_and_csv_formats_carry_the_same_figures() {
    // Proves the human table and the CSV export show the same trial balance.
    let ledger = Ledger::with_demo_journals();
    let table = ledger
        .run(&["report", "trial-balance", "--entity", "ACME-US", "--period", "2026-03"])
        .success()
        .stdout;
    assert!(table.contains("Trial balance of ACME-US for 2026-03 (USD)"), "{table}");
    assert!(table.contains("206,500.00"), "{table}");
    let csv_text = ledger
        .run(&[
            "report",
            "trial-balance",
            "--entity",
            "ACME-US",
            "--period",
            "2026-03",
            "--format",
            "csv",
        ])
        .success()
        .stdout;
    let first_lines: Vec<&str> = csv_text.lines().take(2).collect();
    assert_eq!(
        first_lines,
        [
            "entity,currency,account,name,opening,debit,credit,closing",
            "ACME-US,USD,1000,Cash at bank,224000.00,40000.00,57500.00,206500.00"
        ]
    );
}

#[test]
fn journal_report_shows_provenance_and_verify_passes() {
    // Proves the ledger journal report lists entries with who posted them from where, and
    // that `verify` finds the freshly imported ledger intact.
    let ledger = Ledger::with_demo_journals();
    let journal = ledger
        .run(&[
            "report", "journal", "--entity", "ACME-US", "--period", "2026-02", "--format", "json",
        ])
        .success()
        .json();
    let entries = journal["entries"].as_array().unwrap();
    assert_eq!(
        entries.len(),
        10,
        "three receivables, two payables and five ledger entries in February"
    );
    let first = &entries[0];
    assert_eq!(first["posted_by"], "alice");
    assert!(
        first["provenance"]["source"].as_str().unwrap().starts_with("import:"),
        "{first}"
    );
    assert_eq!(first["hash"].as_str().unwrap().len(), 64);
    let verify = ledger.run(&["verify"]).success().stdout;
    assert!(
        verify.contains("ACME-US: 28 entries checked, hash chain intact"),
        "{verify}"
    );
}

#[test]
fn accounts_import_from_csv_and_journals_from_json() {
    // Proves the other import paths: a chart extended from CSV, then a JSON journal posting to
    // the new account with a dimension, checked in the trial balance.
    let ledger = Ledger::with_demo_journals();
    let accounts = ledger.write(
        "accounts.csv",
        "number,name,type,category\n6950,Bank fees,expense,Financial items\n1050,Petty cash,asset,Cash\n",
    );
    let run = ledger
        .run(&["import", "accounts", &accounts, "--chart", "GROUP"])
        .success();
    assert!(
        run.stdout.contains("imported 2 accounts into chart GROUP"),
        "{}",
        run.stdout
    );
    let journal = ledger.write(
        "fees.json",
        r#"{"entries": [{"entry": "FEE-1", "date": "2026-03-10", "description": "March bank fees",
            "lines": [{"account": "6950", "amount": "42.50", "dimensions": {"department": "300"}},
                      {"account": "1050", "credit": "42.50"}]}]}"#,
    );
    ledger
        .run(&["import", "journals", &journal, "--entity", "ACME-US", "--post"])
        .success();
    let march = rows_by_account(&ledger.trial_balance("ACME-US", "2026-03"));
    assert_eq!(march["6950"]["debit"], "42.50");
    assert_eq!(march["1050"]["closing"], "-42.50");
    let bad = ledger.write("bad.csv", "number,name,type\n7000,Odd,assets\n");
    let stderr = ledger.run(&["import", "accounts", &bad, "--chart", "GROUP"]).failure();
    assert!(
        stderr.contains("line 2: account type `assets` is not asset, liability, equity, revenue or expense"),
        "{stderr}"
    );
    let numbers = ledger.write(
        "numbers.json",
        r#"[{"entry": "N-1", "date": "2026-03-10", "lines": [{"account": "6950", "amount": 1}]}]"#,
    );
    let stderr = ledger
        .run(&["import", "journals", &numbers, "--entity", "ACME-US", "--post"])
        .failure();
    assert!(stderr.contains("amounts are strings"), "{stderr}");
}
