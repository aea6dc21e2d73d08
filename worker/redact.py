"""What counts as a secret, and how it is shown: masked settings and scrubbed log text.

`config check` shows a setting's shape (which key, which host) without the secret itself; the log
scrubber is the last line of defence that keeps keys, signing secrets, signature headers and card
numbers out of log lines even when an exception message carries one.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit, urlunsplit

ELLIPSIS = "…"

_KEY_PREFIX = re.compile(r"^((?:sk|rk|pk)_(?:live|test)_)(.*)$")
# Stripe keys and webhook signing secrets, wherever they appear in free text.
_SECRET_TEXT = re.compile(r"\b((?:sk|rk)_(?:live|test)_|whsec_)[A-Za-z0-9_]+")
# A Stripe-Signature header's signatures (v1=<64 hex>, v0=...).
_SIGNATURE_TEXT = re.compile(r"\b(v[01])=[0-9a-fA-F]{16,}")
# A password in a URL: scheme://user:password@host, or `:password@` in a malformed one.
_URL_PASSWORD = re.compile(r"(://[^/:@\s]*:)[^@\s/]+@")
_LOOSE_PASSWORD = re.compile(r":[^:@/\s]+@")
# Candidate card numbers: 13 to 19 digits standing alone (not inside an id such as evt_…),
# optionally grouped by spaces or dashes; the digit count and checksum are checked after.
_CARD_CANDIDATE = re.compile(r"(?<!\w)\d[\d -]{11,26}\d(?!\w)")


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
    """Log text with keys, signing secrets, signatures, URL passwords and card numbers masked.

    Each pattern runs only if a cheap substring test says it could match: this runs on every
    string of every log line, the receiver's included.
    """
    if "k_" in text or "whsec_" in text:
        text = _SECRET_TEXT.sub(rf"\g<1>{ELLIPSIS}", text)
    if "v1=" in text or "v0=" in text:
        text = _SIGNATURE_TEXT.sub(rf"\g<1>={ELLIPSIS}", text)
    if "://" in text:
        text = _URL_PASSWORD.sub(rf"\g<1>{ELLIPSIS}@", text)
    return _CARD_CANDIDATE.sub(_mask_card, text)


def _mask_card(match: re.Match[str]) -> str:
    found = match.group()
    if "  " in found or "--" in found:
        return found  # not one card number written with single separators
    digits = found.replace(" ", "").replace("-", "")
    if 13 <= len(digits) <= 19 and luhn_valid(digits):
        return f"[card {ELLIPSIS}{digits[-4:]}]"
    return found


def luhn_valid(digits: str) -> bool:
    """The card-number checksum: most digit runs that are not card numbers fail it."""
    total = 0
    for position, char in enumerate(reversed(digits)):
        value = int(char)
        if position % 2:
            value = value * 2 - 9 if value > 4 else value * 2
        total += value
    return total % 10 == 0
