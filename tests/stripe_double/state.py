"""The double's state: Stripe objects as plain dicts in the pinned API version's shape, and the
billing rules the worker depends on (prorations, invoices, payments, refunds, the preview).

Simplifications, each a decision where the worker does not depend on more: one currency per
customer; every customer has a card that pays unless a decline is injected; a price change keeps
the billing period (no interval change re-anchoring); proration is per second, rounded half up,
and follows the subscription's billing mode (billing_modes.py); tax and discounts on lines and
in totals as tax.py says; a cancellation never prorates (the worker cancels with
`prorate=false`); the preview of a customer (no `subscription` given) bills every live
subscription's next period and every pending item, i.e. all the customer will owe next,
whichever invoice it lands on; an invoice's negative total goes to the customer's balance,
which the next invoice applies.
"""

from __future__ import annotations

from stripe_double.invoices import Invoices
from stripe_double.refunds import Refunds
from stripe_double.storage import Clock, StripeError, merge_metadata

__all__ = ["Clock", "State", "StripeError", "merge_metadata"]


class State(Invoices, Refunds):
    """Everything the double holds: storage (storage.py), subscriptions and prorations
    (subscriptions.py), invoices and payments (invoices.py), refunds (refunds.py)."""
