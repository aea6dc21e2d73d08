"""The reads behind the events pages: a filtered page newest first, counts, one event's story."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, func, select
from sqlalchemy.orm import Session, defer

from worker.db.models import EVENT_STATUSES, Event, EventStatus, Invoice, StripeCall, Subscription
from worker.eventlog.selection import EventSelection, Position, earlier_than, later_than
from worker.eventlog.selection_input import selection_from_text
from worker.handlers import HANDLERS

PAGE_SIZE = 50


@dataclass(frozen=True)
class EventFilters:
    """The events page's filters as typed, and the selection they mean."""

    status: str = ""
    type: str = ""
    account: str = ""  # acct_…, or `platform`
    customer: str = ""
    since: str = ""
    until: str = ""
    q: str = ""  # part of an event id

    @classmethod
    def from_args(cls, args: Any) -> EventFilters:
        return cls(**{name: (args.get(name) or "").strip() for name in cls.__dataclass_fields__})

    def selection(self) -> EventSelection:
        return selection_from_text(self.args())

    def conditions(self) -> list[ColumnElement[bool]]:
        conditions = self.selection().conditions()
        if self.q:
            conditions.append(Event.id.contains(self.q, autoescape=True))
        return conditions

    def without_status(self) -> EventFilters:
        return EventFilters(**{**self.args(), "status": ""})

    def args(self) -> dict[str, str]:
        return {name: getattr(self, name) for name in self.__dataclass_fields__}

    def active(self) -> dict[str, str]:
        """The filters that are set, for links that keep them."""
        return {name: value for name, value in self.args().items() if value}


@dataclass(frozen=True)
class EventsPage:
    events: list[Event]
    newer: str | None  # cursor of the page before (newer events), if any
    older: str | None  # cursor of the page after (older events), if any


def events_page(
    session: Session,
    filters: EventFilters,
    *,
    before: Position | None = None,
    after: Position | None = None,
    limit: int = PAGE_SIZE,
) -> EventsPage:
    """One page newest received first, by keyset on (received_at, id) like the CLI's paging.

    `before` pages to older events (the next page), `after` back to newer ones.
    """
    query = select(Event).options(defer(Event.payload), defer(Event.last_traceback))
    query = query.where(*filters.conditions())
    if after is not None:
        rows = _rows(session, query.where(later_than(after)), ascending=True, limit=limit)
        more_newer = len(rows) > limit
        page = list(reversed(rows[:limit]))
        return EventsPage(
            page,
            newer=Position.of(page[0]).cursor() if more_newer and page else None,
            older=Position.of(page[-1]).cursor() if page else None,
        )
    if before is not None:
        query = query.where(earlier_than(before))
    rows = _rows(session, query, ascending=False, limit=limit)
    page = rows[:limit]
    return EventsPage(
        page,
        newer=Position.of(page[0]).cursor() if before is not None and page else None,
        older=Position.of(page[-1]).cursor() if len(rows) > limit else None,
    )


def _rows(session: Session, query: Select[Any], *, ascending: bool, limit: int) -> list[Event]:
    if ascending:
        query = query.order_by(Event.received_at, Event.id)
    else:
        query = query.order_by(Event.received_at.desc(), Event.id.desc())
    return list(session.scalars(query.limit(limit + 1)))


def status_counts(session: Session, filters: EventFilters) -> dict[str, int]:
    """Events in each status under the other filters: the tabs at the top of the page."""
    query = (
        select(Event.status, func.count())
        .where(*filters.without_status().conditions())
        .group_by(Event.status)
    )
    counts = dict.fromkeys(EVENT_STATUSES, 0)
    counts.update({status: int(n) for status, n in session.execute(query)})
    return counts


def hourly_counts(session: Session, since: datetime) -> dict[tuple[datetime, str], int]:
    """Events received per (UTC hour, status) since a moment, counted by the database."""
    hour = _hour_of_received_at(session)
    query = (
        select(hour.label("hour"), Event.status, func.count())
        .where(Event.received_at >= since)
        .group_by(hour, Event.status)
    )
    counts: dict[tuple[datetime, str], int] = {}
    for bucket, status, n in session.execute(query):
        key = (_as_utc_hour(bucket), status)
        counts[key] = counts.get(key, 0) + int(n)
    return counts


def _hour_of_received_at(session: Session) -> ColumnElement[Any]:
    # SQLite keeps naive UTC text; PostgreSQL a timestamptz, truncated in UTC whatever the
    # session's time zone (a half-hour zone would otherwise shift every bucket).
    if session.get_bind().dialect.name == "postgresql":
        return func.date_trunc("hour", func.timezone("UTC", Event.received_at))
    return func.strftime("%Y-%m-%d %H:00:00", Event.received_at)


def _as_utc_hour(value: datetime | str) -> datetime:
    moment = datetime.fromisoformat(value) if isinstance(value, str) else value
    moment = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    return moment.replace(minute=0, second=0, microsecond=0)


@dataclass
class EventStory:
    """One event as the event page shows it: the row, its payload, what its handler did."""

    event: Event
    payload: str  # pretty-printed; the page scrubs it, as everything it shows
    handler: str | None  # module.function of the handler for its type; None: ignored type
    handler_doc: str
    stripe_calls: list[StripeCall] = field(default_factory=list)
    invoices: list[Invoice] = field(default_factory=list)
    subscriptions: list[Subscription] = field(default_factory=list)


def event_story(session: Session, event_id: str) -> EventStory | None:
    event = session.get(Event, event_id)
    if event is None:
        return None
    handler = HANDLERS.get(event.type)
    calls = select(StripeCall).where(StripeCall.event_id == event_id).order_by(StripeCall.id)
    return EventStory(
        event=event,
        payload=_pretty(event.payload),
        handler=f"{handler.__module__}.{handler.__name__}" if handler else None,
        handler_doc=_first_line(handler.__doc__ if handler else None),
        stripe_calls=list(session.scalars(calls)),
        # The rows whose current state this event wrote (a later event may have replaced it).
        invoices=list(session.scalars(select(Invoice).where(Invoice.event_id == event_id))),
        subscriptions=list(
            session.scalars(select(Subscription).where(Subscription.event_id == event_id))
        ),
    )


def _first_line(doc: str | None) -> str:
    lines = (doc or "").strip().splitlines()
    return lines[0] if lines else ""


def _pretty(payload: str) -> str:
    try:
        return json.dumps(json.loads(payload), indent=2, ensure_ascii=False)
    except ValueError:
        return payload  # stored as received; intake only keeps JSON, but never hide it


@dataclass(frozen=True)
class Backlog:
    """The events that need a person: failed ones, and received ones nobody has processed."""

    failed: list[Event]
    failed_total: int
    stuck: list[Event]
    stuck_total: int
    stuck_after: timedelta


def backlog(session: Session, *, now: datetime, grace: timedelta, limit: int) -> Backlog:
    stuck_before = now - grace
    light = select(Event).options(defer(Event.payload), defer(Event.last_traceback))
    failed = Event.status == EventStatus.FAILED
    stuck = and_(Event.status == EventStatus.RECEIVED, Event.received_at < stuck_before)
    newest = (Event.received_at.desc(), Event.id.desc())
    return Backlog(
        failed=list(session.scalars(light.where(failed).order_by(*newest).limit(limit))),
        failed_total=_count(session, failed),
        stuck=list(session.scalars(light.where(stuck).order_by(*newest).limit(limit))),
        stuck_total=_count(session, stuck),
        stuck_after=grace,
    )


def _count(session: Session, condition: ColumnElement[bool]) -> int:
    return int(session.scalar(select(func.count()).select_from(Event).where(condition)) or 0)
