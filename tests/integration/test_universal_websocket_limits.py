"""What a WebSocket connection of the universal endpoint may cost the gateway: an answer past the
message size is not read past it, a client that stops reading is cut (its connection closed, its
requests cancelled), and a single step's request headers count as the request's in either form.

The upstream is a real server on loopback (`Spout`) that writes as fast as the gateway takes it; the
stalled client is a raw socket with a small receive buffer that did the handshake and reads no more.
"""

from __future__ import annotations

import base64
import contextlib
import json
import socket
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from aiohttp import web
from websockets.sync.client import connect

from tests.conftest import RunningGateway
from tests.fakes.openai_server import FakeOpenAI
from tests.fakes.server_thread import ServerThread
from tests.integration.test_universal_websocket import create, receive, step, ws_url

CHUNK = 64 * 1024
EVENT = (
    b"data: "
    + orjson.dumps({"object": "chat.completion.chunk", "choices": [], "pad": "x" * 60_000})
    + b"\n\n"
)


def _tcp_max(name: str) -> int:
    return int(Path(f"/proc/sys/net/ipv4/{name}").read_text().split()[2])


# More than the socket buffers on the way could hold (a receive and two send buffers, and a slack).
BEYOND_BUFFERS = 2 * (_tcp_max("tcp_rmem") + 2 * _tcp_max("tcp_wmem") + 8 * 2**20)


class Spout:
    """An upstream writing as fast as it is read: speech of the `size` asked for, an endless SSE
    stream, or a 500 for the model `fail`. `cut` when the gateway closed a connection midway."""

    def __init__(self) -> None:
        self.cut = threading.Event()
        self.done = threading.Event()  # an answer was written to its end
        self.url = ""

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/v1/audio/speech", self._speech)
        app.router.add_post("/v1/chat/completions", self._chat)
        return app

    async def _speech(self, request: web.Request) -> web.StreamResponse:
        size = (await request.json())["size"]
        response = web.StreamResponse(headers={"Content-Type": "audio/mpeg"})  # chunked: a stream
        await response.prepare(request)
        await self._write(response, [b"\xff" * CHUNK] * (size // CHUNK))
        return response

    async def _chat(self, request: web.Request) -> web.StreamResponse:
        if (await request.json())["model"] == "fail":
            return web.json_response({"error": {"message": "down", "type": "server_error"}}, status=500)
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        await self._write(response, [EVENT] * (BEYOND_BUFFERS // len(EVENT)))
        return response

    async def _write(self, response: web.StreamResponse, chunks: list[bytes]) -> None:
        try:
            for chunk in chunks:
                await response.write(chunk)  # waits while the gateway is not reading (backpressure)
        except BaseException:
            self.cut.set()
            raise
        await response.write_eof()
        self.done.set()


@pytest.fixture
def spout() -> Iterator[Spout]:
    upstream = Spout()
    server = ServerThread(upstream.app()).start()
    upstream.url = server.url
    yield upstream
    server.stop()


def speech(size: int) -> dict[str, Any]:
    return {
        "provider": "openai",
        "endpoint": "audio/speech",
        "headers": {"Authorization": "Bearer sk-test", "Content-Type": "application/json"},
        "query": {"model": "tts-1", "input": "hi", "voice": "alloy", "size": size},
    }


def test_an_answer_past_the_message_size_is_not_read_past_it(
    make_gateway: Callable[..., RunningGateway], spout: Spout
) -> None:
    limit = 2**20
    gateway = make_gateway(upstreams={"openai": spout.url + "/v1"}, limits={"max_body_bytes": limit})
    with connect(ws_url(gateway)) as client:
        client.send(create(speech(BEYOND_BUFFERS), "speech"))
        event = receive(client)
        client.send(create(speech(limit // 2), "small"))  # the connection goes on
        small = receive(client)

    assert (event["metadata"]["eventId"], event["metadata"]["status"]) == ("speech", 413)
    assert event["response"]["error"]["code"] == "answer_too_large"
    # The gateway stopped reading and closed the upstream's connection: it did not take it all.
    assert spout.cut.wait(10)
    assert small["metadata"]["status"] == 200
    assert len(base64.b64decode(small["response"])) == limit // 2
    records = {record["metadata"]["websocket_event_id"]: record for record in gateway.wait_for_logs(2)}
    assert "larger than a WebSocket message" in records["speech"]["error"]


@contextlib.contextmanager
def stalled_client(gateway: RunningGateway, *messages: dict[str, Any]) -> Iterator[socket.socket]:
    """A raw WebSocket client that sent `messages` (`universal.create`s) and reads nothing more."""
    host, port = gateway.server.url.removeprefix("http://").split(":")
    with socket.socket() as client:
        client.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 * 1024)
        client.connect((host, int(port)))
        client.sendall(
            b"GET /v1/local/default/ HTTP/1.1\r\nHost: gateway\r\nUpgrade: websocket\r\n"
            b"Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
            b"Sec-WebSocket-Version: 13\r\n\r\n"
        )
        answer = b""
        while b"\r\n\r\n" not in answer:
            answer += client.recv(1)  # the handshake's answer only, not a frame after it
        assert answer.startswith(b"HTTP/1.1 101"), answer
        for message in messages:
            client.sendall(_masked_frame(json.dumps({"type": "universal.create", "request": message})))
        yield client


def _masked_frame(text: str) -> bytes:
    """A client's text frame (RFC 6455 §5.2), masked with a zero key (so the payload as it is)."""
    payload = text.encode()
    assert len(payload) < 65536
    length = bytes([0x80 | 126]) + len(payload).to_bytes(2, "big")
    return b"\x81" + length + b"\0\0\0\0" + payload


def read_to_the_end(client: socket.socket) -> None:
    """What the gateway wrote before it closed the connection, then its end (on a connection
    still open: a timeout, the test's failure)."""
    client.settimeout(10)
    with contextlib.suppress(ConnectionResetError):
        while client.recv(1 << 20):
            pass


def test_a_client_that_stops_reading_whole_answers_is_cut_and_its_requests_cancelled(
    make_gateway: Callable[..., RunningGateway], spout: Spout
) -> None:
    """Whole answers (speech, read whole before it is sent) more than the buffers hold: the sends
    stand still for the send timeout, the connection is closed, and a request still in the
    pipeline (waiting out its retry delay) is cancelled and logged as 499."""
    gateway = make_gateway(
        upstreams={"openai": spout.url + "/v1"},
        limits={"max_body_bytes": 2 * 2**20},
        timeouts={"upstream_timeout": 0.3, "retry_deadline": 30},
    )
    answers = [{**speech(3 * 2**19), "eventId": f"speech-{n}"} for n in range(8)]  # 1.5 MiB each
    waiting = {**step("fail"), "config": {"maxAttempts": 2, "retryDelay": 5000}, "eventId": "waiting"}
    with stalled_client(gateway, *answers, waiting) as client:
        records = gateway.wait_for_logs(len(answers) + 1)
        read_to_the_end(client)

    by_event = {record["metadata"]["websocket_event_id"]: record for record in records}
    assert by_event["waiting"]["status"] == 499
    assert {by_event[answer["eventId"]]["status"] for answer in answers} == {200}


def test_a_client_that_stops_reading_a_stream_is_cut(
    make_gateway: Callable[..., RunningGateway], spout: Spout
) -> None:
    """A stream: the upstream's idle watch (the same timeout) cancels the request blocked sending,
    and the connection is closed with it, as an HTTP client's is."""
    gateway = make_gateway(upstreams={"openai": spout.url + "/v1"}, upstream_timeout=0.3)
    with stalled_client(gateway, {**step("gpt-4o", stream=True), "eventId": "stream"}) as client:
        assert spout.cut.wait(10), "the upstream connection is still open"
        read_to_the_end(client)

    record = gateway.wait_for_logs(1)[0]
    assert (record["status"], record["metadata"]["websocket_event_id"]) == (200, "stream")
    assert record["error"] == "client disconnected before the response ended"


def test_a_single_steps_metadata_as_an_object_is_the_requests_as_its_text_is(
    make_gateway: Callable[..., RunningGateway], fake: FakeOpenAI
) -> None:
    """It drives the gateway's limits: a rate limit per `metadata.user`."""
    gateway = make_gateway(upstreams={"openai": fake.base_url})
    gateway.configure(rate_limits=[{"limit": 1, "period": 60, "scope": "metadata.user"}])
    users = [("ada", {"user": "ada"}), ("ada-again", json.dumps({"user": "ada"})), ("bob", {"user": "bob"})]
    with connect(ws_url(gateway)) as client:
        statuses = []
        for event_id, metadata in users:
            # (As a JSON value: the `step` helper's headers are typed as strings.)
            message = step("gpt-4o")
            message["headers"]["cf-aig-metadata"] = metadata
            client.send(create(message, event_id))
            statuses.append(receive(client)["metadata"]["status"])

    assert statuses == [200, 429, 200]
    records = {record["metadata"]["websocket_event_id"]: record for record in gateway.wait_for_logs(3)}
    assert records["bob"]["metadata"]["user"] == "bob"
