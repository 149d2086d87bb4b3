"""What Anthropic and Gemini refuse of a request's thinking, beside what the fakes' own modules
check: Anthropic's tool-loop rule and its models without thinking or with fewer output tokens,
Gemini's budget ranges. Each returns the provider's 400 message, or None.

https://docs.claude.com/en/docs/build-with-claude/extended-thinking (supported models, "a final
`assistant` message must start with a thinking block"), https://docs.claude.com/en/docs/about-claude/models/overview
(max output), https://ai.google.dev/gemini-api/docs/thinking (budget ranges per model).
"""

from __future__ import annotations

import re
from typing import Any

_CLAUDE = re.compile(r"claude-(?:([a-z]+)-)?(\d+)(?:[-.](\d{1,2})(?!\d))?")
_TOOL_LOOP = (
    "messages.{at}.content.0.type: Expected `thinking` or `redacted_thinking`, but found `{found}`. When "
    "`thinking` is enabled, a final `assistant` message must start with a thinking block (preceeding the "
    "lastmost set of `tool_use` and `tool_result` blocks). We recommend you include thinking blocks from "
    "previous turns. To avoid this requirement, disable `thinking`. Please consult our documentation at "
    "https://docs.claude.com/en/docs/build-with-claude/extended-thinking"
)


def anthropic_refusal(body: dict[str, Any]) -> str | None:
    """Of a request with thinking enabled or adaptive: a model before Claude 3.7 (no thinking),
    `max_tokens` above the model's most output, or a last assistant turn with tool use that does
    not start with a thinking block."""
    model = str(body.get("model", ""))
    found = _CLAUDE.search(model)
    if found is not None:
        family = found[1] or next((f for f in ("opus", "sonnet", "haiku") if f in model), "")
        version = (int(found[2]), int(found[3] or 0))
        if version < (3, 7):
            return f"'{model}' does not support thinking."
        most = 32000 if family == "opus" and version < (4, 5) else 64000 if version < (4, 6) else 128000
        if isinstance(body.get("max_tokens"), int) and body["max_tokens"] > most:
            return (
                f"max_tokens: {body['max_tokens']} > {most}, which is the maximum allowed number of "
                f"output tokens for {model}"
            )
    messages = body.get("messages") if isinstance(body.get("messages"), list) else []
    for at in range(len(messages) - 1, -1, -1):
        message = messages[at]
        if not isinstance(message, dict) or message.get("role") != "assistant":
            continue
        blocks = message.get("content") if isinstance(message.get("content"), list) else []
        if not any(isinstance(b, dict) and b.get("type") == "tool_use" for b in blocks):
            continue
        first = blocks[0].get("type") if isinstance(blocks[0], dict) else None
        if first not in ("thinking", "redacted_thinking"):
            return _TOOL_LOOP.format(at=at, found=first)
        return None
    return None


def gemini_refusal(model: str, config: Any) -> str | None:
    """A thinkingBudget outside the model's range (Gemini 2.5 Pro 128-32768 and not 0, Flash
    0-24576, Flash-Lite 0 or 512-24576; -1 dynamic for all)."""
    budget = config.get("thinkingBudget") if isinstance(config, dict) else None
    if not isinstance(budget, int) or budget == -1:
        return None
    low, high, can_stop = (
        (512, 24576, True) if "lite" in model else (128, 32768, False) if "pro" in model else (1, 24576, True)
    )
    if budget == 0 and not can_stop:
        return "Budget 0 is invalid. This model only works in thinking mode."
    if budget != 0 and not low <= budget <= high:
        return f"The thinking budget ({budget}) is invalid. Please choose a value between {low} and {high}."
    return None
