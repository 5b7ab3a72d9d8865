"""{{name}}: a closebook close step written in Python, created by `closebook plugin new`.

As created, it accrues a fixed amount at the end of the period: one entry dated the period end
that debits an expense account and credits an accrued-liabilities account, reversed on the next
day. Replace `propose` with your own step.

Money crosses the boundary as decimal strings: read them with `decimal.Decimal(text)` and write
them with `str(amount)`. Never use float for money.

The step implements the `close-step` world of wit/closebook.wit, interface 0.2.0. Besides
entries and settlements, a step of 0.2 may propose reconciling items and clearings of open items
(reading a reconciliation with `ledger.statement` and `ledger.reconciling_items`) and report
findings; this one proposes none of them, so those lists of its output are empty.
"""

import json
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

import wit_world
from componentize_py_types import Err
from wit_world.imports import ledger, log, types

CONFIG_SCHEMA = json.dumps(
    {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "type": "object",
        "additionalProperties": False,
        "required": ["expense_account", "accrual_account", "amount"],
        "properties": {
            "expense_account": {"type": "string", "minLength": 1},
            "accrual_account": {"type": "string", "minLength": 1},
            "amount": {"type": "string", "pattern": "^[0-9]+(\\.[0-9]+)?$"},
            "reverse": {"type": "boolean", "default": True},
        },
    }
)


class StepError(Exception):
    """A refusal, returned to the host as the WIT `step-error`."""


def propose(step_input):
    config = json.loads(step_input.config)
    try:
        amount = Decimal(config["amount"])
    except InvalidOperation:
        raise StepError(f"amount {config['amount']!r} is not a decimal: write it like \"1500.00\"") from None
    if amount <= 0:
        raise StepError(f"amount {amount} is not positive: accrue a positive amount")
    entity = ledger.entity(step_input.entity)
    minor_units = next(
        currency.minor_units for currency in ledger.currencies() if currency.code == entity.currency
    )
    rounded = amount.quantize(Decimal(1).scaleb(-minor_units), rounding=ROUND_HALF_UP)
    if rounded != amount:
        raise StepError(f"amount {amount} has more decimals than {entity.currency} allows ({minor_units}): round it")
    log.log(types.Level.INFO, f"accruing {amount} {entity.currency}")
    reversal = None
    if config.get("reverse", True):
        reversal = (date.fromisoformat(step_input.period.end) + timedelta(days=1)).isoformat()
    entry = types.ProposedEntry(
        entity=step_input.entity,
        period=None,
        date=step_input.period.end,
        description=f"Accrual {step_input.period.name}",
        lines=[
            types.ProposedLine(config["expense_account"], [], None, str(amount), None, None),
            types.ProposedLine(config["accrual_account"], [], None, str(-amount), None, None),
        ],
        reversal_date=reversal,
    )
    return types.StepOutput(
        entries=[entry], settlements=[], messages=[], reconciling_items=[], cleared_items=[], findings=[]
    )


class WitWorld(wit_world.WitWorld):
    def describe(self):
        return types.StepInfo(
            name="{{name}}",
            version="0.1.0",
            summary="Accrues a fixed amount at period end.",
            config_schema=CONFIG_SCHEMA,
        )

    def run(self, input):
        try:
            return propose(input)
        except StepError as error:
            raise Err(types.StepError(message=str(error))) from None
        except Err as error:
            # A refused ledger query: pass its message on.
            raise Err(types.StepError(message=f"ledger query refused: {error.value.message}")) from None
