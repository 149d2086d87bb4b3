"""Gemini's overload (503, status UNAVAILABLE: "The model is overloaded") reaches a Messages client
as Anthropic says an overload, `overloaded_error`, not `api_error`: whole, before a stream, and as
a stream's error event. The status stays 503 (Anthropic's own is 529): the anthropic SDK raises
its ServiceUnavailableError, an InternalServerError it retries as it retries a 529."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import anthropic
import pytest

from tests.conftest import RunningGateway
from tests.fakes.gemini_server import FakeGemini

MODEL = "google-ai-studio/gemini-2.5-flash"
OVERLOADED = "The model is overloaded"
MESSAGES: list[anthropic.types.MessageParam] = [{"role": "user", "content": "name three rivers"}]


@pytest.fixture
def client(make_gateway: Callable[..., RunningGateway]) -> Iterator[anthropic.Anthropic]:
    with FakeGemini().serve() as fake:
        gateway = make_gateway(upstreams={"google-ai-studio": fake.base_url})
        with anthropic.Anthropic(
            base_url=gateway.provider_url("compat"), api_key="key", max_retries=0
        ) as client:
            yield client


def test_a_gemini_503_is_an_overloaded_error(client: anthropic.Anthropic) -> None:
    overload = {"x-fake-behavior": "error-503"}
    with pytest.raises(anthropic.InternalServerError) as whole:
        client.messages.create(model=MODEL, max_tokens=100, messages=MESSAGES, extra_headers=overload)
    with (
        pytest.raises(anthropic.InternalServerError) as streamed,
        client.messages.stream(
            model=MODEL, max_tokens=100, messages=MESSAGES, extra_headers=overload
        ) as stream,
    ):
        stream.get_final_message()
    for caught in (whole.value, streamed.value):
        assert caught.status_code == 503
        assert caught.body["error"]["type"] == "overloaded_error"  # type: ignore[index]
        assert OVERLOADED in caught.body["error"]["message"]  # type: ignore[index]


def test_a_gemini_overload_mid_stream_is_an_overloaded_error_event(client: anthropic.Anthropic) -> None:
    with (
        pytest.raises(anthropic.APIStatusError, match=OVERLOADED) as caught,
        client.messages.stream(
            model=MODEL,
            max_tokens=100,
            messages=MESSAGES,
            extra_headers={"x-fake-behavior": "error-mid-stream"},
        ) as stream,
    ):
        for _ in stream:
            pass
    assert caught.value.body["error"]["type"] == "overloaded_error"  # type: ignore[index]
