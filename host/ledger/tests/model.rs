//! Property test: random sequences of post / reverse / period-status / settle operations on a
//! real (in-memory) ledger, checked after every step against a simple model of what the ledger
//! must hold: which operations succeed, the balances per account and period, the entry count,
//! and `verify` finding nothing.

use chrono::NaiveDate;
use closebook_ledger::Ledger;
use closebook_ledger::ids::{EntityId, EntryKey, PeriodName, UserId};
use closebook_ledger::import::CsvJournalReader;
use closebook_ledger::period::{Module, PeriodStatus};
use closebook_ledger::report::trial_balance;
use closebook_ledger::setup::SetupFile;
use closebook_ledger::store::Store;
use proptest::prelude::*;
use rust_decimal::Decimal;
use std::collections::BTreeMap;

const SETUP: &str = r#"
[[currency]]
code = "USD"
minor_units = 2
[[calendar]]
id = "standard"
start_month = 1
first_year = "FY2026"
last_year = "FY2026"
[[chart]]
id = "C"
accounts = [
  { number = "1100", name = "Receivables", type = "asset", settle = true },
  { number = "3900", name = "Retained earnings", type = "equity" },
  { number = "4000", name = "Revenue", type = "revenue" },
]
[[entity]]
id = "E"
name = "E"
currency = "USD"
calendar = "standard"
chart = "C"
retained_earnings_account = "3900"
"#;

#[derive(Clone, Debug)]
enum Operation {
    /// Post `cents` (signed) on 1100 against 4000 in a month.
    Post { month: u32, cents: i64 },
    /// Reverse the n-th entry (modulo the count) into a month.
    Reverse { entry: usize, month: u32 },
    /// Put a month on hold or open it again.
    Status { month: u32, hold: bool },
    /// Settle the 1100 lines of two entries.
    Settle { first: usize, second: usize },
}

fn operation() -> impl Strategy<Value = Operation> {
    prop_oneof![
        4 => (1u32..=3, prop::sample::select(vec![-20000i64, -10000, 10000, 20000, 12345])).prop_map(|(month, cents)| Operation::Post { month, cents }),
        2 => (0usize..40, 1u32..=3).prop_map(|(entry, month)| Operation::Reverse { entry, month }),
        1 => (1u32..=3, any::<bool>()).prop_map(|(month, hold)| Operation::Status { month, hold }),
        2 => (0usize..40, 0usize..40).prop_map(|(first, second)| Operation::Settle { first, second }),
    ]
}

/// One posted entry as the model sees it.
#[derive(Clone, Debug)]
struct ModelEntry {
    key: String,
    /// The amount on 1100 (4000 gets the opposite).
    cents: i64,
    reversed: bool,
    settled: bool,
}

#[derive(Default, Debug)]
struct Model {
    entries: Vec<ModelEntry>,
    on_hold: [bool; 4],
    /// (account, month) -> cents
    balances: BTreeMap<(&'static str, u32), i64>,
}

impl Model {
    fn book(&mut self, month: u32, cents: i64) {
        *self.balances.entry(("1100", month)).or_default() += cents;
        *self.balances.entry(("4000", month)).or_default() -= cents;
    }
}

fn date(month: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, month, 15).unwrap()
}

fn money(cents: i64) -> String {
    Decimal::new(cents, 2).to_string()
}

fn check(ledger: &mut Ledger, model: &Model) {
    let entity = EntityId::new("E");
    assert_eq!(
        ledger.read(|db| db.entry_count(Some(&entity))).unwrap(),
        model.entries.len() as i64
    );
    for month in 1..=3u32 {
        let period = PeriodName::new(format!("2026-{month:02}"));
        let report = ledger
            .read(|db| trial_balance(db, &entity, &period, &[], false))
            .unwrap();
        for account in ["1100", "4000"] {
            let expected: i64 = (1..=month)
                .map(|m| model.balances.get(&(account, m)).copied().unwrap_or(0))
                .sum();
            let actual = report
                .rows
                .iter()
                .find(|row| row.account.as_str() == account)
                .map(|row| row.closing)
                .unwrap_or_default();
            assert_eq!(
                actual,
                Decimal::new(expected, 2),
                "account {account} at the end of {period}"
            );
        }
        assert!(report.totals.closing.is_zero());
    }
    let verify = ledger
        .read(|db| closebook_ledger::verify::verify_entity(db, &entity))
        .unwrap();
    assert!(verify.findings.is_empty(), "{:?}", verify.findings);
}

fn apply(ledger: &mut Ledger, model: &mut Model, operation: &Operation, counter: &mut usize) {
    let entity = EntityId::new("E");
    match *operation {
        Operation::Post { month, cents } => {
            *counter += 1;
            let key = format!("P{counter}");
            let csv = format!(
                "entry,date,account,amount\n{key},{d},1100,{a}\n{key},{d},4000,{b}\n",
                d = date(month),
                a = money(cents),
                b = money(-cents)
            );
            let reader = CsvJournalReader::new(csv.as_bytes(), "p.csv", Module::Ledger).unwrap();
            let result = ledger.import_journals(&entity, reader, true, "p.csv");
            if model.on_hold[month as usize] {
                assert!(result.is_err(), "posted into a month on hold");
            } else {
                result.unwrap();
                model.entries.push(ModelEntry {
                    key,
                    cents,
                    reversed: false,
                    settled: false,
                });
                model.book(month, cents);
            }
        }
        Operation::Reverse { entry, month } => {
            if model.entries.is_empty() {
                return;
            }
            let index = entry % model.entries.len();
            let target = model.entries[index].clone();
            let result = ledger.reverse(&entity, &EntryKey::new(target.key.clone()), date(month), None);
            let reversal_key = format!("reversal-of-{}", target.key);
            let key_taken = model.entries.iter().any(|candidate| candidate.key == reversal_key);
            if target.reversed || target.settled || model.on_hold[month as usize] || key_taken {
                assert!(result.is_err(), "reversal of {} should be refused", target.key);
            } else {
                result.unwrap();
                model.entries[index].reversed = true;
                model.entries.push(ModelEntry {
                    key: reversal_key,
                    cents: -target.cents,
                    reversed: false,
                    settled: false,
                });
                model.book(month, -target.cents);
            }
        }
        Operation::Status { month, hold } => {
            let status = if hold { PeriodStatus::OnHold } else { PeriodStatus::Open };
            ledger
                .set_period_status(
                    std::slice::from_ref(&entity),
                    &PeriodName::new(format!("2026-{month:02}")),
                    status,
                )
                .unwrap();
            model.on_hold[month as usize] = hold;
        }
        Operation::Settle { first, second } => {
            if model.entries.is_empty() {
                return;
            }
            let (first, second) = (first % model.entries.len(), second % model.entries.len());
            // The id of an entry's line on 1100.
            let line_of = |ledger: &mut Ledger, key: &str| -> i64 {
                let posted = ledger
                    .read(|db| db.entry_by_key(&entity, &EntryKey::new(key)))
                    .unwrap()
                    .unwrap();
                let lines = ledger
                    .read(|db| {
                        db.account_lines(
                            &entity,
                            &"1100".into(),
                            std::slice::from_ref(&posted.period),
                            0,
                            100_000,
                            true,
                        )
                    })
                    .unwrap();
                lines
                    .iter()
                    .find(|record| record.entry_id == posted.id)
                    .map(|record| record.id)
                    .unwrap()
            };
            let ids = [
                line_of(ledger, &model.entries[first].key.clone()),
                line_of(ledger, &model.entries[second].key.clone()),
            ];
            let result = ledger.settle(&entity, &ids);
            let (a, b) = (&model.entries[first], &model.entries[second]);
            let valid = first != second && !a.settled && !b.settled && a.cents + b.cents == 0;
            if valid {
                result.unwrap();
                model.entries[first].settled = true;
                model.entries[second].settled = true;
            } else {
                assert!(
                    result.is_err(),
                    "settlement of {} and {} should be refused",
                    a.key,
                    b.key
                );
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn the_ledger_agrees_with_its_model(operations in prop::collection::vec(operation(), 1..40)) {
        let mut ledger = Ledger::from_store(Store::open_in_memory().unwrap(), UserId::new("model"));
        ledger.apply_setup(&SetupFile::parse(SETUP, "setup.toml").unwrap(), "setup.toml").unwrap();
        let mut model = Model::default();
        let mut counter = 0;
        for operation in &operations {
            apply(&mut ledger, &mut model, operation, &mut counter);
            check(&mut ledger, &model);
        }
    }
}
