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


def at_least(value: float | None, minimum: float) -> bool | None:
    return None if value is None else value >= minimum


def at_most(value: float | None, maximum: float) -> bool | None:
    return None if value is None else value <= maximum


def _number(value: float | None, unit: str) -> str:
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


def table(figures: list[Figure]) -> str:
    rows = [("benchmark", "figure", "value", "floor", "ratio", "target", "met")]
    for fig in figures:
        ratio = fig.ratio
        rows.append(
            (
                fig.bench,
                fig.name,
                _number(fig.value, fig.unit),
                _number(fig.floor, fig.unit) + (f" ({fig.floor_name})" if fig.floor_name else "")
                if fig.floor is not None
                else "—",
                "—" if ratio is None else f"{ratio:.2f}",
                fig.target or "—",
                {True: "yes", False: "NO", None: "—"}[fig.met],
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = [
        "| " + " | ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)) + " |"
        for row in rows
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
        "python": platform.python_version(),
        "platform": platform.platform(),
    }


def write_json(
    figures: list[Figure], settings: dict[str, Any], directory: Path = RESULTS_DIR
) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    path = directory / f"bench-{stamp}.json"
    document = {
        "ran_at": stamp,
        "machine": machine(),
        "settings": settings,
        "figures": [dict(asdict(fig), ratio=fig.ratio) for fig in figures],
    }
    path.write_text(json.dumps(document, indent=2, default=str) + "\n")
    return path
