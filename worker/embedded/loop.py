"""One processing loop of the embedded default: it takes `received` events from the event log.

Without a broker the event log is the queue: a loop pages through every `received` event of its
partition, oldest first. Nothing committed can be stranded: a loop finds every `received` row,
whoever stored it and whenever. Events are partitioned by customer (CRC-32, stable across
processes, unlike `hash()`), so one customer's events are taken in order by one loop and never
concurrently by two.

Fresh events (no attempt yet) run as a task's batch runs them (worker/eventlog/batches.py): up to
BATCH in one transaction holding their row locks, in stretches, with one commit, since a
transaction per event is what limits the rate. A batch also commits after an event that reached
Stripe: on SQLite its transaction holds the database's one write lock, which the receiver waits
for, so it is held for one Stripe call at most, as when each event had its own; the pass then
starts again from the oldest, so a customer's events keep their order. A kill mid-batch rolls
the batch back whole, and the replacement loop finds its events `received` again. An event
waiting out a retry runs alone through `process_event`, as its Celery task would, in its turn.
"""

from __future__ import annotations

import logging
import os
import random
import threading
import time
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import select, tuple_
from sqlalchemy.exc import DBAPIError
from structlog.contextvars import get_contextvars

from worker.db.models import Event, EventStatus
from worker.db.session import once_more_after_disconnect
from worker.errors import RetryableError
from worker.eventlog.batches import BATCH, FRESH
from worker.eventlog.processing import RETRY, process_event, run_locked_batch
from worker.handlers import HANDLERS, Handler
from worker.logging import bind_event, fresh_log_context
from worker.metrics import record_task
from worker.runtime import Runtime

log = logging.getLogger(__name__)

PAGE = 200
IDLE_SECONDS = 0.05  # how long an idle loop waits before looking again: the pickup latency


@dataclass(frozen=True)
class Partition:
    index: int
    count: int

    def owns(self, customer: str | None, event_id: str) -> bool:
        # Events without a customer have no order to keep: spread them by id.
        key = (customer or event_id).encode()
        return zlib.crc32(key) % self.count == self.index


def backoff_seconds(attempts: int) -> float:
    """Exponential back-off with full jitter, capped at ten minutes (as the Celery task)."""
    return random.uniform(0, min(600.0, 2.0**attempts))


@dataclass
class ProcessingLoop:
    runtime: Runtime
    partition: Partition
    stop: threading.Event
    heartbeat: Callable[[], None] = lambda: None
    handlers: dict[str, Handler] = field(default_factory=lambda: HANDLERS)
    # Events waiting out a retryable error: event id -> monotonic time it is due again.
    not_before: dict[str, float] = field(default_factory=dict)

    def run(self) -> None:
        index, count = self.partition.index, self.partition.count
        log.info("processing loop %d of %d started (pid %d)", index, count, os.getpid())
        while not self.stop.is_set():
            self.heartbeat()
            if not self.process_due():
                self.stop.wait(IDLE_SECONDS)
        log.info("processing loop %d of %d stopped", index, count)

    def process_due(self) -> int:
        """One pass over the partition's `received` events; how many were run."""
        ran = 0
        fresh: list[str] = []
        for event_id, attempts in self._due():
            if self.stop.is_set():
                return ran
            if attempts == 0:
                fresh.append(event_id)
                if len(fresh) < BATCH:
                    continue
            done = self.process_batch(fresh)  # those before a retry, or a full batch
            ran += done
            if done < len(fresh):
                return ran  # it stopped after a Stripe call: the rest in order, next pass
            fresh = []
            if attempts:
                self.heartbeat()
                self.process(event_id, attempts)
                ran += 1
        if fresh and not self.stop.is_set():
            ran += self.process_batch(fresh)
        return ran

    def process_batch(self, event_ids: list[str]) -> int:
        """Run fresh events in one transaction, oldest first, up to the first that reached
        Stripe; how many it ran (one done meanwhile is left out)."""
        if not event_ids:
            return 0
        fresh_log_context()
        self.heartbeat()
        started = time.perf_counter()
        try:
            ran = once_more_after_disconnect(lambda: self._run_batch(event_ids))
        except DBAPIError as exc:
            log.warning("batch of %d events lost (%s): each alone", len(event_ids), exc)
            for event_id in event_ids:
                self.heartbeat()
                self.process(event_id, 0)
            return len(event_ids)
        seconds = (time.perf_counter() - started) / max(len(ran), 1)  # each event's share
        for event_id, event_type, outcome in ran:
            bind_event(event_id, event_type)
            if outcome == RETRY:
                delay = backoff_seconds(1)
                self.not_before[event_id] = time.monotonic() + delay
                log.info("event %s retried in %.1f s", event_id, delay)
                outcome = "retry"
            record_task(event_type, outcome, seconds)
            log.info("event %s %s in %.3f s", event_id, outcome, seconds)
        return len(ran)

    def _run_batch(self, event_ids: list[str]) -> list[tuple[str, str, str]]:
        """(event id, type, outcome) of each event run, in the order run."""
        with self.runtime.sessions.begin() as session:
            # Locked in the order run, as a replay locks (no deadlock); a row a replay or an
            # operator holds is waited for, as it was by a loop running each event alone.
            events = session.scalars(
                select(Event)
                .where(Event.id.in_(event_ids), *FRESH)
                .order_by(Event.received_at, Event.id)
                .with_for_update()
            ).all()
            if len(events) > 1:
                log.info("batch of %d events of loop %d", len(events), self.partition.index)
            outcomes = run_locked_batch(
                session,
                self.runtime,
                list(events),
                self.handlers,
                on_each=self.heartbeat,
                until_stripe=True,
            )
            return [
                (event.id, event.type, outcomes[event.id])
                for event in events
                if event.id in outcomes
            ]

    def process(self, event_id: str, attempts: int) -> str:
        """Run one event as the Celery task would: same function, logs, metrics and retries."""
        fresh_log_context()
        bind_event(event_id)
        started = time.perf_counter()
        last_attempt = attempts >= self.runtime.settings.task_max_retries
        try:
            outcome = process_event(
                self.runtime, event_id, last_attempt=last_attempt, handlers=self.handlers
            )
            self.not_before.pop(event_id, None)
        except RetryableError as exc:
            delay = backoff_seconds(attempts + 1)
            self.not_before[event_id] = time.monotonic() + delay
            log.info("event %s retried in %.1f s: %s", event_id, delay, exc)
            outcome = "retry"
        event_type = get_contextvars().get("event_type", "unknown")
        seconds = time.perf_counter() - started
        record_task(event_type, outcome, seconds)
        log.info("event %s %s in %.3f s", event_id, outcome, seconds)
        return outcome

    def _due(self) -> Iterator[tuple[str, int]]:
        """The partition's `received` events, oldest first, in keyset pages (any backlog size)."""
        after: tuple[datetime, str] | None = None
        now = time.monotonic()
        while True:
            query = (
                select(Event.received_at, Event.id, Event.customer, Event.attempts)
                .where(Event.status == EventStatus.RECEIVED)
                .order_by(Event.received_at, Event.id)
                .limit(PAGE)
            )
            if after is not None:
                query = query.where(tuple_(Event.received_at, Event.id) > after)
            with self.runtime.sessions() as session:
                session.connection(execution_options={"read_only": True})
                rows = session.execute(query).all()
            for _received_at, event_id, customer, attempts in rows:
                if self.partition.owns(customer, event_id) and (
                    self.not_before.get(event_id, 0.0) <= now
                ):
                    yield event_id, attempts
            if len(rows) < PAGE:
                return
            after = (rows[-1].received_at, rows[-1].id)
