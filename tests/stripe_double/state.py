"""The double's state: Stripe objects as plain dicts in the pinned API version's shape, and the
billing rules the worker depends on (prorations, invoices, payments, refunds, the preview).

Simplifications, each a decision where the worker does not depend on more: one currency per
customer; every customer has a card that pays unless a decline is injected; a price change keeps
the billing period (no interval change re-anchoring); proration is per second, rounded half up,
and follows the subscription's billing mode (billing_modes.py); tax and discounts on lines and
in totals as tax.py says; a cancellation never prorates (the worker cancels with
`prorate=false`); the preview of a customer (no `subscription` given) bills every live
subscription's next period and every pending item, i.e. all the customer will owe next,
whichever invoice it lands on; an invoice's negative total goes to the customer's balance,
which the next invoice applies.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from stripe_double import billing_modes, tax
from stripe_double.billing_modes import Debit, Debits

ACTIVE = ("active", "trialing", "past_due")
GIVEN_BACK = ("failed", "canceled")  # refund statuses that returned nothing
RETRY_AFTER_SECONDS = 3 * 86400  # the double's dunning: a declined invoice is retried 3 days on
INTERVAL_SECONDS = {"day": 86400, "week": 7 * 86400, "month": 30 * 86400, "year": 365 * 86400}


class StripeError(Exception):
    """An API error as Stripe answers it."""

    def __init__(self, status: int, message: str, code: str | None = None, **extra: Any) -> None:
        super().__init__(message)
        kind = {402: "card_error", 429: "rate_limit_error"}.get(status)
        self.status = status
        self.body = {
            "error": {
                "type": kind or ("api_error" if status >= 500 else "invalid_request_error"),
                "message": message,
                "code": code,
                **extra,
            }
        }


class Clock:
    """The double's time: frozen at its creation, moved on only by the test, so prorations
    are exact and a 24-hour key expiry takes no waiting."""

    def __init__(self) -> None:
        self.at = int(time.time())

    def now(self) -> int:
        return self.at

    def advance(self, seconds: int) -> None:
        self.at += seconds


class State:
    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        # Each Stripe account's objects apart: an object of one account is invisible to another
        # (https://docs.stripe.com/connect/authentication#stripe-account-header). None: ours.
        self.stores: dict[str | None, dict[str, dict[str, dict[str, Any]]]] = {}
        self.account: str | None = None
        self._ids = itertools.count(1)
        self.debits = Debits()  # what each subscription item was charged (flexible credits)
        self.tax_rate_of: dict[str, str] = {}  # customer → its tax rate (seeded)

    # Storage -------------------------------------------------------------------------------

    @property
    def objects(self) -> dict[str, dict[str, dict[str, Any]]]:
        """The objects of the account being acted as."""
        return self.stores.setdefault(self.account, {})

    @contextmanager
    def acting_as(self, account: str | None) -> Iterator[None]:
        before, self.account = self.account, account
        try:
            yield
        finally:
            self.account = before

    def new_id(self, prefix: str) -> str:
        return f"{prefix}_dbl{next(self._ids):06d}"

    def put(self, kind: str, obj: dict[str, Any]) -> dict[str, Any]:
        obj.setdefault("created", self.clock.now())
        obj.setdefault("livemode", False)
        obj.setdefault("metadata", {})
        self.objects.setdefault(kind, {})[obj["id"]] = obj
        return obj

    def get(self, kind: str, object_id: str) -> dict[str, Any]:
        found = self.objects.get(kind, {}).get(object_id)
        if found is None:
            raise StripeError(404, f"No such {kind}: '{object_id}'", "resource_missing", param="id")
        return found

    def all(self, kind: str, **match: Any) -> list[dict[str, Any]]:
        """Objects of a kind, newest first as Stripe lists them, filtered on top-level fields."""
        found = [
            o
            for o in self.objects.get(kind, {}).values()
            if all(o.get(k) == v for k, v in match.items())
        ]
        return found[::-1]

    # Subscriptions and prorations ----------------------------------------------------------

    def subscriptions_of(self, customer: str) -> list[dict[str, Any]]:
        return self.all("subscription", customer=customer)

    def update_subscription(self, sub_id: str, params: dict[str, Any]) -> dict[str, Any]:
        sub = self.get("subscription", sub_id)
        if "pause_collection" in params:
            pause = params["pause_collection"]
            sub["pause_collection"] = {"behavior": pause["behavior"]} if pause else None
        if "cancel_at_period_end" in params:
            sub["cancel_at_period_end"] = str(params["cancel_at_period_end"]) == "true"
        if "metadata" in params:
            merge_metadata(sub, params["metadata"])
        behavior = params.get("proration_behavior", "create_prorations")
        made: list[dict[str, Any]] = []
        for change in params.get("items") or []:
            made += self._change_item(sub, change, prorate_it=behavior != "none")
        if made and behavior == "always_invoice":
            invoice = self.create_invoice(
                sub["customer"], sub_id, billing_reason="subscription_update", items=made
            )
            self.pay_invoice(invoice["id"])
        return sub

    def _change_item(
        self, sub: dict[str, Any], change: dict[str, Any], *, prorate_it: bool
    ) -> list[dict[str, Any]]:
        item = next((i for i in sub["items"]["data"] if i["id"] == change.get("id")), None)
        if item is None:
            missing = change.get("id")
            raise StripeError(400, f"No such subscription item: '{missing}'", param="items")
        old_price, old_quantity = item["price"], item["quantity"]
        if change.get("price"):
            item["price"] = self.get("price", change["price"])
        if change.get("quantity") is not None:
            item["quantity"] = int(change["quantity"])
        now = self.clock.now()
        start, end = item["current_period_start"], item["current_period_end"]
        if not prorate_it or not (start <= now < end):
            return []
        discount_id, percent = self.discount_of(sub)
        planned = billing_modes.change_prorations(
            sub, item, old_price, old_quantity, now, self.debits,
            self.objects.get("invoiceitem", {}).get, percent,
        )  # fmt: skip
        made = []
        for p in planned:
            gross_shown = billing_modes.itemized(sub)  # else the amount is net of the discount
            made.append(
                self.add_invoice_item(
                    sub["customer"], p.gross if gross_shown else p.gross - p.discount,
                    p.price, p.quantity, p.description, sub["id"], item["id"], (now, end),
                    discount=(discount_id, p.discount) if discount_id else None,
                    credited_items=self._credited_items(p.credits),
                )
            )  # fmt: skip
            if p.credits:
                self.debits.credit_of[made[-1]["id"]] = p.credits
            elif p.gross > 0:
                debit = Debit(made[-1]["id"], p.gross, p.discount, now, end, p.price, p.quantity)
                self.debits.add(item["id"], debit)
        return made

    def _credited_items(self, debit_key: str | None) -> dict[str, Any] | None:
        """The debit a flexible credit reverses, as an invoice and its line once invoiced."""
        debit = self.objects.get("invoiceitem", {}).get(debit_key or "")
        if not debit or not debit["invoice"]:
            return None
        lines = self.get("invoice", debit["invoice"])["lines"]
        ids = [
            line["id"]
            for line in lines
            if (line["parent"] or {}).get("subscription_item_details", {}).get("invoice_item")
            == debit["id"]
        ]
        return {"invoice": debit["invoice"], "invoice_line_items": ids}

    def seed_period_debit(self, sub: dict[str, Any]) -> None:
        """The period's own invoice charged each item its price × quantity, less the discount."""
        _, percent = self.discount_of(sub)
        for item in sub["items"]["data"]:
            gross = item["price"]["unit_amount"] * item["quantity"]
            start, end = item["current_period_start"], item["current_period_end"]
            key = f"period:{item['id']}:{start}"
            off = tax.percent_of(gross, percent)
            price, quantity = item["price"]["id"], item["quantity"]
            self.debits.add(item["id"], Debit(key, gross, off, start, end, price, quantity))

    def discount_of(self, sub: dict[str, Any] | None) -> tuple[str | None, float]:
        """The subscription's (percent-off) discount: its id and percent, or (None, 0)."""
        for discount_id in (sub or {}).get("discounts") or []:
            coupon = self.get("discount", discount_id)["source"]["coupon"]
            return discount_id, float(self.get("coupon", coupon)["percent_off"])
        return None, 0.0

    def tax_rate(self, customer: str) -> dict[str, Any] | None:
        rate_id = self.tax_rate_of.get(customer)
        return self.get("tax_rate", rate_id) if rate_id else None

    def add_invoice_item(
        self,
        customer: str,
        amount: int,
        price: str | None,
        quantity: int,
        description: str,
        subscription: str | None = None,
        subscription_item: str | None = None,
        period: tuple[int, int] | None = None,
        *,
        discount: tuple[str, int] | None = None,
        credited_items: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """A pending invoice item; a proration when it belongs to a subscription item.
        `discount`: (discount id, amount taken) of a proration, kept in `proration_details`."""
        now = self.clock.now()
        start, end = period or (now, now)
        proration = subscription_item is not None
        parent = (
            {
                "type": "subscription_details",
                "subscription_details": {
                    "subscription": subscription,
                    "subscription_item": subscription_item,
                },
            }
            if subscription
            else None
        )
        product = self.get("price", price)["product"] if price else None
        return self.put(
            "invoiceitem",
            {
                "id": self.new_id("ii"),
                "object": "invoiceitem",
                "amount": amount,
                "currency": self.currency_of(customer),
                "customer": customer,
                "date": now,
                "description": description,
                "invoice": None,
                "parent": parent,
                "period": {"start": start, "end": end},
                "pricing": {
                    "type": "price_details",
                    "price_details": {"price": price, "product": product} if price else None,
                    "unit_amount_decimal": str(amount // max(quantity, 1)),
                },
                "discountable": not proration,
                "discounts": [discount[0]] if discount else [],
                "proration": proration,
                # Stripe links a credit to the debit it reverses; the double fills it for a
                # flexible credit whose debit was invoiced (the worker does not read it).
                "proration_details": (
                    {
                        "credited_items": credited_items,
                        "discount_amounts": (
                            [{"amount": discount[1], "discount": discount[0]}] if discount else []
                        ),
                    }
                    if proration
                    else None
                ),
                "quantity": quantity,
            },
        )

    def cancel_subscription(self, sub_id: str, params: dict[str, Any]) -> dict[str, Any]:
        sub = self.get("subscription", sub_id)
        sub.update(status="canceled", canceled_at=self.clock.now(), cancel_at_period_end=False)
        return sub

    # Invoices and payments -----------------------------------------------------------------

    def currency_of(self, customer: str) -> str:
        return self.get("customer", customer).get("currency") or "usd"

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
            if subscription not in (None, sub["id"]) or not _renews(sub):
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

    # Refunds -------------------------------------------------------------------------------

    def create_refund(self, params: dict[str, Any]) -> dict[str, Any]:
        if params.get("payment_intent"):
            pi = self.get("payment_intent", params["payment_intent"])
            if not pi["latest_charge"]:
                raise StripeError(400, "This PaymentIntent has no successful charge to refund.")
            charge = self.get("charge", pi["latest_charge"])
        else:
            charge = self.get("charge", str(params.get("charge")))
        if self.all("dispute", charge=charge["id"], is_charge_refundable=False):
            raise StripeError(400, f"Charge {charge['id']} has been disputed.", "charge_disputed")
        remaining = charge["amount"] - charge["amount_refunded"]
        amount = int(params.get("amount") or remaining)
        if remaining == 0:
            raise StripeError(
                400, f"Charge {charge['id']} has already been refunded.", "charge_already_refunded"
            )
        if amount > remaining:
            raise StripeError(
                400,
                f"Refund amount ({amount}) is greater than unrefunded amount on charge "
                f"({remaining})",
                "amount_too_large",
                param="amount",
            )
        charge["amount_refunded"] += amount  # pending refunds count, as on Stripe's charge
        charge["refunded"] = charge["amount_refunded"] == charge["amount"]
        return self.put(
            "refund",
            {
                "id": self.new_id("re"),
                "object": "refund",
                "amount": amount,
                "charge": charge["id"],
                "payment_intent": charge["payment_intent"],
                "currency": charge["currency"],
                "reason": params.get("reason"),
                "status": "pending",
                "metadata": dict(params.get("metadata") or {}),
            },
        )

    def settle_refund(self, refund_id: str, status: str) -> dict[str, Any]:
        """The test plays the bank. A refund is `pending` (or `requires_action`) until it
        `succeeded`, `failed` or was `canceled`; a succeeded one can still fail later. While
        pending or succeeded it counts in the charge's `amount_refunded`; a failed or canceled
        one gives its amount back (https://docs.stripe.com/refunds#failed-refunds)."""
        refund = self.get("refund", refund_id)
        moves = {
            "pending": ("requires_action", "succeeded", "failed", "canceled"),
            "requires_action": ("succeeded", "failed", "canceled"),
            "succeeded": ("failed",),
        }
        if status not in moves.get(refund["status"], ()):
            raise StripeError(400, f"A {refund['status']} refund cannot become {status}")
        if status in GIVEN_BACK:
            charge = self.get("charge", refund["charge"])
            charge["amount_refunded"] -= refund["amount"]
            charge["refunded"] = False
            if status == "failed":
                refund["failure_reason"] = "expired_or_canceled_card"
        refund["status"] = status
        return refund


def merge_metadata(obj: dict[str, Any], metadata: Any) -> None:
    if metadata == "":
        obj["metadata"] = {}
        return
    for key, value in dict(metadata).items():
        if value == "":
            obj["metadata"].pop(key, None)
        else:
            obj["metadata"][key] = value


def _renews(sub: dict[str, Any]) -> bool:
    paused = (sub.get("pause_collection") or {}).get("behavior") == "void"
    return sub["status"] in ACTIVE and not sub["cancel_at_period_end"] and not paused


def _item_sub(item: dict[str, Any]) -> str | None:
    return ((item.get("parent") or {}).get("subscription_details") or {}).get("subscription")
