"""The budget's arithmetic on an injected clock: pacing, endpoints, the wait cap, AIMD after 429."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from worker.config import Settings
from worker.stripe.budget import (
    BudgetExhausted,
    Rates,
    StripeBudget,
    endpoint_of,
)
from worker.stripe.budget.stores import MemoryStore

START = 1_800_000_000.0  # an epoch time: 0 means "never cut" to the buckets


class FakeClock:
    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def budget(clock: FakeClock, global_rate: float, endpoint_rate: float) -> StripeBudget:
    rates = Rates(global_per_second=global_rate, endpoint_per_second=endpoint_rate)
    return StripeBudget(MemoryStore(clock), rates, sleep=clock.sleep)


def sent_at(b: StripeBudget, clock: FakeClock, endpoints: list[str]) -> list[float]:
    """Each call's send time, calls made back to back by one caller."""
    times = []
    for endpoint in endpoints:
        b.wait_for_slot(endpoint)
        times.append(round(clock.now - START, 6))
    return times


def test_an_idle_budget_lets_a_short_burst_through_then_paces_calls_at_the_rate() -> None:
    clock = FakeClock()
    b = budget(clock, 25.0, 25.0)  # burst: 0.2 s worth = 5 calls
    times = sent_at(b, clock, ["POST /v1/refunds"] * 8)
    assert times == [0.0, 0.0, 0.0, 0.0, 0.0, 0.04, 0.08, 0.12]


def test_over_any_second_no_more_than_the_rate_plus_the_burst_go_out() -> None:
    clock = FakeClock()
    b = budget(clock, 50.0, 50.0)
    times = sent_at(b, clock, ["GET /v1/customers/{id}"] * 500)
    most = max(sum(1 for t in times if start <= t < start + 1.0) for start in times)
    assert most <= 50 + 10
    assert times[-1] == pytest.approx((500 - 10) / 50, abs=1e-3)


def test_one_endpoint_is_held_to_its_own_rate_while_another_uses_the_rest() -> None:
    clock = FakeClock()
    b = budget(clock, 100.0, 25.0)  # live: 100/s overall, 25/s per endpoint
    refunds = sent_at(b, clock, ["POST /v1/refunds"] * 40)
    assert refunds[-1] == pytest.approx((40 - 5) / 25, abs=1e-3)  # 5 at once, then 25/s
    gap = [b - a for a, b in zip(refunds[25:], refunds[26:], strict=False)]
    assert min(gap) == pytest.approx(0.04, abs=1e-5)
    # Another endpoint is not behind the refunds: only the global bucket spaces it.
    before = clock.now
    b.wait_for_slot("GET /v1/customers/{id}")
    assert clock.now - before <= 0.01


def test_a_call_whose_slot_is_too_far_away_gives_up_and_reserves_nothing() -> None:
    clock = FakeClock()
    rates = Rates(global_per_second=1.0, endpoint_per_second=1.0)
    b = StripeBudget(MemoryStore(clock), rates, sleep=lambda _s: None, max_wait=2.0)
    waits = [b.wait_for_slot("POST /v1/refunds") for _ in range(3)]
    assert waits == [0.0, 1.0, 2.0]
    with pytest.raises(BudgetExhausted):
        b.wait_for_slot("POST /v1/refunds")
    clock.now += 1.0  # the refused call took no slot: the next one is 2 s away, not 3
    assert b.wait_for_slot("POST /v1/refunds") == pytest.approx(2.0)


def test_a_global_rate_429_halves_the_rate_and_it_comes_back_gradually() -> None:
    clock = FakeClock()
    b = budget(clock, 20.0, 20.0)
    times = sent_at(b, clock, ["POST /v1/refunds"] * 6)
    assert times[-1] - times[-2] == pytest.approx(0.05)
    b.report_429("POST /v1/refunds", "global-rate")
    times = sent_at(b, clock, ["POST /v1/refunds"] * 3)
    assert times[2] - times[1] == pytest.approx(0.1, rel=0.02)  # half the rate: twice the spacing
    clock.now += 12.5  # half the way back (2 % of the rate per second)
    times = sent_at(b, clock, ["POST /v1/refunds"] * 12)
    assert times[-1] - times[-2] == pytest.approx(1 / (20 * 0.75), rel=0.05)
    clock.now += 30
    times = sent_at(b, clock, ["POST /v1/refunds"] * 12)
    assert times[-1] - times[-2] == pytest.approx(0.05)


def test_a_burst_of_429s_from_calls_in_flight_counts_once() -> None:
    clock = FakeClock()
    b = budget(clock, 20.0, 20.0)
    for _ in range(5):  # five calls sent together all come back 429
        b.report_429("POST /v1/refunds", "global-rate")
    times = sent_at(b, clock, ["POST /v1/refunds"] * 8)
    assert times[-1] - times[-2] == pytest.approx(0.1, rel=0.03)  # halved once, not 32 times


def test_repeated_429s_cut_again_after_the_cooldown_down_to_a_tenth() -> None:
    clock = FakeClock()
    b = budget(clock, 20.0, 20.0)
    for cut in range(10):
        clock.now += 2.0 if cut else 0.0
        b.report_429("POST /v1/refunds", "global-rate")
    times = sent_at(b, clock, ["POST /v1/refunds"] * 3)
    assert times[2] - times[1] == pytest.approx(1 / (20 * 0.1), rel=0.1)


def test_an_endpoint_429_slows_that_endpoint_only() -> None:
    clock = FakeClock()
    b = budget(clock, 100.0, 20.0)
    b.report_429("POST /v1/refunds", "endpoint-rate")
    refunds = sent_at(b, clock, ["POST /v1/refunds"] * 3)
    assert refunds[2] - refunds[1] == pytest.approx(0.1)
    customers = sent_at(b, clock, ["GET /v1/customers/{id}"] * 3)
    assert customers[2] - customers[1] < 0.1


@pytest.mark.parametrize("reason", ["resource-specific", "lock_timeout"])
def test_a_429_about_one_object_does_not_slow_the_account(reason: str) -> None:
    clock = FakeClock()
    b = budget(clock, 20.0, 20.0)
    b.report_429("POST /v1/subscriptions/{id}", reason)
    times = sent_at(b, clock, ["POST /v1/subscriptions/{id}"] * 8)
    assert times[-1] - times[-2] == pytest.approx(0.05)


@pytest.mark.parametrize(
    ("method", "url", "endpoint"),
    [
        ("post", "https://api.stripe.com/v1/refunds", "POST /v1/refunds"),
        ("get", "https://api.stripe.com/v1/customers/cus_NffrFeUfNV2Hib", "GET /v1/customers/{id}"),
        ("post", "http://127.0.0.1:1/v1/subscriptions/sub_bench_cus_bench000003",
         "POST /v1/subscriptions/{id}"),
        ("get", "https://api.stripe.com/v1/invoices/in_1Q2w/lines?limit=100",
         "GET /v1/invoices/{id}/lines"),
        ("post", "https://api.stripe.com/v1/invoices/in_1Q2w/pay", "POST /v1/invoices/{id}/pay"),
        ("get", "https://api.stripe.com/v1/invoice_payments?invoice=in_1",
         "GET /v1/invoice_payments"),
        ("delete", "https://api.stripe.com/v1/invoiceitems/ii_1Pq", "DELETE /v1/invoiceitems/{id}"),
    ],
)  # fmt: skip
def test_an_endpoint_is_the_method_and_the_path_without_object_ids(
    method: str, url: str, endpoint: str
) -> None:
    assert endpoint_of(method, url) == endpoint


def fake_live_key() -> str:
    return "sk_" + "live_" + "x" * 24  # built at run time: nothing in the tree looks like a key


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ({}, Rates(12.5, 12.5)),  # sandbox 25/s, half of it
        ({"stripe_api_key": fake_live_key(), "stripe_api_base": ""}, Rates(50.0, 12.5)),
        ({"stripe_rate_limit": 25, "stripe_rate_share": 1}, Rates(25.0, 25.0)),
        ({"stripe_rate_limit": 10, "stripe_rate_share": 1}, Rates(10.0, 10.0)),
        ({"stripe_rate_limit": 0}, None),
    ],
)
def test_rates_come_from_the_key_mode_the_limit_and_the_share(
    make_settings: Callable[..., Settings], values: dict[str, Any], expected: Rates | None
) -> None:
    if values.get("stripe_api_key", "").startswith("sk_live"):
        values = dict(values, app_env="production")
    assert Rates.from_settings(make_settings(**values)) == expected


def test_an_empty_rate_limit_in_the_environment_means_the_key_default(
    monkeypatch: pytest.MonkeyPatch, make_settings: Callable[..., Settings]
) -> None:
    monkeypatch.setenv("STRIPE_RATE_LIMIT", "")
    assert make_settings().stripe_rate_limit is None
