"""Compare one customer: what we stored (disputes, refund requests, the calls we made) and what
Stripe holds, read through the gateway's reads (paced by the shared budget, lists to their last
page), handed to the pure checks of expected.py."""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from worker.db.models import (
    Customer,
    Dispute,
    Event,
    Invoice,
    Refund,
    RefundRequest,
    RefundRequestStatus,
    StripeCall,
)
from worker.policy import DisputeState, Policy, account_state, cancellation, proration_plan
from worker.reconcile.expected import (
    LIVE_SUBSCRIPTION,
    HandledDowngrade,
    RequestFacts,
    Whose,
    account_findings,
    cancellation_findings,
    dispute_findings,
    expected_state,
    open_invoice_findings,
    proration_findings,
    refund_findings,
)
from worker.reconcile.findings import Finding
from worker.stripe.gateway import COLLECTION_STOPPED
from worker.stripe.keys import KEY_PREFIX
from worker.stripe.reads import StripeReads

OK = "ok"


def customers_to_check(
    session: Session,
    *,
    customer: str | None = None,
    account: str | None = None,
    since: datetime | None = None,
) -> list[Whose]:
    """The customers we know, narrowed to one customer, one account, or those with an event or
    a refund request since a moment (a change made by hand at Stripe sends an event too)."""
    query = select(Customer.account, Customer.id)
    if customer is not None:
        query = query.where(Customer.id == customer)
    if account is not None:
        query = query.where(Customer.account == account)
    if since is not None:
        touched = select(Event.customer).where(
            Event.account == Customer.account,
            Event.customer == Customer.id,
            Event.received_at >= since,
        )
        asked = select(RefundRequest.id).where(
            RefundRequest.account == Customer.account,
            RefundRequest.customer == Customer.id,
            RefundRequest.received_at >= since,
        )
        query = query.where(or_(touched.exists(), asked.exists()))
    rows = session.execute(query.order_by(Customer.account, Customer.id)).all()
    return [Whose(account, customer_id) for account, customer_id in rows]


def compare_customer(
    session: Session, stripe: StripeReads, policy: Policy, whose: Whose, now: datetime
) -> list[Finding]:
    """Every difference for one customer, in a fixed order: account, disputes, refunds,
    prorations, cancellations."""
    row = session.get(Customer, (whose.account, whose.customer))
    enforced = row.account_status if row is not None else "active"
    stored_disputes = list(
        session.scalars(
            select(Dispute).where(
                Dispute.account == whose.account, Dispute.customer == whose.customer
            )
        )
    )
    verdict = account_state(
        [DisputeState(d.id, d.reason, d.status, bool(d.lost)) for d in stored_disputes], policy
    )
    at_stripe = stripe.customer(whose.customer) or {}
    subscriptions = stripe.subscriptions_of(whose.customer)
    sub_ids = [s["id"] for s in subscriptions]
    findings = account_findings(
        whose,
        verdict,
        enforced,
        (at_stripe.get("metadata") or {}).get("account_status"),
        subscriptions,
        _paused_by_us(session, whose.account, sub_ids),
    )
    state = expected_state(verdict, enforced)
    if state == "suspended" or (state == "active" and stored_disputes):
        # Only an account that is, or was, suspended can have invoices we stopped.
        live = {s["id"] for s in subscriptions if s.get("status") in LIVE_SUBSCRIPTION}
        invoices = stripe.open_invoices(whose.customer)
        stopped = {i["id"] for i in invoices if (i.get("metadata") or {}).get(COLLECTION_STOPPED)}
        findings += open_invoice_findings(whose, state, verdict.clause, invoices, live, stopped)
    charges = stripe.charges_of(whose.customer)
    disputes = [d for c in charges if c.get("disputed") for d in stripe.disputes_of_charge(c["id"])]
    findings += dispute_findings(whose, verdict.clause, {d.id for d in stored_disputes}, disputes)
    findings += _refund_findings(session, stripe, whose, charges, int(now.timestamp()))
    if proration_plan(policy, "downgrade").undo_prorations:
        downgrades = _handled_downgrades(session, whose)
        if downgrades:
            pending = stripe.pending_invoice_items(whose.customer)
            clause = policy.rulebook.downgrade
            findings += proration_findings(whose, clause, downgrades, pending)
    plan = cancellation(policy)
    if plan.cancel_at_period_end:
        cancelled = _cancelled_by_us(session, whose.account, sub_ids)
        findings += cancellation_findings(whose, plan.clause, cancelled, subscriptions)
    return findings


def _refund_findings(
    session: Session, stripe: StripeReads, whose: Whose, charges: list[dict[str, Any]], now: int
) -> list[Finding]:
    requests = list(
        session.scalars(
            select(RefundRequest).where(
                RefundRequest.account == whose.account,
                RefundRequest.customer == whose.customer,
                RefundRequest.status == RefundRequestStatus.REFUNDED,
            )
        )
    )
    payments = _payments_with_refunds(session, whose, requests)
    listed = [
        c
        for c in charges
        if int(c.get("amount_refunded") or 0) > 0
        or c["id"] in payments
        or c.get("payment_intent") in payments
    ]
    refunds = [r for c in listed for r in stripe.refunds_of_charge(c["id"])]
    stored = dict(
        session.execute(
            select(Refund.id, Refund.status).where(
                Refund.account == whose.account, Refund.id.in_([r["id"] for r in refunds])
            )
        ).all()
    )
    facts = [RequestFacts(r.id, r.status, int(r.amount or 0), r.currency) for r in requests]
    return refund_findings(whose, facts, stored, refunds, now)


def _payments_with_refunds(
    session: Session, whose: Whose, requests: list[RefundRequest]
) -> set[str]:
    """Charges and payment intents we know refunds on: a failed refund gives the charge's
    refunded total back, so Stripe's charge alone would not tell us to look."""
    invoices = session.scalars(
        select(Invoice).where(
            Invoice.account == whose.account,
            or_(
                Invoice.id.in_([r.invoice_id for r in requests]),
                Invoice.amount_refunded_reported > 0,
            ),
            Invoice.customer == whose.customer,
        )
    )
    refs = {ref for i in invoices for ref in (i.charge_id, i.payment_intent_id) if ref}
    ours = session.execute(
        select(Refund.charge_id, Refund.payment_intent_id).where(
            Refund.account == whose.account,
            Refund.request_id.in_([r.id for r in requests]),
        )
    ).all()
    return refs | {ref for pair in ours for ref in pair if ref}


def _our_calls(
    session: Session, account: str, method: str, objects: Iterable[str]
) -> list[StripeCall]:
    """Our completed calls of one method on these objects, oldest first, in this account."""
    query = select(StripeCall).where(
        StripeCall.method == method,
        StripeCall.outcome == OK,
        StripeCall.object_id.in_(list(objects)),
    )
    if account:
        query = query.where(StripeCall.idempotency_key.startswith(f"{KEY_PREFIX}:{account}:"))
    else:  # the platform's keys name no account (worker/stripe/keys.py)
        query = query.where(~StripeCall.idempotency_key.startswith(f"{KEY_PREFIX}:acct_"))
    return list(session.scalars(query.order_by(StripeCall.id)))


def _did(call: StripeCall, action: str) -> bool:
    return f":{action}:{call.object_id}" in call.idempotency_key


def _paused_by_us(session: Session, account: str, subscriptions: list[str]) -> set[str]:
    """Subscriptions whose last pause or resume by us was a pause."""
    last: dict[str, str] = {}
    for call in _our_calls(session, account, "subscriptions.update", subscriptions):
        for action in ("pause_collection", "resume_collection"):
            if _did(call, action) and call.object_id:
                last[call.object_id] = action
    return {sub for sub, action in last.items() if action == "pause_collection"}


def _cancelled_by_us(session: Session, account: str, subscriptions: list[str]) -> set[str]:
    calls = _our_calls(session, account, "subscriptions.update", subscriptions)
    return {c.object_id for c in calls if c.object_id and _did(c, "cancel_at_period_end")}


def _handled_downgrades(session: Session, whose: Whose) -> list[HandledDowngrade]:
    """Changes made elsewhere whose prorations we deleted: events of this customer with a
    completed `invoice_items.delete` of ours."""
    events = session.scalars(
        select(Event)
        .where(
            Event.account == whose.account,
            Event.customer == whose.customer,
            Event.type == "customer.subscription.updated",
            select(StripeCall.id)
            .where(
                StripeCall.event_id == Event.id,
                StripeCall.method == "invoice_items.delete",
                StripeCall.outcome == OK,
            )
            .exists(),
        )
        .order_by(Event.created)
    )
    handled = []
    for event in events:
        try:
            subscription = json.loads(event.payload)["data"]["object"]["id"]
        except (ValueError, KeyError, TypeError):
            continue  # a thin event names its object elsewhere; its change is not judged here
        handled.append(HandledDowngrade(subscription, int(event.created.timestamp()), event.id))
    return handled
