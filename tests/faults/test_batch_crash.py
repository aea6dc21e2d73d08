"""Fault 2b: a Celery pool process, or an embedded processing loop, killed with SIGKILL in the
middle of a batch.

A task runs the fresh `received` events of its event's customer partition in one transaction
(worker/eventlog/batches.py); so does the embedded default's loop with those of its share of the
customers (worker/embedded/loop.py). To be certain the kill lands mid-batch, the test holds an
uncommitted row of the invoice whose event comes eleventh in its partition, as another
transaction storing it would: the batch runs the ten events before it, then waits inside its
transaction to insert that invoice, which pg_stat_activity shows, and is killed there. (A
customer's row lock would not do: a batch takes its customers' locks up front.) No hook in the
production code is needed.

The batch is rolled back whole: none of the ten is marked processed, none keeps an invoice row.
The killed task's message comes back (`acks_late` + `reject_on_worker_lost`), the others' are
still queued; or the supervisor starts a new loop, which finds them all `received`. Every event
ends processed by exactly one committed run.
"""

from __future__ import annotations

import pytest
import requests
from fault_stack import (
    Stack,
    assert_each_done_once,
    children_of,
    invoice_held,
    invoices_recorded,
    kill_9,
)
from stored_events import ids_in_partition

from worker import samples

pytestmark = pytest.mark.services

PARTITION = 7
# What the batch logs as it starts, and what the worker logs once its killed process is gone.
SAYS = {
    "celery": ("batch of 21 events of partition 7", "WorkerLostError"),
    "embedded": ("batch of 21 events of loop 0", "processing loop 0 exited"),
}


@pytest.mark.bound(120)
@pytest.mark.parametrize("engine", SAYS)
def test_a_process_killed_mid_batch_rolls_the_batch_back_and_each_event_runs_once(
    engine: str, stack: Stack, pg_url: str
) -> None:
    if engine == "embedded":  # no broker: the worker's loops read the event log themselves
        del stack.env["BROKER_URL"]
    started, replaced = SAYS[engine]
    stack.start_receiver()
    http = requests.Session()
    *others, slow = ids_in_partition(pg_url, PARTITION, 11, "cus_crash")
    # The slow customer known (its invoice's row needs it) and the catalog seeded.
    worker = stack.start_worker(concurrency=1)
    stack.seed_catalog(http)
    known = samples.event(
        "customer.created", {"id": slow, "object": "customer", "email": "slow@example.com"}
    )
    assert stack.deliver(http, known) == 200
    stack.wait_done({known["id"]}, timeout=30)
    stack.processes.stop(worker)

    # Delivered with no worker up, in this order: ten customers, the slow one, the ten again.
    events = [
        samples.invoice_paid_event(customer=customer, amount_paid=1000 * (n + 1))
        for n, customer in enumerate([*others, slow, *others])
    ]
    for evt in events:
        assert stack.deliver(http, evt) == 200
    ids = [evt["id"] for evt in events]

    with invoice_held(pg_url, events[len(others)]["data"]["object"]):  # the slow customer's
        main = stack.start_worker(concurrency=1).pid
        # One batch holds all 21 rows, and has run the first ten: none of them committed.
        stack.wait_mid_batch(ids, 30, "the batch waiting mid-way")
        assert started in stack.logs("worker")
        (pool,) = children_of(main)  # Celery's pool process, or the one processing loop
        kill_9(pool)

    # The same worker, with a new pool process or loop, runs the batch's events again.
    rows = stack.wait_done(set(ids), timeout=60)
    assert_each_done_once({i: rows[i] for i in ids}, events)
    assert invoices_recorded(pg_url) == dict.fromkeys(ids, 1)
    assert replaced in stack.logs("worker")
