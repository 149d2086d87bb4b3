"""Client APIs the unified endpoint speaks besides OpenAI chat, translated through chat.

`FORMATS` maps each compat path to its format (ingress/base.py says what a format does): the
`anthropic` SDK's `…/compat/v1/messages` (also `…/compat/messages`) and its `count_tokens`, and
the `openai` SDK's Responses API, `…/compat/responses`; and (`format_at`) the `google-genai` SDK's
Gemini API, `…/compat/v1beta/models/{model}:generateContent` (a format per model and method). A
request whose model belongs to the format's own provider (`anthropic/…`, `openai/…`,
`google-ai-studio/…`) skips the translation (`Native`), and so does a dynamic route's target of that
provider (pipeline/compat_route.py).
"""

from __future__ import annotations

from collections.abc import Mapping

from sluicegate.ingress.anthropic_messages import COUNT_TOKENS, MESSAGES
from sluicegate.ingress.base import IngressFormat
from sluicegate.ingress.gemini_generate import gemini_format
from sluicegate.ingress.openai_responses import RESPONSES

FORMATS: Mapping[str, IngressFormat] = {
    "v1/messages": MESSAGES,
    "messages": MESSAGES,
    "v1/messages/count_tokens": COUNT_TOKENS,
    "messages/count_tokens": COUNT_TOKENS,
    "responses": RESPONSES,
}


def format_at(tail: str) -> IngressFormat | None:
    """The client API spoken at the compat path `tail` (as sent), besides chat; None for chat's."""
    return FORMATS.get(tail) or gemini_format(tail)
