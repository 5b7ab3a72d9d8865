//! Legal entities: each keeps its own books in one accounting currency, on one fiscal calendar
//! and one chart of accounts.

use crate::ids::{AccountNumber, CalendarId, ChartId, CurrencyCode, EntityId, RateType};
use rust_decimal::Decimal;
use serde::Serialize;

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Entity {
    pub id: EntityId,
    pub name: String,
    /// The accounting currency: every entry balances in it.
    pub currency: CurrencyCode,
    pub calendar: CalendarId,
    pub chart: ChartId,
    /// Where year-end close transfers profit and loss.
    pub retained_earnings_account: AccountNumber,
    /// The rate type used to convert lines given without an accounting amount.
    pub default_rate_type: RateType,
    /// Absorbs conversion rounding of multi-line foreign-currency entries.
    pub penny_rounding_account: Option<AccountNumber>,
    /// The rounding absorbed per converted line, e.g. 0.01.
    pub penny_tolerance: Decimal,
}
