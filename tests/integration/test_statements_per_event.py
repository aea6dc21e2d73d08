"""What each event of the benchmark's call-free mix (bench/processing.py) costs the database when
a task's batch runs it, and each of its replay mix (bench/replay.py) when a replay's batch runs
it again, counted in statements on a real PostgreSQL.

Each statement is a round trip and SQLAlchemy's work on it: their count is what limits the
processing rate, and unlike events per second it does not move with the machine's load. So a
change that adds a statement to an event's path fails here, with the event kind it costs.
The count of a kind is the difference between a batch of 6 such events and a batch of 2,
divided by 4: the batch's own statements (its lock, its select, its outcomes) cancel out.
Every event's doorbell rings, as Celery rings them: one runs the batch, the others find their
event done, without a read in the process that ran the batch, with one in another.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from sqlalchemy import event
from stored_events import ids_in_partition

from bench import payloads
from bench.processing import NO_HANDLER
from worker import samples
from worker.bootstrap import bootstrap
from worker.config import Settings
from worker.embedded.loop import Partition, ProcessingLoop
from worker.eventlog.batches import process_in_batch
from worker.eventlog.intake import parse_event, store_event
from worker.eventlog.processing import process_event
from worker.eventlog.replay import operator_batches
from worker.runtime import Runtime

pytestmark = pytest.mark.parametrize("database_url", ["postgres"], indirect=True)

# Statements per event in a batch; none reaches Stripe, so none has a savepoint of its own
# (worker/eventlog/stretches.py), and their doorbells ring where the batch ran (done_here.py).
# The customers the events name are locked up front, all in one statement of the batch's own.
PER_EVENT = {
    "invoice.paid": 3,  # stored invoice; invoice and lines inserted
    "refund.created": 3,  # paying customer locked; stored refund locked; refund upserted
    NO_HANDLER: 0,  # its outcome, recorded with the batch's others
}


def invoice_paid(customer: str, _event_id: str) -> dict[str, Any]:
    return payloads.invoice_paid(customer, number=2)  # a second invoice of a known customer


def refund_created(customer: str, event_id: str) -> dict[str, Any]:
    """A refund on the customer's paid invoice; a refund names no customer, so its batch
    partition is its event id's."""
    refund = samples.refund(payment_intent=payloads.payment_intent_of(customer), amount=1500)
    return samples.event("refund.created", refund, event_id=event_id)


def no_handler(customer: str, _event_id: str) -> dict[str, Any]:
    evt = payloads.invoice_paid(customer, number=2)
    evt["type"] = NO_HANDLER
    return evt


KINDS: dict[str, Callable[[str, str], dict[str, Any]]] = {
    "invoice.paid": invoice_paid,
    "refund.created": refund_created,
    NO_HANDLER: no_handler,
}


def run_in_process(runtime: Runtime, events: list[dict[str, Any]]) -> None:
    for evt in events:
        store_event(runtime.sessions, parse_event(samples.body(evt)))
        assert process_event(runtime, evt["id"]) == "processed"


def statements_of_batch(runtime: Runtime, events: list[dict[str, Any]]) -> int:
    """Store `events` (one partition's), then ring each one's doorbell: the statements run."""
    for evt in events:
        store_event(runtime.sessions, parse_event(samples.body(evt)))
    with counting(runtime) as count:
        outcomes = {process_in_batch(runtime, evt["id"]) for evt in events}
    assert outcomes <= {"processed", "ignored"}
    return count[0]


@contextmanager
def counting(runtime: Runtime) -> Iterator[list[int]]:
    """The statements run on `runtime`'s database meanwhile, in a list of one count."""
    count = [0]

    def counted(*_args: Any) -> None:
        count[0] += 1

    engine = runtime.sessions.kw["bind"]
    event.listen(engine, "before_cursor_execute", counted)
    try:
        yield count
    finally:
        event.remove(engine, "before_cursor_execute", counted)


def statements_of_loop_pass(runtime: Runtime, events: list[dict[str, Any]]) -> int:
    """Store `events`, then let an embedded processing loop that owns every customer run them."""
    for evt in events:
        store_event(runtime.sessions, parse_event(samples.body(evt)))
    loop = ProcessingLoop(runtime, Partition(0, 1), threading.Event())
    with counting(runtime) as count:
        assert loop.process_due() == len(events)
    return count[0]


def known_batches(database_url: str, runtime: Runtime) -> list[tuple[str, list[dict[str, Any]]]]:
    """For each kind, a batch of 2 and a batch of 6 events, each batch in one partition: by its
    customers (whose events fall in it), or for a refund by its event ids. Their customers are
    known, each with a paid invoice, and the catalog too: no event needs Stripe."""
    batches = []
    known = []
    for partition, (kind, make) in enumerate(KINDS.items()):
        for size in (2, 6):
            name = f"{partition}x{size}x"
            customers = ids_in_partition(database_url, partition, size, f"cus_{name}")
            event_ids = ids_in_partition(database_url, partition, size, f"evt_{name}")
            batches.append((kind, list(map(make, customers, event_ids))))
            known += customers
    run_in_process(runtime, payloads.catalog_events())
    run_in_process(runtime, [payloads.customer_created(customer) for customer in known])
    run_in_process(runtime, [payloads.invoice_paid(customer) for customer in known])
    return batches


def test_each_call_free_event_in_a_batch_costs_its_statements(
    database_url: str, runtime: Runtime, make_settings: Callable[..., Settings]
) -> None:
    batches = known_batches(database_url, runtime)
    costs: dict[str, list[int]] = {}
    for kind, events in batches:
        costs.setdefault(kind, []).append(statements_of_batch(runtime, events))
    assert {kind: (large - small) / 4 for kind, (small, large) in costs.items()} == PER_EVENT

    # A doorbell ringing in another process (its own engine) reads its event once.
    another = f"{database_url}?application_name=another"
    elsewhere = bootstrap(make_settings(database_url=another))
    done = batches[-1][1][0]["id"]
    with counting(elsewhere) as count:
        assert process_in_batch(elsewhere, done) == "ignored"
    assert count == [1]


def test_each_call_free_event_an_embedded_loop_runs_costs_what_a_batch_does(
    database_url: str, runtime: Runtime
) -> None:
    # The embedded default's loops run fresh events in batches as the tasks do.
    costs: dict[str, list[int]] = {}
    for kind, events in known_batches(database_url, runtime):
        costs.setdefault(kind, []).append(statements_of_loop_pass(runtime, events))
    assert {kind: (large - small) / 4 for kind, (small, large) in costs.items()} == PER_EVENT


# Statements per event a replay runs again in one of its batches (the benchmark's replay mix),
# the stored state unchanged by it; none reaches Stripe, so none has a savepoint of its own.
# Their customers are locked up front, as a task's batch locks them.
REPLAYED = {
    "invoice.paid": 3,  # stored invoice; its lines deleted and inserted again
    "customer.subscription.updated": 1,  # stored subscription
}


def test_each_event_a_replay_runs_again_costs_its_statements(runtime: Runtime) -> None:
    customers = [payloads.customer_id(index) for index in range(8)]
    run_in_process(runtime, payloads.catalog_events())
    run_in_process(runtime, [payloads.customer_created(customer) for customer in customers])
    kinds = {
        "invoice.paid": payloads.invoice_paid,
        "customer.subscription.updated": payloads.subscription_updated,
    }
    costs: dict[str, list[int]] = {}
    for kind, make in kinds.items():
        for batch in (customers[:2], customers[2:]):  # 2 events, then 6, for 8 customers
            events = [make(customer) for customer in batch]
            run_in_process(runtime, events)  # processed once: a replay finds them done
            replay = operator_batches(runtime)
            with counting(runtime) as count:
                assert set(replay([evt["id"] for evt in events])) == {"processed"}
            costs.setdefault(kind, []).append(count[0])
    assert {kind: (large - small) / 4 for kind, (small, large) in costs.items()} == REPLAYED
