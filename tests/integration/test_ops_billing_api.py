"""The ops API for refunds and subscriptions: bearer token, then the same services as the CLI."""

from __future__ import annotations

import pytest
from billing_world import BillingWorld, annual_line, days_ago
from harness.servers import StripeMock

from webhooks import create_app
from worker import samples
from worker.db.models import StripeCall

TOKEN = "ops-token-for-tests-0123456789"


@pytest.fixture
def setup(make_settings, database_url: str, stripe_mock: StripeMock):
    settings = make_settings(
        database_url=database_url,
        billing_policy="mittrik",
        stripe_api_base=stripe_mock.url,
        ops_api_token=TOKEN,
    )
    world = BillingWorld.create(settings, stripe_mock.url)
    world.customer("cus_ops", "ops@example.com")
    world.catalog(("price_growth_year", "plan", 120000, "year", "licensed"))
    paid_at = days_ago(30)
    world.deliver(
        "invoice.paid",
        samples.invoice_with_lines(
            [annual_line(paid_at)],
            customer="cus_ops",
            paid_at=paid_at,
            number="OPS-1",
            payment_intent="pi_ops",
        ),
    )
    return create_app(settings).test_client(), world


AUTH = {"Authorization": f"Bearer {TOKEN}"}


def test_without_the_token_every_route_answers_401(setup) -> None:
    client, _ = setup
    assert client.get("/ops/refunds").status_code == 401
    wrong = client.post("/ops/refunds", json={}, headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 401
    assert wrong.headers["WWW-Authenticate"].startswith("Bearer")


def test_with_no_token_configured_the_api_does_not_exist(make_settings, database_url) -> None:
    client = create_app(make_settings(database_url=database_url, ops_api_token="")).test_client()
    assert client.get("/ops/refunds", headers=AUTH).status_code == 404


def test_a_technical_issue_waits_for_review_then_approve_refunds_once(setup) -> None:
    client, world = setup
    created = client.post(
        "/ops/refunds",
        headers=AUTH,
        json={
            "customer": "ops@example.com",
            "invoice": "OPS-1",
            "reason": "technical_issue",
            "note": "app crashed for a week",
        },
    )
    assert created.status_code == 201
    request = created.json
    assert (request["status"], request["proposed_amount"]) == ("review", 120000)
    assert [r["id"] for r in client.get("/ops/refunds?status=review", headers=AUTH).json] == [
        request["id"]
    ]

    too_much = client.post(
        f"/ops/refunds/{request['id']}/approve", headers=AUTH, json={"by": "kim", "amount": 999999}
    )
    assert too_much.status_code == 422
    assert "still refundable" in too_much.json["error"]
    done = client.post(
        f"/ops/refunds/{request['id']}/approve", headers=AUTH, json={"by": "kim", "amount": 60000}
    )
    assert (done.status_code, done.json["status"], done.json["amount"]) == (200, "refunded", 60000)

    again = client.post(f"/ops/refunds/{request['id']}/approve", headers=AUTH, json={"by": "kim"})
    assert again.status_code == 422
    refunds = [
        c for c in world.audit() if isinstance(c, StripeCall) and c.method == "refunds.create"
    ]
    assert len(refunds) == 1


def test_bad_requests_say_what_is_wrong(setup) -> None:
    client, _ = setup
    cases = [
        ({"customer": "cus_ops", "invoice": "OPS-1", "reason": "because"}, "reason must be"),
        ({"customer": "cus_ops", "reason": "technical_issue"}, "exactly one of invoice"),
        (
            {"customer": "cus_ops", "purchase_date": "yesterday", "reason": "technical_issue"},
            "YYYY-MM-DD",
        ),
        (
            {"customer": "ghost@example.com", "invoice": "OPS-1", "reason": "technical_issue"},
            "unknown customer ghost@example.com",
        ),
    ]
    for payload, message in cases:
        response = client.post("/ops/refunds", headers=AUTH, json=payload)
        assert response.status_code == 422, payload
        assert message in response.json["error"]
    assert client.get("/ops/refunds/rr_nope", headers=AUTH).status_code == 404


def test_a_refund_requests_note_comes_back_with_its_card_number_masked(setup) -> None:
    client, _ = setup
    note = "refund to card_4242424242424242 or 5555.5555.5555.4444, order 1700000000123"
    created = client.post(
        "/ops/refunds",
        headers=AUTH,
        json={"customer": "cus_ops", "invoice": "OPS-1", "reason": "technical_issue", "note": note},
    )
    assert created.status_code == 201
    masked = "refund to card_[card …4242] or [card …4444], order 1700000000123"
    assert created.json["note"] == masked
    [listed] = client.get("/ops/refunds", headers=AUTH).json
    shown = client.get(f"/ops/refunds/{listed['id']}", headers=AUTH).json
    assert listed["note"] == shown["note"] == masked
    assert shown["proposed_amount"] == 120000  # numbers stay numbers
