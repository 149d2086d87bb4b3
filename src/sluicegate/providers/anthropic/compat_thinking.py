"""A chat request's reasoning (`reasoning_effort`, or LiteLLM's `thinking` object, which the
Messages ingress writes) as Anthropic's extended thinking, and the thinking blocks an assistant
message carries back (`thinking_blocks`, LiteLLM's field).

Anthropic's rules (https://docs.claude.com/en/docs/build-with-claude/extended-thinking,
…/adaptive-thinking, …/effort):
- Claude Opus 4.6, Sonnet 4.6 and later take `thinking: {"type": "adaptive"}` with
  `output_config.effort` (low, medium, high); Opus 4.7 and later refuse `type: enabled` (400).
  Earlier models take only `{"type": "enabled", "budget_tokens": N}`, N ≥ 1024 and < max_tokens.
  A model is told apart by the version in its name; a name without one is taken as a new model.
- With thinking, temperature and top_k cannot be set and top_p only between 0.95 and 1: those
  knobs are dropped (as the Vercel AI SDK drops them), not sent to a 400.
- With thinking, tool_choice may be auto or none only: a request that forces a tool (`required`, a
  named function, a response format's answer tool) goes without thinking.
- In a tool loop, the assistant turn that called the tools must start with its thinking blocks as
  they came, signature and all: `thinking_blocks` on the assistant message, as the answer gave them.
  Without them Anthropic refuses the request ("a final `assistant` message must start with a
  thinking block"), so a request whose last assistant turn with tool calls carries no signed
  blocks goes without thinking, as LiteLLM does (a client that rebuilt its messages, a guardrail
  that changed the thinking text and so voided its signature, a loop begun without thinking).
- Only Claude 3.7 Sonnet and Claude 4 and later think (…/extended-thinking#supported-models);
  earlier models refuse `thinking` (400), so they go without, as before thinking was translated.
- `max_tokens` counts the thinking too: the budget is added to it, capped at the model's most
  output tokens (`MAX_OUTPUT`, https://docs.claude.com/en/docs/about-claude/models/overview).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, Final

from sluicegate.compat.base import TranslationError

# reasoning_effort -> budget_tokens for the models before adaptive thinking, as LiteLLM maps it.
BUDGETS: Final[Mapping[str, int]] = {
    "minimal": 1024,
    "low": 1024,
    "medium": 2048,
    "high": 4096,
    "xhigh": 8192,
    "max": 16384,
}
# reasoning_effort -> output_config.effort for adaptive thinking (Anthropic's low / medium / high;
# its xhigh and max only some models take).
EFFORTS: Final[Mapping[str, str]] = {
    "minimal": "low",
    "low": "low",
    "medium": "medium",
    "high": "high",
    "xhigh": "high",
    "max": "high",
}
MIN_BUDGET: Final = 1024
FIRST_THINKING: Final = (3, 7)  # Claude 3.7 Sonnet, the first model with extended thinking
# The most output tokens (thinking included) a model writes, by family and version: the first
# entry at or below the model's version, of its family ("" any), counts. Opus 4 and 4.1: 32K;
# 3.7 Sonnet (without the 128K beta header), Sonnet 4, 4.5, Haiku 4.5, Opus 4.5: 64K; 4.6 on: 128K.
MAX_OUTPUT: Final[tuple[tuple[str, tuple[int, int], int], ...]] = (
    ("", (4, 6), 128_000),
    ("opus", (4, 5), 64_000),
    ("opus", (4, 0), 32_000),
    ("", (3, 7), 64_000),
)
_VERSION = re.compile(r"claude-(?:([a-z]+)-)?(\d+)(?:[-.](\d{1,2})(?!\d))?")
_TOP_P_WITH_THINKING: Final = (0.95, 1.0)


def version(model: str) -> tuple[int, int] | None:
    """The Claude version in a model's name (`claude-3-7-sonnet…`, `claude-opus-4-1…`), or None."""
    found = _VERSION.search(model)
    return None if found is None else (int(found[2]), int(found[3] or 0))


def adaptive(model: str) -> bool:
    """Whether `model` thinks adaptively (Claude 4.6 and later; a name without a version too)."""
    return (version(model) or (99, 0)) >= (4, 6)


def thinks(model: str) -> bool:
    """Whether `model` takes `thinking` (Claude 3.7 Sonnet, 4 and later; a name without a version)."""
    return (version(model) or (99, 0)) >= FIRST_THINKING


def max_output(model: str) -> int | None:
    """The most output tokens `model` writes (`MAX_OUTPUT`); None: not known (no version)."""
    found, at = _VERSION.search(model), version(model)
    if found is None or at is None:
        return None
    family = found[1] or next((f for f in ("opus", "sonnet", "haiku") if f in model), "")
    for kind, since, most in MAX_OUTPUT:
        if kind in ("", family) and at >= since:
            return most
    return None


def thinking_config(payload: Mapping[str, Any], model: str) -> dict[str, Any] | None:
    """The `thinking` (and `output_config`) fields the request's reasoning asks for; None: none."""
    effort, thinking = payload.get("reasoning_effort"), payload.get("thinking")
    if thinking is not None:
        if not isinstance(thinking, Mapping) or thinking.get("type") not in (
            "enabled",
            "adaptive",
            "disabled",
        ):
            raise TranslationError(
                'must be {"type": "enabled", "budget_tokens": N}, adaptive or disabled', field="thinking"
            )
        if thinking["type"] == "disabled":
            return None
        budget = thinking.get("budget_tokens")
        if thinking["type"] == "adaptive" or adaptive(model):
            return {"thinking": {"type": "adaptive"}}
        if not isinstance(budget, int) or isinstance(budget, bool) or budget < MIN_BUDGET:
            raise TranslationError(
                f"budget_tokens: an integer of at least {MIN_BUDGET} is required", field="thinking"
            )
        return {"thinking": {"type": "enabled", "budget_tokens": budget}}
    if effort is None or effort == "none":
        return None
    if effort not in BUDGETS:
        raise TranslationError(f"must be one of none, {', '.join(BUDGETS)}", field="reasoning_effort")
    if adaptive(model):
        return {"thinking": {"type": "adaptive"}, "output_config": {"effort": EFFORTS[effort]}}
    return {"thinking": {"type": "enabled", "budget_tokens": BUDGETS[effort]}}


def with_thinking(body: dict[str, Any], payload: Mapping[str, Any], model: str) -> None:
    """Adds the request's thinking to the Anthropic `body` in place, within Anthropic's rules (see
    above). A budget is added to `max_tokens`, so the answer keeps the room the request gave it
    (as the Vercel AI SDK does), capped at the model's most output tokens."""
    fields = thinking_config(payload, model)
    if fields is None or not thinks(model):
        return
    if mapping(body.get("tool_choice")).get("type") in ("any", "tool"):
        return  # a forced tool call cannot think first
    if not _loop_keeps_thinking(payload.get("messages")):
        return
    budget = fields["thinking"].get("budget_tokens")
    if isinstance(budget, int):
        raised = body["max_tokens"] + budget
        most = max_output(model)
        body["max_tokens"] = raised if most is None else max(min(raised, most), body["max_tokens"])
    body.pop("temperature", None)
    body.pop("top_k", None)
    low, high = _TOP_P_WITH_THINKING
    if not low <= body.get("top_p", 1.0) <= high:
        body.pop("top_p")
    body.update(fields)


def _loop_keeps_thinking(messages: Any) -> bool:
    """Whether the last assistant message with tool calls (if any) has its signed thinking blocks."""
    turns: list[Any] = messages if isinstance(messages, list) else []
    for turn in reversed(turns):
        message = mapping(turn)
        if message.get("role") == "assistant" and message.get("tool_calls"):
            return bool(signed_blocks(message))
    return True


def signed_blocks(message: Mapping[str, Any]) -> list[dict[str, Any]]:
    """An assistant message's `thinking_blocks` as Anthropic takes them back: thinking with its
    signature, redacted thinking with its data. A thinking block without its signature (Anthropic
    refuses it; a guardrail that changed its text empties it) leaves the message with none: its
    thinking is no longer what Claude wrote, and part of it would not be either."""
    blocks = []
    for block in message.get("thinking_blocks") or ():
        block = mapping(block)
        if block.get("type") == "thinking" and not (
            isinstance(block.get("signature"), str) and block["signature"]
        ):
            return []
        if block.get("type") == "thinking":
            text = block.get("thinking")
            blocks.append(
                {
                    "type": "thinking",
                    "thinking": text if isinstance(text, str) else "",
                    "signature": block["signature"],
                }
            )
        elif block.get("type") == "redacted_thinking" and isinstance(block.get("data"), str):
            blocks.append({"type": "redacted_thinking", "data": block["data"]})
    return blocks


def mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}
