"""Settings checked at start: each mistake stops `config check`, `serve` and `worker` with a
message that says what to set, exit status 1, and never a secret in the message."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
from harness.processes import CLI

LIVE_KEY = "sk_" + "live_51Hconfigcheck00000000000LIVE"
TEST_KEY = "sk_test_51Hconfigcheck00000000000TEST"
DB_PASSWORD = "pw-never-shown-7731"
SHORT_OPS_TOKEN = "ops-token-31-characters-long-xx"
SECRETS = (
    LIVE_KEY,
    TEST_KEY,
    DB_PASSWORD,
    "whsec_configcheck_primary",
    "ops-token-never-shown",
    SHORT_OPS_TOKEN,
)

# (what is wrong, the environment that has it, a piece of the message that says so)
INVALID = {
    "no webhook secret in production": (
        {"APP_ENV": "production", "STRIPE_API_KEY": LIVE_KEY, "STRIPE_WEBHOOK_SECRETS": ""},
        "STRIPE_WEBHOOK_SECRETS is empty with APP_ENV=production: set it to the endpoint's",
    ),
    "ops token shorter than 32 characters in production": (
        {"APP_ENV": "production", "STRIPE_API_KEY": LIVE_KEY, "OPS_API_TOKEN": SHORT_OPS_TOKEN},
        "OPS_API_TOKEN is shorter than 32 characters with APP_ENV=production: use a random one",
    ),
    "live key against stripe-mock": (
        {"STRIPE_API_KEY": LIVE_KEY, "STRIPE_API_BASE": "http://stripe-mock:12111"},
        "STRIPE_API_KEY is a live key but STRIPE_API_BASE is 'http://stripe-mock:12111'",
    ),
    "live key against localhost": (
        {"STRIPE_API_KEY": LIVE_KEY, "STRIPE_API_BASE": "http://127.0.0.1:12111"},
        "a stripe-mock or local address",
    ),
    "test key in production without STRIPE_API_BASE": (
        {"APP_ENV": "production", "STRIPE_API_KEY": TEST_KEY, "STRIPE_API_BASE": ""},
        "STRIPE_API_KEY is a test key (sk_test_…) with APP_ENV=production and no STRIPE_API_BASE",
    ),
    "unknown policy name": (
        {"BILLING_POLICY": "mitrik"},
        "BILLING_POLICY: unknown policy 'mitrik': expected mittrik or dmly",
    ),
    "policy file that does not exist": (
        {"BILLING_POLICY": "/etc/billing/no-such-policy.toml"},
        "unknown policy '/etc/billing/no-such-policy.toml'",
    ),
    "malformed DATABASE_URL": (
        {"DATABASE_URL": f"postgresql+psycopg//billing:{DB_PASSWORD}@db/billing"},
        "is not a database URL (e.g. postgresql+psycopg://user:password@host:5432/billing",
    ),
    "DATABASE_URL with an unknown driver": (
        {"DATABASE_URL": f"postgres://billing:{DB_PASSWORD}@db:5432/billing"},
        "DATABASE_URL names an unknown database driver 'postgres'",
    ),
    "malformed BROKER_URL": (
        {"BROKER_URL": f"kafka://billing:{DB_PASSWORD}@broker:9092"},
        "BROKER_URL 'kafka://billing:…@broker:9092' is not a broker URL",
    ),
}


def cli_env(tmp_path: Path, **values: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG", "LC_ALL")}
    env.update(
        {
            "DATA_DIR": str(tmp_path / "data"),
            "STRIPE_WEBHOOK_SECRETS": "whsec_configcheck_primary",
            "STRIPE_API_KEY": TEST_KEY,
            "PORT": "1",  # nothing may start listening: every case must fail before
        }
    )
    env.update(values)
    return env


def run_cli(args: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(CLI + args, env=env, cwd=cwd, capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize("case", INVALID)
def test_invalid_configuration_stops_config_check_serve_and_worker(
    case: str, tmp_path: Path
) -> None:
    values, message = INVALID[case]
    env = cli_env(tmp_path, **values)
    for command in (["config", "check"], ["serve"], ["worker"]):
        done = run_cli(command, env, tmp_path)
        assert done.returncode == 1, (command, done.stdout, done.stderr)
        assert "invalid configuration" in done.stderr, (command, done.stderr)
        assert message in done.stderr, (command, done.stderr)
        for secret in SECRETS:
            assert secret not in done.stdout + done.stderr, (command, secret)


def test_config_check_prints_the_effective_settings_with_secrets_masked(tmp_path: Path) -> None:
    env = cli_env(
        tmp_path,
        STRIPE_WEBHOOK_SECRETS="whsec_configcheck_primary,whsec_configcheck_old",
        DATABASE_URL=f"postgresql+psycopg://billing:{DB_PASSWORD}@db:5432/billing",
        BROKER_URL=f"amqp://billing:{DB_PASSWORD}@rabbitmq:5672//",
        OPS_API_TOKEN="ops-token-never-shown",
        STRIPE_API_BASE="http://stripe-mock:12111",
    )
    done = run_cli(["config", "check"], env, tmp_path)
    assert done.returncode == 0, done.stderr
    shown = dict(line.split(None, 1) for line in done.stdout.splitlines()[:-1])
    assert shown["STRIPE_API_KEY"] == "sk_test_…TEST"
    assert shown["STRIPE_WEBHOOK_SECRETS"] == "whsec_…, whsec_… (2 in rotation)"
    assert shown["DATABASE_URL"] == "postgresql+psycopg://billing:…@db:5432/billing"
    assert shown["BROKER_URL"] == "amqp://billing:…@rabbitmq:5672//"
    assert shown["OPS_API_TOKEN"] == "set (…)"
    assert shown["BILLING_POLICY"] == "mittrik"
    assert done.stdout.splitlines()[-1] == "configuration is valid (development)"
    for secret in SECRETS:
        assert secret not in done.stdout + done.stderr, secret


def test_development_without_a_webhook_secret_is_valid_and_uses_a_local_one(
    tmp_path: Path,
) -> None:
    env = cli_env(tmp_path, STRIPE_WEBHOOK_SECRETS="")
    done = run_cli(["config", "check"], env, tmp_path)
    assert done.returncode == 0, done.stderr
    assert "development signs with the local secret" in done.stdout
    as_json = run_cli(["config", "check", "--format", "json"], env, tmp_path)
    assert json.loads(as_json.stdout)["STRIPE_WEBHOOK_SECRETS"] == []
    production = run_cli(["config", "check"], {**env, "APP_ENV": "production"}, tmp_path)
    assert production.returncode == 1


def test_production_takes_an_ops_token_of_32_characters_or_none(tmp_path: Path) -> None:
    production = cli_env(tmp_path, APP_ENV="production", STRIPE_API_KEY=LIVE_KEY)
    for token in (SHORT_OPS_TOKEN + "x", ""):
        done = run_cli(["config", "check"], {**production, "OPS_API_TOKEN": token}, tmp_path)
        assert done.returncode == 0, (len(token), done.stderr)
        assert done.stdout.splitlines()[-1] == "configuration is valid (production)"
    development = cli_env(tmp_path, OPS_API_TOKEN="short")
    assert run_cli(["config", "check"], development, tmp_path).returncode == 0
