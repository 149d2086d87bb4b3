"""A `cf-aig-max-attempts` or `cf-aig-retry-delay` outside what Cloudflare documents ("maximum of 5
tries", "maximum of 5 seconds") is taken into the range, as an out-of-range `cf-aig-cache-ttl` is:
the request is sent, and `x-sluicegate-warning` says what was used. A value that is no number is
still a 400. The official openai SDK is the client (raw HTTP for the universal endpoint and to read
a 500's headers), the fake OpenAI server the upstream, on loopback.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable

import openai
import pytest

from tests.conftest import RunningGateway
from tests.conftest import both_backends as backend  # noqa: F401  (runs each test on both setups)
from tests.fakes.openai_server import FakeOpenAI
from tests.integration.test_retries import MESSAGES, chat, step, universal

WARNING = "x-sluicegate-warning"
ATTEMPTS_ABOVE = "cf-aig-max-attempts is above the maximum of 5 attempts; 5 is used"
DELAY_ABOVE = "cf-aig-retry-delay is above the maximum of 5000 ms; 5000 is used"


@pytest.fixture
def gateway(make_gateway: Callable[..., RunningGateway], fake: FakeOpenAI) -> RunningGateway:
    return make_gateway(upstreams={"openai": fake.base_url})


@pytest.mark.parametrize("asked", ["6", "10", "1" + "0" * 5000])
def test_more_than_five_attempts_is_five_with_a_warning(
    gateway: RunningGateway, fake: FakeOpenAI, asked: str
) -> None:
    headers = {"cf-aig-max-attempts": asked, "cf-aig-retry-delay": "0", "x-fake-key": str(uuid.uuid4())}
    response = chat(gateway, "fail-5-then-ok", headers)
    assert response.status_code == 500  # five tries, all refused: the upstream's last answer
    assert response.headers.get_list(WARNING) == [ATTEMPTS_ABOVE]
    assert len(fake.requests) == 5  # a 400 and none on the old code


def test_a_retry_delay_above_five_seconds_is_five_with_a_warning(
    gateway: RunningGateway, fake: FakeOpenAI
) -> None:
    with openai.OpenAI(base_url=gateway.provider_url("openai"), api_key="sk-test", max_retries=0) as sdk:
        raw = sdk.chat.completions.with_raw_response.create(
            model="gpt-4o-mini", messages=MESSAGES, extra_headers={"cf-aig-retry-delay": "6000"}
        )
    assert raw.parse().choices[0].message.content == "echo: hello"
    assert raw.headers.get_list(WARNING) == [DELAY_ABOVE]
    assert len(fake.requests) == 1


def test_zero_attempts_is_one_with_a_warning(gateway: RunningGateway, fake: FakeOpenAI) -> None:
    headers = {"cf-aig-max-attempts": "0", "x-fake-key": str(uuid.uuid4())}
    response = chat(gateway, "fail-1-then-ok", headers)
    assert response.status_code == 500  # not retried
    assert response.headers.get_list(WARNING) == ["cf-aig-max-attempts is below the minimum of 1; 1 is used"]
    assert len(fake.requests) == 1


def test_a_universal_steps_own_header_is_taken_into_range_and_the_warning_names_the_step(
    gateway: RunningGateway, fake: FakeOpenAI
) -> None:
    spelt = step("gpt-4o")
    spelt["headers"] |= {"cf-aig-max-attempts": "9", "cf-aig-retry-delay": "9000"}
    response = universal(gateway, [step("gpt-4o"), spelt], headers={"cf-aig-retry-delay": "7000"})
    assert (response.status_code, response.headers["cf-aig-step"]) == (200, "0")
    assert response.headers.get_list(WARNING) == [
        DELAY_ABOVE,
        f"step 1: {ATTEMPTS_ABOVE}",
        f"step 1: {DELAY_ABOVE}",
    ]
