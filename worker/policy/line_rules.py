"""What every line rule needs: the line in its context, and a way to state an outcome."""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta

from worker.policy.calendar import MONTHS_IN_YEAR, unused_months
from worker.policy.categories import purchase_kind
from worker.policy.decision import LineDecision
from worker.policy.facts import Invoice, InvoiceLine, RefundRequest
from worker.policy.money import format_money, share_of
from worker.policy.parameters import AnnualRefund


@dataclass(frozen=True)
class LineContext:
    line: InvoiceLine
    request: RefundRequest
    invoice: Invoice

    @property
    def elapsed(self) -> timedelta:
        """Request time minus payment time; a request stamped before the payment counts as 0."""
        return max(timedelta(0), self.request.received_at - self.invoice.paid_at)

    def within(self, window_hours: int) -> bool:
        """Windows are inclusive: exactly at the limit is inside, one second later is not."""
        return self.elapsed <= timedelta(hours=window_hours)

    @property
    def period_has_ended(self) -> bool:
        return self.line.period_has_ended(self.request.received_at)

    @property
    def unused_months(self) -> int:
        """Counted from the line's period_start at request time (M3.partial)."""
        return unused_months(self.line.period_start, self.request.received_at)

    @property
    def is_renewal(self) -> bool:
        return purchase_kind(self.invoice.billing_reason) == "renewal"

    @property
    def is_annual(self) -> bool:
        return self.line.interval == "year"

    def money(self, amount: int) -> str:
        return format_money(amount, self.invoice.currency)


def annual_refund_amount(ctx: LineContext, mode: AnnualRefund) -> int:
    """M1.annual, D2.annual: `floor(plan_amount × unused_months / 12)` (or all, or nothing)."""
    if mode == "unused_months":
        return share_of(ctx.line.amount, ctx.unused_months, MONTHS_IN_YEAR)
    return ctx.line.amount if mode == "full" else 0


def plan_name(ctx: LineContext) -> str:
    if ctx.line.interval == "year":
        return "Annual plan"
    return "Monthly plan" if ctx.line.interval == "month" else "Plan"


def approve(ctx: LineContext, amount: int, clauses: Sequence[str], sentence: str) -> LineDecision:
    return LineDecision(ctx.line.id, "approve", amount, tuple(clauses), sentence)


def review(ctx: LineContext, amount: int, clauses: Sequence[str], sentence: str) -> LineDecision:
    return LineDecision(ctx.line.id, "review", amount, tuple(clauses), sentence)


def deny(ctx: LineContext, clauses: Sequence[str], sentence: str) -> LineDecision:
    return LineDecision(ctx.line.id, "deny", 0, tuple(clauses), sentence)
