//! The SDK's native test harness (`closebook_plugin_sdk::testing::TestLedger`) promises plugin
//! authors the host's semantics. These tests hold it to the ledger's own code, not to a copy of
//! the rules: exchange-rate lookup against `RateTable::rate_on`, and fiscal-year shapes against
//! `FiscalCalendar::periods` for every start month.

use chrono::NaiveDate;
use closebook_ledger::calendar::{FiscalCalendar, PeriodKind};
use closebook_ledger::rate::{ExchangeRate, INVERSE_RATE_DECIMALS, RateTable};
use closebook_plugin_sdk::testing::{self, TestLedger};
use closebook_plugin_sdk::{EntityInfo, Ledger, PeriodKind as SdkPeriodKind};
use rust_decimal::Decimal;
use std::str::FromStr;

fn date(text: &str) -> NaiveDate {
    NaiveDate::from_str(text).expect("a test date")
}

/// (from, to, rate type, effective, rate): direct-only pairs, inverse-only pairs, a pair with
/// both directions starting on different dates, a zero rate, and several rate types.
const RATES: [(&str, &str, &str, &str, &str); 9] = [
    ("EUR", "USD", "spot", "2026-01-01", "1.08"),
    ("EUR", "USD", "spot", "2026-02-01", "1.10"),
    ("USD", "EUR", "spot", "2026-03-01", "0.9"),
    ("USD", "JPY", "spot", "2026-01-01", "150"),
    ("GBP", "USD", "spot", "2026-02-15", "1.27"),
    ("USD", "GBP", "average", "2026-01-01", "0.79"),
    ("USD", "GBP", "average", "2026-02-01", "0.7"),
    ("CHF", "USD", "spot", "2026-01-01", "0"),
    ("EUR", "USD", "average", "2026-01-01", "3"),
];

// Proves the harness answers every rate question exactly as the host's rate table does.
#[test]
fn rate_lookup_matches_the_host() {
    assert_eq!(testing::INVERSE_RATE_DECIMALS, INVERSE_RATE_DECIMALS);
    let table = RateTable::new(RATES.map(|(from, to, rate_type, effective, rate)| ExchangeRate {
        from: from.into(),
        to: to.into(),
        rate_type: rate_type.into(),
        effective: date(effective),
        rate: Decimal::from_str(rate).expect("a test rate"),
    }));
    let mut ledger = TestLedger::new();
    for (from, to, rate_type, effective, rate) in RATES {
        ledger.add_rate(from, to, rate_type, date(effective), testing::decimal(rate));
    }
    let currencies = ["USD", "EUR", "JPY", "GBP", "CHF"];
    let rate_types = ["spot", "average", "budget"];
    let dates = [
        "2025-12-31",
        "2026-01-01",
        "2026-01-31",
        "2026-02-01",
        "2026-02-20",
        "2026-03-01",
        "2026-12-31",
    ];
    let mut compared = 0;
    for from in currencies {
        for to in currencies {
            for rate_type in rate_types {
                for on in dates {
                    let host = table.rate_on(&from.into(), &to.into(), &rate_type.into(), date(on));
                    let harness = ledger
                        .rate(&from.into(), &to.into(), rate_type, date(on))
                        .expect("the harness answers every rate query");
                    assert_eq!(harness, host, "{rate_type} rate {from}->{to} on {on}");
                    compared += 1;
                }
            }
        }
    }
    assert_eq!(compared, 5 * 5 * 3 * 7);
}

// Proves the harness shapes a fiscal year like the host's calendar for every start month:
// same names, kinds, dates and fiscal-year name, in the same order.
#[test]
fn fiscal_years_match_the_host_for_every_start_month() {
    for start_month in 1..=12 {
        let calendar = FiscalCalendar::new(start_month).expect("a month");
        let year = calendar.fiscal_year(2028).expect("a supported year");
        let host: Vec<_> = calendar
            .periods(&year)
            .into_iter()
            .map(|period| {
                let kind = match period.kind {
                    PeriodKind::Opening => SdkPeriodKind::Opening,
                    PeriodKind::Operating => SdkPeriodKind::Operating,
                    PeriodKind::Closing => SdkPeriodKind::Closing,
                };
                (
                    period.name.to_string(),
                    kind,
                    period.start,
                    period.end,
                    period.fiscal_year.to_string(),
                )
            })
            .collect();
        let mut ledger = TestLedger::new();
        ledger
            .add_currency("USD", 2)
            .add_entity(EntityInfo::new("ACME", "Acme", "USD", "3900", "spot"))
            .add_fiscal_year_starting("ACME", 2028, start_month);
        let harness: Vec<_> = ledger
            .periods(&"ACME".into(), None)
            .expect("the entity exists")
            .into_iter()
            .map(|period| {
                (
                    period.name.to_string(),
                    period.kind,
                    period.start,
                    period.end,
                    period.fiscal_year,
                )
            })
            .collect();
        assert_eq!(harness, host, "fiscal year FY2028 starting in month {start_month}");
    }
}
