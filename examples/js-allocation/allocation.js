// The allocation close step written in JavaScript: a port of the standard Rust step in
// plugins/allocation that proposes exactly the same entries, messages and log lines for the same
// ledger and configuration (tests/tests/polyglot.rs compares them on the demo data).
//
// It shares an amount among destination lines by fixed percentage, fixed weight, equally, or by a
// basis (each destination's balance of basis accounts). The amount is the net balance of ledger
// accounts or a fixed amount. One balanced entry is proposed at the period end: a line per
// destination with its share and the offset crediting the source. Shares are rounded to the
// currency's minor units half away from zero, the remainder on the last (or largest) destination.
//
// Money is exact: decimal.js keeps every amount as a scaled BigInt, never a Number.
//
// componentize-js (through `jco componentize`, see package.json) bundles this module with its
// imports into a WebAssembly component of the `close-step` world of plugin-sdk/wit/v0.2, the
// interface the Rust step is built for. An allocation proposes no reconciling items, clearings
// or findings: its output has them empty.

import * as ledger from "closebook:plugin/ledger@0.2.0";
import { log as writeLog } from "closebook:plugin/log@0.2.0";

// Written from plugins/allocation/config.schema.json by scripts/build-polyglot-plugins.
import { CONFIG_SCHEMA } from "./config-schema.js";
import * as decimal from "./decimal.js";

const STEP_NAME = "allocation";
const STEP_VERSION = "0.1.0";

// The most destinations one allocation may have, as in the Rust step's DESTINATIONS_MAX.
const DESTINATIONS_MAX = 1000;

// An entry needs a debit and a credit.
const ENTRY_LINES_MIN = 2;

/** A refusal of the step, turned into the WIT `step-error` at the boundary. */
class StepError extends Error {}

/** Calls a ledger import, turning its `query-error` into a step error as the Rust SDK does. */
function query(call, ...args) {
  try {
    return call(...args);
  } catch (error) {
    const message = error?.payload?.message ?? String(error);
    throw new StepError(`ledger query refused: ${message}`);
  }
}

function info(text) {
  writeLog("info", text);
}

/** Compares text as Rust compares strings: by UTF-16 code unit here, the same for ASCII. */
function compareText(left, right) {
  return left < right ? -1 : left > right ? 1 : 0;
}

/** The entries of a name → value map ordered by name, like a Rust BTreeMap. */
function sortedEntries(dimensions) {
  return Object.entries(dimensions ?? {}).sort(([left], [right]) => compareText(left, right));
}

function splitByWeights(amount, weights, minorUnits, remainder) {
  if (weights.length === 0) {
    throw new StepError("cannot split an amount over no weights: give at least one weight");
  }
  weights.forEach((weight, position) => {
    if (decimal.compare(weight, decimal.ZERO) < 0) {
      throw new StepError(
        `weight ${decimal.format(weight)} at position ${position} is negative: weights must be zero or more`,
      );
    }
  });
  const totalWeight = decimal.sum(weights);
  if (decimal.isZero(totalWeight)) {
    throw new StepError("every weight is zero: at least one weight must be positive");
  }
  const target = decimal.roundToMinorUnits(amount, minorUnits);
  const shares = weights.map((weight) =>
    decimal.divideToMinorUnits(decimal.multiply(target, weight), totalWeight, minorUnits),
  );
  let receiver;
  if (remainder === "last") {
    receiver = weights.length - 1;
    while (receiver > 0 && decimal.isZero(weights[receiver])) {
      receiver -= 1;
    }
    if (decimal.isZero(weights[receiver])) {
      receiver = weights.length - 1;
    }
  } else {
    receiver = 0;
    weights.forEach((weight, position) => {
      if (decimal.compare(weight, weights[receiver]) >= 0) {
        receiver = position;
      }
    });
  }
  const allocated = decimal.sum(shares);
  shares[receiver] = decimal.add(shares[receiver], decimal.subtract(target, allocated));
  if (decimal.compare(decimal.sum(shares), target) !== 0) {
    throw new Error("split shares must sum to the rounded amount");
  }
  return shares;
}

/** `department=300;region=EU`, or `no dimension filter`. */
function dimensionsLabel(dimensions) {
  const entries = sortedEntries(dimensions);
  if (entries.length === 0) {
    return "no dimension filter";
  }
  return entries.map(([name, value]) => `${name}=${value}`).join(";");
}

/** `6100 department=300`, for messages. */
function label(account, dimensions) {
  if (sortedEntries(dimensions).length === 0) {
    return account;
  }
  return `${account} ${dimensionsLabel(dimensions)}`;
}

/** `accounts 6100, 6200 department=300` or `accounts 6000 to 6999`, for messages. */
function selectionLabel(selection) {
  let accounts;
  if (selection.accounts !== undefined) {
    accounts = `accounts ${selection.accounts.join(", ")}`;
  } else if (selection.account_range !== undefined) {
    accounts = `accounts ${selection.account_range.from} to ${selection.account_range.to}`;
  } else {
    accounts = "every account";
  }
  if (sortedEntries(selection.dimensions).length === 0) {
    return accounts;
  }
  return `${accounts} ${dimensionsLabel(selection.dimensions)}`;
}

function dimensionList(dimensions) {
  return sortedEntries(dimensions).map(([name, value]) => ({ name, value }));
}

function validateSelection(selection, what) {
  const { accounts, account_range: range } = selection;
  if (accounts !== undefined && range !== undefined) {
    throw new StepError(`${what} names both accounts and account_range: give one of them`);
  }
  if (accounts === undefined && range === undefined) {
    throw new StepError(`${what} names no accounts: give accounts or account_range`);
  }
  if (accounts !== undefined && accounts.length === 0) {
    throw new StepError(`${what} has an empty accounts list`);
  }
  if (accounts === undefined && range.from > range.to) {
    throw new StepError(
      `${what} has account_range from ${range.from} to ${range.to}: the first account must not come after the last`,
    );
  }
  if ((selection.scope ?? "period") === "year-to-date" && selection.from_period !== undefined) {
    throw new StepError(`${what} names both scope "year-to-date" and from_period: give one of them`);
  }
}

/** The Rust step's `Config::validate`: the same checks, in the same order, with the same messages. */
function validate(config) {
  const { destinations, method } = config;
  if (destinations.length === 0) {
    throw new StepError("destinations is empty: give at least one destination");
  }
  if (destinations.length > DESTINATIONS_MAX) {
    throw new StepError(
      `${destinations.length} destinations is more than the ${DESTINATIONS_MAX} an allocation may have`,
    );
  }
  const ledgerSource = config.source.ledger;
  const singleSourceAccount = ledgerSource !== undefined && (ledgerSource.accounts ?? []).length === 1;
  if (!singleSourceAccount) {
    const index = destinations.findIndex((destination) => destination.account === undefined);
    if (index >= 0) {
      throw new StepError(
        `destination ${index + 1} has no account and the source is not one ledger account: name its account`,
      );
    }
  }
  if (ledgerSource !== undefined) {
    validateSelection(ledgerSource, "the ledger source");
  } else if (config.offset === undefined) {
    throw new StepError("a fixed source needs an offset: name the account that balances the allocation");
  }
  if (config.basis !== undefined && method === "basis") {
    validateSelection(config.basis, "the basis");
  } else if (config.basis === undefined && method === "basis") {
    throw new StepError('method "basis" needs a basis: name the accounts whose balances weigh the destinations');
  } else if (config.basis !== undefined) {
    throw new StepError(`a basis is given but the method is "${method}": use method "basis" or remove the basis`);
  }
  let percentTotal = decimal.ZERO;
  destinations.forEach((destination, index) => {
    const number = index + 1;
    const { percent, weight } = destination;
    if (percent === undefined && method === "fixed-percentage") {
      throw new StepError(
        `destination ${number} has no percent: method "fixed-percentage" needs one on every destination`,
      );
    }
    if (percent !== undefined && method !== "fixed-percentage") {
      throw new StepError(`destination ${number} has a percent but the method is "${method}": remove it`);
    }
    if (percent !== undefined) {
      if (decimal.compare(percent, decimal.ZERO) < 0) {
        throw new StepError(
          `destination ${number} has percent ${decimal.format(percent)}: percentages must be zero or more`,
        );
      }
      percentTotal = decimal.add(percentTotal, percent);
    }
    if (weight === undefined && method === "fixed-weight") {
      throw new StepError(`destination ${number} has no weight: method "fixed-weight" needs one on every destination`);
    }
    if (weight !== undefined && method !== "fixed-weight") {
      throw new StepError(`destination ${number} has a weight but the method is "${method}": remove it`);
    }
    if (weight !== undefined && decimal.compare(weight, decimal.ZERO) < 0) {
      throw new StepError(
        `destination ${number} has weight ${decimal.format(weight)}: weights must be zero or more`,
      );
    }
    if (destination.basis_dimensions !== undefined && method !== "basis") {
      throw new StepError(`destination ${number} has basis_dimensions but the method is "${method}": remove them`);
    }
  });
  if (method === "fixed-percentage" && decimal.compare(percentTotal, decimal.integer(100)) !== 0) {
    throw new StepError(
      `the destinations' percentages sum to ${decimal.format(percentTotal)}, not 100: fix them so the whole amount is allocated`,
    );
  }
}

/**
 * The configuration with every decimal string parsed into an exact decimal. The host has
 * validated it against CONFIG_SCHEMA, which writes every amount as a string, so JSON.parse never
 * turns money into a Number here.
 */
function parseConfig(text) {
  const config = JSON.parse(text);
  for (const destination of config.destinations ?? []) {
    for (const field of ["percent", "weight"]) {
      if (destination[field] !== undefined) {
        destination[field] = decimal.parse(destination[field]);
      }
    }
  }
  if (config.source?.fixed !== undefined) {
    config.source.fixed.amount = decimal.parse(config.source.fixed.amount);
  }
  return config;
}

function accountFilter(selection) {
  if (selection.accounts !== undefined) {
    return { tag: "list", val: [...selection.accounts] };
  }
  if (selection.account_range !== undefined) {
    return { tag: "range", val: [selection.account_range.from, selection.account_range.to] };
  }
  return { tag: "all" };
}

function balanceQuery(entity, selection, dimensions, fromPeriod, toPeriod, groupBy) {
  return {
    entity,
    accounts: accountFilter(selection),
    fromPeriod,
    toPeriod,
    currency: undefined,
    dimensionFilter: dimensionList(dimensions),
    groupByDimensions: groupBy,
  };
}

function periodRange(input, selection) {
  const toPeriod = selection.to_period ?? input.period.name;
  if (selection.from_period !== undefined) {
    return [selection.from_period, toPeriod];
  }
  if ((selection.scope ?? "period") === "period") {
    return [toPeriod, toPeriod];
  }
  const periods = query(ledger.periods, input.entity, undefined);
  const last = periods.find((period) => period.name === toPeriod);
  if (last === undefined) {
    throw new StepError(`period ${toPeriod} does not exist in entity ${input.entity}`);
  }
  const first = periods.find((period) => period.fiscalYear === last.fiscalYear);
  return [first === undefined ? toPeriod : first.name, toPeriod];
}

function destinationAccount(config, destination) {
  if (destination.account !== undefined) {
    return destination.account;
  }
  const accounts = config.source.ledger?.accounts ?? [];
  if (accounts.length === 1) {
    return accounts[0];
  }
  throw new StepError("a destination has no account and the source is not one ledger account: name its account");
}

function checkAccounts(input, config) {
  const chart = query(ledger.accounts, input.entity);
  const blocked = new Map(chart.map((account) => [account.number, account.blocked]));
  const read = new Set();
  for (const selection of [config.basis, config.source.ledger]) {
    for (const account of selection?.accounts ?? []) {
      read.add(account);
    }
  }
  for (const account of [...read].sort(compareText)) {
    if (!blocked.has(account)) {
      throw new StepError(`account ${account} does not exist in entity ${input.entity}: fix the step configuration`);
    }
  }
  const posted = config.destinations.map((destination) => destinationAccount(config, destination));
  if (config.offset !== undefined) {
    posted.push(config.offset.account);
  }
  for (const account of posted) {
    if (!blocked.has(account)) {
      throw new StepError(`account ${account} does not exist in entity ${input.entity}: fix the step configuration`);
    }
    if (blocked.get(account)) {
      throw new StepError(`account ${account} is blocked in entity ${input.entity}: it accepts no postings`);
    }
  }
}

function currencyInfo(code) {
  const currency = ledger.currencies().find((candidate) => candidate.code === code);
  if (currency === undefined) {
    throw new StepError(`the ledger does not know currency ${code}`);
  }
  return currency;
}

/** A line of the allocation entry in the source's currency. */
function sourceLine(source, account, dimensions, amount, accountingAmount) {
  const foreign = !source.accounting;
  return {
    account,
    dimensions: dimensionList(dimensions),
    currency: foreign ? source.currency.code : undefined,
    amount: decimal.format(amount),
    accountingAmount: foreign ? decimal.format(accountingAmount) : undefined,
    description: undefined,
  };
}

/** Orders (account, dimensions) keys as Rust orders the tuple (AccountNumber, Vec<Dimension>). */
function compareBalanceKeys([leftAccount, leftDimensions], [rightAccount, rightDimensions]) {
  const byAccount = compareText(leftAccount, rightAccount);
  if (byAccount !== 0) {
    return byAccount;
  }
  const length = Math.min(leftDimensions.length, rightDimensions.length);
  for (let index = 0; index < length; index += 1) {
    const byName = compareText(leftDimensions[index].name, rightDimensions[index].name);
    if (byName !== 0) {
      return byName;
    }
    const byValue = compareText(leftDimensions[index].value, rightDimensions[index].value);
    if (byValue !== 0) {
      return byValue;
    }
  }
  return leftDimensions.length - rightDimensions.length;
}

function readSource(input, config, accountingCurrency, rateType) {
  const { source } = config;
  if (source.ledger !== undefined) {
    const selection = source.ledger;
    const [fromPeriod, toPeriod] = periodRange(input, selection);
    const rows = query(
      ledger.balances,
      balanceQuery(input.entity, selection, selection.dimensions, fromPeriod, toPeriod, ["*"]),
    );
    const balances = new Map();
    let total = decimal.ZERO;
    for (const row of rows) {
      const key = JSON.stringify([row.account, row.dimensions.map(({ name, value }) => ({ name, value }))]);
      const amount = decimal.parse(row.accountingAmount);
      balances.set(key, decimal.add(balances.get(key) ?? decimal.ZERO, amount));
      total = decimal.add(total, amount);
    }
    const sourceLabel =
      fromPeriod === input.period.name && toPeriod === input.period.name
        ? selectionLabel(selection)
        : `${selectionLabel(selection)} from ${fromPeriod} to ${toPeriod}`;
    info(
      `source ${sourceLabel}: ${decimal.format(total)} ${accountingCurrency.code} over ${balances.size} balance(s)`,
    );
    const sortedBalances = [...balances.entries()]
      .map(([key, amount]) => [...JSON.parse(key), amount])
      .sort(compareBalanceKeys);
    return {
      label: sourceLabel,
      currency: accountingCurrency,
      accounting: true,
      amount: total,
      accountingAmount: total,
      balances: sortedBalances,
    };
  }
  const { fixed } = source;
  const code = fixed.currency ?? accountingCurrency.code;
  const currency = currencyInfo(code);
  const { amount } = fixed;
  if (decimal.compare(decimal.roundToMinorUnits(amount, currency.minorUnits), amount) !== 0) {
    throw new StepError(
      `the fixed amount ${decimal.format(amount)} has more decimals than ${code} allows (${currency.minorUnits}): round it`,
    );
  }
  const accounting = code === accountingCurrency.code;
  let accountingAmount = amount;
  if (!accounting) {
    const on = input.period.end;
    const rate = query(ledger.rate, code, accountingCurrency.code, rateType, on);
    if (rate === undefined || rate === null) {
      throw new StepError(
        `no ${rateType} rate from ${code} to ${accountingCurrency.code} on ${on}: add one, or give the fixed amount in ${accountingCurrency.code}`,
      );
    }
    accountingAmount = decimal.roundToMinorUnits(
      decimal.multiply(amount, decimal.parse(rate)),
      accountingCurrency.minorUnits,
    );
  }
  return {
    label: `fixed amount ${decimal.format(amount)} ${code}`,
    currency,
    accounting,
    amount,
    accountingAmount,
    balances: [],
  };
}

function basisWeights(input, config) {
  const { basis } = config;
  const [fromPeriod, toPeriod] = periodRange(input, basis);
  const balances = config.destinations.map((destination, index) => {
    const dimensions = { ...(basis.dimensions ?? {}), ...(destination.basis_dimensions ?? destination.dimensions ?? {}) };
    const rows = query(ledger.balances, balanceQuery(input.entity, basis, dimensions, fromPeriod, toPeriod, []));
    const balance = decimal.sum(rows.map((row) => decimal.parse(row.accountingAmount)));
    info(
      `basis of destination ${index + 1}: ${selectionLabel(basis)} with ${dimensionsLabel(dimensions)} from ${fromPeriod} to ${toPeriod} is ${decimal.format(balance)}`,
    );
    return balance;
  });
  const debits = balances.some((balance) => decimal.compare(balance, decimal.ZERO) > 0);
  const credits = balances.some((balance) => decimal.compare(balance, decimal.ZERO) < 0);
  if (debits && credits) {
    throw new StepError(
      `the basis balances of the destinations mix debits and credits (${balances.map(decimal.format).join(", ")}): a basis must be all debits or all credits`,
    );
  }
  if (!debits && !credits) {
    throw new StepError(
      `the basis ${selectionLabel(basis)} from ${fromPeriod} to ${toPeriod} is zero for every destination: nothing to weigh the destinations by`,
    );
  }
  return credits ? balances.map(decimal.negate) : balances;
}

function weights(input, config) {
  const { method, destinations } = config;
  if (method === "fixed-percentage") {
    return destinations.map((destination) => destination.percent ?? decimal.ZERO);
  }
  if (method === "fixed-weight") {
    return destinations.map((destination) => destination.weight ?? decimal.ZERO);
  }
  if (method === "equally") {
    return destinations.map(() => decimal.integer(1));
  }
  return basisWeights(input, config);
}

function allocate(input) {
  const config = parseConfig(input.config);
  validate(config);
  if (!input.entities.some((access) => access.entity === input.entity && access.post)) {
    throw new StepError(`the task may not post into entity ${input.entity}: grant it posting access`);
  }
  const entity = query(ledger.entity, input.entity);
  const accountingCurrency = currencyInfo(entity.currency);
  checkAccounts(input, config);

  const source = readSource(input, config, accountingCurrency, entity.defaultRateType);
  const description =
    config.description ?? `Allocation of ${source.label} by ${config.method} for ${input.period.name}`;
  const messages = [];
  if (decimal.isZero(source.amount) && decimal.isZero(source.accountingAmount)) {
    const text = `the source (${source.label}) is zero: nothing to allocate`;
    if ((config.on_zero_source ?? "stop") === "stop") {
      throw new StepError(`${text}; the step stops (set on_zero_source to "skip" to carry on without an entry)`);
    }
    info(text);
    messages.push({ level: "info", text: `${text}: skipped` });
    return { entries: [], settlements: [], messages, reconcilingItems: [], clearedItems: [], findings: [] };
  }

  const shareWeights = weights(input, config);
  const remainder = config.remainder ?? "last";
  const shares = splitByWeights(source.amount, shareWeights, source.currency.minorUnits, remainder);
  const accountingShares = source.accounting
    ? shares
    : splitByWeights(source.accountingAmount, shareWeights, accountingCurrency.minorUnits, remainder);

  const lines = [];
  config.destinations.forEach((destination, index) => {
    const [share, accountingShare] = [shares[index], accountingShares[index]];
    const account = destinationAccount(config, destination);
    const dimensions = destination.dimensions ?? {};
    info(
      `destination ${index + 1} (${label(account, dimensions)}): weight ${decimal.format(shareWeights[index])}, share ${decimal.format(share)} ${source.currency.code}`,
    );
    if (decimal.isZero(share) && decimal.isZero(accountingShare)) {
      return;
    }
    lines.push(sourceLine(source, account, dimensions, share, accountingShare));
  });
  if (config.offset !== undefined) {
    lines.push(
      sourceLine(
        source,
        config.offset.account,
        config.offset.dimensions ?? {},
        decimal.negate(source.amount),
        decimal.negate(source.accountingAmount),
      ),
    );
  } else {
    // Validation refuses a fixed source without an offset, so these are ledger balances in the
    // accounting currency: credit each one back.
    for (const [account, dimensions, amount] of source.balances) {
      if (decimal.isZero(amount)) {
        continue;
      }
      lines.push({
        account,
        dimensions,
        currency: undefined,
        amount: decimal.format(decimal.negate(amount)),
        accountingAmount: undefined,
        description: undefined,
      });
    }
  }
  if (lines.length < ENTRY_LINES_MIN) {
    throw new StepError(
      `entry "${description}" has ${lines.length} line(s): an entry needs at least ${ENTRY_LINES_MIN}, a debit and a credit`,
    );
  }
  const text = `proposed ${description}: ${decimal.format(source.amount)} ${source.currency.code} to ${config.destinations.length} destination(s)`;
  info(text);
  messages.push({ level: "info", text });
  return {
    entries: [
      {
        entity: input.entity,
        period: input.period.kind === "operating" ? undefined : input.period.name,
        date: input.period.end,
        description,
        lines,
        reversalDate: undefined,
      },
    ],
    settlements: [],
    messages,
    reconcilingItems: [],
    clearedItems: [],
    findings: [],
  };
}

export function describe() {
  return {
    name: STEP_NAME,
    version: STEP_VERSION,
    summary:
      "Allocates a ledger balance or a fixed amount to destinations by fixed percentage, fixed weight, equally or by a basis.",
    configSchema: CONFIG_SCHEMA,
  };
}

export function run(input) {
  try {
    return allocate(input);
  } catch (error) {
    if (error instanceof StepError) {
      // jco turns a thrown value into the `err` case of the export's result.
      throw { message: error.message };
    }
    throw error;
  }
}
