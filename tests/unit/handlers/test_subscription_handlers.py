"""Subscription changes made in the customer portal, on the fake Stripe: how each is classified,
and what each policy then does to the proration Stripe left pending (M3.downgrade, D3.upgrade,
D3.downgrade)."""

from __future__ import annotations

import time
from typing import Any

import pytest
from handler_runner import HandlerRunner

from worker import samples
from worker.db.models import Subscription

PRICES = {  # price id -> (unit amount, category): three monthly plans and an add-on
    "price_starter": (4000, "plan"),
    "price_growth": (10000, "plan"),
    "price_scale": (30000, "plan"),
    "price_agents": (1500, "addon"),
}


def with_catalog(run: HandlerRunner) -> dict[str, dict[str, Any]]:
    prices = {}
    for price_id, (amount, category) in PRICES.items():
        run.handle("product.created", samples.product(f"prod_{price_id}", category))
        prices[price_id] = samples.price(price_id, f"prod_{price_id}", amount)
        run.handle("price.created", prices[price_id])
    run.handle("customer.created", {"id": "cus_portal", "object": "customer", "email": "p@x.t"})
    return prices


def subscription(prices: dict[str, dict[str, Any]], plan: str, agents: int = 0) -> dict[str, Any]:
    start = int(time.time()) - 15 * 86400
    items = [("si_plan", prices[plan], 1)]
    if agents:
        items.append(("si_agents", prices["price_agents"], agents))
    return samples.subscription(
        "sub_portal", "cus_portal", items, period_start=start, period_end=start + 30 * 86400
    )


def portal_change(
    run: HandlerRunner, before: dict[str, Any], after: dict[str, Any], **kwargs: Any
) -> None:
    """`customer.subscription.updated` as Stripe sends it after a change in the portal."""
    run.handle(
        "customer.subscription.updated", after, previous={"items": before["items"]}, **kwargs
    )


def pending_prorations(run: HandlerRunner) -> None:
    """What the portal leaves pending after any change: a credit for the unused old plan and a
    charge for the new one; and a credit of another subscription, which is none of ours."""
    run.stripe.add_pending_item("ii_credit", "cus_portal", -5000, "sub_portal")
    run.stripe.add_pending_item("ii_charge", "cus_portal", 2000, "sub_portal")
    run.stripe.add_pending_item("ii_other_sub", "cus_portal", -700, "sub_other")


def portal_moved(
    run: HandlerRunner, old: str, new: str, agents: tuple[int, int] = (0, 0), **kwargs: Any
) -> None:
    """The catalog and the prorations the portal leaves pending, then its change of plan (and
    of agents) from `old` to `new`."""
    prices = with_catalog(run)
    pending_prorations(run)
    before, after = subscription(prices, old, agents[0]), subscription(prices, new, agents[1])
    portal_change(run, before, after, **kwargs)


def test_mittrik_portal_downgrade_deletes_both_prorations_of_this_change_only(
    handlers,
) -> None:
    """M3.downgrade: as if `proration_behavior=none` — the credit for the old price and the
    debit for the new one both go; another subscription's item stays."""
    run = handlers("mittrik")
    portal_moved(run, "price_scale", "price_growth")

    assert sorted(run.stripe.methods_called()) == [
        ("invoice_items.delete", "ii_charge"),
        ("invoice_items.delete", "ii_credit"),
    ]
    assert set(run.stripe.invoice_items) == {"ii_other_sub"}
    stored = run.one(Subscription, "sub_portal")
    assert [item["price_id"] for item in stored.items] == ["price_growth"]


def test_dmly_portal_upgrade_invoices_the_pending_charge_and_collects_it_now(handlers) -> None:
    run = handlers("dmly")
    portal_moved(run, "price_growth", "price_scale")

    [(create, subscription_id), (pay, invoice_id)] = run.stripe.methods_called()
    assert (create, subscription_id, pay) == ("invoices.create", "sub_portal", "invoices.pay")
    assert run.stripe.invoices[invoice_id]["status"] == "paid"


@pytest.mark.parametrize(
    ("policy", "old", "new", "agents"),
    [
        pytest.param("dmly", "price_scale", "price_starter", (0, 0), id="dmly-downgrade-credit"),
        pytest.param("mittrik", "price_growth", "price_scale", (0, 0), id="mittrik-upgrade"),
        pytest.param("mittrik", "price_growth", "price_growth", (3, 1), id="addon-quantity"),
    ],
)
def test_a_portal_change_the_policy_accepts_is_left_as_stripe_made_it(
    handlers, policy: str, old: str, new: str, agents: tuple[int, int]
) -> None:
    run = handlers(policy)
    portal_moved(run, old, new, agents)

    assert run.stripe.mutations == []


def test_without_previous_items_the_stored_state_is_what_changed(handlers) -> None:
    run = handlers("mittrik")
    prices = with_catalog(run)
    run.handle("customer.subscription.created", subscription(prices, "price_scale"))
    pending_prorations(run)

    run.handle("customer.subscription.updated", subscription(prices, "price_starter"))

    assert sorted(run.stripe.methods_called()) == [
        ("invoice_items.delete", "ii_charge"),
        ("invoice_items.delete", "ii_credit"),
    ]


def test_a_change_we_made_ourselves_is_not_enforced_again(handlers) -> None:
    run = handlers("mittrik")
    portal_moved(
        run, "price_scale", "price_growth", request_key="bw:chg_1:change_downgrade:sub_portal"
    )

    assert run.stripe.mutations == []


def test_a_state_delivered_late_is_ignored_and_the_newest_kept(handlers) -> None:
    run = handlers("dmly")
    prices = with_catalog(run)
    now = int(time.time())

    run.handle("customer.subscription.updated", subscription(prices, "price_scale"), created=now)
    run.handle(
        "customer.subscription.updated", subscription(prices, "price_growth"), created=now - 60
    )

    stored = run.one(Subscription, "sub_portal")
    assert [item["price_id"] for item in stored.items] == ["price_scale"]
