"""Native tests of the Python allocation step, run in this Python against the SDK's test harness
(plugin-sdk/python/closebook_testing.py), without building the component:

    python3 -m unittest        # in this folder

The fixture and the cases are in expected-proposals.json: for each configuration, the entries,
messages and step log the step proposes, or its refusal. tests/tests/polyglot.rs builds the same
fixture in a real ledger, runs the same cases through the host against the built component
(target/polyglot/python_allocation.wasm) and expects the same file: what these tests expect is
what the host gives.

config_schema.py, which app.py imports, is written by `scripts/build-polyglot-plugins python`
from plugins/allocation/config.schema.json.
"""

import json
import pathlib
import sys
import unittest
from decimal import Decimal

HERE = pathlib.Path(__file__).resolve().parent
REPOSITORY = HERE.parent.parent

# The harness lives in the SDK here; a project made by `closebook plugin new` has a copy beside
# its app.py.
sys.path.insert(0, str(REPOSITORY / "plugin-sdk" / "python"))

from closebook_testing import Err, TestLedger, entry, line, load_step, types  # noqa: E402

if not (HERE / "config_schema.py").exists():
    raise ImportError("config_schema.py is missing: run `scripts/build-polyglot-plugins python` first (it writes it)")

app = load_step("app")

EXPECTED = json.loads((HERE / "expected-proposals.json").read_text())


def fixture_ledger():
    """The ledger of expected-proposals.json, built with the harness's fixture builders."""
    fixture = EXPECTED["fixture"]
    ledger = TestLedger()
    for code, minor_units in fixture["currencies"]:
        ledger.add_currency(code, minor_units)
    for name, values in fixture["dimensions"].items():
        ledger.add_dimension(name, values)
    entity = fixture["entity"]
    ledger.add_entity(
        entity["id"], entity["name"], entity["currency"], entity["retained_earnings_account"], entity["default_rate_type"]
    )
    for account in fixture["accounts"]:
        ledger.add_account(
            entity["id"], account["number"], account["name"], account["type"], blocked=account.get("blocked", False)
        )
    ledger.add_fiscal_year(entity["id"], fixture["fiscal_year"])
    for rate in fixture["rates"]:
        ledger.add_rate(rate["from"], rate["to"], rate["type"], rate["date"], rate["rate"])
    for posted in fixture["entries"]:
        lines = [
            line(
                fixture_line["account"],
                fixture_line["amount"],
                dimensions=fixture_line.get("dimensions"),
                currency=fixture_line.get("currency"),
                accounting_amount=fixture_line.get("accounting_amount"),
            )
            for fixture_line in posted["lines"]
        ]
        ledger.post(entry(entity["id"], posted["date"], posted["description"], lines))
    return ledger


def as_json(value):
    """A WIT value as expected-proposals.json writes it: records as objects of their fields,
    enum cases by their WIT names, none as null."""
    if isinstance(value, types.Level):
        return value.name.lower()
    if isinstance(value, list):
        return [as_json(item) for item in value]
    if hasattr(value, "__dataclass_fields__"):
        return {name: as_json(getattr(value, name)) for name in value.__dataclass_fields__}
    return value


def proposal(ledger, case):
    """What the step proposes for a case, or its refusal, with the step log."""
    step_input = ledger.step_input(EXPECTED["fixture"]["entity"]["id"], case["period"], case["config"])
    try:
        output = ledger.run_step(app, step_input)
    except Err as refusal:
        return {"refusal": refusal.value.message, "log": as_json(ledger.logs())}
    return {"entries": as_json(output.entries), "messages": as_json(output.messages), "log": as_json(ledger.logs())}


class AllocationTest(unittest.TestCase):
    maxDiff = None

    def test_every_case_proposes_what_the_host_does(self):
        # Entries, messages, step log and refusals, exactly as the host gives them.
        self.assertGreaterEqual(len(EXPECTED["cases"]), 10)
        for case in EXPECTED["cases"]:
            with self.subTest(case["name"]):
                self.assertEqual(proposal(fixture_ledger(), case), case["expected"])

    def test_rent_is_split_fifty_thirty_twenty_and_posts(self):
        # January's 4,500.00 rent of department 300 goes 2,250.00 / 1,350.00 / 900.00 to the
        # three departments; posted, the rent by department is exactly that.
        ledger = fixture_ledger()
        case = next(case for case in EXPECTED["cases"] if case["name"] == "rent of department 300 by percentage")
        output = ledger.run_step(app, ledger.step_input("ACME", "2026-01", case["config"]))
        self.assertEqual(
            [(line.dimensions[0].value, line.amount) for line in output.entries[0].lines],
            [("100", "2250.00"), ("200", "1350.00"), ("300", "900.00"), ("300", "-4500.00")],
        )
        ledger.post_output(output)
        rows = ledger.balances(
            types.BalanceQuery(
                entity="ACME",
                accounts=types.AccountFilter_List(["6100"]),
                from_period="2026-01",
                to_period="2026-01",
                currency=None,
                dimension_filter=[],
                group_by_dimensions=["department"],
            )
        )
        self.assertEqual(
            [(row.dimensions[0].value, Decimal(row.accounting_amount)) for row in rows],
            [("100", Decimal("2250")), ("200", Decimal("1350")), ("300", Decimal("900"))],
        )

    def test_a_task_that_may_not_post_is_refused(self):
        # The step checks its own entity access before it reads anything.
        ledger = fixture_ledger()
        case = EXPECTED["cases"][0]
        step_input = ledger.step_input("ACME", case["period"], case["config"])
        step_input.entities = [types.EntityAccess(entity="ACME", post=False)]
        with self.assertRaises(Err) as refused:
            ledger.run_step(app, step_input)
        self.assertEqual(refused.exception.value.message, "the task may not post into entity ACME: grant it posting access")

    def test_describes_the_rust_steps_name_and_schema(self):
        # The host validates a configuration against this schema: the Rust step's, word for word.
        info = fixture_ledger().describe(app)
        self.assertEqual((info.name, info.version), ("allocation", "0.1.0"))
        schema = json.loads((REPOSITORY / "plugins" / "allocation" / "config.schema.json").read_text())
        self.assertEqual(json.loads(info.config_schema), schema)


if __name__ == "__main__":
    unittest.main()
