"""The Stripe double's billing modes, tax and discounts, through the worker's gateway and
Stripe's own client: what the double answers is what Stripe's docs say (each rule's page is
cited beside it in tests/stripe_double/billing_modes.py and tax.py)."""

from __future__ import annotations

from typing import Any

import money_double
import pytest
from ledger import ledger
from stripe_double import StripeDouble
from test_stripe_double import monthly_customer, move_the_plan_to, raw_client

from worker import samples
from worker.handlers.line_amounts import paid_for_line
from worker.stripe.gateway import StripeGateway

DAY = 86400


gateway = money_double.gateway  # fixture


def pending(double: StripeDouble) -> list[dict[str, Any]]:
    return sorted(double.pending_items("cus_1"), key=lambda i: i["amount"])


def test_a_subscription_is_flexible_unless_classic_is_asked(double: StripeDouble) -> None:
    monthly_customer(double)
    got = raw_client(double).v1.subscriptions.retrieve("sub_1")
    assert got.billing_mode.type == "flexible"
    assert got.billing_mode.flexible.proration_discounts == "included"
    double.customer("cus_2", "b@example.com")
    now = double.clock.now()
    classic = double.subscription(
        "sub_2", "cus_2", [("si_2", "price_pro", 1)], now, now + 30 * DAY, billing_mode="classic"
    )
    assert classic["billing_mode"] == {"type": "classic", "flexible": None, "updated_at": None}


@pytest.mark.parametrize(
    ("mode", "credit", "credited_price"),
    [("classic", -3333, "price_basic"), ("flexible", -10000, "price_pro")],
)
def test_a_change_made_without_proration_is_credited_at_the_price_paid_only_when_flexible(
    double: StripeDouble, gateway: StripeGateway, mode: str, credit: int, credited_price: str
) -> None:
    monthly_customer(double, days_left=10, mode=mode)
    move_the_plan_to(gateway, "price_basic", "none", "down")
    move_the_plan_to(gateway, "price_max", "create_prorations", "up")
    # A third left: +20000 for max in both modes; the credit is for basic's current price
    # (classic), never paid, or for the 30000 the period's invoice debited (flexible).
    made = pending(double)
    assert [i["amount"] for i in made] == [credit, 20000]
    assert made[0]["pricing"]["price_details"]["price"] == credited_price


def test_flexible_credits_each_original_debit_it_still_owes_time_for(
    double: StripeDouble, gateway: StripeGateway
) -> None:
    monthly_customer(double, days_left=20)
    move_the_plan_to(gateway, "price_max", "create_prorations", "up")
    credit, debit = pending(double)
    assert (credit["amount"], debit["amount"]) == (-20000, 40000)
    double.state.objects["invoiceitem"].pop(credit["id"])  # the first credit taken back
    double.advance(10 * DAY)

    move_the_plan_to(gateway, "price_basic", "create_prorations", "down")

    # 10 of 30 days left. The period's debit (30000 for 30 days) owes them again, and so does
    # the upgrade's debit (40000 for 20 days): one credit each, then basic's 3333.
    made = [i for i in pending(double) if i["id"] != debit["id"]]
    assert sorted(i["amount"] for i in made) == [-20000, -10000, 3333]


def test_a_credit_names_the_invoiced_debit_it_reverses(
    double: StripeDouble, gateway: StripeGateway
) -> None:
    monthly_customer(double, days_left=20)
    move_the_plan_to(gateway, "price_max", "always_invoice", "up")
    [invoice] = double.state.all("invoice", customer="cus_1")
    debit_line = max(invoice["lines"], key=lambda line: line["amount"])
    double.advance(10 * DAY)
    move_the_plan_to(gateway, "price_basic", "create_prorations", "down")
    credit = pending(double)[0]
    assert credit["amount"] == -20000  # 40000 debited for 20 days, 10 of them credited
    assert credit["proration_details"]["credited_items"] == {
        "invoice": invoice["id"],
        "invoice_line_items": [debit_line["id"]],
    }


def test_lines_carry_the_discount_and_the_tax_and_the_totals_include_them(
    double: StripeDouble,
) -> None:
    monthly_customer(double, tax_percent=10, discount_percent=20)
    preview = raw_client(double).v1.invoices.create_preview({"customer": "cus_1"})
    [line] = preview.lines.data
    # 30000, 20% off (6000), 10% VAT on the 24000 left (2400).
    assert line.amount == 30000
    assert [(d.amount, d.discount) for d in line.discount_amounts] == [(6000, "di_sub_1")]
    assert [c.amount for c in line.pretax_credit_amounts] == [6000]
    [tax] = line.taxes
    assert (tax.amount, tax.taxable_amount, tax.tax_behavior) == (2400, 24000, "exclusive")
    assert tax.tax_rate_details.tax_rate == "txr_cus_1"
    assert (preview.subtotal, preview.total, preview.amount_due) == (30000, 26400, 26400)
    assert paid_for_line(line.to_dict()) == 26400


@pytest.mark.parametrize("proration_discounts", ["included", "itemized"])
def test_a_discounted_taxed_downgrade_nets_the_same_shown_either_way(
    double: StripeDouble, gateway: StripeGateway, proration_discounts: str
) -> None:
    monthly_customer(
        double, tax_percent=10, discount_percent=20, proration_discounts=proration_discounts
    )
    move_the_plan_to(gateway, "price_basic", "create_prorations", "down")
    credit, debit = pending(double)
    preview = raw_client(double).v1.invoices.create_preview({"customer": "cus_1"})
    lines = {line.amount: line.to_dict() for line in preview.lines.data}
    if proration_discounts == "itemized":  # gross amounts, the discount beside them
        assert (credit["amount"], debit["amount"]) == (-15000, 5000)
        assert lines[-15000]["discount_amounts"][0]["amount"] == -3000
    else:  # net amounts, the discount named with amount 0
        assert (credit["amount"], debit["amount"]) == (-12000, 4000)
        assert lines[-12000]["discount_amounts"] == [{"amount": 0, "discount": "di_sub_1"}]
    # Half of 30000 less 20%, plus 10%: −13200; half of 10000 likewise: +4400; next month's
    # 10000 likewise: 8800. Nothing due.
    assert sorted(paid_for_line(line) for line in lines.values()) == [-13200, 4400, 8800]
    assert preview.total == 0


def test_inclusive_tax_stays_inside_the_amount_and_a_seeded_invoice_is_taxed(
    double: StripeDouble,
) -> None:
    double.customer("cus_1", "ana@example.com", tax_percent=10, tax_behavior="inclusive")
    double.price("price_pro", 30000)
    now = double.clock.now()
    line = samples.line(amount=30000, price="price_pro", period_start=now, period_end=now + DAY)
    invoice = double.paid_invoice("cus_1", [line], paid_at=now, number="I-1")
    [tax] = invoice["lines"]["data"][0]["taxes"]
    # 30000 × 10 / 110 = 2727.27… of it is VAT; the customer pays 30000.
    assert (tax["amount"], tax["tax_behavior"], invoice["total"]) == (2727, "inclusive", 30000)
    assert ledger(double, "cus_1").charged == 30000
    double.customer("cus_2", "b@example.com", tax_percent=7.5)
    taxed = double.paid_invoice("cus_2", [line], paid_at=now, number="I-2")
    assert taxed["amount_paid"] == 30000 + 2250
