"""JSON nested deeper than the gateway can write again (orjson: 254 levels) is a precise 400, never
a 500, on every path that re-encodes the body: exact cache, semantic cache, compat and universal."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import httpx2 as httpx
import pytest

from tests.conftest import RunningGateway
from tests.fakes.anthropic_server import FakeAnthropic
from tests.fakes.gemini_server import FakeGemini
from tests.fakes.openai_server import FakeOpenAI

COMPAT = "/v1/local/default/compat/chat/completions"
CHAT = "/v1/local/default/openai/chat/completions"
# path name -> (gateway settings, URL path, model)
PATHS: dict[str, tuple[dict[str, Any], str, str]] = {
    "cache": ({"cache_enabled": True}, CHAT, "gpt-4o-mini"),
    "semantic": ({"semantic_cache_enabled": True}, CHAT, "gpt-4o-mini"),
    "compat-openai": ({}, COMPAT, "openai/gpt-4o-mini"),
    "compat-anthropic": ({}, COMPAT, "anthropic/claude-sonnet-4-5"),
    "compat-google": ({}, COMPAT, "google-ai-studio/gemini-2.5-flash"),
}


def nested(depth: int) -> str:
    return "[" * depth + "]" * depth


def chat_body(model: str, depth: int) -> str:
    """A chat request whose one tool's parameter schema holds an array nested `depth` levels deep
    (a field every translator keeps): the body is `depth + 5` levels deep."""
    schema = f'{{"type": "object", "default": {nested(depth)}}}'
    tool = f'{{"type": "function", "function": {{"name": "f", "parameters": {schema}}}}}'
    return f'{{"model": "{model}", "messages": [{{"role": "user", "content": "hi"}}], "tools": [{tool}]}}'


@pytest.fixture
def fakes() -> Iterator[dict[str, Any]]:
    with FakeOpenAI().serve() as oa, FakeAnthropic().serve() as an, FakeGemini().serve() as ge:
        yield {"openai": oa, "anthropic": an, "google-ai-studio": ge}


@pytest.fixture
def gateway(make_gateway: Callable[..., RunningGateway], fakes: dict[str, Any]) -> RunningGateway:
    return make_gateway(upstreams={name: fake.base_url for name, fake in fakes.items()})


def post(gateway: RunningGateway, path: str, body: str) -> httpx.Response:
    headers = {"Content-Type": "application/json", "Authorization": "Bearer sk-deep"}
    return httpx.post(gateway.url + path, content=body.encode(), headers=headers)


@pytest.mark.parametrize("depth", [260, 1000])
@pytest.mark.parametrize("path", sorted(PATHS))
def test_deep_json_is_a_400_naming_the_depth(
    gateway: RunningGateway, fakes: dict[str, Any], path: str, depth: int
) -> None:
    settings, url, model = PATHS[path]
    assert gateway.http.patch(
        "/api/v1/accounts/local/gateways/default", json={"settings": settings}
    ).is_success
    response = post(gateway, url, chat_body(model, depth))
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["depth"] == depth + 5
    assert f"nests JSON {depth + 5} levels deep; at most {error['max_depth']} levels" in error["message"]
    assert all(fake.requests == [] for fake in fakes.values())
    # The limit the error states is the real one: a body exactly that deep goes through.
    assert post(gateway, url, chat_body(model, error["max_depth"] - 5)).status_code == 200


@pytest.mark.parametrize("depth", [260, 1000])
def test_deep_universal_step_is_a_400_naming_the_step(
    gateway: RunningGateway, fakes: dict[str, Any], depth: int
) -> None:
    step = f'{{"provider": "openai", "endpoint": "chat/completions", "query": {chat_body("gpt-4o", depth)}}}'
    response = post(gateway, "/v1/local/default", f"[{step}]")
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert (error["step"], error["field"], error["depth"]) == (0, "query", depth + 5)
    assert error["message"].startswith(f"step 0: query nests JSON {depth + 5} levels deep")
    assert fakes["openai"].requests == []
