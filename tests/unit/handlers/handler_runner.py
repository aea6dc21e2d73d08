"""Handlers run as the task runs them, in one transaction, with `FakeStripeGateway` as Stripe:
no server, so each test reads as the handler's rule."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from fake_stripe import FakeStripeGateway
from sqlalchemy.orm import Session, sessionmaker

from worker import samples
from worker.db.models import PLATFORM
from worker.handlers import HANDLERS, HandlerContext
from worker.policy import Policy


@dataclass
class HandlerRunner:
    sessions: sessionmaker[Session]
    policy: Policy
    stripe: FakeStripeGateway = field(default_factory=FakeStripeGateway)

    def handle(
        self,
        event_type: str,
        obj: dict[str, Any],
        *,
        created: int | None = None,
        previous: dict[str, Any] | None = None,
        request_key: str | None = None,
        account: str = PLATFORM,
    ) -> str:
        """Run the event type's handler on `obj` and commit; return the event's id. `account`
        is `event.account`: the connected account the event happened on."""
        event_id = samples.new_id("evt")
        self.stripe.source_id = event_id  # the gateway is built per event, keyed by its id
        self.stripe.account = account
        at = datetime.fromtimestamp(created, UTC) if created is not None else datetime.now(UTC)
        with self.sessions.begin() as session:
            context = HandlerContext(
                session=session,
                event_id=event_id,
                event_type=event_type,
                event_created=at,
                stripe=self.stripe,  # type: ignore[arg-type]
                policy=self.policy,
                previous_attributes=previous or {},
                request_key=request_key,
                account=account,
            )
            HANDLERS[event_type](context, obj)
        return event_id

    def one(self, model: Any, key: str, account: str = PLATFORM) -> Any:
        """The row of `key` (of `account`, for the tables keyed by account)."""
        keyed_by_account = len(model.__mapper__.primary_key) == 2
        with self.sessions() as session:
            return session.get_one(model, (account, key) if keyed_by_account else key)

    def all(self, model: Any) -> list[Any]:
        with self.sessions() as session:
            return list(session.query(model))
