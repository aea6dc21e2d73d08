"""Benchmark 4: policy decisions per second, in-process on the pure engine, over a mix of facts.

The facts are parsed once; the loop times `decide(facts, policy)` alone, round robin over the
mix (both policies; annual, monthly and one-off lines; add-ons used and unused; inside and
outside the windows; a disputed payment; a partial request). The floor builds the same output,
a `Decision` with one `LineDecision` per requested line, without applying a rule: what any
engine must pay to answer at all. The whole contract (`decide_json`: parse, decide, JSON out)
is measured too, for `billing-worker decide` and the HTTP API.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from bench.report import Figure, at_least
from worker.policy import (
    Decision,
    Facts,
    LineDecision,
    decide,
    decide_json,
    load_policy,
    parse_facts,
)

PAID = datetime(2025, 4, 25, 9, 0, tzinfo=UTC)


@dataclass(frozen=True)
class DecideSizes:
    seconds: float = 3.0  # per figure


def _iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def _line(
    line_id: str,
    category: str,
    amount: int,
    interval: str | None,
    months: int,
    consumed: bool = False,
) -> dict[str, Any]:
    end = PAID + timedelta(days=30 * months)
    return {
        "id": line_id,
        "category": category,
        "amount": amount,
        "interval": interval,
        "period_start": _iso(PAID),
        "period_end": _iso(end),
        "consumed": consumed,
    }


def _facts(
    policy: str,
    days_after: float,
    lines: list[dict[str, Any]],
    *,
    reason: str = "requested_by_customer",
    disputed: bool = False,
    line_ids: list[str] | None = None,
    refunded: int = 0,
    billing_reason: str = "subscription_create",
) -> dict[str, Any]:
    return {
        "policy": policy,
        "request": {
            "received_at": _iso(PAID + timedelta(days=days_after)),
            "reason": reason,
            "line_ids": line_ids,
        },
        "invoice": {
            "id": "in_bench",
            "number": "BENCH-0001",
            "customer": "cus_bench",
            "currency": "usd",
            "billing_reason": billing_reason,
            "paid_at": _iso(PAID),
            "amount_paid": sum(line["amount"] for line in lines),
            "amount_refunded": refunded,
            "disputed": disputed,
            "lines": lines,
        },
    }


def facts_mix() -> list[dict[str, Any]]:
    """The contract's JSON for a spread of real requests."""
    annual = _line("il_plan", "plan", 120000, "year", 12)
    monthly = _line("il_plan_m", "plan", 10000, "month", 1)
    agents = _line("il_agents", "addon", 3000, "month", 1)
    agents_used = _line("il_agents_used", "addon", 3000, "month", 1, consumed=True)
    setup = _line("il_setup", "addon", 50000, None, 0)  # a one-off add-on (setup)
    usage = _line("il_usage", "usage", 2600, "month", 1)
    return [
        _facts("mittrik", 6, [annual]),
        _facts("mittrik", 40, [annual]),
        _facts("mittrik", 2, [monthly, agents, agents_used, usage]),
        _facts("mittrik", 1, [setup], reason="technical_issue"),
        _facts("mittrik", 3, [annual], disputed=True),
        _facts("dmly", 5, [monthly, agents]),
        _facts("dmly", 20, [annual, setup], line_ids=["il_plan"]),
        _facts(
            "dmly",
            1,
            [monthly],
            reason="technical_issue",
            refunded=4000,
            billing_reason="subscription_cycle",
        ),
    ]


def output_only(facts: Facts, policy: Any) -> Decision:
    """The floor: the decision's shape, no rule applied."""
    lines = tuple(LineDecision(line.id, "deny", 0, (), "") for line in facts.requested_lines())
    return Decision("deny", 0, facts.invoice.currency, policy.name, policy.version, (), lines, None)


def rate(call: Callable[[], Any], seconds: float) -> float:
    """Calls per second of `call`, in batches so the clock is read rarely."""
    done = 0
    started = time.perf_counter()
    deadline = started + seconds
    while (now := time.perf_counter()) < deadline or done == 0:
        for _ in range(100):
            call()
        done += 100
    return done / (now - started)


def measure(sizes: DecideSizes) -> dict[str, float]:
    raw = facts_mix()
    parsed = [parse_facts(document) for document in raw]
    policies = {name: load_policy(name) for name in ("mittrik", "dmly")}
    pairs = [(facts, policies[facts.policy]) for facts in parsed]
    for facts, policy in pairs:  # every facts document decides without error
        decide(facts, policy)
    count = len(pairs)
    state = {"i": 0}

    def next_index() -> int:
        state["i"] = (state["i"] + 1) % count
        return state["i"]

    def one_decide() -> None:
        facts, policy = pairs[next_index()]
        decide(facts, policy)

    def one_floor() -> None:
        facts, policy = pairs[next_index()]
        output_only(facts, policy)

    def one_contract() -> None:
        decide_json(raw[next_index()])

    return {
        "decide_per_second": rate(one_decide, sizes.seconds),
        "floor_per_second": rate(one_floor, sizes.seconds),
        "contract_per_second": rate(one_contract, sizes.seconds),
        "facts_documents": count,
    }


def figures(measured: dict[str, float]) -> list[Figure]:
    decided, floor = measured["decide_per_second"], measured["floor_per_second"]
    return [
        Figure(
            "decide",
            "decisions/s, parsed facts",
            round(decided),
            "/s",
            round(floor),
            "output only",
            "≥ 20,000/s",
            at_least(decided, 20000),
            detail=dict(measured),
        ),
        Figure(
            "decide",
            "decisions/s, JSON in and out",
            round(measured["contract_per_second"]),
            "/s",
            round(floor),
            "output only",
        ),
    ]
