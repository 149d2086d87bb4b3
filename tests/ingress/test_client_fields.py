"""A translator's refusal, naming chat's fields, said in the Messages or Responses client's terms."""

from __future__ import annotations

from typing import Any

import pytest

from sluicegate.compat.base import TranslationError
from sluicegate.ingress.anthropic_messages import MESSAGES
from sluicegate.ingress.client_fields import in_client_terms
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
