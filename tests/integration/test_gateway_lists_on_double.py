"""The gateway's list reads against the stateful double: every page is read, and a rate limit
or a 5xx on a later page is a retryable error like any read (issue 13 #8)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import money_double
import pytest
from money_double import DAY, monthly_subscription
from stripe_double import StripeDouble

from worker import samples
from worker.errors import RetryableError
from worker.stripe.gateway import StripeGateway

gateway = money_double.gateway  # fixture


def many_of_everything(double: StripeDouble, count: int = 101) -> str:
    """cus_1 with `count` pending items, `count` subscriptions and an invoice of `count`
    lines: one more than a page of 100. Returns the invoice id."""
    sub = monthly_subscription(double)
    start = sub["items"]["data"][0]["current_period_start"]
    for n in range(count):
        double.invoice_item("cus_1", 100 + n, f"Seat {n}")
    for n in range(count - 1):
        double.subscription(f"sub_more_{n}", "cus_1", [(f"si_m{n}", "price_basic", 1)],
                            start, start + 30 * DAY)  # fmt: skip
    now = double.clock.now()
    lines = [
        samples.line(amount=100, price="price_basic", period_start=now, period_end=now + DAY)
        for _ in range(count)
    ]
    return double.paid_invoice("cus_1", lines, paid_at=now, number="A-9")["id"]


def test_pending_items_and_subscriptions_are_read_past_the_first_page(
    double: StripeDouble, gateway: StripeGateway
) -> None:
    invoice_id = many_of_everything(double)
    assert len(gateway.pending_invoice_items("cus_1")) == 101
    assert len(gateway.subscriptions_of("cus_1")) == 101
    assert len(gateway.invoice_lines(invoice_id)) == 101


LISTS: dict[str, tuple[str, Callable[[StripeGateway, str], list[dict[str, Any]]]]] = {
    "pending items": ("/v1/invoiceitems", lambda g, _: g.pending_invoice_items("cus_1")),
    "subscriptions": ("/v1/subscriptions", lambda g, _: g.subscriptions_of("cus_1")),
    "invoice lines": ("/v1/invoices/*/lines", lambda g, invoice: g.invoice_lines(invoice)),
}


@pytest.mark.parametrize("status", [429, 503])
@pytest.mark.parametrize("listing", LISTS)
def test_a_rate_limit_or_5xx_on_page_two_is_a_retryable_error(
    double: StripeDouble, gateway: StripeGateway, listing: str, status: int
) -> None:
    invoice_id = many_of_everything(double)
    path, read = LISTS[listing]
    # 503: stripe-python's own two retries see it too, so it is given three times.
    for _ in range(1 if status == 429 else 3):
        double.fail_after("GET", path, status, after=1)
    with pytest.raises(RetryableError):
        read(gateway, invoice_id)
    pages = [s for s in double.sent if s.method == "GET" and s.path.startswith(path[:12])]
    assert pages[0].status == 200 and pages[1].status == status
