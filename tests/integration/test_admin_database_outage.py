"""The admin APIs while PostgreSQL cannot be reached (a TCP proxy that drops every connection) or
does not answer (one that accepts and holds every byte): a JSON 503 `database_unavailable` with
`Retry-After`, as the proxy path's, never aiohttp's plain-text 500 or its empty 504."""

# ruff: noqa: F811  (the proxy fixture is test_database_outage's)

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable

import httpx2 as httpx
import pytest

from tests.conftest import RunningGateway
from tests.fakes.tcp_proxy import TcpProxy
from tests.integration.test_database_outage import proxy, through  # noqa: F401  (the proxy fixture)

TIMEOUTS = {"database_connect": 1.0, "database_statement": 1.0}  # the defaults are 10 s and 60 s
PROMPT_S = 6.0  # within the bounds above, with room for a loaded machine
GATEWAY = "/api/v1/accounts/local/gateways/default"
CLOUDFLARE = "/client/v4/accounts/local/ai-gateway/gateways/default"


@pytest.fixture
def gateway(
    make_gateway: Callable[..., RunningGateway], postgres_url: str, proxy: TcpProxy
) -> RunningGateway:
    return make_gateway(database_url=through(postgres_url, proxy), timeouts=TIMEOUTS)


def assert_unavailable(answer: httpx.Response) -> None:
    assert answer.status_code == 503, (answer.status_code, answer.headers, answer.text)
    assert answer.headers["content-type"].startswith("application/json")
    assert answer.headers["Retry-After"] == "1"


@pytest.mark.parametrize("outage", ["cut", "stalled"])
def test_admin_writes_and_log_reads_answer_a_json_503_while_the_database_is_down(
    gateway: RunningGateway, proxy: TcpProxy, outage: str
) -> None:
    assert gateway.http.get(GATEWAY).status_code == 200  # the admin token, known from the start
    calls = [
        ("PATCH", GATEWAY, {"settings": {"cache_enabled": True}}),
        ("POST", "/api/v1/accounts/local/tokens", {"name": "ops", "scopes": ["run"]}),
        ("GET", GATEWAY + "/logs", None),
    ]
    outages: dict[str, Callable[[], contextlib.AbstractContextManager[None]]] = {
        "cut": proxy.cut,
        "stalled": proxy.stalled,
    }
    with outages[outage]():
        for method, path, body in calls:
            started = time.monotonic()
            answer = gateway.http.request(method, path, json=body, timeout=30)
            assert_unavailable(answer)
            assert answer.json()["error"]["code"] == "database_unavailable", (method, path)
            assert time.monotonic() - started < PROMPT_S, (method, path)
        cloudflare = gateway.http.get(CLOUDFLARE + "/logs", timeout=30)  # Cloudflare's error shape
        assert_unavailable(cloudflare)
        assert cloudflare.json()["success"] is False
    assert gateway.http.request(*calls[0][:2], json=calls[0][2]).status_code == 200  # back again
