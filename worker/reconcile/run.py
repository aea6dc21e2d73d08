"""One reconcile run: compare every selected customer, and with `fix`, bring each back to the
policy's end state under its customer lock, as a handler would.

Read-only by default: one read-only session per customer, no lock, no write anywhere. With
`fix`, each customer is one unit of work holding its row lock (the lock every handler takes),
so no event of that customer is handled meanwhile: compare, record what missed events would
have told us, compare again, write to Stripe what still differs, compare a last time to say
what remains. A failed write stops that customer's fixes; what succeeded before it is kept,
with its audit row, and the failed attempt is audited too (as `refunds approve` does).
"""

from __future__ import annotations

import logging
import secrets
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from worker.db.models import Customer, StripeCall, utcnow
from worker.errors import BillingWorkerError
from worker.handlers import HandlerContext
from worker.metrics import record_reconcile_run
from worker.reconcile.compare import compare_customer, customers_to_check
from worker.reconcile.expected import Whose
from worker.reconcile.findings import KINDS, RECORDING, Finding
from worker.reconcile.fix import apply_remedy, source_of
from worker.reconcile.gateway import ReconcileGateway
from worker.runtime import Runtime
from worker.stripe.reads import StripeReads

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Change:
    """One write reconcile made at Stripe, from its audit row."""

    method: str
    object_id: str | None
    idempotency_key: str

    def as_dict(self) -> dict[str, Any]:
        return {"method": self.method, "object": self.object_id, "key": self.idempotency_key}

    def text(self) -> str:
        return f"{self.method} {self.object_id}  (key {self.idempotency_key})"


@dataclass
class CustomerResult:
    whose: Whose
    found: list[Finding] = field(default_factory=list)
    remaining: list[Finding] = field(default_factory=list)
    fixed: list[Finding] = field(default_factory=list)
    changes: list[Change] = field(default_factory=list)
    error: str | None = None  # the comparison or a fix failed: why


@dataclass
class ReconcileReport:
    run_id: str
    fix: bool
    started_at: datetime
    customers: list[CustomerResult] = field(default_factory=list)

    @property
    def found(self) -> list[Finding]:
        return [f for c in self.customers for f in c.found]

    @property
    def remaining(self) -> list[Finding]:
        return [f for c in self.customers for f in c.remaining]

    @property
    def changes(self) -> list[Change]:
        return [ch for c in self.customers for ch in c.changes]

    @property
    def errors(self) -> list[CustomerResult]:
        return [c for c in self.customers if c.error]

    @property
    def clean(self) -> bool:
        """Nothing drifted (or, with fix, nothing is left), and every customer was compared."""
        return not self.remaining and not self.errors

    def as_dict(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "fix": self.fix,
            "customers_checked": len(self.customers),
            "found": [f.as_dict() for f in self.found],
            "fixed": [f.as_dict() for c in self.customers for f in c.fixed],
            "changes": [ch.as_dict() for ch in self.changes],
            "remaining": [f.as_dict() for f in self.remaining],
            "errors": [
                {"account": c.whose.account or None, "customer": c.whose.customer, "error": c.error}
                for c in self.errors
            ],
        }


def reconcile(
    runtime: Runtime,
    *,
    customer: str | None = None,
    account: str | None = None,
    since: datetime | None = None,
    fix: bool = False,
    only: str | None = None,
    record: bool = True,
) -> ReconcileReport:
    """Compare the selected customers; with `fix`, fix what differs, or with `only` (a
    finding's id, as the console's fix button sends it) that one finding and nothing else.
    A whole run sets the reconcile gauges unless `record` is false: the console's comparisons
    on demand must not pass for the schedule's runs, whose absence an alert watches."""
    run_id = utcnow().strftime("%Y%m%dT%H%M%S") + "-" + secrets.token_hex(4)
    report = ReconcileReport(run_id=run_id, fix=fix, started_at=utcnow())
    with runtime.sessions() as session:
        selected = customers_to_check(session, customer=customer, account=account, since=since)
    for whose in selected:
        if fix:
            report.customers.append(_fix_customer(runtime, whose, run_id, only))
        else:
            report.customers.append(_compare_customer(runtime, whose, run_id))
    whole = customer is None and account is None and since is None
    if whole and record and not report.errors:
        remaining = Counter(str(f.kind) for f in report.remaining)
        record_reconcile_run(remaining, KINDS, utcnow().timestamp())
    return report


def _compare_customer(runtime: Runtime, whose: Whose, run_id: str) -> CustomerResult:
    result = CustomerResult(whose)
    with runtime.sessions() as session:
        reads = StripeReads(runtime.stripe, session, source_of(run_id), account=whose.account)
        try:
            result.found = compare_customer(
                session, reads, runtime.policy_for(whose.account), whose, utcnow()
            )
        except BillingWorkerError as exc:
            result.error = f"could not compare: {exc}"
        session.rollback()  # read-only: nothing of this session is ever written
    result.remaining = list(result.found)
    return result


def _fix_customer(
    runtime: Runtime, whose: Whose, run_id: str, only: str | None = None
) -> CustomerResult:
    result = CustomerResult(whose)
    source = source_of(run_id)
    policy = runtime.policy_for(whose.account)
    with runtime.sessions.begin() as session:
        session.scalar(
            select(Customer)
            .where(Customer.account == whose.account, Customer.id == whose.customer)
            .with_for_update()
        )
        gateway = ReconcileGateway(runtime.stripe, session, source, account=whose.account)
        before = session.scalar(select(func.max(StripeCall.id))) or 0
        ctx = HandlerContext(
            session=session,
            event_id=source,
            event_type="reconcile",
            event_created=utcnow(),
            stripe=gateway,
            policy=policy,
            account=whose.account,
        )

        def compare() -> list[Finding]:
            return compare_customer(session, gateway, policy, whose, utcnow())

        def wanted(finding: Finding, recording: bool) -> bool:
            if finding.remedy is None or (finding.remedy in RECORDING) != recording:
                return False
            return only is None or finding.id == only

        try:
            result.found = findings = compare()
            recording = [f for f in findings if wanted(f, recording=True)]
            for finding in recording:
                apply_remedy(ctx, finding)
                result.fixed.append(finding)
            if recording:
                session.flush()
                findings = compare()
            for finding in findings:
                if wanted(finding, recording=False):
                    apply_remedy(ctx, finding)
                    result.fixed.append(finding)
            result.remaining = compare() if result.fixed else findings
        except BillingWorkerError as exc:
            result.error = f"fix stopped: {exc}"
            log.warning("reconcile %s: %s", whose.customer, result.error)
            session.add_all(gateway.failed_calls)
            # What is left is what the last comparison found, less what was fixed since.
            result.remaining = [f for f in result.found if f not in result.fixed]
        result.changes = [
            c
            for c in _changes(session, source, before)
            if c.idempotency_key not in gateway.found_done
        ]
    return result


def _changes(session: Session, source: str, before: int) -> list[Change]:
    """This customer's writes at Stripe in this run, as their audit rows say (the handlers'
    code reused by a recording remedy writes through the same gateway)."""
    session.flush()
    calls = session.scalars(
        select(StripeCall)
        .where(
            StripeCall.id > before,
            StripeCall.idempotency_key.contains(f":{source}:", autoescape=True),
            StripeCall.outcome == "ok",
        )
        .order_by(StripeCall.id)
    )
    return [Change(c.method, c.object_id, c.idempotency_key) for c in calls]
