"""Which earlier turns of a conversation are compared by meaning, and when the whole history stays
exact (conversations written for these tests; none is in the evaluation set)."""

from __future__ import annotations

from typing import Any

import pytest

from sluicegate.providers import REGISTRY
from sluicegate.semantic.history import MAX_USER_TURNS, Message, context
from sluicegate.semantic.scope import Origin, Scoped, read_scope

ORIGIN = Origin("local/default", "openai", "chat/completions")
OPENAI = REGISTRY["openai"].conversations
SYSTEM = {"role": "system", "content": "You are the Cambridge visitor desk."}


def user(text: str) -> dict[str, Any]:
    return {"role": "user", "content": text}


def assistant(text: str) -> dict[str, Any]:
    return {"role": "assistant", "content": text}


PLACE = [user("I'm looking for the Yu Garden restaurant."), assistant("Yu Garden serves Chinese food.")]
CHATTER = [user("hey, how is your day going?"), assistant("pretty good thanks, yours?")]
ASK = user("What's their phone number?")


def scoped(*messages: dict[str, Any], **fields: Any) -> Scoped:
    result = read_scope(ORIGIN, {"model": "gpt-4o-mini", "messages": [SYSTEM, *messages], **fields}, OPENAI)
    assert isinstance(result, Scoped), result
    return result


def test_the_exchange_before_the_question_is_compared_most_recent_first() -> None:
    found = scoped(*PLACE, ASK)
    assert found.turns == (
        "What's their phone number?",
        "Yu Garden serves Chinese food.",
        "I'm looking for the Yu Garden restaurant.",
    )
    reworded = scoped(user("Can you find me Yu Garden?"), PLACE[1], ASK)
    assert reworded.scope == found.scope  # earlier turns are compared by meaning, not in the scope
    assert scoped(ASK).scope != found.scope  # a question with context never meets one without


def test_chatter_before_the_conversation_is_left_out() -> None:
    plain, chatty = scoped(*PLACE, ASK), scoped(*CHATTER, *PLACE, ASK)
    assert chatty.scope == plain.scope
    assert chatty.turns == plain.turns


def test_what_left_out_turns_name_stays_in_the_scope() -> None:
    """'I need the address' names nothing: the place it is about was named in a turn left out."""
    later = [user("I need the address."), assistant("Sure, here it is."), user("And the postcode?")]
    yu = scoped(*PLACE, *later)
    curry = scoped(
        user("I'm looking for the Golden Curry."), assistant("Golden Curry serves Indian food."), *later
    )
    assert yu.turns == curry.turns  # the compared turns alone cannot tell them apart
    assert yu.scope != curry.scope
    numbers = [user("A table for 4 on Friday, please."), assistant("Noted.")]
    other = [user("A table for 6 on Friday, please."), assistant("Noted.")]
    assert scoped(*numbers, *PLACE, ASK).scope != scoped(*other, *PLACE, ASK).scope


def checkup(fact: str, reply: str) -> list[dict[str, Any]]:
    return [user(fact), assistant("Oh no."), user(reply), assistant("A few questions first.")]


def test_what_a_left_out_turn_says_stays_in_the_scope() -> None:
    """Lower-case nouns are no names: the fact two turns back still keeps the scopes apart."""
    ask = user("is it an emergency?")
    hamster = scoped(*checkup("my hamster swallowed a grape", "i'm panicking"), ask)
    rabbit = scoped(*checkup("my rabbit swallowed a grape", "i'm panicking"), ask)
    assert hamster.turns == rabbit.turns  # the compared turns alone cannot tell them apart
    assert hamster.scope != rabbit.scope
    again = scoped(*checkup("My hamster swallowed a grape!", "i'm panicking"), ask)
    assert again.scope == hamster.scope  # case and punctuation are not what it says
    assert scoped(*checkup("my hamster didn't swallow a grape", "i'm panicking"), ask).scope != hamster.scope


def test_a_reply_of_small_talk_brings_the_turn_before() -> None:
    found = scoped(*checkup("my hamster swallowed a grape", "ok, makes sense"), user("is it an emergency?"))
    assert found.context[-1] == "my hamster swallowed a grape"


def test_a_turn_that_refers_back_brings_the_one_before() -> None:
    found = scoped(
        user("What's the capital of France?"),
        assistant("Paris."),
        user("And what about Germany?"),
        assistant("Berlin."),
        user("Which of them is bigger?"),
    )
    assert found.context == ("Berlin.", "And what about Germany?", "Paris.", "What's the capital of France?")


def test_a_longer_chain_of_references_keeps_the_history_exact() -> None:
    chain = [user("Tell me about Yu Garden."), assistant("A Chinese restaurant.")]
    for n in range(MAX_USER_TURNS):
        chain += [user(f"And is it open on day {n}?"), assistant("Yes.")]
    found = scoped(*chain, ASK)
    assert found.context == ()
    assert found.scope != scoped(*chain[2:], ASK).scope  # every earlier turn, byte for byte


@pytest.mark.parametrize(
    "terms",
    [
        "Please answer in French from now on.",
        "I'm vegan, keep that in mind.",
        "Keep your replies short.",
        "You are a pirate.",
    ],
)
def test_a_left_out_turn_that_sets_terms_keeps_the_history_exact(terms: str) -> None:
    found = scoped(user(terms), assistant("Sure."), *PLACE, ASK)
    assert found.context == ()
    assert found.scope != scoped(*PLACE, ASK).scope


@pytest.mark.parametrize(
    "odd",
    [
        {
            "role": "user",
            "content": [{"type": "image_url", "image_url": {"url": "https://example.com/a.png"}}],
        },
        {"role": "assistant", "content": None, "tool_calls": [{"id": "c1", "type": "function"}]},
        {"role": "user", "content": "Hi", "name": "alice"},
        {"role": "system", "content": "From now on, be terse."},
    ],
    ids=["image", "tool-call", "extra-field", "late-system-message"],
)
def test_a_history_that_is_not_plain_text_stays_exact(odd: dict[str, Any]) -> None:
    found = scoped(user("Hello."), odd, *PLACE, ASK)
    assert found.context == ()
    assert found.scope != scoped(*PLACE, ASK).scope


def test_empty_fields_an_sdk_echoes_back_do_not_count() -> None:
    echoed = {**PLACE[1], "refusal": None, "tool_calls": None, "annotations": []}
    assert scoped(PLACE[0], echoed, ASK).scope == scoped(*PLACE, ASK).scope


def test_anthropic_and_gemini_histories_are_compared_by_meaning() -> None:
    text = [{"type": "text", "text": "Yu Garden serves Chinese food."}]
    anthropic = {
        "model": "claude-sonnet-4",
        "max_tokens": 100,
        "messages": [PLACE[0], {"role": "assistant", "content": text}, ASK],
    }
    found = read_scope(ORIGIN, anthropic, REGISTRY["anthropic"].conversations)
    assert isinstance(found, Scoped)
    assert found.context == ("Yu Garden serves Chinese food.", "I'm looking for the Yu Garden restaurant.")
    gemini = {
        "contents": [
            {"role": "user", "parts": [{"text": "I'm looking for the Yu Garden restaurant."}]},
            {"role": "model", "parts": [{"text": "Yu Garden serves Chinese food."}]},
            {"role": "user", "parts": [{"text": "What's their phone number?"}]},
        ]
    }
    found = read_scope(ORIGIN, gemini, REGISTRY["google-ai-studio"].conversations)
    assert isinstance(found, Scoped)
    assert found.context == ("Yu Garden serves Chinese food.", "I'm looking for the Yu Garden restaurant.")


def test_only_assistant_turns_before_the_question_are_all_compared() -> None:
    assert context([Message("assistant", "Welcome! How can I help?")]) is not None
    found = context(
        [Message("assistant", "Welcome!"), Message("user", "Is it open?"), Message("assistant", "Yes")]
    )
    assert found is not None
    assert found.texts == ("Yes", "Is it open?", "Welcome!")  # "it" points at the welcome turn
