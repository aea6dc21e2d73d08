"""Thin tasks: take an event id, call the domain, let Celery retry what is retryable."""

from __future__ import annotations

import random
from datetime import timedelta

from celery import Task

from tasks.celery_app import PROCESS_EVENT, SWEEP, app, enqueuer
from worker.db.session import session_factory
from worker.errors import RetryableError
from worker.eventlog.processing import process_event as run_event
from worker.eventlog.sweeper import sweep as sweep_events

settings = app.conf.billing_settings


def backoff_seconds(retries: int) -> float:
    """Exponential back-off with full jitter, capped at ten minutes."""
    return random.uniform(0, min(600.0, 2.0 ** (retries + 1)))


@app.task(name=PROCESS_EVENT, bind=True, max_retries=settings.task_max_retries)
def process_event(self: Task, event_id: str) -> str:
    sessions = session_factory(settings.effective_database_url)
    last_attempt = self.request.retries >= self.max_retries
    try:
        return run_event(sessions, event_id, last_attempt=last_attempt)
    except RetryableError as exc:
        raise self.retry(exc=exc, countdown=backoff_seconds(self.request.retries)) from exc


@app.task(name=SWEEP)
def sweep() -> int:
    sessions = session_factory(settings.effective_database_url)
    grace = timedelta(seconds=settings.sweep_grace_seconds)
    return sweep_events(sessions, enqueuer(app), grace)
