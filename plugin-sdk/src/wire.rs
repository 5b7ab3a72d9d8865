//! The text forms that cross the plugin boundary: decimals and dates. The WIT contract carries
//! money as strings with the grammar `-?[0-9]+(\.[0-9]+)?` (no exponent, at most 28 significant
//! digits) and dates as `YYYY-MM-DD`. This module parses them strictly, so that a malformed
//! amount is refused with a message instead of being silently rounded, and formats them so the
//! host always receives text it accepts. Floating point is never involved. The grammar and its
//! limits are the `closebook-wire` crate's, which the host's ledger uses too; the messages here
//! are worded for plugin authors.

use chrono::NaiveDate;
use closebook_wire::DecimalTextError;
use closebook_wire::decimal::significant_digits;
use rust_decimal::Decimal;
use serde::{Deserialize, Deserializer};

pub use closebook_wire::{DECIMAL_PATTERN, DECIMAL_SCALE_MAX, DECIMAL_SIGNIFICANT_DIGITS_MAX};

/// A decimal or date text that does not follow the boundary grammar.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum WireError {
    /// The text is not `-?[0-9]+(\.[0-9]+)?`.
    #[error(
        "decimal {text:?} is malformed: expected digits with an optional leading '-' and an \
         optional '.' followed by digits, without exponent, spaces or '+'"
    )]
    DecimalMalformed {
        /// The offending text.
        text: String,
    },
    /// The text has more significant digits than a `Decimal` holds exactly.
    #[error(
        "decimal {text:?} has {digits} significant digits: at most {DECIMAL_SIGNIFICANT_DIGITS_MAX} \
         are allowed"
    )]
    DecimalTooPrecise {
        /// The offending text.
        text: String,
        /// How many significant digits it has.
        digits: usize,
    },
    /// The text has more digits after the point than a `Decimal` holds.
    #[error("decimal {text:?} has {places} decimal places: at most {DECIMAL_SCALE_MAX} are allowed")]
    DecimalTooManyPlaces {
        /// The offending text.
        text: String,
        /// How many digits follow the point.
        places: usize,
    },
    /// A `Decimal` whose digits cannot be written within the grammar's 28 significant digits.
    #[error(
        "decimal {value} has {digits} significant digits: round it before it crosses the plugin \
         boundary (at most {DECIMAL_SIGNIFICANT_DIGITS_MAX})"
    )]
    DecimalUnrepresentable {
        /// The value, as `Display` writes it.
        value: String,
        /// How many significant digits it has.
        digits: usize,
    },
    /// The text is not a `YYYY-MM-DD` calendar date.
    #[error("date {text:?} is malformed: expected a calendar date written YYYY-MM-DD")]
    DateMalformed {
        /// The offending text.
        text: String,
    },
}

/// Parses a boundary decimal, refusing anything outside `-?[0-9]+(\.[0-9]+)?`, more than 28
/// significant digits, or more than 28 decimal places. The scale is kept: `"1250.00"` parses to
/// a value that formats back as `1250.00`. Negative zero parses as zero.
pub fn parse_decimal(text: &str) -> Result<Decimal, WireError> {
    // Negative zero comes back as zero (rust_decimal drops the sign of a zero it parses).
    closebook_wire::parse_decimal(text).map_err(|error| match error {
        DecimalTextError::Malformed => WireError::DecimalMalformed { text: text.to_owned() },
        DecimalTextError::TooManyPlaces { places } => WireError::DecimalTooManyPlaces {
            text: text.to_owned(),
            places,
        },
        DecimalTextError::TooManySignificantDigits { digits } => WireError::DecimalTooPrecise {
            text: text.to_owned(),
            digits,
        },
    })
}

/// Formats a decimal for the boundary: plain digits, no exponent, the value's own scale kept.
/// Refuses a value with more than 28 significant digits (only values near `Decimal::MAX` or
/// with 29-digit mantissas have them); round such a value first.
pub fn format_decimal(value: Decimal) -> Result<String, WireError> {
    let mut value = value;
    if value.is_zero() {
        value.set_sign_positive(true);
    }
    let text = value.to_string();
    let unsigned = text.strip_prefix('-').unwrap_or(&text);
    let (integer_digits, fraction_digits) = unsigned.split_once('.').unwrap_or((unsigned, ""));
    let digits = significant_digits(integer_digits, fraction_digits);
    if digits > DECIMAL_SIGNIFICANT_DIGITS_MAX {
        return Err(WireError::DecimalUnrepresentable { value: text, digits });
    }
    Ok(text)
}

/// Parses a boundary date, refusing anything but a valid `YYYY-MM-DD` (exactly ten characters,
/// zero-padded month and day).
pub fn parse_date(text: &str) -> Result<NaiveDate, WireError> {
    let malformed = || WireError::DateMalformed { text: text.to_owned() };
    let bytes = text.as_bytes();
    let shape_is_valid = bytes.len() == 10
        && bytes[4] == b'-'
        && bytes[7] == b'-'
        && bytes
            .iter()
            .enumerate()
            .all(|(index, byte)| index == 4 || index == 7 || byte.is_ascii_digit());
    if !shape_is_valid {
        return Err(malformed());
    }
    // The shape is checked: read the three numbers directly (chrono's format parser costs
    // several times more, and a step may read hundreds of thousands of dates).
    let number = |range: std::ops::Range<usize>| {
        bytes[range]
            .iter()
            .fold(0_u32, |value, byte| value * 10 + u32::from(byte - b'0'))
    };
    let year = i32::try_from(number(0..4)).expect("four digits fit an i32");
    NaiveDate::from_ymd_opt(year, number(5..7), number(8..10)).ok_or_else(malformed)
}

/// Formats a date for the boundary as `YYYY-MM-DD`.
pub fn format_date(date: NaiveDate) -> String {
    date.format("%Y-%m-%d").to_string()
}

/// Deserializes a decimal written as a JSON string in the boundary grammar, for configuration
/// structs: `#[serde(deserialize_with = "closebook_plugin_sdk::wire::deserialize_decimal")]`.
/// A JSON number is refused, because it may already have passed through a float.
pub fn deserialize_decimal<'de, D>(deserializer: D) -> Result<Decimal, D::Error>
where
    D: Deserializer<'de>,
{
    let text = String::deserialize(deserializer)?;
    parse_decimal(&text).map_err(serde::de::Error::custom)
}

/// [`deserialize_decimal`] for an optional field: `#[serde(default, deserialize_with =
/// "closebook_plugin_sdk::wire::deserialize_optional_decimal")]` (absent is None; a JSON
/// number is refused as there).
pub fn deserialize_optional_decimal<'de, D>(deserializer: D) -> Result<Option<Decimal>, D::Error>
where
    D: Deserializer<'de>,
{
    deserialize_decimal(deserializer).map(Some)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_the_grammar_and_keeps_the_scale() {
        // Every form the grammar allows parses, and formats back to the same text.
        for text in ["0", "7", "-1250.00", "0.0001", "123456789.123456789"] {
            let value = parse_decimal(text).unwrap();
            assert_eq!(format_decimal(value).unwrap(), text);
        }
    }

    #[test]
    fn refuses_everything_outside_the_grammar() {
        // Exponents, signs other than a leading '-', spaces, bare points and empty text are all
        // refused as malformed.
        for text in [
            "", "-", "+1", "1e3", "1E3", " 1", "1 ", ".5", "5.", "-.5", "1.2.3", "1,000", "--1", "0x10", "NaN", "inf",
            "١", "1_000",
        ] {
            assert_eq!(
                parse_decimal(text),
                Err(WireError::DecimalMalformed { text: text.to_owned() }),
                "{text:?} should be refused"
            );
        }
    }

    #[test]
    fn allows_exactly_twenty_eight_significant_digits() {
        // Leading zeros do not count; the 29th significant digit is refused.
        let twenty_eight = "1234567890123456789012345678";
        assert!(parse_decimal(twenty_eight).is_ok());
        assert!(parse_decimal(&format!("000{twenty_eight}")).is_ok());
        assert!(parse_decimal("0.0000000000000000000000000001").is_ok());
        assert_eq!(
            parse_decimal("12345678901234567890123456789"),
            Err(WireError::DecimalTooPrecise {
                text: "12345678901234567890123456789".to_owned(),
                digits: 29,
            })
        );
        assert_eq!(
            parse_decimal("0.00000000000000000000000000001"),
            Err(WireError::DecimalTooManyPlaces {
                text: "0.00000000000000000000000000001".to_owned(),
                places: 29,
            })
        );
    }

    #[test]
    fn negative_zero_is_zero() {
        // "-0.00" is allowed by the grammar and means zero; it formats without the sign.
        let value = parse_decimal("-0.00").unwrap();
        assert!(value.is_zero());
        assert_eq!(format_decimal(value).unwrap(), "0.00");
    }

    #[test]
    fn format_refuses_values_the_grammar_cannot_carry() {
        // Decimal::MAX has 29 significant digits, one more than the boundary allows.
        assert!(matches!(
            format_decimal(Decimal::MAX),
            Err(WireError::DecimalUnrepresentable { digits: 29, .. })
        ));
        // A computed value never uses an exponent.
        let tiny = Decimal::new(1, 28);
        assert_eq!(format_decimal(tiny).unwrap(), "0.0000000000000000000000000001");
    }

    #[test]
    fn dates_are_strict() {
        // Only zero-padded, valid calendar dates parse.
        assert_eq!(
            parse_date("2026-01-31").unwrap(),
            NaiveDate::from_ymd_opt(2026, 1, 31).unwrap()
        );
        for text in ["2026-1-31", "2026-02-30", "26-01-31", "2026/01/31", "2026-01-31T00:00"] {
            assert!(parse_date(text).is_err(), "{text:?} should be refused");
        }
        assert_eq!(format_date(NaiveDate::from_ymd_opt(2026, 3, 5).unwrap()), "2026-03-05");
    }

    #[test]
    fn dates_parse_exactly_as_chrono_parses_them() {
        // The direct reading accepts and refuses what `%Y-%m-%d` does, on every day of four
        // years (a leap year among them) and on the edges of the month and day numbers.
        let mut day = NaiveDate::from_ymd_opt(2023, 1, 1).unwrap();
        while day < NaiveDate::from_ymd_opt(2027, 1, 1).unwrap() {
            let text = format_date(day);
            assert_eq!(parse_date(&text).unwrap(), day, "{text}");
            day = day.succ_opt().unwrap();
        }
        for text in [
            "2026-00-10",
            "2026-13-10",
            "2026-01-00",
            "2026-01-32",
            "2026-04-31",
            "2024-02-29",
            "2100-02-29",
            "2000-02-29",
            "0000-01-01",
            "9999-12-31",
        ] {
            assert_eq!(
                parse_date(text).ok(),
                NaiveDate::parse_from_str(text, "%Y-%m-%d").ok(),
                "{text}"
            );
        }
    }

    #[test]
    fn configuration_decimals_must_be_strings() {
        // A config field given as a JSON string parses; a JSON number is refused.
        #[derive(serde::Deserialize)]
        struct Config {
            #[serde(deserialize_with = "deserialize_decimal")]
            percent: Decimal,
        }
        let config: Config = serde_json::from_str(r#"{"percent": "2.5"}"#).unwrap();
        assert_eq!(config.percent, Decimal::new(25, 1));
        assert!(serde_json::from_str::<Config>(r#"{"percent": 2.5}"#).is_err());
        assert!(serde_json::from_str::<Config>(r#"{"percent": "2.5e0"}"#).is_err());
    }
}
