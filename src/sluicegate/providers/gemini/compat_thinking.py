"""A chat request's reasoning as Gemini's `generationConfig.thinkingConfig`.

`reasoning_effort` as Google's own OpenAI compatibility maps it
(https://ai.google.dev/gemini-api/docs/openai#thinking): a thinkingBudget before Gemini 3, a
thinkingLevel from 3 on (which cannot turn thinking off, so "none" is its lowest). LiteLLM's
`thinking` object (what the Messages ingress writes for Anthropic's `thinking`) keeps its budget
before Gemini 3 (https://ai.google.dev/gemini-api/docs/thinking: `thinkingBudget`, -1 dynamic, 0
off) and becomes the level of the effort its budget falls in from 3 on. That object asks to see the
thinking too (Anthropic's answers show it, and LiteLLM asks Gemini so for it): unless it turns thinking
off, `includeThoughts` goes with it, and the thought summaries come back as the chat answer's
`reasoning_content` (compat.py), which a Messages client gets as thinking blocks; so does
`include_reasoning: true` (OpenRouter's field, which a Responses `reasoning.summary` becomes).

A budget must be in the model's range, or Gemini refuses the request ("The thinking budget (N) is
invalid."): 2.5 Pro 128–32768 and never 0 (it cannot stop thinking), 2.5 Flash 0–24576, 2.5
Flash-Lite 512–24576 or 0; -1 (dynamic) for all (https://ai.google.dev/gemini-api/docs/thinking).
A budget outside is clamped to it (Claude Code asks 31999 of any model), and 0 to a Pro is left out
(its default thinking). A name that says neither `pro` nor `lite` is taken as a Flash.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from sluicegate.compat.base import TranslationError

THINKING_BUDGETS: Final = {"none": 0, "minimal": 1024, "low": 1024, "medium": 8192, "high": 24576}
THINKING_LEVELS: Final = {"none": "low", "minimal": "low", "low": "low", "medium": "high", "high": "high"}
DYNAMIC_BUDGET: Final = -1  # the model decides how much to think
# (model name part, lowest budget but 0, highest, whether 0 turns thinking off), the first match counts
BUDGET_RANGES: Final = (("lite", 512, 24576, True), ("pro", 128, 32768, False), ("", 1, 24576, True))


def thinking_config(
    payload: Mapping[str, Any], from_gemini_3: bool, model: str = ""
) -> dict[str, Any] | None:
    """The thinkingConfig the request asks for (`reasoning_effort` first), its budget in `model`'s
    range; None: the model's default."""
    config = _asked(payload, from_gemini_3)
    if config is not None and isinstance(budget := config.get("thinkingBudget"), int):
        config = in_range(budget, model)
    if _shows_thinking(payload) and (config or {}).get("thinkingBudget") != 0:
        config = {**(config or {}), "includeThoughts": True}
    return config


def _shows_thinking(payload: Mapping[str, Any]) -> bool:
    """Whether the request asks to see the thinking: `include_reasoning` (OpenRouter's field; what
    the Responses ingress writes for `reasoning.summary`), or a `thinking` object (LiteLLM's, the
    Messages ingress's) that turns thinking on. `reasoning_effort`, OpenAI's field, asks only how
    much to think."""
    if payload.get("include_reasoning") is True:
        return True
    thinking = payload.get("thinking")
    return isinstance(thinking, Mapping) and thinking.get("type") in ("enabled", "adaptive")


def in_range(budget: int, model: str) -> dict[str, Any] | None:
    """`{"thinkingBudget": budget}` clamped to `model`'s range; None for 0 to a model that cannot
    stop thinking."""
    if budget == DYNAMIC_BUDGET:
        return {"thinkingBudget": budget}
    name = model.lower()
    _, low, high, can_stop = next(r for r in BUDGET_RANGES if r[0] in name)
    if budget == 0:
        return {"thinkingBudget": 0} if can_stop else None
    return {"thinkingBudget": min(max(budget, low), high)}


def _asked(payload: Mapping[str, Any], from_gemini_3: bool) -> dict[str, Any] | None:
    if (effort := payload.get("reasoning_effort")) is not None:
        return _effort(effort, from_gemini_3)
    thinking = payload.get("thinking")
    if thinking is None:
        return None
    kind = thinking.get("type") if isinstance(thinking, Mapping) else None
    if kind == "disabled":
        return _effort("none", from_gemini_3)
    if kind == "adaptive":
        return None if from_gemini_3 else {"thinkingBudget": DYNAMIC_BUDGET}
    budget = thinking.get("budget_tokens") if isinstance(thinking, Mapping) else None
    if kind != "enabled" or not isinstance(budget, int) or isinstance(budget, bool) or budget < 0:
        raise TranslationError(
            'must be {"type": "enabled", "budget_tokens": N}, adaptive or disabled', field="thinking"
        )
    if from_gemini_3:
        return {"thinkingLevel": "low" if budget <= THINKING_BUDGETS["low"] else "high"}
    return {"thinkingBudget": budget}


def _effort(effort: Any, from_gemini_3: bool) -> dict[str, Any]:
    if effort not in THINKING_BUDGETS:
        raise TranslationError(
            f"must be one of {', '.join(THINKING_BUDGETS)} for Google AI Studio", field="reasoning_effort"
        )
    if from_gemini_3:
        return {"thinkingLevel": THINKING_LEVELS[effort]}
    return {"thinkingBudget": THINKING_BUDGETS[effort]}
