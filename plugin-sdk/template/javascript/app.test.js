// Unit tests of {{name}}: the step runs natively, in Node, against closebook-testing.mjs's
// TestLedger (an in-memory ledger with the host's query semantics). Run them with
//
//     node --test        (or: npm test)
//
// and then the built component in the real sandbox with `closebook plugin run` (README.md).

import assert from "node:assert/strict";
import { test } from "node:test";

import { StepRefusal, TestLedger, loadStep } from "./closebook-testing.mjs";

// Imports app.js with the harness standing in for the closebook:plugin/… imports. Not a static
// import: Node would resolve app.js's imports before the harness could stand in for them.
const app = await loadStep(new URL("./app.js", import.meta.url));

/** ACME (USD) with accrued liabilities 2100 and utilities 6200, fiscal year 2026. */
function acme() {
  return new TestLedger()
    .addCurrency("USD", 2)
    .addEntity("ACME", "Acme Inc.", "USD", "3900", "spot")
    .addAccount("ACME", "2100", "Accrued liabilities", "liability")
    .addAccount("ACME", "6200", "Utilities", "expense")
    .addFiscalYear("ACME", 2026);
}

function config(amount, more = {}) {
  return { expense_account: "6200", accrual_account: "2100", amount, ...more };
}

/** The balance rows of one account in one period. */
function balances(ledger, account, period) {
  return ledger.balances({
    entity: "ACME",
    accounts: { tag: "list", val: [account] },
    fromPeriod: period,
    toPeriod: period,
    currency: undefined,
    dimensionFilter: [],
    groupByDimensions: [],
  });
}

test("describes the step and its configuration", () => {
  // The name the host shows, and a schema that requires the three settings.
  const info = acme().describe(app);
  assert.equal(info.name, "{{name}}");
  assert.deepEqual(JSON.parse(info.configSchema).required, ["expense_account", "accrual_account", "amount"]);
});

test("accrues at the period end and reverses the next day", () => {
  // January: debit 6200, credit 2100 on 31 January; once posted, the February reversal nets the
  // expense back to zero.
  const ledger = acme();
  const output = ledger.runStep(app, ledger.stepInput("ACME", "2026-01", config("1500.00")));
  assert.equal(output.entries.length, 1);
  const [entry] = output.entries;
  assert.deepEqual([entry.date, entry.reversalDate], ["2026-01-31", "2026-02-01"]);
  assert.deepEqual(
    entry.lines.map((line) => [line.account, line.amount]),
    [
      ["6200", "1500.00"],
      ["2100", "-1500.00"],
    ],
  );
  assert.deepEqual(ledger.logs(), [{ level: "info", text: "accruing 1500.00 USD" }]);
  assert.deepEqual([output.reconcilingItems, output.clearedItems, output.findings], [[], [], []]);

  // Posting refuses (FixtureError) an entry that does not balance.
  ledger.postOutput(output);
  assert.equal(balances(ledger, "6200", "2026-01")[0].accountingAmount, "1500.00");
  assert.equal(balances(ledger, "6200", "2026-02")[0].accountingAmount, "-1500.00");
});

test("does not reverse when told not to", () => {
  const ledger = acme();
  const output = ledger.runStep(app, ledger.stepInput("ACME", "2026-03", config("20.50", { reverse: false })));
  assert.deepEqual([output.entries[0].date, output.entries[0].reversalDate], ["2026-03-31", undefined]);
});

test("refuses amounts the currency cannot hold", () => {
  // USD has two decimals; a zero or negative accrual is a configuration mistake.
  const ledger = acme();
  for (const [amount, refusal] of [
    ["10.001", "amount 10.001 has more decimals than USD allows (2): round it"],
    ["0", "amount 0 is not positive: accrue a positive amount"],
    ["-5.00", "amount -5.00 is not positive: accrue a positive amount"],
    ["ten", 'amount "ten" is not a decimal'],
  ]) {
    assert.throws(
      () => ledger.runStep(app, ledger.stepInput("ACME", "2026-01", config(amount))),
      (error) => error instanceof StepRefusal && error.message.startsWith(refusal),
      amount,
    );
  }
});

test("passes on a refused ledger query", () => {
  // The host refuses a query on an entity the task may not read; the step says so.
  const ledger = acme();
  const input = { ...ledger.stepInput("ACME", "2026-01", config("1500.00")), entity: "ACME-XX" };
  assert.throws(() => ledger.runStep(app, input), {
    name: "StepRefusal",
    message: "ledger query refused: entity ACME-XX does not exist",
  });
});
