"""A universal request whose one step is `"provider": "compat"`, as Cloudflare's dynamic routing page
calls a route from a Worker (`env.AI.gateway(id).run({provider: "compat", endpoint:
"chat/completion", headers: {}, query: {model: "dynamic/<route>", messages}})`): served as the
compat endpoint serves its `query` (pipeline/compat_step.py). httpx to a real gateway on loopback,
the fake OpenAI and Anthropic upstreams; the official OpenAI SDK for the compat endpoint itself.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx2 as httpx
import openai
import pytest

from tests.conftest import RunningGateway
from tests.fakes.anthropic_server import FakeAnthropic
from tests.fakes.openai_server import FakeOpenAI

MESSAGES: list[Any] = [{"role": "user", "content": "What is Cloudflare?"}]


@pytest.fixture
def gateway(
    make_gateway: Callable[..., RunningGateway], fake: FakeOpenAI, claude: FakeAnthropic
) -> RunningGateway:
    return make_gateway(upstreams={"openai": fake.base_url, "anthropic": claude.base_url})


def compat_step(model: str, endpoint: str = "chat/completions", **headers: Any) -> dict[str, Any]:
    return {
        "provider": "compat",
        "endpoint": endpoint,
        "headers": headers,
        "query": {"model": model, "messages": MESSAGES},
    }


def universal(gateway: RunningGateway, steps: Any, **headers: str) -> httpx.Response:
    return gateway.http.post("/v1/local/default", json=steps, headers=headers)


def test_a_compat_step_is_the_compat_endpoints_request(gateway: RunningGateway, fake: FakeOpenAI) -> None:
    answered = universal(gateway, [compat_step("openai/gpt-4o-mini", Authorization="Bearer sk-step")])
    assert answered.status_code == 200, answered.text
    assert answered.json()["model"] == "gpt-4o-mini"
    [upstream] = fake.requests
    assert (upstream.path, upstream.json["model"]) == ("/v1/chat/completions", "gpt-4o-mini")
    assert upstream.header("authorization") == "Bearer sk-step"
    [record] = gateway.wait_for_logs(1)
    assert (record["provider"], record["endpoint"], record["status"]) == ("openai", "chat/completions", 200)


def test_cloudflares_worker_example_calls_a_dynamic_route(gateway: RunningGateway, fake: FakeOpenAI) -> None:
    """Its `endpoint: "chat/completion"`, `headers: {}` and a single step object, not an array."""
    routes = {"docroute": {"fallback": [{"model": "openai/error-500"}, {"model": "openai/steady"}]}}
    saved = gateway.http.patch(
        "/api/v1/accounts/local/gateways/default", json={"settings": {"routes": routes}}
    )
    assert saved.status_code == 200, saved.text
    answered = universal(gateway, compat_step("dynamic/docroute", "chat/completion"))
    assert answered.status_code == 200, answered.text
    assert answered.json()["model"] == "steady"
    assert (answered.headers["cf-aig-route"], answered.headers["cf-aig-step"]) == ("docroute@1", "1")
    assert [r.json["model"] for r in fake.requests] == ["error-500", "steady"]


def test_a_model_of_another_api_is_translated_and_answered_in_openais_shape(
    gateway: RunningGateway, claude: FakeAnthropic
) -> None:
    step = {**compat_step("anthropic/claude-sonnet-4-6"), "authorization": "Bearer sk-ant-step"}
    answered = universal(gateway, [step])
    assert answered.status_code == 200, answered.text
    assert answered.json()["object"] == "chat.completion"
    assert "What is Cloudflare?" in answered.json()["choices"][0]["message"]["content"]
    assert claude.requests[-1].path == "/v1/messages"


def test_it_shares_the_compat_endpoints_cache_entries_and_its_own_headers_apply(
    gateway: RunningGateway, fake: FakeOpenAI
) -> None:
    hour = {"cf-aig-cache-ttl": "3600"}
    with openai.OpenAI(base_url=gateway.provider_url("compat"), api_key="sk-test", max_retries=0) as client:
        client.chat.completions.create(model="openai/gpt-4o-mini", messages=MESSAGES, extra_headers=hour)
    step = compat_step(
        "openai/gpt-4o-mini", Authorization="Bearer sk-test", **{"cf-aig-metadata": {"via": "worker"}}
    )
    hit = universal(gateway, [step], **hour)
    assert (hit.status_code, hit.headers["cf-aig-cache-status"]) == (200, "HIT")
    assert len(fake.requests) == 1
    records = gateway.wait_for_logs(2)
    assert records[0]["metadata"] == {"via": "worker"}


@pytest.mark.parametrize(
    ("steps", "said"),
    [
        ([compat_step("openai/gpt-4o"), compat_step("openai/gpt-4o-mini")],
         "step 0: provider: a compat step must be"),
        ([{"provider": "openai", "endpoint": "chat/completions", "headers": {}, "query": {"model": "gpt-4o"}},
          compat_step("openai/gpt-4o")],
         "step 1: provider: a compat step must be the universal request's only step"),
        ([compat_step("openai/gpt-4o", "responses")], "step 0: endpoint: a compat step's endpoint is one of"),
        ([compat_step("gpt-4o")], 'step 0: query: model must be "{provider}/{model}", e.g. "openai/gpt-4o"'),
    ],
)  # fmt: skip
def test_what_a_compat_step_cannot_be_is_a_400_saying_what_to_send(
    gateway: RunningGateway, fake: FakeOpenAI, steps: list[dict[str, Any]], said: str
) -> None:
    refused = universal(gateway, steps)
    assert refused.status_code == 400, refused.text
    assert refused.json()["error"]["message"].startswith(said)
    assert fake.requests == []
