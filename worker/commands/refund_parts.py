"""How one approved refund is spread over the payments of an invoice paid in several parts.

Since API 2025-03-31 an invoice may have several InvoicePayments; only `paid` ones hold money
(`open` and `canceled` ones hold none). A refund goes to those, newest first: the latest payment
is the one most likely still refundable to the same card, and the customer sees the most recent
charge reversed first. Each part is at most what that payment can still take: what it paid
toward this invoice, capped by what its charge has left unrefunded. Each part is its own Stripe
refund with its own key `bw:<request>:refund:<payment>`.

The split is decided once and stored with the request (`decision.refund_parts`), so a retry
after a partial failure refunds the same parts instead of re-splitting what remains.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from worker.errors import FinalError
from worker.handlers.stripe_fields import ref_id
from worker.stripe.gateway import StripeGateway
from worker.stripe.reads import paid_order


@dataclass(frozen=True)
class RefundPart:
    payment_intent: str | None
    charge: str | None
    amount: int

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class PaidPayment:
    payment_intent: str | None
    charge: str | None
    refundable: int


def split_refund(amount: int, payments: list[PaidPayment]) -> list[RefundPart]:
    """Parts of `amount` over `payments` in the order given; never more than one can take."""
    parts: list[RefundPart] = []
    left = amount
    for payment in payments:
        part = min(left, payment.refundable)
        if part > 0:
            parts.append(RefundPart(payment.payment_intent, payment.charge, part))
            left -= part
    if left > 0:
        can = amount - left
        raise FinalError(f"only {can} of {amount} is still refundable on the invoice's payments")
    return parts


def paid_payments(stripe: StripeGateway, invoice_id: str) -> list[PaidPayment]:
    """The invoice's `paid` payments, newest first, each with what it can still refund."""
    found = [p for p in stripe.invoice_payments(invoice_id) if p.get("status") == "paid"]
    found.sort(key=paid_order, reverse=True)
    payments = []
    for entry in found:
        payment = entry.get("payment") or {}
        intent, charge_id = ref_id(payment.get("payment_intent")), ref_id(payment.get("charge"))
        charge = stripe.charge_of(intent, charge_id) or {}
        left_on_charge = int(charge.get("amount") or 0) - int(charge.get("amount_refunded") or 0)
        refundable = min(int(entry.get("amount_paid") or 0), max(0, left_on_charge))
        payments.append(PaidPayment(intent, charge_id, refundable))
    return payments


def planned_parts(
    stripe: StripeGateway,
    invoice_id: str,
    amount: int,
    decision: dict[str, Any],
    fallback: tuple[str | None, str | None],
) -> list[RefundPart]:
    """The stored split, else a new one over the invoice's `paid` payments, whether or not one
    is the invoice's default payment (a default left `canceled` holds no money). An invoice
    with one paid payment is refunded on it in one part, not split: what its charge has left
    may already count this request's own refund, made before a crash lost our record of it,
    which the gateway then finds rather than makes again; and Stripe itself refuses more than
    the payment can take. With none listed (older API versions), the payment we stored,
    `fallback`, in one part."""
    stored = decision.get("refund_parts")
    if stored:
        return [RefundPart(**part) for part in stored]
    payments = paid_payments(stripe, invoice_id)
    if not payments:
        return [RefundPart(fallback[0], fallback[1], amount)]
    if len(payments) == 1:
        return [RefundPart(payments[0].payment_intent, payments[0].charge, amount)]
    return split_refund(amount, payments)
