"""Policy what-if: a proposed policy tried on the stored past, as `billing-worker policy
simulate` does it (the same functions), from a policy pasted, uploaded, or built in.

The policy comes from the form only, never from a path: a server file is read only when it is a
built-in policy chosen by name.
"""

from __future__ import annotations

from typing import Any

from flask import render_template, request
from flask.typing import ResponseReturnValue

from webhooks.console import bp
from webhooks.current import current_runtime
from worker.commands.policy_simulation import (
    Period,
    Simulation,
    SimulationError,
    Summary,
)
from worker.policy import (
    BUILTIN_POLICIES,
    Policy,
    PolicyFileError,
    load_policy,
    policy_from_text,
)
from worker.policy.simulation import AccountComparison, RequestComparison
from worker.timespec import parse_moment

POLICY_TEXT_MAX = 64 * 1024  # a policy file is a few KiB
LISTED = 200  # rows of each table on the page; the totals count every request


class FormError(ValueError):
    """What to fix in the form, shown above it."""


@bp.get("/simulate")
def simulate_form() -> ResponseReturnValue:
    return render_template("console/simulate.html", form={}, builtins=BUILTIN_POLICIES, result=None)


@bp.post("/simulate")
def simulate() -> ResponseReturnValue:
    form = {key: request.form.get(key, "") for key in ("builtin", "policy_text", "since", "until")}
    runtime = current_runtime()
    try:
        proposed = _proposed_policy(form)
        period = Period(_moment(form["since"], "since"), _moment(form["until"], "until"))
        period.check()
    except (FormError, PolicyFileError, SimulationError) as problem:
        page = render_template(
            "console/simulate.html",
            form=form,
            builtins=BUILTIN_POLICIES,
            result=None,
            error=str(problem),
        )
        return page, 400
    result = _run(runtime.sessions, runtime.policy, proposed, period)
    return render_template(
        "console/simulate.html", form=form, builtins=BUILTIN_POLICIES, result=result
    )


def _proposed_policy(form: dict[str, str]) -> Policy:
    """The uploaded file, else the pasted text, else a built-in policy chosen by name."""
    upload = request.files.get("policy_file")
    if upload is not None and upload.filename:
        raw = upload.read(POLICY_TEXT_MAX + 1)
        if len(raw) > POLICY_TEXT_MAX:
            raise FormError(f"the policy file is over {POLICY_TEXT_MAX // 1024} KiB")
        try:
            return policy_from_text(raw.decode("utf-8"), _source(upload.filename))
        except UnicodeDecodeError:
            raise FormError("the policy file is not UTF-8 text") from None
    if form["policy_text"].strip():
        if len(form["policy_text"]) > POLICY_TEXT_MAX:
            raise FormError(f"the pasted policy is over {POLICY_TEXT_MAX // 1024} KiB")
        return policy_from_text(form["policy_text"], "pasted policy")
    if form["builtin"] in BUILTIN_POLICIES:
        return load_policy(form["builtin"])
    raise FormError("give the proposed policy: upload its file, paste it, or choose one")


def _source(filename: str) -> str:
    # Only the name is shown, in error messages: the browser's path says nothing of the server.
    name = filename.replace("\\", "/").rsplit("/", 1)[-1]
    return f"uploaded {name[:80]}"


def _moment(text: str, field: str) -> Any:
    if not text.strip():
        return None
    try:
        return parse_moment(text)
    except ValueError as problem:
        raise FormError(f"{field}: {problem}") from None


def _run(sessions: Any, current: Policy, proposed: Policy, period: Period) -> dict[str, Any]:
    summary, simulation = Summary(), Simulation(sessions, current, proposed, period)
    changed: list[RequestComparison] = []
    for request_change in summary.changed_requests(simulation.requests()):
        if len(changed) < LISTED:  # the rest are counted, not kept
            changed.append(request_change)
    accounts: list[AccountComparison] = []
    for account_change in summary.changed_accounts(simulation.accounts()):
        if len(accounts) < LISTED:
            accounts.append(account_change)
    return {
        "current": current,
        "proposed": proposed,
        "summary": summary,
        "tally": summary.tally,
        "requests": changed,
        "accounts": accounts,
        "listed": LISTED,
    }
