"""Which texts the prompt-injection rules read (the user's latest turns) and where they are."""

from __future__ import annotations

from typing import Any

from sluicegate.guardrails.bodies import texts
from sluicegate.guardrails.injection_turns import latest_user_texts, path_of
from sluicegate.providers.openai_texts import CHAT_TEXTS


def latest(body: dict[str, Any]) -> list[tuple[str, str | None]]:
    return [(text.value, path_of(body, text)) for text in latest_user_texts(texts(CHAT_TEXTS, body))]


def test_only_the_turns_after_the_last_answer_are_read() -> None:
    body = {
        "messages": [
            {"role": "system", "content": "be brief"},
            {"role": "user", "content": "old"},
            {"role": "assistant", "content": "answer"},
            {"role": "user", "content": "new"},
            {"role": "user", "content": [{"type": "text", "text": "newer"}]},
        ]
    }
    assert latest(body) == [("new", "messages[3].content"), ("newer", "messages[4].content[0].text")]


def test_a_prefilled_answer_does_not_end_the_turn_before_it() -> None:
    body = {"messages": [{"role": "user", "content": "asked"}, {"role": "assistant", "content": "Sure,"}]}
    assert latest(body) == [("asked", "messages[0].content")]


def test_a_first_request_is_read_whole() -> None:
    body = {
        "messages": [{"role": "user", "content": "a"}, {"role": "tool", "content": "t", "tool_call_id": "x"}]
    }
    assert latest(body) == [("a", "messages[0].content")]
