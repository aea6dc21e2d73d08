"""Replay: run stored events through their handlers again, streaming, with a summary.

What a replay of one event counts as, comparing its status before and after:
- `replayed`: it was not done (`received` or `failed`), or its outcome changed (an `ignored`
  event whose type has a handler now), and it is now `processed` or `ignored`;
- `unchanged`: it was done (`processed` or `ignored`) and still is. Its handler ran again and,
  handlers being idempotent (guarantee 2: the audit row of a completed action, then Stripe's
  idempotency key), did nothing new — no second refund, no second row;
- `failed`: it ends `failed`, its reason in `last_error` (as before, or newly);
- `missing`: an id asked for by name that is not stored.
Every run counts in the event's `attempts`, including a run that changes nothing.

The status "before" is read with the page of keys, moments before the run; if a Celery worker
processes the event in between, the replay may count it `replayed` instead of `unchanged`. The
event's row lock makes the two runs take turns, so that changes the count, never the effect.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import partial
from typing import Any, Literal

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from worker.db.models import EVENT_STATUSES, Event, EventStatus
from worker.eventlog.processing import process_event, process_events
from worker.eventlog.selection import PAGE_SIZE, EventSelection, Position, iter_keys
from worker.runtime import Runtime

# Replay re-runs events in any status: done ones are a no-op, and `ignored` ones get the
# handler their type may have gained since.
REPLAYABLE = EVENT_STATUSES
DONE = (EventStatus.PROCESSED, EventStatus.IGNORED)
MAX_LISTED_IDS = 1000  # the summary names this many failures; counts are always complete

Kind = Literal["replayed", "unchanged", "failed", "missing", "selected"]
Process = Callable[[str], str]  # runs one stored event by id, returns its new status
# Runs several stored events in one transaction, in order; returns each one's new status.
ProcessMany = Callable[[list[str]], list[str]]
# Events per transaction in a batched replay: one commit (a WAL flush) for this many. Few
# enough to stay within the 64 subtransactions (a savepoint per event) PostgreSQL caches per
# transaction, and that a live worker waits little for a customer's lock the batch holds.
BATCH_SIZE = 50


def operator_attempt(runtime: Runtime) -> Process:
    """One deliberate operator attempt per event on `runtime`: a retryable error (Stripe down)
    ends `failed` at once, to be replayed again, instead of waiting in the task's back-off."""
    return partial(process_event, runtime, last_attempt=True, statuses=REPLAYABLE)


def operator_batches(runtime: Runtime) -> ProcessMany:
    """`operator_attempt` for several events in one transaction (worker/eventlog/processing.py
    `process_events`: an event's error rolls back its own work only, and is recorded)."""
    return partial(process_events, runtime, statuses=REPLAYABLE)


@dataclass(frozen=True)
class ReplayOutcome:
    event_id: str
    before: str
    after: str
    position: Position | None
    error: str | None = None

    @property
    def kind(self) -> Kind:
        if self.before == "missing" or self.after == "missing":
            return "missing"
        if self.after == "dry-run":
            return "selected"
        if self.after == EventStatus.FAILED:
            return "failed"
        if self.before in DONE and self.after == self.before:
            return "unchanged"
        return "replayed"


@dataclass
class ReplaySummary:
    dry_run: bool
    selected: int = 0
    replayed: int = 0
    unchanged: int = 0
    failed: int = 0
    by_status: dict[str, int] = field(default_factory=dict)  # selected events, status before
    failures: list[dict[str, str | None]] = field(default_factory=list)
    missing_ids: list[str] = field(default_factory=list)

    def add(self, outcome: ReplayOutcome) -> None:
        kind = outcome.kind
        if kind == "missing":
            _append_capped(self.missing_ids, outcome.event_id)
            return
        self.selected += 1
        self.by_status[outcome.before] = self.by_status.get(outcome.before, 0) + 1
        if kind == "replayed":
            self.replayed += 1
        elif kind == "unchanged":
            self.unchanged += 1
        elif kind == "failed":
            self.failed += 1
            _append_capped(self.failures, {"id": outcome.event_id, "error": outcome.error})

    @property
    def ok(self) -> bool:
        return not self.failed and not self.missing_ids

    def to_dict(self) -> dict[str, Any]:
        return {
            "dry_run": self.dry_run,
            "selected": self.selected,
            "replayed": self.replayed,
            "unchanged": self.unchanged,
            "failed": self.failed,
            "by_status": dict(sorted(self.by_status.items())),
            "failed_ids": [failure["id"] for failure in self.failures],
            "failures": self.failures,
            "missing_ids": self.missing_ids,
        }


def _append_capped(items: list[Any], item: Any) -> None:
    if len(items) < MAX_LISTED_IDS:
        items.append(item)


def replay(
    sessions: sessionmaker[Session],
    selection: EventSelection,
    *,
    dry_run: bool = False,
    start: Position | None = None,
    limit: int | None = None,
    deadline: float | None = None,
    page_size: int = PAGE_SIZE,
    process: Process | None = None,
    process_many: ProcessMany | None = None,
    batch_size: int = BATCH_SIZE,
) -> Iterator[ReplayOutcome]:
    """Yield one outcome per selected event, oldest received first, as each one is run by
    `process` (usually `operator_attempt(runtime)`; a dry run runs nothing and needs none), or
    by `process_many` in batches of `batch_size` (`operator_batches(runtime)`: outcomes come
    when their batch is committed).

    Memory holds one page of keys, never the selection. `limit` and `deadline` (a
    `time.monotonic()` value) stop early, for callers that must answer in bounded time; the
    last outcome's `position` is where to start next. Ids asked for but not stored come
    first, as `missing` (on the first call only, `start` being None).
    """
    if process is None and process_many is None and not dry_run:
        raise ValueError("a replay that runs events needs a process")
    if selection.ids and start is None:
        for event_id in _missing(sessions, selection.ids):
            yield ReplayOutcome(event_id, "missing", "missing", None)
    keys = iter_keys(sessions, selection, start=start, page_size=page_size)
    size = 1 if dry_run or process_many is None else batch_size
    done = 0
    while True:
        if (limit is not None and done >= limit) or (
            deadline is not None and time.monotonic() >= deadline
        ):
            return
        batch = list(itertools.islice(keys, size if limit is None else min(size, limit - done)))
        if not batch:
            return
        done += len(batch)
        if dry_run:
            afters = ["dry-run"] * len(batch)
        elif process_many is not None:
            afters = process_many([key.id for key in batch])
        else:
            assert process is not None  # checked above
            afters = [process(key.id) for key in batch]
        for key, after in zip(batch, afters, strict=True):
            error = _last_error(sessions, key.id) if after == EventStatus.FAILED else None
            position = Position(key.received_at, key.id)
            yield ReplayOutcome(key.id, key.status, after, position, error)


def _missing(sessions: sessionmaker[Session], ids: tuple[str, ...]) -> list[str]:
    """The ids not stored, in the order given; an id selection is small, the caller holds it."""
    with sessions() as session:
        stored = set(session.scalars(select(Event.id).where(Event.id.in_(ids))))
    return [event_id for event_id in dict.fromkeys(ids) if event_id not in stored]


def _last_error(sessions: sessionmaker[Session], event_id: str) -> str | None:
    with sessions() as session:
        event = session.get(Event, event_id)
        return event.last_error if event else None
