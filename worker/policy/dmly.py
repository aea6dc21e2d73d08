"""DMLY's refund rules for one invoice line (a disputed charge never gets here: D6.dispute).

One window for every refundable line, measured from payment, renewals included (D2.window);
some things are never refunded, at any time (D4.exclusions). The request's reason changes
nothing: DMLY has no technical-issue clause.
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
from worker.policy.parameters import DmlyParameters
from worker.policy.wording import ago_outside, days_ago, long_date, window_name, window_text

_NEVER_REFUNDED = {
    "usage": "Consumed usage beyond the subscription's limits is never refunded.",
    "pass_through": (
        "Fees billed on behalf of a third party, such as WhatsApp API fees billed by Meta, "
        "are never refunded."
    ),
    "addon": "Add-ons are never refunded.",
    "plan": "Plan payments are never refunded.",
}


def decide_line(ctx: LineContext, rules: DmlyParameters) -> LineDecision:
    line = ctx.line
    if line.category in rules.non_refundable:  # D4.exclusions, at any time
        return deny(ctx, ["D4.exclusions"], _NEVER_REFUNDED[line.category])
    if ctx.period_has_ended:  # D4.exclusions: a fully used billing period
        return deny(
            ctx,
            ["D4.exclusions"],
            f"This billing period ended on {long_date(line.period_end)} and was fully used: "
            "not refundable.",
        )
    if ctx.is_renewal and not rules.renewals_refundable:  # D2.window
        return deny(ctx, ["D2.window"], "Renewal payments are not refundable.")
    if line.category == "plan" and not ctx.is_annual and rules.monthly_refund == "none":
        return deny(ctx, ["D2.monthly"], f"{plan_name(ctx)} payments are not refundable.")
    if line.category == "plan" and ctx.is_annual and rules.annual_refund == "none":
        return deny(ctx, ["D2.annual"], "Annual plan payments are not refundable.")
    return _by_window(ctx, rules)


def _by_window(ctx: LineContext, rules: DmlyParameters) -> LineDecision:
    window = window_text(rules.window_hours)
    what = _what_was_paid(ctx)
    if ctx.within(rules.window_hours):
        head = f"{what} paid {days_ago(ctx.elapsed)}, within {window}"
        if ctx.line.category != "plan":  # D2.window: add-ons in full
            return approve(ctx, ctx.line.amount, ["D2.window"], f"{head}: refunded in full.")
        if not ctx.is_annual:  # D2.monthly: in full
            return approve(ctx, ctx.line.amount, ["D2.monthly"], f"{head}: refunded in full.")
        return approve(ctx, *_annual(ctx, rules, head))  # D2.annual
    ago = ago_outside(ctx.elapsed, rules.window_hours)
    if ctx.request.support_override and ctx.line.category == "plan":
        return _override(
            ctx, rules, f"{what} paid {ago}, outside {window_name(rules.window_hours)}"
        )
    return deny(ctx, ["D2.window"], f"{what} paid {ago}: not refundable after {window}.")


def _annual(ctx: LineContext, rules: DmlyParameters, head: str) -> tuple[int, list[str], str]:
    amount = annual_refund_amount(ctx, rules.annual_refund)
    if rules.annual_refund == "full":
        return amount, ["D2.annual"], f"{head}: refunded in full."
    return amount, ["D2.annual"], f"{head}: {ctx.unused_months} of 12 months unused."


def _override(ctx: LineContext, rules: DmlyParameters, head: str) -> LineDecision:
    # D2.override: support asked; a person approves, the worker proposes what D2 would give.
    if ctx.is_annual:
        amount = annual_refund_amount(ctx, rules.annual_refund)
        offer = f"{ctx.unused_months} of 12 months unused, {ctx.money(amount)}"
    else:
        amount = ctx.line.amount
        offer = f"a full refund of {ctx.money(amount)}"
    return review(
        ctx,
        amount,
        ["D2.override"],
        f"{head}: {offer}, proposed for support's approval as an exception.",
    )


def _what_was_paid(ctx: LineContext) -> str:
    if ctx.line.category == "plan":
        name = plan_name(ctx)
        return f"{name} renewal" if ctx.is_renewal else name
    return {"addon": "Add-on", "usage": "Usage", "pass_through": "Third-party fee"}[
        ctx.line.category
    ]
