"""A customer on the stateful Stripe double, with the worker's handlers and commands driven
against it: the end state a user would check is read back from the double, not our tables."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import pytest
from billing_world import BillingWorld
from stripe_double import Sent, StripeDouble

from worker import samples

DAY = 86400
CUSTOMER = "cus_dbl"
SUBSCRIPTION = "sub_dbl"
ANNUAL = 120000


@dataclass
class DoubleWorld:
    world: BillingWorld
    double: StripeDouble
    clock: int  # event.created of the next event, moved on by each delivery

    def deliver(self, event_type: str, obj: dict[str, Any], *, at: int | None = None) -> str:
        """Deliver an event stamped `at` (default: one second after the previous one)."""
        if at is None:
            self.clock += 1
            at = self.clock
        _, status = self.world.deliver(event_type, obj, created=at)
        return status

    def paid_annual_invoice(self, number: str = "A-1") -> dict[str, Any]:
        """An annual plan invoice paid 3 days ago, delivered as `invoice.paid`: its payment
        intent is what disputes and refunds point at."""
        now = self.double.clock.now()
        paid_at = now - 3 * DAY
        line = samples.line(
            amount=ANNUAL, price="price_dbl_year", period_start=paid_at,
            period_end=paid_at + 365 * DAY,
        )  # fmt: skip
        invoice = self.double.paid_invoice(
            CUSTOMER, [line], paid_at=paid_at, number=number, subscription=SUBSCRIPTION
        )
        assert self.deliver("invoice.paid", invoice) == "processed"
        return invoice

    def payment_intent(self, invoice: dict[str, Any]) -> str:
        return self.double.payment_of(invoice["id"])["id"]

    # What Stripe ended up with ------------------------------------------------------------

    def account_status(self) -> str | None:
        return self.double.get("customer", CUSTOMER)["metadata"].get("account_status")

    def subscription(self) -> dict[str, Any]:
        return self.double.get("subscription", SUBSCRIPTION)

    def executed_mutations(self) -> list[Sent]:
        """Mutating calls the double executed (not replays of a saved answer)."""
        return [s for s in self.double.mutations() if not s.replayed and s.status == 200]


def double_world(make_settings: Any, database_url: str, double: StripeDouble, policy: str):
    settings = make_settings(database_url=database_url, billing_policy=policy)
    world = BillingWorld.create(settings, double.url)
    double.customer(CUSTOMER, "dbl@example.com")
    double.price("price_dbl_year", ANNUAL, interval="year")
    now = double.clock.now()
    items = [("si_dbl", "price_dbl_year", 1)]
    double.subscription(SUBSCRIPTION, CUSTOMER, items, now - 3 * DAY, now + 362 * DAY)
    w = DoubleWorld(world, double, int(time.time()) - 1000)
    w.deliver("customer.created", double.get("customer", CUSTOMER))
    w.deliver("product.created", double.get("product", "prod_for_price_dbl_year"))
    w.deliver("price.created", double.get("price", "price_dbl_year"))
    return w


@pytest.fixture
def subscribed_world(make_settings: Any, database_url: str, double: StripeDouble) -> DoubleWorld:
    """A Mittrik world on the test's database whose customer's subscription the worker has
    been told of (`customer.subscription.created` delivered)."""
    w = double_world(make_settings, database_url, double, "mittrik")
    w.deliver("customer.subscription.created", w.subscription())
    return w
