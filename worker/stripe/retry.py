"""How a Stripe error is classified, and how a mutating call is retried under Stripe's
idempotency rules (pure, no I/O).

Stripe saves the result of a request once its endpoint began executing, its own 5xx included,
and replays that result for the same key for about 24 hours; a 409 `idempotency_key_in_use`
means the first request is still running, and is safe to retry with the same key. So:

- a 409, a 429 and a lost connection are retried with the same key: Stripe either runs the
  request (it never reached it), answers 409 again (still running) or replays its result;
- a 5xx is not retried blindly: the same key would only replay the saved 5xx for 24 h. The
  gateway first re-reads the object to learn whether the effect happened. If it did, the call
  is done. If it did not, the attempt is audited as `no_effect`, and the next attempt uses a
  derived key `<key>:retry<n>`. A new key is safe ONLY then: Stripe has finished the first
  request (it answered), and Stripe's own state shows it changed nothing;
- an attempt whose outcome is unknown (a timeout, or a 5xx whose effect could not be checked)
  is audited as `unknown`: the next attempt, which may come after Stripe forgot the key, looks
  for the effect first (for a refund, one carrying our key in its metadata) before calling.
"""

from __future__ import annotations

from collections.abc import Iterable

import stripe

from worker.errors import FinalError, RetryableError

OK = "ok"
ERROR = "error"  # Stripe refused: final, nothing happened
NO_EFFECT = "no_effect"  # Stripe answered 5xx and its state shows nothing happened
UNKNOWN = "unknown"  # no answer (timeout) or a 5xx whose effect could not be checked
DECLINED = "declined"  # a card decline: an outcome, not a failure (invoices.pay)
OUTCOME_NOT_KNOWN = (NO_EFFECT, UNKNOWN)
RETRY_SUFFIX = ":retry"


def attempt_key(key: str, earlier_outcomes: Iterable[str]) -> str:
    """The key for the next attempt: the call's own key until a 5xx is known to have changed
    nothing, then one derived key per such attempt (the same key would replay the 5xx)."""
    confirmed = sum(1 for outcome in earlier_outcomes if outcome == NO_EFFECT)
    return key if confirmed == 0 else f"{key}{RETRY_SUFFIX}{confirmed}"


def must_look_first(earlier_outcomes: Iterable[str]) -> bool:
    """An earlier attempt may have taken effect unseen: look before calling again."""
    return any(outcome in OUTCOME_NOT_KNOWN for outcome in earlier_outcomes)


def classify(error: stripe.StripeError) -> RetryableError | FinalError:
    """Rate limits, Stripe's 5xx, lost connections and a 409 (a request with the same key still
    in flight, or a lock held) are worth retrying; nothing else is."""
    status = error.http_status or 0
    message = f"{type(error).__name__}: {error.user_message or error}"
    retryable = isinstance(error, stripe.RateLimitError | stripe.APIConnectionError)
    if retryable or status >= 500 or status == 409:
        return RetryableError(message)
    return FinalError(message)


def outcome_unknown(error: stripe.StripeError) -> bool:
    """The call may have taken effect: Stripe failed after starting, or never answered."""
    return isinstance(error, stripe.APIConnectionError) or (error.http_status or 0) >= 500
