"""The CLI prints what customers typed with card numbers masked, as the console and the ops API
show it: an event's payload and error (`events show`, `events list`), a refund request's note
(`refunds request`, `refunds list`); JSON output still parses, with numbers as numbers."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from billing_world import BillingWorld
from harness.processes import CLI
from harness.servers import StripeMock
from sqlalchemy import update
from test_refund_exit_codes import bought_6_days_ago

from worker import samples
from worker.db.models import Event
from worker.db.session import session_factory
from worker.eventlog.intake import parse_event, store_event

pytestmark = pytest.mark.services
TYPED = "card_4242424242424242 or 5555.5555.5555.4444 or x3782-822463-10005y"
MASKED = "card_[card …4242] or [card …4444] or x[card …0005]y"
HIDDEN = ("4242424242424242", "5555.5555.5555", "822463")


def cli(args: list[str], env: dict[str, str], cwd: Path) -> str:
    done = subprocess.run(CLI + args, env=env, cwd=cwd, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    for hidden in HIDDEN:
        assert hidden not in done.stdout, args
    return done.stdout


def test_events_show_and_list_mask_the_payload_and_the_error(
    sqlite_url: str, service_env, tmp_path: Path
) -> None:
    evt = samples.event("balance.available", {"object": "balance", "amount": 120000, "note": TYPED})
    sessions = session_factory(sqlite_url)
    store_event(sessions, parse_event(samples.body(evt)))
    with sessions.begin() as session:
        session.execute(
            update(Event).where(Event.id == evt["id"]).values(status="failed", last_error=TYPED)
        )
    env = service_env(DATABASE_URL=sqlite_url)

    shown = json.loads(cli(["events", "show", evt["id"]], env, tmp_path))
    assert shown["payload"]["data"]["object"] == {
        "object": "balance",
        "amount": 120000,
        "note": MASKED,
    }
    assert shown["last_error"] == MASKED
    assert "[card …4444]" in cli(["events", "show", evt["id"], "--format", "text"], env, tmp_path)
    [listed] = json.loads(cli(["events", "list", "--format", "json"], env, tmp_path))
    assert listed["last_error"] == MASKED


def test_a_refund_requests_note_is_printed_masked(
    make_settings, sqlite_url: str, stripe_mock: StripeMock, service_env, tmp_path: Path
) -> None:
    w = BillingWorld.create(make_settings(database_url=sqlite_url), stripe_mock.url)
    bought_6_days_ago(w)
    env = service_env(DATABASE_URL=sqlite_url)
    request = ["refunds", "request", "--customer", "cus_ana", "--invoice", "A1-6"]
    request += ["--reason", "requested_by_customer", "--note", TYPED, "--format", "json"]

    made = json.loads(cli(request, env, tmp_path))
    assert (made["status"], made["note"]) == ("refunded", MASKED)
    [listed] = json.loads(cli(["refunds", "list", "--format", "json"], env, tmp_path))
    assert (listed["note"], listed["amount"]) == (MASKED, 110000)
