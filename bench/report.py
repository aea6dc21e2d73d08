"""Figures, the table they print as, and the JSON file they are written to."""

from __future__ import annotations

import contextlib
import json
import os
import platform
import subprocess
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench import targets

RESULTS_DIR = Path(__file__).parent / "results"


@dataclass(frozen=True)
class Figure:
    """One measured figure beside the floor it is compared with.

    `ratio` is value ÷ floor: for a rate, the share of the floor reached; for a latency or a
    duration, how many times the floor it takes. `target` is the issue's, where it sets one.
    """

    bench: str
    name: str
    value: float | None
    unit: str
    floor: float | None = None
    floor_name: str = ""
    target: str = ""
    met: bool | None = None
    detail: dict[str, Any] = field(default_factory=dict)

    @property
    def ratio(self) -> float | None:
        if self.value is None or not self.floor:
            return None
        return self.value / self.floor

    def as_dict(self) -> dict[str, Any]:
        """As the results file holds it: the fields, the ratio, and the verdict on the target."""
        found = dict(asdict(self), ratio=self.ratio)
        found["met"], found["margin"] = verdict(found)
        return found


def at_least(value: float | None, minimum: float) -> bool | None:
    return None if value is None else value >= minimum


def at_most(value: float | None, maximum: float) -> bool | None:
    return None if value is None else value <= maximum


def events_per_second_beside_no_handler(
    bench: str,
    name: str,
    measured: dict[str, Any],
    no_handler: dict[str, Any],
    minimum: float,
    detail: dict[str, Any],
) -> Figure:
    """A drain rate (`per_second`) beside the same drain with no handler, against a minimum."""
    rate = measured["per_second"]
    return Figure(
        bench=bench,
        name=name,
        value=rate,
        unit="ev/s",
        floor=no_handler["per_second"],
        floor_name="no handler",
        target=f"≥ {minimum:g} ev/s",
        met=at_least(rate, minimum),
        detail=detail,
    )


def number(value: float | None, unit: str) -> str:
    if value is None:
        return "—"
    text = (
        f"{value:,.0f}"
        if abs(value) >= 100 or float(value).is_integer()  # counts print as counts
        else f"{value:,.1f}"
        if abs(value) >= 10
        else (f"{value:.2f}")
    )
    return f"{text} {unit}".rstrip()


def verdict(figure: dict[str, Any]) -> tuple[bool | None, str]:
    """Met or missed, and the margin in words, from a figure as the results file holds it.

    The benchmark's own `met` wins where it has one: it may know what the number does not (a
    wave that never finished is a miss however short it was)."""
    value, floor, met = figure.get("value"), figure.get("floor"), figure.get("met")
    target = targets.parse(figure.get("target") or "")
    quantity = None if target is None else targets.compared(value, floor, target)
    if target is None or quantity is None:
        return met, {True: "met", False: "missed", None: "—"}[met]
    reached = targets.meets(quantity, target)
    if met is not None and met != reached:
        return met, "met" if met else "missed"
    return reached, targets.margin(quantity, target)


HEADER = ("benchmark", "figure", "value", "floor", "ratio", "target", "met / missed by")


def row(figure: dict[str, Any]) -> tuple[str, ...]:
    value, floor, unit = figure.get("value"), figure.get("floor"), figure.get("unit", "")
    ratio = value / floor if value is not None and floor else None
    floor_name = figure.get("floor_name") or ""
    return (
        figure["bench"],
        figure["name"],
        number(value, unit),
        "—" if floor is None else number(floor, unit) + (f" ({floor_name})" if floor_name else ""),
        "—" if ratio is None else f"{ratio:.2f}",
        figure.get("target") or "—",
        verdict(figure)[1],
    )


def table(figures: list[dict[str, Any]]) -> str:
    """The Markdown table of figures as the results file holds them (`Figure.as_dict`)."""
    rows = [HEADER, *(row(figure) for figure in figures)]
    widths = [max(len(cells[i]) for cells in rows) for i in range(len(HEADER))]
    lines = [
        "| " + " | ".join(cell.ljust(w) for cell, w in zip(cells, widths, strict=True)) + " |"
        for cells in rows
    ]
    lines.insert(1, "|" + "|".join("-" * (w + 2) for w in widths) + "|")
    return "\n".join(lines)


def machine() -> dict[str, Any]:
    """What the figures ran on: they mean little without it."""
    cpu = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory = ""
    with contextlib.suppress(OSError):
        memory = subprocess.run(["free", "-h"], capture_output=True, text=True).stdout
    return {
        "cpus": os.cpu_count(),
        "cpu_model": cpu,
        "memory": memory.strip(),
        "memory_total_mib": os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") // 2**20,
        "python": platform.python_version(),
        "platform": platform.platform(),
    }


def write_json(
    figures: list[Figure],
    settings: dict[str, Any],
    directory: Path = RESULTS_DIR,
    profiles: dict[str, Any] | None = None,
) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    path = directory / f"bench-{stamp}.json"
    document = {
        "ran_at": stamp,
        "machine": machine(),
        "settings": settings,
        "figures": [fig.as_dict() for fig in figures],
        "profiles": profiles or {},
    }
    path.write_text(json.dumps(document, indent=2, default=str) + "\n")
    return path
