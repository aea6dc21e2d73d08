"""Settings from the environment (and `.env`), validated once at start."""

from __future__ import annotations

import os
import secrets
from functools import cached_property
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    Field,
    ModelWrapValidatorHandler,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from worker.config_checks import (
    check_billing_policy,
    check_broker_url,
    check_database_url,
    check_deployment,
    check_policy_by_account,
)
from worker.errors import BillingWorkerError

DEFAULT_DATA_DIR = Path("data")
APP_NAME = "stripe-billing-worker"


def project_checkout() -> Path | None:
    """The checkout the worker runs from (`pip install -e .`, as ./scripts/run does), or None
    when it is installed as a package (the Docker image, a wheel)."""
    root = Path(__file__).resolve().parent.parent
    return root if (root / "pyproject.toml").is_file() and (root / "worker").is_dir() else None


def settings_home() -> Path:
    """What a relative DATA_DIR (the default `data` included) is relative to: the checkout, so
    every terminal finds the same event log wherever it runs a command; installed as a package,
    the per-user data directory ($XDG_DATA_HOME or ~/.local/share, then stripe-billing-worker).
    Never the current directory: a command run from elsewhere would see an empty event log."""
    checkout = project_checkout()
    if checkout is not None:
        return checkout
    user_data = os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share"
    return Path(user_data) / APP_NAME


def env_files() -> tuple[Path | str, ...]:
    """The checkout's `.env`, then the current directory's (which wins where both set a value)."""
    checkout = project_checkout()
    return (checkout / ".env", ".env") if checkout is not None else (".env",)


class ConfigError(BillingWorkerError, ValueError):
    """The settings cannot run; each line names the variable and what to do about it."""


class Settings(BaseSettings):
    """Every setting the worker reads; `.env.example` documents each one."""

    model_config = SettingsConfigDict(env_file=env_files(), extra="ignore")

    # Each description is the setting's row in docs/configuration.md (tests/docs renders it).
    app_env: Literal["development", "production"] = Field(
        "development",
        description="`production` refuses to start without a webhook secret, "
        "or with an ops token shorter than 32 characters",
    )
    data_dir: Path = Field(
        DEFAULT_DATA_DIR,
        validate_default=True,
        description="SQLite files, the local webhook secret, beat's schedule; a relative path is "
        "the checkout's (installed as a package: under `~/.local/share/stripe-billing-worker`)",
    )
    database_url: str = Field(
        "",
        description="empty: a SQLite file under `DATA_DIR`; "
        "e.g. `postgresql+psycopg://user:pass@host/billing`",
    )
    broker_url: str = Field(
        "",
        description="empty: no broker, the event log is the queue; "
        "e.g. `redis://host:6379/0`, `amqp://user:pass@host:5672//`",
    )
    stripe_api_key: str = Field(
        "sk_test_123",
        description="Stripe secret key; the default is a placeholder, "
        "for which development uses a local stripe-mock",
    )
    stripe_api_base: str = Field(
        "",
        description="empty: Stripe (in development with the placeholder key: the stripe-mock "
        "`run` started); e.g. stripe-mock's `http://127.0.0.1:12111`",
    )
    stripe_rate_limit: float | None = Field(
        None,
        ge=0,
        description="the account's Stripe limit, operations/s; empty: from the key, "
        "100 (`sk_live_`, `rk_live_`), else 25; `0` turns pacing off",
    )
    stripe_endpoint_rate_limit: float = Field(
        25.0, gt=0, description="Stripe's limit per endpoint (method + path), operations/s"
    )
    stripe_rate_share: float = Field(
        0.5,
        gt=0,
        le=1,
        description="the share of both limits the worker may spend; "
        "the rest is your other Stripe traffic's",
    )
    stripe_rate_limit_url: str = Field(
        "",
        description="where every process's shared budget lives (`redis://…`, `sqlite:///…`); "
        "empty: the broker's Redis, else a file under `DATA_DIR`",
    )
    stripe_webhook_secrets: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="the endpoint's signing secrets (`whsec_…`), comma separated for a rotation; "
        "empty in development: one generated under `DATA_DIR`",
    )
    stripe_connect_webhook_secrets: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="the Connect endpoint's secrets, comma separated: "
        "its events name their `account`",
    )
    webhook_tolerance_seconds: int = Field(
        300, ge=1, description="allowed clock difference of a signature, either way"
    )
    webhook_max_body_bytes: int = Field(1024 * 1024, ge=1024, description="larger bodies get 413")
    accept_livemode: Literal["any", "live", "test"] = Field(
        "any", description="`live` refuses test-mode events, `test` the reverse"
    )
    billing_policy: str = Field(
        "mittrik", description="`mittrik`, `dmly`, or the path of a policy file"
    )
    billing_policy_by_account: Annotated[dict[str, str], NoDecode] = Field(
        default_factory=dict,
        description="connected accounts' own policies, `acct_1=dmly,acct_2=/path/policy.toml`; "
        "any other account decides by `BILLING_POLICY`",
    )
    trusted_proxies: int = Field(
        0,
        ge=0,
        le=5,
        description="how many reverse proxies in front of the receiver set `X-Forwarded-For` "
        "(1 in docker-compose.yml: nginx); 0: the connecting address is the client's",
    )
    ops_api_token: str = Field(
        "",
        description="bearer token of the ops API, and the ops console's login; empty disables "
        "both; at least 32 characters in production",
    )
    log_level: str = Field(
        "INFO",
        description="`DEBUG`, `INFO`, `WARNING` or `ERROR`; `DEBUG` adds stripe-python's request "
        "and response bodies (customer names and emails): use it briefly",
    )
    log_verbose: bool = Field(
        False,
        description="also log libraries' INFO lines: stripe-python's line per request, "
        "alembic's per migration step (`billing-worker -v` sets it)",
    )
    sweep_grace_seconds: int = Field(
        60, ge=0, description="how long an event may stay `received` before it is queued again"
    )
    sweep_interval_seconds: float = Field(30.0, gt=0, description="how often beat runs the sweeper")
    task_max_retries: int = Field(
        8,
        ge=0,
        description="retries (exponential back-off with jitter) before an event is `failed`",
    )
    reconcile_interval_seconds: float = Field(
        0.0,
        ge=0,
        description="seconds between scheduled `reconcile` runs (Celery beat, or the embedded "
        "supervisor); 0: never on a schedule",
    )
    reconcile_fix: bool = Field(
        False, description="whether a scheduled reconcile run also fixes what it finds (`--fix`)"
    )
    processing_stall_seconds: float = Field(
        600.0,
        gt=0,
        description="no `BROKER_URL`: a processing loop silent this long "
        "(one event's handler included) is replaced",
    )
    host: str = Field("127.0.0.1", description="where the receiver listens")
    port: int = Field(8000, ge=1, le=65535, description="the receiver's port")
    worker_metrics_port: int = Field(
        0,
        ge=0,
        le=65535,
        description="the Celery worker's (or the processing loops') own `/metrics` port; "
        "0 serves none",
    )

    @field_validator("stripe_webhook_secrets", "stripe_connect_webhook_secrets", mode="before")
    @classmethod
    def _split_secrets(cls, value: object) -> object:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @model_validator(mode="after")
    def _endpoints_have_their_own_secrets(self) -> Settings:
        # The secret tells which endpoint sent an event (webhooks/signature.py endpoint_mismatch).
        if set(self.stripe_webhook_secrets) & set(self.stripe_connect_webhook_secrets):
            raise ValueError(
                "STRIPE_CONNECT_WEBHOOK_SECRETS repeats a secret of STRIPE_WEBHOOK_SECRETS: the "
                "platform and Connect endpoints each have their own signing secret"
            )
        return self

    @field_validator("data_dir")
    @classmethod
    def _absolute_data_dir(cls, value: Path) -> Path:
        # Resolved once, here: every path under it is the same from any working directory.
        return (settings_home() / value.expanduser()).resolve()

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
    _check_policy_by_account = field_validator("billing_policy_by_account", mode="before")(
        check_policy_by_account
    )

    @model_validator(mode="wrap")
    @classmethod
    def _check_deployment(cls, data: Any, handler: ModelWrapValidatorHandler[Settings]) -> Settings:
        try:
            settings = handler(data)
        except ValidationError as invalid:
            # A bad field stops pydantic before this check: run it on the raw values too, so
            # `config check` lists every problem at once, not the next one after each fix.
            raise _with_deployment_problems(invalid, data) from None
        check_deployment(
            app_env=settings.app_env,
            webhook_secrets=settings.stripe_webhook_secrets,
            api_key=settings.stripe_api_key,
            api_base=settings.stripe_api_base,
            ops_api_token=settings.ops_api_token,
        )
        return settings

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

    def webhook_secrets(self, *, create: bool = True) -> list[str]:
        """The configured signing secrets; in development, a generated local one if none is set.

        The local secret lets `events send-test` sign events for `billing-worker run` without a
        Stripe account. Production refuses to start without a configured secret. Only the
        receiver creates it (`create`): a client signing with a secret of its own would get 400.
        """
        if self.stripe_webhook_secrets:
            return self.stripe_webhook_secrets
        if self.app_env == "production":
            raise ValueError(
                "STRIPE_WEBHOOK_SECRETS is empty: set it to the endpoint's signing secret "
                "(whsec_...), comma separated during a rotation"
            )
        return [local_webhook_secret(self.local_secret_file, create=create)]


class NoWebhookSecret(ConfigError):
    """A client would sign with a secret the receiver does not have."""


def local_webhook_secret(path: Path, *, create: bool = True) -> str:
    """Read, or create once, the development signing secret kept in the data directory."""
    if path.exists():
        return path.read_text().strip()
    if not create:
        raise NoWebhookSecret(
            f"no local webhook secret at {path} and STRIPE_WEBHOOK_SECRETS is empty: start the "
            "worker with ./scripts/run (it creates one), or set DATA_DIR or "
            "STRIPE_WEBHOOK_SECRETS to the receiver's"
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    secret = "whsec_local_" + secrets.token_hex(16)
    path.write_text(secret + "\n")
    path.chmod(0o600)
    return secret


def _with_deployment_problems(invalid: ValidationError, data: Any) -> ValidationError:
    raw = data if isinstance(data, dict) else {}
    secrets_value = raw.get("stripe_webhook_secrets") or []
    try:
        check_deployment(
            app_env=str(raw.get("app_env", "development")),
            webhook_secrets=[secrets_value] if isinstance(secrets_value, str) else secrets_value,
            api_key=str(raw.get("stripe_api_key", "sk_test_123")),
            api_base=str(raw.get("stripe_api_base", "")),
            ops_api_token=str(raw.get("ops_api_token", "")),
        )
    except ValueError as problem:
        errors: list[Any] = [
            {key: error[key] for key in ("type", "loc", "input", "ctx") if key in error}
            for error in invalid.errors()
        ]
        errors.append({"type": "value_error", "loc": (), "input": None, "ctx": {"error": problem}})
        return ValidationError.from_exception_data(invalid.title, errors)
    return invalid


def load_settings(**overrides: object) -> Settings:
    """The settings from the environment; a ConfigError lists every problem found."""
    try:
        settings = Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        raise ConfigError(config_problems(exc)) from None
    return settings  # creates nothing: only the commands that write make DATA_DIR


def config_problems(error: ValidationError) -> str:
    """One line per problem, naming the environment variable and never echoing its value."""
    lines = []
    for problem in error.errors(include_url=False, include_input=False):
        message = problem["msg"].removeprefix("Value error, ")
        if problem["type"] != "value_error" and problem["loc"]:
            message = f"{str(problem['loc'][0]).upper()}: {message}"
        lines.append(message)
    return "invalid configuration:\n" + "\n".join(f"- {line}" for line in lines)
