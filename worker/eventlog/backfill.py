"""Backfill: store the events Stripe kept (30 days) that never reached the receiver.

Stripe's Events API lists what happened on the account, newest first. Every listed event goes
through the receiver's own path — parse, store once by id, queue — so an event that did arrive
is only counted, and one that did not is stored and processed like any delivery.

The API renders each event's object at the account's API version, where a webhook uses the
endpoint's: handlers read the fields both versions share.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any, Literal, Protocol

from sqlalchemy.orm import Session, sessionmaker

from worker.db.models import PLATFORM, utcnow
from worker.eventlog.intake import MalformedEvent, parse_event, store_event

# Stripe keeps events for 30 days; asking for older ones silently returns fewer.
STRIPE_RETENTION = timedelta(days=30)
PAGE_LIMIT = 100  # the Events API's largest page


class BackfillWindowError(ValueError):
    """A window Stripe cannot serve in full; the message says which one it can."""


class EventsApiError(RuntimeError):
    """Listing events from Stripe failed; the message names the error, never a key."""


@dataclass(frozen=True)
class EventsPage:
    events: list[dict[str, Any]]
    has_more: bool


class EventsSource(Protocol):
    def page(self, *, gte: int, lte: int, starting_after: str | None) -> EventsPage: ...


class StripeEventsSource:
    """Pages of the Events API as Stripe sent them: raw JSON objects, not SDK objects, so the
    stored payload is Stripe's JSON and not the SDK's re-encoding of it."""

    def __init__(self, client: Any, event_type: str | None = None, account: str = PLATFORM) -> None:
        self.client = client  # a StripeClient from worker.stripe.client.build_client
        self.event_type = event_type
        self.account = account  # a connected account's Events API (Stripe-Account), or ours

    def page(self, *, gte: int, lte: int, starting_after: str | None) -> EventsPage:
        params: dict[str, Any] = {"created": {"gte": gte, "lte": lte}, "limit": PAGE_LIMIT}
        if starting_after:
            params["starting_after"] = starting_after
        if self.event_type:
            params["type"] = self.event_type
        try:
            options = {"stripe_account": self.account} if self.account else {}
            listed = self.client.v1.events.list(params, options)
            raw = json.loads(listed.last_response.body)
        except Exception as exc:  # noqa: BLE001 - the adapter's edge: any failure is "API failed"
            raise EventsApiError(f"{type(exc).__name__}: {exc}") from exc
        return EventsPage(list(raw.get("data") or []), bool(raw.get("has_more")))


Kind = Literal["new", "already_stored", "malformed"]


@dataclass(frozen=True)
class BackfillOutcome:
    event_id: str
    kind: Kind
    queued: bool = False
    queue_error: str | None = None


@dataclass
class BackfillSummary:
    since: datetime
    until: datetime
    seen: int = 0
    new: int = 0
    already_stored: int = 0
    queued: int = 0
    not_queued: int = 0  # stored, but the broker was down: the sweeper queues them later
    malformed: list[str] = field(default_factory=list)

    def add(self, outcome: BackfillOutcome) -> None:
        self.seen += 1
        if outcome.kind == "new":
            self.new += 1
        elif outcome.kind == "already_stored":
            self.already_stored += 1
        else:
            self.malformed.append(outcome.event_id)
        if outcome.queued:
            self.queued += 1
        elif outcome.queue_error:
            self.not_queued += 1

    def to_dict(self) -> dict[str, Any]:
        return {
            "since": self.since.isoformat(),
            "until": self.until.isoformat(),
            "seen": self.seen,
            "new": self.new,
            "already_stored": self.already_stored,
            "queued": self.queued,
            "not_queued": self.not_queued,
            "malformed": self.malformed,
        }


def check_window(since: datetime, until: datetime, now: datetime | None = None) -> None:
    now = now or utcnow()
    oldest = now - STRIPE_RETENTION
    if since < oldest:
        raise BackfillWindowError(
            f"Stripe keeps events for 30 days: --since must be after {oldest:%Y-%m-%dT%H:%M:%SZ}"
            f" (asked for {since:%Y-%m-%dT%H:%M:%SZ}); older events are gone from the API"
        )
    if since >= until:
        raise BackfillWindowError("--since must be before --until")


def stripe_events(source: EventsSource, since: datetime, until: datetime) -> Iterator[dict]:
    """Every event created in [since, until], page by page (newest first, as Stripe lists)."""
    starting_after: str | None = None
    gte, lte = int(since.timestamp()), int(until.timestamp())
    while True:
        page = source.page(gte=gte, lte=lte, starting_after=starting_after)
        yield from page.events
        if not page.has_more or not page.events:
            return
        starting_after = page.events[-1]["id"]


def backfill(
    sessions: sessionmaker[Session],
    source: EventsSource,
    enqueue: Callable[[str], None],
    since: datetime,
    until: datetime,
    account: str = PLATFORM,
) -> Iterator[BackfillOutcome]:
    """Store and queue each listed event we do not have; yield what happened to each.

    Events listed on a connected account's Events API belong to that account, as its Connect
    endpoint's deliveries do, whether or not the listing names it in `account`."""
    for listed in stripe_events(source, since, until):
        event_id = str(listed.get("id") or "?")
        try:
            event = parse_event(json.dumps(listed))
        except MalformedEvent:
            yield BackfillOutcome(event_id, "malformed")
            continue
        if account and event.account != account:
            event = replace(event, account=account)
        stored = store_event(sessions, event)
        kind: Kind = "already_stored" if stored.duplicate else "new"
        if not stored.needs_enqueue:
            yield BackfillOutcome(event_id, kind)
            continue
        try:
            enqueue(event_id)
        except Exception as exc:  # noqa: BLE001 - broker down: stored is what matters
            yield BackfillOutcome(event_id, kind, queue_error=type(exc).__name__)
            continue
        yield BackfillOutcome(event_id, kind, queued=True)
