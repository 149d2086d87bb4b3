"""The final attempt of a retried request is not cut by the request timeout. Cloudflare: "On the final
retry attempt, your gateway will wait until the request completes, regardless of how long it takes"
(https://developers.cloudflare.com/ai-gateway/configuration/request-handling/#request-retries). The
earlier attempts keep it, and so does every attempt of a universal step with a step after it, where
a timeout is what triggers the fallback. The gateway's own deadline still bounds the final attempt.

The official openai SDK is the client (raw HTTP for the universal endpoint, which it does not
speak), the fake OpenAI server the upstream (`slow-<ms>`: every request answers that late), on
loopback.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import openai
import pytest

from tests.conftest import RunningGateway
from tests.conftest import both_backends as backend  # noqa: F401  (runs each test on both setups)
from tests.fakes.openai_server import FakeOpenAI
from tests.integration.test_retries import MESSAGES, step, universal

# Each attempt but the final one may take 100 ms to start answering; the upstream takes 300 ms.
RETRIED = {"cf-aig-max-attempts": "3", "cf-aig-retry-delay": "0", "cf-aig-request-timeout": "100"}


@pytest.fixture
def gateway(make_gateway: Callable[..., RunningGateway], fake: FakeOpenAI) -> RunningGateway:
    return make_gateway(upstreams={"openai": fake.base_url})


def client(gateway: RunningGateway) -> openai.OpenAI:
    return openai.OpenAI(base_url=gateway.provider_url("openai"), api_key="sk-test", max_retries=0)


def attempts(record: dict[str, Any]) -> list[tuple[int, int]]:
    return [(a["step"], a["status"]) for a in record["attempts"]]


def test_the_final_attempt_waits_past_the_request_timeout(gateway: RunningGateway, fake: FakeOpenAI) -> None:
    with client(gateway) as sdk:
        answer = sdk.chat.completions.create(model="slow-300", messages=MESSAGES, extra_headers=RETRIED)
    assert answer.choices[0].message.content == "echo: hello"  # a 504 upstream_timeout on the old code
    assert len(fake.requests) == 3
    record = gateway.wait_for_logs(1)[0]
    assert (record["status"], attempts(record)) == (200, [(0, 504), (0, 504), (0, 200)])
    assert 500 <= record["latency_ms"] < 2000  # two cut at 100 ms, then the 300 ms answer


def test_the_final_attempt_still_ends_at_the_requests_deadline(
    make_gateway: Callable[..., RunningGateway], fake: FakeOpenAI
) -> None:
    # Two 100 ms attempts, then the final one, cut at the 1 s deadline, not at the 2 s answer. (At
    # 0.4 s a loaded machine once spent the whole deadline on the first attempt.)
    gateway = make_gateway(
        upstreams={"openai": fake.base_url}, timeouts={"upstream_timeout": 30, "retry_deadline": 1.0}
    )
    with client(gateway) as sdk, pytest.raises(openai.APIStatusError) as caught:
        sdk.chat.completions.create(model="slow-2000", messages=MESSAGES, extra_headers=RETRIED)
    assert caught.value.status_code == 504
    error = caught.value.body
    assert isinstance(error, dict)
    assert error["code"] == "deadline_exceeded"
    assert [a["status"] for a in error["attempts"]] == [504, 504, 504]
    assert len(fake.requests) == 3


def test_a_universal_step_falls_back_on_its_timeout_and_the_last_steps_final_attempt_waits(
    gateway: RunningGateway, fake: FakeOpenAI
) -> None:
    """A step with a step after it is timed out on its final attempt too: that is the fallback
    Cloudflare's `requestTimeout` is for. The last step has no fallback: its final retry waits."""
    config = {"maxAttempts": 2, "retryDelay": 0, "requestTimeout": 100}
    steps = [step("slow-300", config=config), step("slow-300", config=config)]
    response = universal(gateway, steps)
    assert (response.status_code, response.headers["cf-aig-step"]) == (200, "1")  # 504 on the old code
    assert response.json()["choices"][0]["message"]["content"] == "echo: hello"
    record = gateway.wait_for_logs(1)[0]
    assert attempts(record) == [(0, 504), (0, 504), (1, 504), (1, 200)]
