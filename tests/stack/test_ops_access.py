"""Who gets into the ops console and API of a real receiver (`billing-worker serve`, two gunicorn
workers) on PostgreSQL: a console cookie kept from before logout is refused on every fresh
connection, whichever worker takes it, and a session outlives a restart; wrong bearer tokens
from one address are made to wait across both workers while another address still gets in."""

from __future__ import annotations

import http.client
from collections.abc import Callable
from dataclasses import dataclass

import pytest
import requests
from console_support import CONSOLE, OPS_TOKEN, csrf_token
from harness.processes import ProcessGroup
from harness.servers import free_port

from webhooks.auth_throttle import FREE_FAILURES

pytestmark = pytest.mark.services
PAGES = ("/events", "/failed", "/refunds", "/customers")
FRESH_CONNECTIONS = 6  # per check: the kernel hands each to either worker


@dataclass
class Receiver:
    port: int

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def sign_in(self, name: str) -> requests.Session:
        browser = requests.Session()
        form = browser.get(self.url(f"{CONSOLE}/login"), timeout=10)
        data = {"csrf_token": csrf_token(form.text), "name": name, "token": OPS_TOKEN}
        signed_in = browser.post(
            self.url(f"{CONSOLE}/login"), data=data, allow_redirects=False, timeout=10
        )
        assert signed_in.status_code == 303, signed_in.text
        return browser

    def with_cookie(self, cookie: str, path: str, data: dict[str, str] | None = None) -> int:
        """A request on a fresh connection presenting a copy of the console cookie."""
        answer = requests.request(
            "POST" if data is not None else "GET",
            self.url(f"{CONSOLE}{path}"),
            cookies={"ops_console": cookie},
            data=data,
            allow_redirects=False,
            timeout=10,
        )
        return answer.status_code

    def ops_api(self, token: str, *, source: str) -> http.client.HTTPResponse:
        """GET /ops/events with a bearer token, from the loopback address `source`."""
        connection = http.client.HTTPConnection(
            "127.0.0.1", self.port, timeout=10, source_address=(source, 0)
        )
        connection.request("GET", "/ops/events", headers={"Authorization": f"Bearer {token}"})
        answer = connection.getresponse()
        answer.read()
        connection.close()
        return answer


def test_a_logout_ends_every_copy_of_the_cookie_and_wrong_tokens_wait_across_workers(
    pg_url: str, service_env: Callable[..., dict[str, str]], processes: ProcessGroup
) -> None:
    port = free_port()
    env = service_env(DATABASE_URL=pg_url, OPS_API_TOKEN=OPS_TOKEN, PORT=str(port))
    receiver = processes.receiver(env, workers=2)
    on = Receiver(port)
    ana, bo = on.sign_in("Ana"), on.sign_in("Bo")
    ana_cookie, bo_cookie = ana.cookies["ops_console"], bo.cookies["ops_console"]
    ana_csrf = csrf_token(ana.get(on.url(f"{CONSOLE}/events"), timeout=10).text)
    for _ in range(FRESH_CONNECTIONS):
        for page in PAGES:
            assert on.with_cookie(ana_cookie, page) == 200, page

    logged_out = ana.post(
        on.url(f"{CONSOLE}/logout"), data={"csrf_token": ana_csrf}, allow_redirects=False
    )
    assert logged_out.status_code == 303
    for _ in range(FRESH_CONNECTIONS):
        for page in PAGES:
            assert on.with_cookie(ana_cookie, page) == 302, page
        replay = {"csrf_token": ana_csrf, "scope": "failed"}
        assert on.with_cookie(ana_cookie, "/replay", data=replay) == 403

    processes.stop(receiver)
    processes.receiver(env, workers=2)
    assert on.with_cookie(bo_cookie, "/events") == 200  # the session outlived the restart
    assert on.with_cookie(ana_cookie, "/events") == 302

    statuses = [on.ops_api(f"guess-{n}", source="127.0.0.1").status for n in range(50)]
    assert statuses[:FREE_FAILURES] == [401] * FREE_FAILURES, statuses
    assert statuses.count(429) >= 50 - FREE_FAILURES - 3, statuses
    assert on.ops_api(OPS_TOKEN, source="127.0.0.2").status == 200
    waiting = on.ops_api(OPS_TOKEN, source="127.0.0.1")
    assert waiting.status == 429
    assert int(waiting.headers["Retry-After"]) >= 1
