"""The subscription side of a policy: what a plan or add-on change, or a cancellation, should do.

The Stripe layer calls these with plain items and gets back Stripe's `proration_behavior` and
what to do about proration items left pending by a change made elsewhere (e.g. the portal).
"""

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from fractions import Fraction
from typing import Literal

from worker.policy.parameters import DmlyParameters, Policy, ProrationBehavior

ChangeKind = Literal["upgrade", "downgrade", "addon_change", "no_change"]
ItemInterval = Literal["day", "week", "month", "year"]

# POLICY-SPEC.md, "Which proration is this change's": a change's prorations start at the moment
# of the change, which is not after its event and no more than 5 minutes before it.
CHANGE_WINDOW_SECONDS = 300


def made_by_change(proration_start: float, event_at: float) -> bool:
    """Whether a proration starting then can be the change's whose event is dated `event_at`."""
    return event_at - CHANGE_WINDOW_SECONDS <= proration_start <= event_at


# A price's rate is normalised to a day with fixed lengths, so a monthly → annual switch compares
# like with like; a month is 30 days and a year 365 whatever the calendar says.
DAYS_IN_INTERVAL: dict[str, int] = {"day": 1, "week": 7, "month": 30, "year": 365}


@dataclass(frozen=True)
class SubscriptionItem:
    price_id: str
    category: str  # "plan" or "addon"; other categories do not drive a change's kind
    unit_amount: int
    quantity: int
    interval: ItemInterval
    interval_count: int = 1

    @property
    def daily_rate(self) -> Fraction:
        """`unit_amount × quantity / days in interval`, exact (no float rounding at the edge)."""
        days = DAYS_IN_INTERVAL[self.interval] * self.interval_count
        return Fraction(self.unit_amount * self.quantity, days)


@dataclass(frozen=True)
class ProrationPlan:
    proration_behavior: ProrationBehavior
    undo_prorations: bool  # M3.downgrade: a change made elsewhere ends as if made with "none"
    invoice_pending_now: bool  # D3.upgrade: invoice and collect pending proration at once
    clause: str | None  # None only for no_change


@dataclass(frozen=True)
class CancelPlan:
    cancel_at_period_end: bool
    clause: str


def plan_daily_rate(items: Iterable[SubscriptionItem]) -> Fraction:
    return sum((item.daily_rate for item in items if item.category == "plan"), Fraction(0))


def _addon_quantities(items: Iterable[SubscriptionItem]) -> Counter[str]:
    quantities: Counter[str] = Counter()
    for item in items:
        if item.category == "addon":
            quantities[item.price_id] += item.quantity
    return +quantities  # drop zero quantities: an add-on at quantity 0 is no add-on


def classify_change(
    old_items: Iterable[SubscriptionItem], new_items: Iterable[SubscriptionItem]
) -> ChangeKind:
    """Upgrade or downgrade by the plans' normalised daily rate; else an add-on change, or none.

    When the plan rate moves, that decides (an add-on changed at the same time rides along).
    """
    old_items, new_items = tuple(old_items), tuple(new_items)
    old_rate, new_rate = plan_daily_rate(old_items), plan_daily_rate(new_items)
    if new_rate > old_rate:
        return "upgrade"
    if new_rate < old_rate:
        return "downgrade"
    if _addon_quantities(old_items) != _addon_quantities(new_items):
        return "addon_change"
    return "no_change"


def proration_plan(policy: Policy, kind: ChangeKind) -> ProrationPlan:
    """What the policy wants Stripe to do for this kind of change.

    Mittrik: upgrade always_invoice (M.upgrade); downgrade none, and pending credits removed
    (M3.downgrade); add-on change create_prorations (M.upgrade, the document being silent).
    DMLY: upgrade always_invoice, pending charges invoiced now (D3.upgrade); downgrade
    create_prorations (D3.downgrade); add-on change create_prorations (D3.addons).
    """
    rules = policy.parameters
    book = policy.rulebook
    if kind == "upgrade":
        # D3.upgrade: "if a change made elsewhere left the proration pending, invoice it".
        invoice_now = (
            isinstance(rules, DmlyParameters) and rules.upgrade_proration == "always_invoice"
        )
        return ProrationPlan(rules.upgrade_proration, False, invoice_now, book.upgrade)
    if kind == "downgrade":
        # M3.downgrade: no credit wanted, so a proration created anyway is undone.
        behavior = rules.downgrade_proration
        return ProrationPlan(behavior, behavior == "none", False, book.downgrade)
    if kind == "addon_change":
        behavior = rules.addon_proration
        return ProrationPlan(behavior, behavior == "none", False, book.addon_change)
    return ProrationPlan("none", False, False, None)


def cancellation(policy: Policy) -> CancelPlan:
    """M3.cancel, D1.cancel: cancel at the end of the period already paid for."""
    return CancelPlan(policy.parameters.cancel_at == "period_end", policy.rulebook.cancel)
