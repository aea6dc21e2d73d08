"""A stand-in for `worker.stripe.gateway.StripeGateway` in handler unit tests: Stripe's side as
in-memory state, and every call recorded, so a handler's logic is tested without a server.

It has the gateway's methods and keeps their contract: reads return plain dicts (None for a
customer Stripe does not have), each mutation happens once per idempotency key (as the real
gateway's audit row and Stripe's key make it) and returns the id of what it made. What it does
not check is the shape of the request; the stripe-mock integration tests do.
"""

from __future__ import annotations

import itertools
import time
from dataclasses import dataclass, field
from typing import Any

from worker.errors import FinalError
from worker.stripe.gateway import COLLECTION_STOPPED
from worker.stripe.keys import idempotency_key


@dataclass(frozen=True)
class Mutation:
    """One mutating call that reached Stripe: the gateway's method, its object, its key."""

    method: str
    object_id: str
    idempotency_key: str


@dataclass
class FakeStripeGateway:
    source_id: str = "evt_fake"
    account: str = ""  # the gateway's Stripe account: "" is the platform's
    customers: dict[str, dict[str, Any]] = field(default_factory=dict)
    products: dict[str, dict[str, Any]] = field(default_factory=dict)
    prices: dict[str, dict[str, Any]] = field(default_factory=dict)
    charges: dict[str, dict[str, Any]] = field(default_factory=dict)
    subscriptions: dict[str, dict[str, Any]] = field(default_factory=dict)
    invoice_items: dict[str, dict[str, Any]] = field(default_factory=dict)
    invoices: dict[str, dict[str, Any]] = field(default_factory=dict)
    refunds: dict[str, dict[str, Any]] = field(default_factory=dict)
    disputes: dict[str, dict[str, Any]] = field(default_factory=dict)
    # invoice id -> its default payment / every line, for invoices whose payload lacks them
    payments: dict[str, dict[str, Any]] = field(default_factory=dict)
    lines: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    reads: list[tuple[str, str]] = field(default_factory=list)
    mutations: list[Mutation] = field(default_factory=list)
    failed_calls: list[Any] = field(default_factory=list)
    _done: dict[str, str | None] = field(default_factory=dict)
    _ids: itertools.count[int] = field(default_factory=itertools.count)

    # What Stripe holds ---------------------------------------------------------------------

    def add_subscription(self, sub: dict[str, Any]) -> dict[str, Any]:
        self.subscriptions[sub["id"]] = sub
        return sub

    def add_pending_item(
        self,
        item_id: str,
        customer: str,
        amount: int,
        subscription: str | None,
        *,
        subscription_item: str = "si_plan",
        changed_at: int | None = None,
    ) -> dict[str, Any]:
        """A pending proration item, as a change in the customer portal leaves it: it names its
        subscription item, and its period starts at the moment of the change."""
        start = changed_at if changed_at is not None else int(time.time()) - 1
        item = {
            "id": item_id,
            "object": "invoiceitem",
            "customer": customer,
            "amount": amount,
            "proration": True,
            "period": {"start": start, "end": start + 15 * 86400},
            "parent": {
                "subscription_details": {
                    "subscription": subscription,
                    "subscription_item": subscription_item,
                }
            },
        }
        self.invoice_items[item_id] = item
        return item

    def methods_called(self) -> list[tuple[str, str]]:
        return [(call.method, call.object_id) for call in self.mutations]

    # Reads ---------------------------------------------------------------------------------

    def _read(self, what: str, object_id: str) -> None:
        self.reads.append((what, object_id))

    def customer(self, customer_id: str) -> dict[str, Any] | None:
        self._read("customers.retrieve", customer_id)
        return self.customers.get(customer_id)

    def price(self, price_id: str) -> dict[str, Any]:
        self._read("prices.retrieve", price_id)
        price = dict(self._get(self.prices, price_id))
        product_id = price.get("product")
        if isinstance(product_id, str) and product_id in self.products:
            price["product"] = self.products[product_id]  # expand=["product"]
        return price

    def product(self, product_id: str) -> dict[str, Any]:
        self._read("products.retrieve", product_id)
        return self._get(self.products, product_id)

    def charge(self, charge_id: str) -> dict[str, Any]:
        self._read("charges.retrieve", charge_id)
        return self._get(self.charges, charge_id)

    def dispute(self, dispute_id: str) -> dict[str, Any]:
        self._read("disputes.retrieve", dispute_id)
        return self._get(self.disputes, dispute_id)

    def invoice_payment(self, invoice_id: str) -> dict[str, Any] | None:
        self._read("invoice_payments.list", invoice_id)
        return self.payments.get(invoice_id)

    def invoice_lines(self, invoice_id: str) -> list[dict[str, Any]]:
        self._read("invoices.line_items.list", invoice_id)
        return list(self.lines.get(invoice_id, []))

    def pending_invoice_items(self, customer_id: str) -> list[dict[str, Any]]:
        self._read("invoice_items.list", customer_id)
        return [item for item in self.invoice_items.values() if item["customer"] == customer_id]

    def open_invoices(self, customer_id: str) -> list[dict[str, Any]]:
        self._read("invoices.list", customer_id)
        return [
            invoice
            for invoice in self.invoices.values()
            if invoice["customer"] == customer_id and invoice["status"] == "open"
        ]

    def subscriptions_of(self, customer_id: str) -> list[dict[str, Any]]:
        self._read("subscriptions.list", customer_id)
        return [sub for sub in self.subscriptions.values() if sub["customer"] == customer_id]

    @staticmethod
    def _get(objects: dict[str, dict[str, Any]], object_id: str) -> dict[str, Any]:
        if object_id not in objects:
            # What the real gateway raises for Stripe's 404 on a read.
            raise FinalError(f"InvalidRequestError: No such object: '{object_id}'")
        return objects[object_id]

    # Writes --------------------------------------------------------------------------------

    def _mutate(self, method: str, object_id: str, action: str, effect: Any) -> str | None:
        key = idempotency_key(self.source_id, action, object_id, self.account)
        if key not in self._done:
            self._done[key] = effect()
            self.mutations.append(Mutation(method, object_id, key))
        return self._done[key]

    def _new_id(self, prefix: str) -> str:
        return f"{prefix}_fake{next(self._ids)}"

    def refund(
        self,
        *,
        payment_intent: str | None,
        charge: str | None,
        amount: int,
        metadata: dict[str, str],
        attempt: int = 1,
    ) -> str | None:
        def create() -> str:
            refund_id = self._new_id("re")
            self.refunds[refund_id] = {
                "id": refund_id,
                "payment_intent": payment_intent,
                "charge": charge,
                "amount": amount,
                "metadata": metadata,
            }
            return refund_id

        action = "refund" if attempt == 1 else f"refund_attempt{attempt}"
        return self._mutate("refunds.create", payment_intent or charge or "", action, create)

    def pause_collection(self, subscription_id: str) -> str | None:
        return self._update(
            subscription_id, "pause_collection", {"pause_collection": {"behavior": "void"}}
        )

    def resume_collection(self, subscription_id: str) -> str | None:
        return self._update(subscription_id, "resume_collection", {"pause_collection": None})

    def cancel_at_period_end(self, subscription_id: str) -> str | None:
        return self._update(subscription_id, "cancel_at_period_end", {"cancel_at_period_end": True})

    def change_subscription(
        self,
        subscription_id: str,
        items: list[dict[str, Any]],
        proration_behavior: str,
        action: str,
    ) -> str | None:
        return self._update(subscription_id, action, {"pending_change": items})

    def cancel_subscription_now(self, subscription_id: str) -> str | None:
        def cancel() -> str:
            self._get(self.subscriptions, subscription_id)["status"] = "canceled"
            return subscription_id

        return self._mutate("subscriptions.cancel", subscription_id, "cancel_now", cancel)

    def _update(self, subscription_id: str, action: str, changes: dict[str, Any]) -> str | None:
        def update() -> str:
            self._get(self.subscriptions, subscription_id).update(changes)
            return subscription_id

        return self._mutate("subscriptions.update", subscription_id, action, update)

    def stop_collection(self, invoice_id: str) -> str | None:
        return self._update_invoice(invoice_id, "stop_collection", True)

    def restart_collection(self, invoice_id: str) -> str | None:
        return self._update_invoice(invoice_id, "restart_collection", False)

    def _update_invoice(self, invoice_id: str, action: str, stopped: bool) -> str | None:
        def update() -> str:
            invoice = self._get(self.invoices, invoice_id)
            invoice["auto_advance"] = not stopped
            metadata = invoice.setdefault("metadata", {})
            if stopped:
                metadata[COLLECTION_STOPPED] = "M6.dispute"
            else:
                metadata.pop(COLLECTION_STOPPED, None)
            return invoice_id

        return self._mutate("invoices.update", invoice_id, action, update)

    def set_account_status(self, customer_id: str, status: str) -> str | None:
        def mark() -> str:
            customer = self.customers.setdefault(customer_id, {"id": customer_id})
            customer.setdefault("metadata", {})["account_status"] = status
            return customer_id

        return self._mutate("customers.update", customer_id, f"account_status_{status}", mark)

    def delete_invoice_item(self, item_id: str) -> str | None:
        def delete() -> str:
            del self.invoice_items[item_id]
            return item_id

        return self._mutate("invoice_items.delete", item_id, "delete_credit_proration", delete)

    def invoice_pending_now(self, customer_id: str, subscription_id: str) -> str | None:
        """Pending items of the customer go on a new invoice, which is then paid."""

        def create() -> str:
            invoice_id = self._new_id("in")
            pending = [i for i in self.invoice_items.values() if i["customer"] == customer_id]
            for item in pending:
                del self.invoice_items[item["id"]]
            self.invoices[invoice_id] = {
                "id": invoice_id,
                "customer": customer_id,
                "subscription": subscription_id,
                "amount_due": sum(item["amount"] for item in pending),
                "status": "open",
            }
            return invoice_id

        invoice_id = self._mutate(
            "invoices.create", subscription_id, "invoice_pending_proration", create
        )
        if invoice_id:

            def pay() -> str:
                self.invoices[invoice_id]["status"] = "paid"
                return invoice_id

            self._mutate("invoices.pay", invoice_id, "pay_pending_proration", pay)
        return invoice_id
