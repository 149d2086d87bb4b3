"""`.` and `..` segments, however spelled, never take a request (and the stored key that goes with
it) outside the provider's base URL: provider endpoints, universal steps, host-in-path and compat.

The upstream is a canary that records every request target it receives; each base URL sits under a
path of its own on it, so a request that escaped would land outside that prefix.
"""

from __future__ import annotations

import http.client
import json
from collections.abc import Callable, Iterator
from typing import Any

import httpx2 as httpx
import pytest

from tests.conftest import RunningGateway
from tests.fakes.canary_server import Canary

STORED_KEY = "cf-stored-key-0123456789"
WORKERS_BASE = "/cf/client/v4/accounts/local/ai/"  # what the Workers AI adapter appends to "/cf"
HOST_BASE = "/host/v1/"  # api.openai.com's host-in-path base under its override


@pytest.fixture
def canary() -> Iterator[Canary]:
    with Canary().serve() as server:
        yield server


@pytest.fixture
def gateway(make_gateway: Callable[..., RunningGateway], canary: Canary) -> RunningGateway:
    gateway = make_gateway(
        secret_key="master-key-for-tests",
        upstreams={"workers-ai": canary.url + "/cf", "openai": canary.url + "/oa/v1"},
        host_overrides={"api.openai.com": canary.url + "/host"},
    )
    stored = gateway.http.put(
        "/api/v1/accounts/local/gateways/default/provider-keys/workers-ai", json={"key": STORED_KEY}
    )
    assert stored.status_code == 201, stored.text
    return gateway


def raw_post(gateway: RunningGateway, path: str, body: Any) -> tuple[int, dict[str, Any]]:
    """POST with the path exactly as written: HTTP client libraries resolve `..` themselves."""
    connection = http.client.HTTPConnection("127.0.0.1", gateway.server.port, timeout=10)
    try:
        payload = json.dumps(body).encode()
        connection.request("POST", path, body=payload, headers={"Content-Type": "application/json"})
        response = connection.getresponse()
        return response.status, json.loads(response.read())
    finally:
        connection.close()


ESCAPES = [
    "../../../../user/tokens/verify",
    "%2e%2e/%2e%2e/%2e%2e/%2e%2e/user/tokens/verify",
    "%2e%2E/%2e%2E/%2e%2E/%2e%2E/user/tokens/verify",
    "..%2f..%2f..%2f..%2fuser/tokens/verify",
    "@cf%2Fmeta%2F..%2F..%2F..%2F..%2F..%2Fuser%2Ftokens",
    "@cf\\..\\..\\..\\..\\..\\user\\tokens",
    "%252e%252e/%252e%252e/%252e%252e/%252e%252e/user/tokens",
    "v1/./chat/completions",
]
MESSAGES = {"messages": [{"role": "user", "content": "hi"}]}


@pytest.mark.parametrize("path", ESCAPES)
def test_provider_paths_with_dot_segments_are_refused(
    gateway: RunningGateway, canary: Canary, path: str
) -> None:
    status, body = raw_post(gateway, f"/v1/local/default/workers-ai/{path}", MESSAGES)
    assert status == 400, body
    assert body["error"]["path"] == path
    assert repr(path) in body["error"]["message"]
    assert canary.paths == []
    assert gateway.wait_for_logs(1)[0]["status"] == 400  # refused, and still logged


def test_a_dot_segment_that_stays_inside_gets_the_path_meant(gateway: RunningGateway) -> None:
    status, body = raw_post(gateway, "/v1/local/default/openai/v1/./chat/completions", MESSAGES)
    assert status == 400
    assert body["error"]["message"].endswith("did you mean 'v1/chat/completions'?")


@pytest.mark.parametrize("path", ["../../../admin", "..%2f..%2fadmin", "v1%2f%2e%2e%2f%2e%2e%2fadmin"])
def test_other_providers_and_host_in_path_refuse_them_too(
    gateway: RunningGateway, canary: Canary, path: str
) -> None:
    for prefix in ("/v1/local/default/openai/", "/api.openai.com/v1/", "/compat/openai/api.openai.com/"):
        status, body = raw_post(gateway, prefix + path, {"model": "gpt-4o-mini", **MESSAGES})
        assert status == 400, (prefix, body)
        assert body["error"]["path"].endswith(path)
    assert canary.paths == []


@pytest.mark.parametrize("endpoint", [e for e in ESCAPES if "\\" not in e] + ["/@cf/meta/x/../../../../.."])
def test_universal_step_endpoints_with_dot_segments_are_refused(
    gateway: RunningGateway, canary: Canary, endpoint: str
) -> None:
    steps = [
        {"provider": "openai", "endpoint": "chat/completions", "headers": {}, "query": {"model": "a"}},
        {"provider": "workers-ai", "endpoint": endpoint, "headers": {}, "query": MESSAGES},
    ]
    response = httpx.post(f"{gateway.url}/v1/local/default", json=steps)
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["message"].startswith("step 1: endpoint ")
    assert (error["step"], error["field"]) == (1, "endpoint")
    assert error["path"] == endpoint.lstrip("/")
    assert canary.paths == []  # not even the good first step was sent


def test_compat_models_that_would_become_escaping_paths_are_refused(
    gateway: RunningGateway, canary: Canary
) -> None:
    body = {"model": "workers-ai/../../../../../user/tokens", **MESSAGES}
    response = httpx.post(f"{gateway.url}/v1/local/default/compat/chat/completions", json=body)
    assert response.status_code == 400, response.text
    assert canary.paths == []


def test_only_paths_under_the_base_reach_it_with_the_stored_key(
    gateway: RunningGateway, canary: Canary
) -> None:
    model = "@cf%2Fmeta%2Fllama-3.1-8b-instruct"
    for path in (model, f"{model}%2F..%2F..%2F..%2F..%2Faccounts", "%2e%2e/%2e%2e/%2e%2e/%2e%2e/zones"):
        raw_post(gateway, f"/v1/local/default/workers-ai/{path}", MESSAGES)
    for endpoint in ("@cf/meta/llama-3.1-8b-instruct", "../../../../zones"):
        steps = {"provider": "workers-ai", "endpoint": endpoint, "query": MESSAGES}
        httpx.post(f"{gateway.url}/v1/local/default", json=steps)
    for path in ("chat/completions", "..%2f..%2fadmin"):
        raw_post(gateway, f"/api.openai.com/v1/{path}", {"model": "m", **MESSAGES})
    arrivals = canary.arrivals
    assert [a.raw_path for a in arrivals] == [
        WORKERS_BASE + "run/@cf%2Fmeta%2Fllama-3.1-8b-instruct",
        WORKERS_BASE + "run/@cf/meta/llama-3.1-8b-instruct",
        HOST_BASE + "chat/completions",
    ]
    assert [a.headers.get("Authorization") for a in arrivals[:2]] == [f"Bearer {STORED_KEY}"] * 2
