"""Replay from the pages: in short batches, so a request answers quickly and shows progress.

The same `worker.eventlog.replay.replay` as `events replay` and the JSON API, run on the app's
runtime. A batch stops after `BATCH_EVENTS` events or `BATCH_SECONDS` and hands back a cursor; the
progress page posts the next batch itself until the selection is done.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from webhooks.current import current_runtime
from worker.eventlog.replay import ReplayOutcome, ReplaySummary, operator_attempt, replay
from worker.eventlog.selection import EventSelection, Position, iter_keys

BATCH_EVENTS = 25
BATCH_SECONDS = 5.0


@dataclass
class Batch:
    summary: ReplaySummary
    outcomes: list[ReplayOutcome] = field(default_factory=list)
    next: Position | None = None  # where the following batch starts; None: done


def run_batch(selection: EventSelection, start: Position | None = None) -> Batch:
    runtime = current_runtime()
    sessions = runtime.sessions
    batch = Batch(ReplaySummary(dry_run=False))
    last: Position | None = None
    for outcome in replay(
        sessions,
        selection,
        start=start,
        limit=BATCH_EVENTS,
        deadline=time.monotonic() + BATCH_SECONDS,
        process=operator_attempt(runtime),
    ):
        batch.summary.add(outcome)
        batch.outcomes.append(outcome)
        last = outcome.position or last
    if last is not None and any(iter_keys(sessions, selection, start=last, page_size=1)):
        batch.next = last
    return batch


def describe(outcome: ReplayOutcome) -> tuple[str, str]:
    """(flash category, sentence) for one event's replay."""
    if outcome.kind == "missing":
        return "error", f"{outcome.event_id} is not stored."
    if outcome.kind == "failed":
        return "error", f"{outcome.event_id} failed again: {outcome.error}"
    if outcome.kind == "unchanged":
        return "info", f"{outcome.event_id} replayed: still {outcome.after}, nothing new to do."
    return "success", f"{outcome.event_id} replayed: {outcome.before} → {outcome.after}."
