"""Conditions of `if` nodes, evaluated against a request's facts."""

from __future__ import annotations

from typing import Any

import pytest

from sluicegate.routing import RouteFacts
from sluicegate.routing.conditions import compile_condition, uses_prompt_tokens


def holds(condition: Any, **facts: Any) -> bool:
    return compile_condition(condition).holds(RouteFacts(**facts))


def test_metadata_equality_and_membership() -> None:
    assert holds({"metadata.tier": "pro"}, metadata={"tier": "pro"})
    assert not holds({"metadata.tier": "pro"}, metadata={"tier": "free"})
    assert holds({"metadata.region": ["eu", "uk"]}, metadata={"region": "uk"})
    assert not holds({"metadata.region": ["eu", "uk"]}, metadata={"region": "us"})


def test_a_missing_metadata_field_equals_nothing_so_its_negation_holds() -> None:
    assert not holds({"metadata.tier": "pro"}, metadata={})
    assert holds({"not": {"metadata.tier": "pro"}}, metadata={})


@pytest.mark.parametrize(
    ("wanted", "sent", "expected"),
    [
        (1, 1.0, True),  # numbers compare as numbers
        (True, 1, False),  # a boolean is not a number
        (1, True, False),
        ("1", 1, False),  # a string is not a number
        (False, False, True),
        ([2, "x"], 2, True),
    ],
)
def test_metadata_values_compare_as_json_values(wanted: Any, sent: Any, expected: bool) -> None:
    assert holds({"metadata.n": wanted}, metadata={"n": sent}) is expected


def test_requested_model_stream_and_tools() -> None:
    assert holds({"model": "dynamic/support"}, model="dynamic/support")
    assert holds({"model": ["a", "b"]}, model="b")
    assert not holds({"model": "a"}, model="b")
    assert holds({"stream": True}, stream=True)
    assert holds({"stream": False}, stream=False)
    assert not holds({"has_tools": True}, has_tools=False)


def test_all_entries_of_one_object_must_hold() -> None:
    condition = {"metadata.tier": "pro", "stream": True}
    assert holds(condition, metadata={"tier": "pro"}, stream=True)
    assert not holds(condition, metadata={"tier": "pro"}, stream=False)


def test_any_all_not_nest() -> None:
    condition = {"any": [{"all": [{"metadata.tier": "pro"}, {"not": {"stream": True}}]}, {"has_tools": True}]}
    assert holds(condition, metadata={"tier": "pro"})
    assert not holds(condition, metadata={"tier": "pro"}, stream=True)
    assert holds(condition, metadata={}, has_tools=True)


def test_prompt_tokens_are_counted_once_and_only_when_asked() -> None:
    calls: list[int] = []

    def count() -> int:
        calls.append(1)
        return 5000

    facts = RouteFacts(count_prompt_tokens=count)
    assert not compile_condition({"stream": True}).holds(facts)
    assert calls == []
    big = compile_condition({"any": [{"prompt_tokens_over": 4000}, {"prompt_tokens_over": 10}]})
    assert big.holds(facts)
    assert not compile_condition({"prompt_tokens_over": 5000}).holds(facts)  # over, not at
    assert calls == [1]
    assert uses_prompt_tokens(compile_condition({"not": {"all": [{"prompt_tokens_over": 1}]}}))
    assert not uses_prompt_tokens(compile_condition({"metadata.a": 1, "stream": True}))


def test_facts_from_an_openai_chat_body() -> None:
    payload = {"model": "dynamic/support", "stream": True, "tools": [{"type": "function"}], "messages": []}
    facts = RouteFacts.from_chat(payload, {"user": "u1"}, token_id="tok")
    assert (
        facts.model,
        facts.stream,
        facts.has_tools,
        facts.field("metadata.user"),
        facts.field("token"),
    ) == (
        "dynamic/support",
        True,
        True,
        "u1",
        "tok",
    )
    bare = RouteFacts.from_chat({"model": 3, "stream": "yes", "tools": []})
    assert (bare.model, bare.stream, bare.has_tools) == ("", False, False)
