"""Handlers and commands driven against the stateful Stripe double (not stripe-mock), so a test
can assert money end states on what Stripe would hold."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from billing_world import BillingWorld
from stripe_double import StripeDouble

DAY = 86400


@pytest.fixture
def double() -> Iterator[StripeDouble]:
    server = StripeDouble.start()
    yield server
    server.stop()


@pytest.fixture
def make_world(
    double: StripeDouble, sqlite_url: str, make_settings: Callable[..., Any]
) -> Callable[..., BillingWorld]:
    """A world on SQLite whose Stripe is the double; `policy` picks mittrik or dmly."""

    def make(policy: str = "mittrik") -> BillingWorld:
        settings = make_settings(
            database_url=sqlite_url, stripe_api_base=double.url, billing_policy=policy
        )
        return BillingWorld.create(settings, double.url)

    return make


def monthly_subscription(
    double: StripeDouble, *, quantity: int = 1, days_left: int = 15
) -> dict[str, Any]:
    """cus_1 on price_pro (30000/month) × `quantity`, `days_left` of a 30-day period to run;
    price_basic (10000) and price_max (60000) exist too."""
    double.customer("cus_1", "ana@example.com")
    double.price("price_pro", 30000)
    double.price("price_basic", 10000)
    double.price("price_max", 60000)
    start = double.clock.now() - (30 - days_left) * DAY
    return double.subscription(
        "sub_1", "cus_1", [("si_1", "price_pro", quantity)], start, start + 30 * DAY
    )
