"""Settings from the environment (and `.env`), validated once at start."""

from __future__ import annotations

import secrets
from functools import cached_property
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

DEFAULT_DATA_DIR = Path("data")


class Settings(BaseSettings):
    """Every setting the worker reads; `.env.example` documents each one."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore")

    app_env: Literal["development", "production"] = "development"
    data_dir: Path = DEFAULT_DATA_DIR
    database_url: str = ""  # empty: a SQLite file under data_dir
    broker_url: str = ""  # empty: kombu's SQLAlchemy transport on a SQLite file under data_dir
    stripe_api_key: str = "sk_test_123"
    stripe_api_base: str = ""  # empty: Stripe itself; stripe-mock in tests
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
    host: str = "127.0.0.1"
    port: int = Field(8000, ge=1, le=65535)

    @field_validator("stripe_webhook_secrets", mode="before")
    @classmethod
    def _split_secrets(cls, value: object) -> object:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @cached_property
    def effective_database_url(self) -> str:
        return self.database_url or f"sqlite:///{(self.data_dir / 'billing.sqlite3').resolve()}"

    @cached_property
    def effective_broker_url(self) -> str:
        return self.broker_url or f"sqla+sqlite:///{(self.data_dir / 'broker.sqlite3').resolve()}"

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
    settings = Settings(**overrides)  # type: ignore[arg-type]
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    return settings
