"""Events stored as the receiver stores them, and read back as a test checks them."""

from __future__ import annotations

from sqlalchemy import select

from worker import samples
from worker.db.models import Event
from worker.db.session import session_factory
from worker.eventlog.intake import parse_event, store_event


def store(database_url: str, customers: list[str]) -> list[str]:
    """One `invoice.paid` per customer, in order; their event ids."""
    sessions = session_factory(database_url)
    ids = []
    for customer in customers:
        evt = samples.invoice_paid_event(customer=customer)
        store_event(sessions, parse_event(samples.body(evt)))
        ids.append(evt["id"])
    return ids


def statuses(database_url: str) -> dict[str, tuple[str, int]]:
    """Each event's (status, attempts)."""
    with session_factory(database_url)() as session:
        rows = session.execute(select(Event.id, Event.status, Event.attempts)).all()
    return {event_id: (status, attempts) for event_id, status, attempts in rows}
