"""OpenAI's usage objects: chat's, the Responses API's and the Realtime API's, as one `Usage`.

https://platform.openai.com/docs/api-reference/chat/object (usage),
https://platform.openai.com/docs/api-reference/responses/object (usage).
"""

from __future__ import annotations

from typing import Any

from sluicegate.providers.openai_media import duration_usage
from sluicegate.providers.reported_cost import reported_cost
from sluicegate.types import Usage

# The events that end a Responses API stream, each carrying the response and its usage: an answer
# cut short (`max_output_tokens`) or failed is billed too.
# https://platform.openai.com/docs/api-reference/responses-streaming/response/incomplete
RESPONSE_ENDS = frozenset({"response.completed", "response.incomplete", "response.failed"})
# What an event that reports usage contains, as bytes (a JSON key or the Responses event type).
USAGE_WORDS = (b'"usage"', b"response.completed", b"response.incomplete", b"response.failed")


def usage_object(raw: Any) -> Usage | None:
    """Chat (`prompt_tokens`, `completion_tokens`), Responses and Realtime (`input_tokens`, ...)
    usage objects, audio tokens included (chat's audio models, the Realtime API), and the charge a
    provider states beside them."""
    if not isinstance(raw, dict):
        return None
    if raw.get("type") == "duration":  # a transcription billed by the minute
        return duration_usage(raw)
    input_tokens = raw.get("prompt_tokens", raw.get("input_tokens"))
    output_tokens = raw.get("completion_tokens", raw.get("output_tokens", 0))
    if not isinstance(input_tokens, int):
        return None
    # Chat: `prompt_tokens_details`; Responses: `input_tokens_details`; Realtime: `input_token_details`
    # (https://platform.openai.com/docs/api-reference/realtime-server-events/response/done).
    input_details = _dict(
        raw.get("prompt_tokens_details") or raw.get("input_tokens_details") or raw.get("input_token_details")
    )
    output_details = _dict(
        raw.get("completion_tokens_details")
        or raw.get("output_tokens_details")
        or raw.get("output_token_details")
    )
    return Usage(
        input_tokens=input_tokens,
        output_tokens=output_tokens if isinstance(output_tokens, int) else 0,
        # DeepSeek: https://api-docs.deepseek.com/api/create-chat-completion (prompt_cache_hit_tokens)
        cached_tokens=_int(input_details.get("cached_tokens")) or _int(raw.get("prompt_cache_hit_tokens")),
        reasoning_tokens=_int(output_details.get("reasoning_tokens")),
        # Part of the prompt, as reads are: OpenRouter's resold Anthropic and Gemini models bill them
        # apart (https://openrouter.ai/docs/use-cases/usage-accounting); OpenAI's SDK has the field.
        cache_write_tokens=_int(input_details.get("cache_write_tokens")),
        # The gateway's own field in the answers it translates (compat/base.py `openai_usage`).
        cache_write_1h_tokens=_int(input_details.get("cache_write_1h_tokens")),
        input_audio_tokens=_int(input_details.get("audio_tokens")),
        cached_audio_tokens=_int(_dict(input_details.get("cached_tokens_details")).get("audio_tokens")),
        output_audio_tokens=_int(output_details.get("audio_tokens")),
        web_searches=_int(_dict(raw.get("server_tool_use")).get("web_search_requests")),  # OpenRouter's
        cost_usd=reported_cost(raw),  # OpenRouter's and Perplexity's `cost`: the charge they state
    )


def _int(value: Any) -> int:
    return value if isinstance(value, int) else 0


def _dict(value: Any) -> dict[str, Any]:
    """`value` if it is an object, else an empty one: upstream bodies are not trusted to be well formed."""
    return value if isinstance(value, dict) else {}
