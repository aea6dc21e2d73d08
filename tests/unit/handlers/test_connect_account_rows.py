"""Stripe Connect: two connected accounts (and the platform) holding objects of the same ids
never see each other's rows, and a chargeback moves only its own account's customer."""

from __future__ import annotations

import time

from handler_runner import HandlerRunner

from worker import samples
from worker.db.models import PLATFORM, Customer, Dispute, Invoice, InvoiceLine, Price

ACCOUNTS = ("acct_1Alpha", "acct_1Beta", PLATFORM)


def paid_on_each_account(run: HandlerRunner) -> dict[str, dict[str, object]]:
    """The same customer, price and invoice ids on every account, each paid another amount."""
    now = int(time.time())
    invoices = {}
    for position, account in enumerate(ACCOUNTS, start=1):
        run.stripe.prices["price_same"] = samples.price("price_same", "prod_same", 1000 * position)
        run.handle(
            "customer.created",
            {"id": "cus_same", "object": "customer", "email": f"{position}@x.test"},
            account=account,
        )
        line = samples.line(
            amount=1000 * position, price="price_same", period_start=now, period_end=now
        )
        invoice = samples.invoice_with_lines(
            [line], customer="cus_same", paid_at=now, payment_intent="pi_same"
        )
        invoice["id"] = "in_same"
        run.handle("invoice.paid", invoice, account=account)
        invoices[account] = invoice
    return invoices


def test_the_same_ids_on_two_accounts_and_the_platform_are_three_rows(handlers) -> None:
    run = handlers("mittrik")
    paid_on_each_account(run)

    for position, account in enumerate(ACCOUNTS, start=1):
        assert run.one(Customer, "cus_same", account).email == f"{position}@x.test"
        assert run.one(Invoice, "in_same", account).amount_paid == 1000 * position
        assert run.one(Price, "price_same", account).unit_amount == 1000 * position
    lines = run.all(InvoiceLine)
    assert sorted((line.account, line.amount) for line in lines) == sorted(
        (account, 1000 * position) for position, account in enumerate(ACCOUNTS, start=1)
    )


def test_an_invoice_again_on_one_account_replaces_only_that_accounts_lines(handlers) -> None:
    run = handlers("mittrik")
    invoices = paid_on_each_account(run)
    again = dict(invoices["acct_1Beta"], amount_paid=5)

    run.handle("invoice.paid", again, account="acct_1Beta")

    assert run.one(Invoice, "in_same", "acct_1Beta").amount_paid == 5
    assert run.one(Invoice, "in_same", "acct_1Alpha").amount_paid == 1000
    assert len(run.all(InvoiceLine)) == len(ACCOUNTS)


def test_a_chargeback_on_one_account_suspends_only_that_accounts_customer(handlers) -> None:
    run = handlers("mittrik")
    paid_on_each_account(run)
    run.stripe.mutations.clear()
    dispute = samples.dispute(charge="ch_same", payment_intent="pi_same")

    run.handle("charge.dispute.created", dispute, account="acct_1Alpha")

    statuses = {a: run.one(Customer, "cus_same", a).account_status for a in ACCOUNTS}
    assert statuses == {"acct_1Alpha": "suspended", "acct_1Beta": "active", PLATFORM: "active"}
    assert run.one(Dispute, dispute["id"], "acct_1Alpha").clause == "M6.dispute"
    assert {row.account for row in run.all(Dispute)} == {"acct_1Alpha"}
    # Its Stripe calls are keyed on that account: no other account's key can match them.
    assert run.stripe.mutations
    assert all(m.idempotency_key.startswith("bw:acct_1Alpha:") for m in run.stripe.mutations)
