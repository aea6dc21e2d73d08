"""Loading a policy file (TOML) and checking it key by key.

`BILLING_POLICY` and a decision's `policy` fact name a built-in policy (`mittrik`, `dmly`) or the
path of a company's own file with the same schema. Every problem is a `PolicyFileError` naming
the file and the key: an unknown key, a missing key, or a bad value.
"""

import functools
import tomllib
from collections.abc import Callable, Mapping
from datetime import date
from importlib import resources
from pathlib import Path
from typing import Any

from worker.input_bounds import TOO_DEEP, OutOfBounds, check_nesting
from worker.policy.categories import CATEGORIES
from worker.policy.parameters import RULEBOOKS, Policy, Rulebook

BUILTIN_POLICIES = ("mittrik", "dmly")

# Stripe's dispute reasons; a suspend list naming anything else is a typo.
STRIPE_DISPUTE_REASONS = frozenset(
    {
        "bank_cannot_process", "check_returned", "credit_not_processed", "customer_initiated",
        "debit_not_authorized", "duplicate", "fraudulent", "general",
        "incorrect_account_details", "insufficient_funds", "noncompliant",
        "product_not_received", "product_unacceptable", "subscription_canceled", "unrecognized",
    }
)  # fmt: skip

PRORATION_BEHAVIORS = ("none", "create_prorations", "always_invoice")


class PolicyFileError(ValueError):
    """A policy file breaks the schema; the message names the file and the key."""

    def __init__(self, path: str, key: str | None, problem: str) -> None:
        where = f"{path}: {key}" if key else path
        super().__init__(f"{where}: {problem}")
        self.path = path
        self.key = key
        self.problem = problem


class UnknownPolicy(LookupError):
    """Neither a built-in policy name nor the path of an existing file."""

    def __init__(self, name: str) -> None:
        super().__init__(
            f"unknown policy {name!r}: expected {' or '.join(BUILTIN_POLICIES)}, "
            "or the path of a policy file"
        )
        self.name = name


class _BadValue(ValueError):
    pass


Check = Callable[[Any], Any]


def _one_of(*choices: str) -> Check:
    def check(value: Any) -> Any:
        if value not in choices:
            raise _BadValue(f"must be one of {', '.join(repr(c) for c in choices)}")
        return value

    return check


def _hours(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise _BadValue("must be a non-negative whole number of hours")
    return int(value)


def _boolean(value: Any) -> bool:
    if not isinstance(value, bool):
        raise _BadValue("must be true or false")
    return value


def _business_days(value: Any) -> tuple[int, int]:
    if (
        not isinstance(value, list)
        or len(value) != 2
        or not all(isinstance(n, int) and not isinstance(n, bool) for n in value)
        or not 0 < value[0] <= value[1]
    ):
        raise _BadValue("must be [first, last] business days, 0 < first <= last, e.g. [5, 7]")
    return (value[0], value[1])


def _string_list(
    value: Any, allowed: frozenset[str] | tuple[str, ...], what: str
) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise _BadValue(f"must be a list of {what}")
    for item in value:
        if item not in allowed:
            raise _BadValue(f"{item!r} is not one of the {what}: {', '.join(sorted(allowed))}")
    if len(set(value)) != len(value):
        raise _BadValue("lists an item twice")
    return tuple(value)


def _suspend_reasons(value: Any) -> tuple[str, ...]:
    return _string_list(value, STRIPE_DISPUTE_REASONS, "Stripe dispute reasons")


def _no_suspend_reasons(value: Any) -> tuple[str, ...]:
    # D6.dispute: the dmly rules record a chargeback and never suspend for one.
    if value != []:
        raise _BadValue("must be [] under rules = 'dmly': disputes are recorded, not suspended")
    return ()


def _categories(value: Any) -> tuple[str, ...]:
    return _string_list(value, CATEGORIES, "line categories")


_PRORATION = _one_of(*PRORATION_BEHAVIORS)

# Per rule shape, each parameter key and how its value is checked (order: the spec's table).
PARAMETER_CHECKS: Mapping[str, Mapping[str, Check]] = {
    "mittrik": {
        "monthly_refund": _one_of("none"),
        "annual_window_hours": _hours,
        "annual_refund": _one_of("unused_months", "full", "none"),
        "renewals_refundable": _boolean,
        "addon_window_hours": _hours,
        "addon_unused": _one_of("review", "approve", "deny"),
        "partial_month": _one_of("used"),
        "downgrade_proration": _PRORATION,
        "cancel_at": _one_of("period_end", "immediately"),
        "credit_business_days": _business_days,
        "dispute_suspend_reasons": _suspend_reasons,
        "dispute_lost": _one_of("terminate", "record"),
        "upgrade_proration": _PRORATION,
        "addon_proration": _PRORATION,
    },
    "dmly": {
        "cancel_at": _one_of("period_end", "immediately"),
        "window_hours": _hours,
        "renewals_refundable": _boolean,
        "monthly_refund": _one_of("full", "none"),
        "annual_refund": _one_of("unused_months", "full", "none"),
        "upgrade_proration": _PRORATION,
        "downgrade_proration": _PRORATION,
        "addon_proration": _PRORATION,
        "non_refundable": _categories,
        "credit_business_days": _business_days,
        "dispute_suspend_reasons": _no_suspend_reasons,
    },
}

_HEADER_KEYS = ("name", "title", "version", "rules", "clauses")


def _check(path: str, key: str, check: Check, value: Any) -> Any:
    try:
        return check(value)
    except _BadValue as problem:
        raise PolicyFileError(path, key, f"{problem} (got {value!r})") from None


def _version(path: str, value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, date):  # `version = 2025-04-10` unquoted is a TOML date
        return value.isoformat()
    if not isinstance(value, str) or not value.strip():
        raise PolicyFileError(path, "version", f"must be a non-empty string (got {value!r})")
    return value


def _text(path: str, key: str, value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise PolicyFileError(path, key, f"must be a non-empty string (got {value!r})")
    return value.strip()


def _clauses(path: str, rulebook: Rulebook, rules: str, value: Any) -> dict[str, str]:
    if not isinstance(value, dict):
        raise PolicyFileError(path, "clauses", "must be a table of clause id = sentence")
    for clause_id in value:
        if clause_id not in rulebook.clause_ids:
            raise PolicyFileError(
                path, f"clauses.{clause_id}", f"unknown clause id for rules = {rules!r}"
            )
    for clause_id in rulebook.clause_ids:
        if clause_id not in value:
            raise PolicyFileError(path, f"clauses.{clause_id}", "is missing")
    return {cid: _text(path, f"clauses.{cid}", sentence) for cid, sentence in value.items()}


def policy_from_document(document: Mapping[str, Any], source: str) -> Policy:
    """A checked `Policy` from a decoded policy file; `source` names the file in errors."""
    if "rules" not in document:
        raise PolicyFileError(source, "rules", "is missing")
    rules = _check(source, "rules", _one_of(*RULEBOOKS), document["rules"])
    checks = PARAMETER_CHECKS[rules]
    for key in document:
        if key not in _HEADER_KEYS and key not in checks:
            raise PolicyFileError(source, key, f"unknown key for rules = {rules!r}")
    for key in ("name", *checks, "clauses"):
        if key not in document:
            raise PolicyFileError(source, key, "is missing")
    rulebook = RULEBOOKS[rules]
    values = {key: _check(source, key, check, document[key]) for key, check in checks.items()}
    parameters = rulebook.parameters(**values)
    name = _text(source, "name", document["name"])
    return Policy(
        name=name,
        version=_version(source, document.get("version")),
        rules=rules,
        parameters=parameters,
        clauses=_clauses(source, rulebook, rules, document["clauses"]),
        title=_text(source, "title", document["title"]) if "title" in document else name,
        source=source,
    )


def _decode(text: str, source: str) -> dict[str, Any]:
    try:
        document = tomllib.loads(text)
        check_nesting(document)  # tomllib recurses: far deeper is its RecursionError
    except tomllib.TOMLDecodeError as problem:
        raise PolicyFileError(source, None, f"not valid TOML: {problem}") from None
    except (OutOfBounds, RecursionError):
        raise PolicyFileError(source, None, TOO_DEEP) from None
    return document


@functools.cache
def _builtin(name: str) -> Policy:
    resource = resources.files("worker.policy.policies").joinpath(f"{name}.toml")
    return policy_from_document(_decode(resource.read_text("utf-8"), str(resource)), str(resource))


def policy_from_text(text: str, source: str) -> Policy:
    """A checked `Policy` from a policy file's text that came from no file (the console's form)."""
    return policy_from_document(_decode(text, source), source)


def load_policy(name_or_path: str | Path) -> Policy:
    """The policy `BILLING_POLICY` (or a `policy` fact) names: `mittrik`, `dmly`, or a file path."""
    if isinstance(name_or_path, str) and name_or_path.strip().lower() in BUILTIN_POLICIES:
        return _builtin(name_or_path.strip().lower())
    path = Path(name_or_path).expanduser()
    if not str(name_or_path).strip() or not path.is_file():
        raise UnknownPolicy(str(name_or_path))
    try:
        text = path.read_text("utf-8")
    except (OSError, UnicodeDecodeError) as problem:
        raise PolicyFileError(str(path), None, f"cannot be read: {problem}") from None
    return policy_from_document(_decode(text, str(path)), str(path))
