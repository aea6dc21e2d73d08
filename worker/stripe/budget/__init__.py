"""Stripe's rate budget, shared by every process that calls Stripe (DESIGN.md guarantee 6).

Stripe allows an account 100 operations/s live and 25/s in a sandbox, and 25/s per endpoint
(method + path template, e.g. `POST /v1/subscriptions/{id}`). Before each request the gateway's
HTTP client asks `StripeBudget.wait_for_slot`, which reserves a slot on the global bucket and
the endpoint's bucket at once and sleeps until it; a 429 that still comes back cuts the rate
(`report_429`). We spend only `STRIPE_RATE_SHARE` of the limit: the rest of the company's
traffic shares the same account.
"""

from __future__ import annotations

import hashlib
import logging
import re
import time
from collections.abc import Callable
from dataclasses import KW_ONLY, dataclass
from pathlib import Path
from urllib.parse import urlsplit

from worker.config import Settings
from worker.errors import RetryableError
from worker.metrics import record_budget_cut, record_budget_problem, record_budget_wait
from worker.stripe.budget.stores import FileStore, RedisStore, Store

log = logging.getLogger(__name__)

ENDPOINT_DEFAULT_LIMIT = 25.0  # Stripe's per-endpoint default, live and sandbox alike
BURST_SECONDS = 0.2  # an idle budget lets 0.2 s worth of calls go back to back
# A call that would wait longer gives up (a retryable error) instead of holding its
# transaction and row lock: the task retries later, when the wave has passed.
MAX_WAIT_SECONDS = 10.0
# 429 reasons (Stripe-Rate-Limited-Reason) that say which bucket was over; `resource-specific`
# (one object's own limit) and a lock timeout say nothing about the account's rate.
GLOBAL_REASONS = ("global-rate", "global-concurrency")
ENDPOINT_REASONS = ("endpoint-rate", "endpoint-concurrency")
_LITERAL_SEGMENT = re.compile(r"v[0-9]+|[a-z_]+")  # the API version, names


class BudgetExhausted(RetryableError):
    """The next slot is further away than MAX_WAIT_SECONDS: retry the work later."""


def endpoint_of(method: str, url: str) -> str:
    """`POST /v1/subscriptions/{id}` for `post https://api.stripe.com/v1/subscriptions/sub_1Q..`.

    Resource and action names are lowercase words; object ids carry digits or capitals.
    """
    segments = urlsplit(url).path.strip("/").split("/")
    path = "/".join(s if _LITERAL_SEGMENT.fullmatch(s) else "{id}" for s in segments)
    return f"{method.upper()} /{path}"


def default_limit(api_key: str) -> float:
    """Stripe's global limit for the key's mode: 100/s live, 25/s in a sandbox."""
    return 100.0 if api_key.startswith(("sk_live_", "rk_live_")) else 25.0


@dataclass(frozen=True)
class Rates:
    global_per_second: float
    endpoint_per_second: float

    @classmethod
    def from_settings(cls, settings: Settings) -> Rates | None:
        """What this worker may spend, or None when pacing is off (STRIPE_RATE_LIMIT=0)."""
        limit = settings.stripe_rate_limit
        if limit is None:
            limit = default_limit(settings.stripe_api_key)
        if limit == 0:
            return None
        endpoint = min(settings.stripe_endpoint_rate_limit, limit)
        share = settings.stripe_rate_share
        return cls(limit * share, endpoint * share)


@dataclass
class StripeBudget:
    store: Store
    rates: Rates
    _: KW_ONLY
    sleep: Callable[[float], None] = time.sleep
    max_wait: float = MAX_WAIT_SECONDS

    def wait_for_slot(self, endpoint: str) -> float:
        """Sleep until this call fits the global and the endpoint's budget; return the wait."""
        try:
            wait = self.store.reserve(
                ["global", "endpoint:" + endpoint],
                [self.rates.global_per_second, self.rates.endpoint_per_second],
                burst_seconds=BURST_SECONDS,
                max_wait=self.max_wait,
            )
        except Exception as exc:  # noqa: BLE001 - the budget's store down must not stop Stripe calls
            log.warning("Stripe budget unavailable, calling unpaced: %s", type(exc).__name__)
            record_budget_problem("unavailable")
            return 0.0
        if wait is None:
            record_budget_problem("exhausted")
            raise BudgetExhausted(
                f"Stripe budget: {endpoint} has no slot within {self.max_wait:.0f} s"
            )
        if wait > 0:
            self.sleep(wait)
        record_budget_wait(wait)
        return wait

    def report_429(self, endpoint: str, reason: str | None) -> None:
        """Slow down the bucket a 429 blames: the endpoint's, else the account's."""
        if reason in ENDPOINT_REASONS:
            key = "endpoint:" + endpoint
        elif reason in GLOBAL_REASONS or not reason:
            key = "global"
        else:
            return
        try:
            if self.store.slow_down(key):
                record_budget_cut(key.split(":", 1)[0])
                log.warning("Stripe answered 429 (%s) on %s: rate cut", reason or "-", endpoint)
        except Exception as exc:  # noqa: BLE001 - as above: fail open
            log.warning("Stripe budget unavailable, rate not cut: %s", type(exc).__name__)


def account_prefix(api_key: str) -> str:
    """Redis key prefix per Stripe account and mode, without the key itself."""
    return "billing:stripe-budget:" + hashlib.sha256(api_key.encode()).hexdigest()[:12] + ":"


def budget_from_settings(settings: Settings) -> StripeBudget | None:
    """The shared budget for these settings, or None when pacing is off."""
    rates = Rates.from_settings(settings)
    if rates is None:
        return None
    url = settings.effective_stripe_rate_limit_url
    if url.startswith(("redis://", "rediss://")):
        store: Store = RedisStore.from_url(url, account_prefix(settings.stripe_api_key))
    else:
        store = FileStore(Path(url.removeprefix("sqlite:///")))
    return StripeBudget(store, rates)
