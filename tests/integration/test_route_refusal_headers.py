"""What the gateway's own refusals and errors say on a dynamic route and the universal endpoint:
a spent limit node's 429 says what a gateway rule's says (Retry-After, x-ratelimit-*, its rule)
and is logged as a refusal of its route; a timeout, or every target's circuit open, names the
route and the step tried last as a provider's own error does. The official OpenAI SDK (plain
httpx for the universal endpoint) against the fake OpenAI server, on loopback.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import openai
import pytest

from tests.conftest import FakeClock, RunningGateway
from tests.fakes.openai_server import FakeOpenAI

MESSAGES: list[Any] = [{"role": "user", "content": "hello"}]
SETTINGS = "/api/v1/accounts/local/gateways/default"
ROUTE_HEADERS = ("cf-aig-step", "cf-aig-route", "cf-aig-provider", "cf-aig-model")


@pytest.fixture
def gateway(
    make_gateway: Callable[..., RunningGateway], fake: FakeOpenAI, clock: FakeClock
) -> RunningGateway:
    clock.now = 1_800_000_000.0  # a multiple of 3600: a window starts here
    return make_gateway(clock, upstreams={"openai": fake.base_url})


def configure(gateway: RunningGateway, **settings: Any) -> None:
    response = gateway.http.patch(SETTINGS, json={"settings": settings})
    assert response.status_code == 200, response.text


def refusal(client: openai.OpenAI, model: str, **headers: str) -> openai.APIStatusError:
    with pytest.raises(openai.APIStatusError) as caught:
        client.chat.completions.create(model=model, messages=MESSAGES, extra_headers=headers)
    return caught.value


def said(error: openai.APIStatusError) -> dict[str, str | None]:
    return {name: error.response.headers.get(name) for name in ROUTE_HEADERS}


def test_a_spent_limit_node_refuses_as_a_gateway_rule_does_and_is_logged_under_its_route(
    gateway: RunningGateway,
) -> None:
    limit = {"limit": 1, "period": 3600, "name": "one an hour"}
    route = {"if": {"metadata.tier": "pro"}, "then": {"limit": limit, "then": {"model": "openai/gpt-4o"}}}
    route["else"] = {"model": "openai/cheap"}
    configure(gateway, routes={"once": route})
    pro = {"cf-aig-metadata": '{"tier": "pro"}'}
    with openai.OpenAI(base_url=gateway.provider_url("compat"), api_key="sk-x", max_retries=0) as client:
        answered = client.chat.completions.with_raw_response.create(
            model="dynamic/once", messages=MESSAGES, extra_headers=pro
        )
        gateway.wait_for_logs(1)  # counted once the answer completed, before its record
        refused = refusal(client, "dynamic/once", **pro)
        configure(gateway, rate_limits=[{"limit": 1, "period": 3600, "name": "gateway's"}])
        client.chat.completions.create(model="openai/gpt-4o", messages=MESSAGES)
        ruled = refusal(client, "openai/gpt-4o")
    assert (refused.status_code, refused.code) == (429, "route_limit_spent")
    headers = refused.response.headers
    assert (headers["retry-after"], headers["x-ratelimit-reset"]) == ("3600", "3600")
    assert (headers["x-ratelimit-limit"], headers["x-ratelimit-remaining"]) == ("1", "0")
    assert headers["x-ratelimit-rule"] == "one an hour"
    assert headers["x-should-retry"] == "false"  # past 60 s, as every refusal
    assert headers["cf-aig-route"] == answered.headers["cf-aig-route"]
    assert {
        name for name in ruled.response.headers if name.startswith(("x-ratelimit", "retry", "x-should"))
    } == {name for name in headers if name.startswith(("x-ratelimit", "retry", "x-should"))}
    # Its rule shown as a gateway rule's refusal shows the rule, no other field.
    body, rule_body = refused.body, ruled.body
    assert isinstance(body, dict)
    assert isinstance(rule_body, dict)
    assert body["rule"] == {**rule_body["rule"], "name": "one an hour"}
    assert body["limits"] == [{"where": "then", "rule": body["rule"]}]
    record = gateway.wait_for_logs(4)[2]  # newest first: the gateway rule's two, then this one
    assert (record["status"], record["rate_limited"]) == (429, True)
    assert record["metadata"] == {
        "tier": "pro",
        "route": answered.headers["cf-aig-route"],
        "route_path": "if=then then.limit=refused",
    }


def test_a_last_target_that_times_out_says_which_step_route_and_target(gateway: RunningGateway) -> None:
    slow = {"model": "openai/slow-1500", "timeout_ms": 200, "max_attempts": 1}
    own = {"model": "openai/error-503", "max_attempts": 1}
    fallback = [{"model": "openai/error-500", "max_attempts": 1}]
    configure(
        gateway, routes={"slow": {"fallback": [*fallback, slow]}, "own": {"fallback": [*fallback, own]}}
    )
    with openai.OpenAI(base_url=gateway.provider_url("compat"), api_key="sk-x", max_retries=0) as client:
        timed_out = refusal(client, "dynamic/slow")
        provider_error = refusal(client, "dynamic/own")
    assert (timed_out.status_code, timed_out.code) == (504, "upstream_timeout")
    assert said(timed_out) == {
        "cf-aig-step": "1",
        "cf-aig-route": "slow@1",
        "cf-aig-provider": "openai",
        "cf-aig-model": "slow-1500",
    }
    assert said(provider_error) == {**said(timed_out), "cf-aig-route": "own@1", "cf-aig-model": "error-503"}


def test_a_timeout_before_an_open_circuit_says_the_step_tried_and_all_open_names_the_route(
    gateway: RunningGateway,
) -> None:
    down = {"model": "openai/error-503", "max_attempts": 1}
    slow = {"model": "openai/slow-1500", "timeout_ms": 200, "max_attempts": 1}
    configure(gateway, routes={"down": down, "then_down": {"fallback": [slow, down]}})
    with openai.OpenAI(base_url=gateway.provider_url("compat"), api_key="sk-x", max_retries=0) as client:
        for _ in range(5):  # 5 failures within 60 s: its circuit opens
            assert refusal(client, "dynamic/down").status_code == 503
        all_open = refusal(client, "dynamic/down")
        timed_out = refusal(client, "dynamic/then_down")
    assert "circuit is open" in all_open.message
    assert said(all_open) == {  # no target was tried: the route only
        "cf-aig-step": None,
        "cf-aig-route": "down@1",
        "cf-aig-provider": None,
        "cf-aig-model": None,
    }
    assert timed_out.status_code == 504
    assert said(timed_out) == {  # the step tried last, not the one skipped
        "cf-aig-step": "0",
        "cf-aig-route": "then_down@1",
        "cf-aig-provider": "openai",
        "cf-aig-model": "slow-1500",
    }


def test_a_universal_last_step_that_times_out_says_its_step(gateway: RunningGateway) -> None:
    def step(model: str, **config: Any) -> dict[str, Any]:
        headers = {"Authorization": "Bearer sk-x", "cf-aig-max-attempts": "1"}
        query = {"model": model, "messages": MESSAGES}
        return {
            "provider": "openai",
            "endpoint": "chat/completions",
            "headers": headers,
            "query": query,
            **config,
        }

    failed = gateway.http.post("/v1/local/default", json=[step("error-500"), step("error-503")])
    timed_out = gateway.http.post(
        "/v1/local/default", json=[step("error-500"), step("slow-1500", config={"requestTimeout": 200})]
    )
    assert (failed.status_code, failed.headers["cf-aig-step"]) == (503, "1")
    assert timed_out.status_code == 504, timed_out.text
    assert timed_out.json()["error"]["code"] == "upstream_timeout"
    assert timed_out.headers["cf-aig-step"] == "1"
