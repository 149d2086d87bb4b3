"""Guardrails on tool calls, over loopback with the official SDKs: the arguments of the model's tool
calls (OpenAI chat and Responses, Anthropic `tool_use`, Gemini `functionCall`), whole and
streamed, are checked as its text is, and stay valid JSON; tool results and earlier tool calls
sent back in a request are checked as its other text is."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import anthropic
import openai
import pytest
from aiohttp import web
from google import genai
from google.genai import types

from tests.conftest import RunningGateway
from tests.fakes.anthropic_server import FakeAnthropic
from tests.fakes.base import CALL, sse_event
from tests.fakes.gemini_server import FakeGemini
from tests.fakes.openai_server import FakeOpenAI, _last_user_text, _response_object

CARD = "4111 1111 1111 1111"  # Luhn-valid
EMAIL = "bob@example.com"
TEXT = f"card {CARD} mail {EMAIL}"
REDACTED = "card [CREDIT_CARD_1] mail [EMAIL_1]"
ANSWER_ONLY = {"pii": {"action": "redact", "entities": ["credit_card", "email"], "direction": "response"}}
CHAT_TOOLS: Any = [
    {
        "type": "function",
        "function": {
            "name": "save_note",
            "parameters": {"type": "object", "properties": {"note": {"type": "string"}}},
        },
    }
]
SAVE_NOTE: Any = {"type": "function", "function": {"name": "save_note"}}


class ToolCallingOpenAI(FakeOpenAI):
    """The fake OpenAI upstream, whose Responses API calls a tool as its chat does: a request whose
    `tool_choice` names a function gets one call of it, its arguments the last user text under the
    function's first parameter (streamed: in two `function_call_arguments` deltas)."""

    async def _responses(self, request: web.Request) -> web.StreamResponse:
        call = request[CALL]
        choice, tools = call.body.get("tool_choice"), call.body.get("tools") or []
        named = [t for t in tools if isinstance(choice, dict) and t.get("name") == choice.get("name")]
        if not named:
            return await super()._responses(request)
        properties = (named[0].get("parameters") or {}).get("properties") or {"input": {}}
        arguments = json.dumps({next(iter(properties)): _last_user_text(call.body.get("input", ""))})
        item = {"id": f"fc_fake_{call.number:06d}", "type": "function_call", "status": "completed"}
        item |= {"call_id": f"call_fake_{call.number:06d}", "name": named[0]["name"], "arguments": arguments}
        usage = {"input_tokens": 5, "output_tokens": 5, "total_tokens": 10}
        done = _response_object(call, "completed", [item], usage)
        if not call.body.get("stream"):
            return web.json_response(done)
        where = {"item_id": item["id"], "output_index": 0}
        cut = len(arguments) // 2
        started = _response_object(call, "in_progress", [], None)
        events: list[dict[str, Any]] = [
            {"type": "response.created", "response": started},
            {"type": "response.output_item.added", "output_index": 0, "item": {**item, "arguments": ""}},
            {"type": "response.function_call_arguments.delta", **where, "delta": arguments[:cut]},
            {"type": "response.function_call_arguments.delta", **where, "delta": arguments[cut:]},
            {"type": "response.function_call_arguments.done", **where, "arguments": arguments},
            {"type": "response.output_item.done", "output_index": 0, "item": item},
            {"type": "response.completed", "response": done},
        ]
        encoded = [sse_event(str(e["type"]), {**e, "sequence_number": n}) for n, e in enumerate(events)]
        return await self._stream(request, call, encoded, first_content=2)


@pytest.fixture
def fake() -> Iterator[ToolCallingOpenAI]:
    with ToolCallingOpenAI().serve() as server:
        yield server


@pytest.fixture
def gateway(
    make_gateway: Callable[..., RunningGateway], fake: FakeOpenAI, claude: FakeAnthropic, gemini: FakeGemini
) -> RunningGateway:
    upstreams = {"openai": fake.base_url, "anthropic": claude.base_url, "google-ai-studio": gemini.base_url}
    return make_gateway(upstreams=upstreams)


@pytest.fixture
def client(gateway: RunningGateway) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(base_url=gateway.provider_url("openai"), api_key="sk-test", max_retries=0) as sdk:
        yield sdk


@pytest.fixture
def claude_client(gateway: RunningGateway) -> Iterator[anthropic.Anthropic]:
    url = gateway.provider_url("anthropic")
    with anthropic.Anthropic(base_url=url, api_key="sk-ant-test", max_retries=0) as sdk:
        yield sdk


def call_tool(client: openai.OpenAI, text: str = TEXT) -> Any:
    messages: Any = [{"role": "user", "content": text}]
    return client.chat.completions.create(
        model="gpt-4o", messages=messages, tools=CHAT_TOOLS, tool_choice=SAVE_NOTE
    )


def test_chat_tool_call_arguments_are_redacted_and_stay_json(
    gateway: RunningGateway, client: openai.OpenAI
) -> None:
    gateway.configure(guardrails=ANSWER_ONLY)
    (call,) = call_tool(client).choices[0].message.tool_calls
    assert json.loads(call.function.arguments) == {"note": REDACTED}
    (record,) = gateway.wait_for_logs(1)
    assert record["metadata"]["guardrails"] == "response:redact:credit_card, response:redact:email"


def test_a_block_rule_blocks_an_answer_whose_tool_call_carries_a_card(
    gateway: RunningGateway, client: openai.OpenAI
) -> None:
    gateway.configure(
        guardrails={"pii": {"action": "block", "entities": ["credit_card"], "direction": "response"}}
    )
    with pytest.raises(openai.BadRequestError) as caught:
        call_tool(client)
    error = caught.value.response.json()["error"]
    assert (error["code"], error["direction"], error["entity"]) == (
        "guardrail_blocked",
        "response",
        "credit_card",
    )
    assert "4111" not in caught.value.response.text


def test_streamed_chat_tool_call_arguments_are_redacted(
    gateway: RunningGateway, client: openai.OpenAI
) -> None:
    # A block rule on the answer redacts in a stream, as it does text: what was sent is sent.
    gateway.configure(
        guardrails={"pii": {"action": "block", "entities": ["credit_card", "email"], "direction": "response"}}
    )
    fragments: list[str] = []
    with client.chat.completions.stream(
        model="gpt-4o", messages=[{"role": "user", "content": TEXT}], tools=CHAT_TOOLS, tool_choice=SAVE_NOTE
    ) as stream:
        for event in stream:
            if event.type == "tool_calls.function.arguments.delta":
                fragments.append(event.arguments_delta)
        final = stream.get_final_completion()
    (call,) = final.choices[0].message.tool_calls
    assert json.loads(call.function.arguments) == {"note": REDACTED}
    assert "".join(fragments) == call.function.arguments
    assert not any("4111" in fragment or "bob@" in fragment for fragment in fragments)
    assert final.choices[0].finish_reason == "tool_calls"


def test_claude_s_tool_calls_through_the_compat_endpoint_are_redacted(gateway: RunningGateway) -> None:
    # Claude's answer is translated to OpenAI chat before the guardrails read it (the hub's format).
    gateway.configure(guardrails=ANSWER_ONLY)
    asked: Any = {
        "model": "anthropic/claude-sonnet-4-6",
        "messages": [{"role": "user", "content": TEXT}],
        "tools": CHAT_TOOLS,
        "tool_choice": SAVE_NOTE,
    }
    with openai.OpenAI(base_url=gateway.provider_url("compat"), api_key="k", max_retries=0) as compat:
        (call,) = compat.chat.completions.create(**asked).choices[0].message.tool_calls
        assert json.loads(call.function.arguments) == {"note": REDACTED}
        with compat.chat.completions.stream(**asked) as stream:
            final = stream.get_final_completion()
    (call,) = final.choices[0].message.tool_calls
    assert json.loads(call.function.arguments) == {"note": REDACTED}


def test_the_request_s_own_values_come_back_in_tool_calls_the_model_never_saw(
    gateway: RunningGateway, fake: FakeOpenAI, client: openai.OpenAI
) -> None:
    policy = {"pii": {"action": "redact", "entities": ["credit_card", "email"]}, "restore": True}
    gateway.configure(guardrails=policy)
    (call,) = call_tool(client).choices[0].message.tool_calls
    sent = fake.requests[0].body.decode()
    assert "4111" not in sent
    assert EMAIL not in sent
    assert json.loads(call.function.arguments) == {"note": TEXT}  # the agent acts on the real values


def test_a_value_restored_in_tool_call_arguments_is_not_logged(
    gateway: RunningGateway, fake: FakeOpenAI, client: openai.OpenAI
) -> None:
    # A PEM key has line breaks: inside arguments (a JSON string in the JSON answer) it is escaped
    # twice, a form the log must mask as well.
    key = "-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA\nq83==\n-----END RSA PRIVATE KEY-----"
    gateway.configure(guardrails={"pii": {"action": "redact", "entities": ["secret"]}, "restore": True})
    (call,) = call_tool(client, f"keep {key}").choices[0].message.tool_calls
    assert "MIIEowIBAAKCAQEA" not in fake.requests[0].body.decode()
    assert json.loads(call.function.arguments) == {"note": f"keep {key}"}
    (record,) = gateway.wait_for_logs(1)
    detail = gateway.http.get(f"/api/v1/accounts/local/gateways/default/logs/{record['id']}").json()
    assert "MIIEowIBAAKCAQEA" not in json.dumps(detail)
    assert "save_note" in detail["response_body"]


def test_tool_results_and_earlier_tool_calls_in_a_chat_request_are_redacted(
    gateway: RunningGateway, fake: FakeOpenAI, client: openai.OpenAI
) -> None:
    gateway.configure(guardrails={"pii": {"action": "redact", "entities": ["credit_card", "email"]}})
    arguments = json.dumps({"customer": EMAIL, "card": 4111111111111111})
    messages: Any = [
        {"role": "user", "content": "look the customer up"},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {"id": "c1", "type": "function", "function": {"name": "find", "arguments": arguments}}
            ],
        },
        {"role": "tool", "tool_call_id": "c1", "content": f"found {EMAIL}, card {CARD}"},
    ]
    client.chat.completions.create(model="gpt-4o", messages=messages)
    sent = json.loads(fake.requests[0].body)
    assert "4111" not in fake.requests[0].body.decode()
    assert EMAIL not in fake.requests[0].body.decode()
    sent_arguments = json.loads(sent["messages"][1]["tool_calls"][0]["function"]["arguments"])
    assert sent_arguments == {"customer": "[EMAIL_1]", "card": "[CREDIT_CARD_1]"}
    assert sent["messages"][2]["content"] == "found [EMAIL_1], card [CREDIT_CARD_2]"


def test_a_card_in_an_earlier_tool_call_is_blocked_before_it_goes_upstream(
    gateway: RunningGateway, fake: FakeOpenAI, client: openai.OpenAI
) -> None:
    gateway.configure(guardrails={"pii": {"action": "block", "entities": ["credit_card"]}})
    arguments = '{"card": 4111111111111111}'  # a number: a card all the same
    messages: Any = [
        {"role": "user", "content": "charge it"},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {"id": "c1", "type": "function", "function": {"name": "f", "arguments": arguments}}
            ],
        },
        {"role": "tool", "tool_call_id": "c1", "content": "done"},
    ]
    with pytest.raises(openai.BadRequestError) as caught:
        client.chat.completions.create(model="gpt-4o", messages=messages)
    assert caught.value.response.json()["error"]["entity"] == "credit_card"
    assert fake.requests == []
    (record,) = gateway.wait_for_logs(1)
    detail = gateway.http.get(f"/api/v1/accounts/local/gateways/default/logs/{record['id']}").json()
    logged = json.loads(detail["request_body"])["messages"][1]["tool_calls"][0]["function"]["arguments"]
    assert json.loads(logged) == {"card": "[CREDIT_CARD_1]"}  # the logged body is masked, and still JSON


RESPONSES_TOOLS: Any = [
    {
        "type": "function",
        "name": "save_note",
        "parameters": {"type": "object", "properties": {"note": {"type": "string"}}},
    }
]
RESPONSES_CHOICE: Any = {"type": "function", "name": "save_note"}


def test_responses_function_call_arguments_are_redacted_whole_and_streamed(
    gateway: RunningGateway, client: openai.OpenAI
) -> None:
    gateway.configure(guardrails=ANSWER_ONLY)
    answer = client.responses.create(
        model="gpt-4o", input=TEXT, tools=RESPONSES_TOOLS, tool_choice=RESPONSES_CHOICE
    )
    (item,) = answer.output
    assert item.type == "function_call"
    assert json.loads(item.arguments) == {"note": REDACTED}
    deltas: list[str] = []
    with client.responses.stream(
        model="gpt-4o", input=TEXT, tools=RESPONSES_TOOLS, tool_choice=RESPONSES_CHOICE
    ) as stream:
        for event in stream:
            if event.type == "response.function_call_arguments.delta":
                deltas.append(event.delta)
            elif event.type == "response.function_call_arguments.done":
                done = event.arguments
        final = stream.get_final_response()
    (item,) = final.output
    assert item.type == "function_call"
    assert json.loads(item.arguments) == {"note": REDACTED}
    assert "".join(deltas) == done == item.arguments
    assert not any("4111" in delta or "bob@" in delta for delta in deltas)


def test_responses_function_call_outputs_are_redacted_before_they_go_upstream(
    gateway: RunningGateway, fake: FakeOpenAI, client: openai.OpenAI
) -> None:
    gateway.configure(guardrails={"pii": {"action": "redact", "entities": ["credit_card", "email"]}})
    arguments = json.dumps({"who": EMAIL})
    items: Any = [
        {"role": "user", "content": "look the customer up"},
        {"type": "function_call", "call_id": "c1", "name": "find", "arguments": arguments},
        {"type": "function_call_output", "call_id": "c1", "output": f"card {CARD}"},
    ]
    client.responses.create(model="gpt-4o", input=items)
    sent = json.loads(fake.requests[0].body)
    assert json.loads(sent["input"][1]["arguments"]) == {"who": "[EMAIL_1]"}
    assert sent["input"][2]["output"] == "card [CREDIT_CARD_1]"


CLAUDE_TOOLS: Any = [
    {"name": "save_note", "input_schema": {"type": "object", "properties": {"note": {"type": "string"}}}}
]


def test_anthropic_tool_use_input_is_redacted_whole_and_streamed(
    gateway: RunningGateway, claude_client: anthropic.Anthropic
) -> None:
    gateway.configure(guardrails=ANSWER_ONLY)
    asked: Any = {
        "model": "claude-sonnet-4-6",
        "max_tokens": 100,
        "tools": CLAUDE_TOOLS,
        "tool_choice": {"type": "any"},
        "messages": [{"role": "user", "content": TEXT}],
    }
    (block,) = claude_client.messages.create(**asked).content
    assert block.type == "tool_use"
    assert block.input == {"note": REDACTED}
    partials: list[str] = []
    with claude_client.messages.stream(**asked) as stream:
        for event in stream:
            if event.type == "input_json":
                partials.append(event.partial_json)
        final = stream.get_final_message()
    (block,) = final.content
    assert block.type == "tool_use"
    assert block.input == {"note": REDACTED}
    assert json.loads("".join(partials)) == {"note": REDACTED}
    assert not any("4111" in partial for partial in partials)


def test_anthropic_tool_results_and_tool_uses_sent_back_are_redacted(
    gateway: RunningGateway, claude: FakeAnthropic, claude_client: anthropic.Anthropic
) -> None:
    gateway.configure(guardrails={"pii": {"action": "redact", "entities": ["credit_card", "email"]}})
    messages: Any = [
        {"role": "user", "content": "look the customer up"},
        {
            "role": "assistant",
            "content": [{"type": "tool_use", "id": "t1", "name": "find", "input": {"who": EMAIL}}],
        },
        {
            "role": "user",
            "content": [
                {
                    "type": "tool_result",
                    "tool_use_id": "t1",
                    "content": [{"type": "text", "text": f"card {CARD}"}],
                }
            ],
        },
    ]
    claude_client.messages.create(model="claude-sonnet-4-6", max_tokens=100, messages=messages)
    sent = json.loads(claude.requests[0].body)
    assert sent["messages"][1]["content"][0]["input"] == {"who": "[EMAIL_1]"}
    assert sent["messages"][2]["content"][0]["content"][0]["text"] == "card [CREDIT_CARD_1]"


def test_gemini_function_call_args_and_responses_are_redacted(
    gateway: RunningGateway, gemini: FakeGemini
) -> None:
    gateway.configure(guardrails={"pii": {"action": "redact", "entities": ["credit_card", "email"]}})
    options = types.HttpOptions(base_url=gateway.provider_url("google-ai-studio"), api_version="v1beta")
    tool = types.Tool(function_declarations=[types.FunctionDeclaration(name="save_note", description="d")])
    config = types.GenerateContentConfig(tools=[tool])
    with genai.Client(api_key="AIzaSy-fake-0123456789abcdefghijklmnop", http_options=options) as sdk:
        # A function response sent back: redacted before it goes upstream.
        history: Any = [
            types.Content(role="user", parts=[types.Part(text="find it")]),
            types.Content(
                role="model",
                parts=[types.Part(function_call=types.FunctionCall(name="find", args={"who": EMAIL}))],
            ),
            types.Content(
                role="user",
                parts=[
                    types.Part(function_response=types.FunctionResponse(name="find", response={"card": CARD}))
                ],
            ),
        ]
        sdk.models.generate_content(model="gemini-2.5-flash", contents=history)
        sent = json.loads(gemini.requests[0].body)
        assert sent["contents"][1]["parts"][0]["functionCall"]["args"] == {"who": "[EMAIL_1]"}
        assert sent["contents"][2]["parts"][0]["functionResponse"]["response"] == {"card": "[CREDIT_CARD_1]"}
        # The model's own call, whole and streamed (the card comes from the answer, not the request).
        gateway.configure(guardrails=ANSWER_ONLY)
        answer = sdk.models.generate_content(
            model="gemini-2.5-flash", contents=f"save_note {TEXT}", config=config
        )
        assert answer.function_calls is not None
        assert answer.function_calls[0].args == {"query": f"save_note {REDACTED}"}
        chunks = list(
            sdk.models.generate_content_stream(
                model="gemini-2.5-flash", contents=f"save_note {TEXT}", config=config
            )
        )
        calls = [call for chunk in chunks for call in chunk.function_calls or []]
        assert [call.args for call in calls] == [{"query": f"save_note {REDACTED}"}]
