"""Logs of a real receiver and Celery worker at DEBUG, over good events, duplicates, refused
deliveries (bad signatures, a stale one, a body that is not JSON) and failing events: no secret,
signature, card number or raw body appears, and every line of an event's work says which event,
type, customer, refund request and Celery task it belongs to.
"""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import requests
from harness.processes import CLI, ProcessGroup, wait_until
from harness.servers import PostgresServer, free_port
from signing import OLD_WEBHOOK_SECRET, WEBHOOK_SECRET, signed_headers
from sqlalchemy import select

from webhooks.signature import sign
from worker import samples
from worker.db.models import Event
from worker.db.session import session_factory

API_KEY = "sk_test_leakcheck" + secrets.token_hex(12)
WRONG_SECRET = "whsec_leakcheck_never_configured_" + secrets.token_hex(6)
DB_PASSWORD = "pw-leakcheck-" + secrets.token_hex(4)
RAW_BODY_MARKER = "raw-body-marker-" + secrets.token_hex(6)
CARD_NUMBERS = ("4242424242424242", "4000056655665556", "4242 4242 4242 4242")


def with_card_data(evt: dict[str, Any]) -> dict[str, Any]:
    """Fixture data no log may show: card numbers and a marker only the raw body carries."""
    obj = evt["data"]["object"]
    obj["metadata"] = {
        **(obj.get("metadata") or {}),
        "note": RAW_BODY_MARKER,
        "card_number": CARD_NUMBERS[0],
        "backup_card": CARD_NUMBERS[2],
    }
    return evt


def json_lines(path: Path) -> list[dict[str, Any]]:
    lines = path.read_text(errors="replace").splitlines()
    return [json.loads(line) for line in lines if line.startswith("{")]


def test_logs_of_receiver_and_worker_leak_nothing_and_carry_the_event_context(
    tmp_path: Path,
    postgres_server: PostgresServer,
    redis_url: str,
    service_env: Callable[..., dict[str, str]],
    processes: ProcessGroup,
) -> None:
    database_url = postgres_server.create_owned_database("billing", "billing", DB_PASSWORD)
    port = free_port()
    env = service_env(
        DATABASE_URL=database_url,
        BROKER_URL=redis_url,
        PORT=str(port),
        STRIPE_API_KEY=API_KEY,
        STRIPE_WEBHOOK_SECRETS=WEBHOOK_SECRET,
        LOG_LEVEL="DEBUG",
        TASK_MAX_RETRIES="0",
    )
    migrated = processes.spawn(CLI + ["db", "upgrade"], env, "migrate.log")
    assert migrated.wait(timeout=120) == 0
    processes.receiver(env)
    processes.worker(env)
    url = f"http://127.0.0.1:{port}/webhooks/stripe"
    sent_headers: list[str] = []

    def post(body: str, headers: dict[str, str]) -> int:
        sent_headers.append(headers.get("Stripe-Signature", ""))
        return requests.post(url, data=body.encode(), headers=headers, timeout=10).status_code

    paid = with_card_data(samples.invoice_paid_event(customer="cus_leak_paid"))
    refund = with_card_data(
        samples.event(
            "refund.created",
            samples.refund(
                payment_intent="pi_leak", amount=500, metadata={"refund_request_id": "rr_leak_1"}
            ),
        )
    )
    customer = with_card_data(
        samples.event(
            "customer.created",
            {"id": "cus_leak_new", "object": "customer", "email": "leak@example.com"},
        )
    )
    unknown = with_card_data(
        samples.event(
            "charge.dispute.created",
            {**samples.dispute(charge="ch_leak_unknown", payment_intent=None), "customer": None},
        )
    )
    good = [paid, refund, customer, unknown]
    try:
        for evt in good:
            body = samples.body(evt)
            assert post(body, signed_headers(body)) == 200
        body = samples.body(paid)
        assert post(body, signed_headers(body)) == 200  # a duplicate
        stale = int(time.time()) - 3600
        assert post(body, signed_headers(body, WRONG_SECRET)) == 400
        assert post(body, signed_headers(body, OLD_WEBHOOK_SECRET)) == 400
        assert post(body, signed_headers(body, timestamp=stale)) == 400
        assert post(body, {"Stripe-Signature": sign(body + " ", WEBHOOK_SECRET)}) == 400
        assert post(body, {"Content-Type": "application/json"}) == 400
        not_json = f"card {CARD_NUMBERS[1]} {RAW_BODY_MARKER} {{"
        assert post(not_json, signed_headers(not_json)) == 400

        sessions = session_factory(database_url)

        def all_worked() -> dict[str, str] | None:
            with sessions() as session:
                found = dict(session.execute(select(Event.id, Event.status)).all())
            waiting = [s for s in found.values() if s == "received"]
            return found if len(found) == len(good) and not waiting else None

        statuses = wait_until(all_worked, 60, "every event to be worked on")
        assert "failed" in statuses.values() and "processed" in statuses.values(), statuses
    finally:
        processes.stop_all()

    logs = {
        name: (tmp_path / name).read_text(errors="replace") for name in ("serve.log", "worker.log")
    }
    everything = "\n".join(logs.values())
    signatures = [part for header in sent_headers for part in header.split(",") if "v1=" in part]
    forbidden = [WEBHOOK_SECRET, OLD_WEBHOOK_SECRET, WRONG_SECRET, API_KEY, DB_PASSWORD]
    forbidden += [API_KEY.removeprefix("sk_test_"), RAW_BODY_MARKER, *CARD_NUMBERS, *signatures]
    for text in forbidden:
        assert text not in everything, f"{text!r} leaked into the logs"
    assert "whsec_" not in everything.replace("whsec_…", "")

    # Every JSON line; the receiver's deliveries and the worker's task lines carry their event.
    expected = {evt["id"]: evt for evt in good}
    stored = [
        line for line in json_lines(tmp_path / "serve.log") if line["event"] == "webhook stored"
    ]
    assert {line["event_id"] for line in stored} == set(expected)
    for line in stored:
        assert line["event_type"] == expected[line["event_id"]]["type"]
    task_lines = [
        line
        for line in json_lines(tmp_path / "worker.log")
        if line.get("task") == "tasks.process_event"
    ]
    assert {line.get("event_id") for line in task_lines} == set(expected), task_lines[:3]
    customers = {paid["id"]: "cus_leak_paid", customer["id"]: "cus_leak_new"}
    for line in task_lines:
        assert line["celery_task_id"], line
        evt = expected[line["event_id"]]
        if "event_type" in line:
            assert line["event_type"] == evt["type"], line
        if line["event_id"] in customers and "event_type" in line:
            assert line["customer"] == customers[line["event_id"]], line
        if line["event_id"] == refund["id"] and "event_type" in line:
            assert line["refund_request_id"] == "rr_leak_1", line
        others = set(expected) - {line["event_id"]}
        assert not any(other in json.dumps(line) for other in others), line  # no bleed
    finished = [line for line in task_lines if "succeeded" in line["event"]]
    assert len(finished) >= len(good) and all("event_type" in line for line in finished)
