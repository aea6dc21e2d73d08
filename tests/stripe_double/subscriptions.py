"""Subscriptions and their prorations, by billing mode (billing_modes.py), with tax and discounts
(tax.py): a price or quantity change, a pause, a cancellation."""

from __future__ import annotations

from typing import Any

from stripe_double import billing_modes, tax
from stripe_double.billing_modes import Debit
from stripe_double.storage import Storage, StripeError, merge_metadata

ACTIVE = ("active", "trialing", "past_due")


class Subscriptions(Storage):
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


def renews(sub: dict[str, Any]) -> bool:
    paused = (sub.get("pause_collection") or {}).get("behavior") == "void"
    return sub["status"] in ACTIVE and not sub["cancel_at_period_end"] and not paused
