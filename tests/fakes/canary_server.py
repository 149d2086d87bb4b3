"""A canary upstream: answers every method and path with `{"ok": true}` and records what reached it.

    with Canary().serve() as canary:
        ...  # point a provider's base URL at canary.url + "/base"
        assert canary.paths == []

It records the request target exactly as it came over the wire (`raw_path`, still percent-encoded),
so a test can tell where a request would have landed on a real provider, and which credentials
came with it.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from types import TracebackType
from typing import Self

from aiohttp import web

from tests.fakes.server_thread import ServerThread


@dataclass(frozen=True, slots=True)
class Arrival:
    method: str
    raw_path: str
    headers: dict[str, str]


class Canary:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._arrivals: list[Arrival] = []
        self._server: ServerThread | None = None

    @property
    def url(self) -> str:
        if self._server is None:
            raise RuntimeError("the canary is not serving; use `with Canary().serve() as canary:`")
        return self._server.url

    @property
    def arrivals(self) -> list[Arrival]:
        with self._lock:
            return list(self._arrivals)

    @property
    def paths(self) -> list[str]:
        return [arrival.raw_path for arrival in self.arrivals]

    def serve(self) -> Self:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._record)
        self._server = ServerThread(app).start()
        return self

    async def _record(self, request: web.Request) -> web.Response:
        await request.read()
        with self._lock:
            self._arrivals.append(Arrival(request.method, request.raw_path, dict(request.headers)))
        return web.json_response({"ok": True})

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._server is not None:
            self._server.stop()
            self._server = None
