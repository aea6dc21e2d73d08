"""The events this process's batches committed done, so that their own doorbells, ringing in
this process, need no read of the event log.

A task's batch runs the other waiting events of its partition, whose doorbells come later, each
in some process. One that rings where its batch ran finds its event here. A done event stays
done: only a retryable error leaves one `received`, and that outcome is not kept here; a replay
may run it again, and it ends done again (the status a doorbell returns is then the one seen
here, which a task only logs and counts). The newest KEPT events of each database are kept.
"""

from __future__ import annotations

import threading
from typing import NamedTuple

from sqlalchemy import Engine

from worker.db.models import EventStatus

KEPT = 10_000
DONE = (EventStatus.PROCESSED, EventStatus.IGNORED, EventStatus.FAILED)


class EventContext(NamedTuple):
    """What a task's log lines say of its event (`bind_event`'s arguments)."""

    event_id: str
    event_type: str
    customer: str | None
    refund_request_id: str | None


_done: dict[tuple[str, str], tuple[str, EventContext]] = {}  # (database, event id): outcome
_lock = threading.Lock()  # a Celery thread pool may share the process


def remember(engine: Engine, outcomes: list[tuple[str, EventContext]]) -> None:
    """A committed batch's outcomes (status, context); those not done are left out."""
    database = str(engine.url)
    with _lock:
        for status, context in outcomes:
            if status in DONE:
                _done[(database, context.event_id)] = (status, context)
        while len(_done) > KEPT:
            del _done[next(iter(_done))]  # the oldest: a dict keeps insertion order


def done_here(engine: Engine, event_id: str) -> tuple[str, EventContext] | None:
    """The event's status and context, if a batch of this process committed it done."""
    with _lock:
        return _done.get((str(engine.url), event_id))
