"""Tax and discounts on the lines the double makes, in the pinned API version's shapes, and the
invoice totals they add up to.

A line's `amount` is before discounts and without exclusive tax; its `pretax_credit_amounts`
(discounts among them) are taken before tax, and each of its `taxes` is `exclusive` (added on
top) or `inclusive` (already inside `amount`). So what a line costs the customer is

    amount − pretax credits + exclusive tax

which is how the worker reads what was paid for a line (worker/handlers/line_amounts.py).
https://docs.stripe.com/changelog/basil/2025-03-31/invoice-tax-configurations (`taxes` on
lines, `total_taxes` on invoices) and
https://docs.stripe.com/changelog/acacia/2024-10-28/billing-credits-invoice
(`pretax_credit_amounts`, `total_pretax_credit_amounts`).

Simplifications, each a choice where the docs do not bind the double: one tax rate per customer
(seeded with `double.customer(..., tax_percent=...)`), percent-off discounts only (seeded with
`double.subscription(..., discount_percent=...)`), so classic's "evenly" and flexible's
"proportionally" spread of a discount over items cannot differ
(https://docs.stripe.com/billing/subscriptions/billing-mode/compare, "Proration discount
application").
"""

from __future__ import annotations

from typing import Any

# Each line's tax (and discount) is rounded on its own to the currency's minor unit, half up,
# and the invoice sums the rounded figures: the worked example on
# https://support.stripe.com/questions/rounding-rules-for-stripe-fees rounds 0.0645 → 0.06 and
# 0.7265 → 0.73 per line item. The docs say nothing of negative amounts (credit prorations):
# the double rounds half away from zero, so a credit mirrors the debit it reverses to the cent.


def round_ratio(numerator: int, denominator: int) -> int:
    """`numerator / denominator` to the nearest integer, halves away from zero."""
    sign = -1 if (numerator < 0) != (denominator < 0) else 1
    n, d = abs(numerator), abs(denominator)
    return sign * ((2 * n + d) // (2 * d))


def percent_of(amount: int, percent: float) -> int:
    """`amount × percent / 100`, rounded as above (percent to 4 decimals, as Stripe's rates)."""
    return round_ratio(amount * round(percent * 10000), 100 * 10000)


def tax_rate(rate_id: str, percent: float, behavior: str) -> dict[str, Any]:
    """A Tax Rate object (https://docs.stripe.com/api/tax_rates/object)."""
    return {
        "id": rate_id,
        "object": "tax_rate",
        "active": True,
        "display_name": "VAT",
        "inclusive": behavior == "inclusive",
        "percentage": percent,
        "effective_percentage": percent,
        "tax_type": "vat",
    }


def line_tax(taxable: int, rate: dict[str, Any]) -> dict[str, Any]:
    """One entry of a line's `taxes`: exclusive tax is the rate on the taxable amount; inclusive
    tax is the part of the (tax-including) taxable amount that is tax, `x × p / (100 + p)`
    (https://support.stripe.com/questions/inclusive-and-exclusive-tax-options-in-the-tax-rate-api-and-stripe-tax:
    a 10% inclusive rate leaves a 600 total at 600, an exclusive one makes it 660)."""
    percent = float(rate["percentage"])
    if rate["inclusive"]:
        scaled = round(percent * 10000)
        amount = round_ratio(taxable * scaled, 100 * 10000 + scaled)
    else:
        amount = percent_of(taxable, percent)
    return {
        "amount": amount,
        "tax_behavior": "inclusive" if rate["inclusive"] else "exclusive",
        "taxability_reason": "standard_rated",
        "taxable_amount": taxable,
        "type": "tax_rate_details",
        "tax_rate_details": {"tax_rate": rate["id"]},
    }


def discount_entries(amount: int, discount: str | None) -> dict[str, list[dict[str, Any]]]:
    """A line's `discount_amounts` and the same credits in `pretax_credit_amounts`."""
    if discount is None:
        return {"discount_amounts": [], "pretax_credit_amounts": []}
    return {
        "discount_amounts": [{"amount": amount, "discount": discount}],
        "pretax_credit_amounts": [{"amount": amount, "discount": discount, "type": "discount"}],
    }


def price_line(line: dict[str, Any], rate: dict[str, Any] | None) -> dict[str, Any]:
    """The line with its `taxes`, given its discount entries (already set, or none)."""
    line.setdefault("discount_amounts", [])
    line.setdefault("pretax_credit_amounts", [])
    taxable = line["amount"] - pretax_credits(line)
    line["taxes"] = [line_tax(taxable, rate)] if rate else []
    return line


def pretax_credits(line: dict[str, Any]) -> int:
    return sum(int(c["amount"]) for c in line.get("pretax_credit_amounts") or [])


def exclusive_tax(line: dict[str, Any]) -> int:
    taxes = line.get("taxes") or []
    return sum(int(t["amount"]) for t in taxes if t.get("tax_behavior") == "exclusive")


def inclusive_tax(line: dict[str, Any]) -> int:
    taxes = line.get("taxes") or []
    return sum(int(t["amount"]) for t in taxes if t.get("tax_behavior") == "inclusive")


def cost(line: dict[str, Any]) -> int:
    """What the line costs the customer: amount − pretax credits + exclusive tax."""
    return int(line["amount"]) - pretax_credits(line) + exclusive_tax(line)


def totals(lines: list[dict[str, Any]]) -> dict[str, Any]:
    """An invoice's amounts from its lines (https://docs.stripe.com/api/invoices/object:
    `subtotal` before discounts and exclusive tax, `total` after both)."""
    subtotal = sum(int(line["amount"]) for line in lines)
    credits = sum(pretax_credits(line) for line in lines)
    total = sum(cost(line) for line in lines)
    by_rate: dict[tuple[str, str], dict[str, Any]] = {}
    for line in lines:
        for tax in line.get("taxes") or []:
            key = (tax["tax_rate_details"]["tax_rate"], tax["tax_behavior"])
            entry = by_rate.setdefault(key, {**tax, "amount": 0, "taxable_amount": 0})
            entry["amount"] += tax["amount"]
            entry["taxable_amount"] += tax["taxable_amount"]
    discounts: dict[str, int] = {}
    for line in lines:
        for entry in line.get("discount_amounts") or []:
            discounts[entry["discount"]] = discounts.get(entry["discount"], 0) + entry["amount"]
    return {
        "subtotal": subtotal,
        "subtotal_excluding_tax": subtotal - sum(inclusive_tax(line) for line in lines),
        "total_discount_amounts": [{"amount": a, "discount": d} for d, a in discounts.items()],
        "total_pretax_credit_amounts": [
            {"amount": a, "discount": d, "type": "discount"} for d, a in discounts.items()
        ],
        "total_taxes": list(by_rate.values()),
        "total_excluding_tax": subtotal - credits - sum(inclusive_tax(line) for line in lines),
        "total": total,
    }
