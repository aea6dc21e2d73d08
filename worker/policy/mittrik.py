"""Mittrik's refund rules for one invoice line (a disputed charge never gets here: M6.dispute).

Precedence, as the spec fixes it: technical issue first (M4.technical), then by line category.
"""

from worker.policy.decision import LineDecision
from worker.policy.line_rules import (
    LineContext,
    annual_refund_amount,
    approve,
    deny,
    plan_name,
    review,
)
from worker.policy.parameters import MittrikParameters
from worker.policy.wording import ago_outside, days_ago, long_date, window_text


def decide_line(ctx: LineContext, rules: MittrikParameters) -> LineDecision:
    if ctx.request.reason == "technical_issue":
        return _technical_issue(ctx)
    if ctx.line.category == "plan":
        return _plan(ctx, rules)
    if ctx.line.category == "addon":
        return _addon(ctx, rules)
    return _service_already_consumed(ctx)


def _technical_issue(ctx: LineContext) -> LineDecision:
    # M4.technical: support decides partial or full; the worker proposes the whole line.
    return review(
        ctx,
        ctx.line.amount,
        ["M4.technical"],
        f"A technical issue support could not resolve: a refund of up to "
        f"{ctx.money(ctx.line.amount)} will be considered by our support team.",
    )


def _plan(ctx: LineContext, rules: MittrikParameters) -> LineDecision:
    if ctx.is_renewal and not rules.renewals_refundable:
        return deny(  # M1.renewal, M3.cancel: failure to cancel on time
            ctx,
            ["M1.renewal"],
            f"{plan_name(ctx)} renewal paid on {long_date(ctx.invoice.paid_at)}: renewals are "
            "not refundable when the subscription was not cancelled before the billing date.",
        )
    if not ctx.is_annual:
        # M1.monthly (monthly_refund = none); a plan without an interval is treated as monthly.
        return deny(
            ctx,
            ["M1.monthly"],
            f"{plan_name(ctx)} payments are not refundable once the billing cycle has begun.",
        )
    return _annual_plan(ctx, rules)


def _annual_plan(ctx: LineContext, rules: MittrikParameters) -> LineDecision:
    window = window_text(rules.annual_window_hours)
    bought = "renewed" if ctx.is_renewal else "bought"
    if not ctx.within(rules.annual_window_hours):  # M1.annual: after 14 days, deny
        return deny(
            ctx,
            ["M1.annual"],
            f"Annual plan {bought} {ago_outside(ctx.elapsed, rules.annual_window_hours)}: "
            f"not refundable after {window}.",
        )
    head = f"Annual plan {bought} {days_ago(ctx.elapsed)}, within {window}"
    if rules.annual_refund == "unused_months":  # M1.annual by unused months, M3.partial
        return approve(
            ctx,
            annual_refund_amount(ctx, "unused_months"),
            ["M1.annual", "M3.partial"],
            f"{head}: {ctx.unused_months} of 12 months unused.",
        )
    if rules.annual_refund == "full":
        return approve(ctx, ctx.line.amount, ["M1.annual"], f"{head}: refunded in full.")
    return deny(ctx, ["M1.annual"], "Annual plan payments are not refundable.")


def _addon(ctx: LineContext, rules: MittrikParameters) -> LineDecision:
    if ctx.line.consumed:  # M2.used
        return deny(ctx, ["M2.used"], "This add-on has been used or activated: not refundable.")
    if ctx.period_has_ended:  # M3.credits, even inside the 7 days
        return deny(
            ctx,
            ["M3.credits"],
            f"This add-on's billing period ended on {long_date(ctx.line.period_end)}: "
            "unused credits are not refunded after the period ends.",
        )
    window = window_text(rules.addon_window_hours)
    if not ctx.within(rules.addon_window_hours):  # M2.unused: older than 7 days
        return deny(
            ctx,
            ["M2.unused"],
            f"Unused add-on bought {ago_outside(ctx.elapsed, rules.addon_window_hours)}: "
            f"not refundable after {window}.",
        )
    head = f"Unused add-on bought {days_ago(ctx.elapsed)}, within {window}"
    amount = ctx.line.amount
    if rules.addon_unused == "review":  # M2.unused: "may be considered"
        return review(
            ctx,
            amount,
            ["M2.unused"],
            f"{head}: a refund of {ctx.money(amount)} will be considered by our support team.",
        )
    if rules.addon_unused == "approve":
        return approve(ctx, amount, ["M2.unused"], f"{head}: refunded in full.")
    return deny(ctx, ["M2.unused"], f"{head}: unused add-ons are not refundable.")


def _service_already_consumed(ctx: LineContext) -> LineDecision:
    # M2.used: usage and pass-through fees pay for service already delivered.
    if ctx.line.category == "usage":
        sentence = "Usage beyond the plan's limits has already been consumed: not refundable."
    else:
        sentence = (
            "Fees billed on behalf of a third party are for service already delivered: "
            "not refundable."
        )
    return deny(ctx, ["M2.used"], sentence)
