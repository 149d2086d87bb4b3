"""Origin latency counts only the requests an upstream answered: not the gateway's own answers (a
401 for a missing token, a 404 for an unknown provider, a guardrail's 400, a 504 for an upstream
that did not answer in time), which take a millisecond and pulled the percentiles down. Each
record says whether an upstream answered (`upstream_status`); the roll-ups and the records read
at a range's ragged ends agree. Both backends, through a gateway on loopback."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import openai
import pytest
from openai import OpenAI

from tests.conftest import RunningGateway, both_backends
from tests.fakes.openai_server import FakeOpenAI

backend = both_backends
MODEL = "claude-sonnet-4-6"
API = "/api/v1/accounts/local"
SLOW_MS = 80  # the fake upstream's answers take at least this long; the gateway's own, ~1 ms


@pytest.fixture
def gw(make_gateway: Callable[..., RunningGateway], fake: FakeOpenAI) -> RunningGateway:
    running = make_gateway(upstreams={"openai": fake.base_url})
    block = {"custom": [{"name": "project", "words": ["Falcon"], "action": "block"}]}
    running.configure(guardrails=block)
    assert running.http.post(f"{API}/gateways", json={"name": "locked"}).status_code == 201
    running.configure(gateway="locked", authentication=True)
    return running


def client(gw: RunningGateway, gateway: str = "default", provider: str = "openai") -> OpenAI:
    return OpenAI(base_url=gw.provider_url(provider, gateway), api_key="sk-test", max_retries=0)


def ask(sdk: OpenAI, behavior: str, text: str = "how long does this take?", **headers: str) -> None:
    sdk.chat.completions.create(
        model=MODEL,
        messages=[{"role": "user", "content": text}],
        extra_headers={"x-fake-behavior": behavior, **headers},
    )


def test_only_requests_an_upstream_answered_count_in_origin_latency(gw: RunningGateway) -> None:
    with client(gw) as sdk:
        ask(sdk, f"slow-{SLOW_MS}")  # answered: 200
        with pytest.raises(openai.InternalServerError):
            ask(sdk, f"slow-{SLOW_MS},error-500")  # answered too: the upstream's own 500
        with pytest.raises(openai.BadRequestError):
            ask(sdk, "", text="tell me about project Falcon")  # the guardrail's 400
        with pytest.raises(openai.APIStatusError) as timed_out:  # no answer within 30 ms: the gateway's 504
            ask(sdk, "slow-3000", **{"cf-aig-request-timeout": "30"})
        assert timed_out.value.status_code == 504
    with client(gw, provider="nosuch") as sdk, pytest.raises(openai.NotFoundError):
        ask(sdk, "")  # an unknown provider: 404
    with client(gw, gateway="locked") as sdk, pytest.raises(openai.AuthenticationError):
        ask(sdk, "")  # no gateway token: 401
    records = gw.wait_for_logs(5) + gw.wait_for_logs(1, gateway="locked")
    assert len(records) == 6

    by_status = {record["status"]: record for record in records}
    answered = sorted(by_status[status]["latency_ms"] for status in (200, 500))
    assert answered[0] >= SLOW_MS
    own = sorted(by_status[status]["latency_ms"] for status in (400, 504, 404, 401))
    now = time.time()
    # Rolled up (the whole current minute lies in the range), and read from the records (the
    # range ends a second from now, inside the minute).
    for until in (now + 60, now + 1):
        totals = analytics(gw, now - 3600, until)["totals"]
        assert totals["requests"] == 6
        latency = totals["latency"]
        assert latency["requests"] == 2, (latency, answered, own)
        assert latency["p50"] == pytest.approx(answered[0], rel=0.026)
        assert latency["p99"] == pytest.approx(answered[1], rel=0.026)
    locked = analytics(gw, now - 3600, now + 60, gateway="locked")["totals"]
    nothing = {"requests": 0, "p50": None, "p90": None, "p95": None, "p99": None}
    assert (locked["requests"], locked["latency"]) == (1, nothing)
    # Each record says whether an upstream answered, and with what.
    assert {s: r["upstream_status"] for s, r in by_status.items()} == {
        200: 200, 500: 500, 400: None, 504: None, 404: None, 401: None
    }  # fmt: skip


def analytics(gw: RunningGateway, since: float, until: float, **params: Any) -> dict[str, Any]:
    response = gw.http.get(f"{API}/analytics", params={"from": since, "to": until, **params})
    assert response.status_code == 200, response.text
    data: dict[str, Any] = response.json()
    return data
