"""Chargebacks (M6.dispute, D6.dispute) on the fake Stripe: which subscriptions are paused,
resumed or cancelled, and what the account becomes."""

from __future__ import annotations

import time

import pytest
from handler_runner import HandlerRunner

from worker import samples
from worker.db.models import Customer, Dispute
from worker.errors import FinalError


def customer_with_paid_invoice(run: HandlerRunner, customer: str = "cus_cb") -> None:
    """A customer whose payment `pi_disputed` we recorded, and who has two live subscriptions
    and one already cancelled, at Stripe."""
    run.handle("customer.created", {"id": customer, "object": "customer", "email": "cb@x.test"})
    run.stripe.prices["price_plan"] = samples.price("price_plan", "prod_plan", 10000)
    now = int(time.time())
    line = samples.line(amount=10000, price="price_plan", period_start=now, period_end=now)
    invoice = samples.invoice_with_lines(
        [line], customer=customer, paid_at=now, payment_intent="pi_disputed"
    )
    run.handle("invoice.paid", invoice)
    for sub_id, status in (("sub_a", "active"), ("sub_b", "past_due"), ("sub_old", "canceled")):
        run.stripe.add_subscription(
            samples.subscription(
                sub_id, customer, [], period_start=now, period_end=now, status=status
            )
        )
    run.stripe.mutations.clear()


def test_mittrik_fraudulent_dispute_pauses_each_live_subscription_and_suspends(handlers) -> None:
    run = handlers("mittrik")
    customer_with_paid_invoice(run)
    dispute = samples.dispute(charge="ch_x", payment_intent="pi_disputed")

    run.handle("charge.dispute.created", dispute)

    assert run.stripe.methods_called() == [
        ("subscriptions.update", "sub_a"),
        ("subscriptions.update", "sub_b"),
        ("customers.update", "cus_cb"),
    ]
    assert run.stripe.subscriptions["sub_a"]["pause_collection"] == {"behavior": "void"}
    assert run.stripe.subscriptions["sub_old"]["pause_collection"] is None
    assert run.stripe.customers["cus_cb"]["metadata"]["account_status"] == "suspended"
    assert run.one(Customer, "cus_cb").account_status == "suspended"
    row = run.one(Dispute, dispute["id"])
    assert (row.action, row.clause, row.customer) == ("suspend", "M6.dispute", "cus_cb")


def test_mittrik_won_dispute_resumes_only_paused_subscriptions_and_reinstates(handlers) -> None:
    run = handlers("mittrik")
    customer_with_paid_invoice(run)
    dispute = samples.dispute(charge="ch_x", payment_intent="pi_disputed")
    run.handle("charge.dispute.created", dispute)
    run.stripe.subscriptions["sub_b"]["pause_collection"] = None  # resumed by hand meanwhile
    run.stripe.mutations.clear()

    run.handle("charge.dispute.closed", dict(dispute, status="won"))

    assert run.stripe.methods_called() == [
        ("subscriptions.update", "sub_a"),
        ("customers.update", "cus_cb"),
    ]
    assert run.stripe.subscriptions["sub_a"]["pause_collection"] is None
    assert run.one(Customer, "cus_cb").account_status == "active"
    assert run.one(Dispute, dispute["id"]).action == "reinstate"


def test_mittrik_lost_dispute_cancels_live_subscriptions_and_terminates(handlers) -> None:
    run = handlers("mittrik")
    customer_with_paid_invoice(run)
    dispute = samples.dispute(charge="ch_x", payment_intent="pi_disputed", reason="unrecognized")
    run.handle("charge.dispute.created", dispute)
    run.stripe.mutations.clear()

    run.handle("charge.dispute.closed", dict(dispute, status="lost"))

    assert [s["status"] for s in run.stripe.subscriptions.values()] == ["canceled"] * 3
    assert run.stripe.methods_called()[:2] == [
        ("subscriptions.cancel", "sub_a"),
        ("subscriptions.cancel", "sub_b"),
    ]
    assert run.one(Customer, "cus_cb").account_status == "terminated"


def test_a_closed_dispute_leaves_an_account_this_policy_never_suspended_alone(handlers) -> None:
    run = handlers("mittrik")
    customer_with_paid_invoice(run)
    dispute = samples.dispute(
        charge="ch_x", payment_intent="pi_disputed", reason="product_not_received"
    )
    run.handle("charge.dispute.created", dispute)
    run.handle("charge.dispute.closed", dict(dispute, status="lost"))

    assert run.stripe.mutations == []
    assert run.one(Customer, "cus_cb").account_status == "active"


def test_dmly_records_a_fraudulent_dispute_and_its_withdrawn_funds_without_suspending(
    handlers,
) -> None:
    run = handlers("dmly")
    customer_with_paid_invoice(run)
    dispute = samples.dispute(charge="ch_x", payment_intent="pi_disputed")

    run.handle("charge.dispute.created", dispute)
    run.handle("charge.dispute.funds_withdrawn", dispute)

    assert run.stripe.mutations == []
    row = run.one(Dispute, dispute["id"])
    assert (row.action, row.clause, row.funds_withdrawn) == ("record", "D6.dispute", True)


def test_a_dispute_on_a_payment_we_never_recorded_finds_its_customer_on_the_charge(
    handlers,
) -> None:
    run = handlers("mittrik")
    run.stripe.customers["cus_stripe_only"] = {"id": "cus_stripe_only", "email": "s@x.test"}
    run.stripe.charges["ch_unseen"] = {"id": "ch_unseen", "customer": "cus_stripe_only"}

    run.handle("charge.dispute.created", samples.dispute(charge="ch_unseen", payment_intent=None))

    assert ("charges.retrieve", "ch_unseen") in run.stripe.reads
    assert run.one(Customer, "cus_stripe_only").account_status == "suspended"


def test_a_dispute_whose_charge_names_no_customer_fails_with_the_reason(handlers) -> None:
    run = handlers("mittrik")
    run.stripe.charges["ch_guest"] = {"id": "ch_guest", "customer": None}

    with pytest.raises(FinalError, match="Stripe names no customer"):
        run.handle(
            "charge.dispute.created", samples.dispute(charge="ch_guest", payment_intent=None)
        )
    assert run.all(Dispute) == []  # the handler's transaction was rolled back
