// closebook-testing.mjs: a native test harness for closebook close steps written in JavaScript.
//
// `closebook plugin new --lang javascript` writes this file beside `app.js`, so that the step's
// unit tests run with `node --test` in a second, without building the component. It holds:
//
// - Stand-ins for the interfaces the component imports, `closebook:plugin/ledger@0.2.0`,
//   `closebook:plugin/log@0.2.0` and `closebook:plugin/types@0.2.0` (interface 0.2.0, which
//   `closebook plugin new` scaffolds; a specifier of another version is refused), served through
//   a module-resolution hook (`node:module` `register`) so that `app.js` imports them unchanged.
//   `loadStep` installs the hook and imports the step. Values cross as componentize-js passes
//   them: functions and records' fields are camelCase (`reconcilingItems`, `expectedClear`),
//   variants `{ tag, val }`, enums strings, `option<T>` undefined or the value, u64 ids BigInts,
//   a refused query throws a `ComponentError` whose `payload` is the `query-error`.
// - `TestLedger`: an in-memory ledger that answers the step's queries with the host's
//   semantics, the same as the Rust SDK's `closebook_plugin_sdk::testing::TestLedger`: period
//   ranges by name in calendar order, account lists, ranges (compared as text) and types,
//   dimension filters and grouping (`"*"` keeps every dimension), balance rows in the host's
//   order, line pages with a cursor, rates (the latest on or before the date; the opposite pair's
//   inverted to 12 decimal places only when the pair has no rate of the type at all; never
//   triangulated), and a reconciliation's bank statement (its lines by line number) and
//   reconciling items (oldest, lowest id, first), those two queries refused as the host refuses
//   them (an unknown entity, period or account; a malformed, unknown or repeated dimension).
// - Fixture builders: currencies, dimensions, an entity and its accounts, the periods of a fiscal
//   year, rates, posted entries (`entry`, `line`), which must balance, and a reconciliation's
//   imported bank statement (`addStatement`, whose lines must add up, be dated in the period and
//   have distinct line numbers) and open items (`addOpenItem`, as the host would hold them).
// - `TestLedger.describe` and `TestLedger.runStep`, which call the step's exports as the
//   component would and check what crosses the boundary: the records' field types, and that
//   every amount, date and id is one the host accepts (in the entries, settlements, reconciling
//   items, clearings and findings alike), and the host's bounds on the output's texts: lengths in
//   characters, no control character in an id, at most 10,000 reconciling items, clearings and
//   findings (`host/src/plugin/bounds.rs`).
//
// Setup methods throw `FixtureError` on an inconsistent fixture (an unknown account, an entry that
// does not balance): a broken fixture is a bug in the test. Queries throw `ComponentError` as the
// host's refusals do.
//
// What only the host does: validate the configuration against the step's JSON Schema, check
// period status and entity access on the proposals, check reconciling items, clearings and
// findings against the chart and the open items, and enforce the fuel, memory, time and output
// limits. `closebook plugin run` runs the built component under all of them.
//
// Only Node's standard library is used (Node 20.6 or later, for `module.register`). Money is never
// a Number here: amounts are decimal strings, computed on as BigInt units at a scale.

import * as nodeModule from "node:module";

/**
 * Decimal places kept on a rate derived as the inverse of the opposite pair's, as the host keeps
 * them (`closebook_ledger::rate::INVERSE_RATE_DECIMALS`): 1 / 1.08 is 0.925925925926.
 */
export const INVERSE_RATE_DECIMALS = 12;

/**
 * The most lines one `lines` page returns, whatever the query asks. The host has a cap of its
 * own; a small one here makes paging bugs show up in unit tests. The Rust harness's cap too.
 */
export const LINE_PAGE_SIZE_MAX = 1000;

/** The boundary's decimal limits (the `closebook-wire` crate's), what rust_decimal holds exactly. */
export const DECIMAL_SCALE_MAX = 28;
export const DECIMAL_SIGNIFICANT_DIGITS_MAX = 28;

/**
 * The host's bounds on the texts of a step output (`host/src/plugin/bounds.rs`, with the ledger's
 * own limits from `closebook_ledger::journal`), in characters (Unicode scalar values, not UTF-16
 * units). An id-like text (an entity, an account, a dimension name or value, a period, a date, a
 * decimal) must also hold no control character.
 */
export const ENTITY_CHARS_MAX = 64;
export const ACCOUNT_CHARS_MAX = 64;
export const DIMENSION_CHARS_MAX = 64;
/** Periods, dates and currency codes. */
export const CODE_CHARS_MAX = 32;
/** Free texts: descriptions, explanations, references, clearing notes, measures, thresholds. */
export const DESCRIPTION_CHARS_MAX = 1_000;
/** A proposed decimal (an amount, a finding's current and baseline). */
export const DECIMAL_CHARS_MAX = 64;
/** A message (`step-output.messages`) or a finding's message. */
export const MESSAGE_CHARS_MAX = 4_000;
/** The most reconciling items, clearings or findings (each) one step output may hold. */
export const RECONCILIATION_PROPOSALS_MAX = 10_000;

/** The `group-by-dimensions` entry that keeps every dimension. */
const GROUP_BY_EVERY_DIMENSION = "*";

/** The largest values of the WIT integer types the harness checks. */
const U8_MAX = 255;
const U32_MAX = 2 ** 32 - 1;
const U64_MAX = 2n ** 64n - 1n;

/** Where the stand-in modules find the functions they export (set once, below). */
const STAND_INS_KEY = Symbol.for("closebook-testing.stand-ins");

/**
 * A fixture the host could not hold: an unknown entity, account or period, an entry that does not
 * balance, a date outside the period an entry names.
 */
export class FixtureError extends Error {
  constructor(message) {
    super(message);
    this.name = "FixtureError";
  }
}

/**
 * A value the step passes across the WIT boundary that componentize-js could not lower or the
 * host would refuse: a field of the wrong type, an amount that is not a decimal string.
 */
export class BoundaryError extends TypeError {
  constructor(message) {
    super(message);
    this.name = "BoundaryError";
  }
}

/**
 * What a refused ledger query throws, as the bindings componentize-js generates throw it for the
 * `err` case of an import's result: `payload` is the `query-error` (`{ message }`).
 */
export class ComponentError extends Error {
  constructor(value) {
    const enumerable = typeof value !== "string";
    super(enumerable ? `${String(value)} (see error.payload)` : value);
    Object.defineProperty(this, "payload", { value, enumerable });
  }
}

/**
 * A step that refused to run: what `TestLedger.runStep` throws for the `err` case of `run`'s
 * result. `message` is the step error's message, `payload` the `step-error` record.
 */
export class StepRefusal extends Error {
  constructor(stepError) {
    super(stepError.message);
    this.name = "StepRefusal";
    this.payload = stepError;
  }
}

// --- Loading the step ---

/** The module-resolution hooks, run by Node in its loader thread: see `installHooks`. */
async function resolve(specifier, context, nextResolve) {
  if (specifier.startsWith("closebook:")) {
    // Interface 0.2.0 only: a step built for it imports these specifiers, and the harness checks
    // its output as 0.2.0's (`reconcilingItems`, `clearedItems` and `findings` are required).
    const match = /^closebook:plugin\/(ledger|log|types)@0\.2\.0$/.exec(specifier);
    if (match === null) {
      throw new Error(
        `closebook-testing stands in for closebook:plugin/ledger, log and types at version 0.2.0, not ${specifier}: import "closebook:plugin/ledger@0.2.0", "closebook:plugin/log@0.2.0" and "closebook:plugin/types@0.2.0"`,
      );
    }
    return { url: `closebook-testing:${match[1]}`, shortCircuit: true };
  }
  return nextResolve(specifier, context);
}

async function load(url, context, nextLoad) {
  if (url.startsWith("closebook-testing:")) {
    return { format: "module", source: STAND_IN_SOURCES[url.slice("closebook-testing:".length)], shortCircuit: true };
  }
  return nextLoad(url, context);
}

/** The source of each stand-in module: it re-exports the harness's functions for the interface. */
const STAND_IN_SOURCES = {
  ledger:
    `const { ledger } = globalThis[Symbol.for(${JSON.stringify(Symbol.keyFor(STAND_INS_KEY))})];\n` +
    "export const { entity, currencies, accounts, dimensions, periods, balances, lines, rate, statement, reconcilingItems } = ledger;\n",
  log:
    `const { log: logInterface } = globalThis[Symbol.for(${JSON.stringify(Symbol.keyFor(STAND_INS_KEY))})];\n` +
    "export const { log } = logInterface;\n",
  // The types interface has no functions: componentize-js passes its records as plain values.
  types: "export {};\n",
};

let hooksInstalled = false;

/** Registers the hooks once per process. */
function installHooks() {
  if (hooksInstalled) {
    return;
  }
  if (typeof nodeModule.register !== "function") {
    throw new Error(`closebook-testing needs Node 20.6 or later (module.register); this is Node ${process.version}`);
  }
  const source = [
    `const STAND_IN_SOURCES = ${JSON.stringify(STAND_IN_SOURCES)};`,
    `export ${resolve.toString()}`,
    `export ${load.toString()}`,
  ].join("\n");
  nodeModule.register(`data:text/javascript,${encodeURIComponent(source)}`);
  hooksInstalled = true;
}

/**
 * Imports the step's module with the harness standing in for the `closebook:plugin/…` imports,
 * and returns it (its `describe` and `run` exports). Give its URL, resolved by the test:
 * `await loadStep(new URL("./app.js", import.meta.url))`. A test must not import the step
 * statically: Node resolves a module's static imports before running any of it, so the hook would
 * come too late.
 */
export async function loadStep(url) {
  const href = url instanceof URL ? url.href : String(url);
  if (!/^[a-z][a-z0-9+.-]*:/i.test(href)) {
    throw new TypeError(
      `loadStep(${JSON.stringify(href)}): give the step's URL, e.g. loadStep(new URL("./app.js", import.meta.url))`,
    );
  }
  installHooks();
  return import(href);
}

// --- Decimals and dates ---

const DECIMAL_GRAMMAR = /^(-?)([0-9]+)(?:\.([0-9]+))?$/;

function describeValue(value) {
  if (value === undefined || value === null) {
    return String(value);
  }
  if (typeof value === "bigint") {
    return `a BigInt (${value}n)`;
  }
  if (typeof value === "object") {
    return Array.isArray(value) ? "an array" : `an object (${safeJson(value)})`;
  }
  return `a ${typeof value} (${JSON.stringify(value)})`;
}

function safeJson(value) {
  try {
    const text = JSON.stringify(value, (_, inner) => (typeof inner === "bigint" ? `${inner}n` : inner));
    return text.length > 80 ? `${text.slice(0, 77)}...` : text;
  } catch {
    return String(value);
  }
}

/**
 * Parses a boundary decimal (`"-1250.00"`) into `{ units, scale }` (BigInt units); throws
 * `ErrorClass` naming `where` when the host would refuse it. `"-0.00"` is zero, as in the host.
 */
export function parseDecimal(text, where = "decimal", ErrorClass = BoundaryError) {
  if (typeof text !== "string") {
    throw new ErrorClass(`${where} is ${describeValue(text)}, not a decimal string like "1250.00"`);
  }
  const match = DECIMAL_GRAMMAR.exec(text);
  if (match === null) {
    throw new ErrorClass(`${where} \`${text}\` is not a decimal: write it like "-1250.00" (no exponent, no '+')`);
  }
  const fraction = match[3] ?? "";
  if (fraction.length > DECIMAL_SCALE_MAX) {
    throw new ErrorClass(`${where} \`${text}\` has more than ${DECIMAL_SCALE_MAX} decimal places`);
  }
  if ((match[2] + fraction).replace(/^0+/, "").length > DECIMAL_SIGNIFICANT_DIGITS_MAX) {
    throw new ErrorClass(`${where} \`${text}\` has more than ${DECIMAL_SIGNIFICANT_DIGITS_MAX} significant digits`);
  }
  const magnitude = BigInt(match[2] + fraction);
  return { units: match[1] === "-" ? -magnitude : magnitude, scale: fraction.length };
}

/** `{ units: -125000n, scale: 2 }` → `"-1250.00"`. */
export function formatDecimal({ units, scale }) {
  const negative = units < 0n;
  let digits = (negative ? -units : units).toString().padStart(scale + 1, "0");
  if (scale > 0) {
    digits = `${digits.slice(0, -scale)}.${digits.slice(-scale)}`;
  }
  return negative ? `-${digits}` : digits;
}

const ZERO = { units: 0n, scale: 0 };

function rescale(value, scale) {
  return value.units * 10n ** BigInt(scale - value.scale);
}

/** A sum keeps the larger scale, as rust_decimal's does. */
function addDecimal(left, right) {
  const scale = Math.max(left.scale, right.scale);
  return { units: rescale(left, scale) + rescale(right, scale), scale };
}

/** The decimal places `value` uses, trailing zeros aside (`closebook_ledger::money::decimals_used`): 10.50 uses 1. */
function decimalsUsed({ units, scale }) {
  let used = scale;
  while (used > 0 && units % 10n ** BigInt(scale - used + 1) === 0n) {
    used -= 1;
  }
  return used;
}

function negateDecimal({ units, scale }) {
  return { units: -units, scale };
}

function multiplyDecimal(left, right) {
  return { units: left.units * right.units, scale: left.scale + right.scale };
}

function compareDecimal(left, right) {
  const scale = Math.max(left.scale, right.scale);
  const difference = rescale(left, scale) - rescale(right, scale);
  return difference < 0n ? -1 : difference > 0n ? 1 : 0;
}

/** Half away from zero, as the host rounds; never adds trailing zeros (nor does rust_decimal). */
function roundToMinorUnits(value, places) {
  if (value.scale <= places) {
    return value;
  }
  const divisor = 10n ** BigInt(value.scale - places);
  let units = value.units / divisor;
  const remainder = value.units % divisor;
  const doubled = (remainder < 0n ? -remainder : remainder) * 2n;
  if (doubled >= divisor) {
    units += value.units < 0n ? -1n : 1n;
  }
  return { units, scale: places };
}

/**
 * 1 / rate as the host derives an inverse rate: rust_decimal's division (`divideOneBy`), then
 * `round_dp(12)`, half to even. Null for a zero rate, which has no inverse, or one whose inverse
 * does not fit (the host's `checked_div` answers none too).
 */
function inverseRate(rate) {
  const quotient = divideOneBy(rate.units, rate.scale);
  if (quotient === null) {
    return null;
  }
  if (quotient.scale <= INVERSE_RATE_DECIMALS) {
    return quotient;
  }
  return {
    units: roundHalfEven(quotient.units, 10n ** BigInt(quotient.scale - INVERSE_RATE_DECIMALS)),
    scale: INVERSE_RATE_DECIMALS,
  };
}

/** rust_decimal's limits: a 96-bit mantissa and at most 28 decimal places. */
const MANTISSA_END = 2n ** 96n;
const SCALE_MAX = 28;
const LOW_64_BITS = 2n ** 64n - 1n;

function roundHalfEven(units, divisor) {
  const magnitude = units < 0n ? -units : units;
  let quotient = magnitude / divisor;
  const twice = (magnitude % divisor) * 2n;
  if (twice > divisor || (twice === divisor && quotient % 2n === 1n)) {
    quotient += 1n;
  }
  return units < 0n ? -quotient : quotient;
}

/**
 * 1 / (units × 10^-scale) as rust_decimal 1.x computes it (`ops::div::div_impl`), as
 * `{ units, scale }`: its digits come in steps of up to nine places while they fit 96 bits, are
 * rounded half to even where they stop (28 places, or fewer for a large quotient), and only some
 * trailing zeros are taken off (by eight while the low 32 bits are zero, then by four, two and
 * one), so that 1 / 0.5 is 2.0 and 1 / 0.8 is 1.25. The scale is what the host prints. Null when
 * the quotient overflows.
 */
function divideOneBy(units, rateScale) {
  if (units === 0n) {
    return null;
  }
  const negative = units < 0n;
  const divisor = negative ? -units : units;
  let scale = -rateScale;
  let quotient = 1n / divisor;
  let remainder = 1n % divisor;
  let unscale = false;
  for (;;) {
    let power;
    if (remainder === 0n) {
      if (scale >= 0) {
        break;
      }
      power = Math.min(9, -scale);
    } else {
      unscale = true;
      power = scale === SCALE_MAX ? 0 : scaleStep(quotient, scale);
      if (power === null) {
        return null;
      }
      if (power === 0) {
        const twice = remainder * 2n;
        if (twice > divisor || (twice === divisor && quotient % 2n === 1n)) {
          quotient += 1n;
          if (quotient >= MANTISSA_END) {
            return null;
          }
        }
        break;
      }
    }
    scale += power;
    quotient *= 10n ** BigInt(power);
    if (quotient >= MANTISSA_END) {
      return null;
    }
    remainder *= 10n ** BigInt(power);
    quotient += remainder / divisor;
    remainder %= divisor;
    if (quotient >= MANTISSA_END) {
      // One place too many: take it off again, rounding (`unscale_from_overflow`).
      scale -= 1;
      if (scale < 0) {
        return null;
      }
      const digit = quotient % 10n;
      quotient /= 10n;
      if (digit > 5n || (digit === 5n && (remainder !== 0n || quotient % 2n === 1n))) {
        quotient += 1n;
      }
      break;
    }
  }
  if (unscale) {
    while ((quotient & 0xffffffffn) === 0n && scale >= 8 && quotient % 10n ** 8n === 0n) {
      quotient /= 10n ** 8n;
      scale -= 8;
    }
    for (const [lowBits, places] of [
      [0xfn, 4],
      [0x3n, 2],
      [0x1n, 1],
    ]) {
      const power = 10n ** BigInt(places);
      if ((quotient & lowBits) === 0n && scale >= places && quotient % power === 0n) {
        quotient /= power;
        scale -= places;
      }
    }
  }
  return { units: negative ? -quotient : quotient, scale };
}

/** The largest mantissa that 10^places times still fits in 96 bits. */
function largestBelow(places) {
  return (MANTISSA_END - 1n) / 10n ** BigInt(places);
}

/**
 * How many places rust_decimal's division adds next (`Buf12::find_scale`): nine while the
 * quotient has room, else what its high 32 bits say fits; null when nothing fits.
 */
function scaleStep(quotient, scale) {
  const high = quotient >> 64n;
  const low = quotient & LOW_64_BITS;
  const below = (places) => largestBelow(places) >> 64n;
  if (high > below(1)) {
    return scale < 0 ? null : 0;
  }
  if (scale > SCALE_MAX - 9) {
    const places = SCALE_MAX - scale;
    if (high < below(places)) {
      return places + scale < 0 ? null : places;
    }
  } else if (high < below(9) || (high === below(9) && low <= (largestBelow(9) & LOW_64_BITS))) {
    return 9;
  }
  let places;
  if (high > below(5)) {
    places = high > below(3) ? (high > below(2) ? 1 : 2) : high > below(4) ? 3 : 4;
  } else {
    places = high > below(7) ? (high > below(6) ? 5 : 6) : high > below(8) ? 7 : 8;
  }
  if (high === below(places) && low > (largestBelow(places) & LOW_64_BITS)) {
    places -= 1;
  }
  return places + scale < 0 ? null : places;
}

/**
 * Checks a `YYYY-MM-DD` date and returns it as `{ year, month, day }`; throws `ErrorClass`
 * naming `where` when it is not a real date.
 */
function parseDate(text, where, ErrorClass) {
  const match = typeof text === "string" ? /^([0-9]{4})-([0-9]{2})-([0-9]{2})$/.exec(text) : null;
  if (match !== null) {
    const [year, month, day] = [Number(match[1]), Number(match[2]), Number(match[3])];
    if (month >= 1 && month <= 12 && day >= 1 && day <= daysInMonth(year, month)) {
      return { year, month, day };
    }
  }
  throw new ErrorClass(`${where} \`${text}\` is not a date (YYYY-MM-DD)`);
}

function daysInMonth(year, month) {
  return new Date(Date.UTC(year, month, 0)).getUTCDate();
}

function dateText(year, month, day) {
  return `${String(year).padStart(4, "0")}-${String(month).padStart(2, "0")}-${String(day).padStart(2, "0")}`;
}

/** Compares text by Unicode code point, as Rust compares strings (bytes of UTF-8). */
function compareText(left, right) {
  const leftPoints = Array.from(left, (character) => character.codePointAt(0));
  const rightPoints = Array.from(right, (character) => character.codePointAt(0));
  const length = Math.min(leftPoints.length, rightPoints.length);
  for (let index = 0; index < length; index += 1) {
    if (leftPoints[index] !== rightPoints[index]) {
      return leftPoints[index] < rightPoints[index] ? -1 : 1;
    }
  }
  return leftPoints.length - rightPoints.length;
}

// --- Texts, as the host bounds them ---

/**
 * What the host hides in a text a person reads (`closebook_ledger::journal::
 * escape_control_characters`): every control character (Unicode category Cc, as Rust's
 * `char::is_control`) and every bidirectional override, which can reorder what a terminal shows.
 */
const HIDDEN_CHARACTER = /[\p{Cc}\u202a-\u202e\u2066-\u2069]/u;
const HIDDEN_CHARACTERS = /[\p{Cc}\u202a-\u202e\u2066-\u2069]/gu;

/** How many characters of an offending value a message quotes (the ledger's `QUOTED_CHARS_MAX`). */
const QUOTED_CHARS_MAX = 40;

/** `text` with every hidden character written as a visible escape such as `\u{1b}`, as the host writes it. */
function escapeControlCharacters(text) {
  return text.replace(HIDDEN_CHARACTERS, (character) => `\\u{${character.codePointAt(0).toString(16)}}`);
}

/** An offending value as the host's messages quote it: its first 40 characters, escaped, `…` when cut. */
function quotedForMessage(text) {
  const characters = Array.from(text);
  const shown = escapeControlCharacters(characters.slice(0, QUOTED_CHARS_MAX).join(""));
  return characters.length > QUOTED_CHARS_MAX ? `${shown}…` : shown;
}

/** The length of `text` in characters (Unicode scalar values), as Rust's `chars().count()`. */
function characterCount(text) {
  let count = 0;
  for (const _ of text) {
    count += 1;
  }
  return count;
}

/**
 * Refuses a text longer than `maximumChars` characters with the host's refusal
 * (`check_text_length`), after `where`: `field` is the host's name for it (`clearing note`).
 * Only strings are checked: a value of another type is `checkValue`'s to refuse.
 */
function checkTextLength(text, field, maximumChars, where) {
  // A text of no more UTF-16 units than the maximum cannot have more characters.
  if (typeof text !== "string" || text.length <= maximumChars) {
    return;
  }
  const length = characterCount(text);
  if (length > maximumChars) {
    throw new BoundaryError(`${where}: the ${field} is ${length} characters long; at most ${maximumChars} are allowed`);
  }
}

/**
 * Refuses an id, key or code longer than `maximumChars` or holding a control character, with the
 * host's refusal (`check_id_text`).
 */
function checkIdText(text, field, maximumChars, where) {
  checkTextLength(text, field, maximumChars, where);
  if (typeof text === "string" && HIDDEN_CHARACTER.test(text)) {
    throw new BoundaryError(
      `${where}: the ${field} \`${quotedForMessage(text)}\` contains a control character (shown escaped); ids, keys and codes may not contain control characters`,
    );
  }
}

/**
 * The whitespace Rust's `str::trim` takes off (Unicode's White_Space): JavaScript's `trim` differs
 * on U+0085 (Rust trims it) and U+FEFF (Rust does not).
 */
const RUST_EDGE_WHITESPACE = /^[\t\n\v\f\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]|[\t\n\v\f\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]$/u;

/**
 * Whether a dimension name or value can be stored, as the ledger's
 * `dimension::is_valid_dimension_text` says: not empty, nothing to trim, no `=`, `;` or newline.
 */
function isValidDimensionText(text) {
  return text !== "" && !RUST_EDGE_WHITESPACE.test(text) && !/[=;\n]/.test(text);
}

function compareTuples(left, right) {
  for (let index = 0; index < left.length; index += 1) {
    const order = compareText(left[index], right[index]);
    if (order !== 0) {
      return order;
    }
  }
  return 0;
}

// --- What crosses the boundary ---

const option = (type) => ({ option: type });
const list = (type) => ({ list: type });

/**
 * The WIT types the harness checks, by their camelCase names. `decimal` and `date` are strings in
 * the boundary's grammars (what the host accepts), checked on what a step returns.
 */
const WIT_TYPES = {
  accountType: { enum: ["asset", "liability", "equity", "revenue", "expense"] },
  periodKind: { enum: ["opening", "operating", "closing"] },
  periodStatus: { enum: ["open", "on-hold", "permanently-closed"] },
  level: { enum: ["debug", "info", "warning", "error"] },
  dimension: { record: { name: "string", value: "string" } },
  periodInfo: {
    record: {
      name: "string",
      kind: "periodKind",
      start: "date",
      end: "date",
      fiscalYear: "string",
      status: "periodStatus",
    },
  },
  accountFilter: {
    variant: { all: null, list: list("string"), range: { tuple: ["string", "string"] }, types: list("accountType") },
  },
  balanceQuery: {
    record: {
      entity: "string",
      accounts: "accountFilter",
      fromPeriod: "string",
      toPeriod: "string",
      currency: option("string"),
      dimensionFilter: list("dimension"),
      groupByDimensions: list("string"),
    },
  },
  lineQuery: {
    record: {
      entity: "string",
      account: "string",
      fromPeriod: "string",
      toPeriod: "string",
      after: option("u64"),
      limit: "u32",
      includeSettled: "bool",
    },
  },
  proposedLine: {
    record: {
      account: "string",
      dimensions: list("dimension"),
      currency: option("string"),
      amount: "decimal",
      accountingAmount: option("decimal"),
      description: option("string"),
    },
  },
  proposedEntry: {
    record: {
      entity: "string",
      period: option("string"),
      date: "date",
      description: "string",
      lines: list("proposedLine"),
      reversalDate: option("date"),
    },
  },
  proposedSettlement: { record: { entity: "string", lineIds: list("u64") } },
  message: { record: { level: "level", text: "string" } },
  entityAccess: { record: { entity: "string", post: "bool" } },
  stepInput: {
    record: { entity: "string", period: "periodInfo", entities: list("entityAccess"), asOf: "date", config: "string" },
  },
  stepInfo: { record: { name: "string", version: "string", summary: "string", configSchema: "string" } },
  statementQuery: { record: { entity: "string", account: "string", period: "string", dimensions: list("dimension") } },
  statementLine: {
    record: { lineNo: "u32", date: "date", amount: "decimal", reference: "string", description: "string" },
  },
  bankStatement: { record: { source: "string", opening: "decimal", closing: "decimal", lines: list("statementLine") } },
  proposedReconcilingItem: {
    record: {
      entity: "string",
      account: "string",
      dimensions: list("dimension"),
      period: "string",
      amount: "decimal",
      explanation: "string",
      expectedClear: "date",
      reference: "string",
    },
  },
  openItem: {
    record: {
      id: "u64",
      period: "string",
      cleared: "bool",
      amount: "decimal",
      explanation: "string",
      expectedClear: "date",
      reference: "string",
    },
  },
  proposedClearing: { record: { entity: "string", itemId: "u64", period: "string", note: "string" } },
  finding: {
    record: {
      entity: "string",
      account: "string",
      dimensions: list("dimension"),
      measure: "string",
      current: "decimal",
      baseline: "decimal",
      threshold: "string",
      explanationRequired: "bool",
      message: "string",
    },
  },
  stepOutput: {
    record: {
      entries: list("proposedEntry"),
      settlements: list("proposedSettlement"),
      messages: list("message"),
      reconcilingItems: list("proposedReconcilingItem"),
      clearedItems: list("proposedClearing"),
      findings: list("finding"),
    },
  },
  stepError: { record: { message: "string" } },
};

/**
 * Checks a value against a WIT type as componentize-js's lowering would take it (and the host's
 * grammars for decimals and dates); throws `ErrorClass` naming the offending field
 * (`entries[0].lines[1].amount`).
 */
export function checkValue(value, type, where, ErrorClass = BoundaryError) {
  const fail = (expected) => {
    throw new ErrorClass(`${where} is ${describeValue(value)}, not ${expected}`);
  };
  if (typeof type === "object") {
    if ("option" in type) {
      if (value !== undefined && value !== null) {
        checkValue(value, type.option, where, ErrorClass);
      }
    } else if ("list" in type) {
      if (!Array.isArray(value)) {
        fail("an array");
      }
      value.forEach((item, index) => checkValue(item, type.list, `${where}[${index}]`, ErrorClass));
    } else if ("tuple" in type) {
      if (!Array.isArray(value) || value.length !== type.tuple.length) {
        fail(`an array of ${type.tuple.length}`);
      }
      type.tuple.forEach((item, index) => checkValue(value[index], item, `${where}[${index}]`, ErrorClass));
    }
    return;
  }
  switch (type) {
    case "string":
      if (typeof value !== "string") {
        fail("a string");
      }
      return;
    case "decimal":
      parseDecimal(value, where, ErrorClass);
      return;
    case "date":
      parseDate(value, where, ErrorClass);
      return;
    case "bool":
      if (typeof value !== "boolean") {
        fail("a boolean");
      }
      return;
    case "u8":
    case "u32":
      if (!Number.isInteger(value) || value < 0 || value > (type === "u8" ? U8_MAX : U32_MAX)) {
        fail(`a ${type} (a Number)`);
      }
      return;
    case "u64": {
      const valid =
        (typeof value === "bigint" && value >= 0n && value <= U64_MAX) ||
        (Number.isSafeInteger(value) && value >= 0);
      if (!valid) {
        fail("a u64 (a BigInt)");
      }
      return;
    }
    default:
      break;
  }
  const definition = WIT_TYPES[type];
  if (definition.enum !== undefined) {
    if (!definition.enum.includes(value)) {
      fail(`a ${type}: one of ${definition.enum.map((name) => JSON.stringify(name)).join(", ")}`);
    }
    return;
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    fail(`a ${type} record`);
  }
  if (definition.variant !== undefined) {
    if (!Object.hasOwn(definition.variant, value.tag)) {
      fail(`a ${type}: { tag, val } with tag one of ${Object.keys(definition.variant).join(", ")}`);
    }
    const payload = definition.variant[value.tag];
    if (payload !== null) {
      checkValue(value.val, payload, `${where}.val`, ErrorClass);
    }
    return;
  }
  for (const [field, fieldType] of Object.entries(definition.record)) {
    checkValue(value[field], fieldType, `${where}.${field}`, ErrorClass);
  }
}

/** Checks each dimension's name and value as ids (`check_dimensions`). */
function checkDimensionBounds(dimensions, where) {
  dimensions.forEach((dimension, index) => {
    checkIdText(dimension.name, "dimension name", DIMENSION_CHARS_MAX, `${where}[${index}].name`);
    checkIdText(dimension.value, "dimension value", DIMENSION_CHARS_MAX, `${where}[${index}].value`);
  });
}

/**
 * Checks every text of a step output (already `checkValue`d as a `stepOutput`) against the bounds
 * the host applies as it takes the output (`host/src/plugin/bounds.rs`, `check_step_output`), in
 * its order: the entries and their lines, the settlements, the messages, then how many reconciling
 * items, clearings and findings there are, then each of them. Throws `BoundaryError` naming the
 * field, then the host's refusal (`run's result.findings[0].message: the finding message is 4001
 * characters long; at most 4000 are allowed`).
 */
function checkStepOutputBounds(output, where) {
  output.entries.forEach((proposed, index) => {
    const at = `${where}.entries[${index}]`;
    checkIdText(proposed.entity, "entity", ENTITY_CHARS_MAX, `${at}.entity`);
    checkIdText(proposed.period, "period", CODE_CHARS_MAX, `${at}.period`);
    checkIdText(proposed.date, "date", CODE_CHARS_MAX, `${at}.date`);
    checkIdText(proposed.reversalDate, "reversal date", CODE_CHARS_MAX, `${at}.reversalDate`);
    checkTextLength(proposed.description, "entry description", DESCRIPTION_CHARS_MAX, `${at}.description`);
    proposed.lines.forEach((proposedLine, lineIndex) => {
      const lineAt = `${at}.lines[${lineIndex}]`;
      checkIdText(proposedLine.account, "account", ACCOUNT_CHARS_MAX, `${lineAt}.account`);
      checkDimensionBounds(proposedLine.dimensions, `${lineAt}.dimensions`);
      checkIdText(proposedLine.currency, "currency", CODE_CHARS_MAX, `${lineAt}.currency`);
      checkIdText(proposedLine.amount, "amount", DECIMAL_CHARS_MAX, `${lineAt}.amount`);
      checkIdText(proposedLine.accountingAmount, "accounting amount", DECIMAL_CHARS_MAX, `${lineAt}.accountingAmount`);
      checkTextLength(proposedLine.description, "line description", DESCRIPTION_CHARS_MAX, `${lineAt}.description`);
    });
  });
  output.settlements.forEach((settlement, index) => {
    checkIdText(settlement.entity, "entity", ENTITY_CHARS_MAX, `${where}.settlements[${index}].entity`);
  });
  output.messages.forEach((message, index) => {
    checkTextLength(message.text, "message", MESSAGE_CHARS_MAX, `${where}.messages[${index}].text`);
  });
  for (const [field, what] of [
    ["reconcilingItems", "reconciling items"],
    ["clearedItems", "clearings"],
    ["findings", "findings"],
  ]) {
    const count = output[field].length;
    if (count > RECONCILIATION_PROPOSALS_MAX) {
      throw new BoundaryError(
        `${where}.${field}: the output holds ${count} ${what}; at most ${RECONCILIATION_PROPOSALS_MAX} are allowed (RECONCILIATION_PROPOSALS_MAX)`,
      );
    }
  }
  output.reconcilingItems.forEach((item, index) => {
    const at = `${where}.reconcilingItems[${index}]`;
    checkIdText(item.entity, "entity", ENTITY_CHARS_MAX, `${at}.entity`);
    checkIdText(item.account, "account", ACCOUNT_CHARS_MAX, `${at}.account`);
    checkDimensionBounds(item.dimensions, `${at}.dimensions`);
    checkIdText(item.period, "period", CODE_CHARS_MAX, `${at}.period`);
    checkIdText(item.amount, "amount", DECIMAL_CHARS_MAX, `${at}.amount`);
    checkTextLength(item.explanation, "explanation", DESCRIPTION_CHARS_MAX, `${at}.explanation`);
    checkIdText(item.expectedClear, "expected clearing date", CODE_CHARS_MAX, `${at}.expectedClear`);
    checkTextLength(item.reference, "reference", DESCRIPTION_CHARS_MAX, `${at}.reference`);
  });
  output.clearedItems.forEach((clearing, index) => {
    const at = `${where}.clearedItems[${index}]`;
    checkIdText(clearing.entity, "entity", ENTITY_CHARS_MAX, `${at}.entity`);
    checkIdText(clearing.period, "period", CODE_CHARS_MAX, `${at}.period`);
    checkTextLength(clearing.note, "clearing note", DESCRIPTION_CHARS_MAX, `${at}.note`);
  });
  output.findings.forEach((finding, index) => {
    const at = `${where}.findings[${index}]`;
    checkIdText(finding.entity, "entity", ENTITY_CHARS_MAX, `${at}.entity`);
    checkIdText(finding.account, "account", ACCOUNT_CHARS_MAX, `${at}.account`);
    checkDimensionBounds(finding.dimensions, `${at}.dimensions`);
    checkTextLength(finding.measure, "measure", DESCRIPTION_CHARS_MAX, `${at}.measure`);
    checkIdText(finding.current, "current", DECIMAL_CHARS_MAX, `${at}.current`);
    checkIdText(finding.baseline, "baseline", DECIMAL_CHARS_MAX, `${at}.baseline`);
    checkTextLength(finding.threshold, "threshold", DESCRIPTION_CHARS_MAX, `${at}.threshold`);
    checkTextLength(finding.message, "finding message", MESSAGE_CHARS_MAX, `${at}.message`);
  });
}

// --- Builders of the records a step and a fixture propose ---

/**
 * A proposed line: `amount` (a decimal string) is positive for a debit, negative for a credit;
 * `dimensions` an object of name → value; `currency` the transaction currency when not the
 * accounting currency, with its `accountingAmount` (converted at the entity's default rate type on
 * the entry date when none).
 */
export function line(account, amount, { dimensions = {}, currency, accountingAmount, description } = {}) {
  parseDecimal(amount, `line ${account}: amount`);
  if (accountingAmount !== undefined) {
    parseDecimal(accountingAmount, `line ${account}: accounting amount`);
  }
  return {
    account,
    dimensions: Object.entries(dimensions).map(([name, value]) => ({ name, value })),
    currency,
    amount,
    accountingAmount,
    description,
  };
}

/**
 * A proposed entry of these lines (`line(...)`) dated `date` (`YYYY-MM-DD`), in the operating
 * period of its date unless `period` names one, reversed on `reversalDate` when given.
 */
export function entry(entity, date, description, lines, { period, reversalDate } = {}) {
  return { entity, period, date, description, lines: [...lines], reversalDate };
}

// --- The ledger ---

/** The ledgers that answer the step's imports, innermost last (`TestLedger.active`). */
const serving = [];

function servingLedger() {
  if (serving.length === 0) {
    throw new Error(
      "no TestLedger serves the ledger imports: run the step with ledger.runStep, or call it inside ledger.active(() => ...)",
    );
  }
  return serving[serving.length - 1];
}

// The stand-ins' functions, named as componentize-js names the imports.
globalThis[STAND_INS_KEY] = {
  ledger: {
    entity: (entity) => servingLedger().entity(entity),
    currencies: () => servingLedger().currencies(),
    accounts: (entity) => servingLedger().accounts(entity),
    dimensions: () => servingLedger().dimensions(),
    periods: (entity, fiscalYear) => servingLedger().periods(entity, fiscalYear),
    balances: (query) => servingLedger().balances(query),
    lines: (query) => servingLedger().lines(query),
    rate: (from, to, rateType, on) => servingLedger().rate(from, to, rateType, on),
    statement: (query) => servingLedger().statement(query),
    reconcilingItems: (query) => servingLedger().reconcilingItems(query),
  },
  log: {
    log: (level, message) => servingLedger().log(level, message),
  },
};

function refused(message) {
  return new ComponentError({ message });
}

const PERIOD_KIND_RANK = { opening: 0, operating: 1, closing: 2 };

/** By start date, and on the same start date opening before operating before closing. */
function calendarOrder(left, right) {
  return compareText(left.start, right.start) || PERIOD_KIND_RANK[left.kind] - PERIOD_KIND_RANK[right.kind];
}

function canonicalDimensions(dimensions) {
  return dimensions
    .map(({ name, value }) => [name, value])
    .sort(compareTuples)
    .map(([name, value]) => `${name}=${value}`)
    .join(";");
}

function accountMatches(filter, account) {
  switch (filter.tag) {
    case "all":
      return true;
    case "list":
      return filter.val.includes(account.number);
    case "range":
      return compareText(filter.val[0], account.number) <= 0 && compareText(account.number, filter.val[1]) <= 0;
    default:
      return filter.val.includes(account.accountType);
  }
}

/** The dimensions of a line that a balance row keeps. */
function keptDimensions(posted, groupBy) {
  if (groupBy.includes(GROUP_BY_EVERY_DIMENSION)) {
    return posted.dimensions;
  }
  return posted.dimensions.filter((dimension) => groupBy.includes(dimension.name));
}

function sortedValues(map) {
  return [...map.keys()].sort(compareText).map((key) => structuredClone(map.get(key)));
}

/**
 * An in-memory ledger for a step's unit tests. Build it with the setup methods, post fixture
 * entries, then run the step with `runStep` and inspect the output and `logs()`.
 *
 * ```js
 * const ledger = new TestLedger()
 *   .addCurrency("USD", 2)
 *   .addEntity("ACME", "Acme Inc.", "USD", "3900", "spot")
 *   .addAccount("ACME", "1100", "Bank", "asset")
 *   .addAccount("ACME", "4000", "Sales", "revenue")
 *   .addFiscalYear("ACME", 2026);
 * ledger.post(entry("ACME", "2026-01-15", "Sale", [line("1100", "100.00"), line("4000", "-100.00")]));
 * const output = ledger.runStep(app, ledger.stepInput("ACME", "2026-01", { amount: "1500.00" }));
 * ```
 *
 * The query methods (`entity`, `currencies`, `accounts`, `dimensions`, `periods`, `balances`,
 * `lines`, `rate`, `statement`, `reconcilingItems`) are the WIT `ledger` interface's, with its
 * types; the step calls them through `closebook:plugin/ledger@0.2.0` while the ledger is active.
 */
export class TestLedger {
  #currencies = new Map();
  #dimensions = new Map();
  #entities = new Map();
  #rates = [];
  #log = [];
  // Imported bank statements and open reconciling items, by reconciliation: a JSON key of the
  // entity, the account, the dimension values (canonical text) and the period.
  #statements = new Map();
  #openItems = new Map();
  #entriesPosted = 0n;
  #linesPosted = 0n;
  #settlementsRecorded = 0n;

  // --- Setup ---

  /** Registers a currency with its minor units (USD 2, JPY 0). */
  addCurrency(code, minorUnits) {
    checkValue(minorUnits, "u8", `currency ${code}: minor units`, FixtureError);
    this.#currencies.set(code, { code, minorUnits });
    return this;
  }

  /** Registers a financial dimension and its values. */
  addDimension(name, values) {
    this.#dimensions.set(name, { name, values: [...values].sort(compareText) });
    return this;
  }

  /** Registers an entity. Its accounting currency must be registered first. */
  addEntity(id, name, currency, retainedEarningsAccount, defaultRateType, { pennyRoundingAccount } = {}) {
    if (!this.#currencies.has(currency)) {
      throw new FixtureError(`entity ${id}: register currency ${currency} before the entity`);
    }
    if (this.#entities.has(id)) {
      throw new FixtureError(`entity ${id} is registered twice`);
    }
    this.#entities.set(id, {
      info: { id, name, currency, retainedEarningsAccount, defaultRateType, pennyRoundingAccount },
      accounts: new Map(),
      periods: [],
      lines: [],
    });
    return this;
  }

  /**
   * Adds an account to an entity's chart; `accountType` is the WIT name (`"asset"`,
   * `"liability"`, `"equity"`, `"revenue"`, `"expense"`).
   */
  addAccount(
    entity,
    number,
    name,
    accountType,
    { revalue = false, settle = false, rateType, fixedCurrency, category, blocked = false } = {},
  ) {
    checkValue(accountType, "accountType", `account ${number}: type`, FixtureError);
    this.#entityForSetup(entity).accounts.set(number, {
      number,
      name,
      accountType,
      revalue,
      settle,
      rateType,
      fixedCurrency,
      category,
      blocked,
    });
    return this;
  }

  /**
   * Adds a fiscal year that follows the calendar year: `FY{year}-opening` (1 January only), the
   * twelve monthly periods `YYYY-MM`, and `FY{year}-closing` (the dates of December), all open.
   * The same as `addFiscalYearStarting(entity, year, 1)`.
   */
  addFiscalYear(entity, year) {
    return this.addFiscalYearStarting(entity, year, 1);
  }

  /**
   * Adds a fiscal year the way the host's calendars shape it, for a calendar that starts in
   * `startMonth`: named by the calendar year in which it ends (`FY2026` starting in July runs from
   * 2025-07-01 to 2026-06-30); a one-day opening period on its first day; twelve monthly operating
   * periods `YYYY-MM`; a closing period with the dates of the last. All open.
   */
  addFiscalYearStarting(entity, endYear, startMonth) {
    if (!Number.isInteger(startMonth) || startMonth < 1 || startMonth > 12) {
      throw new FixtureError(`start month ${startMonth} is not a month (1 to 12)`);
    }
    const fiscalYear = `FY${endYear}`;
    const startYear = startMonth === 1 ? endYear : endYear - 1;
    const months = Array.from({ length: 12 }, (_, index) => {
      const months = startYear * 12 + (startMonth - 1) + index;
      return { year: Math.floor(months / 12), month: (months % 12) + 1 };
    });
    const first = ({ year, month }) => dateText(year, month, 1);
    const last = ({ year, month }) => dateText(year, month, daysInMonth(year, month));
    const period = (name, kind, start, end) => ({ name, kind, start, end, fiscalYear, status: "open" });
    this.addPeriod(entity, period(`${fiscalYear}-opening`, "opening", first(months[0]), first(months[0])));
    for (const month of months) {
      this.addPeriod(entity, period(first(month).slice(0, 7), "operating", first(month), last(month)));
    }
    this.addPeriod(entity, period(`${fiscalYear}-closing`, "closing", first(months[11]), last(months[11])));
    return this;
  }

  /** Adds one period (a `period-info` record) of any shape, for calendars that are not the calendar year. */
  addPeriod(entity, period) {
    checkValue(period, "periodInfo", "the period", FixtureError);
    const known = this.#entityForSetup(entity);
    if (known.periods.some((existing) => existing.name === period.name)) {
      throw new FixtureError(`period ${period.name} is added twice to entity ${entity}`);
    }
    known.periods.push(structuredClone(period));
    known.periods.sort(calendarOrder);
    return this;
  }

  /** Sets a period's status: `"open"`, `"on-hold"` or `"permanently-closed"`. */
  setPeriodStatus(entity, period, status) {
    checkValue(status, "periodStatus", `period ${period}: status`, FixtureError);
    const known = this.#entityForSetup(entity).periods.find((existing) => existing.name === period);
    if (known === undefined) {
      throw new FixtureError(`period ${period} does not exist in entity ${entity}`);
    }
    known.status = status;
    return this;
  }

  /** Adds an exchange rate: 1 `from` = `rate` `to` (a decimal string) of a rate type, effective from a date. */
  addRate(from, to, rateType, effective, rate) {
    parseDate(effective, `rate ${from}->${to}: effective date`, FixtureError);
    this.#rates.push({ from, to, rateType, effective, rate: parseDecimal(rate, `rate ${from}->${to}`, FixtureError) });
    return this;
  }

  /**
   * Posts a proposed entry as the host would after validation, and returns the ids of its lines
   * (BigInts). The period is the one the entry names, else the operating period of its date. A
   * line without a currency is in the accounting currency; a foreign line without an accounting
   * amount is converted at the entity's default rate type on the entry date and rounded to the
   * accounting currency. A line without a description takes the entry's. A reversal date posts the
   * reversing entry too, in the operating period of that date, with every amount negated and the
   * lines' descriptions kept. Period status is not checked, so fixtures can build history in
   * closed periods.
   */
  post(proposed) {
    checkValue(proposed, "proposedEntry", "the entry", FixtureError);
    const lineIds = this.#postOne(proposed, proposed.date, false);
    if (proposed.reversalDate !== undefined && proposed.reversalDate !== null) {
      lineIds.push(...this.#postOne(proposed, proposed.reversalDate, true));
    }
    return lineIds;
  }

  /**
   * Posts every entry and records every settlement of a step's output, so that a test can run a
   * later step on the result. Its reconciling items, clearings and findings are not recorded (as
   * in the Rust harness): give a later step its open items with `addOpenItem`.
   */
  postOutput(output) {
    for (const proposed of output.entries) {
      this.post(proposed);
    }
    for (const settlement of output.settlements) {
      this.settle(settlement);
    }
  }

  /**
   * Records a settlement (`{ entity, lineIds }`): its lines get a new settlement id, returned. The
   * lines must exist, be unsettled, share one account and sum to zero.
   */
  settle(settlement) {
    checkValue(settlement, "proposedSettlement", "the settlement", FixtureError);
    const known = this.#entityForSetup(settlement.entity);
    let account;
    let total = ZERO;
    const settled = settlement.lineIds.map((id) => {
      const posted = known.lines.find((candidate) => candidate.id === BigInt(id));
      if (posted === undefined) {
        throw new FixtureError(`settlement: line ${id} does not exist in entity ${settlement.entity}`);
      }
      if (posted.settlementId !== undefined) {
        throw new FixtureError(`settlement: line ${id} is already settled`);
      }
      if (account !== undefined && posted.account !== account) {
        throw new FixtureError(`settlement: line ${id} is on another account`);
      }
      account = posted.account;
      total = addDecimal(total, parseDecimal(posted.accountingAmount));
      return posted;
    });
    if (total.units !== 0n) {
      throw new FixtureError(`settlement: the lines sum to ${formatDecimal(total)}, not zero`);
    }
    this.#settlementsRecorded += 1n;
    for (const posted of settled) {
      posted.settlementId = this.#settlementsRecorded;
    }
    return this.#settlementsRecorded;
  }

  /**
   * Imports a bank statement (a `bank-statement` record: `{ source, opening, closing, lines }`,
   * each line `{ lineNo, date, amount, reference, description }`) for the reconciliation of
   * `account` of `entity` in `period`, over the whole account: the `statement` query reads it
   * back, its lines ordered by line number as the host returns them. Another statement for the
   * same reconciliation replaces it, as the latest import wins. As the host refuses such a
   * statement: each line is dated within the period (its start to its end), no line number is
   * given twice, and opening plus the lines must be the closing balance.
   */
  addStatement(entity, account, period, statement) {
    const key = this.#reconciliationKey(entity, account, period);
    checkValue(statement, "bankStatement", "the statement", FixtureError);
    const target = this.#entities.get(entity).periods.find((candidate) => candidate.name === period);
    const numbers = new Set();
    for (const statementLine of statement.lines) {
      if (numbers.has(statementLine.lineNo)) {
        throw new FixtureError(`statement: line number ${statementLine.lineNo} is given twice: number each line once`);
      }
      numbers.add(statementLine.lineNo);
      if (statementLine.date < target.start || statementLine.date > target.end) {
        throw new FixtureError(
          `statement: line ${statementLine.lineNo}: ${statementLine.date} is outside period ${period} (${target.start} to ${target.end}): import each period's statement for its period`,
        );
      }
    }
    const total = statement.lines.reduce((sum, statementLine) => addDecimal(sum, parseDecimal(statementLine.amount)), ZERO);
    if (compareDecimal(addDecimal(parseDecimal(statement.opening), total), parseDecimal(statement.closing)) !== 0) {
      throw new FixtureError(
        `statement: opening ${statement.opening} plus the lines (${formatDecimal(total)}) is not the closing balance ${statement.closing}`,
      );
    }
    const stored = structuredClone(statement);
    stored.lines.sort((left, right) => left.lineNo - right.lineNo);
    this.#statements.set(key, stored);
    return this;
  }

  /**
   * Makes `item` (an `open-item` record: `{ id, period, cleared, amount, explanation,
   * expectedClear, reference }`, `id` a BigInt or a safe integer) listed in `period` in the
   * reconciliation of `account` of `entity`, over the whole account: the `reconcilingItems`
   * query returns it. As the host would hold it: the item's own `period` (the one it was opened
   * in) exists in the entity and is not later than `period` in calendar order, its amount is not
   * zero and has no more decimals than the entity's currency (its minor units), and one
   * reconciliation lists an id once.
   *
   * Carrying an item forward is the test's to do, as the harness keeps no history: add it to each
   * period it is open in (with `cleared: false`), and to the period it clears in with
   * `cleared: true`.
   */
  addOpenItem(entity, account, period, item) {
    const key = this.#reconciliationKey(entity, account, period);
    checkValue(item, "openItem", "the open item", FixtureError);
    const known = this.#entities.get(entity);
    const what = `open item ${item.id}`;
    const opened = known.periods.findIndex((candidate) => candidate.name === item.period);
    if (opened === -1) {
      throw new FixtureError(`${what}: period ${item.period} does not exist in entity ${entity}`);
    }
    if (opened > known.periods.findIndex((candidate) => candidate.name === period)) {
      throw new FixtureError(
        `${what}: opened in ${item.period}, after ${period}: an item is a reconciling item of the period it was opened in and later ones`,
      );
    }
    // The step sees a u64 as componentize-js passes it: a BigInt.
    const id = BigInt(item.id);
    if ((this.#openItems.get(key) ?? []).some((listed) => listed.id === id)) {
      throw new FixtureError(`${what} is added twice to the reconciliation of ${account} of ${entity} in ${period}`);
    }
    const amount = parseDecimal(item.amount, `${what}: amount`, FixtureError);
    if (amount.units === 0n) {
      throw new FixtureError(`${what}: a reconciling item of 0 explains nothing`);
    }
    const currency = known.info.currency;
    const minorUnits = this.#currencies.get(currency).minorUnits;
    if (decimalsUsed(amount) > minorUnits) {
      throw new FixtureError(`${what}: amount ${item.amount} has more decimals than ${currency}'s ${minorUnits}`);
    }
    if (!this.#openItems.has(key)) {
      this.#openItems.set(key, []);
    }
    this.#openItems.get(key).push({ ...structuredClone(item), id });
    return this;
  }

  // --- Running a step ---

  /**
   * A step input for `entity` and `period` with this configuration (an object, given to the step
   * as JSON, or JSON text): every registered entity readable, only `entity` postable, balances as
   * of the period end.
   */
  stepInput(entity, period, config) {
    const known = this.#entities.get(entity);
    if (known === undefined) {
      throw new FixtureError(`entity ${entity} does not exist`);
    }
    const info = known.periods.find((candidate) => candidate.name === period);
    if (info === undefined) {
      throw new FixtureError(`period ${period} does not exist in entity ${entity}`);
    }
    if (typeof config === "string") {
      JSON.parse(config);
    }
    return {
      entity,
      period: structuredClone(info),
      entities: [...this.#entities.keys()].sort(compareText).map((other) => ({ entity: other, post: other === entity })),
      asOf: info.end,
      config: typeof config === "string" ? config : JSON.stringify(config),
    };
  }

  /**
   * Calls `callback` with this ledger answering the `ledger` and `log` imports, and returns what
   * it returns: for calling a step's own functions directly (`runStep` and `describe` do it for
   * you). The callback must be synchronous, as a component's exports are.
   */
  active(callback) {
    serving.push(this);
    try {
      return callback(this);
    } finally {
      serving.splice(serving.lastIndexOf(this), 1);
    }
  }

  /**
   * Calls the step's `describe` export (`step`: the module `loadStep` returned) and checks the
   * `step-info`, whose configuration schema must be a JSON object.
   */
  describe(step) {
    if (typeof step?.describe !== "function") {
      throw new TypeError("the step module exports no function describe: componentize-js could not build it");
    }
    const info = this.active(() => step.describe());
    checkValue(info, "stepInfo", "describe's result");
    let schema;
    try {
      schema = JSON.parse(info.configSchema);
    } catch (error) {
      throw new BoundaryError(`describe's result: configSchema is not JSON: ${error.message}`);
    }
    if (typeof schema !== "object" || schema === null || Array.isArray(schema)) {
      throw new BoundaryError("describe's result: configSchema is not a JSON object");
    }
    return info;
  }

  /**
   * Runs the step's `run` export against this ledger as the component would, and returns its
   * output, checked as it crosses the boundary: its types and grammars, then the host's bounds on
   * its texts (`check_step_output`). A thrown value becomes the `err` case as the
   * bindings make it (its `payload` when it has one, else the value itself) and is thrown as a
   * `StepRefusal`; a thrown `Error` (a trap in the component) propagates as it is.
   */
  runStep(step, input) {
    if (typeof step?.run !== "function") {
      throw new TypeError("the step module exports no function run: componentize-js could not build it");
    }
    checkValue(input, "stepInput", "the step input");
    let output;
    let refusal;
    let refusedRun = false;
    this.active(() => {
      try {
        output = step.run(structuredClone(input));
      } catch (error) {
        if (error !== null && typeof error === "object" && Object.hasOwn(error, "payload")) {
          refusal = error.payload;
        } else if (error instanceof Error) {
          throw error;
        } else {
          refusal = error;
        }
        refusedRun = true;
      }
    });
    if (refusedRun) {
      checkValue(refusal, "stepError", "run's error");
      throw new StepRefusal(refusal);
    }
    if (output !== null && typeof output === "object") {
      const missing = ["reconcilingItems", "clearedItems", "findings"].filter((field) => output[field] === undefined);
      if (missing.length > 0) {
        throw new BoundaryError(
          `run's result has no ${missing.join(", ")}: interface 0.2.0's step-output requires reconcilingItems, clearedItems and findings (empty arrays when the step proposes none)`,
        );
      }
    }
    checkValue(output, "stepOutput", "run's result");
    checkStepOutputBounds(output, "run's result");
    return output;
  }

  /** Every message the steps run so far wrote to the log, oldest first, as `{ level, text }`. */
  logs() {
    return structuredClone(this.#log);
  }

  /** Every line posted in an entity, in posting order, as `posted-line` records. */
  postedLines(entity) {
    return structuredClone(this.#entityForSetup(entity).lines);
  }

  // --- The WIT `ledger` interface ---

  entity(entity) {
    checkValue(entity, "string", "entity: entity");
    return structuredClone(this.#knownEntity(entity).info);
  }

  currencies() {
    return sortedValues(this.#currencies);
  }

  accounts(entity) {
    checkValue(entity, "string", "accounts: entity");
    return sortedValues(this.#knownEntity(entity).accounts);
  }

  dimensions() {
    return sortedValues(this.#dimensions);
  }

  periods(entity, fiscalYear) {
    checkValue(entity, "string", "periods: entity");
    checkValue(fiscalYear, option("string"), "periods: fiscalYear");
    const known = this.#knownEntity(entity);
    return structuredClone(
      known.periods.filter(
        (period) => fiscalYear === undefined || fiscalYear === null || period.fiscalYear === fiscalYear,
      ),
    );
  }

  balances(query) {
    checkValue(query, "balanceQuery", "balances: query");
    const known = this.#knownEntity(query.entity);
    const periods = new Set(this.#periodRange(known, query.fromPeriod, query.toPeriod));
    const rows = new Map();
    for (const posted of known.lines) {
      const account = known.accounts.get(posted.account);
      if (!periods.has(posted.period) || account === undefined || !accountMatches(query.accounts, account)) {
        continue;
      }
      if (query.currency !== undefined && query.currency !== null && query.currency !== posted.currency) {
        continue;
      }
      const hasAll = query.dimensionFilter.every((wanted) =>
        posted.dimensions.some((dimension) => dimension.name === wanted.name && dimension.value === wanted.value),
      );
      if (!hasAll) {
        continue;
      }
      const dimensions = keptDimensions(posted, query.groupByDimensions);
      // Keyed like the host's rows, so they come out in the host's order: account, the
      // dimension set's canonical text, currency.
      const key = [posted.account, canonicalDimensions(dimensions), posted.currency];
      const id = JSON.stringify(key);
      if (!rows.has(id)) {
        rows.set(id, { key, account: posted.account, dimensions, currency: posted.currency, sums: [ZERO, ZERO, ZERO, ZERO] });
      }
      const row = rows.get(id);
      const accountingAmount = parseDecimal(posted.accountingAmount);
      row.sums[0] = addDecimal(row.sums[0], parseDecimal(posted.amount));
      row.sums[1] = addDecimal(row.sums[1], accountingAmount);
      if (accountingAmount.units < 0n) {
        row.sums[3] = addDecimal(row.sums[3], negateDecimal(accountingAmount));
      } else {
        row.sums[2] = addDecimal(row.sums[2], accountingAmount);
      }
    }
    return [...rows.values()]
      .sort((left, right) => compareTuples(left.key, right.key))
      .map(({ account, dimensions, currency, sums }) => ({
        account,
        dimensions: structuredClone(dimensions),
        currency,
        amount: formatDecimal(sums[0]),
        accountingAmount: formatDecimal(sums[1]),
        debit: formatDecimal(sums[2]),
        credit: formatDecimal(sums[3]),
      }));
  }

  lines(query) {
    checkValue(query, "lineQuery", "lines: query");
    if (query.limit === 0) {
      throw refused("a line query's limit must be at least 1");
    }
    const known = this.#knownEntity(query.entity);
    if (!known.accounts.has(query.account)) {
      throw refused(`account ${query.account} does not exist in entity ${query.entity}`);
    }
    const periods = new Set(this.#periodRange(known, query.fromPeriod, query.toPeriod));
    const after = query.after === undefined || query.after === null ? undefined : BigInt(query.after);
    const pageSize = Math.min(query.limit, LINE_PAGE_SIZE_MAX);
    const matching = known.lines.filter(
      (posted) =>
        posted.account === query.account &&
        periods.has(posted.period) &&
        (after === undefined || posted.id > after) &&
        (query.includeSettled || posted.settlementId === undefined),
    );
    const page = matching.slice(0, pageSize);
    const more = matching.length > pageSize;
    return { lines: structuredClone(page), next: more && page.length > 0 ? page[page.length - 1].id : undefined };
  }

  rate(from, to, rateType, on) {
    checkValue(from, "string", "rate: from");
    checkValue(to, "string", "rate: to");
    checkValue(rateType, "string", "rate: rateType");
    checkValue(on, "string", "rate: on");
    try {
      parseDate(on, "", Error);
    } catch {
      throw refused(`\`${on}\` is not a date (YYYY-MM-DD)`);
    }
    const value = this.#rate(from, to, rateType, on);
    return value === null ? undefined : formatDecimal(value);
  }

  statement(query) {
    checkValue(query, "statementQuery", "statement: query");
    const statement = this.#statements.get(this.#reconciliationOf(query));
    return statement === undefined ? undefined : structuredClone(statement);
  }

  reconcilingItems(query) {
    checkValue(query, "statementQuery", "reconcilingItems: query");
    const items = this.#openItems.get(this.#reconciliationOf(query)) ?? [];
    // Oldest first, as the host orders them: by id.
    return structuredClone(items).sort((left, right) => (left.id < right.id ? -1 : left.id > right.id ? 1 : 0));
  }

  /** The WIT `log` interface: keeps the message for `logs()`. */
  log(level, message) {
    checkValue(level, "level", "log: level");
    checkValue(message, "string", "log: message");
    this.#log.push({ level, text: message });
  }

  // --- Internals ---

  #entityForSetup(entity) {
    const known = this.#entities.get(entity);
    if (known === undefined) {
      throw new FixtureError(`entity ${entity} does not exist: register it first`);
    }
    return known;
  }

  #knownEntity(entity) {
    const known = this.#entities.get(entity);
    if (known === undefined) {
      throw refused(`entity ${entity} does not exist`);
    }
    return known;
  }

  /**
   * The key of the reconciliation of `account` of `entity` in `period`, over the whole account,
   * for a fixture: the entity, the account and the period must exist.
   */
  #reconciliationKey(entity, account, period) {
    const known = this.#entityForSetup(entity);
    if (!known.accounts.has(account)) {
      throw new FixtureError(`account ${account} does not exist in entity ${entity}`);
    }
    if (!known.periods.some((candidate) => candidate.name === period)) {
      throw new FixtureError(`period ${period} does not exist in entity ${entity}`);
    }
    return JSON.stringify([entity, account, "", period]);
  }

  /**
   * The reconciliation a statement or reconcilingItems query names, refused as the host refuses
   * it (`closebook_ledger::reconcile::scope`), in its order: an unknown entity, period or
   * account, then each dimension in turn (its text, its name, its value, a name given twice).
   */
  #reconciliationOf(query) {
    const { entity, account, period } = query;
    const known = this.#knownEntity(entity);
    if (!known.periods.some((candidate) => candidate.name === period)) {
      throw refused(`period ${period} does not exist in entity ${entity}`);
    }
    if (!known.accounts.has(account)) {
      throw refused(
        `account ${account} is not in the chart of entity ${entity}: check the number (\`closebook report trial-balance\` lists the accounts with balances)`,
      );
    }
    const values = new Map();
    for (const dimension of query.dimensions) {
      // The host joins each dimension into `name=value` and splits it again at the first `=`.
      const pair = `${dimension.name}=${dimension.value}`;
      const split = pair.indexOf("=");
      const [name, value] = [pair.slice(0, split), pair.slice(split + 1)];
      if (!isValidDimensionText(name) || !isValidDimensionText(value)) {
        throw refused(
          `dimension \`${pair}\` is not NAME=VALUE without spaces around them or \`;\` in them, like department=100`,
        );
      }
      const defined = this.#dimensions.get(name);
      if (defined === undefined) {
        const names = [...this.#dimensions.keys()].sort(compareText);
        throw refused(`dimension \`${name}\` does not exist (the dimensions are ${names.join(", ")})`);
      }
      if (!defined.values.includes(value)) {
        throw refused(`dimension ${name} has no value ${value}`);
      }
      if (values.has(name)) {
        throw refused(`dimension ${name} is given twice: give it once`);
      }
      values.set(name, value);
    }
    const dimensions = [...values].map(([name, value]) => ({ name, value }));
    return JSON.stringify([entity, account, canonicalDimensions(dimensions), period]);
  }

  /** The names of the periods from `fromPeriod` to `toPeriod` inclusive, in calendar order. */
  #periodRange(known, fromPeriod, toPeriod) {
    const names = known.periods.map((period) => period.name);
    for (const name of [fromPeriod, toPeriod]) {
      if (!names.includes(name)) {
        throw refused(`period ${name} does not exist in entity ${known.info.id}`);
      }
    }
    const first = names.indexOf(fromPeriod);
    const last = names.indexOf(toPeriod);
    if (first > last) {
      throw refused(`period range ${fromPeriod}..${toPeriod} runs backwards: ${fromPeriod} comes after ${toPeriod}`);
    }
    return names.slice(first, last + 1);
  }

  #rate(from, to, rateType, on) {
    // The host's rule (`RateTable::rate_on`): the same currency is 1; a pair with any rate of the
    // type uses only its own series, even when none is effective yet on the date; only a pair with
    // no rate of the type at all falls back to the opposite pair's rate, inverted and rounded. No
    // triangulation through a third currency.
    if (from === to) {
      return { units: 1n, scale: 0 };
    }
    const latest = (first, second) => {
      // Among rates with the same effective date the last one added wins, as in the host.
      let found = null;
      for (const known of this.#rates) {
        const inSeries = known.from === first && known.to === second && known.rateType === rateType;
        if (inSeries && known.effective <= on && (found === null || known.effective >= found.effective)) {
          found = known;
        }
      }
      return found === null ? null : found.rate;
    };
    if (this.#rates.some((known) => known.from === from && known.to === to && known.rateType === rateType)) {
      return latest(from, to);
    }
    const opposite = latest(to, from);
    return opposite === null ? null : inverseRate(opposite);
  }

  /** Posts an entry, or its reversal (amounts negated) on `date`. */
  #postOne(proposed, date, reverse) {
    const known = this.#entities.get(proposed.entity);
    const what = `entry ${JSON.stringify(proposed.description)}`;
    if (known === undefined) {
      throw new FixtureError(`${what}: entity ${proposed.entity} does not exist`);
    }
    const named = proposed.period !== undefined && proposed.period !== null && !reverse;
    const period = named
      ? known.periods.find((candidate) => candidate.name === proposed.period)
      : known.periods.find((candidate) => candidate.kind === "operating" && candidate.start <= date && date <= candidate.end);
    if (period === undefined) {
      throw new FixtureError(`${what}: no period for ${date} in entity ${proposed.entity}`);
    }
    // The host refuses a date outside the period an entry names.
    if (!(period.start <= date && date <= period.end)) {
      throw new FixtureError(`${what}: date ${date} is outside period ${period.name} (${period.start} to ${period.end})`);
    }
    const sign = reverse ? -1n : 1n;
    const pending = proposed.lines.map((proposedLine, index) => {
      const where = `${what}, line ${index + 1}`;
      if (!known.accounts.has(proposedLine.account)) {
        throw new FixtureError(`${what}: account ${proposedLine.account} does not exist in entity ${proposed.entity}`);
      }
      const currency = proposedLine.currency ?? known.info.currency;
      const amount = parseDecimal(proposedLine.amount, `${where}: amount`, FixtureError);
      let accountingAmount;
      if (proposedLine.accountingAmount !== undefined && proposedLine.accountingAmount !== null) {
        accountingAmount = parseDecimal(proposedLine.accountingAmount, `${where}: accounting amount`, FixtureError);
      } else if (currency === known.info.currency) {
        accountingAmount = amount;
      } else {
        accountingAmount = this.#convert(known.info, currency, amount, proposed.date);
      }
      return {
        account: proposedLine.account,
        dimensions: [...proposedLine.dimensions]
          .map(({ name, value }) => ({ name, value }))
          .sort((left, right) => compareTuples([left.name, left.value], [right.name, right.value])),
        currency,
        amount: { units: amount.units * sign, scale: amount.scale },
        accountingAmount: { units: accountingAmount.units * sign, scale: accountingAmount.scale },
        description: proposedLine.description ?? proposed.description,
      };
    });
    const total = pending.reduce((sum, pendingLine) => addDecimal(sum, pendingLine.accountingAmount), ZERO);
    if (total.units !== 0n) {
      throw new FixtureError(`${what}: accounting amounts sum to ${formatDecimal(total)}, not zero`);
    }
    this.#entriesPosted += 1n;
    const entryId = this.#entriesPosted;
    return pending.map((pendingLine) => {
      this.#linesPosted += 1n;
      known.lines.push({
        id: this.#linesPosted,
        entryId,
        entryKey: `TEST-${String(entryId).padStart(6, "0")}`,
        date,
        period: period.name,
        account: pendingLine.account,
        dimensions: pendingLine.dimensions,
        currency: pendingLine.currency,
        amount: formatDecimal(pendingLine.amount),
        accountingAmount: formatDecimal(pendingLine.accountingAmount),
        description: pendingLine.description,
        settlementId: undefined,
      });
      return this.#linesPosted;
    });
  }

  /** Converts a foreign amount at the entity's default rate type, rounded to the accounting currency's minor units. */
  #convert(info, currency, amount, on) {
    const rate = this.#rate(currency, info.currency, info.defaultRateType, on);
    if (rate === null) {
      throw new FixtureError(
        `no ${info.defaultRateType} rate from ${currency} to ${info.currency} on ${on}: add one with ledger.addRate or give the line's accounting amount`,
      );
    }
    const minorUnits = this.#currencies.get(info.currency)?.minorUnits ?? 2;
    return roundToMinorUnits(multiplyDecimal(amount, rate), minorUnits);
  }
}
