"""A native test harness for closebook close steps written in Python.

`closebook plugin new --lang python` writes this file beside `app.py`, so that the step's unit
tests run with `python3 -m unittest` in a second, without building the component. It holds:

- Stand-ins for the modules componentize-py generates from `wit/closebook.wit`: `wit_world`,
  `wit_world.imports.ledger`, `.log` and `.types`, and `componentize_py_types`. Importing this
  module puts them in `sys.modules`, so `app.py` imports them unchanged. The records, enums and
  `Err` are the very classes componentize-py 0.25.1 generates for closebook:plugin@0.2.0 (their
  source is below, word for word); the ledger and log functions answer from a `TestLedger`.
- `TestLedger`: an in-memory ledger that answers the step's queries with the host's semantics,
  the same as the Rust SDK's `closebook_plugin_sdk::testing::TestLedger`: period ranges by name
  in calendar order, account lists, ranges (compared as text) and types, dimension filters and
  grouping (`"*"` keeps every dimension), balance rows in the host's order, line pages with a
  cursor, rates (the latest on or before the date; the opposite pair's inverted to 12 decimal
  places only when the pair has no rate of the type at all; never triangulated), and a
  reconciliation's bank statement and open reconciling items, refused as the host refuses an
  unknown entity, period, account or dimension value.
- Fixture builders: currencies, dimensions, an entity and its accounts, the periods of a fiscal
  year, rates, posted entries (`entry`, `line`), which must balance, and a reconciliation's
  imported bank statement (`add_statement`, whose lines must add up and fall in the period) and
  open items (`add_open_item`, each added to every period it is open in).
- `load_step`, `TestLedger.describe` and `TestLedger.run_step`, which call the step's `WitWorld`
  as the component would and check what crosses the boundary: the records' field types, the
  host's bounds on every text of the output (lengths, no control characters in ids, dates and
  decimals) and on how many reconciling items, clearings and findings it holds, and that every
  amount, date and id is one the host accepts (in the entries, settlements, reconciling items,
  clearings and findings alike).

Setup methods raise `FixtureError` on an inconsistent fixture (an unknown account, an entry that
does not balance): a broken fixture is a bug in the test. Queries raise
`componentize_py_types.Err(types.QueryError)` as the host's refusals do.

What only the host does: validate the configuration against the step's JSON Schema, check period
status and entity access on the proposals, check reconciling items, clearings and findings against
the chart and the open items, and enforce the fuel, memory, time and output-size limits.
`closebook plugin run` runs the built component under all of them.

Only the standard library is used (Python 3.11 or later, as the generated bindings need).
"""

import contextlib
import copy
import dataclasses
import datetime
import decimal
import importlib
import json
import re
import sys
import types as python_types
import typing
import unicodedata
from decimal import Decimal

# Decimal places kept on a rate derived as the inverse of the opposite pair's, as the host keeps
# them (`closebook_ledger::rate::INVERSE_RATE_DECIMALS`): 1 / 1.08 is 0.925925925926.
INVERSE_RATE_DECIMALS = 12

# The most lines one `lines` page returns, whatever the query asks. The host has a cap of its own;
# a small one here makes paging bugs show up in unit tests. The Rust harness's cap too.
LINE_PAGE_SIZE_MAX = 1000

# The boundary's decimal grammar and limits (the `closebook-wire` crate's): at most 28 digits
# after the point and 28 significant digits, what rust_decimal holds exactly.
DECIMAL_SCALE_MAX = 28
DECIMAL_SIGNIFICANT_DIGITS_MAX = 28
DECIMAL_GRAMMAR = re.compile(r"-?[0-9]+(\.[0-9]+)?")

# The `group-by-dimensions` entry that keeps every dimension.
GROUP_BY_EVERY_DIMENSION = "*"

# The largest values of the WIT integer types the harness checks.
U32_MAX = 2**32 - 1
U64_MAX = 2**64 - 1

# The host's bounds on the texts of a step's output (`host/src/plugin/bounds.rs`,
# `check_step_output`), which are the ledger's own (`closebook_ledger::journal`): an id-like text
# (entity, account, dimension, period, date, code, decimal) fits its length and holds no control
# character; a free text (explanation, reference, note, description, message) fits its length.
ENTITY_CHARS_MAX = 64
ACCOUNT_CHARS_MAX = 64
DIMENSION_CHARS_MAX = 64
# Periods, dates and currency codes.
CODE_CHARS_MAX = 32
DECIMAL_CHARS_MAX = 64
DESCRIPTION_CHARS_MAX = 1_000
MESSAGE_CHARS_MAX = 4_000
# Reconciling items, clearings or findings one step output may hold.
RECONCILIATION_PROPOSALS_MAX = 10_000
# The characters of an offending value a message quotes.
QUOTED_CHARS_MAX = 40

# The characters Rust's `str::trim` takes off (Unicode White_Space), which is how the host
# tells a dimension name or value with spaces around it (`closebook_ledger::dimension`).
_UNICODE_WHITE_SPACE = (
    "\t\n\x0b\x0c\r \x85\xa0\u1680"
    + "".join(chr(code) for code in range(0x2000, 0x200B))
    + "\u2028\u2029\u202f\u205f\u3000"
)
# What a dimension name or value may not hold: the canonical set's separators.
_DIMENSION_RESERVED_CHARACTERS = ("=", ";", "\n")


class FixtureError(Exception):
    """A fixture the host could not hold: an unknown entity, account or period, an entry that
    does not balance, a date outside the period an entry names."""


class BoundaryError(Exception):
    """A value the step passes across the WIT boundary that componentize-py could not lower or
    the host would refuse: a field of the wrong type, an amount that is not a decimal string."""


def _new_module(name, source=None, is_package=False):
    """A module named `name`, registered in `sys.modules`, with `source` run in it."""
    module = python_types.ModuleType(name)
    module.__closebook_testing__ = True
    if is_package:
        module.__path__ = []
        module.__package__ = name
    else:
        module.__package__ = name.rpartition(".")[0]
    sys.modules[name] = module
    if source is not None:
        exec(compile(source, f"<closebook_testing: generated {name}>", "exec"), module.__dict__)
    return module


def _install_bindings():
    """Puts the stand-ins for the generated modules in `sys.modules`, once. Refuses when the
    step's bindings were imported first: the step would then call the real, unimplemented ones."""
    existing = sys.modules.get("wit_world")
    if existing is not None:
        if getattr(existing, "__closebook_testing__", False):
            return sys.modules["wit_world.imports.types"]
        raise ImportError(
            "wit_world was imported before closebook_testing: import closebook_testing first, and "
            'the step through load_step("app")'
        )
    results = _new_module("componentize_py_types", GENERATED_SOURCES["componentize_py_types.py"])
    _let_tracebacks_attach(results.Err)
    world = _new_module("wit_world", is_package=True)
    imports = _new_module("wit_world.imports", is_package=True)
    world.imports = imports
    wit_types = _new_module("wit_world.imports.types", GENERATED_SOURCES["wit_world/imports/types.py"])
    imports.types = wit_types
    imports.ledger = _new_module("wit_world.imports.ledger")
    imports.log = _new_module("wit_world.imports.log")
    for function in _LEDGER_FUNCTIONS:
        _export(imports.ledger, function)
    _export(imports.log, _log)
    exec(
        compile(GENERATED_SOURCES["wit_world/__init__.py"], "<closebook_testing: generated wit_world>", "exec"),
        world.__dict__,
    )
    return wit_types


# What the interpreter and unittest set on any exception while reporting it.
_EXCEPTION_ATTRIBUTES = frozenset({"__traceback__", "__context__", "__cause__", "__suppress_context__", "__notes__"})


def _let_tracebacks_attach(err_class):
    """The generated `Err` is a frozen dataclass, which refuses every attribute, so unittest
    crashes (FrozenInstanceError) while reporting one that a test did not catch. Its exception
    attributes are let through; its field stays frozen, and nothing else of it changes."""
    frozen_setattr = err_class.__setattr__

    def __setattr__(self, name, value):
        if name in _EXCEPTION_ATTRIBUTES:
            BaseException.__setattr__(self, name, value)
        else:
            frozen_setattr(self, name, value)

    err_class.__setattr__ = __setattr__


def _export(module, function):
    name = function.__name__.lstrip("_")
    function.__module__ = module.__name__
    function.__name__ = name
    function.__qualname__ = name
    setattr(module, name, function)


# The ledger that answers the step's queries, innermost last (`TestLedger.active`).
_SERVING = []


def _serving():
    if not _SERVING:
        raise RuntimeError(
            "no TestLedger serves the ledger imports: run the step with TestLedger.run_step, or "
            "call it inside `with ledger.active():`"
        )
    return _SERVING[-1]


# The stand-ins for the functions of the WIT `ledger` interface, named and typed as
# componentize-py names them.
def _entity(entity: str):
    """The entity's settings. Raises `Err(QueryError)` for an unknown entity."""
    return _serving().entity(entity)


def _currencies():
    """Every currency, ordered by code."""
    return _serving().currencies()


def _accounts(entity: str):
    """The entity's chart, ordered by account number."""
    return _serving().accounts(entity)


def _dimensions():
    """Every dimension and its values, ordered by name."""
    return _serving().dimensions()


def _periods(entity: str, fiscal_year: typing.Optional[str]):
    """Periods of a fiscal year, or of every year when none, in calendar order."""
    return _serving().periods(entity, fiscal_year)


def _balances(query):
    """Balances per account, kept dimensions and currency over a period range."""
    return _serving().balances(query)


def _lines(query):
    """One page of an account's posted lines, in increasing id order."""
    return _serving().lines(query)


def _rate(from_: str, to: str, rate_type: str, on: str):
    """The rate from one currency to another of a rate type on a date, as text, or None."""
    return _serving().rate(from_, to, rate_type, on)


def _statement(query):
    """The bank statement imported for a reconciliation, or None when there is none."""
    return _serving().statement(query)


def _reconciling_items(query):
    """The reconciling items of a reconciliation's period, oldest (lowest id) first."""
    return _serving().reconciling_items(query)


def _log(level, message: str):
    """Writes to the step log of the serving TestLedger (`TestLedger.logs`)."""
    _serving().log(level, message)


_LEDGER_FUNCTIONS = (
    _entity,
    _currencies,
    _accounts,
    _dimensions,
    _periods,
    _balances,
    _lines,
    _rate,
    _statement,
    _reconciling_items,
)

def load_step(module_name="app"):
    """Imports the step's module (by default `app`, as `componentize-py ... componentize app`
    names it) with the ledger and log imports served by the harness, and returns it."""
    _install_bindings()
    return importlib.import_module(module_name)


# --- Decimals and dates ---


def decimal_value(text, where="decimal"):
    """Parses a boundary decimal (`"-1250.00"`); raises BoundaryError naming `where` when the
    host would refuse it. `"-0.00"` is zero, as in the host."""
    if not isinstance(text, str):
        raise BoundaryError(f"{where} is {_type_name(text)}, not a decimal string like \"1250.00\"")
    if DECIMAL_GRAMMAR.fullmatch(text) is None:
        raise BoundaryError(f"{where} `{text}` is not a decimal: write it like \"-1250.00\" (no exponent, no '+')")
    integer_digits, _, fraction_digits = text.lstrip("-").partition(".")
    if len(fraction_digits) > DECIMAL_SCALE_MAX:
        raise BoundaryError(f"{where} `{text}` has more than {DECIMAL_SCALE_MAX} decimal places")
    significant = (integer_digits + fraction_digits).lstrip("0")
    if len(significant) > DECIMAL_SIGNIFICANT_DIGITS_MAX:
        raise BoundaryError(f"{where} `{text}` has more than {DECIMAL_SIGNIFICANT_DIGITS_MAX} significant digits")
    value = Decimal(text)
    return value.copy_abs() if value.is_zero() else value


def decimal_text(value, where="amount"):
    """A decimal as boundary text: a `Decimal` printed without exponent, a `str` checked, an
    `int` as is. A float is refused: money is never a float."""
    if isinstance(value, bool) or isinstance(value, float):
        raise BoundaryError(f"{where} is {_type_name(value)}: give money as a str or a decimal.Decimal, never a float")
    if isinstance(value, int):
        return str(value)
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise BoundaryError(f"{where} is {value}, not a number")
        text = format(value.quantize(Decimal(1)) if value.as_tuple().exponent > 0 else value, "f")
        decimal_value(text, where)
        return text
    decimal_value(value, where)
    return value


def date_text(value, where="date"):
    """A date as boundary text, `YYYY-MM-DD`: a `datetime.date` or a valid date string."""
    if isinstance(value, datetime.date) and not isinstance(value, datetime.datetime):
        return value.isoformat()
    _date_value(value, where, BoundaryError)
    return value


def _date_value(text, where, error):
    if not isinstance(text, str) or re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", text) is None:
        raise error(f"{where} `{text}` is not a date (YYYY-MM-DD)")
    try:
        return datetime.date.fromisoformat(text)
    except ValueError:
        raise error(f"{where} `{text}` is not a date (YYYY-MM-DD)") from None


def _text(value):
    """A Decimal the harness computed, as the host prints it: no exponent."""
    if value.as_tuple().exponent > 0:
        value = value.quantize(Decimal(1))
    return format(value, "f")


def _round_to_minor_units(amount, minor_units):
    """Half away from zero, as the host rounds; never adds trailing zeros (rust_decimal's
    rounding keeps a shorter scale)."""
    if amount.as_tuple().exponent >= -minor_units:
        return amount
    return amount.quantize(Decimal(1).scaleb(-minor_units), rounding=decimal.ROUND_HALF_UP)


def _inverse_rate(rate):
    """1 / rate as the host derives an inverse rate: rust_decimal's division (`_divide_one_by`),
    then `round_dp(12)`, half to even. None for a zero rate, which has no inverse, or one whose
    inverse does not fit (the host's `checked_div` answers none too)."""
    sign, digits, exponent = rate.as_tuple()
    units = int("".join(map(str, digits))) * (-1 if sign else 1)
    quotient = _divide_one_by(units * 10 ** max(exponent, 0), max(-exponent, 0))
    if quotient is None:
        return None
    units, scale = quotient
    if scale > INVERSE_RATE_DECIMALS:
        units = _round_half_even(units, 10 ** (scale - INVERSE_RATE_DECIMALS))
        scale = INVERSE_RATE_DECIMALS
    # Built from its digits, exactly: a 29-digit quotient would not survive a 28-digit context.
    return Decimal((1 if units < 0 else 0, tuple(int(digit) for digit in str(abs(units))), -scale))


# rust_decimal's limits: a 96-bit mantissa and at most 28 decimal places.
_MANTISSA_END = 2**96
_SCALE_MAX = 28
_LOW_64_BITS = 2**64 - 1


def _round_half_even(units, divisor):
    quotient, remainder = divmod(abs(units), divisor)
    if 2 * remainder > divisor or (2 * remainder == divisor and quotient % 2 == 1):
        quotient += 1
    return -quotient if units < 0 else quotient


def _divide_one_by(units, scale):
    """1 / (units × 10^-scale) as rust_decimal 1.x computes it (`ops::div::div_impl`), as
    (units, scale): its digits come in steps of up to nine places while they fit 96 bits, are
    rounded half to even where they stop (28 places, or fewer for a large quotient), and only
    some trailing zeros are taken off (by eight while the low 32 bits are zero, then by four, two
    and one), so that 1 / 0.5 is 2.0 and 1 / 0.8 is 1.25. The scale is what the host prints.
    None when the quotient overflows."""
    if units == 0:
        return None
    negative = units < 0
    divisor = abs(units)
    scale = -scale
    quotient, remainder = divmod(1, divisor)
    unscale = False
    while True:
        if remainder == 0:
            if scale >= 0:
                break
            power = min(9, -scale)
        else:
            unscale = True
            power = 0 if scale == _SCALE_MAX else _scale_step(quotient, scale)
            if power is None:
                return None
            if power == 0:
                if 2 * remainder > divisor or (2 * remainder == divisor and quotient % 2 == 1):
                    quotient += 1
                    if quotient >= _MANTISSA_END:
                        return None
                break
        scale += power
        quotient *= 10**power
        if quotient >= _MANTISSA_END:
            return None
        remainder *= 10**power
        quotient += remainder // divisor
        remainder %= divisor
        if quotient >= _MANTISSA_END:
            # One place too many: take it off again, rounding (`unscale_from_overflow`).
            scale -= 1
            if scale < 0:
                return None
            quotient, digit = divmod(quotient, 10)
            if digit > 5 or (digit == 5 and (remainder != 0 or quotient % 2 == 1)):
                quotient += 1
            break
    if unscale:
        while quotient & 0xFFFFFFFF == 0 and scale >= 8 and quotient % 10**8 == 0:
            quotient //= 10**8
            scale -= 8
        for low_bits, places in ((0xF, 4), (0x3, 2), (0x1, 1)):
            if quotient & low_bits == 0 and scale >= places and quotient % 10**places == 0:
                quotient //= 10**places
                scale -= places
    return (-quotient if negative else quotient), scale


def _largest_below(places):
    """The largest mantissa that 10^places times still fits in 96 bits."""
    return (_MANTISSA_END - 1) // 10**places


def _scale_step(quotient, scale):
    """How many places rust_decimal's division adds next (`Buf12::find_scale`): nine while the
    quotient has room, else what its high 32 bits say fits; None when nothing fits."""
    high, low = quotient >> 64, quotient & _LOW_64_BITS
    if high > _largest_below(1) >> 64:
        return None if scale < 0 else 0
    if scale > _SCALE_MAX - 9:
        places = _SCALE_MAX - scale
        if high < _largest_below(places) >> 64:
            return None if places + scale < 0 else places
    elif high < _largest_below(9) >> 64 or (
        high == _largest_below(9) >> 64 and low <= _largest_below(9) & _LOW_64_BITS
    ):
        return 9
    below = [None] + [_largest_below(places) >> 64 for places in range(1, 9)]
    if high > below[5]:
        places = (1 if high > below[2] else 2) if high > below[3] else (3 if high > below[4] else 4)
    else:
        places = (5 if high > below[6] else 6) if high > below[7] else (7 if high > below[8] else 8)
    if high == below[places] and low > _largest_below(places) & _LOW_64_BITS:
        places -= 1
    return None if places + scale < 0 else places


def _boundary_context():
    """A fresh default decimal context (28 digits, half to even), as the component's interpreter
    starts with, whatever the test process's context is."""
    return decimal.Context(
        prec=28,
        rounding=decimal.ROUND_HALF_EVEN,
        traps=[decimal.InvalidOperation, decimal.DivisionByZero, decimal.Overflow],
    )


# --- What crosses the boundary ---


def _type_name(value):
    return "None" if value is None else f"a {type(value).__name__} ({value!r})"


def _annotation_name(annotation):
    if isinstance(annotation, type):
        return annotation.__name__
    return str(annotation).replace("typing.", "").replace("wit_world.imports.types.", "")


def _matches(value, annotation):
    """Whether `value` is of the generated `annotation` (and everything in it is)."""
    try:
        check_value(value, annotation, "value")
    except BoundaryError:
        return False
    return True


def check_value(value, annotation, where):
    """Checks a value against a type of the generated bindings, as componentize-py's lowering
    would take it; raises BoundaryError naming the offending field (`entries[0].lines[1].amount`)."""
    origin = typing.get_origin(annotation)
    if annotation is type(None):
        if value is not None:
            raise BoundaryError(f"{where} is {_type_name(value)}, not None")
        return
    if origin is typing.Union:
        alternatives = typing.get_args(annotation)
        if any(_matches(value, alternative) for alternative in alternatives):
            return
        if type(None) in alternatives and value is not None:
            present = [alternative for alternative in alternatives if alternative is not type(None)]
            if len(present) == 1:
                check_value(value, present[0], where)
        raise BoundaryError(f"{where} is {_type_name(value)}, not {_annotation_name(annotation)}")
    if origin in (list, typing.List):
        if not isinstance(value, (list, tuple)):
            raise BoundaryError(f"{where} is {_type_name(value)}, not a list")
        (item,) = typing.get_args(annotation)
        for index, element in enumerate(value):
            check_value(element, item, f"{where}[{index}]")
        return
    if origin in (tuple, typing.Tuple):
        items = typing.get_args(annotation)
        if not isinstance(value, (tuple, list)) or len(value) != len(items):
            raise BoundaryError(f"{where} is {_type_name(value)}, not a tuple of {len(items)}")
        for index, (element, item) in enumerate(zip(value, items)):
            check_value(element, item, f"{where}[{index}]")
        return
    if annotation is bool:
        if not isinstance(value, bool):
            raise BoundaryError(f"{where} is {_type_name(value)}, not a bool")
        return
    if annotation is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise BoundaryError(f"{where} is {_type_name(value)}, not an int")
        return
    if annotation is str:
        if not isinstance(value, str):
            raise BoundaryError(f"{where} is {_type_name(value)}, not a str")
        return
    if not isinstance(value, annotation):
        raise BoundaryError(f"{where} is {_type_name(value)}, not {_annotation_name(annotation)}")
    if dataclasses.is_dataclass(annotation):
        for field in dataclasses.fields(annotation):
            check_value(getattr(value, field.name), field.type, f"{where}.{field.name}")


def _is_hidden_character(character):
    """A control character (Unicode Cc, what Rust's `char::is_control` is) or a bidirectional
    override, which can reorder what a terminal shows."""
    return unicodedata.category(character) == "Cc" or "\u202a" <= character <= "\u202e" or "\u2066" <= character <= "\u2069"


def _escape_control_characters(text):
    """`text` with every control character and bidirectional override replaced by a visible
    escape such as `\\u{1b}`, as the host shows such text (`closebook_ledger::journal::
    escape_control_characters`). Other characters, backslashes included, are kept."""
    # Written without doubled braces: `closebook plugin new` copies this file through its
    # template renderer, which must find no placeholder in it.
    return "".join(
        "\\u" + "{" + format(ord(character), "x") + "}" if _is_hidden_character(character) else character
        for character in text
    )


def _quoted_for_message(text):
    """An offending value as the host's messages quote it: its first QUOTED_CHARS_MAX
    characters, escaped, with `…` when cut."""
    shown = _escape_control_characters(text[:QUOTED_CHARS_MAX])
    return shown + "…" if len(text) > QUOTED_CHARS_MAX else shown


def _check_text_length(where, field, text, maximum_chars):
    """Refuses a text of more than `maximum_chars` characters, as the host's `check_text_length`."""
    if len(text) > maximum_chars:
        raise BoundaryError(f"{where}: the {field} is {len(text)} characters long; at most {maximum_chars} are allowed")


def _check_id_text(where, field, text, maximum_chars):
    """Refuses an id, code, date or decimal longer than `maximum_chars` or holding a control
    character, as the host's `check_id_text`."""
    _check_text_length(where, field, text, maximum_chars)
    if any(_is_hidden_character(character) for character in text):
        raise BoundaryError(
            f"{where}: the {field} `{_quoted_for_message(text)}` contains a control character (shown escaped); "
            "ids, keys and codes may not contain control characters"
        )


def _check_dimension_texts(where, dimensions):
    for index, dimension in enumerate(dimensions):
        _check_id_text(f"{where}.dimensions[{index}].name", "dimension name", dimension.name, DIMENSION_CHARS_MAX)
        _check_id_text(f"{where}.dimensions[{index}].value", "dimension value", dimension.value, DIMENSION_CHARS_MAX)


def _check_output_texts(output):
    """The host's bounds on every text of a step's output (`host/src/plugin/bounds.rs`,
    `check_step_output`), in its order: the entries and their lines, the settlements, the
    messages, how many reconciling items, clearings and findings there are, then each of them."""
    for entry_index, proposed in enumerate(output.entries):
        where = f"run's result: entries[{entry_index}]"
        _check_id_text(f"{where}.entity", "entity", proposed.entity, ENTITY_CHARS_MAX)
        if proposed.period is not None:
            _check_id_text(f"{where}.period", "period", proposed.period, CODE_CHARS_MAX)
        _check_id_text(f"{where}.date", "date", proposed.date, CODE_CHARS_MAX)
        if proposed.reversal_date is not None:
            _check_id_text(f"{where}.reversal_date", "reversal date", proposed.reversal_date, CODE_CHARS_MAX)
        _check_text_length(f"{where}.description", "entry description", proposed.description, DESCRIPTION_CHARS_MAX)
        for line_index, proposed_line in enumerate(proposed.lines):
            at = f"{where}.lines[{line_index}]"
            _check_id_text(f"{at}.account", "account", proposed_line.account, ACCOUNT_CHARS_MAX)
            _check_dimension_texts(at, proposed_line.dimensions)
            if proposed_line.currency is not None:
                _check_id_text(f"{at}.currency", "currency", proposed_line.currency, CODE_CHARS_MAX)
            _check_id_text(f"{at}.amount", "amount", proposed_line.amount, DECIMAL_CHARS_MAX)
            if proposed_line.accounting_amount is not None:
                _check_id_text(f"{at}.accounting_amount", "accounting amount", proposed_line.accounting_amount, DECIMAL_CHARS_MAX)
            if proposed_line.description is not None:
                _check_text_length(f"{at}.description", "line description", proposed_line.description, DESCRIPTION_CHARS_MAX)
    for index, settlement in enumerate(output.settlements):
        _check_id_text(f"run's result: settlements[{index}].entity", "entity", settlement.entity, ENTITY_CHARS_MAX)
    for index, message in enumerate(output.messages):
        _check_text_length(f"run's result: messages[{index}].text", "message", message.text, MESSAGE_CHARS_MAX)
    for field, what, count in (
        ("reconciling_items", "reconciling items", len(output.reconciling_items)),
        ("cleared_items", "clearings", len(output.cleared_items)),
        ("findings", "findings", len(output.findings)),
    ):
        if count > RECONCILIATION_PROPOSALS_MAX:
            raise BoundaryError(
                f"run's result: {field}: the output holds {count} {what}; at most {RECONCILIATION_PROPOSALS_MAX} "
                "are allowed (RECONCILIATION_PROPOSALS_MAX)"
            )
    for index, item in enumerate(output.reconciling_items):
        where = f"run's result: reconciling_items[{index}]"
        _check_id_text(f"{where}.entity", "entity", item.entity, ENTITY_CHARS_MAX)
        _check_id_text(f"{where}.account", "account", item.account, ACCOUNT_CHARS_MAX)
        _check_dimension_texts(where, item.dimensions)
        _check_id_text(f"{where}.period", "period", item.period, CODE_CHARS_MAX)
        _check_id_text(f"{where}.amount", "amount", item.amount, DECIMAL_CHARS_MAX)
        _check_text_length(f"{where}.explanation", "explanation", item.explanation, DESCRIPTION_CHARS_MAX)
        _check_id_text(f"{where}.expected_clear", "expected clearing date", item.expected_clear, CODE_CHARS_MAX)
        _check_text_length(f"{where}.reference", "reference", item.reference, DESCRIPTION_CHARS_MAX)
    for index, clearing in enumerate(output.cleared_items):
        where = f"run's result: cleared_items[{index}]"
        _check_id_text(f"{where}.entity", "entity", clearing.entity, ENTITY_CHARS_MAX)
        _check_id_text(f"{where}.period", "period", clearing.period, CODE_CHARS_MAX)
        _check_text_length(f"{where}.note", "clearing note", clearing.note, DESCRIPTION_CHARS_MAX)
    for index, finding in enumerate(output.findings):
        where = f"run's result: findings[{index}]"
        _check_id_text(f"{where}.entity", "entity", finding.entity, ENTITY_CHARS_MAX)
        _check_id_text(f"{where}.account", "account", finding.account, ACCOUNT_CHARS_MAX)
        _check_dimension_texts(where, finding.dimensions)
        _check_text_length(f"{where}.measure", "measure", finding.measure, DESCRIPTION_CHARS_MAX)
        _check_id_text(f"{where}.current", "current", finding.current, DECIMAL_CHARS_MAX)
        _check_id_text(f"{where}.baseline", "baseline", finding.baseline, DECIMAL_CHARS_MAX)
        _check_text_length(f"{where}.threshold", "threshold", finding.threshold, DESCRIPTION_CHARS_MAX)
        _check_text_length(f"{where}.message", "finding message", finding.message, MESSAGE_CHARS_MAX)


def _check_output(output):
    """Checks a step's output as the boundary and the host would: the types, then the host's
    bounds on every text and on how many reconciling items, clearings and findings it holds,
    then every amount and date."""
    check_value(output, types.StepOutput, "run's result")
    _check_output_texts(output)
    for entry_index, entry in enumerate(output.entries):
        where = f"run's result: entries[{entry_index}]"
        date_text(entry.date, f"{where}.date")
        if entry.reversal_date is not None:
            date_text(entry.reversal_date, f"{where}.reversal_date")
        for line_index, proposed in enumerate(entry.lines):
            decimal_value(proposed.amount, f"{where}.lines[{line_index}].amount")
            if proposed.accounting_amount is not None:
                decimal_value(proposed.accounting_amount, f"{where}.lines[{line_index}].accounting_amount")
    for index, settlement in enumerate(output.settlements):
        for position, line_id in enumerate(settlement.line_ids):
            if not 0 <= line_id <= U64_MAX:
                raise BoundaryError(f"run's result: settlements[{index}].line_ids[{position}] {line_id} is not a u64")
    for index, item in enumerate(output.reconciling_items):
        where = f"run's result: reconciling_items[{index}]"
        decimal_value(item.amount, f"{where}.amount")
        date_text(item.expected_clear, f"{where}.expected_clear")
    for index, clearing in enumerate(output.cleared_items):
        if not 0 <= clearing.item_id <= U64_MAX:
            raise BoundaryError(f"run's result: cleared_items[{index}].item_id {clearing.item_id} is not a u64")
    for index, finding in enumerate(output.findings):
        where = f"run's result: findings[{index}]"
        decimal_value(finding.current, f"{where}.current")
        decimal_value(finding.baseline, f"{where}.baseline")


# --- Builders of the records a step and a fixture propose ---


def line(account, amount, *, dimensions=None, currency=None, accounting_amount=None, description=None):
    """A `types.ProposedLine`: `amount` is positive for a debit, negative for a credit, as a
    `str` or a `Decimal`; `dimensions` a name → value mapping; `currency` the transaction
    currency when not the accounting currency, with its `accounting_amount` (converted at the
    entity's default rate type on the entry date when none)."""
    return types.ProposedLine(
        account=account,
        dimensions=[types.Dimension(name=name, value=value) for name, value in (dimensions or {}).items()],
        currency=currency,
        amount=decimal_text(amount, f"line {account}: amount"),
        accounting_amount=None
        if accounting_amount is None
        else decimal_text(accounting_amount, f"line {account}: accounting amount"),
        description=description,
    )


def entry(entity, date, description, lines, *, period=None, reversal_date=None):
    """A `types.ProposedEntry`: the lines (`line(...)`), dated `date` (a `datetime.date` or
    `YYYY-MM-DD`), in the operating period of its date unless `period` names one, reversed on
    `reversal_date` when given."""
    return types.ProposedEntry(
        entity=entity,
        period=period,
        date=date_text(date, f"entry {description!r}: date"),
        description=description,
        lines=list(lines),
        reversal_date=None if reversal_date is None else date_text(reversal_date, f"entry {description!r}: reversal date"),
    )


# --- The ledger ---


@dataclasses.dataclass
class _Rate:
    from_: str
    to: str
    rate_type: str
    effective: datetime.date
    rate: Decimal


@dataclasses.dataclass
class _Entity:
    info: typing.Any
    accounts: dict
    # In calendar order: opening, operating periods, closing.
    periods: list
    # In posting (id) order.
    lines: list


def _calendar_order(period):
    """By start date, and on the same start date opening before operating before closing."""
    rank = {types.PeriodKind.OPENING: 0, types.PeriodKind.OPERATING: 1, types.PeriodKind.CLOSING: 2}
    return (period.start, rank[period.kind])


def _first_of_month(year, month, months_later):
    index = year * 12 + (month - 1) + months_later
    return datetime.date(index // 12, index % 12 + 1, 1)


def _last_day_of_month(first_day):
    return _first_of_month(first_day.year, first_day.month, 1) - datetime.timedelta(days=1)


def _canonical_dimensions(dimensions):
    """`cost-center=CC7;department=100`: the host's order of dimension sets."""
    return ";".join(f"{name}={value}" for name, value in sorted((d.name, d.value) for d in dimensions))


def _refused(message):
    return Err(types.QueryError(message=message))


def _is_valid_dimension_text(text):
    """Whether a dimension name or value is one the host can hold (`closebook_ledger::dimension::
    is_valid_dimension_text`): not empty, no spaces around it, no `=`, `;` or newline in it."""
    return (
        text != ""
        and text.strip(_UNICODE_WHITE_SPACE) == text
        and not any(reserved in text for reserved in _DIMENSION_RESERVED_CHARACTERS)
    )


def _enum_member(enum, value, where):
    """An enum member, given as the member or as its WIT name (`"liability"`, `"on-hold"`)."""
    if isinstance(value, enum):
        return value
    if isinstance(value, str):
        member = getattr(enum, value.upper().replace("-", "_"), None)
        if isinstance(member, enum):
            return member
    raise FixtureError(f"{where} {value!r} is not one of {', '.join(member.name.lower() for member in enum)}")


class TestLedger:
    """An in-memory ledger for a step's unit tests. Build it with the setup methods, post
    fixture entries, then run the step with `run_step` and inspect the output and `logs()`.

    ```
    ledger = TestLedger()
    ledger.add_currency("USD", 2)
    ledger.add_entity("ACME", "Acme Inc.", "USD", "3900", "spot")
    ledger.add_account("ACME", "1100", "Bank", "asset")
    ledger.add_account("ACME", "4000", "Sales", "revenue")
    ledger.add_fiscal_year("ACME", 2026)
    ledger.post(entry("ACME", "2026-01-15", "Sale", [line("1100", "100.00"), line("4000", "-100.00")]))
    output = ledger.run_step(app, ledger.step_input("ACME", "2026-01", {"amount": "1500.00"}))
    ```

    The query methods (`entity`, `currencies`, `accounts`, `dimensions`, `periods`, `balances`,
    `lines`, `rate`, `statement`, `reconciling_items`) are the WIT `ledger` interface's, with its
    types; the step calls them through `wit_world.imports.ledger` while the ledger is active.
    """

    # Not a test case, although its name starts with Test (pytest would collect it otherwise).
    __test__ = False

    def __init__(self):
        self._currencies = {}
        self._dimensions = {}
        self._entities = {}
        self._rates = []
        self._log = []
        # Imported bank statements and open reconciling items, by reconciliation: entity,
        # account, dimension values (canonical text) and period.
        self._statements = {}
        self._open_items = {}
        self._entries_posted = 0
        self._lines_posted = 0
        self._settlements_recorded = 0

    # --- Setup ---

    def add_currency(self, code, minor_units):
        """Registers a currency with its minor units (USD 2, JPY 0)."""
        if isinstance(minor_units, bool) or not isinstance(minor_units, int) or not 0 <= minor_units <= 255:
            raise FixtureError(f"currency {code}: minor units {minor_units!r} is not a u8")
        self._currencies[code] = types.CurrencyInfo(code=code, minor_units=minor_units)
        return self

    def add_dimension(self, name, values):
        """Registers a financial dimension and its values."""
        self._dimensions[name] = types.DimensionInfo(name=name, values=sorted(values))
        return self

    def add_entity(self, id, name, currency, retained_earnings_account, default_rate_type, *, penny_rounding_account=None):
        """Registers an entity. Its accounting currency must be registered first."""
        if currency not in self._currencies:
            raise FixtureError(f"entity {id}: register currency {currency} before the entity")
        if id in self._entities:
            raise FixtureError(f"entity {id} is registered twice")
        info = types.EntityInfo(
            id=id,
            name=name,
            currency=currency,
            retained_earnings_account=retained_earnings_account,
            default_rate_type=default_rate_type,
            penny_rounding_account=penny_rounding_account,
        )
        self._entities[id] = _Entity(info=info, accounts={}, periods=[], lines=[])
        return self

    def add_account(
        self,
        entity,
        number,
        name,
        account_type,
        *,
        revalue=False,
        settle=False,
        rate_type=None,
        fixed_currency=None,
        category=None,
        blocked=False,
    ):
        """Adds an account to an entity's chart; `account_type` is a `types.AccountType` or its
        WIT name (`"asset"`, `"liability"`, `"equity"`, `"revenue"`, `"expense"`)."""
        known = self._entity_for_setup(entity)
        known.accounts[number] = types.AccountInfo(
            number=number,
            name=name,
            account_type=_enum_member(types.AccountType, account_type, f"account {number}: type"),
            revalue=revalue,
            settle=settle,
            rate_type=rate_type,
            fixed_currency=fixed_currency,
            category=category,
            blocked=blocked,
        )
        return self

    def add_fiscal_year(self, entity, year):
        """Adds a fiscal year that follows the calendar year: `FY{year}-opening` (1 January
        only), the twelve monthly periods `YYYY-MM`, and `FY{year}-closing` (the dates of
        December), all open. The same as `add_fiscal_year_starting(entity, year, 1)`."""
        return self.add_fiscal_year_starting(entity, year, 1)

    def add_fiscal_year_starting(self, entity, end_year, start_month):
        """Adds a fiscal year the way the host's calendars shape it, for a calendar that starts
        in `start_month`: named by the calendar year in which it ends (`FY2026` starting in July
        runs from 2025-07-01 to 2026-06-30); a one-day opening period on its first day; twelve
        monthly operating periods `YYYY-MM`; a closing period with the dates of the last. All open."""
        if isinstance(start_month, bool) or not isinstance(start_month, int) or not 1 <= start_month <= 12:
            raise FixtureError(f"start month {start_month!r} is not a month (1 to 12)")
        fiscal_year = f"FY{end_year}"
        start_year = end_year if start_month == 1 else end_year - 1
        months = [_first_of_month(start_year, start_month, index) for index in range(12)]

        def period(name, kind, start, end):
            return types.PeriodInfo(
                name=name,
                kind=kind,
                start=start.isoformat(),
                end=end.isoformat(),
                fiscal_year=fiscal_year,
                status=types.PeriodStatus.OPEN,
            )

        periods = [period(f"{fiscal_year}-opening", types.PeriodKind.OPENING, months[0], months[0])]
        for start in months:
            periods.append(
                period(f"{start.year:04}-{start.month:02}", types.PeriodKind.OPERATING, start, _last_day_of_month(start))
            )
        periods.append(period(f"{fiscal_year}-closing", types.PeriodKind.CLOSING, months[11], _last_day_of_month(months[11])))
        for known in periods:
            self.add_period(entity, known)
        return self

    def add_period(self, entity, period):
        """Adds one period (a `types.PeriodInfo`) of any shape, for calendars that are not the
        calendar year."""
        check_value(period, types.PeriodInfo, "the period")
        _date_value(period.start, f"period {period.name}: start", FixtureError)
        _date_value(period.end, f"period {period.name}: end", FixtureError)
        known = self._entity_for_setup(entity)
        if any(existing.name == period.name for existing in known.periods):
            raise FixtureError(f"period {period.name} is added twice to entity {entity}")
        known.periods.append(copy.deepcopy(period))
        known.periods.sort(key=_calendar_order)
        return self

    def set_period_status(self, entity, period, status):
        """Sets a period's status: a `types.PeriodStatus` or its WIT name (`"on-hold"`)."""
        known = self._entity_for_setup(entity)
        for existing in known.periods:
            if existing.name == period:
                existing.status = _enum_member(types.PeriodStatus, status, f"period {period}: status")
                return self
        raise FixtureError(f"period {period} does not exist in entity {entity}")

    def add_rate(self, from_, to, rate_type, effective, rate):
        """Adds an exchange rate: 1 `from_` = `rate` `to` of a rate type, effective from a date."""
        effective_date = _date_value(date_text(effective, "rate effective date"), "rate effective date", FixtureError)
        value = decimal_value(decimal_text(rate, f"rate {from_}->{to}"), f"rate {from_}->{to}")
        self._rates.append(_Rate(from_=from_, to=to, rate_type=rate_type, effective=effective_date, rate=value))
        return self

    def post(self, proposed):
        """Posts a `types.ProposedEntry` as the host would after validation, and returns the ids
        of its lines. The period is the one the entry names, else the operating period of its
        date. A line without a currency is in the accounting currency; a foreign line without an
        accounting amount is converted at the entity's default rate type on the entry date and
        rounded to the accounting currency. A line without a description takes the entry's. A
        reversal date posts the reversing entry too, in the operating period of that date, with
        every amount negated and the lines' descriptions kept. Period status is not checked, so
        fixtures can build history in closed periods."""
        try:
            check_value(proposed, types.ProposedEntry, "the entry")
        except BoundaryError as error:
            raise FixtureError(str(error)) from None
        entry_date = _date_value(proposed.date, f"entry {proposed.description!r}: date", FixtureError)
        line_ids = self._post_one(proposed, entry_date, reverse=False)
        if proposed.reversal_date is not None:
            reversal_date = _date_value(proposed.reversal_date, f"entry {proposed.description!r}: reversal date", FixtureError)
            line_ids.extend(self._post_one(proposed, reversal_date, reverse=True))
        return line_ids

    def post_output(self, output):
        """Posts every entry and records every settlement of a step's output, so that a test
        can run a later step on the result. Its reconciling items, clearings and findings are
        not recorded (as in the Rust harness): give a later step its open items with
        `add_open_item`."""
        for proposed in output.entries:
            self.post(proposed)
        for settlement in output.settlements:
            self.settle(settlement)

    def settle(self, settlement):
        """Records a `types.ProposedSettlement`: its lines get a new settlement id, returned.
        The lines must exist, be unsettled, share one account and sum to zero."""
        known = self._entity_for_setup(settlement.entity)
        by_id = {posted.id: posted for posted in known.lines}
        account = None
        total = Decimal(0)
        for line_id in settlement.line_ids:
            posted = by_id.get(line_id)
            if posted is None:
                raise FixtureError(f"settlement: line {line_id} does not exist in entity {settlement.entity}")
            if posted.settlement_id is not None:
                raise FixtureError(f"settlement: line {line_id} is already settled")
            if account is not None and posted.account != account:
                raise FixtureError(f"settlement: line {line_id} is on another account")
            account = posted.account
            total += Decimal(posted.accounting_amount)
        if total != 0:
            raise FixtureError(f"settlement: the lines sum to {_text(total)}, not zero")
        self._settlements_recorded += 1
        for line_id in settlement.line_ids:
            by_id[line_id].settlement_id = self._settlements_recorded
        return self._settlements_recorded

    def add_statement(self, entity, account, period, statement):
        """Imports a bank statement (a `types.BankStatement`) for the reconciliation of `account`
        of `entity` in `period`, over the whole account: the `statement` query reads it back,
        its lines ordered by line number as the host returns them. Another statement for the
        same reconciliation replaces it, as the latest import wins. Refused as the host refuses
        the import: a line number given twice, a line dated outside the period, or lines that do
        not take the opening balance to the closing one."""
        key = self._reconciliation_key(entity, account, period)
        target = self._period_info(entity, period)
        start, end = datetime.date.fromisoformat(target.start), datetime.date.fromisoformat(target.end)
        try:
            check_value(statement, types.BankStatement, "the statement")
        except BoundaryError as error:
            raise FixtureError(str(error)) from None
        opening = _fixture_decimal(statement.opening, "statement: opening")
        closing = _fixture_decimal(statement.closing, "statement: closing")
        total = Decimal(0)
        line_numbers = set()
        for index, statement_line in enumerate(statement.lines):
            where = f"statement line {index + 1}"
            if not 0 <= statement_line.line_no <= U32_MAX:
                raise FixtureError(f"{where}: line_no {statement_line.line_no} is not a u32")
            if statement_line.line_no in line_numbers:
                raise FixtureError(f"{where}: line_no {statement_line.line_no} is given twice: number each line once")
            line_numbers.add(statement_line.line_no)
            day = _date_value(statement_line.date, f"{where}: date", FixtureError)
            if not start <= day <= end:
                raise FixtureError(
                    f"{where}: {day} is outside period {target.name} ({target.start} to {target.end}): "
                    "import each period's statement for its period"
                )
            total += _fixture_decimal(statement_line.amount, f"{where}: amount")
        if opening + total != closing:
            raise FixtureError(
                f"statement: opening {statement.opening} plus the lines ({_text(total)}) is not the closing "
                f"balance {statement.closing}"
            )
        kept = copy.deepcopy(statement)
        kept.lines.sort(key=lambda statement_line: statement_line.line_no)
        self._statements[key] = kept
        return self

    def add_open_item(self, entity, account, period, item):
        """Makes `item` (a `types.OpenItem`) one of the reconciling items of `period` in the
        reconciliation of `account` of `entity`, over the whole account: the
        `reconciling_items` query of that period returns it. `item.period` is the period it was
        opened in: a period of the entity, `period` or an earlier one.

        Carrying an item forward stays the test's job: add the item (the same id) to each
        period it is open in, from the one it was opened in on, and to the period it clears in
        with `cleared=True`, as the host's ledger would answer for each; to no later one.

        Refused as the host would never hold it: an opening period that does not exist or comes
        after `period`, an id already added to this period's reconciliation, an amount of zero,
        or one with more decimals than the entity's currency has."""
        key = self._reconciliation_key(entity, account, period)
        try:
            check_value(item, types.OpenItem, "the open item")
        except BoundaryError as error:
            raise FixtureError(str(error)) from None
        if not 0 <= item.id <= U64_MAX:
            raise FixtureError(f"open item: id {item.id} is not a u64")
        where = f"open item {item.id}"
        amount = _fixture_decimal(item.amount, f"{where}: amount")
        currency = self._entities[entity].info.currency
        minor_units = self._currencies[currency].minor_units
        if _decimals_used(amount) > minor_units:
            raise FixtureError(f"{where}: amount {item.amount} has more decimals than {currency}'s {minor_units}")
        if amount.is_zero():
            raise FixtureError(f"{where}: a reconciling item of 0 explains nothing")
        _date_value(item.expected_clear, f"{where}: expected_clear", FixtureError)
        names = [candidate.name for candidate in self._entities[entity].periods]
        if item.period not in names:
            raise FixtureError(f"{where}: period {item.period} does not exist in entity {entity}")
        if names.index(item.period) > names.index(period):
            raise FixtureError(
                f"{where}: opened in {item.period}, after {period}: an item is a reconciling item of the period "
                "it was opened in and later ones"
            )
        items = self._open_items.setdefault(key, [])
        if any(existing.id == item.id for existing in items):
            raise FixtureError(f"{where} is added twice to the reconciliation of {account} of {entity} in {period}")
        items.append(copy.deepcopy(item))
        return self

    # --- Running a step ---

    def step_input(self, entity, period, config):
        """A `types.StepInput` for `entity` and `period` with this configuration (a dict, given
        to the step as JSON, or JSON text): every registered entity readable, only `entity`
        postable, balances as of the period end."""
        known = self._entities.get(entity)
        if known is None:
            raise FixtureError(f"entity {entity} does not exist")
        info = next((candidate for candidate in known.periods if candidate.name == period), None)
        if info is None:
            raise FixtureError(f"period {period} does not exist in entity {entity}")
        if isinstance(config, str):
            json.loads(config)
        else:
            config = json.dumps(config)
        return types.StepInput(
            entity=entity,
            period=copy.deepcopy(info),
            entities=[types.EntityAccess(entity=other, post=other == entity) for other in sorted(self._entities)],
            as_of=info.end,
            config=config,
        )

    @contextlib.contextmanager
    def active(self):
        """Within the block, this ledger answers the `ledger` and `log` imports: for calling a
        step's own functions directly (`run_step` and `describe` do it for you)."""
        _SERVING.append(self)
        try:
            yield self
        finally:
            _SERVING.remove(self)

    def describe(self, step):
        """Calls the step's `describe` (`step`: the module `load_step` returned, its `WitWorld`
        class or an instance) and checks the `types.StepInfo`, whose configuration schema must
        be a JSON object."""
        world = _world(step)
        with self.active(), decimal.localcontext(_boundary_context()):
            info = world.describe()
        check_value(info, types.StepInfo, "describe's result")
        try:
            schema = json.loads(info.config_schema)
        except ValueError as error:
            raise BoundaryError(f"describe's result: config_schema is not JSON: {error}") from None
        if not isinstance(schema, dict):
            raise BoundaryError("describe's result: config_schema is not a JSON object")
        return info

    def run_step(self, step, step_input):
        """Runs the step's `run` against this ledger as the component would, in a fresh decimal
        context, and returns its `types.StepOutput`, checked as it crosses the boundary. A
        refusal raises `StepRefusal`, the `Err(types.StepError)` the step raised; any other exception
        (a trap in the component) propagates as it is."""
        world = _world(step)
        check_value(step_input, types.StepInput, "the step input")
        refusal = None
        with self.active(), decimal.localcontext(_boundary_context()):
            try:
                output = world.run(copy.deepcopy(step_input))
            except Err as error:
                refusal = error.value
        if refusal is not None:
            check_value(refusal, types.StepError, "run's error")
            raise StepRefusal(refusal)
        _check_output(output)
        return output

    def logs(self):
        """Every message the steps run so far wrote to the log, oldest first, as `types.Message`."""
        return copy.deepcopy(self._log)

    def posted_lines(self, entity):
        """Every line posted in an entity, in posting order, as `types.PostedLine`."""
        return copy.deepcopy(self._entity_for_setup(entity).lines)

    # --- The WIT `ledger` interface ---

    def entity(self, entity):
        check_value(entity, str, "entity: entity")
        return copy.deepcopy(self._known_entity(entity).info)

    def currencies(self):
        return [copy.deepcopy(self._currencies[code]) for code in sorted(self._currencies)]

    def accounts(self, entity):
        check_value(entity, str, "accounts: entity")
        known = self._known_entity(entity)
        return [copy.deepcopy(known.accounts[number]) for number in sorted(known.accounts)]

    def dimensions(self):
        return [copy.deepcopy(self._dimensions[name]) for name in sorted(self._dimensions)]

    def periods(self, entity, fiscal_year):
        check_value(entity, str, "periods: entity")
        check_value(fiscal_year, typing.Optional[str], "periods: fiscal_year")
        known = self._known_entity(entity)
        return [
            copy.deepcopy(period) for period in known.periods if fiscal_year is None or period.fiscal_year == fiscal_year
        ]

    def balances(self, query):
        check_value(query, types.BalanceQuery, "balances: query")
        known = self._known_entity(query.entity)
        periods = set(self._period_range(known, query.from_period, query.to_period))
        rows = {}
        for posted in known.lines:
            if posted.period not in periods:
                continue
            account = known.accounts.get(posted.account)
            if account is None or not _account_matches(query.accounts, account):
                continue
            if query.currency is not None and query.currency != posted.currency:
                continue
            if not all(wanted in posted.dimensions for wanted in query.dimension_filter):
                continue
            dimensions = _kept_dimensions(posted, query.group_by_dimensions)
            # Keyed like the host's rows, so they come out in the host's order: account, the
            # dimension set's canonical text, currency.
            key = (posted.account, _canonical_dimensions(dimensions), posted.currency)
            row = rows.get(key)
            if row is None:
                row = rows[key] = [posted.account, dimensions, posted.currency, Decimal(0), Decimal(0), Decimal(0), Decimal(0)]
            accounting_amount = Decimal(posted.accounting_amount)
            row[3] += Decimal(posted.amount)
            row[4] += accounting_amount
            if accounting_amount.is_signed():
                row[6] -= accounting_amount
            else:
                row[5] += accounting_amount
        return [
            types.BalanceRow(
                account=account,
                dimensions=copy.deepcopy(dimensions),
                currency=currency,
                amount=_text(amount),
                accounting_amount=_text(accounting_amount),
                debit=_text(debit),
                credit=_text(credit),
            )
            for account, dimensions, currency, amount, accounting_amount, debit, credit in (rows[key] for key in sorted(rows))
        ]

    def lines(self, query):
        check_value(query, types.LineQuery, "lines: query")
        if not 0 <= query.limit <= U32_MAX:
            raise BoundaryError(f"lines: query.limit {query.limit} is not a u32")
        if query.after is not None and not 0 <= query.after <= U64_MAX:
            raise BoundaryError(f"lines: query.after {query.after} is not a u64")
        if query.limit == 0:
            raise _refused("a line query's limit must be at least 1")
        known = self._known_entity(query.entity)
        if query.account not in known.accounts:
            raise _refused(f"account {query.account} does not exist in entity {query.entity}")
        periods = set(self._period_range(known, query.from_period, query.to_period))
        page_size = min(query.limit, LINE_PAGE_SIZE_MAX)
        matching = [
            posted
            for posted in known.lines
            if posted.account == query.account
            and posted.period in periods
            and (query.after is None or posted.id > query.after)
            and (query.include_settled or posted.settlement_id is None)
        ]
        page = matching[:page_size]
        more = len(matching) > page_size
        return types.LinePage(lines=copy.deepcopy(page), next=page[-1].id if more and page else None)

    def rate(self, from_, to, rate_type, on):
        for value, where in ((from_, "from_"), (to, "to"), (rate_type, "rate_type"), (on, "on")):
            check_value(value, str, f"rate: {where}")
        try:
            day = _date_value(on, "", ValueError)
        except ValueError:
            raise _refused(f"`{on}` is not a date (YYYY-MM-DD)") from None
        value = self._rate(from_, to, rate_type, day)
        return None if value is None else _text(value)

    def statement(self, query):
        check_value(query, types.StatementQuery, "statement: query")
        return copy.deepcopy(self._statements.get(self._reconciliation_of(query)))

    def reconciling_items(self, query):
        check_value(query, types.StatementQuery, "reconciling_items: query")
        items = self._open_items.get(self._reconciliation_of(query), [])
        # Oldest first, as the host orders them: by id.
        return copy.deepcopy(sorted(items, key=lambda item: item.id))

    def log(self, level, message):
        """The WIT `log` interface: keeps the message for `logs()`."""
        check_value(level, types.Level, "log: level")
        check_value(message, str, "log: message")
        self._log.append(types.Message(level=level, text=message))

    # --- Internals ---

    def _entity_for_setup(self, entity):
        known = self._entities.get(entity)
        if known is None:
            raise FixtureError(f"entity {entity} does not exist: register it first")
        return known

    def _known_entity(self, entity):
        known = self._entities.get(entity)
        if known is None:
            raise _refused(f"entity {entity} does not exist")
        return known

    def _period_info(self, entity, period):
        return next(candidate for candidate in self._entity_for_setup(entity).periods if candidate.name == period)

    def _reconciliation_key(self, entity, account, period):
        """The key of the reconciliation of `account` of `entity` in `period`, over the whole
        account, for a fixture: the entity, the account and the period must exist."""
        known = self._entity_for_setup(entity)
        if account not in known.accounts:
            raise FixtureError(f"account {account} does not exist in entity {entity}")
        if not any(candidate.name == period for candidate in known.periods):
            raise FixtureError(f"period {period} does not exist in entity {entity}")
        return (entity, account, "", period)

    def _reconciliation_of(self, query):
        """The reconciliation a statement or reconciling-items query names, refused as the host
        refuses it (`closebook_ledger::reconcile::scope`), in its order: an unknown entity,
        period or account, then each dimension (given as `name=value`, split at its first `=`):
        one that is not well formed, an unknown name, an unknown value, a name given twice."""
        known = self._known_entity(query.entity)
        if not any(candidate.name == query.period for candidate in known.periods):
            raise _refused(f"period {query.period} does not exist in entity {query.entity}")
        if query.account not in known.accounts:
            raise _refused(
                f"account {query.account} is not in the chart of entity {query.entity}: check the number "
                "(`closebook report trial-balance` lists the accounts with balances)"
            )
        values = {}
        for dimension in query.dimensions:
            pair = f"{dimension.name}={dimension.value}"
            name, _, value = pair.partition("=")
            if not _is_valid_dimension_text(name) or not _is_valid_dimension_text(value):
                raise _refused(
                    f"dimension `{pair}` is not NAME=VALUE without spaces around them or `;` in them, like department=100"
                )
            defined = self._dimensions.get(name)
            if defined is None:
                raise _refused(f"dimension `{name}` does not exist (the dimensions are {', '.join(sorted(self._dimensions))})")
            if value not in defined.values:
                raise _refused(f"dimension {name} has no value {value}")
            if name in values:
                raise _refused(f"dimension {name} is given twice: give it once")
            values[name] = value
        canonical = ";".join(f"{name}={value}" for name, value in sorted(values.items()))
        return (query.entity, query.account, canonical, query.period)

    def _period_range(self, known, from_period, to_period):
        """The names of the periods from `from_period` to `to_period` inclusive, in calendar order."""
        names = [period.name for period in known.periods]
        for name in (from_period, to_period):
            if name not in names:
                raise _refused(f"period {name} does not exist in entity {known.info.id}")
        first, last = names.index(from_period), names.index(to_period)
        if first > last:
            raise _refused(
                f"period range {from_period}..{to_period} runs backwards: {from_period} comes after {to_period}"
            )
        return names[first : last + 1]

    def _rate(self, from_, to, rate_type, on):
        # The host's rule (`RateTable::rate_on`): the same currency is 1; a pair with any rate of
        # the type uses only its own series, even when none is effective yet on the date; only a
        # pair with no rate of the type at all falls back to the opposite pair's rate, inverted
        # and rounded. No triangulation through a third currency.
        if from_ == to:
            return Decimal(1)

        def latest(first, second):
            # Among rates with the same effective date the last one added wins, as in the host.
            found = None
            for known in self._rates:
                if known.from_ == first and known.to == second and known.rate_type == rate_type and known.effective <= on:
                    if found is None or known.effective >= found.effective:
                        found = known
            return None if found is None else found.rate

        if any(known.from_ == from_ and known.to == to and known.rate_type == rate_type for known in self._rates):
            return latest(from_, to)
        opposite = latest(to, from_)
        return None if opposite is None else _inverse_rate(opposite)

    def _post_one(self, proposed, day, reverse):
        """Posts an entry, or its reversal (amounts negated) on `day`."""
        known = self._entities.get(proposed.entity)
        if known is None:
            raise FixtureError(f"entry {proposed.description!r}: entity {proposed.entity} does not exist")
        if proposed.period is not None and not reverse:
            period = next((candidate for candidate in known.periods if candidate.name == proposed.period), None)
        else:
            period = next(
                (
                    candidate
                    for candidate in known.periods
                    if candidate.kind == types.PeriodKind.OPERATING
                    and datetime.date.fromisoformat(candidate.start) <= day <= datetime.date.fromisoformat(candidate.end)
                ),
                None,
            )
        if period is None:
            raise FixtureError(f"entry {proposed.description!r}: no period for {day} in entity {proposed.entity}")
        # The host refuses a date outside the period an entry names.
        if not datetime.date.fromisoformat(period.start) <= day <= datetime.date.fromisoformat(period.end):
            raise FixtureError(
                f"entry {proposed.description!r}: date {day} is outside period {period.name} "
                f"({period.start} to {period.end})"
            )
        sign = Decimal(-1) if reverse else Decimal(1)
        pending = []
        for index, proposed_line in enumerate(proposed.lines):
            where = f"entry {proposed.description!r}, line {index + 1}"
            if proposed_line.account not in known.accounts:
                raise FixtureError(
                    f"entry {proposed.description!r}: account {proposed_line.account} does not exist in entity {proposed.entity}"
                )
            currency = proposed_line.currency or known.info.currency
            amount = _fixture_decimal(proposed_line.amount, f"{where}: amount")
            if proposed_line.accounting_amount is not None:
                accounting_amount = _fixture_decimal(proposed_line.accounting_amount, f"{where}: accounting amount")
            elif currency == known.info.currency:
                accounting_amount = amount
            else:
                accounting_amount = self._convert(known.info, currency, amount, datetime.date.fromisoformat(proposed.date))
            pending.append(
                (
                    proposed_line.account,
                    sorted(proposed_line.dimensions, key=lambda dimension: (dimension.name, dimension.value)),
                    currency,
                    amount * sign,
                    accounting_amount * sign,
                    proposed_line.description if proposed_line.description is not None else proposed.description,
                )
            )
        total = sum((pending_line[4] for pending_line in pending), Decimal(0))
        if total != 0:
            raise FixtureError(f"entry {proposed.description!r}: accounting amounts sum to {_text(total)}, not zero")
        self._entries_posted += 1
        entry_id = self._entries_posted
        line_ids = []
        for account, dimensions, currency, amount, accounting_amount, line_description in pending:
            self._lines_posted += 1
            line_ids.append(self._lines_posted)
            known.lines.append(
                types.PostedLine(
                    id=self._lines_posted,
                    entry_id=entry_id,
                    entry_key=f"TEST-{entry_id:06}",
                    date=day.isoformat(),
                    period=period.name,
                    account=account,
                    dimensions=copy.deepcopy(dimensions),
                    currency=currency,
                    amount=_text(amount),
                    accounting_amount=_text(accounting_amount),
                    description=line_description,
                    settlement_id=None,
                )
            )
        return line_ids

    def _convert(self, entity_info, currency, amount, on):
        """Converts a foreign amount at the entity's default rate type, rounded to the
        accounting currency's minor units."""
        rate = self._rate(currency, entity_info.currency, entity_info.default_rate_type, on)
        if rate is None:
            raise FixtureError(
                f"no {entity_info.default_rate_type} rate from {currency} to {entity_info.currency} on {on}: "
                "add one with TestLedger.add_rate or give the line's accounting amount"
            )
        accounting = self._currencies.get(entity_info.currency)
        minor_units = 2 if accounting is None else accounting.minor_units
        with decimal.localcontext(_boundary_context()):
            return _round_to_minor_units(amount * rate, minor_units)


def _decimals_used(amount):
    """The decimals an amount uses, trailing zeros aside (`closebook_ledger::money::decimals_used`):
    10.50 uses one."""
    exponent = amount.normalize(_boundary_context()).as_tuple().exponent
    return max(0, -exponent)


def _fixture_decimal(text, where):
    try:
        return decimal_value(text, where)
    except BoundaryError as error:
        raise FixtureError(str(error)) from None


def _account_matches(account_filter, account):
    if isinstance(account_filter, types.AccountFilter_All):
        return True
    if isinstance(account_filter, types.AccountFilter_List):
        return account.number in account_filter.value
    if isinstance(account_filter, types.AccountFilter_Range):
        first, last = account_filter.value
        return first <= account.number <= last
    return account.account_type in account_filter.value


def _kept_dimensions(posted, group_by):
    """The dimensions of a line that a balance row keeps."""
    if GROUP_BY_EVERY_DIMENSION in group_by:
        return list(posted.dimensions)
    return [dimension for dimension in posted.dimensions if dimension.name in group_by]


def _world(step):
    """The step's `WitWorld` instance, from its module, its class or an instance."""
    if isinstance(step, python_types.ModuleType):
        world_class = getattr(step, "WitWorld", None)
        if world_class is None:
            raise TypeError(f"module {step.__name__} has no class WitWorld: componentize-py could not export it")
        return world_class()
    if isinstance(step, type):
        return step()
    return step


# --- The generated bindings ---

# The bindings componentize-py 0.25.1 generates for closebook:plugin@0.2.0, word for word
# (`componentize-py -d wit -w close-step bindings OUT`, where wit holds plugin-sdk/wit/v0.2), by
# their path in OUT. The closebook repository's tests compare them with a fresh generation. The
# generated `ledger.py` and `log.py` only raise NotImplementedError, so the harness writes its own.
GENERATED_SOURCES = {
    "componentize_py_types.py": r'''from typing import TypeVar, Generic, Union
from dataclasses import dataclass

S = TypeVar('S')
@dataclass
class Some(Generic[S]):
    """Represents the "present" (i.e. non-absent) case of an optional value.

    This is used to disambiguate values of a nested ComponentModel `option` type
    (e.g. `option<option<T>>` or similar).  Non-nested `option` values are
    represented using `typing.Optional`, i.e. nullable types.

    """
    value: S

T = TypeVar('T')
@dataclass
class Ok(Generic[T]):
    """Represents the success case of a Component Model `result` value."""
    value: T

E = TypeVar('E')
@dataclass(frozen=True)
class Err(Generic[E], Exception):
    """Represents the failure case of a Component Model `result` value."""
    value: E

Result = Union[Ok[T], Err[E]]
"""Represents a Component Model `result` value, i.e. a variant type representing
either success payload or failure payload.

"""
''',
    "wit_world/__init__.py": r'''# This file is automatically generated by componentize-py
# It is not intended for manual editing.
from typing import TypeVar, Generic, Union, Optional, Protocol, Tuple, List, Any, Self, Callable
from types import TracebackType
from enum import Flag, Enum, auto
from dataclasses import dataclass
from abc import abstractmethod
import weakref

from componentize_py_types import Result, Ok, Err, Some
from .imports import types


class WitWorld(Protocol):

    @abstractmethod
    def describe(self) -> types.StepInfo:
        raise NotImplementedError

    @abstractmethod
    def run(self, input: types.StepInput) -> types.StepOutput:
        """
        Raises: `componentize_py_types.Err(wit_world.imports.types.StepError)`
        """
        raise NotImplementedError

''',
    "wit_world/imports/types.py": r'''# This file is automatically generated by componentize-py
# It is not intended for manual editing.
"""
Shared records. Money crosses the boundary as decimal strings with the grammar
`-?[0-9]+(\.[0-9]+)?` (no exponent, at most 28 significant digits); dates as `YYYY-MM-DD`.
"""
from typing import TypeVar, Generic, Union, Optional, Protocol, Tuple, List, Any, Self, Callable
from types import TracebackType
from enum import Flag, Enum, auto
from dataclasses import dataclass
from abc import abstractmethod
import weakref

from componentize_py_types import Result, Ok, Err, Some


class AccountType(Enum):
    ASSET = 0
    LIABILITY = 1
    EQUITY = 2
    REVENUE = 3
    EXPENSE = 4

class PeriodKind(Enum):
    OPENING = 0
    OPERATING = 1
    CLOSING = 2

class PeriodStatus(Enum):
    OPEN = 0
    ON_HOLD = 1
    PERMANENTLY_CLOSED = 2

@dataclass
class Dimension:
    """
    One financial dimension value on a line, e.g. department = 100.
    """
    name: str
    value: str

@dataclass
class PeriodInfo:
    name: str
    kind: PeriodKind
    start: str
    end: str
    fiscal_year: str
    status: PeriodStatus

@dataclass
class EntityInfo:
    id: str
    name: str
    currency: str
    retained_earnings_account: str
    default_rate_type: str
    penny_rounding_account: Optional[str]

@dataclass
class CurrencyInfo:
    code: str
    minor_units: int

@dataclass
class AccountInfo:
    number: str
    name: str
    account_type: AccountType
    revalue: bool
    settle: bool
    rate_type: Optional[str]
    fixed_currency: Optional[str]
    category: Optional[str]
    blocked: bool

@dataclass
class DimensionInfo:
    name: str
    values: List[str]


@dataclass
class AccountFilter_All:
    pass


@dataclass
class AccountFilter_List:
    value: List[str]


@dataclass
class AccountFilter_Range:
    value: Tuple[str, str]


@dataclass
class AccountFilter_Types:
    value: List[AccountType]


AccountFilter = Union[AccountFilter_All, AccountFilter_List, AccountFilter_Range, AccountFilter_Types]
"""
Which accounts a balance query covers.
"""


@dataclass
class BalanceQuery:
    entity: str
    accounts: AccountFilter
    from_period: str
    to_period: str
    currency: Optional[str]
    dimension_filter: List[Dimension]
    group_by_dimensions: List[str]

@dataclass
class BalanceRow:
    """
    A balance of one account × dimension set × transaction currency over a period range.
    """
    account: str
    dimensions: List[Dimension]
    currency: str
    amount: str
    accounting_amount: str
    debit: str
    credit: str

@dataclass
class LineQuery:
    entity: str
    account: str
    from_period: str
    to_period: str
    after: Optional[int]
    limit: int
    include_settled: bool

@dataclass
class PostedLine:
    id: int
    entry_id: int
    entry_key: str
    date: str
    period: str
    account: str
    dimensions: List[Dimension]
    currency: str
    amount: str
    accounting_amount: str
    description: str
    settlement_id: Optional[int]

@dataclass
class LinePage:
    lines: List[PostedLine]
    next: Optional[int]

@dataclass
class QueryError:
    """
    A refusal of a ledger query, e.g. reading an entity the task may not read.
    """
    message: str

@dataclass
class ProposedLine:
    account: str
    dimensions: List[Dimension]
    currency: Optional[str]
    amount: str
    accounting_amount: Optional[str]
    description: Optional[str]

@dataclass
class ProposedEntry:
    entity: str
    period: Optional[str]
    date: str
    description: str
    lines: List[ProposedLine]
    reversal_date: Optional[str]

@dataclass
class ProposedSettlement:
    entity: str
    line_ids: List[int]

class Level(Enum):
    DEBUG = 0
    INFO = 1
    WARNING = 2
    ERROR = 3

@dataclass
class Message:
    level: Level
    text: str

@dataclass
class EntityAccess:
    entity: str
    post: bool

@dataclass
class StepInput:
    entity: str
    period: PeriodInfo
    entities: List[EntityAccess]
    as_of: str
    config: str

@dataclass
class StepInfo:
    name: str
    version: str
    summary: str
    config_schema: str

@dataclass
class StatementQuery:
    """
    Which statement a `ledger.statement` query reads: the latest one imported for the
    account (and dimension values) and period (`closebook reconcile import-statement`).
    """
    entity: str
    account: str
    period: str
    dimensions: List[Dimension]

@dataclass
class StatementLine:
    line_no: int
    date: str
    amount: str
    reference: str
    description: str

@dataclass
class BankStatement:
    """
    A bank statement imported for a reconciliation, with its lines in file order.
    """
    source: str
    opening: str
    closing: str
    lines: List[StatementLine]

@dataclass
class ProposedReconcilingItem:
    """
    A reconciling item: an amount that explains part of the difference between an account's
    GL balance and its independent balance, added to the independent balance (an
    outstanding cheque is negative, a deposit in transit positive). It is opened in `period`
    and stays open in later periods until a person clears it.
    """
    entity: str
    account: str
    dimensions: List[Dimension]
    period: str
    amount: str
    explanation: str
    expected_clear: str
    reference: str

@dataclass
class OpenItem:
    """
    A reconciling item of a reconciliation's period: opened then or earlier, and not cleared
    before it.
    """
    id: int
    period: str
    cleared: bool
    amount: str
    explanation: str
    expected_clear: str
    reference: str

@dataclass
class ProposedClearing:
    """
    The clearing of an open reconciling item in `period`: it matched a line of that period's
    statement, so it is open before `period` and not from it on.
    """
    entity: str
    item_id: int
    period: str
    note: str

@dataclass
class Finding:
    """
    Something a person must look at before the task is signed off, e.g. a balance that moved
    more than a threshold: the account (and dimension values), what was measured, its value
    now and the baseline it is compared with, the threshold crossed, and whether the
    preparer must explain it.
    """
    entity: str
    account: str
    dimensions: List[Dimension]
    measure: str
    current: str
    baseline: str
    threshold: str
    explanation_required: bool
    message: str

@dataclass
class StepOutput:
    entries: List[ProposedEntry]
    settlements: List[ProposedSettlement]
    messages: List[Message]
    reconciling_items: List[ProposedReconcilingItem]
    cleared_items: List[ProposedClearing]
    findings: List[Finding]

@dataclass
class StepError:
    message: str


''',
}

types = _install_bindings()
"""The WIT types, `wit_world.imports.types`: the same module `app.py` imports."""

Err = sys.modules["componentize_py_types"].Err
"""`componentize_py_types.Err`: what a refused query raises, and how `run` refuses."""


class StepRefusal(Err):
    """The `Err(types.StepError)` of a step that refused to run, as `TestLedger.run_step` raises
    it: a subclass of `Err` (`assertRaises(Err)` catches it) that unittest can report."""

    def __str__(self):
        return f"the step refused: {self.value.message}"
