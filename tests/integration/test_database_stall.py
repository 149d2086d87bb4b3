"""PostgreSQL that stops answering without refusing (a frozen primary, a partition): a TCP proxy that
accepts and holds every byte. What the replica has not seen yet is a prompt 503, the status answers,
the log writer says it is failing within its bound, and once the stall ends nothing is lost."""

# ruff: noqa: F811  (the proxy fixture is test_database_outage's)

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import openai
import pytest
from openai import OpenAI

from tests.conftest import RunningGateway
from tests.fakes.openai_server import FakeOpenAI
from tests.fakes.tcp_proxy import TcpProxy
from tests.integration.test_database_outage import proxy, through, wait_stored  # noqa: F401  (proxy: the fixture)

READ_S = 0.5  # timeouts.database_read (and database_write) here: the default is 5 s
TIMEOUTS = {
    "database_read": READ_S,
    "database_write": READ_S,
    "database_statement": 2.0,
    "database_connect": 1.0,
}
PROMPT_S = READ_S + 1.5  # an answer within the bound, with room for a loaded machine
CLIENT_S = 15.0  # what a client waits before it gives up (the old code never answered)
USER = [{"role": "user", "content": "hello there world"}]
LOG_ID = "cf-aig-log-id"


@pytest.fixture
def stalling(
    make_gateway: Callable[..., RunningGateway], postgres_url: str, proxy: TcpProxy, fake: FakeOpenAI
) -> RunningGateway:
    """A fresh gateway on PostgreSQL through the proxy, with the test's short bounds."""
    return make_gateway(
        database_url=through(postgres_url, proxy), upstreams={"openai": fake.base_url}, timeouts=TIMEOUTS
    )


def ask(gateway: RunningGateway) -> tuple[int, str, str]:
    """One chat completion through the official SDK: (status, error code or "", log id)."""
    with OpenAI(
        base_url=gateway.provider_url("openai"), api_key="sk-test", max_retries=0, timeout=CLIENT_S
    ) as client:
        try:
            raw = client.chat.completions.with_raw_response.create(model="gpt-4o-mini", messages=USER)
        except openai.APIStatusError as exc:
            return exc.status_code, str(exc.code or ""), exc.response.headers.get(LOG_ID, "")
        assert raw.parse().choices[0].message.content == "echo: hello there world"
        return raw.status_code, "", raw.headers[LOG_ID]


def status(gateway: RunningGateway, secret: str) -> httpx.Response:
    return gateway.http.get("/api/v1/status", headers={"Authorization": f"Bearer {secret}"}, timeout=CLIENT_S)


def test_first_requests_during_a_stall_get_a_prompt_503_and_succeed_after_it_losing_no_record(
    stalling: RunningGateway, proxy: TcpProxy, postgres_url: str
) -> None:
    with proxy.stalled():  # nothing proxied yet: the gateway `default` is not known to this replica
        started = time.monotonic()
        with ThreadPoolExecutor(3) as pool:  # concurrent waiters for the same gateway
            answers = list(pool.map(lambda _: ask(stalling), range(3)))
        waited = time.monotonic() - started
        assert [(code, error) for code, error, _ in answers] == [(503, "database_unavailable")] * 3
        assert waited < PROMPT_S, f"the 503s took {waited:.2f} s"
        again = ask(stalling)  # a load that timed out left nothing behind: a new one, bounded again
        assert again[:2] == (503, "database_unavailable")
    answered = ask(stalling)  # the stall is over: the gateway is read, and the request answered
    assert answered[:2] == (200, "")
    ids = [log_id for _, _, log_id in [*answers, again, answered]]
    assert all(ids)
    assert len(set(ids)) == 5
    stored = wait_stored(postgres_url, 5)
    assert sorted(log_id for log_id in stored if log_id in ids) == sorted(ids)  # each once, none lost


def test_status_answers_during_a_stall(
    stalling: RunningGateway,
    make_gateway: Callable[..., RunningGateway],
    postgres_url: str,
    proxy: TcpProxy,
    tmp_path: Path,
) -> None:
    other = make_gateway(database_url=postgres_url, data_dir=tmp_path / "other")  # another replica
    created = other.http.post("/api/v1/accounts/local/tokens", json={"name": "ops", "scopes": ["read"]})
    assert created.status_code == 201, created.text
    unseen = created.json()["token"]  # a token the stalling replica has never been shown
    admin = stalling.settings.admin_token  # nor has it been sent this one: it knows it from its start
    with proxy.stalled():
        assert ask(stalling)[:2] == (503, "database_unavailable")  # its record waits in the spool
        started = time.monotonic()
        answer = status(stalling, admin)
        assert answer.status_code == 200, answer.text
        assert time.monotonic() - started < PROMPT_S
        while (spool := status(stalling, admin).json()["log_spool"])["failing_since"] is None:
            assert time.monotonic() - started < READ_S + 5.0, "the log writer never noticed the stall"
        assert spool["behind"] is True
        assert spool["backlog_records"] >= 1
        started = time.monotonic()
        refused = status(stalling, unseen)  # it cannot tell whether the token is valid: 503, promptly
        assert (refused.status_code, refused.json()["error"]["code"]) == (503, "database_unavailable")
        assert time.monotonic() - started < PROMPT_S
    assert status(stalling, unseen).status_code == 200
    deadline = time.monotonic() + 10.0
    while (spool := status(stalling, admin).json()["log_spool"])["backlog_records"]:
        assert time.monotonic() < deadline, spool
    assert spool["failing_since"] is None
