"""Vertex AI's text embeddings by `:predict` (`text-embedding-005`, `gemini-embedding-001`): what
google-genai's `embed_content(vertexai=True)` sends for them, where a newer Gemini embedding model
takes `:embedContent`.

Request: `{"instances": [{"content": "...", "title": ..., "task_type": ...}], "parameters": {...}}`;
answer: `{"predictions": [{"embeddings": {"values": [...], "statistics": {"token_count", "truncated"}}}],
"metadata": {"billableCharacterCount"}}` — the tokens each instance was, summed as the input.
https://cloud.google.com/vertex-ai/generative-ai/docs/model-reference/text-embeddings-api
Another model's `:predict` (Imagen's images) is not one of these.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from sluicegate.providers.texts import RequestOnlyTexts, Text, TokenKeys, as_list, string
from sluicegate.types import Usage

PREDICT = "predict"
# The method name an embedding model's `:predict` is handled as (it answers as embedContent does).
EMBED_PREDICT = "embedPredict"
# A predict body's `instances` hold a prompt only in an embedding model's request (`text_scope`).
PREDICT_SCOPE = "vertex_embed_predict"
PREDICT_TOKEN_KEYS = TokenKeys(scoped_text=frozenset({(PREDICT_SCOPE, "instances")}))


def embeds_by_predict(model: str | None, method: str) -> bool:
    """Whether a path's `{model}:{method}` is a text embedding model's prediction."""
    return method == PREDICT and model is not None and "embedding" in model.lower()


def predict_usage(document: Any) -> Usage | None:
    """The input tokens an embedding answer states (each prediction's `statistics.token_count`),
    or None when it states none (then the request's text is estimated)."""
    counts = [
        prediction["embeddings"]["statistics"].get("token_count")
        for prediction in as_list(document.get("predictions") if isinstance(document, dict) else None)
        if isinstance(prediction, dict)
        and isinstance(prediction.get("embeddings"), dict)
        and isinstance(prediction["embeddings"].get("statistics"), dict)
    ]
    # Vertex AI's JSON writes a count as a number, sometimes a float (`3.0`).
    tokens = [
        int(count) for count in counts if isinstance(count, int | float) and not isinstance(count, bool)
    ]
    return Usage(input_tokens=sum(tokens)) if tokens else None


@dataclass(frozen=True, slots=True)
class PredictEmbedTexts(RequestOnlyTexts):
    """Each instance's `content` and `title`, read as documents (as embedContent's are); the
    answers are vectors, not read."""

    name: str = "vertex_embed_predict"

    def request_texts(self, body: dict[str, Any]) -> Iterator[Text]:
        for instance in as_list(body.get("instances")):
            if isinstance(instance, dict):
                yield from string(instance, "title", "document")
                yield from string(instance, "content", "document")


PREDICT_EMBED_TEXTS = PredictEmbedTexts()
