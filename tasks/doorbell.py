"""How a committed event is announced to the processing: a Celery task, or nothing at all.

With no BROKER_URL (the embedded default) the processing loops read `received` events from the
event log themselves, so there is no bell to ring.
"""

from __future__ import annotations

from collections.abc import Callable

from celery import Celery

from tasks.celery_app import enqueuer
from worker.config import Settings


def doorbell(settings: Settings, celery: Celery) -> Callable[[str], None]:
    if settings.embedded:
        return _event_log_is_the_queue
    return enqueuer(celery)


def _event_log_is_the_queue(_event_id: str) -> None:
    """The event is `received` in the event log: a processing loop will find it there."""
