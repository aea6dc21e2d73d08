"""Replay with several processes: each replays one partition of the selection by customer.

One customer's events all fall in one partition (`Partition`), and each process replays its
partition exactly as a one-process replay does (keyset pages, oldest received first, batches
of events in one transaction, each under its row lock), so a customer's events keep their
order and every selected event runs once. The processes send their outcomes to this one
through a bounded queue, so memory stays one page of keys per process plus the queue, whatever
the selection's size.

The processes are spawned, not forked: each builds its own runtime (engine, pool, Stripe
client) from the same settings, and a forked copy of this process's open connections could
close them under it.
"""

from __future__ import annotations

import multiprocessing
import os
import queue
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import replace
from multiprocessing.queues import Queue
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from worker.eventlog.replay import ProcessMany, ReplayOutcome, replay
from worker.eventlog.selection import EventSelection, Partition

# Outcomes waiting for the parent: enough to keep the processes busy, few enough to stay small.
QUEUE_SIZE = 2000
POLL_SECONDS = 1.0  # how often a parent waiting on outcomes checks that no process died

# Built in each replaying process: the sessions to page with and what runs a batch of events.
Worker = Callable[[], tuple[sessionmaker[Session], ProcessMany]]


def default_jobs(dialect: str) -> int:
    """The machine's cores on PostgreSQL; one on SQLite, whose single writer would only make
    parallel processes queue on its lock (and which has no `hashtext` to partition with)."""
    return (os.cpu_count() or 1) if dialect == "postgresql" else 1


def replay_parallel(
    selection: EventSelection, jobs: int, worker: Worker
) -> Iterator[ReplayOutcome]:
    """Yield every selected event's outcome as the `jobs` processes run them; outcomes of
    different customers interleave, each customer's come in order. `worker` (a module-level
    function, so a spawned process can import it) builds each process's runtime: the entry
    point passes its composition root's."""
    if selection.ids:
        raise ValueError("replay events by id with one process: report missing ids once")
    context = multiprocessing.get_context("spawn")
    outcomes: Queue[ReplayOutcome | None] = context.Queue(maxsize=QUEUE_SIZE)
    with ProcessPoolExecutor(
        jobs, mp_context=context, initializer=_keep_queue, initargs=(outcomes,)
    ) as pool:
        futures = [
            pool.submit(_replay_partition, replace(selection, partition=Partition(i, jobs)), worker)
            for i in range(jobs)
        ]
        finished = 0
        while finished < jobs:
            try:
                outcome = outcomes.get(timeout=POLL_SECONDS)
            except queue.Empty:
                _raise_if_died(futures)
                continue
            if outcome is None:
                finished += 1
            else:
                yield outcome
        for future in futures:
            future.result()  # a process's error (database down) raised here, after its outcomes


_outcomes: Queue[ReplayOutcome | None] | None = None


def _keep_queue(outcomes: Queue[ReplayOutcome | None]) -> None:
    # A queue reaches a pool's processes only when they start, not as a task's argument.
    global _outcomes
    _outcomes = outcomes


def _replay_partition(selection: EventSelection, worker: Worker) -> None:
    assert _outcomes is not None  # set by the pool's initializer
    try:
        sessions, process_many = worker()
        for outcome in replay(sessions, selection, process_many=process_many):
            _outcomes.put(outcome)
    finally:
        _outcomes.put(None)  # this partition is done, or stopped by the error raised


def _raise_if_died(futures: list[Future[Any]]) -> None:
    for future in futures:
        if future.done() and future.exception() is not None:
            future.result()
