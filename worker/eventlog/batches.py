"""A task's batch: its event and the other fresh `received` events of its customer partition,
run in order in one transaction.

Each doorbell still names one event, and Celery stays the engine that spreads the work across
processes and hosts. But when events wait (a burst, a backlog), paying a task, a transaction and
a WAL flush per event is what limits the rate. So the task of event X takes, under an advisory
lock on X's partition (one share of the customers, `partition_of_event`), the oldest fresh
`received` events of that partition, X's own among them once its turn comes, locks their rows in
one statement and runs them oldest first, with one commit. The doorbells of the others then
find their event done: after one read, or none where the batch ran (done_here.py).

Why this keeps DESIGN.md's guarantees:
- Order and the per-customer lock: one customer's events all fall in one partition, and the
  advisory lock lets one batch at a time run a partition, so a customer's events run one at a
  time, oldest first; each handler still takes its customer's row lock, which is held, like
  every lock of the batch, to the commit.
- Crash-safe: a kill in the middle of a batch rolls the whole batch back, audit rows included:
  no event is marked processed without its effects, nor has effects without being marked. Its
  doorbell, `acks_late` with `reject_on_worker_lost`, comes back; the others' doorbells are still
  queued or waiting on the batch's locks. Stripe calls made before the kill are made again under
  the same idempotency keys, as after a crash between a call and the commit (guarantee 2).
- Retries keep their back-off: an event whose handler raised a retryable error stays `received`
  with its attempt counted (as `process_event` leaves it) and is left out of later batches
  (fresh means no attempt yet): its own doorbell's retry runs it alone. Any other error parks it
  `failed` with its reason. Each error rolls back that event's work only (stretches.py).
- A task whose partition another process is running meanwhile runs the oldest waiting events
  of another partition that no batch holds, then looks at its own event again: it waits for the
  other batch only when no other partition has work.
- A row another transaction holds (a replay, an operator) is skipped, never waited for inside a
  batch; if it is X's own, the task then runs X alone, as before batches, waiting for the lock.

PostgreSQL only (advisory locks, SKIP LOCKED, `hashtext`); on SQLite a task runs its event alone.
"""

from __future__ import annotations

import json
import logging
from functools import partial
from typing import Any

from sqlalchemy import (
    BigInteger,
    Engine,
    Row,
    Select,
    bindparam,
    column,
    func,
    literal_column,
    select,
    text,
)
from sqlalchemy.exc import DBAPIError

from worker.db.models import Event, EventStatus
from worker.db.session import once_more_after_disconnect
from worker.errors import RetryableError
from worker.eventlog.done_here import EventContext, done_here, remember
from worker.eventlog.processing import (
    RETRY,
    process_event,
    refund_request_id_in,
    run_locked_batch,
)
from worker.eventlog.selection import partition_of_event
from worker.handlers import HANDLERS, Handler
from worker.logging import bind_event
from worker.runtime import Runtime

log = logging.getLogger(__name__)

PARTITIONS = 16  # shares of the customers: batches of different shares run side by side
BATCH = 50  # events in one transaction at most: the work a crash rolls back
ROUNDS = 20  # batches a task runs to reach its own event before running it alone
LOCK_SPACE = 0x5B1E  # the first key of our advisory locks: (LOCK_SPACE, partition)


def process_in_batch(
    runtime: Runtime,
    event_id: str,
    *,
    last_attempt: bool = True,
    handlers: dict[str, Handler] = HANDLERS,
) -> str:
    """Run `event_id`, with the fresh events of its partition that come before and after it in
    batches; return its new status. A retryable error of its own raises `RetryableError`
    (unless this is its last attempt), as `process_event` does."""

    def alone() -> str:
        return process_event(runtime, event_id, last_attempt=last_attempt, handlers=handlers)

    engine: Engine = runtime.sessions.kw["bind"]
    if engine.dialect.name != "postgresql":
        return alone()
    known = done_here(engine, event_id)
    if known is not None:  # run by a batch of this process
        status, context = known
        bind_event(*context)
        return status
    for _round in range(ROUNDS):
        found = _look(runtime, event_id)
        if found is None:
            return alone()  # not stored: logged there
        status, attempts, partition, context = found
        if status != EventStatus.RECEIVED:
            return status  # done (by a batch, a duplicate doorbell, a replay)
        if attempts:
            return alone()  # a retry: its back-off is its doorbell's
        try:
            outcomes = _batch(runtime, partition, handlers, wait=False)
            if outcomes is None:  # another process runs a batch of this partition now
                other = _another_partition(runtime, partition)
                if other is not None:
                    _batch(runtime, other, handlers, wait=False)  # useful work meanwhile
                    continue
                outcomes = _batch(runtime, partition, handlers, wait=True) or {}
        except DBAPIError as exc:
            log.warning("batch of partition %d lost (%s): event %s alone", partition, exc, event_id)
            return alone()
        finally:
            bind_event(*context)  # the batch labelled its lines with its own events
        mine = outcomes.get(event_id)
        if mine == RETRY:
            if last_attempt:
                return alone()  # once more, and `failed` with its reason if it fails again
            raise RetryableError(f"event {event_id} left received by its batch")
        if mine is not None:
            return mine
        if not outcomes:
            break  # its row is held elsewhere: wait for it alone
    return alone()


def _batch(
    runtime: Runtime, partition: int, handlers: dict[str, Handler], *, wait: bool
) -> dict[str, str] | None:
    return once_more_after_disconnect(partial(_run_batch, runtime, partition, handlers, wait))


def _look(runtime: Runtime, event_id: str) -> tuple[str, int, int, EventContext] | None:
    """The event's status, attempts, partition and type: one statement in autocommit, one
    round trip (the doorbells of a batch's other events pay only this)."""
    row = _autocommit_read(runtime, _LOOK, {"event_id": event_id})
    if row is None:
        return None
    # The task's lines and metrics carry its event, whichever batch runs it.
    context = EventContext(event_id, row.type, row.customer, row.refund_request_id)
    bind_event(*context)
    return row.status, row.attempts, int(row.partition), context


def _another_partition(runtime: Runtime, busy: int) -> int | None:
    """The partition of the oldest fresh `received` event of any other, that no batch holds."""
    row = _autocommit_read(runtime, _OLDEST_ELSEWHERE, {"busy": busy})
    return None if row is None else int(row.partition)


def _autocommit_read(runtime: Runtime, query: Select[Any], values: dict[str, Any]) -> Any:
    engine: Engine = runtime.sessions.kw["bind"]

    def read() -> Row[Any] | None:
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            return conn.execute(query, values).one_or_none()

    return once_more_after_disconnect(read)


_event_partition = partition_of_event(PARTITIONS)
# The request id our own refunds carry, read by PostgreSQL from the stored payload, so the task's
# log lines carry it as `process_event`'s do (worker.logging's event context).
_REFUND_REQUEST = literal_column(
    "(payload::jsonb #>> '{data,object,metadata,refund_request_id}')"
).label("refund_request_id")
_LOOK = select(
    Event.status,
    Event.attempts,
    Event.type,
    Event.customer,
    _REFUND_REQUEST,
    _event_partition.label("partition"),
).where(Event.id == bindparam("event_id"))
FRESH = (Event.status == EventStatus.RECEIVED, Event.attempts == 0)
# The partitions whose batch runs now: their advisory locks, (LOCK_SPACE, partition) each. Read
# from pg_locks rather than by SKIP LOCKED on the rows, which would lock one, and so cost the
# read a transaction id and a WAL flush at its commit.
_BATCHES_RUNNING = (
    text(
        "SELECT objid::bigint AS partition FROM pg_locks"
        " WHERE locktype = 'advisory' AND classid = :space AND objsubid = 2"
    )
    .bindparams(space=LOCK_SPACE)
    .columns(column("partition", BigInteger))
)
_OLDEST_ELSEWHERE = (
    select(_event_partition.label("partition"))
    .where(
        *FRESH,
        _event_partition != bindparam("busy"),
        _event_partition.not_in(_BATCHES_RUNNING),
    )
    .order_by(Event.received_at, Event.id)
    .limit(1)
)


def _run_batch(
    runtime: Runtime, partition: int, handlers: dict[str, Handler], wait: bool
) -> dict[str, str] | None:
    """The partition's oldest fresh `received` events, run in one transaction: event id ->
    outcome (a status, or RETRY), in the order run. None if another batch of the partition
    runs and `wait` is false; if true, it waits for that batch to commit."""
    with runtime.sessions.begin() as session:
        if wait:
            session.execute(select(func.pg_advisory_xact_lock(LOCK_SPACE, partition)))
        elif not session.scalar(select(func.pg_try_advisory_xact_lock(LOCK_SPACE, partition))):
            return None
        events = session.scalars(
            select(Event)
            .where(*FRESH, _event_partition == partition)
            .order_by(Event.received_at, Event.id)
            .limit(BATCH)
            .with_for_update(skip_locked=True)
        ).all()
        if len(events) > 1:
            log.info("batch of %d events of partition %d", len(events), partition)
        outcomes = run_locked_batch(session, runtime, list(events), handlers)
        contexts = [_context_of(event) for event in events]
    remember(runtime.sessions.kw["bind"], [(outcomes[c.event_id], c) for c in contexts])
    return outcomes


def _context_of(event: Event) -> EventContext:
    refund_request = refund_request_id_in(json.loads(event.payload))
    return EventContext(event.id, event.type, event.customer, refund_request)
