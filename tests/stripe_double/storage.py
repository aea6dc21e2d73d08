"""The double's storage: Stripe objects as plain dicts in the pinned API version's shape, each
account's apart, and the errors and clock every part of the double shares."""

from __future__ import annotations

import itertools
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from stripe_double.billing_modes import Debits


class StripeError(Exception):
    """An API error as Stripe answers it."""

    def __init__(self, status: int, message: str, code: str | None = None, **extra: Any) -> None:
        super().__init__(message)
        kind = {402: "card_error", 429: "rate_limit_error"}.get(status)
        self.status = status
        self.body = {
            "error": {
                "type": kind or ("api_error" if status >= 500 else "invalid_request_error"),
                "message": message,
                "code": code,
                **extra,
            }
        }


class Clock:
    """The double's time: frozen at its creation, moved on only by the test, so prorations
    are exact and a 24-hour key expiry takes no waiting."""

    def __init__(self) -> None:
        self.at = int(time.time())

    def now(self) -> int:
        return self.at

    def advance(self, seconds: int) -> None:
        self.at += seconds


class Storage:
    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        # Each Stripe account's objects apart: an object of one account is invisible to another
        # (https://docs.stripe.com/connect/authentication#stripe-account-header). None: ours.
        self.stores: dict[str | None, dict[str, dict[str, dict[str, Any]]]] = {}
        self.account: str | None = None
        self._ids = itertools.count(1)
        self.debits = Debits()  # what each subscription item was charged (flexible credits)
        self.tax_rate_of: dict[str, str] = {}  # customer → its tax rate (seeded)

    @property
    def objects(self) -> dict[str, dict[str, dict[str, Any]]]:
        """The objects of the account being acted as."""
        return self.stores.setdefault(self.account, {})

    @contextmanager
    def acting_as(self, account: str | None) -> Iterator[None]:
        before, self.account = self.account, account
        try:
            yield
        finally:
            self.account = before

    def new_id(self, prefix: str) -> str:
        return f"{prefix}_dbl{next(self._ids):06d}"

    def put(self, kind: str, obj: dict[str, Any]) -> dict[str, Any]:
        obj.setdefault("created", self.clock.now())
        obj.setdefault("livemode", False)
        obj.setdefault("metadata", {})
        self.objects.setdefault(kind, {})[obj["id"]] = obj
        return obj

    def get(self, kind: str, object_id: str) -> dict[str, Any]:
        found = self.objects.get(kind, {}).get(object_id)
        if found is None:
            raise StripeError(404, f"No such {kind}: '{object_id}'", "resource_missing", param="id")
        return found

    def all(self, kind: str, **match: Any) -> list[dict[str, Any]]:
        """Objects of a kind, newest first as Stripe lists them, filtered on top-level fields."""
        found = [
            o
            for o in self.objects.get(kind, {}).values()
            if all(o.get(k) == v for k, v in match.items())
        ]
        return found[::-1]

    def currency_of(self, customer: str) -> str:
        return self.get("customer", customer).get("currency") or "usd"


def merge_metadata(obj: dict[str, Any], metadata: Any) -> None:
    if metadata == "":
        obj["metadata"] = {}
        return
    for key, value in dict(metadata).items():
        if value == "":
            obj["metadata"].pop(key, None)
        else:
            obj["metadata"][key] = value
