"""An `EventSelection` from filters an operator typed: the ops API's, the console's, the CLI's."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from worker.accounts import account_named
from worker.db.models import EVENT_STATUSES
from worker.eventlog.selection import EventSelection, SelectionError
from worker.timespec import parse_moment

FILTERS = ("status", "type", "account", "customer", "since", "until")


def selection_from_text(
    text: Mapping[str, str | None], *, ids: tuple[str, ...] = (), everything: bool = False
) -> EventSelection:
    """The selection the filters in `text` mean (an empty or missing one applies no filter).

    Raises SelectionError naming the filter that means nothing and how to write it.
    """
    fields: dict[str, Any] = {name: (text.get(name) or "").strip() or None for name in FILTERS}
    if fields["status"] is not None and fields["status"] not in EVENT_STATUSES:
        raise SelectionError(f"status must be one of {', '.join(EVENT_STATUSES)}")
    try:
        fields["account"] = account_named(fields["account"]) if fields["account"] else None
    except ValueError as problem:
        raise SelectionError(f"account: {problem}") from None
    fields["since"] = _moment("since", fields["since"])
    fields["until"] = _moment("until", fields["until"])
    return EventSelection(ids=ids, everything=everything, **fields)


def _moment(name: str, text: str | None) -> datetime | None:
    if text is None:
        return None
    try:
        return parse_moment(text)
    except ValueError as exc:
        raise SelectionError(f"{name}: {exc}") from None
