"""The options that select stored events, as `events list` and `events replay` take them."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import click

from worker.cli.accounts import account_filter
from worker.cli.moments import MOMENT
from worker.db.models import EVENT_STATUSES
from worker.eventlog.selection import EventSelection, SelectionError
from worker.eventlog.selection_input import FILTERS

_OPTIONS = (
    click.option("--status", type=click.Choice(EVENT_STATUSES), help="e.g. failed"),
    click.option("--type", help="Stripe event type, e.g. invoice.paid"),
    click.option("--customer", help="Stripe customer id"),
    account_filter(),
    click.option("--since", type=MOMENT, help="received at or after (ISO 8601, or 6h / 2d ago)"),
    click.option("--until", type=MOMENT, help="received before"),
)


def event_filters(command: Callable[..., None]) -> Callable[..., None]:
    """The filter options, given to `command` as one `selection` (filters that all apply)."""

    @functools.wraps(command)
    def with_selection(**options: Any) -> None:
        filters = {name: options.pop(name) for name in FILTERS}
        try:
            selection = EventSelection(**filters)
        except SelectionError as exc:
            raise click.UsageError(str(exc)) from None
        command(selection=selection, **options)

    for option in reversed(_OPTIONS):
        with_selection = option(with_selection)
    return with_selection
