"""A record's JSON as the commands print it: its dataclass fields in order, by their own names.

Standard library only: the policy engine's decisions use it too (tests/unit/policy checks).
"""

from __future__ import annotations

import dataclasses
from typing import Any


def json_fields(record: Any, **renamed: str) -> dict[str, Any]:
    """`record`'s fields in their order: a tuple as a list, a nested record by its own `to_json`
    or else by its fields.

    `renamed` gives a field the key it prints as, e.g. `event_id="id"`.
    """
    return {
        renamed.get(field.name, field.name): _json_value(getattr(record, field.name))
        for field in dataclasses.fields(record)
    }


def _json_value(value: Any) -> Any:
    if isinstance(value, tuple):
        return [_json_value(item) for item in value]
    to_json = getattr(value, "to_json", None)
    if callable(to_json):
        return to_json()
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return json_fields(value)
    return value
