"""The shell transcripts of README.md and docs/: read them from a page and match a real run.

A transcript is a fenced block whose lines start `$ ` (a command, continued by a trailing `\\`)
followed by its output, up to the next command or the fence. The printed output is turned into a
pattern: what legitimately varies between runs (the ids Stripe or the worker makes, dates and
times, a reconcile run's id) matches any value of its shape, and a line `...` stands for any
lines. The values a run actually printed are remembered, so a later command that names an earlier
id or date (`refunds approve rr_…`, `--purchase-date 2026-11-16`) is run with this run's value.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
README = REPO / "README.md"
DOCS = REPO / "docs"
# A page, and one of its `## ` sections or None for all of it: what a test runs.
Source = tuple[Path, str | None]

# Ids made at run time; the demo's own names (cus_ana, sub_ana, si_agents, …) stay literal.
VARYING_ID = r"(?<![A-Za-z0-9_])(?:rr|re|in|il|evt)_[A-Za-z0-9_]+"
DATE = r"\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:\d{2})?)?"
LOOPBACK_PORT = r"(?<=127\.0\.0\.1:)\d+"  # the pages' 8000 is the test's free port
RUN_ID = r"\d{8}T\d{6}-[0-9a-f]{8}"  # a reconcile run's: its start and a random part
VARYING = re.compile(f"{RUN_ID}|{VARYING_ID}|{DATE}|{LOOPBACK_PORT}")
# Only on a terminal: tqdm's bar on stderr (the test's stderr is a pipe).
PROGRESS_BAR = re.compile(r"^\s*\d+%\|")


@dataclass
class Step:
    command: str
    expected: list[str]


def section_text(markdown: str, title: str) -> str:
    match = re.search(rf"^## {re.escape(title)}\n(.*?)(?=^## |\Z)", markdown, re.M | re.S)
    if match is None:
        raise AssertionError(f"no section '## {title}'")
    return match.group(1)


def sections(markdown: str) -> dict[str | None, str]:
    """Each `## ` section's text by its title; what comes before the first one under None."""
    parts = re.split(r"^## (.*)\n", markdown, flags=re.M)
    found: dict[str | None, str] = {None: parts[0]}
    found.update(zip(parts[1::2], parts[2::2], strict=True))
    return found


def transcripts(page: Path, title: str | None = None) -> list[Step]:
    """Every `$ ` command of the page's (or its section's) fenced blocks, in order, with its
    printed output."""
    text = page.read_text()
    return steps_in(text if title is None else section_text(text, title))


def steps_of(sources: list[Source]) -> list[Step]:
    return [step for page, title in sources for step in transcripts(page, title)]


FENCED = re.compile(r"^```[^\n]*\n(.*?)^```", re.M | re.S)


def steps_in(markdown: str) -> list[Step]:
    steps: list[Step] = []
    for block in FENCED.findall(markdown):
        lines = block.splitlines()
        if not any(line.startswith("$ ") for line in lines):
            continue  # a plain listing of commands, without their output
        current: Step | None = None
        continued = False
        for line in lines:
            if continued and current is not None:
                current.command += "\n" + line
                continued = line.endswith("\\")
            elif line.startswith("$ "):
                current = Step(line[2:], [])
                steps.append(current)
                continued = line.endswith("\\")
            elif current is not None:
                current.expected.append(line)
    for step in steps:  # a blank line between transcripts is layout, not output
        while step.expected and not step.expected[-1].strip():
            step.expected.pop()
    return steps


class Values:
    """The page's printed value → this run's value, for ids and dates seen so far."""

    def __init__(self) -> None:
        self.seen: dict[str, str] = {}

    def command(self, command: str) -> str:
        return VARYING.sub(lambda m: self.seen.get(m.group(0), m.group(0)), command)

    def pattern(self, expected: list[str]) -> tuple[re.Pattern[str], dict[str, str]]:
        groups: dict[str, str] = {}  # group name → the page's value
        names: dict[str, str] = {}  # the page's value → group name, for a repeated value

        def token(found: re.Match[str]) -> str:
            value = found.group(0)
            if value in self.seen and re.fullmatch(VARYING_ID, value):
                return re.escape(self.seen[value])  # an id met before must come back the same
            if value in names:
                return f"(?P={names[value]})"
            name = names[value] = f"v{len(names)}"
            groups[name] = value
            shapes = (RUN_ID, VARYING_ID, DATE, r"\d+")
            shape = next(s for s in shapes if re.fullmatch(s, value))
            return f"(?P<{name}>{shape})"

        parts = []
        for line in expected:
            if PROGRESS_BAR.match(line):
                continue
            if line.strip() == "...":
                parts.append(r"(?:[^\n]*\n)*?")
                continue
            literal, position = [], 0
            for found in VARYING.finditer(line):
                literal.append(re.escape(line[position : found.start()]) + token(found))
                position = found.end()
            literal.append(re.escape(line[position:]))
            parts.append("".join(literal) + r"[ \t]*\n")
        return re.compile("".join(parts)), groups

    def match(self, expected: list[str], printed: str) -> str | None:
        """None when `printed` is what the page shows; else what differs."""
        pattern, groups = self.pattern(expected)
        lines = [line for line in printed.splitlines() if not is_log_line(line)]
        text = "".join(line.rstrip() + "\n" for line in lines)
        found = pattern.fullmatch(text)
        if found is None:
            return "the page shows:\n" + "\n".join(expected) + "\n\nthe run printed:\n" + text
        for name, readme_value in groups.items():
            self.seen[readme_value] = found.group(name)
        return None


def is_log_line(line: str) -> bool:
    """A structured log line (stderr): what a library logs is not part of a transcript."""
    if not line.startswith("{"):
        return False
    try:
        record = json.loads(line)
    except ValueError:
        return False
    return isinstance(record, dict) and "logger" in record and "level" in record
