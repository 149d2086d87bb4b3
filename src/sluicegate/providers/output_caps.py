"""How long a request lets its answer grow, read from its body (`Provider.output_cap`): what a
`tokens` or `cost` rule reserves for the answer before it comes (`outcome/estimate.py`); and where
the body says so (`Provider.cap_field`), the field a refusal of that reservation tells the client
to lower (`pipeline/reservation_refusal.py`). Each adapter reads both with the same keys, its own.

A cap is a count of output tokens for the whole answer, every choice or candidate together;
`NO_OUTPUT` (0) for a request that generates none (embeddings, token counting); None when the body
sets none, and the rule's `reserve` stands in. `output_cap` runs on every request under such a rule:
it looks up a few keys and builds nothing; `cap_field` is read for a refusal only.
"""

from __future__ import annotations

from typing import Any, NamedTuple

NO_OUTPUT = 0
# OpenAI's chat (`max_completion_tokens`, which replaced `max_tokens`), completions (`max_tokens`)
# and Responses API (`max_output_tokens`): https://platform.openai.com/docs/api-reference/chat/create
# The servers that speak its API, and the Messages, Cohere and Workers AI APIs, use `max_tokens` too.
OPENAI_CAPS = ("max_completion_tokens", "max_tokens", "max_output_tokens")
# The paths of embeddings, which generate no output: `embeddings` (under any prefix) and Ollama's
# `api/embed` (https://github.com/ollama/ollama/blob/main/docs/api.md#generate-embeddings).
EMBEDDING_ENDS = ("embeddings", "embed")
CHOICES = ("n",)  # OpenAI's number of choices


class CapField(NamedTuple):
    """Where a body caps its answer: `key` (in the object `within`, when not at the top) set to
    `value` tokens for each of its `answers` (OpenAI's `n`, Gemini's `candidateCount`), of which a
    thinking budget may take `thinking` (Anthropic's `budget_tokens`, which `max_tokens` counts)."""

    key: str
    value: int
    answers: int = 1
    thinking: int = 0
    within: str = ""

    @property
    def name(self) -> str:
        """The field's path as the client writes it: `max_tokens`, `generationConfig.maxOutputTokens`."""
        return f"{self.within}.{self.key}" if self.within else self.key

    @property
    def total(self) -> int:
        """All answers together: `Provider.output_cap`."""
        return self.value * self.answers


NO_OUTPUT_FIELD = CapField("", NO_OUTPUT)  # a request that generates nothing


def cap_field(
    body: Any, keys: tuple[str, ...], choices: tuple[str, ...] = CHOICES, within: str = ""
) -> CapField | None:
    """Where `capped` finds the cap: the first of `keys` that `body` holds, for each of the answers
    the first of its `choices` keys asks for; None when the body is not an object or the cap is not
    a count (`times`)."""
    if not isinstance(body, dict):
        return None
    for key in keys:
        if key in body:
            cap, count = body[key], first(body, choices)
            if times(cap, count) is None:
                return None
            return CapField(key, cap, count if type(count) is int and count > 1 else 1, 0, within)
    return None


def openai_cap_field(path: str, payload: Any) -> CapField | None:
    """`Provider.cap_field` of OpenAI's API and the servers that speak it, whose `output_cap` reads
    the same keys (`OpenAICompatible`): none generated at an embeddings path."""
    return NO_OUTPUT_FIELD if path.rstrip("/").endswith(EMBEDDING_ENDS) else cap_field(payload, OPENAI_CAPS)


def nested_cap_field(
    body: Any, outers: tuple[str, ...], keys: tuple[str, ...], choices: tuple[str, ...] = ()
) -> CapField | None:
    """`cap_field` of the object under the first of `outers` that `body` holds (Gemini's generation
    config, Hugging Face's parameters, a Replicate prediction's input)."""
    if isinstance(body, dict):
        for outer in outers:
            if outer in body:
                return cap_field(body[outer], keys, choices, outer)
    return None


def capped(body: Any, keys: tuple[str, ...], choices: str | None = "n") -> int | None:
    """The first of `keys` that `body` holds, times the number of answers its `choices` key asks
    for (OpenAI's `n`); None when the body is not an object or the cap is not a count."""
    if not isinstance(body, dict):
        return None
    for key in keys:
        if key in body:
            return times(body[key], body.get(choices) if choices is not None else None)
    return None


def times(cap: Any, count: Any) -> int | None:
    """`cap` tokens for each of `count` answers (one when `count` is not a number above one); None
    when `cap` is not a count (a bool, a float, a string, a negative number)."""
    if type(cap) is not int or cap < 0:  # JSON numbers are read as exact ints: no bool, no subclass
        return None
    return cap * count if type(count) is int and count > 1 else cap


def first(body: Any, keys: tuple[str, ...]) -> Any:
    """The value of the first of `keys` that `body` holds (Google's camelCase or snake_case), or None."""
    if isinstance(body, dict):
        for key in keys:
            if key in body:
                return body[key]
    return None
