"""Reconcile's writes: the gateway's, looking at Stripe before each one.

A handler's key is the same on every replay of its event, so Stripe (for 24 hours) and our audit
row (for ever) stop a second effect. A reconcile run's keys are its own (`reconcile-<run>`), new
each run: a run that crashed after Stripe acted and before our commit left no audit row, and its
key is not the next run's. So before every write that has an effect check, this gateway looks,
and when the effect is already there it records it (an `ok` audit row under this run's key, as
the gateway does after an unknown outcome) and sends nothing. The comparison that chose the fix
has looked already for the fixes it chooses; this look covers the handlers' code a recording
remedy runs (a missed dispute's suspension), which writes without looking first.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from worker.errors import RetryableError
from worker.stripe.calls import EffectCheck
from worker.stripe.gateway import StripeGateway


class ReconcileGateway(StripeGateway):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.found_done: set[str] = set()  # keys of writes not sent: Stripe already held them

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
        if effect is not None:
            key = self.key_for(action, object_id)
            if not self._attempts(key):
                checked, found = self._look(effect)
                if found is not None:
                    self.found_done.add(key)
                    return self._done(method, object_id, key, found)
                if not checked:  # as the gateway's own look-first: post nothing until we know
                    raise RetryableError(f"{method} {object_id}: could not look at Stripe first")
        return super()._mutate(
            method,
            object_id,
            action,
            call,
            effect,
            look_first=look_first,
            decline_is_outcome=decline_is_outcome,
        )
