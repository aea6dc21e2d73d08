"""Settings from the environment (and `.env`), validated once at start."""

from __future__ import annotations

import secrets
from functools import cached_property
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from worker.config_checks import (
    check_billing_policy,
    check_broker_url,
    check_database_url,
    check_deployment,
)

DEFAULT_DATA_DIR = Path("data")


class ConfigError(ValueError):
    """The settings cannot run; each line names the variable and what to do about it."""


class Settings(BaseSettings):
    """Every setting the worker reads; `.env.example` documents each one."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore")

    app_env: Literal["development", "production"] = "development"
    data_dir: Path = DEFAULT_DATA_DIR
    database_url: str = ""  # empty: a SQLite file under data_dir
    broker_url: str = ""  # empty: kombu's SQLAlchemy transport on a SQLite file under data_dir
    stripe_api_key: str = "sk_test_123"
    stripe_api_base: str = ""  # empty: Stripe itself; stripe-mock in tests
    # Stripe's budget (worker/stripe_budget): operations/s of the account's limit, None: from the
    # key's mode (100 live, 25 sandbox), 0: no pacing; the share of it this worker may spend.
    stripe_rate_limit: float | None = Field(None, ge=0)
    stripe_endpoint_rate_limit: float = Field(25.0, gt=0)
    stripe_rate_share: float = Field(0.5, gt=0, le=1)
    stripe_rate_limit_url: str = ""  # empty: the broker's Redis, else a file under data_dir
    stripe_webhook_secrets: Annotated[list[str], NoDecode] = Field(default_factory=list)
    webhook_tolerance_seconds: int = Field(300, ge=1)
    webhook_max_body_bytes: int = Field(1024 * 1024, ge=1024)
    # Which events the endpoint accepts: a live endpoint should refuse test-mode events.
    accept_livemode: Literal["any", "live", "test"] = "any"
    billing_policy: str = "mittrik"
    ops_api_token: str = ""
    log_level: str = "INFO"
    sweep_grace_seconds: int = Field(60, ge=0)
    sweep_interval_seconds: float = Field(30.0, gt=0)
    task_max_retries: int = Field(8, ge=0)
    # Embedded processing: a loop silent this long (one event's handler included) is replaced.
    processing_stall_seconds: float = Field(600.0, gt=0)
    host: str = "127.0.0.1"
    port: int = Field(8000, ge=1, le=65535)
    # The Celery worker's own /metrics (its processes' task and Stripe metrics); 0: not served.
    worker_metrics_port: int = Field(0, ge=0, le=65535)

    @field_validator("stripe_webhook_secrets", mode="before")
    @classmethod
    def _split_secrets(cls, value: object) -> object:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("stripe_rate_limit", mode="before")
    @classmethod
    def _empty_is_default(cls, value: object) -> object:
        return None if value == "" else value

    @field_validator("stripe_rate_limit_url")
    @classmethod
    def _check_rate_limit_url(cls, value: str) -> str:
        if value and not value.startswith(("redis://", "rediss://", "sqlite:///")):
            raise ValueError(
                "STRIPE_RATE_LIMIT_URL: expected redis://host:6379/0 (shared by every host), "
                "sqlite:///path (one host's processes), or empty for the default"
            )
        return value

    # Checked at start, so a mistake stops `serve`/`worker` with a message, not a 3 a.m. failure.
    _check_database_url = field_validator("database_url")(check_database_url)
    _check_broker_url = field_validator("broker_url")(check_broker_url)
    _check_billing_policy = field_validator("billing_policy")(check_billing_policy)

    @model_validator(mode="after")
    def _check_deployment(self) -> Settings:
        check_deployment(
            app_env=self.app_env,
            webhook_secrets=self.stripe_webhook_secrets,
            api_key=self.stripe_api_key,
            api_base=self.stripe_api_base,
        )
        return self

    @cached_property
    def effective_database_url(self) -> str:
        return self.database_url or f"sqlite:///{(self.data_dir / 'billing.sqlite3').resolve()}"

    @property
    def embedded(self) -> bool:
        """No BROKER_URL: the event log is the only queue; processing loops read it directly."""
        return not self.broker_url

    @cached_property
    def effective_broker_url(self) -> str:
        return self.broker_url or f"sqla+sqlite:///{(self.data_dir / 'broker.sqlite3').resolve()}"

    @cached_property
    def effective_stripe_rate_limit_url(self) -> str:
        """Where the shared budget lives: every host must see the same one."""
        if self.stripe_rate_limit_url:
            return self.stripe_rate_limit_url
        broker = self.effective_broker_url
        if broker.startswith(("redis://", "rediss://")):
            return broker
        return f"sqlite:///{(self.data_dir / 'stripe_budget.sqlite3').resolve()}"

    @property
    def local_secret_file(self) -> Path:
        return self.data_dir / "webhook_secret"

    def webhook_secrets(self) -> list[str]:
        """The configured signing secrets; in development, a generated local one if none is set.

        The local secret lets `events send-test` sign events for `billing-worker run` without a
        Stripe account. Production refuses to start without a configured secret.
        """
        if self.stripe_webhook_secrets:
            return self.stripe_webhook_secrets
        if self.app_env == "production":
            raise ValueError(
                "STRIPE_WEBHOOK_SECRETS is empty: set it to the endpoint's signing secret "
                "(whsec_...), comma separated during a rotation"
            )
        return [local_webhook_secret(self.local_secret_file)]


def local_webhook_secret(path: Path) -> str:
    """Read, or create once, the development signing secret kept in the data directory."""
    if path.exists():
        return path.read_text().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    secret = "whsec_local_" + secrets.token_hex(16)
    path.write_text(secret + "\n")
    path.chmod(0o600)
    return secret


def load_settings(**overrides: object) -> Settings:
    """The settings from the environment; a ConfigError lists every problem found."""
    try:
        settings = Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        raise ConfigError(config_problems(exc)) from None
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    return settings


def config_problems(error: ValidationError) -> str:
    """One line per problem, naming the environment variable and never echoing its value."""
    lines = []
    for problem in error.errors(include_url=False, include_input=False):
        message = problem["msg"].removeprefix("Value error, ")
        if problem["type"] != "value_error" and problem["loc"]:
            message = f"{str(problem['loc'][0]).upper()}: {message}"
        lines.append(message)
    return "invalid configuration:\n" + "\n".join(f"- {line}" for line in lines)
