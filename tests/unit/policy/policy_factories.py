"""Fact factories for the policy tests: realistic contract JSON built in one place.

A module, not a conftest: `tests/` keeps one conftest, which its tests import by name.

Dates default to the DESIGN.md worked example: an annual Mittrik plan paid 2025-04-25 09:00 UTC.
Times may be given as datetimes or ISO strings; `received_after` places the request relative to
the payment, which is how the policy's windows are written.
"""

from datetime import UTC, datetime, timedelta
from typing import Any

from worker.policy import Policy, add_months, decide_json, load_policy

PAID_AT = datetime(2025, 4, 25, 9, 0, tzinfo=UTC)
Json = dict[str, Any]


def iso(moment: datetime | str) -> str:
    if isinstance(moment, str):
        return moment
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def build_line(
    id: str = "il_1",
    category: str = "plan",
    amount: int = 120000,
    interval: str | None = "year",
    period_start: datetime | str | None = None,
    period_end: datetime | str | None = None,
    consumed: bool = False,
    **extra: Any,
) -> Json:
    """One invoice line; the period runs from payment for one interval (zero-length if one-off)."""
    start = period_start if period_start is not None else PAID_AT
    if period_end is None:
        start_dt = datetime.fromisoformat(start) if isinstance(start, str) else start
        months = {"year": 12, "month": 1}.get(interval or "", 0)
        period_end = add_months(start_dt, months)
    return {
        "id": id,
        "category": category,
        "amount": amount,
        "interval": interval,
        "period_start": iso(start),
        "period_end": iso(period_end),
        "consumed": consumed,
        **extra,
    }


def build_facts(
    policy: str = "mittrik",
    *,
    lines: list[Json] | None = None,
    paid_at: datetime | str = PAID_AT,
    received_at: datetime | str | None = None,
    received_after: timedelta | None = None,
    reason: str = "requested_by_customer",
    line_ids: list[str] | None = None,
    support_override: bool | None = None,
    billing_reason: str = "subscription_create",
    currency: str = "usd",
    amount_paid: int | None = None,
    amount_refunded: int = 0,
    disputed: bool = False,
) -> Json:
    """A refund request on one paid invoice, as the contract's JSON."""
    lines = lines if lines is not None else [build_line()]
    if received_at is None:
        paid = datetime.fromisoformat(paid_at) if isinstance(paid_at, str) else paid_at
        received_at = paid + (received_after if received_after is not None else timedelta(days=6))
    request: Json = {"received_at": iso(received_at), "reason": reason, "line_ids": line_ids}
    if support_override is not None:
        request["support_override"] = support_override
    return {
        "policy": policy,
        "request": request,
        "invoice": {
            "id": "in_123",
            "number": "A1B2-0001",
            "customer": "cus_123",
            "currency": currency,
            "billing_reason": billing_reason,
            "paid_at": iso(paid_at),
            "amount_paid": amount_paid
            if amount_paid is not None
            else sum(line["amount"] for line in lines),
            "amount_refunded": amount_refunded,
            "disputed": disputed,
            "lines": lines,
        },
    }


def decide_on_annual_plan(
    policy: str,
    period: tuple[str, str],
    *,
    paid_at: datetime | str,
    received_at: datetime | str,
    **request: Any,
) -> Json:
    """The decision on a refund request for one annual plan line (120,000) over `period`, paid
    at `paid_at`: how the month-counting clauses are tested, at their edges."""
    plan = build_line(period_start=period[0], period_end=period[1])
    return decide_json(
        build_facts(policy, lines=[plan], paid_at=paid_at, received_at=received_at, **request)
    )


def worked_example() -> Json:
    """DESIGN.md's decision contract input, verbatim."""
    return {
        "policy": "mittrik",
        "request": {
            "received_at": "2025-05-01T10:00:00Z",
            "reason": "requested_by_customer",
            "line_ids": None,
        },
        "invoice": {
            "id": "in_123",
            "number": "A1B2-0001",
            "customer": "cus_123",
            "currency": "usd",
            "billing_reason": "subscription_create",
            "paid_at": "2025-04-25T09:00:00Z",
            "amount_paid": 120000,
            "amount_refunded": 0,
            "disputed": False,
            "lines": [
                {
                    "id": "il_1",
                    "category": "plan",
                    "amount": 120000,
                    "interval": "year",
                    "period_start": "2025-04-25T09:00:00Z",
                    "period_end": "2026-04-25T09:00:00Z",
                    "consumed": False,
                }
            ],
        },
    }


# The names tests use: `facts(...)`, `line(...)`, `example()`, and the two built-in policies.
facts = build_facts
line = build_line
example = worked_example
mittrik: Policy = load_policy("mittrik")
dmly: Policy = load_policy("dmly")


def line_verdict(decision: dict[str, Any]) -> str:
    """The decision's first line as one sentence: outcome, amount, clauses, then why."""
    first = decision["lines"][0]
    clauses = " ".join(first["clauses"])
    return f"{first['outcome']} {first['amount']} {clauses}: {first['explanation']}"
