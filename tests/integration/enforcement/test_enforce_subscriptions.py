"""Subscription events and the `subscriptions` commands against stripe-mock: the state we keep,
and the exact requests we send (path, parameters, idempotency key) to enforce a policy."""

from __future__ import annotations

from billing_world import BillingWorld, days_ago
from enforcement_scenarios import Catalog, subscription_with
from harness.servers import PORTAL_CHANGE_AT, StripeMock

from worker.commands.subscriptions import cancel_subscription, change_subscription
from worker.db.models import Subscription

Price = tuple[str, str | None, int, str | None, str]


def change_in_the_portal(
    w: BillingWorld,
    before: Price,
    after: Price,
    *,
    subscription_announced: bool = False,
    request_key: str | None = None,
) -> tuple[str, str]:
    """cus_portal moves from the `before` plan to `after` in Stripe's portal: the update event,
    its previous items those of `before`. With `subscription_announced`, the subscription's
    creation was delivered first (and its Stripe calls forgotten)."""
    w.customer("cus_portal", "portal@example.com")
    prices = w.catalog(before, after)
    before_price, after_price = prices[before[0]], prices[after[0]]
    if subscription_announced:
        created = PORTAL_CHANGE_AT - 86400
        w.deliver("customer.subscription.created", subscription_with(before_price), created=created)
        w.stripe.clear()
    return w.deliver(
        "customer.subscription.updated",
        subscription_with(after_price),
        created=PORTAL_CHANGE_AT + 2,  # Stripe emits the event a moment after the change
        previous={"items": subscription_with(before_price)["items"]},
        request_key=request_key,
    )


def test_a_state_delivered_late_is_ignored_and_the_newest_kept(world) -> None:
    w = world("dmly")
    w.customer("cus_portal", "portal@example.com")
    prices = w.catalog(Catalog.PLAN_MONTH, Catalog.PLAN_MONTH_BIG)
    newest = subscription_with(prices["price_scale_month"])
    older = subscription_with(prices["price_growth_month"])
    now = days_ago(0)
    w.deliver("customer.subscription.updated", newest, created=now)
    w.deliver("customer.subscription.updated", older, created=now - 60)
    stored = w.one(Subscription, "sub_portal")
    assert [item["price_id"] for item in stored.items] == ["price_scale_month"]


def test_mittrik_downgrade_in_the_portal_deletes_the_pending_credit(
    world, credit_proration_mock: StripeMock
) -> None:
    w = world("mittrik", credit_proration_mock)
    event_id, status = change_in_the_portal(
        w, Catalog.PLAN_MONTH_BIG, Catalog.PLAN_MONTH_SMALL, subscription_announced=True
    )
    assert status == "processed"
    [delete] = w.stripe.mutations()
    assert (delete.method, delete.path) == ("DELETE", "/v1/invoiceitems/ii_portal_credit")
    assert delete.idempotency_key == f"bw:{event_id}:delete_credit_proration:ii_portal_credit"
    [call] = w.audit()
    assert (call.method, call.object_id, call.outcome) == (
        "invoice_items.delete",
        "ii_portal_credit",
        "ok",
    )

    w.stripe.clear()
    assert w.replay(event_id) == "processed"
    assert w.stripe.mutations() == []  # the audit row guards a replay days later


def test_dmly_downgrade_in_the_portal_keeps_the_credit(
    world, credit_proration_mock: StripeMock
) -> None:
    w = world("dmly", credit_proration_mock)
    change_in_the_portal(w, Catalog.PLAN_MONTH_BIG, Catalog.PLAN_MONTH_SMALL)
    assert w.stripe.mutations() == []  # D3.downgrade: the unused balance stays credited


def test_dmly_upgrade_left_pending_in_the_portal_is_invoiced_and_collected_now(
    world, charge_proration_mock: StripeMock
) -> None:
    w = world("dmly", charge_proration_mock)
    event_id, _ = change_in_the_portal(w, Catalog.PLAN_MONTH, Catalog.PLAN_MONTH_BIG)
    create, pay = w.stripe.mutations()
    assert (create.method, create.path) == ("POST", "/v1/invoices")
    assert create.params == {
        "customer": "cus_portal",
        "subscription": "sub_portal",
        "pending_invoice_items_behavior": "include",
        "auto_advance": "true",
        "metadata[bw_idempotency_key]": create.idempotency_key,
    }
    assert create.idempotency_key == f"bw:{event_id}:invoice_pending_proration:sub_portal"
    assert pay.path.startswith("/v1/invoices/") and pay.path.endswith("/pay")
    assert pay.idempotency_key.startswith(f"bw:{event_id}:pay_pending_proration:")


def test_a_change_we_made_ourselves_is_not_enforced_again(
    world, charge_proration_mock: StripeMock
) -> None:
    w = world("dmly", charge_proration_mock)
    change_in_the_portal(
        w,
        Catalog.PLAN_MONTH,
        Catalog.PLAN_MONTH_BIG,
        request_key="bw:change-abc:change_upgrade:sub_portal",
    )
    assert w.stripe.mutations() == []


def test_subscriptions_change_applies_each_policys_proration(world) -> None:
    cases = [
        ("mittrik", "price_starter_month", "downgrade", "none", "M3.downgrade"),
        ("mittrik", "price_scale_month", "upgrade", "always_invoice", "M.upgrade"),
        ("dmly", "price_scale_month", "upgrade", "always_invoice", "D3.upgrade"),
        ("dmly", "price_starter_month", "downgrade", "create_prorations", "D3.downgrade"),
    ]
    for policy, target, kind, behavior, clause in cases:
        w = world(policy)
        w.customer("cus_portal", "portal@example.com")
        prices = w.catalog(Catalog.PLAN_MONTH, Catalog.PLAN_MONTH_BIG, Catalog.PLAN_MONTH_SMALL)
        w.deliver("customer.subscription.created", subscription_with(prices["price_growth_month"]))
        w.stripe.clear()
        result = change_subscription(w.runtime, "sub_portal", price=target)
        assert (result.change, result.proration_behavior, result.clause) == (
            kind,
            behavior,
            clause,
        )
        [update] = w.stripe.mutations()
        assert update.path == "/v1/subscriptions/sub_portal"
        assert update.params == {
            "items[0][id]": "si_plan",
            "items[0][price]": target,
            "proration_behavior": behavior,
        }
        assert update.idempotency_key.endswith(f":change_{kind}:sub_portal")


def test_an_addon_quantity_change_is_prorated(world) -> None:
    w = world("dmly")
    w.customer("cus_portal", "portal@example.com")
    prices = w.catalog(Catalog.PLAN_MONTH, Catalog.AGENTS)
    w.deliver(
        "customer.subscription.created",
        subscription_with(
            prices["price_growth_month"], addons=2, addon_price=prices["price_agents"]
        ),
    )
    result = change_subscription(w.runtime, "sub_portal", addon_item="si_agents", quantity=5)
    assert (result.change, result.clause) == ("addon_change", "D3.addons")
    [update] = w.stripe.mutations()
    assert update.params == {
        "items[0][id]": "si_agents",
        "items[0][quantity]": "5",
        "proration_behavior": "create_prorations",
    }


def test_cancel_sets_cancel_at_period_end(world) -> None:
    for policy, clause in (("mittrik", "M3.cancel"), ("dmly", "D1.cancel")):
        w = world(policy)
        w.customer("cus_portal", "portal@example.com")
        prices = w.catalog(Catalog.PLAN_MONTH)
        w.deliver("customer.subscription.created", subscription_with(prices["price_growth_month"]))
        w.stripe.clear()
        result = cancel_subscription(w.runtime, "sub_portal")
        assert (result.cancel_at_period_end, result.clause) == (True, clause)
        [update] = w.stripe.mutations()
        assert (update.path, update.params) == (
            "/v1/subscriptions/sub_portal",
            {"cancel_at_period_end": "true"},
        )
