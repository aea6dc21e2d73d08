"""Events stored as the receiver stores them, and read back as a test checks them."""

from __future__ import annotations

from sqlalchemy import select, text

from worker import samples
from worker.db.models import Event
from worker.db.session import session_factory
from worker.eventlog.batches import PARTITIONS
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


def ids_in_partition(database_url: str, partition: int, count: int, prefix: str) -> list[str]:
    """`count` ids, `prefix` then a number, whose events fall in a batches' `partition`: a
    customer's events by the customer's id, an event without a customer by its own id."""
    query = text(
        "SELECT name FROM (SELECT :prefix || lpad(n::text, 4, '0') AS name, n"
        " FROM generate_series(0, 9999) AS n) AS names"
        " WHERE mod(hashtext(name)::bigint + 2147483648, :partitions) = :partition"
        " ORDER BY n LIMIT :count"
    )
    values = {"prefix": prefix, "partitions": PARTITIONS, "partition": partition, "count": count}
    with session_factory(database_url)() as session:
        return list(session.scalars(query, values))
