"""A stateful Stripe double for tests: serves, over HTTP on 127.0.0.1, the calls the worker's
gateway makes, and lets the test seed and inspect the same state in Python.

    double = StripeDouble.start()          # STRIPE_API_BASE=double.url for worker processes
    double.customer("cus_1", "a@example.com")
    double.price("price_pro", 30000)        # product prod_for_price_pro, monthly
    double.subscription("sub_1", "cus_1", [("si_1", "price_pro", 1)], start, end)
    # Tax and discounts (tax.py), billing mode (billing_modes.py; flexible by default):
    double.customer("cus_2", "b@example.com", tax_percent=10)   # exclusive 10% on every line
    double.subscription("sub_2", "cus_2", items, start, end, billing_mode="classic",
                        discount_percent=20)                   # 20% off the plan and prorations
    double.fail_next("POST", "/v1/refunds", 500)   # or 429, 402; `times=`
    double.sent                             # every request: method, path, params, key, status
"""

from __future__ import annotations

import contextlib
import copy
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from stripe_double import tax
from stripe_double.billing_modes import billing_mode as billing_mode_of
from stripe_double.routes import wire_invoice
from stripe_double.server import DoubleServer, Fault, Hold, Sent
from stripe_double.state import Clock, State, StripeError

__all__ = ["Sent", "StripeDouble"]

INQUIRY_STATUSES = ("warning_needs_response", "warning_under_review", "warning_closed")


class StripeDouble:
    def __init__(self) -> None:
        self.clock = Clock()
        self.state = State(self.clock)
        self.server = DoubleServer(self.state)
        self.url = self.server.url

    @classmethod
    def start(cls) -> StripeDouble:
        double = cls()
        double.server.start()
        return double

    def stop(self) -> None:
        self.server.stop()

    # Observing -----------------------------------------------------------------------------

    @property
    def sent(self) -> list[Sent]:
        return list(self.server.sent)

    def mutations(self) -> list[Sent]:
        return [s for s in self.sent if s.method in ("POST", "DELETE")]

    def get(self, kind: str, object_id: str) -> dict[str, Any]:
        return copy.deepcopy(self.state.get(kind, object_id))

    def pending_items(self, customer: str) -> list[dict[str, Any]]:
        return copy.deepcopy(self.state.pending_items(customer))

    def preview(self, customer: str, subscription: str | None = None) -> dict[str, Any]:
        return self.state.preview(customer, subscription)

    # Faults --------------------------------------------------------------------------------

    def fail_next(
        self, method: str, path: str, status: int, *, times: int = 1, code: str | None = None
    ) -> None:
        """The next `times` calls matching (method, path glob) answer `status` (429/402/5xx)."""
        with self.server.lock:
            self.server.faults.append(Fault(method, path, status, times, code))

    def fail_after(self, method: str, path: str, status: int, *, after: int) -> None:
        """Let `after` matching calls through, then fail the next one: a later page of a list."""
        with self.server.lock:
            self.server.faults.append(Fault(method, path, status, 1, None, skip=after))

    def apply_then_fail_next(self, method: str, path: str, status: int = 500) -> None:
        """The next matching call takes effect, then answers `status` (a 5xx): Stripe's own
        failure after the work was done. The 5xx is saved under the call's key like any."""
        with self.server.lock:
            self.server.faults.append(Fault(method, path, status, 1, None, after_effect=True))

    def decline_next_payments(self, times: int = 1) -> None:
        """The next invoice payments fail with a card decline (402), leaving the invoice open."""
        with self.server.lock:
            self.server.declines += times

    def hold_next(self, method: str, path: str) -> Hold:
        """The next matching call waits, in flight, until `hold.release.set()`."""
        hold = Hold(method, path)
        with self.server.lock:
            self.server.holds.append(hold)
        return hold

    # Seeding -------------------------------------------------------------------------------

    def customer(
        self,
        customer_id: str,
        email: str | None = None,
        *,
        tax_percent: float | None = None,
        tax_behavior: str = "exclusive",
        **fields: Any,
    ) -> dict:
        """With `tax_percent`, every line billed to the customer carries that tax rate
        (`tax_behavior` exclusive: added on top; inclusive: inside the amount)."""
        fields.setdefault("currency", "usd")
        fields.setdefault("balance", 0)
        obj = {"id": customer_id, "object": "customer", "email": email, **fields}
        with self.server.lock:
            if tax_percent is not None:
                rate = tax.tax_rate(f"txr_{customer_id}", tax_percent, tax_behavior)
                self.state.put("tax_rate", rate)
                self.state.tax_rate_of[customer_id] = rate["id"]
            return copy.deepcopy(self.state.put("customer", obj))

    def product(self, product_id: str, category: str | None = None) -> dict[str, Any]:
        metadata = {"category": category} if category else {}
        obj = {"id": product_id, "object": "product", "active": True, "name": product_id}
        return copy.deepcopy(self.state.put("product", {**obj, "metadata": metadata}))

    def price(
        self,
        price_id: str,
        unit_amount: int,
        *,
        interval: str | None = "month",
        category: str | None = "plan",
        usage_type: str = "licensed",
        currency: str = "usd",
    ) -> dict[str, Any]:
        """A price of its own product `prod_for_<price id>` (as `worker.samples` names it)."""
        product = f"prod_for_{price_id}"
        self.product(product, category)
        recurring = (
            {"interval": interval, "interval_count": 1, "usage_type": usage_type, "meter": None}
            if interval
            else None
        )
        obj = {
            "id": price_id,
            "object": "price",
            "active": True,
            "currency": currency,
            "product": product,
            "recurring": recurring,
            "type": "recurring" if interval else "one_time",
            "unit_amount": unit_amount,
        }
        return copy.deepcopy(self.state.put("price", obj))

    def subscription(
        self,
        subscription_id: str,
        customer: str,
        items: list[tuple[str, str, int]],
        period_start: int,
        period_end: int,
        *,
        status: str = "active",
        billing_mode: str = "flexible",
        proration_discounts: str = "included",
        discount_percent: float | None = None,
    ) -> dict[str, Any]:
        """`items`: (subscription item id, price id, quantity). `billing_mode`: flexible, the
        pinned API version's default for a subscription created through the API, or classic;
        `proration_discounts` (flexible only): included or itemized. `discount_percent`: a
        percent-off coupon applied to the subscription (its invoices and prorations). The
        period's invoice is taken to have charged each item its price × quantity, less the
        discount: that is what a flexible credit reverses."""
        data = [
            {
                "id": item_id,
                "object": "subscription_item",
                "price": self.state.get("price", price_id),
                "quantity": quantity,
                "current_period_start": period_start,
                "current_period_end": period_end,
                "subscription": subscription_id,
            }
            for item_id, price_id, quantity in items
        ]
        obj = {
            "id": subscription_id,
            "object": "subscription",
            "customer": customer,
            "status": status,
            "cancel_at_period_end": False,
            "canceled_at": None,
            "pause_collection": None,
            "latest_invoice": None,
            "items": {"object": "list", "data": data, "has_more": False},
            "billing_mode": billing_mode_of(billing_mode, proration_discounts),
            "discounts": [],
            "default_tax_rates": [],
        }
        with self.server.lock:
            if discount_percent is not None:
                obj["discounts"] = [self._discount(subscription_id, customer, discount_percent)]
            rate = self.state.tax_rate(customer)
            obj["default_tax_rates"] = [rate] if rate else []
            sub = self.state.put("subscription", obj)
            self.state.seed_period_debit(sub)
            return copy.deepcopy(sub)

    def _discount(self, subscription_id: str, customer: str, percent: float) -> str:
        coupon = {"id": f"co_{percent:g}off", "object": "coupon", "percent_off": percent}
        self.state.put("coupon", {**coupon, "amount_off": None, "duration": "forever"})
        discount = {
            "id": f"di_{subscription_id}",
            "object": "discount",
            "customer": customer,
            "subscription": subscription_id,
            "source": {"type": "coupon", "coupon": coupon["id"]},
            "start": self.clock.now(),
            "end": None,
        }
        return self.state.put("discount", discount)["id"]

    def paid_invoice(
        self,
        customer: str,
        lines: list[dict[str, Any]],
        *,
        paid_at: int,
        number: str,
        billing_reason: str = "subscription_create",
        subscription: str | None = None,
    ) -> dict[str, Any]:
        """An invoice of `worker.samples.line(...)` lines, paid by card at `paid_at`: the
        `invoice.paid` payload (without `payments`: the worker asks for them). A line without
        `taxes` gets the subscription's discount and the customer's tax, as Stripe bills it."""
        with self.server.lock:
            invoice = self.state.create_invoice(
                customer, subscription, billing_reason=billing_reason, items=[]
            )
            priced = self.state.seeded_lines(customer, subscription, lines)
            self.state.set_lines(invoice, [{**line, "invoice": invoice["id"]} for line in priced])
            invoice["number"] = number
            self.state.pay_invoice(invoice["id"])
            invoice["status_transitions"]["paid_at"] = paid_at
            return copy.deepcopy(wire_invoice(invoice))

    def paid_in_parts(
        self,
        customer: str,
        lines: list[dict[str, Any]],
        parts: list[int],
        *,
        paid_at: int,
        number: str,
        declined_before_last: bool = True,
    ) -> dict[str, Any]:
        """An invoice paid by several payments of `parts` (summing to its total), oldest first,
        with a declined attempt (left `canceled`) before the last one when asked."""
        with self.server.lock:
            invoice = self.state.create_invoice(customer, None, items=[])
            priced = self.state.seeded_lines(customer, None, lines)
            self.state.set_lines(invoice, [{**line, "invoice": invoice["id"]} for line in priced])
            invoice.update(number=number, status="open", amount_due=invoice["total"])
            for n, amount in enumerate(parts):
                if declined_before_last and n == len(parts) - 1:
                    self.state.add_payment(invoice, amount, succeeded=False)
                self.state.add_payment(invoice, amount)
                self.clock.advance(1)  # each payment a second after the last
            invoice.update(status="paid", amount_paid=sum(parts), amount_remaining=0)
            invoice["status_transitions"].update(finalized_at=paid_at, paid_at=paid_at)
            return copy.deepcopy(wire_invoice(invoice))

    def declined_invoice(
        self, customer: str, subscription: str, amount: int, description: str = "Renewal"
    ) -> dict[str, Any]:
        """An invoice of `subscription` for `amount` whose first payment was declined: `open`,
        collecting automatically, its next attempt due in 3 days (see `advance`)."""
        with self.server.lock:
            item = self.state.add_invoice_item(customer, amount, None, 1, description)
            invoice = self.state.create_invoice(
                customer, subscription, billing_reason="subscription_cycle", items=[item]
            )
            with contextlib.suppress(StripeError):  # the decline leaves it open
                self.state.pay_invoice(invoice["id"], decline=True)
            return copy.deepcopy(wire_invoice(invoice))

    def payment_of(self, invoice_id: str) -> dict[str, Any]:
        """The invoice's default payment intent."""
        payments = self.state.all("invoice_payment", invoice=invoice_id)
        [paid] = [p for p in payments if p["is_default"]]
        return self.get("payment_intent", paid["payment"]["payment_intent"])

    def invoice_item(
        self, customer: str, amount: int, description: str, price: str | None = None
    ) -> dict[str, Any]:
        """A pending one-off item (not a proration)."""
        with self.server.lock:
            return copy.deepcopy(
                self.state.add_invoice_item(customer, amount, price, 1, description)
            )

    def change_items(
        self, subscription_id: str, items: list[dict[str, Any]], proration_behavior: str
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        """A change made elsewhere (the customer portal): the subscription after it, and the
        `previous_attributes` of its `customer.subscription.updated` event."""
        with self.server.lock:
            before = copy.deepcopy(self.state.get("subscription", subscription_id))
            params = {"items": items, "proration_behavior": proration_behavior}
            after = copy.deepcopy(self.state.update_subscription(subscription_id, params))
        return after, {"items": before["items"]}

    def dispute(
        self, payment_intent: str, *, reason: str = "fraudulent", status: str = "needs_response"
    ) -> dict[str, Any]:
        with self.server.lock:
            charge = self.state.get(
                "charge", self.state.get("payment_intent", payment_intent)["latest_charge"]
            )
            obj = {
                "id": self.state.new_id("dp"),
                "object": "dispute",
                "amount": charge["amount"] - charge["amount_refunded"],
                "charge": charge["id"],
                "payment_intent": payment_intent,
                "currency": charge["currency"],
                "reason": reason,
            }
            self.state.put("dispute", obj)
            return self.set_dispute_status(obj["id"], status)

    def set_dispute_status(self, dispute_id: str, status: str) -> dict[str, Any]:
        """An inquiry (`warning_*`) leaves the charge refundable; a dispute does not."""
        with self.server.lock:
            dispute = self.state.get("dispute", dispute_id)
            dispute["status"] = status
            dispute["is_charge_refundable"] = status in INQUIRY_STATUSES
            self.state.get("charge", dispute["charge"])["disputed"] = True
            return copy.deepcopy(dispute)

    def settle_refund(self, refund_id: str, status: str) -> dict[str, Any]:
        """The bank's answer to a pending refund: `succeeded` or `failed`."""
        with self.server.lock:
            return copy.deepcopy(self.state.settle_refund(refund_id, status))

    def advance(self, seconds: int) -> None:
        """Move the clock on; open invoices due a payment retry are retried (dunning)."""
        with self.server.lock:
            self.clock.advance(seconds)
            for store in list(self.state.stores):
                with self.state.acting_as(store):
                    self.state.retry_due_invoices()

    @contextmanager
    def as_account(self, account: str) -> Iterator[None]:
        """Seed or inspect a connected account's objects: `with double.as_account("acct_1"):`."""
        with self.server.lock, self.state.acting_as(account):
            yield
