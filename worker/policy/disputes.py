"""What a chargeback does to an account under the policy (M6.dispute, D6.dispute).

The handler checks the account's state (a reinstatement only means something for a suspended
account); this says what the policy wants for the event.
"""

from dataclasses import dataclass
from typing import Literal

from worker.policy.parameters import MittrikParameters, Policy

DisputeEvent = Literal["created", "closed"]  # charge.dispute.created / charge.dispute.closed
Action = Literal["suspend", "reinstate", "terminate", "record"]


@dataclass(frozen=True)
class DisputeAction:
    action: Action
    clause: str


def dispute_action(
    policy: Policy, kind: DisputeEvent, reason: str, status: str | None = None
) -> DisputeAction:
    """M6.dispute: an "unauthorized" chargeback suspends; won reinstates, lost terminates.

    D6.dispute: DMLY records a chargeback and never suspends, whatever its outcome.
    """
    rules = policy.parameters
    clause = policy.rulebook.dispute
    if not isinstance(rules, MittrikParameters):
        return DisputeAction("record", clause)
    if kind == "created" and reason in rules.dispute_suspend_reasons:
        return DisputeAction("suspend", clause)
    if kind == "closed" and status == "won":
        return DisputeAction("reinstate", clause)
    if kind == "closed" and status == "lost" and rules.dispute_lost == "terminate":
        return DisputeAction("terminate", clause)
    return DisputeAction("record", clause)
