"""Checks of the settings at start, each failing with a message a person can act on.

A message names the variable, says what is wrong and what to set instead. It never echoes a
secret: URLs are shown with their password masked, keys by their kind only.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from urllib.parse import urlsplit

from worker.policy import PolicyFileError, UnknownPolicy, load_policy
from worker.redact import mask_url

# Celery transports this worker is tested or documented with; `sqla+` takes a database URL.
BROKER_SCHEMES = ("redis", "rediss", "amqp", "amqps", "pyamqp", "memory")
# Where stripe-mock runs: the compose service name, or this machine.
STRIPE_MOCK_HOSTS = ("stripe-mock", "localhost", "host.docker.internal")
STRIPE_MOCK_PORTS = (12111, 12112)
# A shorter ops token falls to guessing sooner than the ops API's throttle can slow it.
OPS_TOKEN_MIN_LENGTH = 32


def check_database_url(value: str) -> str:
    if not value:
        return value  # the SQLite file under DATA_DIR
    # Imported only for a URL to check: SQLAlchemy would double `config check`'s start time.
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError, NoSuchModuleError

    example = "e.g. postgresql+psycopg://user:password@host:5432/billing, or empty for SQLite"
    try:
        url = make_url(value)
    except (ArgumentError, ValueError):
        raise ValueError(
            f"DATABASE_URL {mask_url(value)!r} is not a database URL ({example})"
        ) from None
    try:
        url.get_dialect()
    except NoSuchModuleError:
        hint = " (PostgreSQL is postgresql+psycopg://)" if url.drivername == "postgres" else ""
        raise ValueError(
            f"DATABASE_URL names an unknown database driver {url.drivername!r}{hint}: {example}"
        ) from None
    return value


def check_broker_url(value: str) -> str:
    if not value:
        return value  # the embedded SQLite broker under DATA_DIR
    scheme, separator, rest = value.partition("://")
    if separator and scheme.startswith("sqla+"):
        try:
            check_database_url(value.removeprefix("sqla+"))
        except ValueError as problem:
            raise ValueError(f"BROKER_URL is sqla+ and a database URL, but {problem}") from None
        return value
    if separator and scheme in BROKER_SCHEMES:
        return value
    raise ValueError(
        f"BROKER_URL {mask_url(value)!r} is not a broker URL: expected redis://host:6379/0, "
        "rediss://…, amqp://user:password@host:5672// (RabbitMQ), sqla+<database URL>, or "
        "empty for the embedded SQLite broker"
    )


def check_billing_policy(value: str) -> str:
    try:
        load_policy(value)
    except (UnknownPolicy, PolicyFileError) as problem:
        raise ValueError(f"BILLING_POLICY: {problem}") from None
    return value


def check_policy_by_account(value: object) -> object:
    """`acct_1=dmly,acct_2=/path/policy.toml` into {account: policy}, each policy loaded once to
    be sure it exists; every mistake is listed, by the account it is for."""
    if not isinstance(value, str):
        return value
    policies: dict[str, str] = {}
    problems = []
    for part in (p.strip() for p in value.split(",")):
        if not part:
            continue
        account, equals, policy = (text.strip() for text in part.partition("="))
        if not equals or not account.startswith("acct_") or not policy:
            problems.append(f"{part!r} is not acct_…=POLICY (e.g. acct_1Nv0FG=dmly)")
        elif account in policies:
            problems.append(f"{account} is given twice")
        else:
            try:
                load_policy(policy)
            except (UnknownPolicy, PolicyFileError) as problem:
                problems.append(f"{account}: {problem}")
            policies[account] = policy
    if problems:
        raise ValueError("BILLING_POLICY_BY_ACCOUNT: " + "; ".join(problems))
    return policies


def check_deployment(
    *,
    app_env: str,
    webhook_secrets: Sequence[str],
    api_key: str,
    api_base: str,
    ops_api_token: str,
) -> None:
    """Combinations that cannot be right, all reported at once."""
    problems = []
    production = app_env == "production"
    if production and not webhook_secrets:
        problems.append(
            "STRIPE_WEBHOOK_SECRETS is empty with APP_ENV=production: set it to the endpoint's "
            "signing secret (whsec_…, shown on the webhook endpoint in the Stripe Dashboard), "
            "comma separated during a rotation; only development generates a local one"
        )
    if _is_live(api_key) and api_base and points_at_stripe_mock(api_base):
        problems.append(
            f"STRIPE_API_KEY is a live key but STRIPE_API_BASE is {api_base!r}, a stripe-mock or "
            "local address: leave STRIPE_API_BASE empty to reach Stripe with a live key, or use a "
            "test key (sk_test_…) with stripe-mock"
        )
    if production and _is_test(api_key) and not api_base:
        problems.append(
            "STRIPE_API_KEY is a test key (sk_test_…) with APP_ENV=production and no "
            "STRIPE_API_BASE: production talks to Stripe with a live key (sk_live_…); to try "
            "the stack against stripe-mock set STRIPE_API_BASE, or use APP_ENV=development"
        )
    if production and 0 < len(ops_api_token) < OPS_TOKEN_MIN_LENGTH:
        problems.append(
            f"OPS_API_TOKEN is shorter than {OPS_TOKEN_MIN_LENGTH} characters with "
            "APP_ENV=production: use a random one of at least "
            f"{OPS_TOKEN_MIN_LENGTH} (e.g. `openssl rand -hex 32`), or leave it empty to "
            "disable the ops API and console"
        )
    if problems:
        raise ValueError("\n- ".join(problems))


def points_at_stripe_mock(api_base: str) -> bool:
    try:
        parts = urlsplit(api_base)
        host, port = (parts.hostname or "").lower(), parts.port
    except ValueError:
        return False
    if "stripe-mock" in host or host in STRIPE_MOCK_HOSTS or port in STRIPE_MOCK_PORTS:
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    return address.is_loopback or address.is_unspecified


def _is_live(key: str) -> bool:
    return key.startswith(("sk_live_", "rk_live_"))


def _is_test(key: str) -> bool:
    return key.startswith(("sk_test_", "rk_test_"))
