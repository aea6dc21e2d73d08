"""Handlers and commands driven against the stateful Stripe double (not stripe-mock), so a test
can assert money end states on what Stripe would hold."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from billing_world import BillingWorld
from stripe_double import StripeDouble

from worker import samples
from worker.commands.refunds import RequestResult
from worker.db.session import session_factory
from worker.stripe.client import build_client
from worker.stripe.gateway import StripeGateway

DAY = 86400


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


@pytest.fixture
def gateway(
    double: StripeDouble, sqlite_url: str, make_settings: Callable[..., Any]
) -> Iterator[StripeGateway]:
    """The worker's gateway to the double for one event, in a session on SQLite."""
    settings = make_settings(database_url=sqlite_url, stripe_api_base=double.url)
    with session_factory(sqlite_url)() as session:
        yield StripeGateway(build_client(settings), session, "evt_double")


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


def paid_payment(double: StripeDouble) -> str:
    """cus_1, who has just paid a one-off invoice of 30000: its payment intent's id, what a
    refund is made on."""
    double.customer("cus_1", "ana@example.com")
    now = double.clock.now()
    line = samples.line(amount=30000, price="price_x", period_start=now, period_end=now + DAY)
    invoice = double.paid_invoice("cus_1", [line], paid_at=now, number="A-1")
    return double.payment_of(invoice["id"])["id"]


def one_line_paid_in_parts(
    double: StripeDouble, price: str, amount: int, parts: list[int], *, number: str, interval: str
) -> dict[str, Any]:
    """cus_1's invoice of one line on `price` (`amount` an `interval`, from now), paid in
    `parts`, a declined attempt (canceled) before the last."""
    double.customer("cus_1", "ana@example.com")
    double.price(price, amount, interval=interval)
    now = double.clock.now()
    days = 365 if interval == "year" else 30
    line = samples.line(amount=amount, price=price, period_start=now, period_end=now + days * DAY)
    return double.paid_in_parts("cus_1", [line], parts, paid_at=now, number=number)


def refund_asked(world: BillingWorld, invoice: dict[str, Any], **delivery: Any) -> RequestResult:
    """cus_1's paid `invoice` told to the worker, then cus_1's refund request for it, as
    support files it."""
    world.customer("cus_1", "ana@example.com")
    assert world.deliver("invoice.paid", invoice, **delivery)[1] == "processed"
    return world.ask_refund("cus_1", invoice=invoice["id"])


def paid_invoice_with_tax(
    double: StripeDouble, customer: str, lines: list[dict[str, Any]], *, number: str
) -> dict[str, Any]:
    """A one-off invoice paid now for lines that carry their own discounts and taxes (see
    `taxed`): the double charges what they really cost, each line's `amount` less its
    `pretax_credit_amounts` plus its exclusive `taxes` (tests/stripe_double/tax.py)."""
    paid_at = double.clock.now()
    return double.paid_invoice(
        customer, lines, paid_at=paid_at, number=number, billing_reason="manual"
    )


def taxed(line: dict[str, Any], *, discount: int, tax: int) -> dict[str, Any]:
    """A line with a discount and an exclusive tax, as the pinned API version shows them."""
    return {
        **line,
        "discount_amounts": [{"amount": discount, "discount": "di_spring"}] if discount else [],
        "pretax_credit_amounts": (
            [{"amount": discount, "type": "discount", "discount": "di_spring"}] if discount else []
        ),
        "taxes": [
            {
                "amount": tax,
                "tax_behavior": "exclusive",
                "taxability_reason": "standard_rated",
                "taxable_amount": line["amount"] - discount,
                "type": "tax_rate_details",
                "tax_rate_details": {"tax_rate": "txr_vat10"},
            }
        ],
    }
