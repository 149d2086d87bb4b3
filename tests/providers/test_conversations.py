"""What the semantic cache reads of each provider's bodies (`Provider.conversations`), over the
whole registry, and the readers themselves (`providers/conversation.py`; what is served is
`tests/semantic/test_scope.py`'s)."""

from __future__ import annotations

from typing import Any

import pytest

from sluicegate.credentials import MASK, SECRET_PARAMS, mask_query
from sluicegate.providers import KEY_PARAMS, REGISTRY
from sluicegate.providers.conversation import Conversation, Refusal, Turn, Turns
from sluicegate.providers.gemini.conversation import GEMINI_CONTENTS
from sluicegate.providers.openai_conversation import CHAT_MESSAGES, COMPLETION_PROMPT
from sluicegate.semantic.scope import Origin, Scoped, read_scope

# The smallest body each reader reads, by the field it compares: a new reader needs one here.
MINIMAL: dict[str, dict[str, Any]] = {
    "messages": {"messages": [{"role": "user", "content": "what is a sluice"}]},
    "contents": {"contents": [{"role": "user", "parts": [{"text": "what is a sluice"}]}]},
    "prompt": {"prompt": "what is a sluice"},
}
PROVIDERS = sorted(REGISTRY)
READERS = sorted({(name, reader.field) for name in PROVIDERS for reader in REGISTRY[name].conversations})


@pytest.mark.parametrize("name", PROVIDERS)
def test_every_reader_reads_only_its_own_shape(name: str) -> None:
    readers = REGISTRY[name].conversations
    assert len({reader.field for reader in readers}) == len(readers)  # one reader per body field
    for reader in readers:
        assert reader.field in MINIMAL, f"{name}: no minimal body for a reader of {reader.field!r}"
        assert reader.read({}) is None
        assert reader.read({reader.field: 5}) is None  # the field, but not in this shape
        others = [body for field, body in MINIMAL.items() if field != reader.field]
        assert all(reader.read(body) is None for body in others)


@pytest.mark.parametrize(("name", "field"), READERS)
def test_every_provider_serves_a_minimal_body_of_each_of_its_readers(name: str, field: str) -> None:
    origin = Origin("local/default", name, "endpoint")
    scoped = read_scope(origin, MINIMAL[field], REGISTRY[name].conversations)
    assert isinstance(scoped, Scoped), scoped
    assert scoped.turns == ("what is a sluice",)


def test_a_provider_without_readers_reads_nothing() -> None:
    assert [name for name in PROVIDERS if not REGISTRY[name].conversations] == ["replicate"]


@pytest.mark.parametrize("name", PROVIDERS)
def test_a_key_query_parameter_is_one_the_logs_mask(name: str) -> None:
    param = REGISTRY[name].key_param
    assert param is None or param in SECRET_PARAMS
    if param is not None:
        assert param in KEY_PARAMS  # read off the registry, not only in the generic list
        assert mask_query(f"alt=sse&{param}=AIza-client-key") == f"alt=sse&{param}={MASK}"


def test_only_googles_hosts_take_a_key_in_the_query() -> None:
    keyed = {name: REGISTRY[name].key_param for name in PROVIDERS if REGISTRY[name].key_param is not None}
    assert keyed == {"google-ai-studio": "key", "google-vertex-ai": "key"}


def test_chat_reads_the_sampling_leading_instructions_and_earlier_turns() -> None:
    image = {"type": "image_url", "image_url": {"url": "https://example.com/a.png"}}
    body = {
        "model": "m",
        "temperature": 0.4,
        "n": 2,
        "messages": [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "Hi"},
            {"role": "assistant", "content": [image]},
            {"role": "user", "content": [{"type": "text", "text": "And this?"}, image]},
        ],
    }
    found = CHAT_MESSAGES.read(body)
    assert isinstance(found, Conversation)
    assert (found.temperature, found.choices, found.tool_results) == (0.4, 2, False)
    assert isinstance(found.turns, Turns)
    assert found.turns.text == "And this?"
    assert found.turns.earlier == (Turn("user", "Hi"), Turn("assistant", None))  # an image is not text
    assert found.turns.systems == ({"role": "system", "content": "Be brief."},)
    assert found.turns.exact["last"] == [{"role": "user"}, [image]]
    assert found.turns.exact["params"] == {"model": "m"}


@pytest.mark.parametrize(
    ("messages", "tool_results", "reason"),
    [
        ([{"role": "assistant", "content": "Sure"}], False, "the last message is not from the user"),
        (["hi", {"role": "user", "content": "x"}], False, "a message is not an object"),
        (
            [{"role": "tool", "content": "42"}, "hi", {"role": "user", "content": "x"}],
            True,  # seen before the message that is not an object: the scope refuses for it first
            "a message is not an object",
        ),
        ([{"role": "tool", "content": "42"}, {"role": "user", "content": [1]}], True, "has no text"),
    ],
)
def test_chat_says_why_its_turns_cannot_be_read(messages: list[Any], tool_results: bool, reason: str) -> None:
    found = CHAT_MESSAGES.read({"messages": messages})
    assert isinstance(found, Conversation)
    assert found.tool_results is tool_results
    assert isinstance(found.turns, Refusal)
    assert reason in found.turns.reason


def test_a_completion_prompt_is_the_whole_question() -> None:
    found = COMPLETION_PROMPT.read({"model": "m", "prompt": "Say hi", "n": 1, "stream": True})
    assert isinstance(found, Conversation)
    assert found.turns == Turns({"kind": "completion", "params": {"model": "m"}}, "Say hi")


def test_gemini_reads_its_generation_config_and_function_responses() -> None:
    answer = {"role": "user", "parts": [{"functionResponse": {"name": "f", "response": {}}}]}
    ask = {"parts": [{"text": "So?"}]}  # a turn without a role is the user's
    found = GEMINI_CONTENTS.read({"contents": [answer, ask], "generation_config": {"candidateCount": 3}})
    assert isinstance(found, Conversation)
    assert (found.temperature, found.choices, found.tool_results) == (None, 3, True)
    assert isinstance(found.turns, Turns)
    assert found.turns.text == "So?"
    assert found.turns.exact["params"] == {"generationConfig": {}}
    assert GEMINI_CONTENTS.read({"contents": [ask], "generationConfig": 5}) == Refusal(
        "generationConfig is not an object"
    )
