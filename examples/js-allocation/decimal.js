// Exact decimal arithmetic for the JavaScript allocation step. JavaScript has no decimal type and
// its Number is a binary float (0.1 + 0.2 !== 0.3), so money never becomes a Number here: a
// decimal is a BigInt count of units at a scale, `{ units: 450000n, scale: 2 }` for 4500.00,
// parsed from and printed to the host's decimal strings. Sums and products are exact; a quotient
// is rounded once, straight to the currency's minor units, half away from zero, as the host and
// the Rust SDK round. Scales follow rust_decimal's (and Python decimal's) rules, so the strings
// printed are the same as the Rust step's: a sum keeps the larger scale, a product adds them, and
// rounding never adds trailing zeros.

/** The grammar of a decimal on the WIT boundary: `-?[0-9]+(\.[0-9]+)?`. */
const DECIMAL_PATTERN = /^(-?)([0-9]+)(?:\.([0-9]+))?$/;

/** rust_decimal keeps at most 28 decimals; a quotient is never carried further. */
export const SCALE_MAX = 28;

const TEN = 10n;

function power(scale) {
  return TEN ** BigInt(scale);
}

/** Parses a decimal string; throws on anything else (a float, an exponent). */
export function parse(text) {
  const match = DECIMAL_PATTERN.exec(String(text));
  if (match === null) {
    throw new Error(`${JSON.stringify(text)} is not a decimal: write it like -1250.00`);
  }
  const [, sign, whole, fraction = ""] = match;
  const units = BigInt(whole + fraction);
  return { units: sign === "-" ? -units : units, scale: fraction.length };
}

/** The decimal of a small integer, scale 0. */
export function integer(value) {
  return { units: BigInt(value), scale: 0 };
}

export const ZERO = integer(0);

/** The text the host reads: `-4500.00`, `0.00`, `50`. */
export function format(decimal) {
  const negative = decimal.units < 0n || decimal.negativeZero === true;
  let digits = (negative ? -decimal.units : decimal.units).toString();
  if (decimal.scale > 0) {
    digits = digits.padStart(decimal.scale + 1, "0");
    digits = `${digits.slice(0, -decimal.scale)}.${digits.slice(-decimal.scale)}`;
  }
  return negative ? `-${digits}` : digits;
}

function rescale(decimal, scale) {
  return decimal.units * power(scale - decimal.scale);
}

export function add(left, right) {
  const scale = Math.max(left.scale, right.scale);
  return { units: rescale(left, scale) + rescale(right, scale), scale };
}

/**
 * The opposite. A BigInt zero has no sign, but rust_decimal's has (-0 prints as `-0`), so a
 * negated zero remembers it for `format`; any arithmetic on it gives a plain zero again.
 */
export function negate(decimal) {
  const negativeZero = decimal.units === 0n && !decimal.negativeZero;
  return negativeZero
    ? { units: 0n, scale: decimal.scale, negativeZero }
    : { units: -decimal.units, scale: decimal.scale };
}

export function subtract(left, right) {
  return add(left, negate(right));
}

export function multiply(left, right) {
  return { units: left.units * right.units, scale: left.scale + right.scale };
}

/** -1, 0 or 1 as `left` is smaller than, equal to or larger than `right`, by value. */
export function compare(left, right) {
  const scale = Math.max(left.scale, right.scale);
  const difference = rescale(left, scale) - rescale(right, scale);
  return difference < 0n ? -1 : difference > 0n ? 1 : 0;
}

export function isZero(decimal) {
  return decimal.units === 0n;
}

export function sum(decimals) {
  return decimals.reduce(add, ZERO);
}

/** Divides `units` by `divisor` (> 0n), rounding half away from zero. */
function divideRounded(units, divisor) {
  const negative = units < 0n;
  const magnitude = negative ? -units : units;
  let quotient = magnitude / divisor;
  if ((magnitude % divisor) * 2n >= divisor) {
    quotient += 1n;
  }
  return negative ? -quotient : quotient;
}

/**
 * Rounds to `minorUnits` decimals, half away from zero. A decimal with fewer decimals keeps them:
 * rust_decimal's `round_dp` adds no trailing zeros, and neither does this.
 */
export function roundToMinorUnits(decimal, minorUnits) {
  if (decimal.scale <= minorUnits) {
    return decimal;
  }
  return { units: divideRounded(decimal.units, power(decimal.scale - minorUnits)), scale: minorUnits };
}

/**
 * `numerator / denominator` rounded to `minorUnits` decimals. When the quotient is exact at no
 * more decimals than that, it keeps the scale a decimal division gives it: the difference of the
 * operands' scales, or as many decimals as the digits need, whichever is larger.
 */
export function divideToMinorUnits(numerator, denominator, minorUnits) {
  if (denominator.units === 0n) {
    throw new Error("division by zero");
  }
  // numerator / denominator = (n.units / d.units) * 10^(d.scale - n.scale)
  const sign = denominator.units < 0n ? -1n : 1n;
  const top = numerator.units * sign;
  const bottom = denominator.units * sign;
  const idealScale = Math.max(numerator.scale - denominator.scale, 0);
  for (let scale = idealScale; scale <= minorUnits; scale += 1) {
    const shifted = scale + denominator.scale - numerator.scale;
    const scaledTop = shifted >= 0 ? top * power(shifted) : top;
    const scaledBottom = shifted >= 0 ? bottom : bottom * power(-shifted);
    if (scaledTop % scaledBottom === 0n) {
      return { units: scaledTop / scaledBottom, scale };
    }
  }
  const shifted = minorUnits + denominator.scale - numerator.scale;
  const scaledTop = shifted >= 0 ? top * power(shifted) : top;
  const scaledBottom = shifted >= 0 ? bottom : bottom * power(-shifted);
  return { units: divideRounded(scaledTop, scaledBottom), scale: minorUnits };
}
