"""Stripe Connect end to end: a connected account's events, posted signed by its Connect endpoint
to the running receiver, are processed by `billing-worker run` with every Stripe call made on
that account (the `Stripe-Account` header, recorded by a proxy in front of stripe-mock), and
the platform's own with none."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from harness.processes import CLI, ProcessGroup, wait_until
from harness.recording_proxy import RecordingProxy, Seen
from harness.servers import free_port
from signing import CONNECT_WEBHOOK_SECRET
from sqlalchemy import select

from worker.db.models import PLATFORM, Customer, Event, StripeCall
from worker.db.session import session_factory

CONNECTED = "acct_1ConnectE2E"
# Reads and writes alike: a chargeback lost (subscriptions listed and canceled, the customer
# marked), a plan change (prices, pending items), a refund that failed (the charge re-read).
TRIGGERED = ("charge.dispute.closed:lost", "customer.subscription.updated", "refund.failed")


@pytest.fixture
def proxy(stripe_mock) -> RecordingProxy:  # type: ignore[no-untyped-def]
    with RecordingProxy(stripe_mock.url) as recording:
        yield recording


def _trigger(name: str, account: str | None, env: dict[str, str], cwd: Path) -> list[str]:
    extra = ["--account", account] if account else []
    ran = subprocess.run(
        [*CLI, "events", "trigger", name, "--format", "json", *extra],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert ran.returncode == 0, ran.stdout + ran.stderr
    return [delivery["id"] for delivery in json.loads(ran.stdout)]


def test_a_connected_accounts_events_call_stripe_on_that_account_and_the_platforms_on_none(
    tmp_path: Path, service_env, processes: ProcessGroup, proxy: RecordingProxy
) -> None:
    env = service_env(
        STRIPE_API_BASE=proxy.url,
        STRIPE_CONNECT_WEBHOOK_SECRETS=CONNECT_WEBHOOK_SECRET,
        STRIPE_RATE_LIMIT="0",
        PORT=str(free_port()),
    )
    run = processes.all_in_one(env)
    sessions = session_factory(f"sqlite:///{tmp_path / 'billing.sqlite3'}")

    def processed(ids: list[str]) -> list[Event] | None:
        with sessions() as session:
            rows = session.scalars(select(Event).where(Event.id.in_(ids))).all()
        return list(rows) if all(row.status != "received" for row in rows) else None

    seen: dict[str | None, list[Seen]] = {}
    try:
        for account in (CONNECTED, None):
            ids = [i for name in TRIGGERED for i in _trigger(name, account, env, tmp_path)]
            rows = wait_until(lambda ids=ids: processed(ids), 60, "the triggered events")
            assert {(row.status, row.account) for row in rows} == {
                ("processed", account or PLATFORM)
            }, [(row.type, row.last_error) for row in rows if row.status != "processed"]
            seen[account] = proxy.take()
    finally:
        processes.stop(run)

    connected, platform = seen[CONNECTED], seen[None]
    for calls in (connected, platform):
        assert any(call.method == "GET" for call in calls)
        assert any(call.method in ("POST", "DELETE") for call in calls)
    # Every call, each page and retry included, names the account; the platform's none.
    assert {call.stripe_account for call in connected} == {CONNECTED}
    assert {call.stripe_account for call in platform} == {None}
    # A connected account's keys name it, so they never meet another account's.
    assert all(
        call.idempotency_key.startswith(f"bw:{CONNECTED}:")
        for call in connected
        if call.idempotency_key
    )
    with sessions() as session:
        keys = session.scalars(select(StripeCall.idempotency_key)).all()
        accounts = set(session.scalars(select(Customer.account)))
    assert any(key.startswith(f"bw:{CONNECTED}:") for key in keys)
    assert accounts == {CONNECTED, PLATFORM}
