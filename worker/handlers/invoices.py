"""Invoice events: record what the policy engine later decides refunds on."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from worker.db.models import InvoicePayment
from worker.errors import MalformedPayload

if TYPE_CHECKING:
    from worker.handlers import HandlerContext


def record_invoice_paid(ctx: HandlerContext, invoice: dict[str, Any]) -> None:
    """`invoice.paid`: keep the payment (customer, number, amount, currency, paid_at, reason)."""
    customer = invoice.get("customer")
    if isinstance(customer, dict):
        customer = customer.get("id")
    paid_at = (invoice.get("status_transitions") or {}).get("paid_at")
    if not invoice.get("id") or not customer or not isinstance(paid_at, int):
        raise MalformedPayload("invoice.paid without id, customer or status_transitions.paid_at")
    ctx.session.merge(
        InvoicePayment(
            invoice_id=invoice["id"],
            customer=customer,
            number=invoice.get("number"),
            amount_paid=int(invoice.get("amount_paid") or 0),
            currency=str(invoice.get("currency") or "").lower(),
            paid_at=datetime.fromtimestamp(paid_at, UTC),
            billing_reason=invoice.get("billing_reason"),
            event_id=ctx.event_id,
            raw=invoice,
        )
    )
