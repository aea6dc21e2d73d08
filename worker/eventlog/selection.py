"""Which stored events an ops command means, read page by page in a stable order.

Pages use keyset pagination on (received_at, id): each page starts strictly after the last row
of the one before, so paging never skips or repeats a row while events keep arriving, costs the
same on page 1,000 as on page 1, and holds one page in memory at a time.
"""

from __future__ import annotations

import base64
import binascii
import operator
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import BigInteger, ColumnElement, Select, and_, func, or_, select
from sqlalchemy.orm import Session, sessionmaker

from worker.db.models import Event

PAGE_SIZE = 500


class SelectionError(ValueError):
    """A selection that means nothing or too much; the message says how to fix it."""


@dataclass(frozen=True)
class Partition:
    """One of `count` disjoint shares of the events, by customer (events with none, by id), so
    one customer's events all fall in one share and a process replays them in order.

    PostgreSQL only: `hashtext` is its own; SQLite has no hash and replays with one process.
    """

    index: int
    count: int

    def condition(self) -> ColumnElement[bool]:
        return partition_of_event(self.count) == self.index


def partition_of_event(count: int) -> ColumnElement[int]:
    """The index (0 … count-1) of the partition an event's row falls in (PostgreSQL only)."""
    key = func.hashtext(func.coalesce(Event.customer, Event.id)).cast(BigInteger)
    # hashtext is a signed int4: shifted to be non-negative before the modulo.
    return func.mod(key + 2**31, count)


@dataclass(frozen=True)
class EventSelection:
    """Events by id, or by filters that all apply (status, type, account, customer, received
    between)."""

    ids: tuple[str, ...] = ()
    status: str | None = None
    type: str | None = None
    customer: str | None = None
    account: str | None = None  # a connected account's acct_…, PLATFORM for the platform's
    since: datetime | None = None  # received_at >= since
    until: datetime | None = None  # received_at < until
    everything: bool = False
    partition: Partition | None = None  # set by a parallel replay for each of its processes

    def __post_init__(self) -> None:
        if self.since and self.until and self.since >= self.until:
            raise SelectionError("since must be before until")

    @property
    def has_filters(self) -> bool:
        return any(
            value is not None
            for value in (
                self.status,
                self.type,
                self.account,
                self.customer,
                self.since,
                self.until,
            )
        )

    def require_explicit(self) -> None:
        """Refuse a selection that would touch every event by accident, or mixes ids and filters."""
        if self.ids and (self.has_filters or self.everything):
            raise SelectionError("give event ids or filters, not both")
        if not self.ids and not self.has_filters and not self.everything:
            raise SelectionError(
                "select events: ids, --status, --type, --customer, --since/--until, or --all"
            )

    def conditions(self) -> list[ColumnElement[bool]]:
        conditions: list[ColumnElement[bool]] = []
        if self.ids:
            conditions.append(Event.id.in_(self.ids))
        if self.status is not None:
            conditions.append(Event.status == self.status)
        if self.type is not None:
            conditions.append(Event.type == self.type)
        if self.account is not None:
            conditions.append(Event.account == self.account)
        if self.customer is not None:
            conditions.append(Event.customer == self.customer)
        if self.since is not None:
            conditions.append(Event.received_at >= self.since)
        if self.until is not None:
            conditions.append(Event.received_at < self.until)
        if self.partition is not None:
            conditions.append(self.partition.condition())
        return conditions


@dataclass(frozen=True)
class Position:
    """Where a page ended: the (received_at, id) of its last row."""

    received_at: datetime
    event_id: str

    def cursor(self) -> str:
        raw = f"{self.received_at.isoformat()}|{self.event_id}".encode()
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    @classmethod
    def from_cursor(cls, cursor: str) -> Position:
        try:
            raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
            moment, _, event_id = raw.partition("|")
            received_at = datetime.fromisoformat(moment)
            # In UTC, as given out: a crafted offset pushing it past the years 1-9999 fails here.
            utc = received_at.astimezone(UTC) if received_at.tzinfo else None
        except (ValueError, binascii.Error, OverflowError):
            raise SelectionError("cursor is not one this server gave out") from None
        if not event_id or utc is None:
            raise SelectionError("cursor is not one this server gave out")
        return cls(utc, event_id)

    @classmethod
    def of(cls, event: Any) -> Position:
        return cls(event.received_at, event.id)


def later_than(position: Position) -> ColumnElement[bool]:
    """The rows after `position` in (received_at, id) order: the keyset predicate of a page."""
    return _keyset(position, operator.gt)


def earlier_than(position: Position) -> ColumnElement[bool]:
    """The rows before `position` in (received_at, id) order (pages read newest first)."""
    return _keyset(position, operator.lt)


def _keyset(position: Position, beyond: Callable[[Any, Any], Any]) -> ColumnElement[bool]:
    return or_(
        beyond(Event.received_at, position.received_at),
        and_(Event.received_at == position.received_at, beyond(Event.id, position.event_id)),
    )


def after(position: Position | None) -> list[ColumnElement[bool]]:
    return [] if position is None else [later_than(position)]


def ordered(query: Select[Any], selection: EventSelection, start: Position | None) -> Select[Any]:
    return query.where(*selection.conditions(), *after(start)).order_by(Event.received_at, Event.id)


def count(sessions: sessionmaker[Session], selection: EventSelection) -> int:
    with sessions() as session:
        query = select(func.count()).select_from(Event).where(*selection.conditions())
        return session.scalar(query) or 0


@dataclass(frozen=True)
class EventKey:
    """The little replay needs to know of an event before running it: no payload."""

    id: str
    status: str
    received_at: datetime


def iter_keys(
    sessions: sessionmaker[Session],
    selection: EventSelection,
    *,
    start: Position | None = None,
    page_size: int = PAGE_SIZE,
) -> Iterator[EventKey]:
    """Every selected event's key, oldest first, one short read transaction per page."""
    position = start
    while True:
        with sessions() as session:
            query = select(Event.id, Event.status, Event.received_at)
            rows = session.execute(ordered(query, selection, position).limit(page_size)).all()
        for row in rows:
            yield EventKey(row.id, row.status, row.received_at)
        if len(rows) < page_size:
            return
        position = Position(rows[-1].received_at, rows[-1].id)
