"""Refund requests: find the payment, ask the policy, and refund exactly once.

A request is decided when it is received (its `received_at` is the request time of the spec),
stored with its decision, and — when approved — refunded with an idempotency key derived from
the request id, so a second submission or a replay never refunds twice.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import asdict, dataclass, fields
from datetime import date, datetime
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session
from structlog.contextvars import bound_contextvars

from worker.commands.refund_parts import RefundPart, planned_parts
from worker.db.models import (
    PLATFORM,
    Customer,
    Dispute,
    Invoice,
    InvoiceLine,
    Refund,
    RefundRequest,
    RefundRequestStatus,
    utcnow,
)
from worker.db.upsert import upsert
from worker.errors import FinalError, InvalidRequest, NotFound, RetryableError
from worker.metrics import record_decision
from worker.policy import Facts, credit_window, decide
from worker.policy import Invoice as InvoiceFacts
from worker.policy import InvoiceLine as LineFacts
from worker.policy import RefundRequest as RequestFacts
from worker.policy.disputes import SETTLED_FOR_MERCHANT
from worker.runtime import Runtime
from worker.stripe.gateway import StripeGateway

STATUS_OF_OUTCOME = {
    "approve": RefundRequestStatus.APPROVED,
    "review": RefundRequestStatus.REVIEW,
    "deny": RefundRequestStatus.DENIED,
}
# A request in one of these states already covers its lines: a second one is a duplicate.
OPEN_OR_DONE = (
    RefundRequestStatus.REVIEW,
    RefundRequestStatus.APPROVED,
    RefundRequestStatus.REFUNDED,
    RefundRequestStatus.REFUND_FAILED,  # waits for support to refund again
)
# A person decides these: a review, or a refund the bank failed that support may issue again.
WAITING_FOR_SUPPORT = (RefundRequestStatus.REVIEW, RefundRequestStatus.REFUND_FAILED)


class RequestError(InvalidRequest):
    """A request that cannot be decided as given; the message lists what would match."""


class UnknownRefundRequest(RequestError, NotFound):
    """No refund request has the id given."""


@dataclass(frozen=True)
class RefundRequestSummary:
    """A refund request as the CLI, the ops API and the console show it."""

    id: str
    status: str
    customer: str
    invoice: str
    reason: str
    received_at: str  # ISO 8601, UTC
    outcome: str
    proposed_amount: int
    amount: int | None
    currency: str
    policy: str
    policy_version: str | None
    clauses: list[str]
    lines: list[dict[str, Any]]  # the decision's lines, as `decide` prints them
    expected_credit: dict[str, str] | None
    refund_id: str | None
    decided_by: str | None
    note: str | None
    decision_note: str | None
    error: str | None
    account: str  # the connected account's acct_… id, or "" for the platform's

    @classmethod
    def of(cls, row: RefundRequest) -> RefundRequestSummary:
        derived = {
            "invoice": row.invoice_id,
            "received_at": row.received_at.isoformat(),
            "lines": row.decision.get("lines", []),
            "expected_credit": row.decision.get("expected_credit"),
        }
        # Every other field is the row's column of the same name.
        copied = {f.name: getattr(row, f.name) for f in fields(cls) if f.name not in derived}
        return cls(**copied, **derived)

    def as_dict(self) -> dict[str, Any]:
        """The JSON object of `refunds ... --format json` and the ops API (keys in this order)."""
        return asdict(self)


@dataclass(frozen=True)
class RequestResult:
    request: RefundRequestSummary
    duplicate: bool = False

    def as_dict(self) -> dict[str, Any]:
        return {**self.request.as_dict(), "duplicate": self.duplicate}


def request_refund(
    runtime: Runtime,
    *,
    customer: str,
    reason: str,
    invoice: str | None = None,
    purchase_date: date | None = None,
    note: str | None = None,
    line_ids: list[str] | None = None,
    support_override: bool = False,
    received_at: datetime | None = None,
    account: str = PLATFORM,
) -> RequestResult:
    """Decide a customer's request (M5.request / D5.request) and refund it if approved; the
    customer is `account`'s (a connected account's acct_…, or the platform's), as is its policy."""
    received_at = received_at or utcnow()
    policy = runtime.policy_for(account)
    with runtime.sessions.begin() as session:
        found = find_customer(session, customer, account)
        paid = find_invoice(session, found, invoice, purchase_date)
        if line_ids is not None:
            _check_lines(session, paid, line_ids)
        existing = _covering_request(session, paid, line_ids)
        if existing is not None:
            return RequestResult(RefundRequestSummary.of(existing), duplicate=True)
        if refundable_remainder(session, paid) == 0:
            raise RequestError(
                f"invoice {paid.number or paid.id} is already refunded in full "
                f"({amount_refunded(session, paid)} of {paid.amount_paid} {paid.currency})"
            )
        facts = invoice_facts(
            session,
            paid,
            policy.name,
            RequestFacts(
                received_at=received_at,
                reason=reason,  # type: ignore[arg-type]
                line_ids=tuple(line_ids) if line_ids is not None else None,
                support_override=support_override,
            ),
        )
        decision = decide(facts, policy)
        record_decision(decision.policy, decision.outcome, decision.clauses)
        row = RefundRequest(
            id="rr_" + secrets.token_hex(8),
            account=account,
            customer=found.id,
            invoice_id=paid.id,
            reason=reason,
            note=note,
            line_ids=line_ids,
            received_at=received_at,
            status=STATUS_OF_OUTCOME[decision.outcome],
            outcome=decision.outcome,
            proposed_amount=decision.amount,
            amount=decision.amount if decision.outcome == "approve" else None,
            currency=decision.currency,
            policy=decision.policy,
            policy_version=decision.policy_version,
            clauses=list(decision.clauses),
            decision=decision.to_json(),
        )
        session.add(row)
        request_id = row.id
    if row.status == RefundRequestStatus.APPROVED:
        issue_refund(runtime, request_id)
    return RequestResult(get_request(runtime, request_id))


def approve(
    runtime: Runtime, request_id: str, *, by: str, amount: int | None = None
) -> RefundRequestSummary:
    """A reviewer approves a `review` request, optionally with another amount (capped); or
    issues again a refund that failed (`refund_failed`), as a new refund with a new key."""
    with runtime.sessions.begin() as session:
        row = _request_for_update(session, request_id)
        if row.status in WAITING_FOR_SUPPORT:
            paid = session.get_one(Invoice, (row.account, row.invoice_id))
            remainder = refundable_remainder(session, paid)
            proposed = (
                row.proposed_amount if row.status == RefundRequestStatus.REVIEW else row.amount
            )
            chosen = (proposed or 0) if amount is None else amount
            if chosen <= 0:
                raise RequestError(f"amount must be above 0, got {chosen}")
            if chosen > remainder:
                raise RequestError(
                    f"amount {chosen} is more than the {remainder} {paid.currency} "
                    f"still refundable on invoice {paid.number or paid.id}"
                )
            if row.status == RefundRequestStatus.REFUND_FAILED:
                # The first key would hand back the refund that failed: a new attempt, a new key.
                row.refund_attempt += 1
            row.status, row.amount = RefundRequestStatus.APPROVED, chosen
            row.decided_by, row.decided_at = by, utcnow()
            # M5.request / D5.request: the credit window runs from the approval's UTC date.
            window = credit_window(row.decided_at.date(), runtime.policy_for(row.account))
            row.decision = {**row.decision, "expected_credit": window.to_json()}
        elif row.status != RefundRequestStatus.APPROVED:  # approved: a retry of the refund
            raise RequestError(f"request {request_id} is {row.status}, not waiting for review")
    issue_refund(runtime, request_id)
    return get_request(runtime, request_id)


def reject(runtime: Runtime, request_id: str, *, by: str, why: str) -> RefundRequestSummary:
    with runtime.sessions.begin() as session:
        row = _request_for_update(session, request_id)
        if row.status not in WAITING_FOR_SUPPORT:
            raise RequestError(f"request {request_id} is {row.status}, not waiting for review")
        row.status = RefundRequestStatus.REJECTED
        row.decided_by, row.decided_at, row.decision_note = by, utcnow(), why
        return RefundRequestSummary.of(row)


def issue_refund(runtime: Runtime, request_id: str) -> None:
    """Refund an approved request once: our audit row, then Stripe's key, guard the effect."""
    with bound_contextvars(refund_request_id=request_id), runtime.sessions.begin() as session:
        row = _request_for_update(session, request_id)
        if row.status != RefundRequestStatus.APPROVED or not row.amount:
            return
        session.scalar(
            select(Customer)
            .where(Customer.account == row.account, Customer.id == row.customer)
            .with_for_update()
        )
        paid = session.get_one(Invoice, (row.account, row.invoice_id))
        stripe = StripeGateway(
            runtime.stripe, session, row.id, request_id=row.id, account=row.account
        )
        try:
            if not (paid.payment_intent_id or paid.charge_id):
                raise FinalError(f"invoice {paid.number or paid.id} has no payment to refund")
            parts = planned_parts(
                stripe, paid.id, row.amount, row.decision, (paid.payment_intent_id, paid.charge_id)
            )
            row.decision = {**row.decision, "refund_parts": [p.as_json() for p in parts]}
            made = [(part, _refund_part(stripe, row, part)) for part in parts]
        except RetryableError as exc:
            row.error = f"{exc} (run `billing-worker refunds approve {row.id} --by NAME` to retry)"
            session.add_all(stripe.failed_calls)
            return
        except FinalError as exc:
            row.status, row.error = RefundRequestStatus.FAILED, str(exc)
            session.add_all(stripe.failed_calls)
            return
        row.status, row.refund_id, row.error = RefundRequestStatus.REFUNDED, made[0][1], None
        for part, refund_id in made:
            if refund_id:
                # refund.created may have recorded it already, with a newer status: keep that.
                upsert(
                    session,
                    Refund(
                        account=row.account,
                        id=refund_id,
                        charge_id=part.charge,
                        payment_intent_id=part.payment_intent,
                        amount=part.amount,
                        currency=row.currency,
                        status="pending",
                        request_id=row.id,
                        created=utcnow(),
                        state_created=None,  # ours, not from an event: any event's state is newer
                    ),
                    update=False,
                )


def _refund_part(stripe: StripeGateway, row: RefundRequest, part: RefundPart) -> str | None:
    """One part's refund, keyed `bw:<request>:refund:<payment>`."""
    return stripe.refund(
        payment_intent=part.payment_intent,
        charge=part.charge,
        amount=part.amount,
        attempt=row.refund_attempt,
        metadata={
            "refund_request_id": row.id,
            "policy": row.policy,
            "policy_version": row.policy_version or "",
            "clauses": ",".join(row.clauses),
        },
    )


def find_customer(session: Session, ref: str, account: str = PLATFORM) -> Customer:
    """By Stripe id or account email, among `account`'s customers; an unknown one lists a few
    we do know."""
    ref = ref.strip()
    query = select(Customer).where(
        Customer.account == account,
        or_(Customer.id == ref, func.lower(Customer.email) == ref.lower()),
    )
    matches = list(session.scalars(query.with_for_update()))
    if len(matches) == 1:
        return matches[0]
    if len(matches) > 1:
        raise RequestError(
            f"{ref} names several customers: {', '.join(c.id for c in matches)}; give the id"
        )
    known = session.scalars(
        select(Customer).where(Customer.account == account).order_by(Customer.id).limit(10)
    ).all()
    listing = ", ".join(f"{c.id} <{c.email or 'no email'}>" for c in known) or "none yet"
    where = f" of {account}" if account else ""
    raise RequestError(f"unknown customer {ref}{where}; known customers include: {listing}")


def find_invoice(
    session: Session, customer: Customer, ref: str | None, purchase_date: date | None
) -> Invoice:
    """The paid invoice a request names, by id or number, or by the date it was paid (UTC)."""
    customer_id = customer.id
    paid = list(
        session.scalars(
            select(Invoice)
            .where(
                Invoice.account == customer.account,
                Invoice.customer == customer_id,
                Invoice.status == "paid",
            )
            .order_by(Invoice.paid_at)
        )
    )
    if ref is not None:
        matches = [i for i in paid if ref in (i.id, i.number)]
        wanted = f"invoice {ref}"
    elif purchase_date is not None:
        matches = [i for i in paid if i.paid_at and i.paid_at.date() == purchase_date]
        wanted = f"a payment on {purchase_date.isoformat()}"
    else:
        raise RequestError("name the invoice (--invoice) or the date of purchase (--purchase-date)")
    if len(matches) == 1:
        return matches[0]
    candidates = "; ".join(_describe(i) for i in (matches or paid)) or "none"
    if matches:
        raise RequestError(f"{wanted} matches several paid invoices: {candidates}")
    raise RequestError(f"{wanted} matches no paid invoice of {customer_id}; paid: {candidates}")


def invoice_facts(session: Session, paid: Invoice, policy: str, request: RequestFacts) -> Facts:
    lines = session.scalars(
        select(InvoiceLine)
        .where(InvoiceLine.account == paid.account, InvoiceLine.invoice_id == paid.id)
        .order_by(InvoiceLine.position)
    ).all()
    return facts_of(
        paid,
        lines,
        policy,
        request,
        amount_refunded=amount_refunded(session, paid),
        disputed=is_disputed(session, paid),
    )


def facts_of(
    paid: Invoice,
    lines: Sequence[InvoiceLine],
    policy: str,
    request: RequestFacts,
    *,
    amount_refunded: int,
    disputed: bool,
) -> Facts:
    """The decision's facts from a stored invoice and its lines (in invoice order)."""
    return Facts(
        policy=policy,
        request=request,
        invoice=InvoiceFacts(
            id=paid.id,
            number=paid.number,
            customer=paid.customer,
            currency=paid.currency,
            billing_reason=paid.billing_reason or "manual",
            paid_at=paid.paid_at or request.received_at,
            amount_paid=paid.amount_paid,
            amount_refunded=min(paid.amount_paid, amount_refunded),
            disputed=disputed,
            lines=tuple(
                LineFacts(
                    id=line.id,
                    category=line.category,  # type: ignore[arg-type]
                    amount=max(0, line.amount),
                    interval=line.interval,  # type: ignore[arg-type]
                    period_start=line.period_start,
                    period_end=line.period_end,
                    consumed=line.consumed,
                )
                for line in lines
            ),
        ),
    )


def amount_refunded(session: Session, paid: Invoice) -> int:
    """What is already refunded on the payment: our refunds and the Dashboard's alike."""
    refs = payment_refs(paid)
    total = 0
    if refs:
        total = (
            session.scalar(
                select(func.coalesce(func.sum(Refund.amount), 0)).where(
                    Refund.account == paid.account,
                    or_(
                        Refund.charge_id.in_(refs),
                        Refund.payment_intent_id.in_(refs),
                        # parts refunded on the invoice's other payments (paid in several)
                        Refund.request_id.in_(
                            select(RefundRequest.id).where(
                                RefundRequest.account == paid.account,
                                RefundRequest.invoice_id == paid.id,
                            )
                        ),
                    ),
                    Refund.status.in_(("succeeded", "pending", "requires_action")),
                )
            )
            or 0
        )
    return max(int(total), paid.amount_refunded_reported)


def refundable_remainder(session: Session, paid: Invoice) -> int:
    return max(0, paid.amount_paid - amount_refunded(session, paid))


def is_disputed(session: Session, paid: Invoice) -> bool:
    refs = payment_refs(paid)
    if not refs:
        return False
    return (
        session.scalar(
            select(func.count())
            .select_from(Dispute)
            .where(
                Dispute.account == paid.account,
                or_(Dispute.charge_id.in_(refs), Dispute.payment_intent_id.in_(refs)),
                Dispute.status.not_in(SETTLED_FOR_MERCHANT),
            )
        )
        > 0
    )


def get_request(runtime: Runtime, request_id: str) -> RefundRequestSummary:
    with runtime.sessions() as session:
        row = session.get(RefundRequest, request_id)
        if row is None:
            raise UnknownRefundRequest(f"no refund request {request_id}")
        return RefundRequestSummary.of(row)


def list_requests(
    runtime: Runtime, status: str | None = None, account: str | None = None
) -> list[RefundRequestSummary]:
    """Every request, or those of one status, of one account (None: of every account)."""
    query = select(RefundRequest).order_by(RefundRequest.received_at)
    if status:
        query = query.where(RefundRequest.status == status)
    if account is not None:
        query = query.where(RefundRequest.account == account)
    with runtime.sessions() as session:
        return [RefundRequestSummary.of(row) for row in session.scalars(query)]


def _request_for_update(session: Session, request_id: str) -> RefundRequest:
    row = session.get(RefundRequest, request_id, with_for_update=True)
    if row is None:
        raise UnknownRefundRequest(f"no refund request {request_id}")
    return row


def _covering_request(
    session: Session, paid: Invoice, line_ids: list[str] | None
) -> RefundRequest | None:
    """An open or completed request on the same invoice and overlapping lines, if any."""
    for row in session.scalars(
        select(RefundRequest).where(
            RefundRequest.account == paid.account,
            RefundRequest.invoice_id == paid.id,
            RefundRequest.status.in_(OPEN_OR_DONE),
        )
    ):
        if row.line_ids is None or line_ids is None or set(row.line_ids) & set(line_ids):
            return row
    return None


def _check_lines(session: Session, paid: Invoice, line_ids: list[str]) -> None:
    known = set(
        session.scalars(
            select(InvoiceLine.id).where(
                InvoiceLine.account == paid.account, InvoiceLine.invoice_id == paid.id
            )
        )
    )
    unknown = [line for line in line_ids if line not in known]
    if unknown:
        raise RequestError(
            f"lines {', '.join(unknown)} are not on invoice {paid.number or paid.id}; "
            f"its lines: {', '.join(sorted(known))}"
        )


def payment_refs(paid: Invoice) -> list[str]:
    return [ref for ref in (paid.charge_id, paid.payment_intent_id) if ref]


def _describe(invoice: Invoice) -> str:
    when = invoice.paid_at.date().isoformat() if invoice.paid_at else "unpaid"
    amount = f"{invoice.amount_paid} {invoice.currency}"
    return f"{invoice.number or invoice.id} ({invoice.id}, paid {when}, {amount})"
