//! Identifier newtypes: entity ids, account numbers, currency codes, period names and the
//! numeric ids of posted lines, entries and settlements. They keep one kind of name from being
//! passed where another is expected, and they cross the plugin boundary as plain text or `u64`.

use std::fmt;

use serde::{Deserialize, Serialize};

/// Defines a newtype over `String` with the conversions a plugin author needs: from `&str` and
/// `String`, comparison with `str`, `Display`, and serde as a plain string.
macro_rules! text_id {
    ($(#[$meta:meta])* $name:ident) => {
        $(#[$meta])*
        #[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            /// Wraps a text value.
            pub fn new(value: impl Into<String>) -> Self {
                Self(value.into())
            }

            /// The value as text.
            pub fn as_str(&self) -> &str {
                &self.0
            }

            /// The value as an owned `String`.
            pub fn into_string(self) -> String {
                self.0
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

        impl From<String> for $name {
            fn from(value: String) -> Self {
                Self(value)
            }
        }

        impl From<&$name> for $name {
            fn from(value: &$name) -> Self {
                value.clone()
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl PartialEq<str> for $name {
            fn eq(&self, other: &str) -> bool {
                self.0 == other
            }
        }

        impl PartialEq<&str> for $name {
            fn eq(&self, other: &&str) -> bool {
                self.0 == *other
            }
        }
    };
}

/// Defines a newtype over `u64` for ids the ledger assigns.
macro_rules! number_id {
    ($(#[$meta:meta])* $name:ident) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub u64);

        impl $name {
            /// The id as a number.
            pub fn get(self) -> u64 {
                self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(formatter, "{}", self.0)
            }
        }

        impl From<u64> for $name {
            fn from(value: u64) -> Self {
                Self(value)
            }
        }
    };
}

text_id!(
    /// A legal entity's id, e.g. `ACME-US`.
    EntityId
);
text_id!(
    /// A main account number, e.g. `4000`. Account ranges compare these as text.
    AccountNumber
);
text_id!(
    /// An ISO 4217 currency code, e.g. `USD`.
    CurrencyCode
);
text_id!(
    /// A period name: `YYYY-MM` for operating periods, `FY2026-opening`, `FY2026-closing`.
    PeriodName
);
number_id!(
    /// The id of a posted journal line; lines are paged in increasing id order.
    LineId
);
number_id!(
    /// The id of a posted journal entry.
    EntryId
);
number_id!(
    /// The id of a ledger settlement (a set of lines of one account that net to zero).
    SettlementId
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_ids_compare_with_plain_text_and_serialize_as_strings() {
        // An account number behaves like its text in comparisons and in JSON.
        let account = AccountNumber::from("4000");
        assert_eq!(account, "4000");
        assert_eq!(account.to_string(), "4000");
        assert_eq!(serde_json::to_string(&account).unwrap(), "\"4000\"");
        let parsed: AccountNumber = serde_json::from_str("\"6100\"").unwrap();
        assert_eq!(parsed.as_str(), "6100");
    }

    #[test]
    fn number_ids_order_by_value() {
        // Line ids order numerically, which is what cursor paging relies on.
        assert!(LineId(9) < LineId(10));
        assert_eq!(LineId::from(7).get(), 7);
    }
}
