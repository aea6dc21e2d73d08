"""Fault 1: Stripe's at-least-once, any-order delivery at volume. 2,000 events, each delivered
1-5 times, shuffled, posted by 16 concurrent clients to a 2-worker gunicorn receiver, processed
by a 2-process Celery worker: every event is stored once and processed once, and every
mutating Stripe call (here: Mittrik suspensions after fraudulent chargebacks) is made once."""

from __future__ import annotations

import random

import pytest
import requests
from fault_stack import Stack, assert_each_done_once, invoices_recorded, post_all, traffic

from worker import samples

pytestmark = pytest.mark.services

EVENTS = 2000
CHARGEBACKS = 50  # of the 2,000: each suspends its account with two mutating Stripe calls


@pytest.mark.bound(150)
def test_2000_events_delivered_1_to_5_times_by_16_clients_are_stored_and_processed_once(
    stack: Stack, pg_url: str
) -> None:
    rng = random.Random(20261127)
    disputed = [
        samples.invoice_paid_event(customer=f"cus_chargeback{n:02d}") for n in range(CHARGEBACKS)
    ]
    chargebacks = [
        samples.event(
            "charge.dispute.created",
            samples.dispute(
                charge=evt["data"]["object"]["charge"],
                payment_intent=evt["data"]["object"]["payment_intent"],
                reason="fraudulent",
            ),
        )
        for evt in disputed
    ]
    events = traffic(EVENTS - CHARGEBACKS, rng) + chargebacks
    bodies = [samples.body(evt) for evt in events]
    deliveries = [body for body in bodies for _ in range(rng.randint(1, 5))]
    rng.shuffle(deliveries)
    stack.start_receiver(workers=2)
    stack.start_worker(concurrency=2)
    stack.seed_catalog(requests.Session())
    with requests.Session() as http:  # the disputed payments, paid before the storm
        assert {stack.deliver(http, evt) for evt in disputed} == {200}
    stack.wait_done({evt["id"] for evt in disputed}, timeout=60)
    stored_before = set(stack.events())

    codes = post_all(stack, deliveries, clients=16)

    assert codes == [200] * len(deliveries)
    rows = stack.wait_done({evt["id"] for evt in events}, timeout=90)
    assert_each_done_once({k: v for k, v in rows.items() if k not in stored_before}, events)
    invoice_ids = {evt["id"] for evt in events + disputed if evt["type"] == "invoice.paid"}
    assert invoices_recorded(pg_url) == dict.fromkeys(invoice_ids, 1)
    assert stack.mutating_calls_made_twice() == []
    calls = stack.mutating_calls_by_method()
    assert calls == {"subscriptions.update": CHARGEBACKS, "customers.update": CHARGEBACKS}
