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

# Words, as an answer has: the record of an answer cut short counts its tokens (tiktoken), and
# one unbroken run of a letter, megabytes long, takes it seconds (tens on a loaded machine).
EVENT = (
    b"data: "
    + orjson.dumps(
        {
            "id": "chatcmpl-firehose",
            "object": "chat.completion.chunk",
            "created": 1_732_000_000,
            "model": "gpt-4o-mini",
            "choices": [{"index": 0, "delta": {"content": "word " * 13_000}, "finish_reason": None}],
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
# An answer larger than what the gateway's socket to its client and the client's can hold.
CACHED_EVENTS = (_tcp_max("tcp_wmem") + 4 * 2**20) // len(EVENT)
CLIENT_GONE = "client disconnected before the response ended"


class Firehose:
    """An upstream streaming `events` events; `sent` is the bytes its writes have returned for,
    `last_sent_at` when the last of them returned, `cut_at` when the gateway cut it (monotonic)."""

    def __init__(self, events: int = EVENTS) -> None:
        self.events = events
        self.sent = 0
        self.last_sent_at = self.cut_at = 0.0
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
            for _ in range(self.events):
                await response.write(EVENT)  # waits while the transport's buffer is full (backpressure)
                self.sent += len(EVENT)
                self.last_sent_at = time.monotonic()
        except BaseException:  # the write's error, or the handler cancelled: the connection is gone
            self.cut_at = time.monotonic()
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
    an upstream that stops sending would. The gateway closes the upstream connection and logs.

    The bound is 1 s, not less: it bounds the answer's start and each step before the client
    stops too, and on a loaded machine the upstream's thread was seen to take 0.53 s to answer
    (a 504, whose client this test then never saw stop)."""
    idle = 1.0
    # The record keeps the last MiB of what was relayed (not up to 10 MiB, as the machine's TCP
    # buffers allow): counting its tokens takes a fraction of a second even on a loaded machine.
    gateway = make_gateway(
        upstreams={"openai": firehose.url + "/v1"},
        upstream_timeout=idle,
        limits={"log_tee_bytes": 1 << 20},
    )
    with stalled_reader(gateway):
        assert firehose.cut.wait(30), "the upstream connection is still open"
        # Cut within the bound of the exchange standing still, which it does once the upstream's
        # writes stop returning (the gateway relays what it holds, then waits on its client). Not
        # timed from when the client stopped: filling the buffers on the way (megabytes) after it
        # took 6 s on a loaded machine, which is not the gateway standing still.
        assert firehose.cut_at - firehose.last_sent_at < idle + 4
        record = gateway.wait_for_logs(1)[0]
    assert not firehose.done.is_set()
    assert record["status"] == 200
    assert record["error"] is not None


def test_a_reader_stalled_on_a_cached_answer_is_cut_and_logged(
    make_gateway: Callable[..., RunningGateway],
) -> None:
    """A cached answer has no upstream exchange whose idle bound would notice its client stop
    reading: the writes to the client have the bound of their own, so a client that stops holds
    the handler and the request's log record no longer than the upstream timeout."""
    upstream = Firehose(CACHED_EVENTS)
    server = ServerThread(upstream.app()).start()
    try:
        gateway = make_gateway(
            upstreams={"openai": server.url + "/v1"},
            upstream_timeout=1.0,
            limits={"cache_entry_bytes": (CACHED_EVENTS + 2) * len(EVENT), "log_tee_bytes": 1 << 20},
        )
        enabled = gateway.http.patch(
            "/api/v1/accounts/local/gateways/default", json={"settings": {"cache_enabled": True}}
        )
        assert enabled.status_code == 200, enabled.text
        with stalled_reader(gateway) as (client, received):  # read whole: stored
            assert cache_status(received) == b"miss"
            read_the_rest(client, received, upstream)
        with stalled_reader(gateway) as (client, received):
            assert cache_status(received) == b"hit"
            records = gateway.wait_for_logs(2)
            assert len(records) == 2, "the client that stopped reading holds the record"
            client.settimeout(10)  # the gateway closes the connection: a hang would be a failure
            with contextlib.suppress(ConnectionResetError):
                while chunk := client.recv(1 << 20):
                    received += chunk
        assert not received.endswith(b"0\r\n\r\n")  # closed mid-answer, not ended
        hit = next(record for record in records if record["cache_status"] == "HIT")
        assert (hit["status"], hit["error"]) == (200, CLIENT_GONE)
    finally:
        server.stop()


def cache_status(received: bytearray) -> bytes:
    head = bytes(received[: received.index(b"\r\n\r\n")]).lower()
    return head.partition(b"cf-aig-cache-status: ")[2].partition(b"\r\n")[0]


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
            chunk = client.recv(65536)
            assert chunk, bytes(received[:600])  # the gateway closed early: its answer, not a spin
            received += chunk
        assert received.startswith(b"HTTP/1.1 200"), bytes(received[:200])
        yield client, received


def read_the_rest(client: socket.socket, received: bytearray, firehose: Firehose) -> None:
    """Reading again: the rest arrives, whole."""
    while chunk := client.recv(1 << 20):
        received += chunk
    assert firehose.done.wait(10)
    assert firehose.sent == firehose.events * len(EVENT)
    assert b"data: [DONE]" in received[-64:]  # before the chunked encoding's last, empty chunk
