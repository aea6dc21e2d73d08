"""Every `$` transcript of README.md and of every page in docs/ is run by one of this folder's
tests: a transcript moved to another page, or a new one, cannot go untested."""

from __future__ import annotations

from test_offline_transcripts import SOURCES as OFFLINE
from test_readme_connect import SOURCES as CONNECT
from test_readme_walkthrough import DOCS_SOURCES, README_SOURCES
from test_reconcile_page import SOURCES as RECONCILE
from transcripts import DOCS, README, sections, steps_in

RUN = [*README_SOURCES, *DOCS_SOURCES, *CONNECT, *OFFLINE, *RECONCILE]


def test_every_transcript_of_every_page_is_run_by_a_test() -> None:
    untested = [
        f"{page.name}, section {title!r}"
        for page in [README, *sorted(DOCS.glob("*.md"))]
        for title, text in sections(page.read_text()).items()
        if steps_in(text) and (page, None) not in RUN and (page, title) not in RUN
    ]
    assert not untested, f"transcripts no test runs: {untested}"


def test_each_source_a_test_runs_has_transcripts_and_runs_once() -> None:
    for page, title in RUN:
        assert steps_in(page.read_text() if title is None else sections(page.read_text())[title])
    assert len(set(RUN)) == len(RUN)
    assert not any((page, None) in RUN for page, title in RUN if title is not None)
