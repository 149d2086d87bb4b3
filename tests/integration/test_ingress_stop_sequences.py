"""How an answer ended, as the client's API says it: a Messages answer ended by one of its stop
sequences says `stop_reason: "stop_sequence"` and which, where the chat answer tells it (vLLM's
`stop_reason`; OpenAI's, Gemini's and Workers AI's answers do not tell it from a natural end: those
say end_turn); a completed Responses answer says when it completed (`completed_at`), an incomplete
one does not."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import anthropic
import openai
import pytest

from tests.conftest import RunningGateway
from tests.fakes.scripted_server import Scripted

MODEL = "groq/llama-3.1-8b-instant"
ASKED: Any = {"model": MODEL, "max_tokens": 100, "messages": [{"role": "user", "content": "count to five"}]}
USAGE = {"prompt_tokens": 9, "completion_tokens": 5, "total_tokens": 14}


@pytest.fixture
def scripted() -> Iterator[Scripted]:
    with Scripted().serve() as scripted:
        yield scripted


@pytest.fixture
def gateway(make_gateway: Callable[..., RunningGateway], scripted: Scripted) -> RunningGateway:
    return make_gateway(upstreams={"groq": scripted.base_url})


def _answer(scripted: Scripted, matched: Any, finish: str = "stop") -> None:
    """A whole answer, then the same streamed, as vLLM says a stop: `stop_reason` on the choice."""
    message = {"role": "assistant", "content": "one two three"}
    choice = {"index": 0, "message": message, "finish_reason": finish, "stop_reason": matched}
    scripted.reply_json({"id": "chatcmpl-1", "created": 5, "model": "m", "choices": [choice], "usage": USAGE})
    head = {"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 5, "model": "m"}
    scripted.reply_events(
        [
            {**head, "choices": [{"index": 0, "delta": {"role": "assistant", "content": "one two three"}}]},
            {**head, "choices": [{"index": 0, "delta": {}, "finish_reason": finish, "stop_reason": matched}]},
            {**head, "choices": [], "usage": USAGE},
        ],
        done=True,
    )


def _messages(client: anthropic.Anthropic, **asked: Any) -> list[anthropic.types.Message]:
    whole = client.messages.create(**ASKED, **asked)
    with client.messages.stream(**ASKED, **asked) as stream:
        streamed = stream.get_final_message()
    return [whole, streamed]


def test_a_stop_sequence_the_answer_names_is_the_stop_reason(
    gateway: RunningGateway, scripted: Scripted
) -> None:
    with anthropic.Anthropic(base_url=gateway.provider_url("compat"), api_key="k", max_retries=0) as client:
        _answer(scripted, "four")
        for message in _messages(client, stop_sequences=["four", "six"]):
            assert (message.stop_reason, message.stop_sequence) == ("stop_sequence", "four")
        # A token id (vLLM's for a stop token), or a string the request did not ask for, is no stop sequence.
        _answer(scripted, 128009)
        for message in _messages(client, stop_sequences=["four"]):
            assert (message.stop_reason, message.stop_sequence) == ("end_turn", None)
        _answer(scripted, "four")
        for message in _messages(client):
            assert (message.stop_reason, message.stop_sequence) == ("end_turn", None)


def test_a_completed_response_says_when_it_completed(gateway: RunningGateway, scripted: Scripted) -> None:
    with openai.OpenAI(base_url=gateway.provider_url("compat"), api_key="k", max_retries=0) as client:
        _answer(scripted, None)
        whole = client.responses.create(model=MODEL, input="count to five")
        with client.responses.stream(model=MODEL, input="count to five") as stream:
            streamed = stream.get_final_response()
        for response in (whole, streamed):
            assert response.status == "completed"
            assert response.completed_at is not None
            assert response.completed_at >= response.created_at
        _answer(scripted, None, finish="length")
        cut = client.responses.create(model=MODEL, input="count to five")
        assert (cut.status, cut.completed_at) == ("incomplete", None)
