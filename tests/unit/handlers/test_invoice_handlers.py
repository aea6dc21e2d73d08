"""Invoice events on the fake Stripe: the invoice, its payment and each line with the category
the policy engine reads, what is fetched from Stripe (once), and which state wins."""

from __future__ import annotations

import time

from handler_runner import HandlerRunner
from sqlalchemy import select

from worker import samples
from worker.db.models import Customer, Invoice, InvoiceLine

MONTH = 30 * 86400


def with_catalog(run: HandlerRunner) -> None:
    """Prices announced by their events, as Stripe does before the first invoice bills them."""
    for price_id, category, amount, interval, usage in (
        ("price_plan", "plan", 10000, "month", "licensed"),
        ("price_agents", "addon", 1500, "month", "licensed"),
        ("price_whatsapp", "pass_through", 1, "month", "metered"),
        ("price_overage", None, 5, "month", "metered"),
    ):
        run.handle("product.created", samples.product(f"prod_{price_id}", category))
        price = samples.price(
            price_id, f"prod_{price_id}", amount, interval=interval, usage_type=usage
        )
        run.handle("price.created", price)


def lines_of(run: HandlerRunner, invoice_id: str) -> list[tuple[str, int, str | None]]:
    with run.sessions() as session:
        rows = session.scalars(
            select(InvoiceLine)
            .where(InvoiceLine.invoice_id == invoice_id)
            .order_by(InvoiceLine.position)
        )
        return [(line.category, line.amount, line.interval) for line in rows]


def test_invoice_paid_stores_the_payment_and_each_line_with_its_category(handlers) -> None:
    run = handlers("dmly")
    with_catalog(run)
    paid_at = int(time.time()) - 86400
    period = {"period_start": paid_at, "period_end": paid_at + MONTH}
    invoice = samples.invoice_with_lines(
        [
            samples.line(amount=10000, price="price_plan", **period),
            samples.line(amount=3000, price="price_agents", quantity=2, **period),
            samples.line(amount=740, price="price_whatsapp", **period),
            samples.line(amount=260, price="price_overage", **period),
        ],
        customer="cus_lines",
        paid_at=paid_at,
        payment_intent="pi_lines",
    )
    invoice["customer_email"] = "lines@x.test"

    run.handle("invoice.paid", invoice)

    stored = run.one(Invoice, invoice["id"])
    assert (stored.customer, stored.status, stored.amount_paid) == ("cus_lines", "paid", 14000)
    assert (stored.payment_intent_id, int(stored.paid_at.timestamp())) == ("pi_lines", paid_at)
    assert lines_of(run, invoice["id"]) == [
        ("plan", 10000, "month"),
        ("addon", 3000, "month"),
        ("pass_through", 740, "month"),
        ("usage", 260, "month"),
    ]
    # The email came with the invoice: the customer was learned without asking Stripe.
    assert run.one(Customer, "cus_lines").email == "lines@x.test"
    assert run.stripe.reads == []


def test_a_price_never_announced_is_fetched_once_with_its_product(handlers) -> None:
    run = handlers("mittrik")
    run.stripe.products["prod_new"] = samples.product("prod_new", "addon")
    run.stripe.prices["price_new"] = samples.price("price_new", "prod_new", 500, interval=None)
    run.stripe.customers["cus_fetch"] = {"id": "cus_fetch", "email": "f@x.test"}
    now = int(time.time())

    invoice_ids = []
    for _ in range(2):
        line = samples.line(amount=500, price="price_new", period_start=now, period_end=now)
        invoice = samples.invoice_with_lines([line], customer="cus_fetch", paid_at=now)
        run.handle("invoice.paid", invoice)
        invoice_ids.append(invoice["id"])

    assert run.stripe.reads.count(("prices.retrieve", "price_new")) == 1
    # A one-off price of an add-on product: the line is a one-off add-on.
    assert [lines_of(run, invoice_id) for invoice_id in invoice_ids] == [[("addon", 500, None)]] * 2


def test_an_invoice_without_its_payments_reads_the_default_payment_from_stripe(handlers) -> None:
    run = handlers("mittrik")
    with_catalog(run)
    now = int(time.time())
    line = samples.line(amount=10000, price="price_plan", period_start=now, period_end=now)
    invoice = samples.invoice_with_lines([line], customer="cus_pay", paid_at=now)
    del invoice["payments"]
    run.stripe.customers["cus_pay"] = {"id": "cus_pay", "email": "p@x.test"}
    run.stripe.payments[invoice["id"]] = {"payment_intent": "pi_from_stripe", "charge": None}

    run.handle("invoice.paid", invoice)

    assert run.one(Invoice, invoice["id"]).payment_intent_id == "pi_from_stripe"
    assert run.stripe.reads.count(("invoice_payments.list", invoice["id"])) == 1


def test_an_invoice_paid_by_an_attached_payment_stores_that_one_not_its_canceled_default(
    handlers,
) -> None:
    run = handlers("mittrik")
    with_catalog(run)
    now = int(time.time())
    line = samples.line(amount=10000, price="price_plan", period_start=now, period_end=now)
    invoice = samples.invoice_with_lines([line], customer="cus_pay", paid_at=now)
    [default] = invoice["payments"]["data"]
    default.update(status="canceled", payment={"type": "payment_intent", "payment_intent": "pi_x"})
    attached = {**default, "id": "inpay_2", "is_default": False, "status": "paid"}
    attached["payment"] = {"type": "payment_intent", "payment_intent": "pi_paid"}
    invoice["payments"]["data"].append(attached)
    run.stripe.customers["cus_pay"] = {"id": "cus_pay", "email": "p@x.test"}

    run.handle("invoice.paid", invoice)

    assert run.one(Invoice, invoice["id"]).payment_intent_id == "pi_paid"  # it holds the money


def test_an_invoice_listing_only_its_first_lines_stores_every_line_from_stripe(handlers) -> None:
    run = handlers("mittrik")
    with_catalog(run)
    now = int(time.time())
    first = samples.line(amount=10000, price="price_plan", period_start=now, period_end=now)
    more = samples.line(amount=1500, price="price_agents", period_start=now, period_end=now)
    invoice = samples.invoice_with_lines([first], customer="cus_many", paid_at=now)
    invoice["lines"]["has_more"] = True
    run.stripe.customers["cus_many"] = {"id": "cus_many", "email": "m@x.test"}
    run.stripe.lines[invoice["id"]] = [first, more]

    run.handle("invoice.paid", invoice)

    assert lines_of(run, invoice["id"]) == [("plan", 10000, "month"), ("addon", 1500, "month")]


def test_an_older_invoice_state_delivered_late_never_replaces_a_newer_one(handlers) -> None:
    run = handlers("mittrik")
    with_catalog(run)
    paid_at = int(time.time()) - 3600
    line = samples.line(amount=10000, price="price_plan", period_start=paid_at, period_end=paid_at)
    invoice = samples.invoice_with_lines([line], customer="cus_order", paid_at=paid_at)
    run.stripe.customers["cus_order"] = {"id": "cus_order", "email": "o@x.test"}

    run.handle("invoice.paid", invoice, created=paid_at + 10)
    run.handle("invoice.payment_failed", dict(invoice, status="open"), created=paid_at - 10)

    assert run.one(Invoice, invoice["id"]).status == "paid"
