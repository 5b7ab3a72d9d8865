//! Exchange rates: per currency pair and rate type, effective from a date. A rate from EUR to
//! USD of 1.08 means 1 EUR = 1.08 USD. The rate on a date is the latest one effective on or
//! before it. When a pair has no rates of a type but its opposite has, the inverse is derived;
//! there is no triangulation through a third currency.

use crate::ids::{CurrencyCode, RateType};
use chrono::NaiveDate;
use rust_decimal::Decimal;
use std::collections::HashMap;

/// Decimal places kept on a derived inverse rate (1 / 1.08 = 0.925925925925…).
pub const INVERSE_RATE_DECIMALS: u32 = 12;

#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct ExchangeRate {
    pub from: CurrencyCode,
    pub to: CurrencyCode,
    pub rate_type: RateType,
    pub effective: NaiveDate,
    pub rate: Decimal,
}

/// An in-memory index of rates, loaded once per posting batch or query.
#[derive(Default, Debug, Clone)]
pub struct RateTable {
    /// (from, to, type) -> rates sorted by effective date.
    series: HashMap<(String, String, String), Vec<(NaiveDate, Decimal)>>,
}

impl RateTable {
    pub fn new(rates: impl IntoIterator<Item = ExchangeRate>) -> Self {
        let mut series: HashMap<(String, String, String), Vec<(NaiveDate, Decimal)>> = HashMap::new();
        for rate in rates {
            series
                .entry((rate.from.0, rate.to.0, rate.rate_type.0))
                .or_default()
                .push((rate.effective, rate.rate));
        }
        for points in series.values_mut() {
            points.sort_by_key(|(effective, _)| *effective);
        }
        Self { series }
    }

    /// The rate to convert `from` into `to` on `date`: 1 for the same currency, the latest
    /// direct rate on or before the date, or else the inverse of the opposite pair's.
    pub fn rate_on(
        &self,
        from: &CurrencyCode,
        to: &CurrencyCode,
        rate_type: &RateType,
        date: NaiveDate,
    ) -> Option<Decimal> {
        if from == to {
            return Some(Decimal::ONE);
        }
        let key = |a: &CurrencyCode, b: &CurrencyCode| (a.0.clone(), b.0.clone(), rate_type.0.clone());
        if let Some(points) = self.series.get(&key(from, to)) {
            return latest_on_or_before(points, date);
        }
        let opposite = self.series.get(&key(to, from))?;
        let rate = latest_on_or_before(opposite, date)?;
        inverse(rate)
    }
}

fn latest_on_or_before(points: &[(NaiveDate, Decimal)], date: NaiveDate) -> Option<Decimal> {
    let after = points.partition_point(|(effective, _)| *effective <= date);
    after.checked_sub(1).map(|index| points[index].1)
}

/// 1 / rate, kept to `INVERSE_RATE_DECIMALS` places; none for a zero rate.
pub fn inverse(rate: Decimal) -> Option<Decimal> {
    Decimal::ONE
        .checked_div(rate)
        .map(|value| value.round_dp(INVERSE_RATE_DECIMALS))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr;

    fn rate(from: &str, to: &str, kind: &str, date: &str, value: &str) -> ExchangeRate {
        ExchangeRate {
            from: from.into(),
            to: to.into(),
            rate_type: kind.into(),
            effective: NaiveDate::from_str(date).unwrap(),
            rate: Decimal::from_str(value).unwrap(),
        }
    }

    fn on(table: &RateTable, from: &str, to: &str, kind: &str, date: &str) -> Option<Decimal> {
        table.rate_on(
            &from.into(),
            &to.into(),
            &kind.into(),
            NaiveDate::from_str(date).unwrap(),
        )
    }

    #[test]
    fn latest_rate_on_or_before_the_date() {
        let table = RateTable::new([
            rate("EUR", "USD", "spot", "2026-01-31", "1.666667"),
            rate("EUR", "USD", "spot", "2026-01-01", "2"),
            rate("EUR", "USD", "spot", "2026-02-28", "2.5"),
        ]);
        assert_eq!(on(&table, "EUR", "USD", "spot", "2025-12-31"), None);
        assert_eq!(on(&table, "EUR", "USD", "spot", "2026-01-01"), Some(Decimal::from(2)));
        assert_eq!(on(&table, "EUR", "USD", "spot", "2026-01-30"), Some(Decimal::from(2)));
        assert_eq!(
            on(&table, "EUR", "USD", "spot", "2026-01-31"),
            Some(Decimal::from_str("1.666667").unwrap())
        );
        assert_eq!(
            on(&table, "EUR", "USD", "spot", "2026-12-31"),
            Some(Decimal::from_str("2.5").unwrap())
        );
    }

    #[test]
    fn rates_are_per_type() {
        let table = RateTable::new([
            rate("EUR", "USD", "spot", "2026-01-01", "1.10"),
            rate("EUR", "USD", "average", "2026-01-01", "1.05"),
        ]);
        assert_eq!(
            on(&table, "EUR", "USD", "average", "2026-01-15"),
            Some(Decimal::from_str("1.05").unwrap())
        );
        assert_eq!(on(&table, "EUR", "USD", "budget", "2026-01-15"), None);
    }

    #[test]
    fn inverse_is_derived_only_when_the_pair_is_missing() {
        let table = RateTable::new([
            rate("EUR", "USD", "spot", "2026-01-01", "1.25"),
            rate("USD", "JPY", "spot", "2026-01-01", "150"),
        ]);
        assert_eq!(
            on(&table, "USD", "EUR", "spot", "2026-01-02"),
            Some(Decimal::from_str("0.8").unwrap())
        );
        assert_eq!(
            on(&table, "JPY", "USD", "spot", "2026-01-02"),
            Some(Decimal::from_str("0.006666666667").unwrap())
        );
        // No triangulation: EUR -> JPY is not derived through USD.
        assert_eq!(on(&table, "EUR", "JPY", "spot", "2026-01-02"), None);
        assert_eq!(on(&table, "USD", "USD", "spot", "1900-01-01"), Some(Decimal::ONE));
    }

    #[test]
    fn zero_rate_has_no_inverse() {
        assert_eq!(inverse(Decimal::ZERO), None);
    }
}
