"""The Stripe side: the only code that imports `stripe`. Read it top-down:

- `client.py`: the StripeClient, its pinned API version, and pacing by the shared budget;
- `keys.py`: idempotency keys, and how an event tells that a change was ours;
- `calls.py`: how one call runs: a read classified, a mutating call made once and audited;
- `retry.py`: which errors are retried, and with which key after an unknown outcome;
- `reads.py`: what the worker reads;
- `effects.py`: how an earlier call's effect is found at Stripe, so nothing is posted twice;
- `gateway.py`: every call that moves money or changes a subscription or customer;
- `budget/`: Stripe's rate budget shared by every process;
- `local.py`: a local stripe-mock for development when no key is set.

This file imports nothing, so `local.py` stays importable without stripe (`config check`).
"""
