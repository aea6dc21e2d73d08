"""docs/performance.md's figures are the render of the results file it names, and the render
says what the figures mean for a user, each figure's margin to its target, and each miss with the
top of its component's profile."""

from __future__ import annotations

import json
from pathlib import Path

from bench import docs_table
from bench.report import Figure, verdict

REPO = Path(__file__).resolve().parents[2]


def test_the_performance_page_is_the_render_of_the_results_file_it_names() -> None:
    found = docs_table.cited(docs_table.PAGE.read_text())
    assert found is not None, "docs/performance.md has no bench results markers"
    path, block = found
    document = json.loads((REPO / path).read_text())
    assert block == docs_table.render(document, path), "run: python -m bench.docs_table " + path


def _document(figures: list[Figure], profiles: dict) -> dict:
    return {
        "ran_at": "20261202T023000Z",
        "machine": {
            "cpus": 2,
            "cpu_model": "AMD EPYC",
            "memory_total_mib": 23552,
            "python": "3.11.7",
        },
        "settings": {
            "command": "python -m bench",
            "quick": False,
            "load_average_before": [0.4, 0.5, 0.6],
            "load_average_after": [1.9, 1.0, 0.7],
        },
        "figures": [figure.as_dict() for figure in figures],
        "profiles": profiles,
    }


RATE_MISSED = Figure("processing", "events/s, mix with Stripe calls", 113, "ev/s", 397,
                     "no handler", "≥ 300 ev/s", False)  # fmt: skip
SHARE_MISSED = Figure("intake", "events/s at saturation", 791, "ev/s", 3528, "bare route",
                      "≥ 50 % of floor", False)  # fmt: skip
TIME_MISSED = Figure("replay", "seconds for 100,000 events", 451, "s", 13.8, "read + decode",
                     "≤ 60 s", False)  # fmt: skip
LATENCY_MISSED = Figure(
    "intake", "p99 ack at 500/s", 31.4, "ms", 2.51, "bare route", "≤ 25 ms", False
)
LATENCY_MET = Figure("intake", "p99 ack at 500/s", 20.4, "ms", 2.51, "bare route", "≤ 25 ms", True)
RATE_MET = Figure("decide", "decisions/s, parsed facts", 96459, "/s", 508021, "output only",
                  "≥ 20,000/s", True)  # fmt: skip
COUNT_MISSED = Figure("budget", "429s received, paced", 12, "", target="0", met=False)
NO_TARGET = Figure("intake", "p50 ack at 500/s", 2.84, "ms", 1.50, "bare route")


def test_each_margin_says_how_far_the_figure_is_from_its_target() -> None:
    margins = {fig.name: verdict(fig.as_dict()) for fig in
               (RATE_MISSED, SHARE_MISSED, TIME_MISSED, LATENCY_MET, RATE_MET, COUNT_MISSED,
                NO_TARGET)}  # fmt: skip
    assert margins == {
        "events/s, mix with Stripe calls": (False, "missed by 62 %"),  # 113 of 300
        "events/s at saturation": (False, "missed by 55 %"),  # 0.224 of the floor, not 0.5
        "seconds for 100,000 events": (False, "missed, 7.5× over"),  # 451 s for 60
        "p99 ack at 500/s": (True, "met, 18 % under"),
        "decisions/s, parsed facts": (True, "met, 4.8× the target"),
        "429s received, paced": (False, "missed by 12"),
        "p50 ack at 500/s": (None, "—"),
    }


def test_a_benchmark_that_knows_better_keeps_its_verdict() -> None:
    """A paced wave that never finished is a miss, however few seconds it was given."""
    unfinished = Figure("budget", "seconds, 10 chargebacks at 25/s, paced", 1.3, "s", 1.2,
                        "calls ÷ limit", "≤ 110 % of floor", False)  # fmt: skip
    assert verdict(unfinished.as_dict()) == (False, "missed")


def test_the_render_shows_the_machine_each_figure_and_each_miss_with_its_profile() -> None:
    profile = {
        "component": "the Celery worker (its main process and children)",
        "samples": 1234,
        "sizes": "a pass of events=300",
        "top": [
            {"function": "Session.get (sqlalchemy/orm/session.py)", "own": 0.291, "total": 0.4},
            {"function": "flush (sqlalchemy/orm/session.py)", "own": 0.05, "total": 0.30},
        ],
    }
    document = _document(
        [SHARE_MISSED, LATENCY_MET, NO_TARGET, RATE_MISSED, TIME_MISSED, LATENCY_MISSED],
        {"processing": profile, "intake": {"component": "the receiver", "error": "py-spy died"}},
    )
    text = docs_table.render(document, "bench/results/published/bench-20261202T023000Z.json")
    lines = text.splitlines()
    assert lines[0] == docs_table.BEGIN.format(
        path="bench/results/published/bench-20261202T023000Z.json"
    )
    assert lines[-1] == docs_table.END
    assert (
        "Run of `python -m bench` on 2026-12-02 02:30 UTC: 2 cores (AMD EPYC), 23.0 GiB of memory,"
        " Python 3.11.7; load average (1 min) 0.40 before, 1.90 after." in lines
    )
    header = next(line for line in lines if line.startswith("| benchmark"))
    assert [cell.strip() for cell in header.strip("|").split("|")] == [
        "benchmark", "figure", "value", "floor", "ratio", "target", "met / missed by",
    ]  # fmt: skip
    row = next(line for line in lines if "events/s, mix with Stripe calls" in line)
    assert [cell.strip() for cell in row.strip("|").split("|")] == [
        "processing", "events/s, mix with Stripe calls", "113 ev/s", "397 ev/s (no handler)",
        "0.28", "≥ 300 ev/s", "missed by 62 %",
    ]  # fmt: skip
    misses = lines[lines.index("Targets missed, with where the time went "
                               "(py-spy, top functions by own CPU):"):]  # fmt: skip
    assert (
        "- **processing, events/s, mix with Stripe calls**: 113 ev/s against ≥ 300 ev/s "
        "(floor 397 ev/s, no handler): missed by 62 %." in misses
    )
    assert (
        "  Profile of the Celery worker (its main process and children), 1,234 samples"
        " (a pass of events=300):" in misses
    )
    assert "  29.1%  40.0%  Session.get (sqlalchemy/orm/session.py)" in misses
    # Both of intake's misses, then its profile once.
    intake = [line for line in misses if "intake" in line or "the receiver" in line]
    assert intake == [
        "- **intake, events/s at saturation**: 791 ev/s against ≥ 50 % of floor "
        "(floor 3,528 ev/s, bare route): missed by 55 %.",
        "- **intake, p99 ack at 500/s**: 31.4 ms against ≤ 25 ms (floor 2.51 ms, bare route): "
        "missed by 26 %.",
        "  No profile of the receiver: py-spy died",
    ]
    assert "  No profile recorded (`--profile-misses` was off)." in misses  # replay had none
    assert not any("20.4 ms" in line for line in misses)  # the met p99: no entry
    meant = lines[lines.index("What that run means for you:") : lines.index(header)]
    assert (
        "- The receiver on PostgreSQL and Redis (`serve --workers 2`) takes 791 events/s on 2"
        " cores; past that, answers queue." in meant
    )
    assert (
        "- Two Celery processes finish 113 events/s of events that call Stripe (suspensions,"
        " portal downgrades)." in meant
    )
    assert not any("p99" in line or "99 %" in line for line in meant)  # not measured at 100/s


def test_publishing_a_run_rewrites_only_what_lies_between_the_markers(tmp_path: Path) -> None:
    results = tmp_path / "bench-20261202T023000Z.json"
    results.write_text(json.dumps(_document([RATE_MISSED, RATE_MET], {})))
    page = tmp_path / "performance.md"
    before, after = "# Title\n\n## Performance\n\nBefore.\n\n", "\n\nAfter.\n"
    page.write_text(
        before + docs_table.BEGIN.format(path="old.json") + "\nold table\n" + docs_table.END
        + after
    )  # fmt: skip
    kept = docs_table.publish(results, page, tmp_path / "published")
    assert kept == tmp_path / "published" / results.name
    text = page.read_text()
    assert text.startswith(before) and text.endswith(after)
    path, block = docs_table.cited(text) or ("", "")
    assert block == docs_table.render(json.loads(kept.read_text()), path)
    assert "old table" not in text
