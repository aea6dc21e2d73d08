"""Log lines name only their own event and customer (issue 25, item 3).

A replay binds its event, customer and refund request to the log context of the thread or
process that runs it; the next, unrelated unit of work there (a refused delivery, another event's
delivery, another task) must start without them. Checked on the real receiver (gunicorn with one
thread, so every request after the replay runs on the thread that replayed) and on a real Celery
worker with one process, by reading their JSON log lines.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import requests
from console_support import OPS_TOKEN, csrf_token
from harness.deliveries import deliver, wait_handled
from harness.processes import ProcessGroup, wait_until
from harness.servers import free_port
from signing import OLD_WEBHOOK_SECRET, WEBHOOK_SECRET
from test_log_leaks import json_lines

from tasks.names import SWEEP
from worker import samples
from worker.bootstrap import bootstrap
from worker.config import Settings
from worker.eventlog.intake import parse_event, store_event

CUSTOMER = "cus_replayed_one"
REFUND_REQUEST = "rr_replayed_one"
# What the replayed event's lines say, and no other unit's line may.
REPLAYED_LABELS = ("event_id", "event_type", "customer", "refund_request_id")


def replayed_event() -> dict[str, Any]:
    """An event of a customer and a refund request, of a type no handler takes (ignored)."""
    obj = {
        "id": samples.new_id("pi"),
        "object": "payment_intent",
        "customer": CUSTOMER,
        "metadata": {"refund_request_id": REFUND_REQUEST},
    }
    return samples.event("payment_intent.created", obj)


def unrelated_event() -> dict[str, Any]:
    return samples.event("balance.available", {"object": "balance"})


def sign_in_to_console(http: requests.Session, base: str) -> str:
    """Sign in as a person would; the CSRF token of the session's forms."""
    login = http.get(f"{base}/ops/console/login", timeout=10)
    signed_in = http.post(
        f"{base}/ops/console/login",
        data={"csrf_token": csrf_token(login.text), "name": "Ana", "token": OPS_TOKEN},
        timeout=10,
    )
    assert signed_in.ok, signed_in.status_code
    return csrf_token(http.get(f"{base}/ops/console/events", timeout=10).text)


def test_requests_after_a_replay_on_the_same_thread_carry_nothing_of_its_event(
    tmp_path: Path,
    sqlite_url: str,
    service_env: Callable[..., dict[str, str]],
    processes: ProcessGroup,
) -> None:
    port = free_port()
    env = service_env(
        DATABASE_URL=sqlite_url,
        PORT=str(port),
        OPS_API_TOKEN=OPS_TOKEN,
        GUNICORN_CMD_ARGS="--threads 1",  # one worker thread: it serves every request below
    )
    processes.receiver(env, workers=1)
    base = f"http://127.0.0.1:{port}"
    url = f"{base}/webhooks/stripe"
    replayed = replayed_event()
    later = [unrelated_event(), unrelated_event()]
    with requests.Session() as http:
        assert deliver(url, replayed, WEBHOOK_SECRET, http=http).status_code == 200
        csrf = sign_in_to_console(http, base)
        page = http.post(
            f"{base}/ops/console/events/{replayed['id']}/replay",
            data={"csrf_token": csrf},
            timeout=30,
        )
        assert "replayed: received → ignored" in page.text
        # Unrelated requests on the thread that replayed: a refused and a stored delivery.
        assert deliver(url, later[0], OLD_WEBHOOK_SECRET, http=http).status_code == 400
        assert deliver(url, later[0], WEBHOOK_SECRET, http=http).status_code == 200
        replay = http.post(
            f"{base}/ops/events/replay",
            json={"ids": [replayed["id"]]},
            headers={"Authorization": f"Bearer {OPS_TOKEN}"},
            timeout=30,
        )
        assert replay.json()["unchanged"] == 1, replay.text  # ignored again
        assert deliver(url, later[1], OLD_WEBHOOK_SECRET, http=http).status_code == 400
        assert deliver(url, later[1], WEBHOOK_SECRET, http=http).status_code == 200
    processes.stop_all()

    lines = json_lines(tmp_path / "serve.log")
    refused = [line for line in lines if line["event"] == "webhook refused"]
    assert len(refused) == 2
    for line in refused:
        assert not {key: line[key] for key in REPLAYED_LABELS if key in line}, line
        assert line["request"] == "POST /webhooks/stripe", line
    stored = {line["event_id"]: line for line in lines if line["event"] == "webhook stored"}
    assert set(stored) == {replayed["id"], *(evt["id"] for evt in later)}
    for evt in later:
        line = stored[evt["id"]]
        assert (line["event_type"], line.get("customer")) == ("balance.available", None), line
        assert "refund_request_id" not in line, line


def test_a_celery_task_after_an_events_task_in_the_same_process_carries_nothing_of_it(
    tmp_path: Path,
    sqlite_url: str,
    redis_url: str,
    make_settings: Callable[..., Settings],
    service_env: Callable[..., dict[str, str]],
    processes: ProcessGroup,
) -> None:
    env = service_env(DATABASE_URL=sqlite_url, BROKER_URL=redis_url)
    processes.worker(env, concurrency=1)  # one process runs both tasks
    runtime = bootstrap(make_settings(database_url=sqlite_url, broker_url=redis_url))
    replayed = replayed_event()
    store_event(runtime.sessions, parse_event(samples.body(replayed)))
    runtime.enqueue(replayed["id"])
    assert wait_handled(sqlite_url, replayed["id"], timeout=60).status == "ignored"
    sweep_id = runtime.celery.send_task(SWEEP).id
    log = tmp_path / "worker.log"

    def sweep_lines() -> list[dict[str, Any]]:
        lines = [line for line in json_lines(log) if line.get("celery_task_id") == sweep_id]
        return lines if any("succeeded" in line["event"] for line in lines) else []

    lines = wait_until(sweep_lines, 60, "the sweep task to succeed")
    processes.stop_all()

    events_task = [line for line in json_lines(log) if line.get("event_id") == replayed["id"]]
    assert any(line.get("customer") == CUSTOMER for line in events_task)  # it was bound there
    for line in lines:
        assert line["task"] == SWEEP, line
        assert not {key: line[key] for key in REPLAYED_LABELS if key in line}, line
