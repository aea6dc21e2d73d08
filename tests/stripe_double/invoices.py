"""Invoices and their payments: lines from items, finalizing against the customer's balance,
the default InvoicePayment and attached ones, the smallest dunning, and the preview."""

from __future__ import annotations

from typing import Any

from stripe_double import billing_modes, tax
from stripe_double.storage import StripeError, merge_metadata
from stripe_double.subscriptions import Subscriptions, renews

RETRY_AFTER_SECONDS = 3 * 86400  # the double's dunning: a declined invoice is retried 3 days on
INTERVAL_SECONDS = {"day": 86400, "week": 7 * 86400, "month": 30 * 86400, "year": 365 * 86400}


class Invoices(Subscriptions):
    def create_invoice(
        self,
        customer: str,
        subscription: str | None,
        *,
        billing_reason: str = "manual",
        items: list[dict[str, Any]] | None = None,
        auto_advance: bool = True,
        metadata: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """A draft invoice of the given items, else of the pending items it may include."""
        if items is None:
            items = [
                i
                for i in self.pending_items(customer)
                if subscription is None or _item_sub(i) == subscription
            ]
        invoice_id = self.new_id("in")
        lines = [self._line(invoice_id, item) for item in items]
        for item in items:
            item["invoice"] = invoice_id
        if subscription in self.objects.get("subscription", {}):
            self.get("subscription", subscription)["latest_invoice"] = invoice_id
        parent = (
            {"type": "subscription_details", "subscription_details": {"subscription": subscription}}
            if subscription
            else None
        )
        invoice = self.put(
            "invoice",
            {
                "id": invoice_id,
                "object": "invoice",
                "customer": customer,
                "currency": self.currency_of(customer),
                "status": "draft",
                "billing_reason": billing_reason,
                "number": None,
                "parent": parent,
                "lines": [],
                "amount_due": 0,
                "amount_paid": 0,
                "amount_remaining": 0,
                "starting_balance": 0,
                "ending_balance": None,
                "status_transitions": {"finalized_at": None, "paid_at": None, "voided_at": None},
                # Automatic collection: Stripe retries an open invoice's payment on a schedule
                # while `auto_advance` is true (see `retry_due_invoices`).
                "auto_advance": auto_advance,
                "attempt_count": 0,
                "attempted": False,
                "next_payment_attempt": None,
                "collection_method": "charge_automatically",
                "metadata": dict(metadata or {}),
            },
        )
        return self.set_lines(invoice, lines)

    def set_lines(self, invoice: dict[str, Any], lines: list[dict[str, Any]]) -> dict[str, Any]:
        """The invoice's lines and the totals they make, tax and discounts included."""
        invoice["lines"] = lines
        invoice.update(tax.totals(lines))
        return invoice

    def seeded_lines(
        self, customer: str, subscription: str | None, lines: list[dict[str, Any]]
    ) -> list[dict[str, Any]]:
        """A test's lines as Stripe would bill them: the subscription's discount and the
        customer's tax applied to each line that does not carry its own `taxes`."""
        sub = self.objects.get("subscription", {}).get(subscription or "")
        discount_id, percent = self.discount_of(sub)
        rate = self.tax_rate(customer)
        priced = []
        for line in lines:
            line = dict(line)
            if "taxes" not in line:
                off = tax.percent_of(line["amount"], percent)
                line.update(tax.discount_entries(off, discount_id))
                tax.price_line(line, rate)
            priced.append(line)
        return priced

    def _line(self, invoice_id: str, item: dict[str, Any]) -> dict[str, Any]:
        sub = (item.get("parent") or {}).get("subscription_details") or {}
        # A proration comes from a subscription item; any other item from itself.
        kind = (
            "subscription_item_details" if sub.get("subscription_item") else "invoice_item_details"
        )
        details = {
            "invoice_item": item["id"],
            "proration": item["proration"],
            "proration_details": item.get("proration_details"),
            "subscription": sub.get("subscription"),
        }
        if sub.get("subscription_item"):
            details["subscription_item"] = sub["subscription_item"]
        parent = {"type": kind, kind: details}
        line = {
            "id": self.new_id("il"),
            "object": "line_item",
            "invoice": invoice_id,
            "amount": item["amount"],
            "currency": item["currency"],
            "description": item["description"],
            "metadata": dict(item.get("metadata") or {}),
            "parent": parent,
            "period": dict(item["period"]),
            "pricing": item["pricing"],
            "quantity": item["quantity"],
        }
        line.update(self._discount_entries(item))
        return tax.price_line(line, self.tax_rate(item["customer"]))

    def _discount_entries(self, item: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
        """A proration's discount, shown apart (itemized) or as 0 beside its net amount."""
        taken = (item.get("proration_details") or {}).get("discount_amounts") or []
        if not taken:
            return tax.discount_entries(0, None)
        [entry] = taken
        sub = self.objects.get("subscription", {}).get(_item_sub(item) or "")
        return tax.discount_entries(
            entry["amount"] if billing_modes.itemized(sub) else 0, entry["discount"]
        )

    def pay_invoice(self, invoice_id: str, *, decline: bool = False) -> dict[str, Any]:
        """Finalize (applying the customer's balance) and charge the card for what is due.

        The payment intent made at finalization is the invoice's default InvoicePayment, and
        stays so: a later attempt confirms that same intent again (Stripe retries an invoice's
        own PaymentIntent), and a payment attached afterwards is another, non-default one
        (https://docs.stripe.com/invoicing/multi-partial-payments)."""
        invoice = self.get("invoice", invoice_id)
        if invoice["status"] == "paid":
            raise StripeError(400, "Invoice is already paid", "invoice_already_paid")
        if invoice["status"] in ("void", "uncollectible"):
            raise StripeError(400, f"Invoice is {invoice['status']}", "invoice_not_payable")
        customer = self.get("customer", invoice["customer"])
        now = self.clock.now()
        if invoice["status"] == "draft":
            balance = customer.get("balance", 0)
            due = invoice["total"] + balance
            invoice.update(
                status="open",
                number=invoice["number"] or f"DBL-{invoice_id[-6:]}",
                starting_balance=balance,
                ending_balance=min(due, 0),
                amount_due=max(due, 0),
                amount_remaining=max(due, 0),
            )
            customer["balance"] = min(due, 0)  # a credit carries to the next invoice
            invoice["status_transitions"]["finalized_at"] = now
        if invoice["amount_due"] > 0:
            invoice.update(attempted=True, attempt_count=invoice["attempt_count"] + 1)
            default = self._default_payment(invoice_id)
            if default is not None and default["status"] == "open":
                intent = self.get("payment_intent", default["payment"]["payment_intent"])
                self._confirm(intent, default, succeeded=not decline)
            else:
                intent = self.add_payment(invoice, invoice["amount_due"], succeeded=not decline)
            if decline:
                # Smart Retries decide the next attempt; the double retries 3 days later while
                # automatic collection is on (https://docs.stripe.com/billing/revenue-recovery/smart-retries).
                later = now + RETRY_AFTER_SECONDS if invoice["auto_advance"] else None
                invoice["next_payment_attempt"] = later
                raise StripeError(
                    402, "Your card was declined.", "card_declined",
                    decline_code="generic_decline", payment_intent={"id": intent["id"]},
                )  # fmt: skip
        # Paid, void and uncollectible invoices never advance automatically
        # (https://docs.stripe.com/invoicing/integration/automatic-advancement-collection).
        invoice.update(
            status="paid",
            amount_paid=invoice["amount_due"],
            amount_remaining=0,
            auto_advance=False,
            next_payment_attempt=None,
        )
        invoice["status_transitions"]["paid_at"] = now
        return invoice

    def update_invoice(self, invoice_id: str, params: dict[str, Any]) -> dict[str, Any]:
        invoice = self.get("invoice", invoice_id)
        if "auto_advance" in params:
            if invoice["status"] not in ("draft", "open"):
                raise StripeError(
                    400,
                    f"You can only update auto_advance on a draft or open invoice; "
                    f"{invoice_id} is {invoice['status']}.",
                    param="auto_advance",
                )
            invoice["auto_advance"] = str(params["auto_advance"]) == "true"
            if not invoice["auto_advance"]:
                invoice["next_payment_attempt"] = None
            elif invoice["status"] == "open" and invoice["attempted"]:
                invoice["next_payment_attempt"] = self.clock.now() + RETRY_AFTER_SECONDS
        if "metadata" in params:
            merge_metadata(invoice, params["metadata"])
        return invoice

    def retry_due_invoices(self) -> None:
        """The smallest dunning: an open invoice collecting automatically whose next attempt
        is due is charged again. `pause_collection` does not stop it: invoices created before
        a pause keep being retried (https://docs.stripe.com/billing/subscriptions/pause-payment);
        only `auto_advance=false`, paying, voiding or marking it uncollectible does."""
        now = self.clock.now()
        for invoice in self.all("invoice", status="open"):
            due = invoice.get("next_payment_attempt")
            if invoice["auto_advance"] and due is not None and due <= now:
                self.pay_invoice(invoice["id"])

    def _default_payment(self, invoice_id: str) -> dict[str, Any] | None:
        return next(
            (p for p in self.all("invoice_payment", invoice=invoice_id) if p["is_default"]), None
        )

    def add_payment(
        self, invoice: dict[str, Any], amount: int, *, succeeded: bool = True
    ) -> dict[str, Any]:
        """A payment intent (and its charge when it succeeded) as an InvoicePayment: the
        invoice's default one if it has none yet, else an attached one. An attached payment
        cancels an earlier one still open."""
        earlier = self.all("invoice_payment", invoice=invoice["id"])
        for other in earlier:
            if other["status"] == "open":
                other["status"] = "canceled"
                intent = self.get("payment_intent", other["payment"]["payment_intent"])
                intent["status"] = "canceled"
        pi = self.put(
            "payment_intent",
            {
                "id": self.new_id("pi"),
                "object": "payment_intent",
                "amount": amount,
                "amount_received": 0,
                "currency": invoice["currency"],
                "customer": invoice["customer"],
                "status": "requires_payment_method",
                "latest_charge": None,
            },
        )
        entry = self.put(
            "invoice_payment",
            {
                "id": self.new_id("inpay"),
                "object": "invoice_payment",
                "invoice": invoice["id"],
                "amount_paid": None,
                "amount_requested": amount,
                "currency": invoice["currency"],
                "is_default": not earlier,
                "status": "open",
                "payment": {"type": "payment_intent", "payment_intent": pi["id"]},
                "status_transitions": {"paid_at": None, "canceled_at": None},
            },
        )
        self._confirm(pi, entry, succeeded=succeeded)
        return pi

    def _confirm(self, pi: dict[str, Any], entry: dict[str, Any], *, succeeded: bool) -> None:
        """One attempt to charge the card for a payment intent."""
        if not succeeded:
            pi["status"] = "requires_payment_method"
            return
        charge = self.put(
            "charge",
            {
                "id": self.new_id("ch"),
                "object": "charge",
                "amount": pi["amount"],
                "amount_captured": pi["amount"],
                "amount_refunded": 0,
                "currency": pi["currency"],
                "customer": pi["customer"],
                "payment_intent": pi["id"],
                "paid": True,
                "refunded": False,
                "disputed": False,
                "status": "succeeded",
            },
        )
        pi.update(status="succeeded", amount_received=pi["amount"], latest_charge=charge["id"])
        entry.update(status="paid", amount_paid=pi["amount"])
        entry["status_transitions"]["paid_at"] = self.clock.now()

    def pending_items(self, customer: str) -> list[dict[str, Any]]:
        return [i for i in self.all("invoiceitem", customer=customer) if i["invoice"] is None]

    def preview(self, customer: str, subscription: str | None = None) -> dict[str, Any]:
        """What the customer's next invoice would bill: each live subscription's next period
        at its current prices, plus the pending items (of that subscription and unattached)."""
        lines: list[dict[str, Any]] = []
        for sub in self.subscriptions_of(customer):
            if subscription not in (None, sub["id"]) or not renews(sub):
                continue
            discount_id, percent = self.discount_of(sub)
            for item in sub["items"]["data"]:
                price, start = item["price"], item["current_period_end"]
                length = INTERVAL_SECONDS[price["recurring"]["interval"]]
                amount = price["unit_amount"] * item["quantity"]
                line = {
                    "id": f"il_upcoming_{item['id']}",
                    "object": "line_item",
                    "currency": price["currency"],
                    "amount": amount,
                    "description": f"{item['quantity']} × {price['id']}",
                    "period": {"start": start, "end": start + length},
                    "pricing": {
                        "type": "price_details",
                        "price_details": {"price": price["id"], "product": price["product"]},
                        "unit_amount_decimal": str(price["unit_amount"]),
                    },
                    "quantity": item["quantity"],
                    "parent": {
                        "type": "subscription_item_details",
                        "subscription_item_details": {
                            "subscription": sub["id"],
                            "subscription_item": item["id"],
                            "proration": False,
                        },
                    },
                    **tax.discount_entries(tax.percent_of(amount, percent), discount_id),
                }
                lines.append(tax.price_line(line, self.tax_rate(customer)))
        for item in self.pending_items(customer):
            if subscription is None or _item_sub(item) in (None, subscription):
                lines.append(self._line("upcoming", item))
        totals = tax.totals(lines)
        total = totals["total"]
        balance = self.get("customer", customer).get("balance", 0)
        return {
            "id": "upcoming_" + customer,
            "object": "invoice",
            "customer": customer,
            "currency": self.currency_of(customer),
            "status": "draft",
            "lines": lines,
            **totals,
            "starting_balance": balance,
            "amount_due": max(total + balance, 0),
            "ending_balance": min(total + balance, 0),
        }


def _item_sub(item: dict[str, Any]) -> str | None:
    return ((item.get("parent") or {}).get("subscription_details") or {}).get("subscription")
