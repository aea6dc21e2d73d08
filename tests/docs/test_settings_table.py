"""The configuration page lists every setting as worker/config.py defines it."""

from __future__ import annotations

from settings_table import PAGE, cited, render

from worker.config import Settings


def test_the_configuration_page_is_the_render_of_the_settings_class() -> None:
    assert cited(PAGE.read_text()) == render(), "run: python tests/docs/settings_table.py"


def test_every_setting_has_a_row() -> None:
    table = render()
    for name in Settings.model_fields:
        assert f"| `{name.upper()}` |" in table
