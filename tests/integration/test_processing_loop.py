"""The embedded default's processing loop against a real event log (SQLite and PostgreSQL)."""

from __future__ import annotations

import dataclasses
import threading
from typing import Any

import pytest
from sqlalchemy import create_engine, select
from sqlalchemy.pool import NullPool
from stored_events import statuses, store

from worker.db.models import Event
from worker.db.session import session_factory
from worker.embedded.loop import Partition, ProcessingLoop
from worker.errors import RetryableError
from worker.handlers import HANDLERS


def test_a_loop_takes_its_customers_events_oldest_first_and_leaves_the_others(
    database_url: str, runtime
) -> None:
    mine, theirs = Partition(0, 2), Partition(1, 2)
    names = [f"cus_part{n:03d}" for n in range(40)]
    ours = [name for name in names if mine.owns(name, "")][:3]
    other = [name for name in names if theirs.owns(name, "")][:3]
    # One customer's three events in turn, interleaved with another partition's.
    ids = store(database_url, [ours[0], other[0], ours[0], other[1], ours[0], ours[1], other[2]])
    seen: list[str] = []

    def record(ctx: Any, obj: dict[str, Any]) -> None:
        seen.append(ctx.event_id)
        HANDLERS["invoice.paid"](ctx, obj)

    loop = ProcessingLoop(runtime, mine, threading.Event(), handlers={"invoice.paid": record})
    assert loop.process_due() == 4
    assert seen == [ids[0], ids[2], ids[4], ids[5]]
    after = statuses(database_url)
    assert [after[i][0] for i in ids] == [
        "processed", "received", "processed", "received", "processed", "processed", "received"
    ]  # fmt: skip
    assert loop.process_due() == 0  # nothing of its own is left


def test_a_retryable_error_backs_off_and_the_last_attempt_fails_the_event(
    database_url: str, runtime
) -> None:
    runtime = dataclasses.replace(
        runtime, settings=runtime.settings.model_copy(update={"task_max_retries": 1})
    )

    def flaky(_ctx: Any, _obj: dict[str, Any]) -> None:
        raise RetryableError("Stripe answered 503")

    [event_id] = store(database_url, ["cus_flaky"])
    loop = ProcessingLoop(
        runtime, Partition(0, 1), threading.Event(), handlers={"invoice.paid": flaky}
    )
    assert loop.process_due() == 1
    assert statuses(database_url)[event_id] == ("received", 1)
    assert loop.process_due() == 0  # backing off: not taken again at once
    loop.not_before[event_id] = 0.0  # the back-off has passed
    assert loop.process_due() == 1
    assert statuses(database_url)[event_id] == ("failed", 2)


def committed(database_url: str) -> dict[str, tuple[str, int]]:
    """Each event's (status, attempts) as committed, read on a plain connection of its own (the
    worker's engine would wait on SQLite for the write lock the loop holds)."""
    engine = create_engine(database_url, poolclass=NullPool)
    with engine.connect() as conn:
        rows = conn.execute(select(Event.id, Event.status, Event.attempts)).all()
    engine.dispose()
    return {event_id: (status, attempts) for event_id, status, attempts in rows}


def test_a_loop_commits_what_it_ran_once_an_event_reached_stripe(
    database_url: str, runtime
) -> None:
    # One customer's two events around another's: the first takes a Stripe client, as a call.
    ids = store(database_url, ["cus_calls", "cus_quiet", "cus_calls"])
    seen: dict[str, dict[str, tuple[str, int]]] = {}  # event id -> the statuses others saw

    def record(ctx: Any, obj: dict[str, Any]) -> None:
        seen[ctx.event_id] = committed(database_url)
        if ctx.event_id == ids[0]:
            assert ctx.stripe.client is not None
        HANDLERS["invoice.paid"](ctx, obj)

    loop = ProcessingLoop(
        runtime, Partition(0, 1), threading.Event(), handlers={"invoice.paid": record}
    )
    while loop.process_due():
        pass
    assert list(seen) == ids  # in order
    # The event that reached Stripe was committed before the next ran; the others together.
    assert [seen[ids[1]][i] for i in ids] == [("processed", 1), ("received", 0), ("received", 0)]
    assert seen[ids[2]][ids[1]] == ("received", 0)
    assert {statuses(database_url)[i] for i in ids} == {("processed", 1)}


@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)
def test_a_loop_waits_for_an_event_held_elsewhere_before_its_customers_next(
    database_url: str, runtime
) -> None:
    first, second = store(database_url, ["cus_held", "cus_held"])
    seen: list[str] = []

    def record(ctx: Any, obj: dict[str, Any]) -> None:
        seen.append(ctx.event_id)
        HANDLERS["invoice.paid"](ctx, obj)

    loop = ProcessingLoop(
        runtime, Partition(0, 1), threading.Event(), handlers={"invoice.paid": record}
    )
    pass_over = threading.Thread(target=loop.process_due)
    with session_factory(database_url)() as holder, holder.begin():  # a replay, an operator
        holder.get(Event, first, with_for_update=True)
        pass_over.start()
        pass_over.join(timeout=2)
        assert pass_over.is_alive()  # waiting for the first event's row
        assert seen == []
    pass_over.join(timeout=30)
    assert seen == [first, second]
    assert {statuses(database_url)[i] for i in (first, second)} == {("processed", 1)}
