"""The documentation site builds with `mkdocs build --strict`: a link to a missing page or
anchor, a page left out of the navigation, or any other warning fails the suite."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_the_site_builds_strictly_without_a_warning(tmp_path: Path) -> None:
    built = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path)],
        cwd=REPO,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
        capture_output=True,
        text=True,
        timeout=300,
    )
    output = built.stdout + built.stderr
    assert built.returncode == 0, output
    assert "WARNING" not in output, output
    pages = {page.stem for page in (REPO / "docs").glob("*.md")}
    built_pages = {p.relative_to(tmp_path).parent.name for p in tmp_path.glob("**/index.html")}
    assert {name or "index" for name in built_pages} >= pages
