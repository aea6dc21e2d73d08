"""Fault 5: subscription updates delivered newest first (and shuffled) end in the newest state.

Stripe promises no order. Each handler holds the customer's row lock and keeps a state only if
its `event.created` is not older than the stored one, so the last *made* change wins, not the
last *delivered* one, whichever worker process runs which event.
"""

from __future__ import annotations

import random
from pathlib import Path

import pytest
import requests
from fault_stack import Stack, post_all

from worker import samples
from worker.db.models import Subscription

pytestmark = pytest.mark.services
DAY = 86400


@pytest.mark.bound(90)
def test_subscription_updates_delivered_newest_first_end_in_the_newest_state(
    tmp_path: Path, pg_url: str, redis_url: str, service_env
) -> None:
    env = service_env(DATABASE_URL=pg_url, BROKER_URL=redis_url, BILLING_POLICY="dmly")
    with Stack(tmp_path, env, pg_url) as stack:
        stack.start_receiver()
        stack.start_worker(concurrency=2)
        stack.start_worker(concurrency=2)
        with requests.Session() as http:
            setup = [
                samples.event(
                    "customer.created",
                    {"id": "cus_order", "object": "customer", "email": "order@example.com"},
                ),
                samples.event("product.created", samples.product("prod_plan", "plan")),
                samples.event("product.created", samples.product("prod_agents", "addon")),
            ]
            plan = samples.price("price_plan", "prod_plan", 10000)
            agents = samples.price("price_agents", "prod_agents", 1500)
            setup += [samples.event("price.created", plan), samples.event("price.created", agents)]
            for evt in setup:
                assert stack.deliver(http, evt) == 200
            stack.wait_done({evt["id"] for evt in setup}, timeout=30)

        start = samples.int_now() - 10 * DAY
        updates = [
            samples.event(
                "customer.subscription.updated",
                samples.subscription(
                    "sub_order",
                    "cus_order",
                    [("si_plan", plan, 1), ("si_agents", agents, n)],
                    period_start=start,
                    period_end=start + 30 * DAY,
                ),
                created=start + n * 60,  # the n-th change, made a minute after the previous
            )
            for n in range(1, 41)
        ]
        newest_first = list(reversed(updates))
        shuffled = random.Random(5).sample(updates, len(updates))
        statuses = post_all(stack, [*newest_first, *shuffled], clients=8)
        assert set(statuses) == {200}
        stack.wait_done({evt["id"] for evt in updates}, timeout=60)

        with stack.sessions()() as session:
            sub = session.get_one(Subscription, ("", "sub_order"))
        quantities = {item["id"]: item["quantity"] for item in sub.items}
        assert quantities == {"si_plan": 1, "si_agents": 40}
        assert int(sub.state_created.timestamp()) == start + 40 * 60
