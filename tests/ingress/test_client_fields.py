"""A translator's refusal, naming chat's fields, said in the Messages or Responses client's terms."""

from __future__ import annotations

from typing import Any

import pytest

from sluicegate.compat.base import TranslationError
from sluicegate.ingress.anthropic_messages import MESSAGES
from sluicegate.ingress.client_fields import in_client_terms
from sluicegate.ingress.gemini_generate import gemini_format
from sluicegate.ingress.openai_responses import RESPONSES
from sluicegate.providers.gemini.compat import GoogleAIStudioTranslator
from sluicegate.providers.workers_ai.compat import WorkersAITranslator

IMAGE: Any = {"type": "image", "source": {"type": "url", "url": "https://example.com/a.png"}}
MESSAGES_ASKED: Any = {
    "model": "workers-ai/m",
    "max_tokens": 50,
    "system": "Be brief.",
    "messages": [
        {"role": "user", "content": "hi"},
        {"role": "assistant", "content": [{"type": "tool_use", "id": "c1", "name": "f", "input": {}}]},
        {"role": "user", "content": [
            {"type": "tool_result", "tool_use_id": "c1", "content": [IMAGE]},
            {"type": "text", "text": "and this one?"},
            IMAGE,
        ]},
    ],
}  # fmt: skip
RESPONSES_ASKED: Any = {
    "model": "workers-ai/m",
    "instructions": "Be brief.",
    "input": [
        {"role": "user", "content": "hi"},
        {"type": "function_call", "call_id": "c1", "name": "f", "arguments": "{}"},
        {"type": "function_call_output", "call_id": "c1", "output": "done"},
        {"role": "user", "content": [
            {"type": "input_text", "text": "look"},
            {"type": "input_image", "image_url": "https://example.com/a.png"},
        ]},
    ],
}  # fmt: skip


def refusal(format_name: str, asked: dict[str, Any]) -> TranslationError:
    chat = (MESSAGES if format_name == "anthropic-messages" else RESPONSES).to_chat(asked)
    translator = GoogleAIStudioTranslator() if asked["model"].startswith("google") else WorkersAITranslator()
    with pytest.raises(TranslationError) as caught:
        translator.request(chat, "gemini-2.5-flash")
    return in_client_terms(format_name, asked, caught.value)


SEE: Any = [
    MESSAGES_ASKED["messages"][0],
    {"role": "user", "content": [{"type": "text", "text": "see"}, IMAGE]},
]
EFFORT: Any = {"model": "google-ai-studio/gemini-2.5-flash", "input": "hi", "reasoning": {"effort": "xhigh"}}


@pytest.mark.parametrize(
    ("format_name", "asked", "field", "said"),
    [
        ("anthropic-messages", {**MESSAGES_ASKED, "stop_sequences": ["X"]}, "stop_sequences", "supported"),
        # The tool's image goes first in the user message after the tool message: the first image
        # Workers AI refuses is the tool_result's.
        ("anthropic-messages", MESSAGES_ASKED, "messages.2.content.0.content.0", "an 'image' block"),
        ("anthropic-messages", {**MESSAGES_ASKED, "messages": SEE}, "messages.1.content.1", "image"),
        ("openai-responses", EFFORT, "reasoning.effort", "must be one of"),
        ("openai-responses", RESPONSES_ASKED, "input[3].content[1]", "an 'input_image' part"),
    ],
)  # fmt: skip
def test_a_refusal_names_the_clients_field(format_name: str, asked: Any, field: str, said: str) -> None:
    error = refusal(format_name, asked)
    assert error.field == field
    assert str(error).startswith(f"{field}: ")
    assert said in str(error)
    assert "image_url" not in str(error)


GEMINI_IMAGE: Any = {"inline_data": {"mime_type": "image/png", "data": "aGk="}}
GEMINI_ASKED: Any = {
    "model": "workers-ai/m",
    "systemInstruction": {"parts": [{"text": "Be brief."}]},
    "contents": [
        {"role": "user", "parts": [{"text": "hi"}]},
        {"role": "model", "parts": [
            {"text": "thinking", "thought": True},
            {"functionCall": {"name": "f", "args": {}}},
        ]},
        {"role": "user", "parts": [
            {"functionResponse": {"name": "f", "response": {}}},
            {"text": "and this one?"},
            {"fileData": {"fileUri": "https://example.com/a.png", "mimeType": "image/png"}},
        ]},
    ],
    "tools": [
        {"functionDeclarations": [{"name": "f"}]},
        {"functionDeclarations": [{"name": "g", "parametersJsonSchema": {"type": "object"}}]},
    ],
}  # fmt: skip


def gemini_refusal(asked: dict[str, Any]) -> TranslationError:
    method = "countTokens" if "generateContentRequest" in asked else "generateContent"
    generate = gemini_format(f"v1beta/models/workers-ai/m:{method}")
    assert generate is not None
    with pytest.raises(TranslationError) as caught:
        WorkersAITranslator().request(generate.to_chat(asked), "m")
    return in_client_terms(generate.name, asked, caught.value)


@pytest.mark.parametrize(
    ("asked", "field", "said"),
    [
        (GEMINI_ASKED, "contents[2].parts[2]", "a 'fileData' part cannot be translated for Workers AI"),
        (
            {"contents": [{"parts": [{"text": "see"}, GEMINI_IMAGE]}]},
            "contents[0].parts[1]",
            "an 'inlineData' part cannot be translated",
        ),
        (
            {"contents": GEMINI_ASKED["contents"][:1], "generation_config": {"stop_sequences": ["X"]}},
            "generationConfig.stopSequences",
            "not supported by Workers AI",
        ),
        (
            {"generateContentRequest": {"contents": [{"parts": [{"text": "see"}, GEMINI_IMAGE]}]}},
            "generateContentRequest.contents[0].parts[1]",
            "an 'inlineData' part",
        ),
    ],
)
def test_a_gemini_refusal_names_the_clients_field(asked: Any, field: str, said: str) -> None:
    error = gemini_refusal({"model": "workers-ai/m", **asked})
    assert error.field == field
    assert str(error).startswith(f"{field}: ")
    assert said in str(error)
    assert "image_url" not in str(error)


@pytest.mark.parametrize(
    ("chat_field", "field"),
    [
        ("messages[0]", "systemInstruction"),
        ("messages[2].tool_calls[0].function.arguments", "contents[1].parts[1]"),
        ("messages[3]", "contents[2].parts[0]"),
        ("tools[1].function.parameters", "tools[1].functionDeclarations[0].parametersJsonSchema"),
        ("tools[0].function.name", "tools[0].functionDeclarations[0].name"),
        ("reasoning_effort", "generationConfig.thinkingConfig.thinkingLevel"),
        ("messages", "contents"),
    ],
)
def test_a_gemini_request_names_the_field_chats_came_from(chat_field: str, field: str) -> None:
    error = in_client_terms("gemini-generate-content", GEMINI_ASKED, TranslationError("no", field=chat_field))
    assert (error.field, str(error)) == (field, f"{field}: no")
