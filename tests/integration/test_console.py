"""The ops console's pages through Flask's test client, on SQLite and on PostgreSQL, with
handlers and refunds going to stripe-mock: what each page shows, what each form does, and what
is refused without a session or a CSRF token."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

import pytest
from billing_world import BillingWorld
from console_support import (
    CONSOLE,
    OPS_TOKEN,
    ConsoleClient,
    annual_invoice,
    annual_price,
    csrf_token,
    fixed_product,
    typo_product,
)
from flask import Flask
from harness.servers import StripeMock
from sqlalchemy import select, update

from webhooks import create_app
from webhooks.auth_throttle import FREE_FAILURES
from webhooks.console import replays
from webhooks.console.event_queries import EventFilters, events_page
from worker import samples
from worker.commands.refunds import approve, request_refund
from worker.db.models import ConsoleSession, Event, RefundRequest, StripeCall, utcnow
from worker.eventlog.intake import parse_event, store_event
from worker.eventlog.selection import Position

PRICE = "price_console_year"
PAGES = ("/events", "/failed", "/refunds", "/customers", "/reconcile")
ACTIONS = (
    "/logout",
    "/replay",
    "/events/evt_any/replay",
    "/refunds/rr_any/approve",
    "/refunds/rr_any/reject",
    "/reconcile/fix",
)


@dataclass
class Setup:
    world: BillingWorld
    console: ConsoleClient

    def failed_invoice(self, customer_id: str = "cus_typo") -> str:
        """An invoice.paid that fails for a real reason: its product's category is mistyped."""
        w = self.world
        w.customer(customer_id, f"{customer_id}@example.com")
        w.deliver("product.created", typo_product(PRICE))
        w.deliver("price.created", annual_price(PRICE))
        invoice = annual_invoice(
            customer_id, PRICE, number="TYPO-1", payment_intent="pi_typo", days_ago=3
        )
        event_id, status = w.deliver("invoice.paid", invoice)
        assert status == "failed"
        return event_id


@pytest.fixture
def setup(make_settings, database_url: str, stripe_mock: StripeMock) -> Callable[..., Setup]:
    def make(**overrides: object) -> Setup:
        settings = make_settings(
            **{
                "database_url": database_url,
                "stripe_api_base": stripe_mock.url,
                "ops_api_token": OPS_TOKEN,
            }
            | overrides
        )
        return Setup(
            BillingWorld.create(settings, stripe_mock.url), ConsoleClient(create_app(settings))
        )

    return make


def test_without_a_session_pages_redirect_to_login_and_actions_answer_403(setup) -> None:
    console = setup().console
    for page in PAGES:
        response = console.get(page)
        assert response.status_code == 302, page
        assert response.headers["Location"] == f"{CONSOLE}/login?next={CONSOLE}{page}"
    for action in ACTIONS:
        response = console.client.post(f"{CONSOLE}{action}", data={"scope": "failed"})
        assert response.status_code == 403, action
        assert "Sign in first" in response.text


def test_login_asks_for_the_token_once_and_keeps_a_strict_httponly_session(setup) -> None:
    console = setup().console
    wrong = console.sign_in(token="not-the-token")
    assert wrong.status_code == 401
    assert "That is not the ops token." in wrong.text
    assert console.get("/events").status_code == 302

    signed_in = console.sign_in("Ana")
    assert signed_in.status_code == 303
    assert signed_in.headers["Location"] == f"{CONSOLE}/events"
    cookie = signed_in.headers["Set-Cookie"]
    for attribute in ("ops_console=", "HttpOnly", "SameSite=Strict", f"Path={CONSOLE}"):
        assert attribute in cookie
    assert OPS_TOKEN not in cookie
    page = console.get("/events")
    assert page.status_code == 200
    assert "Ana" in page.text
    assert "frame-ancestors 'none'" in page.headers["Content-Security-Policy"]

    console.submit("/logout")
    assert console.get("/events").status_code == 302


def kept_cookie(console: ConsoleClient) -> str:
    cookie = console.client.get_cookie("ops_console", path=CONSOLE)
    assert cookie is not None
    return cookie.value


def holding(app: Flask, cookie: str) -> ConsoleClient:
    """Another browser (or another receiver process) presenting a copy of the cookie."""
    copy = ConsoleClient(app)
    copy.client.set_cookie("ops_console", cookie, path=CONSOLE)
    return copy


def test_a_cookie_kept_from_before_logout_is_refused_on_every_page_and_action(setup) -> None:
    s = setup()
    event_id = s.failed_invoice()
    s.console.sign_in("Ana")
    cookie = kept_cookie(s.console)
    old_csrf = csrf_token(s.console.get("/events").text)
    another_process = holding(create_app(s.world.runtime.settings), cookie)
    for page in PAGES:
        assert another_process.get(page).status_code == 200, page  # the same session

    s.console.submit("/logout")
    for page in PAGES:
        response = another_process.get(page)
        assert response.status_code == 302, page
        assert response.headers["Location"].startswith(f"{CONSOLE}/login")
    for action in ACTIONS:
        data = {"csrf_token": old_csrf, "scope": "failed", "customer": "cus_typo"}
        response = another_process.client.post(f"{CONSOLE}{action}", data=data)
        assert response.status_code == 403, action
        assert "Sign in first" in response.text
    replayed = another_process.client.post(
        f"{CONSOLE}/events/{event_id}/replay", data={"csrf_token": old_csrf}
    )
    assert replayed.status_code == 403
    with s.world.runtime.sessions() as session:
        assert session.get_one(Event, event_id).attempts == 1  # never replayed


def test_a_token_rotation_ends_the_old_tokens_sessions_even_if_it_comes_back(setup) -> None:
    s = setup()
    settings = s.world.runtime.settings
    s.console.sign_in("Ana")
    cookie = kept_cookie(s.console)
    assert holding(create_app(settings), cookie).get("/events").status_code == 200

    rotated = create_app(settings.model_copy(update={"ops_api_token": "the-new-ops-token"}))
    assert holding(rotated, cookie).get("/events").status_code == 302
    ConsoleClient(rotated).sign_in("Bo", token="the-new-ops-token")

    # The deploy is rolled back to the old token: its sessions stay ended.
    rolled_back = holding(create_app(settings), cookie)
    assert rolled_back.get("/events").status_code == 302
    assert rolled_back.client.post(f"{CONSOLE}/replay", data={"scope": "failed"}).status_code == 403


def test_a_session_ends_12_hours_after_sign_in_however_busy(setup) -> None:
    s = setup()
    s.console.sign_in()
    assert s.console.get("/events").status_code == 200
    with s.world.runtime.sessions.begin() as session:
        session.execute(update(ConsoleSession).values(signed_in_at=utcnow() - timedelta(hours=12)))
    assert s.console.get("/events").status_code == 302
    assert s.console.client.post(f"{CONSOLE}/replay").status_code == 403


def test_wrong_tokens_on_the_login_page_make_that_address_wait(setup) -> None:
    s = setup()
    guesser = s.console
    guesser.client.environ_base["REMOTE_ADDR"] = "10.0.0.7"
    statuses = [guesser.sign_in(token=f"guess-{n}").status_code for n in range(FREE_FAILURES + 1)]
    assert statuses == [401] * FREE_FAILURES + [429]
    waiting = guesser.sign_in(token=OPS_TOKEN)
    assert waiting.status_code == 429
    assert int(waiting.headers["Retry-After"]) >= 1
    assert "Too many wrong tokens from your address" in waiting.text
    assert guesser.get("/events").status_code == 302

    colleague = ConsoleClient(guesser.client.application)
    colleague.client.environ_base["REMOTE_ADDR"] = "10.0.0.8"
    assert colleague.sign_in("Bo").status_code == 303
    assert colleague.get("/events").status_code == 200


def test_login_goes_back_only_to_a_console_page(setup) -> None:
    console = setup().console
    form = console.client.get(f"{CONSOLE}/login")
    for target, landing in (
        (f"{CONSOLE}/failed", f"{CONSOLE}/failed"),
        ("https://evil.example/ops/console/", f"{CONSOLE}/events"),
        ("//evil.example/ops/console/", f"{CONSOLE}/events"),
        ("/webhooks/stripe", f"{CONSOLE}/events"),
        (f"{CONSOLE}/../../webhooks/stripe", f"{CONSOLE}/events"),
        (f"{CONSOLE}/%2e%2e/%2e%2e/webhooks/stripe", f"{CONSOLE}/events"),
        # A header split (its own Location would be a 500): the default page instead.
        (f"{CONSOLE}/failed\r\nSet-Cookie: ops_console=forged", f"{CONSOLE}/events"),
    ):
        response = console.client.post(
            f"{CONSOLE}/login",
            data={
                "csrf_token": csrf_token(form.text),
                "name": "Ana",
                "token": OPS_TOKEN,
                "next": target,
            },
        )
        assert response.headers["Location"] == landing, target
        # Signed in, the login page sends the operator on to the same place.
        again = console.client.get(f"{CONSOLE}/login", query_string={"next": target})
        assert again.headers["Location"] == landing, target
        console.submit("/logout")
        form = console.client.get(f"{CONSOLE}/login")


def test_a_form_without_a_valid_csrf_token_is_refused_even_when_signed_in(setup) -> None:
    s = setup()
    event_id = s.failed_invoice()
    s.console.sign_in()
    client = s.console.client
    for token in (None, "", "forged"):
        data = {"scope": "failed"} | ({"csrf_token": token} if token is not None else {})
        assert client.post(f"{CONSOLE}/replay", data=data).status_code == 403
        assert client.post(f"{CONSOLE}/events/{event_id}/replay", data=data).status_code == 403
    with s.world.runtime.sessions() as session:
        assert session.get_one(Event, event_id).attempts == 1  # never replayed
    login = ConsoleClient(client.application)  # a token from another session is no good either
    login.sign_in("Mallory")
    foreign = login.get("/events").text
    data = {"scope": "failed", "csrf_token": csrf_token(foreign)}
    assert client.post(f"{CONSOLE}/replay", data=data).status_code == 403


def test_console_does_not_exist_without_an_ops_token(setup) -> None:
    console = setup(ops_api_token="").console
    assert console.get("/login").status_code == 404
    assert console.get("/events").status_code == 404
    assert console.client.post(f"{CONSOLE}/login", data={"token": ""}).status_code == 404


def test_events_page_filters_counts_and_pages_newest_first(setup) -> None:
    s = setup()
    sessions = s.world.runtime.sessions
    stored = []
    for n in range(7):  # ignored events: no handler runs, no Stripe
        evt = samples.event("test.console", {"id": f"obj_{n}", "customer": "cus_pages"})
        store_event(sessions, parse_event(samples.body(evt)))
        stored.append(evt["id"])
    with sessions.begin() as session:  # spread over the last hours, oldest first
        for n, event_id in enumerate(stored):
            received = utcnow() - timedelta(hours=7 - n)
            session.execute(update(Event).where(Event.id == event_id).values(received_at=received))
    failed_id = s.failed_invoice()
    s.console.sign_in()

    page = s.console.get("/events")
    assert page.status_code == 200
    html = page.text
    assert html.index(failed_id) < html.index(stored[-1]) < html.index(stored[0])  # newest first
    assert "received <b>7</b>" in html and "failed <b>1</b>" in html
    assert "<svg" in html and "Events received per hour" in html
    assert "1 failed" in html  # the current hour's bar title counts the failure

    only_failed = s.console.get("/events", status="failed").text
    assert failed_id in only_failed and stored[0] not in only_failed
    by_customer = s.console.get("/events", customer="cus_pages", type="test.console").text
    assert all(e in by_customer for e in stored) and failed_id not in by_customer
    by_id = s.console.get("/events", q=stored[3][-12:]).text
    assert stored[3] in by_id and stored[2] not in by_id
    since = s.console.get("/events", since="3h", type="test.console").text
    assert stored[-1] in since and stored[0] not in since
    bad = s.console.get("/events", since="last tuesday")
    assert bad.status_code == 400 and "is not a moment" in bad.text
    too_far = s.console.get("/events", since="99999999d")
    assert too_far.status_code == 400 and "a duration ago is at most 36500d" in too_far.text

    # Paging by keyset, three at a time: older, then back to newer.
    with sessions() as session:
        filters = EventFilters(type="test.console")
        first = events_page(session, filters, limit=3)
        second = events_page(session, filters, before=_pos(first.older), limit=3)
        back = events_page(session, filters, after=_pos(second.newer), limit=3)
    assert [e.id for e in first.events] == stored[:3:-1][:3]
    assert [e.id for e in second.events] == stored[3:0:-1]
    assert [e.id for e in back.events] == [e.id for e in first.events]
    assert first.newer is None and back.newer is None and second.older is not None


def _pos(cursor: str | None) -> Position:
    assert cursor is not None
    return Position.from_cursor(cursor)


def test_a_failed_event_shows_its_reason_and_replayed_from_its_page_ends_processed(setup) -> None:
    s = setup()
    event_id = s.failed_invoice()
    s.console.sign_in()
    failed_page = s.console.get("/failed").text
    assert event_id in failed_page and "UnknownCategory" in failed_page

    page = s.console.get(f"/events/{event_id}").text
    assert "UnknownCategory: product metadata category &#39;plann&#39;" in page
    assert "Traceback" in page and "worker.handlers.invoices.record_invoice" in page
    assert '"type": "invoice.paid"' in page.replace("&#34;", '"')

    s.world.deliver("product.updated", fixed_product(PRICE))
    replayed = s.console.submit(f"/events/{event_id}/replay")
    assert replayed.status_code == 303
    page = s.console.client.get(replayed.headers["Location"]).text
    assert f"{event_id} replayed: failed → processed." in page
    with s.world.runtime.sessions() as session:
        event = session.get_one(Event, event_id)
        assert (event.status, event.attempts, event.last_error) == ("processed", 2, None)


def test_replay_all_failed_runs_in_batches_and_shows_its_progress(setup, monkeypatch) -> None:
    s = setup()
    sessions = s.world.runtime.sessions
    ids = []
    for n in range(3):  # failed once; their type has no handler, so a replay ends `ignored`
        evt = samples.event("test.console", {"id": f"obj_{n}"})
        store_event(sessions, parse_event(samples.body(evt)))
        ids.append(evt["id"])
    with sessions.begin() as session:
        session.execute(
            update(Event).where(Event.id.in_(ids)).values(status="failed", last_error="boom")
        )
    monkeypatch.setattr(replays, "BATCH_EVENTS", 2)
    s.console.sign_in()

    first = s.console.submit("/replay", {"scope": "failed"})
    assert first.status_code == 200
    assert '<b id="replay-done">2</b> of 3 done' in first.text
    assert "data-autosubmit" in first.text
    carried = _hidden_fields(first.text)
    assert carried["scope"] == "failed" and carried["cursor"]
    second = s.console.client.post(f"{CONSOLE}/replay", data=carried)
    assert '<b id="replay-done">3</b> of 3 done' in second.text
    assert "Replay finished" in second.text and "data-autosubmit" not in second.text
    assert '<dd data-count="replayed">3</dd>' in second.text
    with sessions() as session:
        statuses = session.scalars(select(Event.status).where(Event.id.in_(ids))).all()
    assert statuses == ["ignored"] * 3

    chosen = s.console.submit("/replay", {"scope": "selected", "ids": [ids[0], "evt_gone"]})
    assert "Replay finished" in chosen.text
    assert '<dd data-count="unchanged">1</dd>' in chosen.text
    assert "evt_gone is not stored." in chosen.text


def _hidden_fields(html: str) -> dict[str, str]:
    form = html[html.index("data-autosubmit") :]
    return dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)">', form))


def _technical_issue_review(
    s: Setup, customer_id: str, number: str, note: str | None = None
) -> str:
    w = s.world
    w.customer(customer_id, f"{customer_id}@example.com")
    w.deliver("product.created", fixed_product(PRICE))
    w.deliver("price.created", annual_price(PRICE))
    invoice = annual_invoice(
        customer_id, PRICE, number=number, payment_intent=f"pi_{number}", days_ago=40
    )
    assert w.deliver("invoice.paid", invoice)[1] == "processed"
    request = request_refund(
        w.runtime, customer=customer_id, invoice=number, reason="technical_issue", note=note
    ).request
    assert request.status == "review"
    return request.id


def test_a_review_approved_above_what_is_refundable_is_refused_then_approved_capped(
    setup,
) -> None:
    s = setup()
    request_id = _technical_issue_review(s, "cus_tech", "TECH-1")
    s.console.sign_in("Ana")
    queue = s.console.get("/refunds").text
    assert request_id in queue and "TECH-1" in queue and "M4.technical" in queue
    assert "A technical issue support could not resolve" in queue
    assert 'value="1200.00"' in queue and "at most 1,200.00 USD" in queue

    too_much = s.console.submit(f"/refunds/{request_id}/approve", {"amount": "1200.01"})
    page = s.console.client.get(too_much.headers["Location"]).text
    assert "more than the 120000 usd still refundable on invoice TECH-1" in page
    bad = s.console.submit(f"/refunds/{request_id}/approve", {"amount": "12.345"})
    assert "has more than 2 decimals" in s.console.client.get(bad.headers["Location"]).text

    done = s.console.submit(f"/refunds/{request_id}/approve", {"amount": "500.00"})
    page = s.console.client.get(done.headers["Location"]).text
    assert f"{request_id} approved by Ana (ops console): refunded 500.00 USD" in page
    with s.world.runtime.sessions() as session:
        row = session.get_one(RefundRequest, request_id)
        assert (row.status, row.amount, row.decided_by) == ("refunded", 50000, "Ana (ops console)")
        [call] = session.scalars(select(StripeCall).where(StripeCall.request_id == request_id))
        assert (call.method, call.object_id, call.outcome) == ("refunds.create", "pi_TECH-1", "ok")
    assert request_id not in s.console.get("/refunds").text.split("Recently decided")[0]


def test_a_review_is_rejected_with_the_reason_and_who_decided(setup) -> None:
    s = setup()
    request_id = _technical_issue_review(s, "cus_rej", "REJ-1")
    s.console.sign_in("Sam")
    no_reason = s.console.submit(f"/refunds/{request_id}/reject", {"why": "  "})
    assert "say why" in s.console.client.get(no_reason.headers["Location"]).text
    done = s.console.submit(f"/refunds/{request_id}/reject", {"why": "Issue fixed same day"})
    page = s.console.client.get(done.headers["Location"]).text
    assert f"{request_id} rejected by Sam (ops console): Issue fixed same day" in page
    again = s.console.submit(f"/refunds/{request_id}/approve")
    page = s.console.client.get(again.headers["Location"]).text
    assert "is rejected, not waiting for review" in page
    with s.world.runtime.sessions() as session:
        row = session.get_one(RefundRequest, request_id)
        assert (row.status, row.decision_note) == ("rejected", "Issue fixed same day")
        assert session.scalars(select(StripeCall)).all() == []


def test_customers_page_lists_suspended_accounts_with_their_dispute(setup) -> None:
    s = setup()
    w = s.world
    w.customer("cus_fraud", "fraud@example.com")
    w.customer("cus_fine", "fine@example.com")
    w.deliver("product.created", fixed_product(PRICE))
    w.deliver("price.created", annual_price(PRICE))
    invoice = annual_invoice("cus_fraud", PRICE, number="FR-1", payment_intent="pi_fr", days_ago=3)
    assert w.deliver("invoice.paid", invoice)[1] == "processed"
    dispute = samples.dispute(charge="ch_fr", payment_intent="pi_fr", reason="fraudulent")
    assert w.deliver("charge.dispute.created", dispute)[1] == "processed"
    s.console.sign_in()

    page = s.console.get("/customers").text
    assert "cus_fraud" in page and "fraud@example.com" in page and "cus_fine" not in page
    assert ">suspended<" in page and dispute["id"] in page
    assert "M6.dispute" in page and "fraudulent" in page and "1,200.00 USD" in page


def test_the_same_customer_on_two_accounts_is_shown_and_filtered_by_account(setup) -> None:
    s = setup()
    w = s.world
    connected = "acct_1ConsoleShop"
    for account in (connected, None):
        w.customer("cus_twice", "twice@example.com", account=account)
        w.deliver("product.created", fixed_product(PRICE), account=account)
        w.deliver("price.created", annual_price(PRICE), account=account)
        invoice = annual_invoice(
            "cus_twice", PRICE, number="TW-1", payment_intent="pi_tw", days_ago=3
        )
        assert w.deliver("invoice.paid", invoice, account=account)[1] == "processed"
    dispute = samples.dispute(charge="ch_tw", payment_intent="pi_tw", reason="fraudulent")
    assert w.deliver("charge.dispute.created", dispute, account=connected)[1] == "processed"
    s.console.sign_in()

    held = s.console.get("/customers").text
    assert held.count('data-customer="cus_twice"') == 1  # the platform's is not suspended
    assert f'data-account="{connected}"' in held and dispute["id"] in held
    assert "cus_twice" not in s.console.get("/customers", account="platform").text

    events = s.console.get("/events", account=connected).text
    assert events.count("<tr data-event=") == 5 and connected in events  # its dispute too
    assert s.console.get("/events", account="platform").text.count("<tr data-event=") == 4
    refused = s.console.get("/events", account="cus_twice").text
    assert "account: &#39;cus_twice&#39; is not a Stripe account" in refused


def test_event_page_never_shows_a_secret_in_the_payload(setup) -> None:
    s = setup()
    leaked = samples.event(
        "test.console",
        {"id": "obj_leak", "description": "key sk_" + "live_abcdefghijklmnop1234 pasted by a user"},
    )
    store_event(s.world.runtime.sessions, parse_event(samples.body(leaked)))
    s.console.sign_in()
    page = s.console.get(f"/events/{leaked['id']}").text
    assert "sk_" + "live_abcdefghijklmnop1234" not in page and "sk_live_…" in page
    assert json.loads(samples.body(leaked))["data"]["object"]["id"] in page


def test_a_refund_failed_at_the_bank_waits_on_the_refunds_page_with_its_reason(setup) -> None:
    s = setup()
    request_id = _technical_issue_review(s, "cus_bank", "BANK-1")
    refunded = approve(s.world.runtime, request_id, by="Ana", amount=30000)
    failed = samples.refund(
        payment_intent="pi_BANK-1", amount=30000, status="failed",
        refund_id=str(refunded.refund_id), metadata={"refund_request_id": request_id},
    )  # fmt: skip
    failed["failure_reason"] = "lost_or_stolen_card"
    assert s.world.deliver("refund.failed", failed)[1] == "processed"

    s.console.sign_in("Ana")
    queue = s.console.get("/refunds").text
    assert request_id in queue and "refund_failed" in queue
    assert "lost_or_stolen_card" in queue and 'value="300.00"' in queue


# Card numbers as customers type them, and the digits that must not show of each.
CARDS = {
    "card_4242424242424242": "424242424242",
    "5555.5555.5555.4444": "5555.5555.5555",
    "x3782-822463-10005y": "822463",
    "4000/0566/5566/5556": "4000/0566/5566",
}


def _shows_no_card(page: str) -> None:
    for written, hidden in CARDS.items():
        assert written not in page and hidden not in page, written
    for last_four in ("4242", "4444", "0005", "5556"):
        assert f"[card …{last_four}]" in page


def test_the_refunds_page_masks_card_numbers_in_a_note_and_a_refund_failure(setup) -> None:
    s = setup()
    cards = list(CARDS)
    note = f"charged twice on {cards[0]} and {cards[1]}"
    request_id = _technical_issue_review(s, "cus_card", "CARD-1", note=note)
    refunded = approve(s.world.runtime, request_id, by="Ana", amount=30000)
    failed = samples.refund(
        payment_intent="pi_CARD-1", amount=30000, status="failed",
        refund_id=str(refunded.refund_id), metadata={"refund_request_id": request_id},
    )  # fmt: skip
    failed["failure_reason"] = f"account closed, use {cards[2]} or {cards[3]}"
    assert s.world.deliver("refund.failed", failed)[1] == "processed"

    s.console.sign_in("Ana")
    queue = s.console.get("/refunds").text
    assert request_id in queue and "refund_failed" in queue and "charged twice on card_" in queue
    _shows_no_card(queue)


def test_event_pages_mask_card_numbers_in_the_payload_and_the_error(setup) -> None:
    s = setup()
    typed = " ".join(CARDS)
    event = samples.event("test.console", {"id": "obj_card", "description": f"card: {typed}"})
    store_event(s.world.runtime.sessions, parse_event(samples.body(event)))
    # The events list cuts an error at 90 characters, at a space: cut before masking, this
    # one would show 4242 4242 4242.
    error = f"declined {'.' * 62} 4242 4242 4242 4242 then {typed}"
    with s.world.runtime.sessions.begin() as session:
        session.execute(
            update(Event)
            .where(Event.id == event["id"])
            .values(status="failed", last_error=error, last_traceback=typed)
        )
    s.console.sign_in()
    _shows_no_card(s.console.get(f"/events/{event['id']}").text)
    for listing in ("/events", "/failed"):
        page = s.console.get(listing).text
        assert event["id"] in page and "[card …4242]" in page
        assert "4242 4242 4242" not in page
        for hidden in CARDS.values():
            assert hidden not in page


def test_a_reason_longer_than_its_field_allows_is_refused_and_nothing_is_stored(setup) -> None:
    s = setup()
    request_id = _technical_issue_review(s, "cus_long", "LONG-1")
    s.console.sign_in("Sam")
    page = s.console.get("/refunds").text
    assert 'name="why" required maxlength="500"' in page
    refused = s.console.submit(f"/refunds/{request_id}/reject", {"why": "x" * 501})
    assert refused.status_code == 400
    assert "Reason is 501 characters long; at most 500. Nothing was saved." in refused.text
    with s.world.runtime.sessions() as session:
        row = session.get_one(RefundRequest, request_id)
        assert (row.status, row.decision_note, row.decided_by) == ("review", None, None)
    done = s.console.submit(f"/refunds/{request_id}/reject", {"why": "y" * 500})
    assert done.status_code == 303


def test_a_name_longer_than_the_login_form_allows_is_refused_and_signs_nobody_in(setup) -> None:
    console = setup().console
    assert 'maxlength="80"' in console.get("/login").text
    refused = console.sign_in("N" * 81)
    assert refused.status_code == 400
    assert "Your name is 81 characters long; at most 80. Nothing was saved." in refused.text
    assert console.get("/events").status_code == 302
    assert console.sign_in("N" * 80).status_code == 303
