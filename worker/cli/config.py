"""`billing-worker config check`: the effective settings, secrets masked, or what is wrong."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from worker.config import ConfigError, Settings, load_settings
from worker.redact import ELLIPSIS, mask_key, mask_secret, mask_url
from worker.stripe.budget import Rates, default_limit
from worker.stripe.local import api_base, wants_local_stripe

# Names that smell of a secret are masked even for a setting added after this was written.
SECRET_WORDS = ("secret", "token", "key", "password", "dsn")


@click.group()
def config() -> None:
    """Configuration."""


@config.command("check")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table")
def check(fmt: str) -> None:
    """Validate the settings and print the effective ones, secrets masked; exit 1 if invalid."""
    try:
        settings = load_settings()
    except ConfigError as problem:
        raise click.ClickException(str(problem)) from None
    if fmt == "json":
        click.echo(json.dumps(settings_values(settings), indent=2, ensure_ascii=False))
        return
    shown = effective_settings(settings)
    width = max(map(len, shown))
    for name, value in shown.items():
        click.echo(f"{name:<{width}}  {value}")
    click.echo(f"configuration is valid ({settings.app_env})")


def settings_values(settings: Settings) -> dict[str, Any]:
    """Every setting by its environment variable as a value a script can use: numbers, booleans
    and lists as such, null for unset, the effective URLs and DATA_DIR, secrets masked."""
    values: dict[str, Any] = {}
    for field in Settings.model_fields:
        value = getattr(settings, field)
        if isinstance(value, Path):
            value = str(value)
        elif field in JSON_MASKS:
            value = JSON_MASKS[field](value)
        elif isinstance(value, str) and any(word in field for word in SECRET_WORDS):
            value = _masked(value) or None
        values[field.upper()] = None if value == "" else value
    values["DATABASE_URL"] = mask_url(settings.effective_database_url)
    values["BROKER_URL"] = mask_url(settings.effective_broker_url)
    return values


def effective_settings(settings: Settings) -> dict[str, str]:
    """Every setting by its environment variable, as the processes will use it, masked."""
    shown = {}
    for field in Settings.model_fields:
        value = getattr(settings, field)
        show = MASKS.get(field) or (_masked if any(w in field for w in SECRET_WORDS) else str)
        shown[field.upper()] = show(value)
    shown["DATABASE_URL"] = _with_default(
        settings.database_url, settings.effective_database_url, "SQLite under DATA_DIR"
    )
    shown["BROKER_URL"] = (
        mask_url(settings.broker_url)
        if settings.broker_url
        else "(none: the event log is the queue, read by the processing loops)"
    )
    shown["DATA_DIR"] = str(settings.data_dir.resolve())
    if not settings.stripe_webhook_secrets:
        shown["STRIPE_WEBHOOK_SECRETS"] = (
            f"(none: development signs with the local secret in {settings.local_secret_file})"
        )
    if not settings.stripe_api_base:
        local = api_base(settings) if wants_local_stripe(settings) else None
        shown["STRIPE_API_BASE"] = (
            f"(none: {local}, the stripe-mock `run` started)"
            if local
            else "(no Stripe: the key is the placeholder; `run` starts stripe-mock if installed)"
            if wants_local_stripe(settings)
            else "(Stripe itself)"
        )
    shown["STRIPE_RATE_LIMIT"] = _budget(settings)
    shown["STRIPE_RATE_LIMIT_URL"] = _with_default(
        settings.stripe_rate_limit_url,
        settings.effective_stripe_rate_limit_url,
        "the broker's Redis" if settings.effective_broker_url.startswith("redis") else "this host",
    )
    if not settings.ops_api_token:
        shown["OPS_API_TOKEN"] = "(empty: the ops API is disabled)"
    return shown


def _with_default(configured: str, effective: str, what: str) -> str:
    return mask_url(configured) if configured else f"{mask_url(effective)} ({what})"


def _budget(settings: Settings) -> str:
    rates = Rates.from_settings(settings)
    if rates is None:
        return "0 (no pacing: only for a Stripe double without a limit)"
    limit = settings.stripe_rate_limit or default_limit(settings.stripe_api_key)
    source = "" if settings.stripe_rate_limit else " (from the key's mode)"
    return (
        f"{limit:g}/s{source}: this worker spends {rates.global_per_second:g}/s, "
        f"{rates.endpoint_per_second:g}/s per endpoint"
    )


def _secrets(values: list[str]) -> str:
    return ", ".join(mask_secret(v) for v in values) + f" ({len(values)} in rotation)"


def _masked(value: object) -> str:
    return f"set ({ELLIPSIS})" if value else ""


JSON_MASKS: dict[str, Callable[..., Any]] = {
    "stripe_api_key": mask_key,
    "stripe_webhook_secrets": lambda values: [mask_secret(value) for value in values],
    "stripe_connect_webhook_secrets": lambda values: [mask_secret(value) for value in values],
}
MASKS: dict[str, Callable[..., str]] = {
    "stripe_api_key": mask_key,
    "stripe_webhook_secrets": _secrets,
    "stripe_connect_webhook_secrets": lambda values: _secrets(values) if values else "(none)",
    "billing_policy_by_account": lambda policies: (
        ", ".join(f"{account}={policy}" for account, policy in policies.items())
        or "(none: every account decides by BILLING_POLICY)"
    ),
    "ops_api_token": _masked,
    "database_url": mask_url,
    "broker_url": mask_url,
    "stripe_rate_limit_url": mask_url,
}
