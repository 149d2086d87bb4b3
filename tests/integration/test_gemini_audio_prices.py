"""Gemini bills audio input at its own price: the cost the gateway logs splits the prompt by the
modalities Gemini reports (`promptTokensDetails`, `cacheTokensDetails`), whole and streamed
(alt=sse), natively through the google-genai SDK and translated on the compat endpoint through the
openai SDK, on loopback against the fake Gemini."""

from __future__ import annotations

import base64
from collections.abc import Callable, Iterator
from typing import Any

import openai
import pytest
from google import genai
from google.genai import types

from tests.conftest import RunningGateway
from tests.fakes.gemini_server import AUDIO_TOKENS, CACHED_TOKENS, THOUGHT_TOKENS, FakeGemini

MODEL = "gemini-2.5-flash"
# https://ai.google.dev/gemini-api/docs/pricing — Gemini 2.5 Flash, USD per million tokens: text
# (and image, video) input, audio input, context-cache reads of each, output (thinking included).
TEXT_IN, AUDIO_IN, TEXT_READ, AUDIO_READ, OUTPUT = 0.30, 1.00, 0.03, 0.10, 2.50
QUESTION = "transcribe this recording"  # 3 words; the answer "echo: transcribe this recording", 4
WAV = b"RIFF\x24\x00\x00\x00WAVEfmt "
OUT = 4 + THOUGHT_TOKENS


@pytest.fixture
def gateway(make_gateway: Callable[..., RunningGateway], gemini: FakeGemini) -> RunningGateway:
    return make_gateway(upstreams={"google-ai-studio": gemini.base_url})


@pytest.fixture
def studio(gateway: RunningGateway) -> Iterator[genai.Client]:
    options = types.HttpOptions(base_url=gateway.provider_url("google-ai-studio"))
    with genai.Client(api_key="AIza-test", http_options=options) as client:
        yield client


def logged(gateway: RunningGateway) -> dict[str, Any]:
    return gateway.wait_for_logs(1)[0]


@pytest.mark.parametrize("streamed", [False, True], ids=["json", "sse"])
def test_audio_input_is_billed_at_the_audio_price(
    gateway: RunningGateway, studio: genai.Client, streamed: bool
) -> None:
    contents = [QUESTION, types.Part.from_bytes(data=WAV, mime_type="audio/wav")]
    if streamed:
        chunks = list(studio.models.generate_content_stream(model=MODEL, contents=contents))
        metadata = chunks[-1].usage_metadata
    else:
        metadata = studio.models.generate_content(model=MODEL, contents=contents).usage_metadata
    assert metadata is not None
    assert metadata.prompt_tokens_details is not None
    audio = [d.token_count for d in metadata.prompt_tokens_details if d.modality == types.MediaModality.AUDIO]
    assert audio == [AUDIO_TOKENS]

    record = logged(gateway)
    assert record["stream"] is streamed
    assert (record["tokens_in"], record["tokens_out"]) == (3 + AUDIO_TOKENS, OUT)
    expected = (3 * TEXT_IN + AUDIO_TOKENS * AUDIO_IN + OUT * OUTPUT) / 1e6
    assert record["cost_usd"] == pytest.approx(expected, rel=1e-9)


def test_cached_audio_is_read_at_the_audio_cache_price(gateway: RunningGateway, studio: genai.Client) -> None:
    config = types.GenerateContentConfig(cached_content="cachedContents/audio-lecture")
    studio.models.generate_content(model=MODEL, contents=QUESTION, config=config)

    record = logged(gateway)
    assert (record["tokens_in"], record["cached_tokens"]) == (3 + CACHED_TOKENS, CACHED_TOKENS)
    expected = (3 * TEXT_IN + CACHED_TOKENS * AUDIO_READ + OUT * OUTPUT) / 1e6
    assert record["cost_usd"] == pytest.approx(expected, rel=1e-9)
    assert TEXT_READ < AUDIO_READ  # read as a text cache, it would have cost less


@pytest.mark.parametrize("form", ["json", "stream", "stream-with-usage"])
def test_audio_input_translated_on_the_compat_endpoint(gateway: RunningGateway, form: str) -> None:
    audio = {"data": base64.b64encode(WAV).decode(), "format": "wav"}
    messages: Any = [
        {
            "role": "user",
            "content": [{"type": "text", "text": QUESTION}, {"type": "input_audio", "input_audio": audio}],
        }
    ]
    with openai.OpenAI(base_url=gateway.provider_url("compat"), api_key="k", max_retries=0) as client:
        model = f"google-ai-studio/{MODEL}"
        if form == "json":
            completion = client.chat.completions.create(model=model, messages=messages)
            assert completion.usage is not None
            assert completion.usage.prompt_tokens_details is not None
            assert completion.usage.prompt_tokens_details.audio_tokens == AUDIO_TOKENS
        else:
            options: Any = {"include_usage": True} if form == "stream-with-usage" else openai.omit
            stream = client.chat.completions.create(
                model=model, messages=messages, stream=True, stream_options=options
            )
            assert [chunk for chunk in stream]

    record = logged(gateway)
    assert (record["tokens_in"], record["tokens_out"]) == (3 + AUDIO_TOKENS, OUT)
    expected = (3 * TEXT_IN + AUDIO_TOKENS * AUDIO_IN + OUT * OUTPUT) / 1e6
    assert record["cost_usd"] == pytest.approx(expected, rel=1e-9)
