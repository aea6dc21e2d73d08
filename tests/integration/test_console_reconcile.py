"""The console's drift page on the Stripe double: it needs a session, lists a drifted account's
finding in support's words, refuses a fix without its CSRF token, and its fix button fixes that
one finding through reconcile's gateway (keyed, audited), a second click changing Stripe no
more. Each runs on SQLite and on PostgreSQL."""

from __future__ import annotations

import re

import pytest
from console_support import CONSOLE, OPS_TOKEN, ConsoleClient
from double_world import CUSTOMER, SUBSCRIPTION, DoubleWorld, subscribed_world
from prometheus_client import REGISTRY
from stripe_double import StripeDouble
from test_reconcile_on_double import by_hand, pause_lifted_by_hand, writes

from webhooks import create_app
from webhooks.console import reconcile as drift_page

w = subscribed_world  # fixture


@pytest.fixture
def console(make_settings, database_url: str, double: StripeDouble) -> ConsoleClient:
    settings = make_settings(
        database_url=database_url,
        stripe_api_base=double.url,
        stripe_api_key="sk_test_123",
        billing_policy="mittrik",
        ops_api_token=OPS_TOKEN,
    )
    return ConsoleClient(create_app(settings))


def finding_id(html: str) -> str:
    match = re.search(r'name="finding" value="(drift_[0-9a-f]+)"', html)
    assert match, "the page has no fix button"
    return match.group(1)


def test_the_drift_page_needs_a_session_and_a_fix_needs_its_csrf_token(
    w: DoubleWorld, console: ConsoleClient
) -> None:
    pause_lifted_by_hand(w)
    page = console.get("/reconcile")
    assert page.status_code == 302
    assert page.headers["Location"] == f"{CONSOLE}/login?next={CONSOLE}/reconcile"
    form = {"finding": "drift_any", "customer": CUSTOMER, "account": "platform"}
    assert console.client.post(f"{CONSOLE}/reconcile/fix", data=form).status_code == 403

    console.sign_in("Sam")
    refused = console.client.post(f"{CONSOLE}/reconcile/fix", data=form)
    assert refused.status_code == 403
    assert "security token" in refused.text
    assert w.subscription()["pause_collection"] is None  # nothing was written


def test_the_fix_button_fixes_one_finding_and_a_second_click_changes_stripe_no_more(
    w: DoubleWorld, console: ConsoleClient
) -> None:
    dispute = pause_lifted_by_hand(w)
    console.sign_in("Sam")

    last_run = REGISTRY.get_sample_value("billing_reconcile_last_complete_run_timestamp_seconds")
    page = console.get("/reconcile")
    assert page.status_code == 200
    # A look on demand is not the schedule's run: the gauge its alert watches stays as it was.
    assert (
        REGISTRY.get_sample_value("billing_reconcile_last_complete_run_timestamp_seconds")
        == last_run
    )
    text = page.text
    for words in (
        CUSTOMER,
        SUBSCRIPTION,
        "subscription_not_paused",
        "M6.dispute",
        f"the account is suspended while dispute {dispute['id']} is open",
        "status active, collection running",
        "pause collection (pause_collection.behavior=void)",
    ):
        assert words in text, words
    found = finding_id(text)

    before = len(writes(w))
    form = {"finding": found, "customer": CUSTOMER, "account": "platform"}
    fixed = console.submit("/reconcile/fix", form)
    assert fixed.status_code == 303
    [made] = writes(w)[before:]
    assert (made.path, made.params) == (
        f"/v1/subscriptions/{SUBSCRIPTION}",
        {"pause_collection": {"behavior": "void"}},
    )
    key = str(made.idempotency_key)
    assert key.startswith("bw:reconcile-") and key.endswith(f":pause_collection:{SUBSCRIPTION}")
    audited = [c for c in w.world.audit() if c.idempotency_key == key]
    assert [(c.method, c.outcome) for c in audited] == [("subscriptions.update", "ok")]
    assert w.subscription()["pause_collection"] == {"behavior": "void"}
    after = console.client.get(fixed.headers["Location"])
    assert f"fixed {found}: subscription_not_paused {SUBSCRIPTION}" in after.text
    assert "No drift" in after.text

    again = console.submit("/reconcile/fix", form)
    assert again.status_code == 303
    assert len(writes(w)) == before + 1
    assert (
        "is no longer found: nothing changed at Stripe"
        in console.client.get(again.headers["Location"]).text
    )


def test_past_its_limit_the_page_compares_nothing_until_given_a_customer(
    w: DoubleWorld, console: ConsoleClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    pause_lifted_by_hand(w)
    monkeypatch.setattr(drift_page, "WHOLE_RUN_MAX", 0)
    console.sign_in("Sam")
    reads = len(w.double.sent)
    page = console.get("/reconcile").text
    assert "more than a page compares at once" in page
    assert len(w.double.sent) == reads  # nothing was read at Stripe
    assert (
        'data-kind="subscription_not_paused"' in console.get("/reconcile", customer=CUSTOMER).text
    )


def test_a_fix_fixes_only_its_finding_not_the_customers_others(
    w: DoubleWorld, console: ConsoleClient
) -> None:
    pause_lifted_by_hand(w)
    by_hand(w.double, "customer", CUSTOMER, metadata={})
    console.sign_in("Sam")
    page = console.get("/reconcile", customer=CUSTOMER).text
    ids = re.findall(r'data-finding="(drift_[0-9a-f]+)" data-kind="([a-z_]+)"', page)
    kinds = dict((kind, i) for i, kind in ids)
    assert set(kinds) == {"subscription_not_paused", "account_status_mark"}

    console.submit(
        "/reconcile/fix",
        {"finding": kinds["account_status_mark"], "customer": CUSTOMER, "account": "platform"},
    )
    assert w.account_status() == "suspended"
    assert w.subscription()["pause_collection"] is None  # the other finding is still there
    left = console.get("/reconcile", customer=CUSTOMER).text
    assert 'data-kind="subscription_not_paused"' in left
    assert 'data-kind="account_status_mark"' not in left
