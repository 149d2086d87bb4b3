"""The fake Gemini's log probabilities, as Gemini answers `generationConfig.responseLogprobs` and
`generationConfig.logprobs` (https://ai.google.dev/api/generate-content#generationconfig).

Each candidate gets a `logprobsResult`: `chosenCandidates`, one `{token, tokenId, logProbability}`
per token it says (a token is one of the reply's pieces: a word, space-led after the first), and
with logprobs k > 0 `topCandidates`, one `{candidates: [...]}` per token, k of them sorted by log
probability, descending: the chosen token first, then made-up alternatives (`<token>~<j>`). A whole
answer's candidate also carries `avgLogprobs`. Streamed, each chunk's candidate carries the result
for the tokens of that chunk. Values are deterministic: token `step` (0-based, counted over the
candidate's whole reply) of candidate `index` has log probability -(0.1 * (step + 1) + 0.01 * index).
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from typing import Any

MAX_TOP = 20  # "The number must be in the range of [0, 20]."


def invalid(config: dict[str, Any]) -> bool:
    """Whether generationConfig.logprobs is outside the documented range (Google answers 400)."""
    top = config.get("logprobs")
    return top is not None and (not isinstance(top, int) or not 0 <= top <= MAX_TOP)


def add_logprobs(
    candidate: dict[str, Any],
    config: dict[str, Any],
    tokens: Sequence[str],
    index: int,
    first: int,
    whole: bool,
) -> None:
    """Put `tokens`' logprobsResult (and, for a `whole` answer, avgLogprobs) on `candidate` when
    the request asked for them; `first` is the step of the first of `tokens`."""
    if config.get("responseLogprobs") is not True:
        return
    top = config.get("logprobs") if isinstance(config.get("logprobs"), int) else 0
    chosen = [_token(token, _logprob(first + step, index)) for step, token in enumerate(tokens)]
    result: dict[str, Any] = {}
    if top:
        result["topCandidates"] = [
            {
                "candidates": [
                    _token(c["token"] + (f"~{j}" if j else ""), c["logProbability"] - j) for j in range(top)
                ]
            }
            for c in chosen
        ]
    result["chosenCandidates"] = chosen
    if whole and chosen:
        candidate["avgLogprobs"] = sum(c["logProbability"] for c in chosen) / len(chosen)
    candidate["logprobsResult"] = result


def _logprob(step: int, index: int) -> float:
    return -round(0.1 * (step + 1) + 0.01 * index, 6)


def _token(token: str, logprob: float) -> dict[str, Any]:
    return {"token": token, "tokenId": zlib.crc32(token.encode()) % 262144, "logProbability": logprob}
