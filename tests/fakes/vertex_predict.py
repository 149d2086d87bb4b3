"""The fake Gemini upstream, answering Vertex AI's text embeddings by `:predict` as Vertex AI does
(what google-genai's `embed_content(vertexai=True)` sends for `text-embedding-005` and
`gemini-embedding-001`): https://cloud.google.com/vertex-ai/generative-ai/docs/model-reference/text-embeddings-api

    {"instances": [{"content": ...}], "parameters": {...}}
 -> {"predictions": [{"embeddings": {"values": [...], "statistics": {"token_count", "truncated"}}}],
     "metadata": {"billableCharacterCount"}}

`token_count` is one per word of its instance's content, plus one (so a count of the text alone is
never it by chance); with `x-fake-predict: no-statistics` the answer states no counts.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from tests.fakes.gemini_server import CALL, EMBEDDING_DIMENSIONS, FakeGemini
from tests.fakes.openai_server import _embedding

NO_STATISTICS_HEADER = "x-fake-predict"


def predict_tokens(content: str) -> int:
    return len(content.split()) + 1


class FakeVertexPredict(FakeGemini):
    """FakeGemini that also answers an embedding model's `:predict` on Vertex AI paths."""

    async def _dispatch(self, request: web.Request) -> web.StreamResponse:
        call = request[CALL]
        if call.method != "predict" or not call.vertex:
            return await super()._dispatch(request)
        statistics = request.headers.get(NO_STATISTICS_HEADER) != "no-statistics"
        instances = [i for i in call.body.get("instances") or () if isinstance(i, dict)]
        contents = [str(instance.get("content", "")) for instance in instances]
        answer: dict[str, Any] = {
            "predictions": [_prediction(content, statistics) for content in contents],
            "metadata": {
                "billableCharacterCount": sum(len(content.replace(" ", "")) for content in contents)
            },
        }
        return web.json_response(answer)


def _prediction(content: str, statistics: bool) -> dict[str, Any]:
    embeddings: dict[str, Any] = {"values": _embedding(content.lower().split(), EMBEDDING_DIMENSIONS)}
    if statistics:
        embeddings["statistics"] = {"token_count": predict_tokens(content), "truncated": False}
    return {"embeddings": embeddings}
