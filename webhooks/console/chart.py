"""Events per hour by status, as the geometry of an inline SVG bar chart (no chart library).

Pure: counts in, rectangles and labels out; `templates/console/_chart.html` draws them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from worker.db.models import EventStatus

HOURS = 48
# Bottom to top in each bar; the template colours them by status.
STACK_ORDER: tuple[str, ...] = (
    EventStatus.PROCESSED,
    EventStatus.IGNORED,
    EventStatus.RECEIVED,
    EventStatus.FAILED,
)
WIDTH, HEIGHT = 960, 180
LEFT, RIGHT, TOP, BOTTOM = 44, 8, 10, 34  # margins for the axis labels
LABEL_EVERY_HOURS = 6


@dataclass(frozen=True)
class Segment:
    status: str
    count: int
    y: float
    height: float


@dataclass(frozen=True)
class Bar:
    hour: datetime
    x: float
    width: float
    total: int
    segments: tuple[Segment, ...]

    @property
    def title(self) -> str:
        parts = ", ".join(f"{s.count} {s.status}" for s in reversed(self.segments)) or "none"
        return f"{self.hour:%Y-%m-%d %H:00} UTC: {self.total} events ({parts})"


@dataclass(frozen=True)
class Tick:
    x: float
    label: str


@dataclass(frozen=True)
class Chart:
    bars: tuple[Bar, ...]
    ticks: tuple[Tick, ...]
    scale_max: int
    total: int
    since: datetime
    width: int = WIDTH
    height: int = HEIGHT
    left: int = LEFT
    top: int = TOP
    baseline: float = HEIGHT - BOTTOM
    legend: tuple[str, ...] = STACK_ORDER


def first_hour(now: datetime, hours: int = HOURS) -> datetime:
    """The start of the oldest hour shown: the current hour is the last bar."""
    return now.replace(minute=0, second=0, microsecond=0) - timedelta(hours=hours - 1)


def nice_ceiling(value: int) -> int:
    """The axis maximum: 1, 2, 3 or 5 times a power of ten, at least the tallest bar."""
    step = 1
    while True:
        for factor in (1, 2, 3, 5):
            if value <= factor * step:
                return factor * step
        step *= 10


def build_chart(
    counts: dict[tuple[datetime, str], int], now: datetime, hours: int = HOURS
) -> Chart:
    since = first_hour(now, hours)
    plot_width = WIDTH - LEFT - RIGHT
    plot_height = HEIGHT - TOP - BOTTOM
    slot = plot_width / hours
    totals = [
        sum(counts.get((since + timedelta(hours=i), s), 0) for s in STACK_ORDER)
        for i in range(hours)
    ]
    scale_max = nice_ceiling(max(totals, default=0) or 1)
    bars, ticks = [], []
    for i in range(hours):
        hour = since + timedelta(hours=i)
        x = LEFT + i * slot
        y = float(TOP + plot_height)
        segments = []
        for status in STACK_ORDER:
            count = counts.get((hour, status), 0)
            if count:
                height = plot_height * count / scale_max
                y -= height
                segments.append(Segment(status, count, round(y, 2), round(height, 2)))
        bars.append(Bar(hour, round(x + 1, 2), round(slot - 2, 2), totals[i], tuple(segments)))
        if hour.hour % LABEL_EVERY_HOURS == 0:
            label = f"{hour:%b %d}" if hour.hour == 0 else f"{hour:%H:00}"
            ticks.append(Tick(round(x, 2), label))
    return Chart(tuple(bars), tuple(ticks), scale_max, sum(totals), since)
