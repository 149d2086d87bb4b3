"""What a semantic lookup compares (the last user message and the turns it depends on) and what
must match exactly (the rest)."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from sluicegate.providers import REGISTRY
from sluicegate.providers.conversation import ConversationReader
from sluicegate.semantic.scope import Ineligible, Origin, Scoped, ScopeRules, read_scope

ORIGIN = Origin("local/default", "openai", "chat/completions")
DEFAULT_RULES = ScopeRules()
OPENAI = REGISTRY["openai"].conversations
GEMINI = REGISTRY["google-ai-studio"].conversations


def chat(text: str = "How do I reset my password?", **fields: Any) -> dict[str, Any]:
    history = fields.pop("history", [])
    return {"model": "gpt-4o-mini", "messages": [*history, {"role": "user", "content": text}], **fields}


def scoped(
    payload: Any,
    origin: Origin = ORIGIN,
    rules: ScopeRules = DEFAULT_RULES,
    readers: tuple[ConversationReader, ...] = OPENAI,
) -> Scoped:
    result = read_scope(origin, payload, readers, rules)
    assert isinstance(result, Scoped), result
    return result


def test_the_text_is_the_last_user_message_and_the_scope_names_the_gateway() -> None:
    result = scoped(chat("  What is the capital of France?  "))
    assert result.text == "What is the capital of France?"
    assert result.scope.startswith("local/default/sem:")


def test_sampling_and_delivery_fields_stay_out_of_the_scope() -> None:
    plain = scoped(chat()).scope
    assert scoped(chat(stream=True, temperature=0.2, top_p=0.9, seed=7, user="u1", n=1)).scope == plain


@pytest.mark.parametrize(
    "change",
    [
        {"model": "gpt-4o"},
        {"history": [{"role": "system", "content": "Answer in French."}]},
        {"tools": [{"type": "function", "function": {"name": "search", "parameters": {}}}]},
        {"response_format": {"type": "json_object"}},
        {"max_tokens": 5},
        {"history": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello!"}]},
    ],
)
def test_structure_changes_the_scope(change: dict[str, Any]) -> None:
    assert scoped(chat(**change)).scope != scoped(chat()).scope


@pytest.mark.parametrize(
    "origin",
    [
        Origin("local/other", "openai", "chat/completions"),
        Origin("local/default", "groq", "chat/completions"),
        Origin("local/default", "openai", "completions"),
        Origin("local/default", "openai", "chat/completions", segment="tenant-a"),
        # Another server under the same provider name (pipeline/cache_keys.py `upstreams_of`).
        Origin(
            "local/default", "openai", "chat/completions", upstream="openai\0http://llm-b.internal\0local"
        ),
    ],
)
def test_gateway_provider_endpoint_segment_and_server_change_the_scope(origin: Origin) -> None:
    assert scoped(chat(), origin).scope != scoped(chat()).scope


def test_the_provider_key_digest_changes_the_scope_and_stays_in_the_gateway() -> None:
    tenant_a, tenant_b = (scoped(chat(), replace(ORIGIN, credentials=key)) for key in ("a" * 64, "b" * 64))
    assert len({tenant_a.scope, tenant_b.scope, scoped(chat()).scope}) == 3
    assert tenant_a.scope.startswith("local/default/")  # a purge of the gateway still reaches it


def test_a_followups_earlier_turns_are_compared_by_meaning_not_scoped() -> None:
    """The conversation before a follow-up is compared turn by turn (`history`), so its scope
    holds only how many turns there are and whose."""
    france = [{"role": "user", "content": "Capital of France?"}, {"role": "assistant", "content": "Paris."}]
    japan = [{"role": "user", "content": "Capital of Japan?"}, {"role": "assistant", "content": "Tokyo."}]
    a, b = (
        scoped(chat("What about its population?", history=france)),
        scoped(chat("What about its population?", history=japan)),
    )
    assert a.text == b.text
    assert a.scope == b.scope
    assert (a.context, b.context) == (("Paris.", "Capital of France?"), ("Tokyo.", "Capital of Japan?"))


def test_only_text_parts_are_compared_an_image_must_match_exactly() -> None:
    image = {"type": "image_url", "image_url": {"url": "https://example.com/cat.png"}}
    other = {"type": "image_url", "image_url": {"url": "https://example.com/dog.png"}}
    text = {"type": "text", "text": "What is in this picture?"}
    a = scoped({"model": "m", "messages": [{"role": "user", "content": [text, image]}]})
    b = scoped({"model": "m", "messages": [{"role": "user", "content": [text, other]}]})
    assert a.text == b.text == "What is in this picture?"
    assert a.scope != b.scope


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (chat(temperature=1.2), "temperature"),
        (chat(n=3), "more than one choice"),
        (
            chat(history=[{"role": "tool", "tool_call_id": "c1", "content": "42"}]),
            "tool results",
        ),
        ({"model": "m", "messages": [{"role": "assistant", "content": "Sure"}]}, "not from the user"),
        ({"model": "m", "messages": [{"role": "user", "content": "   "}]}, "no text"),
        ({"model": "m", "input": "hello"}, "no messages"),
        ([1, 2], "not a JSON object"),
    ],
)
def test_ineligible_requests_say_why(payload: Any, reason: str) -> None:
    result = read_scope(ORIGIN, payload, OPENAI)
    assert isinstance(result, Ineligible)
    assert reason in result.reason


def test_the_eligibility_limits_are_configurable() -> None:
    rules = ScopeRules(max_temperature=2.0, allow_multiple_choices=True, allow_tool_results=True)
    hot = chat(temperature=1.5, n=2)
    with_tool = chat(history=[{"role": "tool", "tool_call_id": "c1", "content": "42"}])
    for payload in (hot, with_tool):
        refused = read_scope(ORIGIN, payload, OPENAI, DEFAULT_RULES)
        assert isinstance(refused, Ineligible)  # refused by default
        assert scoped(payload, rules=rules).text  # served once the rules allow it


def test_anthropic_messages_scope_the_system_prompt_and_refuse_tool_results() -> None:
    body = {
        "model": "claude-sonnet-4",
        "max_tokens": 100,
        "messages": [{"role": "user", "content": [{"type": "text", "text": "Hi there"}]}],
    }
    a = scoped(body)
    assert a.text == "Hi there"
    assert scoped({**body, "system": "Be terse."}).scope != a.scope
    tool_result = {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t1", "content": "42"}]}
    with_result = {**body, "messages": [tool_result, *body["messages"]]}
    assert isinstance(read_scope(ORIGIN, with_result, OPENAI), Ineligible)


def test_gemini_contents_are_read_and_candidate_count_refused() -> None:
    body = {"contents": [{"role": "user", "parts": [{"text": "Why is the sky blue?"}]}]}
    origin = Origin("local/default", "google-ai-studio", "v1beta/models/gemini-2.0-flash:generateContent")
    assert scoped(body, origin, readers=GEMINI).text == "Why is the sky blue?"
    warm = {**body, "generationConfig": {"temperature": 0.3}}
    assert scoped(warm, origin, readers=GEMINI).scope == scoped(body, origin, readers=GEMINI).scope
    many = {**body, "generationConfig": {"candidateCount": 2}}
    assert isinstance(read_scope(origin, many, GEMINI), Ineligible)
    call = {"role": "user", "parts": [{"functionResponse": {"name": "f", "response": {}}}]}
    assert isinstance(read_scope(origin, {"contents": [call, *body["contents"]]}, GEMINI), Ineligible)


def test_a_completion_prompt_is_the_text() -> None:
    assert scoped({"model": "gpt-3.5-turbo-instruct", "prompt": "Say hi"}).text == "Say hi"


def test_only_the_shapes_the_provider_declares_are_read() -> None:
    chat = {"model": "m", "messages": [{"role": "user", "content": "what is a sluice"}]}
    gemini = {"contents": [{"role": "user", "parts": [{"text": "what is a sluice"}]}]}
    origin = Origin("local/default", "google-ai-studio", "v1beta/models/m:generateContent")
    studio, vertex = REGISTRY["google-ai-studio"], REGISTRY["google-vertex-ai"]
    assert isinstance(read_scope(origin, gemini, studio.conversations), Scoped)
    assert read_scope(origin, chat, studio.conversations) == Ineligible("no contents to compare")
    assert isinstance(read_scope(origin, chat, vertex.conversations), Scoped)  # Claude on Vertex
    refused = read_scope(origin, chat, REGISTRY["replicate"].conversations)
    assert refused == Ineligible("the provider's bodies have no shape the semantic cache reads")
