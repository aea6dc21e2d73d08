"""Refund reviews: the `review` decisions waiting for a person, and refunds that failed at the
bank (`refund_failed`), approved or rejected here through the same service functions as
`billing-worker refunds approve|reject`."""

from __future__ import annotations

from typing import Any

from flask import flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from sqlalchemy import select
from sqlalchemy.orm import Session

from webhooks.console import auth, bp
from webhooks.console.accounts import account_arg
from webhooks.console.fields import form_text
from webhooks.console.formatting import money, parse_amount
from webhooks.current import current_runtime
from worker.commands.refunds import (
    RefundRequestSummary,
    RequestError,
    approve,
    get_request,
    list_requests,
    refundable_remainder,
    reject,
)
from worker.db.models import Customer, Invoice, RefundRequest, RefundRequestStatus

RECENT = 10


@bp.get("/refunds")
def refunds() -> ResponseReturnValue:
    runtime = current_runtime()
    account, error = account_arg()
    # A refund the bank failed waits for support like a review: approve issues it again.
    queue = list_requests(runtime, RefundRequestStatus.REVIEW, account) + list_requests(
        runtime, RefundRequestStatus.REFUND_FAILED, account
    )
    with runtime.sessions() as session:
        # Keyed by (account, id): two connected accounts may hold the same ids.
        invoices = {
            (i.account, i.id): i
            for i in session.scalars(
                select(Invoice).where(Invoice.id.in_({r.invoice for r in queue}))
            )
        }
        emails = {
            (c.account, c.id): c.email
            for c in session.scalars(
                select(Customer).where(Customer.id.in_({r.customer for r in queue}))
            )
        }
        reviews = [
            _review(
                r,
                invoices.get((r.account, r.invoice)),
                emails.get((r.account, r.customer)),
                session,
            )
            for r in queue
        ]
        decided = select(RefundRequest).where(RefundRequest.decided_at.is_not(None))
        if account is not None:
            decided = decided.where(RefundRequest.account == account)
        recent = [
            RefundRequestSummary.of(row)
            for row in session.scalars(
                decided.order_by(RefundRequest.decided_at.desc()).limit(RECENT)
            )
        ]
    return render_template(
        "console/refunds.html", reviews=reviews, recent=recent, account=account, error=error
    )


def _review(
    waiting: RefundRequestSummary, invoice: Invoice | None, email: str | None, session: Session
) -> dict[str, Any]:
    """A request as the queue shows it: with the invoice's number and what is left to refund."""
    return waiting.as_dict() | {
        "email": email,
        "invoice_number": invoice.number if invoice else None,
        "amount_paid": invoice.amount_paid if invoice else None,
        "refundable": refundable_remainder(session, invoice) if invoice else 0,
    }


@bp.post("/refunds/<request_id>/approve")
def approve_request(request_id: str) -> ResponseReturnValue:
    runtime = current_runtime()
    try:
        amount_text = request.form.get("amount", "").strip()
        amount = None
        if amount_text:
            amount = parse_amount(amount_text, get_request(runtime, request_id).currency)
        decided = approve(runtime, request_id, by=_decider(), amount=amount)
    except (RequestError, ValueError) as exc:
        flash(f"{request_id} not approved: {exc}", "error")
        return _back()
    category, sentence = _approval_outcome(decided)
    flash(sentence, category)
    return _back()


def _approval_outcome(decided: RefundRequestSummary) -> tuple[str, str]:
    amount = money(decided.amount, decided.currency)
    who = f"{decided.id} approved by {decided.decided_by}"
    if decided.status == RefundRequestStatus.REFUNDED:
        return "success", f"{who}: refunded {amount} ({decided.refund_id})."
    if decided.status == RefundRequestStatus.FAILED:
        return "error", f"{who}, but Stripe refused the refund of {amount}: {decided.error}"
    return "warning", f"{who}; the refund of {amount} is not issued yet: {decided.error}"


@bp.post("/refunds/<request_id>/reject")
def reject_request(request_id: str) -> ResponseReturnValue:
    why = form_text("why")
    if not why:
        flash(f"{request_id} not rejected: say why (the customer is told the reason).", "error")
        return _back()
    try:
        decided = reject(current_runtime(), request_id, by=_decider(), why=why)
    except RequestError as exc:
        flash(f"{request_id} not rejected: {exc}", "error")
        return _back()
    flash(f"{decided.id} rejected by {decided.decided_by}: {decided.decision_note}", "success")
    return _back()


def _decider() -> str:
    # The login page asked for a name; the session holds it, the form cannot change it.
    return f"{auth.operator()} (ops console)"


def _back() -> ResponseReturnValue:
    return redirect(url_for("console.refunds"), code=303)
