"""What a view reads from the app it runs in: the runtime `create_app` built, and the secrets."""

from __future__ import annotations

from flask import Flask, current_app

from worker.eventlog.group_intake import GroupIntake
from worker.runtime import Runtime

_RUNTIME = "billing_runtime"
_SECRETS = "billing_webhook_secrets"
_INTAKE = "billing_group_intake"


def install(app: Flask, runtime: Runtime, webhook_secrets: list[str]) -> None:
    app.extensions[_RUNTIME] = runtime
    app.extensions[_SECRETS] = webhook_secrets
    app.extensions[_INTAKE] = GroupIntake(runtime.sessions, runtime.enqueue_group)


def current_runtime() -> Runtime:
    """The app's runtime (database, Stripe client, policy, Celery), shared by every blueprint,
    so a page or the JSON API replays and refunds exactly as the CLI does."""
    return current_app.extensions[_RUNTIME]


def webhook_secrets() -> list[str]:
    """The signing secrets, read once when the app was built (a local one may be a file)."""
    return current_app.extensions[_SECRETS]


def group_intake() -> GroupIntake:
    """The app's intake: the deliveries its request threads store at once share one commit."""
    return current_app.extensions[_INTAKE]
