"""A small driver for handler and command tests: store events as the receiver would, process
them as the task would, with a Stripe client whose requests to stripe-mock are recorded."""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from typing import Any

from sqlalchemy import select
from stripe_recorder import RecordingHTTPClient, recording_client

from worker import samples
from worker.bootstrap import bootstrap
from worker.commands.refunds import RequestResult, request_refund
from worker.config import Settings
from worker.db.models import StripeCall
from worker.eventlog.intake import parse_event, store_event
from worker.eventlog.processing import process_event
from worker.runtime import Runtime

DAY = 86400


@dataclass
class BillingWorld:
    runtime: Runtime
    stripe: RecordingHTTPClient

    @classmethod
    def create(cls, settings: Settings, stripe_base: str) -> BillingWorld:
        client, recorder = recording_client(stripe_base)
        # The process's runtime, with Stripe's requests recorded.
        runtime = replace(bootstrap(settings), stripe=client)
        return cls(runtime, recorder)

    def deliver(
        self,
        event_type: str,
        obj: dict[str, Any],
        *,
        created: int | None = None,
        previous: dict[str, Any] | None = None,
        request_key: str | None = None,
        statuses: tuple[str, ...] = ("received",),
        account: str | None = None,
    ) -> tuple[str, str]:
        """Store and process the event; with `account`, a connected account's (Connect)."""
        evt = samples.event(event_type, obj, created=created)
        if account is not None:
            evt["account"] = account
        if previous is not None:
            evt["data"]["previous_attributes"] = previous
        if request_key is not None:
            evt["request"] = {"id": "req_test", "idempotency_key": request_key}
        store_event(self.runtime.sessions, parse_event(samples.body(evt)))
        status = process_event(self.runtime, evt["id"], statuses=statuses)
        return evt["id"], status

    def ask_refund(
        self, customer: str, reason: str = "requested_by_customer", **request: Any
    ) -> RequestResult:
        """A refund request as support files it: `invoice=` or `purchase_date=`, and any other
        field of `request_refund` (`account=`, `received_at=`, ...)."""
        return request_refund(self.runtime, customer=customer, reason=reason, **request)

    def replay(self, event_id: str) -> str:
        return process_event(
            self.runtime,
            event_id,
            statuses=("processed", "failed", "ignored", "received"),
        )

    def customer(self, customer_id: str, email: str, account: str | None = None) -> None:
        self.deliver(
            "customer.created",
            {"id": customer_id, "object": "customer", "email": email, "metadata": {}},
            account=account,
        )

    def catalog(
        self, *prices: tuple[str, str | None, int, str | None, str], account: str | None = None
    ) -> dict[str, Any]:
        """(price id, product category, unit amount, interval, usage_type) → price objects."""
        made = {}
        for price_id, category, unit_amount, interval, usage_type in prices:
            product_id = f"prod_for_{price_id}"
            self.deliver("product.created", samples.product(product_id, category), account=account)
            price = samples.price(
                price_id, product_id, unit_amount, interval=interval, usage_type=usage_type
            )
            self.deliver("price.created", price, account=account)
            made[price_id] = price
        return made

    def audit(self) -> list[StripeCall]:
        with self.runtime.sessions() as session:
            return list(session.scalars(select(StripeCall).order_by(StripeCall.id)))

    def one(self, model: Any, key: str, account: str = "") -> Any:
        """The row of `key` (of `account`, for the tables keyed by account)."""
        keyed_by_account = len(model.__mapper__.primary_key) == 2
        with self.runtime.sessions() as session:
            return session.get_one(model, (account, key) if keyed_by_account else key)


def days_ago(days: float) -> int:
    return int(time.time() - days * DAY)


def plan_line(price: str, amount: int, paid_at: int, days: int) -> dict[str, Any]:
    """A plan's invoice line whose period of `days` starts when it was paid."""
    return samples.line(
        amount=amount, price=price, period_start=paid_at, period_end=paid_at + days * DAY
    )


def annual_line(paid_at: int, amount: int = 120000) -> dict[str, Any]:
    return plan_line("price_growth_year", amount, paid_at, days=365)


def monthly_line(paid_at: int, amount: int = 10000) -> dict[str, Any]:
    return plan_line("price_growth_month", amount, paid_at, days=30)
