"""The policy engine: pure rules from facts to a decision, and the policies as data.

Imports nothing from Flask, Celery, SQLAlchemy or stripe, and does no I/O except reading a policy
file in `load_policy`.
"""

from worker.policy.calendar import add_months, business_day_after, unused_months, used_months
from worker.policy.categories import (
    CATEGORIES,
    Category,
    PurchaseKind,
    UnknownCategory,
    line_category,
    purchase_kind,
)
from worker.policy.decide import (
    cap_to_refundable,
    credit_window,
    decide,
    decide_json,
    decide_line,
    overall_outcome,
)
from worker.policy.decision import CreditWindow, Decision, LineDecision, Outcome
from worker.policy.disputes import (
    AccountState,
    AccountVerdict,
    DisputeState,
    account_state,
    is_settled_for_merchant,
)
from worker.policy.facts import (
    REASONS,
    Facts,
    InvalidFacts,
    Invoice,
    InvoiceLine,
    RefundRequest,
    parse_facts,
    parse_timestamp,
)
from worker.policy.loader import (
    BUILTIN_POLICIES,
    PolicyFileError,
    UnknownPolicy,
    load_policy,
    policy_from_document,
    policy_from_text,
)
from worker.policy.money import format_money, minor_unit_digits
from worker.policy.parameters import DmlyParameters, MittrikParameters, Policy
from worker.policy.proration import (
    CHANGE_WINDOW_SECONDS,
    CancelPlan,
    ChangeKind,
    ProrationPlan,
    SubscriptionItem,
    cancellation,
    classify_change,
    made_by_change,
    proration_plan,
)

__all__ = [
    "AccountState",
    "AccountVerdict",
    "BUILTIN_POLICIES",
    "REASONS",
    "CATEGORIES",
    "CancelPlan",
    "Category",
    "ChangeKind",
    "CreditWindow",
    "Decision",
    "DisputeState",
    "DmlyParameters",
    "Facts",
    "InvalidFacts",
    "Invoice",
    "InvoiceLine",
    "LineDecision",
    "MittrikParameters",
    "Outcome",
    "Policy",
    "PolicyFileError",
    "ProrationPlan",
    "PurchaseKind",
    "RefundRequest",
    "SubscriptionItem",
    "UnknownCategory",
    "UnknownPolicy",
    "account_state",
    "add_months",
    "business_day_after",
    "cancellation",
    "cap_to_refundable",
    "classify_change",
    "credit_window",
    "decide",
    "decide_json",
    "decide_line",
    "format_money",
    "is_settled_for_merchant",
    "line_category",
    "load_policy",
    "minor_unit_digits",
    "overall_outcome",
    "parse_facts",
    "parse_timestamp",
    "policy_from_document",
    "policy_from_text",
    "proration_plan",
    "CHANGE_WINDOW_SECONDS",
    "made_by_change",
    "purchase_kind",
    "unused_months",
    "used_months",
]
