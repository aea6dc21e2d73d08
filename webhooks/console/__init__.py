"""The ops console: server-rendered pages under /ops/console/ for the people who run billing.

Events (filter, inspect, replay), failed and stuck events, the refund review queue, the
accounts suspended under the chargeback rules, where Stripe drifted from the policy (each with a
fix button), and a proposed policy tried on the past. It sits beside the JSON ops API
(`webhooks/ops.py`, bearer token) and reads the same token: asked once on the login page, then
kept as a signed session cookie (`auth.py`). Plain HTML forms, a small CSS file and a few lines
of JavaScript served by the app itself: no CDN and no front-end build step.
"""

from __future__ import annotations

from flask import Blueprint, Flask, redirect

from worker.config import Settings

bp = Blueprint(
    "console",
    __name__,
    url_prefix="/ops/console",
    template_folder="templates",
    static_folder="static",
)


def register(app: Flask, settings: Settings) -> None:
    """Configure the console's session and CSRF, and mount its pages on the app."""
    # The view modules attach their routes to `bp` when imported.
    from webhooks.console import (  # noqa: F401
        auth,
        customers,
        events,
        failed,
        fields,
        formatting,
        layout,
        reconcile,
        refunds,
        simulate,
    )

    # Before anything builds the app's Jinja environment (add_template_filter does).
    app.jinja_options = {**app.jinja_options, "finalize": formatting.shown}
    auth.configure(app, settings)
    for name, template_filter in formatting.FILTERS.items():
        app.add_template_filter(template_filter, name)
    app.register_blueprint(bp)
    # On the app, not the JSON API's blueprint: a browser at /ops/ lands on the console.
    app.add_url_rule("/ops/", "ops_home", lambda: redirect(f"{bp.url_prefix}/"))
