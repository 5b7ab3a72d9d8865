// Native tests of the JavaScript allocation step, run in Node against the SDK's test harness
// (plugin-sdk/javascript/closebook-testing.mjs), without building the component:
//
//     node --test        # in this folder
//
// The fixture and the cases are in expected-proposals.json: for each configuration, the entries,
// messages and step log the step proposes, or its refusal. tests/tests/polyglot.rs builds the same
// fixture in a real ledger, runs the same cases through the host against the built component
// (target/polyglot/js_allocation.wasm) and expects the same file: what these tests expect is what
// the host gives.
//
// config-schema.js, which allocation.js imports, is written by `scripts/build-polyglot-plugins
// javascript` from plugins/allocation/config.schema.json.

import assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";
import { test } from "node:test";

// The harness lives in the SDK here; a project made by `closebook plugin new` has a copy beside
// its app.js.
import { StepRefusal, TestLedger, entry, line, loadStep } from "../../plugin-sdk/javascript/closebook-testing.mjs";

if (!existsSync(new URL("./config-schema.js", import.meta.url))) {
  throw new Error("config-schema.js is missing: run `scripts/build-polyglot-plugins javascript` first (it writes it)");
}

const step = await loadStep(new URL("./allocation.js", import.meta.url));

const EXPECTED = JSON.parse(readFileSync(new URL("./expected-proposals.json", import.meta.url), "utf8"));
const ENTITY = EXPECTED.fixture.entity.id;

/** The ledger of expected-proposals.json, built with the harness's fixture builders. */
function fixtureLedger() {
  const { fixture } = EXPECTED;
  const ledger = new TestLedger();
  for (const [code, minorUnits] of fixture.currencies) {
    ledger.addCurrency(code, minorUnits);
  }
  for (const [name, values] of Object.entries(fixture.dimensions)) {
    ledger.addDimension(name, values);
  }
  const { entity } = fixture;
  ledger.addEntity(entity.id, entity.name, entity.currency, entity.retained_earnings_account, entity.default_rate_type);
  for (const account of fixture.accounts) {
    ledger.addAccount(entity.id, account.number, account.name, account.type, { blocked: account.blocked ?? false });
  }
  ledger.addFiscalYear(entity.id, fixture.fiscal_year);
  for (const rate of fixture.rates) {
    ledger.addRate(rate.from, rate.to, rate.type, rate.date, rate.rate);
  }
  for (const posted of fixture.entries) {
    const lines = posted.lines.map((fixtureLine) =>
      line(fixtureLine.account, fixtureLine.amount, {
        dimensions: fixtureLine.dimensions,
        currency: fixtureLine.currency,
        accountingAmount: fixtureLine.accounting_amount,
      }),
    );
    ledger.post(entry(entity.id, posted.date, posted.description, lines));
  }
  return ledger;
}

/**
 * A WIT value as expected-proposals.json writes it: records with their fields in snake_case,
 * none (undefined) as null.
 */
function asJson(value) {
  if (value === undefined || value === null) {
    return null;
  }
  if (Array.isArray(value)) {
    return value.map(asJson);
  }
  if (typeof value === "object") {
    return Object.fromEntries(
      Object.entries(value).map(([field, inner]) => [field.replace(/[A-Z]/g, (upper) => `_${upper.toLowerCase()}`), asJson(inner)]),
    );
  }
  return value;
}

/** What the step proposes for a case, or its refusal, with the step log. */
function proposal(ledger, testCase) {
  const input = ledger.stepInput(ENTITY, testCase.period, testCase.config);
  try {
    const output = ledger.runStep(step, input);
    return { entries: asJson(output.entries), messages: asJson(output.messages), log: asJson(ledger.logs()) };
  } catch (error) {
    if (error instanceof StepRefusal) {
      return { refusal: error.message, log: asJson(ledger.logs()) };
    }
    throw error;
  }
}

test("every case proposes what the host does", async (context) => {
  // Entries, messages, step log and refusals, exactly as the host gives them.
  assert.ok(EXPECTED.cases.length >= 10);
  for (const testCase of EXPECTED.cases) {
    await context.test(testCase.name, () => {
      assert.deepEqual(proposal(fixtureLedger(), testCase), testCase.expected);
    });
  }
});

test("rent is split fifty, thirty, twenty and posts", () => {
  // January's 4,500.00 rent of department 300 goes 2,250.00 / 1,350.00 / 900.00 to the three
  // departments; posted, the rent by department is exactly that.
  const ledger = fixtureLedger();
  const { config } = EXPECTED.cases.find((testCase) => testCase.name === "rent of department 300 by percentage");
  const output = ledger.runStep(step, ledger.stepInput(ENTITY, "2026-01", config));
  assert.deepEqual(
    output.entries[0].lines.map((proposed) => [proposed.dimensions[0].value, proposed.amount]),
    [
      ["100", "2250.00"],
      ["200", "1350.00"],
      ["300", "900.00"],
      ["300", "-4500.00"],
    ],
  );
  assert.deepEqual([output.reconcilingItems, output.clearedItems, output.findings], [[], [], []]);
  ledger.postOutput(output);
  const rows = ledger.balances({
    entity: ENTITY,
    accounts: { tag: "list", val: ["6100"] },
    fromPeriod: "2026-01",
    toPeriod: "2026-01",
    currency: undefined,
    dimensionFilter: [],
    groupByDimensions: ["department"],
  });
  assert.deepEqual(
    rows.map((row) => [row.dimensions[0].value, row.accountingAmount]),
    [
      ["100", "2250.00"],
      ["200", "1350.00"],
      ["300", "900.00"],
    ],
  );
});

test("a task that may not post is refused", () => {
  // The step checks its own entity access before it reads anything.
  const ledger = fixtureLedger();
  const [first] = EXPECTED.cases;
  const input = { ...ledger.stepInput(ENTITY, first.period, first.config), entities: [{ entity: ENTITY, post: false }] };
  assert.throws(() => ledger.runStep(step, input), {
    name: "StepRefusal",
    message: `the task may not post into entity ${ENTITY}: grant it posting access`,
  });
});

test("describes the Rust step's name and schema", () => {
  // The host validates a configuration against this schema: the Rust step's, word for word.
  const info = fixtureLedger().describe(step);
  assert.deepEqual([info.name, info.version], ["allocation", "0.1.0"]);
  const schema = JSON.parse(readFileSync(new URL("../../plugins/allocation/config.schema.json", import.meta.url), "utf8"));
  assert.deepEqual(JSON.parse(info.configSchema), schema);
});
