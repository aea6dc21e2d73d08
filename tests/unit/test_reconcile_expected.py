"""Reconcile's checks (worker/reconcile/expected.py) as pure functions: what the policy and our
history say Stripe should hold, set against Stripe objects built here, one rule a test."""

from __future__ import annotations

from typing import Any

from worker.policy import CHANGE_WINDOW_SECONDS, AccountVerdict, load_policy
from worker.reconcile.expected import (
    PENDING_REFUND_MAX_AGE_SECONDS,
    HandledDowngrade,
    RequestFacts,
    Whose,
    account_findings,
    cancellation_findings,
    dispute_findings,
    open_invoice_findings,
    proration_findings,
    refund_findings,
)
from worker.reconcile.findings import Kind, Remedy

ANA = Whose("", "cus_ana")
NOW = 1_800_000_000
SUSPENDED = AccountVerdict("suspended", "M6.dispute", ("dp_1",))
ACTIVE = AccountVerdict("active", "M6.dispute")
TERMINATED = AccountVerdict("terminated", "M6.dispute", ("dp_1",))


def sub(sub_id: str = "sub_1", *, status: str = "active", paused: bool = False, **more: Any):
    return {
        "id": sub_id,
        "status": status,
        "pause_collection": {"behavior": "void"} if paused else None,
        "cancel_at_period_end": False,
        **more,
    }


def kinds(findings: list) -> list[tuple[str, str]]:
    return [(str(f.kind), f.object_id) for f in findings]


def test_a_suspended_account_wants_every_live_subscription_paused_and_says_why() -> None:
    found = account_findings(
        ANA, SUSPENDED, "suspended", "suspended",
        [sub("sub_1"), sub("sub_2", paused=True), sub("sub_old", status="canceled")], set(),
    )  # fmt: skip
    [finding] = found
    assert (finding.kind, finding.object_id, finding.remedy) == (
        Kind.NOT_PAUSED,
        "sub_1",
        Remedy.PAUSE,
    )
    assert finding.expected.endswith("the account is suspended while dispute dp_1 is open")
    assert finding.held == "status active, collection running"


def test_a_terminated_account_wants_no_live_subscription_and_termination_is_final() -> None:
    # Our record says terminated: a later verdict of active does not bring it back (M6).
    found = account_findings(ANA, ACTIVE, "terminated", "terminated", [sub()], set())
    assert kinds(found) == [("subscription_not_cancelled", "sub_1")]
    assert found[0].remedy == Remedy.CANCEL_NOW
    assert account_findings(ANA, TERMINATED, "terminated", "terminated", [sub()], set())


def test_an_active_account_is_resumed_only_where_the_pause_is_ours() -> None:
    subs = [sub("sub_ours", paused=True), sub("sub_by_hand", paused=True)]
    found = account_findings(ANA, ACTIVE, "active", None, subs, {"sub_ours"})
    assert kinds(found) == [("pause_left_behind", "sub_ours")]
    assert found[0].remedy == Remedy.RESUME


def test_the_metadata_mark_and_our_record_follow_the_state() -> None:
    found = account_findings(ANA, SUSPENDED, "active", None, [sub(paused=True)], set())
    assert kinds(found) == [
        ("account_status_mark", "cus_ana"),
        ("account_status_record", "cus_ana"),
    ]
    assert [(f.remedy, f.state) for f in found] == [
        (Remedy.MARK_STATUS, "suspended"),
        (Remedy.RECORD_STATUS, "suspended"),
    ]
    assert found[0].held == "no account_status in metadata"


def test_open_invoices_of_paused_subscriptions_stop_collecting_and_resume_when_reinstated() -> None:
    of_sub_1 = {"subscription_details": {"subscription": "sub_1"}}
    invoices = [
        {"id": "in_1", "auto_advance": True, "parent": of_sub_1},
        {"id": "in_other", "auto_advance": True, "subscription": "sub_2"},
    ]
    found = open_invoice_findings(ANA, "suspended", "M6.dispute", invoices, {"sub_1"}, set())
    assert kinds(found) == [("open_invoice_collecting", "in_1")]
    stopped = [{"id": "in_1", "auto_advance": False, "subscription": "sub_1"}]
    assert kinds(open_invoice_findings(ANA, "active", "M6.dispute", stopped, set(), {"in_1"})) == [
        ("open_invoice_collecting", "in_1")
    ]
    assert open_invoice_findings(ANA, "terminated", "M6.dispute", stopped, set(), {"in_1"}) == []


def test_a_dispute_at_stripe_we_never_stored_is_drift_with_the_object_to_record() -> None:
    dispute = {"id": "dp_2", "charge": "ch_1", "reason": "fraudulent", "status": "needs_response",
               "amount": 120000, "currency": "usd"}  # fmt: skip
    [found] = dispute_findings(ANA, "M6.dispute", {"dp_1"}, [dispute, {"id": "dp_1"}])
    assert (found.kind, found.remedy, found.stripe_object) == (
        Kind.DISPUTE_UNKNOWN,
        Remedy.RECORD_DISPUTE,
        dispute,
    )
    assert "fraudulent, needs_response, 1,200.00 USD" in found.held


def refund(refund_id: str, amount: int, status: str, *, request: str = "rr_1", age: int = 0):
    return {
        "id": refund_id,
        "amount": amount,
        "currency": "usd",
        "status": status,
        "created": NOW - age,
        "metadata": {"refund_request_id": request},
    }


REQUEST = RequestFacts("rr_1", "refunded", 110000, "usd")


def test_a_refunded_request_whose_refunds_add_up_is_clean_pending_or_succeeded() -> None:
    refunds = [refund("re_1", 100000, "succeeded"), refund("re_2", 10000, "pending", age=3600)]
    stored = {"re_1": "succeeded", "re_2": "pending"}
    assert refund_findings(ANA, [REQUEST], stored, refunds, NOW) == []


def test_a_refund_pending_past_the_stated_age_is_reported_for_a_person() -> None:
    old = refund("re_1", 110000, "pending", age=PENDING_REFUND_MAX_AGE_SECONDS + 1)
    [found] = refund_findings(ANA, [REQUEST], {"re_1": "pending"}, [old], NOW)
    assert (found.kind, found.remedy) == (Kind.REFUND_STUCK, None)
    assert "ask Stripe support" in found.remedy_words
    young = refund("re_1", 110000, "pending", age=PENDING_REFUND_MAX_AGE_SECONDS)
    assert refund_findings(ANA, [REQUEST], {"re_1": "pending"}, [young], NOW) == []


def test_a_failed_refund_we_still_count_is_recorded_and_not_also_reported_short() -> None:
    failed = dict(refund("re_1", 110000, "failed"), failure_reason="lost_or_stolen_card")
    [found] = refund_findings(ANA, [REQUEST], {"re_1": "succeeded"}, [failed], NOW)
    assert (found.kind, found.remedy) == (Kind.REFUND_FAILED, Remedy.RECORD_REFUND)
    assert "failed (lost_or_stolen_card); we still count it as succeeded" in found.held


def test_refunds_short_of_the_request_tell_support_how_to_refund_again() -> None:
    failed = refund("re_1", 110000, "failed")
    [found] = refund_findings(ANA, [REQUEST], {"re_1": "failed"}, [failed], NOW)
    assert (found.kind, found.object_id) == (Kind.REFUND_SHORT, "rr_1")
    assert found.held == "0.00 USD in 1 refund(s)"
    assert "billing-worker refunds approve rr_1 --by NAME" in found.remedy_words


def test_a_refund_with_our_metadata_we_never_recorded_is_drift_and_others_are_not_ours() -> None:
    ours = refund("re_new", 500, "succeeded")
    theirs = dict(refund("re_x", 500, "succeeded"), metadata={})
    found = refund_findings(ANA, [], {}, [ours, theirs], NOW)
    assert kinds(found) == [("refund_unknown", "re_new")]


def proration(item_id: str, start: int, subscription: str = "sub_1", **more: Any):
    return {
        "id": item_id,
        "amount": -5000,
        "currency": "usd",
        "proration": True,
        "period": {"start": start, "end": start + 86400},
        "parent": {"subscription_details": {"subscription": subscription}},
        **more,
    }


def test_only_a_pending_proration_of_the_handled_change_is_left_over() -> None:
    change = HandledDowngrade("sub_1", NOW, "evt_1")
    pending = [
        proration("ii_this", NOW),
        proration("ii_just_before", NOW - CHANGE_WINDOW_SECONDS),
        proration("ii_earlier", NOW - CHANGE_WINDOW_SECONDS - 1),
        proration("ii_later", NOW + 1),
        proration("ii_other_sub", NOW, subscription="sub_2"),
        {**proration("ii_one_off", NOW), "proration": False},
    ]
    found = proration_findings(ANA, "M3.downgrade", [change], pending)
    assert kinds(found) == [
        ("downgrade_proration_left", "ii_this"),
        ("downgrade_proration_left", "ii_just_before"),
    ]


def test_a_cancellation_we_made_is_drift_only_while_it_would_renew() -> None:
    subs = [
        sub("sub_undone"),
        sub("sub_kept", cancel_at_period_end=True),
        sub("sub_ended", status="canceled"),
        sub("sub_not_ours"),
    ]
    cancelled = {"sub_undone", "sub_kept", "sub_ended"}
    found = cancellation_findings(ANA, "D1.cancel", cancelled, subs)
    assert kinds(found) == [("cancellation_undone", "sub_undone")]
    assert found[0].clause == "D1.cancel"


def test_a_finding_keeps_its_id_across_runs_and_prints_four_lines() -> None:
    policy = load_policy("mittrik")
    [first] = account_findings(ANA, SUSPENDED, "suspended", "suspended", [sub()], set())
    [again] = account_findings(ANA, SUSPENDED, "suspended", "suspended", [sub()], set())
    assert first.id == again.id and first.id.startswith("drift_")
    lines = first.text().splitlines()
    assert lines[0] == f"cus_ana  sub_1  subscription_not_paused  [{policy.rulebook.dispute}]"
    assert [line.split(":")[0].strip() for line in lines[1:]] == [
        "policy expects",
        "Stripe holds",
        "fix",
    ]
    assert first.as_dict()["fixable"] is True
