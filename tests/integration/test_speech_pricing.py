"""Speech from gpt-4o-mini-tts, which OpenAI bills by text input and audio output tokens, not by
character as tts-1: its plain audio answer reports none of them, so it is unpriced (no cost, and
refused under a cost rule), never free; its `stream_format: "sse"` stream reports them in
`speech.audio.done`, and is priced by them. The official `openai` SDK against a fake OpenAI on
loopback that also streams speech."""

from __future__ import annotations

import base64
from collections.abc import Callable, Iterator

import openai
import orjson
import pytest
from aiohttp import web

from sluicegate.types import Usage
from sluicegate.usage.cost import PriceTable
from tests.conftest import RunningGateway
from tests.fakes.base import CALL
from tests.fakes.openai_server import FakeOpenAI
from tests.integration.test_budgets import set_settings

KEY = "sk-proj-speech-0123456789abcdef"
TEXT = "The quick brown fox jumps over the lazy dog."
STREAM_USAGE = {"input_tokens": 11, "output_tokens": 240, "total_tokens": 251}


class SpeechFake(FakeOpenAI):
    """The fake OpenAI, streaming speech as OpenAI does when asked (`stream_format: "sse"`)."""

    async def _speech(self, request: web.Request) -> web.StreamResponse:
        if request[CALL].body.get("stream_format") != "sse":
            return await super()._speech(request)
        delta = {"type": "speech.audio.delta", "audio": base64.b64encode(b"fake audio").decode()}
        done = {"type": "speech.audio.done", "usage": STREAM_USAGE}
        body = b"".join(b"data: " + orjson.dumps(event) + b"\n\n" for event in (delta, done))
        return web.Response(body=body, content_type="text/event-stream")


@pytest.fixture
def fake() -> Iterator[SpeechFake]:
    with SpeechFake().serve() as server:
        yield server


@pytest.fixture
def gateway(make_gateway: Callable[..., RunningGateway], fake: SpeechFake) -> RunningGateway:
    return make_gateway(upstreams={"openai": fake.base_url})


@pytest.fixture
def client(gateway: RunningGateway) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(base_url=gateway.provider_url("openai"), api_key=KEY, max_retries=0) as client:
        yield client


def test_plain_speech_from_a_token_priced_model_is_unpriced_not_free(
    gateway: RunningGateway, client: openai.OpenAI
) -> None:
    audio = client.audio.speech.create(model="gpt-4o-mini-tts", voice="alloy", input=TEXT)
    assert audio.content == TEXT.encode() * 64
    [record] = gateway.wait_for_logs(1)
    assert record["model"] == "gpt-4o-mini-tts"
    assert record["cost_usd"] is None
    assert record["unpriced"] is True


def test_under_a_cost_rule_plain_speech_is_refused_and_streamed_speech_charged_its_tokens(
    gateway: RunningGateway, client: openai.OpenAI, fake: SpeechFake
) -> None:
    set_settings(gateway, rate_limits=[{"name": "budget", "limit": 5, "period": 86400, "unit": "cost"}])
    with pytest.raises(openai.UnprocessableEntityError) as refused:
        client.audio.speech.create(model="gpt-4o-mini-tts", voice="alloy", input=TEXT)
    assert refused.value.body["code"] == "unpriced_model"  # type: ignore[index]
    assert fake.requests == []
    streamed = client.audio.speech.create(
        model="gpt-4o-mini-tts", voice="alloy", input=TEXT, stream_format="sse"
    )
    assert b"speech.audio.done" in streamed.content
    [record] = [logged for logged in gateway.wait_for_logs(2) if logged["status"] == 200]
    assert (record["tokens_in"], record["tokens_out"]) == (11, 240)
    usage = Usage(input_tokens=11, output_tokens=240)
    priced = PriceTable().cost("openai", "gpt-4o-mini-tts", usage)
    assert priced is not None
    assert record["cost_usd"] == pytest.approx(priced)
    assert record["cost_usd"] == pytest.approx((11 * 0.6 + 240 * 12) / 1e6)  # text in, audio out
    assert record["unpriced"] is False


def test_under_a_cost_rule_plain_speech_with_a_custom_cost_is_charged_it(
    gateway: RunningGateway, fake: SpeechFake
) -> None:
    """The operator's price has no rate for the characters plain speech is counted in, so the
    request's own `cf-aig-custom-cost` prices it, as it prices a model the table does not know."""
    set_settings(gateway, rate_limits=[{"name": "budget", "limit": 5, "period": 86400, "unit": "cost"}])
    custom = {"cf-aig-custom-cost": '{"total_cost": 0.01}'}
    with openai.OpenAI(
        base_url=gateway.provider_url("openai"), api_key=KEY, max_retries=0, default_headers=custom
    ) as client:
        audio = client.audio.speech.create(model="gpt-4o-mini-tts", voice="alloy", input=TEXT)
        assert audio.content == TEXT.encode() * 64
        [record] = gateway.wait_for_logs(1)
        assert (record["cost_usd"], record["unpriced"]) == (pytest.approx(0.01), False)
        again = client.audio.speech.with_raw_response.create(
            model="gpt-4o-mini-tts", voice="alloy", input=TEXT
        )
    # The first request's 0.01 is counted, and the second's reserved as it is admitted.
    assert float(again.headers["x-ratelimit-remaining"]) == pytest.approx(5 - 2 * 0.01)
    assert len(fake.requests) == 2
