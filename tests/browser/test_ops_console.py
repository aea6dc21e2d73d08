"""The ops console in a real headless Chromium, against the real receiver (gunicorn), a Celery
worker on Redis and PostgreSQL, and stripe-mock: sign in, replay a failed event, approve a refund
review, and be refused without a session or a CSRF token. Each page's screenshot is saved under
tests/artifacts/."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from console_stack import (
    STEP_TIMEOUT_MS,
    ConsoleStack,
    chromium,
    screenshot,
    seed_history,
    start_console_stack,
)
from console_support import (
    CONSOLE,
    OPS_TOKEN,
    annual_invoice,
    annual_price,
    customer,
    fixed_product,
    typo_product,
)
from harness.servers import PostgresServer, RedisServer, StripeMock
from playwright.sync_api import Browser, BrowserContext, Page, expect
from sqlalchemy import func, select

from webhooks.console.replays import BATCH_EVENTS
from worker import samples
from worker.bootstrap import bootstrap
from worker.commands.refunds import request_refund
from worker.config import Settings
from worker.db.models import Customer, Event, RefundRequest, StripeCall

pytestmark = pytest.mark.services
POLICIES = Path(__file__).resolve().parents[2] / "worker" / "policy" / "policies"


@pytest.fixture(scope="module")
def console_stack(
    tmp_path_factory: pytest.TempPathFactory,
    postgres_server: PostgresServer,
    redis_server: RedisServer,
    stripe_mock: StripeMock,
) -> Iterator[ConsoleStack]:
    """One running system for the module: starting gunicorn and Celery costs seconds."""
    tmp = tmp_path_factory.mktemp("console")
    stack = start_console_stack(tmp, postgres_server, redis_server, stripe_mock)
    yield stack
    stack.close()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with chromium() as launched:
        yield launched


@pytest.fixture
def context(browser: Browser, console_stack: ConsoleStack) -> Iterator[BrowserContext]:
    """A fresh browser profile per test: no cookie from another test."""
    profile = browser.new_context(
        base_url=console_stack.base_url, viewport={"width": 1360, "height": 900}
    )
    profile.set_default_timeout(STEP_TIMEOUT_MS)
    yield profile
    profile.close()


def nav(page: Page, name: str) -> Any:
    return page.locator("header nav").get_by_role("link", name=name)


def sign_in(page: Page, name: str = "Ana") -> None:
    page.goto(f"{CONSOLE}/events")
    page.get_by_label("Your name").fill(name)
    page.get_by_label("Ops token").fill(OPS_TOKEN)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Events", exact=True)).to_be_visible()


def test_sign_in_asks_for_the_ops_token_once_then_keeps_a_strict_httponly_cookie(
    context: BrowserContext,
) -> None:
    page = context.new_page()
    page.goto(f"{CONSOLE}/failed")
    assert "/ops/console/login?next=/ops/console/failed" in page.url
    screenshot(page, "login")

    page.get_by_label("Your name").fill("Ana")
    page.get_by_label("Ops token").fill("not-the-token")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_have_text("That is not the ops token.")

    page.get_by_label("Ops token").fill(OPS_TOKEN)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Failed and stuck events")).to_be_visible()
    expect(page.locator(".who")).to_have_text("Ana")
    [cookie] = context.cookies()
    assert (cookie["name"], cookie["httpOnly"], cookie["sameSite"], cookie["path"]) == (
        "ops_console",
        True,
        "Strict",
        CONSOLE,
    )
    assert OPS_TOKEN not in cookie["value"]
    nav(page, "Events").click()  # the session holds: no second login
    expect(page.get_by_role("heading", name="Events", exact=True)).to_be_visible()


def paid_annual_plan(s: ConsoleStack, who: str, email: str, number: str, days_ago: int) -> str:
    """`who`'s annual plan, paid `days_ago` days ago: invoice `number`, and its payment intent
    (`pi_` and the number), which this returns."""
    price, intent = f"price_{who}", "pi_" + number.lower().replace("-", "_")
    s.deliver("customer.created", customer(who, email))
    s.deliver("product.created", fixed_product(price))
    s.deliver("price.created", annual_price(price))
    invoice = annual_invoice(who, price, number=number, payment_intent=intent, days_ago=days_ago)
    assert s.deliver("invoice.paid", invoice)[1] == "processed"
    return intent


def suspended_for_fraud(s: ConsoleStack, who: str, email: str, number: str) -> dict[str, Any]:
    """`who`'s annual plan paid 2 days ago (invoice `number`), then a `fraudulent` dispute of its
    payment, processed: the account is suspended. Returns the dispute."""
    intent = paid_annual_plan(s, who, email, number, days_ago=2)
    charge = intent.replace("pi_", "ch_", 1)
    dispute = samples.dispute(charge=charge, payment_intent=intent, reason="fraudulent")
    assert s.deliver("charge.dispute.created", dispute)[1] == "processed"
    return dispute


def test_a_failed_event_replayed_from_the_console_ends_processed(
    context: BrowserContext, console_stack: ConsoleStack
) -> None:
    s = console_stack
    price = "price_browser_typo"
    s.deliver("customer.created", customer("cus_typo_a", "a@example.com"))
    s.deliver("customer.created", customer("cus_typo_b", "b@example.com"))
    s.deliver("product.created", typo_product(price))
    s.deliver("price.created", annual_price(price))
    failed = []
    for who, number in (("cus_typo_a", "TYPO-A"), ("cus_typo_b", "TYPO-B")):
        invoice = annual_invoice(
            who, price, number=number, payment_intent=f"pi_{number}", days_ago=2
        )
        event_id, status = s.deliver("invoice.paid", invoice)
        assert status == "failed"  # UnknownCategory: the product's category is a typo
        failed.append(event_id)
    assert s.deliver("product.updated", fixed_product(price))[1] == "processed"

    page = context.new_page()
    sign_in(page)
    nav(page, "Failed").click()
    for event_id in failed:
        expect(page.locator(f"tr[data-event='{event_id}']")).to_contain_text("UnknownCategory")
    screenshot(page, "failed")

    page.get_by_role("link", name=failed[0]).first.click()
    expect(page.get_by_role("heading", name=failed[0])).to_be_visible()
    expect(page.locator(".flash.error")).to_contain_text("product metadata category 'plann'")
    screenshot(page, "event")
    page.get_by_role("button", name="Replay").click()
    expect(page.locator(".flash.success")).to_have_text(
        f"{failed[0]} replayed: failed → processed."
    )
    expect(page.locator(".heading .status")).to_have_text("processed")

    nav(page, "Failed").click()  # the other one: Replay selected
    page.get_by_label(f"Select {failed[1]}").check()
    page.get_by_role("button", name="Replay selected").click()
    expect(page.get_by_role("heading", name="Replay finished")).to_be_visible()
    expect(page.locator("#replay-done")).to_have_text("1")
    expect(page.locator("dd[data-count='replayed']")).to_have_text("1")
    screenshot(page, "replay")

    with s.sessions()() as session:
        rows = session.execute(
            select(Event.id, Event.status, Event.attempts).where(Event.id.in_(failed))
        )
        assert {row.id: (row.status, row.attempts) for row in rows} == {
            failed[0]: ("processed", 2),
            failed[1]: ("processed", 2),
        }


def test_a_review_approved_from_the_console_refunds_through_stripe_mock(
    context: BrowserContext, console_stack: ConsoleStack
) -> None:
    s = console_stack
    paid_annual_plan(s, "cus_tech_b", "tech@example.com", "TECH-B", days_ago=40)
    runtime = bootstrap(
        Settings(  # type: ignore[call-arg]
            _env_file=None,
            data_dir=s.tmp,
            database_url=s.database_url,
            stripe_api_base=s.env["STRIPE_API_BASE"],
            billing_policy="mittrik",
        )
    )
    review = request_refund(
        runtime, customer="tech@example.com", invoice="TECH-B", reason="technical_issue"
    ).request
    assert (review.status, review.clauses) == ("review", ["M4.technical"])

    page = context.new_page()
    sign_in(page, "Ana")
    nav(page, "Refund reviews").click()
    card = page.locator(f"article[data-request='{review.id}']")
    expect(card).to_contain_text("M4.technical")
    expect(card).to_contain_text("TECH-B")
    expect(card.get_by_label("Amount (USD)")).to_have_value("1200.00")
    screenshot(page, "refunds")

    card.get_by_label("Amount (USD)").fill("1000.00")
    card.get_by_role("button", name="Approve").click()
    expect(page.locator(".flash.success")).to_contain_text(
        f"{review.id} approved by Ana (ops console): refunded 1,000.00 USD"
    )
    expect(page.locator(f"article[data-request='{review.id}']")).to_have_count(0)

    with s.sessions()() as session:
        row = session.get_one(RefundRequest, review.id)
        assert (row.status, row.amount, row.decided_by) == ("refunded", 100000, "Ana (ops console)")
        [call] = session.scalars(select(StripeCall).where(StripeCall.request_id == review.id))
        assert (call.method, call.object_id, call.outcome) == ("refunds.create", "pi_tech_b", "ok")
        assert call.result_id and call.result_id == row.refund_id


def test_customers_page_shows_an_account_suspended_for_a_fraudulent_chargeback(
    context: BrowserContext, console_stack: ConsoleStack
) -> None:
    s = console_stack
    dispute = suspended_for_fraud(s, "cus_fraud_b", "fraud@example.com", "FR-B")
    with s.sessions()() as session:
        assert session.get_one(Customer, ("", "cus_fraud_b")).account_status == "suspended"

    page = context.new_page()
    sign_in(page)
    nav(page, "Customers").click()
    account = page.locator("article[data-customer='cus_fraud_b']")
    expect(account).to_contain_text("suspended")
    expect(account).to_contain_text(dispute["id"])
    expect(account).to_contain_text("M6.dispute")
    screenshot(page, "customers")


def test_a_forged_form_is_refused_without_the_csrf_token(
    context: BrowserContext, console_stack: ConsoleStack
) -> None:
    page = context.new_page()
    sign_in(page)
    before = _attempts(console_stack)

    # From another site: SameSite=Strict keeps the session cookie at home, so no session.
    forged = _forged_form(console_stack.base_url)
    context.route(
        "http://forger.test/**", lambda route: route.fulfill(content_type="text/html", body=forged)
    )
    page.goto("http://forger.test/prize")
    with page.expect_response(f"**{CONSOLE}/replay") as answer:
        page.get_by_role("button", name="Claim").click()
    assert answer.value.status == 403

    # From the console's own origin, with the session but no token (an injected form).
    page.goto(f"{CONSOLE}/events")
    for token in (None, "forged-token"):
        page.evaluate(
            """([action, token]) => {
                const form = document.createElement("form");
                form.method = "post"; form.action = action;
                const fields = {scope: "failed"};
                if (token !== null) fields.csrf_token = token;
                for (const [name, value] of Object.entries(fields)) {
                    const input = document.createElement("input");
                    input.type = "hidden"; input.name = name; input.value = value;
                    form.append(input);
                }
                document.body.append(form);
            }""",
            [f"{CONSOLE}/replay", token],
        )
        with page.expect_response(f"**{CONSOLE}/replay") as answer:
            page.evaluate("document.forms[document.forms.length - 1].submit()")
        assert answer.value.status == 403
        expect(page.get_by_role("heading", name="403 · Refused")).to_be_visible()
    screenshot(page, "forbidden")
    assert _attempts(console_stack) == before  # nothing was replayed


def _forged_form(base_url: str) -> str:
    return (
        f'<form method="post" action="{base_url}{CONSOLE}/replay">'
        '<input type="hidden" name="scope" value="failed">'
        '<button type="submit">Claim</button></form>'
    )


def _attempts(stack: ConsoleStack) -> int:
    with stack.sessions()() as session:
        return sum(session.scalars(select(Event.attempts)))


def test_without_a_session_pages_go_to_login_and_actions_are_refused(
    context: BrowserContext,
) -> None:
    page = context.new_page()
    for path in ("/events", "/failed", "/refunds", "/customers", "/events/evt_any"):
        page.goto(f"{CONSOLE}{path}")
        expect(page.get_by_role("heading", name="Sign in to the ops console")).to_be_visible()
        assert page.url.endswith(f"/login?next={CONSOLE}{path}")
    actions = ("/replay", "/events/e/replay", "/refunds/r/approve", "/refunds/r/reject")
    for action in actions:
        response = context.request.post(f"{CONSOLE}{action}", form={"scope": "failed"})
        assert response.status == 403, action

    sign_in(page)  # and after signing out, the old session is gone
    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("heading", name="Sign in to the ops console")).to_be_visible()
    page.goto(f"{CONSOLE}/refunds")
    assert "/login?next=" in page.url
    assert context.request.post(f"{CONSOLE}/replay", form={"scope": "failed"}).status == 403


def test_events_page_charts_two_days_and_replay_all_failed_runs_in_batches(
    context: BrowserContext, console_stack: ConsoleStack
) -> None:
    s = console_stack
    seed_history(s.sessions())
    with s.sessions()() as session:
        failed = session.scalar(select(func.count()).where(Event.status == "failed"))
    assert failed > BATCH_EVENTS  # so the replay takes more than one batch

    page = context.new_page()
    sign_in(page)
    chart = page.locator("figure.chart svg")
    expect(chart.locator("rect.seg.s-failed").first).to_be_visible()
    assert chart.locator("g.bar:has(rect.seg)").count() >= 40  # most of the 48 hours have bars
    expect(page.locator(".tabs a.s-failed b")).to_have_text(str(failed))
    screenshot(page, "events", full_page=False)  # the one docs/operating.md shows

    page.locator("form.filters select[name='status']").select_option("ignored")
    page.get_by_label("Type").fill("payout.paid")
    page.get_by_role("button", name="Filter").click()
    rows = page.locator("table.events tbody tr")
    expect(rows.first).to_contain_text("payout.paid")
    assert all("ignored" in text for text in rows.all_inner_texts())
    page.get_by_role("link", name="Clear").click()
    page.locator("form.filters select[name='status']").select_option("processed")
    page.get_by_role("button", name="Filter").click()  # some 200 rows: pages of 50
    newest = rows.first.get_attribute("data-event")
    page.get_by_role("link", name="Older →").click()
    expect(rows.first).not_to_have_attribute("data-event", newest or "")
    page.get_by_role("link", name="← Newer").click()
    expect(rows.first).to_have_attribute("data-event", newest or "")

    nav(page, "Failed").click()
    page.get_by_role("button", name=f"Replay all failed ({failed})").click()
    # console.js posts each next batch itself until the selection is done.
    expect(page.get_by_role("heading", name="Replay finished")).to_be_visible()
    expect(page.locator("#replay-done")).to_have_text(str(failed))
    expect(page.locator("dd[data-count='replayed']")).to_have_text(str(failed))
    screenshot(page, "replay-all")
    with s.sessions()() as session:
        assert session.scalar(select(func.count()).where(Event.status == "failed")) == 0


def test_policy_what_if_shows_the_account_a_pasted_policy_would_release(
    context: BrowserContext, console_stack: ConsoleStack
) -> None:
    s = console_stack
    dispute = suspended_for_fraud(s, "cus_whatif_b", "whatif@example.com", "WI-B")
    mittrik = (POLICIES / "mittrik.toml").read_text()
    suspends = '["fraudulent", "unrecognized", "general", "debit_not_authorized"]'
    no_fraud = mittrik.replace(suspends, '["unrecognized", "general", "debit_not_authorized"]')

    page = context.new_page()
    sign_in(page)
    nav(page, "Policy what-if").click()
    page.get_by_label("or paste it").fill(no_fraud)
    page.get_by_role("button", name="Simulate").click()

    row = page.locator("tr[data-customer='cus_whatif_b']")
    expect(row).to_contain_text("suspended")
    expect(row).to_contain_text("active")
    expect(row).to_contain_text(dispute["id"])
    screenshot(page, "simulate")


def test_drift_page_lists_a_suspended_accounts_drift_and_its_fix_button_writes_keyed(
    context: BrowserContext, console_stack: ConsoleStack
) -> None:
    """stripe-mock keeps no state, so a suspended account's pause is drift there: the page
    lists it, and Fix sends the write through reconcile's gateway (stripe-mock forgets it
    again; fixing once and a second click writing nothing are on the double's tests)."""
    s = console_stack
    dispute = suspended_for_fraud(s, "cus_drift_b", "drift@example.com", "DR-B")

    page = context.new_page()
    sign_in(page)
    nav(page, "Drift").click()
    expect(page.get_by_role("heading", name="Drift: Stripe against the policy")).to_be_visible()
    page.get_by_label("Customer").fill("cus_drift_b")
    page.get_by_role("button", name="Compare").click()
    finding = page.locator("article[data-kind='account_status_mark']")
    expect(finding).to_contain_text("cus_drift_b")
    expect(finding).to_contain_text("M6.dispute")
    expect(finding).to_contain_text(f"suspended while dispute {dispute['id']} is open")
    expect(finding).to_contain_text("no account_status in metadata")
    screenshot(page, "drift")

    finding.get_by_role("button", name="Fix").click()
    flash = page.get_by_role("status")
    expect(flash).to_contain_text("fixed drift_")
    expect(flash).to_contain_text("customers.update cus_drift_b")
    expect(flash).to_contain_text("(key bw:reconcile-")
    with s.sessions()() as session:
        keys = session.scalars(
            select(StripeCall.idempotency_key).where(
                StripeCall.object_id == "cus_drift_b", StripeCall.outcome == "ok"
            )
        ).all()
    assert any(key.startswith("bw:reconcile-") for key in keys), keys
