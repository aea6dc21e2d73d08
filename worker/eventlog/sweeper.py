"""Re-ring the doorbell for events committed but never processed (broker down, lost message)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session, sessionmaker

from worker.db.models import Event, EventStatus, utcnow

BATCH = 500


def sweep(
    sessions: sessionmaker[Session],
    enqueue: Callable[[str], None],
    older_than: timedelta,
) -> int:
    """Queue every `received` event last queued (or received) before `older_than` ago.

    Returns how many were queued. Stops at the first enqueue failure: the broker is down,
    and the next sweep will find the same events.
    """
    queued = 0
    cutoff = utcnow() - older_than
    last_seen = func.coalesce(Event.enqueued_at, Event.received_at)
    while True:
        with sessions() as session:
            ids = session.scalars(
                select(Event.id)
                .where(Event.status == EventStatus.RECEIVED, last_seen <= cutoff)
                .order_by(Event.received_at)
                .limit(BATCH)
            ).all()
        if not ids:
            return queued
        for event_id in ids:
            enqueue(event_id)
        with sessions.begin() as session:
            session.execute(update(Event).where(Event.id.in_(ids)).values(enqueued_at=utcnow()))
        queued += len(ids)
