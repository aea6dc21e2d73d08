"""The Flask receiver: intake, health, metrics and the ops API, built by `create_app`.

The factory lives in webhooks/app.py and is imported when called, so importing this package (as
gunicorn's master does for webhooks/gunicorn_conf.py) loads neither the app nor its metrics.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from flask import Flask

    from worker.config import Settings


def create_app(settings: Settings | None = None) -> Flask:
    """The receiver on `settings` (default: the environment); gunicorn serves `create_app()`."""
    from webhooks.app import create_app as build

    return build(settings)
