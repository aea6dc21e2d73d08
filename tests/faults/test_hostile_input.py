"""Fault 6: hostile input at the real receiver (gunicorn, as deployed). Each request gets its
status code, nothing is stored, and the receiver's output holds no secret and no body."""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import socket
import time
from pathlib import Path
from typing import Any

import pytest
import requests
from fault_stack import Stack
from signing import WEBHOOK_SECRET, signed_headers

from worker import samples

pytestmark = pytest.mark.services

MARKER = "HOSTILE-BODY-MARKER-7f3a9c"  # in every body: must never reach a log
OTHER_SECRET = "whsec_attacker_secret_5e6f7a8b9c"
MAX_BODY = 64 * 1024


def event(livemode: bool = True, **extra: Any) -> dict[str, Any]:
    """A live-mode event (this endpoint accepts only those) carrying the marker."""
    evt = samples.event(
        "balance.available",
        {"object": "balance", "note": MARKER},
        livemode=livemode,
    )
    return evt | extra


def nested_body(levels: int) -> bytes:
    """A live event holding lists nested until the body is `levels` deep (the event is level 1),
    built as text: json.dumps would recurse itself."""
    lists = levels - 1
    return samples.body(event(deep="NEST")).replace('"NEST"', "[" * lists + "]" * lists).encode()


def with_number(number: str, **where: str) -> bytes:
    """A live event with `number`, written as given, as the value of the keyword's key."""
    ((key, placeholder),) = where.items()
    return samples.body(event(**{key: placeholder})).replace(f'"{placeholder}"', number).encode()


def raw_signature(body: bytes, secret: str, timestamp: int) -> str:
    """Stripe's scheme over arbitrary bytes (stripe-python's helper takes text only)."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"t={timestamp},v1={mac.hexdigest()}"


def signed(body: bytes, secret: str = WEBHOOK_SECRET, skew: int = 0) -> dict[str, str]:
    return {
        "Stripe-Signature": raw_signature(body, secret, int(time.time()) + skew),
        "Content-Type": "application/json",
    }


def hostile_requests() -> list[tuple[str, bytes, dict[str, str], int]]:
    """(what, body, headers, expected status)."""
    good = samples.body(event()).encode()
    not_an_object = json.dumps(["evt_1", MARKER]).encode()
    no_id = json.dumps({k: v for k, v in event().items() if k != "id"}).encode()
    test_mode = samples.body(event(livemode=False)).encode()
    huge = samples.body(event(padding=MARKER * (MAX_BODY // len(MARKER) + 1))).encode()
    non_utf8 = b'{"id": "evt_\xff\xfe", "object": "event", "note": "' + MARKER.encode() + b'"}'
    forged = {"Stripe-Signature": f"t={int(time.time())},v1={secrets.token_hex(32)}"}
    # Well signed, and nothing Stripe sends: nested past MAX_NESTING (32), absurd numbers.
    too_deep, far_too_deep = nested_body(33), nested_body(20_000)
    long_created = with_number("9" * 3000, created="CREATED")
    year_33658 = with_number(str(10**12), created="CREATED")
    huge_amount = with_number("1" + "0" * 30, amount="AMOUNT")
    not_a_number = with_number("NaN", amount="AMOUNT")
    return [
        ("no signature header", good, {"Content-Type": "application/json"}, 400),
        ("forged signature", good, forged, 400),
        ("signed with another secret", good, signed(good, OTHER_SECRET), 400),
        ("timestamp 301 s old", good, signed(good, skew=-301), 400),
        # Signed a little ahead so that a slow run cannot bring it back within the 300 s tolerance.
        ("timestamp 400 s in the future", good, signed(good, skew=400), 400),
        ("body truncated after signing", good[:-40], signed(good), 400),
        ("truncated body, signed", good[:-40], signed(good[:-40]), 400),
        ("body over the limit", huge, signed(huge), 413),
        ("non-UTF-8 bytes, signed", non_utf8, signed(non_utf8), 400),
        ("JSON that is not an object", not_an_object, signed(not_an_object), 400),
        ("event without id", no_id, signed(no_id), 400),
        ("test-mode event at a live endpoint", test_mode, signed(test_mode), 400),
        ("nested 33 levels, signed", too_deep, signed(too_deep), 400),
        ("nested 20,000 levels, signed", far_too_deep, signed(far_too_deep), 400),
        ("3,000-digit created, signed", long_created, signed(long_created), 400),
        ("created in the year 33658, signed", year_33658, signed(year_33658), 400),
        ("a 31-digit amount, signed", huge_amount, signed(huge_amount), 400),
        ("NaN amount, signed", not_a_number, signed(not_a_number), 400),
    ]


def post_with_headers(port: int, body: bytes, count: int) -> int:
    """A signed delivery carrying `count` extra headers, on a raw socket: the status line."""
    head = [
        "POST /webhooks/stripe HTTP/1.1",
        f"Host: 127.0.0.1:{port}",
        "Content-Type: application/json",
        f"Content-Length: {len(body)}",
        f"Stripe-Signature: {signed_headers(body.decode())['Stripe-Signature']}",
        *(f"X-Padding-{n}: {n}" for n in range(count)),
        "Connection: close",
    ]
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(("\r\n".join(head) + "\r\n\r\n").encode() + body)
        status_line = sock.makefile("rb").readline().decode()
    return int(status_line.split()[1])


@pytest.mark.bound(60)
def test_hostile_requests_get_their_code_store_nothing_and_leave_no_secret_or_body_in_logs(
    tmp_path: Path, pg_url: str, redis_url: str, service_env
) -> None:
    env = service_env(
        DATABASE_URL=pg_url,
        BROKER_URL=redis_url,
        ACCEPT_LIVEMODE="live",
        WEBHOOK_MAX_BODY_BYTES=str(MAX_BODY),
        LOG_LEVEL="DEBUG",  # the most the receiver ever says
    )
    with Stack(tmp_path, env, pg_url) as stack:
        stack.start_receiver()
        answers, reasons = {}, {}
        with requests.Session() as http:
            for what, body, headers, _ in hostile_requests():
                response = http.post(stack.url, data=body, headers=headers, timeout=10)
                answers[what] = response.status_code
                reasons[what] = response.json().get("error") if response.status_code == 400 else ""
                assert MARKER not in response.text, what
                if response.status_code == 413:  # refused before its body was read: not kept
                    assert response.headers["Connection"] == "close", what
            # gunicorn itself refuses more than 100 header fields (limit_request_fields) with
            # 431 Request Header Fields Too Large, before the app sees the request.
            answers["150 extra headers"] = post_with_headers(
                stack.port, samples.body(event()).encode(), count=150
            )
            # The controls: the same receiver takes a well-formed, well-signed live event, and
            # one nested as deep as accepted.
            control = samples.body(event())
            assert stack.deliver(http, control) == 200
            deepest = nested_body(32)
            assert http.post(stack.url, data=deepest, headers=signed(deepest)).status_code == 200

        expected = {what: code for what, _, _, code in hostile_requests()}
        assert answers == expected | {"150 extra headers": 431}
        # A refusal says what was wrong; of nesting, the most accepted.
        assert reasons["nested 33 levels, signed"] == reasons["nested 20,000 levels, signed"]
        assert reasons["nested 33 levels, signed"] == (
            "body: nested deeper than 32 levels, the most accepted"
        )
        assert reasons["3,000-digit created, signed"] == "body: an integer beyond 64 bits"
        assert reasons["a 31-digit amount, signed"] == "body: an integer beyond 64 bits"
        assert reasons["created in the year 33658, signed"] == (
            "event created is a timestamp after the year 9999"
        )
        assert reasons["NaN amount, signed"] == "body: NaN is not a JSON number"
        controls = {json.loads(control)["id"], json.loads(deepest)["id"]}
        assert set(stack.events()) == controls  # only the controls
    logs = stack.logs()
    assert "webhook refused" in logs  # the receiver did log each refusal...
    for secret in (WEBHOOK_SECRET, OTHER_SECRET, MARKER):  # ...without what it must not show
        assert secret not in logs
