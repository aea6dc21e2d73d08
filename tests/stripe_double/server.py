"""The double's HTTP side: a WSGI app in a thread of the test process, with Stripe's idempotency,
injected faults, and a record of every request.

Idempotency as https://docs.stripe.com/api/idempotent_requests describes it: the status and body
of the first request with a key are saved once its endpoint began executing, success or failure,
4xx and 5xx alike, and replayed for the same key for 24 hours (of the double's clock); a request
that fails validation before executing (an unknown URL), that conflicts with one in flight (409)
or that is rate limited (429) saves nothing. Keys are the account's own (a connected account's
`Stripe-Account` key space is its own); GET and DELETE ignore them. A 5xx to a keyed POST
carries `Stripe-Should-Retry: false`, as Stripe's do once a result is saved (the same key only
replays it: https://docs.stripe.com/error-low-level#idempotency), so stripe-python does not
retry it; a 5xx to a read carries no such header, and stripe-python retries it.
"""

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
        # stripe-python names a connected account in Stripe-Account (Stripe-Context for a thin
        # event's related object): each account sees only its own objects and keys.
        context = request.headers.get("Stripe-Context")
        account = request.headers.get("Stripe-Account") or context
        status, body, replayed = self.answer(request.method, request.path, params, key, account)
        with self.lock:
            self.sent.append(
                Sent(request.method, request.path, params, key, status, replayed, context)
            )
        headers = {"Request-Id": self.state.new_id("req")}
        if replayed:
            headers["Idempotent-Replayed"] = "true"
        if status >= 500 and key and request.method == "POST":
            headers["Stripe-Should-Retry"] = "false"  # saved: the same key only replays it
        response = Response(json.dumps(body), status, headers, content_type="application/json")
        return response(environ, start_response)

    def answer(
        self,
        method: str,
        path: str,
        params: dict[str, Any],
        key: str | None,
        account: str | None = None,
    ) -> tuple[int, dict[str, Any], bool]:
        rate_limited = self._fault(method, path, (429,))
        if rate_limited:
            return rate_limited.status, rate_limited.body, False
        if not key or method in ("GET", "DELETE"):
            status, body, _ = self._execute(method, path, params, account)
            return status, body, False
        fingerprint = (method, path, json.dumps(params, sort_keys=True))
        key = f"{account or ''}/{key}"  # keys are per account
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
        status, body, executed = self._execute(method, path, params, account)
        with self.lock:
            if executed:
                self.keys[key] = SavedKey(fingerprint, self.keys[key].saved_at, status, body)
            else:
                del self.keys[key]
        return status, body, False

    def _execute(
        self, method: str, path: str, params: dict[str, Any], account: str | None = None
    ) -> tuple[int, dict[str, Any], bool]:
        """(status, body, whether the endpoint began executing: its result is then saved)."""
        hold = next((h for h in self.holds if _matches(h, method, path)), None)
        if hold is not None:
            self.holds.remove(hold)
            hold.reached.set()
            hold.release.wait(timeout=30)
        with self.lock:
            fault = self._fault(method, path, (402, 500, 502, 503))
            if fault:
                return fault.status, fault.body, True
            try:
                endpoint, ids = URLS.bind("double").match(path, method=method)
            except HTTPException:
                error = StripeError(404, f"Unrecognized request URL ({method}: {path}).")
                return error.status, error.body, False
            if endpoint == "invoice_pay" and self.declines:
                self.declines -= 1
                params = {**params, "_decline": True}
            try:
                with self.state.acting_as(account):
                    body = copy.deepcopy(HANDLERS[endpoint](self.state, params, **ids))
            except StripeError as error:
                return error.status, error.body, True
            late = self._fault(method, path, (500, 502, 503), after_effect=True)
            if late:
                return late.status, late.body, True
            return 200, body, True

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
