"""`n`, `logprobs` and `top_logprobs` to Gemini through the unified endpoint, with the openai SDK:
n goes as generationConfig.candidateCount and each candidate comes back as a choice of its own
(its index, its finish reason), whole and streamed; logprobs as responseLogprobs and top_logprobs
as generationConfig.logprobs, each candidate's logprobsResult as its choice's `logprobs.content`.
The fake Gemini gives candidate k > 0 the reply "echo k: <text>" (a word longer than candidate 0's),
and token `step` of candidate k the log probability -(0.1 * (step + 1) + 0.01 * k)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import openai
import pytest
from openai.types.chat import ChatCompletionTokenLogprob

from tests.conftest import RunningGateway
from tests.fakes.gemini_server import FakeGemini

MODEL = "google-ai-studio/gemini-2.0-flash"  # no thinking tokens: usage is the candidates' words
MESSAGES: Any = [{"role": "user", "content": "hello world"}]
# max_tokens 3: candidate 0 ("echo: hello world") ends by itself, candidate 1 ("echo 1: hello
# world") is cut after "echo 1: hello".
TEXTS = {0: "echo: hello world", 1: "echo 1: hello"}
FINISHES = {0: "stop", 1: "length"}


@pytest.fixture
def gateway(make_gateway: Callable[..., RunningGateway], gemini: FakeGemini) -> RunningGateway:
    return make_gateway(upstreams={"google-ai-studio": gemini.base_url})


@pytest.fixture
def client(gateway: RunningGateway) -> Iterator[openai.OpenAI]:
    # closed after the test, so a stream a failed assertion left open does not leak its socket
    with openai.OpenAI(base_url=gateway.provider_url("compat"), api_key="k", max_retries=0) as client:
        yield client


def expected_logprob(index: int, step: int) -> float:
    return -(0.1 * (step + 1) + 0.01 * index)


def check_logprobs(tokens: list[ChatCompletionTokenLogprob], text: str, index: int, top: int) -> None:
    """Each token of `text` in order, with its log probability, bytes and `top` alternatives."""
    assert "".join(t.token for t in tokens) == text
    for step, token in enumerate(tokens):
        assert token.logprob == pytest.approx(expected_logprob(index, step))
        assert token.bytes == list(token.token.encode())
        assert len(token.top_logprobs) == top
        if top:
            assert token.top_logprobs[0].token == token.token  # the chosen token is the likeliest
            assert token.top_logprobs[0].logprob == pytest.approx(token.logprob)
            logprobs = [t.logprob for t in token.top_logprobs]
            assert logprobs == sorted(logprobs, reverse=True)
            assert all(t.bytes == list(t.token.encode()) for t in token.top_logprobs)


def test_n_gives_a_choice_per_candidate_each_with_its_finish_reason(
    client: openai.OpenAI, gateway: RunningGateway, gemini: FakeGemini
) -> None:
    answer = client.chat.completions.create(model=MODEL, messages=MESSAGES, n=2, max_tokens=3)
    assert gemini.requests[-1].json["generationConfig"] == {"maxOutputTokens": 3, "candidateCount": 2}
    assert [c.index for c in answer.choices] == [0, 1]
    assert {c.index: c.message.content for c in answer.choices} == TEXTS
    assert {c.index: c.finish_reason for c in answer.choices} == FINISHES
    assert all(c.logprobs is None for c in answer.choices)  # not asked for
    assert answer.usage is not None
    assert (answer.usage.prompt_tokens, answer.usage.completion_tokens) == (2, 6)  # both candidates
    record = gateway.wait_for_logs(1)[0]
    assert (record["tokens_in"], record["tokens_out"], record["usage_estimated"]) == (2, 6, False)


def test_n_streamed_chunks_carry_each_candidates_index(
    client: openai.OpenAI, gateway: RunningGateway, gemini: FakeGemini
) -> None:
    chunks = list(
        client.chat.completions.create(
            model=MODEL,
            messages=MESSAGES,
            n=2,
            max_tokens=3,
            stream=True,
            stream_options={"include_usage": True},
        )
    )
    assert gemini.requests[-1].json["generationConfig"]["candidateCount"] == 2
    texts: dict[int, str] = {}
    finishes: dict[int, str] = {}
    for chunk in chunks:
        for choice in chunk.choices:
            texts[choice.index] = texts.get(choice.index, "") + (choice.delta.content or "")
            if choice.finish_reason is not None:
                assert choice.index not in finishes  # one finish per choice
                finishes[choice.index] = choice.finish_reason
    assert (texts, finishes) == (TEXTS, FINISHES)
    usage = chunks[-1].usage
    assert usage is not None
    assert (usage.prompt_tokens, usage.completion_tokens) == (2, 6)
    record = gateway.wait_for_logs(1)[0]
    assert (record["tokens_in"], record["tokens_out"], record["usage_estimated"]) == (2, 6, False)


def test_logprobs_and_top_logprobs_come_back_per_token_for_each_choice(
    client: openai.OpenAI, gemini: FakeGemini
) -> None:
    answer = client.chat.completions.create(
        model=MODEL, messages=MESSAGES, n=2, max_tokens=3, logprobs=True, top_logprobs=2
    )
    config = gemini.requests[-1].json["generationConfig"]
    assert (config["responseLogprobs"], config["logprobs"]) == (True, 2)
    assert len(answer.choices) == 2
    for choice in answer.choices:
        assert choice.logprobs is not None
        assert choice.logprobs.content is not None
        assert choice.finish_reason == FINISHES[choice.index]
        check_logprobs(choice.logprobs.content, TEXTS[choice.index], choice.index, top=2)


def test_streamed_logprobs_arrive_with_their_tokens(client: openai.OpenAI, gemini: FakeGemini) -> None:
    stream = client.chat.completions.create(
        model=MODEL, messages=MESSAGES, n=2, max_tokens=3, logprobs=True, top_logprobs=3, stream=True
    )
    tokens: dict[int, list[ChatCompletionTokenLogprob]] = {0: [], 1: []}
    texts = {0: "", 1: ""}
    for chunk in stream:
        for choice in chunk.choices:
            content = choice.delta.content or ""
            texts[choice.index] += content
            if content:  # each content delta carries its own tokens' logprobs
                assert choice.logprobs is not None
                assert choice.logprobs.content is not None
                assert "".join(t.token for t in choice.logprobs.content) == content
                tokens[choice.index] += choice.logprobs.content
    assert gemini.requests[-1].json["generationConfig"]["logprobs"] == 3
    assert texts == TEXTS
    for index, found in tokens.items():
        check_logprobs(found, TEXTS[index], index, top=3)


def test_logprobs_without_top_logprobs_give_no_alternatives(
    client: openai.OpenAI, gemini: FakeGemini
) -> None:
    answer = client.chat.completions.create(model=MODEL, messages=MESSAGES, logprobs=True)
    config = gemini.requests[-1].json["generationConfig"]
    assert config == {"responseLogprobs": True}  # no top candidates asked for
    choice = answer.choices[0]
    assert choice.logprobs is not None
    assert choice.logprobs.content is not None
    check_logprobs(choice.logprobs.content, "echo: hello world", 0, top=0)
