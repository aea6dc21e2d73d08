"""`--account`: which Stripe account's objects a command lists or acts on (Stripe Connect)."""

from __future__ import annotations

from typing import Any

import click

from worker.accounts import PLATFORM_WORD, account_named
from worker.db.models import PLATFORM


def _parsed(default: str | None) -> Any:
    def parse(_: click.Context, __: click.Parameter, value: str | None) -> str | None:
        if value is None:
            return default
        try:
            return account_named(value)
        except ValueError as problem:
            raise click.BadParameter(str(problem), param_hint="--account") from None

    return parse


def account_filter() -> Any:
    """`--account ACCT` narrowing a listing to one account (default: every account)."""
    return click.option(
        "--account",
        metavar="ACCT",
        callback=_parsed(None),
        help=f"only this connected account's (acct_…), or {PLATFORM_WORD} for the platform's own",
    )


def acting_account() -> Any:
    """`--account ACCT` naming the account a command acts on (default: the platform)."""
    return click.option(
        "--account",
        metavar="ACCT",
        callback=_parsed(PLATFORM),
        help="the connected account (acct_…) the customer belongs to; default: the platform",
    )


def shown_account(account: str) -> str:
    """The account as a listing's last column shows it: nothing for the platform's own."""
    return f"  {account}" if account else ""
