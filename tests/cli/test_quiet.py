"""A command prints what it was asked for: alembic's steps and stripe-python's line per request
stay out of its output unless `-v` (LOG_VERBOSE) or LOG_LEVEL=DEBUG asks for them."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable

import pytest

ALEMBIC = '"logger": "alembic.'
STRIPE = "Request to Stripe api"


def cli(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "worker.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture
def env(service_env: Callable[..., dict[str, str]]) -> dict[str, str]:
    environment = service_env()
    environment.pop("LOG_VERBOSE", None)
    return environment


def test_db_upgrade_prints_its_result_and_not_alembics_steps(env: dict[str, str]) -> None:
    done = cli(["db", "upgrade"], env)
    assert done.returncode == 0, done.stderr
    assert done.stdout == "database schema is up to date\n"
    assert ALEMBIC not in done.stderr, done.stderr


@pytest.mark.parametrize(
    "how", [["-v"], ["--verbose"], {"LOG_VERBOSE": "1"}, {"LOG_LEVEL": "DEBUG"}], ids=str
)
def test_verbose_or_debug_shows_alembics_steps(
    env: dict[str, str], how: list[str] | dict[str, str]
) -> None:
    args, extra = (how, {}) if isinstance(how, list) else ([], how)
    done = cli([*args, "db", "upgrade"], env | extra)
    assert done.returncode == 0, done.stderr
    assert "Running upgrade" in done.stderr and ALEMBIC in done.stderr


@pytest.mark.services
def test_a_command_calling_stripe_logs_its_requests_only_with_v(env: dict[str, str]) -> None:
    assert cli(["db", "upgrade"], env).returncode == 0
    quiet = cli(["events", "backfill", "--since", "1h"], env)
    assert quiet.returncode == 0, quiet.stderr
    assert "seen 1 event(s)" in quiet.stdout
    assert STRIPE not in quiet.stdout + quiet.stderr, quiet.stderr
    verbose = cli(["-v", "events", "backfill", "--since", "1h"], env)
    assert verbose.returncode == 0, verbose.stderr
    assert STRIPE in verbose.stderr, verbose.stderr
    assert STRIPE not in verbose.stdout  # logs go to stderr; stdout is what was asked for
