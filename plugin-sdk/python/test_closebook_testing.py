"""Tests of the Python test harness, closebook_testing.py: the same cases as the Rust harness's
(plugin-sdk/src/testing/queries.rs), so the two answer every query alike, and the boundary
checks that stand in for componentize-py's. Run with `python3 -m unittest` in this folder;
tests/tests/plugin_new.rs runs them, and checks the harness's rates and fiscal years against
the ledger's own code.
"""

import re
import unittest
from decimal import Decimal

import closebook_testing
from closebook_testing import BoundaryError, Err, FixtureError, TestLedger, entry, line, types
from wit_world.imports import ledger as ledger_imports
from wit_world.imports import log as log_imports


def balance_query(entity, from_period, to_period, accounts=None, currency=None, dimension_filter=(), group_by=()):
    return types.BalanceQuery(
        entity=entity,
        accounts=accounts if accounts is not None else types.AccountFilter_All(),
        from_period=from_period,
        to_period=to_period,
        currency=currency,
        dimension_filter=[types.Dimension(name=name, value=value) for name, value in dimension_filter],
        group_by_dimensions=list(group_by),
    )


def line_query(entity, account, from_period, to_period, after=None, limit=500, include_settled=True):
    return types.LineQuery(
        entity=entity,
        account=account,
        from_period=from_period,
        to_period=to_period,
        after=after,
        limit=limit,
        include_settled=include_settled,
    )


def output(entries=(), settlements=(), messages=(), reconciling_items=(), cleared_items=(), findings=()):
    """A `types.StepOutput` of these lists (every field of interface 0.2 is required)."""
    return types.StepOutput(
        entries=list(entries),
        settlements=list(settlements),
        messages=list(messages),
        reconciling_items=list(reconciling_items),
        cleared_items=list(cleared_items),
        findings=list(findings),
    )


def statement_query(entity, account, period, dimensions=()):
    return types.StatementQuery(
        entity=entity,
        account=account,
        period=period,
        dimensions=[types.Dimension(name=name, value=value) for name, value in dimensions],
    )


def bank_statement(opening, closing, lines):
    """A `types.BankStatement` of (date, amount, reference) lines, numbered from row 2."""
    return types.BankStatement(
        source="bank-2026-01.csv",
        opening=opening,
        closing=closing,
        lines=[
            types.StatementLine(line_no=index + 2, date=date, amount=amount, reference=reference, description=f"Line {reference}")
            for index, (date, amount, reference) in enumerate(lines)
        ],
    )


def open_item(id, period, amount, cleared=False):
    return types.OpenItem(
        id=id,
        period=period,
        cleared=cleared,
        amount=amount,
        explanation=f"Item {id}",
        expected_clear="2026-02-05",
        reference=f"CHQ-{id}",
    )


def fixture():
    """ACME (USD) with a bank, a EUR bank, receivables, sales split by department, and rent."""
    ledger = TestLedger()
    ledger.add_currency("USD", 2).add_currency("EUR", 2).add_currency("JPY", 0)
    ledger.add_dimension("department", ["100", "200"])
    ledger.add_entity("ACME", "Acme Inc.", "USD", "3900", "spot")
    for number, name, account_type in [
        ("1100", "Bank", "asset"),
        ("1150", "Bank EUR", "asset"),
        ("1200", "Receivables", "asset"),
        ("4000", "Sales", "revenue"),
        ("6100", "Rent", types.AccountType.EXPENSE),
    ]:
        ledger.add_account("ACME", number, name, account_type)
    ledger.add_fiscal_year("ACME", 2026)
    ledger.add_rate("EUR", "USD", "spot", "2026-01-01", "1.08")
    ledger.add_rate("EUR", "USD", "spot", "2026-02-01", "1.10")
    ledger.add_rate("USD", "JPY", "spot", "2026-01-01", "150")
    # January: two sales (department 100 and 200), rent, one EUR receipt.
    ledger.post(
        entry("ACME", "2026-01-10", "Sale 1", [line("1200", "1000.00"), line("4000", "-1000.00", dimensions={"department": "100"})])
    )
    ledger.post(
        entry("ACME", "2026-01-20", "Sale 2", [line("1200", "500.00"), line("4000", "-500.00", dimensions={"department": "200"})])
    )
    ledger.post(entry("ACME", "2026-01-31", "Rent", [line("6100", "300.00"), line("1100", "-300.00")]))
    ledger.post(entry("ACME", "2026-01-25", "EUR receipt", [line("1150", "100.00", currency="EUR"), line("1200", "-108.00")]))
    # February: another department 100 sale.
    ledger.post(
        entry("ACME", "2026-02-05", "Sale 3", [line("1200", "200.00"), line("4000", "-200.00", dimensions={"department": "100"})])
    )
    return ledger


class PeriodsTest(unittest.TestCase):
    def test_fiscal_year_is_in_calendar_order(self):
        # Opening, twelve months, closing; the closing period has December's dates.
        ledger = fixture()
        periods = ledger.periods("ACME", "FY2026")
        self.assertEqual(len(periods), 14)
        self.assertEqual(periods[0].name, "FY2026-opening")
        self.assertEqual(periods[0].kind, types.PeriodKind.OPENING)
        self.assertEqual(periods[2].name, "2026-02")
        self.assertEqual(periods[2].end, "2026-02-28")
        self.assertEqual((periods[13].name, periods[13].start, periods[13].end), ("FY2026-closing", "2026-12-01", "2026-12-31"))
        self.assertEqual(ledger.periods("ACME", "FY2027"), [])

    def test_fiscal_years_may_start_in_any_month(self):
        # FY2026 starting in July runs from 2025-07-01 to 2026-06-30.
        ledger = fixture()
        ledger.add_entity("ACME-AU", "Acme Pty", "USD", "3900", "spot").add_fiscal_year_starting("ACME-AU", 2026, 7)
        periods = ledger.periods("ACME-AU", "FY2026")
        self.assertEqual(len(periods), 14)
        self.assertEqual((periods[0].start, periods[0].end), ("2025-07-01", "2025-07-01"))
        self.assertEqual(periods[1].name, "2025-07")
        self.assertEqual((periods[8].name, periods[8].end), ("2026-02", "2026-02-28"))
        self.assertEqual((periods[13].name, periods[13].start, periods[13].end), ("FY2026-closing", "2026-06-01", "2026-06-30"))
        self.assertTrue(all(period.fiscal_year == "FY2026" for period in periods))

    def test_period_status_can_be_set(self):
        ledger = fixture()
        ledger.set_period_status("ACME", "2026-01", "on-hold")
        self.assertEqual(ledger.periods("ACME", None)[1].status, types.PeriodStatus.ON_HOLD)
        with self.assertRaisesRegex(FixtureError, "period 2030-01 does not exist in entity ACME"):
            ledger.set_period_status("ACME", "2030-01", "open")


class BalancesTest(unittest.TestCase):
    def test_balances_sum_per_account_and_currency(self):
        # January: receivables 1000 + 500 - 108 = 1392 USD, sales -1500, the EUR bank 100 EUR
        # carried at 108.00 USD (converted at the 1.08 spot rate).
        rows = fixture().balances(balance_query("ACME", "2026-01", "2026-01"))
        summary = [(row.account, row.currency, row.amount, row.accounting_amount) for row in rows]
        self.assertEqual(
            summary,
            [
                ("1100", "USD", "-300.00", "-300.00"),
                ("1150", "EUR", "100.00", "108.00"),
                ("1200", "USD", "1392.00", "1392.00"),
                ("4000", "USD", "-1500.00", "-1500.00"),
                ("6100", "USD", "300.00", "300.00"),
            ],
        )
        self.assertEqual((rows[2].debit, rows[2].credit), ("1500.00", "108.00"))
        self.assertEqual(sum(Decimal(row.accounting_amount) for row in rows), 0)

    def test_balances_filter_and_group_by_dimension(self):
        # Sales for January to February by department: 100 -> -1200, 200 -> -500; filtered to
        # department 100 and summed over dimensions: -1200.
        ledger = fixture()
        sales = types.AccountFilter_Types([types.AccountType.REVENUE])
        rows = ledger.balances(balance_query("ACME", "2026-01", "2026-02", accounts=sales, group_by=["department"]))
        self.assertEqual(len(rows), 2)
        self.assertEqual(rows[0].dimensions, [types.Dimension(name="department", value="100")])
        self.assertEqual((rows[0].accounting_amount, rows[0].credit), ("-1200.00", "1200.00"))
        self.assertEqual(rows[1].accounting_amount, "-500.00")
        rows = ledger.balances(
            balance_query("ACME", "2026-01", "2026-02", accounts=sales, dimension_filter=[("department", "100")])
        )
        self.assertEqual([(row.dimensions, row.accounting_amount) for row in rows], [([], "-1200.00")])

    def test_balances_filter_by_range_list_and_currency(self):
        # A text range 1100..1199 covers both banks; the currency filter keeps the EUR one.
        ledger = fixture()
        banks = types.AccountFilter_Range(("1100", "1199"))
        self.assertEqual(len(ledger.balances(balance_query("ACME", "2026-01", "2026-12", accounts=banks))), 2)
        rows = ledger.balances(balance_query("ACME", "2026-01", "2026-12", accounts=banks, currency="EUR"))
        self.assertEqual([row.account for row in rows], ["1150"])
        rows = ledger.balances(
            balance_query("ACME", "FY2026-opening", "FY2026-closing", accounts=types.AccountFilter_List(["6100"]))
        )
        self.assertEqual(rows[0].accounting_amount, "300.00")

    def test_balances_refuse_unknown_and_reversed_ranges(self):
        # Unknown entities and periods, and ranges that run backwards, are query errors.
        ledger = fixture()
        for query, message in [
            (balance_query("ACME", "2025-12", "2026-01"), "period 2025-12 does not exist in entity ACME"),
            (balance_query("ACME", "2026-02", "2026-01"), "period range 2026-02..2026-01 runs backwards: 2026-02 comes after 2026-01"),
            (balance_query("NOPE", "2026-01", "2026-01"), "entity NOPE does not exist"),
        ]:
            with self.assertRaises(Err) as refused:
                ledger.balances(query)
            self.assertEqual(refused.exception.value, types.QueryError(message=message))

    def test_balance_rows_follow_the_hosts_order_of_dimension_sets(self):
        # `cost-center=CC7` sorts before `cost=A` ('-' comes before '='), as in the host.
        ledger = fixture()
        ledger.add_dimension("cost", ["A"]).add_dimension("cost-center", ["CC7"])
        for name, value in [("cost", "A"), ("cost-center", "CC7")]:
            ledger.post(
                entry("ACME", "2026-03-10", "Rent", [line("6100", "10.00", dimensions={name: value}), line("1100", "-10.00")])
            )
        rows = ledger.balances(
            balance_query("ACME", "2026-03", "2026-03", accounts=types.AccountFilter_List(["6100"]), group_by=["*"])
        )
        self.assertEqual([row.dimensions[0].name for row in rows], ["cost-center", "cost"])


class LinesTest(unittest.TestCase):
    def test_lines_page_with_a_cursor(self):
        # Receivables has four lines in January-February; pages of two return 2 + 2.
        ledger = fixture()
        first = ledger.lines(line_query("ACME", "1200", "2026-01", "2026-02", limit=2))
        self.assertEqual(len(first.lines), 2)
        self.assertEqual(first.next, first.lines[1].id)
        second = ledger.lines(line_query("ACME", "1200", "2026-01", "2026-02", limit=2, after=first.next))
        self.assertEqual(len(second.lines), 2)
        self.assertIsNone(second.next)
        self.assertGreater(second.lines[0].id, first.next)
        descriptions = [posted.description for posted in first.lines + second.lines]
        self.assertEqual(descriptions, ["Sale 1", "Sale 2", "EUR receipt", "Sale 3"])
        self.assertEqual(first.lines[0].entry_key, "TEST-000001")

    def test_lines_leave_out_settled_lines_on_request(self):
        # A 108.00 refund settles against the EUR receipt's 108.00 credit on receivables.
        ledger = fixture()
        ids = ledger.post(entry("ACME", "2026-01-26", "Refund", [line("1200", "108.00"), line("1100", "-108.00")]))
        receipt = next(
            posted.id
            for posted in ledger.posted_lines("ACME")
            if posted.account == "1200" and posted.description == "EUR receipt"
        )
        settlement = ledger.settle(types.ProposedSettlement(entity="ACME", line_ids=[receipt, ids[0]]))
        every = ledger.lines(line_query("ACME", "1200", "2026-01", "2026-01"))
        self.assertEqual(len(every.lines), 4)
        self.assertEqual(every.lines[2].settlement_id, settlement)
        unsettled = ledger.lines(line_query("ACME", "1200", "2026-01", "2026-01", include_settled=False))
        self.assertEqual(len(unsettled.lines), 2)

    def test_lines_refuse_a_zero_limit_and_unknown_accounts(self):
        ledger = fixture()
        for query, message in [
            (line_query("ACME", "1200", "2026-01", "2026-01", limit=0), "a line query's limit must be at least 1"),
            (line_query("ACME", "9999", "2026-01", "2026-01"), "account 9999 does not exist in entity ACME"),
        ]:
            with self.assertRaises(Err) as refused:
                ledger.lines(query)
            self.assertEqual(refused.exception.value.message, message)


class RatesTest(unittest.TestCase):
    def test_rates_take_the_latest_on_or_before_the_date(self):
        ledger = fixture()
        answers = [ledger.rate("EUR", "USD", "spot", on) for on in ["2025-12-31", "2026-01-31", "2026-02-01", "2026-12-31"]]
        self.assertEqual(answers, [None, "1.08", "1.10", "1.10"])

    def test_rates_derive_the_inverse_but_never_triangulate(self):
        # USD->EUR is 1 / 1.08 kept to 12 places; JPY->USD is 1 / 150; EUR->JPY would need USD.
        ledger = fixture()
        self.assertEqual(ledger.rate("USD", "EUR", "spot", "2026-01-15"), "0.925925925926")
        self.assertEqual(ledger.rate("JPY", "USD", "spot", "2026-01-15"), "0.006666666667")
        self.assertIsNone(ledger.rate("EUR", "USD", "average", "2026-01-15"))
        self.assertIsNone(ledger.rate("EUR", "JPY", "spot", "2026-01-15"))
        self.assertEqual(ledger.rate("USD", "USD", "spot", "2026-01-15"), "1")

    def test_rates_use_only_the_direct_series_when_it_has_any_rate(self):
        ledger = fixture()
        ledger.add_currency("GBP", 2)
        ledger.add_rate("GBP", "USD", "spot", "2026-03-01", "1.25")
        ledger.add_rate("USD", "GBP", "spot", "2026-01-01", "0.8")
        ledger.add_rate("USD", "GBP", "budget", "2026-01-01", "0.75")
        ledger.add_rate("USD", "GBP", "zero", "2026-01-01", "0")
        ledger.add_rate("USD", "GBP", "exact", "2026-01-01", "0.8")
        ledger.add_rate("USD", "GBP", "half", "2026-01-01", "0.5")
        self.assertIsNone(ledger.rate("GBP", "USD", "spot", "2026-02-28"))
        self.assertEqual(ledger.rate("GBP", "USD", "spot", "2026-03-01"), "1.25")
        self.assertEqual(ledger.rate("USD", "GBP", "spot", "2026-02-28"), "0.8")
        self.assertEqual(ledger.rate("GBP", "USD", "budget", "2026-02-28"), "1.333333333333")
        self.assertIsNone(ledger.rate("GBP", "USD", "budget", "2025-12-31"))
        self.assertIsNone(ledger.rate("GBP", "USD", "zero", "2026-02-28"))
        self.assertEqual(ledger.rate("USD", "GBP", "zero", "2026-02-28"), "0")
        # Written as rust_decimal divides: 1 / 0.8 is 1.25, but 1 / 0.5 is 2.0.
        self.assertEqual(ledger.rate("GBP", "USD", "exact", "2026-02-28"), "1.25")
        self.assertEqual(ledger.rate("GBP", "USD", "half", "2026-02-28"), "2.0")

    def test_a_rate_on_a_date_that_is_not_one_is_refused(self):
        with self.assertRaises(Err) as refused:
            fixture().rate("EUR", "USD", "spot", "2026-02-30")
        self.assertEqual(refused.exception.value.message, "`2026-02-30` is not a date (YYYY-MM-DD)")


class PostingTest(unittest.TestCase):
    def test_reversal_dates_post_the_reversing_entry(self):
        # The February reversal nets the accrual out and keeps the lines' descriptions.
        ledger = fixture()
        ids = ledger.post(
            entry("ACME", "2026-01-31", "Accrue rent", [line("6100", "50.00"), line("1100", "-50.00")], reversal_date="2026-02-01")
        )
        self.assertEqual(len(ids), 4)
        reversing = ledger.posted_lines("ACME")[-2]
        self.assertEqual(
            (reversing.id, reversing.period, reversing.amount, reversing.description),
            (ids[2], "2026-02", "-50.00", "Accrue rent"),
        )

        def rent(period):
            return ledger.balances(balance_query("ACME", period, period, accounts=types.AccountFilter_List(["6100"])))[0]

        self.assertEqual(rent("2026-01").accounting_amount, "350.00")
        self.assertEqual(rent("2026-02").accounting_amount, "-50.00")

    def test_broken_fixtures_are_refused(self):
        # An unbalanced entry, a date outside the named period, an unknown account, a foreign
        # line without a rate, and a float amount each stop the test with the reason.
        ledger = fixture()
        for build, message in [
            (
                lambda: entry("ACME", "2026-01-31", "Broken", [line("6100", "50.01"), line("1100", "-50.00")]),
                "accounting amounts sum to 0.01, not zero",
            ),
            (
                lambda: entry("ACME", "2026-01-31", "Misdated", [line("6100", "1"), line("1100", "-1")], period="FY2026-closing"),
                "date 2026-01-31 is outside period FY2026-closing (2026-12-01 to 2026-12-31)",
            ),
            (
                lambda: entry("ACME", "2026-01-31", "Unknown", [line("6199", "1"), line("1100", "-1")]),
                "account 6199 does not exist in entity ACME",
            ),
            (
                lambda: entry("ACME", "2026-01-31", "Pounds", [line("1150", "1", currency="GBP"), line("1100", "-1")]),
                "no spot rate from GBP to USD on 2026-01-31",
            ),
        ]:
            with self.assertRaisesRegex(FixtureError, re.escape(message)):
                ledger.post(build())
        with self.assertRaisesRegex(BoundaryError, "never a float"):
            line("6100", 1.5)


class ReconciliationTest(unittest.TestCase):
    """Interface 0.2's `statement` and `reconciling_items` queries, from the fixture's
    `add_statement` and `add_open_item`."""

    def test_a_statement_and_open_items_round_trip(self):
        # The bank's January statement of 1100 and two items open in January (added out of id
        # order; the query answers oldest first), read directly and through the stand-ins.
        ledger = fixture()
        ledger.add_fiscal_year("ACME", 2025)
        january = bank_statement("1000.00", "1450.00", [("2026-01-05", "500.00", "DEP-1"), ("2026-01-20", "-50.00", "FEE")])
        ledger.add_statement("ACME", "1100", "2026-01", january)
        ledger.add_open_item("ACME", "1100", "2026-01", open_item(7, "2026-01", "-120.00"))
        ledger.add_open_item("ACME", "1100", "2026-01", open_item(3, "2025-12", "80.00", cleared=True))
        query = statement_query("ACME", "1100", "2026-01")
        self.assertEqual(ledger.statement(query), january)
        items = ledger.reconciling_items(query)
        self.assertEqual([(item.id, item.period, item.cleared, item.amount) for item in items], [
            (3, "2025-12", True, "80.00"),
            (7, "2026-01", False, "-120.00"),
        ])
        with ledger.active():
            self.assertEqual(ledger_imports.statement(query), january)
            self.assertEqual(ledger_imports.reconciling_items(query), items)
        # What the step gets is a copy: changing it changes nothing in the ledger.
        ledger.statement(query).lines.clear()
        ledger.reconciling_items(query)[0].amount = "0.00"
        self.assertEqual(ledger.statement(query), january)
        self.assertEqual(ledger.reconciling_items(query), items)

    def test_no_statement_is_none_and_no_items_an_empty_list(self):
        # Another period, another account, or the account's reconciliation by a dimension value
        # (the fixture's are over the whole account) has neither.
        ledger = fixture()
        ledger.add_statement("ACME", "1100", "2026-01", bank_statement("0.00", "10.00", [("2026-01-05", "10.00", "DEP")]))
        ledger.add_open_item("ACME", "1100", "2026-01", open_item(1, "2026-01", "10.00"))
        for query in [
            statement_query("ACME", "1100", "2026-02"),
            statement_query("ACME", "1150", "2026-01"),
            statement_query("ACME", "1100", "2026-01", dimensions=[("department", "100")]),
        ]:
            self.assertIsNone(ledger.statement(query), query)
            self.assertEqual(ledger.reconciling_items(query), [], query)
        with ledger.active():
            self.assertIsNone(ledger_imports.statement(statement_query("ACME", "1200", "2026-01")))

    def test_an_unknown_entity_account_or_period_is_refused(self):
        # In the host's order: the entity, then the period, then the account.
        ledger = fixture()
        unknown_account = (
            "account 1199 is not in the chart of entity ACME: check the number "
            "(`closebook report trial-balance` lists the accounts with balances)"
        )
        for query, message in [
            (statement_query("NOPE", "1199", "2030-01"), "entity NOPE does not exist"),
            (statement_query("ACME", "1199", "2026-01"), unknown_account),
            (statement_query("ACME", "1100", "2030-01"), "period 2030-01 does not exist in entity ACME"),
            (statement_query("ACME", "1199", "2030-01"), "period 2030-01 does not exist in entity ACME"),
            (statement_query("ACME", "1199", "2026-01", dimensions=[("nope", "1")]), unknown_account),
        ]:
            for ask in (ledger.statement, ledger.reconciling_items):
                with self.assertRaises(Err) as refused:
                    ask(query)
                self.assertEqual(refused.exception.value, types.QueryError(message=message))
        with self.assertRaisesRegex(BoundaryError, r"statement: query is a str"):
            ledger.statement("1100")

    def test_broken_statements_and_items_are_refused(self):
        # Lines that do not add up to the closing balance, an unknown account or period, a
        # float amount and a date that is none each stop the test with the reason.
        ledger = fixture()
        unbalanced = bank_statement("100.00", "150.00", [("2026-01-05", "40.00", "DEP")])
        with self.assertRaisesRegex(
            FixtureError, re.escape("statement: opening 100.00 plus the lines (40.00) is not the closing balance 150.00")
        ):
            ledger.add_statement("ACME", "1100", "2026-01", unbalanced)
        balanced = bank_statement("100.00", "140.00", [("2026-01-05", "40.00", "DEP")])
        with self.assertRaisesRegex(FixtureError, "account 1199 does not exist in entity ACME"):
            ledger.add_statement("ACME", "1199", "2026-01", balanced)
        with self.assertRaisesRegex(FixtureError, "period 2030-01 does not exist in entity ACME"):
            ledger.add_open_item("ACME", "1100", "2030-01", open_item(1, "2026-01", "1.00"))
        with self.assertRaisesRegex(FixtureError, r"the statement\.lines\[0\]\.amount is a float"):
            ledger.add_statement("ACME", "1100", "2026-01", bank_statement("0.00", "1.00", [("2026-01-05", 1.0, "DEP")]))
        misdated = open_item(1, "2026-01", "1.00")
        misdated.expected_clear = "2026-02-30"
        with self.assertRaisesRegex(FixtureError, "open item 1: expected_clear `2026-02-30` is not a date"):
            ledger.add_open_item("ACME", "1100", "2026-01", misdated)
        self.assertIsNone(ledger.statement(statement_query("ACME", "1100", "2026-01")))

    def test_query_dimensions_are_refused_as_the_host_refuses_them(self):
        # Each dimension, in order, as `name=value` split at its first `=`: one that is not well
        # formed, an unknown name (the known ones listed, sorted), an unknown value, a name
        # given twice. Well-formed known values are a reconciliation of their own: none here.
        ledger = fixture()
        ledger.add_dimension("cost-center", ["CC7"])
        not_a_pair = "dimension `{}` is not NAME=VALUE without spaces around them or `;` in them, like department=100"
        for dimensions, message in [
            ([("", "100")], not_a_pair.format("=100")),
            ([("department", "")], not_a_pair.format("department=")),
            ([("department", " 100")], not_a_pair.format("department= 100")),
            ([("department ", "100")], not_a_pair.format("department =100")),
            ([("department", "100\u00a0")], not_a_pair.format("department=100\u00a0")),
            ([("department", "1;2")], not_a_pair.format("department=1;2")),
            ([("department", "1\n2")], not_a_pair.format("department=1\n2")),
            ([("dep=artment", "100")], not_a_pair.format("dep=artment=100")),
            ([("department", "1=2")], not_a_pair.format("department=1=2")),
            ([("region", "EU")], "dimension `region` does not exist (the dimensions are cost-center, department)"),
            ([("department", "300")], "dimension department has no value 300"),
            # Only Unicode White_Space is trimmed, as Rust's `trim` does: not U+001F.
            ([("department", "\x1f100")], "dimension department has no value \x1f100"),
            ([("department", "100"), ("department", "200")], "dimension department is given twice: give it once"),
            (
                [("department", "100"), ("region", "EU"), ("department", "x")],
                "dimension `region` does not exist (the dimensions are cost-center, department)",
            ),
            ([("department", "300"), ("", "")], "dimension department has no value 300"),
        ]:
            query = statement_query("ACME", "1100", "2026-01", dimensions=dimensions)
            for ask in (ledger.statement, ledger.reconciling_items):
                with self.assertRaises(Err) as refused:
                    ask(query)
                self.assertEqual(refused.exception.value, types.QueryError(message=message), dimensions)
        # A value that is well formed and known: the whole account's fixtures are not its.
        ledger.add_open_item("ACME", "1100", "2026-01", open_item(1, "2026-01", "10.00"))
        query = statement_query("ACME", "1100", "2026-01", dimensions=[("department", "100"), ("cost-center", "CC7")])
        self.assertIsNone(ledger.statement(query))
        self.assertEqual(ledger.reconciling_items(query), [])
        # With no dimension registered, the list is empty.
        bare = TestLedger().add_currency("USD", 2).add_entity("ONE", "One", "USD", "3900", "spot")
        bare.add_account("ONE", "1100", "Bank", "asset").add_fiscal_year("ONE", 2026)
        with self.assertRaises(Err) as refused:
            bare.statement(statement_query("ONE", "1100", "2026-01", dimensions=[("department", "100")]))
        self.assertEqual(refused.exception.value.message, "dimension `department` does not exist (the dimensions are )")

    def test_statement_fixtures_are_checked_as_the_host_imports_them(self):
        # A line number given twice and a line dated outside the period are refused; the lines
        # come back ordered by line number, whatever order the fixture gave them in.
        ledger = fixture()
        twice = bank_statement("0.00", "30.00", [("2026-01-05", "10.00", "A"), ("2026-01-06", "20.00", "B")])
        twice.lines[1].line_no = twice.lines[0].line_no
        with self.assertRaisesRegex(FixtureError, re.escape("statement line 2: line_no 2 is given twice")):
            ledger.add_statement("ACME", "1100", "2026-01", twice)
        for date in ["2025-12-31", "2026-02-01"]:
            outside = bank_statement("0.00", "10.00", [("2026-01-05", "5.00", "A"), (date, "5.00", "B")])
            with self.assertRaisesRegex(
                FixtureError, re.escape(f"statement line 2: {date} is outside period 2026-01 (2026-01-01 to 2026-01-31)")
            ):
                ledger.add_statement("ACME", "1100", "2026-01", outside)
        self.assertIsNone(ledger.statement(statement_query("ACME", "1100", "2026-01")))
        unordered = bank_statement(
            "0.00", "60.00", [("2026-01-05", "10.00", "A"), ("2026-01-01", "20.00", "B"), ("2026-01-31", "30.00", "C")]
        )
        for statement_line, line_no in zip(unordered.lines, [9, 4, 7]):
            statement_line.line_no = line_no
        ledger.add_statement("ACME", "1100", "2026-01", unordered)
        found = ledger.statement(statement_query("ACME", "1100", "2026-01"))
        self.assertEqual([(line.line_no, line.reference) for line in found.lines], [(4, "B"), (7, "C"), (9, "A")])
        self.assertEqual([line.line_no for line in unordered.lines], [9, 4, 7])
        # The closing period has December's dates.
        ledger.add_statement("ACME", "1100", "FY2026-closing", bank_statement("0.00", "1.00", [("2026-12-31", "1.00", "A")]))

    def test_open_item_fixtures_are_checked_as_the_host_would_hold_them(self):
        # The opening period exists and is not after the reconciliation's; an id once per
        # reconciliation; no zero; no more decimals than the entity's currency has (trailing
        # zeros aside).
        ledger = fixture()
        ledger.add_fiscal_year("ACME", 2025)
        for item, message in [
            (open_item(1, "2024-12", "1.00"), "open item 1: period 2024-12 does not exist in entity ACME"),
            (open_item(1, "2026-02", "1.00"), "open item 1: opened in 2026-02, after 2026-01"),
            (open_item(1, "2026-01", "0.00"), "open item 1: a reconciling item of 0 explains nothing"),
            (open_item(1, "2026-01", "-0"), "open item 1: a reconciling item of 0 explains nothing"),
            (open_item(1, "2026-01", "1.005"), "open item 1: amount 1.005 has more decimals than USD's 2"),
        ]:
            with self.assertRaisesRegex(FixtureError, re.escape(message)):
                ledger.add_open_item("ACME", "1100", "2026-01", item)
        self.assertEqual(ledger.reconciling_items(statement_query("ACME", "1100", "2026-01")), [])
        ledger.add_open_item("ACME", "1100", "2026-01", open_item(1, "2025-06", "1.050"))
        ledger.add_open_item("ACME", "1100", "2026-01", open_item(2, "2026-01", "2"))
        ledger.add_open_item("ACME", "1100", "2026-01", open_item(3, "FY2026-opening", "3.00"))
        with self.assertRaisesRegex(
            FixtureError, re.escape("open item 1 is added twice to the reconciliation of 1100 of ACME in 2026-01")
        ):
            ledger.add_open_item("ACME", "1100", "2026-01", open_item(1, "2026-01", "5.00"))
        # Carried forward by the test: open in February, cleared in March, in neither after.
        ledger.add_open_item("ACME", "1100", "2026-02", open_item(1, "2025-06", "1.050"))
        ledger.add_open_item("ACME", "1100", "2026-03", open_item(1, "2025-06", "1.050", cleared=True))
        ledger.add_open_item("ACME", "1200", "2026-01", open_item(1, "2026-01", "1.00"))
        self.assertEqual([item.id for item in ledger.reconciling_items(statement_query("ACME", "1100", "2026-01"))], [1, 2, 3])
        self.assertEqual(
            [(item.id, item.cleared) for item in ledger.reconciling_items(statement_query("ACME", "1100", "2026-03"))],
            [(1, True)],
        )
        # A yen entity has no decimals: 1.5 is refused, 150 is fine.
        ledger.add_entity("ACME-JP", "Acme KK", "JPY", "3900", "spot").add_account("ACME-JP", "1100", "Bank", "asset")
        ledger.add_fiscal_year("ACME-JP", 2026)
        with self.assertRaisesRegex(FixtureError, re.escape("open item 9: amount 1.5 has more decimals than JPY's 0")):
            ledger.add_open_item("ACME-JP", "1100", "2026-01", open_item(9, "2026-01", "1.5"))
        ledger.add_open_item("ACME-JP", "1100", "2026-01", open_item(9, "2026-01", "150.00"))

    def test_a_step_reads_the_statement_and_proposes_items_clearings_and_findings(self):
        # A small matching step: the open item whose amount is on the statement clears, each
        # unmatched statement line becomes a reconciling item, and a large fee is a finding.
        class Matches:
            def run(self, step_input):
                query = statement_query(step_input.entity, "1100", step_input.period.name)
                found = ledger_imports.statement(query)
                items = ledger_imports.reconciling_items(query)
                amounts = {item.amount: item for item in items}
                output_items, clearings = [], []
                for statement_line in found.lines:
                    item = amounts.get(statement_line.amount)
                    if item is not None:
                        clearings.append(
                            types.ProposedClearing(entity=step_input.entity, item_id=item.id, period=step_input.period.name, note="matched")
                        )
                    else:
                        output_items.append(
                            types.ProposedReconcilingItem(
                                entity=step_input.entity,
                                account="1100",
                                dimensions=[],
                                period=step_input.period.name,
                                amount=str(-Decimal(statement_line.amount)),
                                explanation=statement_line.description,
                                expected_clear=step_input.period.end,
                                reference=statement_line.reference,
                            )
                        )
                finding = types.Finding(
                    entity=step_input.entity,
                    account="1100",
                    dimensions=[],
                    measure="fees",
                    current="50.00",
                    baseline="0.00",
                    threshold="|change| >= 10.00",
                    explanation_required=True,
                    message="bank fees",
                )
                return output(reconciling_items=output_items, cleared_items=clearings, findings=[finding])

        ledger = fixture()
        ledger.add_fiscal_year("ACME", 2025)
        ledger.add_statement(
            "ACME", "1100", "2026-01", bank_statement("0.00", "450.00", [("2026-01-05", "500.00", "DEP-1"), ("2026-01-20", "-50.00", "FEE")])
        )
        ledger.add_open_item("ACME", "1100", "2026-01", open_item(4, "2025-12", "500.00"))
        result = ledger.run_step(Matches(), ledger.step_input("ACME", "2026-01", {}))
        self.assertEqual(result.cleared_items, [types.ProposedClearing(entity="ACME", item_id=4, period="2026-01", note="matched")])
        self.assertEqual([(item.amount, item.reference) for item in result.reconciling_items], [("50.00", "FEE")])
        self.assertEqual(result.findings[0].current, "50.00")
        # Nothing of them is posted: the ledger's items stay as the fixture made them.
        ledger.post_output(result)
        self.assertEqual(len(ledger.reconciling_items(statement_query("ACME", "1100", "2026-01"))), 1)


class StepBoundaryTest(unittest.TestCase):
    """run_step and the stand-in imports, with small steps defined here."""

    def test_the_stand_ins_answer_from_the_active_ledger_and_keep_the_log(self):
        ledger = fixture()
        with self.assertRaisesRegex(RuntimeError, "no TestLedger serves the ledger imports"):
            ledger_imports.currencies()
        with ledger.active():
            self.assertEqual(ledger_imports.entity("ACME").currency, "USD")
            log_imports.log(types.Level.INFO, "first")
            log_imports.log(types.Level.WARNING, "second")
            with self.assertRaises(Err):
                ledger_imports.entity("NOPE")
        self.assertEqual(
            ledger.logs(),
            [types.Message(level=types.Level.INFO, text="first"), types.Message(level=types.Level.WARNING, text="second")],
        )

    def test_arguments_and_results_are_checked_as_the_boundary_would(self):
        # A float for a str, a str for an enum, a Decimal amount or an exponent all fail here
        # rather than only in the component.
        ledger = fixture()
        with ledger.active(), self.assertRaisesRegex(BoundaryError, r"log: level is a str \('info'\), not Level"):
            log_imports.log("info", "text")

        class Returns:
            def __init__(self, output):
                self.output = output

            def run(self, step_input):
                return self.output

        step_input = ledger.step_input("ACME", "2026-01", {})
        decimal_amount = output(entries=[entry("ACME", "2026-01-31", "x", [line("6100", "1.00"), line("1100", "-1.00")])])
        decimal_amount.entries[0].lines[0].amount = Decimal("1.00")
        for returned, message in [
            (decimal_amount, r"entries\[0\]\.lines\[0\]\.amount is a Decimal"),
            (output(messages=[types.Message(level="info", text="x")]), r"messages\[0\]\.level"),
            ({"entries": []}, "run's result is a dict"),
        ]:
            with self.assertRaisesRegex(BoundaryError, message):
                ledger.run_step(Returns(returned), step_input)
        exponent = output(entries=[entry("ACME", "2026-01-31", "x", [line("6100", "1.00"), line("1100", "-1.00")])])
        exponent.entries[0].lines[0].amount = "1E+2"
        with self.assertRaisesRegex(BoundaryError, r"entries\[0\]\.lines\[0\]\.amount `1E\+2` is not a decimal"):
            ledger.run_step(Returns(exponent), step_input)

    def test_reconciling_items_clearings_and_findings_are_checked_as_the_boundary_would(self):
        # Interface 0.2's output records: their types, decimals, dates and ids.
        class Returns:
            def __init__(self, output):
                self.output = output

            def run(self, step_input):
                return self.output

        def item(amount="-120.00", expected_clear="2026-02-05"):
            return types.ProposedReconcilingItem(
                entity="ACME",
                account="1100",
                dimensions=[],
                period="2026-01",
                amount=amount,
                explanation="Cheque 104 outstanding",
                expected_clear=expected_clear,
                reference="CHQ-104",
            )

        def finding(current="1250.00", baseline="100.00"):
            return types.Finding(
                entity="ACME",
                account="6100",
                dimensions=[types.Dimension(name="department", value="100")],
                measure="balance vs prior period",
                current=current,
                baseline=baseline,
                threshold="|change| >= 1000.00",
                explanation_required=True,
                message="rent moved",
            )

        def clearing(item_id=7):
            return types.ProposedClearing(entity="ACME", item_id=item_id, period="2026-01", note="matched")

        ledger = fixture()
        step_input = ledger.step_input("ACME", "2026-01", {})
        fine = output(reconciling_items=[item()], cleared_items=[clearing()], findings=[finding()])
        self.assertEqual(ledger.run_step(Returns(fine), step_input), fine)
        for returned, message in [
            (output(reconciling_items=[item(amount=Decimal("1.00"))]), r"reconciling_items\[0\]\.amount is a Decimal"),
            (output(reconciling_items=[item(amount="1e3")]), r"reconciling_items\[0\]\.amount `1e3` is not a decimal"),
            (
                output(reconciling_items=[item(expected_clear="2026-02-30")]),
                r"reconciling_items\[0\]\.expected_clear `2026-02-30` is not a date",
            ),
            (output(cleared_items=[clearing(item_id="7")]), r"cleared_items\[0\]\.item_id is a str"),
            (output(cleared_items=[clearing(item_id=-1)]), r"cleared_items\[0\]\.item_id -1 is not a u64"),
            (output(findings=[finding(current=12.5)]), r"findings\[0\]\.current is a float"),
            (output(findings=[finding(baseline="+100")]), r"findings\[0\]\.baseline `\+100` is not a decimal"),
            (types.StepOutput([], [], [], None, [], []), r"reconciling_items is None, not a list"),
        ]:
            with self.assertRaisesRegex(BoundaryError, message):
                ledger.run_step(Returns(returned), step_input)

    def test_output_texts_are_held_to_the_hosts_bounds(self):
        # host/src/plugin/bounds.rs: ids, dates and decimals fit their length and hold no control
        # character or bidirectional override; free texts fit their length. Each refusal names
        # the field. A text at its bound passes.
        class Returns:
            def __init__(self, output):
                self.output = output

            def run(self, step_input):
                return self.output

        def item(**changes):
            fields = dict(
                entity="ACME",
                account="1100",
                dimensions=[types.Dimension(name="department", value="100")],
                period="2026-01",
                amount="-120.00",
                explanation="Cheque 104 outstanding",
                expected_clear="2026-02-05",
                reference="CHQ-104",
            )
            fields.update(changes)
            return types.ProposedReconcilingItem(**fields)

        def clearing(**changes):
            fields = dict(entity="ACME", item_id=7, period="2026-01", note="matched")
            fields.update(changes)
            return types.ProposedClearing(**fields)

        def finding(**changes):
            fields = dict(
                entity="ACME",
                account="6100",
                dimensions=[],
                measure="balance vs prior period",
                current="1250.00",
                baseline="100.00",
                threshold="|change| >= 1000.00",
                explanation_required=True,
                message="rent moved",
            )
            fields.update(changes)
            return types.Finding(**fields)

        def rent(**changes):
            proposed = entry("ACME", "2026-01-31", "Rent", [line("6100", "1.00"), line("1100", "-1.00")])
            for name, value in changes.items():
                target = proposed.lines[0] if name.startswith("line_") else proposed
                setattr(target, name.removeprefix("line_"), value)
            return proposed

        ledger = fixture()
        step_input = ledger.step_input("ACME", "2026-01", {})
        long_id, long_period = "x" * 65, "2" * 33
        at_bounds = output(
            entries=[rent(description="d" * 1000, line_description="d" * 1000, line_amount="0" * 60 + "1.00")],
            messages=[types.Message(level=types.Level.INFO, text="m" * 4000)],
            reconciling_items=[
                item(
                    entity="E" * 64,
                    account="A" * 64,
                    period="P" * 32,
                    # Free texts may hold control characters: the host escapes them where shown.
                    explanation="e\n" * 500,
                    reference="r" * 1000,
                    dimensions=[types.Dimension(name="n" * 64, value="v" * 64)],
                )
            ],
            cleared_items=[clearing(entity="E" * 64, period="P" * 32, note="n" * 1000)],
            findings=[finding(measure="m" * 1000, threshold="t" * 1000, message="\x1b" * 4000, current="0" * 60 + "1.00")],
        )
        self.assertEqual(ledger.run_step(Returns(at_bounds), step_input), at_bounds)
        def control(field, shown):
            return (
                f"the {field} `{shown}` contains a control character (shown escaped); "
                "ids, keys and codes may not contain control characters"
            )

        def too_long(field, length, maximum):
            return f"the {field} is {length} characters long; at most {maximum} are allowed"

        for returned, place, reason in [
            (
                output(reconciling_items=[item(entity=long_id)]),
                "reconciling_items[0].entity", too_long("entity", 65, 64),
            ),
            (
                output(reconciling_items=[item(account="1100\x1b[2J")]),
                "reconciling_items[0].account", control("account", "1100\\u{1b}[2J"),
            ),
            (
                output(reconciling_items=[item(dimensions=[types.Dimension(name="d" * 65, value="100")])]),
                "reconciling_items[0].dimensions[0].name", too_long("dimension name", 65, 64),
            ),
            (
                output(reconciling_items=[item(dimensions=[types.Dimension(name="department", value="100\n")])]),
                "reconciling_items[0].dimensions[0].value", control("dimension value", "100\\u{a}"),
            ),
            (
                output(reconciling_items=[item(period=long_period)]),
                "reconciling_items[0].period", too_long("period", 33, 32),
            ),
            # The bound comes before the decimal grammar and the date, as in the host.
            (
                output(reconciling_items=[item(amount="9" * 65)]),
                "reconciling_items[0].amount", too_long("amount", 65, 64),
            ),
            (
                output(reconciling_items=[item(expected_clear="2026-02-05\u202e")]),
                "reconciling_items[0].expected_clear", control("expected clearing date", "2026-02-05\\u{202e}"),
            ),
            (
                output(reconciling_items=[item(explanation="e" * 1001)]),
                "reconciling_items[0].explanation", too_long("explanation", 1001, 1000),
            ),
            (
                output(reconciling_items=[item(reference="r" * 1001)]),
                "reconciling_items[0].reference", too_long("reference", 1001, 1000),
            ),
            (
                output(cleared_items=[clearing(entity="AC\u2066ME")]),
                "cleared_items[0].entity", control("entity", "AC\\u{2066}ME"),
            ),
            (
                output(cleared_items=[clearing(period=long_period)]),
                "cleared_items[0].period", too_long("period", 33, 32),
            ),
            (
                output(cleared_items=[clearing(note="n" * 1001)]),
                "cleared_items[0].note", too_long("clearing note", 1001, 1000),
            ),
            (output(findings=[finding(entity=long_id)]), "findings[0].entity", too_long("entity", 65, 64)),
            (output(findings=[finding(account="6100\x7f")]), "findings[0].account", control("account", "6100\\u{7f}")),
            (
                output(findings=[finding(dimensions=[types.Dimension(name="department", value="v" * 65)])]),
                "findings[0].dimensions[0].value", too_long("dimension value", 65, 64),
            ),
            (output(findings=[finding(measure="m" * 1001)]), "findings[0].measure", too_long("measure", 1001, 1000)),
            (output(findings=[finding(current="1" * 65)]), "findings[0].current", too_long("current", 65, 64)),
            (output(findings=[finding(baseline="1\x85")]), "findings[0].baseline", control("baseline", "1\\u{85}")),
            (
                output(findings=[finding(threshold="t" * 1001)]),
                "findings[0].threshold", too_long("threshold", 1001, 1000),
            ),
            (
                output(findings=[finding(message="m" * 4001)]),
                "findings[0].message", too_long("finding message", 4001, 4000),
            ),
            # Entries, lines, settlements and messages, as the host checks them too.
            (output(entries=[rent(entity=long_id)]), "entries[0].entity", too_long("entity", 65, 64)),
            (output(entries=[rent(period="FY2026\t")]), "entries[0].period", control("period", "FY2026\\u{9}")),
            (
                output(entries=[rent(description="d" * 1001)]),
                "entries[0].description", too_long("entry description", 1001, 1000),
            ),
            (
                output(entries=[rent(line_currency="USD\x1b")]),
                "entries[0].lines[0].currency", control("currency", "USD\\u{1b}"),
            ),
            (output(entries=[rent(line_amount="9" * 65)]), "entries[0].lines[0].amount", too_long("amount", 65, 64)),
            (
                output(entries=[rent(line_description="d" * 1001)]),
                "entries[0].lines[0].description", too_long("line description", 1001, 1000),
            ),
            (
                output(settlements=[types.ProposedSettlement(entity="ACME\r", line_ids=[1, 2])]),
                "settlements[0].entity", control("entity", "ACME\\u{d}"),
            ),
            (
                output(messages=[types.Message(level=types.Level.INFO, text="m" * 4001)]),
                "messages[0].text", too_long("message", 4001, 4000),
            ),
        ]:
            with self.assertRaisesRegex(BoundaryError, "^" + re.escape(f"run's result: {place}: {reason}") + "$"):
                ledger.run_step(Returns(returned), step_input)
        # A long offending id is quoted by its first 40 characters, escaped.
        with self.assertRaisesRegex(BoundaryError, re.escape("the account `" + "\\u{1b}" * 40 + "…` contains")):
            ledger.run_step(Returns(output(findings=[finding(account="\x1b" * 60)])), step_input)

    def test_output_holds_at_most_so_many_reconciling_items_clearings_and_findings(self):
        class Returns:
            def __init__(self, output):
                self.output = output

            def run(self, step_input):
                return self.output

        ledger = fixture()
        step_input = ledger.step_input("ACME", "2026-01", {})
        item = types.ProposedReconcilingItem(
            entity="ACME", account="1100", dimensions=[], period="2026-01", amount="1.00",
            explanation="x", expected_clear="2026-02-01", reference="",
        )
        clearing = types.ProposedClearing(entity="ACME", item_id=1, period="2026-01", note="")
        finding = types.Finding(
            entity="ACME", account="1100", dimensions=[], measure="m", current="1", baseline="0",
            threshold="t", explanation_required=False, message="",
        )
        maximum = closebook_testing.RECONCILIATION_PROPOSALS_MAX
        self.assertEqual(maximum, 10_000)
        for field, what, record in [
            ("reconciling_items", "reconciling items", item),
            ("cleared_items", "clearings", clearing),
            ("findings", "findings", finding),
        ]:
            with self.assertRaisesRegex(
                BoundaryError,
                re.escape(
                    f"run's result: {field}: the output holds 10001 {what}; "
                    "at most 10000 are allowed (RECONCILIATION_PROPOSALS_MAX)"
                ),
            ):
                ledger.run_step(Returns(output(**{field: [record] * (maximum + 1)})), step_input)
            at_most = output(**{field: [record] * maximum})
            self.assertEqual(len(getattr(ledger.run_step(Returns(at_most), step_input), field)), maximum)

    def test_a_refusal_is_the_err_the_step_raised(self):
        class Refuses:
            def run(self, step_input):
                raise Err(types.StepError(message=f"no {step_input.period.name}"))

        ledger = fixture()
        with self.assertRaises(Err) as refused:
            ledger.run_step(Refuses(), ledger.step_input("ACME", "2026-01", {}))
        self.assertEqual(refused.exception.value, types.StepError(message="no 2026-01"))

    def test_step_input_reads_every_entity_and_posts_into_one(self):
        ledger = fixture()
        ledger.add_entity("ACME-DE", "Acme GmbH", "EUR", "3900", "spot")
        step_input = ledger.step_input("ACME", "2026-02", {"amount": "1.00"})
        self.assertEqual(
            step_input.entities,
            [types.EntityAccess(entity="ACME", post=True), types.EntityAccess(entity="ACME-DE", post=False)],
        )
        self.assertEqual((step_input.as_of, step_input.period.name, step_input.config), ("2026-02-28", "2026-02", '{"amount": "1.00"}'))

    def test_the_generated_bindings_are_installed_once(self):
        self.assertIs(closebook_testing.load_step("wit_world.imports.types"), types)


if __name__ == "__main__":
    unittest.main()
