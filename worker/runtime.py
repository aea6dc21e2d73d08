"""What handlers and commands need, built once per process from the settings."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import stripe
from sqlalchemy.orm import Session, sessionmaker

from worker.config import Settings, load_settings
from worker.db.session import session_factory
from worker.policy import Policy, load_policy
from worker.stripe_gateway import build_client


@dataclass(frozen=True)
class Runtime:
    settings: Settings
    sessions: sessionmaker[Session]
    stripe: stripe.StripeClient
    policy: Policy

    @classmethod
    def from_settings(cls, settings: Settings) -> Runtime:
        return cls(
            settings=settings,
            sessions=session_factory(settings.effective_database_url),
            stripe=build_client(settings),
            policy=load_policy(settings.billing_policy),
        )


@lru_cache(maxsize=1)
def default_runtime() -> Runtime:
    """The process's runtime from the environment (CLI commands, Celery tasks)."""
    return Runtime.from_settings(load_settings())
