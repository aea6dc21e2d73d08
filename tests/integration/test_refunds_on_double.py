"""Refund requests carried out on the stateful double: an invoice paid in several parts, and a
line refunded with its tax and net of its discount."""

from __future__ import annotations

from collections.abc import Callable

import money_double
from billing_world import BillingWorld
from ledger import assert_ledger
from money_double import DAY, one_line_paid_in_parts, paid_invoice_with_tax, refund_asked, taxed
from stripe_double import StripeDouble

from worker import samples
from worker.commands.refunds import refundable_remainder
from worker.db.models import Invoice

make_world = money_double.make_world  # fixture


def refunded_by_payment(double: StripeDouble, invoice_id: str) -> dict[str, tuple[str, int]]:
    """Each InvoicePayment's (status, amount refunded on its charge) at the double."""
    found = {}
    for payment in double.state.all("invoice_payment", invoice=invoice_id):
        pi = double.get("payment_intent", payment["payment"]["payment_intent"])
        refunds = double.state.all("refund", payment_intent=pi["id"])
        found[pi["id"]] = (payment["status"], sum(r["amount"] for r in refunds))
    return found


def test_a_refund_of_an_invoice_paid_in_two_parts_is_split_newest_first_over_paid_payments(
    double: StripeDouble, make_world: Callable[..., BillingWorld]
) -> None:
    world = make_world("mittrik")
    # 50000 paid, then a declined attempt (canceled), then 70000 paid.
    invoice = one_line_paid_in_parts(
        double, "price_growth_year", 120000, [50000, 70000], number="A-7", interval="year"
    )
    result = refund_asked(world, invoice)

    assert (result.request.status, result.request.error) == ("refunded", None)
    amount = result.request.amount
    assert amount is not None and amount > 70000  # more than either payment alone
    parts = refunded_by_payment(double, invoice["id"])
    by_status = sorted(parts.values())
    assert by_status == [("canceled", 0), ("paid", amount - 70000), ("paid", 70000)]
    keys = {s.idempotency_key for s in double.mutations() if s.path == "/v1/refunds"}
    assert keys == {f"bw:{result.request.id}:refund:{pi}" for pi, p in parts.items() if p[1]}
    assert_ledger(double, "cus_1", expected=120000 - amount)
    with world.runtime.sessions() as session:  # both parts count against the invoice
        assert refundable_remainder(session, session.get_one(Invoice, ("", invoice["id"]))) == (
            120000 - amount
        )


def test_a_line_refunded_in_full_refunds_its_tax_and_not_its_discount(
    double: StripeDouble, make_world: Callable[..., BillingWorld]
) -> None:
    world = make_world("dmly")
    double.customer("cus_1", "ana@example.com")
    double.price("price_pro", 30000)
    double.price("price_calls", 1, usage_type="metered", category="usage")
    now = double.clock.now()
    period = {"period_start": now, "period_end": now + 30 * DAY}
    plan = taxed(samples.line(amount=30000, price="price_pro", **period), discount=3000, tax=2700)
    usage = taxed(samples.line(amount=5000, price="price_calls", **period), discount=0, tax=500)
    invoice = paid_invoice_with_tax(double, "cus_1", [plan, usage], number="D-1")
    assert double.get("invoice", invoice["id"])["amount_paid"] == 35200
    result = refund_asked(world, invoice)

    # D2.monthly refunds the plan line in full: what was paid for it, 30000 − 3000 + 2700;
    # the usage line is excluded (D4.exclusions).
    assert (result.request.status, result.request.amount) == ("refunded", 29700)
    [refund] = double.state.all("refund")
    assert refund["amount"] == 29700
    assert_ledger(double, "cus_1", expected=35200 - 29700)
