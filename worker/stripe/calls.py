"""How one Stripe call runs: a read classified for retry, a mutating call made once.

A mutating call carries an idempotency key derived from (account, event id or refund-request id,
action, object), and is written to the `stripe_calls` audit table in the caller's transaction.
Before calling, it looks for a completed call with the same key: Stripe forgets keys after about
24 hours, our audit table does not, so a replay days later is still a no-op. Where the call's
effect may exist without our audit row (a 5xx after Stripe acted, a crash before our commit),
an effect check (effects.py) finds it at Stripe before anything is posted under a new key.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import KW_ONLY, dataclass, field
from typing import Any, ClassVar

import stripe
from sqlalchemy import or_, select
from sqlalchemy.orm import Session
from stripe import RequestOptions

from worker.db.models import PLATFORM, StripeCall
from worker.errors import FinalError, RetryableError
from worker.metrics import record_stripe_call
from worker.stripe.keys import idempotency_key
from worker.stripe.retry import (
    DECLINED,
    NO_EFFECT,
    OK,
    RETRY_SUFFIX,
    UNKNOWN,
    attempt_key,
    classify,
    must_look_first,
    outcome_unknown,
)

EffectCheck = Callable[[], "str | None"]  # the resulting object's id if the effect is there

log = logging.getLogger(__name__)


def as_dict(obj: Any) -> dict[str, Any]:
    return obj.to_dict(recursive=True) if hasattr(obj, "to_dict") else dict(obj)


@dataclass(eq=False, repr=False)  # compared by identity; its client is never printed
class StripeCalls:
    """Stripe calls made on behalf of one event or one refund request (the `source_id`), on one
    Stripe account: the platform's (`PLATFORM`), or a connected account's `acct_…`, which every
    call then names in its `Stripe-Account` header."""

    # Look for every call's effect before making it, not only for calls that create: for a
    # source whose keys are new on each run (reconcile's), so a key never guards a retry.
    look_first_always: ClassVar[bool] = False

    _client: stripe.StripeClient  # taken through `client`, which notes that Stripe was reached
    session: Session
    source_id: str
    _: KW_ONLY
    event_id: str | None = None
    request_id: str | None = None
    account: str = PLATFORM
    # Failed calls are rolled back with the handler; the caller writes these afterwards.
    failed_calls: list[StripeCall] = field(default_factory=list, init=False)
    # Keys of calls not sent because Stripe already held their effect.
    found_done: set[str] = field(default_factory=set, init=False)
    # Whether any call went (or was about to go) to Stripe: running the caller's work again
    # would call again (worker/eventlog/stretches.py runs again only work that did not).
    reached_stripe: bool = field(default=False, init=False)

    @property
    def options(self) -> RequestOptions:
        """Passed to every call: stripe-python sends `stripe_account` as the Stripe-Account
        header."""
        return {"stripe_account": self.account} if self.account else {}

    @property
    def client(self) -> stripe.StripeClient:
        """The client, taken for a call: every call to Stripe goes through here."""
        self.reached_stripe = True
        return self._client

    def _read(self, call: Callable[[], Any]) -> Any:
        try:
            return call()
        except stripe.StripeError as exc:
            raise classify(exc) from exc

    def _read_all(self, call: Callable[[], Any]) -> list[dict[str, Any]]:
        """Every page of a list: `auto_paging_iter` fetches page 2 and on lazily, so it runs
        inside the classifier too, and a 429 or 5xx on a later page is retryable like any read."""
        try:
            return [as_dict(obj) for obj in call().auto_paging_iter()]
        except stripe.StripeError as exc:
            raise classify(exc) from exc

    def _mutate(
        self,
        method: str,
        object_id: str | None,
        action: str,
        call: Callable[[Any], Any],
        effect: EffectCheck | None = None,
        *,
        look_first: bool = False,
        decline_is_outcome: bool = False,
    ) -> str | None:
        """Run `call(options)` once per (source, action, object); return the resulting id.

        `effect` re-reads Stripe to tell whether the call's effect is already there; with it,
        a 5xx or a timeout is resolved by looking rather than by retrying blindly (see
        worker/stripe/retry.py for the rules and the derived key). `look_first` looks before
        every call not yet recorded done: a call that creates (a refund, a balance debit, an
        invoice) or deletes cannot be repeated safely once Stripe forgot its key, and our
        record of it may have been rolled back with a later failure of the same handler.
        When the look itself fails, nothing is posted: the call is retried later.
        With `decline_is_outcome`, a card decline (402) is recorded as `declined` and returns
        `object_id`: the caller's work stands, and is not redone on a replay.
        """
        key = self.key_for(action, object_id)
        attempts = self._attempts(key)
        done = next((a for a in attempts if a.outcome in (OK, DECLINED)), None)
        if done is not None:
            return done.result_id
        outcomes = [a.outcome for a in attempts]
        looks = look_first or self.look_first_always or must_look_first(outcomes)
        if effect is not None and looks:
            checked, found = self._look(effect)
            if found is not None:
                self.found_done.add(key)
                return self._done(method, object_id, key, found)
            if not checked:  # an earlier attempt may have acted: post nothing until we know
                raise RetryableError(f"{method} {object_id}: could not look for its earlier effect")
        sent_key = attempt_key(key, outcomes)
        self.reached_stripe = True  # `call` need not take the client from `self.client`
        try:
            result = call({**self.options, "idempotency_key": sent_key})
        except stripe.CardError as exc:
            if not decline_is_outcome:
                raise self._failed(method, object_id, sent_key, "error", exc) from exc
            log.warning("%s %s declined: %s", method, object_id, exc.user_message or exc)
            return self._done(method, object_id, sent_key, object_id, DECLINED)
        except stripe.StripeError as exc:
            outcome = "error"
            if outcome_unknown(exc):
                checked, found = self._look(effect) if effect is not None else (False, None)
                if found is not None:  # Stripe did the work, then failed to say so
                    return self._done(method, object_id, sent_key, found)
                answered = not isinstance(exc, stripe.APIConnectionError)
                outcome = NO_EFFECT if answered and checked else UNKNOWN
            raise self._failed(method, object_id, sent_key, outcome, exc) from exc
        return self._done(method, object_id, sent_key, getattr(result, "id", None))

    def key_for(self, action: str, object_id: str | None) -> str:
        """The call's own idempotency key (attempts after a 5xx derive theirs from it)."""
        return idempotency_key(self.source_id, action, object_id, self.account)

    def _attempts(self, key: str) -> list[StripeCall]:
        """Earlier attempts of this call: under its key, or a key derived from it."""
        return list(
            self.session.scalars(
                select(StripeCall)
                .where(
                    or_(
                        StripeCall.idempotency_key == key,
                        # autoescape: ids hold "_", a LIKE wildcard
                        StripeCall.idempotency_key.startswith(
                            f"{key}{RETRY_SUFFIX}", autoescape=True
                        ),
                    )
                )
                .order_by(StripeCall.id)
            )
        )

    @staticmethod
    def _look(effect: EffectCheck) -> tuple[bool, str | None]:
        """(checked, the effect's id): a read that fails leaves the outcome unknown."""
        try:
            return True, effect()
        except (RetryableError, FinalError):
            return False, None

    def _done(
        self,
        method: str,
        object_id: str | None,
        key: str,
        result_id: str | None,
        outcome: str = OK,
    ) -> str | None:
        record_stripe_call(method, outcome)
        self.session.add(self._audit(method, object_id, key, outcome, result_id, None))
        self.session.flush()
        return result_id

    def _failed(
        self,
        method: str,
        object_id: str | None,
        key: str,
        outcome: str,
        exc: stripe.StripeError,
    ) -> RetryableError | FinalError:
        """Audit a failed attempt (written after the caller's rollback) and classify it."""
        error = classify(exc)
        record_stripe_call(method, outcome)
        self.failed_calls.append(self._audit(method, object_id, key, outcome, None, error))
        return error

    def _audit(
        self,
        method: str,
        object_id: str | None,
        key: str,
        outcome: str,
        result_id: str | None,
        error: Exception | None,
    ) -> StripeCall:
        return StripeCall(
            method=method,
            object_id=object_id,
            idempotency_key=key,
            outcome=outcome,
            result_id=result_id,
            error=str(error) if error else None,
            event_id=self.event_id,
            request_id=self.request_id,
        )
