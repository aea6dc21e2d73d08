"""GET /metrics: every receiver process's metrics added up, and the event log's backlog."""

from __future__ import annotations

from flask import Blueprint, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from webhooks.current import current_runtime
from worker.metrics import EventLogCollector, scrape_registry

bp = Blueprint("metrics", __name__)


@bp.get("/metrics")
def metrics() -> Response:
    registry = scrape_registry([EventLogCollector(current_runtime().sessions)])
    return Response(generate_latest(registry), content_type=CONTENT_TYPE_LATEST)
