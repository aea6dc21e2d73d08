"""Fault 2c: a receiver process killed with SIGKILL while a group of deliveries waits on its commit.

The deliveries a receiver process gets together share one INSERT and one commit
(worker/eventlog/group_intake.py). To be certain the kill lands mid-group, the test holds an
uncommitted row with the first delivery's event id, as a concurrent intake would: that
delivery's INSERT waits on it (pg_stat_activity shows it), and the deliveries that arrive
meanwhile wait for the next group. The gunicorn worker is killed there: no delivery of the group
was acknowledged, so Stripe delivers each again, and each is then stored once.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
from fault_stack import Stack, children_of, kill_9, lock_waiters, post_all
from harness.processes import wait_until
from sqlalchemy import insert

from worker import samples
from worker.db.models import Event
from worker.db.session import session_factory
from worker.eventlog.intake import parse_event

pytestmark = pytest.mark.services

THREADS = 8  # gunicorn's gthread threads per worker (webhooks/gunicorn_conf.py)


def try_deliver(stack: Stack, evt: dict) -> int | None:
    """One delivery attempt; None when the connection broke before an answer."""
    try:
        with requests.Session() as http:
            return stack.deliver(http, evt)
    except requests.ConnectionError:
        return None


@pytest.mark.bound(90)
def test_a_receiver_killed_while_a_group_waits_on_its_commit_acknowledges_none_and_loses_none(
    stack: Stack, pg_url: str
) -> None:
    master = stack.processes.receiver(stack.env, workers=1, log_name="receiver.log")
    before = [samples.invoice_paid_event() for _ in range(20)]
    assert set(post_all(stack, before, clients=8)) == {200}

    first, *group = [samples.invoice_paid_event() for _ in range(THREADS)]
    sessions = session_factory(pg_url)
    with sessions() as blocker, blocker.begin():
        incoming = parse_event(samples.body(first))
        row = incoming.row(received_at=incoming.created)
        blocker.execute(insert(Event).values(row))  # uncommitted: the first INSERT waits
        with ThreadPoolExecutor(max_workers=THREADS) as pool:
            answers = [pool.submit(try_deliver, stack, first)]
            wait_until(lambda: lock_waiters(pg_url) == 1, 20, "the first group's INSERT")
            answers += [pool.submit(try_deliver, stack, evt) for evt in group]
            time.sleep(0.5)  # they reach the receiver and wait for the next group
            assert not any(answer.done() for answer in answers)
            (worker,) = children_of(master.pid)
            kill_9(worker)
            assert [answer.result(10) for answer in answers] == [None] * THREADS
        blocker.rollback()

    # The group's own INSERT never ran; the first's may commit after the kill, unanswered.
    stored = set(stack.events())
    assert not stored & {evt["id"] for evt in group}
    assert {evt["id"] for evt in before} <= stored

    # Stripe delivers each again (gunicorn has started a new worker): each stored once.
    wait_until(lambda: len(children_of(master.pid)) == 1, 20, "a new gunicorn worker")
    with requests.Session() as http:
        for evt in [first, *group]:
            wait_until(lambda e=evt: try_deliver(stack, e) == 200, 20, "an acknowledgement")
        assert stack.deliver(http, first) == 200  # and a duplicate is acknowledged
    rows = stack.events()
    assert len(rows) == len(before) + THREADS
    assert all(rows[evt["id"]][1] == "received" for evt in [first, *group])
