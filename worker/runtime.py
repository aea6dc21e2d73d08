"""What handlers, commands and entry points share: built once per process by worker/bootstrap.py."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import stripe
from celery import Celery
from sqlalchemy.orm import Session, sessionmaker

from worker.config import Settings
from worker.policy import Policy


@dataclass(frozen=True)
class Runtime:
    settings: Settings
    sessions: sessionmaker[Session]
    stripe: stripe.StripeClient
    policy: Policy
    celery: Celery
    # Queues one event id on `celery` by task name, failing fast if the broker is down.
    enqueue: Callable[[str], None]
