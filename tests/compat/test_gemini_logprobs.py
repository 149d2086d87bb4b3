"""A Gemini candidate's logprobsResult as the OpenAI choice's logprobs, checked against the OpenAI
SDK's own models: tokens in order with their UTF-8 bytes, top candidates by step, and what Google's
JSON may leave out."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from openai.types.chat import ChatCompletion

from sluicegate.providers.gemini.compat import GOOGLE_AI_STUDIO_TRANSLATOR

MODEL = "gemini-2.0-flash"


def completion(candidates: list[dict[str, Any]]) -> ChatCompletion:
    body = orjson.dumps({"candidates": candidates, "responseId": "r"})
    return ChatCompletion.model_validate_json(GOOGLE_AI_STUDIO_TRANSLATOR.response(body, MODEL))


def test_tokens_carry_their_bytes_and_their_steps_top_candidates() -> None:
    candidate = {
        "content": {"parts": [{"text": "Caffè ☕"}], "role": "model"},
        "finishReason": "STOP",
        "index": 0,
        "avgLogprobs": -0.3,
        "logprobsResult": {
            "topCandidates": [
                {
                    "candidates": [
                        {"token": "Caffè", "logProbability": -0.1},
                        {"token": "Tè", "logProbability": -2.5},
                    ]
                },
                {"candidates": [{"token": " ☕", "logProbability": -0.5}]},
            ],
            "chosenCandidates": [
                {"token": "Caffè", "tokenId": 9, "logProbability": -0.1},
                {"token": " ☕", "tokenId": 12, "logProbability": -0.5},
            ],
        },
    }
    logprobs = completion([candidate]).choices[0].logprobs
    assert logprobs is not None
    assert logprobs.content is not None
    assert [(t.token, t.logprob, t.bytes) for t in logprobs.content] == [
        ("Caffè", -0.1, list("Caffè".encode())),
        (" ☕", -0.5, [32, 0xE2, 0x98, 0x95]),
    ]
    assert [[(t.token, t.logprob) for t in token.top_logprobs] for token in logprobs.content] == [
        [("Caffè", -0.1), ("Tè", -2.5)],
        [(" ☕", -0.5)],
    ]
    assert logprobs.content[0].top_logprobs[1].bytes == list("Tè".encode())


@pytest.mark.parametrize("top", [None, []])
def test_fields_left_out_take_their_defaults(top: Any) -> None:
    """A certain token's logProbability 0.0 and an empty token may be left out, as proto3 JSON leaves
    defaults out; steps without top candidates give no alternatives."""
    result: dict[str, Any] = {"chosenCandidates": [{"token": "Hi"}, {"logProbability": -1.5}]}
    if top is not None:
        result["topCandidates"] = top
    candidate = {"content": {"parts": [{"text": "Hi"}]}, "index": 0, "logprobsResult": result}
    logprobs = completion([candidate]).choices[0].logprobs
    assert logprobs is not None
    assert logprobs.content is not None
    assert [(t.token, t.logprob, t.bytes, t.top_logprobs) for t in logprobs.content] == [
        ("Hi", 0.0, [72, 105], []),
        ("", -1.5, [], []),
    ]


def test_a_candidate_without_logprobs_result_has_none() -> None:
    answer = completion(
        [
            {"content": {"parts": [{"text": "a"}]}, "index": 0, "logprobsResult": {"chosenCandidates": []}},
            {"content": {"parts": [{"text": "b"}]}, "index": 1},
        ]
    )
    first, second = answer.choices
    assert first.logprobs is not None
    assert first.logprobs.content == []
    assert second.logprobs is None
