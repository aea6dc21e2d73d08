"""A proposed policy tried on the past: the same facts decided under two policies, compared.

Pure, like the rest of the engine: the facts of stored refund requests and the disputes of
accounts come in, comparisons and per-currency totals come out. Reading them from the database
is `worker/commands/policy_simulation.py`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from worker.json_fields import json_fields
from worker.policy.decide import decide
from worker.policy.decision import Decision, Outcome
from worker.policy.disputes import AccountVerdict, DisputeState, account_state
from worker.policy.facts import Facts
from worker.policy.parameters import Policy


@dataclass(frozen=True)
class Verdict:
    """What a policy decides on one request, as a comparison reads it."""

    outcome: Outcome
    amount: int  # approved, or proposed for review; 0 when denied
    clauses: tuple[str, ...]

    @classmethod
    def of(cls, decision: Decision) -> Verdict:
        return cls(decision.outcome, decision.amount, decision.clauses)

    @property
    def refunded(self) -> int:
        """What the worker itself would refund: only an approval is refunded without a person."""
        return self.amount if self.outcome == "approve" else 0

    @property
    def proposed(self) -> int:
        return self.amount if self.outcome == "review" else 0


@dataclass(frozen=True)
class RequestComparison:
    request_id: str
    customer: str
    invoice: str
    received_at: str  # ISO 8601, UTC
    currency: str
    before: Verdict  # under the policy in force
    after: Verdict  # under the proposed one

    @property
    def changed(self) -> bool:
        """Outcome or amount differ; the same result reached by other clauses is no change."""
        return (self.before.outcome, self.before.amount) != (self.after.outcome, self.after.amount)

    def to_json(self) -> dict[str, Any]:
        return json_fields(self, request_id="id")


def compare_request(
    facts: Facts, current: Policy, proposed: Policy, *, request_id: str, customer: str
) -> RequestComparison:
    """One stored request decided on the same facts under both policies."""
    return RequestComparison(
        request_id=request_id,
        customer=customer,
        invoice=facts.invoice.id,
        received_at=facts.request.received_at.isoformat(),
        currency=facts.invoice.currency,
        before=Verdict.of(decide(facts, current)),
        after=Verdict.of(decide(facts, proposed)),
    )


@dataclass
class CurrencyTotals:
    """Minor units of one currency: refunded by the worker, and proposed to reviewers."""

    currency: str
    refunded_before: int = 0
    refunded_after: int = 0
    review_before: int = 0
    review_after: int = 0

    def add(self, comparison: RequestComparison) -> None:
        self.refunded_before += comparison.before.refunded
        self.refunded_after += comparison.after.refunded
        self.review_before += comparison.before.proposed
        self.review_after += comparison.after.proposed

    def to_json(self) -> dict[str, Any]:
        return {
            "currency": self.currency,
            "refunded_before": self.refunded_before,
            "refunded_after": self.refunded_after,
            "refunded_change": self.refunded_after - self.refunded_before,
            "review_before": self.review_before,
            "review_after": self.review_after,
        }


@dataclass
class Tally:
    """Running counts and totals over every request compared: memory grows by currency only."""

    requests: int = 0
    changed: int = 0
    by_currency: dict[str, CurrencyTotals] = field(default_factory=dict)

    def add(self, comparison: RequestComparison) -> None:
        self.requests += 1
        self.changed += comparison.changed
        totals = self.by_currency.setdefault(
            comparison.currency, CurrencyTotals(comparison.currency)
        )
        totals.add(comparison)

    def totals(self) -> list[CurrencyTotals]:
        return [self.by_currency[currency] for currency in sorted(self.by_currency)]


@dataclass(frozen=True)
class AccountComparison:
    customer: str
    before: AccountVerdict
    after: AccountVerdict

    @property
    def changed(self) -> bool:
        return self.before.state != self.after.state

    def to_json(self) -> dict[str, Any]:
        return {
            "customer": self.customer,
            "before": _verdict_json(self.before),
            "after": _verdict_json(self.after),
        }


def _verdict_json(verdict: AccountVerdict) -> dict[str, Any]:
    return {"state": verdict.state, "clause": verdict.clause, "disputes": list(verdict.disputes)}


def compare_account(
    customer: str, disputes: Iterable[DisputeState], current: Policy, proposed: Policy
) -> AccountComparison:
    """M6.dispute / D6.dispute over one account's disputes, under both policies."""
    disputes = tuple(disputes)
    return AccountComparison(
        customer, account_state(disputes, current), account_state(disputes, proposed)
    )
