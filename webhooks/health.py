"""Liveness and readiness probes."""

from __future__ import annotations

from flask import Blueprint, jsonify
from flask.typing import ResponseReturnValue
from sqlalchemy import text

from webhooks.current import current_runtime
from worker.db.session import once_more_after_disconnect
from worker.runtime import Runtime

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz() -> ResponseReturnValue:
    return jsonify(status="ok")


@bp.get("/readyz")
def readyz() -> ResponseReturnValue:
    runtime = current_runtime()
    checks = {"database": _database_ok(runtime)}
    if not runtime.settings.embedded:  # the embedded default has no broker to reach
        checks["broker"] = _broker_ok(runtime)
    ready = all(checks.values())
    return jsonify(ready=ready, **{k: "ok" if v else "unreachable" for k, v in checks.items()}), (
        200 if ready else 503
    )


def _database_ok(runtime: Runtime) -> bool:
    def ping() -> None:
        with runtime.sessions() as session:
            session.execute(text("SELECT 1"))

    try:
        once_more_after_disconnect(ping)  # a pooled connection dead since a restart is no outage
    except Exception:  # noqa: BLE001
        return False
    return True


def _broker_ok(runtime: Runtime) -> bool:
    try:
        with runtime.celery.connection_for_write() as conn:
            conn.ensure_connection(max_retries=1, timeout=2)
    except Exception:  # noqa: BLE001
        return False
    return True
