"""Budgets hold across restarts of the embedded gateway: each count is journaled before its answer
ends, the in-process counters are copied to `counters.db` in the data directory behind the request
path, and a new gateway on the same data directory reads them back — after a clean stop or a kill.
"""

from __future__ import annotations

import signal
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx2 as httpx
import pytest

from tests.conftest import ADMIN_TOKEN, FakeClock, RunningGateway
from tests.fakes.openai_server import FakeOpenAI
from tests.integration.test_budgets import answer_cost
from tests.integration.test_shutdown import ServerProcess, start_gateway

CHAT = "/v1/local/default/openai/chat/completions"
BODY = {
    "model": "gpt-4o-mini",
    "messages": [{"role": "user", "content": "alpha beta gamma"}],
    "max_tokens": 4,
}


def set_rules(http: httpx.Client, *rules: dict[str, Any]) -> None:
    response = http.patch(
        "/api/v1/accounts/local/gateways/default", json={"settings": {"rate_limits": list(rules)}}
    )
    assert response.status_code == 200, response.text


def ask(url: str) -> httpx.Response:
    return httpx.post(url + CHAT, json=BODY, timeout=10)


@pytest.mark.parametrize(
    "rule",
    [
        {"name": "budget", "limit": 0.00001, "period": 86400, "unit": "cost"},
        {"name": "tokens", "limit": 30, "period": 3600, "unit": "tokens", "technique": "sliding"},
        {"name": "requests", "limit": 2, "period": 600},
    ],
    ids=["cost-fixed", "tokens-sliding", "requests-fixed"],
)
def test_a_spent_budget_still_refuses_after_a_restart(
    make_gateway: Callable[..., RunningGateway],
    fake: FakeOpenAI,
    clock: FakeClock,
    tmp_path: Path,
    rule: dict[str, Any],
) -> None:
    data = tmp_path / "data"
    first = make_gateway(clock=clock, data_dir=data, upstreams={"openai": fake.base_url})
    set_rules(first.http, rule)
    answers = [ask(first.url).status_code for _ in range(4)]
    assert answers[0] == 200
    assert answers[-1] == 429  # spent
    first.server.stop()  # a clean stop

    second = make_gateway(clock=clock, data_dir=data, upstreams={"openai": fake.base_url})
    refused = ask(second.url)
    assert refused.status_code == 429, refused.text
    assert refused.headers["x-ratelimit-rule"] == rule["name"]
    assert refused.json()["error"]["rule"]["name"] == rule["name"]
    assert len(fake.requests) == answers.count(200)


def counted(data: Path) -> float:
    """What the copy in counters.db has counted in the fixed windows so far."""
    path = data / "counters.db"
    if not path.exists():
        return 0
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as connection:
        try:
            return float(connection.execute("SELECT coalesce(sum(used), 0) FROM fixed_windows").fetchone()[0])
        except sqlite3.OperationalError:  # not created yet
            return 0


def start_server(
    tmp_path: Path, data: Path, fake: FakeOpenAI, name: str, counters_interval: str = "0.2"
) -> ServerProcess:
    settings = {
        "SLUICEGATE_UPSTREAM_OPENAI": fake.base_url,
        "SLUICEGATE_COUNTERS_FLUSH_INTERVAL": counters_interval,
    }
    return start_gateway(tmp_path, data, settings, name)


def test_a_killed_gateway_loses_at_most_the_last_flush_interval(tmp_path: Path, fake: FakeOpenAI) -> None:
    data = tmp_path / "data"
    first = start_server(tmp_path, data, fake, "first")
    try:
        with httpx.Client(base_url=first.url, headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}) as admin:
            set_rules(admin, {"name": "requests", "limit": 2, "period": 3600})
        assert [ask(first.url).status_code for _ in range(3)] == [200, 200, 429]
        deadline = time.monotonic() + 10
        # The copy follows 0.2 s behind, and may hold the first request before the second.
        while counted(data) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert counted(data) == 2, first.diagnostics()
    finally:
        first.process.send_signal(signal.SIGKILL)
        first.process.wait()
    second = start_server(tmp_path, data, fake, "second")
    try:
        refused = ask(second.url)
        assert refused.status_code == 429, refused.text
        assert refused.headers["x-ratelimit-rule"] == "requests"
    finally:
        second.process.terminate()
        assert second.process.wait(timeout=30) == 0, second.diagnostics()


def test_a_gateway_killed_right_after_its_last_answer_keeps_the_whole_spend(
    tmp_path: Path, fake: FakeOpenAI
) -> None:
    """No copy to counters.db happens before the kill (a one-hour interval): the spend survives in
    the charge journal alone, and the restarted gateway counts it exactly once."""
    data = tmp_path / "data"
    budget = {"name": "budget", "limit": 0.00001, "period": 86400, "unit": "cost"}
    first = start_server(tmp_path, data, fake, "first", counters_interval="3600")
    try:
        with httpx.Client(base_url=first.url, headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}) as admin:
            set_rules(admin, budget)
        answers = []
        while not answers or answers[-1] == 200:
            answers.append(ask(first.url).status_code)
            assert len(answers) <= 10, "the budget never refused"
        first.process.send_signal(signal.SIGKILL)  # right after the refusal: no copy was due
        first.process.wait()
    finally:
        if first.process.poll() is None:
            first.process.kill()
            first.process.wait()
    assert counted(data) == 0  # nothing reached counters.db before the kill
    served = answers.count(200)
    assert served >= 2

    second = start_server(tmp_path, data, fake, "second")
    try:
        refused = ask(second.url)
        assert refused.status_code == 429, refused.text
        assert refused.headers["x-ratelimit-rule"] == "budget"
        spent = served * answer_cost(output_tokens=4, input_tokens=9)  # BODY: 3 words in, 4 out
        with httpx.Client(base_url=second.url, headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}) as admin:
            deadline = time.monotonic() + 10
            report = admin.get("/api/v1/accounts/local/spend").json()
            while report["totals"]["cost_usd"] < spent * (1 - 1e-9) and time.monotonic() < deadline:
                time.sleep(0.05)  # the killed gateway's log spool is being stored
                report = admin.get("/api/v1/accounts/local/spend").json()
        assert report["totals"]["cost_usd"] == pytest.approx(spent, rel=1e-9), report["totals"]
        [counted_budget] = report["budgets"]
        # The counters hold each answer's cost once: no answer lost, none replayed twice.
        assert counted_budget["used"] == pytest.approx(spent, rel=1e-9)
    finally:
        second.process.terminate()
        assert second.process.wait(timeout=30) == 0, second.diagnostics()
    assert len(fake.requests) == served


REQS = {"name": "reqs", "limit": 5, "period": 3600}


def budget_used(server: ServerProcess) -> float:
    """The `reqs` budget's `used` in the spend report of this gateway process."""
    with httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}) as admin:
        report = admin.get("/api/v1/accounts/local/spend")
    assert report.status_code == 200, report.text
    [budget] = report.json()["budgets"]
    return float(budget["used"])


def stop(*servers: ServerProcess) -> None:
    """A clean stop (SIGTERM) of each, which must exit 0; killed if it never does."""
    for server in servers:
        if server.process.poll() is None:
            server.process.terminate()
    for server in servers:
        try:
            assert server.process.wait(timeout=30) == 0, server.diagnostics()
        finally:
            if server.process.poll() is None:
                server.process.kill()
                server.process.wait()


def two_gateways_admit(
    tmp_path: Path, data: Path, fake: FakeOpenAI, counters_interval: str
) -> tuple[ServerProcess, ServerProcess]:
    """Two gateway processes on one data directory (as `serve --workers 2` runs its workers), each
    admitting requests of its own under `REQS` (3 and 2): while running, each counts on its own."""
    first = start_server(tmp_path, data, fake, "first", counters_interval)
    second: ServerProcess | None = None
    try:
        with httpx.Client(base_url=first.url, headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}) as admin:
            set_rules(admin, REQS)
        second = start_server(tmp_path, data, fake, "second", counters_interval)  # reads the rule anew
        assert [ask(first.url).status_code for _ in range(3)] == [200] * 3
        assert [ask(second.url).status_code for _ in range(2)] == [200] * 2
        assert (budget_used(first), budget_used(second)) == (3, 2)
    except BaseException:
        stop(first, *([second] if second is not None else []))
        raise
    return first, second


def test_gateways_sharing_a_data_directory_keep_both_counts_over_clean_restarts(
    tmp_path: Path, fake: FakeOpenAI
) -> None:
    data = tmp_path / "data"
    first, second = two_gateways_admit(tmp_path, data, fake, counters_interval="0.2")
    try:
        deadline = time.monotonic() + 10
        while counted(data) < 5 and time.monotonic() < deadline:  # both copies, 0.2 s behind
            time.sleep(0.05)
        assert counted(data) == 5  # the file holds both processes' counts, not the last copy's
        stop(first)
        restarted = start_server(tmp_path, data, fake, "restarted")  # beside `second`, running
    except BaseException:
        stop(first, second)
        raise
    try:
        assert budget_used(restarted) == 5
        refused = ask(restarted.url)
        assert refused.status_code == 429, refused.text
        assert refused.headers["x-ratelimit-rule"] == "reqs"
    finally:
        stop(restarted, second)
    last = start_server(tmp_path, data, fake, "last")
    try:
        assert budget_used(last) == 5  # what `restarted` took over from `first` is not counted twice
        assert ask(last.url).status_code == 429
    finally:
        stop(last)
    assert len(fake.requests) == 5


def test_gateways_sharing_a_data_directory_killed_keep_both_counts(tmp_path: Path, fake: FakeOpenAI) -> None:
    """No copy to counters.db before the kills (a one-hour interval): both counts are in the two
    charge journals alone, and each is counted once by the gateways started after them."""
    data = tmp_path / "data"
    first, second = two_gateways_admit(tmp_path, data, fake, counters_interval="3600")
    for server in (first, second):
        server.process.send_signal(signal.SIGKILL)
        server.process.wait()
    assert counted(data) == 0
    adopting = start_server(tmp_path, data, fake, "adopting")
    try:
        beside = start_server(tmp_path, data, fake, "beside")  # started after it took them over
    except BaseException:
        stop(adopting)
        raise
    try:
        assert (budget_used(adopting), budget_used(beside)) == (5, 5)
        assert [ask(server.url).status_code for server in (adopting, beside)] == [429, 429]
    finally:
        stop(adopting, beside)
    last = start_server(tmp_path, data, fake, "last")
    try:
        assert budget_used(last) == 5
    finally:
        stop(last)
    assert len(fake.requests) == 5
