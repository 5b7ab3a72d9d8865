//! The decimal grammar: how an amount, a rate or a percentage is written as text wherever
//! closebook reads one (the WIT boundary, configuration, imported files after trimming). The
//! grammar is `-?[0-9]+(\.[0-9]+)?`: no exponent, no `+`, no separators or spaces, digits on
//! both sides of a point. A value must also fit `rust_decimal` exactly, which bounds its
//! significant digits and its decimal places. Floating point is never involved.

use rust_decimal::Decimal;

/// The most significant digits a decimal may carry. `rust_decimal` holds a 96-bit mantissa
/// (about 28.9 digits), so 28 is the most that always fits exactly.
pub const DECIMAL_SIGNIFICANT_DIGITS_MAX: usize = 28;

/// The most digits after the decimal point: `rust_decimal`'s largest scale.
pub const DECIMAL_SCALE_MAX: usize = 28;

/// The grammar as a JSON Schema `pattern`, for configuration fields that hold a decimal.
pub const DECIMAL_PATTERN: &str = r"^-?[0-9]+(\.[0-9]+)?$";

/// Why a text is not a decimal. The callers word the message for their readers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DecimalTextError {
    /// The text is not `-?[0-9]+(\.[0-9]+)?`.
    Malformed,
    /// More digits after the point than [`DECIMAL_SCALE_MAX`].
    TooManyPlaces {
        /// How many digits follow the point.
        places: usize,
    },
    /// More significant digits than [`DECIMAL_SIGNIFICANT_DIGITS_MAX`].
    TooManySignificantDigits {
        /// How many significant digits the text has.
        digits: usize,
    },
}

/// Parses a decimal in the grammar, refusing more than [`DECIMAL_SCALE_MAX`] places (checked
/// first) or [`DECIMAL_SIGNIFICANT_DIGITS_MAX`] significant digits. The scale is kept: `"1250.00"`
/// parses to a value that writes back as `1250.00`. `"-0.00"` parses to zero (`0.00`).
pub fn parse_decimal(text: &str) -> Result<Decimal, DecimalTextError> {
    let unsigned = text.strip_prefix('-').unwrap_or(text);
    let (integer_digits, fraction_digits) = match unsigned.split_once('.') {
        Some((integer_digits, fraction_digits)) => (integer_digits, Some(fraction_digits)),
        None => (unsigned, None),
    };
    let all_digits = |part: &str| !part.is_empty() && part.bytes().all(|byte| byte.is_ascii_digit());
    if !all_digits(integer_digits) || fraction_digits.is_some_and(|fraction| !all_digits(fraction)) {
        return Err(DecimalTextError::Malformed);
    }
    let fraction_digits = fraction_digits.unwrap_or("");
    if fraction_digits.len() > DECIMAL_SCALE_MAX {
        return Err(DecimalTextError::TooManyPlaces {
            places: fraction_digits.len(),
        });
    }
    let digits = significant_digits(integer_digits, fraction_digits);
    if digits > DECIMAL_SIGNIFICANT_DIGITS_MAX {
        return Err(DecimalTextError::TooManySignificantDigits { digits });
    }
    // The grammar and both limits hold: at most 28 significant digits, so the digits read as
    // one integer fit a u128 and the 96-bit mantissa (10^28 < 2^96), and at most 28 places, so
    // the scale is valid. Built directly, not by rust_decimal's general parser: a close step
    // reads hundreds of thousands of amounts, and that parser costs several times more. The
    // tests compare both on every shape.
    let all_digits = || integer_digits.bytes().chain(fraction_digits.bytes());
    // Most amounts have at most 19 digits and fit a u64, whose arithmetic is native on the
    // guests' 32-bit WebAssembly too, where u128's is a library call.
    let mantissa = if integer_digits.len() + fraction_digits.len() <= 19 {
        i128::from(all_digits().fold(0_u64, |value, digit| value * 10 + u64::from(digit - b'0')))
    } else {
        let wide = all_digits().fold(0_u128, |value, digit| value * 10 + u128::from(digit - b'0'));
        i128::try_from(wide).map_err(|_| DecimalTextError::TooManySignificantDigits { digits })?
    };
    let signed = if text.starts_with('-') { -mantissa } else { mantissa };
    let scale = u32::try_from(fraction_digits.len()).map_err(|_| DecimalTextError::TooManyPlaces {
        places: fraction_digits.len(),
    })?;
    Decimal::try_from_i128_with_scale(signed, scale).map_err(|_| DecimalTextError::TooManySignificantDigits { digits })
}

/// Counts the significant digits of a decimal's digit strings: every digit after the leading
/// zeros of the whole digit string. Trailing zeros count, because they carry the scale (`1.50`
/// has three).
pub fn significant_digits(integer_digits: &str, fraction_digits: &str) -> usize {
    let all_digits = integer_digits.bytes().chain(fraction_digits.bytes());
    all_digits.skip_while(|digit| *digit == b'0').count()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr;

    #[test]
    fn accepts_the_grammar_and_keeps_the_scale() {
        // Every form the grammar allows parses, and writes back to the same text.
        for text in ["0", "7", "-1250.00", "0.0001", "0.000001", "123456789.123456789"] {
            assert_eq!(parse_decimal(text).unwrap().to_string(), text);
        }
        assert_eq!(
            parse_decimal("-1250.00").unwrap(),
            Decimal::from_str("-1250.00").unwrap()
        );
    }

    #[test]
    fn refuses_everything_outside_the_grammar() {
        // Exponents, signs other than a leading '-', spaces, bare points, separators and empty
        // text are all malformed.
        for text in [
            "", "-", "+1", "1e3", "1E3", "1e5", "1E-2", " 1", "1 ", ".5", "5.", "1.", "-.5", "1.2.3", "1,000", "--1",
            "0x10", "NaN", "inf", "١", "1_000",
        ] {
            assert_eq!(
                parse_decimal(text),
                Err(DecimalTextError::Malformed),
                "{text:?} should be refused"
            );
        }
    }

    #[test]
    fn allows_exactly_twenty_eight_significant_digits() {
        // Leading zeros do not count; the 29th significant digit is refused.
        let twenty_eight = "1234567890123456789012345678";
        assert!(parse_decimal(twenty_eight).is_ok());
        assert!(parse_decimal(&format!("-{twenty_eight}")).is_ok());
        assert!(parse_decimal(&format!("000{twenty_eight}")).is_ok());
        assert!(parse_decimal("000000000001").is_ok());
        assert!(parse_decimal("0.0000000000000000000000000001").is_ok());
        assert!(parse_decimal("0.1234567890123456789012345678").is_ok());
        assert_eq!(
            parse_decimal("12345678901234567890123456789"),
            Err(DecimalTextError::TooManySignificantDigits { digits: 29 })
        );
        assert_eq!(
            parse_decimal("1234567890123456789.0123456789"),
            Err(DecimalTextError::TooManySignificantDigits { digits: 29 })
        );
    }

    #[test]
    fn places_are_checked_before_digits() {
        // 29 places is too many whether or not the digits are significant.
        assert_eq!(
            parse_decimal("0.00000000000000000000000000001"),
            Err(DecimalTextError::TooManyPlaces { places: 29 })
        );
        assert_eq!(
            parse_decimal("0.12345678901234567890123456789"),
            Err(DecimalTextError::TooManyPlaces { places: 29 })
        );
    }

    #[test]
    fn every_text_within_the_limits_fits_a_decimal() {
        // The edges of both limits, with many leading and trailing zeros, are accepted by
        // rust_decimal too, so its refusal stays unreachable.
        let zeros = |count: usize| "0".repeat(count);
        let nines = |count: usize| "9".repeat(count);
        for text in [
            format!("{}1", zeros(60)),
            format!("{}1.{}", zeros(60), zeros(27)),
            format!("-{}.{}", zeros(60), zeros(28)),
            nines(28),
            format!("-{}", nines(28)),
            format!("0.{}", nines(28)),
            format!("{}.{}", nines(14), nines(14)),
        ] {
            assert!(parse_decimal(&text).is_ok(), "{text:?} was refused");
        }
    }

    #[test]
    fn builds_the_same_value_as_rust_decimals_parser() {
        // The direct construction must equal rust_decimal's own parse in value, scale and sign,
        // for every shape: signs, leading and trailing zeros, every scale, the largest mantissas.
        let mut texts: Vec<String> = vec![
            "0".into(),
            "-0".into(),
            "-0.00".into(),
            "0000.0100".into(),
            "79228162514264337593543950335".chars().take(28).collect(),
            format!("0.{}", "9".repeat(28)),
            format!("-{}", "9".repeat(28)),
            format!("{}.{}", "9".repeat(14), "9".repeat(14)),
            format!("0.{}1", "0".repeat(27)),
        ];
        // A deterministic spread of integer and fraction lengths and digits.
        let mut seed: u64 = 0x9E37_79B9_7F4A_7C15;
        for _ in 0..20_000 {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            let integer_length = 1 + (seed % 15) as usize;
            let fraction_length = ((seed >> 8) % 14) as usize;
            let digits: String = (0..integer_length + fraction_length)
                .map(|index| char::from(b'0' + ((seed >> (index % 60)) % 10) as u8))
                .collect();
            let (integer, fraction) = digits.split_at(integer_length);
            let sign = if seed & 1 == 1 { "-" } else { "" };
            texts.push(if fraction.is_empty() {
                format!("{sign}{integer}")
            } else {
                format!("{sign}{integer}.{fraction}")
            });
        }
        for text in texts {
            let ours = parse_decimal(&text).unwrap_or_else(|error| panic!("{text:?} refused: {error:?}"));
            let theirs = Decimal::from_str_exact(&text).unwrap();
            assert_eq!(ours, theirs, "{text:?}");
            assert_eq!(ours.scale(), theirs.scale(), "{text:?}");
            assert_eq!(ours.is_sign_negative(), theirs.is_sign_negative(), "{text:?}");
            assert_eq!(ours.to_string(), theirs.to_string(), "{text:?}");
        }
    }

    #[test]
    fn negative_zero_is_zero() {
        // "-0.00" is in the grammar and means zero, with its scale and without its sign.
        let value = parse_decimal("-0.00").unwrap();
        assert!(value.is_zero());
        assert!(value.is_sign_positive());
        assert_eq!(value.to_string(), "0.00");
    }

    #[test]
    fn the_pattern_spells_the_grammar() {
        // Configuration schemas use this pattern; it must say what parse_decimal accepts.
        assert_eq!(DECIMAL_PATTERN, "^-?[0-9]+(\\.[0-9]+)?$");
    }

    #[test]
    fn significant_digits_skip_leading_zeros_and_keep_trailing_ones() {
        assert_eq!(significant_digits("000", "0150"), 3);
        assert_eq!(significant_digits("1", "50"), 3);
        assert_eq!(significant_digits("0", ""), 0);
    }
}
