"""The unified endpoint gives each client the upstream's request id under the header its own SDK
reads (`request-id` for the `anthropic` SDKs, `x-request-id` for the `openai` SDKs' chat and
Responses), keeping the upstream's own, on answers, errors and streams, stored answers too; and a
Messages answer rendered from a chat answer has a `msg_…` id of its own, not the chat one."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import anthropic
import openai
import pytest

from tests.conftest import RunningGateway
from tests.fakes.anthropic_server import FakeAnthropic
from tests.fakes.gemini_server import FakeGemini
from tests.fakes.openai_server import FakeOpenAI

CLAUDE = "anthropic/claude-sonnet-4-6"
GPT = "openai/gpt-4o-mini"
GEMINI = "google-ai-studio/gemini-2.5-flash"
ASKED = "name a river"


@pytest.fixture
def gateway(
    make_gateway: Callable[..., RunningGateway], fake: FakeOpenAI, claude: FakeAnthropic, gemini: FakeGemini
) -> RunningGateway:
    upstreams = {"openai": fake.base_url, "anthropic": claude.base_url, "google-ai-studio": gemini.base_url}
    return make_gateway(upstreams=upstreams)


@pytest.fixture
def messages(gateway: RunningGateway) -> Iterator[anthropic.Anthropic]:
    with anthropic.Anthropic(base_url=gateway.provider_url("compat"), api_key="k", max_retries=0) as client:
        yield client


@pytest.fixture
def chat(gateway: RunningGateway) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(base_url=gateway.provider_url("compat"), api_key="k", max_retries=0) as client:
        yield client


def test_a_messages_answer_from_openai_has_openais_request_id_where_the_anthropic_sdk_reads_it(
    messages: anthropic.Anthropic,
) -> None:
    raw = messages.messages.with_raw_response.create(
        model=GPT, max_tokens=32, messages=[{"role": "user", "content": ASKED}]
    )
    message = raw.parse()
    assert raw.headers["x-request-id"].startswith("req_fake_")  # OpenAI's own header, kept
    assert message._request_id == raw.headers["x-request-id"]
    assert message.id.startswith("msg_")
    assert "chatcmpl" not in message.id


def test_a_messages_stream_from_openai_has_its_request_id_and_a_msg_id(messages: anthropic.Anthropic) -> None:
    with messages.messages.stream(
        model=GPT, max_tokens=32, messages=[{"role": "user", "content": ASKED}]
    ) as stream:
        started = [event.message.id for event in stream if event.type == "message_start"]
        assert stream.request_id is not None
        assert stream.request_id == stream.response.headers["x-request-id"]
    assert len(started) == 1
    assert started[0].startswith("msg_")
    assert "chatcmpl" not in started[0]
    assert stream.get_final_message().id == started[0]


@pytest.mark.parametrize("stream", [False, True])
def test_a_messages_error_from_openai_has_its_request_id(messages: anthropic.Anthropic, stream: bool) -> None:
    with pytest.raises(anthropic.NotFoundError) as raised:
        messages.messages.create(
            model="openai/error-404",
            max_tokens=32,
            messages=[{"role": "user", "content": ASKED}],
            stream=stream,
        )
    assert raised.value.request_id is not None
    assert raised.value.request_id == raised.value.response.headers["x-request-id"]


def test_a_messages_answer_from_gemini_has_a_msg_id_whole_and_streamed(messages: anthropic.Anthropic) -> None:
    asked: list[anthropic.types.MessageParam] = [{"role": "user", "content": ASKED}]
    whole = messages.messages.create(model=GEMINI, max_tokens=32, messages=asked)
    with messages.messages.stream(model=GEMINI, max_tokens=32, messages=asked) as stream:
        streamed = stream.get_final_message()
    ids = [whole.id, streamed.id]
    assert all(found.startswith("msg_") and "chatcmpl" not in found for found in ids)
    assert whole.id != streamed.id


def test_a_chat_answer_from_anthropic_has_anthropics_request_id_where_the_openai_sdk_reads_it(
    chat: openai.OpenAI,
) -> None:
    raw = chat.chat.completions.with_raw_response.create(
        model=CLAUDE, max_tokens=32, messages=[{"role": "user", "content": ASKED}]
    )
    completion = raw.parse()
    assert raw.headers["request-id"].startswith("req_fake_")  # Anthropic's own header, kept
    assert completion._request_id == raw.headers["request-id"]


def test_a_chat_stream_from_anthropic_has_its_request_id(chat: openai.OpenAI) -> None:
    with chat.chat.completions.with_streaming_response.create(
        model=CLAUDE, max_tokens=32, messages=[{"role": "user", "content": ASKED}], stream=True
    ) as response:
        assert response.request_id is not None
        assert response.request_id == response.headers["request-id"]
        assert any(chunk.choices for chunk in response.parse())


@pytest.mark.parametrize("stream", [False, True])
def test_a_chat_error_from_anthropic_has_its_request_id(chat: openai.OpenAI, stream: bool) -> None:
    with pytest.raises(openai.NotFoundError) as raised:
        chat.chat.completions.create(
            model="anthropic/error-404",
            max_tokens=32,
            messages=[{"role": "user", "content": ASKED}],
            stream=stream,
        )
    assert raised.value.request_id is not None
    assert raised.value.request_id == raised.value.response.headers["request-id"]


def test_a_responses_answer_and_stream_from_anthropic_have_its_request_id(chat: openai.OpenAI) -> None:
    response = chat.responses.create(model=CLAUDE, input=ASKED, max_output_tokens=32)
    assert response._request_id is not None
    assert response._request_id.startswith("req_fake_")
    with chat.responses.with_streaming_response.create(
        model=CLAUDE, input=ASKED, max_output_tokens=32, stream=True
    ) as streamed:
        assert streamed.request_id is not None
        assert streamed.request_id == streamed.headers["request-id"]
        assert any(event.type == "response.completed" for event in streamed.parse())
    with pytest.raises(openai.NotFoundError) as raised:
        chat.responses.create(model="anthropic/error-404", input=ASKED)
    assert raised.value.request_id == raised.value.response.headers["request-id"]


def test_a_stored_answer_carries_the_request_id_it_was_answered_with(
    gateway: RunningGateway, messages: anthropic.Anthropic, chat: openai.OpenAI
) -> None:
    """As on the providers' own endpoints, a hit replays the upstream's id of the stored answer."""
    gateway.configure(cache_enabled=True, semantic_cache_enabled=False)

    def ask_messages() -> tuple[str, str, str | None]:
        """The cache status, OpenAI's header, and the id the anthropic SDK read."""
        asked: list[anthropic.types.MessageParam] = [{"role": "user", "content": ASKED}]
        raw = messages.messages.with_raw_response.create(model=GPT, max_tokens=32, messages=asked)
        return raw.headers["cf-aig-cache-status"], raw.headers["x-request-id"], raw.parse()._request_id

    def ask_chat() -> tuple[str, str, str | None]:
        """The cache status, Anthropic's header, and the id the openai SDK read."""
        asked: list[openai.types.chat.ChatCompletionMessageParam] = [{"role": "user", "content": ASKED}]
        raw = chat.chat.completions.with_raw_response.create(model=CLAUDE, max_tokens=32, messages=asked)
        return raw.headers["cf-aig-cache-status"], raw.headers["request-id"], raw.parse()._request_id

    for ask in (ask_messages, ask_chat):
        (miss, upstream, read), (hit, replayed, read_again) = ask(), ask()
        assert (miss, hit) == ("MISS", "HIT")
        assert upstream.startswith("req_fake_")
        assert read == read_again == replayed == upstream
