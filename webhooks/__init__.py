"""The Flask receiver: `create_app(settings)` wires intake, health and the ops API."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from celery import Celery
from flask import Flask, jsonify
from sqlalchemy.orm import Session, sessionmaker
from werkzeug.exceptions import RequestEntityTooLarge

from tasks.celery_app import create_celery
from tasks.doorbell import doorbell
from webhooks.metrics import bp as metrics_bp
from worker.config import Settings, load_settings
from worker.db.session import session_factory


@dataclass(frozen=True)
class Wiring:
    """Everything a request handler needs, built once per app instead of reached as globals."""

    settings: Settings
    sessions: sessionmaker[Session]
    celery: Celery
    enqueue: Callable[[str], None]
    webhook_secrets: list[str]


def create_app(settings: Settings | None = None) -> Flask:
    from webhooks import console, health, intake, ops, ops_billing

    settings = settings or load_settings()
    celery = create_celery(settings)
    app = Flask(__name__)
    app.config["MAX_CONTENT_LENGTH"] = settings.webhook_max_body_bytes
    app.extensions["billing"] = Wiring(
        settings=settings,
        sessions=session_factory(settings.effective_database_url),
        celery=celery,
        enqueue=doorbell(settings, celery),
        webhook_secrets=settings.webhook_secrets(),
    )
    app.register_blueprint(intake.bp)
    app.register_blueprint(health.bp)
    app.register_blueprint(metrics_bp)
    app.register_blueprint(ops.bp)
    app.register_blueprint(ops_billing.bp)
    console.register(app)  # HTML pages under /ops/console/, beside the JSON API

    @app.errorhandler(RequestEntityTooLarge)
    def _too_large(_exc: RequestEntityTooLarge):  # noqa: ANN202
        limit = settings.webhook_max_body_bytes
        return jsonify(error=f"body larger than {limit} bytes"), 413

    return app
