"""`…/gateways/{id}/logs`: list, get, edit, the request and response bodies, delete with filters.

Records come from the same log store as `/api/v1`'s, shown in Cloudflare's fields (cloudflare
5.9.0, `log_list_response` / `log_get_response`).
"""

from __future__ import annotations

from typing import Any

import orjson
from aiohttp import web

from sluicegate.cfapi.envelope import page_of, success
from sluicegate.cfapi.log_query import delete_query, list_query
from sluicegate.cfapi.params import only
from sluicegate.cfapi.settings import iso_time
from sluicegate.endpoints.admin import AdminApi
from sluicegate.endpoints.body import read_body
from sluicegate.endpoints.guard import TOKEN
from sluicegate.endpoints.log_params import MAX_PAGE
from sluicegate.endpoints.schemas import parse_body, validate
from sluicegate.errors import NotFound
from sluicegate.feedback import Feedback
from sluicegate.records import COST_SOURCE
from sluicegate.storage.base import LogReader, LogRecord
from sluicegate.tokens import Scope
from sluicegate.utf8 import whole_characters

HEAD_BYTES = 4096  # of each body, in `request_head` / `response_head` of a single record


class CloudflareLogs:
    def __init__(self, admin: AdminApi, logs: LogReader) -> None:
        self._admin = admin
        self._logs = logs

    async def list(self, request: web.Request) -> web.Response:
        account, slug = request.match_info["account"], request.match_info["gateway"]
        page = page_of(request.query, maximum=MAX_PAGE)
        query = list_query(account, slug, request.query, page)
        await self._admin.gateway(account, slug)
        records = await self._logs.query_logs(query)
        total = await self._logs.count_matching_logs(query)
        return success([cloudflare_log(r) for r in records], page=page, count=len(records), total=total)

    async def get(self, request: web.Request) -> web.Response:
        only(request.query)
        return success(cloudflare_log(await self._record(request), detail=True))

    async def request_body(self, request: web.Request) -> web.Response:
        only(request.query)
        record = await self._record(request)
        return _body(record, "request", record.request_body)

    async def response_body(self, request: web.Request) -> web.Response:
        only(request.query)
        record = await self._record(request)
        return _body(record, "response", record.response_body)

    async def edit(self, request: web.Request) -> web.Response:
        """Cloudflare's "Patch Gateway Log": the native feedback change, with its rules and merge.
        Cloudflare answers `{}`; the record as it now is says more and fits the SDK's `object`, for
        a token that may read it. A `feedback`-only token gets the id and what it sent."""
        only(request.query)
        account, slug, log_id = (request.match_info[k] for k in ("account", "gateway", "log_id"))
        change = _feedback_change(await read_body(request))
        reader = request[TOKEN].allows(Scope.READ, slug)
        record = await self._admin.annotate(account, slug, log_id, change, reader)
        return success(cloudflare_log(record) if reader else change.echo(log_id))

    async def delete(self, request: web.Request) -> web.Response:
        account, slug = request.match_info["account"], request.match_info["gateway"]
        deleted = await self._admin.delete_logs(request, delete_query(account, slug, request.query))
        return success({"success": True, "deleted": deleted})

    async def _record(self, request: web.Request) -> LogRecord:
        account, slug = request.match_info["account"], request.match_info["gateway"]
        return await self._admin.log(account, slug, request.match_info["log_id"])


def cloudflare_log(record: LogRecord, detail: bool = False) -> dict[str, Any]:
    """A log record in Cloudflare's fields; with `detail`, the head and size of each body too."""
    shown: dict[str, Any] = {
        "id": record.id,
        "cached": record.cache_status == "HIT",
        "created_at": iso_time(record.ts),
        "duration": round(record.latency_ms),
        "model": record.model or "",
        "path": record.endpoint,
        "provider": record.provider,
        "success": 200 <= record.status < 400,
        "tokens_in": record.tokens_in,
        "tokens_out": record.tokens_out,
        "cost": record.cost_usd,
        "custom_cost": record.metadata.get(COST_SOURCE) == "custom",  # priced by cf-aig-custom-cost
        "metadata": orjson.dumps(record.metadata).decode() if record.metadata else None,
        "request_content_type": _header(record, "content-type"),
        "status_code": record.status,
        "step": record.step,
        "feedback": record.feedback,
        "score": record.score,
    }
    if detail:
        for which, body in (("request", record.request_body), ("response", record.response_body)):
            # The size is the body's whole one, before logs.body_limit cut it (the stored body's
            # for a record older than sizes); the head is complete only when the body is too.
            whole = record.body_size(which) if body is not None else None
            shown[f"{which}_head"] = (
                None if body is None else whole_characters(body, HEAD_BYTES).decode("utf-8", "replace")
            )
            shown[f"{which}_head_complete"] = (
                body is not None and len(body) <= HEAD_BYTES and record.body_complete(which) is not False
            )
            shown[f"{which}_size"] = None if body is None else (len(body) if whole is None else whole)
    return shown


def _feedback_change(body: bytes) -> Feedback:
    """The body as a native `Feedback`. The SDK types `feedback` as a number, so a whole float
    (`1.0`) is the thumb it names; everything else is left to the native rules."""
    try:
        data = orjson.loads(body or b"{}")
    except orjson.JSONDecodeError:
        return parse_body(Feedback, body)  # raises the native 400
    thumb = data.get("feedback") if isinstance(data, dict) else None
    if isinstance(thumb, float) and thumb.is_integer():
        data["feedback"] = int(thumb)
    return validate(Feedback, data)


def _header(record: LogRecord, name: str) -> str | None:
    return next((v for k, v in record.request_headers.items() if k.lower() == name), None)


def _body(record: LogRecord, which: str, body: bytes | None) -> web.Response:
    """The stored body as it was sent: JSON as JSON, anything else (an event stream) as text."""
    if body is None:
        why = record.degraded or "bodies are not stored for this gateway (collect_payloads), or it had none"
        raise NotFound(f"log {record.id!r} has no stored {which} body: {why}")
    try:
        orjson.loads(body)
    except orjson.JSONDecodeError:
        pass
    else:
        return web.Response(body=body, content_type="application/json")
    try:
        body.decode("utf-8")
    except UnicodeDecodeError:
        return web.Response(body=body, content_type="application/octet-stream")
    return web.Response(body=body, content_type="text/plain", charset="utf-8")
