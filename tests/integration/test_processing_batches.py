"""A Celery task's batch (worker/eventlog/batches.py) against a real PostgreSQL event log."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest
from sqlalchemy import text
from stored_events import ids_in_partition, statuses, store

from worker.db.session import session_factory
from worker.errors import RetryableError
from worker.eventlog.batches import LOCK_SPACE, process_in_batch
from worker.handlers import HANDLERS

pytestmark = pytest.mark.parametrize("database_url", ["postgres"], indirect=True)


def customers_in(database_url: str, partition: int, count: int, prefix: str) -> list[str]:
    return ids_in_partition(database_url, partition, count, f"cus_{prefix}")


def test_a_task_runs_its_partitions_waiting_events_oldest_first_and_leaves_the_others(
    database_url: str, runtime
) -> None:
    ours = customers_in(database_url, 3, 2, "batch")
    theirs = customers_in(database_url, 4, 1, "batch")
    # One customer's events in turn with another of its partition's and another partition's.
    ids = store(database_url, [ours[0], theirs[0], ours[1], ours[0], theirs[0], ours[0]])
    seen: list[str] = []

    def record(ctx: Any, obj: dict[str, Any]) -> None:
        seen.append(ctx.event_id)
        HANDLERS["invoice.paid"](ctx, obj)

    handlers = {"invoice.paid": record}
    # The doorbell of the newest of them: the older ones of its partition run first.
    assert process_in_batch(runtime, ids[5], last_attempt=False, handlers=handlers) == "processed"
    assert seen == [ids[0], ids[2], ids[3], ids[5]]
    after = statuses(database_url)
    assert [after[i] for i in ids] == [
        ("processed", 1), ("received", 0), ("processed", 1),
        ("processed", 1), ("received", 0), ("processed", 1),
    ]  # fmt: skip

    # The others' doorbells find their events done, and run nothing.
    for event_id in (ids[0], ids[2], ids[3]):
        assert process_in_batch(runtime, event_id, handlers=handlers) == "processed"
    assert len(seen) == 4
    assert statuses(database_url)[ids[0]] == ("processed", 1)


def test_a_retryable_error_in_a_batch_leaves_that_event_to_its_own_doorbell(
    database_url: str, runtime
) -> None:
    customers = customers_in(database_url, 5, 3, "retry")
    ids = store(database_url, customers)
    flaky = {ids[1]}
    seen: list[str] = []

    def sometimes_down(ctx: Any, obj: dict[str, Any]) -> None:
        seen.append(ctx.event_id)
        if ctx.event_id in flaky:
            raise RetryableError("Stripe unreachable")
        HANDLERS["invoice.paid"](ctx, obj)

    handlers = {"invoice.paid": sometimes_down}
    assert process_in_batch(runtime, ids[0], last_attempt=False, handlers=handlers) == "processed"
    after = statuses(database_url)
    # Its work only is undone: the events before it and after it keep theirs.
    assert [after[i] for i in ids] == [("processed", 1), ("received", 1), ("processed", 1)]

    # Its own doorbell runs it alone, with the task's retries; it raises while not the last.
    with pytest.raises(RetryableError):
        process_in_batch(runtime, ids[1], last_attempt=False, handlers=handlers)
    assert statuses(database_url)[ids[1]] == ("received", 2)
    flaky.clear()
    assert process_in_batch(runtime, ids[1], last_attempt=False, handlers=handlers) == "processed"
    assert statuses(database_url)[ids[1]] == ("processed", 3)
    # The one before it ran again: the rollback of the failure's stretch had undone its work,
    # which reached no Stripe (worker/eventlog/stretches.py).
    assert seen == [ids[0], ids[1], ids[0], ids[2], ids[1], ids[1]]


def test_an_event_that_reached_stripe_is_not_run_again_when_a_later_one_fails(
    database_url: str, runtime
) -> None:
    customers = customers_in(database_url, 10, 3, "reached")
    ids = store(database_url, customers)
    seen: list[str] = []

    def calls_stripe_first(ctx: Any, obj: dict[str, Any]) -> None:
        seen.append(ctx.event_id)
        if ctx.event_id == ids[0]:
            assert ctx.stripe.customer(obj["customer"]) is not None  # stripe-mock answers
        if ctx.event_id == ids[1]:
            raise ValueError("a bug in this event's handler")
        HANDLERS["invoice.paid"](ctx, obj)

    handlers = {"invoice.paid": calls_stripe_first}
    assert process_in_batch(runtime, ids[0], handlers=handlers) == "processed"
    after = statuses(database_url)
    assert [after[i] for i in ids] == [("processed", 1), ("failed", 1), ("processed", 1)]
    assert seen == ids  # the first, having called Stripe, kept its work: not run twice


def test_its_own_retryable_error_in_the_batch_makes_the_task_retry_and_the_last_attempt_fail(
    database_url: str, runtime
) -> None:
    customers = customers_in(database_url, 6, 2, "own")
    ids = store(database_url, customers)

    def down(ctx: Any, obj: dict[str, Any]) -> None:
        if ctx.event_id == ids[1]:
            raise RetryableError("Stripe unreachable")
        HANDLERS["invoice.paid"](ctx, obj)

    handlers = {"invoice.paid": down}
    with pytest.raises(RetryableError):
        process_in_batch(runtime, ids[1], last_attempt=False, handlers=handlers)
    assert statuses(database_url)[ids[0]] == ("processed", 1)
    assert statuses(database_url)[ids[1]] == ("received", 1)
    assert process_in_batch(runtime, ids[1], last_attempt=True, handlers=handlers) == "failed"
    assert statuses(database_url)[ids[1]] == ("failed", 2)


def test_a_task_whose_partition_is_busy_runs_another_partitions_events_then_its_own(
    database_url: str, runtime
) -> None:
    busy = customers_in(database_url, 8, 1, "busy")
    free = customers_in(database_url, 9, 2, "free")
    ids = store(database_url, [free[0], busy[0], free[1]])
    sessions = session_factory(database_url)
    outcome: list[str] = []
    with sessions() as holder, holder.begin():
        # Another process's batch of partition 8, as far as the task can tell.
        holder.execute(text("SELECT pg_advisory_xact_lock(:space, 8)"), {"space": LOCK_SPACE})
        task = threading.Thread(target=lambda: outcome.append(process_in_batch(runtime, ids[1])))
        task.start()
        # Meanwhile it runs partition 9's events, then waits for partition 8's batch.
        deadline = time.monotonic() + 20
        while statuses(database_url)[ids[2]][0] != "processed" and time.monotonic() < deadline:
            time.sleep(0.05)
        assert [statuses(database_url)[i] for i in ids] == [
            ("processed", 1), ("received", 0), ("processed", 1)
        ]  # fmt: skip
        assert task.is_alive()
    task.join(20)
    assert outcome == ["processed"]
    assert statuses(database_url)[ids[1]] == ("processed", 1)
