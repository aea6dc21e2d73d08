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

from worker.stripe.gateway import StripeGateway


class ReconcileGateway(StripeGateway):
    look_first_always = True
