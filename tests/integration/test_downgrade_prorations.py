"""M3.downgrade on the Stripe double: a downgrade made in the customer portal ends as if it had
been made with `proration_behavior=none` — whatever proration the portal is configured with —
and touches nothing else the customer owes. Each test runs in both billing modes (`mode`):
flexible, the pinned API version's default, and classic; where they bill differently each
figure is asserted and the reason given."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from billing_world import DAY, BillingWorld
from ledger import assert_ledger
from stripe_double import StripeDouble

from worker import samples
from worker.policy import policies as policy_files


@pytest.fixture
def mittrik(make_settings, sqlite_url: str, double: StripeDouble) -> Callable[[], BillingWorld]:
    def make() -> BillingWorld:
        settings = make_settings(database_url=sqlite_url, billing_policy="mittrik")
        return BillingWorld.create(settings, double.url)

    return make


@pytest.fixture(params=["classic", "flexible"])
def mode(request: pytest.FixtureRequest) -> str:
    """The billing mode of the subscriptions `monthly` makes."""
    return request.param


def monthly(
    double: StripeDouble,
    w: BillingWorld,
    sub_id: str,
    items: list,
    days_in: int,
    mode: str,
    **terms: Any,
) -> None:
    """A subscription `days_in` days into a 30-day period, its first month paid and known;
    `terms`: the subscription's `discount_percent`, `proration_discounts`."""
    start = double.clock.now() - days_in * DAY
    sub = double.subscription(
        sub_id, "cus_m", items, start, start + 30 * DAY, billing_mode=mode, **terms
    )
    lines = [
        samples.line(
            amount=double.get("price", price)["unit_amount"] * quantity,
            price=price,
            period_start=start,
            period_end=start + 30 * DAY,
            quantity=quantity,
        )
        for _, price, quantity in items
    ]
    w.deliver(
        "invoice.paid",
        double.paid_invoice(
            "cus_m", lines, paid_at=start, number=f"{sub_id}-1", subscription=sub_id
        ),
        created=double.clock.now(),
    )
    w.deliver("customer.subscription.created", sub, created=double.clock.now())


def with_vat(double: StripeDouble, tax_percent: int) -> None:
    """cus_m's lines carry `tax_percent` exclusive VAT from now on (0: none)."""
    if tax_percent:
        double.customer("cus_m", "m@example.com", tax_percent=tax_percent)


def portal_change(
    double: StripeDouble, w: BillingWorld, sub_id: str, change: dict, behavior: str
) -> str:
    after, previous = double.change_items(sub_id, [change], behavior)
    event_id, status = w.deliver(
        "customer.subscription.updated", after, previous=previous, created=double.clock.now()
    )
    assert status == "processed"
    return event_id


def downgraded_mid_month(double: StripeDouble, w: BillingWorld, mode: str, behavior: str) -> str:
    """sub_a, 15 days into its month on price_scale, moved to price_starter in the customer
    portal with `behavior`: the downgrade most of these tests follow. Its event's id."""
    monthly(double, w, "sub_a", [("si_plan", "price_scale", 1)], days_in=15, mode=mode)
    change = {"id": "si_plan", "price": "price_starter"}
    return portal_change(double, w, "sub_a", change, behavior)


@pytest.fixture
def world(double: StripeDouble, mittrik: Callable[[], BillingWorld]) -> BillingWorld:
    w = mittrik()
    w.deliver("customer.created", double.customer("cus_m", "m@example.com"))
    double.price("price_scale", 30000)
    double.price("price_starter", 10000)
    double.price("price_agents", 2000, category="addon")
    double.price("price_enterprise", 60000)
    return w


def test_a_portal_downgrade_leaves_nothing_but_the_new_price_next_period(
    double: StripeDouble, world: BillingWorld, mode: str
) -> None:
    downgraded_mid_month(double, world, mode, "create_prorations")

    assert double.pending_items("cus_m") == []
    preview = double.preview("cus_m")
    assert [line["amount"] for line in preview["lines"]] == [10000]
    # M3.downgrade: the month paid at 30000 stands, no credit; the next one is 10000.
    assert_ledger(double, "cus_m", expected=30000 + 10000)


def test_only_that_change_of_that_item_is_undone(
    double: StripeDouble, world: BillingWorld, mode: str
) -> None:
    items = [("si_plan", "price_scale", 1), ("si_agents", "price_agents", 1)]
    monthly(double, world, "sub_a", items, days_in=10, mode=mode)
    monthly(double, world, "sub_b", [("si_b", "price_scale", 1)], days_in=10, mode=mode)
    # Before the downgrade: more agents (prorated, Mittrik keeps those), a change on the other
    # subscription, and a one-off item waiting for the next invoice.
    portal_change(double, world, "sub_a", {"id": "si_agents", "quantity": 3}, "create_prorations")
    double.change_items("sub_b", [{"id": "si_b", "quantity": 2}], "create_prorations")
    double.invoice_item("cus_m", 5000, "Onboarding call")
    kept = {item["id"] for item in double.pending_items("cus_m")}
    double.advance(5 * DAY)

    portal_change(
        double, world, "sub_a", {"id": "si_plan", "price": "price_starter"}, "create_prorations"
    )

    assert {item["id"] for item in double.pending_items("cus_m")} == kept
    preview = double.preview("cus_m", "sub_a")
    next_period = 10000 + 3 * 2000
    agents_prorated = sum(
        item["amount"]
        for item in double.pending_items("cus_m")
        if (item["parent"] or {}).get("subscription_details", {}).get("subscription_item")
        == "si_agents"
    )
    assert preview["total"] == next_period + agents_prorated + 5000


@pytest.mark.parametrize("vat", [0, 10])
def test_a_portal_set_to_always_invoice_gets_its_downgrade_credit_taken_back(
    double: StripeDouble, world: BillingWorld, mode: str, vat: int
) -> None:
    with_vat(double, vat)
    event_id = downgraded_mid_month(double, world, mode, "always_invoice")

    # Stripe invoiced −15000 + 5000 at once: a −10000 invoice (−11000 with 10% VAT: −1500 +
    # 500 of tax), credited to the balance; the worker takes back all of it. Month paid
    # 30000 (+3000), next month 10000 (+1000). Both modes: the credit reverses the period's
    # own 30000 debit, which is also scale's current price.
    assert double.get("customer", "cus_m")["balance"] == 0
    expected = (30000 + 10000) * (100 + vat) // 100
    assert_ledger(double, "cus_m", expected=expected)
    assert world.replay(event_id) == "processed"
    assert_ledger(double, "cus_m", expected=expected)  # once, also when replayed


@pytest.mark.parametrize("proration_discounts", ["included", "itemized"])
def test_a_discounted_downgrade_invoiced_at_once_is_taken_back_net_of_its_discount(
    double: StripeDouble, world: BillingWorld, proration_discounts: str
) -> None:
    items = [("si_plan", "price_scale", 1)]
    terms = {"discount_percent": 20, "proration_discounts": proration_discounts}
    monthly(double, world, "sub_a", items, days_in=15, mode="flexible", **terms)
    portal_change(
        double, world, "sub_a", {"id": "si_plan", "price": "price_starter"}, "always_invoice"
    )

    # 20% off everything: the month paid 24000; Stripe invoiced −15000 + 3000 of discount and
    # +5000 − 1000 at once, −8000 to the balance (itemized shows the gross −15000 and 5000
    # with their discounts beside them, included shows −12000 and 4000: the same −8000). The
    # worker takes back the 8000; next month 10000 − 2000.
    assert double.get("customer", "cus_m")["balance"] == 0
    assert_ledger(double, "cus_m", expected=24000 + 8000)


def test_an_upgrade_after_an_undone_downgrade_is_credited_by_billing_mode(
    double: StripeDouble, world: BillingWorld, mode: str
) -> None:
    downgraded_mid_month(double, world, mode, "create_prorations")
    double.advance(5 * DAY)

    portal_change(
        double, world, "sub_a", {"id": "si_plan", "price": "price_enterprise"}, "always_invoice"
    )

    # M.upgrade: the portal charges it at once. 10 of 30 days left: +20000 for enterprise. The
    # downgrade's prorations were deleted (M3.downgrade), so the month stands paid at scale's
    # 30000. Classic credits the item's current price, starter: −3333 (a price never paid
    # for); flexible credits the 30000 the period's invoice debited: −10000. Each is what
    # `proration_behavior=none` on the downgrade would have left in that mode.
    charged = {"classic": 20000 - 3333, "flexible": 20000 - 10000}[mode]
    invoices = double.state.all("invoice", customer="cus_m")
    [upgrade] = [i for i in invoices if i["billing_reason"] == "subscription_update"]
    assert upgrade["amount_paid"] == charged
    assert_ledger(double, "cus_m", expected=30000 + charged + 60000)


@pytest.mark.parametrize("vat", [0, 10])
def test_with_no_add_on_proration_an_add_on_invoiced_at_once_is_refunded(
    double: StripeDouble, make_settings, sqlite_url: str, tmp_path, mode: str, vat: int
) -> None:
    # A company's policy file may ask for no add-on proration either: the same undo applies.
    mittrik = Path(policy_files.__file__).with_name("mittrik.toml").read_text()
    policy = tmp_path / "mittrik-flat-addons.toml"
    policy.write_text(
        mittrik.replace('addon_proration = "create_prorations"', 'addon_proration = "none"')
    )
    w = BillingWorld.create(
        make_settings(database_url=sqlite_url, billing_policy=str(policy)), double.url
    )
    w.deliver("customer.created", double.customer("cus_m", "m@example.com"))
    with_vat(double, vat)
    double.price("price_scale", 30000)
    double.price("price_agents", 2000, category="addon")
    items = [("si_plan", "price_scale", 1), ("si_agents", "price_agents", 1)]
    monthly(double, w, "sub_a", items, days_in=15, mode=mode)

    portal_change(double, w, "sub_a", {"id": "si_agents", "quantity": 3}, "always_invoice")

    # Stripe charged 2 more agents for half a month at once: −1000 + 3000 = 2000, and 200 of
    # VAT with 10% (both modes: the credit reverses the period's own 2000 debit); the worker
    # refunds what was charged. Months: 32000 now, 36000 next, each +10% VAT.
    [refund] = double.state.all("refund")
    charged_now = 2000 * (100 + vat) // 100
    assert (refund["amount"], refund["metadata"]["clause"]) == (charged_now, "M3.downgrade")
    expected = (30000 + 2000 + 30000 + 3 * 2000) * (100 + vat) // 100
    assert_ledger(double, "cus_m", expected=expected)
