"""A Messages or Responses client streaming from an OpenAI-compatible server gets usage whatever the
server sends: the gateway asks it for its usage chunk (`stream_options.include_usage`), and where it
sends none, counts itself, as it does for a translated stream: the figures the log record holds,
marked estimated there, in `message_delta` and `response.completed` (they said 0 and null). A
cached copy keeps no such count: its hit counts for itself."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator

import anthropic
import openai
import pytest

from tests.conftest import RunningGateway
from tests.fakes.openai_server import FakeOpenAI

NO_USAGE = {"x-fake-behavior": "no-usage"}
MODEL = "groq/llama-3.1-8b-instant"
QUESTION = "alpha beta gamma delta"


@pytest.fixture
def fake() -> Iterator[FakeOpenAI]:
    with FakeOpenAI().serve() as fake:
        yield fake


@pytest.fixture
def gateway(make_gateway: Callable[..., RunningGateway], fake: FakeOpenAI) -> RunningGateway:
    gateway = make_gateway(upstreams={"groq": fake.base_url})
    gateway.configure(cache_enabled=True, semantic_cache_enabled=False)
    return gateway


def messages_usage(gateway: RunningGateway, **headers: str) -> tuple[int, int]:
    with (
        anthropic.Anthropic(base_url=gateway.provider_url("compat"), api_key="k", max_retries=0) as client,
        client.messages.stream(
            model=MODEL,
            max_tokens=100,
            messages=[{"role": "user", "content": QUESTION}],
            extra_headers=headers,
        ) as stream,
    ):
        for _ in stream:
            pass
        usage = stream.get_final_message().usage
    return usage.input_tokens, usage.output_tokens


def responses_usage(gateway: RunningGateway, **headers: str) -> tuple[int, int]:
    with (
        openai.OpenAI(base_url=gateway.provider_url("compat"), api_key="k", max_retries=0) as client,
        client.responses.stream(model=MODEL, input=QUESTION, extra_headers=headers) as stream,
    ):
        for _ in stream:
            pass
        usage = stream.get_final_response().usage
    assert usage is not None
    return usage.input_tokens, usage.output_tokens


@pytest.mark.parametrize("read", [messages_usage, responses_usage])
def test_a_stream_without_the_servers_usage_gets_the_gateways_count(
    gateway: RunningGateway, fake: FakeOpenAI, read: Callable[..., tuple[int, int]]
) -> None:
    counted = read(gateway, **NO_USAGE)
    assert counted[0] > 0
    assert counted[1] > 1
    (record,) = gateway.wait_for_logs(1)
    assert (record["tokens_in"], record["tokens_out"], record["cache_status"]) == (*counted, "MISS")
    assert record["usage_estimated"] is True
    sent = json.loads(fake.requests[-1].body)
    assert sent["stream_options"] == {"include_usage": True}

    # The cache kept the stream without the gateway's count: the hit counts for itself.
    hit_usage = read(gateway, **NO_USAGE)
    assert hit_usage[1] == counted[1]
    hit = gateway.wait_for_logs(2)[0]
    assert (hit["cache_status"], hit["usage_estimated"]) == ("HIT", True)
    assert len(fake.requests) == 1

    # Where the server reports usage, that is what the client is told.
    reported = read(gateway, **{"cf-aig-skip-cache": "true"})
    own = gateway.wait_for_logs(3)[0]
    assert (own["tokens_in"], own["tokens_out"], own["usage_estimated"]) == (*reported, False)
