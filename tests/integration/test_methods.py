"""Endpoints that take POST only (the compat endpoint, every path of it; the universal endpoint)
answer any other method 405 with `Allow: POST`, before the pipeline: nothing goes upstream, nothing
is logged. A provider endpoint relays whatever method the provider's API takes."""

from __future__ import annotations

from collections.abc import Callable

import httpx2 as httpx
import orjson
import pytest

from tests.conftest import RunningGateway
from tests.fakes.openai_server import FakeOpenAI

KEY = {"Authorization": "Bearer sk-methods-0123456789"}
CHAT = {"model": "openai/gpt-4o-mini", "messages": [{"role": "user", "content": "methods"}]}
POST_ONLY = [
    "/v1/local/default/compat/chat/completions",
    "/v1/local/default/compat/embeddings",
    "/v1/local/default/compat/v1/messages",
    "/v1/local/default",
    "/v1/local/default/",
]


@pytest.fixture
def gateway(make_gateway: Callable[..., RunningGateway], fake: FakeOpenAI) -> RunningGateway:
    return make_gateway(upstreams={"openai": fake.base_url})


@pytest.mark.parametrize("path", POST_ONLY)
@pytest.mark.parametrize("method", ["GET", "HEAD", "PUT", "PATCH", "DELETE", "OPTIONS"])
def test_a_post_only_endpoint_answers_another_method_405(
    gateway: RunningGateway, fake: FakeOpenAI, path: str, method: str
) -> None:
    body = orjson.dumps(CHAT) if method in ("PUT", "PATCH", "DELETE") else None
    headers = {**KEY, "Content-Type": "application/json"}
    response = httpx.request(method, gateway.url + path, headers=headers, content=body)
    assert response.status_code == 405, response.text
    assert response.headers["allow"] == "POST"
    if method != "HEAD":
        error = response.json()["error"]
        assert (error["code"], error["allowed"]) == ("method_not_allowed", ["POST"])
        assert method in error["message"]
    assert fake.requests == []


def test_post_is_served_and_the_refusals_are_not_logged(gateway: RunningGateway, fake: FakeOpenAI) -> None:
    url = gateway.provider_url("compat") + "/chat/completions"
    for method in ("DELETE", "GET"):
        assert httpx.request(method, url, headers=KEY).status_code == 405
    compat = httpx.post(url, headers=KEY, json=CHAT)
    assert compat.status_code == 200, compat.text
    query = CHAT | {"model": "gpt-4o-mini"}
    step = {"provider": "openai", "endpoint": "chat/completions", "headers": KEY, "query": query}
    universal = httpx.post(f"{gateway.url}/v1/local/default", json=[step])
    assert universal.status_code == 200, universal.text
    assert [request.method for request in fake.requests] == ["POST", "POST"]
    records = gateway.wait_for_logs(2)
    assert [record["status"] for record in records] == [200, 200]  # the two POSTs only


def test_a_provider_endpoint_still_relays_other_methods(gateway: RunningGateway, fake: FakeOpenAI) -> None:
    response = httpx.get(gateway.provider_url("openai") + "/models", headers=KEY)
    assert response.status_code == 200, response.text
    assert [(request.method, request.path) for request in fake.requests] == [("GET", "/v1/models")]
