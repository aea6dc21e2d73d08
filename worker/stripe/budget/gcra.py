"""The budget's arithmetic: GCRA reservations, and AIMD after a 429. Pure: the clock is an argument.

Each bucket (the account's global budget, one per endpoint) keeps a theoretical arrival time
(`tat`): when the next call would conform if calls came exactly at the rate. A call reserves the
earliest slot at which every bucket it counts against conforms, moves each bucket's `tat` one
interval past that slot, and sleeps until it. Reserving rather than polling means waiting calls
are served in order and no process spins against a shared store.

A 429 that still comes back means someone else spent the budget: the bucket's rate is multiplied
by `CUT` (at most once per `COOLDOWN_SECONDS`, since calls in flight all see the same 429) and
grows back by `RECOVERY_PER_SECOND` of the full rate each second — additive increase,
multiplicative decrease, as TCP does with a congested link. `worker/stripe/budget/reserve.lua`
does the same arithmetic inside Redis; the tests hold the two to the same answers.
"""

from __future__ import annotations

from dataclasses import dataclass

CUT = 0.5  # a 429 halves the rate ...
MIN_FACTOR = 0.1  # ... down to a tenth of it at most
COOLDOWN_SECONDS = 2.0  # one congestion signal per round of calls in flight
RECOVERY_PER_SECOND = 0.02  # back from half to full rate in 25 s without another 429
# Larger than any wait we grant: a tat this far ahead comes from a clock that jumped back.
STALE_SECONDS = 3600.0


@dataclass
class BucketState:
    tat: float = 0.0  # theoretical arrival time of the next conforming call
    cut_factor: float = 1.0  # the rate's factor right after the last cut
    cut_at: float = 0.0  # when it was cut; 0: never


def factor(state: BucketState, now: float) -> float:
    """The share of the configured rate this bucket allows now (1.0 unless a 429 cut it)."""
    if state.cut_at <= 0:
        return 1.0
    return min(1.0, state.cut_factor + RECOVERY_PER_SECOND * max(0.0, now - state.cut_at))


def interval(state: BucketState, rate: float, now: float) -> float:
    return 1.0 / (rate * factor(state, now))


def reserve(
    states: list[BucketState],
    rates: list[float],
    now: float,
    *,
    burst_seconds: float,
    max_wait: float,
) -> float | None:
    """Reserve one call on every bucket; return the seconds to wait, or None (nothing reserved)
    if the slot is more than `max_wait` away. An idle bucket lets `burst_seconds` worth of its
    rate go back to back (GCRA's tolerance: burst_seconds - one interval)."""
    slot = now
    for state, rate in zip(states, rates, strict=True):
        if state.tat > now + STALE_SECONDS:
            state.tat = now
        step = interval(state, rate, now)
        slot = max(slot, state.tat - max(0.0, burst_seconds - step))
    wait = slot - now
    if wait > max_wait:
        return None
    for state, rate in zip(states, rates, strict=True):
        state.tat = max(state.tat, slot) + interval(state, rate, now)
    return wait


def slow_down(state: BucketState, now: float) -> bool:
    """Cut the bucket's rate after a 429; False if it was cut within the cooldown already."""
    if state.cut_at > 0 and now - state.cut_at < COOLDOWN_SECONDS:
        return False
    state.cut_factor = max(MIN_FACTOR, factor(state, now) * CUT)
    state.cut_at = now
    return True
