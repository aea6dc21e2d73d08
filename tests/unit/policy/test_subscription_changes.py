"""Upgrades, downgrades, add-on changes and cancellation: what each policy asks of Stripe."""

import pytest
from policy_factories import dmly, mittrik

from worker.policy import (
    CHANGE_WINDOW_SECONDS,
    CancelPlan,
    ProrationPlan,
    SubscriptionItem,
    cancellation,
    classify_change,
    made_by_change,
    proration_plan,
)


def plan(price_id: str, unit_amount: int, interval: str = "month", quantity: int = 1, **kw):
    return SubscriptionItem(price_id, "plan", unit_amount, quantity, interval, **kw)


def addon(price_id: str, quantity: int, unit_amount: int = 500):
    return SubscriptionItem(price_id, "addon", unit_amount, quantity, "month")


STARTER = plan("price_starter", 2900)
GROWTH = plan("price_growth", 7900)
AGENTS_2 = addon("price_agents", 2)
AGENTS_5 = addon("price_agents", 5)


def test_a_dearer_plan_is_an_upgrade_and_a_cheaper_one_a_downgrade():
    assert classify_change([STARTER], [GROWTH]) == "upgrade"
    assert classify_change([GROWTH], [STARTER]) == "downgrade"


def test_monthly_to_annual_compares_normalised_daily_rates():
    # 2900/30 a day against 29000/365 a day: the annual price is cheaper per day.
    assert classify_change([STARTER], [plan("price_starter_y", 29000, "year")]) == "downgrade"
    # 2900/30 = 96.67 a day against 36000/365 = 98.63 a day.
    assert classify_change([STARTER], [plan("price_starter_y", 36000, "year")]) == "upgrade"


def test_rates_are_compared_exactly_without_float_rounding():
    # 365 a year and 30 a month: 1/day against 1/day exactly.
    assert classify_change([plan("m", 30, "month")], [plan("y", 365, "year")]) == "no_change"
    assert classify_change([plan("w", 7, "week")], [plan("d", 1, "day")]) == "no_change"
    assert classify_change([plan("m", 30, "month")], [plan("y", 366, "year")]) == "upgrade"


def test_interval_count_and_quantity_count_in_the_rate():
    quarterly = plan("price_q", 8700, "month", interval_count=3)  # 2900 a month
    assert classify_change([STARTER], [quarterly]) == "no_change"
    assert classify_change([STARTER], [plan("price_starter", 2900, quantity=2)]) == "upgrade"


def test_a_changed_addon_quantity_with_the_same_plan_is_an_addon_change():
    assert classify_change([STARTER, AGENTS_2], [STARTER, AGENTS_5]) == "addon_change"
    assert classify_change([STARTER, AGENTS_5], [STARTER, AGENTS_2]) == "addon_change"
    assert classify_change([STARTER], [STARTER, AGENTS_2]) == "addon_change"
    assert classify_change([STARTER, AGENTS_2], [STARTER]) == "addon_change"


def test_a_plan_change_decides_even_when_addons_change_too():
    assert classify_change([STARTER, AGENTS_2], [GROWTH, AGENTS_5]) == "upgrade"


def test_nothing_changed_is_no_change():
    assert classify_change([STARTER, AGENTS_2], [AGENTS_2, STARTER]) == "no_change"
    assert classify_change([STARTER, addon("x", 0)], [STARTER]) == "no_change"


@pytest.mark.parametrize(
    ("chosen", "change", "expected"),
    [
        # M.upgrade: invoiced at once.
        (mittrik, "upgrade", ProrationPlan("always_invoice", False, False, "M.upgrade")),
        # M3.downgrade: no refund or credit mid-cycle; a credit the portal created is removed.
        (mittrik, "downgrade", ProrationPlan("none", True, False, "M3.downgrade")),
        # M.upgrade: the document is silent on mid-cycle add-on changes (addon_proration).
        (mittrik, "addon_change", ProrationPlan("create_prorations", False, False, "M.upgrade")),
        # D3.upgrade: invoiced at once, pending charges collected.
        (dmly, "upgrade", ProrationPlan("always_invoice", False, True, "D3.upgrade")),
        # D3.downgrade: the unused balance is credited.
        (dmly, "downgrade", ProrationPlan("create_prorations", False, False, "D3.downgrade")),
        # D3.addons: prorated.
        (dmly, "addon_change", ProrationPlan("create_prorations", False, False, "D3.addons")),
    ],
    ids=lambda value: value if isinstance(value, str) else None,
)
def test_each_change_is_prorated_as_its_clause_says(chosen, change, expected):
    assert proration_plan(chosen, change) == expected


@pytest.mark.parametrize("chosen", [mittrik, dmly], ids=["mittrik", "dmly"])
def test_no_change_asks_for_no_proration(chosen):
    assert proration_plan(chosen, "no_change") == ProrationPlan("none", False, False, None)


def test_mittrik_cancellation_takes_effect_at_period_end():
    # M3.cancel
    assert cancellation(mittrik) == CancelPlan(cancel_at_period_end=True, clause="M3.cancel")


def test_dmly_cancellation_keeps_the_plan_to_the_end_of_the_cycle():
    # D1.cancel
    assert cancellation(dmly) == CancelPlan(cancel_at_period_end=True, clause="D1.cancel")


EVENT_AT = 1_764_640_800


@pytest.mark.parametrize(
    ("proration_start", "is_this_changes"),
    [
        (EVENT_AT, True),  # the change's moment is the event's second
        (EVENT_AT + 1, False),  # after its event: a later change's
        (EVENT_AT - CHANGE_WINDOW_SECONDS, True),  # exactly 5 minutes before: still this one's
        (EVENT_AT - CHANGE_WINDOW_SECONDS - 1, False),  # older: an earlier change's
        (EVENT_AT - 86400, False),  # a day before: an earlier upgrade's, never undone now
    ],
)
def test_a_proration_is_this_changes_only_from_five_minutes_before_its_event_to_the_event(
    proration_start: int, is_this_changes: bool
) -> None:
    assert made_by_change(proration_start, EVENT_AT) is is_this_changes
