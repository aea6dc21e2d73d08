"""What the worker reads from Stripe: every read classified (a 429, 5xx or lost connection is
retryable), every list read to its last page."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import stripe

from worker.errors import MalformedPayload
from worker.stripe.calls import StripeCalls, as_dict
from worker.stripe.retry import classify


class StripeReads(StripeCalls):
    def customer(self, customer_id: str) -> dict[str, Any] | None:
        """The customer, or None if Stripe has no such customer."""
        try:
            return as_dict(self.client.v1.customers.retrieve(customer_id, options=self.options))
        except stripe.InvalidRequestError as exc:
            if exc.http_status == 404:
                return None
            raise classify(exc) from exc
        except stripe.StripeError as exc:
            raise classify(exc) from exc

    def price(self, price_id: str) -> dict[str, Any]:
        return as_dict(
            self._read(
                lambda: self.client.v1.prices.retrieve(
                    price_id, {"expand": ["product"]}, self.options
                )
            )
        )

    def product(self, product_id: str) -> dict[str, Any]:
        return as_dict(
            self._read(lambda: self.client.v1.products.retrieve(product_id, options=self.options))
        )

    def charge(self, charge_id: str) -> dict[str, Any]:
        return as_dict(
            self._read(lambda: self.client.v1.charges.retrieve(charge_id, options=self.options))
        )

    def invoice_payments(self, invoice_id: str) -> list[dict[str, Any]]:
        """All of an invoice's InvoicePayments (API 2025-03-31+: an invoice may be paid in
        parts; the default one may be `open` or `canceled`)."""
        return self._read_all(
            lambda: self.client.v1.invoice_payments.list(
                {"invoice": invoice_id, "limit": 100}, self.options
            )
        )

    def charge_of(self, payment_intent: str | None, charge: str | None) -> dict[str, Any] | None:
        """The charge that holds a payment's money: the intent's latest charge, or the charge."""
        if payment_intent:
            intent = as_dict(
                self._read(
                    lambda: self.client.v1.payment_intents.retrieve(
                        payment_intent, options=self.options
                    )
                )
            )
            charge = intent.get("latest_charge")
            charge = charge.get("id") if isinstance(charge, dict) else charge
        return self.charge(charge) if charge else None

    def dispute(self, dispute_id: str) -> dict[str, Any]:
        """The dispute as Stripe has it now: what settles two events of the same second."""
        return as_dict(
            self._read(lambda: self.client.v1.disputes.retrieve(dispute_id, options=self.options))
        )

    def invoice_payment(self, invoice_id: str) -> dict[str, Any] | None:
        """The payment (payment intent or charge) that paid the invoice, which a refund goes
        to: a `paid` InvoicePayment, the default one if it is paid, else the newest paid one.
        The default is the one made when the invoice was finalized and stays so even when it
        was canceled and another, attached payment paid the invoice
        (https://docs.stripe.com/api/invoice-payment/object); an `open` or `canceled` one holds
        no money, and a refund aimed at it is refused."""
        paid = [p for p in self.invoice_payments(invoice_id) if p.get("status") == "paid"]
        paid.sort(key=lambda p: (bool(p.get("is_default")), paid_order(p)), reverse=True)
        return paid[0].get("payment") if paid else None

    def open_invoices(self, customer_id: str) -> list[dict[str, Any]]:
        """The customer's invoices still `open`: the ones Stripe keeps trying to collect."""
        return self._read_all(
            lambda: self.client.v1.invoices.list(
                {"customer": customer_id, "status": "open", "limit": 100}, self.options
            )
        )

    def invoice_lines(self, invoice_id: str) -> list[dict[str, Any]]:
        """Every line of an invoice whose payload listed only the first page."""
        return self._read_all(
            lambda: self.client.v1.invoices.line_items.list(
                invoice_id, {"limit": 100}, self.options
            )
        )

    def pending_invoice_items(self, customer_id: str) -> list[dict[str, Any]]:
        return self._read_all(
            lambda: self.client.v1.invoice_items.list(
                {"customer": customer_id, "pending": True, "limit": 100}, self.options
            )
        )

    def invoice(self, invoice_id: str) -> dict[str, Any]:
        return as_dict(
            self._read(lambda: self.client.v1.invoices.retrieve(invoice_id, options=self.options))
        )

    def related_object(self, notification: str) -> dict[str, Any]:
        """A thin event's object as Stripe has it now. stripe-python parses the notification
        and GETs its `related_object.url` in the event's `context` (Stripe-Context: the
        connected account it is of), through our paced client like any read."""
        try:
            notice = self.client.parse_event_notification_without_verification(notification)
        except KeyError as exc:  # a field its type must have: `related_object` for a v1 type
            raise MalformedPayload(f"thin event without {exc.args[0]}") from None
        except ValueError as exc:
            raise MalformedPayload(f"not a thin event: {exc}") from None
        if getattr(notice, "related_object", None) is None:
            raise MalformedPayload(f"thin {notice.type} names no related_object to fetch")
        fetch: Callable[[], Any] = notice.fetch_related_object  # type: ignore[attr-defined]
        return as_dict(self._read(fetch))

    def subscription(self, subscription_id: str) -> dict[str, Any]:
        return as_dict(
            self._read(
                lambda: self.client.v1.subscriptions.retrieve(subscription_id, options=self.options)
            )
        )

    def subscriptions_of(self, customer_id: str) -> list[dict[str, Any]]:
        return self._read_all(
            lambda: self.client.v1.subscriptions.list(
                {"customer": customer_id, "status": "all", "limit": 100}, self.options
            )
        )

    # Writes --------------------------------------------------------------------------------

    def invoice_item_exists(self, item_id: str) -> bool:
        """Whether the item is still there: a deleted one answers 404 `resource_missing`, or
        (as some deleted objects do) `deleted: true`. Any other error is raised, never read as
        "gone": a read that failed must not stand in for a deletion done."""
        try:
            item = self.client.v1.invoice_items.retrieve(item_id, options=self.options)
        except stripe.InvalidRequestError as exc:
            if exc.http_status == 404 and exc.code == "resource_missing":
                return False
            raise classify(exc) from exc
        except stripe.StripeError as exc:
            raise classify(exc) from exc
        return not as_dict(item).get("deleted")

    # Reads of reconciliation (worker/reconcile/) --------------------------------------------

    def charges_of(self, customer_id: str) -> list[dict[str, Any]]:
        """Every charge of the customer, newest first: which are disputed or refunded."""
        return self._read_all(
            lambda: self.client.v1.charges.list(
                {"customer": customer_id, "limit": 100}, self.options
            )
        )

    def disputes_of_charge(self, charge_id: str) -> list[dict[str, Any]]:
        return self._read_all(
            lambda: self.client.v1.disputes.list({"charge": charge_id, "limit": 100}, self.options)
        )

    def refunds_of_charge(self, charge_id: str) -> list[dict[str, Any]]:
        return self._read_all(
            lambda: self.client.v1.refunds.list({"charge": charge_id, "limit": 100}, self.options)
        )


def paid_order(entry: dict[str, Any]) -> tuple[int, int]:
    """An InvoicePayment's place in time: when it was paid, then when it was made."""
    paid_at = (entry.get("status_transitions") or {}).get("paid_at") or 0
    return int(paid_at), int(entry.get("created") or 0)
