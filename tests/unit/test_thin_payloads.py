"""`send-test --thin` / `events trigger TYPE --thin`: every fixture has a thin version the
receiver stores as thin, naming its object where Stripe's API serves it, and whose type the
handler table knows."""

from __future__ import annotations

import json

import pytest

from worker import samples
from worker.eventlog.intake import parse_event
from worker.fixtures.triggers import TRIGGERS
from worker.handlers import HANDLERS, handled_type


@pytest.mark.parametrize("name", list(TRIGGERS))
def test_each_triggers_thin_version_is_stored_as_thin_and_reaches_its_handler(name: str) -> None:
    for snapshot in TRIGGERS[name]():
        incoming = parse_event(samples.body(samples.thin_event(snapshot)))
        obj = snapshot["data"]["object"]
        related = json.loads(incoming.payload)["related_object"]
        assert (incoming.payload_type, incoming.type) == ("thin", f"v1.{snapshot['type']}")
        assert related["url"].endswith(f"/{obj['id']}") and related["type"] == obj["object"]
        assert handled_type(incoming.type, thin=True) in HANDLERS
