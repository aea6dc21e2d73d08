"""What a customer ends up paying, read from the Stripe double, in minor units.

    charged − refunded − lost to disputes + the next invoice

`charged`: captured amounts of the customer's charges. `refunded`: their refunds that have not
failed (a pending refund is money on its way back, and Stripe already counts it in the charge's
`amount_refunded`). `lost`: disputes lost (the bank took the money back). `next_invoice`: the
next invoice's preview net of the customer's balance (a credit left by a proration reduces it).
"""

from __future__ import annotations

from dataclasses import dataclass

from stripe_double import StripeDouble


@dataclass(frozen=True)
class Ledger:
    charged: int
    refunded: int
    lost: int
    next_invoice: int

    @property
    def total(self) -> int:
        return self.charged - self.refunded - self.lost + self.next_invoice


def ledger(double: StripeDouble, customer: str) -> Ledger:
    state = double.state
    with double.server.lock:
        charges = [c for c in state.all("charge", customer=customer) if c["status"] == "succeeded"]
        ids = {c["id"] for c in charges}
        refunds = [r for r in state.all("refund") if r["charge"] in ids]
        lost = [d for d in state.all("dispute", status="lost") if d["charge"] in ids]
        preview = state.preview(customer)
    return Ledger(
        charged=sum(c["amount_captured"] for c in charges),
        refunded=sum(r["amount"] for r in refunds if r["status"] != "failed"),
        lost=sum(d["amount"] for d in lost),
        next_invoice=preview["total"] + preview["starting_balance"],
    )


def assert_ledger(double: StripeDouble, customer: str, *, expected: int) -> Ledger:
    """The customer's ledger sums to `expected`, to the cent; the message shows each term."""
    found = ledger(double, customer)
    assert found.total == expected, f"{customer}: {found} sums to {found.total}, not {expected}"
    return found
