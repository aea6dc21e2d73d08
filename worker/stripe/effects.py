"""Effect checks: each finds, at Stripe, the effect of one of our earlier calls (by our metadata,
on a list Stripe offers for that object), so an outcome we never heard (a 5xx after Stripe acted,
a timeout, a crash before our commit) is found before anything is posted under a new key.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import or_, select

from worker.db.models import Refund
from worker.stripe.calls import EffectCheck
from worker.stripe.reads import StripeReads

GIVEN_BACK = ("failed", "canceled")  # refund statuses that returned nothing to the customer


class EffectChecks(StripeReads):
    def _refund_of_this_request(self, target: dict[str, Any]) -> str | None:
        """This request's live refund of this payment, if it exists: in our `refunds` table,
        else among the payment's refunds at Stripe (by `metadata.refund_request_id`). A failed
        or canceled one is an earlier attempt's, given back: it is not this call's effect."""
        if not self.request_id:
            return None
        payment = next(iter(target.values()))
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
                if (r.get("metadata") or {}).get("refund_request_id") == self.request_id
                and r.get("status") not in GIVEN_BACK
            ),
            None,
        )

    def _subscription_effect(
        self, subscription_id: str, applied: Callable[[dict[str, Any]], bool]
    ) -> EffectCheck:
        def check() -> str | None:
            return subscription_id if applied(self.subscription(subscription_id)) else None

        return check
