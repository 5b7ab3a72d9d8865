//! Identifier newtypes. Entity ids, account numbers, period names and the rest are all text in
//! the store, but mixing them up is a bug the compiler should catch, so each gets its own type.

use std::fmt;

macro_rules! text_id {
    ($(#[$meta:meta])* $name:ident) => {
        $(#[$meta])*
        #[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub String);

        impl $name {
            pub fn new(value: impl Into<String>) -> Self {
                Self(value.into())
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
                formatter.write_str(&self.0)
            }
        }

        impl From<&str> for $name {
            fn from(value: &str) -> Self {
                Self(value.to_owned())
            }
        }
    };
}

text_id!(
    /// A legal entity, e.g. `ACME-US`.
    EntityId
);
text_id!(
    /// A main account number in a chart of accounts, e.g. `1100`.
    AccountNumber
);
text_id!(
    /// A fiscal period name: `2026-01`, `FY2026-opening`, `FY2026-closing`.
    PeriodName
);
text_id!(
    /// A fiscal year name, `FY2026`, named by the calendar year in which it ends.
    FiscalYearName
);
text_id!(
    /// An ISO currency code, e.g. `USD`.
    CurrencyCode
);
text_id!(
    /// A user who acts on the ledger; recorded in the audit trail.
    UserId
);
text_id!(
    /// A journal entry's idempotency key, unique within its entity.
    EntryKey
);
text_id!(
    /// An exchange rate type: `spot`, `average`, `historical`, `budget`…
    RateType
);
text_id!(
    /// A fiscal calendar.
    CalendarId
);
text_id!(
    /// A chart of accounts, shared by the entities that name it.
    ChartId
);
