"""What the customer paid for one invoice line: the amount a full refund of the line gives back.

Stripe's line `amount` is before discounts and without exclusive tax. At the pinned API version
a line lists its `taxes` (each `exclusive` or `inclusive`; an inclusive one is already inside
`amount`) and its `pretax_credit_amounts` (discounts and credit grants, taken before tax);
older versions list `discount_amounts` and `tax_amounts` (with `inclusive`). So what was paid is

    amount − pretax credits (else discounts) + exclusive tax

Why a refund of a computed amount and not a credit note with `lines`: every refund the worker
makes is already one amount decided by the policy, keyed per payment, recorded in `refunds`,
split over several payments and looked up again after a 5xx; a credit note would be a second
path for money with its own keys, events and remainder rules, and the policy's partial amounts
(unused months) are not a line quantity. The cost: Stripe's invoice and tax reports do not show
the refund against the line's tax; the lead carries that trade-off to the closing note.
"""

from __future__ import annotations

from typing import Any


def paid_for_line(line: dict[str, Any]) -> int:
    """The line's amount net of its discounts, plus its exclusive tax (integer minor units)."""
    amount = int(line.get("amount") or 0)
    return amount - _credits(line) + _exclusive_tax(line)


def _credits(line: dict[str, Any]) -> int:
    # pretax_credit_amounts already includes the discounts: never subtract both lists.
    pretax = line.get("pretax_credit_amounts")
    entries = pretax if pretax is not None else line.get("discount_amounts")
    return sum(int(entry.get("amount") or 0) for entry in entries or [] if isinstance(entry, dict))


def _exclusive_tax(line: dict[str, Any]) -> int:
    taxes = line.get("taxes")
    if taxes is not None:
        return sum(
            int(tax.get("amount") or 0)
            for tax in taxes
            if isinstance(tax, dict) and tax.get("tax_behavior") == "exclusive"
        )
    return sum(
        int(tax.get("amount") or 0)
        for tax in line.get("tax_amounts") or []
        if isinstance(tax, dict) and not tax.get("inclusive", True)
    )
