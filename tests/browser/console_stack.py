"""The running system the browser tests drive: `billing-worker serve` (gunicorn) and a Celery
worker of ours on real PostgreSQL and Redis, stripe-mock as Stripe; and Debian's chromium
driven by Playwright (never `playwright install`: the browser comes from apt).
"""

from __future__ import annotations

import contextlib
import math
import os
import random
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

from console_support import OPS_TOKEN
from harness.deliveries import deliver, wait_handled
from harness.processes import ProcessGroup
from harness.servers import PostgresServer, RedisServer, StripeMock, free_port
from signing import WEBHOOK_SECRET

from worker import samples
from worker.db.migrate import upgrade
from worker.db.models import Event, utcnow
from worker.db.session import session_factory

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"
STEP_TIMEOUT_MS = 15_000  # any one browser step; a test never waits longer for a page


@dataclass
class ConsoleStack:
    tmp: Path
    env: dict[str, str]
    database_url: str
    port: int
    processes: ProcessGroup

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def sessions(self):  # noqa: ANN201 - sessionmaker
        return session_factory(self.database_url)

    def deliver(self, event_type: str, obj: dict[str, Any]) -> tuple[str, str]:
        """Post a signed event as Stripe does and wait for the worker: (event id, status)."""
        evt = samples.event(event_type, obj)
        response = deliver(f"{self.base_url}/webhooks/stripe", evt, WEBHOOK_SECRET, timeout=10)
        assert response.status_code == 200, response.text
        return evt["id"], wait_handled(self.database_url, evt["id"]).status

    def close(self) -> None:
        self.processes.stop_all()


def start_console_stack(
    tmp: Path, postgres: PostgresServer, redis_server: RedisServer, stripe_mock: StripeMock
) -> ConsoleStack:
    """A fresh database, an empty broker, and our receiver and worker processes on them."""
    broker_url = redis_server.emptied()
    database_url = postgres.create_database("console_" + secrets.token_hex(6))
    upgrade(database_url)
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_", "BROKER_"))}
    env |= {
        "DATA_DIR": str(tmp),
        "DATABASE_URL": database_url,
        "BROKER_URL": broker_url,
        "STRIPE_WEBHOOK_SECRETS": WEBHOOK_SECRET,
        "STRIPE_API_BASE": stripe_mock.url,
        "STRIPE_API_KEY": "sk_test_123",
        "BILLING_POLICY": "mittrik",
        "OPS_API_TOKEN": OPS_TOKEN,
        "PORT": str(port),
        "LOG_LEVEL": "INFO",
    }
    stack = ConsoleStack(tmp, env, database_url, port, ProcessGroup(tmp))
    try:
        stack.processes.worker(env)
        stack.processes.receiver(env)
    except BaseException:
        stack.close()
        raise
    return stack


@contextlib.contextmanager
def chromium() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


# What the last two days looked like: types with a handler ended processed, others ignored, and
# some failed when their worker gave up (the failed ones are of types without a handler, so a
# replay ends them `ignored` without calling Stripe).
HISTORY_PROCESSED = ("invoice.paid", "customer.updated", "customer.subscription.updated")
HISTORY_IGNORED = ("balance.available", "payout.paid", "payment_intent.created")
HISTORY_ERROR = "OperationalError: database unavailable (gave up after 8 retries)"


def seed_history(sessions: Any, *, hours: int = 47, failed: int = 30, seed: int = 9) -> int:
    """Store events spread over the past `hours`, as a past run left them; return how many.

    One transaction of plain rows: the chart and the tables only read them.
    """
    rng = random.Random(seed)
    now = utcnow()
    failed_hours = set(rng.sample(range(2, hours), k=min(6, hours - 2)))
    rows = []
    for back in range(1, hours + 1):
        hour_start = now.replace(minute=0, second=0, microsecond=0) - timedelta(hours=back)
        busy = 4 + int(6 * (1 + math.sin((hour_start.hour - 9) / 24 * 2 * math.pi)))
        statuses = ["processed"] * busy + ["ignored"] * rng.randint(0, 3)
        if back in failed_hours:
            statuses += ["failed"] * (failed // len(failed_hours))
        for status in statuses:
            received = hour_start + timedelta(seconds=rng.randint(0, 3599))
            kind = rng.choice(HISTORY_PROCESSED if status == "processed" else HISTORY_IGNORED)
            evt = samples.event(kind, {"id": samples.new_id("obj"), "object": kind.split(".")[0]})
            rows.append(
                Event(
                    id=evt["id"],
                    type=kind,
                    created=received,
                    livemode=False,
                    api_version=evt["api_version"],
                    payload=samples.body(evt),
                    received_at=received,
                    enqueued_at=received,
                    processed_at=None if status == "failed" else received,
                    status=status,
                    attempts=9 if status == "failed" else 1,
                    last_error=HISTORY_ERROR if status == "failed" else None,
                )
            )
    with sessions.begin() as session:
        session.add_all(rows)
    return len(rows)


def screenshot(page: Any, name: str, *, full_page: bool = True) -> Path:
    """Keep what the page looked like, for a person reading a CI run (not committed)."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"console-{name}.png"
    page.screenshot(path=str(path), full_page=full_page)
    return path
