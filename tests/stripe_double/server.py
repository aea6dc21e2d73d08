"""The double's HTTP side: a WSGI app in a thread of the test process, with Stripe's idempotency
(saved responses for 24 h of the double's clock, 409 while a key is in flight), injected faults,
and a record of every request."""

from __future__ import annotations

import copy
import fnmatch
import json
import threading
from dataclasses import dataclass, field
from typing import Any

from werkzeug.exceptions import HTTPException
from werkzeug.serving import WSGIRequestHandler, make_server
from werkzeug.wrappers import Request, Response

from stripe_double.forms import decode
from stripe_double.routes import HANDLERS, URLS
from stripe_double.state import State, StripeError

KEY_TTL_SECONDS = 24 * 3600
# Stripe saves a result once the endpoint began executing: success, a decline, its own 5xx.
# A rejected parameter (400), a 409 in flight and a 429 before execution are not saved.
SAVED_STATUSES = (200, 402, 500, 502, 503)


@dataclass(frozen=True)
class Sent:
    method: str
    path: str
    params: dict[str, Any]
    idempotency_key: str | None
    status: int
    replayed: bool = False
    context: str | None = None  # Stripe-Context: the account a call was made in, if not ours


@dataclass
class Fault:
    method: str
    pattern: str
    status: int
    times: int
    code: str | None = None
    skip: int = 0  # matching calls let through before the fault applies (page 2, not page 1)
    after_effect: bool = False  # apply the call, then answer the error anyway


@dataclass
class Hold:
    method: str
    pattern: str
    release: threading.Event = field(default_factory=threading.Event)
    reached: threading.Event = field(default_factory=threading.Event)


@dataclass
class SavedKey:
    fingerprint: tuple[str, str, str]
    saved_at: int
    status: int = 0
    body: dict[str, Any] | None = None  # None while the first request is in flight


class DoubleServer:
    def __init__(self, state: State) -> None:
        self.state = state
        self.lock = threading.RLock()
        self.sent: list[Sent] = []
        self.faults: list[Fault] = []
        self.holds: list[Hold] = []
        self.keys: dict[str, SavedKey] = {}
        self.declines = 0
        self._http = make_server(
            "127.0.0.1", 0, self.wsgi, threaded=True, request_handler=_QuietHandler
        )
        self.url = f"http://127.0.0.1:{self._http.server_port}"
        self._thread = threading.Thread(target=self._http.serve_forever, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._http.shutdown()
        self._thread.join(timeout=5)

    # WSGI ----------------------------------------------------------------------------------

    def wsgi(self, environ: dict[str, Any], start_response: Any) -> Any:
        request = Request(environ)
        raw = request.get_data(as_text=True) if request.method == "POST" else request.query_string
        params = decode(raw.decode() if isinstance(raw, bytes) else raw)
        key = request.headers.get("Idempotency-Key")
        status, body, replayed = self.answer(request.method, request.path, params, key)
        with self.lock:
            context = request.headers.get("Stripe-Context")
            self.sent.append(
                Sent(request.method, request.path, params, key, status, replayed, context)
            )
        headers = {"Request-Id": self.state.new_id("req")}
        if replayed:
            headers["Idempotent-Replayed"] = "true"
        response = Response(json.dumps(body), status, headers, content_type="application/json")
        return response(environ, start_response)

    def answer(
        self, method: str, path: str, params: dict[str, Any], key: str | None
    ) -> tuple[int, dict[str, Any], bool]:
        rate_limited = self._fault(method, path, (429,))
        if rate_limited:
            return rate_limited.status, rate_limited.body, False
        if not key or method == "GET":
            status, body = self._execute(method, path, params)
            return status, body, False
        fingerprint = (method, path, json.dumps(params, sort_keys=True))
        with self.lock:
            now = self.state.clock.now()
            saved = self.keys.get(key)
            if saved is not None and saved.saved_at + KEY_TTL_SECONDS <= now:
                saved = None  # Stripe forgets a key after 24 hours
            if saved is not None and saved.body is None:
                error = StripeError(
                    409,
                    "There is currently another in-progress request using this Stripe token.",
                    "idempotency_key_in_use",
                )
                return error.status, error.body, False
            if saved is not None and saved.fingerprint != fingerprint:
                error = StripeError(
                    400,
                    "Keys for idempotent requests can only be used with the same parameters "
                    "they were first used with.",
                    "idempotency_key_reused",
                )
                error.body["error"]["type"] = "idempotency_error"
                return error.status, error.body, False
            if saved is not None:
                return saved.status, copy.deepcopy(saved.body or {}), True
            self.keys[key] = SavedKey(fingerprint, now)
        status, body = self._execute(method, path, params)
        with self.lock:
            if status in SAVED_STATUSES:
                self.keys[key] = SavedKey(fingerprint, self.keys[key].saved_at, status, body)
            else:
                del self.keys[key]
        return status, body, False

    def _execute(
        self, method: str, path: str, params: dict[str, Any]
    ) -> tuple[int, dict[str, Any]]:
        hold = next((h for h in self.holds if _matches(h, method, path)), None)
        if hold is not None:
            self.holds.remove(hold)
            hold.reached.set()
            hold.release.wait(timeout=30)
        with self.lock:
            fault = self._fault(method, path, (402, 500, 502, 503))
            if fault:
                return fault.status, fault.body
            try:
                endpoint, ids = URLS.bind("double").match(path, method=method)
                if endpoint == "invoice_pay" and self.declines:
                    self.declines -= 1
                    params = {**params, "_decline": True}
                body = copy.deepcopy(HANDLERS[endpoint](self.state, params, **ids))
                late = self._fault(method, path, (500, 502, 503), after_effect=True)
                if late:
                    return late.status, late.body
                return 200, body
            except StripeError as error:
                return error.status, error.body
            except HTTPException:
                error = StripeError(404, f"Unrecognized request URL ({method}: {path}).")
                return error.status, error.body

    def _fault(
        self, method: str, path: str, statuses: tuple[int, ...], *, after_effect: bool = False
    ) -> StripeError | None:
        with self.lock:
            for fault in self.faults:
                if fault.after_effect != after_effect:
                    continue
                if fault.status in statuses and _matches(fault, method, path):
                    if fault.skip > 0:
                        fault.skip -= 1
                        continue
                    fault.times -= 1
                    if fault.times <= 0:
                        self.faults.remove(fault)
                    message = f"Injected {fault.status} on {method} {path}"
                    return StripeError(fault.status, message, fault.code)
        return None


def _matches(rule: Fault | Hold, method: str, path: str) -> bool:
    return rule.method == method and fnmatch.fnmatchcase(path, rule.pattern)


class _QuietHandler(WSGIRequestHandler):
    def log_request(self, *args: Any) -> None:  # the test reads `sent`, not a log
        pass
