"""The intake floor: a bare Flask route that reads the body and answers 200, nothing else.

Run under the same gunicorn settings as the receiver (`bench.stack.receiver`), it is what the
machine, Python, Flask and gunicorn allow before our intake does any work.
"""

from __future__ import annotations

from flask import Flask, jsonify, request
from flask.typing import ResponseReturnValue


def create_app() -> Flask:
    app = Flask(__name__)

    @app.post("/webhooks/stripe")
    def receive() -> ResponseReturnValue:
        request.get_data(cache=False)
        return jsonify(received=True, duplicate=False), 200

    @app.get("/healthz")
    def healthz() -> ResponseReturnValue:
        return jsonify(status="ok")

    return app
