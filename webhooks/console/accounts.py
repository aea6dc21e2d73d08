"""`?account=`: the pages' Stripe Connect filter (acct_…, or `platform`)."""

from __future__ import annotations

from flask import request

from worker.accounts import account_named


def account_arg() -> tuple[str | None, str | None]:
    """(the account asked for, None for every account; the error if it is not one)."""
    text = (request.args.get("account") or "").strip()
    if not text:
        return None, None
    try:
        return account_named(text), None
    except ValueError as problem:
        return None, str(problem)
