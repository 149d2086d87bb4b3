"""`GET …/gateways/{gateway}/logs/export`: a gateway's log records as NDJSON, streamed and resumable.

Parameters: the log listing's filters (`from`, `to`, `provider`, `model`, `status`, `cached`,
`feedback`, `score_min`, `score_max`) and `limit` (at most that many records; default all).
Records come in the order the database stored them (about oldest first), one JSON object a line
(`logformat.py`), each with a `cursor`: the export's filters and that record's storage position.
`?cursor=<the cursor of the last line received>` continues the export after that record, with the
filters and the end it started with (`to` defaults to the moment the export began, and the cursor
keeps it). The cursor is all a resumed request needs; a filter given beside it must be the one it
holds.

A record is stored after its request ends, under the id and `ts` of its start, so an export taken
while requests run lacks those still running; they are stored after every record it read, so
resuming it from its last line's cursor, once they ended, adds them: an export resumed until it
adds nothing holds each record of its range once, those stored after it began included
(`LogReader.stored_logs`). On PostgreSQL a record whose transaction was still open while a page
was read waits for the next page or resume.

A cursor of an earlier version (no `order` in it) continues as that export ran: by log id, which
leaves out what was stored behind its last id.

Records are read a page at a time and each page is turned into lines on a worker thread, so a
large export never holds the event loop (which serves the proxy).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import time
from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Any

import orjson
from aiohttp import web

from sluicegate.endpoints.guard import Guard
from sluicegate.endpoints.log_params import log_query
from sluicegate.endpoints.query_params import FROM_TO, check_params
from sluicegate.errors import BadRequest
from sluicegate.hints import unknown_gateway
from sluicegate.logformat import record_line
from sluicegate.slices import in_slices
from sluicegate.storage.base import GatewayRecords, LogQuery, LogRecord
from sluicegate.tokens import Scope

FILTERS = ("from", "to", "provider", "model", "status", "cached", "feedback", "score_min", "score_max")
PAGE = 100  # records read at once: with bodies at log_body_limit (256 KB) a page is at most ~50 MB
CONTENT_TYPE = "application/x-ndjson"
STORED = "stored"  # a cursor's `order`: positions in the order records were stored


class LogExport:
    def __init__(
        self, database: GatewayRecords, guard: Guard, clock: Callable[[], float] = time.time
    ) -> None:
        self._db = database
        self._guard = guard
        self._clock = clock

    def add_routes(self, app: web.Application) -> None:
        """Add the route; before the admin API's `…/logs/{log_id}`, which would take `export` as an id."""
        path = "/accounts/{account}/gateways/{gateway}/logs/export"
        app.router.add_get(path, self._guard(Scope.READ, self.export))

    async def export(self, request: web.Request) -> web.StreamResponse:
        account, gateway = request.match_info["account"], request.match_info["gateway"]
        filters, (position, stored), limit = self._parse(request.query, gateway)
        query = log_query(account, gateway, filters)
        if not position:
            await self._check_gateway(account, gateway)
        resume = _cursor_prefix(gateway, filters, stored)
        read = self._stored_page if stored else self._page_by_id
        size = PAGE if limit is None else min(PAGE, limit)
        try:  # the first page before the answer starts: a position the store never gave is a 400
            page = await read(replace(query, limit=size), position)
        except ValueError:
            raise _not_a_cursor() from None
        response = web.StreamResponse(headers={"Content-Type": CONTENT_TYPE, "Cache-Control": "no-store"})
        await response.prepare(request)
        remaining = limit
        while page:
            await response.write(await asyncio.to_thread(_lines, page, resume))
            position = page[-1][0]
            remaining = None if remaining is None else remaining - len(page)
            if len(page) < size or remaining == 0:
                break
            size = PAGE if remaining is None else min(PAGE, remaining)
            page = await read(replace(query, limit=size), position)
        await response.write_eof()
        return response

    async def _stored_page(self, query: LogQuery, position: str) -> list[tuple[str, LogRecord]]:
        return await self._db.stored_logs(query, position)

    async def _page_by_id(self, query: LogQuery, position: str) -> list[tuple[str, LogRecord]]:
        """An earlier version's export: by id (`after` orders oldest first; every id is above "")."""
        return [(record.id, record) for record in await self._db.query_logs(replace(query, after=position))]

    def _parse(
        self, params: Mapping[str, str], gateway: str
    ) -> tuple[dict[str, str], tuple[str, bool], int | None]:
        """The export's filters (with `to` fixed), where it resumes, and its limit; 400s name the
        parameter."""
        check_params(params, [*FILTERS, "cursor", "limit"], meant=FROM_TO)
        given = {name: params[name] for name in FILTERS if name in params}
        limit = _limit(params.get("limit"))
        cursor = params.get("cursor")
        if cursor is None:
            return given | {"to": given.get("to") or repr(self._clock())}, ("", True), limit
        held, after = _read_cursor(cursor, gateway)
        for name, value in given.items():
            if held.get(name) != value:
                raise BadRequest(
                    f"{name}={value!r} differs from the export this cursor continues"
                    f" ({name}={held.get(name)!r}): pass the cursor alone to resume it",
                    param=name,
                )
        return held, after, limit

    async def _check_gateway(self, account: str, slug: str) -> None:
        """A 404 for a gateway that neither exists nor left records: a typo would export nothing."""
        if await self._db.get_gateway(account, slug) is None and not await self._db.count_logs(account, slug):
            raise unknown_gateway(account, slug, [g.slug for g in await self._db.list_gateways(account)])


def _lines(page: list[tuple[str, LogRecord]], resume: str) -> bytes:
    return b"".join(record_line(record, cursor=resume + position) for position, record in in_slices(page))


def _cursor_prefix(gateway: str, filters: dict[str, str], stored: bool) -> str:
    """What every cursor of an export starts with: its gateway, filters and order (storage, or an
    earlier version's by id); the record's position follows."""
    held = orjson.dumps({"gateway": gateway, "filters": filters} | ({"order": STORED} if stored else {}))
    return base64.urlsafe_b64encode(held).decode("ascii").rstrip("=") + "."


def _read_cursor(cursor: str, gateway: str) -> tuple[dict[str, str], tuple[str, bool]]:
    """The filters a cursor holds, and the last record's position with whether that is a storage
    position (else an earlier version's log id); a 400 when it is not one an export gave."""
    encoded, _, after = cursor.rpartition(".")
    try:
        held: Any = orjson.loads(base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4)))
    except (binascii.Error, ValueError):
        held = None
    valid = (
        isinstance(held, dict)
        and isinstance(held.get("filters"), dict)
        and all(name in FILTERS and isinstance(value, str) for name, value in held["filters"].items())
        and held.get("order", STORED) == STORED
        and after
    )
    if not valid:
        raise _not_a_cursor()
    if held.get("gateway") != gateway:
        raise BadRequest(
            f"this cursor continues an export of gateway {held.get('gateway')!r}, not {gateway!r}",
            param="cursor",
        )
    return held["filters"], (after, "order" in held)


def _not_a_cursor() -> BadRequest:
    return BadRequest(
        "cursor is not one an export gave: pass the `cursor` of the last line received, unchanged",
        param="cursor",
    )


def _limit(value: str | None) -> int | None:
    if value is None:
        return None
    if not value.isdigit() or int(value) < 1:
        raise BadRequest(f"limit must be a whole number of records, at least 1; got {value!r}", param="limit")
    return int(value)
