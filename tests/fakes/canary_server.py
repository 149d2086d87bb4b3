"""A canary upstream: answers every method and path with `{"ok": true}` and records what reached it.

    with Canary().serve() as canary:
        ...  # point a provider's base URL at canary.url + "/base"
        assert canary.paths == []

It records the request target exactly as it came over the wire (`raw_path`, still percent-encoded),
so a test can tell where a request would have landed on a real provider, and which credentials
came with it.
"""

from __future__ import annotations

from dataclasses import dataclass

from aiohttp import web

from tests.fakes.base import FakeUpstream


@dataclass(frozen=True, slots=True)
class Arrival:
    method: str
    raw_path: str
    headers: dict[str, str]


class Canary(FakeUpstream):
    """Answers anything with 200 and keeps each request's raw path (`arrivals`), as sent."""

    def __init__(self) -> None:
        super().__init__()
        self._arrivals: list[Arrival] = []

    def build_app(self) -> web.Application:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._record_arrival)
        return app

    @property
    def arrivals(self) -> list[Arrival]:
        with self._lock:
            return list(self._arrivals)

    @property
    def paths(self) -> list[str]:
        return [arrival.raw_path for arrival in self.arrivals]

    async def _record_arrival(self, request: web.Request) -> web.Response:
        await request.read()
        with self._lock:
            self._arrivals.append(Arrival(request.method, request.raw_path, dict(request.headers)))
        return web.json_response({"ok": True})
