"""Benchmark 2: processing, received → processed by 2 Celery worker processes against stripe-mock.

The mix does Stripe calls, under the Mittrik policy:
- `charge.dispute.created` for a customer with a paid invoice: suspend (subscriptions.list,
  subscriptions.update pause_collection, customers.update), M6.dispute;
- `customer.subscription.updated`, a portal downgrade: the pending credit proration is deleted
  (invoiceitems.list, invoiceitems.delete), M3.downgrade — stripe-mock's invoice item is made
  a credit proration for this;
- `invoice.paid` with a known catalog and its payment expanded (database work, no call).
Beside it a call-free mix (issue 15), events that need no Stripe call, in turn: a refund
recorded (`refund.created`, succeeded, on a seeded customer's payment), an event of a type
without a handler, and `invoice.paid`; one in 100 is a `product.updated` (the catalog as it
is: the catalog cache of every worker process starts again after it).
The floor is the same pipeline with handlers doing nothing: events of a type without a handler,
which the task marks `ignored` (row lock, status update, commit).

Events are stored as the receiver stores them, then queued: all at once for the rate, or paced
at a fixed rate for the latency, which runs from `received_at` to `processed_at` on the row.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select

from bench import payloads
from bench.loadgen import percentile
from bench.report import Figure, events_per_second_beside_no_handler
from worker import samples
from worker.bootstrap import bootstrap
from worker.config import Settings
from worker.db.models import Event, EventStatus, StripeCall
from worker.eventlog.intake import parse_event, store_event

# stripe-mock's pending invoice item as a portal downgrade leaves it: a credit proration, made
# at the moment of the downgrades' change (a change's prorations start then: M3.downgrade).
STRIPE_FIXTURES: dict[str, dict[str, object]] = {
    "invoiceitem": {
        "proration": True,
        "amount": -2500,
        "parent": None,
        "subscription": None,
        "period": {"start": payloads.PORTAL_CHANGE_AT, "end": payloads.PORTAL_CHANGE_AT + 86400},
    }
}
MIX = ("charge.dispute.created", "customer.subscription.updated", "invoice.paid")
NO_HANDLER = "balance.available"
# A customer whose index is a multiple of 3 has a paid invoice (seeded for MIX's disputes): the
# refund falls on it.
CALL_FREE = ("refund.created", NO_HANDLER, "invoice.paid")
CATALOG_EVERY = 100  # one catalog event in this many of the call-free mix


@dataclass(frozen=True)
class ProcessingSizes:
    events: int = 1500  # the mix, queued at once
    rate: float = 100.0  # events/s for the latency
    rate_seconds: float = 10.0
    timeout: float = 300.0  # the longest any phase may take


class Processing:
    """Stores and queues events, and waits for the Celery workers to finish them."""

    def __init__(self, settings: Settings) -> None:
        runtime = bootstrap(settings)
        self.sessions = runtime.sessions
        self.enqueue = runtime.enqueue
        self.customers = 0  # seeded so far

    def store(self, events: Iterable[dict[str, Any]]) -> list[str]:
        ids = []
        for evt in events:
            store_event(self.sessions, parse_event(samples.body(evt)))
            ids.append(evt["id"])
        return ids

    def wait_done(self, ids: list[str], timeout: float) -> None:
        """Until none of `ids` is still `received`; fail loudly if any ended `failed`."""
        deadline = time.monotonic() + timeout
        while True:
            with self.sessions() as session:
                left = session.scalar(
                    select(func.count())
                    .select_from(Event)
                    .where(Event.id.in_(ids), Event.status == EventStatus.RECEIVED)
                )
            if not left:
                break
            if time.monotonic() > deadline:
                raise TimeoutError(f"{left} of {len(ids)} events still received after {timeout}s")
            time.sleep(0.05)
        with self.sessions() as session:
            failed = session.execute(
                select(Event.id, Event.last_error)
                .where(Event.id.in_(ids), Event.status == EventStatus.FAILED)
                .limit(3)
            ).all()
        if failed:
            raise RuntimeError(f"events failed: {[tuple(row) for row in failed]}")

    def run(self, events: list[dict[str, Any]], timeout: float) -> list[str]:
        ids = self.store(events)
        for event_id in ids:
            self.enqueue(event_id)
        self.wait_done(ids, timeout)
        return ids

    def seed(self, customers: int, timeout: float) -> None:
        """Catalog first, then the customers, then a paid invoice for each customer a dispute
        will name: each phase done before the next, as Stripe would have sent them over time."""
        if self.customers == 0:
            self.run(payloads.catalog_events(), timeout)
        new = range(self.customers, customers)
        self.run([payloads.customer_created(payloads.customer_id(i)) for i in new], timeout)
        disputed = [i for i in new if MIX[i % len(MIX)] == "charge.dispute.created"]
        self.run([payloads.invoice_paid(payloads.customer_id(i)) for i in disputed], timeout)
        self.customers = max(self.customers, customers)

    def mix(self, count: int, first_customer: int) -> list[dict[str, Any]]:
        """`count` events, the three kinds in turn, each for a customer of its own: a burst
        (a renewal run) touches many customers, so the per-customer lock is seldom contended.
        `first_customer` is a multiple of 3, so disputes fall on customers seeded with an
        invoice."""
        events = []
        for index in range(first_customer, first_customer + count):
            customer = payloads.customer_id(index)
            kind = MIX[index % len(MIX)]
            if kind == "charge.dispute.created":
                events.append(payloads.dispute_created(customer))
            elif kind == "customer.subscription.updated":
                events.append(payloads.subscription_updated(customer, downgrade=True))
            else:
                events.append(payloads.invoice_paid(customer, number=2 + index))
        return events

    def call_free(self, count: int) -> list[dict[str, Any]]:
        """`count` events that need no Stripe call, the kinds of CALL_FREE in turn, each for
        a customer of its own, with a catalog event now and then."""
        events = []
        for index in range(count):
            customer = payloads.customer_id(index)
            kind = CALL_FREE[index % len(CALL_FREE)]
            if index % CATALOG_EVERY == CATALOG_EVERY - 1:
                price = payloads.CATALOG[index % len(payloads.CATALOG)]
                product = samples.product(payloads.product_id(price[0]), price[1])
                events.append(samples.event("product.updated", product))
            elif kind == "refund.created":
                refund = samples.refund(
                    payment_intent=payloads.payment_intent_of(customer), amount=1500
                )
                events.append(samples.event("refund.created", refund))
            elif kind == NO_HANDLER:
                evt = payloads.invoice_paid(customer, number=2 + index)
                evt["type"] = NO_HANDLER
                events.append(evt)
            else:
                events.append(payloads.invoice_paid(customer, number=2 + index))
        return events

    def rate(self, events: list[dict[str, Any]], timeout: float) -> dict[str, Any]:
        """Store all, then queue all at once; events/s until the last one is processed."""
        ids = self.store(events)
        with self.sessions() as session:
            calls_before = session.scalar(select(func.count()).select_from(StripeCall)) or 0
        started = time.time()
        for event_id in ids:
            self.enqueue(event_id)
        self.wait_done(ids, timeout)
        with self.sessions() as session:
            last = session.scalar(select(func.max(Event.processed_at)).where(Event.id.in_(ids)))
            calls = (
                session.scalar(select(func.count()).select_from(StripeCall)) or 0
            ) - calls_before
        seconds = _timestamp(last) - started
        return {
            "events": len(ids),
            "seconds": round(seconds, 3),
            "per_second": round(len(ids) / seconds, 1),
            "stripe_calls_audited": calls,
        }

    def latency(self, events: list[dict[str, Any]], rate: float, timeout: float) -> dict[str, Any]:
        """Store and queue one event every 1/rate s, as the receiver would; then the
        received → processed time of each."""
        bodies = [samples.body(evt) for evt in events]
        ids = []
        started = time.perf_counter()
        late = 0
        for index, body in enumerate(bodies):
            delay = started + index / rate - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            elif delay < -0.01:
                late += 1
            stored = store_event(self.sessions, parse_event(body))
            self.enqueue(stored.event_id)
            ids.append(stored.event_id)
        self.wait_done(ids, timeout)
        with self.sessions() as session:
            rows = session.execute(
                select(Event.received_at, Event.processed_at).where(Event.id.in_(ids))
            ).all()
        ms = [(_timestamp(done) - _timestamp(got)) * 1000 for got, done in rows]
        return {
            "events": len(ids),
            "rate": rate,
            "p50_ms": round(percentile(ms, 0.5) or 0, 2),
            "p99_ms": round(percentile(ms, 0.99) or 0, 2),
            "max_ms": round(max(ms), 2),
            "sender_late": late,
        }


def no_handler_events(count: int) -> list[dict[str, Any]]:
    """4 KiB events of a type the worker has no handler for: the task marks them `ignored`."""
    events = []
    for index in range(count):
        evt = payloads.invoice_paid(payloads.customer_id(index), number=2 + index)
        evt["type"] = NO_HANDLER
        events.append(evt)
    return events


def _timestamp(moment: datetime | None) -> float:
    assert moment is not None
    return moment.timestamp()


def measure(proc: Processing, sizes: ProcessingSizes, log: Callable[[str], None]) -> dict:
    latency_events = int(sizes.rate * sizes.rate_seconds)
    first = -(-sizes.events // len(MIX)) * len(MIX)  # the latency's customers come after
    log(f"processing: seeding {first + latency_events} customers")
    proc.seed(first + latency_events, sizes.timeout)
    log("processing: floor (no handler)")
    floor_rate = proc.rate(no_handler_events(sizes.events), sizes.timeout)
    floor_latency = proc.latency(no_handler_events(latency_events), sizes.rate, sizes.timeout)
    log(f"processing: {sizes.events} events of the mix at once")
    mix_rate = proc.rate(proc.mix(sizes.events, 0), sizes.timeout)
    log(f"processing: {sizes.events} call-free events at once")
    call_free_rate = proc.rate(proc.call_free(sizes.events), sizes.timeout)
    log(f"processing: {latency_events} events of the mix at {sizes.rate:g}/s")
    mix_latency = proc.latency(proc.mix(latency_events, first), sizes.rate, sizes.timeout)
    return {
        "rate": mix_rate,
        "call_free_rate": call_free_rate,
        "latency": mix_latency,
        "floor_rate": floor_rate,
        "floor_latency": floor_latency,
    }


def figures(measured: dict[str, Any], sizes: ProcessingSizes) -> list[Figure]:
    rate, floor_rate = measured["rate"], measured["floor_rate"]
    latency, floor_latency = measured["latency"], measured["floor_latency"]
    at = f"{sizes.rate:g}/s"
    return [
        events_per_second_beside_no_handler(
            "processing",
            "events/s, mix with Stripe calls",
            rate,
            floor_rate,
            300,
            detail={"mix": rate, "floor": floor_rate},
        ),
        events_per_second_beside_no_handler(
            "processing",
            "events/s, call-free mix",
            measured["call_free_rate"],
            floor_rate,
            600,
            detail={"call_free": measured["call_free_rate"], "floor": floor_rate},
        ),
        Figure(
            "processing",
            f"p50 received→processed at {at}",
            latency["p50_ms"],
            "ms",
            floor_latency["p50_ms"],
            "no handler",
            detail={"mix": latency, "floor": floor_latency},
        ),
        Figure(
            "processing",
            f"p99 received→processed at {at}",
            latency["p99_ms"],
            "ms",
            floor_latency["p99_ms"],
            "no handler",
        ),
    ]
