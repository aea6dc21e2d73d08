"""Effect checks: each finds, at Stripe, the effect of one of our earlier calls (by our metadata,
on a list Stripe offers for that object), so an outcome we never heard (a 5xx after Stripe acted,
a timeout, a crash before our commit) is found before anything is posted under a new key.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import or_, select

from worker.db.models import Refund
from worker.stripe.keys import KEY_METADATA
from worker.stripe.reads import StripeReads

GIVEN_BACK = ("failed", "canceled")  # refund statuses that returned nothing to the customer


class EffectChecks(StripeReads):
    def refund_made(self, target: dict[str, Any], key: str) -> str | None:
        """This call's live refund of this payment, if it exists: in our `refunds` table (a
        request's), else among the payment's refunds at Stripe, by the key in its metadata (or,
        for refunds made before keys were written there, the request's id). A failed or
        canceled one was given back: it is not this call's effect."""
        payment = next(iter(target.values()))
        if self.request_id:
            ours = self.session.scalar(
                select(Refund.id).where(
                    Refund.request_id == self.request_id,
                    or_(Refund.payment_intent_id == payment, Refund.charge_id == payment),
                    Refund.status.not_in(GIVEN_BACK),
                )
            )
            if ours:
                return ours
        refunds = self._read_all(
            lambda: self.client.v1.refunds.list({**target, "limit": 100}, self.options)
        )
        return next(
            (
                r["id"]
                for r in refunds
                if r.get("status") not in GIVEN_BACK
                and (
                    _made_under(r, key)
                    or (
                        self.request_id is not None
                        and (r.get("metadata") or {}).get("refund_request_id") == self.request_id
                    )
                )
            ),
            None,
        )

    def balance_transaction_made(self, customer_id: str, key: str) -> str | None:
        """The customer's balance transaction this call made, if any."""
        found = self._read_all(
            lambda: self.client.v1.customers.balance_transactions.list(
                customer_id, {"limit": 100}, self.options
            )
        )
        return next((t["id"] for t in found if _made_under(t, key)), None)

    def invoice_made(self, customer_id: str, subscription_id: str, key: str) -> str | None:
        """The subscription's invoice this call made, if any."""
        found = self._read_all(
            lambda: self.client.v1.invoices.list(
                {"customer": customer_id, "subscription": subscription_id, "limit": 100},
                self.options,
            )
        )
        return next((i["id"] for i in found if _made_under(i, key)), None)


def _made_under(obj: dict[str, Any], key: str) -> bool:
    return (obj.get("metadata") or {}).get(KEY_METADATA) == key
