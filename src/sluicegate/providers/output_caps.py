"""How long a request lets its answer grow, read from its body (`Provider.output_cap`): what a
`tokens` or `cost` rule reserves for the answer before it comes (`outcome/estimate.py`).

A cap is a count of output tokens for the whole answer, every choice or candidate together;
`NO_OUTPUT` (0) for a request that generates none (embeddings, token counting); None when the body
sets none, and the rule's `reserve` stands in. These run on every request under such a rule: they
look up a few keys and build nothing.
"""

from __future__ import annotations

from typing import Any

NO_OUTPUT = 0
# OpenAI's chat (`max_completion_tokens`, which replaced `max_tokens`), completions (`max_tokens`)
# and Responses API (`max_output_tokens`): https://platform.openai.com/docs/api-reference/chat/create
# The servers that speak its API, and the Messages, Cohere and Workers AI APIs, use `max_tokens` too.
OPENAI_CAPS = ("max_completion_tokens", "max_tokens", "max_output_tokens")


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
