"""Conversations through the semantic cache with the openai SDK: the turns a follow-up depends on
are compared by meaning, turn by turn, so rewording them or chatting first still hits, while a
conversation about something else never does. Real packaged models, the fake upstream on loopback
(it answers "echo: <last question>" with ids that count its calls, so an id says which stored
answer was served)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import openai
import pytest

from sluicegate.pipeline import semantic as semantic_stage
from tests.conftest import RunningGateway
from tests.fakes.openai_server import FakeOpenAI
from tests.integration.test_semantic import ready, stored

SYSTEM = {"role": "system", "content": "You are the visitor desk of a city."}
ASK = "What's their phone number?"


def user(text: str) -> dict[str, str]:
    return {"role": "user", "content": text}


def assistant(text: str) -> dict[str, str]:
    return {"role": "assistant", "content": text}


YU_GARDEN = [
    user("I'm looking for a restaurant called Yu Garden."),
    assistant("Yu Garden is a Chinese restaurant in the east of town."),
]
YU_GARDEN_REWORDED = [user("Can you help me find the Yu Garden restaurant?"), YU_GARDEN[1]]
GOLDEN_CURRY = [
    user("I'm looking for a restaurant called Golden Curry."),
    assistant("Golden Curry is an Indian restaurant in the centre of town."),
]


@pytest.fixture
def gateway(make_gateway: Callable[..., RunningGateway], fake: FakeOpenAI) -> RunningGateway:
    gateway = make_gateway(upstreams={"openai": fake.base_url})
    settings = {"semantic_cache_enabled": True}
    response = gateway.http.patch("/api/v1/accounts/local/gateways/default", json={"settings": settings})
    assert response.status_code == 200
    ready(gateway)
    return gateway


def ask(gateway: RunningGateway, *turns: dict[str, str], last: str = ASK) -> Any:
    with openai.OpenAI(base_url=gateway.provider_url("openai"), api_key="sk-test", max_retries=0) as client:
        return client.chat.completions.with_raw_response.create(
            model="gpt-4o-mini",
            messages=[SYSTEM, *turns, user(last)],  # type: ignore[list-item]
        )


def test_a_reworded_context_hits_and_a_swapped_one_misses(gateway: RunningGateway, fake: FakeOpenAI) -> None:
    first = ask(gateway, *YU_GARDEN)
    assert first.headers["x-semantic-cache"] == "MISS"
    stored(gateway, 1)
    reworded = ask(gateway, *YU_GARDEN_REWORDED)
    assert reworded.headers["x-semantic-cache"] == "HIT"
    assert reworded.parse().id == first.parse().id  # the answer given about Yu Garden
    swapped = ask(gateway, *GOLDEN_CURRY)
    assert swapped.headers["x-semantic-cache"] == "MISS"
    assert len(fake.requests) == 2


def test_a_place_named_only_by_the_assistant_is_compared_too(gateway: RunningGateway) -> None:
    """The user asked the same in other words; "their" means what the assistant recommended."""
    ask(gateway, user("Can you recommend a restaurant in the east?"), YU_GARDEN[1])
    stored(gateway, 1)
    again = user("Could you recommend a restaurant in the east?")
    assert ask(gateway, again, YU_GARDEN[1]).headers["x-semantic-cache"] == "HIT"
    other = assistant("Golden Curry is an Indian restaurant in the east of town.")
    assert ask(gateway, again, other).headers["x-semantic-cache"] == "MISS"


def test_each_stored_conversation_answers_its_own_follow_up(gateway: RunningGateway) -> None:
    """Several stored conversations end in the same question: the one about the same place is found."""
    about_yu, about_curry = ask(gateway, *YU_GARDEN), ask(gateway, *GOLDEN_CURRY)
    stored(gateway, 2)
    curry_again = [user("Can you help me find the Golden Curry restaurant?"), GOLDEN_CURRY[1]]
    for turns, expected in ((curry_again, about_curry), (YU_GARDEN_REWORDED, about_yu)):
        again = ask(gateway, *turns)
        assert again.headers["x-semantic-cache"] == "HIT"
        assert again.parse().id == expected.parse().id


def test_chatter_before_the_conversation_is_left_out_but_an_instruction_is_not(
    gateway: RunningGateway,
) -> None:
    ask(gateway, *YU_GARDEN)
    stored(gateway, 1)
    chatter = [user("hey, how's your day going?"), assistant("pretty good, thanks! yours?")]
    assert ask(gateway, *chatter, *YU_GARDEN).headers["x-semantic-cache"] == "HIT"
    french = [user("Please answer in French from now on."), assistant("D'accord.")]
    assert ask(gateway, *french, *YU_GARDEN).headers["x-semantic-cache"] == "MISS"


def test_a_detail_swap_and_a_misspelt_name_in_the_context(gateway: RunningGateway) -> None:
    ask(gateway, *YU_GARDEN)
    stored(gateway, 1)
    detail = ask(gateway, *YU_GARDEN, last="What's their postcode?")
    assert detail.headers["x-semantic-cache"] == "MISS"
    misspelt = [user("I'm looking for a restaurant called Yu Gardne."), YU_GARDEN[1]]
    assert ask(gateway, *misspelt).headers["x-semantic-cache"] == "HIT"


def test_a_conversation_stored_through_one_replica_hits_on_another(
    make_gateway: Callable[..., RunningGateway], fake: FakeOpenAI, redis_url: str, tmp_path: Any
) -> None:
    """Its context vectors travel with it (on the feed's stream for entries of several turns)."""
    one, two = (
        make_gateway(upstreams={"openai": fake.base_url}, cache_url=redis_url, data_dir=tmp_path / name)
        for name in ("one", "two")
    )
    for replica in (one, two):
        settings = {"semantic_cache_enabled": True}
        replica.http.patch("/api/v1/accounts/local/gateways/default", json={"settings": settings})
        ready(replica)
    first = ask(one, *YU_GARDEN)
    stored(two, 1)
    again = ask(two, *YU_GARDEN_REWORDED)
    assert again.headers["x-semantic-cache"] == "HIT"
    assert again.parse().id == first.parse().id
    assert ask(two, *GOLDEN_CURRY).headers["x-semantic-cache"] == "MISS"


@pytest.mark.parametrize(
    ("stored_first", "asked_first", "question", "reply"),
    [
        (
            "Please delete my account permanently.",
            "Please export my account data.",
            "Are you sure? Please confirm.",
            "Yes.",
        ),
        ("Turn off two-factor authentication.", "Turn on two-factor authentication.", "Are you sure?", "ok"),
        (
            "My laptop won't turn on.",
            "My laptop won't charge.",
            "Have you tried restarting the device?",
            "I restarted the device already.",
        ),
    ],
)
def test_a_reply_to_the_assistants_question_keeps_the_turn_it_was_about(
    gateway: RunningGateway, stored_first: str, asked_first: str, question: str, reply: str
) -> None:
    """ "Yes." means what was asked before it: the conversation about another action misses."""

    def about(first: str) -> list[dict[str, str]]:
        return [user(first), assistant(question), user(reply), assistant("Done.")]

    ask(gateway, *about(stored_first), last="What happens now?")
    stored(gateway, 1)
    again = ask(gateway, *about(stored_first), last="What happens now?")
    assert again.headers["x-semantic-cache"] == "HIT"
    other = ask(gateway, *about(asked_first), last="What happens now?")
    assert other.headers["x-semantic-cache"] == "MISS"


def test_a_date_or_version_written_with_dots_is_compared_as_written(
    gateway: RunningGateway, fake: FakeOpenAI
) -> None:
    """`12.05.2024` and `3.11.8` are numbers no float reads: the scope (a left-out turn's numbers)
    and the rules take them as written, so a conversation or a question holding one is answered,
    and another date or version is never served the first one's answer."""
    chat = [assistant("Noted."), user("hey, how's your day going?"), assistant("pretty good, yours?")]
    pack = "What should I pack for a beach holiday?"
    first = ask(gateway, user("My flight is on 12.05.2024."), *chat, last=pack)
    assert first.headers["x-semantic-cache"] == "MISS"
    stored(gateway, 1)
    assert (
        ask(gateway, user("My flight is on 12.05.2024."), *chat, last=pack).headers["x-semantic-cache"]
        == "HIT"
    )
    assert (
        ask(gateway, user("My flight is on 13.05.2024."), *chat, last=pack).headers["x-semantic-cache"]
        == "MISS"
    )

    upgrade = ask(gateway, last="How do I upgrade to Python 3.11.7 on Ubuntu?")
    assert upgrade.headers["x-semantic-cache"] == "MISS"
    stored(gateway, 3)
    newer = ask(gateway, last="How do I upgrade to Python 3.11.8 on Ubuntu?")
    assert newer.headers["x-semantic-cache"] == "MISS"
    assert newer.parse().choices[0].message.content == "echo: How do I upgrade to Python 3.11.8 on Ubuntu?"


def test_a_fault_in_the_semantic_cache_never_fails_the_request(
    gateway: RunningGateway, fake: FakeOpenAI, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A bug in reading or judging a question (as the dotted numbers above were) sends it upstream
    uncached, with the traceback in the gateway's log, instead of a 500."""

    def broken(*args: object) -> None:
        raise ValueError("a fault in the semantic cache's reading")

    monkeypatch.setattr(semantic_stage, "read_lookup", broken)
    answer = ask(gateway, last="What should I pack for a beach holiday?")
    assert answer.parse().choices[0].message.content == "echo: What should I pack for a beach holiday?"
    assert len(fake.requests) == 1
