"""The allocation close step written in Python: a port of the standard Rust step in
plugins/allocation that proposes exactly the same entries, messages and log lines for the same
ledger and configuration (tests/tests/polyglot.rs compares them on the demo data).

It shares an amount among destination lines by fixed percentage, fixed weight, equally, or by
a basis (each destination's balance of basis accounts). The amount is the net balance of ledger
accounts or a fixed amount. One balanced entry is proposed at the period end: a line per
destination with its share and the offset crediting the source. Shares are rounded to the
currency's minor units half away from zero, the remainder on the last (or largest) destination.

Money is `decimal.Decimal`, built from the decimal strings the host sends, never a float. The
configuration is parsed with `json.loads(..., parse_float=Decimal)` for the same reason, although
the schema already asks for amounts as strings.

componentize-py turns this module into a WebAssembly component of the `close-step` world of
plugin-sdk/wit/v0.2/closebook.wit (interface 0.2.0): `scripts/build-polyglot-plugins python` builds
it. An allocation proposes no reconciling items, clearings or findings, so those lists of its
output are empty.
"""

import json
from decimal import ROUND_HALF_UP, Decimal, localcontext

import wit_world
from componentize_py_types import Err
from wit_world.imports import ledger, log, types

# Written from plugins/allocation/config.schema.json by scripts/build-polyglot-plugins.
from config_schema import CONFIG_SCHEMA

STEP_NAME = "allocation"
STEP_VERSION = "0.1.0"

# The most destinations one allocation may have: each costs a line, and a basis allocation one
# balance query per destination. The same limit as the Rust step's DESTINATIONS_MAX.
DESTINATIONS_MAX = 1000

# An entry needs a debit and a credit.
ENTRY_LINES_MIN = 2

# rust_decimal, which the host and the Rust step use, keeps 28 significant digits; so does this
# context, so that a share divides to the same digits before it is rounded.
DECIMAL_PRECISION_DIGITS = 28

METHODS = ("fixed-percentage", "fixed-weight", "equally", "basis")


class StepError(Exception):
    """A refusal of the step, turned into the WIT `step-error` at the boundary."""

    def __init__(self, message):
        super().__init__(message)
        self.message = message


def query(call, *arguments):
    """Calls a ledger import, turning its `query-error` into a step error as the Rust SDK does."""
    try:
        return call(*arguments)
    except Err as error:
        raise StepError(f"ledger query refused: {error.value.message}") from None


def info(text):
    """Writes an info line to the step log."""
    log.log(types.Level.INFO, text)


def round_to_minor_units(amount, minor_units):
    """Rounds half away from zero to `minor_units` decimals, like the SDK's
    `round_to_minor_units`: an amount with fewer decimals keeps them (rust_decimal's
    `round_dp` never adds trailing zeros), so the text of the result matches too."""
    exponent = amount.as_tuple().exponent
    if exponent > 0:
        # A quotient like 100 / 2.0 comes out as 5E+1; rust_decimal has no such form.
        return amount.quantize(Decimal(1))
    if exponent >= -minor_units:
        return amount
    return amount.quantize(Decimal(1).scaleb(-minor_units), rounding=ROUND_HALF_UP)


def split_by_weights(amount, weights, minor_units, remainder):
    """Splits `amount` by `weights` into shares rounded to `minor_units`; the rounding remainder
    goes to the last share with a non-zero weight, or to the largest (the last of equals)."""
    if not weights:
        raise StepError("cannot split an amount over no weights: give at least one weight")
    for position, weight in enumerate(weights):
        if weight < 0:
            raise StepError(
                f"weight {weight} at position {position} is negative: weights must be zero or more"
            )
    total_weight = sum(weights, Decimal(0))
    if total_weight == 0:
        raise StepError("every weight is zero: at least one weight must be positive")
    target = round_to_minor_units(amount, minor_units)
    # A zero share is unsigned, as in rust_decimal, even when its weight is a negative zero.
    shares = [
        round_to_minor_units(target * weight / total_weight, minor_units).copy_abs()
        if weight == 0
        else round_to_minor_units(target * weight / total_weight, minor_units)
        for weight in weights
    ]
    if remainder == "last":
        receiver = max(
            (position for position, weight in enumerate(weights) if weight != 0),
            default=len(weights) - 1,
        )
    else:
        receiver = 0
        for position, weight in enumerate(weights):
            if weight >= weights[receiver]:
                receiver = position
    allocated = sum(shares, Decimal(0))
    shares[receiver] = shares[receiver] + (target - allocated)
    assert sum(shares, Decimal(0)) == target, "split shares must sum to the rounded amount"
    return shares


def dimensions_label(dimensions):
    """`department=300;region=EU`, or `no dimension filter`."""
    if not dimensions:
        return "no dimension filter"
    return ";".join(f"{name}={value}" for name, value in sorted(dimensions.items()))


def label(account, dimensions):
    """`6100 department=300`, for messages."""
    if not dimensions:
        return account
    return f"{account} {dimensions_label(dimensions)}"


def selection_label(selection):
    """`accounts 6100, 6200 department=300` or `accounts 6000 to 6999`, for messages."""
    if "accounts" in selection:
        accounts = "accounts " + ", ".join(selection["accounts"])
    elif "account_range" in selection:
        accounts = f"accounts {selection['account_range']['from']} to {selection['account_range']['to']}"
    else:
        accounts = "every account"
    dimensions = selection.get("dimensions", {})
    if not dimensions:
        return accounts
    return f"{accounts} {dimensions_label(dimensions)}"


def dimension_list(dimensions):
    """The WIT dimensions of a name → value map, ordered by name like the Rust BTreeMap."""
    return [types.Dimension(name=name, value=value) for name, value in sorted(dimensions.items())]


def validate_selection(selection, what):
    """Exactly one of accounts and account_range, and period fields that agree."""
    accounts = selection.get("accounts")
    account_range = selection.get("account_range")
    if accounts is not None and account_range is not None:
        raise StepError(f"{what} names both accounts and account_range: give one of them")
    if accounts is None and account_range is None:
        raise StepError(f"{what} names no accounts: give accounts or account_range")
    if accounts is not None and not accounts:
        raise StepError(f"{what} has an empty accounts list")
    if accounts is None and account_range["from"] > account_range["to"]:
        raise StepError(
            f"{what} has account_range from {account_range['from']} to {account_range['to']}: "
            "the first account must not come after the last"
        )
    if selection.get("scope", "period") == "year-to-date" and "from_period" in selection:
        raise StepError(f'{what} names both scope "year-to-date" and from_period: give one of them')


def validate(config):
    """What the schema cannot say: the fields each method needs and refuses, the percentages'
    sum, the source's account selection, and that a fixed source has an offset. The same
    checks in the same order, with the same messages, as the Rust step's `Config::validate`."""
    destinations = config["destinations"]
    method = config["method"]
    if not destinations:
        raise StepError("destinations is empty: give at least one destination")
    if len(destinations) > DESTINATIONS_MAX:
        raise StepError(
            f"{len(destinations)} destinations is more than the {DESTINATIONS_MAX} an allocation may have"
        )
    source = config["source"]
    ledger_source = source.get("ledger")
    single_source_account = ledger_source is not None and len(ledger_source.get("accounts") or []) == 1
    if not single_source_account:
        for index, destination in enumerate(destinations):
            if "account" not in destination:
                raise StepError(
                    f"destination {index + 1} has no account and the source is not one ledger account: "
                    "name its account"
                )
    if ledger_source is not None:
        validate_selection(ledger_source, "the ledger source")
    elif "offset" not in config:
        raise StepError("a fixed source needs an offset: name the account that balances the allocation")
    basis = config.get("basis")
    if basis is not None and method == "basis":
        validate_selection(basis, "the basis")
    elif basis is None and method == "basis":
        raise StepError(
            'method "basis" needs a basis: name the accounts whose balances weigh the destinations'
        )
    elif basis is not None:
        raise StepError(
            f'a basis is given but the method is "{method}": use method "basis" or remove the basis'
        )
    percent_total = Decimal(0)
    for index, destination in enumerate(destinations):
        number = index + 1
        percent = destination.get("percent")
        if percent is None and method == "fixed-percentage":
            raise StepError(
                f'destination {number} has no percent: method "fixed-percentage" needs one on every destination'
            )
        if percent is not None and method != "fixed-percentage":
            raise StepError(f'destination {number} has a percent but the method is "{method}": remove it')
        if percent is not None:
            if percent < 0:
                raise StepError(
                    f"destination {number} has percent {percent}: percentages must be zero or more"
                )
            percent_total += percent
        weight = destination.get("weight")
        if weight is None and method == "fixed-weight":
            raise StepError(
                f'destination {number} has no weight: method "fixed-weight" needs one on every destination'
            )
        if weight is not None and method != "fixed-weight":
            raise StepError(f'destination {number} has a weight but the method is "{method}": remove it')
        if weight is not None and weight < 0:
            raise StepError(f"destination {number} has weight {weight}: weights must be zero or more")
        if "basis_dimensions" in destination and method != "basis":
            raise StepError(
                f'destination {number} has basis_dimensions but the method is "{method}": remove them'
            )
    if method == "fixed-percentage" and percent_total != 100:
        raise StepError(
            f"the destinations' percentages sum to {percent_total}, not 100: "
            "fix them so the whole amount is allocated"
        )


def parse_config(text):
    """The configuration with every decimal string turned into a Decimal. The host has already
    validated it against CONFIG_SCHEMA, so the shape is known."""
    config = json.loads(text, parse_float=Decimal)
    for destination in config.get("destinations", []):
        for field in ("percent", "weight"):
            if field in destination:
                destination[field] = Decimal(destination[field])
    fixed = config.get("source", {}).get("fixed")
    if fixed is not None:
        fixed["amount"] = Decimal(fixed["amount"])
    return config


def account_filter(selection):
    if "accounts" in selection:
        return types.AccountFilter_List(list(selection["accounts"]))
    if "account_range" in selection:
        return types.AccountFilter_Range((selection["account_range"]["from"], selection["account_range"]["to"]))
    return types.AccountFilter_All()


def balance_query(entity, selection, dimensions, from_period, to_period, group_by):
    return types.BalanceQuery(
        entity=entity,
        accounts=account_filter(selection),
        from_period=from_period,
        to_period=to_period,
        currency=None,
        dimension_filter=dimension_list(dimensions),
        group_by_dimensions=group_by,
    )


def period_range(step_input, selection):
    """`to_period` or the run period, and `from_period`, else the same period (scope `period`)
    or the first period of its fiscal year (scope `year-to-date`)."""
    to_period = selection.get("to_period", step_input.period.name)
    if "from_period" in selection:
        return selection["from_period"], to_period
    if selection.get("scope", "period") == "period":
        return to_period, to_period
    periods = query(ledger.periods, step_input.entity, None)
    last = next((period for period in periods if period.name == to_period), None)
    if last is None:
        raise StepError(f"period {to_period} does not exist in entity {step_input.entity}")
    first = next((period for period in periods if period.fiscal_year == last.fiscal_year), None)
    return (first.name if first is not None else to_period), to_period


def destination_account(config, destination):
    """The destination's own account, else the source's single account."""
    if "account" in destination:
        return destination["account"]
    accounts = config["source"].get("ledger", {}).get("accounts") or []
    if len(accounts) == 1:
        return accounts[0]
    raise StepError(
        "a destination has no account and the source is not one ledger account: name its account"
    )


def check_accounts(step_input, config):
    """Refuses configuration naming accounts the entity does not have, and lines on blocked
    accounts, before anything is read: a typo would otherwise allocate a zero balance."""
    chart = query(ledger.accounts, step_input.entity)
    blocked = {account.number: account.blocked for account in chart}
    read = set()
    for selection in (config.get("basis"), config["source"].get("ledger")):
        if selection is not None:
            read.update(selection.get("accounts") or [])
    for account in sorted(read):
        if account not in blocked:
            raise StepError(
                f"account {account} does not exist in entity {step_input.entity}: fix the step configuration"
            )
    posted = [destination_account(config, destination) for destination in config["destinations"]]
    if "offset" in config:
        posted.append(config["offset"]["account"])
    for account in posted:
        if account not in blocked:
            raise StepError(
                f"account {account} does not exist in entity {step_input.entity}: fix the step configuration"
            )
        if blocked[account]:
            raise StepError(f"account {account} is blocked in entity {step_input.entity}: it accepts no postings")


def currency_info(code):
    for currency in ledger.currencies():
        if currency.code == code:
            return currency
    raise StepError(f"the ledger does not know currency {code}")


class Source:
    """The amount to allocate, in its currency and in the accounting currency."""

    def __init__(self, label, currency, accounting, amount, accounting_amount, balances):
        self.label = label
        self.currency = currency
        self.accounting = accounting
        self.amount = amount
        self.accounting_amount = accounting_amount
        # For a ledger source: accounting-currency balance by (account, dimensions).
        self.balances = balances

    def line(self, account, dimensions, amount, accounting_amount):
        foreign = not self.accounting
        return types.ProposedLine(
            account=account,
            dimensions=dimension_list(dimensions),
            currency=self.currency.code if foreign else None,
            amount=str(amount),
            accounting_amount=str(accounting_amount) if foreign else None,
            description=None,
        )


def read_source(step_input, config, accounting_currency, rate_type):
    """The net accounting-currency balance of the selected ledger accounts, or the fixed amount
    (converted at the entity's default rate type on the period end when foreign)."""
    source = config["source"]
    if "ledger" in source:
        selection = source["ledger"]
        from_period, to_period = period_range(step_input, selection)
        rows = query(
            ledger.balances,
            balance_query(
                step_input.entity, selection, selection.get("dimensions", {}), from_period, to_period, ["*"]
            ),
        )
        balances = {}
        total = Decimal(0)
        for row in rows:
            key = (row.account, tuple((dimension.name, dimension.value) for dimension in row.dimensions))
            amount = Decimal(row.accounting_amount)
            balances[key] = balances.get(key, Decimal(0)) + amount
            total += amount
        if from_period == step_input.period.name and to_period == step_input.period.name:
            source_label = selection_label(selection)
        else:
            source_label = f"{selection_label(selection)} from {from_period} to {to_period}"
        info(f"source {source_label}: {total} {accounting_currency.code} over {len(balances)} balance(s)")
        return Source(source_label, accounting_currency, True, total, total, balances)
    fixed = source["fixed"]
    code = fixed.get("currency", accounting_currency.code)
    currency = currency_info(code)
    amount = fixed["amount"]
    if round_to_minor_units(amount, currency.minor_units) != amount:
        raise StepError(
            f"the fixed amount {amount} has more decimals than {code} allows ({currency.minor_units}): round it"
        )
    accounting = code == accounting_currency.code
    if accounting:
        accounting_amount = amount
    else:
        on = step_input.period.end
        rate = query(ledger.rate, code, accounting_currency.code, rate_type, on)
        if rate is None:
            raise StepError(
                f"no {rate_type} rate from {code} to {accounting_currency.code} on {on}: add one, "
                f"or give the fixed amount in {accounting_currency.code}"
            )
        accounting_amount = round_to_minor_units(amount * Decimal(rate), accounting_currency.minor_units)
    return Source(f"fixed amount {amount} {code}", currency, accounting, amount, accounting_amount, {})


def basis_weights(step_input, config):
    """Each destination's net balance of the basis accounts, filtered by the basis's dimensions
    and the destination's own; credits weigh by their size; mixed signs and zero are refused."""
    basis = config["basis"]
    from_period, to_period = period_range(step_input, basis)
    balances = []
    for index, destination in enumerate(config["destinations"]):
        dimensions = dict(basis.get("dimensions", {}))
        dimensions.update(destination.get("basis_dimensions", destination.get("dimensions", {})))
        rows = query(
            ledger.balances, balance_query(step_input.entity, basis, dimensions, from_period, to_period, [])
        )
        balance = sum((Decimal(row.accounting_amount) for row in rows), Decimal(0))
        info(
            f"basis of destination {index + 1}: {selection_label(basis)} with {dimensions_label(dimensions)} "
            f"from {from_period} to {to_period} is {balance}"
        )
        balances.append(balance)
    debits = any(balance > 0 for balance in balances)
    credits = any(balance < 0 for balance in balances)
    if debits and credits:
        raise StepError(
            "the basis balances of the destinations mix debits and credits "
            f"({', '.join(str(balance) for balance in balances)}): a basis must be all debits or all credits"
        )
    if not debits and not credits:
        raise StepError(
            f"the basis {selection_label(basis)} from {from_period} to {to_period} is zero for every "
            "destination: nothing to weigh the destinations by"
        )
    if credits:
        # copy_negate keeps the sign of a zero, as rust_decimal's negation does: a destination
        # without basis shows weight -0 in the log, like the Rust step's.
        return [balance.copy_negate() for balance in balances]
    return balances


def weights(step_input, config):
    method = config["method"]
    destinations = config["destinations"]
    if method == "fixed-percentage":
        return [destination.get("percent", Decimal(0)) for destination in destinations]
    if method == "fixed-weight":
        return [destination.get("weight", Decimal(0)) for destination in destinations]
    if method == "equally":
        return [Decimal(1)] * len(destinations)
    return basis_weights(step_input, config)


def allocate(step_input):
    """The step itself; raises StepError for every refusal."""
    config = parse_config(step_input.config)
    validate(config)
    if not any(access.entity == step_input.entity and access.post for access in step_input.entities):
        raise StepError(f"the task may not post into entity {step_input.entity}: grant it posting access")
    entity = query(ledger.entity, step_input.entity)
    accounting_currency = currency_info(entity.currency)
    check_accounts(step_input, config)

    source = read_source(step_input, config, accounting_currency, entity.default_rate_type)
    description = config.get(
        "description", f"Allocation of {source.label} by {config['method']} for {step_input.period.name}"
    )
    messages = []
    if source.amount == 0 and source.accounting_amount == 0:
        text = f"the source ({source.label}) is zero: nothing to allocate"
        if config.get("on_zero_source", "stop") == "stop":
            raise StepError(
                f'{text}; the step stops (set on_zero_source to "skip" to carry on without an entry)'
            )
        info(text)
        messages.append(types.Message(level=types.Level.INFO, text=f"{text}: skipped"))
        return types.StepOutput(
            entries=[], settlements=[], messages=messages, reconciling_items=[], cleared_items=[], findings=[]
        )

    shares_by = weights(step_input, config)
    remainder = config.get("remainder", "last")
    shares = split_by_weights(source.amount, shares_by, source.currency.minor_units, remainder)
    if source.accounting:
        accounting_shares = shares
    else:
        accounting_shares = split_by_weights(
            source.accounting_amount, shares_by, accounting_currency.minor_units, remainder
        )

    lines = []
    for index, destination in enumerate(config["destinations"]):
        share, accounting_share = shares[index], accounting_shares[index]
        account = destination_account(config, destination)
        dimensions = destination.get("dimensions", {})
        info(
            f"destination {index + 1} ({label(account, dimensions)}): weight {shares_by[index]}, "
            f"share {share} {source.currency.code}"
        )
        if share == 0 and accounting_share == 0:
            continue
        lines.append(source.line(account, dimensions, share, accounting_share))
    offset = config.get("offset")
    if offset is not None:
        lines.append(
            source.line(offset["account"], offset.get("dimensions", {}), -source.amount, -source.accounting_amount)
        )
    else:
        # Validation refuses a fixed source without an offset, so these are ledger balances in
        # the accounting currency: credit each one back.
        for (account, dimensions), amount in sorted(source.balances.items()):
            if amount == 0:
                continue
            lines.append(
                types.ProposedLine(
                    account=account,
                    dimensions=[types.Dimension(name=name, value=value) for name, value in dimensions],
                    currency=None,
                    amount=str(-amount),
                    accounting_amount=None,
                    description=None,
                )
            )
    if len(lines) < ENTRY_LINES_MIN:
        raise StepError(
            f'entry "{description}" has {len(lines)} line(s): an entry needs at least {ENTRY_LINES_MIN}, '
            "a debit and a credit"
        )
    entry = types.ProposedEntry(
        entity=step_input.entity,
        period=None if step_input.period.kind == types.PeriodKind.OPERATING else step_input.period.name,
        date=step_input.period.end,
        description=description,
        lines=lines,
        reversal_date=None,
    )
    text = (
        f"proposed {description}: {source.amount} {source.currency.code} to "
        f"{len(config['destinations'])} destination(s)"
    )
    info(text)
    messages.append(types.Message(level=types.Level.INFO, text=text))
    return types.StepOutput(
        entries=[entry], settlements=[], messages=messages, reconciling_items=[], cleared_items=[], findings=[]
    )


class WitWorld(wit_world.WitWorld):
    """The exports of the `close-step` world."""

    def describe(self):
        return types.StepInfo(
            name=STEP_NAME,
            version=STEP_VERSION,
            summary="Allocates a ledger balance or a fixed amount to destinations by fixed percentage, "
            "fixed weight, equally or by a basis.",
            config_schema=CONFIG_SCHEMA,
        )

    def run(self, input):
        with localcontext() as context:
            context.prec = DECIMAL_PRECISION_DIGITS
            try:
                return allocate(input)
            except StepError as error:
                raise Err(types.StepError(message=error.message)) from None
