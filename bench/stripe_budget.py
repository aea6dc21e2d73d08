"""Benchmark: a chargeback wave against Stripe's rate budget, with our budget and without it.

A burst of `charge.dispute.created` (fraudulent, Mittrik policy: suspend, M6.dispute) — 4 Stripe
calls each: subscriptions.list, subscriptions.update (pause collection), invoices.list (the open
invoices whose collection suspension stops), customers.update — is
processed by `billing-worker worker --concurrency 2` against stripe-mock behind
`bench/rate_limited_proxy.py`, which answers 429 (`global-rate`) beyond `limit` calls/s as
Stripe does. Run twice on a fresh database: with our budget set to the same limit
(STRIPE_RATE_LIMIT, STRIPE_RATE_SHARE=1), then without it (STRIPE_RATE_LIMIT=0), where workers
send at once, collect 429s and retry with Celery's back-off. The floor is calls ÷ limit: the
fastest the budget allows.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select

from bench import payloads
from bench.processing import Processing
from bench.rate_limited_proxy import RateLimitedProxy, paced_worker_env
from bench.report import Figure, at_most
from worker.config import Settings
from worker.db.models import Event, EventStatus

CALLS_PER_CHARGEBACK = 4


@dataclass(frozen=True)
class BudgetSizes:
    chargebacks: int = 5000  # issue 15's burst: 20,000 calls now (4 each), 800 s at 25/s
    limit: float = 25.0  # Stripe's sandbox limit, which the proxy enforces
    concurrency: int = 2  # Celery worker processes: enough to want more than the limit
    # The longest a phase may take; None: twice the floor and a minute. Unpaced retries back off
    # for minutes, so an unpaced wave may still be unfinished then: the figures count what is.
    timeout: float | None = None

    @property
    def floor_seconds(self) -> float:
        return self.chargebacks * CALLS_PER_CHARGEBACK / self.limit

    @property
    def wait_seconds(self) -> float:
        return self.timeout if self.timeout is not None else 2 * self.floor_seconds + 60


# Start the Celery worker with this environment; return a function that stops it.
StartWorker = Callable[[dict[str, str]], Callable[[], None]]


def paced_env(limit: float, paced: bool) -> dict[str, str]:
    return paced_worker_env(limit, limit) if paced else {"STRIPE_RATE_LIMIT": "0"}


def seed(proc: Processing, chargebacks: int, timeout: float) -> None:
    """The catalog, each customer, and the paid invoice each chargeback disputes."""
    proc.run(payloads.catalog_events(), timeout)
    customers = [payloads.customer_id(i) for i in range(chargebacks)]
    proc.run([payloads.customer_created(c) for c in customers], timeout)
    proc.run([payloads.invoice_paid(c) for c in customers], timeout)


def wave(proc: Processing, chargebacks: int, timeout: float) -> dict[str, Any]:
    """Queue every chargeback at once; wait until none is left `received`."""
    events = [payloads.dispute_created(payloads.customer_id(i)) for i in range(chargebacks)]
    ids = proc.store(events)
    started = time.monotonic()
    for event_id in ids:
        proc.enqueue(event_id)
    deadline = started + timeout
    while True:
        counts = _statuses(proc, ids)
        if not counts.get(EventStatus.RECEIVED) or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    seconds = time.monotonic() - started
    with proc.sessions() as session:
        attempts = session.scalar(select(func.sum(Event.attempts)).where(Event.id.in_(ids))) or 0
    return {
        "seconds": round(seconds, 1),
        "processed": counts.get(EventStatus.PROCESSED, 0),
        "failed": counts.get(EventStatus.FAILED, 0),
        "unfinished": counts.get(EventStatus.RECEIVED, 0),
        "task_retries": int(attempts) - len(ids),
    }


def _statuses(proc: Processing, ids: list[str]) -> dict[str, int]:
    with proc.sessions() as session:
        rows = session.execute(
            select(Event.status, func.count()).where(Event.id.in_(ids)).group_by(Event.status)
        ).all()
    return {str(status): count for status, count in rows}


def measure_once(
    settings: Settings,
    stripe_mock_url: str,
    start_worker: StartWorker,
    sizes: BudgetSizes,
    paced: bool,
    log: Callable[[str], None],
) -> dict[str, Any]:
    with RateLimitedProxy(stripe_mock_url, sizes.limit) as proxy:
        stop = start_worker({"STRIPE_API_BASE": proxy.url, **paced_env(sizes.limit, paced)})
        try:
            proc = Processing(settings)
            seed(proc, sizes.chargebacks, sizes.wait_seconds)
            time.sleep(1.5)  # seeding's calls, if any, leave the proxy's bucket full again
            forwarded, rejected = proxy.forwarded, proxy.rejected
            log(f"budget: {sizes.chargebacks} chargebacks, {'paced' if paced else 'unpaced'}")
            result = wave(proc, sizes.chargebacks, sizes.wait_seconds)
        finally:
            stop()
        result["calls_forwarded"] = proxy.forwarded - forwarded
        result["429s"] = proxy.rejected - rejected
        result["most_calls_in_one_second"] = proxy.most_in_any_window(1.0)
    return result


def figures(paced: dict[str, Any], unpaced: dict[str, Any], sizes: BudgetSizes) -> list[Figure]:
    floor = sizes.floor_seconds
    wave = f"{sizes.chargebacks:,} chargebacks at {sizes.limit:g}/s"
    detail = {"paced": paced, "unpaced": unpaced}
    return [
        Figure(
            "budget",
            f"seconds, {wave}, paced",
            paced["seconds"],
            "s",
            floor,
            "calls ÷ limit",
            "≤ 110 % of floor",
            at_most(paced["seconds"], floor * 1.1) if not paced["unfinished"] else False,
            detail=detail,
        ),
        Figure("budget", "429s received, paced", paced["429s"], "", target="0",
               met=paced["429s"] == 0),
        Figure("budget", "events failed, paced", paced["failed"], "", target="0",
               met=paced["failed"] == 0 and not paced["unfinished"]),
        Figure("budget", "task retries, paced", paced["task_retries"], ""),
        Figure("budget", f"seconds, {wave}, unpaced", unpaced["seconds"], "s", floor,
               "calls ÷ limit"),
        Figure("budget", "429s received, unpaced", unpaced["429s"], ""),
        Figure("budget", "events failed (+ unfinished), unpaced",
               unpaced["failed"] + unpaced["unfinished"], ""),
        Figure("budget", "task retries, unpaced", unpaced["task_retries"], ""),
    ]  # fmt: skip
