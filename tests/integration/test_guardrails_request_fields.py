"""Request guardrails read every place of a request the model (or the provider) reads, not only its
turns' text, over loopback with the official SDKs: a card in any of them is blocked before anything
goes upstream. OpenAI chat's message `name`, refusals, tools, answer schema and predicted output;
the Responses API's tools, prompt variables, reasoning items and other tools' outputs; the
prompt-only endpoints (completions, embeddings, moderations, image generation, speech); Anthropic's
tools and legacy Text Completions; Gemini's fields in the protos' snake_case spelling (what a REST
client may send, here through google-genai's `extra_body`), its function declarations, code
execution parts and embeddings."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any, NamedTuple

import anthropic
import cohere
import httpx
import openai
import pytest
from google import genai
from google.genai import types

from tests.conftest import RunningGateway
from tests.fakes.scripted_server import Scripted

CARD = "4111 1111 1111 1111"  # Luhn-valid
DIGITS = CARD.replace(" ", "")
MODEL = "gpt-4o-mini"
CLAUDE = "claude-sonnet-4-6"
GEMINI = "gemini-2.5-flash"
HI: Any = [{"role": "user", "content": "hi"}]
SCHEMA: Any = {"type": "object", "properties": {"note": {"type": "string"}}}


class Clients(NamedTuple):
    openai: openai.OpenAI
    anthropic: anthropic.Anthropic
    gemini: genai.Client


@pytest.fixture
def upstream() -> Iterator[Scripted]:
    with Scripted().serve() as server:
        yield server


@pytest.fixture
def clients(make_gateway: Callable[..., RunningGateway], upstream: Scripted) -> Iterator[Clients]:
    upstreams = {"openai": upstream.url + "/v1", "anthropic": upstream.url, "google-ai-studio": upstream.url}
    gateway = make_gateway(upstreams=upstreams)
    gateway.configure(
        guardrails={"pii": {"action": "block", "entities": ["credit_card"], "direction": "request"}}
    )
    options = types.HttpOptions(base_url=gateway.provider_url("google-ai-studio"), api_version="v1beta")
    with (
        openai.OpenAI(base_url=gateway.provider_url("openai"), api_key="sk-test", max_retries=0) as chat,
        anthropic.Anthropic(base_url=gateway.provider_url("anthropic"), api_key="k", max_retries=0) as claude,
        genai.Client(api_key="AIzaSy-fake", http_options=options) as gemini,
    ):
        yield Clients(chat, claude, gemini)


def chat(clients: Clients, messages: Any = HI, **extra: Any) -> Any:
    return clients.openai.chat.completions.create(model=MODEL, messages=messages, **extra)


def responses(clients: Clients, **extra: Any) -> Any:
    return clients.openai.responses.create(model=MODEL, **extra)


def function_tool(**function: Any) -> Any:
    return [{"type": "function", "function": {"name": "save", "parameters": SCHEMA} | function}]


def gemini(clients: Clients, **body: Any) -> Any:
    """A generateContent request whose body gets `body` as it is (google-genai's `extra_body`)."""
    config = types.GenerateContentConfig(http_options=types.HttpOptions(extra_body=body))
    return clients.gemini.models.generate_content(model=GEMINI, contents="hi", config=config)


def gemini_turns(*parts: Any) -> Any:
    """A history of one user turn, a model turn of `parts[0]` and a user turn of `parts[1:]`."""
    return [
        {"role": "user", "parts": [{"text": "hi"}]},
        {"role": "model", "parts": [parts[0]]},
        {"role": "user", "parts": list(parts[1:]) or [{"text": "ok"}]},
    ]


CALL: Any = {"function_call": {"name": "save", "args": {}}}
OPENAI_CASES: dict[str, Callable[[Clients], Any]] = {
    "chat message name": lambda c: chat(c, [{"role": "user", "name": DIGITS, "content": "hi"}]),
    "chat assistant refusal": lambda c: chat(
        c, [*HI, {"role": "assistant", "content": None, "refusal": f"card {CARD}"}, *HI]
    ),
    "chat refusal part": lambda c: chat(
        c, [*HI, {"role": "assistant", "content": [{"type": "refusal", "refusal": f"card {CARD}"}]}, *HI]
    ),
    "chat tool description": lambda c: chat(c, tools=function_tool(description=f"card {CARD}")),
    "chat tool parameter enum": lambda c: chat(
        c, tools=function_tool(parameters={"type": "string", "enum": [DIGITS]})
    ),
    "chat tool parameter description": lambda c: chat(
        c, tools=function_tool(parameters={"properties": {"n": {"description": f"card {CARD}"}}})
    ),
    "chat legacy function": lambda c: chat(c, functions=[{"name": "save", "description": f"card {CARD}"}]),
    "chat answer schema": lambda c: chat(
        c,
        response_format={
            "type": "json_schema",
            "json_schema": {"name": "n", "schema": {"type": "object", "description": f"card {CARD}"}},
        },
    ),
    "chat predicted output": lambda c: chat(c, prediction={"type": "content", "content": f"card {CARD}"}),
    "responses tool description": lambda c: responses(
        c,
        input="hi",
        tools=[{"type": "function", "name": "save", "description": f"card {CARD}", "parameters": SCHEMA}],
    ),
    "responses answer schema": lambda c: responses(
        c,
        input="hi",
        text={"format": {"type": "json_schema", "name": "n", "schema": {"type": "object", "title": CARD}}},
    ),
    "responses prompt variable": lambda c: responses(
        c, prompt={"id": "pmpt_1", "variables": {"card": CARD, "note": {"type": "input_text", "text": CARD}}}
    ),
    "responses reasoning summary": lambda c: responses(
        c,
        input=[*HI, {"type": "reasoning", "id": "rs_1", "summary": [{"type": "summary_text", "text": CARD}]}],
    ),
    "responses refusal part": lambda c: responses(
        c,
        input=[
            {"type": "message", "role": "assistant", "content": [{"type": "refusal", "refusal": CARD}]},
            *HI,
        ],
    ),
    "responses local shell output": lambda c: responses(
        c, input=[{"type": "local_shell_call_output", "id": "c", "output": f"card {CARD}"}]
    ),
    "responses shell output": lambda c: responses(
        c,
        input=[
            {
                "type": "shell_call_output",
                "call_id": "c",
                "output": [
                    {"stdout": f"card {CARD}", "stderr": "", "outcome": {"type": "exit", "exit_code": 0}}
                ],
            }
        ],
    ),
    "responses mcp output": lambda c: responses(
        c,
        input=[
            {
                "type": "mcp_call",
                "id": "m",
                "server_label": "s",
                "name": "x",
                "arguments": "{}",
                "output": CARD,
            }
        ],
    ),
    "responses apply patch output": lambda c: responses(
        c,
        input=[{"type": "apply_patch_call_output", "call_id": "c", "status": "completed", "output": CARD}],
    ),
    "completions prompt": lambda c: c.openai.completions.create(model=MODEL, prompt=["hi", f"card {CARD}"]),
    "completions suffix": lambda c: c.openai.completions.create(model=MODEL, prompt="hi", suffix=CARD),
    "embeddings input": lambda c: c.openai.embeddings.create(model="text-embedding-3-small", input=[CARD]),
    "moderations input": lambda c: c.openai.moderations.create(
        model="omni-moderation-latest", input=[{"type": "text", "text": f"card {CARD}"}]
    ),
    "image prompt": lambda c: c.openai.images.generate(model="dall-e-3", prompt=f"a card {CARD}"),
    "speech input": lambda c: c.openai.audio.speech.create(
        model="tts-1", voice="alloy", input=f"card {CARD}"
    ),
}
ANTHROPIC_CASES: dict[str, Callable[[Clients], Any]] = {
    "tool description": lambda c: c.anthropic.messages.create(
        model=CLAUDE,
        max_tokens=50,
        messages=HI,
        tools=[{"name": "save", "description": f"card {CARD}", "input_schema": SCHEMA}],
    ),
    "tool schema": lambda c: c.anthropic.messages.create(
        model=CLAUDE,
        max_tokens=50,
        messages=HI,
        tools=[{"name": "save", "input_schema": {"type": "object", "description": CARD}}],
    ),
    "message batch": lambda c: c.anthropic.messages.batches.create(
        requests=[
            {"custom_id": "a", "params": {"model": CLAUDE, "max_tokens": 5, "messages": HI}},
            {
                "custom_id": "b",
                "params": {"model": CLAUDE, "max_tokens": 5, "messages": [{"role": "user", "content": CARD}]},
            },
        ]
    ),
    "legacy text completion": lambda c: c.anthropic.post(
        "/v1/complete",
        body={
            "model": "claude-2.1",
            "max_tokens_to_sample": 5,
            "prompt": f"\n\nHuman: card {CARD}\n\nAssistant:",
        },
        cast_to=object,
    ),
}
GEMINI_CASES: dict[str, Callable[[Clients], Any]] = {
    "snake function_response": lambda c: gemini(
        c, contents=gemini_turns(CALL, {"function_response": {"name": "save", "response": {"card": CARD}}})
    ),
    "snake function_call": lambda c: gemini(
        c, contents=gemini_turns({"function_call": {"name": "save", "args": {"card": CARD}}})
    ),
    "code execution result": lambda c: gemini(
        c, contents=gemini_turns({"code_execution_result": {"outcome": "OUTCOME_OK", "output": CARD}})
    ),
    "executable code": lambda c: gemini(
        c, contents=gemini_turns({"executableCode": {"language": "PYTHON", "code": f"print('{CARD}')"}})
    ),
    "function declaration": lambda c: c.gemini.models.generate_content(
        model=GEMINI,
        contents="hi",
        config=types.GenerateContentConfig(
            tools=[types.Tool(function_declarations=[types.FunctionDeclaration(name="f", description=CARD)])]
        ),
    ),
    "snake function declaration": lambda c: gemini(
        c,
        tools=[
            {"function_declarations": [{"name": "f", "parameters": {"type": "OBJECT", "description": CARD}}]}
        ],
    ),
    "embedding": lambda c: c.gemini.models.embed_content(
        model="text-embedding-004", contents=[f"card {CARD}"]
    ),
}


@pytest.mark.parametrize("case", OPENAI_CASES)
def test_a_card_in_an_openai_request_field_is_blocked(
    clients: Clients, upstream: Scripted, case: str
) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        OPENAI_CASES[case](clients)
    assert caught.value.response.json()["error"]["code"] == "guardrail_blocked"
    assert upstream.requests == []


@pytest.mark.parametrize("case", ANTHROPIC_CASES)
def test_a_card_in_an_anthropic_request_field_is_blocked(
    clients: Clients, upstream: Scripted, case: str
) -> None:
    with pytest.raises(anthropic.BadRequestError) as caught:
        ANTHROPIC_CASES[case](clients)
    assert caught.value.response.json()["error"]["code"] == "guardrail_blocked"
    assert upstream.requests == []


@pytest.mark.parametrize("case", GEMINI_CASES)
def test_a_card_in_a_gemini_request_field_is_blocked(clients: Clients, upstream: Scripted, case: str) -> None:
    with pytest.raises(genai.errors.ClientError) as caught:
        GEMINI_CASES[case](clients)
    assert caught.value.code == 400
    assert "guardrail_blocked" in str(caught.value.details)
    assert upstream.requests == []


def test_a_redacted_embedding_input_goes_upstream_redacted_and_its_vectors_come_back_as_they_were(
    make_gateway: Callable[..., RunningGateway], upstream: Scripted
) -> None:
    gateway = make_gateway(upstreams={"openai": upstream.url + "/v1"})
    gateway.configure(guardrails={"pii": {"action": "redact", "entities": ["credit_card"]}, "restore": True})
    vectors = {"object": "list", "data": [{"object": "embedding", "index": 0, "embedding": [0.25, 0.5]}]}
    upstream.reply_json(
        vectors | {"model": "text-embedding-3-small", "usage": {"prompt_tokens": 3, "total_tokens": 3}}
    )
    with openai.OpenAI(base_url=gateway.provider_url("openai"), api_key="sk-test", max_retries=0) as client:
        answer = client.embeddings.create(
            model="text-embedding-3-small", input=f"card {CARD}", encoding_format="float"
        )
    assert answer.data[0].embedding == [0.25, 0.5]
    (sent,) = upstream.bodies
    assert "[CREDIT_CARD_1]" in sent
    assert "4111" not in sent


def test_a_card_in_a_cohere_embed_request_is_blocked(
    make_gateway: Callable[..., RunningGateway], upstream: Scripted
) -> None:
    gateway = make_gateway(upstreams={"cohere": upstream.url})
    gateway.configure(guardrails={"pii": {"action": "block", "entities": ["credit_card"]}})
    with httpx.Client() as http:
        client = cohere.ClientV2(
            api_key="k", base_url=gateway.provider_url("cohere"), httpx_client=http, max_retries=0
        )
        with pytest.raises(cohere.errors.BadRequestError) as caught:
            client.embed(model="embed-v4.0", texts=["hi", f"card {CARD}"], input_type="search_document")
    assert "guardrail_blocked" in str(caught.value.body)
    assert upstream.requests == []
