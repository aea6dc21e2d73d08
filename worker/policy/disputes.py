"""What chargebacks do to an account under the policy (M6.dispute, D6.dispute).

POLICY-SPEC "Chargebacks over time": the account's state is a function of its disputes' latest
known states, not of the order their events arrive in. The handler stores each dispute's newest
state and enforces the move from the account's enforced state to the one computed here.
"""

from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Literal

from worker.policy.parameters import MittrikParameters, Policy

AccountState = Literal["active", "suspended", "terminated"]
StateOrder = Literal["older", "tie", "newer"]

# Stripe's closed statuses; any other (needs_response, under_review, warning_needs_response,
# warning_under_review, appeal_needs_response, appeal_under_review, or one Stripe adds later)
# is open: an unknown status keeps the account held rather than releasing it by accident.
CLOSED_STATUSES = frozenset({"won", "lost", "warning_closed", "prevented"})
# An inquiry (warning_*) that closed, a dispute prevented or won: settled for the merchant.
SETTLED_FOR_MERCHANT = frozenset({"won", "warning_closed", "prevented"})


@dataclass(frozen=True)
class DisputeState:
    """One dispute's newest known state. `lost` stays true once Stripe reported it lost, even
    if an appeal reopens it (`appeal_needs_response`): M6 termination is final."""

    id: str
    reason: str
    status: str
    lost: bool = False

    @property
    def was_lost(self) -> bool:
        return self.lost or self.status == "lost"


@dataclass(frozen=True)
class AccountVerdict:
    state: AccountState
    clause: str
    disputes: tuple[str, ...] = ()  # the disputes that decided it (suspending or lost ones)


def account_state(disputes: Iterable[DisputeState], policy: Policy) -> AccountVerdict:
    """M6.dispute over time: `terminated` once any suspending dispute is lost (and the policy
    terminates on a loss); else `suspended` while any suspending dispute is open; else
    `active`. A dispute whose reason does not suspend never moves the account, lost or not.

    D6.dispute: DMLY suspends for no reason, so its accounts stay active; disputes are recorded.
    """
    clause = policy.rulebook.dispute
    suspending = sorted(
        (d for d in disputes if d.reason in policy.parameters.dispute_suspend_reasons),
        key=lambda d: d.id,
    )
    rules = policy.parameters
    terminates = isinstance(rules, MittrikParameters) and rules.dispute_lost == "terminate"
    lost = tuple(d.id for d in suspending if d.was_lost)
    if terminates and lost:
        return AccountVerdict("terminated", clause, lost)
    # With `dispute_lost = "record"` a lost dispute is closed like any other: it holds nothing.
    open_ = tuple(d.id for d in suspending if d.status not in CLOSED_STATUSES)
    if open_:
        return AccountVerdict("suspended", clause, open_)
    return AccountVerdict("active", clause)


def order_of(stored_at: datetime | None, seen_at: datetime) -> StateOrder:
    """Where a state seen in an event stands against the stored one, by `event.created`. Its
    1-second granularity makes a tie ambiguous: the caller re-reads the dispute from Stripe."""
    if stored_at is None or seen_at > stored_at:
        return "newer"
    return "older" if seen_at < stored_at else "tie"


def remember(stored: DisputeState | None, seen: DisputeState, order: StateOrder) -> DisputeState:
    """The dispute's state to keep: the newer of the two, and lost if either says it was lost
    (a late `closed` lost still tells us the loss happened, even behind an appeal's status)."""
    if stored is None:
        return seen
    newest = stored if order == "older" else seen
    return replace(newest, lost=stored.was_lost or seen.was_lost)


def is_settled_for_merchant(status: str) -> bool:
    """The charge is no longer under dispute: refunds on it are decided on their merits."""
    return status in SETTLED_FOR_MERCHANT
