"""Usage and cost of the OpenAI endpoints a provider bills by something other than chat tokens:
embeddings (input tokens), images (per image, by size and quality; GPT Image by tokens), audio
transcription (per minute of audio; the GPT transcribe models by audio tokens) and speech (per
character), through the provider endpoint with the official `openai` SDK against the fake.
Where the price table has no price the record is flagged unpriced, as a chat record is."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import openai
import pytest

from sluicegate.types import Usage
from sluicegate.usage.cost import PriceTable
from tests.conftest import RunningGateway
from tests.fakes.openai_server import FakeOpenAI

KEY = "sk-proj-units-0123456789abcdef"
# 45 s of audio, as the fake counts it. (Under 1 MiB: aiohttp warns when it sends a larger body of
# raw bytes, and tests turn warnings into errors.)
AUDIO = bytes(16000 * 45)


@pytest.fixture
def gateway(make_gateway: Callable[..., RunningGateway], fake: FakeOpenAI) -> RunningGateway:
    return make_gateway(upstreams={"openai": fake.base_url})


@pytest.fixture
def client(gateway: RunningGateway) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(base_url=gateway.provider_url("openai"), api_key=KEY, max_retries=0) as client:
        yield client


def price(model: str, usage: Usage) -> float:
    cost = PriceTable().cost("openai", model, usage)
    assert cost is not None
    return cost


def logged(gateway: RunningGateway) -> dict[str, Any]:
    [record] = gateway.wait_for_logs(1)
    assert record["status"] == 200
    return record


def test_embeddings_are_priced_by_their_input_tokens(gateway: RunningGateway, client: openai.OpenAI) -> None:
    answer = client.embeddings.create(model="text-embedding-3-small", input=["one two three", "four"])
    record = logged(gateway)
    assert record["tokens_in"] == answer.usage.prompt_tokens == 4
    assert record["cost_usd"] == pytest.approx(price("text-embedding-3-small", Usage(input_tokens=4)))
    assert record["unpriced"] is False


@pytest.mark.parametrize(
    ("options", "per_image"),
    [
        ({"model": "dall-e-3"}, 0.04),  # the defaults: standard 1024x1024
        ({"model": "dall-e-3", "size": "1024x1792", "quality": "hd"}, 0.12),
        ({"model": "dall-e-2", "size": "256x256", "n": 3}, 0.016),
    ],
)
def test_images_are_priced_per_image_by_size_and_quality(
    gateway: RunningGateway, client: openai.OpenAI, options: dict[str, Any], per_image: float
) -> None:
    answer = client.images.generate(prompt="a lighthouse at dusk", **options)
    assert answer.data is not None
    record = logged(gateway)
    assert record["model"] == options["model"]
    assert record["cost_usd"] == pytest.approx(per_image * len(answer.data))
    assert record["unpriced"] is False


def test_gpt_image_is_priced_by_the_tokens_it_reports(gateway: RunningGateway, client: openai.OpenAI) -> None:
    answer = client.images.generate(model="gpt-image-1", prompt="a lighthouse at dusk")
    assert answer.usage is not None
    record = logged(gateway)
    assert (record["tokens_in"], record["tokens_out"]) == (
        answer.usage.input_tokens,
        answer.usage.output_tokens,
    )
    usage = Usage(input_tokens=answer.usage.input_tokens, output_tokens=answer.usage.output_tokens)
    assert record["cost_usd"] == pytest.approx(price("gpt-image-1", usage))


def test_speech_is_priced_per_character(gateway: RunningGateway, client: openai.OpenAI) -> None:
    text = "The quick brown fox jumps over the lazy dog."
    audio = client.audio.speech.create(model="tts-1", voice="alloy", input=text)
    assert audio.content == text.encode() * 64
    record = logged(gateway)
    assert record["model"] == "tts-1"
    assert record["cost_usd"] == pytest.approx(price("tts-1", Usage(characters=len(text))))
    assert record["cost_usd"] == pytest.approx(len(text) * 15 / 1e6)  # $15 per million characters


def test_a_transcription_is_priced_by_the_minute(gateway: RunningGateway, client: openai.OpenAI) -> None:
    answer = client.audio.transcriptions.create(model="whisper-1", file=("talk.wav", AUDIO))
    assert answer.text == "a fake transcript"
    record = logged(gateway)
    assert record["model"] == "whisper-1"  # read from the multipart form
    assert record["cost_usd"] == pytest.approx(price("whisper-1", Usage(audio_seconds=45)))
    assert record["cost_usd"] == pytest.approx(0.006 * 0.75)  # $0.006 a minute
    assert record["unpriced"] is False


@pytest.mark.parametrize(
    ("model", "response_format"), [("whisper-1", "text"), ("whisper-1", "srt"), ("gpt-4o-transcribe", "text")]
)
def test_a_transcription_answered_without_its_usage_is_flagged_unpriced(
    gateway: RunningGateway, client: openai.OpenAI, model: str, response_format: Any
) -> None:
    # A plain-text answer reports no seconds or tokens, the units it is billed by: its cost is
    # unknown, not 0 (the JSON answer of the same audio is priced above).
    answer = client.audio.transcriptions.create(
        model=model, file=("talk.wav", AUDIO), response_format=response_format
    )
    assert "a fake transcript" in answer
    record = logged(gateway)
    assert (record["model"], record["tokens_in"], record["cost_usd"]) == (model, None, None)
    assert record["unpriced"] is True


def test_a_token_billed_transcription_prices_its_audio_tokens(
    gateway: RunningGateway, client: openai.OpenAI
) -> None:
    client.audio.transcriptions.create(model="gpt-4o-mini-transcribe", file=("talk.wav", AUDIO))
    record = logged(gateway)
    audio_tokens = len(AUDIO) // 100
    assert (record["tokens_in"], record["tokens_out"]) == (audio_tokens, 3)
    usage = Usage(input_tokens=audio_tokens, output_tokens=3, input_audio_tokens=audio_tokens)
    assert record["cost_usd"] == pytest.approx(price("gpt-4o-mini-transcribe", usage))
    # Audio input is dearer than text input: priced as text, it would cost less.
    assert record["cost_usd"] > price("gpt-4o-mini-transcribe", Usage(audio_tokens, 3))


def test_a_model_without_a_price_is_flagged_unpriced(gateway: RunningGateway, client: openai.OpenAI) -> None:
    client.images.generate(model="dall-e-9000", prompt="a lighthouse at dusk")
    record = logged(gateway)
    assert record["cost_usd"] is None
    assert record["unpriced"] is True
