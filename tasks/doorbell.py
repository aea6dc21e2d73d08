"""How a committed event is announced to the processing: a Celery task, or nothing at all.

With no BROKER_URL (the embedded default) the processing loops read `received` events from the
event log themselves, so there is no bell to ring.
"""

from __future__ import annotations

from collections.abc import Callable

from celery import Celery

from tasks.celery_app import enqueuer, group_enqueuer
from worker.config import Settings


def doorbell(settings: Settings, celery: Celery) -> Callable[[str], None]:
    if settings.embedded:
        return _event_log_is_the_queue
    return enqueuer(celery)


def _event_log_is_the_queue(_event_id: str) -> None:
    """The event is `received` in the event log: a processing loop will find it there."""


def group_doorbell(
    settings: Settings, celery: Celery, single: Callable[[str], None]
) -> Callable[[list[str]], None]:
    """One bell for the events of a group commit (worker/eventlog/group_intake.py): one message
    naming them all, or `single`'s for one; nothing on the embedded default."""
    if settings.embedded:
        return _no_bell
    several = group_enqueuer(celery)

    def ring(event_ids: list[str]) -> None:
        if len(event_ids) == 1:
            single(event_ids[0])
        elif event_ids:
            several(event_ids)

    return ring


def _no_bell(_event_ids: list[str]) -> None:
    """The events are `received` in the event log: a processing loop will find them there."""
