"""GET /metrics: every receiver process's metrics added up, and the event log's backlog."""

from __future__ import annotations

from flask import Blueprint, Response, current_app
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from worker.metrics import EventLogCollector, scrape_registry

bp = Blueprint("metrics", __name__)


@bp.get("/metrics")
def metrics() -> Response:
    wiring = current_app.extensions["billing"]
    registry = scrape_registry([EventLogCollector(wiring.sessions)])
    return Response(generate_latest(registry), content_type=CONTENT_TYPE_LATEST)
