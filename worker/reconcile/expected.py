"""What the policy and our stored history say Stripe should hold, set against what it holds.

Pure functions, no I/O: each takes the facts we stored (disputes' verdict, refund requests, the
changes and cancellations we made) and the Stripe objects compare.py read, and returns the
differences as findings. One function per family, so a new check is one function more.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from worker.policy import AccountVerdict, format_money, made_by_change
from worker.reconcile.findings import Finding, Kind, Remedy

# Subscriptions Stripe still charges (as the dispute handler pauses and cancels them).
LIVE_SUBSCRIPTION = ("active", "trialing", "past_due", "unpaid")
# A refund the bank has not answered within this age is reported: Stripe says most settle in
# 5–10 business days, so a week past creation without an answer is worth a person's look.
PENDING_REFUND_MAX_AGE_SECONDS = 7 * 86400
GIVEN_BACK = ("failed", "canceled")  # refund statuses that returned nothing to the customer
STILL_AT_THE_BANK = ("pending", "requires_action")


@dataclass(frozen=True)
class Whose:
    account: str
    customer: str

    def finding(self, kind: Kind, object_id: str, clause: str, **words: Any) -> Finding:
        return Finding(kind, self.account, self.customer, object_id, clause, **words)


@dataclass(frozen=True)
class RequestFacts:
    """An approved refund request as we stored it."""

    id: str
    status: str
    amount: int
    currency: str


@dataclass(frozen=True)
class HandledDowngrade:
    """A change made elsewhere whose prorations we removed (M3.downgrade): the event's time."""

    subscription: str
    at: int  # event.created, epoch seconds
    event_id: str


# Account state (M6.dispute, D6.dispute) ----------------------------------------------------


def expected_state(verdict: AccountVerdict, enforced: str) -> str:
    """The state the disputes give, except that termination is final (M6)."""
    return "terminated" if enforced == "terminated" else verdict.state


def account_findings(
    whose: Whose,
    verdict: AccountVerdict,
    enforced: str,
    marked: str | None,
    subscriptions: Iterable[dict[str, Any]],
    paused_by_us: set[str],
) -> list[Finding]:
    """Suspended: every live subscription paused (void). Terminated: none live. Active: none
    still paused by us. The customer's metadata and our record say the same state."""
    state = expected_state(verdict, enforced)
    clause = verdict.clause
    because = _because(verdict, state)
    found: list[Finding] = []
    for sub in subscriptions:
        if sub.get("status") not in LIVE_SUBSCRIPTION:
            continue
        behavior = (sub.get("pause_collection") or {}).get("behavior")
        drift = _subscription_drift(state, behavior, sub["id"] in paused_by_us)
        if drift is None:
            continue
        kind, expected, remedy = drift
        held = f"status {sub.get('status')}, " + (
            f"pause_collection.behavior={behavior}" if behavior else "collection running"
        )
        found.append(
            whose.finding(
                kind, sub["id"], clause, expected=f"{expected}: {because}", held=held, remedy=remedy
            )
        )
    if (marked or "active") != state:
        found.append(
            whose.finding(
                Kind.STATUS_MARK,
                whose.customer,
                clause,
                expected=f"customer metadata account_status={state}: {because}",
                held=f"account_status={marked}" if marked else "no account_status in metadata",
                remedy=Remedy.MARK_STATUS,
                state=state,
            )
        )
    if enforced != state:
        found.append(
            whose.finding(
                Kind.STATUS_RECORD,
                whose.customer,
                clause,
                expected=f"the worker's record of the account says {state}: {because}",
                held=f"the worker's record says {enforced} (Stripe's side is listed apart)",
                remedy=Remedy.RECORD_STATUS,
                state=state,
            )
        )
    return found


def _subscription_drift(
    state: str, behavior: str | None, paused_by_us: bool
) -> tuple[Kind, str, Remedy] | None:
    """How a live subscription differs from what the account's state asks of it, if it does:
    the finding's kind, what was expected and its remedy."""
    if state == "terminated":
        return Kind.NOT_CANCELLED, "subscription cancelled", Remedy.CANCEL_NOW
    if state == "suspended" and behavior != "void":
        return Kind.NOT_PAUSED, "collection paused (pause_collection.behavior=void)", Remedy.PAUSE
    if state == "active" and behavior and paused_by_us:
        return Kind.PAUSE_LEFT, "collection running, our pause lifted", Remedy.RESUME
    return None


def open_invoice_findings(
    whose: Whose,
    state: str,
    clause: str,
    open_invoices: Iterable[dict[str, Any]],
    paused: set[str],
    stopped_by_us: set[str],
) -> list[Finding]:
    """M6 "Suspension and open invoices": while suspended, the open invoices of the paused
    subscriptions do not collect (`auto_advance=false`); once reinstated, those we stopped
    (`stopped_by_us`: marked so in their metadata) collect again. Terminated: left as they
    are, finance decides."""
    found: list[Finding] = []
    for invoice in open_invoices:
        subscription = _subscription_of_invoice(invoice)
        collecting = invoice.get("auto_advance") is not False
        if state == "suspended" and subscription in paused and collecting:
            found.append(
                whose.finding(
                    Kind.INVOICE_COLLECTING,
                    invoice["id"],
                    clause,
                    expected=f"no automatic collection (auto_advance=false) while "
                    f"{subscription} is paused for the suspension",
                    held="auto_advance=true: Stripe keeps retrying the payment",
                    remedy=Remedy.STOP_INVOICE,
                )
            )
        elif state == "active" and not collecting and invoice["id"] in stopped_by_us:
            found.append(
                whose.finding(
                    Kind.INVOICE_COLLECTING,
                    invoice["id"],
                    clause,
                    expected="automatic collection back on (auto_advance=true): reinstated",
                    held="auto_advance=false, as the suspension left it",
                    remedy=Remedy.RESTART_INVOICE,
                )
            )
    return found


def _subscription_of_invoice(invoice: dict[str, Any]) -> str | None:
    details = (invoice.get("parent") or {}).get("subscription_details") or {}
    return _ref(details.get("subscription")) or _ref(invoice.get("subscription"))


def _because(verdict: AccountVerdict, state: str) -> str:
    disputes = ", ".join(verdict.disputes)
    if state == "terminated":
        return (
            f"the account is terminated (dispute {disputes} lost)"
            if disputes
            else ("the account is terminated")
        )
    if state == "suspended":
        return f"the account is suspended while dispute {disputes} is open"
    return "no suspending dispute is open"


# Disputes ----------------------------------------------------------------------------------


def dispute_findings(
    whose: Whose, clause: str, stored: set[str], at_stripe: Iterable[dict[str, Any]]
) -> list[Finding]:
    """A dispute Stripe holds on the customer's charges that we never stored: its events never
    arrived, so the account may not be in the state its disputes give."""
    return [
        whose.finding(
            Kind.DISPUTE_UNKNOWN,
            dispute["id"],
            clause,
            expected=f"dispute {dispute['id']} in our records, the account following it",
            held=f"dispute {dispute['id']} on charge {_ref(dispute.get('charge'))}: "
            f"{dispute.get('reason')}, {dispute.get('status')}, "
            f"{_money(dispute.get('amount'), dispute.get('currency'))}; unknown to us",
            remedy=Remedy.RECORD_DISPUTE,
            stripe_object=dispute,
        )
        for dispute in at_stripe
        if dispute["id"] not in stored
    ]


# Refunds -----------------------------------------------------------------------------------


def refund_findings(
    whose: Whose,
    requests: Iterable[RequestFacts],
    stored: Mapping[str, str],
    at_stripe: Iterable[dict[str, Any]],
    now: int,
) -> list[Finding]:
    """Each refunded request has refunds at Stripe (by `metadata.refund_request_id`) adding up
    to its amount, succeeded or still at the bank within the stated age. A refund with our
    metadata we have no record of, or a failed one we still count, is drift. `stored`: our
    refund rows' statuses by id."""
    refunds = [r for r in at_stripe if (r.get("metadata") or {}).get("refund_request_id")]
    found: list[Finding] = []
    failed_counted: set[str] = set()
    for refund in refunds:
        request_id = refund["metadata"]["refund_request_id"]
        words = f"refund {refund['id']} of {_money(refund.get('amount'), refund.get('currency'))}"
        status = str(refund.get("status"))
        if refund["id"] not in stored:
            found.append(
                whose.finding(
                    Kind.REFUND_UNKNOWN,
                    refund["id"],
                    "M5.request",
                    expected=f"every refund of request {request_id} in our records",
                    held=f"{words}, {status}, made outside the worker (e.g. the Dashboard)",
                    remedy=Remedy.RECORD_REFUND,
                    stripe_object=refund,
                )
            )
        elif status in GIVEN_BACK and stored[refund["id"]] not in GIVEN_BACK:
            failed_counted.add(request_id)
            reason = refund.get("failure_reason") or "no reason given"
            found.append(
                whose.finding(
                    Kind.REFUND_FAILED,
                    refund["id"],
                    "M5.request",
                    expected=f"request {request_id} reopened: the money never went back",
                    held=f"{words} {status} ({reason}); we still count it as "
                    f"{stored[refund['id']]}",
                    remedy=Remedy.RECORD_REFUND,
                    stripe_object=refund,
                )
            )
    for request in requests:
        if request.status != "refunded" or request.id in failed_counted:
            continue
        mine = [r for r in refunds if r["metadata"]["refund_request_id"] == request.id]
        stuck = [
            r
            for r in mine
            if r.get("status") in STILL_AT_THE_BANK
            and now - int(r.get("created") or now) > PENDING_REFUND_MAX_AGE_SECONDS
        ]
        live = sum(
            int(r.get("amount") or 0)
            for r in mine
            if r.get("status") == "succeeded" or (r.get("status") in STILL_AT_THE_BANK)
        )
        for refund in stuck:
            days = (now - int(refund["created"])) // 86400
            found.append(
                whose.finding(
                    Kind.REFUND_STUCK,
                    refund["id"],
                    "M5.request",
                    expected=f"refund of request {request.id} settled within "
                    f"{PENDING_REFUND_MAX_AGE_SECONDS // 86400} days",
                    held=f"{refund.get('status')} for {days} days",
                    advice="ask Stripe support about the refund; the bank has not answered",
                )
            )
        if live < request.amount:
            found.append(
                whose.finding(
                    Kind.REFUND_SHORT,
                    request.id,
                    "M5.request",
                    expected=f"refunds of {_money(request.amount, request.currency)} "
                    f"succeeded or pending",
                    held=f"{_money(live, request.currency)} in {len(mine)} refund(s)",
                    advice=f"support decides: `billing-worker refunds approve {request.id} "
                    "--by NAME` refunds again",
                )
            )
    return found


# Prorations (M3.downgrade) -----------------------------------------------------------------


def proration_findings(
    whose: Whose,
    clause: str,
    downgrades: Iterable[HandledDowngrade],
    pending: Iterable[dict[str, Any]],
) -> list[Finding]:
    """Under a policy that removes downgrade prorations, no pending proration of a downgrade
    we handled is left: one of its subscription, starting at the moment of that change."""
    pending = list(pending)
    found: list[Finding] = []
    for change in downgrades:
        for item in pending:
            start = (item.get("period") or {}).get("start")
            if not item.get("proration") or start is None:
                continue
            if _subscription_of_item(item) != change.subscription:
                continue
            if not made_by_change(int(start), change.at):
                continue
            found.append(
                whose.finding(
                    Kind.PRORATION_LEFT,
                    item["id"],
                    clause,
                    expected=f"no proration pending for the downgrade of {change.subscription} "
                    f"handled in {change.event_id}: no credit, nothing more billed",
                    held=f"pending proration {_money(item.get('amount'), item.get('currency'))}"
                    f" ({item.get('description') or 'no description'})",
                    remedy=Remedy.DELETE_PRORATION,
                )
            )
    return found


def _subscription_of_item(item: dict[str, Any]) -> str | None:
    details = (item.get("parent") or {}).get("subscription_details") or {}
    return _ref(details.get("subscription")) or _ref(item.get("subscription"))


# Cancellations (M3.cancel, D1.cancel) ------------------------------------------------------


def cancellation_findings(
    whose: Whose, clause: str, cancelled: set[str], subscriptions: Iterable[dict[str, Any]]
) -> list[Finding]:
    """A subscription we cancelled at period end still ends then (or has ended)."""
    return [
        whose.finding(
            Kind.CANCELLATION_UNDONE,
            sub["id"],
            clause,
            expected="cancel_at_period_end=true: the cancellation we made ends it at the "
            "period's end",
            held=f"status {sub.get('status')}, cancel_at_period_end=false: it will renew",
            remedy=Remedy.CANCEL_AT_PERIOD_END,
        )
        for sub in subscriptions
        if sub["id"] in cancelled
        and sub.get("status") != "canceled"
        and not sub.get("cancel_at_period_end")
    ]


def _ref(value: Any) -> str | None:
    return value.get("id") if isinstance(value, dict) else value


def _money(amount: Any, currency: Any) -> str:
    return format_money(int(amount or 0), str(currency or "usd"))
