"""POST /webhooks/stripe with a Connect endpoint's secret beside the platform endpoint's: the
secret that signed an event says which endpoint sent it, and the endpoint whose events it is."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from flask.testing import FlaskClient
from signing import CONNECT_WEBHOOK_SECRET, WEBHOOK_SECRET, signed_headers
from sqlalchemy import select
from structlog.testing import capture_logs

from webhooks import create_app
from worker import samples
from worker.config import Settings
from worker.db.models import PLATFORM, Event
from worker.db.session import session_factory

URL = "/webhooks/stripe"
ACCOUNT = "acct_1Intake"


@pytest.fixture
def settings(make_settings: Callable[..., Settings], sqlite_url: str) -> Settings:
    return make_settings(
        database_url=sqlite_url, stripe_connect_webhook_secrets=CONNECT_WEBHOOK_SECRET
    )


def post(settings: Settings, account: str | None, secret: str) -> tuple[int, str]:
    evt = samples.invoice_paid_event(customer="cus_connect")
    if account:
        evt["account"] = account
    payload = samples.body(evt)
    client: FlaskClient = create_app(settings).test_client()
    response = client.post(URL, data=payload.encode(), headers=signed_headers(payload, secret))
    return response.status_code, (response.json or {}).get("error", "")


def stored(settings: Settings) -> list[tuple[str, str]]:
    with session_factory(settings.effective_database_url)() as session:
        return [(e.account, e.customer or "") for e in session.scalars(select(Event))]


def test_connected_and_platform_events_are_stored_with_their_account(settings) -> None:
    assert post(settings, ACCOUNT, CONNECT_WEBHOOK_SECRET) == (200, "")
    assert post(settings, None, WEBHOOK_SECRET) == (200, "")
    assert sorted(stored(settings)) == [(PLATFORM, "cus_connect"), (ACCOUNT, "cus_connect")]


@pytest.mark.parametrize(
    ("account", "secret", "complaint"),
    [
        (None, CONNECT_WEBHOOK_SECRET, "Connect endpoint's secret"),
        (ACCOUNT, WEBHOOK_SECRET, f"event of connected account {ACCOUNT} signed with the platform"),
    ],
)
def test_an_event_signed_by_the_other_endpoints_secret_is_stored_for_its_account_and_said(
    settings, account: str | None, secret: str, complaint: str
) -> None:
    with capture_logs() as logs:
        assert post(settings, account, secret) == (200, "")
    assert stored(settings) == [(account or PLATFORM, "cus_connect")]  # never lost
    [warning] = [line for line in logs if line["event"] == "webhook endpoint mismatch"]
    assert warning["log_level"] == "warning" and complaint in warning["reason"]


def test_without_connect_secrets_a_connected_accounts_event_is_still_stored_as_its(
    make_settings: Callable[..., Settings], sqlite_url: str
) -> None:
    settings = make_settings(database_url=sqlite_url)
    with capture_logs() as logs:
        assert post(settings, ACCOUNT, WEBHOOK_SECRET) == (200, "")
    assert stored(settings) == [(ACCOUNT, "cus_connect")]
    [warning] = [line for line in logs if line["event"] == "webhook endpoint mismatch"]
    assert "STRIPE_CONNECT_WEBHOOK_SECRETS" in warning["reason"]
    assert post(settings, ACCOUNT, CONNECT_WEBHOOK_SECRET)[1] == (
        "no valid signature for this payload"
    )
