"""What a figure's target says, whether the figure meets it, and by how much it meets or misses it.

A benchmark declares a target beside its measurement as the text the table shows ("≥ 300 ev/s",
"≤ 25 ms", "< 300 MiB", "≥ 50 % of floor", "0"); this module reads that text, so a benchmark adds
a figure with a target and nothing else, and the report shows its margin. A target of "N % of
floor" is held against the figure's ratio (value ÷ floor); any other against the value, in the
figure's own unit. A text this module cannot read keeps the met/missed the benchmark gave it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

_TARGET = re.compile(r"^\s*(?P<op>[≥≤<>=]?)\s*(?P<number>\d[\d,]*(?:\.\d+)?)\s*(?P<rest>.*)$")


@dataclass(frozen=True)
class Target:
    bound: Literal["min", "max"]
    limit: float
    of_floor: bool  # the limit is a share of the floor: held against value ÷ floor
    strict: bool  # `<` or `>`: the limit itself misses


def parse(text: str) -> Target | None:
    """The target a figure declares; None for no target or one this module cannot read."""
    match = _TARGET.match(text)
    if match is None:
        return None
    op, rest = match["op"], match["rest"].strip()
    limit = float(match["number"].replace(",", ""))
    of_floor = rest.startswith("%") and "floor" in rest
    if of_floor:
        limit /= 100
    # A bare count ("0") is a ceiling: 0 429s, 0 failed events.
    bound: Literal["min", "max"] = "min" if op in ("≥", ">") else "max"
    return Target(bound, limit, of_floor, strict=op in ("<", ">"))


def compared(value: float | None, floor: float | None, target: Target) -> float | None:
    """The quantity the target holds: the value, or its ratio to the floor."""
    if value is None:
        return None
    if target.of_floor:
        return value / floor if floor else None
    return value


def meets(quantity: float, target: Target) -> bool:
    if target.bound == "min":
        return quantity > target.limit if target.strict else quantity >= target.limit
    return quantity < target.limit if target.strict else quantity <= target.limit


def margin(quantity: float, target: Target) -> str:
    """How far from the target, in words: "missed by 38 %", "7.5× over", "+12 %", "62 % under"."""
    met = meets(quantity, target)
    if target.limit == 0:  # a count that must stay 0: the margin is the count itself
        return "met" if met else f"missed by {quantity:g}"
    times = quantity / target.limit
    if target.bound == "min":
        if met:
            return (
                f"met, {_times(times)} the target" if times >= 2 else f"met, +{_percent(times - 1)}"
            )
        return f"missed by {_percent(1 - times)}"
    if met:
        return f"met, {_percent(1 - times)} under"
    return f"missed by {_percent(times - 1)}" if times < 2 else f"missed, {_times(times)} over"


def _percent(share: float) -> str:
    return f"{share * 100:.0f} %"


def _times(factor: float) -> str:
    return f"{factor:,.0f}×" if factor >= 10 else f"{factor:.1f}×"
