"""A cache hit served to a Messages stream client says its input tokens in `message_start`, as
Anthropic's own streams do: the stored answer's usage is known before its replay starts. (A live
translated stream cannot: chat reports usage at its end, so its message_start says 0 and
message_delta the figures.)"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import anthropic
import pytest

from tests.conftest import RunningGateway
from tests.fakes.gemini_server import FakeGemini

GEMINI = "google-ai-studio/gemini-2.5-flash"
MESSAGES: Any = [{"role": "user", "content": "name three rivers of Europe please"}]


@pytest.fixture
def client(make_gateway: Callable[..., RunningGateway]) -> Iterator[anthropic.Anthropic]:
    with FakeGemini().serve() as gemini:
        gateway = make_gateway(upstreams={"google-ai-studio": gemini.base_url})
        gateway.configure(cache_enabled=True, semantic_cache_enabled=False)
        with anthropic.Anthropic(
            base_url=gateway.provider_url("compat"), api_key="k", max_retries=0
        ) as client:
            yield client


def streamed(client: anthropic.Anthropic) -> tuple[str, int, anthropic.types.Message]:
    """The cache status, message_start's input tokens, and the final message."""
    with client.messages.stream(model=GEMINI, max_tokens=1024, messages=MESSAGES) as stream:
        starts = [event.message.usage.input_tokens for event in stream if event.type == "message_start"]
        status = stream.response.headers["cf-aig-cache-status"]
        final = stream.get_final_message()
    assert len(starts) == 1
    return status, starts[0], final


def test_a_cache_hit_tells_its_input_tokens_in_message_start(client: anthropic.Anthropic) -> None:
    status, opening, first = streamed(client)
    assert status == "MISS"
    assert opening == 0  # live: chat reports usage only at its end
    assert first.usage.input_tokens > 0
    status, opening, hit = streamed(client)
    assert status == "HIT"
    assert opening == first.usage.input_tokens
    assert hit.usage.input_tokens == first.usage.input_tokens
    assert hit.usage.output_tokens == first.usage.output_tokens
