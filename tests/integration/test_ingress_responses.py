"""OpenAI's Responses API on the unified endpoint: the official `openai` SDK's `responses` pointed
at `…/compat`, talking to Anthropic, Gemini and an OpenAI-compatible provider through chat, and to
OpenAI's own `/responses` untranslated."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import anthropic
import httpx2 as httpx
import openai
import pytest

from tests.conftest import RunningGateway
from tests.fakes.anthropic_server import FakeAnthropic
from tests.fakes.gemini_server import FakeGemini
from tests.fakes.openai_server import FakeOpenAI

QUESTION = "what is the capital of France"
MODELS = ["anthropic/claude-sonnet-4-5", "google-ai-studio/gemini-2.5-flash", "deepseek/deepseek-chat"]
CAPITAL_TOOL: Any = {
    "type": "function",
    "name": "lookup_capital",
    "description": "Find a country's capital",
    "parameters": {"type": "object", "properties": {"country": {"type": "string"}}},
}


@pytest.fixture
def fakes() -> Iterator[dict[str, Any]]:
    with FakeOpenAI().serve() as oa, FakeAnthropic().serve() as an, FakeGemini().serve() as ge:
        yield {"openai": oa, "deepseek": oa, "anthropic": an, "google-ai-studio": ge}


@pytest.fixture
def gateway(make_gateway: Callable[..., RunningGateway], fakes: dict[str, Any]) -> RunningGateway:
    return make_gateway(upstreams={name: fake.base_url for name, fake in fakes.items()})


@pytest.fixture
def client(gateway: RunningGateway) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(
        base_url=gateway.provider_url("compat"), api_key="key-for-the-provider", max_retries=0
    ) as client:
        yield client


@pytest.mark.parametrize("model", MODELS)
def test_responses_create_through_each_provider(
    client: openai.OpenAI, gateway: RunningGateway, fakes: dict[str, Any], model: str
) -> None:
    response = client.responses.create(model=model, instructions="Answer briefly.", input=QUESTION)
    assert response.object == "response"
    assert response.status == "completed"
    assert QUESTION in response.output_text
    assert response.usage is not None
    assert response.usage.input_tokens > 0
    sent = fakes[model.partition("/")[0]].requests[-1]
    assert b"Answer briefly." in sent.body  # the instructions reached the provider as its system prompt
    record = gateway.wait_for_logs(1)[0]
    assert (record["provider"], record["status"]) == (model.partition("/")[0], 200)
    assert (record["tokens_in"], record["tokens_out"]) == (
        response.usage.input_tokens,
        response.usage.output_tokens,
    )
    assert record["usage_estimated"] is False


@pytest.mark.parametrize("model", MODELS)
def test_a_stream_has_the_typed_events(client: openai.OpenAI, gateway: RunningGateway, model: str) -> None:
    events = list(client.responses.create(model=model, input=QUESTION, stream=True))
    kinds = [event.type for event in events]
    assert kinds[:2] == ["response.created", "response.in_progress"]
    assert kinds[2] == "response.output_item.added"
    assert kinds[-1] == "response.completed"
    assert [event.sequence_number for event in events] == list(range(len(events)))
    text = "".join(event.delta for event in events if event.type == "response.output_text.delta")
    assert QUESTION in text
    completed = events[-1].response  # type: ignore[union-attr]
    assert completed.output_text == text
    assert completed.usage is not None
    record = gateway.wait_for_logs(1)[0]
    assert record["stream"] is True
    assert (record["tokens_in"], record["tokens_out"]) == (
        completed.usage.input_tokens,
        completed.usage.output_tokens,
    )


@pytest.mark.parametrize("model", MODELS)
def test_tools_round_trip_through_each_provider(
    client: openai.OpenAI, fakes: dict[str, Any], model: str
) -> None:
    asked: Any = [{"role": "user", "content": "use lookup_capital for France"}]
    response = client.responses.create(model=model, input=asked, tools=[CAPITAL_TOOL], tool_choice="required")
    calls = [item for item in response.output if item.type == "function_call"]
    assert [call.name for call in calls] == ["lookup_capital"]
    assert "France" in calls[0].arguments
    follow_up: Any = [
        *asked,
        *[item.model_dump(exclude_none=True) for item in response.output],
        {"type": "function_call_output", "call_id": calls[0].call_id, "output": "Paris"},
    ]
    final = client.responses.create(model=model, input=follow_up, tools=[CAPITAL_TOOL])
    assert final.output
    assert b"Paris" in fakes[model.partition("/")[0]].requests[-1].body


@pytest.mark.parametrize("model", MODELS)
def test_the_sdks_stream_helper_assembles_text_and_tool_calls(client: openai.OpenAI, model: str) -> None:
    with client.responses.stream(model=model, input=QUESTION) as stream:
        text = "".join(event.delta for event in stream if event.type == "response.output_text.delta")
        final = stream.get_final_response()
    assert final.output_text == text
    assert QUESTION in text
    with client.responses.stream(
        model=model,
        input="use lookup_capital for France",
        tools=[CAPITAL_TOOL],
        tool_choice={"type": "function", "name": "lookup_capital"},
    ) as stream:
        final = stream.get_final_response()
    calls = [item for item in final.output if item.type == "function_call"]
    assert [call.name for call in calls] == ["lookup_capital"]
    assert "France" in calls[0].arguments


def test_images_and_max_output_tokens_reach_the_provider(
    client: openai.OpenAI, fakes: dict[str, Any]
) -> None:
    response = client.responses.create(
        model="deepseek/deepseek-chat",
        max_output_tokens=2,
        input=[
            {
                "role": "user",
                "content": [
                    {"type": "input_text", "text": QUESTION},
                    {"type": "input_image", "image_url": "data:image/png;base64,iVBORw0K", "detail": "auto"},
                ],
            }
        ],
    )
    assert response.status == "incomplete"
    assert response.incomplete_details is not None
    assert response.incomplete_details.reason == "max_output_tokens"
    sent = fakes["deepseek"].requests[-1].json
    assert sent["max_tokens"] == 2  # what DeepSeek takes (OpenAICompatible.chat_cap)
    assert sent["messages"][0]["content"][1] == {
        "type": "image_url",
        "image_url": {"url": "data:image/png;base64,iVBORw0K"},
    }


def test_files_by_data_reach_the_provider_named(client: openai.OpenAI, fakes: dict[str, Any]) -> None:
    # OpenAI's chat API (and its fake) refuses a file's file_data without a filename: the item's
    # filename names it, else a name by its media type.
    data = "data:application/pdf;base64,JVBERi0x"
    response = client.responses.create(
        model="deepseek/deepseek-chat",
        input=[
            {
                "role": "user",
                "content": [
                    {"type": "input_file", "filename": "report.pdf", "file_data": data},
                    {"type": "input_file", "file_data": data},
                    {"type": "input_text", "text": "summarise them"},
                ],
            }
        ],
    )
    assert "summarise them" in response.output_text
    parts = fakes["deepseek"].requests[-1].json["messages"][0]["content"]
    assert parts[0] == {"type": "file", "file": {"filename": "report.pdf", "file_data": data}}
    assert parts[1] == {"type": "file", "file": {"filename": "document.pdf", "file_data": data}}


def test_openai_models_pass_through_to_openais_responses(
    client: openai.OpenAI, gateway: RunningGateway, fakes: dict[str, Any]
) -> None:
    response = client.responses.create(model="openai/gpt-4o-mini", input=QUESTION, store=True)
    assert QUESTION in response.output_text
    sent = fakes["openai"].requests[-1]
    assert sent.path == "/v1/responses"
    assert sent.json == {"model": "gpt-4o-mini", "input": QUESTION, "store": True}
    record = gateway.wait_for_logs(1)[0]
    assert response.usage is not None
    assert record["tokens_in"] == response.usage.input_tokens


@pytest.mark.parametrize(
    ("model", "extra", "error", "fragment"),
    [
        ("anthropic/rate-limited", {}, openai.RateLimitError, ""),
        ("google-ai-studio/error-500", {}, openai.InternalServerError, ""),
        ("gpt-4o", {}, openai.BadRequestError, "{provider}/{model}"),
        ("deepseek/x", {"previous_response_id": "resp_1"}, openai.BadRequestError, "previous_response_id"),
        ("deepseek/x", {"tools": [{"type": "web_search"}]}, openai.BadRequestError, "tools[0]"),
    ],
)
def test_errors_are_openai_errors(
    client: openai.OpenAI,
    model: str,
    extra: dict[str, Any],
    error: type[openai.APIStatusError],
    fragment: str,
) -> None:
    with pytest.raises(error) as caught:
        client.responses.create(model=model, input="hi", **extra)
    body = caught.value.response.json()["error"]
    assert body["message"]
    assert fragment in body["message"]


def test_one_meaning_is_one_cache_entry_whichever_api_asks(
    client: openai.OpenAI, gateway: RunningGateway, fakes: dict[str, Any]
) -> None:
    """A Messages request and a Responses request that mean the same chat request share the answer
    the first one stored, each rendered in its own API's shape."""
    cache = {"cf-aig-cache-ttl": "600"}
    with anthropic.Anthropic(
        base_url=gateway.provider_url("compat"), api_key="key-for-the-provider", max_retries=0
    ) as claude:
        message = claude.messages.create(
            model="deepseek/deepseek-chat",
            max_tokens=50,
            messages=[{"role": "user", "content": QUESTION}],
            extra_headers=cache,
        )
    raw = client.responses.with_raw_response.create(
        model="deepseek/deepseek-chat", input=QUESTION, max_output_tokens=50, extra_headers=cache
    )
    assert raw.headers["cf-aig-cache-status"] == "HIT"
    assert raw.parse().output_text == message.content[0].text  # type: ignore[union-attr]
    assert len(fakes["deepseek"].requests) == 1


def test_an_unknown_compat_path_lists_the_served_ones(gateway: RunningGateway) -> None:
    response = httpx.post(f"{gateway.provider_url('compat')}/v1/respond", json={})
    assert response.status_code == 404
    assert "responses" in response.json()["error"]["paths"]


ROUTE = {
    "if": {"metadata.tier": "pro"},
    "then": {"model": "anthropic/claude-sonnet-4-5"},
    "else": {"model": "google-ai-studio/gemini-2.5-flash"},
}


def test_dynamic_routes_serve_responses_and_messages_clients(
    gateway: RunningGateway, fakes: dict[str, Any]
) -> None:
    patched = gateway.http.patch(
        "/api/v1/accounts/local/gateways/default", json={"settings": {"routes": {"support": ROUTE}}}
    )
    assert patched.status_code == 200, patched.text
    pro = {"cf-aig-metadata": '{"tier": "pro"}'}
    with openai.OpenAI(
        base_url=gateway.provider_url("compat"), api_key="k", max_retries=0, default_headers=pro
    ) as client:
        raw = client.responses.with_raw_response.create(model="dynamic/support", input=QUESTION)
        assert QUESTION in raw.parse().output_text
        assert raw.headers["cf-aig-route"].startswith("support")
    assert len(fakes["anthropic"].requests) == 1
    with (
        anthropic.Anthropic(base_url=gateway.provider_url("compat"), api_key="k", max_retries=0) as claude,
        claude.messages.stream(
            model="dynamic/support", max_tokens=64, messages=[{"role": "user", "content": QUESTION}]
        ) as stream,
    ):
        text = "".join(stream.text_stream)
    assert QUESTION in text
    assert len(fakes["google-ai-studio"].requests) == 1  # no tier: the else branch
    records = gateway.wait_for_logs(2)
    assert sorted(r["provider"] for r in records) == ["anthropic", "google-ai-studio"]


def test_an_image_in_a_tools_output_reaches_anthropic_after_the_tool_result(
    client: openai.OpenAI, fakes: dict[str, Any]
) -> None:
    """Chat's tool messages hold text only, so the image goes in a user message after the tool
    result (ingress/tool_media.py); Anthropic gets both in the one user turn. It was a 400."""
    image = {"type": "input_image", "image_url": "data:image/png;base64,iVBORw0KGgo="}
    items: Any = [
        {"role": "user", "content": "take a screenshot"},
        {"type": "function_call", "call_id": "c1", "name": "screenshot", "arguments": "{}"},
        {"type": "function_call_output", "call_id": "c1", "output": [image]},
    ]
    response = client.responses.create(model="anthropic/claude-sonnet-4-5", input=items)
    assert response.status == "completed"
    [sent] = fakes["anthropic"].requests
    last_turn = sent.json["messages"][-1]
    assert last_turn["role"] == "user"
    kinds = [block["type"] for block in last_turn["content"]]
    assert kinds[0] == "tool_result"
    assert "image" in kinds
    [picture] = [block for block in last_turn["content"] if block["type"] == "image"]
    assert picture["source"] == {"type": "base64", "media_type": "image/png", "data": "iVBORw0KGgo="}
