"""What the ops console's tests share: the token, a signed-in test client, scenario objects."""

from __future__ import annotations

import re
import time
from typing import Any

from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from worker import samples

OPS_TOKEN = "ops_console_test_token_7d41c2"
CONSOLE = "/ops/console"
DAY = 86400
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def csrf_token(html: str) -> str:
    match = _CSRF.search(html)
    assert match, "the page has no CSRF token"
    return match.group(1)


class ConsoleClient:
    """Flask's test client used as a person would: sign in, read pages, submit their forms."""

    def __init__(self, app: Flask) -> None:
        self.client: FlaskClient = app.test_client()
        self._csrf: str | None = None

    def sign_in(self, name: str = "Ana", token: str = OPS_TOKEN) -> TestResponse:
        self._csrf = None  # a new session has a new CSRF token
        form = self.client.get(f"{CONSOLE}/login")
        return self.client.post(
            f"{CONSOLE}/login",
            data={"csrf_token": csrf_token(form.text), "name": name, "token": token},
        )

    def get(self, path: str, **query: Any) -> TestResponse:
        return self.client.get(f"{CONSOLE}{path}", query_string=query)

    def submit(self, path: str, data: dict[str, Any] | None = None) -> TestResponse:
        """POST a form with the session's CSRF token, taken from a page like a browser would."""
        if self._csrf is None:
            self._csrf = csrf_token(self.get("/events").text)
        data = {"csrf_token": self._csrf, **(data or {})}
        response = self.client.post(f"{CONSOLE}{path}", data=data)
        if path == "/logout":
            self._csrf = None
        return response


def typo_product(price_id: str) -> dict[str, Any]:
    """The product of `price_id` with its metadata category mistyped: its invoices fail."""
    return samples.product(f"prod_for_{price_id}", "plann", name="Growth (annual)")


def fixed_product(price_id: str) -> dict[str, Any]:
    return samples.product(f"prod_for_{price_id}", "plan", name="Growth (annual)")


def annual_price(price_id: str, amount: int = 120000) -> dict[str, Any]:
    return samples.price(price_id, f"prod_for_{price_id}", amount, interval="year")


def annual_invoice(
    customer: str, price_id: str, *, number: str, payment_intent: str, days_ago: float
) -> dict[str, Any]:
    paid_at = int(time.time() - days_ago * DAY)
    line = samples.line(
        amount=120000, price=price_id, period_start=paid_at, period_end=paid_at + 365 * DAY
    )
    return samples.invoice_with_lines(
        [line], customer=customer, paid_at=paid_at, number=number, payment_intent=payment_intent
    )


def customer(customer_id: str, email: str) -> dict[str, Any]:
    return {"id": customer_id, "object": "customer", "email": email, "metadata": {}}
