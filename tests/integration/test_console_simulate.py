"""The console's policy what-if page (`/ops/console/simulate`): a proposed policy pasted,
uploaded or chosen among the built-in ones, tried on the stored history of
tests/simulation_world.py, shows the same answer as `billing-worker policy simulate`."""

from __future__ import annotations

import io
import re

import pytest
from billing_world import BillingWorld
from console_support import CONSOLE, OPS_TOKEN, ConsoleClient
from simulation_world import (
    ELEVEN_TWELFTHS,
    FRAUD_NO_LONGER_SUSPENDS,
    THIRTY_DAY_WINDOW,
    History,
    mittrik_history,
    proposed_file,
)
from stripe_double import StripeDouble

from webhooks import create_app
from worker.commands.policy_simulation import Simulation
from worker.policy import format_money, load_policy


@pytest.fixture
def signed_in(make_settings, sqlite_url: str, double: StripeDouble):
    settings = make_settings(
        database_url=sqlite_url,
        stripe_api_base=double.url,
        billing_policy="mittrik",
        ops_api_token=OPS_TOKEN,
    )
    history = mittrik_history(BillingWorld.create(settings, double.url), double)
    console = ConsoleClient(create_app(settings))
    console.sign_in()
    return history, console


def _rows(html: str, attribute: str) -> list[str]:
    return re.findall(rf'<tr {attribute}="([^"]+)"', html)


def _count(html: str, name: str) -> int:
    match = re.search(rf'<b data-count="{name}">(\d+)</b>', html)
    assert match, f"no {name} count on the page"
    return int(match.group(1))


def test_a_pasted_30_day_window_lists_the_two_requests_it_flips_and_the_totals(
    signed_in: tuple[History, ConsoleClient], tmp_path
) -> None:
    h, console = signed_in
    text = proposed_file(tmp_path, "mittrik", THIRTY_DAY_WINDOW).read_text()

    page = console.submit("/simulate", {"policy_text": text})

    assert page.status_code == 200
    assert _rows(page.text, "data-request") == [h.requests["A-20"], h.requests["A-15"]]
    assert (_count(page.text, "decided"), _count(page.text, "changed")) == (6, 2)
    totals = re.search(r'<tr data-currency="usd">(.*?)</tr>', page.text, re.S)
    assert totals is not None
    cells = re.findall(r'<td class="num">([^<]+)</td>', totals.group(1))
    before, after = ELEVEN_TWELFTHS, 3 * ELEVEN_TWELFTHS
    assert cells[:3] == [format_money(n, "usd") for n in (before, after, after - before)]


def test_an_uploaded_file_finds_the_account_held_for_fraud_and_matches_the_cli_functions(
    signed_in: tuple[History, ConsoleClient], tmp_path
) -> None:
    h, console = signed_in
    path = proposed_file(tmp_path, "mittrik", FRAUD_NO_LONGER_SUSPENDS)
    form = console.get("/simulate")
    assert form.status_code == 200 and 'enctype="multipart/form-data"' in form.text

    page = console.client.post(
        f"{CONSOLE}/simulate",
        data={
            "csrf_token": re.search(r'name="csrf_token" value="([^"]+)"', form.text).group(1),
            "policy_file": (io.BytesIO(path.read_bytes()), "no-fraud.toml"),
        },
        content_type="multipart/form-data",
    )

    assert page.status_code == 200, page.text
    assert _rows(page.text, "data-customer") == ["cus_sim"]
    assert (_count(page.text, "accounts"), _count(page.text, "accounts-changed")) == (3, 1)
    # The page and the CLI run the same functions on the same history.
    current, proposed = load_policy("mittrik"), load_policy(path)
    sessions = h.world.runtime.sessions
    simulation = Simulation(sessions, current, proposed)
    assert [a.customer for a in simulation.accounts() if a.changed] == ["cus_sim"]
    assert not any(r.changed for r in simulation.requests())


def test_a_built_in_policy_is_chosen_by_name_and_never_a_server_path(
    signed_in: tuple[History, ConsoleClient],
) -> None:
    _, console = signed_in
    dmly = console.submit("/simulate", {"builtin": "dmly"})
    assert dmly.status_code == 200 and "DMLY Billing Policy" in dmly.text

    for path in ("/etc/passwd", "worker/policy/policies/dmly.toml"):
        refused = console.submit("/simulate", {"builtin": path})
        assert refused.status_code == 400
        assert "give the proposed policy" in refused.text
        assert "root:" not in refused.text


def test_an_invalid_policy_or_period_is_shown_above_the_form_with_400(
    signed_in: tuple[History, ConsoleClient], tmp_path
) -> None:
    _, console = signed_in
    broken = proposed_file(
        tmp_path, "mittrik", ("annual_window_hours = 336", "annual_window_hours = -1")
    )

    page = console.submit("/simulate", {"policy_text": broken.read_text()})
    assert page.status_code == 400
    assert "pasted policy: annual_window_hours: must be a non-negative whole number" in page.text
    assert "not valid TOML" in console.submit("/simulate", {"policy_text": "= ="}).text

    bad_period = console.submit("/simulate", {"builtin": "dmly", "since": "1h", "until": "2h"})
    assert bad_period.status_code == 400 and "since must be before until" in bad_period.text
    too_far = console.submit("/simulate", {"builtin": "dmly", "since": "99999999d"})
    assert too_far.status_code == 400 and "a duration ago is at most 36500d" in too_far.text


@pytest.mark.parametrize("levels", [33, 5000])
def test_a_policy_nested_past_32_levels_is_refused_with_400_saying_so(
    signed_in: tuple[History, ConsoleClient], levels: int
) -> None:
    _, console = signed_in
    nested = "[" * (levels - 1) + "]" * (levels - 1)  # in the document's table: level 1
    pasted = console.submit("/simulate", {"policy_text": f"rules = {nested}"})
    upload = (io.BytesIO(f"rules = {nested}".encode()), "deep.toml")
    uploaded = console.submit("/simulate", {"policy_file": upload})

    assert pasted.status_code == uploaded.status_code == 400
    assert "pasted policy: nested deeper than 32 levels, the most accepted" in pasted.text
    assert "uploaded deep.toml: nested deeper than 32 levels, the most accepted" in uploaded.text


def test_the_page_needs_a_session_and_its_form_a_csrf_token(
    signed_in: tuple[History, ConsoleClient],
) -> None:
    _, console = signed_in
    without_token = console.client.post(f"{CONSOLE}/simulate", data={"builtin": "dmly"})
    assert without_token.status_code == 403
    console.submit("/logout")
    assert console.get("/simulate").status_code == 302
    signed_out = console.client.post(f"{CONSOLE}/simulate", data={"builtin": "dmly"})
    assert signed_out.status_code == 403
