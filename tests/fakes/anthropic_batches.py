"""The fake Anthropic's Message Batches API (https://docs.anthropic.com/en/api/creating-message-batches).

    POST   /v1/messages/batches               create: the batch, `in_progress`, no `results_url`
    GET    /v1/messages/batches               list, newest first (`limit`; one page)
    GET    /v1/messages/batches/{id}          retrieve
    POST   /v1/messages/batches/{id}/cancel   cancel
    DELETE /v1/messages/batches/{id}          delete an ended batch
    GET    /v1/messages/batches/{id}/results  the results, JSON lines (`application/x-jsonl`)

A batch is processed the moment it is looked at again: the first retrieve or list after its
creation finds it `ended`, each request `succeeded` with the message `/v1/messages` would answer;
a cancel of a batch still `in_progress` ends it at once with every request `canceled` (nothing is
non-interruptible here). An ended batch's `results_url` is this server's own absolute URL of its
results, as Anthropic's names api.anthropic.com. The results are chunked, one line per write, as
Anthropic streams them (no Content-Length); with `pause-stream` they wait after the first line for
`release(name)`, so a test sees whether its client got that line before the rest was sent.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from tests.fakes.base import CALL, NUMBER, Behavior, Call, Pause, write_stream

CREATED_AT = "2030-01-01T00:00:00Z"  # fixed, so a direct and a proxied answer are identical
EXPIRES_AT = "2030-01-02T00:00:00Z"  # a day later, as Anthropic's
ENDED_AT = "2030-01-01T00:01:00Z"
RESULTS_TYPE = "application/x-jsonl"  # what Anthropic sends (the SDK asks with Accept: application/binary)
_COUNTS = ("processing", "succeeded", "errored", "canceled", "expired")
_REQUIRED_PARAMS = ("model", "messages", "max_tokens")

# (status, error type, message, request number) -> the fake's error answer
ErrorAnswer = Callable[[int, str, str, int], web.Response]


@dataclass
class Batch:
    id: str
    requests: list[dict[str, Any]]  # each {"custom_id", "params"}
    ended: bool = False
    canceled: bool = False


class FakeBatches:
    """The batches of one fake server. `message(call)` is the Messages answer to `call.body`;
    `root()` the server's URL; `pause(name)` its pause-stream rendezvous."""

    def __init__(
        self,
        message: Callable[[Call], dict[str, Any]],
        root: Callable[[], str],
        pause: Callable[[str], Pause],
        error: ErrorAnswer,
    ) -> None:
        self._message = message
        self._root = root
        self._pause = pause
        self._error = error
        self._lock = threading.Lock()
        self._batches: dict[str, Batch] = {}

    def add_routes(self, app: web.Application) -> None:
        app.router.add_post("/v1/messages/batches", self._create)
        app.router.add_get("/v1/messages/batches", self._list)
        app.router.add_get("/v1/messages/batches/{id}", self._retrieve)
        app.router.add_post("/v1/messages/batches/{id}/cancel", self._cancel)
        app.router.add_delete("/v1/messages/batches/{id}", self._delete)
        app.router.add_get("/v1/messages/batches/{id}/results", self._results)

    def clear(self) -> None:
        with self._lock:
            self._batches.clear()

    async def _create(self, request: web.Request) -> web.StreamResponse:
        body, number = request[CALL].body, request[NUMBER]
        requests = body.get("requests")
        if not isinstance(requests, list) or not requests:
            return self._error(400, "invalid_request_error", "requests: at least one is required", number)
        for index, item in enumerate(requests):
            params = item.get("params") if isinstance(item, dict) else None
            missing = next((name for name in _REQUIRED_PARAMS if name not in (params or {})), None)
            if not isinstance(item, dict) or not isinstance(item.get("custom_id"), str) or missing:
                message = f"requests.{index}: custom_id and params ({missing or 'model'}) are required"
                return self._error(400, "invalid_request_error", message, number)
        batch = Batch(f"msgbatch_fake_{number:06d}", requests)
        with self._lock:
            self._batches[batch.id] = batch
        return web.json_response(self._object(batch))

    async def _list(self, request: web.Request) -> web.StreamResponse:
        limit = int(request.query.get("limit", "20"))
        with self._lock:
            batches = list(reversed(self._batches.values()))[:limit]
        data = [self._object(self._processed(batch)) for batch in batches]
        first, last = (data[0]["id"], data[-1]["id"]) if data else (None, None)
        return web.json_response({"data": data, "has_more": False, "first_id": first, "last_id": last})

    async def _retrieve(self, request: web.Request) -> web.StreamResponse:
        batch = self._find(request)
        if batch is None:
            return self._missing(request)
        return web.json_response(self._object(self._processed(batch)))

    async def _cancel(self, request: web.Request) -> web.StreamResponse:
        batch = self._find(request)
        if batch is None:
            return self._missing(request)
        if not batch.ended:
            batch.ended = batch.canceled = True
        return web.json_response(self._object(batch))

    async def _delete(self, request: web.Request) -> web.StreamResponse:
        batch = self._find(request)
        if batch is None:
            return self._missing(request)
        if not batch.ended:
            message = f"Batch {batch.id} is still processing; cancel it before deleting it."
            return self._error(400, "invalid_request_error", message, request[NUMBER])
        with self._lock:
            del self._batches[batch.id]
        return web.json_response({"id": batch.id, "type": "message_batch_deleted"})

    async def _results(self, request: web.Request) -> web.StreamResponse:
        batch = self._find(request)
        if batch is None:
            return self._missing(request)
        if not batch.ended:
            message = f"Batch {batch.id} has not ended yet; its results are not available."
            return self._error(400, "invalid_request_error", message, request[NUMBER])
        call: Call = request[CALL]
        lines = [_json_line(self._result(batch, index, item)) for index, item in enumerate(batch.requests)]
        headers = {
            "Content-Type": RESULTS_TYPE,
            "Content-Disposition": f"attachment; filename*=utf-8''{batch.id}_results.jsonl",
        }
        pause = self._pause(call.gate) if call.behavior.pause_stream else None
        return await write_stream(request, lines, headers, pause=(pause, 0))

    def _result(self, batch: Batch, index: int, item: dict[str, Any]) -> dict[str, Any]:
        if batch.canceled:
            return {"custom_id": item["custom_id"], "result": {"type": "canceled"}}
        message = self._message(Call(index + 1, item["params"], Behavior(), "default"))
        return {"custom_id": item["custom_id"], "result": {"type": "succeeded", "message": message}}

    def _find(self, request: web.Request) -> Batch | None:
        with self._lock:
            return self._batches.get(request.match_info["id"])

    def _missing(self, request: web.Request) -> web.Response:
        message = f"message_batch_id: no batch {request.match_info['id']!r}"
        return self._error(404, "not_found_error", message, request[NUMBER])

    @staticmethod
    def _processed(batch: Batch) -> Batch:
        batch.ended = True  # looked at again: processed
        return batch

    def _object(self, batch: Batch) -> dict[str, Any]:
        """The batch as Anthropic answers it (https://docs.anthropic.com/en/api/retrieving-message-batches)."""
        counts = dict.fromkeys(_COUNTS, 0)
        state = "canceled" if batch.canceled else "succeeded" if batch.ended else "processing"
        counts[state] = len(batch.requests)
        return {
            "id": batch.id,
            "type": "message_batch",
            "processing_status": "ended" if batch.ended else "in_progress",
            "request_counts": counts,
            "ended_at": ENDED_AT if batch.ended else None,
            "created_at": CREATED_AT,
            "expires_at": EXPIRES_AT,
            "archived_at": None,
            "cancel_initiated_at": ENDED_AT if batch.canceled else None,
            "results_url": f"{self._root()}/v1/messages/batches/{batch.id}/results" if batch.ended else None,
        }


def _json_line(payload: dict[str, Any]) -> bytes:
    return json.dumps(payload, separators=(",", ":")).encode() + b"\n"
