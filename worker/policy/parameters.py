"""A policy as data: its parameters, its clause sentences, and the rule shape they drive.

Both policies run through one engine (`decide.py`), but Mittrik and DMLY are genuinely different in
shape (Mittrik has separate annual and add-on windows and a technical-issue route; DMLY has one
window for everything and a list of never-refundable categories), so each shape has its own
parameter set and its own short rules module. A company's policy file picks a shape with `rules`
and sets that shape's parameters.
"""

from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Literal

from worker.policy.categories import Category

RuleShape = Literal["mittrik", "dmly"]
ProrationBehavior = Literal["none", "create_prorations", "always_invoice"]
CancelAt = Literal["period_end", "immediately"]
AnnualRefund = Literal["unused_months", "full", "none"]
AddonUnused = Literal["review", "approve", "deny"]
DisputeLost = Literal["terminate", "record"]


@dataclass(frozen=True)
class MittrikParameters:
    monthly_refund: Literal["none"]  # M1.monthly
    annual_window_hours: int  # M1.annual
    annual_refund: AnnualRefund  # M1.annual
    renewals_refundable: bool  # M1.renewal
    addon_window_hours: int  # M2.unused
    addon_unused: AddonUnused  # M2.unused
    partial_month: Literal["used"]  # M3.partial
    downgrade_proration: ProrationBehavior  # M3.downgrade
    cancel_at: CancelAt  # M3.cancel
    credit_business_days: tuple[int, int]  # M5.request
    dispute_suspend_reasons: tuple[str, ...]  # M6.dispute
    dispute_lost: DisputeLost  # M6.dispute
    upgrade_proration: ProrationBehavior  # M.upgrade
    addon_proration: ProrationBehavior  # M.upgrade (the document is silent on add-on changes)


@dataclass(frozen=True)
class DmlyParameters:
    cancel_at: CancelAt  # D1.cancel
    window_hours: int  # D2.window
    renewals_refundable: bool  # D2.window
    monthly_refund: Literal["full", "none"]  # D2.monthly
    annual_refund: AnnualRefund  # D2.annual
    upgrade_proration: ProrationBehavior  # D3.upgrade
    downgrade_proration: ProrationBehavior  # D3.downgrade
    addon_proration: ProrationBehavior  # D3.addons
    non_refundable: tuple[Category, ...]  # D4.exclusions
    credit_business_days: tuple[int, int]  # D5.request
    dispute_suspend_reasons: tuple[str, ...]  # D6.dispute: always empty, disputes are recorded


Parameters = MittrikParameters | DmlyParameters


@dataclass(frozen=True)
class Rulebook:
    """The clause ids a rule shape decides with, and which clause answers which question."""

    clause_ids: tuple[str, ...]
    dispute: str
    cancel: str
    upgrade: str
    downgrade: str
    addon_change: str
    parameters: type[MittrikParameters] | type[DmlyParameters]


RULEBOOKS: Mapping[RuleShape, Rulebook] = {
    "mittrik": Rulebook(
        clause_ids=(
            "M1.monthly",
            "M1.annual",
            "M1.renewal",
            "M2.used",
            "M2.unused",
            "M3.partial",
            "M3.downgrade",
            "M3.credits",
            "M3.cancel",
            "M4.technical",
            "M5.request",
            "M6.dispute",
            "M7.version",
            "M.upgrade",
        ),
        dispute="M6.dispute",
        cancel="M3.cancel",
        upgrade="M.upgrade",
        downgrade="M3.downgrade",
        addon_change="M.upgrade",
        parameters=MittrikParameters,
    ),
    "dmly": Rulebook(
        clause_ids=(
            "D1.cancel",
            "D2.window",
            "D2.monthly",
            "D2.annual",
            "D2.override",
            "D3.upgrade",
            "D3.downgrade",
            "D3.addons",
            "D4.exclusions",
            "D5.request",
            "D6.dispute",
        ),
        dispute="D6.dispute",
        cancel="D1.cancel",
        upgrade="D3.upgrade",
        downgrade="D3.downgrade",
        addon_change="D3.addons",
        parameters=DmlyParameters,
    ),
}


@dataclass(frozen=True)
class Policy:
    name: str
    version: str | None  # M7.version: decisions record the version in force
    rules: RuleShape
    parameters: Parameters
    clauses: Mapping[str, str]  # clause id -> the sentence a customer reads, in file order
    title: str = ""
    source: str = ""  # the file it was loaded from

    @property
    def rulebook(self) -> Rulebook:
        return RULEBOOKS[self.rules]

    @property
    def credit_business_days(self) -> tuple[int, int]:
        return self.parameters.credit_business_days

    def parameter_table(self) -> dict[str, object]:
        """Parameter name -> value, in the order of the spec's table."""
        return {f.name: getattr(self.parameters, f.name) for f in fields(self.parameters)}

    def sentence(self, clause_id: str) -> str:
        return self.clauses[clause_id]
