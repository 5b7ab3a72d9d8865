// {{name}}: a closebook close step written in JavaScript, created by `closebook plugin new`.
//
// As created, it accrues a fixed amount at the end of the period: one entry dated the period end
// that debits an expense account and credits an accrued-liabilities account, reversed on the next
// day. Replace `propose` with your own step.
//
// Money crosses the boundary as decimal strings. JavaScript's Number is a binary float, so never
// turn money into a Number: keep it as text, or compute on BigInt units as below.
//
// The step is built for closebook's plugin interface 0.2.0 (wit/closebook.wit): it imports
// `closebook:plugin/…@0.2.0`, and its output carries, beside the entries, settlements and
// messages, the reconciling items, clearings of open items and findings it proposes (none here).

import * as ledger from "closebook:plugin/ledger@0.2.0";
import { log } from "closebook:plugin/log@0.2.0";

const CONFIG_SCHEMA = JSON.stringify({
  $schema: "https://json-schema.org/draft/2020-12/schema",
  type: "object",
  additionalProperties: false,
  required: ["expense_account", "accrual_account", "amount"],
  properties: {
    expense_account: { type: "string", minLength: 1 },
    accrual_account: { type: "string", minLength: 1 },
    amount: { type: "string", pattern: "^[0-9]+(\\.[0-9]+)?$" },
    reverse: { type: "boolean", default: true },
  },
});

class StepError extends Error {}

/** `"1500.00"` → `{ units: 150000n, scale: 2 }`: an exact decimal. */
function parseDecimal(text) {
  const match = /^(-?)([0-9]+)(?:\.([0-9]+))?$/.exec(text);
  if (match === null) {
    throw new StepError(`amount ${JSON.stringify(text)} is not a decimal: write it like "1500.00"`);
  }
  const units = BigInt(match[2] + (match[3] ?? ""));
  return { units: match[1] === "-" ? -units : units, scale: (match[3] ?? "").length };
}

function formatDecimal({ units, scale }) {
  const negative = units < 0n;
  let digits = (negative ? -units : units).toString().padStart(scale + 1, "0");
  if (scale > 0) {
    digits = `${digits.slice(0, -scale)}.${digits.slice(-scale)}`;
  }
  return negative ? `-${digits}` : digits;
}

function nextDay(isoDate) {
  const day = new Date(`${isoDate}T00:00:00Z`);
  day.setUTCDate(day.getUTCDate() + 1);
  return day.toISOString().slice(0, 10);
}

function propose(input) {
  const config = JSON.parse(input.config);
  const amount = parseDecimal(config.amount);
  if (amount.units <= 0n) {
    throw new StepError(`amount ${config.amount} is not positive: accrue a positive amount`);
  }
  const entity = ledger.entity(input.entity);
  const currency = ledger.currencies().find((candidate) => candidate.code === entity.currency);
  if (amount.scale > currency.minorUnits) {
    throw new StepError(
      `amount ${config.amount} has more decimals than ${entity.currency} allows (${currency.minorUnits}): round it`,
    );
  }
  log("info", `accruing ${formatDecimal(amount)} ${entity.currency}`);
  const line = (account, value) => ({
    account,
    dimensions: [],
    currency: undefined,
    amount: formatDecimal(value),
    accountingAmount: undefined,
    description: undefined,
  });
  return {
    entries: [
      {
        entity: input.entity,
        period: undefined,
        date: input.period.end,
        description: `Accrual ${input.period.name}`,
        lines: [
          line(config.expense_account, amount),
          line(config.accrual_account, { units: -amount.units, scale: amount.scale }),
        ],
        reversalDate: config.reverse === false ? undefined : nextDay(input.period.end),
      },
    ],
    settlements: [],
    messages: [],
    reconcilingItems: [],
    clearedItems: [],
    findings: [],
  };
}

export function describe() {
  return { name: "{{name}}", version: "0.1.0", summary: "Accrues a fixed amount at period end.", configSchema: CONFIG_SCHEMA };
}

export function run(input) {
  try {
    return propose(input);
  } catch (error) {
    if (error instanceof StepError) {
      throw { message: error.message };
    }
    if (error?.payload?.message !== undefined) {
      throw { message: `ledger query refused: ${error.payload.message}` };
    }
    throw error;
  }
}
