"""The budget shared by processes (real Redis, and the embedded SQLite file), and the gateway
pacing its calls to stripe-mock behind a proxy that answers 429 as Stripe does."""

from __future__ import annotations

import multiprocessing
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import redis
from prometheus_client import REGISTRY

from bench.rate_limited_proxy import RateLimitedProxy
from worker.config import Settings
from worker.errors import RetryableError
from worker.stripe.budget import BURST_SECONDS, Rates, StripeBudget, gcra
from worker.stripe.budget.stores import FileStore, MemoryStore, RedisStore, Store
from worker.stripe.client import build_client
from worker.stripe.gateway import StripeGateway

pytestmark = pytest.mark.services

RATE = 20.0
ENDPOINT = "POST /v1/subscriptions/{id}"


def open_store(kind: str, where: str) -> Store:
    if kind == "redis":
        return RedisStore.from_url(where, "test:")
    return FileStore(Path(where))


def grant_slots(kind: str, where: str, seconds: float, out: multiprocessing.Queue) -> None:
    """In a process of its own: take slots as fast as the budget allows; report when each was."""
    budget = StripeBudget(open_store(kind, where), Rates(RATE, RATE))
    slots = []
    deadline = time.time() + seconds
    while time.time() < deadline:
        asked = time.time()
        slots.append(asked + budget.wait_for_slot(ENDPOINT))
    out.put(slots)


def most_in_any_second(times: list[float]) -> int:
    times = sorted(times)
    return max(sum(1 for t in times if start <= t < start + 1.0) for start in times)


@pytest.mark.parametrize("kind", ["redis", "file"])
def test_two_processes_sharing_the_budget_never_exceed_its_rate(
    kind: str, redis_url: str, tmp_path: Path
) -> None:
    where = redis_url if kind == "redis" else str(tmp_path / "stripe_budget.sqlite3")
    spawn = multiprocessing.get_context("fork")
    out = spawn.Queue()
    workers = [spawn.Process(target=grant_slots, args=(kind, where, 3.0, out)) for _ in range(2)]
    for worker in workers:
        worker.start()
    granted = [out.get(timeout=60) for _ in workers]
    for worker in workers:
        worker.join(timeout=10)
    every = granted[0] + granted[1]
    # Each process alone would take 20/s; together they stay within 20/s plus the idle burst.
    assert most_in_any_second(every) <= RATE + RATE * BURST_SECONDS + 1
    assert len(every) >= RATE * 3.0 * 0.5  # the budget was spent, not merely refused
    assert min(len(g) for g in granted) >= len(every) * 0.25  # both processes got slots


def test_the_redis_script_does_the_same_arithmetic_as_the_python_one(redis_url: str) -> None:
    now = [1_800_000_000.0]
    memory = MemoryStore(lambda: now[0])
    shared = RedisStore(redis.Redis.from_url(redis_url), "parity:", now=lambda: now[0])
    keys, rates = ["global", "endpoint:" + ENDPOINT], [50.0, 20.0]
    for step in range(60):
        if step in (20, 21, 45):
            assert memory.slow_down("global") == shared.slow_down("global")
        waits = [
            store.reserve(keys, rates, burst_seconds=0.2, max_wait=1.0)
            for store in (memory, shared)
        ]
        if waits[0] is None:
            assert waits[1] is None
        else:
            assert waits[1] == pytest.approx(waits[0], abs=1e-5)
        now[0] += 0.013


def test_a_429_seen_by_one_process_slows_every_other(redis_url: str) -> None:
    now = 1_800_000_000.0  # one clock for both, so slots compare exactly: no one sleeps here

    def client_of_its_own() -> StripeBudget:  # another process is another Redis client
        store = RedisStore(redis.Redis.from_url(redis_url), "aimd:", now=lambda: now)
        return StripeBudget(store, Rates(RATE, RATE), sleep=lambda _s: None)

    seen, other = client_of_its_own(), client_of_its_own()

    def spacing() -> float:
        """Between the last two of 10 slots asked back to back (they queue up)."""
        waits = [other.wait_for_slot(ENDPOINT) for _ in range(10)]
        return waits[-1] - waits[-2]

    assert spacing() == pytest.approx(1 / RATE, rel=0.01)
    now += 60.0  # idle again
    seen.report_429(ENDPOINT, "global-rate")
    assert spacing() == pytest.approx(2 / RATE, rel=0.01)


# The gateway on stripe-mock -----------------------------------------------------------------


def sample(name: str, labels: dict[str, str]) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def read_customers(client: object, calls: int, threads: int) -> list[Exception]:
    """`calls` gateway reads from `threads` threads at once, as worker processes would."""
    errors: list[Exception] = []

    def work() -> None:
        gateway = StripeGateway(client, None, "evt_budget")  # type: ignore[arg-type]
        for _ in range(calls // threads):
            try:
                gateway.customer("cus_Budget1")
            except RetryableError as exc:
                errors.append(exc)

    pool = [threading.Thread(target=work) for _ in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    return errors


def test_the_gateway_waits_for_a_slot_before_each_call_and_gets_no_429(
    stripe_mock: object, make_settings: Callable[..., Settings]
) -> None:
    sent = {"endpoint": "GET /v1/customers/{id}", "outcome": "ok"}
    sent_before = sample("billing_stripe_requests_total", sent)
    waits_before = sample("billing_stripe_budget_wait_seconds_count", {})
    with RateLimitedProxy(stripe_mock.url, rate=10) as proxy:  # type: ignore[attr-defined]
        settings = make_settings(
            stripe_api_base=proxy.url, stripe_rate_limit=10, stripe_rate_share=1
        )
        errors = read_customers(build_client(settings), calls=30, threads=3)
    assert errors == []
    assert proxy.rejected == 0
    assert proxy.forwarded == 30
    # Arrivals, not slots: a loaded machine may delay a request into the next one's second.
    assert proxy.most_in_any_window(1.0) <= 10 + 2 + 3
    # /metrics: each request counted by its endpoint, each after its wait for a slot.
    assert sample("billing_stripe_requests_total", sent) - sent_before == 30
    assert sample("billing_stripe_budget_wait_seconds_count", {}) - waits_before == 30


def test_without_the_budget_the_same_calls_collect_429s(
    stripe_mock: object, make_settings: Callable[..., Settings]
) -> None:
    with RateLimitedProxy(stripe_mock.url, rate=10) as proxy:  # type: ignore[attr-defined]
        settings = make_settings(stripe_api_base=proxy.url, stripe_rate_limit=0)
        errors = read_customers(build_client(settings), calls=30, threads=3)
    assert proxy.rejected > 0
    assert len(errors) == proxy.rejected  # each 429 is a retryable error for the task


def test_a_429_from_stripe_is_retryable_counted_and_slows_the_budget(
    stripe_mock: object, make_settings: Callable[..., Settings]
) -> None:
    limited = {"endpoint": "GET /v1/customers/{id}", "reason": "global-rate"}
    before = sample("billing_stripe_rate_limited_total", limited)
    store = MemoryStore()
    budget = StripeBudget(store, Rates(1000.0, 1000.0))  # the proxy's budget is smaller
    with RateLimitedProxy(stripe_mock.url, rate=2) as proxy:  # type: ignore[attr-defined]
        client = build_client(make_settings(stripe_api_base=proxy.url), budget=budget)
        errors = read_customers(client, calls=6, threads=1)
    assert proxy.rejected >= 1 and len(errors) == proxy.rejected
    assert sample("billing_stripe_rate_limited_total", limited) - before == proxy.rejected
    assert gcra.factor(store.buckets["global"], time.time()) == pytest.approx(0.5, abs=0.02)
