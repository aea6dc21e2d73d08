"""A missed target's profile: py-spy follows the bench's children, and the component's top
entries name the function its CPU went to — not the bench's own, nor another process's."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from bench.profile import Component, profile

BURNER = """
import time

def fold_invoices():
    total = 0
    for index in range(200_000):
        total += index * index % 7
    return total

deadline = time.monotonic() + 2.0
while time.monotonic() < deadline:
    fold_invoices()
"""


def test_the_components_top_entry_is_where_its_cpu_went(tmp_path: Path) -> None:
    script = tmp_path / "burner.py"
    script.write_text(BURNER)
    child = Component("the burner", lambda pid, cmdline: "burner.py" in cmdline)
    found = profile(
        tmp_path / "raw.txt", child, lambda: subprocess.run([sys.executable, str(script)])
    )
    assert found.error == ""
    assert found.samples > 50  # 2 s at 100 samples a second, on a loaded machine fewer
    assert found.processes == [f"{sys.executable} {script}"]
    top = found.top[0]
    assert top["function"] == "fold_invoices (burner.py)"
    assert top["own"] > 0.5 and top["total"] >= top["own"]
    assert not any("test_profile" in entry["function"] for entry in found.top)


def test_the_bench_process_is_a_component_of_its_own(tmp_path: Path) -> None:
    me = Component("the bench", lambda pid, cmdline: pid == os.getpid())

    def sort_ledgers() -> None:
        deadline = time.monotonic() + 1.5  # py-spy samples from before the first sort
        while time.monotonic() < deadline:
            sorted(range(200_000), key=lambda n: -n)

    found = profile(tmp_path / "raw.txt", me, sort_ledgers)
    assert found.error == "" and found.samples > 0
    # sorted() is C: its samples land on the key function it calls, or on its caller.
    functions = {entry["function"].split(" (")[0].rsplit(".", 1)[-1] for entry in found.top}
    assert functions & {"sort_ledgers", "<lambda>"}, found.top


def test_a_run_shorter_than_py_spys_start_ends_at_once_with_its_output(tmp_path: Path) -> None:
    """py-spy needs from 0.1 s to seconds to attach before it takes Ctrl-C. A SIGINT sent before
    then, here by a block that does nothing, used to kill it with nothing written or, with SIGINT
    ignored as a script's background job inherits it, to be lost: py-spy sampled on, 60 s."""
    me = Component("the bench", lambda pid, cmdline: pid == os.getpid())
    inherited = signal.signal(signal.SIGINT, signal.SIG_IGN)  # as under `./scripts/test &`
    try:
        began = time.monotonic()
        found = profile(tmp_path / "raw.txt", me, lambda: None)
        took = time.monotonic() - began
    finally:
        signal.signal(signal.SIGINT, inherited)
    assert (tmp_path / "raw.txt").exists()
    assert found.error in ("", "py-spy sampled none of its processes"), found.error
    assert took < 20, f"py-spy took {took:.1f} s to stop"
