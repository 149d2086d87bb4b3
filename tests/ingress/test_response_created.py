"""A Response rendered from chat says when it was created: chat's `created`, else the format's
clock, read once per answer, so every event of a stream says the same time (and once more at its
end, when it completed)."""

from __future__ import annotations

import itertools
from typing import Any

import orjson
from openai.types.responses import Response

from sluicegate.ingress.openai_responses import OpenAIResponses
from tests.ingress.test_anthropic_messages import CHAT_STREAM, USAGE
from tests.ingress.test_openai_responses import ASKED, events

NOW = 1_800_000_000


class Clock:
    def __init__(self) -> None:
        self.reads = 0

    def __call__(self) -> float:
        self.reads += 1
        return NOW + self.reads - 1 + 0.75  # a later read would say a later second


def completion(**extra: Any) -> bytes:
    message = {"role": "assistant", "content": "sunny"}
    choice = {"index": 0, "message": message, "finish_reason": "stop"}
    return orjson.dumps({"id": "chatcmpl-1", "model": "m", "choices": [choice], "usage": USAGE, **extra})


def test_an_answer_without_a_time_is_stamped_with_the_clock() -> None:
    clock = Clock()
    response = Response.model_validate_json(OpenAIResponses(clock=clock).answer(ASKED, completion()))
    assert response.created_at == NOW
    for missing in (0, None, "1700000000", True):
        rendered = OpenAIResponses(clock=Clock()).answer(ASKED, completion(created=missing))
        assert orjson.loads(rendered)["created_at"] == NOW


def test_chats_own_time_wins() -> None:
    clock = Clock()
    rendered = OpenAIResponses(clock=clock).answer(ASKED, completion(created=1_700_000_000))
    assert orjson.loads(rendered)["created_at"] == 1_700_000_000


def test_every_event_of_a_stream_says_one_time_read_once() -> None:
    clock = Clock()
    renderer = OpenAIResponses(clock=clock).stream(ASKED)
    pieces = [CHAT_STREAM[a:b] for a, b in itertools.pairwise([0, 7, 300, len(CHAT_STREAM)])]
    rendered = events(b"".join(renderer.feed(piece) for piece in pieces) + renderer.close())
    times = [event["response"]["created_at"] for event in rendered if "response" in event]
    assert len(times) == 3  # created, in_progress, completed
    assert set(times) == {NOW}
    # Read once more at the end: when the response completed (only the last event says it).
    assert [event["response"]["completed_at"] for event in rendered if "response" in event] == [
        None,
        None,
        NOW + 1,
    ]
    assert clock.reads == 2


def test_a_stream_that_says_nothing_still_says_when() -> None:
    renderer = OpenAIResponses(clock=Clock()).stream(ASKED)
    rendered = events(renderer.feed(b"data: [DONE]\n\n") + renderer.close())
    assert {event["response"]["created_at"] for event in rendered if "response" in event} == {NOW}
