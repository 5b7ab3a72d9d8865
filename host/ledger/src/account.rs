//! Main accounts and their types. The type decides where an account reports (balance sheet or
//! profit and loss) and whether its balance carries across fiscal years.

use crate::ids::{AccountNumber, CurrencyCode, RateType};
use serde::Serialize;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AccountType {
    Asset,
    Liability,
    Equity,
    Revenue,
    Expense,
}

impl AccountType {
    pub const ALL: [AccountType; 5] = [
        AccountType::Asset,
        AccountType::Liability,
        AccountType::Equity,
        AccountType::Revenue,
        AccountType::Expense,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            AccountType::Asset => "asset",
            AccountType::Liability => "liability",
            AccountType::Equity => "equity",
            AccountType::Revenue => "revenue",
            AccountType::Expense => "expense",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        AccountType::ALL
            .into_iter()
            .find(|kind| kind.as_str() == text.trim().to_ascii_lowercase())
    }

    /// Asset, liability and equity accounts report on the balance sheet and carry their
    /// balances into the next year; revenue and expense accounts start every year at zero.
    pub fn is_balance_sheet(self) -> bool {
        matches!(self, AccountType::Asset | AccountType::Liability | AccountType::Equity)
    }
}

/// A main account of a chart of accounts.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Account {
    pub number: AccountNumber,
    pub name: String,
    pub account_type: AccountType,
    /// Flagged for foreign currency revaluation.
    pub revalue: bool,
    /// Enabled for ledger settlement.
    pub settle: bool,
    /// The rate type revaluation uses, when not the entity's default.
    pub rate_type: Option<RateType>,
    /// Lines on this account must be in this currency.
    pub fixed_currency: Option<CurrencyCode>,
    /// Groups accounts in the financial statements ("Cash", "Receivables"…).
    pub category: Option<String>,
    /// Blocked accounts refuse new postings.
    pub blocked: bool,
}
