"""A client that stops reading mid-stream does not make the gateway buffer the upstream's answer.

The upstream (a real server on loopback, OpenAI's SSE format) streams as fast as it may, counting
what its writes have handed to the socket. The client reads the first part and stops. A gateway
that relays with backpressure stops reading from the upstream once the buffers on the way are
full, so the upstream's writes block: what it has sent stays within `BOUND`, what the kernel's
socket buffers may hold (this machine's TCP maxima: a receive and two send buffers) plus a slack
for aiohttp's. One that buffered the answer would take it all into memory: the answer is four
times `BOUND`. When the client reads again, the rest arrives whole.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import orjson
import pytest
from aiohttp import web

from tests.conftest import RunningGateway
from tests.fakes.server_thread import ServerThread

EVENT = (
    b"data: "
    + orjson.dumps(
        {
            "id": "chatcmpl-firehose",
            "object": "chat.completion.chunk",
            "created": 1_732_000_000,
            "model": "gpt-4o-mini",
            "choices": [{"index": 0, "delta": {"content": "x" * 65_000}, "finish_reason": None}],
        }
    )
    + b"\n\n"
)

USAGE = (
    b"data: "
    + orjson.dumps(
        {
            "id": "chatcmpl-firehose",
            "object": "chat.completion.chunk",
            "created": 1_732_000_000,
            "model": "gpt-4o-mini",
            "choices": [],
            "usage": {"prompt_tokens": 9, "completion_tokens": 1000, "total_tokens": 1009},
        }
    )
    + b"\n\n"
)


def _tcp_max(name: str) -> int:
    return int(Path(f"/proc/sys/net/ipv4/{name}").read_text().split()[2])


BOUND = _tcp_max("tcp_rmem") + 2 * _tcp_max("tcp_wmem") + 8 * 2**20
EVENTS = 4 * BOUND // len(EVENT)


class Firehose:
    """An upstream streaming EVENTS events; `sent` is the bytes its writes have returned for."""

    def __init__(self) -> None:
        self.sent = 0
        self.done = threading.Event()
        self.cut = threading.Event()  # the gateway closed the connection midway
        self.url = ""

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/v1/chat/completions", self._stream)
        return app

    async def _stream(self, request: web.Request) -> web.StreamResponse:
        await request.read()
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        try:
            for _ in range(EVENTS):
                await response.write(EVENT)  # waits while the transport's buffer is full (backpressure)
                self.sent += len(EVENT)
        except BaseException:  # the write's error, or the handler cancelled: the connection is gone
            self.cut.set()
            raise
        await response.write(USAGE)  # else the gateway counts the answer's tokens itself, slowly
        await response.write(b"data: [DONE]\n\n")
        await response.write_eof()
        self.done.set()
        return response


@pytest.fixture
def firehose() -> Iterator[Firehose]:
    upstream = Firehose()
    server = ServerThread(upstream.app()).start()
    upstream.url = server.url
    yield upstream
    server.stop()


def settled(value: Callable[[], int], timeout: float = 20.0) -> int:
    """`value` once it has stopped changing (five reads 0.1 s apart agree): the writes block."""
    deadline = time.monotonic() + timeout
    seen = [value()]
    while time.monotonic() < deadline:
        time.sleep(0.1)
        seen.append(value())
        if len(seen) >= 5 and len(set(seen[-5:])) == 1:
            return seen[-1]
    raise AssertionError(f"still moving after {timeout} s: {seen[-5:]}")


def test_a_stalled_reader_does_not_make_the_gateway_buffer_the_answer(
    make_gateway: Callable[..., RunningGateway], firehose: Firehose
) -> None:
    gateway = make_gateway(upstreams={"openai": firehose.url + "/v1"})
    with stalled_reader(gateway) as (client, received):
        sent_while_stalled = settled(lambda: firehose.sent)
        assert sent_while_stalled < BOUND, f"{sent_while_stalled / 2**20:.1f} MB left the upstream"
        assert not firehose.done.is_set()
        read_the_rest(client, received, firehose)


def test_a_reader_stalled_past_the_upstream_timeout_is_cut_and_the_upstream_released(
    make_gateway: Callable[..., RunningGateway], firehose: Firehose
) -> None:
    """The upstream timeout bounds an exchange that stands still, on either side: a client that
    stops reading holds the upstream connection (and the request's reservations) no longer than
    an upstream that stops sending would. The gateway closes the upstream connection and logs."""
    idle = 0.3
    gateway = make_gateway(upstreams={"openai": firehose.url + "/v1"}, upstream_timeout=idle)
    with stalled_reader(gateway):
        stalled_at = time.monotonic()
        assert firehose.cut.wait(10), "the upstream connection is still open"
        assert time.monotonic() - stalled_at < 5
        record = gateway.wait_for_logs(1)[0]
    assert not firehose.done.is_set()
    assert record["status"] == 200
    assert record["error"] is not None


@contextlib.contextmanager
def stalled_reader(gateway: RunningGateway) -> Iterator[tuple[socket.socket, bytearray]]:
    """A client that sent a streamed request and read the answer's first 256 KiB, then stops."""
    body = orjson.dumps(
        {"model": "gpt-4o-mini", "stream": True, "messages": [{"role": "user", "content": "go"}]}
    )
    host, port = gateway.server.url.removeprefix("http://").split(":")
    with socket.socket() as client:
        client.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 * 1024)
        client.connect((host, int(port)))
        client.sendall(
            b"POST /v1/local/default/openai/chat/completions HTTP/1.1\r\nHost: gateway\r\n"
            b"Content-Type: application/json\r\nAuthorization: Bearer sk-test\r\n"
            b"Content-Length: %d\r\nConnection: close\r\n\r\n%s" % (len(body), body)
        )
        received = bytearray()
        while len(received) < 256 * 1024:  # the answer has begun
            received += client.recv(65536)
        assert received.startswith(b"HTTP/1.1 200"), bytes(received[:200])
        yield client, received


def read_the_rest(client: socket.socket, received: bytearray, firehose: Firehose) -> None:
    """Reading again: the rest arrives, whole."""
    while chunk := client.recv(1 << 20):
        received += chunk
    assert firehose.done.wait(10)
    assert firehose.sent == EVENTS * len(EVENT)
    assert b"data: [DONE]" in received[-64:]  # before the chunked encoding's last, empty chunk
