"""What the engine answers: a decision per line and for the request, as the contract's JSON."""

from dataclasses import dataclass, replace
from datetime import date
from typing import Any, Literal

from worker.json_fields import json_fields

Outcome = Literal["approve", "deny", "review"]


@dataclass(frozen=True)
class LineDecision:
    id: str
    outcome: Outcome
    amount: int  # approved, or proposed to the reviewer; 0 when denied
    clauses: tuple[str, ...]
    explanation: str  # one sentence a support agent can paste to the customer

    def with_amount(self, amount: int, explanation: str) -> "LineDecision":
        return replace(self, amount=amount, explanation=explanation)


@dataclass(frozen=True)
class CreditWindow:
    """M5.request, D5.request: when an approved refund should reach the customer."""

    first_day: date
    last_day: date

    def to_json(self) -> dict[str, str]:
        return {"from": self.first_day.isoformat(), "to": self.last_day.isoformat()}


@dataclass(frozen=True)
class Decision:
    outcome: Outcome
    amount: int
    currency: str
    policy: str
    policy_version: str | None
    clauses: tuple[str, ...]
    lines: tuple[LineDecision, ...]
    expected_credit: CreditWindow | None

    def to_json(self) -> dict[str, Any]:
        return json_fields(self)
