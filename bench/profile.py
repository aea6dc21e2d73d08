"""Where a component's CPU goes, sampled by py-spy while a benchmark runs it, as top entries.

py-spy attaches to the bench's own process with `--subprocesses`, so it follows every process
the benchmark starts (gunicorn's and Celery's forked workers included) without root: a process
may trace its own descendants. It samples from outside, with `--nonblocking`, so the profiled
processes run unpaused. The raw (collapsed-stack) output names each stack's process by its
command line; a component is the processes whose command line matches, and its top entries are
functions by own samples (on the CPU in that function), with their total (it or its callees).

py-spy stops, and writes what it sampled, on SIGINT, but only once it has attached to every
process and set its Ctrl-C handler; that takes from 0.1 s to seconds (more children, more load).
A SIGINT before then killed it with nothing written or, when the bench had inherited SIGINT
ignored (a run started in the background of a script, as CI does), was lost, and py-spy sampled
on until killed 60 s later. So the block runs only once py-spy says it is sampling, py-spy runs
with SIGINT ignored until its handler takes over, and the SIGINT is sent again until it ends.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

RATE = 100  # samples a second per process
TOP = 10
# py-spy's own frame for a process: `process 123:"python -m worker.cli serve"`.
_PROCESS = re.compile(r'process (?P<pid>\d+):"(?P<cmdline>.*?)"$', re.S)
_LINE = re.compile(r":\d+\)$")
_IMPORTING = "(<frozen importlib._bootstrap>"
READY = "Sampling process"  # py-spy's line once it has attached, just before its Ctrl-C handler
START_SECONDS = 60.0
STOP_SECONDS = 60.0


@dataclass(frozen=True)
class Component:
    """What a benchmark's profile is of: a name for the reader, and which processes it is."""

    name: str
    matches: Callable[[int, str], bool]  # (pid, command line)
    # Whether importing modules is part of what it does: for a cold CLI command it is; for a
    # server it is its start, not the path measured, and those stacks are left out.
    imports: bool = False


@dataclass
class Profile:
    component: str
    samples: int = 0
    processes: list[str] = field(default_factory=list)
    top: list[dict[str, Any]] = field(default_factory=list)
    error: str = ""


def py_spy() -> str | None:
    found = Path(sys.executable).with_name("py-spy")
    return str(found) if found.exists() else shutil.which("py-spy")


@contextmanager
def sampled(output: Path) -> Iterator[Callable[[], str]]:
    """Sample this process and its descendants while the block runs, into `output` (raw).

    Yields a function that returns py-spy's complaint, if it had one, once the block is done."""
    binary = py_spy()
    if binary is None:
        yield lambda: "py-spy is not installed (pip install -e '.[bench]')"
        return
    args = [
        binary, "record", "--pid", str(os.getpid()), "--subprocesses", "--nonblocking",
        "--rate", str(RATE), "--format", "raw", "--output", str(output),
    ]  # fmt: skip
    said = output.with_name(output.name + ".log")  # py-spy's stdout and stderr
    with said.open("w") as log:
        # `trap "" INT`: a SIGINT that comes before py-spy's handler is ignored, not fatal.
        spy = subprocess.Popen(
            ["sh", "-c", 'trap "" INT; exec "$@"', "sh", *args], stdout=log, stderr=log
        )
    complaint = "" if started(spy, said) else "py-spy did not start sampling"
    try:
        yield lambda: complaint
    finally:
        stop(spy)
        if not output.exists():
            text = said.read_text(errors="replace").strip()
            complaint = (text or f"{complaint or 'py-spy'} (exited {spy.returncode})")[-500:]


def started(spy: subprocess.Popen[bytes], said: Path, timeout: float = START_SECONDS) -> bool:
    """Wait until py-spy has attached and samples (it prints so), or has given up."""
    deadline = time.monotonic() + timeout
    while spy.poll() is None and time.monotonic() < deadline:
        if READY in said.read_text(errors="replace"):
            return True
        time.sleep(0.02)
    return False


def stop(spy: subprocess.Popen[bytes], timeout: float = STOP_SECONDS) -> None:
    """SIGINT until py-spy writes its output and exits: one sent in the instant between its
    "Sampling" line and its handler is ignored, the next one stops it."""
    deadline = time.monotonic() + timeout
    while spy.poll() is None and time.monotonic() < deadline:
        spy.send_signal(signal.SIGINT)
        try:
            spy.wait(0.5)
        except subprocess.TimeoutExpired:
            continue
    if spy.poll() is None:
        spy.kill()
        spy.wait()


def stacks(raw: str) -> Iterator[tuple[int, str, list[str], int]]:
    """(pid, command line, frames outermost first, samples) for each stack of raw output."""
    # A record ends in " COUNT\n"; a command line may hold newlines, so lines do not split them.
    parts = re.split(r" (\d+)\n", raw if raw.endswith("\n") else raw + "\n")
    for stack, count in zip(parts[0::2], parts[1::2], strict=False):
        frames = stack.split(";")
        pid, cmdline = 0, ""
        # Each process frame names a child of the one before: the innermost is the sampled one.
        while frames and frames[0].startswith("process "):
            # A command line holding ";" was split with the stack: glue it back until it closes.
            head, rest = frames[0], frames[1:]
            while not _PROCESS.match(head) and rest:
                head, rest = f"{head};{rest[0]}", rest[1:]
            process = _PROCESS.match(head)
            if process is None:
                break
            pid, cmdline, frames = int(process["pid"]), process["cmdline"], rest
        yield pid, cmdline, frames, int(count)


def summarize(raw: str, component: Component, top: int = TOP) -> Profile:
    own: Counter[str] = Counter()
    total: Counter[str] = Counter()
    processes: Counter[str] = Counter()
    samples = 0
    for pid, cmdline, frames, count in stacks(raw):
        if not frames or not component.matches(pid, cmdline):
            continue
        if not component.imports and any(_IMPORTING in frame for frame in frames):
            continue
        samples += count
        processes[" ".join(cmdline.split())[:120]] += count
        functions = [_LINE.sub(")", frame) for frame in frames]
        own[functions[-1]] += count
        for function in set(functions):
            total[function] += count
    return Profile(
        component=component.name,
        samples=samples,
        processes=[name for name, _ in processes.most_common()],
        top=[
            {
                "function": name,
                "own": round(n / samples, 4),
                "total": round(total[name] / samples, 4),
            }
            for name, n in own.most_common(top)
        ],
    )


def profile(output: Path, component: Component, run: Callable[[], object]) -> Profile:
    """Run `run` under py-spy; the component's top entries, or why there are none."""
    with sampled(output) as complaint:
        run()
    if complaint():
        return Profile(component=component.name, error=complaint())
    found = summarize(output.read_text(errors="replace"), component)
    if not found.samples:
        found.error = "py-spy sampled none of its processes"
    return found
