"""`timeouts.upstream_timeout` bounds each wait on the upstream, not a whole exchange: a stream that
keeps sending outlasts it, one that goes quiet is cut after it (as the SDKs' own read timeouts do).
The official OpenAI SDK is the client; the fake OpenAI upstream streams one event per `gap-<ms>`."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import openai
import pytest

from tests.conftest import RunningGateway
from tests.fakes.openai_server import FakeOpenAI

IDLE = 0.5  # the gateway's upstream_timeout in these tests
WORDS = "one two three four five six seven eight nine ten"  # 12 events: ~12 gaps of 150 ms


@pytest.fixture
def gateway(make_gateway: Callable[..., RunningGateway], fake: FakeOpenAI) -> RunningGateway:
    return make_gateway(upstreams={"openai": fake.base_url}, upstream_timeout=IDLE)


@pytest.fixture
def client(gateway: RunningGateway) -> openai.OpenAI:
    return openai.OpenAI(base_url=gateway.provider_url("openai"), api_key="sk-test", max_retries=0)


def stream(client: openai.OpenAI, behavior: str, **extra: Any) -> openai.Stream[Any]:
    return client.chat.completions.create(
        model="gpt-4o-mini",
        messages=[{"role": "user", "content": WORDS}],
        stream=True,
        extra_headers={"x-fake-behavior": behavior, **extra},
    )


def test_a_stream_that_keeps_sending_is_not_cut_however_long_it_takes(
    client: openai.OpenAI, gateway: RunningGateway
) -> None:
    started = time.monotonic()
    text = "".join(
        chunk.choices[0].delta.content or "" for chunk in stream(client, "gap-150") if chunk.choices
    )
    assert text == f"echo: {WORDS}"
    assert time.monotonic() - started > 3 * IDLE  # it did outlast the timeout, several times over
    record = gateway.wait_for_logs(1)[0]
    assert (record["status"], record["error"]) == (200, None)


def test_a_stream_that_goes_quiet_is_cut_after_the_upstream_timeout(
    client: openai.OpenAI, gateway: RunningGateway, fake: FakeOpenAI
) -> None:
    started = time.monotonic()  # before the request: the gateway's idle clock starts later
    chunks = stream(client, "pause-stream")
    with pytest.raises(openai.APIError):
        for _ in chunks:
            pass
    waited = time.monotonic() - started
    fake.release()
    # Not cut before the timeout (measured from here it is at least that, as the upstream's last
    # event came after the request was sent), nor long after it.
    assert IDLE <= waited < IDLE + 2.0
    record = gateway.wait_for_logs(1)[0]
    assert "sent nothing for 0.5 s" in record["error"]
    # By the gateway's own clock: the cut came at least the timeout after the answer's first byte,
    # which its last event (the first content delta) followed.
    assert record["latency_ms"] - record["ttfb_ms"] >= IDLE * 1000


def test_an_answer_that_does_not_start_in_time_is_a_504(
    client: openai.OpenAI, gateway: RunningGateway, fake: FakeOpenAI
) -> None:
    with pytest.raises(openai.APIStatusError) as raised:
        client.chat.completions.create(model="slow-2000", messages=[{"role": "user", "content": "hello"}])
    assert raised.value.status_code == 504  # the request's deadline is the same 0.5 s by default
    assert len(fake.requests) == 1
