"""The fake OpenAI's Batch API (https://platform.openai.com/docs/api-reference/batch), also behind
the fake Azure resource (`/openai/batches?api-version=…`, `/openai/v1/batches`).

    POST {prefix}/batches               create: the batch, `validating`, no usage yet
    GET  {prefix}/batches               list, newest first (`limit`; one page)
    GET  {prefix}/batches/{id}          retrieve
    POST {prefix}/batches/{id}/cancel   cancel

A batch runs the moment it is looked at again (a retrieve, a list or a cancel): it is then
`completed` (a cancel finds it `cancelling`), every request run, and reports their usage as OpenAI's
batches made since September 2025 do (`usage`: `BATCH_USAGE` for each of its `REQUESTS` requests)
and the `model` they ran. The input file is not read: the fake has no Files API.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from tests.fakes.base import NUMBER

CREATED = 1_700_000_000
REQUESTS = 2
BATCH_USAGE = {"input_tokens": 10, "output_tokens": 4}  # per request: a batch reports their sum
BATCH_MODEL = "gpt-4o-mini-2024-07-18"


@dataclass
class Batch:
    id: str
    endpoint: str
    input_file_id: str
    completion_window: str
    status: str = "validating"


class FakeBatches:
    """The batches of one fake server."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._batches: dict[str, Batch] = {}

    def add_routes(self, app: web.Application, prefix: str) -> None:
        app.router.add_post(f"{prefix}/batches", self._create)
        app.router.add_get(f"{prefix}/batches", self._list)
        app.router.add_get(f"{prefix}/batches/{{id}}", self._retrieve)
        app.router.add_post(f"{prefix}/batches/{{id}}/cancel", self._cancel)

    async def _create(self, request: web.Request) -> web.StreamResponse:
        body = await request.json()
        missing = [name for name in ("input_file_id", "endpoint", "completion_window") if not body.get(name)]
        if missing:
            message = f"Missing required parameter: '{missing[0]}'."
            error = {"message": message, "type": "invalid_request_error", "param": missing[0], "code": None}
            return web.json_response({"error": error}, status=400)
        batch = Batch(
            f"batch_fake_{request[NUMBER]:06d}",
            body["endpoint"],
            body["input_file_id"],
            body["completion_window"],
        )
        with self._lock:
            self._batches[batch.id] = batch
        return web.json_response(_object(batch))

    async def _list(self, request: web.Request) -> web.StreamResponse:
        limit = int(request.query.get("limit", "20"))
        with self._lock:
            batches = list(reversed(self._batches.values()))[:limit]
        data = [_object(_run(batch)) for batch in batches]
        first, last = (data[0]["id"], data[-1]["id"]) if data else (None, None)
        page = {"object": "list", "data": data, "first_id": first, "last_id": last, "has_more": False}
        return web.json_response(page)

    async def _retrieve(self, request: web.Request) -> web.StreamResponse:
        batch = self._find(request)
        return _missing(request) if batch is None else web.json_response(_object(_run(batch)))

    async def _cancel(self, request: web.Request) -> web.StreamResponse:
        batch = self._find(request)
        if batch is None:
            return _missing(request)
        if batch.status == "validating":
            batch.status = "cancelling"  # (its requests ran at this look: see the module's docstring)
        return web.json_response(_object(batch))

    def _find(self, request: web.Request) -> Batch | None:
        with self._lock:
            return self._batches.get(request.match_info["id"])


def _run(batch: Batch) -> Batch:
    if batch.status == "validating":
        batch.status = "completed"
    return batch


def _object(batch: Batch) -> dict[str, Any]:
    ran = batch.status != "validating"
    counts = {"total": REQUESTS, "completed": REQUESTS if ran else 0, "failed": 0}
    usage = {name: count * REQUESTS for name, count in BATCH_USAGE.items()} if ran else None
    if usage is not None:
        usage |= {
            "total_tokens": usage["input_tokens"] + usage["output_tokens"],
            "input_tokens_details": {"cached_tokens": 0},
            "output_tokens_details": {"reasoning_tokens": 0},
        }
    return {
        "id": batch.id,
        "object": "batch",
        "endpoint": batch.endpoint,
        "errors": None,
        "input_file_id": batch.input_file_id,
        "completion_window": batch.completion_window,
        "status": batch.status,
        "output_file_id": f"file-out-{batch.id}" if batch.status == "completed" else None,
        "error_file_id": None,
        "created_at": CREATED,
        "in_progress_at": CREATED + 1 if ran else None,
        "expires_at": CREATED + 86_400,
        "completed_at": CREATED + 60 if batch.status == "completed" else None,
        "cancelling_at": CREATED + 60 if batch.status == "cancelling" else None,
        "request_counts": counts,
        "model": BATCH_MODEL if ran else None,
        "usage": usage,
        "metadata": None,
    }


def _missing(request: web.Request) -> web.Response:
    message = f"No batch found with id '{request.match_info['id']}'."
    error = {"message": message, "type": "invalid_request_error", "param": None, "code": None}
    return web.json_response({"error": error}, status=404)
