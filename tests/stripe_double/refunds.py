"""Refunds of a charge, and the bank's answer to them."""

from __future__ import annotations

from typing import Any

from stripe_double.storage import Storage, StripeError

GIVEN_BACK = ("failed", "canceled")  # refund statuses that returned nothing


class Refunds(Storage):
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
