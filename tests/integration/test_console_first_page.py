"""The console's first page: where /ops/ leads, and what it says when no ops token is set."""

from __future__ import annotations

from webhooks import create_app


def test_without_an_ops_token_the_console_says_how_to_start_with_one(
    make_settings, sqlite_url: str
) -> None:
    client = create_app(make_settings(database_url=sqlite_url, ops_api_token="")).test_client()

    assert client.get("/ops/").headers["Location"].endswith("/ops/console/")
    for page in ("/ops/console/", "/ops/console/events", "/ops/console/login"):
        answer = client.get(page)
        assert answer.status_code == 404  # still no console, as with the JSON API
        text = answer.get_data(as_text=True)
        assert "The ops console is off" in text and "OPS_API_TOKEN" in text
        assert "./scripts/run" in text
    assert client.get("/ops/events").get_json() == {"error": "not found"}


def test_with_an_ops_token_ops_leads_to_the_console_login(make_settings, sqlite_url: str) -> None:
    client = create_app(
        make_settings(database_url=sqlite_url, ops_api_token="t0ken-for-the-console")
    ).test_client()

    assert client.get("/ops/").headers["Location"].endswith("/ops/console/")
    first = client.get("/ops/console/", follow_redirects=True)
    assert first.status_code == 200 and "The ops console is off" not in first.get_data(as_text=True)
    assert first.request.path == "/ops/console/login"
    assert client.get("/ops/events").status_code == 401  # the JSON API still wants its bearer
