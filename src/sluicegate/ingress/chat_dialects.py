"""What a server that speaks OpenAI's chat API takes of the chat request an ingress format wrote.

The Messages and Responses formats write one chat request (the hub, which the caches key): its
answer cap is `max_completion_tokens`, OpenAI's name, and a stream asks for usage
(`stream_options`), which the rendered stream must report. A provider that speaks chat gets that
request as it is, so it must be one the provider takes: OpenAI's reasoning models refuse
`max_tokens`, while most other servers know only `max_tokens`, and a strict one (Mistral) answers
422 to any field it lacks. A chat client's own request is never changed: these are the fields the
gateway chose for it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

# The hub's cap: OpenAI's chat name (`max_tokens` is refused by its reasoning models).
HUB_CAP: Final = "max_completion_tokens"


@dataclass(frozen=True, slots=True)
class ChatDialect:
    """`cap`: the field the server caps the answer with. `refused`: fields it refuses that the
    formats may write; they only tag or tune (`user`), or the server does without them
    (`stream_options`: it reports a stream's usage unasked), so they are left out."""

    cap: str = "max_tokens"
    refused: frozenset[str] = frozenset()

    def adapt(self, chat: Mapping[str, Any]) -> dict[str, Any]:
        """`chat` (a hub request) as this server takes it."""
        adapted = {key: value for key, value in chat.items() if key not in self.refused}
        if self.cap != HUB_CAP and HUB_CAP in adapted:
            adapted[self.cap] = adapted.pop(HUB_CAP)
        return adapted


# What vLLM, llama.cpp, Ollama, DeepSeek (https://api-docs.deepseek.com/api/create-chat-completion),
# OpenRouter and Perplexity take: `max_tokens`, with `stream_options` for a stream's usage.
DEFAULT_DIALECT: Final = ChatDialect()
_OPENAI: Final = ChatDialect(cap=HUB_CAP)
DIALECTS: Final[Mapping[str, ChatDialect]] = {
    # https://platform.openai.com/docs/api-reference/chat/create: `max_tokens` is deprecated and
    # refused by the o-series and gpt-5 models; Azure serves the same models.
    "openai": _OPENAI,
    "azure-openai": _OPENAI,
    # https://console.groq.com/docs/api-reference#chat-create: `max_tokens` is deprecated there too.
    "groq": _OPENAI,
    # https://docs.mistral.ai/api/#tag/chat/operation/chat_completion_v1_chat_completions_post:
    # `max_tokens` only, any other field is a 422 `extra_forbidden`; the last chunk of a stream
    # carries the usage.
    "mistral": ChatDialect(refused=frozenset({"user", "stream_options"})),
}


def chat_dialect(provider: str) -> ChatDialect:
    return DIALECTS.get(provider, DEFAULT_DIALECT)
