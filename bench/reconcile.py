"""Benchmark: one whole `billing-worker reconcile` over many customers, paced by Stripe's budget.

`customers` customers are stored (the customers table, as `customer.created` leaves it), then
`billing-worker reconcile --format json` compares every one, as an operator or the schedule runs
it, against stripe-mock behind `bench/rate_limited_proxy.py` (429 beyond `limit` calls/s, as
Stripe answers), with our budget set to Stripe's limits (`STRIPE_RATE_LIMIT`, 25/s an endpoint,
`STRIPE_RATE_SHARE=1`). The proxy counts each request by endpoint (method and path, ids
removed): the calls per customer are counted, not assumed, and set against the number
docs/reconcile.md states. stripe-mock answers every customer with one page of its fixtures (an
active subscription, a charge neither disputed nor refunded): the reads every customer costs.

The floor is what the budget allows: the calls ÷ the global limit, or the busiest endpoint's
calls ÷ 25/s, whichever is longer. A run reads one customer, its subscriptions and its charges,
so each of those three endpoints serves one call per customer and bounds the run at
customers ÷ 25 seconds, whatever the global limit.
"""

from __future__ import annotations

import json
import re
import subprocess
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

from sqlalchemy import insert

from bench.rate_limited_proxy import RateLimitedProxy, paced_worker_env
from bench.report import Figure, at_most
from tests.harness.forwarding_proxy import Answer
from tests.harness.processes import CLI
from worker.db.models import Customer
from worker.db.session import session_factory

# docs/reconcile.md, "What a run costs at Stripe": an active customer with no dispute and no
# refund costs 3 reads (the customer, its subscriptions, its charges).
STATED_CALLS_PER_CUSTOMER = 3
ENDPOINT_LIMIT = 25.0  # Stripe's per-endpoint default, live and sandbox alike
_ID_SEGMENT = re.compile(r"/[a-z]+_[A-Za-z0-9_]+")


@dataclass(frozen=True)
class ReconcileSizes:
    customers: int = 10_000
    limit: float = 100.0  # Stripe's live limit, which the proxy enforces
    # The longest the run may take; None: twice the floor and two minutes.
    timeout: float | None = None

    @property
    def floor_seconds(self) -> float:
        """The stated calls at the budget: the global limit, or one endpoint's 25/s."""
        calls = self.customers * STATED_CALLS_PER_CUSTOMER
        return max(calls / self.limit, self.customers / ENDPOINT_LIMIT)

    @property
    def wait_seconds(self) -> float:
        return self.timeout if self.timeout is not None else 2 * self.floor_seconds + 120


class CountingProxy(RateLimitedProxy):
    """The rate-limited proxy, counting forwarded requests by endpoint."""

    def __init__(self, upstream: str, rate: float) -> None:
        super().__init__(upstream, rate)
        self.endpoints: Counter[str] = Counter()
        # The handler writes headers and body apart: with Nagle's algorithm on, the body waits
        # for the client's delayed ACK (40 ms a call), which one sequential run would measure.
        self.server.RequestHandlerClass.disable_nagle_algorithm = True  # type: ignore[attr-defined]

    def refuse(self, request: BaseHTTPRequestHandler) -> Answer | None:
        refused = super().refuse(request)
        if refused is None:
            path = _ID_SEGMENT.sub("/{id}", request.path.split("?", 1)[0])
            with self._lock:
                self.endpoints[f"{request.command} {path}"] += 1
        return refused


def customer_id(index: int) -> str:
    return f"cus_bench_reconcile_{index:06d}"


def seed(database_url: str, customers: int) -> None:
    """The customers, as their `customer.created` events stored them, in batches."""
    sessions = session_factory(database_url)
    rows = [{"account": "", "id": customer_id(i), "email": None} for i in range(customers)]
    with sessions.begin() as session:
        for start in range(0, len(rows), 1000):
            session.execute(insert(Customer), rows[start : start + 1000])


def measure(
    env: dict[str, str],
    database_url: str,
    stripe_mock_url: str,
    workdir: Path,
    sizes: ReconcileSizes,
    log: Callable[[str], None],
) -> dict[str, Any]:
    seed(database_url, sizes.customers)
    with CountingProxy(stripe_mock_url, sizes.limit) as proxy:
        run_env = {
            **env,
            "DATABASE_URL": database_url,
            "STRIPE_API_BASE": proxy.url,
            **paced_worker_env(sizes.limit, ENDPOINT_LIMIT),
        }
        log(f"reconcile: {sizes.customers:,} customers at {sizes.limit:g}/s")
        started = time.monotonic()
        ran = subprocess.run(
            [*CLI, "reconcile", "--format", "json"],
            env=run_env,
            cwd=workdir,
            capture_output=True,
            text=True,
            timeout=sizes.wait_seconds,  # bounded: a run that hangs fails the benchmark
        )
        seconds = time.monotonic() - started
    if ran.returncode not in (0, 1):
        raise RuntimeError(f"reconcile exited {ran.returncode}: {ran.stderr[-2000:]}")
    report = json.loads(ran.stdout)
    calls = proxy.forwarded
    busiest = max(proxy.endpoints.values(), default=0)
    return {
        "seconds": round(seconds, 2),
        "exit_code": ran.returncode,
        "customers_checked": report["customers_checked"],
        "found": len(report["found"]),
        "customers_not_done": len(report["errors"]),
        "calls": calls,
        "calls_by_endpoint": dict(sorted(proxy.endpoints.items())),
        "429s": proxy.rejected,
        "most_calls_in_one_second": proxy.most_in_any_window(1.0),
        # What the budget allows for the calls made: the global limit or the busiest endpoint.
        "floor_seconds": round(max(calls / sizes.limit, busiest / ENDPOINT_LIMIT), 2),
    }


def figures(measured: dict[str, Any], sizes: ReconcileSizes) -> list[Figure]:
    checked = max(measured["customers_checked"], 1)
    per_customer = measured["calls"] / checked
    floor = measured["floor_seconds"] or sizes.floor_seconds
    detail = {"run": measured}
    return [
        Figure(
            "reconcile",
            f"seconds, {sizes.customers:,} customers at {sizes.limit:g}/s",
            measured["seconds"],
            "s",
            floor,
            "calls ÷ budget",
            "≤ 110 % of floor",
            at_most(measured["seconds"], floor * 1.1),
            detail=detail,
        ),
        Figure(
            "reconcile",
            "Stripe calls per customer",
            round(per_customer, 3),
            "",
            STATED_CALLS_PER_CUSTOMER,
            "stated in docs/reconcile.md",
            f"≤ {STATED_CALLS_PER_CUSTOMER}",
            at_most(per_customer, STATED_CALLS_PER_CUSTOMER),
            detail={"calls_by_endpoint": measured["calls_by_endpoint"]},
        ),
        Figure("reconcile", "429s received", measured["429s"], "", target="0",
               met=measured["429s"] == 0),
        Figure("reconcile", "customers not done", measured["customers_not_done"], "",
               target="0", met=measured["customers_not_done"] == 0),
    ]  # fmt: skip
