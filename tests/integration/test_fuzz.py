"""Fuzzing the request surface: random bodies, headers and parameters never cause a 500, an
unhandled exception, or a secret in an answer."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import Any

import httpx2 as httpx
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from tests.conftest import ADMIN_TOKEN, RunningGateway
from tests.fakes.anthropic_server import FakeAnthropic
from tests.fakes.gemini_server import FakeGemini
from tests.fakes.openai_server import FakeOpenAI

PROVIDER_KEY = "sk-fuzz-provider-key-0a1b2c3d4e"
SECRETS = (ADMIN_TOKEN, PROVIDER_KEY, "master-key-for-fuzzing")
FUZZ = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=12,
)
# Printable ASCII without surrounding blanks: HTTP clients refuse to send anything else.
header_values = st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126), max_size=40).map(
    str.strip
)
GATEWAY_HEADERS = [
    "cf-aig-metadata", "cf-aig-custom-cost", "cf-aig-cache-ttl", "cf-aig-skip-cache", "cf-aig-cache-key",
    "cf-aig-request-timeout", "cf-aig-max-attempts", "cf-aig-retry-delay", "cf-aig-backoff",
    "cf-aig-authorization", "fastly-key", "x-sluicegate-token", "cache-control", "cf-aig-collect-log",
]  # fmt: skip


@pytest.fixture
def gateway(make_gateway: Callable[..., RunningGateway], fake: FakeOpenAI) -> RunningGateway:
    gateway = make_gateway(upstreams={"openai": fake.base_url}, secret_key="master-key-for-fuzzing")
    gateway.http.put(
        "/api/v1/accounts/local/gateways/default/provider-keys/openai", json={"key": PROVIDER_KEY}
    )
    gateway.http.patch("/api/v1/accounts/local/gateways/default", json={"settings": {"cache_enabled": True}})
    return gateway


def check(response: httpx.Response, *, upstream_errors: bool = True) -> None:
    """No 5xx but an upstream's (502/503/504, when `upstream_errors`), no secret, JSON errors."""
    allowed = (502, 503, 504) if upstream_errors else ()
    assert response.status_code < 500 or response.status_code in allowed, response.text
    for secret in SECRETS:
        assert secret not in response.text
        assert all(secret not in value for value in response.headers.values())
    if response.status_code >= 400 and response.headers.get("content-type", "").startswith(
        "application/json"
    ):
        assert "error" in response.json()


def operations(gateway: RunningGateway) -> list[tuple[str, str]]:
    doc = gateway.http.get("/api/v1/openapi.json").json()
    found = []
    for path, item in doc["paths"].items():
        for method in item:
            if method in ("get", "post", "patch", "put", "delete"):
                found.append((method.upper(), path))
    return found


@FUZZ
@given(data=st.data())
def test_admin_api_survives_random_input(gateway: RunningGateway, data: st.DataObject) -> None:
    method, template = data.draw(st.sampled_from(operations(gateway)))
    path = re.sub(
        r"{(\w+)}",
        lambda m: data.draw(st.sampled_from(["local", "default", "x", "%20", "a" * 70, "..", "ü"])),
        template,
    )
    params = data.draw(
        st.dictionaries(
            st.sampled_from(["from", "to", "status", "limit", "cursor", "cached", "key"]),
            header_values,
            max_size=3,
        )
    )
    body: Any = data.draw(json_values)
    response = gateway.http.request(method, path, params=params, json=body)
    check(response)


@FUZZ
@given(
    body=json_values,
    headers=st.dictionaries(st.sampled_from(GATEWAY_HEADERS), header_values, max_size=4),
    path=st.sampled_from(["chat/completions", "embeddings", "responses", "models", "x/../y", ""]),
)
def test_proxy_survives_random_input(
    gateway: RunningGateway, body: Any, headers: dict[str, str], path: str
) -> None:
    response = httpx.post(
        f"{gateway.url}/v1/local/default/openai/{path}", json=body, headers=headers, timeout=10
    )
    check(response)


@FUZZ
@given(steps=json_values, raw=st.binary(max_size=64))
def test_universal_and_compat_survive_random_input(gateway: RunningGateway, steps: Any, raw: bytes) -> None:
    check(httpx.post(f"{gateway.url}/v1/local/default", json=steps, timeout=10))
    check(httpx.post(f"{gateway.url}/v1/local/default", content=raw, timeout=10))
    check(httpx.post(f"{gateway.url}/v1/local/default/compat/chat/completions", json=steps, timeout=10))


# The ingress formats on the unified endpoint (ingress/): well-formed bodies of each API, for
# models translated through chat to each fake or passed through, then one value anywhere in them
# replaced by anything at all, so the translators and renderers are reached, not only the checks.
INGRESS_MODELS = st.sampled_from(
    [
        "openai/gpt-4o-mini",
        "anthropic/claude-sonnet-4-5",
        "google-ai-studio/gemini-2.5-flash",
        "dynamic/x",
        "x",
    ]
)
words = st.text(alphabet="abc ⚡\n", max_size=12)
SCHEMA = st.just({"type": "object", "properties": {"city": {"type": "string"}}})
TEXT_BLOCK = st.fixed_dictionaries({"type": st.just("text"), "text": words})
USER_BLOCK = st.one_of(
    TEXT_BLOCK,
    st.fixed_dictionaries(
        {
            "type": st.just("image"),
            "source": st.sampled_from(
                [
                    {"type": "base64", "media_type": "image/png", "data": "iVBO"},
                    {"type": "url", "url": "https://x/y.png"},
                ]
            ),
        }
    ),
    st.fixed_dictionaries({"type": st.just("tool_result"), "tool_use_id": words, "content": words}),
)
ASSISTANT_BLOCK = TEXT_BLOCK | st.fixed_dictionaries(
    {"type": st.just("tool_use"), "id": words, "name": words, "input": st.just({"a": 1})}
)
ANTHROPIC_MESSAGE = st.fixed_dictionaries(
    {"role": st.just("user"), "content": words | st.lists(USER_BLOCK, min_size=1, max_size=3)}
) | st.fixed_dictionaries(
    {"role": st.just("assistant"), "content": words | st.lists(ASSISTANT_BLOCK, min_size=1, max_size=3)}
)
MESSAGES_BODY = st.fixed_dictionaries(
    {
        "model": INGRESS_MODELS,
        "max_tokens": st.integers(1, 40),
        "messages": st.lists(ANTHROPIC_MESSAGE, min_size=1, max_size=3),
    },
    optional={
        "system": words,
        "stream": st.booleans(),
        "stop_sequences": st.lists(words, max_size=2),
        "temperature": st.floats(0, 1),
        "tools": st.lists(st.fixed_dictionaries({"name": words, "input_schema": SCHEMA}), max_size=2),
        "tool_choice": st.sampled_from([{"type": "auto"}, {"type": "any"}, {"type": "tool", "name": "f"}]),
    },
)
RESPONSES_ITEM = st.one_of(
    st.fixed_dictionaries(
        {
            "role": st.sampled_from(["user", "assistant", "developer"]),
            "content": words
            | st.lists(
                st.fixed_dictionaries({"type": st.just("input_text"), "text": words}), min_size=1, max_size=2
            ),
        }
    ),
    st.fixed_dictionaries(
        {"type": st.just("function_call"), "call_id": words, "name": words, "arguments": st.just("{}")}
    ),
    st.fixed_dictionaries({"type": st.just("function_call_output"), "call_id": words, "output": words}),
)
RESPONSES_BODY = st.fixed_dictionaries(
    {"model": INGRESS_MODELS, "input": words | st.lists(RESPONSES_ITEM, min_size=1, max_size=4)},
    optional={
        "instructions": words,
        "max_output_tokens": st.integers(1, 40),
        "stream": st.booleans(),
        "tools": st.lists(
            st.fixed_dictionaries({"type": st.just("function"), "name": words, "parameters": SCHEMA}),
            max_size=2,
        ),
        "tool_choice": st.sampled_from(["auto", "required", {"type": "function", "name": "f"}]),
        "temperature": st.floats(0, 2),
    },
)


def mutated(bodies: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """A body as drawn, or with the value at one place in it (chosen by `path`) replaced."""
    return st.builds(
        _replace,
        bodies,
        st.lists(st.integers(0, 7), min_size=1, max_size=4),
        json_values | words,
        st.booleans(),
    )


def _replace(body: Any, path: list[int], value: Any, keep: bool) -> Any:
    node = body
    for depth, step in enumerate([] if keep else path):
        children = (
            list(node) if isinstance(node, dict) else list(range(len(node))) if isinstance(node, list) else []
        )
        if not children:
            break
        key = children[step % len(children)]
        if depth == len(path) - 1 or not isinstance(node[key], dict | list):
            node[key] = value
            break
        node = node[key]
    return body


@pytest.fixture
def ingress_gateway(
    make_gateway: Callable[..., RunningGateway], fake: FakeOpenAI
) -> Iterator[RunningGateway]:
    with FakeAnthropic().serve() as claude, FakeGemini().serve() as gemini:
        upstreams = {
            "openai": fake.base_url,
            "anthropic": claude.base_url,
            "google-ai-studio": gemini.base_url,
        }
        yield make_gateway(upstreams=upstreams)


@FUZZ
@given(
    body=mutated(MESSAGES_BODY),
    path=st.sampled_from(["v1/messages", "messages", "v1/messages/count_tokens"]),
)
def test_anthropic_messages_ingress_survives_random_input(
    ingress_gateway: RunningGateway, body: Any, path: str
) -> None:
    url = f"{ingress_gateway.provider_url('compat')}/{path}"
    response = httpx.post(url, json=body, headers={"anthropic-version": "2023-06-01"}, timeout=10)
    check(response, upstream_errors=False)  # the fakes answer whatever arrives: a 5xx is ours
    if response.status_code >= 400 and response.headers.get("content-type", "").startswith(
        "application/json"
    ):
        assert response.json()["type"] == "error"  # Anthropic's error shape, whoever refused


@FUZZ
@given(body=mutated(RESPONSES_BODY))
@example(  # found by the fuzzer: a tool schema whose properties are no object (the fake crashed on it)
    body={
        "model": "anthropic/claude-sonnet-4-5",
        "input": "a",
        "instructions": "",
        "max_output_tokens": 1,
        "temperature": 0.0,
        "tool_choice": "required",
        "tools": [{"type": "function", "name": "a", "parameters": {"type": "object", "properties": "\n"}}],
    }
)
def test_responses_ingress_survives_random_input(ingress_gateway: RunningGateway, body: Any) -> None:
    response = httpx.post(f"{ingress_gateway.provider_url('compat')}/responses", json=body, timeout=10)
    check(response, upstream_errors=False)  # the fakes answer whatever arrives: a 5xx is ours
