"""Thin tasks: take an event id, call the domain, let Celery retry what is retryable."""

from __future__ import annotations

import random
import time
from datetime import timedelta

from celery import Task
from sqlalchemy.exc import DBAPIError
from structlog.contextvars import get_contextvars

from tasks.names import PROCESS_EVENT, PROCESS_EVENTS, RECONCILE, SWEEP
from worker.errors import RetryableError
from worker.eventlog.batches import process_in_batch
from worker.eventlog.sweeper import sweep as sweep_events
from worker.metrics import record_task
from worker.runtime import Runtime


def backoff_seconds(retries: int) -> float:
    """Exponential back-off with full jitter, capped at ten minutes."""
    return random.uniform(0, min(600.0, 2.0 ** (retries + 1)))


def register_tasks(runtime: Runtime) -> None:
    """Define the worker's tasks on `runtime.celery`, running on that runtime."""
    app, settings = runtime.celery, runtime.settings

    @app.task(name=PROCESS_EVENT, bind=True, max_retries=settings.task_max_retries)
    def process_event(self: Task, event_id: str) -> str:
        last_attempt = self.request.retries >= self.max_retries
        try:
            # With the fresh events of its customer partition, in one transaction when they wait.
            return process_in_batch(runtime, event_id, last_attempt=last_attempt)
        except RetryableError as exc:
            raise self.retry(exc=exc, countdown=backoff_seconds(self.request.retries)) from exc

    @app.task(name=PROCESS_EVENTS, bind=True, max_retries=settings.task_max_retries)
    def process_events(self: Task, event_ids: list[str]) -> int:
        """The doorbell of deliveries committed together: each event as `process_event` runs
        it (the first attempt); one that must retry gets a `process_event` task of its own,
        with its back-off. If the database is unreachable the whole list is tried again later:
        the events already done are a read each."""
        for event_id in event_ids:
            started = time.perf_counter()
            try:
                outcome = process_in_batch(runtime, event_id, last_attempt=False)
            except RetryableError:
                app.send_task(PROCESS_EVENT, args=[event_id], countdown=backoff_seconds(0))
                outcome = "retry"
            except DBAPIError as exc:
                raise self.retry(exc=exc, countdown=backoff_seconds(self.request.retries)) from exc
            # Counted per event, as each `process_event` task is (tasks/observability.py).
            event_type = get_contextvars().get("event_type", "unknown")
            record_task(event_type, outcome, time.perf_counter() - started)
        return len(event_ids)

    @app.task(name=SWEEP)
    def sweep() -> int:
        grace = timedelta(seconds=settings.sweep_grace_seconds)
        return sweep_events(runtime.sessions, runtime.enqueue, grace)

    @app.task(name=RECONCILE)
    def reconcile() -> dict[str, int]:
        """A whole reconcile run (issue 22); its metrics say what drift is left."""
        from worker.reconcile.schedule import run_scheduled

        return run_scheduled(runtime)
