"""A client of the compat endpoint that hangs up on a translated stream is recorded as gone, as on
a provider endpoint: the upstream's stream, which the gateway then closes, never came to its
closing event (message_stop), but that is not why it ended. The record bills what was written."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import openai
import pytest

from tests.conftest import RunningGateway
from tests.fakes.anthropic_server import FakeAnthropic
from tests.fakes.openai_server import FakeOpenAI

# The upstream holds its stream open after its first content event until the test releases it.
HELD = {"x-fake-behavior": "pause-stream"}
QUESTION = "name the three largest cities of France in order"
GONE = "client disconnected before the response ended"


@pytest.fixture
def gateway(
    make_gateway: Callable[..., RunningGateway], fake: FakeOpenAI, claude: FakeAnthropic
) -> Iterator[RunningGateway]:
    yield make_gateway(upstreams={"openai": fake.base_url, "anthropic": claude.base_url})
    fake.release()
    claude.release()


def assert_logged_as_gone(gateway: RunningGateway, upstream: Any) -> None:
    record = gateway.wait_for_logs(1)[0]
    upstream.release()
    assert (record["status"], record["stream"]) == (200, True)
    assert record["error"] == GONE
    assert record["tokens_in"] > 0
    assert record["tokens_out"] > 1  # the text written, counted: not message_start's placeholder
    assert record["usage_estimated"] is True


def test_a_chat_client_leaving_a_stream_from_anthropic(
    gateway: RunningGateway, claude: FakeAnthropic
) -> None:
    with openai.OpenAI(
        base_url=gateway.provider_url("compat"), api_key="sk-ant-test", max_retries=0
    ) as client:
        stream = client.chat.completions.create(
            model="anthropic/claude-sonnet-4-6",
            messages=[{"role": "user", "content": QUESTION}],
            stream=True,
            extra_headers=HELD,
        )
        chunks = iter(stream)
        while not any(choice.delta.content for choice in next(chunks).choices):
            pass  # the role's chunk, then the first text
        stream.close()
    assert_logged_as_gone(gateway, claude)


def test_a_responses_client_leaving_a_stream_from_anthropic(
    gateway: RunningGateway, claude: FakeAnthropic
) -> None:
    with openai.OpenAI(
        base_url=gateway.provider_url("compat"), api_key="sk-ant-test", max_retries=0
    ) as client:
        stream = client.responses.create(
            model="anthropic/claude-sonnet-4-6", input=QUESTION, stream=True, extra_headers=HELD
        )
        events = iter(stream)
        while next(events).type != "response.output_text.delta":
            pass
        stream.close()
    assert_logged_as_gone(gateway, claude)
