"""Intake's group commit (worker/eventlog/group_intake.py) on PostgreSQL, many request threads."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from sqlalchemy import event, insert, select, text
from sqlalchemy.exc import OperationalError

from worker import samples
from worker.db.models import Event, EventStatus, utcnow
from worker.db.session import session_factory
from worker.eventlog.group_intake import GroupIntake
from worker.eventlog.intake import IncomingEvent, parse_event
from worker.eventlog.intake import StoreOutcome as Outcome


def delivery() -> IncomingEvent:
    return parse_event(samples.body(samples.invoice_paid_event()))


def inserts_counted(sessions: Any) -> list[int]:
    """Rows per INSERT INTO events the engine sends, appended as they are sent."""
    sizes: list[int] = []

    @event.listens_for(sessions.kw["bind"], "before_cursor_execute")
    def count(_conn: Any, _cursor: Any, statement: str, params: Any, *_: Any) -> None:
        if statement.startswith("INSERT INTO events"):
            sizes.append(statement.count("(%"))  # a row's values open with its first placeholder

    return sizes


def stored_ids(pg_url: str) -> list[str]:
    with session_factory(pg_url)() as session:
        return list(session.scalars(select(Event.id)))


def test_deliveries_waiting_on_a_commit_share_the_next_one_and_each_learns_its_outcome(
    pg_url: str,
) -> None:
    sessions = session_factory(pg_url)
    rung: list[list[str]] = []
    intake = GroupIntake(sessions, rung.append)
    first, *others = [delivery() for _ in range(9)]
    known = others[0]
    intake.store(known)  # stored before: its second delivery is a duplicate
    blocker = session_factory(pg_url)()
    # Another transaction inserting the first event's id: the first group's INSERT waits on it.
    blocker.execute(insert(Event).values(first.row(received_at=first.created)))
    sizes = inserts_counted(sessions)
    with ThreadPoolExecutor(max_workers=12) as pool:
        leader = pool.submit(intake.store, first)
        time.sleep(0.3)
        # Eight deliveries and one delivered twice, all while the first group's commit waits.
        later = [pool.submit(intake.store, evt) for evt in [*others, others[1], others[1]]]
        time.sleep(0.3)
        assert not leader.done() and not any(f.done() for f in later)  # none answered early
        blocker.rollback()
        blocker.close()
        outcomes = [leader.result(10)] + [f.result(10) for f in later]

    ids = [evt.id for evt in others]
    assert outcomes[0] == Outcome(first.id, duplicate=False, status=EventStatus.RECEIVED, rung=True)
    assert outcomes[1] == Outcome(known.id, duplicate=True, status=EventStatus.RECEIVED, rung=True)
    assert {o for o in outcomes[2:] if o.event_id != ids[1]} == {
        Outcome(i, duplicate=False, status=EventStatus.RECEIVED, rung=True) for i in ids[2:]
    }
    # Delivered three times in one group: stored by one, a duplicate for the two others.
    assert sorted(o.duplicate for o in outcomes if o.event_id == ids[1]) == [False, True, True]
    # The first alone, then the ten others in one statement: one commit for their 8 rows.
    assert sizes == [1, 8]
    assert sorted(stored_ids(pg_url)) == sorted([first.id, *ids])
    # One doorbell per group, for its events still `received` (the known one too), once each.
    assert rung[:2] == [[known.id], [first.id]]
    assert sorted(rung[2]) == sorted(ids)
    assert all(outcome.rung for outcome in outcomes)


def test_a_failed_group_statement_answers_every_delivery_of_the_group_with_the_error(
    pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from worker.eventlog import group_intake

    first_group_may_end = threading.Event()
    real_insert = group_intake._insert

    def insert_or_fail(conn: Any, group: list[Any]) -> list[Outcome]:
        if any(d.event.id == events[0].id for d in group):
            first_group_may_end.wait(10)  # the others arrive meanwhile, and wait
            return real_insert(conn, group)
        raise OperationalError("INSERT", {}, Exception("server closed the connection"))

    monkeypatch.setattr(group_intake, "_insert", insert_or_fail)
    intake = GroupIntake(session_factory(pg_url))
    events = [delivery() for _ in range(5)]
    with ThreadPoolExecutor(max_workers=5) as pool:
        lead = pool.submit(intake.store, events[0])
        time.sleep(0.2)
        rest = [pool.submit(intake.store, evt) for evt in events[1:]]
        time.sleep(0.2)
        first_group_may_end.set()
        assert lead.result(10).duplicate is False
        errors = [future.exception(10) for future in rest]
    assert all(isinstance(error, OperationalError) for error in errors)
    assert stored_ids(pg_url) == [events[0].id]


def test_groups_one_after_another_take_no_connection_from_the_pool_each(pg_url: str) -> None:
    """The leaders keep one connection: a checkout, an autocommit set and reset and a checkin
    per group were a third of a group's CPU."""
    sessions = session_factory(pg_url)
    intake = GroupIntake(sessions)
    checkouts: list[object] = []
    event.listen(sessions.kw["bind"], "checkout", lambda *_: checkouts.append(1))
    events = [delivery() for _ in range(5)]
    outcomes = [intake.store(evt) for evt in [*events, events[0]]]
    assert len(checkouts) == 1
    assert [o.duplicate for o in outcomes] == [False] * 5 + [True]
    with session_factory(pg_url)() as session:  # each row as the driver's text stored it
        rows = {row.id: row for row in session.scalars(select(Event))}
    assert sorted(rows) == sorted(evt.id for evt in events)
    for evt in events:
        row = rows[evt.id]
        assert (row.created, row.customer, row.payload) == (evt.created, evt.customer, evt.payload)
        assert row.status == EventStatus.RECEIVED and row.attempts == 0
        assert abs((utcnow() - row.received_at).total_seconds()) < 60


def test_a_group_after_the_server_dropped_the_leaders_connection_is_stored_all_the_same(
    pg_url: str,
) -> None:
    intake = GroupIntake(session_factory(pg_url))
    first, second = delivery(), delivery()
    intake.store(first)
    with session_factory(pg_url)() as admin:  # as a PostgreSQL restart does to every connection
        dropped = admin.scalar(
            text(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
                " WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
        )
    assert dropped >= 1
    assert intake.store(second) == Outcome(second.id, duplicate=False, status=EventStatus.RECEIVED)
    assert intake.store(first).duplicate is True
    assert sorted(stored_ids(pg_url)) == sorted([first.id, second.id])
