//! Currencies and their minor units (USD 2, JPY 0): what rounding and amount checks need.

use super::Db;
use super::row::{Fields, all};
use super::sql::args;
use crate::error::LedgerError;
use crate::ids::CurrencyCode;
use std::collections::HashMap;

const KEY: &[&str] = &["code"];

impl Db<'_> {
    pub fn upsert_currency(&self, code: &str, name: &str, minor_units: u32) -> Result<(), LedgerError> {
        self.connection.execute(
            "INSERT INTO currencies (code, name, minor_units) VALUES (?1, ?2, ?3)
             ON CONFLICT (code) DO UPDATE SET name = excluded.name, minor_units = excluded.minor_units",
            args![code, name, minor_units],
        )?;
        Ok(())
    }

    pub fn currencies(&self) -> Result<HashMap<CurrencyCode, u32>, LedgerError> {
        let mut statement = self.connection.prepare("SELECT code, minor_units FROM currencies")?;
        let rows = all(&mut statement, args![], |row| {
            let fields = Fields::new(row, "currencies", KEY);
            Ok((CurrencyCode(fields.text("code")?), fields.whole("minor_units")?))
        })?;
        Ok(rows.into_iter().collect())
    }

    /// The minor units (decimals) of `currency`; 2 for a currency the ledger does not know.
    pub fn minor_units(&self, currency: &CurrencyCode) -> Result<u32, LedgerError> {
        Ok(self.currencies()?.get(currency).copied().unwrap_or(2))
    }

    pub fn currency_list(&self) -> Result<Vec<(CurrencyCode, String, u32)>, LedgerError> {
        let mut statement = self
            .connection
            .prepare("SELECT code, name, minor_units FROM currencies ORDER BY code")?;
        all(&mut statement, args![], |row| {
            let fields = Fields::new(row, "currencies", KEY);
            Ok((
                CurrencyCode(fields.text("code")?),
                fields.text("name")?,
                fields.whole("minor_units")?,
            ))
        })
    }
}
