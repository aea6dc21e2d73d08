"""The Flask app factory: one runtime per app, and the blueprints that use it."""

from __future__ import annotations

from typing import Any

from flask import Flask, jsonify, request
from flask.json.provider import DefaultJSONProvider
from werkzeug.exceptions import RequestEntityTooLarge
from werkzeug.middleware.proxy_fix import ProxyFix

from webhooks import console, health, intake, ops, ops_billing
from webhooks.current import install
from webhooks.metrics import bp as metrics_bp
from worker.bootstrap import bootstrap
from worker.config import Settings
from worker.input_bounds import read_json
from worker.logging import fresh_log_context


class BoundedJSON(DefaultJSONProvider):
    """The ops API's JSON bodies read within worker.input_bounds: nested too deep, a body is not
    JSON to the views (400), not a RecursionError (500)."""

    def loads(self, s: str | bytes, **_kwargs: Any) -> Any:
        return read_json(s)


def create_app(settings: Settings | None = None) -> Flask:
    runtime = bootstrap(settings)
    settings = runtime.settings
    app = Flask("webhooks")
    app.json = BoundedJSON(app)
    app.config["MAX_CONTENT_LENGTH"] = settings.webhook_max_body_bytes
    install(app, runtime, settings.webhook_secrets())
    app.register_blueprint(intake.bp)
    app.register_blueprint(health.bp)
    app.register_blueprint(metrics_bp)
    app.register_blueprint(ops.bp)
    app.register_blueprint(ops_billing.bp)
    console.register(app, settings)  # HTML pages under /ops/console/, beside the JSON API
    if settings.trusted_proxies:
        # The client's address is what the proxies say, from the right, as far as they are ours:
        # wrong ops tokens are counted per client, not per proxy. Unset, a client's own
        # X-Forwarded-For is ignored, so it cannot name another address to dodge the count.
        hops = settings.trusted_proxies
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops)  # type: ignore[method-assign]

    @app.before_request
    def _fresh_log_context() -> None:
        # Before every blueprint's own hooks: a request's lines say which request, and nothing
        # of the one its thread served before (a replay binds an event and its customer).
        fresh_log_context(request=f"{request.method} {request.path}")

    @app.errorhandler(RequestEntityTooLarge)
    def _too_large(_exc: RequestEntityTooLarge):  # noqa: ANN202
        # Werkzeug refuses the body before the intake view runs: count the delivery here.
        if request.blueprint == intake.bp.name:
            intake.count_too_large()
        limit = settings.webhook_max_body_bytes
        return jsonify(error=f"body larger than {limit} bytes"), 413

    return app
