"""Dispute events against stripe-mock: suspend, reinstate or terminate as the policy says, with
the exact requests we send (path, parameters, idempotency key)."""

from __future__ import annotations

from billing_world import days_ago
from enforcement_scenarios import disputed_invoice

from worker import samples
from worker.db.models import Customer, Dispute, Event


def test_an_event_for_a_charge_of_no_known_customer_fails_with_the_reason_and_can_replay(
    world,
) -> None:
    w = world()
    dispute = samples.dispute(charge="ch_stranger", payment_intent=None)
    event_id, status = w.deliver("charge.dispute.created", dispute)
    assert status == "failed"
    event = w.one(Event, event_id)
    assert "matches no invoice we know and Stripe names no customer" in event.last_error
    assert w.replay(event_id) == "failed"  # still unknown: replayable, and says so again


def metric(name: str, **labels: str) -> float:
    from prometheus_client import REGISTRY

    return REGISTRY.get_sample_value(name, labels) or 0.0


def test_mittrik_fraudulent_chargeback_suspends_then_won_reinstates(world) -> None:
    w = world("mittrik")
    disputed_invoice(w)
    suspensions = metric("billing_account_actions_total", action="suspend")
    pauses = metric("billing_stripe_calls_total", method="subscriptions.update", outcome="ok")
    dispute = samples.dispute(charge="ch_disputed", payment_intent="pi_disputed")
    # A minute apart: two states of the same second are settled by re-reading the dispute.
    opened, status = w.deliver("charge.dispute.created", dispute, created=days_ago(0) - 60)
    assert status == "processed"
    assert w.one(Customer, "cus_chargeback").account_status == "suspended"
    pause, mark = w.stripe.mutations()
    assert pause.path.startswith("/v1/subscriptions/")
    assert pause.params == {"pause_collection[behavior]": "void"}
    assert pause.idempotency_key.startswith(f"bw:{opened}:pause_collection:")
    assert (mark.path, mark.params) == (
        "/v1/customers/cus_chargeback",
        {"metadata[account_status]": "suspended"},
    )
    row = w.one(Dispute, dispute["id"])
    assert (row.action, row.clause, row.customer) == ("suspend", "M6.dispute", "cus_chargeback")
    assert metric("billing_account_actions_total", action="suspend") == suspensions + 1
    assert (
        metric("billing_stripe_calls_total", method="subscriptions.update", outcome="ok")
        == pauses + 1
    )

    w.stripe.clear()
    _, status = w.deliver("charge.dispute.closed", dict(dispute, status="won"))
    assert w.one(Customer, "cus_chargeback").account_status == "active"
    resume, mark = w.stripe.mutations()
    assert resume.params == {"pause_collection": ""}
    assert mark.params == {"metadata[account_status]": "active"}

    w.stripe.clear()
    assert w.replay(opened) == "processed"
    assert w.stripe.mutations() == []  # the suspension is not repeated on replay


def test_mittrik_lost_chargeback_terminates_without_proration(world) -> None:
    w = world("mittrik")
    disputed_invoice(w)
    dispute = samples.dispute(
        charge="ch_disputed", payment_intent="pi_disputed", reason="unrecognized"
    )
    w.deliver("charge.dispute.created", dispute, created=days_ago(0) - 60)
    w.stripe.clear()
    w.deliver("charge.dispute.closed", dict(dispute, status="lost"))
    cancel, mark = w.stripe.mutations()
    assert cancel.method == "DELETE" and cancel.path.startswith("/v1/subscriptions/")
    assert cancel.params == {"prorate": "false", "invoice_now": "false"}
    assert mark.params == {"metadata[account_status]": "terminated"}
    assert w.one(Customer, "cus_chargeback").account_status == "terminated"


def test_mittrik_chargeback_for_another_reason_is_only_recorded(world) -> None:
    w = world("mittrik")
    disputed_invoice(w)
    w.deliver(
        "charge.dispute.created",
        samples.dispute(
            charge="ch_disputed", payment_intent="pi_disputed", reason="product_not_received"
        ),
    )
    assert w.stripe.mutations() == []
    assert w.one(Customer, "cus_chargeback").account_status == "active"


def test_dmly_chargeback_is_recorded_with_no_suspension(world) -> None:
    w = world("dmly")
    disputed_invoice(w)
    dispute = samples.dispute(charge="ch_disputed", payment_intent="pi_disputed")
    w.deliver("charge.dispute.created", dispute)
    w.deliver("charge.dispute.funds_withdrawn", dispute)
    assert w.stripe.mutations() == []
    row = w.one(Dispute, dispute["id"])
    assert (row.action, row.clause, row.funds_withdrawn) == ("record", "D6.dispute", True)
    assert w.one(Customer, "cus_chargeback").account_status == "active"
