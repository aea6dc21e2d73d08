"""Benchmark: how long a `billing-worker` command takes to start, as a cold process.

Each command runs `runs` times as a fresh interpreter (after one warm-up run that fills the
page cache and writes bytecode), timed from outside: wall time, and the CPU time the kernel
accounts to the child (less sensitive to a busy machine than wall time). Quoted: min, median and
max. The floor is the interpreter alone (`python -c pass`). The target (issue 14) is for the
commands that need neither the event log nor Stripe: ≤ 0.3 s. `events list` on an empty event
log is measured beside them, without a target, to show what the full runtime costs.
"""

from __future__ import annotations

import json
import os
import resource
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.decide import facts_mix
from bench.report import Figure, at_most

TARGET_SECONDS = 0.3
# The console script beside this interpreter (what an operator runs), else the module.
SCRIPT = Path(sys.executable).with_name("billing-worker")
CLI = [str(SCRIPT)] if SCRIPT.exists() else [sys.executable, "-m", "worker.cli"]


@dataclass(frozen=True)
class CliSizes:
    runs: int = 10
    warmup: int = 1


def commands(workdir: Path) -> dict[str, tuple[list[str], bool]]:
    """Name → (argv, whether the ≤ 0.3 s target applies)."""
    facts = workdir / "facts.json"
    facts.write_text(json.dumps(facts_mix()[0]))
    return {
        "--help": (["--help"], True),
        "decide FILE": (["decide", str(facts)], True),
        "policy show mittrik": (["policy", "show", "mittrik"], True),
        "config check": (["config", "check"], True),
        "events list (full runtime)": (["events", "list", "--format", "json"], False),
    }


def timed(argv: list[str], env: dict[str, str], cwd: Path) -> tuple[float, float]:
    """(wall, cpu) seconds of one run of argv as a child process."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    done = subprocess.run(argv, env=env, cwd=cwd, capture_output=True, timeout=120)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise RuntimeError(f"{argv} exited {done.returncode}: {done.stderr.decode()[-2000:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def spread(values: list[float]) -> dict[str, float]:
    return {
        "min": round(min(values), 4),
        "median": round(statistics.median(values), 4),
        "max": round(max(values), 4),
    }


def runs_of(argv: list[str], env: dict[str, str], cwd: Path, sizes: CliSizes) -> dict[str, Any]:
    for _ in range(sizes.warmup):
        timed(argv, env, cwd)
    measured = [timed(argv, env, cwd) for _ in range(sizes.runs)]
    return {
        "wall": spread([wall for wall, _ in measured]),
        "cpu": spread([cpu for _, cpu in measured]),
        "runs": sizes.runs,
    }


def measure(workdir: Path, sizes: CliSizes) -> dict[str, Any]:
    """Every command's spread, and the interpreter's own; the event log is made first."""
    workdir.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "DATA_DIR": str(workdir / "data")}
    env.pop("PYTHONDONTWRITEBYTECODE", None)  # bytecode written once, as an installed copy has
    subprocess.run([*CLI, "db", "upgrade"], env=env, cwd=workdir, check=True, capture_output=True)
    floor = runs_of([sys.executable, "-c", "pass"], env, workdir, sizes)
    results = {
        name: {**runs_of([*CLI, *argv], env, workdir, sizes), "argv": argv, "target": target}
        for name, (argv, target) in commands(workdir).items()
    }
    return {"floor": floor, "commands": results, "cli": CLI}


def figures(measured: dict[str, Any]) -> list[Figure]:
    floor = measured["floor"]["wall"]["median"]
    out = []
    for name, result in measured["commands"].items():
        median = result["wall"]["median"]
        out.append(
            Figure(
                "cli startup",
                name,
                median,
                "s",
                floor,
                "python -c pass",
                f"≤ {TARGET_SECONDS} s" if result["target"] else "",
                at_most(median, TARGET_SECONDS) if result["target"] else None,
                detail={**result, "floor": measured["floor"]},
            )
        )
    return out


def summary(measured: dict[str, Any]) -> str:
    """min / median / max per command, wall and CPU: the rows the table has no room for."""
    lines = ["cli startup (seconds, min / median / max over cold runs)"]
    rows = {"python -c pass": measured["floor"], **measured["commands"]}
    for name, result in rows.items():
        wall, cpu = result["wall"], result["cpu"]
        lines.append(
            f"  {name:<28} wall {wall['min']:.3f} / {wall['median']:.3f} / {wall['max']:.3f}"
            f"   cpu {cpu['min']:.3f} / {cpu['median']:.3f} / {cpu['max']:.3f}"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    import tempfile

    with tempfile.TemporaryDirectory(prefix="billing-worker-cli-") as tmp:
        print(summary(measure(Path(tmp), CliSizes(runs=int(sys.argv[1]) if sys.argv[1:] else 10))))
