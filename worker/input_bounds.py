"""Bounds on structured input from outside (webhook bodies, ops API bodies, policy files): how
deep it nests, and how large its numbers are.

Python's JSON and TOML parsers recurse, so input nested a few hundred levels deep raises
RecursionError, not a parse error, and what reads a parsed value may recurse too
(stripe-python's objects, `jsonify`). Input nested deeper than MAX_NESTING levels is refused
instead, with that number in the message. Stripe's deepest objects nest 12 levels (`customer`,
`treasury.transaction` in the OpenAPI spec stripe-mock 0.203 carries, expandable fields as the
ids that events send), so an event nests 14; a policy file nests 2.

JSON numbers are refused beyond what anything downstream can hold: integers outside 64 bits
(Stripe's and PostgreSQL's BIGINT), and floats that are not finite (`1e999`, `NaN`).
"""

from __future__ import annotations

import json
import math
from typing import Any

MAX_NESTING = 32
INT64 = 2**63


class OutOfBounds(ValueError):
    """Input beyond a bound; the message says which, never what the input held."""


TOO_DEEP = f"nested deeper than {MAX_NESTING} levels, the most accepted"
# The bounds in a few words, for a message that cannot say which one a body broke.
BOUNDS = f"nested at most {MAX_NESTING} levels, integers within 64 bits"


def read_json(text: str | bytes) -> Any:
    """`json.loads` within the bounds: OutOfBounds beyond them, ValueError if it is not JSON."""
    try:
        value = _DECODER.decode(text.decode("utf-8") if isinstance(text, bytes) else text)
    except RecursionError:
        raise OutOfBounds(TOO_DEEP) from None
    check_nesting(value)
    return value


def check_nesting(value: Any) -> None:
    """OutOfBounds if `value` has objects or lists nested deeper than MAX_NESTING: counted level
    by level, without recursion (recursion is what the bound protects)."""
    level = [value] if isinstance(value, dict | list) else []
    for _depth in range(MAX_NESTING):
        # `type() is`: parsers build plain dicts and lists, and the exact check is 3 times faster.
        level = [
            child
            for item in level
            for child in (item.values() if type(item) is dict else item)
            if type(child) is dict or type(child) is list
        ]
        if not level:
            return
    raise OutOfBounds(TOO_DEEP)


def _int64(text: str) -> int:
    # Checked on the digits before int() reads them: 4,300 digits or more would be its ValueError.
    number = int(text) if len(text.lstrip("-")) <= 19 else INT64
    if not -INT64 <= number < INT64:
        raise OutOfBounds("an integer beyond 64 bits")
    return number


def _finite_float(text: str) -> float:
    number = float(text)
    if not math.isfinite(number):
        raise OutOfBounds("a number too large to be a finite float")
    return number


def _no_constant(name: str) -> float:
    raise OutOfBounds(f"{name} is not a JSON number")


_DECODER = json.JSONDecoder(
    parse_int=_int64, parse_float=_finite_float, parse_constant=_no_constant
)
