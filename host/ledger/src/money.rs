//! Exact money arithmetic. Amounts are `rust_decimal::Decimal`, never floats; text input follows
//! one strict grammar; rounding is explicit (half away from zero) and sums are checked so that
//! an overflow is a refusal, not a panic.

use rust_decimal::{Decimal, RoundingStrategy};

/// The most significant digits a decimal may carry, the limit of `rust_decimal` (the grammar and
/// its limits are the `closebook-wire` crate's, shared with the plugin SDK).
pub use closebook_wire::DECIMAL_SIGNIFICANT_DIGITS_MAX;

/// Why a decimal text was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecimalError {
    #[error("`{0}` is not a decimal number (expected digits with an optional sign and fraction, like -1250.00)")]
    Grammar(String),
    #[error("`{0}` has more than {DECIMAL_SIGNIFICANT_DIGITS_MAX} significant digits")]
    TooManyDigits(String),
}

/// Parses a decimal with the grammar `-?[0-9]+(\.[0-9]+)?`: no exponent, no `+`, no
/// separators, at most 28 significant digits. Used for every amount that enters the ledger.
pub fn parse_decimal(text: &str) -> Result<Decimal, DecimalError> {
    closebook_wire::parse_decimal(text).map_err(|error| match error {
        closebook_wire::DecimalTextError::Malformed => DecimalError::Grammar(text.to_owned()),
        closebook_wire::DecimalTextError::TooManyPlaces { .. }
        | closebook_wire::DecimalTextError::TooManySignificantDigits { .. } => {
            DecimalError::TooManyDigits(text.to_owned())
        }
    })
}

/// Parses a decimal written by a person in a file: the strict grammar, after trimming spaces
/// and accepting a leading `+`.
pub fn parse_amount_text(text: &str) -> Result<Decimal, DecimalError> {
    let trimmed = text.trim();
    parse_decimal(trimmed.strip_prefix('+').unwrap_or(trimmed))
}

/// Rounds to a currency's minor units, half away from zero (2.345 USD -> 2.35, -2.345 -> -2.35).
pub fn round_to_minor_units(amount: Decimal, minor_units: u32) -> Decimal {
    amount.round_dp_with_strategy(minor_units, RoundingStrategy::MidpointAwayFromZero)
}

/// `amount` with at least `minor_units` decimals (`12.5` USD -> `12.50`), more when it has
/// them, its value unchanged: how reports show an amount.
pub fn at_least_minor_units(amount: Decimal, minor_units: u32) -> Decimal {
    let mut amount = amount;
    amount.rescale(minor_units.max(amount.scale()));
    amount
}

/// The number of decimals an amount really uses (`10.50` uses 1, `10.505` uses 3).
pub fn decimals_used(amount: Decimal) -> u32 {
    amount.normalize().scale()
}

/// Formats an amount with at least `minor_units` decimals and without an exponent.
pub fn format_amount(amount: Decimal, minor_units: u32) -> String {
    let mut value = amount.normalize();
    if value.scale() < minor_units {
        value.rescale(minor_units);
    }
    if value.is_zero() {
        value = Decimal::new(0, minor_units);
    }
    value.to_string()
}

/// Adds two amounts, refusing an overflow instead of panicking.
pub fn checked_sum(left: Decimal, right: Decimal) -> Option<Decimal> {
    left.checked_add(right)
}

/// The opposite amount, with zero kept as plain zero: `-0` would print as "-0" and change a
/// reversal's canonical text (and so its hash) between writing and reading back.
pub fn negate(amount: Decimal) -> Decimal {
    if amount.is_zero() { Decimal::ZERO } else { -amount }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr;

    fn d(text: &str) -> Decimal {
        Decimal::from_str(text).unwrap()
    }

    #[test]
    fn grammar_accepts_plain_decimals() {
        assert_eq!(parse_decimal("0").unwrap(), d("0"));
        assert_eq!(parse_decimal("-1250.00").unwrap(), d("-1250.00"));
        assert_eq!(parse_decimal("0.000001").unwrap(), d("0.000001"));
        assert_eq!(
            parse_decimal("1234567890123456789012345678").unwrap(),
            d("1234567890123456789012345678")
        );
    }

    #[test]
    fn grammar_refuses_everything_else() {
        for text in [
            "", "-", "1.", ".5", "+1", "1e5", "1E-2", "1,000", " 1", "1 ", "--1", "0x10", "NaN", "1.2.3", "١",
        ] {
            assert!(
                matches!(parse_decimal(text), Err(DecimalError::Grammar(_))),
                "{text:?} was accepted"
            );
        }
    }

    #[test]
    fn grammar_refuses_more_than_28_significant_digits() {
        assert!(matches!(
            parse_decimal("12345678901234567890123456789"),
            Err(DecimalError::TooManyDigits(_))
        ));
        assert!(matches!(
            parse_decimal("0.12345678901234567890123456789"),
            Err(DecimalError::TooManyDigits(_))
        ));
        // Leading zeros are not significant.
        assert!(parse_decimal("000000000001").is_ok());
    }

    #[test]
    fn person_written_amounts_may_carry_a_plus_and_spaces() {
        assert_eq!(parse_amount_text(" +12.50 ").unwrap(), d("12.50"));
        assert!(parse_amount_text("1e3").is_err());
    }

    #[test]
    fn rounding_is_half_away_from_zero() {
        assert_eq!(round_to_minor_units(d("2.345"), 2), d("2.35"));
        assert_eq!(round_to_minor_units(d("-2.345"), 2), d("-2.35"));
        assert_eq!(round_to_minor_units(d("2.344"), 2), d("2.34"));
        assert_eq!(round_to_minor_units(d("833.3335"), 2), d("833.33"));
        assert_eq!(round_to_minor_units(d("1234.5"), 0), d("1235"));
        assert_eq!(round_to_minor_units(d("-1234.5"), 0), d("-1235"));
        assert_eq!(round_to_minor_units(d("1.0005"), 3), d("1.001"));
    }

    #[test]
    fn decimals_used_ignores_trailing_zeros() {
        assert_eq!(decimals_used(d("10.50")), 1);
        assert_eq!(decimals_used(d("10.505")), 3);
        assert_eq!(decimals_used(d("100")), 0);
    }

    #[test]
    fn formatting_pads_to_minor_units() {
        assert_eq!(format_amount(d("10.5"), 2), "10.50");
        assert_eq!(format_amount(d("-0.000"), 2), "0.00");
        assert_eq!(format_amount(d("1.23456"), 2), "1.23456");
        assert_eq!(format_amount(d("7"), 0), "7");
    }

    #[test]
    fn sums_refuse_overflow() {
        assert!(checked_sum(Decimal::MAX, d("1")).is_none());
        assert_eq!(checked_sum(d("1.10"), d("2.20")), Some(d("3.30")));
    }
}
