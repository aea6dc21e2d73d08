"""Chargebacks over time (POLICY-SPEC M6): the account follows its disputes' latest states,
whatever order their events arrive in; D6.dispute only records."""

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from policy_factories import dmly, mittrik

from worker.policy import AccountVerdict, DisputeState, account_state, load_policy
from worker.policy.disputes import order_of, remember

SUSPENDING = ["fraudulent", "unrecognized", "general", "debit_not_authorized"]
OTHER_REASONS = [
    "product_not_received",
    "duplicate",
    "credit_not_processed",
    "subscription_canceled",
]
OPEN = [
    "warning_needs_response",
    "warning_under_review",
    "needs_response",
    "under_review",
    "appeal_needs_response",
    "appeal_under_review",
]
SETTLED = ["won", "warning_closed", "prevented"]
EVERY_STATUS = [*OPEN, *SETTLED, "lost"]
T0 = datetime(2026, 11, 1, tzinfo=UTC)


def dispute(status: str, reason: str = "fraudulent", id: str = "dp_1", lost: bool = False):
    return DisputeState(id=id, reason=reason, status=status, lost=lost)


# One dispute, every status ----------------------------------------------------------------


@pytest.mark.parametrize("reason", SUSPENDING)
@pytest.mark.parametrize("status", OPEN)
def test_mittrik_open_unauthorized_dispute_or_inquiry_suspends(reason, status):
    assert account_state([dispute(status, reason)], mittrik) == AccountVerdict(
        "suspended", "M6.dispute", ("dp_1",)
    )


@pytest.mark.parametrize("status", SETTLED)
def test_mittrik_dispute_won_warning_closed_or_prevented_leaves_the_account_active(status):
    assert account_state([dispute(status)], mittrik) == AccountVerdict("active", "M6.dispute")


def test_mittrik_dispute_lost_terminates():
    assert account_state([dispute("lost", "unrecognized")], mittrik) == AccountVerdict(
        "terminated", "M6.dispute", ("dp_1",)
    )


@pytest.mark.parametrize("status", ["appeal_needs_response", "appeal_under_review", "won"])
def test_mittrik_termination_is_final_an_appeal_or_a_later_win_does_not_reinstate(status):
    assert account_state([dispute(status, lost=True)], mittrik).state == "terminated"


@pytest.mark.parametrize("reason", OTHER_REASONS)
@pytest.mark.parametrize("status", EVERY_STATUS)
def test_mittrik_dispute_for_another_reason_never_moves_the_account(reason, status):
    # Even lost: "A lost dispute whose reason does not suspend terminates nothing."
    assert account_state([dispute(status, reason)], mittrik) == AccountVerdict(
        "active", "M6.dispute"
    )


def test_an_unknown_future_status_counts_as_open():
    assert account_state([dispute("some_new_status")], mittrik).state == "suspended"


@pytest.mark.parametrize("reason", [*SUSPENDING, *OTHER_REASONS])
@pytest.mark.parametrize("status", EVERY_STATUS)
def test_dmly_records_every_chargeback_and_the_account_stays_active(reason, status):
    assert account_state([dispute(status, reason)], dmly) == AccountVerdict("active", "D6.dispute")


def test_a_policy_that_records_losses_releases_the_account_when_the_dispute_closes_lost(tmp_path):
    builtin = Path(__file__).parents[3] / "worker" / "policy" / "policies" / "mittrik.toml"
    text = builtin.read_text().replace('dispute_lost = "terminate"', 'dispute_lost = "record"')
    assert 'dispute_lost = "record"' in text
    path = tmp_path / "lenient.toml"
    path.write_text(text)
    lenient = load_policy(str(path))
    assert account_state([dispute("lost")], lenient).state == "active"
    assert account_state([dispute("needs_response")], lenient).state == "suspended"


# Several disputes -------------------------------------------------------------------------


def test_reinstated_only_when_no_suspending_dispute_remains_open():
    first, second = dispute("won", id="dp_a"), dispute("under_review", id="dp_b")
    assert account_state([first, second], mittrik) == AccountVerdict(
        "suspended", "M6.dispute", ("dp_b",)
    )
    assert account_state([first, dispute("won", id="dp_b")], mittrik).state == "active"


def test_one_lost_suspending_dispute_terminates_whatever_the_others_say():
    disputes = [dispute("won", id="dp_a"), dispute("lost", id="dp_b"), dispute("needs_response")]
    assert account_state(disputes, mittrik) == AccountVerdict("terminated", "M6.dispute", ("dp_b",))


def test_a_lost_dispute_of_another_reason_beside_a_won_one_leaves_the_account_active():
    disputes = [dispute("won", id="dp_a"), dispute("lost", "duplicate", id="dp_b")]
    assert account_state(disputes, mittrik).state == "active"


def test_no_dispute_at_all_is_an_active_account():
    assert account_state([], mittrik) == AccountVerdict("active", "M6.dispute")


states = st.builds(
    DisputeState,
    id=st.sampled_from(["dp_a", "dp_b", "dp_c", "dp_d"]),
    reason=st.sampled_from([*SUSPENDING, *OTHER_REASONS]),
    status=st.sampled_from(EVERY_STATUS),
    lost=st.booleans(),
)


@given(st.lists(states, max_size=6), st.randoms())
def test_the_account_state_is_the_spec_rule_and_ignores_the_disputes_order(disputes, rng):
    suspending = [d for d in disputes if d.reason in SUSPENDING]
    if any(d.lost or d.status == "lost" for d in suspending):
        expected = "terminated"
    elif any(d.status in OPEN for d in suspending):
        expected = "suspended"
    else:
        expected = "active"
    shuffled = list(disputes)
    rng.shuffle(shuffled)
    assert account_state(disputes, mittrik).state == expected
    assert account_state(shuffled, mittrik) == account_state(disputes, mittrik)
    assert account_state(disputes, dmly).state == "active"


# Newest state of one dispute, whatever order its events arrive in -------------------------

LIFECYCLES = [
    ["needs_response", "under_review", "won"],
    ["needs_response", "lost"],
    ["warning_needs_response", "warning_under_review", "warning_closed"],
    ["warning_needs_response", "needs_response", "under_review", "lost"],
    ["needs_response", "lost", "appeal_needs_response", "appeal_under_review", "won"],
    ["needs_response", "prevented"],
]


def fold(observations, reread):
    """What the handler does: keep the newest by event time; on a tie, re-read from Stripe."""
    stored, stored_at = None, None
    for seen, seen_at in observations:
        order = order_of(stored_at, seen_at)
        if order == "tie":
            seen, order = reread, "newer"
        stored = remember(stored, seen, order)
        stored_at = max(stored_at or seen_at, seen_at)
    return stored


@given(
    st.sampled_from(LIFECYCLES),
    st.sampled_from([*SUSPENDING, "duplicate"]),
    st.randoms(),
    st.integers(min_value=0, max_value=1),
)
def test_any_delivery_order_of_one_disputes_events_gives_the_state_of_in_order_delivery(
    lifecycle, reason, rng, step
):
    # step 0: every state in the same second (ties, resolved by re-reading); 1: a second apart
    at = [T0 + timedelta(seconds=step * i) for i in range(len(lifecycle))]
    observations = [
        (dispute(status, reason), when) for status, when in zip(lifecycle, at, strict=True)
    ]
    latest = dispute(lifecycle[-1], reason, lost="lost" in lifecycle)
    shuffled = list(observations)
    rng.shuffle(shuffled)
    # Replays and backfill deliver some events twice.
    shuffled += rng.sample(observations, k=rng.randint(0, len(observations)))
    assert fold(shuffled, reread=latest) == latest
    assert account_state([fold(shuffled, latest)], mittrik) == account_state([latest], mittrik)


def test_a_created_arriving_after_its_won_closed_changes_nothing():
    won = remember(None, dispute("won"), "newer")
    late_created = remember(won, dispute("needs_response"), order_of(T0 + timedelta(1), T0))
    assert late_created == won
    assert account_state([late_created], mittrik).state == "active"


def test_a_created_arriving_after_its_lost_closed_still_terminates():
    lost = remember(None, dispute("lost"), "newer")
    late_created = remember(lost, dispute("needs_response"), "older")
    assert account_state([late_created], mittrik).state == "terminated"


def test_a_late_lost_behind_an_appeal_keeps_the_loss():
    appeal = remember(None, dispute("appeal_needs_response"), "newer")
    assert remember(appeal, dispute("lost"), "older") == dispute("appeal_needs_response", lost=True)
