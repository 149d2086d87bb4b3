"""One word swapped where the embedder and the NLI model do not see it, through the gateway with the
openai SDK (real packaged models, the fake upstream on loopback): a conversation whose fact was
stated before a short reply ("my cat ate some chocolate" / ... / "ok sounds good" / ... / "is
this an emergency?") is not served the answer given about another animal, nor "the maximum dose"
the answer to "the recommended dose". The pairs are an exploratory tester's, none is in the
evaluation set."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import openai
import pytest

from tests.conftest import RunningGateway
from tests.fakes.openai_server import FakeOpenAI
from tests.integration.test_semantic import ready, stored

MODEL = "claude-sonnet-4-6"


@pytest.fixture
def gateway(make_gateway: Callable[..., RunningGateway], fake: FakeOpenAI) -> RunningGateway:
    gateway = make_gateway(upstreams={"openai": fake.base_url})
    settings = {"settings": {"semantic_cache_enabled": True}}
    assert gateway.http.patch("/api/v1/accounts/local/gateways/default", json=settings).is_success
    ready(gateway)
    return gateway


def ask(gateway: RunningGateway, *turns: str, threshold: str = "") -> str:
    """The `x-semantic-cache` header of the answer to a conversation of alternating user and
    assistant turns (the last one the user's question)."""
    roles = ("user", "assistant")
    messages: Any = [{"role": roles[i % 2], "content": text} for i, text in enumerate(turns)]
    headers = {"x-semantic-threshold": threshold} if threshold else {}
    with openai.OpenAI(base_url=gateway.provider_url("openai"), api_key="sk-test", max_retries=0) as client:
        raw = client.chat.completions.with_raw_response.create(
            model=MODEL, messages=messages, extra_headers=headers
        )
        return str(raw.headers["x-semantic-cache"])


def checkup(
    fact: str, reply: str, question: str, opening: str = "Oh no, let's figure this out."
) -> list[str]:
    return [fact, opening, reply, "First, a few questions.", question]


@pytest.mark.parametrize(
    "reply", ["ok sounds good", "makes sense", "please help", "i'm so worried", "please hurry"]
)
def test_a_fact_stated_before_a_short_reply_keeps_the_conversations_apart(
    gateway: RunningGateway, reply: str
) -> None:
    ask(gateway, *checkup("my cat ate some chocolate", reply, "is this an emergency?"))
    stored(gateway, 1)
    assert ask(gateway, *checkup("My cat ate some chocolate!", reply, "is this an emergency?")) == "HIT"
    assert ask(gateway, *checkup("my dog ate some chocolate", reply, "is this an emergency?")) == "MISS"


@pytest.mark.parametrize(
    ("fact", "other", "question", "opening"),
    [
        ("i take warfarin every day", "i take vitamin c every day", "can i drink alcohol?", "Thanks, noted."),
        (
            "i bought some shares last year",
            "i sold some shares last year",
            "do i need to pay tax?",
            "Let's look.",
        ),
        (
            "my washing machine is making a loud noise",
            "my dishwasher is making a loud noise",
            "should i call a repair technician or fix it myself?",
            "I'm sorry to hear that.",
        ),
        (
            "my phone won't charge anymore",
            "my laptop won't charge anymore",
            "what should i try first?",
            "Ok.",
        ),
        (
            "i'm cooking chicken thighs tonight",
            "i'm cooking salmon fillets tonight",
            "how long should i bake for?",
            "Sounds tasty.",
        ),
    ],
)
def test_a_lower_case_noun_in_a_left_out_turn_is_not_swapped(
    gateway: RunningGateway, fact: str, other: str, question: str, opening: str
) -> None:
    ask(gateway, *checkup(fact, "ok sounds good", question, opening))
    stored(gateway, 1)
    assert ask(gateway, *checkup(fact.capitalize(), "ok sounds good", question, opening)) == "HIT"
    assert ask(gateway, *checkup(other, "ok sounds good", question, opening)) == "MISS"


@pytest.mark.parametrize(
    ("first", "other", "middle", "question"),
    [
        (
            "i sold my house last month",
            "i bought a house last month",
            [
                "Congratulations! How can I help?",
                "i'm trying to sort out my taxes",
                "Happy to help with that.",
            ],
            "do i owe capital gains tax?",
        ),
        (
            "i'm learning rust",
            "i'm learning swift",
            ["Great language!", "i keep getting borrow checker errors", "Those are common at first."],
            "how do i fix a value moved here error?",
        ),
        (
            "my cat ate part of a lily leaf",
            "my dog ate part of a lily leaf",
            ["Oh no! How much did she eat, and when?", "just a small bite, about an hour ago", "Thanks."],
            "is this an emergency?",
        ),
    ],
)
def test_a_fact_two_turns_back_is_not_swapped(
    gateway: RunningGateway, first: str, other: str, middle: list[str], question: str
) -> None:
    ask(gateway, first, *middle, question)
    stored(gateway, 1)
    assert ask(gateway, first.capitalize(), *middle, question) == "HIT"
    assert ask(gateway, other, *middle, question) == "MISS"


@pytest.mark.parametrize(
    ("first", "second"),
    [
        (
            "What is the recommended dose of paracetamol for adults?",
            "What is the maximum dose of paracetamol for adults?",
        ),
        ("what is the recommended dose of ibuprofen", "what is the maximum dose of ibuprofen"),
        ("What's the fastest land animal?", "What's the slowest land animal?"),
        ("What's the penalty for paying taxes late?", "What's the penalty for filing taxes late?"),
    ],
)
def test_another_bound_extreme_or_action_is_not_served(
    gateway: RunningGateway, first: str, second: str
) -> None:
    ask(gateway, first)
    stored(gateway, 1)
    assert ask(gateway, f"Hi, {first[0].lower()}{first[1:]}") == "HIT"
    assert ask(gateway, second) == "MISS"


def test_the_largest_city_is_not_the_capital_at_fastlys_threshold(gateway: RunningGateway) -> None:
    ask(gateway, "What's the capital of Australia?", threshold="0.75")
    stored(gateway, 1)
    assert ask(gateway, "What is the capital of Australia?", threshold="0.75") == "HIT"
    assert ask(gateway, "What's the largest city in Australia?", threshold="0.75") == "MISS"
