"""Intake's group commit: deliveries that arrive together share one INSERT, hence one commit.

A receiver process serves several deliveries at once (gunicorn's gthread workers). Each used to
pay its own INSERT and its own commit, which waits for PostgreSQL's WAL flush. Here the first
delivery to arrive leads: it inserts every delivery waiting at that moment in one multi-row
`INSERT … ON CONFLICT DO NOTHING RETURNING id`, in autocommit, so one statement is one
transaction, committed when the server answers; the leaders keep one connection for it between
groups (one leads at a time). Deliveries that arrive meanwhile wait for the next group, which the
first of them leads as soon as the current one is committed: no delivery waits for a timer,
and a lone delivery is inserted at once, as before. Once the group is committed its deliveries
answer, and the leader rings one doorbell for the group's events: one `PROCESS_EVENTS` message
naming them all (tasks/doorbell.py `group_doorbell`), not one each.

A delivery's 2xx still means "committed": each request thread returns only after the statement
that holds its row has been committed; if the statement fails, every delivery of the group gets
the error (503: Stripe retries). A receiver killed mid-group answers none of the group's
deliveries, which Stripe delivers again; their rows, if the statement had committed, make those
deliveries duplicates, acknowledged and not processed twice (DESIGN.md guarantees 1 and 2).

PostgreSQL only: SQLite takes one writer at a time, so its deliveries keep `store_event`.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from functools import lru_cache
from typing import Any

from sqlalchemy import Connection, Engine, select
from sqlalchemy.orm import Session, sessionmaker

from worker.db.models import Event, EventStatus, utcnow
from worker.db.session import once_more_after_disconnect
from worker.eventlog.intake import IncomingEvent, StoreOutcome, store_event

log = logging.getLogger(__name__)


@dataclass
class _Delivery:
    event: IncomingEvent
    row: dict[str, Any]
    turn: threading.Event = field(default_factory=threading.Event)  # done, or its turn to lead
    outcome: StoreOutcome | None = None
    error: BaseException | None = None


class GroupIntake:
    """`store(event)`, as `store_event`, for many request threads of one process at once."""

    def __init__(
        self, sessions: sessionmaker[Session], ring: Callable[[list[str]], None] | None = None
    ) -> None:
        self._sessions = sessions
        self._ring = ring  # one doorbell for a group's events; else each delivery rings its own
        self._engine: Engine = sessions.kw["bind"]
        self._grouped = self._engine.dialect.name == "postgresql"
        self._lock = threading.Lock()
        self._waiting: list[_Delivery] = []
        self._leading = False  # a delivery is inserting a group, or about to
        self._connection: Connection | None = None  # the leaders', kept between groups

    def store(self, event: IncomingEvent) -> StoreOutcome:
        if not self._grouped:
            return store_event(self._sessions, event)
        mine = _Delivery(event, event.row(received_at=utcnow()))
        with self._lock:
            self._waiting.append(mine)
            lead, self._leading = not self._leading, True
        if not lead:
            mine.turn.wait()  # its group committed, or the group before it and now it leads
        if mine.outcome is None and mine.error is None:
            self._lead()
        if mine.error is not None:
            raise mine.error
        assert mine.outcome is not None
        return mine.outcome

    def _lead(self) -> None:
        """Insert every delivery waiting now (its own among them), then hand the lead on."""
        with self._lock:
            group, self._waiting = self._waiting, []
        to_ring: list[str] = []
        try:
            outcomes = once_more_after_disconnect(
                lambda: _insert(self._leaders_connection(), group)
            )
            for delivery, outcome in zip(group, outcomes, strict=True):
                if self._ring is not None and outcome.needs_enqueue:
                    outcome = replace(outcome, rung=True)
                    to_ring.append(outcome.event_id)
                delivery.outcome = outcome
        except BaseException as exc:  # noqa: BLE001 - every delivery of the group answers it
            self._drop_connection()  # whatever broke, the next group starts on a fresh one
            for delivery in group:
                delivery.error = exc
        finally:
            with self._lock:
                if self._waiting:
                    self._waiting[0].turn.set()  # the next group's first: it leads
                else:
                    self._leading = False
            for delivery in group:
                delivery.turn.set()  # committed: each answers its 2xx now
        if to_ring and self._ring is not None:
            _ring_group(self._ring, list(dict.fromkeys(to_ring)))

    def _leaders_connection(self) -> Connection:
        """The group statements' connection, in autocommit. Kept rather than taken from the pool
        for each group: the checkout, the autocommit set then reset and the checkin were a third
        of a group's CPU. One dropped by the server (a restart) is replaced on the retry."""
        if self._connection is not None and self._connection.invalidated:
            self._drop_connection()
        if self._connection is None:
            connection = self._engine.connect()
            self._connection = connection.execution_options(isolation_level="AUTOCOMMIT")
        return self._connection

    def _drop_connection(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            connection.close()


def _ring_group(ring: Callable[[list[str]], None], event_ids: list[str]) -> None:
    """Queue the group's events; if the broker is down they are safe and the sweeper queues them
    later."""
    try:
        ring(event_ids)
    except Exception as exc:  # noqa: BLE001 - any broker failure: stored is what matters
        log.warning(
            "%d events stored but not queued; the sweeper will retry (%s)",
            len(event_ids),
            type(exc).__name__,
        )


def _insert(conn: Connection, group: list[_Delivery]) -> list[StoreOutcome]:
    """One INSERT of the group's new events on `conn` (in autocommit: committed when it returns);
    the stored status of the others."""
    rows = list({delivery.event.id: delivery.row for delivery in group}.values())  # first wins
    columns = tuple(rows[0])
    values = tuple(row[column] for row in rows for column in columns)
    inserted = set(conn.exec_driver_sql(_insert_new(columns, len(rows)), values).scalars())
    stored = [delivery.event.id for delivery in group if delivery.event.id not in inserted]
    statuses: dict[str, str] = {}
    if stored:
        query = select(Event.id, Event.status).where(Event.id.in_(set(stored)))
        statuses = {row.id: row.status for row in conn.execute(query)}
    outcomes = []
    for delivery in group:
        event_id = delivery.event.id
        if event_id in inserted:
            inserted.discard(event_id)  # a second delivery of it in the same group: a duplicate
            outcomes.append(StoreOutcome(event_id, duplicate=False, status=EventStatus.RECEIVED))
        else:
            status = statuses.get(event_id, EventStatus.RECEIVED)
            outcomes.append(StoreOutcome(event_id, duplicate=True, status=status))
    return outcomes


@lru_cache(maxsize=64)
def _insert_new(columns: tuple[str, ...], count: int) -> str:
    """store_event's `INSERT … ON CONFLICT DO NOTHING RETURNING id` for `count` rows, as the
    driver's text: SQLAlchemy's multi-row statement cost 270 µs of CPU for a group of 3, this
    140. What SQLAlchemy would add to the values, UTCDateTime's zone check, holds already: a
    row's times are `utcnow()` and Stripe's timestamps read in UTC. Errors still come wrapped,
    a dropped connection marked invalidated (`once_more_after_disconnect`)."""
    row = "(" + ", ".join(["%s"] * len(columns)) + ")"
    return (
        f"INSERT INTO events ({', '.join(columns)}) VALUES {', '.join([row] * count)}"
        " ON CONFLICT (id) DO NOTHING RETURNING id"
    )
