"""Refunds that fail after Stripe accepted them (`refund.failed`, sent for every refund since
2024-10-28, and `refund.updated` to failed): the money never went back, so it is refundable
again; our request shows support the failure and is issued again with a new key. States of one
refund arriving out of order never count it twice. End states are read from the Stripe double."""

from __future__ import annotations

import pytest
from double_world import ANNUAL, CUSTOMER, DoubleWorld, double_world
from ledger import ledger
from stripe_double import StripeDouble

from worker.commands.refunds import (
    approve,
    get_request,
    list_requests,
    refundable_remainder,
    request_refund,
)
from worker.db.models import Invoice, Refund

MITTRIK_DAY_3 = 110000  # annual plan bought 3 days ago: 11 of 12 months unused


@pytest.fixture
def w(make_settings, sqlite_url: str, double: StripeDouble) -> DoubleWorld:
    return double_world(make_settings, sqlite_url, double, "mittrik")


def remainder(w: DoubleWorld, invoice: dict) -> int:
    with w.world.runtime.sessions() as session:
        return refundable_remainder(session, session.get_one(Invoice, ("", invoice["id"])))


def failed_at_the_bank(w: DoubleWorld, refund_id: str) -> dict:
    """The bank returns the refund: Stripe's refund object as `refund.failed` carries it."""
    refund = w.double.settle_refund(refund_id, "failed")
    return dict(refund, failure_reason="expired_or_canceled_card")


@pytest.mark.parametrize("event_type", ["refund.failed", "refund.updated", "charge.refund.updated"])
def test_a_refund_failed_at_the_bank_is_refundable_again_and_support_sees_it(
    w: DoubleWorld, event_type: str
) -> None:
    invoice = w.paid_annual_invoice()
    result = request_refund(
        w.world.runtime, customer=CUSTOMER, invoice="A-1", reason="requested_by_customer"
    )
    first = result.request
    assert (first.status, first.amount) == ("refunded", MITTRIK_DAY_3)
    w.deliver("refund.created", w.double.get("refund", str(first.refund_id)))
    assert remainder(w, invoice) == ANNUAL - MITTRIK_DAY_3

    assert w.deliver(event_type, failed_at_the_bank(w, str(first.refund_id))) == "processed"

    assert remainder(w, invoice) == ANNUAL
    failed = get_request(w.world.runtime, first.id)
    assert failed.status == "refund_failed"
    assert "expired_or_canceled_card" in str(failed.error)
    assert [r.id for r in list_requests(w.world.runtime, "refund_failed")] == [first.id]

    again = approve(w.world.runtime, first.id, by="sam@support")
    assert again.status == "refunded" and again.refund_id != first.refund_id
    refunds = w.double.state.all("refund")
    assert sorted((r["amount"], r["status"]) for r in refunds) == [
        (MITTRIK_DAY_3, "failed"),
        (MITTRIK_DAY_3, "pending"),
    ]
    keys = [
        s.idempotency_key for s in w.double.sent if (s.method, s.path) == ("POST", "/v1/refunds")
    ]
    assert len(set(keys)) == 2  # the second refund did not replay the first one's key
    assert ledger(w.double, CUSTOMER).refunded == MITTRIK_DAY_3


def test_a_late_refund_created_after_refund_failed_does_not_count_it_again(
    w: DoubleWorld,
) -> None:
    invoice = w.paid_annual_invoice()
    pi = w.payment_intent(invoice)
    with w.double.server.lock:  # made by hand in the Dashboard
        pending = dict(w.double.state.create_refund({"payment_intent": pi, "amount": 5000}))
    failed = failed_at_the_bank(w, pending["id"])
    w.deliver("refund.failed", failed, at=w.clock + 10)
    w.deliver("refund.created", pending, at=w.clock - 5)  # older, delivered late
    assert w.world.one(Refund, pending["id"]).status == "failed"
    assert remainder(w, invoice) == ANNUAL


def test_within_one_second_a_failed_refund_outranks_its_pending_state(w: DoubleWorld) -> None:
    invoice = w.paid_annual_invoice()
    pi = w.payment_intent(invoice)
    with w.double.server.lock:
        pending = dict(w.double.state.create_refund({"payment_intent": pi, "amount": 5000}))
    failed = failed_at_the_bank(w, pending["id"])
    second = w.clock + 1
    w.deliver("refund.failed", failed, at=second)
    w.deliver("refund.created", pending, at=second)
    assert w.world.one(Refund, pending["id"]).status == "failed"
    assert remainder(w, invoice) == ANNUAL


def test_a_failed_refund_leaves_the_charge_refundable_despite_an_earlier_charge_refunded(
    w: DoubleWorld,
) -> None:
    # charge.refunded reports the charge's refunded total; it must not outlive the failure.
    invoice = w.paid_annual_invoice()
    pi = w.payment_intent(invoice)
    with w.double.server.lock:
        pending = dict(w.double.state.create_refund({"payment_intent": pi, "amount": 5000}))
    charge, t = w.double.get("charge", pending["charge"]), w.clock
    w.deliver("charge.refunded", charge, at=t + 1)
    assert remainder(w, invoice) == ANNUAL - 5000
    w.deliver("refund.failed", failed_at_the_bank(w, pending["id"]), at=t + 2)
    assert remainder(w, invoice) == ANNUAL
    w.deliver("charge.refunded", charge, at=t + 1)  # the old report, delivered again
    assert remainder(w, invoice) == ANNUAL
