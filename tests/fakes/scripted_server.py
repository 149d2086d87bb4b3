"""A scripted upstream: answers each request, whatever its method and path, with the next reply a
test queued (a JSON document, or SSE events written one by one), and records what reached it.

    with Scripted().serve() as upstream:
        upstream.reply_json({"choices": [...]})
        upstream.reply_events([{"choices": [...]}, ...])

For answers no wire-format fake gives (a refusal, OpenRouter's reasoning, Gemini's code execution
parts): the gateway's provider adapters read them as they would the provider's. A request with no
reply queued gets 500.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from aiohttp import web

from tests.fakes.base import SSE_HEADERS, FakeUpstream, sse_data, sse_event, write_stream


class Scripted(FakeUpstream):
    def __init__(self) -> None:
        super().__init__()
        self._replies: list[tuple[Any, Sequence[bytes] | None]] = []

    def build_app(self) -> web.Application:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._answer)
        return app

    def reply_json(self, document: Any) -> None:
        """The next request is answered 200 with `document` as JSON."""
        with self._lock:
            self._replies.append((document, None))

    def reply_events(self, events: Sequence[Any], *, named: bool = False, done: bool = False) -> None:
        """The next request is answered with an SSE stream of `events` (each a JSON payload, in a
        `data:` line; `named`: each `event:` line its payload's `type`), `data: [DONE]` last with
        `done`."""
        chunks = [sse_event(event["type"], event) if named else sse_data(event) for event in events]
        if done:
            chunks.append(b"data: [DONE]\n\n")
        with self._lock:
            self._replies.append((None, chunks))

    @property
    def bodies(self) -> list[str]:
        """The body of each request received, decoded."""
        return [request.body.decode() for request in self.requests]

    async def _answer(self, request: web.Request) -> web.StreamResponse:
        await self._record(request)
        with self._lock:
            reply = self._replies.pop(0) if self._replies else None
        if reply is None:
            return web.json_response({"error": {"message": "no reply scripted"}}, status=500)
        document, chunks = reply
        if chunks is None:
            return web.Response(body=json.dumps(document), content_type="application/json")
        return await write_stream(request, chunks, SSE_HEADERS)
