// Tests of the JavaScript test harness, closebook-testing.mjs: the same cases as the Rust
// harness's (plugin-sdk/src/testing/queries.rs), so the two answer every query alike, plus the
// module-resolution hook and the boundary checks that stand in for componentize-js's. Run with
// `node --test` in this folder; tests/tests/plugin_new.rs runs them, and checks the harness's
// rates and fiscal years against the ledger's own code.

import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { pathToFileURL } from "node:url";

import {
  BoundaryError,
  ComponentError,
  FixtureError,
  StepRefusal,
  TestLedger,
  entry,
  line,
  loadStep,
} from "./closebook-testing.mjs";

function balanceQuery(entity, fromPeriod, toPeriod, { accounts = { tag: "all" }, currency, dimensionFilter = [], groupBy = [] } = {}) {
  return {
    entity,
    accounts,
    fromPeriod,
    toPeriod,
    currency,
    dimensionFilter: dimensionFilter.map(([name, value]) => ({ name, value })),
    groupByDimensions: groupBy,
  };
}

function lineQuery(entity, account, fromPeriod, toPeriod, { after, limit = 500, includeSettled = true } = {}) {
  return { entity, account, fromPeriod, toPeriod, after, limit, includeSettled };
}

/** ACME (USD) with a bank, a EUR bank, receivables, sales split by department, and rent. */
function fixture() {
  const ledger = new TestLedger()
    .addCurrency("USD", 2)
    .addCurrency("EUR", 2)
    .addCurrency("JPY", 0)
    .addDimension("department", ["200", "100"])
    .addEntity("ACME", "Acme Inc.", "USD", "3900", "spot")
    .addAccount("ACME", "1100", "Bank", "asset")
    .addAccount("ACME", "1150", "Bank EUR", "asset")
    .addAccount("ACME", "1200", "Receivables", "asset")
    .addAccount("ACME", "4000", "Sales", "revenue")
    .addAccount("ACME", "6100", "Rent", "expense")
    .addFiscalYear("ACME", 2026)
    .addRate("EUR", "USD", "spot", "2026-01-01", "1.08")
    .addRate("EUR", "USD", "spot", "2026-02-01", "1.10")
    .addRate("USD", "JPY", "spot", "2026-01-01", "150");
  // January: two sales (department 100 and 200), rent, one EUR receipt.
  ledger.post(entry("ACME", "2026-01-10", "Sale 1", [line("1200", "1000.00"), line("4000", "-1000.00", { dimensions: { department: "100" } })]));
  ledger.post(entry("ACME", "2026-01-20", "Sale 2", [line("1200", "500.00"), line("4000", "-500.00", { dimensions: { department: "200" } })]));
  ledger.post(entry("ACME", "2026-01-31", "Rent", [line("6100", "300.00"), line("1100", "-300.00")]));
  ledger.post(entry("ACME", "2026-01-25", "EUR receipt", [line("1150", "100.00", { currency: "EUR" }), line("1200", "-108.00")]));
  // February: another department 100 sale.
  ledger.post(entry("ACME", "2026-02-05", "Sale 3", [line("1200", "200.00"), line("4000", "-200.00", { dimensions: { department: "100" } })]));
  return ledger;
}

/** Asserts that `call` throws a refused query with this message. */
function assertRefused(call, message) {
  assert.throws(call, (error) => error instanceof ComponentError && error.payload.message === message);
}

test("a fiscal year is in calendar order", () => {
  const ledger = fixture();
  const periods = ledger.periods("ACME", "FY2026");
  assert.equal(periods.length, 14);
  assert.equal(periods[0].name, "FY2026-opening");
  assert.equal(periods[0].kind, "opening");
  assert.deepEqual([periods[2].name, periods[2].end], ["2026-02", "2026-02-28"]);
  assert.deepEqual([periods[13].name, periods[13].start, periods[13].end], ["FY2026-closing", "2026-12-01", "2026-12-31"]);
  assert.deepEqual(ledger.periods("ACME", "FY2027"), []);
  assert.deepEqual(ledger.dimensions(), [{ name: "department", values: ["100", "200"] }]);
});

test("fiscal years may start in any month", () => {
  const ledger = fixture().addEntity("ACME-AU", "Acme Pty", "USD", "3900", "spot").addFiscalYearStarting("ACME-AU", 2026, 7);
  const periods = ledger.periods("ACME-AU", "FY2026");
  assert.equal(periods.length, 14);
  assert.deepEqual([periods[0].start, periods[0].end], ["2025-07-01", "2025-07-01"]);
  assert.equal(periods[1].name, "2025-07");
  assert.deepEqual([periods[8].name, periods[8].end], ["2026-02", "2026-02-28"]);
  assert.deepEqual([periods[13].name, periods[13].start, periods[13].end], ["FY2026-closing", "2026-06-01", "2026-06-30"]);
  assert.ok(periods.every((period) => period.fiscalYear === "FY2026"));
});

test("balances sum per account and currency", () => {
  // January: receivables 1000 + 500 - 108 = 1392 USD, sales -1500, the EUR bank 100 EUR carried
  // at 108.00 USD (converted at the 1.08 spot rate).
  const rows = fixture().balances(balanceQuery("ACME", "2026-01", "2026-01"));
  assert.deepEqual(
    rows.map((row) => [row.account, row.currency, row.amount, row.accountingAmount]),
    [
      ["1100", "USD", "-300.00", "-300.00"],
      ["1150", "EUR", "100.00", "108.00"],
      ["1200", "USD", "1392.00", "1392.00"],
      ["4000", "USD", "-1500.00", "-1500.00"],
      ["6100", "USD", "300.00", "300.00"],
    ],
  );
  assert.deepEqual([rows[2].debit, rows[2].credit], ["1500.00", "108.00"]);
});

test("balances filter and group by dimension", () => {
  const ledger = fixture();
  const sales = { tag: "types", val: ["revenue"] };
  const grouped = ledger.balances(balanceQuery("ACME", "2026-01", "2026-02", { accounts: sales, groupBy: ["department"] }));
  assert.deepEqual(
    grouped.map((row) => [row.dimensions, row.accountingAmount, row.credit]),
    [
      [[{ name: "department", value: "100" }], "-1200.00", "1200.00"],
      [[{ name: "department", value: "200" }], "-500.00", "500.00"],
    ],
  );
  const filtered = ledger.balances(
    balanceQuery("ACME", "2026-01", "2026-02", { accounts: sales, dimensionFilter: [["department", "100"]] }),
  );
  assert.deepEqual(filtered.map((row) => [row.dimensions, row.accountingAmount]), [[[], "-1200.00"]]);
});

test("balances filter by range, list and currency", () => {
  const ledger = fixture();
  const banks = { tag: "range", val: ["1100", "1199"] };
  assert.equal(ledger.balances(balanceQuery("ACME", "2026-01", "2026-12", { accounts: banks })).length, 2);
  const euro = ledger.balances(balanceQuery("ACME", "2026-01", "2026-12", { accounts: banks, currency: "EUR" }));
  assert.deepEqual(euro.map((row) => row.account), ["1150"]);
  const rent = ledger.balances(balanceQuery("ACME", "FY2026-opening", "FY2026-closing", { accounts: { tag: "list", val: ["6100"] } }));
  assert.equal(rent[0].accountingAmount, "300.00");
});

test("balances refuse unknown and reversed ranges", () => {
  const ledger = fixture();
  assertRefused(() => ledger.balances(balanceQuery("ACME", "2025-12", "2026-01")), "period 2025-12 does not exist in entity ACME");
  assertRefused(
    () => ledger.balances(balanceQuery("ACME", "2026-02", "2026-01")),
    "period range 2026-02..2026-01 runs backwards: 2026-02 comes after 2026-01",
  );
  assertRefused(() => ledger.balances(balanceQuery("NOPE", "2026-01", "2026-01")), "entity NOPE does not exist");
});

test("balance rows follow the host's order of dimension sets", () => {
  // `cost-center=CC7` sorts before `cost=A` ('-' comes before '='), as in the host.
  const ledger = fixture().addDimension("cost", ["A"]).addDimension("cost-center", ["CC7"]);
  for (const [name, value] of [["cost", "A"], ["cost-center", "CC7"]]) {
    ledger.post(entry("ACME", "2026-03-10", "Rent", [line("6100", "10.00", { dimensions: { [name]: value } }), line("1100", "-10.00")]));
  }
  const rows = ledger.balances(balanceQuery("ACME", "2026-03", "2026-03", { accounts: { tag: "list", val: ["6100"] }, groupBy: ["*"] }));
  assert.deepEqual(rows.map((row) => row.dimensions[0].name), ["cost-center", "cost"]);
});

test("lines page with a cursor", () => {
  const ledger = fixture();
  const first = ledger.lines(lineQuery("ACME", "1200", "2026-01", "2026-02", { limit: 2 }));
  assert.equal(first.lines.length, 2);
  assert.equal(typeof first.next, "bigint");
  assert.equal(first.next, first.lines[1].id);
  const second = ledger.lines(lineQuery("ACME", "1200", "2026-01", "2026-02", { limit: 2, after: first.next }));
  assert.equal(second.lines.length, 2);
  assert.equal(second.next, undefined);
  assert.ok(second.lines[0].id > first.next);
  assert.deepEqual(
    [...first.lines, ...second.lines].map((posted) => posted.description),
    ["Sale 1", "Sale 2", "EUR receipt", "Sale 3"],
  );
  assert.equal(first.lines[0].entryKey, "TEST-000001");
});

test("lines leave out settled lines on request", () => {
  const ledger = fixture();
  const ids = ledger.post(entry("ACME", "2026-01-26", "Refund", [line("1200", "108.00"), line("1100", "-108.00")]));
  const receipt = ledger.postedLines("ACME").find((posted) => posted.account === "1200" && posted.description === "EUR receipt");
  const settlement = ledger.settle({ entity: "ACME", lineIds: [receipt.id, ids[0]] });
  const every = ledger.lines(lineQuery("ACME", "1200", "2026-01", "2026-01"));
  assert.equal(every.lines.length, 4);
  assert.equal(every.lines[2].settlementId, settlement);
  assert.equal(ledger.lines(lineQuery("ACME", "1200", "2026-01", "2026-01", { includeSettled: false })).lines.length, 2);
});

test("lines refuse a zero limit and unknown accounts", () => {
  const ledger = fixture();
  assertRefused(() => ledger.lines(lineQuery("ACME", "1200", "2026-01", "2026-01", { limit: 0 })), "a line query's limit must be at least 1");
  assertRefused(() => ledger.lines(lineQuery("ACME", "9999", "2026-01", "2026-01")), "account 9999 does not exist in entity ACME");
});

test("rates take the latest on or before the date", () => {
  const ledger = fixture();
  assert.deepEqual(
    ["2025-12-31", "2026-01-31", "2026-02-01", "2026-12-31"].map((on) => ledger.rate("EUR", "USD", "spot", on)),
    [undefined, "1.08", "1.10", "1.10"],
  );
});

test("rates derive the inverse but never triangulate", () => {
  const ledger = fixture();
  assert.equal(ledger.rate("USD", "EUR", "spot", "2026-01-15"), "0.925925925926");
  assert.equal(ledger.rate("JPY", "USD", "spot", "2026-01-15"), "0.006666666667");
  assert.equal(ledger.rate("EUR", "USD", "average", "2026-01-15"), undefined);
  assert.equal(ledger.rate("EUR", "JPY", "spot", "2026-01-15"), undefined);
  assert.equal(ledger.rate("USD", "USD", "spot", "2026-01-15"), "1");
});

test("rates use only the direct series when it has any rate", () => {
  const ledger = fixture()
    .addCurrency("GBP", 2)
    .addRate("GBP", "USD", "spot", "2026-03-01", "1.25")
    .addRate("USD", "GBP", "spot", "2026-01-01", "0.8")
    .addRate("USD", "GBP", "budget", "2026-01-01", "0.75")
    .addRate("USD", "GBP", "zero", "2026-01-01", "0")
    .addRate("USD", "GBP", "exact", "2026-01-01", "0.8")
    .addRate("USD", "GBP", "half", "2026-01-01", "0.5");
  assert.equal(ledger.rate("GBP", "USD", "spot", "2026-02-28"), undefined);
  assert.equal(ledger.rate("GBP", "USD", "spot", "2026-03-01"), "1.25");
  assert.equal(ledger.rate("USD", "GBP", "spot", "2026-02-28"), "0.8");
  assert.equal(ledger.rate("GBP", "USD", "budget", "2026-02-28"), "1.333333333333");
  assert.equal(ledger.rate("GBP", "USD", "budget", "2025-12-31"), undefined);
  assert.equal(ledger.rate("GBP", "USD", "zero", "2026-02-28"), undefined);
  assert.equal(ledger.rate("USD", "GBP", "zero", "2026-02-28"), "0");
  // Written as rust_decimal divides: 1 / 0.8 is 1.25, but 1 / 0.5 is 2.0.
  assert.equal(ledger.rate("GBP", "USD", "exact", "2026-02-28"), "1.25");
  assert.equal(ledger.rate("GBP", "USD", "half", "2026-02-28"), "2.0");
  assertRefused(() => ledger.rate("EUR", "USD", "spot", "2026-02-30"), "`2026-02-30` is not a date (YYYY-MM-DD)");
});

test("reversal dates post the reversing entry", () => {
  const ledger = fixture();
  const ids = ledger.post(
    entry("ACME", "2026-01-31", "Accrue rent", [line("6100", "50.00"), line("1100", "-50.00")], { reversalDate: "2026-02-01" }),
  );
  assert.equal(ids.length, 4);
  const reversing = ledger.postedLines("ACME").at(-2);
  assert.deepEqual(
    [reversing.id, reversing.period, reversing.amount, reversing.description],
    [ids[2], "2026-02", "-50.00", "Accrue rent"],
  );
  const rent = (period) =>
    ledger.balances(balanceQuery("ACME", period, period, { accounts: { tag: "list", val: ["6100"] } }))[0].accountingAmount;
  assert.equal(rent("2026-01"), "350.00");
  assert.equal(rent("2026-02"), "-50.00");
});

test("broken fixtures are refused", () => {
  // An unbalanced entry, a date outside the named period, an unknown account, a foreign line
  // without a rate, and a Number amount each stop the test with the reason.
  const ledger = fixture();
  for (const [build, message] of [
    [() => entry("ACME", "2026-01-31", "Broken", [line("6100", "50.01"), line("1100", "-50.00")]), "accounting amounts sum to 0.01, not zero"],
    [
      () => entry("ACME", "2026-01-31", "Misdated", [line("6100", "1"), line("1100", "-1")], { period: "FY2026-closing" }),
      "date 2026-01-31 is outside period FY2026-closing (2026-12-01 to 2026-12-31)",
    ],
    [() => entry("ACME", "2026-01-31", "Unknown", [line("6199", "1"), line("1100", "-1")]), "account 6199 does not exist in entity ACME"],
    [
      () => entry("ACME", "2026-01-31", "Pounds", [line("1150", "1", { currency: "GBP" }), line("1100", "-1")]),
      "no spot rate from GBP to USD on 2026-01-31",
    ],
  ]) {
    assert.throws(() => ledger.post(build()), (error) => error instanceof FixtureError && error.message.includes(message));
  }
  assert.throws(() => line("6100", 1.5), BoundaryError);
});

test("the stand-in imports answer from the active ledger and keep the log", async () => {
  // A step module importing the WIT interfaces by name loads through the hook and calls the
  // ledger that runs it.
  const folder = mkdtempSync(join(tmpdir(), "closebook-testing-"));
  try {
    const path = join(folder, "step.mjs");
    writeFileSync(
      path,
      [
        'import * as ledger from "closebook:plugin/ledger@0.1.0";',
        'import { log } from "closebook:plugin/log@0.1.0";',
        'import "closebook:plugin/types@0.1.0";',
        'export function describe() { return { name: "probe", version: "0.1.0", summary: "s", configSchema: "{}" }; }',
        "export function run(input) {",
        "  const entity = ledger.entity(input.entity);",
        '  log("info", `currency ${entity.currency}`);',
        '  if (input.config === "{\\"refuse\\":true}") { throw { message: "refused on purpose" }; }',
        '  if (input.config === "{\\"query\\":true}") { ledger.entity("NOPE"); }',
        '  if (input.config === "{\\"number\\":true}") { return { entries: [{ entity: input.entity, date: input.period.end, description: "x", lines: [{ account: "6100", dimensions: [], amount: 1 }] }], settlements: [], messages: [] }; }',
        "  return { entries: [], settlements: [], messages: [{ level: \"info\", text: entity.name }] };",
        "}",
      ].join("\n"),
    );
    const step = await loadStep(pathToFileURL(path));
    const ledger = fixture();
    assert.equal(ledger.describe(step).name, "probe");
    const output = ledger.runStep(step, ledger.stepInput("ACME", "2026-01", {}));
    assert.deepEqual(output.messages, [{ level: "info", text: "Acme Inc." }]);
    assert.deepEqual(ledger.logs(), [{ level: "info", text: "currency USD" }]);
    assert.throws(() => ledger.runStep(step, ledger.stepInput("ACME", "2026-01", { refuse: true })), {
      name: "StepRefusal",
      message: "refused on purpose",
    });
    // An uncaught query refusal becomes the run's error, as the bindings take its payload.
    assert.throws(() => ledger.runStep(step, ledger.stepInput("ACME", "2026-01", { query: true })), (error) =>
      error instanceof StepRefusal && error.message === "entity NOPE does not exist",
    );
    assert.throws(() => ledger.runStep(step, ledger.stepInput("ACME", "2026-01", { number: true })), {
      name: "BoundaryError",
      message: "run's result.entries[0].lines[0].amount is a number (1), not a decimal string like \"1250.00\"",
    });
    assert.throws(() => step.run(ledger.stepInput("ACME", "2026-01", {})), /no TestLedger serves the ledger imports/);
    await assert.rejects(loadStep("./step.mjs"), /give the step's URL/);
  } finally {
    rmSync(folder, { recursive: true, force: true });
  }
});

test("step input reads every entity and posts into one", () => {
  const ledger = fixture().addEntity("ACME-DE", "Acme GmbH", "EUR", "3900", "spot");
  const input = ledger.stepInput("ACME", "2026-02", { amount: "1.00" });
  assert.deepEqual(input.entities, [{ entity: "ACME", post: true }, { entity: "ACME-DE", post: false }]);
  assert.deepEqual([input.asOf, input.period.name, input.config], ["2026-02-28", "2026-02", '{"amount":"1.00"}']);
});
