"""The ops events API: bearer token in constant time, list with filters and a cursor, show,
replay; and nothing at all under /ops/ when no token is configured."""

from __future__ import annotations

from base64 import urlsafe_b64encode
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import update
from werkzeug.test import TestResponse

from webhooks import create_app
from webhooks.auth_throttle import FREE_FAILURES
from worker import samples
from worker.config import Settings
from worker.db.models import AuthFailures, Event
from worker.db.session import session_factory
from worker.eventlog.intake import parse_event, store_event

TOKEN = "ops-token-0123456789abcdef"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)


@pytest.fixture
def settings(make_settings: Callable[..., Settings], database_url: str) -> Settings:
    return make_settings(database_url=database_url, ops_api_token=TOKEN)


@pytest.fixture
def client(settings: Settings) -> FlaskClient:
    return create_app(settings).test_client()


def store(settings: Settings, evt: dict[str, Any], minutes: int, status: str = "received") -> str:
    sessions = session_factory(settings.effective_database_url)
    store_event(sessions, parse_event(samples.body(evt)))
    with sessions.begin() as session:
        session.execute(
            update(Event)
            .where(Event.id == evt["id"])
            .values(received_at=T0 + timedelta(minutes=minutes), status=status)
        )
    return evt["id"]


def unhandled(customer: str = "cus_ops") -> dict[str, Any]:
    # A type the worker has no handler for: replay records it `ignored`, with no Stripe call.
    return samples.event("balance.available", {"object": "balance", "customer": customer})


@pytest.mark.parametrize(
    ("method", "path"),
    [("GET", "/ops/events"), ("GET", "/ops/events/evt_1"), ("POST", "/ops/events/replay")],
)
def test_without_a_token_configured_the_ops_api_does_not_exist(
    make_settings: Callable[..., Settings], sqlite_url: str, method: str, path: str
) -> None:
    client = create_app(make_settings(database_url=sqlite_url, ops_api_token="")).test_client()
    response = client.open(path, method=method, headers=AUTH, json={"all": True})
    assert response.status_code == 404


@pytest.mark.parametrize(
    "header",
    [None, "Bearer wrong-token", f"Basic {TOKEN}", f"Bearer {TOKEN}x", "Bearer ", TOKEN],
)
def test_a_missing_or_wrong_token_gets_401_with_a_bearer_challenge(
    client: FlaskClient, header: str | None
) -> None:
    headers = {"Authorization": header} if header is not None else {}
    for response in (
        client.get("/ops/events", headers=headers),
        client.post("/ops/events/replay", headers=headers, json={"all": True}),
    ):
        assert response.status_code == 401
        assert response.headers["WWW-Authenticate"].startswith("Bearer")
        assert response.json["error"] in ("missing bearer token", "invalid bearer token")
        assert TOKEN not in response.get_data(as_text=True)


def test_the_list_pages_with_a_cursor_oldest_first(client: FlaskClient, settings: Settings) -> None:
    ids = [store(settings, unhandled(), minutes=i) for i in range(5)]
    seen: list[str] = []
    cursor = None
    for _ in range(5):  # bounded: 5 events in pages of 2 need 3 pages
        query = {"limit": 2} | ({"cursor": cursor} if cursor else {})
        page = client.get("/ops/events", query_string=query, headers=AUTH).json
        seen += [e["id"] for e in page["events"]]
        cursor = page["next"]
        if cursor is None:
            break
    assert seen == ids
    first = client.get("/ops/events", headers=AUTH).json["events"][0]
    assert set(first) >= {"id", "type", "status", "attempts", "received_at", "last_error"}
    assert "payload" not in first


def test_the_list_filters_by_status_type_customer_and_window(
    client: FlaskClient, settings: Settings
) -> None:
    target = store(settings, unhandled("cus_a"), minutes=10, status="failed")
    store(settings, unhandled("cus_b"), minutes=10, status="failed")
    store(settings, unhandled("cus_a"), minutes=10, status="processed")
    store(settings, unhandled("cus_a"), minutes=90, status="failed")
    store(settings, samples.invoice_paid_event(customer="cus_a"), minutes=10, status="failed")
    query = {
        "status": "failed",
        "type": "balance.available",
        "customer": "cus_a",
        "since": T0.isoformat(),
        "until": (T0 + timedelta(hours=1)).isoformat(),
    }
    page = client.get("/ops/events", query_string=query, headers=AUTH).json
    assert [e["id"] for e in page["events"]] == [target]
    assert page["next"] is None


@pytest.mark.parametrize(
    "query",
    [
        {"limit": 0},
        {"limit": 501},
        {"limit": "ten"},
        {"status": "lost"},
        {"since": "soon"},
        {"cursor": "not-a-cursor"},
        # Well formed, but its offset puts the moment in the year 0 in UTC.
        {"cursor": urlsafe_b64encode(b"0001-01-01T00:00:00+14:00|evt_1").decode()},
    ],
)
def test_bad_list_parameters_get_400_with_the_reason(
    client: FlaskClient, query: dict[str, Any]
) -> None:
    response = client.get("/ops/events", query_string=query, headers=AUTH)
    assert response.status_code == 400
    assert response.json["error"]


@pytest.mark.parametrize(
    ("query", "reason"),
    [
        (
            {"status": "lost"},
            "status must be one of received, processed, ignored, failed",
        ),
        ({"since": "2025-05-02", "until": "2025-05-01"}, "since must be before until"),
    ],
)
def test_a_filter_that_means_nothing_gets_400_in_the_consoles_words(
    client: FlaskClient, query: dict[str, str], reason: str
) -> None:
    response = client.get("/ops/events", query_string=query, headers=AUTH)
    assert (response.status_code, response.json["error"]) == (400, reason)


def test_show_returns_the_record_its_payload_and_its_last_error(
    client: FlaskClient, settings: Settings
) -> None:
    evt = unhandled()
    event_id = store(settings, evt, minutes=0, status="failed")
    with session_factory(settings.effective_database_url).begin() as session:
        session.execute(
            update(Event).where(Event.id == event_id).values(last_error="FinalError: declined")
        )
    shown = client.get(f"/ops/events/{event_id}", headers=AUTH).json
    assert (shown["id"], shown["status"], shown["last_error"]) == (
        event_id,
        "failed",
        "FinalError: declined",
    )
    assert shown["payload"] == evt
    missing = client.get("/ops/events/evt_nope", headers=AUTH)
    assert missing.status_code == 404 and missing.json == {"error": "no event evt_nope"}


def test_show_masks_card_numbers_in_the_raw_payload_and_the_error(
    client: FlaskClient, settings: Settings
) -> None:
    evt = samples.event(
        "balance.available",
        {"object": "balance", "amount": 120000, "note": "card_4242424242424242"},
    )
    evt["data"]["object"]["metadata"] = {"x4242424242424242y": "4242 4242 4242 4242"}
    event_id = store(settings, evt, minutes=0, status="failed")
    with session_factory(settings.effective_database_url).begin() as session:
        session.execute(
            update(Event)
            .where(Event.id == event_id)
            .values(last_error="declined 5555.5555.5555.4444", last_traceback="4242/4242/4242/4242")
        )
    shown = client.get(f"/ops/events/{event_id}", headers=AUTH).json
    payload = shown["payload"]["data"]["object"]
    assert payload["note"] == "card_[card …4242]" and payload["amount"] == 120000
    assert payload["metadata"] == {"x[card …4242]y": "[card …4242]"}
    assert shown["payload"]["created"] == evt["created"] and shown["id"] == event_id
    assert shown["last_error"] == "declined [card …4444]"
    assert shown["last_traceback"] == "[card …4242]"
    [listed] = client.get("/ops/events", headers=AUTH).json["events"]
    assert listed["last_error"] == "declined [card …4444]"


def test_replay_runs_the_selection_and_returns_the_summary(
    client: FlaskClient, settings: Settings
) -> None:
    failed = [store(settings, unhandled(), minutes=i, status="failed") for i in range(3)]
    store(settings, unhandled(), minutes=5, status="processed")

    dry = client.post(
        "/ops/events/replay", headers=AUTH, json={"status": "failed", "dry_run": True}
    )
    assert dry.status_code == 200
    assert (dry.json["selected"], dry.json["replayed"], dry.json["dry_run"]) == (3, 0, True)

    done = client.post("/ops/events/replay", headers=AUTH, json={"status": "failed"}).json
    assert (done["selected"], done["replayed"], done["failed"], done["next"]) == (3, 3, 0, None)
    again = client.post("/ops/events/replay", headers=AUTH, json={"ids": failed}).json
    assert (again["replayed"], again["unchanged"]) == (0, 3)

    missing = client.post("/ops/events/replay", headers=AUTH, json={"ids": ["evt_nope"]}).json
    assert missing["missing_ids"] == ["evt_nope"]


def test_replay_in_slices_hands_back_a_cursor_until_the_selection_is_done(
    client: FlaskClient, settings: Settings
) -> None:
    ids = [store(settings, unhandled(), minutes=i, status="failed") for i in range(5)]
    replayed = 0
    body: dict[str, Any] = {"all": True, "limit": 2}
    for _ in range(5):
        answer = client.post("/ops/events/replay", headers=AUTH, json=body).json
        replayed += answer["replayed"]
        if answer["next"] is None:
            break
        body["cursor"] = answer["next"]
    assert replayed == len(ids)


@pytest.mark.parametrize(
    "body",
    [
        [],
        {},
        {"ids": "evt_1"},
        {"ids": ["evt_1"], "status": "failed"},
        {"all": True, "dry_run": 1},
        {"status": "failed", "limit": 9999},
    ],
)
def test_a_replay_request_that_means_nothing_or_too_much_gets_400(
    client: FlaskClient, body: Any
) -> None:
    response = client.post("/ops/events/replay", headers=AUTH, json=body)
    assert response.status_code == 400
    assert response.json["error"]


def test_a_moment_out_of_range_or_a_body_out_of_bounds_gets_400_saying_so(
    client: FlaskClient,
) -> None:
    for query, reason in (
        ({"since": "99999999d"}, "a duration ago is at most 36500d (100 years)"),
        ({"until": "0001-01-01T00:00:00+01:00"}, "is outside the years 1 to 9999 in UTC"),
    ):
        listed = client.get("/ops/events", query_string=query, headers=AUTH)
        replayed = client.post("/ops/events/replay", headers=AUTH, json=query)
        for response in (listed, replayed):
            assert response.status_code == 400, query
            assert reason in response.json["error"], query

    nested = '{"ids": ' + "[" * 5000 + "]" * 5000 + "}"
    huge_limit = '{"all": true, "limit": 1' + "0" * 30 + "}"
    for body in (nested, huge_limit):
        response = client.post(
            "/ops/events/replay", headers=AUTH, data=body, content_type="application/json"
        )
        assert response.status_code == 400
        expected = "body must be a JSON object (nested at most 32 levels, integers within 64 bits)"
        assert response.json["error"] == expected


def test_events_filter_by_account_and_name_a_connected_one(client: FlaskClient, settings) -> None:
    connected = dict(unhandled(), account="acct_1OpsShop")
    store(settings, connected, minutes=2)
    platform = store(settings, unhandled(), minutes=1)

    mine = client.get("/ops/events", query_string={"account": "acct_1OpsShop"}, headers=AUTH)
    assert [(e["id"], e["account"]) for e in mine.json["events"]] == [
        (connected["id"], "acct_1OpsShop")
    ]
    own = client.get("/ops/events", query_string={"account": "platform"}, headers=AUTH)
    assert [(e["id"], e["account"]) for e in own.json["events"]] == [(platform, None)]
    wrong = client.get("/ops/events", query_string={"account": "cus_ops"}, headers=AUTH)
    assert wrong.status_code == 400 and "not a Stripe account" in wrong.json["error"]


def from_address(client: FlaskClient, address: str, token: str) -> TestResponse:
    return client.get(
        "/ops/events",
        headers={"Authorization": f"Bearer {token}"},
        environ_base={"REMOTE_ADDR": address},
    )


def test_wrong_tokens_in_a_row_are_refused_429_while_another_address_still_gets_in(
    client: FlaskClient,
) -> None:
    statuses = [from_address(client, "10.0.0.7", f"guess-{n}").status_code for n in range(50)]
    assert statuses[:FREE_FAILURES] == [401] * FREE_FAILURES
    assert statuses[FREE_FAILURES] == 429
    # Each wrong token counted after a wait doubles the next wait: few more are ever compared.
    assert statuses.count(401) <= FREE_FAILURES + 3, statuses
    assert statuses.count(429) >= 50 - FREE_FAILURES - 3

    assert from_address(client, "10.0.0.8", TOKEN).status_code == 200
    waiting = from_address(client, "10.0.0.7", TOKEN)  # the right token is not even compared
    assert waiting.status_code == 429
    assert 1 <= int(waiting.headers["Retry-After"]) <= 2
    assert TOKEN not in waiting.get_data(as_text=True)


def test_each_wrong_token_after_a_wait_doubles_the_next_wait(
    client: FlaskClient, settings: Settings
) -> None:
    sessions = session_factory(settings.effective_database_url)
    waits = []
    for n in range(FREE_FAILURES + 4):
        assert from_address(client, "10.0.0.7", f"guess-{n}").status_code == 401
        with sessions.begin() as session:
            row = session.get_one(AuthFailures, "10.0.0.7")
            wait = row.blocked_until - row.last_failure_at if row.blocked_until else timedelta(0)
            waits.append(wait.total_seconds())
            row.blocked_until = None  # the client waits it out
    assert waits == [0, 0, 0, 0, 1, 2, 4, 8, 16]

    with sessions.begin() as session:
        session.execute(update(AuthFailures).values(blocked_until=None))
    assert from_address(client, "10.0.0.7", TOKEN).status_code == 200
    assert from_address(client, "10.0.0.7", "guess-again").status_code == 401  # forgiven
    assert from_address(client, "10.0.0.7", TOKEN).status_code == 200


def test_behind_a_trusted_proxy_wrong_tokens_count_per_forwarded_client(
    make_settings: Callable[..., Settings], database_url: str
) -> None:
    behind = create_app(
        make_settings(database_url=database_url, ops_api_token=TOKEN, trusted_proxies=1)
    ).test_client()

    def via_proxy(client: str, token: str) -> int:
        return behind.get(
            "/ops/events",
            headers={"Authorization": f"Bearer {token}", "X-Forwarded-For": client},
            environ_base={"REMOTE_ADDR": "172.18.0.5"},  # nginx, for every client
        ).status_code

    assert [via_proxy("203.0.113.9", f"guess-{n}") for n in range(FREE_FAILURES + 1)][-1] == 429
    assert via_proxy("198.51.100.4", TOKEN) == 200  # another client, through the same proxy


def test_without_a_trusted_proxy_a_client_cannot_name_another_address(client: FlaskClient) -> None:
    def claiming(address: str, token: str) -> int:
        return client.get(
            "/ops/events",
            headers={"Authorization": f"Bearer {token}", "X-Forwarded-For": address},
            environ_base={"REMOTE_ADDR": "10.0.0.7"},
        ).status_code

    statuses = [claiming(f"192.0.2.{n}", f"guess-{n}") for n in range(FREE_FAILURES + 1)]
    assert statuses[-1] == 429  # counted against its own address, whatever it claimed
