"""Fixtures of every fault test: the time limit each runs under, and a stack on the suite's
PostgreSQL and Redis, closed after the test."""

from __future__ import annotations

import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fault_stack import Stack


@pytest.fixture(autouse=True)
def time_limit(request: pytest.FixtureRequest) -> Iterator[None]:
    """Fail a fault test that runs past its bound (`@pytest.mark.bound(seconds)`, default 90 s)
    instead of hanging the suite; what the test started is still stopped after it."""
    marker = request.node.get_closest_marker("bound")
    seconds = marker.args[0] if marker else 90

    def expire(_signum: int, _frame: Any) -> None:
        raise TimeoutError(f"fault test ran past its {seconds} s bound")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


@pytest.fixture
def stack(tmp_path: Path, pg_url: str, redis_url: str, service_env) -> Iterator[Stack]:
    """Nothing started yet: the test starts the receiver and workers it needs."""
    with Stack(tmp_path, service_env(DATABASE_URL=pg_url, BROKER_URL=redis_url), pg_url) as stack:
        yield stack
