"""Which request fields of a client API the compat endpoint takes when it translates, and how.

The project's rule (compat/fields.py): a field is translated where chat can say it; a field that
changes no answer (a tag, a routing or caching knob, a default) is taken without being sent; any
other value, which the providers would not honour, is refused with a 400 naming the field, never
dropped unseen while the answer echoes it as if honoured. A field the gateway does not know is
refused too, as Anthropic's API refuses one ("Extra inputs are not permitted") and OpenAI's
("Unknown parameter"): the client may mean something the answer would not do.

Messages: https://docs.anthropic.com/en/api/messages. Responses:
https://platform.openai.com/docs/api-reference/responses/create.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from sluicegate.compat.base import TranslationError

# Anthropic's Messages: translated (anthropic_messages.py), or changing no answer: the service tier,
# where it runs (`inference_geo`), how fast (`speed`), automatic prompt caching (`cache_control`).
MESSAGES_TAKEN: Final = frozenset(
    {
        "model", "messages", "max_tokens", "system", "stop_sequences", "stream", "temperature",
        "top_p", "tools", "tool_choice", "thinking", "metadata", "output_config", "output_format",
        "service_tier", "inference_geo", "speed", "cache_control",
    }
)  # fmt: skip
# What only Anthropic's own platform runs: a tool server, a code container, context editing.
MESSAGES_ANTHROPIC_ONLY: Final = ("mcp_servers", "container", "context_management")
# Anthropic's default effort ("high"): https://docs.claude.com/en/docs/build-with-claude/effort
_DEFAULT_EFFORT: Final = "high"

# OpenAI's Responses: translated (openai_responses.py), refused there when stateful, or changing no
# answer: tags and storage, the service tier, prompt caching, stream obfuscation, `truncation`
# (which acts only past the context window, where the provider refuses the request instead), and
# `max_tool_calls`, which counts calls of built-in tools, none of which a translation sends.
RESPONSES_TAKEN: Final = frozenset(
    {
        "model", "input", "instructions", "max_output_tokens", "temperature", "top_p", "tools",
        "tool_choice", "parallel_tool_calls", "text", "reasoning", "user", "safety_identifier",
        "stream", "stream_options", "store", "metadata", "service_tier", "prompt_cache_key",
        "prompt_cache_retention", "truncation", "max_tool_calls", "include", "top_logprobs",
        "previous_response_id", "conversation", "prompt", "background",
    }
)  # fmt: skip
LOGPROBS: Final = "message.output_text.logprobs"
# `include` values: logprobs (translated), the encrypted reasoning (always there: reasoning_items.py),
# and what built-in tools return or input images' URLs, which a translated answer has none of.
_INCLUDABLE: Final = frozenset(
    {
        LOGPROBS, "reasoning.encrypted_content", "file_search_call.results", "web_search_call.results",
        "web_search_call.action.sources", "message.input_image.image_url",
        "computer_call_output.output.image_url", "code_interpreter_call.outputs",
    }
)  # fmt: skip
_TEXT_FIELDS: Final = frozenset({"format", "verbosity"})
_MAX_TOP_LOGPROBS: Final = 20


def refuse_unknown(payload: Mapping[str, Any], taken: frozenset[str], api: str) -> None:
    """A `TranslationError` for the first field of `payload` not in `taken` (a null is no value)."""
    for name, value in payload.items():
        if name not in taken and value is not None:
            raise TranslationError(
                f"{api} field the gateway cannot translate for this provider: its answer would not do"
                " what it asks; leave it out, or use a model of the API's own provider",
                field=name,
            )


def check_messages_fields(payload: Mapping[str, Any]) -> None:
    """Refuses the Messages request's fields that chat cannot say (anthropic_messages.py translates
    the others)."""
    for name in MESSAGES_ANTHROPIC_ONLY:
        if payload.get(name):
            raise TranslationError("only Anthropic's own API runs it; use an anthropic/ model", field=name)
    if payload.get("top_k") is not None:
        raise TranslationError(
            "chat, in which the gateway asks the providers, has no top_k, so the answer would not be"
            " sampled as asked: leave it out, or use an anthropic/ model",
            field="top_k",
        )
    refuse_unknown(payload, MESSAGES_TAKEN, "not a Messages")
    effort = _mapping(payload.get("output_config")).get("effort")
    if effort not in (None, _DEFAULT_EFFORT):
        raise TranslationError(
            f"an effort other than {_DEFAULT_EFFORT!r} (the default) has no translation for this"
            " provider: leave it out, or use an anthropic/ model",
            field="output_config.effort",
        )


def responses_fields(payload: Mapping[str, Any]) -> dict[str, Any]:
    """What the Responses request's fields beyond the conversation add to its chat request:
    logprobs and verbosity; the rest refused or taken by `RESPONSES_TAKEN`."""
    refuse_unknown(payload, RESPONSES_TAKEN, "not a Responses")
    chat: dict[str, Any] = {}
    text = _mapping(payload.get("text"))
    for name in text:
        if name not in _TEXT_FIELDS and text[name] is not None:
            raise TranslationError("not a field the gateway can translate", field=f"text.{name}")
    if (verbosity := text.get("verbosity")) not in (None, "medium"):
        chat["verbosity"] = verbosity  # chat's own (GPT-5's); refused by providers without it
    include = payload.get("include")
    if include is not None and not isinstance(include, list):
        raise TranslationError("must be a list", field="include")
    for i, value in enumerate(include or ()):
        if value not in _INCLUDABLE:
            raise TranslationError(f"{value!r} cannot be included by this provider", field=f"include[{i}]")
    top = payload.get("top_logprobs")
    if top is not None and (
        not isinstance(top, int) or isinstance(top, bool) or not 0 <= top <= _MAX_TOP_LOGPROBS
    ):
        raise TranslationError(f"must be an integer from 0 to {_MAX_TOP_LOGPROBS}", field="top_logprobs")
    # Without `include`'s logprobs OpenAI returns none, top_logprobs or not: nothing to ask then.
    if LOGPROBS in (include or ()):
        chat["logprobs"] = True
        if top:
            chat["top_logprobs"] = top
    return chat


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}
