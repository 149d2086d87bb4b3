"""An exact-cache hit gives every client the usage its API promises, also when the answer was
stored from a stream whose client did not ask for usage (the SDKs' default).

A translated stream (Gemini through the compat endpoint) is stored with the usage chunk its provider
reported, whoever asked: a later Messages or Responses client, or a chat stream asking
include_usage, gets the provider's usage; a chat stream that did not ask gets none, as before.
A stream that holds no usage at all (OpenAI's, stored without include_usage) gets the gateway's
count on a hit that asks, as the semantic cache gives one (usage_estimated in the log)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import anthropic
import openai
import pytest

from tests.conftest import RunningGateway
from tests.fakes.gemini_server import FakeGemini
from tests.fakes.openai_server import FakeOpenAI

GEMINI = "google-ai-studio/gemini-2.5-flash"
QUESTION = "name three rivers of Europe please"
MESSAGES: Any = [{"role": "user", "content": QUESTION}]


@pytest.fixture
def gateway(
    make_gateway: Callable[..., RunningGateway], gemini: FakeGemini, fake: FakeOpenAI
) -> RunningGateway:
    gateway = make_gateway(upstreams={"google-ai-studio": gemini.base_url, "openai": fake.base_url})
    gateway.configure(cache_enabled=True)
    return gateway


@pytest.fixture
def keyed(gateway: RunningGateway) -> Iterator[openai.OpenAI]:
    """An OpenAI client whose requests all name one cache entry, whatever the body asks (a request
    asking include_usage is keyed apart otherwise)."""
    with openai.OpenAI(
        base_url=gateway.provider_url("openai"),
        api_key="k",
        max_retries=0,
        default_headers={"cf-aig-cache-key": "rivers"},
    ) as client:
        yield client


def test_a_translated_stream_stored_without_usage_gives_usage_to_every_client_that_asks(
    gateway: RunningGateway, gemini: FakeGemini
) -> None:
    with openai.OpenAI(base_url=gateway.provider_url("compat"), api_key="k", max_retries=0) as chat:
        first = chat.chat.completions.with_raw_response.create(
            model=GEMINI, messages=MESSAGES, max_completion_tokens=1024, stream=True
        )
        stored = list(first.parse())
        assert first.headers["cf-aig-cache-status"] == "MISS"
        assert all(chunk.usage is None for chunk in stored)  # it did not ask
        (record,) = gateway.wait_for_logs(1)
        billed_in, billed_out = record["tokens_in"], record["tokens_out"]
        assert billed_in > 0
        assert billed_out > 0

        with anthropic.Anthropic(
            base_url=gateway.provider_url("compat"), api_key="k", max_retries=0
        ) as claude:
            with claude.messages.stream(model=GEMINI, max_tokens=1024, messages=MESSAGES) as stream:
                message = stream.get_final_message()
                assert stream.response.headers["cf-aig-cache-status"] == "HIT"
            assert (message.usage.input_tokens, message.usage.output_tokens) == (billed_in, billed_out)

            with chat.responses.stream(model=GEMINI, input=QUESTION, max_output_tokens=1024) as responses:
                response = responses.get_final_response()
            assert response.usage is not None
            assert (response.usage.input_tokens, response.usage.output_tokens) == (billed_in, billed_out)

            asking = chat.chat.completions.with_raw_response.create(
                model=GEMINI,
                messages=MESSAGES,
                max_completion_tokens=1024,
                stream=True,
                stream_options={"include_usage": True},
            )
            chunks = list(asking.parse())
            assert asking.headers["cf-aig-cache-status"] == "HIT"
            assert chunks[-1].choices == []
            assert chunks[-1].usage is not None
            assert (chunks[-1].usage.prompt_tokens, chunks[-1].usage.completion_tokens) == (
                billed_in,
                billed_out,
            )

            again = chat.chat.completions.with_raw_response.create(
                model=GEMINI, messages=MESSAGES, max_completion_tokens=1024, stream=True
            )
            replayed = list(again.parse())
            assert again.headers["cf-aig-cache-status"] == "HIT"
            assert all(chunk.usage is None and chunk.choices for chunk in replayed)  # not asked, not given
            assert len(gemini.requests) == 1


def test_an_openai_stream_stored_without_usage_gets_the_gateways_count_when_asked(
    gateway: RunningGateway, fake: FakeOpenAI, keyed: openai.OpenAI
) -> None:
    # The gateway asks OpenAI for a stream's usage chunk whatever the client asks; an upstream that
    # sends none all the same (no-usage) leaves the entry without usage.
    first = keyed.chat.completions.with_raw_response.create(
        model="gpt-4o-mini", messages=MESSAGES, stream=True, extra_headers={"x-fake-behavior": "no-usage"}
    )
    assert all(chunk.usage is None for chunk in first.parse())
    assert first.headers["cf-aig-cache-status"] == "MISS"

    asking = keyed.chat.completions.with_raw_response.create(
        model="gpt-4o-mini", messages=MESSAGES, stream=True, stream_options={"include_usage": True}
    )
    chunks = list(asking.parse())
    assert asking.headers["cf-aig-cache-status"] == "HIT"
    usage = chunks[-1].usage
    assert usage is not None
    assert chunks[-1].choices == []
    assert usage.prompt_tokens > 0
    assert usage.completion_tokens > 0
    assert usage.total_tokens == usage.prompt_tokens + usage.completion_tokens
    records = gateway.wait_for_logs(2)
    hit = next(r for r in records if r["cache_status"] == "HIT")
    assert hit["usage_estimated"] is True
    assert (hit["tokens_in"], hit["tokens_out"]) == (usage.prompt_tokens, usage.completion_tokens)
    assert len(fake.requests) == 1


def test_a_hit_of_a_stream_whose_client_did_not_ask_for_usage_is_logged_with_the_providers_usage(
    gateway: RunningGateway, fake: FakeOpenAI, keyed: openai.OpenAI
) -> None:
    # The gateway asked OpenAI for the usage chunk, and the entry keeps it: the hit is logged with the
    # provider's usage and saves what the miss cost, not the gateway's estimate of them.
    for expected in ("MISS", "HIT"):
        answer = keyed.chat.completions.with_raw_response.create(
            model="gpt-4o-mini", messages=MESSAGES, stream=True
        )
        chunks = list(answer.parse())
        assert answer.headers["cf-aig-cache-status"] == expected
        assert all(chunk.usage is None and chunk.choices for chunk in chunks)  # not asked, not given
    miss, hit = sorted(gateway.wait_for_logs(2), key=lambda record: record["cache_status"] == "HIT")
    assert fake.requests[0].json["stream_options"] == {"include_usage": True}
    assert (miss["cache_status"], miss["usage_estimated"]) == ("MISS", False)
    assert (hit["cache_status"], hit["usage_estimated"]) == ("HIT", False)
    assert (hit["tokens_in"], hit["tokens_out"]) == (miss["tokens_in"], miss["tokens_out"])
    assert hit["cost_usd"] == 0
    assert hit["saved_usd"] == pytest.approx(miss["cost_usd"])

    asking = keyed.chat.completions.with_raw_response.create(
        model="gpt-4o-mini", messages=MESSAGES, stream=True, stream_options={"include_usage": True}
    )
    usage = list(asking.parse())[-1].usage
    assert asking.headers["cf-aig-cache-status"] == "HIT"
    assert usage is not None
    assert (usage.prompt_tokens, usage.completion_tokens) == (miss["tokens_in"], miss["tokens_out"])
    assert len(fake.requests) == 1
