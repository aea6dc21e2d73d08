"""A difference between what Stripe holds and what the policy and our history say it should hold,
in words a support person reads: whose, which object, what the policy expects, what Stripe holds,
the clause, and what `reconcile --fix` would do about it (or who must act when it cannot)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class Kind(StrEnum):
    """Every kind of drift, the label of `billing_reconcile_drift`."""

    NOT_PAUSED = "subscription_not_paused"  # M6: suspended, but Stripe still collects
    NOT_CANCELLED = "subscription_not_cancelled"  # M6: terminated, but the subscription lives
    PAUSE_LEFT = "pause_left_behind"  # M6: reinstated, but our pause is still on
    STATUS_MARK = "account_status_mark"  # M6: customer metadata `account_status`
    STATUS_RECORD = "account_status_record"  # our own record of the enforced state
    INVOICE_COLLECTING = "open_invoice_collecting"  # M6: open invoice of a paused subscription
    DISPUTE_UNKNOWN = "dispute_unknown"  # a dispute at Stripe we never stored
    REFUND_UNKNOWN = "refund_unknown"  # a refund with our metadata we have no record of
    REFUND_FAILED = "refund_failed_still_counted"  # Stripe's refund failed; we count it
    REFUND_SHORT = "refund_short"  # an approved request's refunds fall short of its amount
    REFUND_STUCK = "refund_pending_too_long"  # pending at the bank past the stated age
    PRORATION_LEFT = "downgrade_proration_left"  # M3.downgrade: a proration of a handled change
    CANCELLATION_UNDONE = "cancellation_undone"  # M3.cancel / D1: our cancellation was undone


KINDS: tuple[str, ...] = tuple(kind.value for kind in Kind)


class Remedy(StrEnum):
    """What `--fix` does: a write through the gateway, or a record of what Stripe holds."""

    PAUSE = "pause_collection"
    RESUME = "resume_collection"
    STOP_INVOICE = "stop_invoice_collection"
    RESTART_INVOICE = "restart_invoice_collection"
    CANCEL_NOW = "cancel_now"
    CANCEL_AT_PERIOD_END = "cancel_at_period_end"
    MARK_STATUS = "mark_account_status"
    RECORD_STATUS = "record_account_status"
    RECORD_DISPUTE = "record_dispute"
    RECORD_REFUND = "record_refund"
    DELETE_PRORATION = "delete_proration"


# Remedies that change only our records (what the events would have told us): applied first, so
# the comparison that follows sees the history the missed events would have made.
RECORDING = frozenset({Remedy.RECORD_DISPUTE, Remedy.RECORD_REFUND})

# What each remedy does, as the report's `fix:` line says it.
REMEDY_WORDS: dict[Remedy, str] = {
    Remedy.PAUSE: "pause collection (pause_collection.behavior=void)",
    Remedy.RESUME: "resume collection (remove pause_collection)",
    Remedy.STOP_INVOICE: "stop the invoice's automatic collection (auto_advance=false)",
    Remedy.RESTART_INVOICE: "turn automatic collection of the invoice back on (auto_advance=true)",
    Remedy.CANCEL_NOW: "cancel the subscription now, without proration or final invoice",
    Remedy.CANCEL_AT_PERIOD_END: "set cancel_at_period_end=true again",
    Remedy.MARK_STATUS: "set the customer's metadata account_status",
    Remedy.RECORD_STATUS: "correct our record of the account's state",
    Remedy.RECORD_DISPUTE: "record the dispute as its events would have, then enforce the account",
    Remedy.RECORD_REFUND: "record the refund as Stripe holds it (a failure reopens the request)",
    Remedy.DELETE_PRORATION: "delete the pending proration item",
}


@dataclass(frozen=True)
class Finding:
    kind: Kind
    account: str  # PLATFORM ("") or a connected account's acct_…
    customer: str
    object_id: str
    clause: str
    expected: str  # what the policy and our history say Stripe should hold
    held: str  # what Stripe holds
    remedy: Remedy | None = None  # None: --fix cannot act; `advice` says who must
    advice: str | None = None
    # The Stripe object a recording remedy stores (not shown).
    stripe_object: dict[str, Any] | None = field(default=None, compare=False, repr=False)
    # The account state a status remedy sets (not shown).
    state: str | None = None

    @property
    def id(self) -> str:
        """Stable across runs while the drift is the same: support can refer to it."""
        text = "|".join((self.account, self.customer, self.kind, self.object_id))
        return "drift_" + hashlib.sha256(text.encode()).hexdigest()[:12]

    @property
    def remedy_words(self) -> str:
        if self.remedy is None:
            return f"none by reconcile: {self.advice}" if self.advice else "none by reconcile"
        return REMEDY_WORDS[self.remedy]

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "kind": str(self.kind),
            "account": self.account or None,
            "customer": self.customer,
            "object": self.object_id,
            "clause": self.clause,
            "expected": self.expected,
            "held": self.held,
            "fix": self.remedy_words,
            "fixable": self.remedy is not None,
        }

    def text(self) -> str:
        """Four lines: what, the policy's expectation, Stripe's state, the fix."""
        of = f" of {self.account}" if self.account else ""
        return "\n".join(
            (
                f"{self.customer}{of}  {self.object_id}  {self.kind}  [{self.clause}]",
                f"  policy expects: {self.expected}",
                f"  Stripe holds:   {self.held}",
                f"  fix:            {self.remedy_words}",
            )
        )
