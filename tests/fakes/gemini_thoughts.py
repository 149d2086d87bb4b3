"""The fake Gemini's thought summaries, as Gemini answers `generationConfig.thinkingConfig.
includeThoughts` (or `include_thoughts`), https://ai.google.dev/gemini-api/docs/thinking#summaries:
each candidate's parts start with the model's thoughts, `{"text": …, "thought": true}`, "The user
wrote: <its last user text>" here (not cut by maxOutputTokens), and the run is signed
(https://ai.google.dev/gemini-api/docs/thought-signatures): a whole answer's thought part carries
its `thoughtSignature`; streamed, the summary comes a word a chunk, then an empty thought part
holding the run's signature, as Gemini streams a signed run, before the answer's chunks.
"""

from __future__ import annotations

import base64
from typing import Any


def thought_summary(body: dict[str, Any], user_text: str) -> str | None:
    """The summary each candidate starts with, when the request asks for thoughts."""
    thinking = (body.get("generationConfig") or {}).get("thinkingConfig") or {}
    # Gemini takes the protos' spelling too, which google-genai sends.
    asked = thinking.get("includeThoughts", thinking.get("include_thoughts"))
    return f"The user wrote: {user_text}" if asked is True else None


def thought_signature(number: int) -> str:
    """The signature of call `number`'s thoughts: opaque bytes, base64 as Gemini sends them."""
    return base64.b64encode(f"fake-thought-summary-{number:06d}".encode()).decode()


def add_thoughts(candidates: list[dict[str, Any]], summary: str | None, number: int) -> None:
    """A whole answer's candidates, each starting with the signed summary (none without one)."""
    if summary is None:
        return
    for candidate in candidates:
        part = {"text": summary, "thought": True, "thoughtSignature": thought_signature(number)}
        candidate["content"]["parts"].insert(0, part)


def thought_candidates(summary: str | None, number: int, count: int) -> list[dict[str, Any]]:
    """A stream's candidates before its answer's: for each of `count` candidates, the summary a
    word a chunk, then the empty thought part that signs it."""
    if summary is None:
        return []
    words = summary.split(" ")
    pieces = [{"text": words[0], "thought": True}]
    pieces += [{"text": " " + word, "thought": True} for word in words[1:]]
    signed = {"text": "", "thought": True, "thoughtSignature": thought_signature(number)}
    return [
        {"content": {"parts": [part], "role": "model"}, "index": k}
        for k in range(count)
        for part in [*pieces, signed]
    ]
