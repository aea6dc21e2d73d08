"""The pure half of `policy simulate`: one set of facts decided under two policies, the totals
that add up per currency, and an account's disputes read under two suspend lists."""

from dataclasses import replace
from datetime import timedelta

from policy_factories import build_facts

from worker.policy import DisputeState, load_policy, parse_facts
from worker.policy.simulation import Tally, compare_account, compare_request

MITTRIK = load_policy("mittrik")
THIRTY_DAYS = replace(MITTRIK, parameters=replace(MITTRIK.parameters, annual_window_hours=720))
NO_FRAUD = replace(
    MITTRIK,
    parameters=replace(MITTRIK.parameters, dispute_suspend_reasons=("unrecognized", "general")),
)


def _compare(days: int, currency: str = "usd", **facts: object):
    raw = build_facts(received_after=timedelta(days=days), currency=currency, **facts)
    return compare_request(
        parse_facts(raw), MITTRIK, THIRTY_DAYS, request_id=f"rr_{days}", customer="cus_1"
    )


def test_an_annual_request_at_day_15_is_denied_now_and_approved_under_a_30_day_window() -> None:
    compared = _compare(15)
    assert (compared.before.outcome, compared.before.clauses) == ("deny", ("M1.annual",))
    assert (compared.after.outcome, compared.after.amount) == ("approve", 120000 * 11 // 12)
    assert compared.after.clauses == ("M1.annual", "M3.partial")
    assert compared.changed


def test_the_same_result_is_no_change_and_a_disputed_payment_stays_denied() -> None:
    assert not _compare(6).changed  # inside both windows: 11 of 12 months either way
    assert not _compare(40).changed  # outside both
    disputed = _compare(15, disputed=True)
    assert (disputed.before.clauses, disputed.after.clauses) == (("M6.dispute",), ("M6.dispute",))
    assert not disputed.changed


def test_totals_add_approvals_per_currency_and_count_what_changed() -> None:
    tally = Tally()
    for compared in (_compare(6), _compare(15), _compare(20, currency="eur"), _compare(40)):
        tally.add(compared)
    assert (tally.requests, tally.changed) == (4, 2)
    eur, usd = (t.to_json() for t in tally.totals())
    assert eur == {
        "currency": "eur",
        "refunded_before": 0,
        "refunded_after": 110000,
        "refunded_change": 110000,
        "review_before": 0,
        "review_after": 0,
    }
    assert (usd["refunded_before"], usd["refunded_after"]) == (110000, 220000)


def test_an_open_fraud_dispute_suspends_now_and_not_when_fraud_no_longer_suspends() -> None:
    fraud = [DisputeState("dp_1", "fraudulent", "needs_response")]
    compared = compare_account("cus_1", fraud, MITTRIK, NO_FRAUD)
    assert (compared.before.state, compared.after.state) == ("suspended", "active")
    assert compared.changed and compared.before.disputes == ("dp_1",)
    unrecognized = [DisputeState("dp_2", "unrecognized", "needs_response")]
    assert not compare_account("cus_2", unrecognized, MITTRIK, NO_FRAUD).changed
