"""What handlers, commands and entry points share: built once per process by worker/bootstrap.py."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import stripe
from sqlalchemy.orm import Session, sessionmaker

from worker.config import Settings
from worker.db.models import PLATFORM
from worker.policy import Policy

if TYPE_CHECKING:
    from celery import Celery  # a type only: commands need not import Celery


@dataclass(frozen=True)
class Runtime:
    settings: Settings
    sessions: sessionmaker[Session]
    stripe: stripe.StripeClient
    policy: Policy  # the platform's (BILLING_POLICY), and any account's without one of its own
    celery: Celery
    # Queues one event id on `celery` by task name, failing fast if the broker is down.
    enqueue: Callable[[str], None]
    # Queues several event ids committed together as one message (one id: as `enqueue`).
    enqueue_group: Callable[[list[str]], None] | None = None
    # Connected accounts with a policy of their own (BILLING_POLICY_BY_ACCOUNT), by acct_ id.
    account_policies: Mapping[str, Policy] = field(default_factory=dict)

    def policy_for(self, account: str = PLATFORM) -> Policy:
        """The policy that decides for `account`'s customers."""
        return self.account_policies.get(account, self.policy)
