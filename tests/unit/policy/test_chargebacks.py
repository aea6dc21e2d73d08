"""Chargebacks: M6.dispute suspends, reinstates or terminates; D6.dispute only records."""

import pytest
from policy_factories import dmly, mittrik

from worker.policy import DisputeAction, dispute_action


@pytest.mark.parametrize("reason", ["fraudulent", "unrecognized", "general"])
def test_mittrik_unauthorized_chargeback_suspends_the_account(reason):
    assert dispute_action(mittrik, "created", reason) == DisputeAction("suspend", "M6.dispute")


@pytest.mark.parametrize("reason", ["product_not_received", "duplicate", "credit_not_processed"])
def test_mittrik_other_chargebacks_are_recorded_without_suspension(reason):
    assert dispute_action(mittrik, "created", reason) == DisputeAction("record", "M6.dispute")


def test_mittrik_dispute_won_reinstates():
    assert dispute_action(mittrik, "closed", "fraudulent", "won") == DisputeAction(
        "reinstate", "M6.dispute"
    )


def test_mittrik_dispute_lost_terminates():
    assert dispute_action(mittrik, "closed", "fraudulent", "lost") == DisputeAction(
        "terminate", "M6.dispute"
    )


@pytest.mark.parametrize("status", ["warning_closed", "prevented", None])
def test_mittrik_other_closings_are_recorded(status):
    assert dispute_action(mittrik, "closed", "general", status).action == "record"


@pytest.mark.parametrize(
    ("kind", "reason", "status"),
    [("created", "fraudulent", None), ("closed", "fraudulent", "won"),
     ("closed", "fraudulent", "lost"), ("created", "general", "needs_response")],
)  # fmt: skip
def test_dmly_records_every_chargeback_without_suspension(kind, reason, status):
    # D6.dispute
    assert dispute_action(dmly, kind, reason, status) == DisputeAction("record", "D6.dispute")
