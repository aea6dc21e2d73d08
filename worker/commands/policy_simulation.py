"""`policy simulate`: the stored refund requests and disputes of a period, decided again under
the policy in force and under a proposed one. Reads only; never calls Stripe.

Requests are read 500 at a time in keyset pages on (received_at, id), each page in its own short
read-only transaction with its invoices, lines and refunds loaded in three queries, so memory
stays flat however long the history. Disputes are read the same way on (customer, id), one
account's disputes at a time.

A stored request keeps its request facts (received_at, reason, line_ids) but not the invoice's
facts at that moment, so they are re-derived from the stored invoice and lines as `refunds
request` derives them (`facts_of`), without Stripe, as of the request's `received_at`:
- amount already refunded: refunds of earlier requests on the invoice, refunds made by hand
  before `received_at`, and Stripe's reported total if it was reported before then; never the
  refund this request (or a later one) caused;
- disputed: the stored decision named the dispute clause (M6.dispute / D6.dispute), which decides
  before any other: the only trace of a dispute open at that moment;
- support override (D2.override): the stored decision used it;
- lines, their amounts and `consumed`: as stored now (an add-on used since reads as used).
Each request is decided on its own history: an approval the proposed policy would have added
does not lower what a later request on the same invoice could refund.

One account is simulated at a time (the platform's by default): a proposed policy replaces that
account's policy in force (`BILLING_POLICY`, or its `BILLING_POLICY_BY_ACCOUNT` entry), and the
other accounts' requests and disputes are not read.
"""

from __future__ import annotations

import itertools
from collections import defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, or_, select
from sqlalchemy.orm import InstrumentedAttribute, Session, sessionmaker

from worker.commands.refunds import facts_of, payment_refs
from worker.db.models import PLATFORM, Dispute, Invoice, InvoiceLine, Refund, RefundRequest
from worker.db.session import read_only
from worker.policy import RefundRequest as RequestFacts
from worker.policy.disputes import DisputeState
from worker.policy.facts import Facts, InvalidFacts
from worker.policy.parameters import RULEBOOKS, Policy
from worker.policy.simulation import (
    AccountComparison,
    RequestComparison,
    Tally,
    compare_account,
    compare_request,
)

PAGE_SIZE = 500
SKIPPED_LISTED = 100  # a request whose invoice is gone is rare: keep the first ones, count all
# Refunds that count against what remains refundable (as `amount_refunded` counts them).
COUNTED_REFUNDS = ("succeeded", "pending", "requires_action")
DISPUTE_CLAUSES = frozenset(rulebook.dispute for rulebook in RULEBOOKS.values())
OVERRIDE_CLAUSE = "D2.override"


class SimulationError(ValueError):
    """A period that means nothing; the message says how to fix it."""


@dataclass(frozen=True)
class Period:
    """Requests received, and disputes whose newest state was reported, in [since, until)."""

    since: datetime | None = None
    until: datetime | None = None

    def check(self) -> None:
        if self.since and self.until and self.since >= self.until:
            raise SimulationError("since must be before until")

    def conditions(self, moment: InstrumentedAttribute[Any]) -> list[ColumnElement[bool]]:
        conditions: list[ColumnElement[bool]] = []
        if self.since is not None:
            conditions.append(moment >= self.since)
        if self.until is not None:
            conditions.append(moment < self.until)
        return conditions

    def to_json(self) -> dict[str, str | None]:
        return {
            "since": self.since.isoformat() if self.since else None,
            "until": self.until.isoformat() if self.until else None,
        }


@dataclass(frozen=True)
class Skipped:
    """A stored request whose facts cannot be re-derived (its invoice or lines are gone)."""

    request_id: str
    reason: str

    def to_json(self) -> dict[str, str]:
        return {"id": self.request_id, "reason": self.reason}


@dataclass
class Summary:
    """Counts what streams through `Simulation.requests` and `Simulation.accounts`, and lets
    the changes through as they come: memory grows by currency, not by request."""

    tally: Tally = field(default_factory=Tally)
    skipped: list[Skipped] = field(default_factory=list)  # the first SKIPPED_LISTED
    skipped_count: int = 0
    accounts_with_disputes: int = 0
    accounts_changed: int = 0

    def changed_requests(
        self, items: Iterator[RequestComparison | Skipped]
    ) -> Iterator[RequestComparison]:
        for item in items:
            if isinstance(item, Skipped):
                self.skipped_count += 1
                if len(self.skipped) < SKIPPED_LISTED:
                    self.skipped.append(item)
                continue
            self.tally.add(item)
            if item.changed:
                yield item

    def changed_accounts(self, items: Iterator[AccountComparison]) -> Iterator[AccountComparison]:
        for item in items:
            self.accounts_with_disputes += 1
            if item.changed:
                self.accounts_changed += 1
                yield item


@dataclass(frozen=True)
class Simulation:
    """One account's stored history in a period, decided under the policy in force and under a
    proposed one: what `policy simulate` and the console's what-if page compare."""

    sessions: sessionmaker[Session]
    current: Policy
    proposed: Policy
    period: Period = field(default_factory=Period)
    account: str = PLATFORM
    page_size: int = PAGE_SIZE

    def requests(self) -> Iterator[RequestComparison | Skipped]:
        """Every stored request of the account in the period, oldest received first, under
        both policies."""
        stored = _stored_facts(self.sessions, self.period, self.account, self.page_size)
        for request_id, customer, facts in stored:
            if isinstance(facts, str):
                yield Skipped(request_id, facts)
                continue
            try:
                yield compare_request(
                    facts, self.current, self.proposed, request_id=request_id, customer=customer
                )
            except InvalidFacts as problem:
                yield Skipped(request_id, f"its stored facts are invalid: {problem}")

    def accounts(self) -> Iterator[AccountComparison]:
        """Every customer of the account with a dispute in the period: its state from those
        disputes, both ways."""
        rows = _disputes(self.sessions, self.period, self.account, self.page_size)
        for customer, disputes in itertools.groupby(rows, key=lambda row: row[0]):
            states = (state for _, state in disputes)
            yield compare_account(customer, states, self.current, self.proposed)


def _customer_label(account: str, customer: str) -> str:
    """The customer as the simulation names it: with its connected account, if it has one
    (two accounts may have customers of the same id)."""
    return f"{customer} ({account})" if account else customer


def _disputes(
    sessions: sessionmaker[Session], period: Period, account: str, page_size: int
) -> Iterator[tuple[str, DisputeState]]:
    """(customer label, dispute state), one (account, customer)'s disputes after another."""
    last: tuple[str, str, str] | None = None
    while True:
        query = select(
            Dispute.account,
            Dispute.customer,
            Dispute.id,
            Dispute.reason,
            Dispute.status,
            Dispute.lost,
        )
        query = query.where(
            Dispute.account == account,
            Dispute.customer.is_not(None),
            *period.conditions(Dispute.state_created),
        )
        if last is not None:
            query = query.where(
                or_(
                    Dispute.account > last[0],
                    and_(Dispute.account == last[0], Dispute.customer > last[1]),
                    and_(
                        Dispute.account == last[0],
                        Dispute.customer == last[1],
                        Dispute.id > last[2],
                    ),
                )
            )
        with read_only(sessions) as session:
            rows = session.execute(
                query.order_by(Dispute.account, Dispute.customer, Dispute.id).limit(page_size)
            ).all()
        for row in rows:
            yield (
                _customer_label(row.account, row.customer),
                DisputeState(row.id, row.reason, row.status, bool(row.lost)),
            )
        if len(rows) < page_size:
            return
        last = (rows[-1].account, rows[-1].customer, rows[-1].id)


def _stored_facts(
    sessions: sessionmaker[Session], period: Period, account: str, page_size: int
) -> Iterator[tuple[str, str, Facts | str]]:
    """(request id, customer, facts or why there are none), page by page."""
    last: tuple[datetime, str] | None = None
    while True:
        query = select(RefundRequest).where(
            RefundRequest.account == account, *period.conditions(RefundRequest.received_at)
        )
        if last is not None:
            query = query.where(
                or_(
                    RefundRequest.received_at > last[0],
                    and_(RefundRequest.received_at == last[0], RefundRequest.id > last[1]),
                )
            )
        with read_only(sessions) as session:
            rows = session.scalars(
                query.order_by(RefundRequest.received_at, RefundRequest.id).limit(page_size)
            ).all()
            page = list(_facts_of_page(session, rows))
        yield from page
        if len(rows) < page_size:
            return
        last = (rows[-1].received_at, rows[-1].id)


@dataclass(frozen=True)
class _PastRefund:
    amount: int
    created: datetime
    request: tuple[datetime, str] | None  # (received_at, id) of our request that made it


def _facts_of_page(
    session: Session, rows: Sequence[RefundRequest]
) -> Iterator[tuple[str, str, Facts | str]]:
    # Keyed by (account, id): two connected accounts may hold invoices of the same id.
    invoice_ids = {row.invoice_id for row in rows}
    invoices = {
        (i.account, i.id): i
        for i in session.scalars(select(Invoice).where(Invoice.id.in_(invoice_ids)))
    }
    lines: dict[tuple[str, str], list[InvoiceLine]] = defaultdict(list)
    for line in session.scalars(
        select(InvoiceLine)
        .where(InvoiceLine.invoice_id.in_(invoice_ids))
        .order_by(InvoiceLine.account, InvoiceLine.invoice_id, InvoiceLine.position)
    ):
        lines[(line.account, line.invoice_id)].append(line)
    refunds = _refunds_by_invoice(session, invoices)
    for row in rows:
        key = (row.account, row.invoice_id)
        customer = _customer_label(row.account, row.customer)
        paid = invoices.get(key)
        if paid is None:
            yield row.id, customer, f"invoice {row.invoice_id} is not stored"
        elif not lines[key]:
            yield row.id, customer, f"invoice {paid.number or paid.id} has no stored lines"
        else:
            facts = facts_of(
                paid,
                lines[key],
                row.policy,
                _request_facts(row),
                amount_refunded=_refunded_before(paid, refunds[key], row),
                disputed=bool(DISPUTE_CLAUSES & set(row.clauses)),
            )
            yield row.id, customer, facts


def _request_facts(row: RefundRequest) -> RequestFacts:
    used_override = any(
        OVERRIDE_CLAUSE in line.get("clauses", ()) for line in row.decision.get("lines", ())
    )
    return RequestFacts(
        received_at=row.received_at,
        reason=row.reason,  # type: ignore[arg-type]
        line_ids=tuple(row.line_ids) if row.line_ids is not None else None,
        support_override=used_override,
    )


def _refunds_by_invoice(
    session: Session, invoices: dict[tuple[str, str], Invoice]
) -> dict[tuple[str, str], list[_PastRefund]]:
    invoice_of_payment = {
        (paid.account, ref): (paid.account, paid.id)
        for paid in invoices.values()
        for ref in payment_refs(paid)
    }
    payments = {ref for _, ref in invoice_of_payment}
    query = (
        select(
            Refund.account,
            Refund.amount,
            Refund.created,
            Refund.charge_id,
            Refund.payment_intent_id,
            RefundRequest.id.label("request_id"),
            RefundRequest.invoice_id,
            RefundRequest.received_at,
        )
        .outerjoin(RefundRequest, RefundRequest.id == Refund.request_id)
        .where(
            Refund.status.in_(COUNTED_REFUNDS),
            or_(
                Refund.charge_id.in_(payments),
                Refund.payment_intent_id.in_(payments),
                RefundRequest.invoice_id.in_({invoice_id for _, invoice_id in invoices}),
            ),
        )
    )
    found: dict[tuple[str, str], list[_PastRefund]] = defaultdict(list)
    for refund in session.execute(query):
        invoice: tuple[str, str] | None = (
            (refund.account, refund.invoice_id)
            if refund.invoice_id
            else invoice_of_payment.get((refund.account, refund.charge_id))
            or invoice_of_payment.get((refund.account, refund.payment_intent_id))
        )
        if invoice is None:
            continue
        made_by = (refund.received_at, refund.request_id) if refund.request_id else None
        found[invoice].append(_PastRefund(refund.amount, refund.created, made_by))
    return found


def _refunded_before(paid: Invoice, refunds: list[_PastRefund], row: RefundRequest) -> int:
    """What was refunded on the invoice when `row` was received (see the module's docstring)."""
    here = (row.received_at, row.id)
    total = sum(
        refund.amount
        for refund in refunds
        if (refund.request < here if refund.request else refund.created < row.received_at)
    )
    reported_at = paid.refunded_reported_at
    reported = paid.amount_refunded_reported if reported_at and reported_at < here[0] else 0
    return max(total, reported)
