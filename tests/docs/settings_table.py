"""docs/configuration.md's table of settings, rendered from worker/config.py's `Settings`: each
field's environment variable, its default and its description, so the page cannot drift from
the code. `python tests/docs/settings_table.py` rewrites the table between the page's markers;
tests/docs/test_settings_table.py fails when the page is not that render."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from worker.config import Settings

PAGE = Path(__file__).resolve().parents[2] / "docs" / "configuration.md"
BEGIN = "<!-- settings: rendered from worker/config.py by tests/docs/settings_table.py -->"
END = "<!-- end of settings -->"


def shown(default: Any) -> str:
    if default in ("", None, [], {}):
        return "empty"
    if isinstance(default, bool):
        return f"`{str(default).lower()}`"
    if isinstance(default, float) and default.is_integer():
        return f"`{int(default)}`"
    return f"`{default}`"


def render() -> str:
    rows = ["| variable | default | meaning |", "|---|---|---|"]
    for name, field in Settings.model_fields.items():
        default = field.get_default(call_default_factory=True)
        rows.append(f"| `{name.upper()}` | {shown(default)} | {field.description} |")
    return "\n".join([BEGIN, "", *rows, "", END])


def cited(text: str) -> str:
    """The block as the page has it, markers included."""
    start = text.index(BEGIN)
    return text[start : text.index(END, start) + len(END)]


if __name__ == "__main__":
    page = PAGE.read_text()
    PAGE.write_text(page.replace(cited(page), render()))
    sys.exit(0)
