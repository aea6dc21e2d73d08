"""What handlers, commands and entry points share: built once per process by worker/bootstrap.py."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import stripe
from sqlalchemy.orm import Session, sessionmaker

from worker.config import Settings
from worker.policy import Policy

if TYPE_CHECKING:
    from celery import Celery  # a type only: commands need not import Celery


@dataclass(frozen=True)
class Runtime:
    settings: Settings
    sessions: sessionmaker[Session]
    stripe: stripe.StripeClient
    policy: Policy
    celery: Celery
    # Queues one event id on `celery` by task name, failing fast if the broker is down.
    enqueue: Callable[[str], None]
