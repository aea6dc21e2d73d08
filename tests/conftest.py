"""Shared fixtures: settings, databases on SQLite and PostgreSQL, real servers, signed requests."""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any, TypeVar

import pytest
from harness.processes import ProcessGroup
from harness.servers import PostgresServer, RedisServer, StripeMock, pending_proration_mock
from hypothesis import settings
from signing import WEBHOOK_SECRET
from stripe_double import StripeDouble

from worker.config import Settings
from worker.db.migrate import upgrade

# In CI the same examples every run: a new counterexample is found locally, where the search is
# random, not as a red build on an unrelated change. `HYPOTHESIS_PROFILE` picks one by hand.
settings.register_profile("ci", derandomize=True, print_blob=True)
settings.register_profile("dev")
settings.load_profile(
    os.environ.get("HYPOTHESIS_PROFILE") or ("ci" if os.environ.get("CI") else "dev")
)


S = TypeVar("S")


def _one_per_run(server: Callable[[], AbstractContextManager[S]]) -> Any:
    """A session fixture: one such server, started when a test first asks, stopped at the end
    of the run. pytest names the fixture after the attribute it is assigned to."""

    def started() -> Iterator[S]:
        with server() as running:
            yield running

    return pytest.fixture(scope="session")(started)


redis_server = _one_per_run(RedisServer)
postgres_server = _one_per_run(PostgresServer)
stripe_mock = _one_per_run(StripeMock)


@pytest.fixture(scope="module")
def credit_proration_mock() -> Iterator[StripeMock]:
    """stripe-mock whose pending invoice item is the credit a portal downgrade leaves."""
    with pending_proration_mock("ii_portal_credit", -2500, "cus_portal", "sub_portal") as server:
        yield server


@pytest.fixture(scope="module")
def charge_proration_mock() -> Iterator[StripeMock]:
    """stripe-mock whose pending invoice item is the charge a portal upgrade leaves."""
    with pending_proration_mock("ii_portal_charge", 10000, "cus_portal", "sub_portal") as server:
        yield server


@pytest.fixture
def redis_url(redis_server: RedisServer) -> str:
    return redis_server.emptied()


@pytest.fixture
def processes(tmp_path: Path) -> Iterator[ProcessGroup]:
    """Our processes a test starts (logs in tmp_path), every one stopped when it ends."""
    with ProcessGroup(tmp_path) as group:
        yield group


@pytest.fixture
def pg_url(postgres_server: PostgresServer) -> str:
    url = postgres_server.create_database("t_" + secrets.token_hex(6))
    upgrade(url)
    return url


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'billing.sqlite3'}"
    upgrade(url)
    return url


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request: pytest.FixtureRequest) -> str:
    """Runs a test once on the embedded default and once on PostgreSQL."""
    return request.getfixturevalue(f"{'pg' if request.param == 'postgres' else 'sqlite'}_url")


@pytest.fixture
def make_settings(tmp_path: Path) -> Callable[..., Settings]:
    def make(**overrides: Any) -> Settings:
        values: dict[str, Any] = {
            "data_dir": tmp_path,
            "stripe_webhook_secrets": [WEBHOOK_SECRET],
            "broker_url": "memory://",
        }
        values.update(overrides)
        return Settings(_env_file=None, **values)  # type: ignore[call-arg]

    return make


@pytest.fixture
def runtime(make_settings: Callable[..., Settings], database_url: str, stripe_mock: StripeMock):
    """Handlers' runtime on the test database, talking to stripe-mock."""
    from worker.bootstrap import bootstrap

    return bootstrap(make_settings(database_url=database_url, stripe_api_base=stripe_mock.url))


@pytest.fixture
def service_env(tmp_path: Path, stripe_mock: StripeMock) -> Callable[..., dict[str, str]]:
    """Environment for a subprocess of ours (receiver, worker), isolated in tmp_path and
    talking to stripe-mock."""

    def env(**values: str) -> dict[str, str]:
        base = {k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_", "BROKER_"))}
        base.update(
            {
                "DATA_DIR": str(tmp_path),
                "STRIPE_WEBHOOK_SECRETS": WEBHOOK_SECRET,
                "STRIPE_API_BASE": stripe_mock.url,
                "STRIPE_API_KEY": "sk_test_123",
                "LOG_LEVEL": "INFO",
            }
        )
        base.update(values)
        return base

    return env


@pytest.fixture
def double() -> Iterator[StripeDouble]:
    """The stateful Stripe double (tests/stripe_double), on a free loopback port."""
    server = StripeDouble.start()
    yield server
    server.stop()
