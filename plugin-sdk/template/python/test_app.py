"""Unit tests of {{name}}: the step runs natively, in this Python, against closebook_testing's
TestLedger (an in-memory ledger with the host's query semantics). Run them with

    python3 -m unittest

and then the built component in the real sandbox with `closebook plugin run` (README.md).
"""

import json
import unittest
from decimal import Decimal

from closebook_testing import Err, TestLedger, load_step, types

# Imports app.py with the harness standing in for the ledger and log imports.
app = load_step("app")


def acme():
    """ACME (USD) with accrued liabilities 2100 and utilities 6200, fiscal year 2026."""
    ledger = TestLedger()
    ledger.add_currency("USD", 2)
    ledger.add_entity("ACME", "Acme Inc.", "USD", "3900", "spot")
    ledger.add_account("ACME", "2100", "Accrued liabilities", "liability")
    ledger.add_account("ACME", "6200", "Utilities", "expense")
    ledger.add_fiscal_year("ACME", 2026)
    return ledger


def config(amount, **more):
    return {"expense_account": "6200", "accrual_account": "2100", "amount": amount, **more}


def balance(ledger, account, period):
    """The net accounting-currency balance of an account in a period."""
    query = types.BalanceQuery(
        entity="ACME",
        accounts=types.AccountFilter_List([account]),
        from_period=period,
        to_period=period,
        currency=None,
        dimension_filter=[],
        group_by_dimensions=[],
    )
    return sum((Decimal(row.accounting_amount) for row in ledger.balances(query)), Decimal(0))


class AccrualTest(unittest.TestCase):
    def test_describes_the_step_and_its_configuration(self):
        # The name the host shows, and a schema that requires the three settings.
        info = acme().describe(app)
        self.assertEqual(info.name, "{{name}}")
        schema = json.loads(info.config_schema)
        self.assertEqual(schema["required"], ["expense_account", "accrual_account", "amount"])

    def test_accrues_at_the_period_end_and_reverses_the_next_day(self):
        # January: debit 6200, credit 2100 on 31 January; once posted, the February reversal
        # nets the expense back to zero.
        ledger = acme()
        output = ledger.run_step(app, ledger.step_input("ACME", "2026-01", config("1500.00")))
        self.assertEqual(len(output.entries), 1)
        entry = output.entries[0]
        self.assertEqual((entry.date, entry.reversal_date), ("2026-01-31", "2026-02-01"))
        self.assertEqual(
            [(line.account, line.amount) for line in entry.lines],
            [("6200", "1500.00"), ("2100", "-1500.00")],
        )
        self.assertEqual(ledger.logs(), [types.Message(level=types.Level.INFO, text="accruing 1500.00 USD")])

        # Posting refuses (FixtureError) an entry that does not balance.
        ledger.post_output(output)
        self.assertEqual(balance(ledger, "6200", "2026-01"), Decimal("1500.00"))
        self.assertEqual(balance(ledger, "6200", "2026-02"), Decimal("-1500.00"))

    def test_does_not_reverse_when_told_not_to(self):
        ledger = acme()
        output = ledger.run_step(app, ledger.step_input("ACME", "2026-03", config("20.50", reverse=False)))
        self.assertEqual((output.entries[0].date, output.entries[0].reversal_date), ("2026-03-31", None))

    def test_refuses_amounts_the_currency_cannot_hold(self):
        # USD has two decimals; a zero or negative accrual is a configuration mistake.
        ledger = acme()
        for amount, refusal in [
            ("10.001", "amount 10.001 has more decimals than USD allows (2): round it"),
            ("0", "amount 0 is not positive: accrue a positive amount"),
            ("-5.00", "amount -5.00 is not positive: accrue a positive amount"),
            ("ten", "amount 'ten' is not a decimal"),
        ]:
            with self.subTest(amount=amount):
                with self.assertRaises(Err) as refused:
                    ledger.run_step(app, ledger.step_input("ACME", "2026-01", config(amount)))
                self.assertTrue(refused.exception.value.message.startswith(refusal), refused.exception.value.message)

    def test_passes_on_a_refused_ledger_query(self):
        # The host refuses a query on an entity the task may not read; the step says so.
        ledger = acme()
        step_input = ledger.step_input("ACME", "2026-01", config("1500.00"))
        step_input.entity = "ACME-XX"
        with self.assertRaises(Err) as refused:
            ledger.run_step(app, step_input)
        self.assertEqual(refused.exception.value.message, "ledger query refused: entity ACME-XX does not exist")


if __name__ == "__main__":
    unittest.main()
