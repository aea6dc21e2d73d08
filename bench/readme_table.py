"""README's Performance table, rendered from one results file and nothing else.

`python -m bench.readme_table bench/results/bench-<time>.json` (or `python -m bench
--write-readme`) copies the results file to `bench/results/readme/` (kept in git, unlike the
runs beside it) and rewrites what lies between README's markers: the line naming that file, the
machine and load the run had, the table, and each missed target with its margin and the top of
its component's profile. `tests/bench/test_readme_table.py` renders the named file again and
compares, so the README cannot drift from the run it cites.
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
README = REPO / "README.md"
PUBLISHED = RESULTS_DIR / "readme"
BEGIN = (
    "<!-- bench results: {path} (python -m bench.readme_table rewrites up to the end marker) -->"
)
END = "<!-- end of bench results -->"
PROFILE_LINES = 8


def render(document: dict[str, Any], path: str) -> str:
    """The README block, both markers included, for the results `document` kept at `path`."""
    figures = document["figures"]
    parts = [BEGIN.format(path=path), "", machine_line(document), "", table(figures), ""]
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


def cited(readme: str) -> tuple[str, str] | None:
    """(the results path README names, the block as README has it), or None with no markers."""
    prefix = BEGIN.split("{path}")[0]
    start = readme.find(prefix)
    if start < 0:
        return None
    end = readme.index(END, start) + len(END)
    path = readme[start + len(prefix) :].split(" ", 1)[0]
    return path, readme[start:end]


def publish(results: Path, readme: Path = README, directory: Path = PUBLISHED) -> Path:
    """Copy `results` into `directory` (the only run kept there), render it into `readme`
    between the markers; return the copy's path."""
    document = json.loads(results.read_text())
    text = readme.read_text()
    found = cited(text)
    if found is None:
        raise SystemExit(f"{readme}: no '{BEGIN.split('{path}')[0]}' marker to write between")
    directory.mkdir(parents=True, exist_ok=True)
    kept = directory / results.name
    if results.resolve() != kept.resolve():
        for old in directory.glob("bench-*.json"):
            old.unlink()
        shutil.copyfile(results, kept)
    path = os.path.relpath(kept, readme.parent)
    readme.write_text(text.replace(found[1], render(document, path)))
    return kept


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python -m bench.readme_table RESULTS.json", file=sys.stderr)
        return 2
    kept = publish(Path(argv[0]))
    print(f"README.md's Performance table rendered from {os.path.relpath(kept, REPO)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
