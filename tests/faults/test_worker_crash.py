"""Fault 2: a Celery worker killed with SIGKILL in the middle of a task.

To be certain the kill lands mid-task (and not between two tasks), the test holds the row locks
of the first events queued, as a slow handler would: the worker's pool processes take those
events and wait inside their transaction, which pg_stat_activity shows, and are killed there.
No hook in the production code is needed.

Two cases, two recovery paths:
- a pool process dies, its parent lives: Celery sees the lost worker and, the task being
  `acks_late` + `reject_on_worker_lost`, puts the message back at once;
- the whole worker dies (host lost): the messages it had taken stay "unacked" in Redis until
  the visibility timeout (an hour), so the sweeper (`events sweep`) is what queues them again
  (unless a later doorbell of the same customer partition ran their events in its batch).
Either way every event ends processed by exactly one committed run.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
import requests
from fault_stack import (
    Stack,
    assert_each_done_once,
    children_of,
    invoices_recorded,
    kill_9,
    lock_waiters,
    post_all,
    rows_locked,
    traffic,
)
from harness.processes import wait_until

pytestmark = pytest.mark.services

EVENTS = 300


def queue_while_no_worker_runs(stack: Stack, rng: random.Random) -> tuple[list, list[str]]:
    """A receiver up, the catalog seeded and the events delivered with no worker up: the first
    two queued are the ones to lock."""
    stack.start_receiver()
    stack.seed_catalog(requests.Session(), wait=False)
    http = requests.Session()
    events = traffic(EVENTS, rng, invoice_share=1.0)
    first, rest = events[:2], events[2:]
    for evt in first:  # in order: Redis hands messages out first in, first out
        assert stack.deliver(http, evt) == 200
    assert set(post_all(stack, rest, clients=8)) == {200}
    return events, [evt["id"] for evt in first]


@contextmanager
def worker_caught_mid_task(
    stack: Stack, database_url: str, rng: random.Random
) -> Iterator[tuple[list, list[str], int]]:
    """The events queued, then a worker started while the first two's rows are locked: inside,
    both its pool processes wait mid-task. Yields the events, the two locked ids and the
    worker's pid; the rows are unlocked on leaving."""
    events, victims = queue_while_no_worker_runs(stack, rng)
    with rows_locked(database_url, victims):
        worker = stack.start_worker(concurrency=2)
        wait_until(lambda: lock_waiters(database_url) == 2, 30, "both pool processes mid-task")
        yield events, victims, worker.pid


@pytest.mark.bound(90)
def test_pool_processes_killed_mid_task_are_replaced_and_their_tasks_redelivered_at_once(
    stack: Stack, pg_url: str
) -> None:
    with worker_caught_mid_task(stack, pg_url, random.Random(2)) as (events, victims, main):
        pool = children_of(main)
        assert len(pool) == 2
        kill_9(*pool)

    # No sweeper here: the same worker, with new pool processes, gets the messages back.
    rows = stack.wait_done({evt["id"] for evt in events}, timeout=60)
    assert_each_done_once({i: rows[i] for i in (e["id"] for e in events)}, events)
    assert invoices_recorded(pg_url) == dict.fromkeys((e["id"] for e in events), 1)
    assert "WorkerLostError" in stack.logs("worker")


@pytest.mark.bound(90)
def test_a_worker_killed_whole_mid_task_is_recovered_by_a_new_worker_and_the_sweeper(
    stack: Stack, pg_url: str
) -> None:
    with worker_caught_mid_task(stack, pg_url, random.Random(3)) as (events, victims, main):
        kill_9(main, *children_of(main))  # the host is lost: every process at once

    stack.start_worker(concurrency=2)
    others = {evt["id"] for evt in events} - set(victims)
    stack.wait_done(others, timeout=60)
    # The two messages the dead worker held are invisible in Redis for an hour: their events
    # wait, unless a later doorbell of their customer partition ran them in its batch...
    rows = stack.events()
    assert {rows[v][1:] for v in victims} <= {("received", 0), ("processed", 1)}
    stranded = [v for v in victims if rows[v][1] == "received"]

    # ...and the sweeper queues those again now.
    assert f"queued {len(stranded)} stranded event(s)" in stack.sweep()
    rows = stack.wait_done({evt["id"] for evt in events}, timeout=30)
    assert_each_done_once({i: rows[i] for i in (e["id"] for e in events)}, events)
    assert invoices_recorded(pg_url) == dict.fromkeys((e["id"] for e in events), 1)
