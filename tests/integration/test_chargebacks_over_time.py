"""Chargebacks over time (M6 / D6) on the Stripe double: whatever order dispute events arrive
in, and however many disputes an account has, Stripe ends with the account state the spec
computes from the disputes' latest states — customer metadata `account_status`, the
subscription's `pause_collection` and status — and nothing else is called."""

from __future__ import annotations

import pytest
from double_world import CUSTOMER, DoubleWorld, double_world
from stripe_double import StripeDouble

from worker.db.models import Customer, Dispute


@pytest.fixture
def world(make_settings, sqlite_url: str, double: StripeDouble):
    def make(policy: str = "mittrik") -> tuple[DoubleWorld, str]:
        w = double_world(make_settings, sqlite_url, double, policy)
        return w, w.payment_intent(w.paid_annual_invoice())

    return make


def suspended(w: DoubleWorld) -> bool:
    sub = w.subscription()
    return (
        w.account_status() == "suspended"
        and sub["status"] == "active"
        and sub["pause_collection"] == {"behavior": "void"}
    )


def active(w: DoubleWorld) -> bool:
    sub = w.subscription()
    return (
        w.account_status() in (None, "active")
        and sub["status"] == "active"
        and (sub["pause_collection"] is None)
    )


def terminated(w: DoubleWorld) -> bool:
    return w.account_status() == "terminated" and w.subscription()["status"] == "canceled"


def test_a_created_handled_after_its_won_closed_never_suspends(world) -> None:
    w, pi = world()
    opened = w.double.dispute(pi, reason="fraudulent")
    won = w.double.set_dispute_status(opened["id"], "won")
    # Backfill lists newest first: the closing comes before the opening.
    assert w.deliver("charge.dispute.closed", won, at=w.clock + 10) == "processed"
    assert w.deliver("charge.dispute.created", opened, at=w.clock + 1) == "processed"
    assert active(w)
    assert w.executed_mutations() == []
    assert w.world.one(Dispute, opened["id"]).status == "won"


def test_a_created_handled_after_its_lost_closed_leaves_the_account_terminated(world) -> None:
    w, pi = world()
    opened = w.double.dispute(pi, reason="unrecognized")
    lost = w.double.set_dispute_status(opened["id"], "lost")
    w.deliver("charge.dispute.closed", lost, at=w.clock + 10)
    assert terminated(w)
    w.deliver("charge.dispute.created", opened, at=w.clock + 1)
    assert terminated(w)
    cancels = [s for s in w.executed_mutations() if s.method == "DELETE"]
    assert [(s.path, s.params) for s in cancels] == [
        ("/v1/subscriptions/sub_dbl", {"prorate": "false", "invoice_now": "false"})
    ]
    assert w.world.one(Customer, CUSTOMER).account_status == "terminated"


def test_two_events_of_the_same_second_are_ordered_by_re_reading_the_dispute(world) -> None:
    w, pi = world()
    opened = w.double.dispute(pi, reason="fraudulent")
    won = w.double.set_dispute_status(opened["id"], "won")
    second = w.clock + 5
    w.deliver("charge.dispute.closed", won, at=second)
    w.deliver("charge.dispute.created", opened, at=second)  # a tie: Stripe says won
    assert active(w)
    assert w.executed_mutations() == []
    assert [s.path for s in w.double.sent if s.path.startswith("/v1/disputes/")] == [
        f"/v1/disputes/{opened['id']}"
    ]


def test_with_two_disputes_the_account_is_reinstated_only_when_neither_is_open(world) -> None:
    w, pi = world()
    first = w.double.dispute(pi, reason="fraudulent")
    second = w.double.dispute(pi, reason="general")
    w.deliver("charge.dispute.created", first)
    w.deliver("charge.dispute.created", second)
    assert suspended(w)
    w.deliver("charge.dispute.closed", w.double.set_dispute_status(first["id"], "won"))
    assert suspended(w)  # the second dispute is still open
    w.deliver("charge.dispute.closed", w.double.set_dispute_status(second["id"], "won"))
    assert active(w)
    assert w.account_status() == "active"
    pauses = [s for s in w.executed_mutations() if s.path == "/v1/subscriptions/sub_dbl"]
    assert [s.params for s in pauses] == [
        {"pause_collection": {"behavior": "void"}},
        {"pause_collection": ""},
    ]


def test_a_lost_dispute_whose_reason_never_suspended_terminates_nothing(world) -> None:
    w, pi = world()
    fraud = w.double.dispute(pi, reason="fraudulent")
    other = w.double.dispute(pi, reason="product_not_received")
    w.deliver("charge.dispute.created", fraud)
    w.deliver("charge.dispute.created", other)
    w.deliver("charge.dispute.closed", w.double.set_dispute_status(other["id"], "lost"))
    assert suspended(w)
    w.deliver("charge.dispute.closed", w.double.set_dispute_status(fraud["id"], "won"))
    assert active(w)


def test_an_inquiry_suspends_like_a_dispute_and_its_warning_closed_reinstates(world) -> None:
    w, pi = world()
    inquiry = w.double.dispute(pi, reason="fraudulent", status="warning_needs_response")
    w.deliver("charge.dispute.created", inquiry)
    assert suspended(w)
    w.deliver(
        "charge.dispute.updated", w.double.set_dispute_status(inquiry["id"], "warning_under_review")
    )
    assert suspended(w)
    w.deliver("charge.dispute.closed", w.double.set_dispute_status(inquiry["id"], "warning_closed"))
    assert active(w)


@pytest.mark.parametrize("closing", ["won", "prevented"])
def test_a_dispute_won_or_prevented_reinstates(world, closing: str) -> None:
    w, pi = world()
    opened = w.double.dispute(pi, reason="general")
    w.deliver("charge.dispute.created", opened)
    w.deliver("charge.dispute.closed", w.double.set_dispute_status(opened["id"], closing))
    assert active(w)


def test_termination_is_final_an_appeal_and_its_win_do_not_reinstate(world) -> None:
    w, pi = world()
    opened = w.double.dispute(pi, reason="fraudulent")
    w.deliver("charge.dispute.created", opened)
    w.deliver("charge.dispute.closed", w.double.set_dispute_status(opened["id"], "lost"))
    assert terminated(w)
    calls = len(w.executed_mutations())
    appeal = w.double.set_dispute_status(opened["id"], "appeal_needs_response")
    w.deliver("charge.dispute.updated", appeal)
    w.deliver("charge.dispute.closed", w.double.set_dispute_status(opened["id"], "won"))
    assert terminated(w)
    assert len(w.executed_mutations()) == calls
    assert w.world.one(Dispute, opened["id"]).lost is True


@pytest.mark.parametrize(
    ("reason", "closing"),
    [("product_not_received", "won"), ("product_not_received", "lost"), ("fraudulent", "won")],
)
def test_closing_a_dispute_for_an_account_never_suspended_changes_nothing(
    world, reason: str, closing: str
) -> None:
    # A reason that never suspends; or a suspending one whose `created` we never received.
    w, pi = world()
    opened = w.double.dispute(pi, reason=reason)
    if reason != "fraudulent":
        w.deliver("charge.dispute.created", opened)
    w.deliver("charge.dispute.closed", w.double.set_dispute_status(opened["id"], closing))
    assert w.double.mutations() == []  # no mutating call reached Stripe
    assert active(w)


def test_dmly_records_a_lost_unauthorized_chargeback_and_calls_nothing(world) -> None:
    w, pi = world("dmly")
    opened = w.double.dispute(pi, reason="fraudulent")
    w.deliver("charge.dispute.created", opened)
    w.deliver("charge.dispute.closed", w.double.set_dispute_status(opened["id"], "lost"))
    assert w.double.mutations() == []
    row = w.world.one(Dispute, opened["id"])
    assert (row.status, row.action, row.clause) == ("lost", "record", "D6.dispute")
