//! Money arithmetic every close step needs: rounding to a currency's minor units (half away
//! from zero, as accountants expect) and splitting an amount by weights so that the rounded
//! shares add up exactly to the amount, the rounding remainder going to one chosen share.

use rust_decimal::{Decimal, RoundingStrategy};

/// The largest number of minor units a currency may have: `rust_decimal`'s largest scale.
pub const MINOR_UNITS_MAX: u8 = 28;

/// Rounds an amount to a currency's minor units (USD 2, JPY 0, KWD 3), half away from zero:
/// `0.125` USD becomes `0.13`, `-0.125` becomes `-0.13`. Minor units above 28 are treated as 28.
pub fn round_to_minor_units(amount: Decimal, minor_units: u8) -> Decimal {
    let places = u32::from(minor_units.min(MINOR_UNITS_MAX));
    amount.round_dp_with_strategy(places, RoundingStrategy::MidpointAwayFromZero)
}

/// Which share receives the rounding remainder of a split.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Remainder {
    /// The last share with a non-zero weight.
    Last,
    /// The share with the largest weight; the last of them when several are equally large.
    Largest,
}

/// A split that cannot be made.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SplitError {
    /// There were no weights to split over.
    #[error("cannot split an amount over no weights: give at least one weight")]
    NoWeights,
    /// A weight was negative.
    #[error("weight {weight} at position {position} is negative: weights must be zero or more")]
    NegativeWeight {
        /// The zero-based position of the weight.
        position: usize,
        /// The weight.
        weight: Decimal,
    },
    /// Every weight was zero, so there is nothing to split by.
    #[error("every weight is zero: at least one weight must be positive")]
    ZeroTotalWeight,
    /// A product or quotient left the range of `Decimal`.
    #[error("splitting {amount} overflows: the amount or the weights are too large")]
    Overflow {
        /// The amount being split.
        amount: Decimal,
    },
}

/// Splits `amount` into one share per weight, each rounded to `minor_units` half away from
/// zero, and puts the rounding remainder on the share chosen by `remainder`, so the shares
/// sum exactly to `amount` rounded to `minor_units`. Zero weights get zero shares.
///
/// Example: 100.00 split by weights 1, 1, 1 gives 33.33, 33.33, 33.34 with
/// [`Remainder::Last`].
pub fn split_by_weights(
    amount: Decimal,
    weights: &[Decimal],
    minor_units: u8,
    remainder: Remainder,
) -> Result<Vec<Decimal>, SplitError> {
    if weights.is_empty() {
        return Err(SplitError::NoWeights);
    }
    for (position, weight) in weights.iter().enumerate() {
        if weight.is_sign_negative() && !weight.is_zero() {
            return Err(SplitError::NegativeWeight {
                position,
                weight: *weight,
            });
        }
    }
    let overflow = || SplitError::Overflow { amount };
    let total_weight = weights
        .iter()
        .try_fold(Decimal::ZERO, |total, weight| total.checked_add(*weight))
        .ok_or_else(overflow)?;
    if total_weight.is_zero() {
        return Err(SplitError::ZeroTotalWeight);
    }
    let target = round_to_minor_units(amount, minor_units);
    let mut shares = Vec::with_capacity(weights.len());
    for weight in weights {
        let share = target
            .checked_mul(*weight)
            .and_then(|product| product.checked_div(total_weight))
            .ok_or_else(overflow)?;
        shares.push(round_to_minor_units(share, minor_units));
    }
    let receiver = remainder_receiver(weights, remainder);
    let allocated = shares
        .iter()
        .try_fold(Decimal::ZERO, |total, share| total.checked_add(*share))
        .ok_or_else(overflow)?;
    shares[receiver] = shares[receiver].checked_add(target - allocated).ok_or_else(overflow)?;
    let sum: Decimal = shares.iter().sum();
    assert_eq!(sum, target, "split shares must sum to the rounded amount");
    Ok(shares)
}

/// The position of the share that takes the remainder. At least one weight is positive.
fn remainder_receiver(weights: &[Decimal], remainder: Remainder) -> usize {
    match remainder {
        Remainder::Last => weights
            .iter()
            .rposition(|weight| !weight.is_zero())
            .unwrap_or(weights.len() - 1),
        Remainder::Largest => {
            let mut receiver = 0;
            for (position, weight) in weights.iter().enumerate() {
                if *weight >= weights[receiver] {
                    receiver = position;
                }
            }
            receiver
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decimal(text: &str) -> Decimal {
        crate::wire::parse_decimal(text).unwrap()
    }

    fn decimals(texts: &[&str]) -> Vec<Decimal> {
        texts.iter().map(|text| decimal(text)).collect()
    }

    #[test]
    fn rounds_half_away_from_zero() {
        // Midpoints move away from zero in both directions; other values round to nearest.
        assert_eq!(round_to_minor_units(decimal("0.125"), 2), decimal("0.13"));
        assert_eq!(round_to_minor_units(decimal("-0.125"), 2), decimal("-0.13"));
        assert_eq!(round_to_minor_units(decimal("2.5"), 0), decimal("3"));
        assert_eq!(round_to_minor_units(decimal("-2.5"), 0), decimal("-3"));
        assert_eq!(round_to_minor_units(decimal("1.0004"), 3), decimal("1.000"));
        assert_eq!(round_to_minor_units(decimal("833.333"), 2), decimal("833.33"));
    }

    #[test]
    fn remainder_goes_to_the_last_share() {
        // 100.00 in thirds: 33.33 + 33.33 + 33.34.
        let shares = split_by_weights(decimal("100.00"), &decimals(&["1", "1", "1"]), 2, Remainder::Last).unwrap();
        assert_eq!(shares, decimals(&["33.33", "33.33", "33.34"]));
    }

    #[test]
    fn remainder_goes_to_the_largest_share() {
        // 0.05 in thirds rounds to 0.02 + 0.02 + 0.02 = 0.06; the weights tie, so the last of
        // the largest gives the cent back.
        let shares = split_by_weights(decimal("0.05"), &decimals(&["1", "1", "1"]), 2, Remainder::Largest).unwrap();
        assert_eq!(shares, decimals(&["0.02", "0.02", "0.01"]));
        let shares = split_by_weights(decimal("100.00"), &decimals(&["5", "1", "1"]), 2, Remainder::Largest).unwrap();
        // 71.428… → 71.43, 14.285… → 14.29 twice: 100.01, so the largest gives back a cent.
        assert_eq!(shares, decimals(&["71.42", "14.29", "14.29"]));
    }

    #[test]
    fn negative_amounts_split_symmetrically() {
        // A credit splits like a debit with the signs flipped.
        let shares = split_by_weights(decimal("-100.00"), &decimals(&["1", "1", "1"]), 2, Remainder::Last).unwrap();
        assert_eq!(shares, decimals(&["-33.33", "-33.33", "-33.34"]));
    }

    #[test]
    fn zero_weights_get_nothing_and_never_the_remainder() {
        // The last non-zero weight takes the remainder, not a trailing zero weight.
        let shares = split_by_weights(decimal("100.00"), &decimals(&["1", "1", "1", "0"]), 2, Remainder::Last).unwrap();
        assert_eq!(shares, decimals(&["33.33", "33.33", "33.34", "0.00"]));
    }

    #[test]
    fn refuses_splits_that_cannot_be_made() {
        // No weights, negative weights and all-zero weights are each refused.
        assert_eq!(
            split_by_weights(decimal("1"), &[], 2, Remainder::Last),
            Err(SplitError::NoWeights)
        );
        assert_eq!(
            split_by_weights(decimal("1"), &decimals(&["1", "-1"]), 2, Remainder::Last),
            Err(SplitError::NegativeWeight {
                position: 1,
                weight: decimal("-1")
            })
        );
        assert_eq!(
            split_by_weights(decimal("1"), &decimals(&["0", "0"]), 2, Remainder::Last),
            Err(SplitError::ZeroTotalWeight)
        );
    }

    #[test]
    fn shares_always_sum_to_the_amount() {
        // Awkward weights and amounts still sum exactly.
        let weights = decimals(&["0.3", "7", "13.33", "1", "2.71828"]);
        for text in ["0.01", "1.00", "999.99", "-12345.67", "0.00"] {
            for remainder in [Remainder::Last, Remainder::Largest] {
                let shares = split_by_weights(decimal(text), &weights, 2, remainder).unwrap();
                assert_eq!(shares.iter().sum::<Decimal>(), decimal(text));
            }
        }
    }
}
