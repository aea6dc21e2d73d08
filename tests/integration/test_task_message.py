"""The doorbell's pre-built message (tasks/publisher.py) is the message Celery itself would send,
and our Celery worker runs it; a broker outage fails the doorbell fast, and the next one after
the broker is back gets through."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
import redis
from celery import Celery
from harness.processes import ProcessGroup, wait_until
from harness.servers import RedisServer
from sqlalchemy import select

from tasks.celery_app import create_celery, enqueuer, group_enqueuer
from tasks.names import PROCESS_EVENT, PROCESS_EVENTS
from worker import samples
from worker.config import Settings
from worker.db.models import Event
from worker.db.session import session_factory
from worker.eventlog.intake import parse_event, store_event

pytestmark = pytest.mark.services

# What differs between any two messages of the same task: its id, and the id of the event.
PER_MESSAGE = {"id", "root_id", "argsrepr", "correlation_id", "delivery_tag"}


def popped(url: str) -> dict[str, Any]:
    raw = redis.Redis.from_url(url).rpop("celery")  # kombu LPUSHes: the oldest is on the right
    assert raw is not None, "nothing queued"
    return json.loads(raw)


def without_ids(message: dict[str, Any]) -> dict[str, Any]:
    def strip(part: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in part.items() if k not in PER_MESSAGE}

    return {
        **strip(message),
        "headers": strip(message["headers"]),
        "properties": strip(message["properties"]),
        "body": json.loads(base64.b64decode(message["body"])),
    }


@dataclass(frozen=True)
class Doorbell:
    """One way intake rings for stored events: the task, its pre-built publisher, and the
    arguments of the messages that ring for a list of event ids."""

    task: str
    publisher: Callable[[Celery], Callable[[Any], None]]
    messages: Callable[[list[str]], list[Any]]


@pytest.fixture(
    params=[
        Doorbell(PROCESS_EVENT, enqueuer, lambda ids: ids),  # a message an event
        Doorbell(PROCESS_EVENTS, group_enqueuer, lambda ids: [ids]),  # an intake group's
    ],
    ids=["an event's", "a group's"],
)
def doorbell(request: pytest.FixtureRequest) -> Doorbell:
    return request.param


def test_the_prebuilt_message_is_the_one_send_task_sends(
    make_settings: Callable[..., Settings], sqlite_url: str, redis_url: str, doorbell: Doorbell
) -> None:
    app = create_celery(make_settings(database_url=sqlite_url, broker_url=redis_url))
    [arg, *_] = doorbell.messages(["evt_a", "evt_b"])
    app.send_task(doorbell.task, args=[arg], retry=False)
    doorbell.publisher(app)(arg)

    by_celery, prebuilt = popped(redis_url), popped(redis_url)
    assert without_ids(prebuilt) == without_ids(by_celery)
    headers = prebuilt["headers"]
    assert headers["task"] == doorbell.task and headers["argsrepr"] == repr([arg])
    assert headers["id"] == headers["root_id"] == prebuilt["properties"]["correlation_id"]
    assert headers["id"] != by_celery["headers"]["id"]


def test_a_celery_worker_runs_the_prebuilt_messages(
    make_settings: Callable[..., Settings],
    pg_url: str,
    redis_url: str,
    processes: ProcessGroup,
    service_env: Callable[..., dict[str, str]],
    doorbell: Doorbell,
) -> None:
    # Types without a handler: the worker marks each `ignored`, no Stripe call needed.
    events = [
        samples.event("customer.tax_id.created", {"id": f"txi_{n}", "customer": f"cus_G{n}"})
        for n in range(3)
    ]
    sessions = session_factory(pg_url)
    for evt in events:
        store_event(sessions, parse_event(samples.body(evt)))
    ids = [evt["id"] for evt in events]
    enqueue = doorbell.publisher(
        create_celery(make_settings(database_url=pg_url, broker_url=redis_url))
    )
    for arg in doorbell.messages(ids):
        enqueue(arg)
    processes.worker(service_env(DATABASE_URL=pg_url, BROKER_URL=redis_url))

    def statuses() -> list[str] | None:
        with sessions() as session:
            found = session.scalars(select(Event.status).where(Event.id.in_(ids))).all()
        return list(found) if "received" not in found else None

    assert wait_until(statuses, timeout=60, what="the worker to run the tasks") == ["ignored"] * 3


def test_with_the_broker_down_the_doorbell_fails_fast_and_rings_once_it_is_back(
    make_settings: Callable[..., Settings], sqlite_url: str, redis_server: RedisServer
) -> None:
    url = redis_server.emptied()
    enqueue = enqueuer(create_celery(make_settings(database_url=sqlite_url, broker_url=url)))
    enqueue("evt_before")  # a connection is now open...
    assert popped(url)["headers"]["argsrepr"] == "['evt_before']"
    redis_server.stop()  # ...and dies with the server
    try:
        with pytest.raises(Exception):  # noqa: B017, PT011 - whatever the transport raises
            enqueue("evt_during")
    finally:
        redis_server.start()
    enqueue("evt_after")  # the same publisher reconnects
    assert popped(url)["headers"]["argsrepr"] == "['evt_after']"
