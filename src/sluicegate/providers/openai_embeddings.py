"""OpenAI embeddings served from a cached answer in the encoding the request asks for.

Wire format: https://platform.openai.com/docs/api-reference/embeddings/create — `encoding_format`
`float` (the default) gives each `data[i].embedding` as a list of numbers, `base64` as the base64 of
its little-endian float32 values (the official SDKs ask for base64 and decode it themselves). Under
a `cf-aig-cache-key` the body is not part of the key, so an answer stored for one encoding may be
asked for in the other; the two carry the same float32 values, and are converted without loss.
"""

from __future__ import annotations

import base64
import re
from typing import Any

import orjson

from sluicegate.providers.base import JSON_TYPE, Answer, RequestFacts

_FLOAT32_LE = "<f4"  # numpy is imported where a vector is converted: the CLI imports this module too
# The first vector's opening: `[` for floats, `"` for base64. An answer's vectors share one encoding,
# so a hit in the encoding asked for (most: only a `cf-aig-cache-key` can find the other) is served
# without parsing megabytes of numbers on the event loop.
_FIRST_VECTOR = re.compile(rb'"embedding"\s*:\s*([\["])')


def embeddings_answer(facts: RequestFacts, stored: Answer) -> Answer | None:
    """A cached embeddings answer with its vectors in the request's `encoding_format`; `stored`
    itself when they already are, None when it is not an embeddings list this reads."""
    if stored.streamed or facts.stream:
        return None
    wanted = facts.payload.get("encoding_format", "float") if isinstance(facts.payload, dict) else "float"
    first = _FIRST_VECTOR.search(stored.body)
    if first is not None and first.group(1) == (b'"' if wanted == "base64" else b"["):
        return stored
    try:
        document = orjson.loads(stored.body)
    except orjson.JSONDecodeError:
        return None
    items = document.get("data") if isinstance(document, dict) else None
    if not isinstance(items, list) or not all(isinstance(item, dict) for item in items):
        return None
    vectors = [item.get("embedding") for item in items]
    if wanted == "base64":
        if all(isinstance(vector, str) for vector in vectors):
            return stored
        if not all(isinstance(vector, list) for vector in vectors):
            return None
        converted: list[Any] = [_to_base64(vector) for vector in vectors]
    else:
        if all(isinstance(vector, list) for vector in vectors):
            return stored
        if not all(isinstance(vector, str) for vector in vectors):
            return None
        try:
            converted = [_to_floats(vector) for vector in vectors]
        except ValueError:
            return None
    for item, vector in zip(items, converted, strict=True):
        item["embedding"] = vector
    return Answer(orjson.dumps(document), False, JSON_TYPE)


def _to_base64(vector: list[Any]) -> str:
    import numpy as np

    return base64.b64encode(np.asarray(vector, dtype=_FLOAT32_LE).tobytes()).decode("ascii")


def _to_floats(text: str) -> list[float]:
    import numpy as np

    raw = base64.b64decode(text, validate=True)
    if len(raw) % 4:
        raise ValueError("not a whole number of float32 values")
    values: list[float] = np.frombuffer(raw, dtype=_FLOAT32_LE).tolist()
    return values
