"""The calls that change Stripe: refunds, balance debits, invoices, subscription and customer
updates. Each runs once (calls.py: key, audit) and names the effect check (effects.py) that
finds its earlier effect, so a retry or a replay never acts twice."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, Literal

from worker.stripe.effects import EffectChecks
from worker.stripe.keys import KEY_METADATA

log = logging.getLogger(__name__)
# Marks an open invoice whose automatic collection suspension stopped (M6.dispute), so
# reinstatement turns back on exactly those, and not one finance stopped by hand.
COLLECTION_STOPPED = "bw_collection_stopped"


class StripeGateway(EffectChecks):
    """Stripe calls made on behalf of one event or one refund request (the `source_id`), on one
    Stripe account: the platform's, or a connected account's `acct_…`, which every call then
    names in its `Stripe-Account` header."""

    def refund(
        self,
        *,
        payment_intent: str | None,
        charge: str | None,
        amount: int,
        metadata: dict[str, str],
        attempt: int = 1,
    ) -> str | None:
        """Refund `amount` of one payment once per (source, attempt): key
        `bw:<source>:refund:<payment>` (`refund_attempt<n>` after a failed refund). The refund
        carries that key (and a request's `refund_request_id`) in its metadata, so the
        payment's refunds at Stripe show it again after Stripe forgot the key."""
        payment = payment_intent or charge
        target: dict[str, Any] = (
            {"payment_intent": payment_intent} if payment_intent else {"charge": charge}
        )
        action = "refund" if attempt == 1 else f"refund_attempt{attempt}"
        key = self.key_for(action, payment)
        params = {
            **target,
            "amount": amount,
            "reason": "requested_by_customer",
            "metadata": {**metadata, KEY_METADATA: key},
        }
        return self._mutate(
            "refunds.create",
            payment,
            action,
            lambda options: self.client.v1.refunds.create(params, options),  # type: ignore[arg-type]
            effect=lambda: self.refund_made(target, key),
            look_first=True,
        )

    def pause_collection(self, subscription_id: str) -> str | None:
        """M6.dispute suspend: stop charging; invoices made meanwhile are voided."""
        params = {"pause_collection": {"behavior": "void"}}
        return self._update(
            "subscriptions",
            subscription_id,
            "pause_collection",
            params,
            lambda sub: (sub.get("pause_collection") or {}).get("behavior") == "void",
        )

    def resume_collection(self, subscription_id: str) -> str | None:
        return self._update(
            "subscriptions",
            subscription_id,
            "resume_collection",
            {"pause_collection": ""},
            lambda sub: not sub.get("pause_collection"),
        )

    def stop_collection(self, invoice_id: str) -> str | None:
        """M6.dispute suspend: Stripe keeps retrying an invoice created before a pause
        (https://docs.stripe.com/billing/subscriptions/pause-payment), so its automatic
        collection is turned off, and the invoice marked as stopped by us."""
        return self._update(
            "invoices",
            invoice_id,
            "stop_collection",
            {"auto_advance": False, "metadata": {COLLECTION_STOPPED: "M6.dispute"}},
            lambda invoice: invoice.get("auto_advance") is False,
        )

    def restart_collection(self, invoice_id: str) -> str | None:
        """M6.dispute reinstate: collect again an open invoice that suspension stopped."""
        return self._update(
            "invoices",
            invoice_id,
            "restart_collection",
            {"auto_advance": True, "metadata": {COLLECTION_STOPPED: ""}},
            lambda invoice: bool(invoice.get("auto_advance")),
        )

    def cancel_subscription_now(self, subscription_id: str) -> str | None:
        """M6.dispute lost: cancel at once, no proration credit, no final invoice."""
        params = {"prorate": False, "invoice_now": False}
        return self._mutate(
            "subscriptions.cancel",
            subscription_id,
            "cancel_now",
            lambda options: self.client.v1.subscriptions.cancel(subscription_id, params, options),  # type: ignore[arg-type]
            effect=lambda: (
                subscription_id
                if self.subscription(subscription_id).get("status") == "canceled"
                else None
            ),
        )

    def cancel_at_period_end(self, subscription_id: str) -> str | None:
        return self._update(
            "subscriptions",
            subscription_id,
            "cancel_at_period_end",
            {"cancel_at_period_end": True},
            lambda sub: bool(sub.get("cancel_at_period_end")),
        )

    def change_subscription(
        self,
        subscription_id: str,
        items: list[dict[str, Any]],
        proration_behavior: str,
        action: str,
    ) -> str | None:
        params = {"items": items, "proration_behavior": proration_behavior}
        return self._update(
            "subscriptions",
            subscription_id,
            action,
            params,
            lambda sub: _items_as_asked(sub, items),
        )

    def _update(
        self,
        kind: Literal["invoices", "subscriptions"],
        object_id: str,
        action: str,
        params: dict[str, Any],
        applied: Callable[[dict[str, Any]], bool],
    ) -> str | None:
        """An update whose effect is a state Stripe shows on the object: looked at, not
        counted, so a second update to the same state is harmless."""
        service = self.client.v1.invoices if kind == "invoices" else self.client.v1.subscriptions
        read = self.invoice if kind == "invoices" else self.subscription
        return self._mutate(
            f"{kind}.update",
            object_id,
            action,
            lambda options: service.update(object_id, params, options),  # type: ignore[arg-type]
            effect=lambda: object_id if applied(read(object_id)) else None,
        )

    def set_account_status(self, customer_id: str, status: str) -> str | None:
        params = {"metadata": {"account_status": status}}

        def applied() -> str | None:
            customer = self.customer(customer_id) or {}
            marked = (customer.get("metadata") or {}).get("account_status") == status
            return customer_id if marked else None

        return self._mutate(
            "customers.update",
            customer_id,
            f"account_status_{status}",
            lambda options: self.client.v1.customers.update(customer_id, params, options),  # type: ignore[arg-type]
            effect=applied,
        )

    def delete_invoice_item(self, item_id: str) -> str | None:
        """M3.downgrade: remove a pending proration (credit or debit) of a change made elsewhere.
        Stripe keeps no key for a DELETE, so the item is looked at first: gone is done."""
        return self._mutate(
            "invoice_items.delete",
            item_id,
            "delete_credit_proration",  # the name keys made before debits were removed too kept
            lambda options: self.client.v1.invoice_items.delete(item_id, None, options),
            effect=lambda: None if self.invoice_item_exists(item_id) else item_id,
            look_first=True,
        )

    def debit_customer_balance(
        self, customer_id: str, amount: int, currency: str, invoice_id: str
    ) -> str | None:
        """M3.downgrade: take back a proration credit that an invoice put on the balance."""
        action = "reverse_proration_credit"
        key = self.key_for(action, invoice_id)
        params = {
            "amount": amount,  # positive: the customer owes it, on their next invoice
            "currency": currency,
            "description": f"Proration of a downgrade reversed (M3.downgrade, {invoice_id})",
            "metadata": {"invoice": invoice_id, "clause": "M3.downgrade", KEY_METADATA: key},
        }
        return self._mutate(
            "customers.balance_transactions.create",
            invoice_id,
            action,
            lambda options: self.client.v1.customers.balance_transactions.create(
                customer_id,
                params,  # type: ignore[arg-type]
                options,
            ),
            effect=lambda: self.balance_transaction_made(customer_id, key),
            look_first=True,
        )

    def invoice_pending_now(self, customer_id: str, subscription_id: str) -> str | None:
        """D3.upgrade: put the pending proration on an invoice and collect it at once."""
        action = "invoice_pending_proration"
        key = self.key_for(action, subscription_id)
        params = {
            "customer": customer_id,
            "subscription": subscription_id,
            "pending_invoice_items_behavior": "include",
            "auto_advance": True,
            "metadata": {KEY_METADATA: key},
        }
        invoice_id = self._mutate(
            "invoices.create",
            subscription_id,
            action,
            lambda options: self.client.v1.invoices.create(params, options),  # type: ignore[arg-type]
            effect=lambda: self.invoice_made(customer_id, subscription_id, key),
            look_first=True,
        )
        if invoice_id:
            self._mutate(
                "invoices.pay",
                invoice_id,
                "pay_pending_proration",
                lambda options: self.client.v1.invoices.pay(invoice_id, None, options),
                effect=lambda: (
                    invoice_id if self.invoice(invoice_id).get("status") == "paid" else None
                ),
                look_first=True,  # Stripe refuses to pay a paid invoice: look, do not ask
                # D3.upgrade: a declined card leaves the invoice open and Stripe's dunning
                # collects it; the upgrade stands, so the decline is recorded, not a failure.
                decline_is_outcome=True,
            )
        return invoice_id


def _items_as_asked(sub: dict[str, Any], asked: list[dict[str, Any]]) -> bool:
    """Whether the subscription's items already have the prices and quantities asked for."""
    current = {item.get("id"): item for item in (sub.get("items") or {}).get("data") or []}
    for change in asked:
        item = current.get(change.get("id"))
        if item is None:
            return False
        price = item.get("price")
        price_id = price.get("id") if isinstance(price, dict) else price
        if change.get("price") and price_id != change["price"]:
            return False
        if change.get("quantity") is not None and item.get("quantity") != change["quantity"]:
            return False
    return True
