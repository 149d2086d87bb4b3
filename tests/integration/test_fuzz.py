"""Fuzzing the request surface: random bodies, headers and parameters never cause a 500, an
unhandled exception, or a secret in an answer."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import httpx2 as httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import ADMIN_TOKEN, RunningGateway
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


def check(response: httpx.Response) -> None:
    assert response.status_code < 500 or response.status_code in (502, 503, 504), response.text
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
