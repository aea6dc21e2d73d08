"""Login once with the ops token; a session held by the server after that; CSRF on every form.

- The cookie is Flask's signed cookie, HttpOnly, SameSite=Strict, scoped to /ops/console, Secure
  in production. It carries the session's random id and its CSRF secret; who signed in, when,
  and with which token is the database's (`session_store.py`), checked on every console
  request: logging out ends the session for every copy of the cookie, a new ops token ends the
  sessions of the old one, and a session lasts 12 hours from sign-in. The cookie's signing key
  is derived from OPS_API_TOKEN with HMAC, so every gunicorn worker derives the same key with
  nothing more to configure.
- Every POST carries Flask-WTF's CSRF token, bound to the session; a POST without a valid
  session, or without a valid token, answers 403. A page asked for without a session redirects to
  the login page, which sends the operator back where they were going.
- Wrong tokens on the login page count with the ops API's (`webhooks/auth_throttle.py`): after a
  few, the client's address waits, answered 429.
- With no ops token configured the console does not exist (404), like the JSON ops API; its
  pages then say how to start the worker with a token.
"""

from __future__ import annotations

import hashlib
import hmac
import posixpath
from urllib.parse import unquote, urlsplit

from flask import Flask, Response, g, redirect, render_template, request, session, url_for
from flask.typing import ResponseReturnValue
from flask_wtf.csrf import generate_csrf, validate_csrf
from werkzeug.exceptions import Forbidden
from wtforms import ValidationError

from webhooks.auth_throttle import MustWait, check_token
from webhooks.console import bp
from webhooks.console.fields import form_text
from webhooks.console.session_store import (
    SESSION_LIFETIME,
    end_session,
    session_operator,
    start_session,
)
from webhooks.current import current_runtime
from worker.config import Settings

# Domain separation: the token's HMAC under this label is the cookie key, never the token itself.
SESSION_KEY_LABEL = b"billing-worker ops console session v1"
# Reachable without a session: the login form itself and the stylesheet it uses.
PUBLIC_ENDPOINTS = frozenset({"console.login", "console.static"})


def configure(app: Flask, settings: Settings) -> None:
    if settings.ops_api_token:
        app.secret_key = session_key(settings.ops_api_token)
    app.config.update(
        SESSION_COOKIE_NAME="ops_console",
        SESSION_COOKIE_PATH=bp.url_prefix,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Strict",
        # Browsers drop a Secure cookie on plain http; production is served over https.
        SESSION_COOKIE_SECURE=settings.app_env == "production",
        PERMANENT_SESSION_LIFETIME=SESSION_LIFETIME,
        # The token lives as long as the session that holds it, not Flask-WTF's default hour.
        WTF_CSRF_TIME_LIMIT=None,
    )
    app.add_template_global(generate_csrf, "csrf_token")


def session_key(token: str) -> str:
    return hmac.new(token.encode(), SESSION_KEY_LABEL, hashlib.sha256).hexdigest()


def operator() -> str | None:
    """Who is signed in, as typed on the login page; None without a live session. Read from
    the database once per request."""
    if "operator" not in g:
        session_id = session.get("session_id")
        runtime = current_runtime()
        token = runtime.settings.ops_api_token
        g.operator = (
            session_operator(runtime.sessions, session_id, token)
            if isinstance(session_id, str)
            else None
        )
    name: str | None = g.operator
    return name


@bp.before_request
def _guard() -> ResponseReturnValue | None:
    if request.endpoint == "console.static":
        return None
    if not current_runtime().settings.ops_api_token:
        return render_template("console/disabled.html"), 404
    signed_in = operator() is not None
    if request.method not in ("GET", "HEAD"):
        if not signed_in and request.endpoint != "console.login":
            raise Forbidden("Sign in first: this action needs an ops console session.")
        _require_csrf()
        return None
    if not signed_in and request.endpoint not in PUBLIC_ENDPOINTS:
        return redirect(url_for("console.login", next=request.full_path.rstrip("?")))
    return None


def _require_csrf() -> None:
    try:
        validate_csrf(request.form.get("csrf_token"))
    except ValidationError:
        raise Forbidden(
            "The form's security token is missing or expired: reload the page and try again."
        ) from None


@bp.after_request
def _no_caching_no_framing(response: Response) -> Response:
    # Pages show customer data: keep them out of shared caches and other sites' frames.
    response.headers.setdefault("Cache-Control", "no-store")
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "same-origin"
    response.headers["Content-Security-Policy"] = (
        "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
        "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    )
    return response


@bp.errorhandler(Forbidden)
def _forbidden(exc: Forbidden) -> ResponseReturnValue:
    return render_template("console/forbidden.html", reason=exc.description), 403


@bp.route("/login", methods=["GET", "POST"])
def login() -> ResponseReturnValue:
    target = safe_next(request.values.get("next"))
    if request.method == "GET":
        if operator() is not None:
            return redirect(target)
        return render_template("console/login.html", next=target, name="", error=None)
    name = form_text("name")
    runtime = current_runtime()
    token = runtime.settings.ops_api_token
    try:
        right_token = check_token(runtime.sessions, request.form.get("token", ""), token)
    except MustWait as wait:
        message = f"Too many wrong tokens from your address: try again in {wait.seconds} seconds."
        page = render_template("console/login.html", next=target, name=name, error=message)
        return page, 429, {"Retry-After": str(wait.seconds)}
    error: str | None = None
    if not right_token:
        error = "That is not the ops token."
    elif not name:
        error = "Say who you are: your name is recorded on the refunds you approve or reject."
    if error:
        return render_template("console/login.html", next=target, name=name, error=error), 401
    # A fresh session (and CSRF token) at login: nothing from before it carries over.
    session.clear()
    session.permanent = True
    session["session_id"] = start_session(runtime.sessions, name, token)
    return redirect(target, code=303)


@bp.post("/logout")
def logout() -> ResponseReturnValue:
    # Ended in the database: a copy of the cookie is refused from now on, not just this one.
    end_session(current_runtime().sessions, session["session_id"])
    session.clear()
    return redirect(url_for("console.login"), code=303)


def safe_next(target: str | None) -> str:
    """A console path to go back to after login; anything else is dropped for the events page:
    another site, a path out of the console, a control character (CR/LF would split the
    Location header: werkzeug refuses to send it, a 500)."""
    default = url_for("console.events")
    if not target or not target.isprintable() or "\\" in target:
        return default
    parts = urlsplit(target)
    # Where a browser goes: percent-encoded and plain dot segments resolved.
    path = posixpath.normpath(unquote(parts.path))
    if parts.scheme or parts.netloc or not f"{path}/".startswith(f"{bp.url_prefix}/"):
        return default
    return target
