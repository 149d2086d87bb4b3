"""A fake Mistral upstream: FakeOpenAI's chat API with Mistral's strictness and stream shape.

    with FakeMistral().serve() as fake:  # the gateway's `mistral` upstream is `fake.url` (its host)
        httpx.post(f"{fake.url}/v1/chat/completions", json={"model": "mistral-small-latest", ...})

- A field Mistral's chat request lacks (`user`, `stream_options`, `max_completion_tokens`, ...) is a
  422 `extra_forbidden` naming it, as Mistral answers
  (https://github.com/mistralai/platform-docs-public/issues/7; `stream_options.include_usage`:
  https://github.com/dnakov/anon-kode/issues/53).
- A stream reports its usage unasked, on its last chunk beside the `finish_reason` (no chunk of
  its own, and no `"usage": null` on the others), as Mistral's does
  (https://github.com/mistralai/client-python/issues/40).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from aiohttp import web

from tests.fakes.base import Behavior, Call, sse_data
from tests.fakes.openai_server import FakeOpenAI

# The fields of Mistral's chat request (https://docs.mistral.ai/api/#tag/chat, the `mistralai`
# SDK's ChatCompletionRequest): any other is refused.
MISTRAL_FIELDS = frozenset(
    {
        "model", "messages", "temperature", "top_p", "max_tokens", "stream", "stop", "random_seed",
        "metadata", "response_format", "tools", "tool_choice", "presence_penalty", "frequency_penalty",
        "n", "prediction", "parallel_tool_calls", "prompt_mode", "safe_prompt",
    }
)  # fmt: skip
DATA = b"data: "


class FakeMistral(FakeOpenAI):
    """The fake upstream; a context manager that serves on loopback while open."""

    def _reject(self, request: web.Request, body: Any) -> web.Response | None:
        extra = sorted(set(body) - MISTRAL_FIELDS) if isinstance(body, dict) else []
        if extra:
            detail = [
                {"type": "extra_forbidden", "loc": ["body", key], "msg": "Extra inputs are not permitted"}
                for key in extra
            ]
            error = {"object": "error", "message": {"detail": detail}, "type": "invalid_request_error"}
            return web.json_response(error, status=422)
        return super()._reject(request, body)

    def call_of(self, request: web.Request, number: int, body: dict[str, Any], behavior: Behavior) -> Call:
        # FakeOpenAI's usage chunk, which `_stream` moves onto the last chunk as Mistral sends it.
        return super().call_of(request, number, {**body, "stream_options": {"include_usage": True}}, behavior)

    async def _stream(
        self, request: web.Request, call: Call, events: Sequence[bytes], first_content: int
    ) -> web.StreamResponse:
        return await super()._stream(request, call, _usage_on_last_chunk(events), first_content)


def _usage_on_last_chunk(events: Sequence[bytes]) -> list[bytes]:
    """OpenAI's chat stream (`"usage": null` on every chunk, then a usage chunk) as Mistral's."""
    shaped: list[Any] = []
    for event in events:
        chunk = json.loads(event[len(DATA) :]) if event.startswith(DATA + b"{") else event
        if not isinstance(chunk, dict):
            shaped.append(chunk)
            continue
        usage = chunk.pop("usage", None)
        if chunk.get("choices") == [] and usage is not None and shaped and isinstance(shaped[-1], dict):
            shaped[-1]["usage"] = usage
        elif usage is not None:
            shaped.append({**chunk, "usage": usage})
        else:
            shaped.append(chunk)
    return [sse_data(chunk) if isinstance(chunk, dict) else chunk for chunk in shaped]
