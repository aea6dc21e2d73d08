"""Drift: where Stripe no longer holds what the policy decided, compared on demand, each finding
with a fix button that runs the same code as `billing-worker reconcile --fix`.

The page runs a read-only comparison when it is asked for (`reconcile` without `fix`): what it
shows is what Stripe holds now, never a stale copy, and it needs no table of its own. A whole
comparison reads every customer at Stripe, so past `WHOLE_RUN_MAX` customers the page asks to be
narrowed to one customer (the command and the schedule compare whole books). The fix button
posts the finding's id; the fix compares that customer again under its lock and fixes that
finding only if it is still there, through the reconcile gateway (audit row, rate budget, a key
of reconcile's own): a second click, or a page older than the fix, changes nothing at Stripe.
"""

from __future__ import annotations

import logging

from flask import flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue

from webhooks.console import auth, bp
from webhooks.console.accounts import account_arg
from webhooks.current import current_runtime
from worker.accounts import account_named
from worker.reconcile.compare import customers_to_check
from worker.reconcile.run import CustomerResult, reconcile

log = logging.getLogger(__name__)

WHOLE_RUN_MAX = 200  # customers a page compares without being narrowed to one


@bp.get("/reconcile")
def drift() -> ResponseReturnValue:
    runtime = current_runtime()
    account, error = account_arg()
    customer = (request.args.get("customer") or "").strip() or None
    with runtime.sessions() as session:
        count = len(customers_to_check(session, customer=customer, account=account))
    report = None
    if error is None and (customer is not None or count <= WHOLE_RUN_MAX):
        report = reconcile(runtime, customer=customer, account=account, record=False)
    return render_template(
        "console/reconcile.html",
        report=report,
        count=count,
        whole_run_max=WHOLE_RUN_MAX,
        customer=customer,
        account=account,
        error=error,
    )


@bp.post("/reconcile/fix")
def fix_finding() -> ResponseReturnValue:
    finding_id = request.form.get("finding", "").strip()
    customer = request.form.get("customer", "").strip()
    try:
        account = account_named(request.form.get("account", "").strip() or "platform")
    except ValueError as problem:
        flash(f"{finding_id} not fixed: {problem}", "error")
        return _back()
    if not (finding_id and customer):
        flash("Nothing fixed: the form names no finding.", "error")
        return _back()
    report = reconcile(
        current_runtime(), customer=customer, account=account, fix=True, only=finding_id
    )
    log.info("reconcile fix %s of %s asked by %s", finding_id, customer, auth.operator())
    if not report.customers:
        flash(f"{finding_id} not fixed: {customer} is not a customer we know.", "error")
        return _back()
    category, sentence = _outcome(report.customers[0], finding_id)
    flash(sentence, category)
    return _back()


def _outcome(result: CustomerResult, finding_id: str) -> tuple[str, str]:
    fixed = [f for f in result.fixed if f.id == finding_id]
    changes = "; ".join(change.text() for change in result.changes)
    if result.error:
        return "error", f"{finding_id} not fixed: {result.error}"
    if not fixed:
        still = [f for f in result.remaining if f.id == finding_id]
        if still:  # found, but no remedy of reconcile's: the advice says who must act
            return "warning", f"{finding_id} is not fixed by reconcile: {still[0].remedy_words}"
        return "info", f"{finding_id} is no longer found: nothing changed at Stripe."
    what = f"fixed {finding_id}: {fixed[0].kind} {fixed[0].object_id}"
    if changes:
        return "success", f"{what}; changed at Stripe: {changes}."
    return "success", f"{what}; recorded, nothing to change at Stripe."


def _back() -> ResponseReturnValue:
    customer = request.form.get("back_customer") or None
    return redirect(url_for("console.drift", customer=customer), code=303)
