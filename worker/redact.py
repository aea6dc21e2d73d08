"""What counts as a secret, and how it is shown: masked settings and scrubbed text.

`config check` shows a setting's shape (which key, which host) without the secret itself.
`scrub` masks keys, signing secrets, signature headers, URL passwords and card numbers in any
text, and `scrub_data` in every string of a JSON-like value: they run wherever text that a
customer or a library wrote leaves the system (log lines, the ops console's pages, the ops API's
answers, the CLI's listings), so a card number typed into a refund note or an exception message
is shown as `[card …4242]`.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from stdnum import luhn

ELLIPSIS = "…"

_KEY_PREFIX = re.compile(r"^((?:sk|rk|pk)_(?:live|test)_)(.*)$")
# Stripe keys and webhook signing secrets, wherever they appear in free text.
_SECRET_TEXT = re.compile(r"\b((?:sk|rk)_(?:live|test)_|whsec_)[A-Za-z0-9_]+")
# A Stripe-Signature header's signatures (v1=<64 hex>, v0=...).
_SIGNATURE_TEXT = re.compile(r"\b(v[01])=[0-9a-fA-F]{16,}")
# A password in a URL: scheme://user:password@host, or `:password@` in a malformed one.
_URL_PASSWORD = re.compile(r"(://[^/:@\s]*:)[^@\s/]+@")
_LOOSE_PASSWORD = re.compile(r":[^:@/\s]+@")
# A card number as people and payloads write it: 13 to 19 digits in a row, glued to letters or not
# (`card_4242…`, `x4242…y`), or in groups (4-4-4-4, Amex 4-6-5) with one separator throughout:
# space, dash, dot, slash or underscore. Groups of 3 to 6 digits after a first of 4, so dates
# (2025-05-01) and times never match; never the tail of a longer digit run, or a decimal's
# fraction. The digit count, leading digit and checksum are checked after (_mask_card).
_CARD_CANDIDATE = re.compile(
    # A digit first, then the look behind it: the engine skips ahead to digits (this runs on
    # every string of every log line).
    r"\d(?<!\d\d)(?<!\d\.\d)(?:\d{12,18}|\d{3}([ ./_-])\d{3,6}(?:\1\d{3,6}){1,3})(?!\d)(?!\1\d)"
)
# The networks Stripe takes (Visa, Mastercard, Amex, Discover, Diners, JCB, UnionPay…) start
# with 2 to 6; unix timestamps in s, ms or µs start with 1 until 2033.
_CARD_LEADING_DIGITS = "23456"
# A card number has at most 19 digits: a longer run of hex with a letter in it is a hash, a
# token or a generated id (evt_test4242…abcd), never a card glued to letters.
_HEX_RUN = 20
_HEX = frozenset("0123456789abcdefABCDEF")


def mask_key(key: str) -> str:
    """`sk_test_…abcd`: the kind of key and its last four characters, enough to tell keys apart."""
    if not key:
        return ""
    match = _KEY_PREFIX.match(key)
    prefix, rest = match.groups() if match else ("", key)
    tail = rest[-4:] if len(rest) >= 12 else ""  # a short key would be given away by its tail
    return f"{prefix}{ELLIPSIS}{tail}"


def mask_secret(secret: str) -> str:
    """`whsec_…`: a webhook signing secret shows its kind only."""
    if not secret:
        return ""
    return f"{secret.split('_', 1)[0]}_{ELLIPSIS}" if "_" in secret else ELLIPSIS


def mask_url(url: str) -> str:
    """The URL with its password replaced by `…`; everything else is useful to see."""
    try:
        parts = urlsplit(url)
        password = parts.password
    except ValueError:
        password = None
    if password:
        netloc = parts.netloc.replace(f":{password}@", f":{ELLIPSIS}@", 1)
        return urlunsplit(parts._replace(netloc=netloc))
    # Not parsed as a URL with a password, maybe because it is malformed: mask `:anything@`.
    return _LOOSE_PASSWORD.sub(f":{ELLIPSIS}@", url) if "@" in url else url


def scrub(text: str) -> str:
    """The text with keys, signing secrets, signatures, URL passwords and card numbers masked.

    Each secret pattern runs only if a cheap substring test says it could match: this runs on
    every string of every log line, the receiver's included.
    """
    if "k_" in text or "whsec_" in text:
        text = _SECRET_TEXT.sub(rf"\g<1>{ELLIPSIS}", text)
    if "v1=" in text or "v0=" in text:
        text = _SIGNATURE_TEXT.sub(rf"\g<1>={ELLIPSIS}", text)
    if "://" in text:
        text = _URL_PASSWORD.sub(rf"\g<1>{ELLIPSIS}@", text)
    return _CARD_CANDIDATE.sub(_mask_card, text)


def scrub_data(value: Any) -> Any:
    """A JSON-like value with every string in it scrubbed (keys too); numbers, booleans and the
    shape unchanged, so what reads it still parses it (an amount or a timestamp stays a number)."""
    if isinstance(value, str):
        return scrub(value)
    if isinstance(value, dict):
        return {scrub_data(key): scrub_data(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [scrub_data(item) for item in value]
    return value


def _mask_card(match: re.Match[str]) -> str:
    found = match.group()
    digits = found if match.group(1) is None else found.replace(match.group(1), "")
    # Luhn: a real card number passes it, 9 in 10 other digit runs (order numbers, phone
    # numbers, ids) fail it. A mistyped card number then shows, but it is no card either.
    if not (
        13 <= len(digits) <= 19
        and digits[0] in _CARD_LEADING_DIGITS
        and luhn.is_valid(digits)
        and not _inside_hex(match)
    ):
        return found
    return f"[card {ELLIPSIS}{digits[-4:]}]"


def _inside_hex(match: re.Match[str]) -> bool:
    text, start, end = match.string, match.start(), match.end()
    while start > 0 and text[start - 1] in _HEX:
        start -= 1
    while end < len(text) and text[end] in _HEX:
        end += 1
    run = text[start:end]
    return len(run) >= _HEX_RUN and not run.isdigit()
