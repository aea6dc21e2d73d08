"""The doorbell's message, built once and published with kombu: the receiver's hot path.

`Celery.send_task` rebuilds everything on every call: routing, the protocol-2 headers (with
`saferepr` of the arguments), a producer from the pool, the queue's declaration check, signals.
For one task with one string argument, all of that is the same every time but the task id and
the event id, and it cost about as much CPU as storing the event. So Celery builds the message
once (`as_task_v2`, the same function `send_task` uses) and each doorbell copies its headers,
sets the two ids and publishes a pre-serialised body on a producer kept for the thread.
tests/integration/test_task_message.py proves the message equals `send_task`'s and that a Celery
worker runs it.
"""

from __future__ import annotations

import contextlib
import json
import os
import threading
from typing import Any

from celery import Celery
from kombu import Producer
from kombu.utils.uuid import uuid

from tasks.names import PROCESS_EVENT

_ID = "00000000-0000-0000-0000-000000000000"  # stand-ins, replaced in every message
_ARG = "evt_placeholder"


class TaskPublisher:
    """`publisher(event_id)` queues the task for `event_id` (or a list of ids, for a task that
    takes one); raises if the broker is down."""

    def __init__(self, app: Celery, name: str = PROCESS_EVENT) -> None:
        self.app = app
        headers, properties, body, _sent = app.amqp.as_task_v2(
            _ID,
            name,
            args=[_ARG],
            kwargs={},
            ignore_result=None,  # as send_task: the task's own
        )
        self._headers: dict[str, Any] = headers
        self._properties: dict[str, Any] = properties
        _args, self._kwargs, self._embed = body
        route = app.amqp.router.route({}, name, [_ARG], {})
        self._queue = route["queue"]
        self._delivery_mode = (
            self._queue.exchange.delivery_mode or app.conf.task_default_delivery_mode
        )
        self._local = threading.local()

    def __call__(self, event_id: str | list[str]) -> None:
        task_id = uuid()
        headers = dict(self._headers, id=task_id, root_id=task_id, argsrepr=repr([event_id]))
        body = json.dumps([[event_id], self._kwargs, self._embed])
        producer, declare = self._producer()
        try:
            producer.publish(
                body,
                exchange="",
                routing_key=self._queue.name,
                headers=headers,
                content_type="application/json",
                content_encoding="utf-8",
                delivery_mode=self._delivery_mode,
                declare=declare,
                retry=False,
                # As send_task: replies (if a result backend wanted them) go to this thread's oid.
                **dict(self._properties, correlation_id=task_id, reply_to=self.app.thread_oid),
            )
        except Exception:
            self._forget_producer()  # a broken connection: the next doorbell connects afresh
            raise

    def _producer(self) -> tuple[Producer, list[Any]]:
        # One per thread (kombu channels are not thread-safe), and a new one in a forked child.
        local = self._local
        if getattr(local, "pid", None) != os.getpid() or local.producer is None:
            local.pid = os.getpid()
            local.producer = Producer(self.app.connection_for_write())
            return local.producer, [self._queue]  # declared once per producer, as send_task does
        return local.producer, []

    def _forget_producer(self) -> None:
        producer = getattr(self._local, "producer", None)
        self._local.producer = None
        if producer is not None:
            with contextlib.suppress(Exception):  # already broken: nothing more to release
                producer.connection.release()
