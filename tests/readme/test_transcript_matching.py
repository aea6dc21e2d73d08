"""How a transcript of a page is compared with a run: what may vary, and what must not."""

from __future__ import annotations

from pathlib import Path

from transcripts import Values, transcripts

README_TEXT = """# x

## Walk

```
$ tool request --invoice A1B2-0006
rr_0123abcd refunded on in_test01 (paid 2026-11-25)
$ tool approve rr_0123abcd \\
    --by sam
rr_0123abcd approved
```

```
not a transcript
```

## Next
"""


def test_commands_and_outputs_are_read_from_the_section(tmp_path: Path) -> None:
    readme = tmp_path / "README.md"
    readme.write_text(README_TEXT)
    steps = transcripts(readme, "Walk")
    assert [s.command for s in steps] == [
        "tool request --invoice A1B2-0006",
        "tool approve rr_0123abcd \\\n    --by sam",
    ]
    assert steps[1].expected == ["rr_0123abcd approved"]


def test_ids_and_dates_may_differ_and_later_commands_use_this_runs_ids() -> None:
    values = Values()
    expected = ["rr_0123abcd refunded on in_test01 (paid 2026-11-25)"]
    assert values.match(expected, "rr_ffff refunded on in_demo_9 (paid 2026-12-01)\n") is None
    assert values.command("tool approve rr_0123abcd") == "tool approve rr_ffff"
    # The same id printed again must be this run's same id.
    assert values.match(["rr_0123abcd approved"], "rr_ffff approved\n") is None
    assert values.match(["rr_0123abcd approved"], "rr_other approved\n") is not None


def test_words_amounts_and_names_must_be_as_printed() -> None:
    values = Values()
    assert values.match(["approve 110000 usd cus_ana"], "approve 110000 usd cus_ana\n") is None
    assert values.match(["approve 110000 usd cus_ana"], "approve 120000 usd cus_ana\n")
    assert values.match(["approve 110000 usd cus_ana"], "approve 110000 usd cus_bob\n")
    assert values.match(["one line"], "one line\nand another\n")


def test_an_ellipsis_line_stands_for_any_lines_and_log_lines_are_not_output() -> None:
    values = Values()
    expected = ["[", "  {", "    ...", "  }", "]"]
    printed = '[\n  {\n    "a": 1,\n    "b": 2\n  }\n]\n'
    log = '{"event": "Request to Stripe", "level": "info", "logger": "stripe"}\n'
    assert values.match(expected, log + printed) is None
    assert values.match(expected, printed.replace("]", "")) is not None


def test_a_reconcile_run_id_may_differ() -> None:
    values = Values()
    expected = ["1 customer(s) checked, 2 difference(s) found (run 20261206T071108-3c53a25e)"]
    printed = "1 customer(s) checked, 2 difference(s) found (run 20261207T101010-0a1b2c3d)\n"
    assert values.match(expected, printed) is None
    assert values.match(expected, printed.replace("2 difference", "3 difference")) is not None
