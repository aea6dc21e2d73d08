"""docs/performance.md's figures, rendered from one results file and nothing else.

`python -m bench.docs_table bench/results/bench-<time>.json` (or `python -m bench
--write-docs`) copies the results file to `bench/results/published/` (kept in git, unlike the
runs beside it) and rewrites what lies between the page's markers: the line naming that file,
the machine and load the run had, what the figures mean for a user, the table, and each missed
target with its margin and the top of its component's profile. `tests/bench/test_docs_table.py`
renders the named file again and compares, so the page cannot drift from the run it cites.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from datetime import datetime
from pathlib import Path
from typing import Any

from bench.report import RESULTS_DIR, number, table, verdict

REPO = Path(__file__).resolve().parent.parent
PAGE = REPO / "docs" / "performance.md"
PUBLISHED = RESULTS_DIR / "published"
BEGIN = "<!-- bench results: {path} (python -m bench.docs_table rewrites up to the end marker) -->"
END = "<!-- end of bench results -->"
PROFILE_LINES = 8
# What a figure means for someone running the worker, when the run measured it: `{value}` and
# `{floor}` are the figure's with their unit, `{count}` its bare number, `{cpus}` the machine's.
MEANINGS = {
    ("intake", "events/s at saturation"): "The receiver on PostgreSQL and Redis "
    "(`serve --workers 2`) takes {value} on {cpus} cores; past that, answers queue.",
    ("intake", "p99 ack at 100/s"): "At 100 events/s, 99 % of Stripe's deliveries to it are "
    "answered within {value}.",
    ("embedded", "events/s at saturation"): "On the embedded default (`billing-worker run`: "
    "SQLite, no broker) the receiver takes {value}.",
    ("embedded", "events/s drained, call-free"): "On the embedded default the two processing "
    "loops finish {value} of events that need no Stripe call.",
    ("embedded", "s from last ack to drained, 2,000 burst"): "On the embedded default a burst of "
    "2,000 events is all processed {value} after the last one was answered.",
    ("processing", "events/s, mix with Stripe calls"): "Two Celery processes finish {value} of "
    "events that call Stripe (suspensions, portal downgrades).",
    ("processing", "events/s, call-free mix"): "Two Celery processes finish {value} of events "
    "that need no Stripe call.",
    ("replay", "seconds for 100,000 events"): "`events replay --all` runs 100,000 stored events "
    "again in {value}.",
    ("replay", "peak RSS"): "A replay takes at most {value} of memory per process, whatever the "
    "number of events.",
    ("budget", "seconds, 5,000 chargebacks at 25/s, paced"): "A wave of 5,000 chargebacks "
    "(15,000 Stripe calls) at a sandbox's 25 calls/s takes {value}, where the limit allows "
    "{floor}.",
    ("budget", "429s received, paced"): "Paced by the worker's budget, that wave gets {count} "
    "429s from Stripe.",
    ("reconcile", "seconds, 10,000 customers at 100/s"): "A whole `reconcile` of 10,000 "
    "customers takes {value}, where Stripe's 25 calls/s an endpoint allow {floor}.",
    ("reconcile", "Stripe calls per customer"): "It reads {count} times from Stripe per customer "
    "(the customer, its subscriptions, its charges; more with disputes or refunds).",
    ("decide", "decisions/s, parsed facts"): "The policy engine decides {count} refund requests "
    "a second, in one process.",
    ("cli startup", "policy show mittrik"): "A command that needs neither the event log nor "
    "Stripe starts in about {value} (`policy show`).",
    ("cli startup", "events list (full runtime)"): "A command that reads the event log starts "
    "in about {value} (`events list`).",
}


def render(document: dict[str, Any], path: str) -> str:
    """The page's block, both markers included, for the results `document` kept at `path`."""
    figures = document["figures"]
    parts = [BEGIN.format(path=path), "", machine_line(document), ""]
    meant = meanings(document)
    if meant:
        parts += ["What that run means for you:", "", *meant, ""]
    parts += [table(figures), ""]
    missed: dict[str, list[dict[str, Any]]] = {}
    for figure in figures:
        if verdict(figure)[0] is False:
            missed.setdefault(figure["bench"], []).append(figure)
    if missed:
        parts += [
            "Targets missed, with where the time went (py-spy, top functions by own CPU):",
            "",
        ]
        for bench, its_figures in missed.items():
            parts += [missed_line(figure) for figure in its_figures]
            parts += profile_lines(document.get("profiles", {}).get(bench))
        parts.append("")
    parts.append(END)
    return "\n".join(parts)


def machine_line(document: dict[str, Any]) -> str:
    machine, settings = document["machine"], document["settings"]
    ran = datetime.strptime(document["ran_at"], "%Y%m%dT%H%M%SZ").strftime("%Y-%m-%d %H:%M UTC")
    command = settings.get("command", "python -m bench")
    memory = machine.get("memory_total_mib")
    before, after = settings["load_average_before"][0], settings["load_average_after"][0]
    line = (
        f"Run of `{command}` on {ran}: {machine['cpus']} cores ({machine['cpu_model'] or '?'}), "
        + (f"{memory / 1024:.1f} GiB of memory, " if memory else "")
        + f"Python {machine['python']}; "
        + f"load average (1 min) {before:.2f} before, {after:.2f} after."
    )
    if settings.get("quick"):
        line += " A `--quick` smoke run at tiny sizes: its figures show the format, not speed."
    return line


def meanings(document: dict[str, Any]) -> list[str]:
    """A line for each figure that tells a user something, in the words of MEANINGS."""
    cpus = document["machine"]["cpus"]
    lines = []
    for figure in document["figures"]:
        meaning = MEANINGS.get((figure["bench"], figure["name"]))
        if meaning is not None and figure["value"] is not None:
            unit = "events/s" if figure["unit"] == "ev/s" else figure["unit"]
            value, floor = number(figure["value"], unit), number(figure["floor"], unit)
            count = number(figure["value"], "")
            lines.append("- " + meaning.format(value=value, floor=floor, count=count, cpus=cpus))
    return lines


def missed_line(figure: dict[str, Any]) -> str:
    value, floor = number(figure["value"], figure["unit"]), number(figure["floor"], figure["unit"])
    floor_name = f", {figure['floor_name']}" if figure.get("floor_name") else ""
    return (
        f"- **{figure['bench']}, {figure['name']}**: {value} against {figure['target']} "
        f"(floor {floor}{floor_name}): {verdict(figure)[1]}."
    )


def profile_lines(profile: dict[str, Any] | None) -> list[str]:
    """The top of the profile of the benchmark's component, under its missed figures."""
    if profile is None:
        return ["  No profile recorded (`--profile-misses` was off)."]
    if profile.get("error"):
        return [f"  No profile of {profile['component']}: {profile['error']}"]
    lines = [
        f"  Profile of {profile['component']}, {profile['samples']:,} samples"
        + (f" ({profile['sizes']})" if profile.get("sizes") else "")
        + ":",
        "  ```",
        "    own  total  function (file)",
    ]
    for entry in profile["top"][:PROFILE_LINES]:
        lines.append(f"  {entry['own']:5.1%} {entry['total']:6.1%}  {entry['function']}")
    return [*lines, "  ```"]


def cited(page: str) -> tuple[str, str] | None:
    """(the results path the page names, the block as the page has it), or None."""
    prefix = BEGIN.split("{path}")[0]
    start = page.find(prefix)
    if start < 0:
        return None
    end = page.index(END, start) + len(END)
    path = page[start + len(prefix) :].split(" ", 1)[0]
    return path, page[start:end]


def publish(results: Path, page: Path = PAGE, directory: Path = PUBLISHED) -> Path:
    """Copy `results` into `directory` (the only run kept there), render it into `page`
    between the markers; return the copy's path."""
    document = json.loads(results.read_text())
    text = page.read_text()
    found = cited(text)
    if found is None:
        raise SystemExit(f"{page}: no '{BEGIN.split('{path}')[0]}' marker to write between")
    directory.mkdir(parents=True, exist_ok=True)
    kept = directory / results.name
    if results.resolve() != kept.resolve():
        for old in directory.glob("bench-*.json"):
            old.unlink()
        shutil.copyfile(results, kept)
    path = os.path.relpath(kept, REPO)  # the same from the page and from the checkout
    page.write_text(text.replace(found[1], render(document, path)))
    return kept


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python -m bench.docs_table RESULTS.json", file=sys.stderr)
        return 2
    kept = publish(Path(argv[0]))
    print(f"docs/performance.md rendered from {os.path.relpath(kept, REPO)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
