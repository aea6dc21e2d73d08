"""`customer.subscription.updated` handled against the stateful double: partial
`previous_attributes`, same-second ties, and a declined D3.upgrade payment."""

from __future__ import annotations

from collections.abc import Callable

import money_double
from billing_world import BillingWorld
from money_double import monthly_subscription
from stripe_double import StripeDouble

from worker.db.models import Event, Subscription

make_world = money_double.make_world  # fixture


def test_a_partial_previous_attributes_with_only_id_and_quantity_still_enforces_m3_downgrade(
    double: StripeDouble, make_world: Callable[..., BillingWorld]
) -> None:
    world = make_world("mittrik")
    created = monthly_subscription(double, quantity=2)
    world.deliver("customer.subscription.created", created, created=double.clock.now() - 10)
    after, _ = double.change_items("sub_1", [{"id": "si_1", "quantity": 1}], "create_prorations")
    # Stripe names only what changed: the item's id and its old quantity, no price.
    previous = {"items": {"object": "list", "data": [{"id": "si_1", "quantity": 2}]}}
    event_id, status = world.deliver("customer.subscription.updated", after, previous=previous)
    assert status == "processed", world.one(Event, event_id).last_error
    # M3.downgrade: both prorations Stripe left pending for the change are removed.
    assert double.pending_items("cus_1") == []
    assert world.one(Subscription, "sub_1").items[0]["quantity"] == 1


def test_a_declined_d3_upgrade_payment_is_recorded_and_the_event_processed(
    double: StripeDouble, make_world: Callable[..., BillingWorld]
) -> None:
    world = make_world("dmly")
    created = monthly_subscription(double)
    world.deliver("customer.subscription.created", created, created=double.clock.now() - 10)
    after, previous = double.change_items(
        "sub_1", [{"id": "si_1", "price": "price_max"}], "create_prorations"
    )
    double.decline_next_payments()
    event_id, status = world.deliver("customer.subscription.updated", after, previous=previous)
    # The card said no: an outcome, not a failure. Stripe keeps the invoice open and its
    # dunning collects it; we keep the new plan and record the decline.
    assert status == "processed", world.one(Event, event_id).last_error
    assert world.one(Subscription, "sub_1").items[0]["price_id"] == "price_max"
    [invoice] = double.state.all("invoice", customer="cus_1")
    assert (invoice["status"], invoice["amount_remaining"]) == ("open", 15000)
    calls = [(c.method, c.outcome) for c in world.audit()]
    assert calls == [("invoices.create", "ok"), ("invoices.pay", "declined")]
    assert world.replay(event_id) == "processed"
    assert [s.status for s in double.sent if s.path.endswith("/pay")] == [402]  # not paid twice


def test_two_updates_in_the_same_second_delivered_out_of_order_store_stripes_current_state(
    double: StripeDouble, make_world: Callable[..., BillingWorld]
) -> None:
    world = make_world("mittrik")
    created = monthly_subscription(double)
    second = double.clock.now()
    world.deliver("customer.subscription.created", created, created=second - 10)
    first, first_previous = double.change_items("sub_1", [{"id": "si_1", "quantity": 2}], "none")
    last, last_previous = double.change_items("sub_1", [{"id": "si_1", "quantity": 3}], "none")
    # event.created has 1-second granularity: both say `second`, and arrive last first.
    for after, previous in ((last, last_previous), (first, first_previous)):
        _, status = world.deliver(
            "customer.subscription.updated", after, previous=previous, created=second
        )
        assert status == "processed"
    [current] = double.get("subscription", "sub_1")["items"]["data"]
    assert world.one(Subscription, "sub_1").items[0]["quantity"] == current["quantity"] == 3
