"""Fault 2d: `events replay` killed with SIGKILL in the middle of one of its batches.

Replay runs its events in batches, one transaction each (worker/eventlog/processing.py
`process_events`). To be certain the kill lands mid-batch, the test holds an uncommitted row of
the invoice whose event comes eleventh, as another transaction storing it would: the batch runs
the ten before it, then waits inside its transaction (pg_stat_activity shows it), and the process
is killed there. (A customer's row lock would not do: a batch takes its customers' up front.)
The batch is rolled back whole; the operator replays again, and each event is run by exactly one
committed run.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from fault_stack import (
    Stack,
    assert_each_done_once,
    catalog_events,
    invoice_held,
    invoices_recorded,
    kill_9,
)
from harness.processes import CLI, cli
from sqlalchemy import insert

from worker import samples
from worker.db.models import PLATFORM, AccountStatus, Customer
from worker.db.session import session_factory
from worker.eventlog.intake import parse_event, store_event

pytestmark = pytest.mark.services


@pytest.mark.bound(120)
def test_a_replay_killed_mid_batch_rolls_the_batch_back_and_a_second_replay_runs_each_once(
    tmp_path: Path, stack: Stack, pg_url: str
) -> None:
    env = stack.env
    sessions = session_factory(pg_url)
    slow = "cus_replay_slow"
    with sessions() as session, session.begin():
        session.execute(
            insert(Customer).values(
                account=PLATFORM, id=slow, email="slow@example.com",
                account_status=AccountStatus.ACTIVE,
            )
        )  # fmt: skip
    catalog = catalog_events()
    others = [f"cus_replay{n:02d}" for n in range(9)]
    events = catalog + [
        samples.invoice_paid_event(customer=customer, amount_paid=1000 * (n + 1))
        for n, customer in enumerate([*others, slow, *others])
    ]
    for evt in events:  # stored as intake stores them, in this order, none processed
        store_event(sessions, parse_event(samples.body(evt)))
    ids = [evt["id"] for evt in events]
    slow_invoice = events[len(catalog) + len(others)]["data"]["object"]
    with invoice_held(pg_url, slow_invoice):
        replay = stack.processes.spawn(
            [*CLI, "events", "replay", "--status", "received", "--jobs", "1"], env, "replay.log"
        )
        # One batch holds every row and has run the ten before the slow customer's event: none
        # of them committed.
        stack.wait_mid_batch(ids, 60, "the replay's batch waiting")
        kill_9(replay.pid)
        replay.wait()

    assert invoices_recorded(pg_url) == {}
    assert "replayed 21" in cli(["events", "replay", "--status", "received"], env, tmp_path)
    rows = stack.events()
    assert_each_done_once({i: rows[i] for i in ids}, events)
    invoices = ids[len(catalog) :]
    assert invoices_recorded(pg_url) == dict.fromkeys(invoices, 1)
