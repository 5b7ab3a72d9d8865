// Tests of the JavaScript test harness, closebook-testing.mjs: the same cases as the Rust
// harness's (plugin-sdk/src/testing/queries.rs), so the two answer every query alike, plus
// interface 0.2's reconciliation queries (a bank statement, open items), the module-resolution
// hook (interface 0.2.0 only) and the boundary checks that stand in for componentize-js's. Run with
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

function statementQuery(entity, account, period, dimensions = []) {
  return { entity, account, period, dimensions: dimensions.map(([name, value]) => ({ name, value })) };
}

/** January's statement of the bank, 1100: 10,000.00 opening, a receipt and a cheque. */
function bankStatement(closing = "10400.00") {
  return {
    source: "bank-2026-01.csv",
    opening: "10000.00",
    closing,
    lines: [
      { lineNo: 2, date: "2026-01-12", amount: "700.00", reference: "DEP-1", description: "Deposit" },
      { lineNo: 3, date: "2026-01-28", amount: "-300.00", reference: "CHQ-101", description: "Cheque 101" },
    ],
  };
}

function openItem(id, period, amount, { cleared = false, reference = `REF-${id}` } = {}) {
  return { id, period, cleared, amount, explanation: `item ${id}`, expectedClear: "2026-02-15", reference };
}

/** Writes a step module into a fresh folder and loads it through the harness; `cleanup` removes the folder. */
async function probeStep(source) {
  const folder = mkdtempSync(join(tmpdir(), "closebook-testing-"));
  const path = join(folder, "step.mjs");
  writeFileSync(path, source);
  try {
    return { step: await loadStep(pathToFileURL(path)), cleanup: () => rmSync(folder, { recursive: true, force: true }) };
  } catch (error) {
    rmSync(folder, { recursive: true, force: true });
    throw error;
  }
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
        'import * as ledger from "closebook:plugin/ledger@0.2.0";',
        'import { log } from "closebook:plugin/log@0.2.0";',
        'import "closebook:plugin/types@0.2.0";',
        'export function describe() { return { name: "probe", version: "0.1.0", summary: "s", configSchema: "{}" }; }',
        "export function run(input) {",
        "  const entity = ledger.entity(input.entity);",
        '  log("info", `currency ${entity.currency}`);',
        '  if (input.config === "{\\"refuse\\":true}") { throw { message: "refused on purpose" }; }',
        '  if (input.config === "{\\"query\\":true}") { ledger.entity("NOPE"); }',
        '  if (input.config === "{\\"number\\":true}") { return { entries: [{ entity: input.entity, date: input.period.end, description: "x", lines: [{ account: "6100", dimensions: [], amount: 1 }] }], settlements: [], messages: [], reconcilingItems: [], clearedItems: [], findings: [] }; }',
        "  return { entries: [], settlements: [], messages: [{ level: \"info\", text: entity.name }], reconcilingItems: [], clearedItems: [], findings: [] };",
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

test("statements are read back per reconciliation", () => {
  // The statement imported for 1100 in January; none for another period, account or dimension
  // values, and a later import replaces the earlier one.
  const ledger = fixture().addStatement("ACME", "1100", "2026-01", bankStatement());
  assert.deepEqual(ledger.statement(statementQuery("ACME", "1100", "2026-01")), bankStatement());
  assert.equal(ledger.statement(statementQuery("ACME", "1100", "2026-02")), undefined);
  assert.equal(ledger.statement(statementQuery("ACME", "1150", "2026-01")), undefined);
  assert.equal(ledger.statement(statementQuery("ACME", "1100", "2026-01", [["department", "100"]])), undefined);
  const later = { ...bankStatement("10000.00"), source: "bank-2026-01-corrected.csv", lines: [] };
  ledger.addStatement("ACME", "1100", "2026-01", later);
  assert.equal(ledger.statement(statementQuery("ACME", "1100", "2026-01")).source, "bank-2026-01-corrected.csv");
  // What the step gets is a copy: changing it leaves the ledger's statement as it was.
  ledger.statement(statementQuery("ACME", "1100", "2026-01")).source = "changed";
  assert.equal(ledger.statement(statementQuery("ACME", "1100", "2026-01")).source, "bank-2026-01-corrected.csv");
});

test("reconciling items come oldest first, ids as BigInts", () => {
  // Added out of order, listed by id as the host lists them; none for another period.
  const ledger = fixture()
    .addOpenItem("ACME", "1100", "2026-02", openItem(7n, "2026-02", "-120.00"))
    .addOpenItem("ACME", "1100", "2026-02", openItem(3, "2026-01", "250.00", { cleared: true }));
  const items = ledger.reconcilingItems(statementQuery("ACME", "1100", "2026-02"));
  assert.deepEqual(
    items.map((item) => [item.id, item.period, item.cleared, item.amount, item.expectedClear]),
    [
      [3n, "2026-01", true, "250.00", "2026-02-15"],
      [7n, "2026-02", false, "-120.00", "2026-02-15"],
    ],
  );
  assert.deepEqual(ledger.reconcilingItems(statementQuery("ACME", "1100", "2026-01")), []);
  assert.deepEqual(ledger.reconcilingItems(statementQuery("ACME", "1100", "2026-02", [["department", "100"]])), []);
});

test("reconciliation queries refuse unknown entities, periods and accounts", () => {
  const ledger = fixture();
  for (const query of [ledger.statement.bind(ledger), ledger.reconcilingItems.bind(ledger)]) {
    assertRefused(() => query(statementQuery("NOPE", "1100", "2026-01")), "entity NOPE does not exist");
    assertRefused(() => query(statementQuery("ACME", "1100", "2025-12")), "period 2025-12 does not exist in entity ACME");
    assertRefused(
      () => query(statementQuery("ACME", "1999", "2026-01")),
      "account 1999 is not in the chart of entity ACME: check the number (`closebook report trial-balance` lists the accounts with balances)",
    );
    // In the host's order: the entity, then the period, then the account, then the dimensions.
    assertRefused(() => query(statementQuery("NOPE", "1999", "2025-12")), "entity NOPE does not exist");
    assertRefused(() => query(statementQuery("ACME", "1999", "2025-12")), "period 2025-12 does not exist in entity ACME");
    assertRefused(
      () => query(statementQuery("ACME", "1999", "2026-01", [["nope", "1"]])),
      "account 1999 is not in the chart of entity ACME: check the number (`closebook report trial-balance` lists the accounts with balances)",
    );
  }
  assert.throws(() => ledger.statement({ entity: "ACME", account: "1100", period: "2026-01" }), {
    name: "BoundaryError",
    message: "statement: query.dimensions is undefined, not an array",
  });
});

test("reconciliation queries refuse dimensions as the host does", () => {
  // Each dimension is joined into `name=value` and split again at the first `=`, then checked in
  // turn: its text, its name, its value, a name given twice.
  const ledger = fixture().addDimension("project", ["P1"]).addDimension("cost-center", ["CC7"]);
  const malformed = (pair) =>
    `dimension \`${pair}\` is not NAME=VALUE without spaces around them or \`;\` in them, like department=100`;
  const cases = [
    [[["department", " 100"]], malformed("department= 100")],
    [[["department ", "100"]], malformed("department =100")],
    [[["", "100"]], malformed("=100")],
    [[["department", ""]], malformed("department=")],
    // A name holding `=` splits early: the rest becomes the value, which then holds `=`.
    [[["department=100", "200"]], malformed("department=100=200")],
    [[["department", "1;2"]], malformed("department=1;2")],
    [[["department", "10\n0"]], malformed("department=10\n0")],
    // Rust's trim takes off U+0085 (NEL), which JavaScript's keeps; it keeps U+FEFF, which
    // JavaScript's takes off.
    [[["department", "100\u0085"]], malformed("department=100\u0085")],
    [[["department", "\ufeff100"]], "dimension department has no value \ufeff100"],
    [[["region", "EU"]], "dimension `region` does not exist (the dimensions are cost-center, department, project)"],
    [[["department", "300"]], "dimension department has no value 300"],
    [[["department", "100"], ["department", "200"]], "dimension department is given twice: give it once"],
    [[["department", "100"], ["department", "100"]], "dimension department is given twice: give it once"],
    // The first dimension that fails is the one refused.
    [
      [["project", "P1"], ["region", "EU"], ["department", " 1"]],
      "dimension `region` does not exist (the dimensions are cost-center, department, project)",
    ],
    [[["project", "P2"], ["department", "100"], ["department", "100"]], "dimension project has no value P2"],
  ];
  for (const query of [ledger.statement.bind(ledger), ledger.reconcilingItems.bind(ledger)]) {
    for (const [dimensions, message] of cases) {
      assertRefused(() => query(statementQuery("ACME", "1100", "2026-01", dimensions)), message);
    }
  }
  // Known names and values pass, in any order; the list of names is empty when none exist.
  assert.equal(ledger.statement(statementQuery("ACME", "1100", "2026-01", [["project", "P1"], ["department", "100"]])), undefined);
  const bare = new TestLedger()
    .addCurrency("USD", 2)
    .addEntity("ACME", "Acme Inc.", "USD", "3900", "spot")
    .addAccount("ACME", "1100", "Bank", "asset")
    .addFiscalYear("ACME", 2026);
  assertRefused(
    () => bare.reconcilingItems(statementQuery("ACME", "1100", "2026-01", [["department", "100"]])),
    "dimension `department` does not exist (the dimensions are )",
  );
  assert.deepEqual(bare.reconcilingItems(statementQuery("ACME", "1100", "2026-01")), []);
});

test("statement lines come by line number", () => {
  const statement = bankStatement();
  statement.lines.reverse();
  const ledger = fixture().addStatement("ACME", "1100", "2026-01", statement);
  assert.deepEqual(ledger.statement(statementQuery("ACME", "1100", "2026-01")).lines.map((each) => each.lineNo), [2, 3]);
  // The fixture given is left as it was.
  assert.deepEqual(statement.lines.map((each) => each.lineNo), [3, 2]);
});

test("open items are held as the host holds them", () => {
  // An item opened earlier is listed in a later period (carried forward by the test), and in the
  // period it clears in; one opened in the opening period is listed in January. Trailing zeros
  // are not decimals used.
  const ledger = fixture()
    .addEntity("ACME-JP", "Acme KK", "JPY", "3900", "spot")
    .addAccount("ACME-JP", "1100", "Bank", "asset")
    .addFiscalYear("ACME-JP", 2026)
    .addOpenItem("ACME", "1100", "2026-01", openItem(1, "2026-01", "5.00"))
    .addOpenItem("ACME", "1100", "2026-02", openItem(1, "2026-01", "5.00"))
    .addOpenItem("ACME", "1100", "2026-03", openItem(1, "2026-01", "5.00", { cleared: true }))
    .addOpenItem("ACME", "1100", "2026-01", openItem(2, "FY2026-opening", "-7.5"))
    .addOpenItem("ACME", "1100", "2026-01", openItem(3, "2026-01", "1.000"))
    .addOpenItem("ACME-JP", "1100", "2026-01", openItem(1, "2026-01", "500.0"));
  assert.deepEqual(
    ledger.reconcilingItems(statementQuery("ACME", "1100", "2026-03")).map((item) => [item.id, item.cleared]),
    [[1n, true]],
  );
  assert.equal(ledger.reconcilingItems(statementQuery("ACME", "1100", "2026-01")).length, 3);
  for (const [build, message] of [
    [
      () => ledger.addOpenItem("ACME", "1100", "2026-01", openItem(9, "2025-12", "5.00")),
      "open item 9: period 2025-12 does not exist in entity ACME",
    ],
    [
      () => ledger.addOpenItem("ACME", "1100", "2026-01", openItem(9, "2026-02", "5.00")),
      "open item 9: opened in 2026-02, after 2026-01: an item is a reconciling item of the period it was opened in and later ones",
    ],
    [
      // The closing period comes after December, though it starts on the same day.
      () => ledger.addOpenItem("ACME", "1100", "2026-12", openItem(9, "FY2026-closing", "5.00")),
      "open item 9: opened in FY2026-closing, after 2026-12:",
    ],
    [
      () => ledger.addOpenItem("ACME", "1100", "2026-01", openItem(1n, "2026-01", "6.00")),
      "open item 1 is added twice to the reconciliation of 1100 of ACME in 2026-01",
    ],
    [
      () => ledger.addOpenItem("ACME", "1100", "2026-04", openItem(9, "2026-04", "0.00")),
      "open item 9: a reconciling item of 0 explains nothing",
    ],
    [
      () => ledger.addOpenItem("ACME", "1100", "2026-04", openItem(9, "2026-04", "-0")),
      "open item 9: a reconciling item of 0 explains nothing",
    ],
    [
      () => ledger.addOpenItem("ACME", "1100", "2026-04", openItem(9, "2026-04", "5.001")),
      "open item 9: amount 5.001 has more decimals than USD's 2",
    ],
    [
      () => ledger.addOpenItem("ACME-JP", "1100", "2026-04", openItem(9, "2026-04", "500.5")),
      "open item 9: amount 500.5 has more decimals than JPY's 0",
    ],
  ]) {
    assert.throws(build, (error) => error instanceof FixtureError && error.message.startsWith(message), message);
  }
  // A refused item leaves the reconciliation as it was.
  assert.equal(ledger.reconcilingItems(statementQuery("ACME", "1100", "2026-01")).length, 3);
  assert.deepEqual(ledger.reconcilingItems(statementQuery("ACME", "1100", "2026-04")), []);
});

test("broken statements and open items are refused", () => {
  const ledger = fixture();
  for (const [build, message] of [
    [
      () => ledger.addStatement("ACME", "1100", "2026-01", bankStatement("10400.01")),
      "statement: opening 10000.00 plus the lines (400.00) is not the closing balance 10400.01",
    ],
    [() => ledger.addStatement("ACME", "1999", "2026-01", bankStatement()), "account 1999 does not exist in entity ACME"],
    [() => ledger.addStatement("ACME", "1100", "2025-12", bankStatement()), "period 2025-12 does not exist in entity ACME"],
    [() => ledger.addStatement("NOPE", "1100", "2026-01", bankStatement()), "entity NOPE does not exist"],
    [
      () =>
        ledger.addStatement("ACME", "1100", "2026-01", {
          ...bankStatement(),
          lines: [...bankStatement().lines, { ...bankStatement().lines[0], amount: "0.00" }],
        }),
      "statement: line number 2 is given twice: number each line once",
    ],
    [
      () => ledger.addStatement("ACME", "1100", "2026-02", bankStatement()),
      "statement: line 2: 2026-01-12 is outside period 2026-02 (2026-02-01 to 2026-02-28): import each period's statement for its period",
    ],
    [
      () => ledger.addStatement("ACME", "1100", "FY2026-opening", bankStatement()),
      "statement: line 2: 2026-01-12 is outside period FY2026-opening (2026-01-01 to 2026-01-01)",
    ],

    [
      () => ledger.addStatement("ACME", "1100", "2026-01", { ...bankStatement(), opening: 10000 }),
      "the statement.opening is a number (10000), not a decimal string",
    ],
    [
      () => ledger.addStatement("ACME", "1100", "2026-01", { ...bankStatement(), lines: [{ ...bankStatement().lines[0], date: "2026-01-32" }] }),
      "the statement.lines[0].date `2026-01-32` is not a date",
    ],
    [() => ledger.addOpenItem("ACME", "1100", "2026-01", openItem(-1, "2026-01", "5.00")), "the open item.id is a number (-1), not a u64"],
    [() => ledger.addOpenItem("ACME", "1100", "2026-01", openItem(1, "2026-01", "5,00")), "the open item.amount `5,00` is not a decimal"],
    [() => ledger.addOpenItem("ACME", "1999", "2026-01", openItem(1, "2026-01", "5.00")), "account 1999 does not exist in entity ACME"],
  ]) {
    assert.throws(build, (error) => error instanceof FixtureError && error.message.includes(message), message);
  }
});

test("a step reads its reconciliation through the stand-in imports", async () => {
  // `statement` and `reconcilingItems` are the names componentize-js gives the WIT's `statement`
  // and `reconciling-items`; what the step proposes from them is checked at the boundary.
  const { step, cleanup } = await probeStep(
    [
      'import { statement, reconcilingItems } from "closebook:plugin/ledger@0.2.0";',
      "export function describe() { return { name: \"rec\", version: \"0.1.0\", summary: \"s\", configSchema: \"{}\" }; }",
      "export function run(input) {",
      '  const query = { entity: input.entity, account: "1100", period: input.period.name, dimensions: [] };',
      "  const bank = statement(query);",
      "  const items = reconcilingItems(query);",
      "  const config = JSON.parse(input.config);",
      "  return {",
      "    entries: [], settlements: [], messages: [],",
      "    reconcilingItems: bank === undefined ? [] : [{ entity: input.entity, account: \"1100\", dimensions: [], period: input.period.name,",
      "      amount: config.amount ?? bank.closing, explanation: bank.source, expectedClear: config.expectedClear ?? input.period.end, reference: \"R\" }],",
      "    clearedItems: items.map((item) => ({ entity: input.entity, itemId: config.itemId ?? item.id, period: input.period.name, note: typeof item.id })),",
      "    findings: [{ entity: input.entity, account: \"1100\", dimensions: [], measure: \"balance vs prior period\",",
      "      current: config.current ?? \"10400.00\", baseline: \"10000.00\", threshold: \">= 100.00\", explanationRequired: true, message: \"moved\" }],",
      "  };",
      "}",
    ].join("\n"),
  );
  try {
    const ledger = fixture()
      .addStatement("ACME", "1100", "2026-01", bankStatement())
      .addOpenItem("ACME", "1100", "2026-01", openItem(4, "2026-01", "-300.00"));
    const proposed = ledger.runStep(step, ledger.stepInput("ACME", "2026-01", {}));
    assert.deepEqual(
      proposed.reconcilingItems.map((item) => [item.amount, item.explanation, item.expectedClear]),
      [["10400.00", "bank-2026-01.csv", "2026-01-31"]],
    );
    assert.deepEqual(proposed.clearedItems, [{ entity: "ACME", itemId: 4n, period: "2026-01", note: "bigint" }]);
    assert.equal(proposed.findings[0].explanationRequired, true);
    assert.deepEqual(ledger.runStep(step, ledger.stepInput("ACME", "2026-02", {})).reconcilingItems, []);
    for (const [config, message] of [
      [{ amount: 1.5 }, "run's result.reconcilingItems[0].amount is a number (1.5), not a decimal string"],
      [{ expectedClear: "2026-02-30" }, "run's result.reconcilingItems[0].expectedClear `2026-02-30` is not a date (YYYY-MM-DD)"],
      [{ itemId: -4 }, "run's result.clearedItems[0].itemId is a number (-4), not a u64 (a BigInt)"],
      [{ current: "1e3" }, "run's result.findings[0].current `1e3` is not a decimal"],
    ]) {
      assert.throws(
        () => ledger.runStep(step, ledger.stepInput("ACME", "2026-01", config)),
        (error) => error instanceof BoundaryError && error.message.startsWith(message),
        message,
      );
    }
  } finally {
    cleanup();
  }
});

test("a step output of interface 0.1 is refused", async () => {
  // 0.2's step-output requires the three new lists; an output without them names them.
  const { step, cleanup } = await probeStep(
    [
      'import "closebook:plugin/types@0.2.0";',
      "export function run() { return { entries: [], settlements: [], messages: [] }; }",
    ].join("\n"),
  );
  try {
    const ledger = fixture();
    assert.throws(() => ledger.runStep(step, ledger.stepInput("ACME", "2026-01", {})), {
      name: "BoundaryError",
      message:
        "run's result has no reconcilingItems, clearedItems, findings: interface 0.2.0's step-output requires reconcilingItems, clearedItems and findings (empty arrays when the step proposes none)",
    });
    assert.deepEqual(ledger.active(() => step.run()), { entries: [], settlements: [], messages: [] });
  } finally {
    cleanup();
  }
});

test("the hook stands in for interface 0.2.0 only", async () => {
  // A step importing 0.1.0 (or any other version) is refused with the version the harness serves.
  for (const specifier of ["closebook:plugin/ledger@0.1.0", "closebook:plugin/log@0.3.0", "closebook:plugin/ledger"]) {
    await assert.rejects(probeStep(`import * as ledger from "${specifier}";\nexport function run() {}\n`), (error) =>
      error.message.startsWith(
        `closebook-testing stands in for closebook:plugin/ledger, log and types at version 0.2.0, not ${specifier}: import "closebook:plugin/ledger@0.2.0"`,
      ),
    );
  }
});

test("a step output's texts meet the host's bounds", async () => {
  // The step proposes one of everything, then changes the fields the configuration names
  // (`set`: [path, value] pairs) and repeats a list's first element (`repeat`: [field, count]).
  const { step, cleanup } = await probeStep(
    [
      'import "closebook:plugin/types@0.2.0";',
      "export function run(input) {",
      "  const { entity } = input;",
      '  const dimensions = () => [{ name: "department", value: "100" }];',
      "  const output = {",
      '    entries: [{ entity, date: "2026-01-31", description: "Accrual", lines: [',
      '      { account: "6100", dimensions: dimensions(), amount: "1.00", description: "Rent" },',
      '      { account: "1100", dimensions: [], amount: "-1.00" }] }],',
      "    settlements: [{ entity, lineIds: [1n] }],",
      '    messages: [{ level: "info", text: "done" }],',
      '    reconcilingItems: [{ entity, account: "1100", dimensions: dimensions(), period: "2026-01", amount: "-300.00",',
      '      explanation: "cheque 101", expectedClear: "2026-02-15", reference: "CHQ-101" }],',
      '    clearedItems: [{ entity, itemId: 4n, period: "2026-01", note: "cleared by DEP-1" }],',
      '    findings: [{ entity, account: "1100", dimensions: dimensions(), measure: "balance vs prior period",',
      '      current: "10400.00", baseline: "10000.00", threshold: ">= 100.00", explanationRequired: true, message: "moved" }],',
      "  };",
      "  const config = JSON.parse(input.config);",
      "  for (const [path, value] of config.set ?? []) {",
      "    let target = output;",
      "    for (const key of path.slice(0, -1)) { target = target[key]; }",
      "    target[path.at(-1)] = value;",
      "  }",
      "  for (const [field, count] of config.repeat ?? []) {",
      "    output[field] = Array.from({ length: count }, () => output[field][0]);",
      "  }",
      "  return output;",
      "}",
    ].join("\n"),
  );
  try {
    const ledger = fixture();
    const run = (config) => ledger.runStep(step, ledger.stepInput("ACME", "2026-01", config));
    const refusedWith = (config, message) =>
      assert.throws(() => run(config), (error) => error instanceof BoundaryError && error.message === message, message);
    const long = (length, maximum) => `is ${length} characters long; at most ${maximum} are allowed`;
    const hidden = (shown) =>
      `\`${shown}\` contains a control character (shown escaped); ids, keys and codes may not contain control characters`;
    const x = (count) => "x".repeat(count);
    // Every text at its bound passes; lengths count characters, not UTF-16 units.
    const emoji = (count) => "\u{1f600}".repeat(count);
    run({
      set: [
        [["reconcilingItems", 0, "entity"], emoji(64)],
        [["reconcilingItems", 0, "account"], x(64)],
        [["reconcilingItems", 0, "dimensions", 0, "value"], x(64)],
        [["reconcilingItems", 0, "period"], x(32)],
        [["reconcilingItems", 0, "explanation"], emoji(1000)],
        [["reconcilingItems", 0, "reference"], x(1000)],
        [["clearedItems", 0, "note"], x(1000)],
        [["findings", 0, "measure"], x(1000)],
        [["findings", 0, "threshold"], x(1000)],
        [["findings", 0, "current"], `${"0".repeat(63)}1`],
        [["messages", 0, "text"], emoji(4000)],
        [["entries", 0, "lines", 0, "description"], x(1000)],
        // Free texts may hold control characters: only ids may not.
        [["findings", 0, "message"], "line one\nline two\t\u001b"],
      ],
    });
    run({ set: [[["findings", 0, "message"], emoji(4000)]] });
    // Each field beyond its bound: where it is, then the host's refusal with its name for the field.
    for (const [path, value, field, refusal] of [
      // The reconciling items, clearings and findings.
      [["reconcilingItems", 0, "entity"], emoji(65), "entity", long(65, 64)],
      [["reconcilingItems", 0, "entity"], "AC\u001bME", "entity", hidden("AC\\u{1b}ME")],
      [["reconcilingItems", 0, "account"], x(65), "account", long(65, 64)],
      // A C1 control and the bidirectional overrides are hidden characters too.
      [["reconcilingItems", 0, "account"], "1100\u0085", "account", hidden("1100\\u{85}")],
      [["reconcilingItems", 0, "account"], "\u202e0011", "account", hidden("\\u{202e}0011")],
      [["reconcilingItems", 0, "account"], "\u20691100", "account", hidden("\\u{2069}1100")],
      [["reconcilingItems", 0, "dimensions", 0, "name"], x(65), "dimension name", long(65, 64)],
      [["reconcilingItems", 0, "dimensions", 0, "value"], "1\u00000", "dimension value", hidden("1\\u{0}0")],
      [["reconcilingItems", 0, "period"], x(33), "period", long(33, 32)],
      [["reconcilingItems", 0, "period"], "2026-01\r", "period", hidden("2026-01\\u{d}")],
      // A decimal of 71 characters is a decimal (one significant digit), but too long.
      [["reconcilingItems", 0, "amount"], `${"0".repeat(70)}1`, "amount", long(71, 64)],
      [["reconcilingItems", 0, "explanation"], x(1001), "explanation", long(1001, 1000)],
      [["reconcilingItems", 0, "reference"], emoji(1001), "reference", long(1001, 1000)],
      [["clearedItems", 0, "entity"], "ACME\u007f", "entity", hidden("ACME\\u{7f}")],
      [["clearedItems", 0, "period"], x(33), "period", long(33, 32)],
      [["clearedItems", 0, "note"], x(1001), "clearing note", long(1001, 1000)],
      [["findings", 0, "entity"], x(65), "entity", long(65, 64)],
      [["findings", 0, "account"], "11\n00", "account", hidden("11\\u{a}00")],
      [["findings", 0, "dimensions", 0, "name"], "dep\u2066t", "dimension name", hidden("dep\\u{2066}t")],
      [["findings", 0, "measure"], x(1001), "measure", long(1001, 1000)],
      [["findings", 0, "current"], `${"0".repeat(64)}1`, "current", long(65, 64)],
      [["findings", 0, "baseline"], `-${"0".repeat(64)}`, "baseline", long(65, 64)],
      [["findings", 0, "threshold"], x(1001), "threshold", long(1001, 1000)],
      [["findings", 0, "message"], emoji(4001), "finding message", long(4001, 4000)],
      // The entries, their lines, the settlements and the messages.
      [["entries", 0, "entity"], "ACME\u0007", "entity", hidden("ACME\\u{7}")],
      [["entries", 0, "period"], x(33), "period", long(33, 32)],
      [["entries", 0, "description"], x(1001), "entry description", long(1001, 1000)],
      [["entries", 0, "lines", 1, "account"], x(65), "account", long(65, 64)],
      [["entries", 0, "lines", 0, "dimensions", 0, "value"], "1\u001b[2J", "dimension value", hidden("1\\u{1b}[2J")],
      // U+200F (a mark, not an override) is kept as it is.
      [["entries", 0, "lines", 0, "currency"], "US\u200fD\u202a", "currency", hidden("US\u200fD\\u{202a}")],
      [["entries", 0, "lines", 0, "accountingAmount"], `${"0".repeat(64)}1`, "accounting amount", long(65, 64)],
      [["entries", 0, "lines", 0, "description"], x(1001), "line description", long(1001, 1000)],
      [["settlements", 0, "entity"], "\u0085", "entity", hidden("\\u{85}")],
      [["messages", 0, "text"], x(4001), "message", long(4001, 4000)],
      // A long id with a control character is refused by its length first; a quoted id is cut at
      // 40 characters.
      [["reconcilingItems", 0, "entity"], `${x(65)}\u001b`, "entity", long(66, 64)],
      [["reconcilingItems", 0, "entity"], `${x(50)}\u001b`, "entity", hidden(`${x(40)}…`)],
    ]) {
      const place = path.map((key) => (typeof key === "number" ? `[${key}]` : `.${key}`)).join("");
      refusedWith({ set: [[path, value]] }, `run's result${place}: the ${field} ${refusal}`);
    }
    // At most RECONCILIATION_PROPOSALS_MAX of each list.
    run({ repeat: [["reconcilingItems", 10000], ["clearedItems", 10000], ["findings", 10000]] });
    for (const [field, what] of [["reconcilingItems", "reconciling items"], ["clearedItems", "clearings"], ["findings", "findings"]]) {
      refusedWith(
        { repeat: [[field, 10001]] },
        `run's result.${field}: the output holds 10001 ${what}; at most 10000 are allowed (RECONCILIATION_PROPOSALS_MAX)`,
      );
    }
    // As in the host, the counts are checked after the entries and before the items.
    refusedWith(
      { set: [[["reconcilingItems", 0, "entity"], x(65)]], repeat: [["findings", 10001]] },
      "run's result.findings: the output holds 10001 findings; at most 10000 are allowed (RECONCILIATION_PROPOSALS_MAX)",
    );
    refusedWith(
      { set: [[["entries", 0, "entity"], x(65)]], repeat: [["findings", 10001]] },
      `run's result.entries[0].entity: the entity ${long(65, 64)}`,
    );
  } finally {
    cleanup();
  }
});
