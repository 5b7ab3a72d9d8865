//! The chart of accounts: charts and their main accounts (type, revaluation and settlement
//! flags, fixed currency, statement category, blocked).

use super::Db;
use super::row::{Fields, all, first};
use super::sql::{Row, args};
use crate::account::{Account, AccountType};
use crate::error::LedgerError;
use crate::ids::{AccountNumber, ChartId, CurrencyCode, RateType};

const ACCOUNT_COLUMNS: &str =
    "chart_id, number, name, account_type, revalue, settle, rate_type, fixed_currency, category, blocked";

impl Account {
    fn from_row(row: &Row<'_>) -> Result<Self, LedgerError> {
        let fields = Fields::new(row, "accounts", &["chart_id", "number"]);
        Ok(Account {
            number: AccountNumber(fields.text("number")?),
            name: fields.text("name")?,
            account_type: fields.parsed("account_type", "an account type", AccountType::parse)?,
            revalue: fields.flag("revalue")?,
            settle: fields.flag("settle")?,
            rate_type: fields.optional_text("rate_type")?.map(RateType),
            fixed_currency: fields.optional_text("fixed_currency")?.map(CurrencyCode),
            category: fields.optional_text("category")?,
            blocked: fields.flag("blocked")?,
        })
    }
}

impl Db<'_> {
    pub fn upsert_chart(&self, chart: &ChartId, name: &str) -> Result<(), LedgerError> {
        self.connection.execute(
            "INSERT INTO charts (id, name) VALUES (?1, ?2) ON CONFLICT (id) DO UPDATE SET name = excluded.name",
            args![chart.as_str(), name],
        )?;
        Ok(())
    }

    pub fn chart_exists(&self, chart: &ChartId) -> Result<bool, LedgerError> {
        self.connection
            .exists("SELECT 1 FROM charts WHERE id = ?1", args![chart.as_str()])
    }

    pub fn account(&self, chart: &ChartId, number: &AccountNumber) -> Result<Option<Account>, LedgerError> {
        let mut statement = self.connection.prepare(&format!(
            "SELECT {ACCOUNT_COLUMNS} FROM accounts WHERE chart_id = ?1 AND number = ?2"
        ))?;
        first(
            &mut statement,
            args![chart.as_str(), number.as_str()],
            Account::from_row,
        )
    }

    pub fn upsert_account(&self, chart: &ChartId, account: &Account) -> Result<(), LedgerError> {
        self.connection.prepare(
            "INSERT INTO accounts (chart_id, number, name, account_type, revalue, settle, rate_type, fixed_currency, category, blocked)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)
             ON CONFLICT (chart_id, number) DO UPDATE SET name = excluded.name, account_type = excluded.account_type,
                revalue = excluded.revalue, settle = excluded.settle, rate_type = excluded.rate_type,
                fixed_currency = excluded.fixed_currency, category = excluded.category, blocked = excluded.blocked",
        )?
        .execute(args![
            chart.as_str(),
            account.number.as_str(),
            account.name,
            account.account_type.as_str(),
            account.revalue,
            account.settle,
            account.rate_type.as_ref().map(|rate_type| rate_type.as_str()),
            account.fixed_currency.as_ref().map(|currency| currency.as_str()),
            account.category,
            account.blocked
        ])?;
        Ok(())
    }

    /// Whether any entity on this chart has posted lines on the account.
    pub fn account_has_lines(&self, chart: &ChartId, number: &AccountNumber) -> Result<bool, LedgerError> {
        self.connection.exists(
            "SELECT 1 FROM lines l JOIN entities e ON e.id = l.entity_id WHERE e.chart_id = ?1 AND l.account = ?2 LIMIT 1",
            args![chart.as_str(), number.as_str()],
        )
    }

    pub fn accounts(&self, chart: &ChartId) -> Result<Vec<Account>, LedgerError> {
        let mut statement = self.connection.prepare(&format!(
            "SELECT {ACCOUNT_COLUMNS} FROM accounts WHERE chart_id = ?1 ORDER BY number"
        ))?;
        all(&mut statement, args![chart.as_str()], Account::from_row)
    }
}
