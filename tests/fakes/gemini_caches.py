"""The fake Gemini upstream, answering a context cache's create (`POST /{version}/cachedContents`)
as AI Studio does: the CachedContent, its `usageMetadata.totalTokenCount` the tokens it holds (one
per word of its contents' text). https://ai.google.dev/api/caching#method:-cachedcontents.create"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from tests.fakes.gemini_server import CALL, FakeGemini

EXPIRE_TIME = "2030-01-01T00:00:00.000000Z"


class FakeGeminiCaches(FakeGemini):
    """FakeGemini that also creates context caches (kept nowhere: a create's answer only)."""

    def build_app(self) -> web.Application:
        app = super().build_app()
        app.router.add_post("/{version}/cachedContents", self._create_cache)
        return app

    async def _create_cache(self, request: web.Request) -> web.Response:
        body: dict[str, Any] = request[CALL].body
        words = [
            word
            for content in body.get("contents") or ()
            for part in (content.get("parts") or () if isinstance(content, dict) else ())
            for word in str(part.get("text", "")).split()
        ]
        cache = {
            "name": "cachedContents/fake-cache-1",
            "model": body.get("model"),
            "createTime": "2026-01-01T00:00:00.000000Z",
            "updateTime": "2026-01-01T00:00:00.000000Z",
            "expireTime": EXPIRE_TIME,
            "usageMetadata": {"totalTokenCount": len(words)},
        }
        return web.json_response(cache)
