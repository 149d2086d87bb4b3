"""The bench waits for a gateway's log backlog to be stored before it reads the CPU a run used
(`bench.preflight.logs_stored`), so storing the run's records counts as the run's cost."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import orjson
import pytest
from bench.preflight import logs_stored


class _Status(ThreadingHTTPServer):
    """Answers `GET /api/v1/status` with the next backlog of `backlogs` (the last one repeats)."""

    def __init__(self, backlogs: list[int]) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.backlogs = backlogs
        self.asked = 0
        self.tokens: set[str] = set()


class _Handler(BaseHTTPRequestHandler):
    server: _Status

    def do_GET(self) -> None:
        status = self.server
        status.tokens.add(self.headers.get("Authorization", ""))
        backlog = status.backlogs[min(status.asked, len(status.backlogs) - 1)]
        status.asked += 1
        body = orjson.dumps({"log_spool": {"backlog_records": backlog}, "redis_unreachable": 0})
        self.send_response(200 if self.path == "/api/v1/status" else 404)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


def _serving(backlogs: list[int]) -> Iterator[_Status]:
    server = _Status(backlogs)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def draining() -> Iterator[_Status]:
    yield from _serving([250, 40, 0])


@pytest.fixture
def stuck() -> Iterator[_Status]:
    yield from _serving([250])


def test_waits_until_the_backlog_is_stored(draining: _Status) -> None:
    url = f"http://127.0.0.1:{draining.server_address[1]}"
    waited = logs_stored(url, "bench-token", poll_s=0.001)
    assert waited is not None
    assert draining.asked == 3
    assert draining.tokens == {"Bearer bench-token"}


def test_gives_up_after_its_timeout(stuck: _Status) -> None:
    url = f"http://127.0.0.1:{stuck.server_address[1]}"
    assert logs_stored(url, "bench-token", timeout_s=0.05, poll_s=0.001) is None
    assert stuck.asked >= 2
