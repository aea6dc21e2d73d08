"""The processes a benchmark runs against, on loopback only, each stopped when the run ends.

Servers (Redis, PostgreSQL, stripe-mock) come from `bench/servers.py`, the same launchers as
the test suite. Our own processes run exactly as an operator runs them: the receiver with
`billing-worker serve --workers 2`, the Celery worker with `billing-worker worker --concurrency 2`.
The floor's bare Flask app runs under gunicorn with the same config module and worker count.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import requests

from bench.servers import PostgresServer, RedisServer, StripeMock, free_port
from worker.cli.services import GUNICORN_CONFIG
from worker.db.migrate import upgrade

REPO = Path(__file__).resolve().parent.parent
CLI = [sys.executable, "-m", "worker.cli"]
WEBHOOK_SECRET = "whsec_bench_" + "0123456789abcdef" * 2
STOP_TIMEOUT = 20.0


@dataclass
class Run:
    """One benchmark run's working directory, its processes and their logs."""

    workdir: Path
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def spawn(self, args: list[str], env: dict[str, str], log_name: str) -> subprocess.Popen[bytes]:
        log = open(self.workdir / log_name, "ab")  # noqa: SIM115 - closed by the child's exit
        process = subprocess.Popen(
            args, env=env, cwd=REPO, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        log.close()  # the child holds its own descriptor
        self.processes.append(process)
        return process

    def stop(self, process: subprocess.Popen[bytes]) -> None:
        """SIGTERM the process (gunicorn and Celery stop their children), then wait for it."""
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, 9)  # its own session: only this process and its children
                process.wait()
        if process in self.processes:
            self.processes.remove(process)

    def stop_all(self) -> None:
        for process in reversed(list(self.processes)):
            self.stop(process)


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


def wait_ready(url: str, process: subprocess.Popen[bytes], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{process.args} exited with {process.returncode} before ready")
        try:
            if requests.get(url, timeout=1).ok:
                return
        except requests.RequestException:
            pass
        time.sleep(0.1)
    raise TimeoutError(f"{url} not ready after {timeout}s")


def receiver(run: Run, env: dict[str, str], *, bare: bool = False, workers: int = 2) -> str:
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
    else:
        process = run.spawn([*CLI, "serve", "--workers", str(workers)], env, "receiver.log")
    wait_ready(f"http://127.0.0.1:{port}/healthz", process)
    return f"http://127.0.0.1:{port}/webhooks/stripe"


def celery_worker(run: Run, env: dict[str, str], concurrency: int = 2) -> subprocess.Popen[bytes]:
    return run.spawn([*CLI, "worker", "--concurrency", str(concurrency)], env, "worker.log")


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
            found.redis = RedisServer()
            found.redis.start()
            stack.callback(found.redis.stop)
        if postgres:
            found.postgres = PostgresServer(durable=True)
            stack.callback(found.postgres.remove)
            found.postgres.start()
        if stripe:
            found.stripe_mock = StripeMock(stripe_fixtures)
            found.stripe_mock.start()
            stack.callback(found.stripe_mock.stop)
        yield found


@contextlib.contextmanager
def run_dir(base: Path) -> Iterator[Run]:
    base.mkdir(parents=True, exist_ok=True)
    run = Run(base)
    try:
        yield run
    finally:
        run.stop_all()
