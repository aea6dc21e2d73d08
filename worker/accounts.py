"""Which Stripe account a person means (Stripe Connect): a connected account's `acct_…` id, or
the word `platform` for the platform's own (stored as PLATFORM). Shared by the CLI's `--account`
and the console's and ops API's `?account=`."""

from __future__ import annotations

from worker.db.models import PLATFORM

PLATFORM_WORD = "platform"


def account_named(text: str) -> str:
    """The stored account for `text`; ValueError saying what to give instead."""
    text = text.strip()
    if text == PLATFORM_WORD:
        return PLATFORM
    if not text.startswith("acct_") or len(text) <= len("acct_"):
        raise ValueError(f"{text!r} is not a Stripe account: give acct_… or {PLATFORM_WORD}")
    return text
