"""Gemini's generateContent API on the unified endpoint: the official `google-genai` SDK pointed at
`…/compat`, talking to OpenAI, Anthropic and Workers AI through chat, and to Google AI Studio
untranslated."""

# ruff: noqa: F811  (the fakes and gateway fixtures are test_ingress_messages')
from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import orjson
import pytest
from google import genai
from google.genai import errors, types

from tests.conftest import RunningGateway
from tests.integration.test_ingress_messages import fakes, gateway  # noqa: F401  (fixtures)

QUESTION = "what is the capital of France"
KEY = "key-for-the-provider"
MODELS = [
    "openai/gpt-4o-mini",
    "anthropic/claude-sonnet-4-6",
    "workers-ai/@cf/meta/llama-3.1-8b-instruct",
]
CAPITAL_TOOL = types.Tool(
    function_declarations=[
        types.FunctionDeclaration(
            name="lookup_capital",
            description="Find a country's capital",
            parameters=types.Schema(
                type=types.Type.OBJECT,
                properties={"country": types.Schema(type=types.Type.STRING)},
                required=["country"],
            ),
        )
    ]
)
FORCED = types.ToolConfig(
    function_calling_config=types.FunctionCallingConfig(mode=types.FunctionCallingConfigMode.ANY)
)


@pytest.fixture
def client(gateway: RunningGateway) -> Iterator[genai.Client]:
    options = types.HttpOptions(base_url=gateway.provider_url("compat"))
    with genai.Client(api_key=KEY, http_options=options) as client:
        yield client


def headers(behavior: str) -> types.GenerateContentConfig:
    return types.GenerateContentConfig(http_options=types.HttpOptions(headers={"x-fake-behavior": behavior}))


@pytest.mark.parametrize("model", MODELS)
def test_generate_content_through_each_provider(
    client: genai.Client, gateway: RunningGateway, fakes: dict[str, Any], model: str
) -> None:
    response = client.models.generate_content(
        model=model,
        contents=QUESTION,
        config=types.GenerateContentConfig(system_instruction="Answer briefly.", max_output_tokens=100),
    )
    assert response.text is not None
    assert QUESTION in response.text
    candidate = response.candidates[0]  # type: ignore[index]
    assert candidate.finish_reason == types.FinishReason.STOP
    assert candidate.content.role == "model"  # type: ignore[union-attr]
    usage = response.usage_metadata
    assert usage is not None
    assert usage.prompt_token_count
    assert usage.candidates_token_count
    assert usage.total_token_count == usage.prompt_token_count + usage.candidates_token_count
    slug = model.partition("/")[0]
    sent = fakes[slug].requests[-1]
    assert sent.header("authorization") == f"Bearer {KEY}" or slug == "anthropic"
    assert sent.header("x-goog-api-key") is None
    record = gateway.wait_for_logs(1)[0]
    assert (record["provider"], record["status"], record["stream"]) == (slug, 200, False)
    assert (record["tokens_in"], record["tokens_out"]) == (
        usage.prompt_token_count,
        usage.candidates_token_count,
    )
    assert record["usage_estimated"] is False


@pytest.mark.parametrize("model", MODELS)
def test_stream_generate_content_through_each_provider(
    client: genai.Client, gateway: RunningGateway, model: str
) -> None:
    chunks = list(client.models.generate_content_stream(model=model, contents=QUESTION))
    text = "".join(chunk.text or "" for chunk in chunks)
    assert QUESTION in text
    assert len(chunks) > 1
    last = chunks[-1]
    assert last.candidates[0].finish_reason == types.FinishReason.STOP  # type: ignore[index]
    assert all(chunk.candidates[0].finish_reason is None for chunk in chunks[:-1])  # type: ignore[index]
    usage = last.usage_metadata
    assert usage is not None
    assert usage.prompt_token_count
    assert usage.candidates_token_count
    record = gateway.wait_for_logs(1)[0]
    assert (record["status"], record["stream"]) == (200, True)
    assert (record["tokens_in"], record["tokens_out"]) == (
        usage.prompt_token_count,
        usage.candidates_token_count,
    )


@pytest.mark.parametrize("model", ["openai/gpt-4o-mini", "anthropic/claude-sonnet-4-6"])
@pytest.mark.parametrize("stream", [False, True])
def test_a_function_call_and_its_response_make_a_round_trip(
    client: genai.Client, fakes: dict[str, Any], model: str, stream: bool
) -> None:
    config = types.GenerateContentConfig(tools=[CAPITAL_TOOL], tool_config=FORCED)
    asked = [types.Content(role="user", parts=[types.Part.from_text(text="France")])]
    if stream:
        chunks = list(client.models.generate_content_stream(model=model, contents=asked, config=config))
        calls = [call for chunk in chunks for call in chunk.function_calls or ()]
        turn = types.Content(role="model", parts=[types.Part(function_call=call) for call in calls])
    else:
        response = client.models.generate_content(model=model, contents=asked, config=config)
        calls = response.function_calls or []
        turn = response.candidates[0].content  # type: ignore[index,assignment]
    assert [call.name for call in calls] == ["lookup_capital"]
    assert calls[0].args == {"country": "France"}
    assert calls[0].id
    answered = [
        *asked,
        turn,
        types.Content(
            role="user",
            parts=[types.Part.from_function_response(name="lookup_capital", response={"capital": "Paris"})],
        ),
    ]
    final = client.models.generate_content(
        model=model, contents=answered, config=types.GenerateContentConfig(tools=[CAPITAL_TOOL])
    )
    assert final.text
    slug = model.partition("/")[0]
    sent = orjson.loads(fakes[slug].requests[-1].body)
    if slug == "openai":
        messages = sent["messages"]
        assert [m["role"] for m in messages] == ["user", "assistant", "tool"]
        assert messages[1]["tool_calls"][0]["id"] == calls[0].id
        assert messages[2] == {"role": "tool", "tool_call_id": calls[0].id, "content": '{"capital":"Paris"}'}
    else:
        result = sent["messages"][-1]["content"][0]
        assert (result["type"], result["tool_use_id"]) == ("tool_result", calls[0].id)
        assert sent["messages"][1]["content"][0]["id"] == calls[0].id


def test_json_mode_with_a_schema_asks_for_json_and_answers_it(
    client: genai.Client, fakes: dict[str, Any]
) -> None:
    schema = types.Schema(
        type=types.Type.OBJECT,
        properties={
            "city": types.Schema(type=types.Type.STRING),
            "year": types.Schema(type=types.Type.INTEGER),
        },
        required=["city"],
        property_ordering=["year", "city"],
    )
    config = types.GenerateContentConfig(response_mime_type="application/json", response_schema=schema)
    response = client.models.generate_content(model="openai/gpt-4o-mini", contents=QUESTION, config=config)
    assert isinstance(orjson.loads(response.text or ""), dict)
    sent = orjson.loads(fakes["openai"].requests[-1].body)
    assert sent["response_format"] == {
        "type": "json_schema",
        "json_schema": {
            "name": "response",
            "schema": {
                "type": "object",
                "properties": {"year": {"type": "integer"}, "city": {"type": "string"}},
                "required": ["city"],
            },
        },
    }


def test_a_google_ai_studio_model_gets_the_request_untranslated(
    client: genai.Client, gateway: RunningGateway, fakes: dict[str, Any]
) -> None:
    config = types.GenerateContentConfig(top_k=5, max_output_tokens=50)  # no chat form: Gemini takes it
    response = client.models.generate_content(
        model="google-ai-studio/gemini-2.5-flash", contents=QUESTION, config=config
    )
    assert response.text == f"echo: {QUESTION}"
    sent = fakes["google-ai-studio"].requests[-1]
    assert sent.path == "/v1/models/gemini-2.5-flash:generateContent"  # the version the SDK asked
    assert sent.header("x-goog-api-key") == KEY
    body = orjson.loads(sent.body)
    assert "model" not in body
    assert body["generationConfig"] == {"topK": 5, "maxOutputTokens": 50}
    streamed = list(
        client.models.generate_content_stream(model="google-ai-studio/gemini-2.5-flash", contents=QUESTION)
    )
    assert "".join(chunk.text or "" for chunk in streamed) == f"echo: {QUESTION}"
    assert fakes["google-ai-studio"].requests[-1].path == "/v1/models/gemini-2.5-flash:streamGenerateContent"
    whole, streamed_record = sorted(gateway.wait_for_logs(2), key=lambda r: r["stream"])
    assert (whole["provider"], whole["tokens_in"]) == (
        "google-ai-studio",
        response.usage_metadata.prompt_token_count,
    )  # type: ignore[union-attr]
    assert streamed_record["stream"] is True


def test_an_upstream_error_is_googles_shape_which_the_sdk_raises(
    client: genai.Client, gateway: RunningGateway
) -> None:
    with pytest.raises(errors.APIError) as raised:
        client.models.generate_content(
            model="openai/gpt-4o-mini", contents=QUESTION, config=headers("error-404")
        )
    assert (raised.value.code, raised.value.status) == (404, "NOT_FOUND")
    assert raised.value.message
    with pytest.raises(errors.APIError) as streamed:
        list(
            client.models.generate_content_stream(
                model="openai/gpt-4o-mini", contents=QUESTION, config=headers("error-404")
            )
        )
    assert (streamed.value.code, streamed.value.status) == (404, "NOT_FOUND")
    assert [r["status"] for r in gateway.wait_for_logs(2)] == [404, 404]


def test_an_error_mid_stream_ends_it_in_googles_error_event(
    client: genai.Client, gateway: RunningGateway
) -> None:
    stream = client.models.generate_content_stream(
        model="openai/gpt-4o-mini", contents=QUESTION, config=headers("error-mid-stream")
    )
    assert next(stream).text
    with pytest.raises(errors.APIError) as raised:
        next(stream)
    assert (raised.value.code, raised.value.status) == (500, "INTERNAL")
    assert gateway.wait_for_logs(1)[0]["error"]


def test_a_field_chat_cannot_say_is_refused_with_googles_400(
    client: genai.Client, gateway: RunningGateway, fakes: dict[str, Any]
) -> None:
    with pytest.raises(errors.ClientError) as raised:
        client.models.generate_content(
            model="openai/gpt-4o-mini", contents=QUESTION, config=types.GenerateContentConfig(top_k=5)
        )
    assert (raised.value.code, raised.value.status) == (400, "INVALID_ARGUMENT")
    assert "generationConfig.topK" in (raised.value.message or "")
    google_search = types.GenerateContentConfig(tools=[types.Tool(google_search=types.GoogleSearch())])
    with pytest.raises(errors.ClientError) as tool:
        client.models.generate_content(model="openai/gpt-4o-mini", contents=QUESTION, config=google_search)
    assert tool.value.code == 400
    assert "tools[0].googleSearch" in (tool.value.message or "")
    assert fakes["openai"].requests == []
    assert [r["status"] for r in gateway.wait_for_logs(2)] == [400, 400]


def test_count_tokens_for_another_provider_is_counted_by_the_gateway(
    client: genai.Client, gateway: RunningGateway, fakes: dict[str, Any]
) -> None:
    counted = client.models.count_tokens(model="openai/gpt-4o-mini", contents=QUESTION)
    assert counted.total_tokens is not None
    assert counted.total_tokens > 0
    assert fakes["openai"].requests == []
    record = gateway.wait_for_logs(1)[0]
    assert (record["tokens_in"], record["tokens_out"], record["cost_usd"]) == (counted.total_tokens, 0, 0)


def test_a_model_path_percent_encoded_reaches_the_same_model(
    gateway: RunningGateway, fakes: dict[str, Any]
) -> None:
    import httpx2 as httpx

    url = gateway.provider_url("compat") + "/v1beta/models/openai%2Fgpt-4o-mini:generateContent"
    body = {
        "contents": [{"role": "user", "parts": [{"text": QUESTION}]}],
        "system_instruction": {"parts": [{"text": "Be brief."}]},
    }
    answer = httpx.post(url, json=body, headers={"x-goog-api-key": KEY})
    assert answer.status_code == 200
    assert answer.json()["candidates"][0]["content"]["parts"] == [{"text": f"echo: {QUESTION}"}]
    sent = orjson.loads(fakes["openai"].requests[-1].body)
    assert sent["model"] == "gpt-4o-mini"
    assert sent["messages"] == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": QUESTION},
    ]


@pytest.mark.parametrize("streamed", [False, True])
def test_a_routes_gemini_target_gets_the_request_as_it_came_and_openai_its_translation(
    client: genai.Client, gateway: RunningGateway, fakes: dict[str, Any], streamed: bool
) -> None:
    targets = [{"model": m, "max_attempts": 1} for m in ("google-ai-studio/error-500", "openai/gpt-4o-mini")]
    gateway.configure(routes={"r": {"fallback": targets}})
    config = types.GenerateContentConfig(system_instruction="Be brief.")
    if streamed:
        chunks = list(
            client.models.generate_content_stream(model="dynamic/r", contents=QUESTION, config=config)
        )
        text = "".join(chunk.text or "" for chunk in chunks)
        usage = chunks[-1].usage_metadata
    else:
        response = client.models.generate_content(model="dynamic/r", contents=QUESTION, config=config)
        text, usage = response.text or "", response.usage_metadata
    assert text == f"echo: {QUESTION}"
    assert usage is not None
    assert usage.prompt_token_count
    [native] = fakes["google-ai-studio"].requests
    method = "streamGenerateContent" if streamed else "generateContent"
    assert native.path == f"/v1/models/error-500:{method}"
    assert native.json["systemInstruction"] == {"parts": [{"text": "Be brief."}], "role": "user"}
    [chat] = fakes["openai"].requests
    assert chat.json["messages"][0] == {"role": "system", "content": "Be brief."}
    record = gateway.wait_for_logs(1)[0]
    assert (record["provider"], record["status"], record["tokens_in"]) == (
        "openai",
        200,
        usage.prompt_token_count,
    )
