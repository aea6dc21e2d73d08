"""Stripe's side of a running receiver: a delivery as Stripe makes it, and the wait for the
worker to have handled the event it carried."""

from __future__ import annotations

from typing import Any

import requests

from webhooks.signature import sign
from worker import samples
from worker.db.models import Event
from worker.db.session import session_factory

from .processes import wait_until


def deliver(
    url: str,
    evt: dict[str, Any] | str,
    secret: str,
    *,
    http: requests.Session | None = None,
    timeout: float = 15,
) -> requests.Response:
    """POST the event to the webhook `url`, signed anew each time as Stripe signs a retry. Pass
    the body rendered (`samples.body`) to deliver the same bytes many times cheaply."""
    payload = evt if isinstance(evt, str) else samples.body(evt)
    headers = {"Stripe-Signature": sign(payload, secret), "Content-Type": "application/json"}
    return (http or requests).post(url, data=payload.encode(), headers=headers, timeout=timeout)


def wait_handled(database_url: str, event_id: str, timeout: float = 30) -> Event:
    """The stored event once a worker has handled it: any status but `received`."""
    sessions = session_factory(database_url)

    def handled() -> Event | None:
        with sessions() as session:
            event = session.get(Event, event_id)
            return event if event is not None and event.status != "received" else None

    return wait_until(handled, timeout, f"{event_id} to be handled")
