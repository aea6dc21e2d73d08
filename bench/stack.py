"""The processes a benchmark runs against, on loopback only, each stopped when the run ends.

Servers (Redis, PostgreSQL, stripe-mock) and our processes start through the test suite's
harness (`tests/harness`), the same launchers the tests use. Our own processes run exactly as an
operator runs them: the receiver with `billing-worker serve --workers 2`, the Celery worker with
`billing-worker worker --concurrency 2`. The floor's bare Flask app runs under gunicorn with the
same config module and worker count.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from tests.harness.processes import STARTUP_TIMEOUT, ProcessGroup, wait_http_ok
from tests.harness.servers import PostgresServer, RedisServer, StripeMock, free_port
from worker.cli.services import GUNICORN_CONFIG
from worker.db.migrate import upgrade

REPO = Path(__file__).resolve().parent.parent
WEBHOOK_SECRET = "whsec_bench_" + "0123456789abcdef" * 2


def service_env(workdir: Path, **values: str) -> dict[str, str]:
    """The environment of our processes: isolated in `workdir`, signed with the bench secret."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("DATABASE_", "BROKER_", "STRIPE_", "PROMETHEUS_", "OPS_"))
    }
    env.update(
        {
            "DATA_DIR": str(workdir / "data"),
            "STRIPE_WEBHOOK_SECRETS": WEBHOOK_SECRET,
            "STRIPE_API_KEY": "sk_test_bench",
            "HOST": "127.0.0.1",
            "LOG_LEVEL": "INFO",  # as in production: the cost of logging is part of the figure
            "APP_ENV": "development",
            "BILLING_POLICY": "mittrik",
            "PYTHONPATH": str(REPO),
        }
    )
    env.update(values)
    return env


def receiver(
    run: ProcessGroup, env: dict[str, str], *, bare: bool = False, workers: int = 2
) -> str:
    """Start the receiver (or the bare floor app) under gunicorn; return its webhook URL."""
    port = free_port()
    env = dict(env, PORT=str(port))
    if bare:
        args = [
            sys.executable, "-m", "gunicorn",
            "--config", GUNICORN_CONFIG,
            "--workers", str(workers),
            "--bind", f"127.0.0.1:{port}",
            "bench.bare_app:create_app()",
        ]  # fmt: skip
        process = run.spawn(args, env, "bare.log")
        wait_http_ok(f"http://127.0.0.1:{port}/healthz", timeout=STARTUP_TIMEOUT, process=process)
    else:
        run.receiver(env, workers=workers, log_name="receiver.log")
    return f"http://127.0.0.1:{port}/webhooks/stripe"


def celery_worker(
    run: ProcessGroup, env: dict[str, str], concurrency: int = 2
) -> subprocess.Popen[bytes]:
    return run.worker(env, concurrency=concurrency)


@dataclass
class Services:
    redis: RedisServer | None = None
    postgres: PostgresServer | None = None
    stripe_mock: StripeMock | None = None

    def database(self) -> str:
        """A fresh, migrated database on the PostgreSQL server."""
        assert self.postgres is not None
        url = self.postgres.create_database("bench_" + secrets.token_hex(4))
        upgrade(url)
        return url


@contextlib.contextmanager
def services(
    *,
    redis: bool = True,
    postgres: bool = True,
    stripe_fixtures: dict | None = None,
    stripe: bool = True,
) -> Iterator[Services]:
    """Start the servers asked for; stop every one of them however the block ends."""
    with contextlib.ExitStack() as stack:
        found = Services()
        if redis:
            found.redis = stack.enter_context(RedisServer())
        if postgres:
            found.postgres = stack.enter_context(PostgresServer(durable=True))
        if stripe:
            found.stripe_mock = stack.enter_context(StripeMock(stripe_fixtures))
        yield found


@contextlib.contextmanager
def run_dir(base: Path) -> Iterator[ProcessGroup]:
    # Run from the checkout, where gunicorn imports the floor's `bench.bare_app`.
    with ProcessGroup(base, cwd=REPO) as run:
        yield run
