"""Anthropic's Messages API on the unified endpoint: the official `anthropic` SDK pointed at
`…/compat`, talking to OpenAI, Gemini and Workers AI through chat, and to Anthropic untranslated."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import anthropic
import httpx2 as httpx
import openai
import pytest

from tests.conftest import RunningGateway
from tests.fakes.anthropic_server import FakeAnthropic
from tests.fakes.gemini_server import THOUGHT_TOKENS, FakeGemini
from tests.fakes.openai_server import FakeOpenAI
from tests.fakes.workers_ai_server import FakeWorkersAI

QUESTION = "what is the capital of France"
MODELS = [
    "openai/gpt-4o-mini",
    "google-ai-studio/gemini-2.5-flash",
    "workers-ai/@cf/meta/llama-3.1-8b-instruct",
]
CAPITAL_TOOL: Any = {
    "name": "lookup_capital",
    "description": "Find a country's capital",
    "input_schema": {"type": "object", "properties": {"country": {"type": "string"}}},
}


@pytest.fixture
def fakes() -> Iterator[dict[str, Any]]:
    with (
        FakeOpenAI().serve() as oa,
        FakeAnthropic().serve() as an,
        FakeGemini().serve() as ge,
        FakeWorkersAI().serve() as wa,
    ):
        yield {"openai": oa, "anthropic": an, "google-ai-studio": ge, "workers-ai": wa}


@pytest.fixture
def gateway(make_gateway: Callable[..., RunningGateway], fakes: dict[str, Any]) -> RunningGateway:
    return make_gateway(upstreams={name: fake.base_url for name, fake in fakes.items()})


@pytest.fixture
def client(gateway: RunningGateway) -> Iterator[anthropic.Anthropic]:
    with anthropic.Anthropic(
        base_url=gateway.provider_url("compat"), api_key="key-for-the-provider", max_retries=0
    ) as client:
        yield client


def forced_tool(model: str) -> dict[str, Any]:
    """Arguments that make the model call a tool. Workers AI's API cannot force one: its fake
    calls one when told to by a header."""
    if model.startswith("workers-ai/"):
        return {"tool_choice": {"type": "auto"}, "extra_headers": {"x-fake-behavior": "tool-call"}}
    return {"tool_choice": {"type": "any"}}


@pytest.mark.parametrize("model", MODELS)
def test_messages_create_through_each_provider(
    client: anthropic.Anthropic, gateway: RunningGateway, fakes: dict[str, Any], model: str
) -> None:
    message = client.messages.create(
        model=model,
        max_tokens=100,
        system="Answer briefly.",
        messages=[{"role": "user", "content": [{"type": "text", "text": QUESTION}]}],
    )
    assert message.type == "message"
    assert message.role == "assistant"
    assert message.content[0].type == "text"
    assert QUESTION in message.content[0].text
    assert message.stop_reason == "end_turn"
    assert message.usage.input_tokens > 0
    assert message.usage.output_tokens > 0
    slug = model.partition("/")[0]
    sent = fakes[slug].requests[-1]
    assert sent.header("authorization") == "Bearer key-for-the-provider" or slug == "google-ai-studio"
    record = gateway.wait_for_logs(1)[0]
    assert (record["provider"], record["status"]) == (slug, 200)
    assert (record["tokens_in"], record["tokens_out"]) == (
        message.usage.input_tokens,
        message.usage.output_tokens,
    )
    assert record["usage_estimated"] is False


@pytest.mark.parametrize("model", MODELS)
def test_messages_stream_through_each_provider(
    client: anthropic.Anthropic, gateway: RunningGateway, model: str
) -> None:
    with client.messages.stream(
        model=model, max_tokens=100, messages=[{"role": "user", "content": QUESTION}]
    ) as stream:
        text = "".join(stream.text_stream)
        message = stream.get_final_message()
    assert QUESTION in text
    assert message.content[0].text == text  # type: ignore[union-attr]
    assert message.stop_reason == "end_turn"
    assert message.usage.input_tokens > 0
    assert message.usage.output_tokens > 0
    record = gateway.wait_for_logs(1)[0]
    assert record["stream"] is True
    assert (record["tokens_in"], record["tokens_out"]) == (
        message.usage.input_tokens,
        message.usage.output_tokens,
    )


def test_a_whole_answer_is_logged_with_the_usage_chat_reported(
    client: anthropic.Anthropic, gateway: RunningGateway
) -> None:
    # Anthropic's usage has no field for reasoning tokens: the log keeps what the chat answer said,
    # as it does for a stream.
    asked: Any = {"max_tokens": 100, "messages": [{"role": "user", "content": QUESTION}]}
    message = client.messages.create(model="google-ai-studio/gemini-2.5-flash", **asked)
    with client.messages.stream(model="google-ai-studio/gemini-2.5-flash", **asked) as stream:
        stream.get_final_message()
    streamed, whole = gateway.wait_for_logs(2)
    assert (whole["stream"], streamed["stream"]) == (False, True)
    assert whole["reasoning_tokens"] == streamed["reasoning_tokens"] == THOUGHT_TOKENS
    assert (whole["tokens_in"], whole["tokens_out"]) == (
        message.usage.input_tokens,
        message.usage.output_tokens,
    )
    assert whole["cost_usd"] == streamed["cost_usd"]


@pytest.mark.parametrize("behavior", ["drop-mid-stream", "no-usage", "pause-stream"])
def test_a_stream_whose_chat_reports_no_usage_is_estimated_not_logged_as_zero(
    client: anthropic.Anthropic, gateway: RunningGateway, fakes: dict[str, Any], behavior: str
) -> None:
    # The upstream breaks off, reports no usage, or the client hangs up after the first delta: the
    # zeros message_start must carry (chat tells usage only at its end) are no usage report.
    try:
        with client.messages.stream(
            model=f"openai/{behavior}", max_tokens=100, messages=[{"role": "user", "content": QUESTION}]
        ) as stream:
            for event in stream:
                if event.type == "content_block_delta" and behavior == "pause-stream":
                    break
    except anthropic.APIStatusError:  # the upstream broke off: Anthropic's error event ended the stream
        assert behavior == "drop-mid-stream"
    fakes["openai"].release()
    record = gateway.wait_for_logs(1)[0]
    assert record["usage_estimated"] is True
    assert record["tokens_in"] > 0
    assert record["tokens_out"] > 0


@pytest.mark.parametrize("model", MODELS)
def test_tools_round_trip_through_each_provider(
    client: anthropic.Anthropic, fakes: dict[str, Any], model: str
) -> None:
    asked: Any = [{"role": "user", "content": "use lookup_capital for France"}]
    message = client.messages.create(
        model=model,
        max_tokens=100,
        messages=asked,
        tools=[CAPITAL_TOOL],
        **forced_tool(model),
    )
    assert message.stop_reason == "tool_use"
    calls = [block for block in message.content if block.type == "tool_use"]
    assert calls
    assert calls[0].name == "lookup_capital"
    assert isinstance(calls[0].input, dict)
    assert calls[0].input
    answered: Any = [
        *asked,
        {"role": "assistant", "content": [block.model_dump() for block in message.content]},
        {
            "role": "user",
            "content": [{"type": "tool_result", "tool_use_id": calls[0].id, "content": "Paris"}],
        },
    ]
    final = client.messages.create(model=model, max_tokens=100, messages=answered, tools=[CAPITAL_TOOL])
    assert final.content
    sent = fakes[model.partition("/")[0]].requests[-1].body
    assert b"Paris" in sent  # the tool's result reached the provider
    if model.startswith("openai/"):
        assert calls[0].id.encode() in sent  # the call it answers, by the id the call came with


@pytest.mark.parametrize("model", ["openai/gpt-4o-mini", "google-ai-studio/gemini-2.5-flash"])
def test_a_streamed_tool_call_arrives_whole(client: anthropic.Anthropic, model: str) -> None:
    with client.messages.stream(
        model=model,
        max_tokens=100,
        messages=[{"role": "user", "content": "use lookup_capital for France"}],
        tools=[CAPITAL_TOOL],
        tool_choice={"type": "tool", "name": "lookup_capital"},
    ) as stream:
        message = stream.get_final_message()
    calls = [block for block in message.content if block.type == "tool_use"]
    assert [call.name for call in calls] == ["lookup_capital"]
    assert "France" in str(calls[0].input)
    assert message.stop_reason == "tool_use"


def test_images_and_stop_sequences_reach_the_provider(
    client: anthropic.Anthropic, fakes: dict[str, Any]
) -> None:
    client.messages.create(
        model="openai/gpt-4o-mini",
        max_tokens=100,
        stop_sequences=["STOP"],
        messages=[
            {
                "role": "user",
                "content": [
                    {
                        "type": "image",
                        "source": {"type": "base64", "media_type": "image/png", "data": "iVBORw0K"},
                    },
                    {"type": "text", "text": "describe it"},
                ],
            }
        ],
    )
    sent = fakes["openai"].requests[-1].json
    assert sent["stop"] == ["STOP"]
    parts = sent["messages"][0]["content"]
    assert parts[0] == {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0K"}}


def test_pdf_documents_reach_openai_as_named_files(
    client: anthropic.Anthropic, fakes: dict[str, Any]
) -> None:
    # OpenAI's chat API (and its fake) refuses a file's file_data without a filename: the block's
    # title names it, else a name by its media type.
    pdf: Any = {"type": "base64", "media_type": "application/pdf", "data": "JVBERi0x"}
    message = client.messages.create(
        model="openai/gpt-4o-mini",
        max_tokens=100,
        messages=[
            {
                "role": "user",
                "content": [
                    {"type": "document", "title": "report.pdf", "source": pdf},
                    {"type": "document", "source": pdf},
                    {"type": "text", "text": "summarise them"},
                ],
            }
        ],
    )
    assert "summarise them" in message.content[0].text  # type: ignore[union-attr]
    parts = fakes["openai"].requests[-1].json["messages"][0]["content"]
    data = "data:application/pdf;base64,JVBERi0x"
    assert parts[0] == {"type": "file", "file": {"filename": "report.pdf", "file_data": data}}
    assert parts[1] == {"type": "file", "file": {"filename": "document.pdf", "file_data": data}}


@pytest.mark.parametrize("model", ["openai/gpt-4o-mini", "google-ai-studio/gemini-2.5-flash"])
def test_count_tokens_is_counted_by_the_gateway(
    client: anthropic.Anthropic, gateway: RunningGateway, fakes: dict[str, Any], model: str
) -> None:
    short = client.messages.count_tokens(model=model, messages=[{"role": "user", "content": "hi"}])
    long = client.messages.count_tokens(
        model=model,
        system="Answer briefly.",
        messages=[{"role": "user", "content": QUESTION * 10}],
        tools=[CAPITAL_TOOL],
    )
    assert 0 < short.input_tokens < long.input_tokens
    assert all(fake.requests == [] for fake in fakes.values())  # nothing went upstream
    # Logged as the count it is, under the endpoint the client called: not as a free generation.
    records = gateway.wait_for_logs(2)
    assert [(r["endpoint"], r["tokens_in"], r["tokens_out"], r["cost_usd"]) for r in records] == [
        ("v1/messages/count_tokens", counted.input_tokens, 0, 0.0) for counted in (long, short)
    ]
    assert {(r["provider"], r["status"], r["unpriced"]) for r in records} == {
        (model.split("/")[0], 200, False)
    }


def test_a_count_spends_nothing_of_a_routes_token_limit(
    client: anthropic.Anthropic, gateway: RunningGateway
) -> None:
    limit = {"unit": "tokens", "limit": 60, "period": 3600}
    route = {"limit": limit, "then": {"model": "openai/gpt-4o-mini"}, "else": {"model": "openai/budget"}}
    gateway.configure(routes={"capped": route})
    asked: Any = [{"role": "user", "content": QUESTION * 20}]
    assert client.messages.count_tokens(model="dynamic/capped", messages=asked).input_tokens > 60
    gateway.wait_for_logs(1)
    message = client.messages.create(
        model="dynamic/capped", max_tokens=10, messages=[{"role": "user", "content": "hi"}]
    )
    assert message.model.startswith("gpt-4o-mini")  # no model read the counted tokens


def test_count_tokens_for_anthropic_models_is_anthropics(
    client: anthropic.Anthropic, fakes: dict[str, Any]
) -> None:
    counted = client.messages.count_tokens(
        model="anthropic/claude-sonnet-4-5", messages=[{"role": "user", "content": QUESTION}]
    )
    assert counted.input_tokens > 0
    assert fakes["anthropic"].requests[-1].path == "/v1/messages/count_tokens"
    assert fakes["anthropic"].requests[-1].json["model"] == "claude-sonnet-4-5"


def test_anthropic_models_pass_through_untranslated(
    client: anthropic.Anthropic, gateway: RunningGateway, fakes: dict[str, Any]
) -> None:
    asked: Any = {"max_tokens": 50, "messages": [{"role": "user", "content": QUESTION}]}
    message = client.messages.create(model="anthropic/claude-sonnet-4-5", **asked, extra_body={"top_k": 5})
    assert QUESTION in message.content[0].text  # type: ignore[union-attr]
    sent = fakes["anthropic"].requests[-1]
    assert sent.path == "/v1/messages"
    assert sent.json == {"model": "claude-sonnet-4-5", **asked, "top_k": 5}  # nothing translated
    assert "key-for-the-provider" in (sent.header("x-api-key") or sent.header("authorization") or "")
    record = gateway.wait_for_logs(1)[0]
    assert record["tokens_in"] == message.usage.input_tokens


@pytest.mark.parametrize(
    ("model", "error", "kind"),
    [
        ("openai/error-400", anthropic.BadRequestError, "invalid_request_error"),
        ("openai/rate-limited", anthropic.RateLimitError, "rate_limit_error"),
        ("google-ai-studio/error-500", anthropic.InternalServerError, "api_error"),
        ("gpt-4o", anthropic.BadRequestError, "invalid_request_error"),  # no provider: the gateway's 400
    ],
)
def test_errors_come_back_in_anthropics_shape(
    client: anthropic.Anthropic, model: str, error: type[anthropic.APIStatusError], kind: str
) -> None:
    with pytest.raises(error) as caught:
        client.messages.create(model=model, max_tokens=10, messages=[{"role": "user", "content": "hi"}])
    body = caught.value.response.json()
    assert body["type"] == "error"
    assert body["error"]["type"] == kind
    assert body["error"]["message"]


def test_a_missing_max_tokens_is_named(gateway: RunningGateway) -> None:
    response = httpx.post(
        f"{gateway.provider_url('compat')}/v1/messages",
        json={"model": "openai/gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]},
    )
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["type"] == "invalid_request_error"
    assert "max_tokens" in error["message"]


def test_gateway_errors_before_the_body_is_read_are_anthropic_shaped(client: anthropic.Anthropic) -> None:
    elsewhere = client.with_options(base_url=str(client.base_url).replace("/default/", "/nope/"))
    with pytest.raises(anthropic.NotFoundError) as caught:
        elsewhere.messages.create(
            model="openai/gpt-4o-mini", max_tokens=10, messages=[{"role": "user", "content": "hi"}]
        )
    assert caught.value.response.json()["error"]["type"] == "not_found_error"


def test_a_cached_answer_is_served_in_the_form_asked(
    gateway: RunningGateway, client: anthropic.Anthropic, fakes: dict[str, Any]
) -> None:
    """Stored as the chat answer it is, the entry is rendered for each request: one whole, then
    the same entry (one cache key) as a stream."""
    key = {"cf-aig-cache-key": "capital", "cf-aig-cache-ttl": "600"}
    asked: Any = {"model": "openai/gpt-4o-mini", "max_tokens": 100}
    asked["messages"] = [{"role": "user", "content": QUESTION}]
    first = client.messages.create(**asked, extra_headers=key)
    raw = client.messages.with_raw_response.create(**asked, stream=True, extra_headers=key)
    assert raw.headers["cf-aig-cache-status"] == "HIT"
    events = list(raw.parse())
    text = "".join(
        e.delta.text for e in events if e.type == "content_block_delta" and e.delta.type == "text_delta"
    )
    assert len(fakes["openai"].requests) == 1
    assert text == first.content[0].text  # type: ignore[union-attr]
    assert events[-1].type == "message_stop"


def test_an_untranslated_request_never_meets_a_chat_clients_entry(
    client: anthropic.Anthropic, gateway: RunningGateway, fakes: dict[str, Any]
) -> None:
    """A chat client's request to `anthropic/…` goes upstream as the very body an Anthropic client
    sends untranslated; its entry holds a chat answer, which the Anthropic client must never get."""
    cache = {"cf-aig-cache-ttl": "600"}
    asked: Any = {"model": "anthropic/claude-sonnet-4-5", "max_tokens": 50}
    asked["messages"] = [{"role": "user", "content": QUESTION}]
    with openai.OpenAI(base_url=gateway.provider_url("compat"), api_key="k", max_retries=0) as chat:
        chat.chat.completions.create(**asked, extra_headers=cache)
    raw = client.messages.with_raw_response.create(**asked, extra_headers=cache)
    assert raw.headers["cf-aig-cache-status"] == "MISS"
    assert raw.parse().type == "message"
    assert fakes["anthropic"].requests[0].json == fakes["anthropic"].requests[1].json  # the same body


def test_a_gemini_3_tool_loop_works_though_tool_use_blocks_carry_no_signature(
    client: anthropic.Anthropic, fakes: dict[str, Any]
) -> None:
    # Gemini 3 refuses a function call sent back without its thought signature; a Messages client
    # sends back its tool_use block, which has no place for one: Google's documented stand-in goes.
    model = "google-ai-studio/gemini-3-pro-preview"
    tool: Any = {
        "name": "lookup",
        "input_schema": {"type": "object", "properties": {"query": {"type": "string"}}},
    }
    asked: list[Any] = [{"role": "user", "content": "lookup Paris"}]
    first = client.messages.create(model=model, max_tokens=100, tools=[tool], messages=asked)
    use = next(block for block in first.content if block.type == "tool_use")
    result = {
        "role": "user",
        "content": [{"type": "tool_result", "tool_use_id": use.id, "content": "France"}],
    }
    second = client.messages.create(
        model=model,
        max_tokens=100,
        tools=[tool],
        messages=[*asked, {"role": "assistant", "content": first.content}, result],
    )
    assert second.content  # answered: the fake, as Gemini 3, refuses an unsigned call with a 400
    model_turn = fakes["google-ai-studio"].requests[-1].json["contents"][1]
    assert model_turn["parts"][0]["thoughtSignature"] == "skip_thought_signature_validator"
