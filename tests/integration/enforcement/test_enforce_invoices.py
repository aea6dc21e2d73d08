"""Invoice events against stripe-mock: the invoice, its payment and lines we store, and the
exact reads we send (stripe-mock rejects requests that break Stripe's spec)."""

from __future__ import annotations

from billing_world import days_ago
from enforcement_scenarios import Catalog, annual_line, paid_invoice
from sqlalchemy import select

from worker import samples
from worker.db.models import Invoice, InvoiceLine


def test_invoice_paid_stores_payment_and_each_line_with_its_category(world) -> None:
    w = world("dmly")
    w.customer("cus_lines", "lines@example.com")
    w.catalog(Catalog.PLAN_MONTH, Catalog.AGENTS, Catalog.WHATSAPP, Catalog.OVERAGE)
    paid_at = days_ago(1)
    period = {"period_start": paid_at, "period_end": paid_at + 30 * 86400}
    invoice = paid_invoice(
        w,
        "cus_lines",
        [
            samples.line(amount=10000, price="price_growth_month", **period),
            samples.line(amount=3000, price="price_agents", quantity=2, **period),
            samples.line(amount=740, price="price_whatsapp_fees", **period),
            samples.line(amount=260, price="price_overage", **period),
        ],
        paid_at,
        payment_intent="pi_lines",
    )
    w.stripe.clear()

    stored = w.one(Invoice, invoice["id"])
    assert (stored.customer, stored.status, stored.amount_paid) == ("cus_lines", "paid", 14000)
    assert stored.payment_intent_id == "pi_lines"
    assert int(stored.paid_at.timestamp()) == paid_at
    with w.runtime.sessions() as session:
        lines = session.scalars(select(InvoiceLine).order_by(InvoiceLine.position)).all()
    assert [(line.category, line.amount, line.interval) for line in lines] == [
        ("plan", 10000, "month"),
        ("addon", 3000, "month"),
        ("pass_through", 740, "month"),
        ("usage", 260, "month"),
    ]


def test_an_unknown_price_is_fetched_once_with_its_product(world) -> None:
    w = world()
    w.customer("cus_fetch", "fetch@example.com")
    paid_at = days_ago(1)
    for _ in range(2):
        line = samples.line(
            amount=500, price="price_never_seen", period_start=paid_at, period_end=paid_at
        )
        paid_invoice(w, "cus_fetch", [line], paid_at)
    fetches = [r for r in w.stripe.sent if r.path == "/v1/prices/price_never_seen"]
    assert len(fetches) == 1
    assert fetches[0].params == {"expand[0]": "product"}


def test_an_invoice_without_its_payment_fetches_the_invoice_payments_once(world) -> None:
    w = world()
    w.customer("cus_pay", "pay@example.com")
    w.catalog(Catalog.PLAN_YEAR)
    invoice = samples.invoice_with_lines(
        [annual_line(days_ago(1))], customer="cus_pay", paid_at=days_ago(1)
    )
    del invoice["payments"]
    w.deliver("invoice.paid", invoice)
    listing = [r for r in w.stripe.sent if r.path == "/v1/invoice_payments"]
    assert [r.params for r in listing] == [{"invoice": invoice["id"], "limit": "100"}]


def test_an_older_invoice_state_never_replaces_a_newer_one(world) -> None:
    w = world()
    w.customer("cus_order", "order@example.com")
    w.catalog(Catalog.PLAN_YEAR)
    paid_at = days_ago(1)
    invoice = samples.invoice_with_lines(
        [annual_line(paid_at)], customer="cus_order", paid_at=paid_at
    )
    w.deliver("invoice.paid", invoice, created=paid_at + 10)
    failed = dict(invoice, status="open")
    w.deliver("invoice.payment_failed", failed, created=paid_at - 10)
    assert w.one(Invoice, invoice["id"]).status == "paid"
