//! Exchange rates per currency pair and rate type, effective from a date.

use super::Db;
use super::row::{Fields, all};
use super::sql::args;
use crate::error::LedgerError;
use crate::ids::{CurrencyCode, RateType};
use crate::rate::ExchangeRate;

const KEY: &[&str] = &["from_currency", "to_currency", "rate_type", "effective_date"];

impl Db<'_> {
    pub fn upsert_rate(&self, rate: &ExchangeRate) -> Result<(), LedgerError> {
        self.connection
            .prepare(
                "INSERT INTO rates (from_currency, to_currency, rate_type, effective_date, rate) VALUES (?1, ?2, ?3, ?4, ?5)
                 ON CONFLICT (from_currency, to_currency, rate_type, effective_date) DO UPDATE SET rate = excluded.rate",
            )?
            .execute(args![rate.from.as_str(), rate.to.as_str(), rate.rate_type.as_str(), rate.effective.to_string(), rate.rate.to_string()])?;
        Ok(())
    }

    /// Rates into or out of `currency` (all rates when none), ordered.
    pub fn rates(&self, currency: Option<&CurrencyCode>) -> Result<Vec<ExchangeRate>, LedgerError> {
        let mut statement = self.connection.prepare(
            "SELECT from_currency, to_currency, rate_type, effective_date, rate FROM rates
             WHERE CAST(?1 AS TEXT) IS NULL OR from_currency = ?1 OR to_currency = ?1
             ORDER BY from_currency, to_currency, rate_type, effective_date",
        )?;
        all(
            &mut statement,
            args![currency.map(|currency| currency.as_str())],
            |row| {
                let fields = Fields::new(row, "rates", KEY);
                Ok(ExchangeRate {
                    from: CurrencyCode(fields.text("from_currency")?),
                    to: CurrencyCode(fields.text("to_currency")?),
                    rate_type: RateType(fields.text("rate_type")?),
                    effective: fields.date("effective_date")?,
                    rate: fields.decimal("rate")?,
                })
            },
        )
    }
}
