"""Refund requests and refund events against stripe-mock: what the policy decides is what we
send (path, parameters, idempotency key), once."""

from __future__ import annotations

import pytest
from billing_world import BillingWorld, annual_line, days_ago, monthly_line
from enforcement_scenarios import Catalog, disputed_invoice, paid_invoice

from worker import samples
from worker.commands.refunds import RequestError, approve, reject
from worker.db.models import Refund


def test_mittrik_annual_refund_on_day_6_is_issued_once_with_its_metadata(world) -> None:
    w = world("mittrik")
    w.customer("cus_annual", "annual@example.com")
    w.catalog(Catalog.PLAN_YEAR)
    paid_at = days_ago(6)
    invoice = paid_invoice(
        w,
        "cus_annual",
        [annual_line(paid_at)],
        paid_at,
        payment_intent="pi_annual",
        number="MITT-0006",
    )
    w.stripe.clear()

    result = w.ask_refund("annual@example.com", invoice="MITT-0006")
    request = result.request
    assert (request.status, request.amount, request.clauses) == (
        "refunded",
        110000,
        ["M1.annual", "M3.partial"],
    )
    [refund] = w.stripe.mutations()
    assert (refund.path, refund.idempotency_key) == (
        "/v1/refunds",
        f"bw:{request.id}:refund:pi_annual",
    )
    assert refund.params == {
        "payment_intent": "pi_annual",
        "amount": "110000",
        "reason": "requested_by_customer",
        "metadata[refund_request_id]": request.id,
        "metadata[policy]": "mittrik",
        "metadata[policy_version]": "2025-04-10",
        "metadata[clauses]": "M1.annual,M3.partial",
        # found again on the payment's refunds once Stripe forgot the key
        "metadata[bw_idempotency_key]": f"bw:{request.id}:refund:pi_annual",
    }
    assert request.refund_id and w.one(Refund, request.refund_id).amount == 110000

    w.stripe.clear()
    again = w.ask_refund("cus_annual", invoice=invoice["id"])
    assert again.duplicate and again.request.id == request.id
    assert w.stripe.mutations() == []


def test_mittrik_annual_refund_on_day_15_is_denied_without_a_stripe_call(world) -> None:
    w = world("mittrik")
    w.customer("cus_late", "late@example.com")
    w.catalog(Catalog.PLAN_YEAR)
    paid_at = days_ago(15)
    paid_invoice(w, "cus_late", [annual_line(paid_at)], paid_at, number="MITT-0015")
    w.stripe.clear()
    request = w.ask_refund("cus_late", invoice="MITT-0015").request
    assert (request.status, request.clauses) == ("denied", ["M1.annual"])
    assert "14 days" in request.lines[0]["explanation"]
    assert w.stripe.mutations() == []


def test_dmly_refund_skips_whatsapp_fees_and_overage(world) -> None:
    w = world("dmly")
    w.customer("cus_wa", "wa@example.com")
    w.catalog(Catalog.PLAN_MONTH, Catalog.WHATSAPP, Catalog.OVERAGE)
    paid_at = days_ago(1)
    period = {"period_start": paid_at, "period_end": paid_at + 30 * 86400}
    paid_invoice(
        w,
        "cus_wa",
        [
            samples.line(amount=10000, price="price_growth_month", **period),
            samples.line(amount=740, price="price_whatsapp_fees", **period),
            samples.line(amount=260, price="price_overage", **period),
        ],
        paid_at,
        number="DMLY-0001",
        payment_intent="pi_wa",
    )
    request = w.ask_refund("cus_wa", invoice="DMLY-0001").request
    assert (request.status, request.amount) == ("refunded", 10000)
    assert [(line["outcome"], line["clauses"]) for line in request.lines] == [
        ("approve", ["D2.monthly"]),
        ("deny", ["D4.exclusions"]),
        ("deny", ["D4.exclusions"]),
    ]
    [refund] = w.stripe.mutations()
    assert refund.params["amount"] == "10000"


def paid_a_month_yesterday(
    w: BillingWorld, customer: str, number: str, payment_intent: str
) -> None:
    """A DMLY customer who paid one monthly plan (100.00) a day ago."""
    w.customer(customer, f"{customer.removeprefix('cus_')}@example.com")
    w.catalog(Catalog.PLAN_MONTH)
    paid_at = days_ago(1)
    paid_invoice(
        w, customer, [monthly_line(paid_at)], paid_at, number=number, payment_intent=payment_intent
    )


def test_a_refund_made_in_the_dashboard_lowers_what_remains_refundable(world) -> None:
    w = world("dmly")
    paid_a_month_yesterday(w, "cus_dash", number="DMLY-0002", payment_intent="pi_dash")
    w.deliver("refund.created", samples.refund(payment_intent="pi_dash", amount=4000))
    request = w.ask_refund("cus_dash", invoice="DMLY-0002").request
    assert request.amount == 6000


def test_a_fully_refunded_invoice_is_an_error_not_a_second_refund(world) -> None:
    w = world("dmly")
    paid_a_month_yesterday(w, "cus_full", number="DMLY-0003", payment_intent="pi_full")
    w.deliver(
        "charge.refunded",
        {
            "id": "ch_full",
            "object": "charge",
            "payment_intent": "pi_full",
            "amount": 10000,
            "amount_refunded": 10000,
            "refunds": {"data": []},
        },
    )
    with pytest.raises(RequestError, match="already refunded in full"):
        w.ask_refund("cus_full", invoice="DMLY-0003")


def test_a_disputed_payment_is_denied_by_the_dispute_clause(world) -> None:
    w = world("mittrik")
    invoice = disputed_invoice(w)
    w.deliver(
        "charge.dispute.created",
        samples.dispute(
            charge="ch_disputed", payment_intent="pi_disputed", reason="product_not_received"
        ),
    )
    request = w.ask_refund("cus_chargeback", invoice=invoice["id"]).request
    assert (request.status, request.clauses) == ("denied", ["M6.dispute"])


def test_unknown_customer_and_ambiguous_dates_are_errors_listing_candidates(world) -> None:
    w = world("mittrik")
    w.customer("cus_two", "two@example.com")
    w.catalog(Catalog.PLAN_YEAR)
    paid_at = days_ago(2)
    first = paid_invoice(w, "cus_two", [annual_line(paid_at)], paid_at, number="TWO-1")
    paid_invoice(w, "cus_two", [annual_line(paid_at + 60)], paid_at + 60, number="TWO-2")
    with pytest.raises(RequestError, match=r"unknown customer nobody@example.com; .*cus_two"):
        w.ask_refund("nobody@example.com", invoice="TWO-1")
    day = first["status_transitions"]["paid_at"]
    from datetime import UTC, datetime, timedelta

    paid_day = datetime.fromtimestamp(day, UTC).date()
    if datetime.fromtimestamp(day + 60, UTC).date() == paid_day:
        with pytest.raises(RequestError, match="matches several paid invoices: TWO-1 .*TWO-2"):
            w.ask_refund("cus_two", purchase_date=paid_day)
    with pytest.raises(RequestError, match="matches no paid invoice of cus_two; paid: TWO-1"):
        w.ask_refund("cus_two", purchase_date=paid_day - timedelta(days=9))


def test_a_review_is_approved_with_a_capped_amount_or_rejected(world) -> None:
    w = world("mittrik")
    w.customer("cus_tech", "tech@example.com")
    w.catalog(Catalog.PLAN_YEAR)
    paid_at = days_ago(40)
    paid_invoice(
        w, "cus_tech", [annual_line(paid_at)], paid_at, number="TECH-1", payment_intent="pi_tech"
    )
    request = w.ask_refund("cus_tech", "technical_issue", invoice="TECH-1").request
    assert (request.status, request.proposed_amount, request.clauses) == (
        "review",
        120000,
        ["M4.technical"],
    )
    assert w.stripe.mutations() == []
    with pytest.raises(RequestError, match="more than the 120000 usd still refundable"):
        approve(w.runtime, request.id, by="sam", amount=120001)
    done = approve(w.runtime, request.id, by="sam", amount=50000)
    assert (done.status, done.amount, done.decided_by) == ("refunded", 50000, "sam")
    credit = done.expected_credit  # M5.request: 5th to 7th business day after approval
    assert credit["from"] < credit["to"]
    [refund] = w.stripe.mutations()
    assert refund.params["amount"] == "50000"
    with pytest.raises(RequestError, match="is refunded, not waiting for review"):
        reject(w.runtime, request.id, by="sam", why="changed my mind")
