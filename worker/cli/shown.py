"""What the commands print that a customer or Stripe wrote (payloads, notes, errors): scrubbed
of card numbers and secrets, as the console and the ops API show it (`worker.redact`)."""

from __future__ import annotations

import json
from typing import Any

import click

from worker.redact import scrub, scrub_data


def echo_json(value: Any) -> None:
    """The value as indented JSON, its strings scrubbed: numbers stay numbers, so it parses."""
    click.echo(json.dumps(scrub_data(value), indent=2))


def echo_text(text: str) -> None:
    click.echo(scrub(text))
