"""A Gemini candidate's `logprobsResult` as an OpenAI choice's `logprobs`.

Gemini (https://ai.google.dev/api/generate-content#LogprobsResult): `chosenCandidates[i]` is the
token chosen at decoding step i (`token`, `tokenId`, `logProbability`), `topCandidates[i].candidates`
the most likely tokens at that step, sorted by log probability, descending. OpenAI (the chat
`ChoiceLogprobs`): `content[i]` is `{token, logprob, bytes, top_logprobs: [{token, logprob, bytes}]}`,
`bytes` the token's UTF-8 bytes. In a stream each chunk's candidate carries the result for the tokens
of that chunk, so each translates on its own into the chunk's `logprobs`.
"""

from __future__ import annotations

from typing import Any


def choice_logprobs(candidate: dict[str, Any]) -> dict[str, Any] | None:
    """The choice's `logprobs`; None when the candidate has no logprobsResult (none was asked for)."""
    result = candidate.get("logprobsResult")
    if not isinstance(result, dict):
        return None
    chosen = [c for c in result.get("chosenCandidates") or () if isinstance(c, dict)]
    steps = [s for s in result.get("topCandidates") or () if isinstance(s, dict)]
    content = []
    for step, token in enumerate(chosen):
        top = steps[step].get("candidates") or () if step < len(steps) else ()
        content.append({**_token(token), "top_logprobs": [_token(t) for t in top if isinstance(t, dict)]})
    return {"content": content, "refusal": None}


def _token(candidate: dict[str, Any]) -> dict[str, Any]:
    # Google's JSON leaves out proto3 defaults: a missing logProbability is 0.0 (a certain token),
    # a missing token the empty string.
    token = candidate.get("token")
    token = token if isinstance(token, str) else ""
    logprob = candidate.get("logProbability")
    return {
        "token": token,
        "logprob": float(logprob) if isinstance(logprob, (int, float)) else 0.0,
        "bytes": list(token.encode("utf-8")),
    }
