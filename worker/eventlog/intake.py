"""Durable intake: parse a verified webhook body and commit it to the event log once."""

from __future__ import annotations

import time
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, Engine, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session, sessionmaker

from worker.db.models import PLATFORM, Event, EventStatus, PayloadType, utcnow
from worker.db.session import once_more_after_disconnect
from worker.input_bounds import OutOfBounds, read_json

THIN_OBJECT = "v2.core.event"


class MalformedEvent(ValueError):
    """The body is not a Stripe event; the message says what is wrong, never what it held."""


@dataclass(frozen=True)
class IncomingEvent:
    id: str
    type: str
    created: datetime
    livemode: bool
    account: str  # `event.account` (a Connect endpoint's events), else PLATFORM
    api_version: str | None
    customer: str | None
    payload: str
    payload_type: str = PayloadType.SNAPSHOT

    def row(self, received_at: datetime, status: str = EventStatus.RECEIVED) -> dict[str, Any]:
        """The `events` row of this event, as intake (or a bulk loader) inserts it."""
        return {
            "id": self.id,
            "type": self.type,
            "created": self.created,
            "livemode": self.livemode,
            "account": self.account,
            "api_version": self.api_version,
            "customer": self.customer,
            "payload": self.payload,
            "payload_type": self.payload_type,
            "received_at": received_at,
            "status": status,
            "attempts": 0,
        }


@dataclass(frozen=True)
class StoreOutcome:
    event_id: str
    duplicate: bool
    status: str
    rung: bool = False  # its doorbell rung already, with its group's (group_intake.py)

    @property
    def needs_enqueue(self) -> bool:
        # A duplicate still `received` was maybe never queued (broker down): ring again.
        return self.status == EventStatus.RECEIVED


def parse_event(body: str) -> IncomingEvent:
    """A snapshot event (`object: "event"`) or a thin one (`"v2.core.event"`), as one row."""
    try:
        data = read_json(body)
    except OutOfBounds as beyond:  # nothing Stripe sends (worker/input_bounds.py)
        raise MalformedEvent(f"body: {beyond}") from None
    except ValueError:
        raise MalformedEvent("body is not valid JSON") from None
    if not isinstance(data, dict):
        raise MalformedEvent("body is not a JSON object")
    kind = data.get("object")
    if kind not in ("event", THIN_OBJECT):
        raise MalformedEvent(
            f'body is not a Stripe event (object must be "event" or "{THIN_OBJECT}")'
        )
    for key in ("id", "type"):
        if not isinstance(data.get(key), str) or not data[key]:
            raise MalformedEvent(f"event has no {key}")
    if len(data["id"]) > 255 or len(data["type"]) > 255:
        raise MalformedEvent("event id or type is too long")
    return _thin_event(data, body) if kind == THIN_OBJECT else _snapshot_event(data, body)


def _snapshot_event(data: dict[str, Any], body: str) -> IncomingEvent:
    # Stripe always sends these; an event without them is still stored (nothing is lost), and
    # a handler that needs its object fails it with the reason, ready to replay.
    created = data.get("created", int(time.time()))
    if not isinstance(created, int) or isinstance(created, bool) or created < 0:
        raise MalformedEvent("event created must be an integer timestamp")
    try:
        created_at = datetime.fromtimestamp(created, UTC)
    except (OverflowError, ValueError):
        raise MalformedEvent("event created is a timestamp after the year 9999") from None
    envelope = data.get("data", {})
    obj = envelope.get("object", {}) if isinstance(envelope, dict) else None
    if not isinstance(obj, dict):
        raise MalformedEvent("event data.object must be an object")
    return IncomingEvent(
        id=data["id"],
        type=data["type"],
        created=created_at,
        livemode=bool(data.get("livemode", False)),
        account=_str_or_none(data.get("account")) or PLATFORM,
        api_version=_str_or_none(data.get("api_version")),
        customer=customer_of(obj),
        payload=body,
    )


def _thin_event(data: dict[str, Any], body: str) -> IncomingEvent:
    """A thin event names its object (`related_object`) and carries no state: processing
    fetches the object. Its `created` is an RFC 3339 time; `context`, the account it is of."""
    created = data.get("created")
    try:
        at = datetime.fromisoformat(created) if isinstance(created, str) else None
    except ValueError:
        at = None
    if at is None or at.tzinfo is None:
        raise MalformedEvent("thin event created must be an RFC 3339 timestamp with its zone")
    related = data.get("related_object")
    if related is not None and not (
        isinstance(related, dict)
        and all(isinstance(related.get(k), str) and related[k] for k in ("id", "type", "url"))
        and related["url"].startswith(("/v1/", "/v2/"))
    ):
        raise MalformedEvent(
            "thin event related_object must have an id, a type and an API path url (/v1/…)"
        )
    context = data.get("context")
    if context is not None and not isinstance(context, str):
        raise MalformedEvent("thin event context must be a string")
    is_customer = related is not None and related["type"] == "customer"
    return IncomingEvent(
        id=data["id"],
        type=data["type"],
        created=at.astimezone(UTC),
        livemode=bool(data.get("livemode", False)),
        account=_str_or_none(context) or PLATFORM,
        api_version=None,  # thin events are unversioned: the object is read at our version
        customer=related["id"] if is_customer else None,
        payload=body,
        payload_type=PayloadType.THIN,
    )


def customer_of(obj: dict[str, Any]) -> str | None:
    """The customer an event is about, for filtering and per-customer ordering."""
    if obj.get("object") == "customer":
        return _str_or_none(obj.get("id"))
    customer = obj.get("customer")
    if isinstance(customer, dict):
        customer = customer.get("id")
    return _str_or_none(customer)


def _str_or_none(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


def store_event(sessions: sessionmaker[Session], event: IncomingEvent) -> StoreOutcome:
    """Insert the event unless its id is already stored.

    The hot path of intake, so no ORM unit of work: one Core statement. On PostgreSQL it runs
    in autocommit, a transaction of its own committed when the server answers: the INSERT is
    one round trip instead of three (BEGIN, INSERT, COMMIT; and no ping: see `engine_for`),
    and still committed before Stripe gets its 2xx. SQLite keeps its `BEGIN IMMEDIATE`.
    """
    engine: Engine = sessions.kw["bind"]
    # After a database restart the pooled connection fails at once; the INSERT is idempotent.
    return once_more_after_disconnect(lambda: _store(engine, event))


def _store(engine: Engine, event: IncomingEvent) -> StoreOutcome:
    values = event.row(received_at=utcnow())
    dialect = engine.dialect.name
    with _transaction(engine) as conn:
        inserted = conn.execute(_INSERT_NEW[dialect], values).scalar_one_or_none()
        if inserted is not None:
            return StoreOutcome(event.id, duplicate=False, status=EventStatus.RECEIVED)
        status = conn.execute(select(Event.status).where(Event.id == event.id)).scalar()
    return StoreOutcome(event.id, duplicate=True, status=status or EventStatus.RECEIVED)


def _transaction(engine: Engine) -> AbstractContextManager[Connection]:
    if engine.dialect.name == "postgresql":
        return engine.connect().execution_options(isolation_level="AUTOCOMMIT")
    return engine.begin()


# Built once: a constant statement is compiled once per process and found in the cache after.
_INSERT_NEW = {
    name: insert(Event.__table__)
    .on_conflict_do_nothing(index_elements=["id"])
    .returning(Event.__table__.c.id)
    for name, insert in (("postgresql", postgresql.insert), ("sqlite", sqlite.insert))
}
